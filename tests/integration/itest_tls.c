/*
 * itest_tls.c — narad's TLS front end to end: certificates made with
 * nara-pki at test time, a real narad with a [tls] section, libzmq DEALERs
 * reaching it through the library's TLS tunnel, and hand-made ZMTP bytes over a
 * raw TLS connection. Every refusal must close the connection, leave an
 * auth_failed audit row naming the reason, and leave other nodes working.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <zmq.h>

#include "adapter_helpers.h"
#include "fixture.h"
#include "harness.h"
#include "pbstr.h"
#include "tls.h"
#include "tls_helpers.h"
#include "tunnel.h"
#include "validate.h"
#include "zmtp.h"

static struct harness h;
static char pki[64], pki2[64];
static int tls_port;

static const char *
pem(char *buf, size_t len, const char *dir, const char *stem, const char *ext)
{
	snprintf(buf, len, "%s/%s.%s", dir, stem, ext);
	return buf;
}

/* narad with its TLS front; more: further [tls] lines. */
static void
setup_with(const char *more)
{
	char extra[2048];

	snprintf(pki2, sizeof(pki2), "/tmp/nara-pki2-XXXXXX");
	cr_assert_not_null(mkdtemp(pki2));
	tls_pki_make(pki, (const char *const[]){ T_GBG, T_BUP, NULL });
	tls_port = tls_free_port();
	snprintf(extra, sizeof(extra),
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\ncrl = %s/crl.pem\n"
	    "identity = san-uri\nhandshake_timeout = 2\nmax_connections = 64\n"
	    "expiry_warn_days = 30\nruntime_dir = @RUNTIME_DIR@\n%s", tls_port,
	    pki, pki, pki, pki, more);
	harness_init(&h, extra);
	tls_conf_runtime_dir(&h);
	harness_start(&h);
	tls_wait_listening(tls_port, h.log);
}

static void
setup(void)
{
	setup_with("");
}

/* The nodes' ZMTP spoken by libzmq's ROUTER behind the front's relay. */
static void
setup_router(void)
{
	setup_with("zmtp = router\n");
}

static void
teardown(void)
{
	char cmd[200];

	harness_cleanup(&h);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", pki, pki2);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(tls_router, .init = setup_router, .fini = teardown,
    .timeout = 120);

/* ---------------------------------------------------------------- helpers */

/* A tunnel for a node certificate stem (NULL = no client certificate) in
 * dir, and a harness copy whose router endpoint is the tunnel. */
static struct nara_tunnel *
tunnel_for(const char *dir, const char *stem, struct harness *via)
{
	char ca[128], cert[128], key[128];
	struct nara_tunnel *t = tls_tunnel_start(tls_port, NULL,
	    pem(ca, sizeof(ca), pki, "ca", "pem"),
	    stem ? pem(cert, sizeof(cert), dir, stem, "pem") : NULL,
	    stem ? pem(key, sizeof(key), dir, stem, "key") : NULL);

	*via = h;
	snprintf(via->router, sizeof(via->router), "%s", tunnel_endpoint(t));
	return t;
}

static void
send_hello(struct tclient *c, const char *node)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello hello = NARA__HELLO__INIT;

	hello.node_id = pb_str(node);
	hello.protocol_version = NARA_PROTOCOL_VERSION;
	hello.credit_window = 4;
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	tclient_send(c, &f);
}

/* A connection that must not get anywhere: hello is never answered. */
static void
expect_no_answer(struct tclient *c, const char *node)
{
	Nara__Frame *f;

	send_hello(c, node);
	f = tclient_recv(c, 1500);
	cr_expect_null(f, "hello through a refused connection was answered "
	    "(kind %d)", f ? (int)f->kind_case : -1);
	if (f != NULL)
		frame_free(&f);
}

/* Wait until at least min auth_failed rows whose detail matches like. */
static long
wait_auth_failed(const char *like, long min)
{
	char sql[600], quoted[400];
	size_t j = 0;
	long n = 0;

	/* double every single quote so the pattern is one SQL string */
	for (const char *p = like; *p != '\0' && j + 2 < sizeof(quoted); p++) {
		if (*p == '\'')
			quoted[j++] = '\'';
		quoted[j++] = *p;
	}
	quoted[j] = '\0';
	snprintf(sql, sizeof(sql), "select count(*) from audit where "
	    "event='auth_failed' and detail like '%s'", quoted);
	harness_wait_sql(&h, sql, min, 20000);
	n = harness_sql_long(&h, sql);
	cr_expect_geq(n, min, "no auth_failed audit row like '%s'; see %s",
	    like, h.log);
	return n;
}

/* Another node completes hello/welcome through its own TLS connection. */
static void
good_node_works(void)
{
	struct harness via;
	struct nara_tunnel *t = tunnel_for(pki, T_BUP, &via);
	struct tclient c;

	tclient_open(&c, &via, T_BUP, 4);    /* asserts Welcome */
	tclient_close(&c);
	tls_tunnel_stop(&t);
}

/* Open a DEALER with the given routing id through a tunnel presenting the
 * certificate stem of dir, say hello, and expect silence and an audit row. */
static void
refused_dealer(const char *dir, const char *stem, const char *routing_id,
    const char *like)
{
	struct harness via;
	struct nara_tunnel *t;
	struct tclient c;

	good_node_works();
	t = tunnel_for(dir, stem, &via);
	tclient_open_raw(&c, &via, routing_id);
	expect_no_answer(&c, routing_id);
	wait_auth_failed(like, 1);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	good_node_works();
}

/* Send raw bytes over TLS with a good certificate; expect the front to
 * close the connection and audit the reason. */
static void
refused_bytes(const void *data, size_t len, const char *like)
{
	char ca[128], cert[128], key[128];
	struct tls_conn *c;

	good_node_works();
	c = tls_conn_open(tls_port, pem(ca, sizeof(ca), pki, "ca", "pem"),
	    pem(cert, sizeof(cert), pki, T_GBG, "pem"),
	    pem(key, sizeof(key), pki, T_GBG, "key"));
	cr_assert_not_null(c, "TLS handshake with a good certificate failed");
	tls_conn_send(c, data, len);
	cr_expect(tls_conn_closed(c, 5000, NULL), "connection not closed");
	tls_conn_free(&c);
	wait_auth_failed(like, 1);
	good_node_works();
}

static size_t
greeting(unsigned char *g, unsigned major, const char *mechanism)
{
	memset(g, 0, 64);
	g[0] = 0xFF;
	g[8] = 1;
	g[9] = 0x7F;
	g[10] = (unsigned char)major;
	g[11] = 1;
	memcpy(g + 12, mechanism, strlen(mechanism));
	return 64;
}

/* ---------------------------------------------------------------- tests */

static void
round_trip(void)
{
	struct harness via;
	struct nara_tunnel *t = tunnel_for(pki, T_GBG, &via);
	struct tclient c;

	tclient_open(&c, &via, T_GBG, 4);    /* hello -> welcome through TLS */
	send_hello(&c, T_GBG);
	Nara__Frame *w = tclient_expect(&c, NARA__FRAME__KIND_WELCOME, 5000);
	cr_assert_not_null(w, "second hello not answered");
	frame_free(&w);
	cr_expect_eq(harness_log_count(&h, "node " T_GBG " connected from"), 1);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed'"), 0);
}

Test(tls, good_node_round_trip)
{
	cr_expect_eq(harness_log_count(&h, "speaking ZMTP itself"), 1,
	    "the front does not speak ZMTP itself by default; see %s", h.log);
	round_trip();
}

Test(tls_router, good_node_round_trip)
{
	cr_expect_eq(harness_log_count(&h, "relaying to "), 1,
	    "zmtp = router does not relay to the ROUTER; see %s", h.log);
	round_trip();
}

/* [tls] zmtp is read at start: a reload that changes it says so and the
 * front goes on speaking ZMTP itself. */
Test(tls, zmtp_change_waits_for_restart)
{
	harness_conf_replace(&h, "[tls]\n", "[tls]\nzmtp = router\n");
	kill(h.pid, SIGHUP);
	cr_assert(harness_wait_log(&h, "zmtp change to router takes effect "
	    "at the next restart", 1, 5000), "see %s", h.log);
	round_trip();
	cr_expect_eq(harness_log_count(&h, "relaying to "), 0);
}

Test(tls, no_client_certificate)
{
	refused_dealer(pki, NULL, T_GBG, "%peer did not return a certificate%");
}

Test(tls, certificate_from_another_ca)
{
	pki_run(true, "init-ca %s", pki2);
	pki_run(true, "node %s %s", pki2, T_GBG);
	refused_dealer(pki2, T_GBG, T_GBG,
	    "%certificate: unable to get local issuer certificate%");
}

Test(tls, expired_certificate)
{
	pki_run(true, "node %s %s --out expired --not-before "
	    "2020-01-01T00:00:00Z --days 1", pki, T_GBG);
	refused_dealer(pki, "expired", T_GBG, "%certificate: certificate has expired%");
}

Test(tls, not_yet_valid_certificate)
{
	pki_run(true, "node %s %s --out future --not-before "
	    "2099-01-01T00:00:00Z", pki, T_GBG);
	refused_dealer(pki, "future", T_GBG,
	    "%certificate: certificate is not yet valid%");
}

Test(tls, revoked_on_reload_drops_live_connection)
{
	struct harness via;
	struct nara_tunnel *t = tunnel_for(pki, T_GBG, &via);
	struct tclient c;

	tclient_open(&c, &via, T_GBG, 4);
	good_node_works();
	pki_run(true, "revoke %s %s", pki, T_GBG);
	kill(h.pid, SIGHUP);
	wait_auth_failed("%certificate no longer accepted: certificate revoked%", 1);
	/* the front logs the reload after the recheck's audit row */
	cr_expect(harness_wait_log(&h, "certificates and CRLs reloaded", 1,
	    5000), "see %s", h.log);
	cr_expect_eq(harness_log_count(&h, "certificates and CRLs reloaded"), 1);
	/* libzmq reconnects by itself; the revoked certificate stays out. */
	expect_no_answer(&c, T_GBG);
	wait_auth_failed("%certificate: certificate revoked%", 1);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	good_node_works();
}

Test(tls, identity_differs_from_certificate)
{
	refused_dealer(pki, T_GBG, "kommun-1481",
	    "%ZMTP Identity \"kommun-1481\" does not match the certificate's "
	    "node " T_GBG "%");
}

Test(tls, missing_identity)
{
	struct harness via;
	struct nara_tunnel *t = tunnel_for(pki, T_GBG, &via);
	struct tclient c = { 0 };
	int linger = 0;

	good_node_works();
	/* A DEALER without a routing id announces an empty Identity. */
	c.ctx = zmq_ctx_new();
	c.sock = zmq_socket(c.ctx, ZMQ_DEALER);
	zmq_setsockopt(c.sock, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_connect(c.sock, via.router), 0);
	expect_no_answer(&c, T_GBG);
	wait_auth_failed("%no ZMTP Identity%", 1);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	good_node_works();
}

Test(tls, zmtp2_greeting)
{
	unsigned char g[64];

	refused_bytes(g, greeting(g, 1, "NULL"), "%ZMTP version below 3%");
}

Test(tls, plain_mechanism)
{
	struct harness via;
	struct nara_tunnel *t = tunnel_for(pki, T_GBG, &via);
	struct tclient c = { 0 };
	int linger = 0;

	good_node_works();
	/* libzmq itself, configured for PLAIN. */
	c.ctx = zmq_ctx_new();
	c.sock = zmq_socket(c.ctx, ZMQ_DEALER);
	zmq_setsockopt(c.sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(c.sock, ZMQ_ROUTING_ID, T_GBG, strlen(T_GBG));
	zmq_setsockopt(c.sock, ZMQ_PLAIN_USERNAME, "user", 4);
	zmq_setsockopt(c.sock, ZMQ_PLAIN_PASSWORD, "secret", 6);
	cr_assert_eq(zmq_connect(c.sock, via.router), 0);
	expect_no_answer(&c, T_GBG);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	/* libzmq's PLAIN client may hang up before its greeting reaches the
	 * front and then not come back, so the audited refusal is checked
	 * with the same greeting sent by hand. */
	unsigned char g[64];
	refused_bytes(g, greeting(g, 3, "PLAIN"),
	    "%security mechanism is not NULL%");
}

Test(tls, plaintext_bytes)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: narad\r\n\r\n";
	char buf[64];
	int fd;

	/* Inside TLS: not a ZMTP greeting. */
	refused_bytes(http, strlen(http), "%not a ZMTP 3 greeting (bad signature)%");
	/* Without TLS at all: the handshake fails. */
	fd = tcp_connect_local(tls_port);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, http, strlen(http)), (ssize_t)strlen(http));
	struct pollfd p = { fd, POLLIN, 0 };
	cr_expect_eq(poll(&p, 1, 5000), 1, "plaintext connection left open");
	cr_expect_leq(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	wait_auth_failed("%TLS handshake: http request%", 1);
	good_node_works();
}

Test(tls, oversize_ready)
{
	unsigned char wire[64 + 9];

	greeting(wire, 3, "NULL");
	/* A long command frame announcing 1 MiB. */
	memcpy(wire + 64, "\x06\x00\x00\x00\x00\x00\x10\x00\x00", 9);
	refused_bytes(wire, sizeof(wire), "%READY command too large%");
}

Test(tls, handshake_never_completes)
{
	struct pollfd p;
	char buf[16];
	int fd;

	good_node_works();
	fd = tcp_connect_local(tls_port);
	cr_assert(fd >= 0);
	/* handshake_timeout = 2: the front must hang up by itself. */
	p = (struct pollfd){ fd, POLLIN, 0 };
	cr_expect_eq(poll(&p, 1, 6000), 1, "idle connection left open");
	cr_expect_leq(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	wait_auth_failed("%TLS handshake timed out%", 1);
	good_node_works();
}

/* ---------------------------------------------------------------- raw ZMTP */

/* A hand-written ZMTP node over blocking TLS, as one behind stunnel. */
struct raw_node {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	size_t got, at;                  /* bytes in in, next frame at */
	uint8_t in[1 << 16];
};

static void
raw_node_close(struct raw_node *r)
{
	SSL_free(r->ssl);
	close(r->fd);
	SSL_CTX_free(r->ctx);
	ERR_clear_error();
}

/* Greeting (ZMTP 3.1, NULL), READY as a DEALER named node, and one message
 * frame holding a Hello: all that a node says before it hears anything. */
static size_t
zmtp_opening(uint8_t *out, const char *node, uint32_t credit_window)
{
	/* READY's properties: name length, name, 4-byte value length, value */
	static const char ready[] = "\x05READY\x0bSocket-Type\0\0\0\x06"
	    "DEALER\x08Identity\0\0\0";
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello hello = NARA__HELLO__INIT;
	size_t len = greeting(out, 3, "NULL"), id = strlen(node);

	out[len] = 0x04;                           /* short command frame */
	out[len + 1] = (uint8_t)(sizeof(ready) + id);
	memcpy(out + len + 2, ready, sizeof(ready) - 1);
	out[len + 1 + sizeof(ready)] = (uint8_t)id;
	memcpy(out + len + 2 + sizeof(ready), node, id);
	len += 2 + sizeof(ready) + id;
	hello.node_id = pb_str(node);
	hello.protocol_version = NARA_PROTOCOL_VERSION;
	hello.credit_window = credit_window;
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	cr_assert_lt(nara__frame__get_packed_size(&f), 256);
	out[len] = 0x00;                           /* short message frame */
	out[len + 1] = (uint8_t)nara__frame__pack(&f, out + len + 2);
	return len + 2 + out[len + 1];
}

/* Connect with stem's certificate (rcvbuf > 0: that small a receive
 * buffer) and send greeting, READY and Hello in a single TLS record. */
static void
raw_node_start(struct raw_node *r, const char *stem, uint32_t credit_window,
    int rcvbuf)
{
	char ca[128], cert[128], key[128];
	struct nara_err err = { 0 };
	struct timeval tv = { 5, 0 };
	uint8_t wire[1024];
	int len = (int)zmtp_opening(wire, stem, credit_window);

	r->ctx = tls_client_ctx_new(pem(ca, sizeof(ca), pki, "ca", "pem"),
	    pem(cert, sizeof(cert), pki, stem, "pem"),
	    pem(key, sizeof(key), pki, stem, "key"), "1.3", &err);
	cr_assert_not_null(r->ctx, "client TLS context: %s", err.text);
	r->ssl = tls_client_ssl_new(r->ctx, "127.0.0.1", &err);
	cr_assert_not_null(r->ssl, "%s", err.text);
	r->got = 0;
	r->at = ZMTP_GREETING_LEN;       /* the broker's greeting is skipped */
	r->fd = tcp_connect_local(tls_port);
	cr_assert(r->fd >= 0);
	/* Every read below gives up after 5 s instead of hanging the test. */
	setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (rcvbuf > 0)
		setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	SSL_set_fd(r->ssl, r->fd);
	cr_assert_eq(SSL_connect(r->ssl), 1, "TLS handshake failed");
	cr_assert_eq(SSL_write(r->ssl, wire, len), len);
}

/* The broker's next message after its greeting and commands, decoded; NULL
 * when the connection closed (or 5 s passed without a byte). */
static Nara__Frame *
raw_next_message(struct raw_node *r)
{
	size_t hdr, size;
	int n;

	for (;;) {
		while (r->at + 2 <= r->got) {
			const uint8_t *p = r->in + r->at;
			hdr = (p[0] & 0x02) ? 9 : 2;
			if (r->at + hdr > r->got)
				break;
			size = p[1];
			for (size_t i = 2; hdr == 9 && i < hdr; i++)
				size = size << 8 | p[i];
			cr_assert_lt(size, sizeof(r->in) / 2, "frame of %zu bytes", size);
			if (r->at + hdr + size > r->got)
				break;
			r->at += hdr + size;
			if (!(p[0] & 0x04))              /* not a command */
				return frame_decode(p + hdr, size, 1 << 20, NULL);
		}
		if (r->at > sizeof(r->in) / 2) {     /* keep the unparsed tail */
			memmove(r->in, r->in + r->at, r->got - r->at);
			r->got -= r->at;
			r->at = 0;
		}
		if ((n = SSL_read(r->ssl, r->in + r->got,
		    (int)(sizeof(r->in) - r->got))) <= 0)
			return NULL;
		r->got += (size_t)n;
	}
}

static void
opening_in_one_write(void)
{
	static struct raw_node r;
	Nara__Frame *w;

	/* Greeting, READY and Hello in a single TLS record: the Hello must
	 * wait in the front until the broker's READY, not reach libzmq while
	 * it is still authorising the relay connection. */
	raw_node_start(&r, T_GBG, 4, 0);
	w = raw_next_message(&r);
	cr_assert_not_null(w, "no answer to a Hello sent with the greeting; "
	    "see %s", h.log);
	cr_expect_eq(w->kind_case, NARA__FRAME__KIND_WELCOME);
	frame_free(&w);
	cr_expect_eq(harness_log_count(&h, "node " T_GBG " connected from"), 1);
	cr_expect_eq(harness_log_count(&h, "broker closed the connection"), 0,
	    "see %s", h.log);
	raw_node_close(&r);
	good_node_works();
}

Test(tls, opening_in_one_write)
{
	opening_in_one_write();
}

Test(tls_router, opening_in_one_write)
{
	opening_in_one_write();
}

/*
 * A node that says hello, then stops reading while backlog messages with
 * an attachment of attach bytes each (none when 0) are queued for it: the
 * front's writes to it block and queue up. Once it reads, every delivery
 * arrives once, in order and intact.
 */
static void
late_reader(int backlog, size_t attach)
{
	enum { MAX_BACKLOG = 600 };
	static struct raw_node r;
	static char ids[MAX_BACKLOG][37];
	static uint8_t data[16384], sha[32];
	static Nara__Attachment a = NARA__ATTACHMENT__INIT;
	static Nara__Attachment *list[] = { &a };
	struct fixture *fx = fixture_new();
	struct harness via;
	struct nara_tunnel *t = tunnel_for(pki, T_BUP, &via);
	struct tclient bup;
	Nara__Frame *f;

	cr_assert(backlog <= MAX_BACKLOG && attach <= sizeof(data));
	for (size_t i = 0; i < attach; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	SHA256(data, attach, sha);
	a.media_type = "application/octet-stream";
	a.file_name = "backlog.bin";
	a.data = (ProtobufCBinaryData){ attach, data };
	a.sha256 = (ProtobufCBinaryData){ sizeof(sha), sha };
	/* small deliveries fill a small receive buffer; large ones are
	 * read at the default size's pace, within the heartbeat */
	raw_node_start(&r, T_GBG, (uint32_t)backlog, attach > 0 ? 0 : 4096);
	f = raw_next_message(&r);
	cr_assert(f != NULL && f->kind_case == NARA__FRAME__KIND_WELCOME);
	frame_free(&f);
	tclient_open(&bup, &via, T_BUP, 4);
	for (int i = 0; i < backlog; i++) {
		Nara__Envelope *e = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP, T_GBG_SOC);
		snprintf(ids[i], sizeof(ids[i]), "%s", e->message_id);
		e->n_attachments = attach > 0;
		e->attachments = attach > 0 ? list : NULL;
		f = tclient_submit(&bup, e);
		e->n_attachments = 0;
		e->attachments = NULL;
		cr_assert_eq(f->kind_case, NARA__FRAME__KIND_ACCEPTED);
		frame_free(&f);
	}
	for (int i = 0; i < backlog; i++) {
		f = raw_next_message(&r);
		cr_assert_not_null(f, "delivery %d of %d missing; see %s", i,
		    backlog, h.log);
		cr_assert_eq(f->kind_case, NARA__FRAME__KIND_DELIVER, "kind %d",
		    (int)f->kind_case);
		cr_assert_str_eq(f->deliver->envelope->message_id, ids[i],
		    "delivery %d out of order", i);
		if (attach > 0) {
			const Nara__Envelope *e = f->deliver->envelope;
			cr_assert_eq(e->n_attachments, 1);
			cr_assert_eq(e->attachments[0]->data.len, attach);
			cr_assert_eq(memcmp(e->attachments[0]->data.data, data,
			    attach), 0, "delivery %d's attachment changed", i);
		}
		frame_free(&f);
	}
	tclient_close(&bup);
	tls_tunnel_stop(&t);
	raw_node_close(&r);
	fixture_free(&fx);
}

Test(tls, node_reading_late_gets_every_delivery_in_order)
{
	late_reader(600, 0);
}

Test(tls_router, node_reading_late_gets_every_delivery_in_order)
{
	late_reader(600, 0);
}

/* Deliveries of 12 KiB, 7.6 MB in all: more than the kernel holds for a
 * connection whose reader waits (a send buffer of at most 4 MiB, tcp_wmem,
 * and the reader's 128 KiB), so a write of a single delivery into TLS
 * finds the socket full, and OpenSSL keeps part of a record for the
 * bufferevent to finish. */
Test(tls, node_reading_late_gets_large_deliveries_intact, .timeout = 120)
{
	late_reader(600, 12 * 1024);
}

/* ---------------------------------------------------------------- tunnel */

/* A tunnel that must refuse the broker's certificate: nothing gets through,
 * the failure is counted and its reason kept. */
static void
broker_refused(const char *server_name, const char *ca, const char *why)
{
	char cert[128], key[128];
	struct nara_tunnel *t = tls_tunnel_start(tls_port, server_name, ca,
	    pem(cert, sizeof(cert), pki, T_GBG, "pem"),
	    pem(key, sizeof(key), pki, T_GBG, "key"));
	struct tunnel_stats st;
	struct tclient c;

	tls_tunnel_client(&c, t, T_GBG);
	cr_expect_not(tls_hello_welcomed(&c, T_GBG, 3000),
	    "hello answered through a tunnel that should refuse the broker");
	tunnel_stats(t, &st);
	cr_expect_eq(st.handshakes_ok, 0);
	cr_expect_geq(st.handshakes_failed, 1);
	cr_expect_eq(st.broker_cert_days_left, -1);
	cr_expect_not_null(strstr(st.last_error, why),
	    "last_error \"%s\" does not say \"%s\"", st.last_error, why);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	cr_expect_eq(harness_log_count(&h, "node " T_GBG " connected from"), 0);
}

Test(tls, tunnel_checks_broker_name)
{
	char ca[128], cert[128], key[128];
	struct nara_tunnel *t;
	struct tunnel_stats st;
	struct tclient c;

	broker_refused("wrong.example", pem(ca, sizeof(ca), pki, "ca", "pem"),
	    "broker certificate refused: hostname mismatch");
	/* The name the broker certificate does carry is accepted. */
	t = tls_tunnel_start(tls_port, "localhost", ca,
	    pem(cert, sizeof(cert), pki, T_GBG, "pem"),
	    pem(key, sizeof(key), pki, T_GBG, "key"));
	tls_tunnel_client(&c, t, T_GBG);
	cr_expect(tls_hello_welcomed(&c, T_GBG, 10000), "no welcome via localhost");
	tunnel_stats(t, &st);
	cr_expect_eq(st.handshakes_ok, 1);
	cr_expect_eq(st.handshakes_failed, 0);
	cr_expect_gt(st.broker_cert_days_left, 300, "days left %d",
	    st.broker_cert_days_left);
	cr_expect_eq(st.connections_open, 1);
	tclient_close(&c);
	tls_tunnel_stop(&t);
}

/* A broker list whose first address is down (a standby narad keeps its
 * front closed): the failure names that address and the next connection
 * reaches the second one, whose certificate is checked against its own
 * host name. */
Test(tls, tunnel_tries_next_broker_address)
{
	char ca[128], cert[128], key[128], list[128], dead[64], want[128];
	int closed = tls_free_port();
	struct nara_tunnel *t;
	struct tunnel_stats st;
	struct tclient c;

	snprintf(dead, sizeof(dead), "127.0.0.1:%d", closed);
	snprintf(list, sizeof(list), "%s, localhost:%d", dead, tls_port);
	t = tls_tunnel_start_list(list, NULL,
	    pem(ca, sizeof(ca), pki, "ca", "pem"),
	    pem(cert, sizeof(cert), pki, T_GBG, "pem"),
	    pem(key, sizeof(key), pki, T_GBG, "key"));
	tls_tunnel_client(&c, t, T_GBG);
	cr_expect(tls_hello_welcomed(&c, T_GBG, 15000),
	    "no welcome through the second broker address");
	tunnel_stats(t, &st);
	cr_expect_eq(st.handshakes_ok, 1);
	cr_expect_geq(st.handshakes_failed, 1);
	snprintf(want, sizeof(want), "%s: connect: Connection refused", dead);
	cr_expect_str_eq(st.last_error, want);
	snprintf(want, sizeof(want), "localhost:%d", tls_port);
	cr_expect_str_eq(st.broker, want);
	tclient_close(&c);
	tls_tunnel_stop(&t);
}

Test(tls, tunnel_refuses_broker_of_another_ca)
{
	char ca2[128];

	pki_run(true, "init-ca %s", pki2);
	broker_refused(NULL, pem(ca2, sizeof(ca2), pki2, "ca", "pem"),
	    "broker certificate refused: ");
}

struct failures_wait {
	struct nara_tunnel *t;
	unsigned long before;
};

/* The tunnel has tried the broker again and failed since before. */
static bool
tunnel_failed_again(void *arg)
{
	struct failures_wait *w = arg;
	struct tunnel_stats st;

	tunnel_stats(w->t, &st);
	return st.handshakes_failed > w->before;
}

Test(tls, tunnel_reconnects_after_broker_restart)
{
	char ca[128], cert[128], key[128];
	struct nara_tunnel *t = tls_tunnel_start(tls_port, NULL,
	    pem(ca, sizeof(ca), pki, "ca", "pem"),
	    pem(cert, sizeof(cert), pki, T_GBG, "pem"),
	    pem(key, sizeof(key), pki, T_GBG, "key"));
	struct tunnel_stats st;
	struct tclient c;

	tls_tunnel_client(&c, t, T_GBG);
	cr_assert(tls_hello_welcomed(&c, T_GBG, 10000), "no welcome; see %s", h.log);
	tunnel_stats(t, &st);
	cr_assert_eq(harness_stop(&h, SIGKILL), -SIGKILL);
	/* reconnects meet a closed port before narad is back */
	cr_assert(harness_wait(tunnel_failed_again, &(struct failures_wait){
	    t, st.handshakes_failed }, 20000), "the tunnel never tried the "
	    "stopped broker");
	harness_start(&h);
	tls_wait_listening(tls_port, h.log);
	cr_expect(tls_hello_welcomed(&c, T_GBG, 20000),
	    "no welcome after the broker restarted; see %s", h.log);
	tunnel_stats(t, &st);
	cr_expect_geq(st.handshakes_ok, 2);
	tclient_close(&c);
	tls_tunnel_stop(&t);
}

/* ---------------------------------------------------------------- ROUTER */

Test(tls, router_admits_only_the_front)
{
	struct tclient c;

	good_node_works();
	/* This test process is not narad: straight to the ROUTER's socket. */
	tclient_open_raw(&c, &h, T_GBG);
	expect_no_answer(&c, T_GBG);
	wait_auth_failed("router ipc peer refused: the connecting process is "
	    "not narad's TLS front%", 1);
	cr_expect_geq(harness_log_count(&h, "router: refused an ipc "
	    "connection"), 1, "no log line for the refused peer; see %s",
	    h.log);
	tclient_close(&c);
	good_node_works();
	/* The relay path is never refused. */
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed' and detail not like 'router ipc peer %'"), 0);
}

Test(tls, runtime_dir_open_to_others_refused)
{
	char bin[300], out[4096];
	int rc;

	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	cr_assert_eq(chmod(h.dir, 0750), 0);
	rc = harness_run(out, sizeof(out), "%s -c %s",
	    harness_bin("narad", bin, sizeof(bin)), h.conf);
	cr_expect_eq(rc, 1, "narad started with a 0750 runtime_dir: %s", out);
	cr_expect_not_null(strstr(out, "must be owned by uid"), "%s", out);
	cr_expect_not_null(strstr(out, "mode 0700 (has uid"), "%s", out);
	cr_assert_eq(chmod(h.dir, 0700), 0);
}

/* ---------------------------------------------------------------- expiry */

Test(tls, expiring_certificate_warned)
{
	const char *needle = "certificate of node " T_GBG " expires in ";
	char line[1024];
	struct harness via;
	struct nara_tunnel *t;
	struct tclient c;
	int days = -1, warned = 0;
	FILE *f;

	pki_run(true, "node %s %s --out soon --days 10", pki, T_GBG);
	t = tunnel_for(pki, "soon", &via);
	tclient_open(&c, &via, T_GBG, 4);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	/* expiry_warn_days = 30: "... expires in 9 days" (10 minus seconds) */
	cr_assert_not_null(f = fopen(h.log, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, needle);
		if (p != NULL && sscanf(p + strlen(needle), "%d days", &days) == 1)
			warned++;
	}
	fclose(f);
	cr_expect_eq(warned, 1, "no expiry warning in %s", h.log);
	cr_expect(days == 9 || days == 10, "warned %d days left", days);
	/* A certificate valid for 397 days is not warned about. */
	good_node_works();
	cr_expect_eq(harness_log_count(&h, "certificate of node " T_BUP
	    " expires"), 0);
}

Test(tls, router_tcp_refused_with_front)
{
	char bin[300], out[4096], cmd[600];
	int rc;

	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	snprintf(cmd, sizeof(cmd), "sed -i 's|^\\[broker\\]$|[broker]\\n"
	    "listen_tcp = tcp://127.0.0.1:%d|' '%s'", tls_free_port(), h.conf);
	cr_assert_eq(system(cmd), 0);
	rc = harness_run(out, sizeof(out), "%s -c %s",
	    harness_bin("narad", bin, sizeof(bin)), h.conf);
	cr_expect_eq(rc, 1, "narad started with listen_tcp and [tls]: %s", out);
	cr_expect_not_null(strstr(out, "cannot be used with [tls]: nodes "
	    "connect through the TLS front only"), "%s", out);
}
