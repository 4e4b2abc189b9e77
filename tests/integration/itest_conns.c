/*
 * itest_conns.c — per-node connection details (naractl conns, /api/conns)
 * against what happened: a node connected over TLS by the test itself, so
 * that its address, TLS version, cipher, certificate and hello software
 * are known here, and a refused certificate from another CA whose reason
 * must match the audit row the front wrote.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "nara.pb-c.h"
#include "ops_helpers.h"
#include "pbstr.h"
#include "tls.h"
#include "tls_helpers.h"
#include "validate.h"

#define SOFTWARE "conns-test 1.2.3"

/* A node written by hand over blocking TLS: what it negotiated. */
struct raw_conn {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	char peer[80];                 /* "127.0.0.1:PORT" as narad sees it */
};

/* Greeting (ZMTP 3.1 NULL), READY as a DEALER named node, and a Hello
 * frame carrying SOFTWARE. */
static size_t
opening(uint8_t *out, const char *node)
{
	static const char ready[] = "\x05READY\x0bSocket-Type\0\0\0\x06"
	    "DEALER\x08Identity\0\0\0";
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello hello = NARA__HELLO__INIT;
	size_t len = 64, id = strlen(node);

	memset(out, 0, 64);
	out[0] = 0xFF;
	out[8] = 1;
	out[9] = 0x7F;
	out[10] = 3;
	out[11] = 1;
	memcpy(out + 12, "NULL", 4);
	out[len] = 0x04;
	out[len + 1] = (uint8_t)(sizeof(ready) + id);
	memcpy(out + len + 2, ready, sizeof(ready) - 1);
	out[len + 1 + sizeof(ready)] = (uint8_t)id;
	memcpy(out + len + 2 + sizeof(ready), node, id);
	len += 2 + sizeof(ready) + id;
	hello.node_id = pb_str(node);
	hello.protocol_version = NARA_PROTOCOL_VERSION;
	hello.credit_window = 4;
	hello.software = pb_str(SOFTWARE);
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	out[len] = 0x00;
	out[len + 1] = (uint8_t)nara__frame__pack(&f, out + len + 2);
	return len + 2 + out[len + 1];
}

static void
raw_open(struct raw_conn *r, int port, const char *dir, const char *node)
{
	char ca[128], cert[160], key[160];
	struct nara_err err = { 0 };
	struct sockaddr_in me;
	socklen_t melen = sizeof(me);
	uint8_t wire[512];
	int len = (int)opening(wire, node);

	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/%s.pem", dir, node);
	snprintf(key, sizeof(key), "%s/%s.key", dir, node);
	r->ctx = tls_client_ctx_new(ca, cert, key, "1.3", &err);
	cr_assert_not_null(r->ctx, "%s", err.text);
	r->ssl = tls_client_ssl_new(r->ctx, "127.0.0.1", &err);
	cr_assert_not_null(r->ssl, "%s", err.text);
	r->fd = tcp_connect_local(port);
	cr_assert(r->fd >= 0);
	cr_assert_eq(getsockname(r->fd, (struct sockaddr *)&me, &melen), 0);
	snprintf(r->peer, sizeof(r->peer), "127.0.0.1:%u",
	    (unsigned)ntohs(me.sin_port));
	SSL_set_fd(r->ssl, r->fd);
	cr_assert_eq(SSL_connect(r->ssl), 1, "TLS handshake failed");
	cr_assert_eq(SSL_write(r->ssl, wire, len), len);
}

static void
raw_close(struct raw_conn *r)
{
	SSL_free(r->ssl);
	close(r->fd);
	SSL_CTX_free(r->ctx);
}

/* Subject (RFC 2253) and notAfter (epoch) of a PEM certificate, read here
 * with OpenSSL, not by narad. */
static void
cert_facts(const char *path, char *subject, size_t len, int64_t *not_after)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	struct tm tm;
	int n;

	cr_assert_not_null(x, "cannot read %s", path);
	X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	n = BIO_read(bio, subject, (int)len - 1);
	subject[n > 0 ? n : 0] = '\0';
	cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
	*not_after = (int64_t)timegm(&tm);
	BIO_free(bio);
	X509_free(x);
	fclose(f);
}

/* The first text value of sql in narad's store (caller frees). */
static char *
sql_text(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *v = NULL;

	cr_assert_eq(sqlite3_open_v2(ops_h.store, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: no row", sql);
	v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	cr_assert_not_null(s, "no string %s", key);
	return s;
}

static char pki[64], other[64];
static int tls_port;

static void
start(void)
{
	char extra[1024];
	snprintf(pki, sizeof(pki), "/tmp/nara-pki-XXXXXX");
	cr_assert_not_null(mkdtemp(pki));
	pki_run(true, "init-ca %s", pki);
	pki_run(true, "broker %s narad --ip 127.0.0.1 --days 40", pki);
	pki_run(true, "node %s %s --days 20", pki, T_GBG);
	/* BUP's certificate from a CA narad does not trust */
	tls_pki_make(other, (const char *const []){ T_BUP, NULL });
	tls_port = tls_free_port();
	snprintf(extra, sizeof(extra), "check_disconnected_warn = 0\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\n"
	    "cert = %s/narad.pem\nkey = %s/narad.key\nca = %s/ca.pem\n"
	    "runtime_dir = @RUNTIME_DIR@\n", tls_port, pki, pki, pki);
	ops_start_tls(extra, true);
}

static void
stop(void)
{
	char cmd[200];

	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", pki, other);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(conns, .init = start, .fini = stop, .timeout = 60);

/* conns of every node, the table for people and /api/conns say the same
 * of r's node; the others are down with no connection. */
static void
all_nodes_views(const struct raw_conn *r)
{
	static char body[1 << 16];
	char cert[160], subject[256], want_na[32], out[8192];
	const char *cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(r->ssl));
	int64_t not_after;
	json_t *res = ops_ctl_json("conns");

	cr_expect_eq(json_array_size(json_object_get(res, "nodes")), 4);
	cr_expect(json_is_null(json_object_get(ops_node_of(res, T_BUP),
	    "connection")));
	cr_expect(json_is_true(json_object_get(res, "tls_front")));
	snprintf(cert, sizeof(cert), "%s/narad.pem", pki);
	cert_facts(cert, subject, sizeof(subject), &not_after);
	cr_expect_str_eq(jstr(res, "broker_certificate_not_after"),
	    time_format(not_after, want_na, sizeof(want_na)));
	json_decref(res);
	cr_expect_eq(ops_ctl(out, sizeof(out), NULL, 0, "conns"), 0);
	cr_expect(strstr(out, r->peer) && strstr(out, cipher) &&
	    strstr(out, SOFTWARE), "%s", out);
	cr_expect_eq(ops_http_get("GET", "/api/conns", body, sizeof(body)), 200);
	cr_expect(strstr(body, r->peer) && strstr(body, cipher), "%s", body);
}

/* Everything conns says about a connected node is what the test's own
 * TLS client negotiated and presented. */
Test(conns, connected_node_details_are_what_was_negotiated)
{
	struct raw_conn r;
	char cert[160], subject[256], want_na[32];
	int64_t not_after, before, after;
	const SSL_CIPHER *cipher;
	json_t *res, *n, *c;

	raw_open(&r, tls_port, pki, T_GBG);
	cr_assert(harness_wait_log(&ops_h, "node " T_GBG " connected (window",
	    1, 10000), "no hello; see %s", ops_h.log);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki, T_GBG);
	cert_facts(cert, subject, sizeof(subject), &not_after);
	cipher = SSL_get_current_cipher(r.ssl);
	before = (int64_t)time(NULL);
	res = ops_ctl_json("conns " T_GBG);
	after = (int64_t)time(NULL);
	cr_assert_eq(json_array_size(json_object_get(res, "nodes")), 1);
	n = json_array_get(json_object_get(res, "nodes"), 0);
	ops_expect_fields(n, "id:s name:s connected:b connected_since:t "
	    "software:s connection:o last_refusal:I");
	cr_expect_str_eq(jstr(n, "id"), T_GBG);
	cr_expect(json_is_true(json_object_get(n, "connected")));
	cr_expect_str_eq(jstr(n, "software"), SOFTWARE);
	c = json_object_get(n, "connection");
	ops_expect_fields(c, "peer:s tls_version:s cipher:s "
	    "certificate_subject:s certificate_not_after:t "
	    "certificate_expires_in_seconds:i since:t generation:i");
	cr_expect_str_eq(jstr(c, "peer"), r.peer);
	cr_expect_str_eq(jstr(c, "tls_version"), SSL_get_version(r.ssl));
	cr_expect_str_eq(jstr(c, "cipher"), SSL_CIPHER_get_name(cipher));
	cr_expect_str_eq(jstr(c, "certificate_subject"), subject);
	cr_expect_str_eq(jstr(c, "certificate_not_after"),
	    time_format(not_after, want_na, sizeof(want_na)));
	cr_expect_geq(ops_jint(c, "certificate_expires_in_seconds"),
	    not_after - after);
	cr_expect_leq(ops_jint(c, "certificate_expires_in_seconds"),
	    not_after - before);
	cr_expect_eq(ops_jint(c, "generation"), 1);
	json_decref(res);

	all_nodes_views(&r);
	raw_close(&r);
}

/* A certificate from another CA naming BUP: conns tells why it was
 * refused, in the words of the audit row the front wrote. */
Test(conns, last_refusal_matches_the_audit_row)
{
	char ca[128], cert[160], key[160], subject[256], want[1024], sql[256];
	struct tls_conn *t;
	int64_t not_after;
	json_t *res, *n, *lr;
	char *detail;

	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", other, T_BUP);
	snprintf(key, sizeof(key), "%s/%s.key", other, T_BUP);
	t = tls_conn_open(tls_port, ca, cert, key);
	if (t != NULL) {
		cr_expect(tls_conn_closed(t, 5000, NULL), "not refused");
		tls_conn_free(&t);
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE event = "
	    "'auth_failed' AND node = '%s'", T_BUP);
	cr_assert(harness_wait_sql(&ops_h, sql, 1, 10000), "no auth_failed");
	detail = sql_text("SELECT detail FROM audit WHERE event = 'auth_failed'");
	cert_facts(cert, subject, sizeof(subject), &not_after);

	res = ops_ctl_json("conns " T_BUP);
	n = json_array_get(json_object_get(res, "nodes"), 0);
	cr_expect(json_is_false(json_object_get(n, "connected")));
	cr_expect(json_is_null(json_object_get(n, "connection")));
	cr_expect(json_is_null(json_object_get(n, "software")));
	lr = json_object_get(n, "last_refusal");
	ops_expect_fields(lr, "at:t event:s code:s reason:s detail:s peer:s "
	    "certificate_subject:s count:i");
	cr_expect_str_eq(jstr(lr, "event"), "auth_failed");
	cr_expect_str_eq(jstr(lr, "code"), "NR060");
	cr_expect_str_eq(jstr(lr, "reason"), "certificate");
	cr_expect_str_eq(jstr(lr, "certificate_subject"), subject);
	cr_expect_eq(ops_jint(lr, "count"), 1);
	snprintf(want, sizeof(want), "peer %s; certificate %s; %s",
	    jstr(lr, "peer"), subject, jstr(lr, "detail"));
	cr_expect_str_eq(detail, want);
	json_decref(res);
	free(detail);
}

/* A name that is not a node is a usage error (exit 2), with NR004. */
Test(conns, unknown_node_is_a_usage_error)
{
	char out[2048], err[2048];

	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err),
	    "conns no-such-node"), 2);
	cr_expect(strstr(err, "NR004") != NULL, "%s", err);
}

/* The DOM of the dashboard after its script ran, from headless Chromium
 * (Debian chromium, in DEB_PACKAGES). */
static char *
dump_dom(void)
{
	char cmd[2048], path[400];
	FILE *f;
	char *dom = NULL;
	size_t len = 0;

	cr_assert_eq(system("command -v chromium >/dev/null 2>&1"), 0,
	    "chromium is not installed (Debian package chromium; make deps)");
	snprintf(path, sizeof(path), "%s/dom.html", ops_h.dir);
	snprintf(cmd, sizeof(cmd), "timeout 120 chromium --headless --no-sandbox "
	    "--disable-gpu --no-first-run --user-data-dir=%s/chromium "
	    "--virtual-time-budget=4000 --dump-dom http://127.0.0.1:%d/ "
	    ">%s 2>%s/chromium.log", ops_h.dir, ops_http_port, path, ops_h.dir);
	cr_assert_eq(system(cmd), 0, "chromium failed; see %s/chromium.log",
	    ops_h.dir);
	cr_assert_not_null(f = fopen(path, "r"));
	cr_assert(getdelim(&dom, &len, '\0', f) > 0);
	fclose(f);
	return dom;
}

/* The dashboard's node rows show the same connection and refusal. */
Test(conns, dashboard_rows_show_connection_and_refusal)
{
	char ca[128], cert[160], key[160], want[1024], sql[256];
	struct raw_conn r;
	struct tls_conn *t;
	json_t *res, *lr;
	char *dom;

	raw_open(&r, tls_port, pki, T_GBG);
	cr_assert(harness_wait_log(&ops_h, "node " T_GBG " connected (window",
	    1, 10000), "no hello; see %s", ops_h.log);
	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", other, T_BUP);
	snprintf(key, sizeof(key), "%s/%s.key", other, T_BUP);
	if ((t = tls_conn_open(tls_port, ca, cert, key)) != NULL) {
		cr_expect(tls_conn_closed(t, 5000, NULL), "not refused");
		tls_conn_free(&t);
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE event = "
	    "'auth_failed' AND node = '%s'", T_BUP);
	cr_assert(harness_wait_sql(&ops_h, sql, 1, 10000), "no auth_failed");
	dom = dump_dom();
	snprintf(want, sizeof(want), "<td class=\"conn\" title=\"");
	cr_expect(strstr(dom, want) != NULL, "no connection cell with a title");
	snprintf(want, sizeof(want), ">%s %s %s \xc2\xb7 %s</td>", r.peer,
	    SSL_get_version(r.ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(
	    r.ssl)), SOFTWARE);
	cr_expect(strstr(dom, want) != NULL, "no cell %s in the DOM", want);
	res = ops_ctl_json("conns " T_BUP);
	lr = json_object_get(json_array_get(json_object_get(res, "nodes"), 0),
	    "last_refusal");
	snprintf(want, sizeof(want), " NR060 certificate: %s (from %s)</td>",
	    json_string_value(json_object_get(lr, "detail")),
	    json_string_value(json_object_get(lr, "peer")));
	cr_expect(strstr(dom, want) != NULL, "no refusal cell %s", want);
	json_decref(res);
	free(dom);
	raw_close(&r);
}
