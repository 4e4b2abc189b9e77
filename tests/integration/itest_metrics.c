/*
 * itest_metrics.c — /metrics scraped over a plain socket and parsed line
 * by line as Prometheus text, /healthz, /api/nodes, and certificate days
 * left of a node connected through the TLS front in nodes, /metrics and
 * naractl check.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"
#include "ops_helpers.h"
#include "tls_helpers.h"
#include "tunnel.h"
#include "validate.h"

TestSuite(metrics, .timeout = 180);

Test(metrics, metrics_and_healthz)
{
	struct fixture *fx = fixture_new();
	static char body[1 << 20];
	struct tclient gbg;
	struct prom *pr = calloc(1, sizeof(*pr));
	Nara__Frame *r;

	ops_start(NULL);
	tclient_open(&gbg, &ops_h, T_GBG, 8);
	ops_submit_to_bup(&gbg, fx, 2, NULL);
	/* policy: school health may not send a report of concern */
	r = tclient_submit(&gbg, fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_GBG_EH, T_BUP));
	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_REJECTED);
	char code[8];
	snprintf(code, sizeof(code), "%s", r->rejected->code);
	frame_free(&r);
	ops_scrape(pr);
	cr_expect_eq(ops_prom_value(pr, "nara_messages_accepted_total",
	    "type=\"referral\""), 2);
	char lab[32];
	snprintf(lab, sizeof(lab), "code=\"%s\"", code);
	cr_expect_eq(ops_prom_value(pr, "nara_messages_rejected_total", lab), 1);
	cr_expect_eq(ops_prom_value(pr, "nara_queue_depth", "node=\"" T_BUP "\""), 2);
	cr_expect_geq(ops_prom_value(pr, "nara_queue_oldest_age_seconds",
	    "node=\"" T_BUP "\""), 0);
	cr_expect_eq(ops_prom_value(pr, "nara_node_connected", "node=\"" T_GBG "\""), 1);
	cr_expect_eq(ops_prom_value(pr, "nara_node_connected", "node=\"" T_BUP "\""), 0);
	cr_expect_eq(ops_prom_value(pr, "nara_dead_letters", ""), 0);
	cr_expect_gt(ops_prom_value(pr, "nara_store_bytes", ""), 0);
	/* histogram: cumulative buckets, +Inf equals count */
	double prev = 0, inf = ops_prom_value(pr, "nara_commit_latency_seconds_bucket",
	    "le=\"+Inf\"");
	for (size_t i = 0; i < pr->n; i++) {
		if (strcmp(pr->v[i].name, "nara_commit_latency_seconds_bucket"))
			continue;
		cr_expect_geq(pr->v[i].value, prev, "bucket %s decreases",
		    pr->v[i].labels);
		prev = pr->v[i].value;
	}
	cr_expect_eq(inf, ops_prom_value(pr, "nara_commit_latency_seconds_count", ""));
	cr_expect_gt(inf, 0);
	cr_expect_str_eq(pr->type[0], "gauge");

	cr_expect_eq(ops_http_get("GET", "/healthz", body, sizeof(body)), 200);
	cr_expect_str_eq(body, "ok\n");
	cr_expect_eq(ops_http_get("GET", "/nope", body, sizeof(body)), 404);
	cr_expect_eq(ops_http_get("POST", "/metrics", body, sizeof(body)), 405);
	cr_expect_eq(ops_http_get("GET", "/api/nodes", body, sizeof(body)), 200);
	json_t *j = json_loads(body, 0, NULL);
	cr_assert(j != NULL, "%s", body);
	ops_expect_fields(j, "now:t broker_id:s nodes:a status:o");
	json_decref(j);
	free(pr);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* A node connected through the TLS front with a certificate valid for 20
 * days: its days left show in nodes, /metrics and check. */
Test(metrics, check_certificate_days)
{
	char pki[64], extra[1024], ca[128], cert[128], key[128], out[2048];
	struct nara_tunnel *t;
	struct harness via;
	struct tclient gbg;
	struct prom *pr = calloc(1, sizeof(*pr));
	json_t *nv;
	int port, days;

	snprintf(pki, sizeof(pki), "/tmp/nara-pki-XXXXXX");
	cr_assert_not_null(mkdtemp(pki));
	pki_run(true, "init-ca %s", pki);
	pki_run(true, "broker %s narad --ip 127.0.0.1", pki);
	pki_run(true, "node %s %s --days 20", pki, T_GBG);
	port = tls_free_port();
	snprintf(extra, sizeof(extra), "check_disconnected_warn = 0\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\n"
	    "cert = %s/narad.pem\nkey = %s/narad.key\nca = %s/ca.pem\n"
	    "runtime_dir = @RUNTIME_DIR@\n", port, pki, pki, pki);
	ops_start_tls(extra, true);
	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki, T_GBG);
	snprintf(key, sizeof(key), "%s/%s.key", pki, T_GBG);
	t = tls_tunnel_start(port, NULL, ca, cert, key);
	via = ops_h;
	snprintf(via.router, sizeof(via.router), "%s", tunnel_endpoint(t));
	tclient_open(&gbg, &via, T_GBG, 8);

	nv = ops_ctl_json("nodes");
	days = (int)ops_jint(ops_node_of(nv, T_GBG), "cert_days_left");
	cr_expect(days == 19 || days == 20, "days left %d", days);
	cr_expect(json_is_null(json_object_get(ops_node_of(nv, T_BUP),
	    "cert_days_left")));
	json_decref(nv);
	ops_scrape(pr);
	cr_expect_eq(ops_prom_value(pr, "nara_certificate_days_left",
	    "node=\"" T_GBG "\""), days);
	cr_expect_eq(ops_check(out, sizeof(out), ""), 1, "%s", out); /* 30 / 7 */
	cr_expect(strstr(out, T_GBG " certificate days left") != NULL, "%s", out);
	cr_expect_eq(ops_check(out, sizeof(out), "--warn-days 25 --crit-days 10"), 1);
	cr_expect_eq(ops_check(out, sizeof(out), "--warn-days 25 --crit-days 25"), 2);
	snprintf(extra, sizeof(extra), "--warn-days %d --crit-days 5", days);
	cr_expect_eq(ops_check(out, sizeof(out), extra), 1, "%s", out);
	snprintf(extra, sizeof(extra), "--warn-days %d --crit-days 5", days - 1);
	cr_expect_eq(ops_check(out, sizeof(out), extra), 0, "%s", out);
	cr_expect(strncmp(out, "NARA OK - 1 of 4", 16) == 0, "%s", out);
	free(pr);
	tclient_close(&gbg);
	tls_tunnel_stop(&t);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
	snprintf(extra, sizeof(extra), "rm -rf '%s'", pki);
	cr_expect_eq(system(extra), 0);
}
