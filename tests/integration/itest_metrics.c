/*
 * itest_metrics.c — /metrics scraped over a plain socket and parsed line
 * by line as Prometheus text, /healthz, /api/nodes, and certificate days
 * left of a node connected through the TLS front in nodes, /metrics and
 * naractl check, and the operators' metrics (per node, refusals by reason,
 * start time, checkpoint, certificate expiry) checked by promtool.
 */
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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
	/* the submits' batches committed on the SQLite commit thread */
	cr_expect_geq(ops_prom_value(pr, "nara_store_commits_unwaited_total",
	    ""), 1);
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

/* Sends "GET path" on a new connection and closes it at once; with reset,
 * by RST (SO_LINGER 0), else by FIN. The answer waits for the store's
 * counts off narad's loop (counts.h), so the connection is gone first. */
static void
request_and_leave(const char *path, bool reset)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)ops_http_port) };
	struct linger lg = { 1, 0 };
	char req[160];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
	    path);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	if (reset)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Whether /healthz answers now: a connection over the per-address cap
 * (16 by default) is closed unanswered while the ones before it are open. */
static bool
healthz_answers(void *arg)
{
	char body[64];

	(void)arg;
	return ops_http_try("GET", "/healthz", body, sizeof(body)) == 200;
}

/* Scrapers and browsers that go away before their answer: nothing is
 * written to a freed connection, narad goes on serving (once their
 * connections are gone: the per-address cap counts them until then), and
 * the next scrape shows the counts as they are. */
Test(metrics, clients_leaving_before_the_counts_are_read)
{
	static const char *paths[] = { "/metrics", "/api/nodes", "/api/status" };
	struct fixture *fx = fixture_new();
	static char body[1 << 20];
	struct tclient gbg;
	struct prom *pr = calloc(1, sizeof(*pr));

	ops_start(NULL);
	tclient_open(&gbg, &ops_h, T_GBG, 8);
	ops_submit_to_bup(&gbg, fx, 3, NULL);
	for (int i = 0; i < 60; i++)
		request_and_leave(paths[i % 3], i % 2 == 0);
	cr_assert(harness_wait(healthz_answers, NULL, 20000), "narad does not "
	    "answer /healthz after the clients left");
	ops_scrape(pr);
	cr_expect_eq(ops_prom_value(pr, "nara_queue_depth", "node=\"" T_BUP
	    "\""), 3);
	cr_expect_eq(ops_prom_value(pr, "nara_messages_queued", ""), 3);
	cr_expect_eq(ops_http_get("GET", "/api/status", body, sizeof(body)), 200);
	json_t *j = json_loads(body, 0, NULL);
	cr_assert(j != NULL, "%s", body);
	cr_expect_eq(json_integer_value(json_object_get(j, "queued")), 3);
	json_decref(j);
	cr_expect_eq(ops_http_get("GET", "/healthz", body, sizeof(body)), 200);
	cr_expect_eq(kill(ops_h.pid, 0), 0, "narad is gone");
	free(pr);
	tclient_close(&gbg);
	fixture_free(&fx);
	cr_expect_eq(harness_stop(&ops_h, SIGTERM), 0, "narad did not stop "
	    "cleanly");
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
	/* whole days of the seconds left, as nodes rounds them */
	cr_expect_eq((long long)ops_prom_value(pr,
	    "nara_node_certificate_expiry_seconds", "node=\"" T_GBG "\"") / 86400,
	    days);
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

/* notAfter of a PEM certificate (epoch seconds), read with OpenSSL here. */
static int64_t
cert_not_after(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	struct tm tm;

	cr_assert_not_null(x, "cannot read %s", path);
	cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
	X509_free(x);
	fclose(f);
	return (int64_t)timegm(&tm);
}

/* Run promtool ARGS; its exit status. The test fails, saying so, when
 * promtool (Debian package prometheus, in DEB_PACKAGES) is missing. */
static int
promtool(char *out, size_t len, const char *args)
{
	cr_assert_eq(system("command -v promtool >/dev/null 2>&1"), 0,
	    "promtool is not installed: this test needs it (Debian package "
	    "prometheus, listed in DEB_PACKAGES; run make deps)");
	return harness_run(out, len, "promtool %s 2>&1", args);
}

/* Is name (or the family of a _bucket, _sum or _count sample) a metric
 * family narad's /metrics declared? */
static bool
family_exists(const struct prom *pr, const char *name)
{
	static const char *const suffix[] = { "", "_bucket", "_sum", "_count" };
	size_t n = strlen(name);

	for (size_t s = 0; s < 4; s++) {
		size_t k = strlen(suffix[s]);
		if (n < k || strcmp(name + n - k, suffix[s]) != 0)
			continue;
		for (size_t i = 0; i < pr->ntyped; i++)
			if (strlen(pr->typed[i]) == n - k &&
			    strncmp(pr->typed[i], name, n - k) == 0)
				return true;
	}
	return false;
}

/* Every nara_* name and process_start_time_seconds in text must be a
 * family of pr; returns how many names were checked. */
static int
names_exist(const struct prom *pr, const char *text, const char *where)
{
	char name[128];
	int checked = 0;

	for (const char *p = text; *p != '\0'; p++) {
		size_t n = 0;
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		while ((isalnum((unsigned char)p[n]) || p[n] == '_') &&
		    n + 1 < sizeof(name))
			n++;
		memcpy(name, p, n);
		name[n] = '\0';
		if (strncmp(name, "nara_", 5) == 0 ||
		    strcmp(name, "process_start_time_seconds") == 0) {
			cr_expect(family_exists(pr, name), "%s names %s, which "
			    "narad's /metrics does not have", where, name);
			checked++;
		}
		p += n ? n - 1 : 0;
	}
	return checked;
}

/* Every "expr" and "query" string of a Grafana dashboard, checked. */
static int
grafana_names(const struct prom *pr, json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;
	int n = 0;

	if (json_is_object(j)) {
		json_object_foreach(j, key, v) {
			if (json_is_string(v) && (strcmp(key, "expr") == 0 ||
			    strcmp(key, "query") == 0))
				n += names_exist(pr, json_string_value(v),
				    "docs/grafana/nara.json");
			else
				n += grafana_names(pr, v);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			n += grafana_names(pr, v);
	}
	return n;
}

/* The shipped alert rules load (promtool check rules), their unit tests
 * pass (promtool test rules), and the rules and the Grafana dashboard name
 * only metrics narad has. */
static void
shipped_monitoring_checks(const struct prom *pr)
{
	char out[8192], args[600], *rules = NULL;
	const char *top = getenv("NARA_TOP");
	json_error_t jerr;
	size_t len = 0;
	json_t *dash;
	FILE *f;
	int n;

	cr_assert_not_null(top, "NARA_TOP not set");
	snprintf(args, sizeof(args), "check rules %s/docs/prometheus/"
	    "nara-rules.yml", top);
	cr_expect_eq(promtool(out, sizeof(out), args), 0, "%s", out);
	snprintf(args, sizeof(args), "test rules %s/docs/prometheus/"
	    "nara-rules.test.yml", top);
	cr_expect_eq(promtool(out, sizeof(out), args), 0, "%s", out);
	snprintf(args, sizeof(args), "%s/docs/prometheus/nara-rules.yml", top);
	cr_assert_not_null(f = fopen(args, "r"));
	cr_assert(getdelim(&rules, &len, '\0', f) > 0);
	fclose(f);
	n = 0;
	for (char *line = strtok(rules, "\n"); line != NULL;
	    line = strtok(NULL, "\n"))
		if (strstr(line, "expr:") != NULL)
			n += names_exist(pr, line, "nara-rules.yml");
	cr_expect_gt(n, 10, "only %d metric names in the rules", n);
	free(rules);
	snprintf(args, sizeof(args), "%s/docs/grafana/nara.json", top);
	dash = json_load_file(args, 0, &jerr);
	cr_assert_not_null(dash, "%s: %s line %d", args, jerr.text, jerr.line);
	n = grafana_names(pr, dash);
	cr_expect_gt(n, 15, "only %d metric names in the dashboard", n);
	json_decref(dash);
}

/* The narad of operator_metrics_match_what_happened and what it did. */
static struct {
	char pki[64], other[64];
	int port;
	int64_t before, after;         /* around narad's start */
	struct nara_tunnel *t;
	struct tclient gbg;
	struct fixture *fx;
	char code[8];                  /* the code of the refused submit */
} om;

/* narad over TLS with a signing key (checkpoint every second), narad's
 * certificate valid 40 days, Göteborg's 20. */
static void
om_start(void)
{
	char extra[2048], sign[128], out[4096], path[400];

	snprintf(om.pki, sizeof(om.pki), "/tmp/nara-pki-XXXXXX");
	cr_assert_not_null(mkdtemp(om.pki));
	pki_run(true, "init-ca %s", om.pki);
	pki_run(true, "broker %s narad --ip 127.0.0.1 --days 40", om.pki);
	pki_run(true, "node %s %s --days 20", om.pki, T_GBG);
	tls_pki_make(om.other, (const char *const []){ T_BORAS, NULL });
	snprintf(sign, sizeof(sign), "%s/sign.pem", om.pki);
	cr_assert_eq(harness_run(out, sizeof(out), "%s keygen %s",
	    harness_bin("nara-audit", path, sizeof(path)), sign), 0, "%s", out);
	om.port = tls_free_port();
	snprintf(extra, sizeof(extra), "check_disconnected_warn = 0\n"
	    "signing_key = %s\ncheckpoint_interval = 1\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\n"
	    "cert = %s/narad.pem\nkey = %s/narad.key\nca = %s/ca.pem\n"
	    "runtime_dir = @RUNTIME_DIR@\n", sign, om.port, om.pki, om.pki,
	    om.pki);
	om.before = (int64_t)time(NULL);
	ops_start_tls(extra, true);
	om.after = (int64_t)time(NULL);
	om.fx = fixture_new();
}

/* Göteborg submits two accepted and one refused message (whatever code
 * narad sends is what must count), and Borås's certificate from a CA
 * narad does not trust is refused. */
static void
om_traffic(void)
{
	char ca[128], cert[128], key[128];
	struct harness via = ops_h;
	struct tls_conn *bad;
	Nara__Frame *f;

	snprintf(ca, sizeof(ca), "%s/ca.pem", om.pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", om.pki, T_GBG);
	snprintf(key, sizeof(key), "%s/%s.key", om.pki, T_GBG);
	om.t = tls_tunnel_start(om.port, NULL, ca, cert, key);
	snprintf(via.router, sizeof(via.router), "%s", tunnel_endpoint(om.t));
	tclient_open(&om.gbg, &via, T_GBG, 8);
	ops_submit_to_bup(&om.gbg, om.fx, 2, NULL);
	f = tclient_submit(&om.gbg, fixture_envelope(om.fx,
	    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, "nowhere:at:all"));
	cr_assert_eq(f->kind_case, NARA__FRAME__KIND_REJECTED);
	snprintf(om.code, sizeof(om.code), "%s", f->rejected->code);
	frame_free(&f);
	snprintf(cert, sizeof(cert), "%s/%s.pem", om.other, T_BORAS);
	snprintf(key, sizeof(key), "%s/%s.key", om.other, T_BORAS);
	if ((bad = tls_conn_open(om.port, ca, cert, key)) != NULL) {
		cr_expect(tls_conn_closed(bad, 5000, NULL));
		tls_conn_free(&bad);
	}
	cr_assert(harness_wait_sql(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'auth_failed'", 1, 10000));
	cr_assert(harness_wait_sql(&ops_h, "SELECT count(*) > 0 FROM "
	    "checkpoints", 1, 10000), "no checkpoint signed");
}

/* GET /metrics, checked by promtool check metrics, parsed into pr. */
static void
om_scrape(struct prom *pr)
{
	static char body[1 << 20];
	char path[400], args[500], out[4096];
	FILE *fp;

	cr_assert_eq(ops_http_get("GET", "/metrics", body, sizeof(body)), 200);
	snprintf(path, sizeof(path), "%s/metrics.txt", ops_h.dir);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs(body, fp);
	fclose(fp);
	snprintf(args, sizeof(args), "check metrics < %s", path);
	cr_expect_eq(promtool(out, sizeof(out), args), 0, "promtool: %s", out);
	ops_prom_parse(body, pr);
}

/* The expiry gauge name{labels} lies between not_after - the time before
 * the scrape and not_after - the time after it. */
static void
om_expiry(const struct prom *pr, const char *name, const char *labels,
    const char *cert, int64_t scraped_after)
{
	int64_t na = cert_not_after(cert);

	cr_expect_leq(ops_prom_value(pr, name, labels), na - om.before, "%s", name);
	cr_expect_geq(ops_prom_value(pr, name, labels), na - scraped_after,
	    "%s", name);
}

/* What happened is what /metrics says: per-node counters (a submit refused
 * with the code the node was sent), refusals by reason (a certificate of
 * another CA), process start, the newest signed checkpoint, and the
 * expiry of narad's and the node's certificates; promtool accepts it, and
 * the shipped rules and dashboard name only metrics that exist. */
Test(metrics, operator_metrics_match_what_happened)
{
	struct prom *pr = calloc(1, sizeof(*pr));
	char labels[160], path[400];
	int64_t started, now;

	om_start();
	om_traffic();
	om_scrape(pr);
	now = (int64_t)time(NULL);
	snprintf(labels, sizeof(labels), "node=\"%s\"", T_GBG);
	cr_expect_eq(ops_prom_value(pr, "nara_node_submitted_total", labels), 3);
	snprintf(labels, sizeof(labels), "node=\"%s\",code=\"%s\"", T_GBG,
	    om.code);
	cr_expect_eq(ops_prom_value(pr, "nara_node_refused_total", labels), 1);
	snprintf(labels, sizeof(labels), "node=\"%s\"", T_BUP);
	cr_expect_eq(ops_prom_value(pr, "nara_node_delivered_total", labels), 0);
	cr_expect_eq(ops_prom_value(pr, "nara_connection_refusals_total",
	    "reason=\"certificate\""), 1);
	cr_expect_eq(ops_prom_value(pr, "nara_connection_refusals_total",
	    "reason=\"zmtp\""), 0);
	started = (int64_t)ops_prom_value(pr, "process_start_time_seconds", "");
	cr_expect(started >= om.before && started <= om.after, "start %lld not "
	    "in [%lld, %lld]", (long long)started, (long long)om.before,
	    (long long)om.after);
	cr_expect_eq((int64_t)ops_prom_value(pr,
	    "nara_audit_last_checkpoint_timestamp_seconds", ""),
	    harness_sql_long(&ops_h, "SELECT max(time) / 1000 FROM checkpoints"));
	snprintf(path, sizeof(path), "%s/narad.pem", om.pki);
	om_expiry(pr, "nara_broker_certificate_expiry_seconds", "", path, now);
	snprintf(path, sizeof(path), "%s/%s.pem", om.pki, T_GBG);
	snprintf(labels, sizeof(labels), "node=\"%s\"", T_GBG);
	om_expiry(pr, "nara_node_certificate_expiry_seconds", labels, path, now);
	shipped_monitoring_checks(pr);
	free(pr);
	tclient_close(&om.gbg);
	tls_tunnel_stop(&om.t);
	fixture_free(&om.fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
	snprintf(path, sizeof(path), "rm -rf '%s' '%s'", om.pki, om.other);
	cr_expect_eq(system(path), 0);
}

/* narad's own certificate, valid 5 days, makes `naractl check` CRITICAL
 * under the broker's id with the days the certificate file says. */
Test(metrics, broker_certificate_in_check)
{
	char pki[64], extra[1024], out[2048], path[200], want[200];
	long long days;
	json_t *st;
	int port;

	snprintf(pki, sizeof(pki), "/tmp/nara-pki-XXXXXX");
	cr_assert_not_null(mkdtemp(pki));
	pki_run(true, "init-ca %s", pki);
	pki_run(true, "broker %s narad --ip 127.0.0.1 --days 5", pki);
	port = tls_free_port();
	snprintf(extra, sizeof(extra), "check_disconnected_warn = 0\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\n"
	    "cert = %s/narad.pem\nkey = %s/narad.key\nca = %s/ca.pem\n"
	    "runtime_dir = @RUNTIME_DIR@\n", port, pki, pki, pki);
	ops_start_tls(extra, true);
	snprintf(path, sizeof(path), "%s/narad.pem", pki);
	st = ops_ctl_json("status");
	days = (cert_not_after(path) - (int64_t)time(NULL)) / 86400;
	cr_expect_eq(ops_jint(st, "broker_cert_days_left"), days);
	cr_expect_eq(ops_check(out, sizeof(out), ""), 2, "%s", out);
	snprintf(want, sizeof(want), "%s certificate days left %lld",
	    json_string_value(json_object_get(st, "broker_id")), days);
	cr_expect(strstr(out, want) != NULL, "%s not in %s", want, out);
	cr_expect_eq(ops_check(out, sizeof(out), "--warn-days 3 --crit-days 2"),
	    0, "%s", out);
	json_decref(st);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
	snprintf(extra, sizeof(extra), "rm -rf '%s'", pki);
	cr_expect_eq(system(extra), 0);
}
