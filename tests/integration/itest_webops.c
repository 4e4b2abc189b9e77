/*
 * itest_webops.c — the operators' HTTPS console (console_listen) driven
 * with curl and with headless Chromium (cdp.h) as the TLS client: only a
 * certificate from console_ca gets in, the operator is the certificate's
 * subject, a retry and a retry of a whole node are each audited with that
 * subject, also when clicked in the browser, cross-site and non-JSON
 * requests are refused, and the plain listener stays read-only.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cdp.h"
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

/* Headless Chromium with the operator's certificate: an NSS database
 * in its own HOME and a profile that presents the certificate to the
 * console without asking (cdp.h), under ops_h.dir/browser. */
static void
operator_browser(struct cdp *c)
{
	char dir[300], ca[200], cert[200], key[200], origin[100];

	snprintf(dir, sizeof(dir), "%s/browser", ops_h.dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", opdir, OPERATOR_ID);
	snprintf(key, sizeof(key), "%s/%s.key", opdir, OPERATOR_ID);
	snprintf(origin, sizeof(origin), "https://127.0.0.1:%d", console_port);
	cdp_client_cert(dir, ca, cert, key, origin);
	cdp_start(c, dir);
}

/* The text of element id in the page ("" when there is none); static. */
static const char *
page_text(struct cdp *c, const char *id)
{
	static char text[2048];
	char js[300];
	json_t *v;

	snprintf(js, sizeof(js), "(function(){var e=document.getElementById("
	    "'%s');return e?e.textContent:'';})()", id);
	v = cdp_eval(c, js, 10000);
	snprintf(text, sizeof(text), "%s", json_string_value(v) ?
	    json_string_value(v) : "");
	json_decref(v);
	return text;
}

/* The page as a test artefact in build/tests/artefacts/name under
 * NARA_TOP, for a person to look at; the tests assert on the DOM. */
static void
keep_screenshot(struct cdp *c, const char *name)
{
	const char *top = getenv("NARA_TOP");
	char path[400];
	struct stat st;

	snprintf(path, sizeof(path), "%s/build/tests/artefacts", top ? top : ".");
	mkdir(path, 0755);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", name);
	cr_expect_eq(cdp_screenshot(c, path, 30000), 0, "no screenshot %s", path);
	cr_expect(stat(path, &st) == 0 && st.st_size > 0, "empty %s", path);
}

/* In headless Chromium over HTTPS with the operator's certificate, the
 * console names the operator and offers Retry per dead letter and Retry
 * all for BUP; clicking Retry queues the message again (BUP gets it), the
 * page says so, and the audit row names the certificate's subject. The
 * plain listener's page offers no action. */
Test(webops, chromium_retry_audited_with_the_certificate_subject)
{
	char url[100], js[300], want[600];
	struct cdp c;
	Nara__Frame *d;

	operator_browser(&c);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", console_port);
	cr_assert_eq(cdp_navigate(&c, url, 30000), 0, "console not loaded");
	snprintf(js, sizeof(js), "document.getElementById('retry-%s')!==null",
	    ids[0]);
	cr_assert(cdp_wait_true(&c, js, 30000), "no Retry button for %s: "
	    "operator \"%s\", error \"%s\"", ids[0], page_text(&c, "operator"),
	    page_text(&c, "error"));
	snprintf(want, sizeof(want), "Operator: %s (https from 127.0.0.1) "
	    "(actions are audited)", subject);
	cr_expect_str_eq(page_text(&c, "operator"), want);
	cr_expect_str_eq(page_text(&c, "retry-node-" T_BUP), "Retry all for "
	    T_BUP);
	cr_expect_eq(retried_rows(ids[0]), 0);

	snprintf(js, sizeof(js), "document.getElementById('retry-%s').click()"
	    "||true", ids[0]);
	json_decref(cdp_eval(&c, js, 10000));
	snprintf(js, sizeof(js), "document.getElementById('action-result')."
	    "textContent==='%s queued again for " T_BUP "'", ids[0]);
	cr_assert(cdp_wait_true(&c, js, 30000), "no result of the click: "
	    "\"%s\"", page_text(&c, "action-result"));
	cr_expect_eq(retried_rows(ids[0]), 1, "no audit row naming %s", subject);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
	cr_assert(d != NULL, "retried message not delivered");
	cr_expect_str_eq(d->deliver->envelope->message_id, ids[0]);
	frame_free(&d);
	/* the page refreshed: the message is no longer a dead letter */
	snprintf(js, sizeof(js), "document.getElementById('dead-%s')===null&&"
	    "document.getElementById('dead-%s')!==null", ids[0], ids[1]);
	cr_expect(cdp_wait_true(&c, js, 30000), "dead letters not refreshed");
	keep_screenshot(&c, "webops-retry.png");

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ops_http_port);
	cr_assert_eq(cdp_navigate(&c, url, 30000), 0);
	snprintf(js, sizeof(js), "document.getElementById('dead-%s')!==null",
	    ids[1]);
	cr_assert(cdp_wait_true(&c, js, 30000), "plain listener: no dead "
	    "letters");
	cr_expect(cdp_wait_true(&c, "document.querySelectorAll('#dead button,"
	    "#dead-actions button').length===0&&document.getElementById("
	    "'operator').textContent===''", 1000), "plain listener offers "
	    "actions");
	cdp_stop(&c);
}

/* The events of id's audit rows in seq order, comma-separated, and the
 * pseudonym its rows carry (empty when none), straight from the store. */
static void
store_trail(const char *id, char *events, size_t len, char *pseudonym,
    size_t plen)
{
	char out[4096];

	/* the trail is complete once the sender has its receipt */
	snprintf(out, sizeof(out), "SELECT count(*) FROM audit WHERE event = "
	    "'receipt_sent' AND message_id = '%s'", id);
	cr_assert(harness_wait_sql(&ops_h, out, 1, 10000), "no receipt sent");
	cr_assert_eq(harness_run(out, sizeof(out), "sqlite3 %s \"SELECT "
	    "group_concat(event, ',') FROM (SELECT event FROM audit WHERE "
	    "message_id = '%s' ORDER BY seq)\"", ops_h.store, id), 0);
	out[strcspn(out, "\n")] = '\0';
	snprintf(events, len, "%.*s", (int)(len - 1), out);
	cr_assert_eq(harness_run(out, sizeof(out), "sqlite3 %s \"SELECT "
	    "subject FROM audit WHERE message_id = '%s' AND subject IS NOT NULL "
	    "LIMIT 1\"", ops_h.store, id), 0);
	out[strcspn(out, "\n")] = '\0';
	snprintf(pseudonym, plen, "%.*s", (int)(plen - 1), out);
}

/* The lookup's answer: metadata (exactly naractl show's fields, no
 * subject) and every audit row of the message in order; a malformed id
 * is a 400 and an unknown one a 404, each with a code. */
Test(webops, message_lookup_metadata_and_audit_trail)
{
	char path[200], events[2048], pseudonym[200], body[65536], got[2048] = "";
	json_t *j, *a, *row;
	size_t i;

	store_trail(ids[1], events, sizeof(events), pseudonym, sizeof(pseudonym));
	snprintf(path, sizeof(path), "/api/message?id=%s", ids[1]);
	j = console_json(NULL, path, 200);
	ops_expect_fields(j, "message:o audit:a audit_truncated:b");
	ops_expect_fields(json_object_get(j, "message"), "message_id:s type:s "
	    "sender_node:s recipient_node:s state:s attempts:i accepted_at:t "
	    "done_at:T payload_sha256:s identifies_child:b payload_kept:b "
	    "dead_code:S dead_text:S");
	cr_expect_eq(json_object_size(json_object_get(j, "message")), 20);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j,
	    "message"), "state")), "dead");
	a = json_object_get(j, "audit");
	json_array_foreach(a, i, row) {
		ops_expect_fields(row, "seq:i at:t event:s");
		cr_expect_eq(json_object_get(row, "subject"), NULL);
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
		    i ? "," : "", json_string_value(json_object_get(row, "event")));
	}
	cr_expect(strlen(events) > 0);
	cr_expect_str_eq(got, events);
	json_decref(j);
	cr_assert(pseudonym[0] != '\0', "the fixture's rows carry no subject");
	/* nothing of whom it is about, also on the plain listener */
	cr_expect_eq(ops_http_get("GET", path, body, sizeof(body)), 200);
	cr_expect(strstr(body, pseudonym) == NULL, "pseudonym shown: %s", body);
	cr_expect(strstr(body, "\"subject\"") == NULL, "%s", body);

	j = console_json(NULL, "/api/message?id=not-a-uuid", 400);
	cr_expect_str_eq(json_string_value(json_object_get(j, "code")), "NR011");
	json_decref(j);
	j = console_json(NULL, "/api/message", 400);
	cr_expect_str_eq(json_string_value(json_object_get(j, "code")), "NR072");
	json_decref(j);
	j = console_json(NULL, "/api/message?id=00000000-0000-4000-8000-"
	    "000000000000", 404);
	cr_expect_str_eq(json_string_value(json_object_get(j, "code")), "NR019");
	json_decref(j);
}

/* "Find a message" in Chromium: typing a dead letter's id shows its
 * metadata and its audit trail row by row as the store has it, a dead
 * letter's id links to the same, an unknown id says so; never the
 * pseudonym. */
Test(webops, chromium_message_lookup)
{
	char url[100], js[600], events[2048], pseudonym[200];
	struct cdp c;
	json_t *v;

	store_trail(ids[1], events, sizeof(events), pseudonym, sizeof(pseudonym));
	operator_browser(&c);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", console_port);
	cr_assert_eq(cdp_navigate(&c, url, 30000), 0);
	cr_assert(cdp_wait_true(&c, "document.getElementById('lookup-form')"
	    "!==null", 30000));
	snprintf(js, sizeof(js), "document.getElementById('lookup-id').value="
	    "'%s';document.getElementById('lookup-button').click()||true", ids[1]);
	json_decref(cdp_eval(&c, js, 10000));
	cr_assert(cdp_wait_true(&c, "!document.getElementById('lookup-result')"
	    ".hidden", 30000), "no lookup result: \"%s\"",
	    page_text(&c, "lookup-error"));
	v = cdp_eval(&c, "Array.from(document.querySelectorAll('#lookup-meta "
	    "tr')).map(function(t){return t.id+'='+t.lastChild.textContent;})"
	    ".join('|')", 10000);
	cr_assert_not_null(v);
	snprintf(js, sizeof(js), "msg-message_id=%s|msg-state=dead|", ids[1]);
	cr_expect(strstr(json_string_value(v), js) != NULL, "%s",
	    json_string_value(v));
	cr_expect(strstr(json_string_value(v), "|msg-recipient_node=" T_BUP "|")
	    != NULL, "%s", json_string_value(v));
	cr_expect(strstr(json_string_value(v), "|msg-dead_code=NR052|") != NULL,
	    "%s", json_string_value(v));
	json_decref(v);
	v = cdp_eval(&c, "Array.from(document.querySelectorAll('#lookup-audit "
	    "tr.audit td.event')).map(function(t){return t.textContent;})"
	    ".join(',')", 10000);
	cr_expect_str_eq(json_string_value(v), events);
	json_decref(v);
	v = cdp_eval(&c, "document.body.innerText", 10000);
	cr_expect(strstr(json_string_value(v), pseudonym) == NULL,
	    "the page shows the pseudonym");
	json_decref(v);
	json_decref(cdp_eval(&c, "document.getElementById('lookup-section')."
	    "scrollIntoView()||true", 10000));
	keep_screenshot(&c, "webops-lookup.png");

	/* a dead letter's id is a link to its lookup */
	snprintf(js, sizeof(js), "document.querySelector('#dead-%s a').click()"
	    "||true", ids[2]);
	json_decref(cdp_eval(&c, js, 10000));
	snprintf(js, sizeof(js), "!document.getElementById('lookup-result')"
	    ".hidden&&document.querySelector('#msg-message_id td')."
	    "textContent==='%s'", ids[2]);
	cr_expect(cdp_wait_true(&c, js, 30000), "the dead letter's link shows "
	    "no lookup");
	json_decref(cdp_eval(&c, "document.getElementById('lookup-id').value="
	    "'00000000-0000-4000-8000-000000000000';document.getElementById("
	    "'lookup-button').click()||true", 10000));
	cr_expect(cdp_wait_true(&c, "document.getElementById('lookup-error')."
	    "textContent.indexOf('NR019 no message')===0&&document."
	    "getElementById('lookup-result').hidden", 30000), "unknown id: \"%s\"",
	    page_text(&c, "lookup-error"));
	cdp_stop(&c);
}

/* Revoking an operator's certificate and reloading locks that operator
 * out of the console: the open connection is closed, a new handshake
 * fails and no action is taken; another operator still works. A reload
 * whose console files cannot be loaded keeps the running ones. */
Test(webops_revoke, revoked_operator_locked_out_after_reload)
{
	static const char whoami[] = "GET /api/whoami HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\n\r\n";
	char extra[2048], body[65536], out[4096], err[4096], path[200];
	char ca[128], cert[128], key[128];
	struct tls_conn *live;
	size_t got = 0;
	int tls_port;

	tls_pki_make(pki, (const char *const []){ T_GBG, NULL });
	snprintf(opdir, sizeof(opdir), "/tmp/nara-pki-XXXXXX");
	cr_assert_not_null(mkdtemp(opdir));
	pki_run(true, "init-ca %s --name 'Operators CA'", opdir);
	pki_run(true, "node %s %s", opdir, OPERATOR_ID);
	pki_run(true, "node %s op-bert", opdir);
	tls_port = tls_free_port();
	console_port = tls_free_port();
	snprintf(extra, sizeof(extra), "console_listen = 127.0.0.1:%d\n"
	    "console_ca = %s/ca.pem\n\n[tls]\nlisten = 127.0.0.1:%d\n"
	    "cert = %s/narad.pem\nkey = %s/narad.key\nca = %s/ca.pem\n"
	    "crl = %s/crl.pem,%s/crl.pem\nruntime_dir = @RUNTIME_DIR@\n",
	    console_port, opdir, tls_port, pki, pki, pki, pki, opdir);
	ops_start_tls(extra, true);
	tls_wait_listening(console_port, ops_h.log);
	cr_assert_eq(console(opdir, "op-bert", NULL, "/api/whoami", body,
	    sizeof(body)), 200, "%s", body);

	/* an operator with the console open: a keep-alive connection */
	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", opdir, OPERATOR_ID);
	snprintf(key, sizeof(key), "%s/%s.key", opdir, OPERATOR_ID);
	cr_assert_not_null(live = tls_conn_open(console_port, ca, cert, key));
	tls_conn_send(live, whoami, strlen(whoami));
	cr_assert_not(tls_conn_closed(live, 500, &got), "closed before the "
	    "reload");
	cr_assert_gt(got, 0, "no answer to whoami");

	pki_run(true, "revoke %s %s", opdir, OPERATOR_ID);
	cr_assert_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "reload"), 0,
	    "%s%s", out, err);
	cr_expect(tls_conn_closed(live, 3000, NULL), "the revoked operator's "
	    "open connection survived the reload");
	tls_conn_free(&live);
	cr_expect(harness_wait_log(&ops_h, "console_listen: closed the "
	    "connection from 127.0.0.1: certificate no longer accepted: "
	    "certificate revoked", 1, 5000), "see %s", ops_h.log);
	cr_expect_neq(console(opdir, OPERATOR_ID, NULL, "/api/whoami", body,
	    sizeof(body)), 200, "revoked operator served: %s", body);
	cr_expect_neq(console(opdir, OPERATOR_ID, "-X POST -H 'Content-Type: "
	    "application/json' -d '{\"node\":\"" T_BUP "\"}'",
	    "/api/retry-node", body, sizeof(body)), 200, "revoked operator's "
	    "action taken: %s", body);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit "
	    "WHERE event = 'retried'"), 0);
	cr_expect_eq(console(opdir, "op-bert", NULL, "/api/whoami", body,
	    sizeof(body)), 200, "%s", body);

	/* console files that cannot be loaded: the running ones stay */
	snprintf(path, sizeof(path), "console_ca = %s/ca.pem\n", opdir);
	ops_conf_replace(&ops_h, path, "console_ca = /nonexistent/ca.pem\n");
	ops_ctl(out, sizeof(out), err, sizeof(err), "reload");
	cr_expect(harness_wait_log(&ops_h, "console: reload failed", 1, 5000),
	    "see %s", ops_h.log);
	cr_expect_eq(console(opdir, "op-bert", NULL, "/api/whoami", body,
	    sizeof(body)), 200, "%s", body);
	cr_expect_neq(console(opdir, OPERATOR_ID, NULL, "/api/whoami", body,
	    sizeof(body)), 200, "revoked operator served: %s", body);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
	snprintf(path, sizeof(path), "rm -rf '%s' '%s'", pki, opdir);
	cr_expect_eq(system(path), 0);
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
