/*
 * itest_webops.c — the operators' HTTPS console (console_listen) driven
 * with curl as the TLS client: only a certificate from console_ca gets in,
 * the operator is the certificate's subject, a retry and a retry of a
 * whole node are each audited with that subject, cross-site and non-JSON
 * requests are refused, and the plain listener stays read-only.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "harness.h"
#include "ops_helpers.h"
#include "tls_helpers.h"
#include "tunnel.h"
#include "wire.h"

#define OPERATOR_ID "op-anna"

static char pki[64], opdir[64], subject[256];
static int console_port;
static struct nara_tunnel *tun_gbg, *tun_bup;
static struct tclient gbg, bup;
static char ids[3][37];

/* Subject of a PEM certificate in RFC 2253, read here with OpenSSL. */
static void
cert_subject(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	int n;

	cr_assert_not_null(x, "cannot read %s", path);
	X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	n = BIO_read(bio, out, (int)len - 1);
	out[n > 0 ? n : 0] = '\0';
	BIO_free(bio);
	X509_free(x);
	fclose(f);
}

/* curl against the console as who (a stem in dir, NULL = no certificate);
 * extra are more curl arguments. Returns the HTTP status (0 when the
 * request failed, e.g. the handshake), the body into body. */
static int
console(const char *dir, const char *who, const char *extra,
    const char *path, char *body, size_t len)
{
	char cmd[2048], cert[400] = "", out[64], file[400];
	FILE *f;
	size_t n = 0;

	cr_assert_eq(system("command -v curl >/dev/null 2>&1"), 0,
	    "curl is not installed (Debian package curl, in DEB_PACKAGES)");
	if (who != NULL)
		snprintf(cert, sizeof(cert), "--cert %s/%s.pem --key %s/%s.key",
		    dir, who, dir, who);
	snprintf(file, sizeof(file), "%s/curl.body", ops_h.dir);
	unlink(file);
	snprintf(cmd, sizeof(cmd), "curl -sS --max-time 10 -o %s -w '%%{http_code}' "
	    "--cacert %s/ca.pem %s %s https://127.0.0.1:%d%s 2>>%s/curl.err",
	    file, pki, cert, extra ? extra : "", console_port, path, ops_h.dir);
	harness_run(out, sizeof(out), "%s", cmd);
	body[0] = '\0';
	if ((f = fopen(file, "r")) != NULL) {
		n = fread(body, 1, len - 1, f);
		fclose(f);
	}
	body[n] = '\0';
	return atoi(out);
}

static json_t *
console_json(const char *extra, const char *path, int want)
{
	static char body[65536];
	int status = console(opdir, OPERATOR_ID, extra, path, body, sizeof(body));
	json_t *j;

	cr_assert_eq(status, want, "%s: HTTP %d: %s", path, status, body);
	j = json_loads(body, 0, NULL);
	cr_assert_not_null(j, "%s: not JSON: %s", path, body);
	return j;
}

static void
setup(void)
{
	char extra[2048], ca[128], cert[128], key[128];
	struct harness via;
	int tls_port;
	Nara__Frame *d;

	tls_pki_make(pki, (const char *const []){ T_GBG, T_BUP, NULL });
	snprintf(opdir, sizeof(opdir), "/tmp/nara-pki-XXXXXX");
	cr_assert_not_null(mkdtemp(opdir));
	pki_run(true, "init-ca %s --name 'Operators CA'", opdir);
	pki_run(true, "node %s %s", opdir, OPERATOR_ID);
	snprintf(cert, sizeof(cert), "%s/%s.pem", opdir, OPERATOR_ID);
	cert_subject(cert, subject, sizeof(subject));
	tls_port = tls_free_port();
	console_port = tls_free_port();
	snprintf(extra, sizeof(extra), "check_disconnected_warn = 0\n"
	    "console_listen = 127.0.0.1:%d\nconsole_ca = %s/ca.pem\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\n"
	    "cert = %s/narad.pem\nkey = %s/narad.key\nca = %s/ca.pem\n"
	    "runtime_dir = @RUNTIME_DIR@\n", console_port, opdir, tls_port, pki,
	    pki, pki);
	ops_start_tls(extra, true);
	tls_wait_listening(console_port, ops_h.log);
	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki, T_GBG);
	snprintf(key, sizeof(key), "%s/%s.key", pki, T_GBG);
	tun_gbg = tls_tunnel_start(tls_port, NULL, ca, cert, key);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki, T_BUP);
	snprintf(key, sizeof(key), "%s/%s.key", pki, T_BUP);
	tun_bup = tls_tunnel_start(tls_port, NULL, ca, cert, key);
	via = ops_h;
	snprintf(via.router, sizeof(via.router), "%s", tunnel_endpoint(tun_gbg));
	tclient_open(&gbg, &via, T_GBG, 8);
	snprintf(via.router, sizeof(via.router), "%s", tunnel_endpoint(tun_bup));
	tclient_open(&bup, &via, T_BUP, 8);
	/* three dead letters for BUP: its local system refuses them */
	struct fixture *fx = fixture_new();
	ops_submit_to_bup(&gbg, fx, 3, ids);
	fixture_free(&fx);
	for (int k = 0; k < 3; k++) {
		d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
		cr_assert(d != NULL);
		ops_send_nack(&bup, d->deliver->envelope->message_id);
		frame_free(&d);
	}
	cr_assert(harness_wait_sql(&ops_h, "SELECT count(*) FROM messages "
	    "WHERE state = 2", 3, 10000));
}

static void
teardown(void)
{
	char cmd[200];

	tclient_close(&gbg);
	tclient_close(&bup);
	tls_tunnel_stop(&tun_gbg);
	tls_tunnel_stop(&tun_bup);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", pki, opdir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(webops, .init = setup, .fini = teardown, .timeout = 120);

static long
retried_rows(const char *id)
{
	char sql[1024];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE event = "
	    "'retried' AND message_id = '%s' AND detail LIKE '%% by %s (https "
	    "from 127.0.0.1)'", id, subject);
	return harness_sql_long(&ops_h, sql);
}

/* Only certificates of the operators' CA get in; the operator is the
 * certificate's subject. */
Test(webops, only_operator_certificates_get_in)
{
	char body[65536], want[400];
	json_t *j;

	j = console_json(NULL, "/api/whoami", 200);
	snprintf(want, sizeof(want), "%s (https from 127.0.0.1)", subject);
	cr_expect_str_eq(json_string_value(json_object_get(j, "operator")), want);
	json_decref(j);
	cr_expect_eq(console(opdir, NULL, NULL, "/api/whoami", body,
	    sizeof(body)), 0, "served without a client certificate: %s", body);
	cr_expect_eq(console(pki, T_GBG, NULL, "/api/whoami", body,
	    sizeof(body)), 0, "served a node's certificate: %s", body);
	/* the console serves the views and the dashboard too */
	cr_expect_eq(console(opdir, OPERATOR_ID, NULL, "/", body, sizeof(body)),
	    200);
	cr_expect(strstr(body, "function whoami()") != NULL);
	j = console_json(NULL, "/api/dead", 200);
	cr_expect_eq(json_integer_value(json_object_get(j, "total")), 3);
	json_decref(j);
	/* the plain listener has no operator and no actions */
	cr_expect_eq(ops_http_get("GET", "/api/whoami", body, sizeof(body)), 404);
	cr_expect_eq(ops_http_get("POST", "/api/retry", body, sizeof(body)), 405);
}

/* A retry and a retry of a whole node, each retried message an audit row
 * naming the operator; BUP gets them again. */
Test(webops, retries_audited_with_the_certificate_subject)
{
	char args[300];
	json_t *j;
	Nara__Frame *d;

	snprintf(args, sizeof(args), "-X POST -H 'Content-Type: application/json'"
	    " -d '{\"message_id\":\"%s\"}'", ids[0]);
	j = console_json(args, "/api/retry", 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "recipient_node")),
	    T_BUP);
	json_decref(j);
	cr_expect_eq(retried_rows(ids[0]), 1, "no audit row naming %s", subject);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
	cr_assert(d != NULL, "retried message not delivered");
	cr_expect_str_eq(d->deliver->envelope->message_id, ids[0]);
	frame_free(&d);

	j = console_json("-X POST -H 'Content-Type: application/json' -d "
	    "'{\"node\":\"" T_BUP "\"}'", "/api/retry-node", 200);
	cr_expect_eq(json_array_size(json_object_get(j, "retried")), 2);
	cr_expect(json_is_false(json_object_get(j, "more")));
	json_decref(j);
	cr_expect_eq(retried_rows(ids[1]), 1);
	cr_expect_eq(retried_rows(ids[2]), 1);
	for (int k = 0; k < 2; k++) {
		d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
		cr_assert(d != NULL, "retried message %d not delivered", k);
		frame_free(&d);
	}
	j = console_json("-X POST -H 'Content-Type: application/json' -d "
	    "'{\"node\":\"no-such-node\"}'", "/api/retry-node", 400);
	cr_expect_str_eq(json_string_value(json_object_get(j, "code")), "NR004");
	json_decref(j);
}

/* A form post or another site's page cannot act for the operator. */
Test(webops, cross_site_and_non_json_requests_refused)
{
	char args[400];
	json_t *j;

	snprintf(args, sizeof(args), "-X POST -H 'Content-Type: "
	    "application/x-www-form-urlencoded' -d 'message_id=%s'", ids[0]);
	j = console_json(args, "/api/retry", 415);
	json_decref(j);
	snprintf(args, sizeof(args), "-X POST -H 'Content-Type: application/json'"
	    " -H 'Origin: https://elsewhere.example' -d '{\"message_id\":\"%s\"}'",
	    ids[0]);
	j = console_json(args, "/api/retry", 403);
	json_decref(j);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'retried'"), 0);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM messages "
	    "WHERE state = 2"), 3);
}

/* A stunnel client that presents the operator's certificate to the
 * console, so that headless Chromium (which cannot pick a client
 * certificate without a system policy) loads the console's page as the
 * operator would. Returns its local port; *pid to stop it. */
static int
operator_stunnel(pid_t *pid)
{
	static const char *cand[] = { "/usr/bin/stunnel4", "/usr/bin/stunnel" };
	const char *bin = NULL;
	char conf[400];
	int port = tls_free_port();
	FILE *f;

	for (size_t i = 0; i < 2 && bin == NULL; i++)
		if (access(cand[i], X_OK) == 0)
			bin = cand[i];
	cr_assert_not_null(bin, "stunnel is not installed (Debian stunnel4)");
	snprintf(conf, sizeof(conf), "%s/stunnel.conf", ops_h.dir);
	cr_assert_not_null(f = fopen(conf, "w"));
	fprintf(f, "foreground = quiet\npid =\noutput = %s/stunnel.log\n\n"
	    "[console]\nclient = yes\naccept = 127.0.0.1:%d\n"
	    "connect = 127.0.0.1:%d\ncert = %s/%s.pem\nkey = %s/%s.key\n"
	    "CAfile = %s/ca.pem\nverifyChain = yes\ncheckIP = 127.0.0.1\n",
	    ops_h.dir, port, console_port, opdir, OPERATOR_ID, opdir,
	    OPERATOR_ID, pki);
	fclose(f);
	cr_assert_gt(*pid = fork(), -1);
	if (*pid == 0) {
		execl(bin, "stunnel", conf, (char *)NULL);
		_exit(127);
	}
	tls_wait_listening(port, ops_h.log);
	return port;
}

/* The console's page in headless Chromium names the operator and offers
 * Retry for each dead letter and Retry all for BUP; the plain listener's
 * page offers none. */
Test(webops, dashboard_offers_actions_to_the_operator_only)
{
	char cmd[2048], want[600], path[400], *dom = NULL;
	size_t len = 0;
	pid_t pid;
	int port = operator_stunnel(&pid);
	FILE *f;

	cr_assert_eq(system("command -v chromium >/dev/null 2>&1"), 0,
	    "chromium is not installed (Debian chromium; make deps)");
	for (int k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/dom%d.html", ops_h.dir, k);
		snprintf(cmd, sizeof(cmd), "timeout 120 chromium --headless "
		    "--no-sandbox --disable-gpu --no-first-run "
		    "--user-data-dir=%s/chromium --virtual-time-budget=4000 "
		    "--dump-dom http://127.0.0.1:%d/ >%s 2>>%s/chromium.log",
		    ops_h.dir, k == 0 ? port : ops_http_port, path, ops_h.dir);
		cr_assert_eq(system(cmd), 0, "chromium failed; see %s", ops_h.dir);
		cr_assert_not_null(f = fopen(path, "r"));
		cr_assert(getdelim(&dom, &len, '\0', f) > 0);
		fclose(f);
		snprintf(want, sizeof(want), "<button id=\"retry-%s\">Retry</button>",
		    ids[0]);
		cr_expect_eq(strstr(dom, want) != NULL, k == 0, "%s: Retry "
		    "button %s", k == 0 ? "console" : "plain listener",
		    k == 0 ? "missing" : "offered");
		cr_expect_eq(strstr(dom, "<button id=\"retry-node-" T_BUP "\">"
		    "Retry all for " T_BUP "</button>") != NULL, k == 0);
		snprintf(want, sizeof(want), "Operator: %s (https from 127.0.0.1) "
		    "(actions are audited)", subject);
		cr_expect_eq(strstr(dom, want) != NULL, k == 0, "operator line");
	}
	free(dom);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* console_listen without console_ca and [tls]: narad -n and a real start
 * both refuse, saying what is missing. */
Test(webops_config, console_without_its_files_refused)
{
	static const char reason[] = "console_listen needs console_ca and "
	    "[tls] cert and key";
	char out[8192], bin[300];
	struct harness hc;
	int rc;

	harness_init(&hc, "console_listen = 127.0.0.1:9443\n");
	rc = harness_run(out, sizeof(out), "%s -n -c %s",
	    harness_bin("narad", bin, sizeof(bin)), hc.conf);
	cr_expect_eq(rc, 1, "narad -n exited %d:\n%s", rc, out);
	cr_expect(strstr(out, reason) != NULL, "-n: %s", out);
	rc = harness_run(out, sizeof(out), "timeout 30 %s -c %s",
	    harness_bin("narad", bin, sizeof(bin)), hc.conf);
	cr_expect_eq(rc, 1, "narad start exited %d:\n%s", rc, out);
	cr_expect(strstr(out, reason) != NULL, "start: %s", out);
	harness_cleanup(&hc);
}
