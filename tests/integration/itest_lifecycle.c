/*
 * itest_lifecycle.c — narad knows when a node's connection ends: naractl,
 * /metrics and the audit log say so at once, deliveries are audited only
 * once handed to a live connection, a new connection must say hello again
 * while a late end of an old one leaves the new session alone, and a node
 * that never reads what it is sent is disconnected (NR006) with narad's
 * memory and log bounded. Real narad with its TLS front, nodes through the
 * library tunnel or a raw TLS connection.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zmq.h>

#include "adapter_helpers.h"
#include "fixture.h"
#include "harness.h"
#include "hostile_helpers.h"
#include "log.h"
#include "ops_helpers.h"
#include "pbstr.h"
#include "tls.h"
#include "tls_helpers.h"
#include "tunnel.h"
#include "validate.h"
#include "zmtp.h"

static char pki[64];
static int tls_port;
static struct fixture *fx;

static void
start_tls(void)
{
	char extra[2048];

	signal(SIGPIPE, SIG_IGN);
	tls_pki_make(pki, (const char *const[]){ T_GBG, T_BUP, NULL });
	tls_port = tls_free_port();
	snprintf(extra, sizeof(extra), "max_credit = 16\ndefault_credit = 16\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\nidentity = san-uri\n"
	    "runtime_dir = @RUNTIME_DIR@\n", tls_port, pki, pki, pki);
	ops_start_tls(extra, true);
	tls_wait_listening(tls_port, ops_h.log);
	fx = fixture_new();
}

static void
start_plain(void)
{
	pki[0] = '\0';
	ops_start("");
	fx = fixture_new();
}

static void
stop(void)
{
	char cmd[128];

	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
	if (pki[0] != '\0' && getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
		cr_expect_eq(system(cmd), 0);
	}
}

/* More nodes than the 64 node_disconnected rows narad once wrote per
 * batch: kommun-2001 .. kommun-2080, and a 1 s ack timeout. */
#define MANY 80

static void
start_many(void)
{
	static char extra[MANY * 96 + 64];
	size_t n;

	pki[0] = '\0';
	n = (size_t)snprintf(extra, sizeof(extra), "ack_timeout = 1\n");
	for (int i = 1; i <= MANY; i++)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n,
		    "\n[node kommun-2%03d]\nname = K%d\naddresses = "
		    "kommun:2%03d:socialtjanst\n", i, i, i);
	cr_assert_lt(n, sizeof(extra));
	ops_start(extra);
	fx = fixture_new();
}

TestSuite(lifecycle, .init = start_tls, .fini = stop, .timeout = 90);
TestSuite(plain, .init = start_plain, .fini = stop, .timeout = 60);
TestSuite(many, .init = start_many, .fini = stop, .timeout = 90);

/* ---------------------------------------------------------------- helpers */

/* A tunnel presenting node's certificate, and a harness copy using it. */
static struct nara_tunnel *
tunnel_for(const char *node, struct harness *via)
{
	char ca[128], cert[128], key[128];
	struct nara_tunnel *t;

	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki, node);
	snprintf(key, sizeof(key), "%s/%s.key", pki, node);
	t = tls_tunnel_start(tls_port, NULL, ca, cert, key);
	*via = ops_h;
	snprintf(via->router, sizeof(via->router), "%s", tunnel_endpoint(t));
	return t;
}

/* What naractl nodes says about node. */
static bool
ctl_connected(const char *node)
{
	json_t *nv = ops_ctl_json("nodes");
	bool on = json_is_true(json_object_get(ops_node_of(nv, node),
	    "connected"));

	json_decref(nv);
	return on;
}

static double
prom_connected(const char *node)
{
	struct prom *pr = calloc(1, sizeof(*pr));
	char labels[128];
	double v;

	cr_assert_not_null(pr);
	snprintf(labels, sizeof(labels), "node=\"%s\"", node);
	ops_scrape(pr);
	v = ops_prom_value(pr, "nara_node_connected", labels);
	free(pr);
	return v;
}

static long
count_rows(const char *where)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "select count(*) from audit where %s", where);
	return harness_sql_long(&ops_h, sql);
}

struct rows_wait {
	const char *where;
	long want;
};

static bool
rows_reached(void *arg)
{
	struct rows_wait *w = arg;

	return count_rows(w->where) >= w->want;
}

/* Wait up to ms for count_rows(where) >= want; the last count. */
static long
wait_rows(const char *where, long want, int ms)
{
	struct rows_wait w = { where, want };

	harness_wait(rows_reached, &w, ms);
	return count_rows(where);
}

static bool
node_connected(void *node)
{
	return ctl_connected(node);
}

static bool
node_not_connected(void *node)
{
	return !ctl_connected(node);
}

static void
wait_disconnected(const char *node)
{
	cr_assert(harness_wait(node_not_connected, (void *)(uintptr_t)node,
	    5000), "naractl still shows %s connected; see %s", node, ops_h.log);
}

static Nara__Envelope *
referral_to_bup(void)
{
	return fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH,
	    T_BUP);
}

/* ---------------------------------------------------------------- TLS */

Test(lifecycle, gone_node_shows_disconnected_at_once)
{
	struct harness via;
	struct nara_tunnel *t = tunnel_for(T_BUP, &via);
	struct tclient bup;

	tclient_open(&bup, &via, T_BUP, 4);
	cr_assert(ctl_connected(T_BUP));
	cr_assert_eq(prom_connected(T_BUP), 1);
	tclient_close(&bup);
	tls_tunnel_stop(&t);
	wait_disconnected(T_BUP);
	cr_expect_eq(prom_connected(T_BUP), 0);
	cr_expect_eq(wait_rows("event='node_disconnected' and node='" T_BUP "'",
	    1, 5000), 1, "see %s", ops_h.log);
}

/* A node over TLS that says hello, then sends nothing and answers no PING:
 * the ROUTER's heartbeat drops it and the audit row says so, not just
 * "connection closed". */
Test(lifecycle, silent_node_disconnect_names_heartbeat, .timeout = 90)
{
	struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);

	cr_assert_not_null(z);
	cr_assert_eq(zconn_handshake(z, T_GBG, 5000), 0, "see %s", ops_h.log);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", ops_h.log);
	/* Silent from here: heartbeat timeout 15 s after a PING (5 s). */
	cr_expect_eq(wait_rows("event='node_disconnected' and node='" T_GBG
	    "' and detail like 'closed by the broker: nothing from the node "
	    "for % s (heartbeat timeout)'", 1, 40000), 1,
	    "no node_disconnected row naming the heartbeat; see %s",
	    ops_h.log);
	cr_expect(zconn_closed(z, 5000), "the front kept the connection");
	cr_expect_eq(count_rows("event='node_disconnected' and node='" T_GBG
	    "'"), 1);
	zconn_free(&z);
}

/* A node that closes its own connection: the row says the node did. */
Test(lifecycle, node_close_disconnect_says_node_closed)
{
	struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);

	cr_assert_not_null(z);
	cr_assert_eq(zconn_handshake(z, T_GBG, 5000), 0, "see %s", ops_h.log);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", ops_h.log);
	zconn_free(&z);
	cr_expect_eq(wait_rows("event='node_disconnected' and node='" T_GBG
	    "' and detail='the node closed the connection'", 1, 5000), 1,
	    "see %s", ops_h.log);
	cr_expect_eq(count_rows("event='node_disconnected' and node='" T_GBG
	    "'"), 1);
}

Test(lifecycle, delivery_after_reconnect_is_attempt_1_audited_once)
{
	struct harness via_b, via_g;
	struct nara_tunnel *tb = tunnel_for(T_BUP, &via_b);
	struct nara_tunnel *tg = tunnel_for(T_GBG, &via_g);
	struct tclient bup, gbg;
	Nara__Envelope *e;
	Nara__Frame *f;
	char where[200];

	tclient_open(&bup, &via_b, T_BUP, 4);
	tclient_close(&bup);
	wait_disconnected(T_BUP);
	/* The recipient is gone: its delivery pass runs in the submit's own
	 * batch, so by the Accepted any false delivered row would exist. */
	tclient_open(&gbg, &via_g, T_GBG, 4);
	e = referral_to_bup();
	f = tclient_submit(&gbg, e);
	cr_assert_eq(f->kind_case, NARA__FRAME__KIND_ACCEPTED);
	frame_free(&f);
	snprintf(where, sizeof(where), "event='delivered' and message_id='%s'",
	    e->message_id);
	cr_expect_eq(count_rows(where), 0, "delivered to a gone node");
	tclient_open(&bup, &via_b, T_BUP, 4);
	f = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert_not_null(f, "no delivery after reconnect; see %s", ops_h.log);
	cr_expect_eq(f->deliver->attempt, 1);
	tclient_ack(&bup, f->deliver->envelope->message_id, false);
	frame_free(&f);
	snprintf(where, sizeof(where), "event='acked' and message_id='%s'",
	    e->message_id);
	cr_assert_eq(wait_rows(where, 1, 5000), 1);
	snprintf(where, sizeof(where), "event='delivered' and message_id='%s'",
	    e->message_id);
	cr_expect_eq(count_rows(where), 1);
	snprintf(where, sizeof(where), "event='delivered' and message_id='%s' "
	    "and detail='attempt 1'", e->message_id);
	cr_expect_eq(count_rows(where), 1);
	tclient_close(&bup);
	tclient_close(&gbg);
	tls_tunnel_stop(&tb);
	tls_tunnel_stop(&tg);
}

Test(lifecycle, submit_before_hello_on_a_new_connection_is_nr003)
{
	struct harness via;
	struct nara_tunnel *t = tunnel_for(T_GBG, &via);
	struct tclient gbg;
	Nara__Envelope *e;
	Nara__Frame *f;

	tclient_open(&gbg, &via, T_GBG, 4);
	tclient_close(&gbg);
	tclient_open_raw(&gbg, &via, T_GBG);
	e = referral_to_bup();
	f = tclient_submit(&gbg, e);
	cr_assert_eq(f->kind_case, NARA__FRAME__KIND_REJECTED,
	    "a submit before hello on a new connection was accepted");
	cr_expect_str_eq(f->rejected->code, "NR003");
	cr_expect_str_eq(f->rejected->message_id, e->message_id);
	frame_free(&f);
	tclient_close(&gbg);
	tls_tunnel_stop(&t);
}

/* The old connection is still open (as a half-open one looks to narad):
 * the new one must still say hello first. */
Test(lifecycle, submit_before_hello_beside_a_live_session_is_nr003)
{
	struct harness via1, via2;
	struct nara_tunnel *t1 = tunnel_for(T_GBG, &via1);
	struct nara_tunnel *t2 = tunnel_for(T_GBG, &via2);
	struct tclient a, b;
	Nara__Envelope *e = referral_to_bup();
	Nara__Frame *f;
	int never = -1;

	tclient_open(&a, &via1, T_GBG, 4);
	zmq_setsockopt(a.sock, ZMQ_RECONNECT_IVL, &never, sizeof(never));
	tclient_open_raw(&b, &via2, T_GBG);
	f = tclient_submit(&b, e);
	cr_assert_eq(f->kind_case, NARA__FRAME__KIND_REJECTED, "a submit "
	    "before hello rode on the other connection's session");
	cr_expect_str_eq(f->rejected->code, "NR003");
	cr_expect_str_eq(f->rejected->message_id, e->message_id);
	frame_free(&f);
	/* The front closes the old connection before it relays the new one
	 * (one relay per node), so the old session ends as taken over;
	 * without the front's order it would end as replaced. Either way it
	 * ends, and the row says a new connection ended it. */
	cr_expect_eq(wait_rows("event='node_disconnected' and node='" T_GBG
	    "' and (detail like 'a new connection of the node from % took "
	    "over' or detail = 'a new connection replaced it')", 1, 10000), 1);
	tclient_close(&b);
	tclient_close(&a);
	tls_tunnel_stop(&t2);
	tls_tunnel_stop(&t1);
}

/* The issue as an operator saw it: kill an adapter, watch naractl. */
/* The front has logged the end of a connection of Göteborg. */
static bool
old_connection_gone(void *arg)
{
	return harness_log_count(&ops_h, "tls front: node " T_GBG
	    " disconnected") + harness_log_count(&ops_h, "tls front: broker "
	    "closed the connection of " T_GBG) >= 1;
}

Test(lifecycle, killed_adapter_shows_disconnected)
{
	struct tadapter bup;
	char extra[1024], broker[64];

	snprintf(broker, sizeof(broker), "127.0.0.1:%d", tls_port);
	snprintf(extra, sizeof(extra), "ca = %s/ca.pem\ncert = %s/%s.pem\n"
	    "key = %s/%s.key\n", pki, pki, T_BUP, pki, T_BUP);
	tadapter_init(&bup, T_BUP, broker, extra);
	tadapter_start(&bup);
	cr_assert(harness_wait(node_connected, (void *)(uintptr_t)T_BUP, 10000),
	    "adapter never connected; see %s", bup.log);
	tadapter_stop(&bup, SIGKILL);
	wait_disconnected(T_BUP);
	cr_expect_eq(prom_connected(T_BUP), 0);
	cr_expect_eq(wait_rows("event='node_disconnected' and node='" T_BUP "'",
	    1, 5000), 1);
	tadapter_cleanup(&bup);
}

/* Two connections of one node: the second one's session must survive the
 * end of the first, which libzmq's handover closes after it. */
Test(lifecycle, end_of_an_old_connection_leaves_the_new_session)
{
	struct harness via1, via2;
	struct nara_tunnel *t1 = tunnel_for(T_GBG, &via1);
	struct nara_tunnel *t2 = tunnel_for(T_GBG, &via2);
	struct tclient a, b;
	Nara__Frame *f;
	const char *rows = "event='node_disconnected' and node='" T_GBG "'";
	int never = -1;

	tclient_open(&a, &via1, T_GBG, 4);
	/* A must not come back on its own once the handover closed it. */
	zmq_setsockopt(a.sock, ZMQ_RECONNECT_IVL, &never, sizeof(never));
	tclient_open(&b, &via2, T_GBG, 4);
	tclient_close(&a);
	tls_tunnel_stop(&t1);
	harness_wait(old_connection_gone, NULL, 5000);
	/* The first session ended when the second connection came; nothing
	 * else may end the second (give a wrong end time to show itself). */
	cr_expect_eq(wait_rows(rows, 1, 3000), 1);
	cr_expect_eq(wait_rows(rows, 2, 1000), 1, "the old connection's end "
	    "ended the new session; see %s", ops_h.log);
	cr_expect(ctl_connected(T_GBG));
	f = tclient_submit(&b, referral_to_bup());
	cr_expect_eq(f->kind_case, NARA__FRAME__KIND_ACCEPTED);
	frame_free(&f);
	tclient_close(&b);
	tls_tunnel_stop(&t2);
}

/* ---------------------------------------------------------------- raw */

/* Greeting, READY as DEALER named node, and a Hello in one buffer. */
static size_t
zmtp_opening(uint8_t *out, const char *node)
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
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	out[len] = 0x00;
	out[len + 1] = (uint8_t)nara__frame__pack(&f, out + len + 2);
	return len + 2 + out[len + 1];
}

static long
rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	cr_assert_not_null(fp = fopen(path, "r"));
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(fp);
	return kib;
}

Test(lifecycle, node_that_never_reads_is_disconnected, .timeout = 120)
{
	char ca[128], cert[128], key[128];
	struct nara_err err = { 0 };
	struct timeval tv = { 5, 0 };
	static uint8_t junk[6 * 2048];
	uint8_t wire[512];
	int fd, len, rcvbuf = 4096;
	long rss0, rss1, n = 0;
	int64_t end;
	SSL_CTX *ctx;
	SSL *ssl;

	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki, T_GBG);
	snprintf(key, sizeof(key), "%s/%s.key", pki, T_GBG);
	cr_assert_not_null(ctx = tls_client_ctx_new(ca, cert, key, "1.3", &err));
	cr_assert_not_null(ssl = tls_client_ssl_new(ctx, "127.0.0.1", &err));
	cr_assert((fd = tcp_connect_local(tls_port)) >= 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	SSL_set_fd(ssl, fd);
	cr_assert_eq(SSL_connect(ssl), 1);
	len = (int)zmtp_opening(wire, T_GBG);
	cr_assert_eq(SSL_write(ssl, wire, len), len);
	for (size_t i = 0; i < sizeof(junk); i += 6)   /* undecodable frames */
		memcpy(junk + i, "\x00\x04\xff\xff\xff\xff", 6);
	rss0 = rss_kib(ops_h.pid);
	/* Never read; send frames that each earn an answer until narad
	 * closes the connection. */
	end = harness_ms_now() + 60000;
	while (harness_ms_now() < end &&
	    SSL_write(ssl, junk, sizeof(junk)) == (int)sizeof(junk))
		if (++n % 200 == 0 && count_rows("event='node_disconnected' "
		    "and node='" T_GBG "' and code='NR006'") > 0)
			break;
	rss1 = rss_kib(ops_h.pid);
	cr_expect_geq(wait_rows("event='node_disconnected' and node='" T_GBG
	    "' and code='NR006' and detail like 'NR006%'", 1, 10000), 1,
	    "a node that does not read was not disconnected after %ld "
	    "kframes; see %s", n * 2, ops_h.log);
	cr_expect_lt(rss1 - rss0, 64 * 1024, "narad grew from %ld to %ld KiB",
	    rss0, rss1);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	cr_expect(harness_log_count(&ops_h, "undecodable frame from " T_GBG) <=
	    LOG_LIMIT_BURST * (2 + 60 / LOG_LIMIT_SECONDS), "see %s", ops_h.log);
	/* narad serves on */
	struct harness via;
	struct nara_tunnel *t = tunnel_for(T_BUP, &via);
	struct tclient bup;
	tclient_open(&bup, &via, T_BUP, 4);
	tclient_close(&bup);
	tls_tunnel_stop(&t);
}

/* ---------------------------------------------------------------- plain */

Test(plain, empty_frame_is_nr001)
{
	struct tclient c;
	Nara__Frame *r;

	tclient_open(&c, &ops_h, T_GBG, 4);
	tclient_send_raw(&c, "", 0);
	r = tclient_expect(&c, NARA__FRAME__KIND_REJECTED, 5000);
	cr_assert_not_null(r);
	cr_expect_str_eq(r->rejected->code, "NR001");
	frame_free(&r);
	tclient_close(&c);
}

Test(plain, nr003_names_the_submitted_message)
{
	struct tclient c;
	Nara__Envelope *e = referral_to_bup();
	Nara__Frame *r;

	tclient_open_raw(&c, &ops_h, T_GBG);
	r = tclient_submit(&c, e);
	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_REJECTED);
	cr_expect_str_eq(r->rejected->code, "NR003");
	cr_expect_str_eq(r->rejected->message_id, e->message_id);
	frame_free(&r);
	tclient_close(&c);
}

Test(plain, garbage_flood_gives_bounded_log_lines)
{
	enum { FLOOD = 400 };
	struct tclient c;
	int64_t t0 = harness_ms_now();
	long limit;

	tclient_open(&c, &ops_h, T_GBG, 4);
	for (int i = 0; i < FLOOD; i++)
		tclient_send_raw(&c, "\xff\xff\xff\xff", 4);
	for (int i = 0; i < FLOOD; i++) {
		Nara__Frame *r = tclient_expect(&c, NARA__FRAME__KIND_REJECTED,
		    5000);
		cr_assert_not_null(r, "answer %d of %d missing", i, FLOOD);
		frame_free(&r);
	}
	limit = LOG_LIMIT_BURST * (1 + (harness_ms_now() - t0) / 1000 /
	    LOG_LIMIT_SECONDS + 1);
	cr_expect_leq(harness_log_count(&ops_h, "undecodable frame from "
	    T_GBG), limit, "see %s", ops_h.log);
	cr_expect_geq(harness_log_count(&ops_h, "undecodable frame from "
	    T_GBG), 1);
	tclient_close(&c);
}

/* Every node whose connection is found gone gets its row, however many
 * at once: all deliveries time out in one tick, and every redelivery
 * finds its peer gone in the same flush. */
Test(many, every_gone_node_gets_its_row)
{
	static struct tclient node[MANY];
	struct tclient bup;
	char id[40];

	for (int i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "kommun-2%03d", i + 1);
		tclient_open(&node[i], &ops_h, id, 1);
	}
	tclient_open(&bup, &ops_h, T_BUP, 256);
	for (int i = 0; i < MANY; i++) {             /* one batch, mostly */
		Nara__Frame f = NARA__FRAME__INIT;
		Nara__Submit sub = NARA__SUBMIT__INIT;
		snprintf(id, sizeof(id), "kommun:2%03d:socialtjanst", i + 1);
		sub.envelope = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP, id);
		f.kind_case = NARA__FRAME__KIND_SUBMIT;
		f.submit = &sub;
		tclient_send(&bup, &f);
	}
	for (int i = 0; i < MANY; i++) {
		Nara__Frame *r = tclient_expect(&bup, NARA__FRAME__KIND_ACCEPTED,
		    5000);
		cr_assert_not_null(r, "answer %d missing; see %s", i, ops_h.log);
		frame_free(&r);
	}
	cr_assert_eq(wait_rows("event='delivered' and node like 'kommun-2%'",
	    MANY, 10000), MANY);
	for (int i = 0; i < MANY; i++)
		tclient_close(&node[i]);
	cr_expect_eq(wait_rows("event='node_disconnected' and node like "
	    "'kommun-2%'", MANY, 15000), MANY, "see %s", ops_h.log);
	tclient_close(&bup);
}
