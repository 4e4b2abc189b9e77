/*
 * itest_hostile.c — narad's TLS front under attack and under careless
 * clients: overlapping sessions of one node certificate, many concurrent
 * connections of one node, a frame announced as 8 GiB, a handshake flood
 * while a good node connects, and a refused node reconnecting every 50 ms.
 * Every test asserts that narad stays alive and still serves a good node.
 *
 * NARA_SOAK=1 (make soak) runs the overlapping sessions for minutes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"
#include "hostile_helpers.h"
#include "tls_helpers.h"
#include "wire.h"

static struct harness h;
static char pki[64];
static int tls_port;

#define MAX_HANDSHAKES 16
#define PER_ADDRESS 4

static void
setup(void)
{
	char extra[2048];

	signal(SIGPIPE, SIG_IGN);
	tls_pki_make(pki, (const char *const[]){ T_GBG, T_BUP, NULL });
	tls_port = tls_free_port();
	snprintf(extra, sizeof(extra),
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\nidentity = san-uri\n"
	    "handshake_timeout = 5\nmax_connections = 64\n"
	    "max_handshakes = %d\nmax_handshakes_per_address = %d\n"
	    "report_interval = 2\nruntime_dir = @RUNTIME_DIR@\n", tls_port,
	    pki, pki, pki, MAX_HANDSHAKES, PER_ADDRESS);
	harness_init(&h, extra);
	tls_conf_runtime_dir(&h);
	harness_start(&h);
	tls_wait_listening(tls_port, h.log);
}

static void
teardown(void)
{
	char cmd[200];

	harness_cleanup(&h);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 900);

/* ---------------------------------------------------------------- helpers */

/* A complete session of node from src: TLS, ZMTP, hello, Welcome. */
static bool
session_works(const char *node, const char *src, int timeout_ms)
{
	struct zconn *z = zconn_open(tls_port, pki, node, src);
	bool ok = z != NULL && zconn_handshake(z, node, timeout_ms) == 0 &&
	    zconn_hello(z, node, timeout_ms) == 0;

	zconn_free(&z);
	return ok;
}

/* narad is alive and a good node (a fresh connection) gets its Welcome. */
static void
assert_serving(const char *when)
{
	cr_assert(narad_alive(&h), "narad died %s; see %s", when, h.log);
	cr_assert(session_works(T_BUP, NULL, 5000), "a good node got no "
	    "Welcome %s; see %s", when, h.log);
}

/* Keep checking for ms that narad stays alive and serving: libzmq's
 * abort came from a heartbeat timer (5 s) of an engine left behind. */
static void
stay_serving(int ms, const char *when)
{
	int64_t end = harness_ms_now() + ms;

	while (harness_ms_now() < end)
		assert_serving(when);
}

static int
soak_seconds(int normal, int soak)
{
	return getenv("NARA_SOAK") != NULL ? soak : normal;
}

/* ---------------------------------------------------------------- records */

/* TCP cuts a node's TLS records wherever it likes: several records may
 * arrive in one read, and one record over many. Both must reach the
 * broker whole and in order: the greeting and READY as three records in
 * one write, then as one record sent a byte per write (TCP_NODELAY: each
 * byte its own segment), each followed by a Hello that gets its Welcome. */
Test(hostile, records_bundled_or_cut_by_tcp)
{
	const size_t three[] = { 10, 64 }, one[] = { 0 };
	const struct { const size_t *cuts; size_t n, chunk; const char *what; }
	    ways[] = {
		{ three, 3, 0, "three records in one write" },
		{ one, 1, 1, "one record a byte per write" },
	};

	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);

		cr_assert_not_null(z, "TLS to the front failed; see %s", h.log);
		cr_expect_eq(zconn_handshake_cut(z, T_GBG, ways[i].cuts,
		    ways[i].n, ways[i].chunk, 5000), 0, "%s: no READY from "
		    "the broker; see %s", ways[i].what, h.log);
		cr_expect_eq(zconn_hello(z, T_GBG, 5000), 0, "%s: no Welcome; "
		    "see %s", ways[i].what, h.log);
		zconn_free(&z);
	}
	assert_serving("after records cut in odd places");
}

/* ---------------------------------------------------------------- item 1 */

/* Two clients with one certificate, overlapping: the second says hello
 * while the first still talks, then both go. With libzmq 4.3.4 and a plain
 * relay this aborted narad within seconds (!_io_error). */
Test(hostile, overlapping_sessions_of_one_certificate)
{
	int64_t end = harness_ms_now() + 1000L * soak_seconds(6, 300);
	int rounds = 0, welcomed = 0;

	while (harness_ms_now() < end) {
		struct zconn *a = zconn_open(tls_port, pki, T_GBG, NULL);
		struct zconn *b = NULL;

		cr_assert(a != NULL || narad_alive(&h), "narad died after %d "
		    "rounds; see %s", rounds, h.log);
		cr_assert_not_null(a, "TLS refused; see %s", h.log);
		if (zconn_handshake(a, T_GBG, 5000) == 0 &&
		    zconn_hello(a, T_GBG, 5000) == 0)
			welcomed++;
		b = zconn_open(tls_port, pki, T_GBG, NULL);
		cr_assert_not_null(b, "TLS refused; see %s", h.log);
		zconn_handshake(b, T_GBG, 5000);
		zconn_hello_nowait(b, T_GBG);
		zconn_hello_nowait(a, T_GBG);    /* the older one talks on */
		zconn_free(&a);
		if (zconn_hello(b, T_GBG, 5000) == 0)
			welcomed++;
		zconn_free(&b);
		rounds++;
		cr_assert(narad_alive(&h), "narad died after %d rounds; see %s",
		    rounds, h.log);
	}
	cr_assert_geq(welcomed, rounds, "%d Welcomes in %d rounds; see %s",
	    welcomed, rounds, h.log);
	stay_serving(7000, "after overlapping sessions");
	cr_assert(session_works(T_GBG, NULL, 5000), "the node cannot connect "
	    "after the overlaps; see %s", h.log);
}

/* Many connections of one node at once: each takes over from the one
 * before; the newest is the one that stays. */
Test(hostile, many_concurrent_connections_of_one_node)
{
	enum { N = 40 };
	struct zconn *z[N];
	int rounds = soak_seconds(3, 30);

	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < N; i++)
			cr_assert((z[i] = zconn_open(tls_port, pki, T_GBG,
			    NULL)) != NULL || !narad_alive(&h), "TLS refused; "
			    "see %s", h.log);
		cr_assert(narad_alive(&h), "narad died; see %s", h.log);
		for (int i = 0; i < N; i++)
			if (z[i] != NULL && zconn_handshake(z[i], T_GBG, 200) == 0)
				zconn_hello_nowait(z[i], T_GBG);
		cr_assert_eq(zconn_hello(z[N - 1], T_GBG, 10000), 0,
		    "the newest connection got no Welcome; see %s", h.log);
		for (int i = 0; i < N; i++)
			zconn_free(&z[i]);
		cr_assert(narad_alive(&h), "narad died; see %s", h.log);
	}
	stay_serving(7000, "after concurrent connections of one node");
	cr_expect_geq(harness_log_count(&h, "takes over from"), 1);
}

/* ---------------------------------------------------------------- item 3 */

Test(hostile, oversize_announced_frame_closes_connection)
{
	static const uint8_t huge[9] = { 0x02, 0, 0, 0, 2, 0, 0, 0, 0 };
	static uint8_t junk[64 * 1024];
	struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);
	long before = narad_rss_kib(&h), after;
	int64_t end;
	bool closed = false;

	cr_assert_not_null(z);
	cr_assert_eq(zconn_handshake(z, T_GBG, 5000), 0);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", h.log);
	/* 8 GiB announced, then bytes as fast as the front takes them. */
	zconn_send_raw(z, huge, sizeof(huge));
	end = harness_ms_now() + 5000;
	while (!closed && harness_ms_now() < end)
		closed = zconn_send_raw(z, junk, sizeof(junk)) != 0 ||
		    zconn_closed(z, 1);
	cr_assert(closed || zconn_closed(z, 2000), "the connection stayed "
	    "open after announcing an 8 GiB frame; see %s", h.log);
	zconn_free(&z);
	after = narad_rss_kib(&h);
	cr_log_info("narad RSS %ld KiB before, %ld KiB after", before, after);
	cr_assert_lt(after, before + 32 * 1024, "narad grew from %ld to %ld "
	    "KiB", before, after);
	cr_assert_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='connection_refused' and code='NR020' and node='" T_GBG
	    "' and detail like '%8589934592 bytes announced%'"), 1,
	    "no connection_refused NR020 audit row; see %s", h.log);
	cr_expect_geq(harness_log_count(&h, "8589934592 bytes announced"), 1);
	assert_serving("after an oversize frame");
	cr_assert(session_works(T_GBG, NULL, 5000), "see %s", h.log);
}

/* ---------------------------------------------------------------- ZMTP */

/* The next frame that is not a PING of the broker's heartbeat. */
static int
next_frame(struct zconn *z, uint8_t *flags, uint8_t *body, size_t cap,
    size_t *len)
{
	int rc;

	while ((rc = zconn_next(z, 5000, flags, body, cap, len)) == 0 &&
	    (*flags & 0x04) && *len >= 5 && memcmp(body, "\4PING", 5) == 0)
		;
	return rc;
}

/* A node's PING (ZMTP 3.1 heartbeat) is answered with a PONG that carries
 * the PING's context back. */
Test(hostile, ping_answered_with_pong_and_its_context)
{
	static const uint8_t ping[] = { 0x04, 12, 4, 'P', 'I', 'N', 'G',
	    0, 0, 'c', 't', 'x', '4', '2' };
	struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);
	uint8_t flags, body[64];
	size_t len;

	cr_assert_not_null(z);
	cr_assert_eq(zconn_handshake(z, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(zconn_send_raw(z, ping, sizeof(ping)), 0);
	cr_assert_eq(next_frame(z, &flags, body, sizeof(body), &len), 0,
	    "no answer to a PING; see %s", h.log);
	cr_assert_eq(flags, 0x04, "the answer is no command (flags 0x%02x)",
	    flags);
	cr_assert_eq(len, 10, "PONG of %zu bytes", len);
	cr_assert_arr_eq(body, "\4PONGctx42", 10, "not a PONG with the "
	    "PING's context");
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", h.log);
	zconn_free(&z);
}

/* Thirty Hellos (sixty TLS records: a frame's header and its body each
 * in one) that arrive in one segment are all answered. libevent's OpenSSL
 * bufferevent opens a record or two per read and reads on only while the
 * socket or OpenSSL's current record has bytes: records held anywhere
 * below it (OpenSSL's read-ahead, a buffering BIO) would wait for the
 * node's next bytes. */
static int
hellos_together(int n)
{
	struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);
	int welcomes = 0;

	cr_assert_not_null(z);
	cr_assert_eq(zconn_handshake(z, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", h.log);
	zconn_cork(z, true);
	for (int i = 0; i < n; i++)
		cr_assert_eq(zconn_hello_nowait(z, T_GBG), 0);
	zconn_cork(z, false);
	while (welcomes < n && zconn_welcome(z, 5000) == 0)
		welcomes++;
	zconn_free(&z);
	return welcomes;
}

Test(hostile, records_arriving_together_are_all_read)
{
	enum { N = 30 };
	int welcomes = hellos_together(N);

	cr_assert_eq(welcomes, N, "%d of %d Hellos answered; see %s", welcomes,
	    N, h.log);
}

/* A batch takes at most batch_max frames: the frames left in a
 * connection's input are taken by the next batches, without the node
 * sending again. narad restarted with batch_max = 4, thirty Hellos
 * arriving together: eight batches, every Hello answered. */
Test(hostile, frames_beyond_a_batch_are_taken_by_the_next)
{
	enum { N = 30 };
	int welcomes;

	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	harness_conf_replace(&h, "[broker]\n", "[broker]\nbatch_max = 4\n");
	harness_start(&h);
	tls_wait_listening(tls_port, h.log);
	welcomes = hellos_together(N);
	cr_assert_eq(welcomes, N, "%d of %d Hellos answered with batch_max 4; "
	    "see %s", welcomes, N, h.log);
}

/* narad's count of commits since it started (naractl status --json:
 * counters.commits). */
static long long
commits_so_far(void)
{
	static char out[1 << 16];
	char bin[300];
	json_t *st, *n;
	long long commits;

	cr_assert_eq(harness_run(out, sizeof(out), "%s -c %s status --json "
	    "2>/dev/null", harness_bin("naractl", bin, sizeof(bin)), h.conf), 0,
	    "naractl status: %s", out);
	cr_assert_not_null(st = json_loads(out, 0, NULL), "%s", out);
	n = json_object_get(json_object_get(st, "counters"), "commits");
	cr_assert(json_is_integer(n), "no counters.commits: %s", out);
	commits = (long long)json_integer_value(n);
	json_decref(st);
	return commits;
}

/* Large submits arriving together, against batch_max_bytes (below). */
enum { BIG_N = 30, BIG_TEXT = 60000 };

/* narad restarted with batch_max_bytes = 64K; a text of BIG_TEXT bytes
 * (free it) for big_envelope. */
static char *
big_start(void)
{
	char *text = malloc(BIG_TEXT + 1);

	cr_assert_not_null(text);
	memset(text, 'a', BIG_TEXT);
	text[BIG_TEXT] = '\0';
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	harness_conf_replace(&h, "[broker]\n",
	    "[broker]\nbatch_max_bytes = 64K\n");
	harness_start(&h);
	return text;
}

/* A referral of about BIG_TEXT bytes; its id into id. */
static Nara__Envelope *
big_envelope(struct fixture *fx, char *text, char id[37])
{
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);

	e->referral->background = text;
	snprintf(id, 37, "%s", e->message_id);
	return e;
}

/* All BIG_N accepted, each stored once, in at least BIG_N / 2 commits:
 * two frames each at most, the second passing 64K, where one or two
 * batches would take them all without the limit. */
static void
big_expect(int accepted, long long commits, char ids[][37])
{
	fprintf(stderr, "hostile: %d submits of %d bytes in %lld commits\n",
	    BIG_N, BIG_TEXT, commits);
	cr_assert_eq(accepted, BIG_N, "%d of %d accepted; see %s", accepted,
	    BIG_N, h.log);
	cr_expect_geq(commits, BIG_N / 2, "%d submits of %d bytes in %lld "
	    "commits with batch_max_bytes 64K", BIG_N, BIG_TEXT, commits);
	for (int i = 0; i < BIG_N; i++) {
		char sql[160];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE "
		    "message_id = '%.36s'", ids[i]);
		cr_expect_eq(harness_sql_long(&h, sql), 1, "%.36s", ids[i]);
	}
}

/* A batch stops taking frames once their bytes reach batch_max_bytes, so
 * that many large messages at once make several transactions of a
 * bounded size: through the TLS front, the submits in one write. */
Test(hostile, a_batch_takes_frames_up_to_its_bytes)
{
	struct fixture *fx = fixture_new();
	char *text = big_start(), ids[BIG_N][37];
	static uint8_t body[1 << 17];
	struct zconn *z;
	long long before;
	int accepted = 0;
	uint8_t flags;
	size_t len;

	tls_wait_listening(tls_port, h.log);
	z = zconn_open(tls_port, pki, T_GBG, NULL);
	cr_assert_not_null(z);
	cr_assert_eq(zconn_handshake(z, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", h.log);
	before = commits_so_far();
	zconn_cork(z, true);
	for (int i = 0; i < BIG_N; i++) {
		Nara__Frame f = NARA__FRAME__INIT;
		Nara__Submit sub = NARA__SUBMIT__INIT;
		uint8_t *data;

		sub.envelope = big_envelope(fx, text, ids[i]);
		f.kind_case = NARA__FRAME__KIND_SUBMIT;
		f.submit = &sub;
		cr_assert_not_null(data = frame_encode(&f, &len));
		cr_assert_gt(len, BIG_TEXT);
		cr_assert_eq(zconn_send(z, data, len), 0);
		free(data);
	}
	zconn_cork(z, false);
	while (accepted < BIG_N && zconn_next(z, 10000, &flags, body,
	    sizeof(body), &len) == 0) {
		Nara__Frame *f;

		if ((flags & 0x04) || len > sizeof(body) ||
		    (f = nara__frame__unpack(NULL, len, body)) == NULL)
			continue;
		cr_expect_neq(f->kind_case, NARA__FRAME__KIND_REJECTED, "%s %s",
		    f->rejected ? f->rejected->code : "",
		    f->rejected ? f->rejected->text : "");
		if (f->kind_case == NARA__FRAME__KIND_ACCEPTED)
			accepted++;
		nara__frame__free_unpacked(f, NULL);
	}
	big_expect(accepted, commits_so_far() - before, ids);
	zconn_free(&z);
	fixture_free(&fx);
	free(text);
}

/* The TLS handshake's last flight, the ZMTP greeting and READY and a Hello
 * in one segment: the records after the handshake's are read at once, not
 * when the node sends again. */
Test(hostile, frames_with_the_handshake_end_are_read)
{
	struct zconn *z = zconn_open_cork(tls_port, pki, T_GBG, NULL, true);

	cr_assert_not_null(z, "TLS handshake failed; see %s", h.log);
	cr_assert_eq(zconn_opening(z, T_GBG), 0);
	cr_assert_eq(zconn_hello_nowait(z, T_GBG), 0);
	zconn_cork(z, false);
	cr_assert_eq(zconn_handshake_wait(z, 5000), 0, "no ZMTP greeting; see "
	    "%s", h.log);
	cr_assert_eq(zconn_welcome(z, 5000), 0, "no Welcome; see %s", h.log);
	zconn_free(&z);
}

/* A message of two parts is refused (NR001) and the connection stays:
 * the node may go on with single frames. */
Test(hostile, multi_part_message_refused_connection_stays)
{
	static const uint8_t part[] = { 0x01, 3, 'a', 'b', 'c' };
	struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);
	uint8_t flags, body[512];
	size_t len;
	Nara__Frame *f;

	cr_assert_not_null(z);
	cr_assert_eq(zconn_handshake(z, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(zconn_send_raw(z, part, sizeof(part)), 0);
	cr_assert_eq(zconn_send(z, "def", 3), 0);
	cr_assert_eq(next_frame(z, &flags, body, sizeof(body), &len), 0,
	    "no answer to a multi-part message; see %s", h.log);
	cr_assert_eq(flags, 0, "flags 0x%02x", flags);
	f = nara__frame__unpack(NULL, len, body);
	cr_assert_not_null(f);
	cr_assert_eq(f->kind_case, NARA__FRAME__KIND_REJECTED, "kind %d",
	    (int)f->kind_case);
	cr_expect_str_eq(f->rejected->code, "NR001");
	nara__frame__free_unpacked(f, NULL);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "the connection did not "
	    "stay; see %s", h.log);
	zconn_free(&z);
}

/* A frame header with flag bits ZMTP leaves unused closes the connection,
 * with an audit row that says why. */
Test(hostile, reserved_frame_flags_close_connection)
{
	static const uint8_t bad[] = { 0x40, 1, 'x' };
	struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);

	cr_assert_not_null(z);
	cr_assert_eq(zconn_handshake(z, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(zconn_hello(z, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(zconn_send_raw(z, bad, sizeof(bad)), 0);
	cr_assert(zconn_closed(z, 5000), "the connection stayed open after "
	    "flags 0x40; see %s", h.log);
	zconn_free(&z);
	cr_assert(harness_wait_sql(&h, "select count(*) from audit where "
	    "event='connection_refused' and code='NR001' and node='" T_GBG
	    "' and detail like '%flags 0x40%'", 1, 5000),
	    "no connection_refused NR001 row; see %s", h.log);
	assert_serving("after reserved frame flags");
}

/* What a node sent just before it closed is still taken, also when the
 * broker's loop was not taking frames then (a commit out): with every
 * fsync slowed by 2 s (strace), one node's hello starts a batch, and
 * meanwhile another node sends hello and closes in one segment. Its
 * hello must still open its session (node_connected). */
Test(hostile, frames_sent_before_close_are_taken)
{
	struct zconn *a, *b;
	pid_t tracer;

	if (system("command -v strace >/dev/null 2>&1") != 0)
		cr_skip_test("strace is not installed: no slow commits");
	a = zconn_open(tls_port, pki, T_GBG, NULL);
	cr_assert_not_null(a);
	cr_assert_eq(zconn_handshake(a, T_GBG, 5000), 0, "see %s", h.log);
	tracer = fsync_inject(h.pid, "delay_enter=2000000");
	cr_assert_eq(zconn_hello_nowait(a, T_GBG), 0);
	cr_assert(harness_wait_log(&h, "node " T_GBG " connected (window", 1,
	    5000), "see %s", h.log);
	b = zconn_open(tls_port, pki, T_BUP, NULL);
	cr_assert_not_null(b);
	cr_assert_eq(zconn_handshake(b, T_BUP, 5000), 0, "see %s", h.log);
	zconn_cork(b, true);
	cr_assert_eq(zconn_hello_nowait(b, T_BUP), 0);
	zconn_free(&b);
	cr_assert(harness_wait_sql(&h, "select count(*) from audit where "
	    "event='node_connected' and node='" T_BUP "'", 1, 15000),
	    "a hello sent right before a close was lost; see %s", h.log);
	fsync_inject_end(tracer, h.pid);
	cr_assert(harness_wait_sql(&h, "select count(*) from audit where "
	    "event='node_disconnected' and node='" T_BUP "'", 1, 10000),
	    "see %s", h.log);
	zconn_free(&a);
	assert_serving("after a slowed commit");
}

/* ---------------------------------------------------------------- item 5 */

/* Open flood connections from 127.0.0.<first..last>, per_addr each. */
static int
flood(int *fds, int max, int first, int last, int per_addr, bool half)
{
	char src[32];
	int n = 0;

	for (int a = first; a <= last; a++) {
		snprintf(src, sizeof(src), "127.0.0.%d", a);
		for (int i = 0; i < per_addr && n < max; i++) {
			int fd = flood_connect(tls_port, src, half);
			if (fd >= 0)
				fds[n++] = fd;
		}
	}
	return n;
}

Test(hostile, handshake_flood_leaves_room_for_nodes)
{
	enum { MAX_FLOOD = 600 };
	static int fds[MAX_FLOOD];
	int n = 0, good = 0, tries = 0;
	int64_t end = harness_ms_now() + 1000L * soak_seconds(6, 60);

	/* Idle TCP and half-finished TLS from 100 addresses, more than the
	 * connection limit (64) several times over, renewed as they go. */
	while (harness_ms_now() < end) {
		n += flood(fds + n, MAX_FLOOD - n, 2, 101, 3, n % 2 == 0);
		tries++;
		if (session_works(T_BUP, NULL, 4000))
			good++;
		for (int i = 0; i < n / 2; i++)      /* renew half the flood */
			close(fds[i]);
		memmove(fds, fds + n / 2, (size_t)(n - n / 2) * sizeof(*fds));
		n -= n / 2;
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	cr_assert_eq(good, tries, "a good node got in %d times of %d during "
	    "the flood; see %s", good, tries, h.log);
	cr_expect_geq(harness_log_count(&h, "max_handshakes"), 1,
	    "the handshake budget never applied; see %s", h.log);
	assert_serving("after the handshake flood");
}

#define STALLED_FROM(a) "closed a new connection from " a ": too many " \
	"stalled TLS handshakes"

Test(hostile, handshake_limit_per_address)
{
	int fds[140], n = 0, lines;
	int64_t end = harness_ms_now() + 5000;

	/* A burst from one address is taken in (max_handshakes bounds it)... */
	for (int i = 0; i < 40; i++)
		if ((fds[n] = flood_connect(tls_port, "127.0.0.7", false)) >= 0)
			n++;
	/* ...but once its handshakes stall, a new one is closed at once. */
	while (harness_log_count(&h, STALLED_FROM("127.0.0.7")) == 0 &&
	    harness_ms_now() < end && n < 110) {
		if ((fds[n] = flood_connect(tls_port, "127.0.0.7", false)) >= 0)
			n++;
		harness_wait_log(&h, STALLED_FROM("127.0.0.7"), 1, 100);
	}
	cr_assert_geq(harness_log_count(&h, STALLED_FROM("127.0.0.7")), 1,
	    "see %s", h.log);
	for (int i = 0; i < 20; i++)
		if ((fds[n] = flood_connect(tls_port, "127.0.0.7", false)) >= 0)
			n++;
	/* The repeats are one summary line when report_interval ends. */
	harness_wait_log(&h, "127.0.0.7: too many stalled TLS handshakes from "
	    "this address (max_handshakes_per_address): ", 1, 5000);
	lines = harness_log_count(&h, "127.0.0.7: too many stalled TLS");
	cr_assert_eq(lines, 2, "%d log lines about the refusals of one address "
	    "(want the first and one summary); see %s", lines, h.log);
	/* Another address still gets in. */
	cr_assert(session_works(T_GBG, "127.0.0.8", 5000), "see %s", h.log);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	assert_serving("after a per-address flood");
}

/* Connections narad closed, among fds and slow (each looked at once). */
struct closed_count {
	int *fds, n, slow, closed, want;
	bool seen[3 * MAX_HANDSHAKES + 1], slow_closed;
};

static bool
enough_closed(void *arg)
{
	struct closed_count *c = arg;

	for (int i = 0; i < c->n; i++)
		if (!c->seen[i] && fd_closed(c->fds[i], 0)) {
			c->seen[i] = true;
			c->closed++;
		}
	if (!c->slow_closed && fd_closed(c->slow, 0)) {
		c->slow_closed = true;
		c->closed++;
	}
	return c->closed >= c->want;
}

/* A fast churn from one address, each new connection taking the place of
 * an older one at max_handshakes, leaves a handshake in progress from
 * another address alone: the budget gives way at the address holding the
 * most. (It gave way at the oldest of all: a flood renewing itself faster
 * than a node's round trips locked every node out.) The connections come
 * within a second, so none counts as stalled for the per-address limit. */
Test(hostile, churn_from_one_address_leaves_other_handshakes_alone)
{
	int fds[3 * MAX_HANDSHAKES], n = 0, slow;

	slow = flood_connect(tls_port, "127.0.0.11", false);
	cr_assert_geq(slow, 0);
	for (int i = 0; i < 3 * MAX_HANDSHAKES; i++)
		if ((fds[n] = flood_connect(tls_port, "127.0.0.10", false)) >= 0)
			n++;
	/* 1 + 3 * MAX_HANDSHAKES in progress, MAX_HANDSHAKES kept */
	struct closed_count cc = { .fds = fds, .n = n, .slow = slow,
	    .want = 1 + n - MAX_HANDSHAKES };
	cr_assert(harness_wait(enough_closed, &cc, 10000), "%d of %d dropped; "
	    "see %s", cc.closed, cc.want, h.log);
	cr_expect(!cc.slow_closed, "the handshake from another address was "
	    "dropped; see %s", h.log);
	cr_expect(session_works(T_GBG, "127.0.0.12", 5000), "see %s", h.log);
	close(slow);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	assert_serving("after a churn from one address");
}

/* Nodes behind one address connecting at once (a NAT after a restart):
 * more handshakes than max_handshakes_per_address, none of them stalled,
 * and a node from that address still gets in at once. */
Test(hostile, burst_from_one_address_gets_in)
{
	int fds[2 * PER_ADDRESS], n = 0;

	for (int i = 0; i < 2 * PER_ADDRESS; i++)
		if ((fds[n] = flood_connect(tls_port, "127.0.0.9", true)) >= 0)
			n++;
	cr_assert_eq(n, 2 * PER_ADDRESS);
	cr_assert(session_works(T_GBG, "127.0.0.9", 5000), "see %s", h.log);
	cr_expect_eq(harness_log_count(&h, STALLED_FROM("127.0.0.9")), 0,
	    "see %s", h.log);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* ---------------------------------------------------------------- item 12 */

/* A node whose ZMTP Identity is wrong, reconnecting every 50 ms: the first
 * refusal is audited at once with its code, node, certificate subject and
 * peer; the repeats become one summary row per report_interval (2 s). */
Test(hostile, refusals_collapsed_per_peer_and_reason)
{
	char out[8192], bin[300];
	int64_t end = harness_ms_now() + 3000;
	int attempts = 0;
	long rows, summaries;

	while (harness_ms_now() < end) {
		struct zconn *z = zconn_open(tls_port, pki, T_GBG, NULL);

		if (z != NULL) {
			zconn_handshake(z, "kommun-1481", 1000);
			zconn_closed(z, 1000);
		}
		zconn_free(&z);
		attempts++;
		usleep(50000);
	}
	cr_assert_geq(attempts, 20);
	/* The summary of the last interval comes when it ends. */
	harness_wait_sql(&h, "select count(*) from audit where "
	    "event='auth_failed' and detail like '%repeated % times%'", 1, 5000);
	rows = harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed'");
	summaries = harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed' and detail like '%repeated % times%'");
	cr_assert_leq(rows, 4, "%ld auth_failed rows for %d attempts", rows,
	    attempts);
	cr_assert_geq(summaries, 1, "no summary row; see %s", h.log);
	cr_assert_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed' and (code is null or code <> 'NR060' or "
	    "node is null or node <> '" T_GBG "' or detail not like "
	    "'peer 127.0.0.1%; certificate %" T_GBG "%; ZMTP Identity "
	    "\"kommun-1481\"%')"), 0, "an auth_failed row without code, node, "
	    "peer or subject; see %s", h.store);
	cr_assert_eq(harness_run(out, sizeof(out), "%s query --store %s --node %s "
	    "--event auth_failed", harness_bin("nara-audit", bin, sizeof(bin)),
	    h.store, T_GBG), 0, "%s", out);
	cr_assert(strstr(out, "auth_failed") != NULL, "nara-audit query found "
	    "nothing: %s", out);
	cr_expect_leq(harness_log_count(&h, "kommun-1481"), 4, "log lines not "
	    "rate-limited; see %s", h.log);
	assert_serving("after a reconnecting refused node");
}

/* A peer that varies what it claims (here a valid certificate with another
 * wrong ZMTP Identity each time) gets at most a few keys of its own: the
 * rest is counted under one key for its address, so the audit log does
 * not grow by a row per attempt. (Each new identity was a new key: one log
 * line and one audit row each, kept for years.) */
Test(hostile, varied_refusals_from_one_address_are_bounded)
{
	char identity[32];
	long rows, others;

	for (int i = 0; i < 12; i++) {
		struct zconn *z = zconn_open(tls_port, pki, T_GBG, "127.0.0.13");

		cr_assert_not_null(z);
		snprintf(identity, sizeof(identity), "kommun-2%03d", i);
		zconn_handshake(z, identity, 1000);
		zconn_closed(z, 1000);
		zconn_free(&z);
	}
	cr_assert(harness_wait_sql(&h, "select count(*) from audit where "
	    "event='auth_failed' and detail like '%further refusals of other "
	    "content%'", 1, 5000), "no row for the further refusals; see %s",
	    h.log);
	rows = harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed' and detail like 'peer 127.0.0.13%' and detail "
	    "not like '%repeated % times%'");
	/* its certificate is not one of them: "none" would misstate it */
	others = harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed' and detail like '%further refusals of other "
	    "content%' and detail like '%certificate not recorded;%' and "
	    "detail not like '%repeated % times%'");
	cr_expect_leq(rows, 5, "%ld rows for 12 attempts; see %s", rows, h.store);
	cr_expect_eq(others, 1);
	cr_expect_leq(harness_log_count(&h, "kommun-2"), 4, "log lines not "
	    "bounded; see %s", h.log);
	assert_serving("after refusals of varied content");
}

/* A certificate that fails verification still names the node it claims:
 * `nara-audit query --node` finds attempts in that node's name. */
Test(hostile, refused_certificate_names_its_node)
{
	struct zconn *z;

	pki_run(true, "node %s %s --out expired --not-before "
	    "2020-01-01T00:00:00Z --days 1", pki, T_GBG);
	z = zconn_open(tls_port, pki, "expired", NULL);
	cr_assert(z == NULL || zconn_closed(z, 5000), "an expired "
	    "certificate was let in; see %s", h.log);
	zconn_free(&z);
	for (int i = 0; i < 100 && harness_sql_long(&h, "select count(*) "
	    "from audit where event='auth_failed'") < 1; i++)
		usleep(50000);
	cr_assert_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed' and code='NR060' and node='" T_GBG "' and "
	    "detail like 'peer 127.0.0.1:%; certificate CN=" T_GBG "%; TLS "
	    "handshake: certificate: certificate has expired'"), 1,
	    "no auth_failed row naming the node; see %s", h.store);
	assert_serving("after an expired certificate");
}

/* ---------------------------------------------------------------- ROUTER */

static void
setup_plain(void)
{
	signal(SIGPIPE, SIG_IGN);
	harness_init(&h, "");
	harness_start(&h);
}

static void
teardown_plain(void)
{
	harness_cleanup(&h);
}

/* The same on the ROUTER (no front): a batch stops reading its frames
 * once their bytes reach batch_max_bytes. */
Test(hostile_router, a_batch_takes_frames_up_to_its_bytes)
{
	struct fixture *fx = fixture_new();
	char *text = big_start(), ids[BIG_N][37];
	struct tclient c;
	long long before;
	int accepted = 0;
	Nara__Frame *f;

	tclient_open(&c, &h, T_GBG, 0);
	before = commits_so_far();
	for (int i = 0; i < BIG_N; i++)
		tclient_submit_nowait(&c, big_envelope(fx, text, ids[i]));
	while (accepted < BIG_N && (f = tclient_expect(&c,
	    NARA__FRAME__KIND_ACCEPTED, 10000)) != NULL) {
		frame_free(&f);
		accepted++;
	}
	big_expect(accepted, commits_so_far() - before, ids);
	tclient_close(&c);
	fixture_free(&fx);
	free(text);
}

/* The second line: even without the front, the ROUTER itself
 * (ZMQ_MAXMSGSIZE) drops a peer that announces a frame over the limit. */
TestSuite(hostile_router, .init = setup_plain, .fini = teardown_plain,
    .timeout = 120);

Test(hostile_router, drops_oversize_frame_itself)
{
	static const uint8_t huge[9] = { 0x02, 0, 0, 0, 2, 0, 0, 0, 0 };
	static uint8_t junk[64 * 1024];
	int fd = ipc_connect(h.router + strlen("ipc://"));
	long before = narad_rss_kib(&h);
	bool closed = false;
	int64_t end;

	cr_assert(fd >= 0, "cannot connect to %s", h.router);
	cr_assert_eq(zmtp_plain_handshake(fd, T_GBG, 5000), 0, "see %s", h.log);
	cr_assert_eq(write(fd, huge, sizeof(huge)), (ssize_t)sizeof(huge));
	end = harness_ms_now() + 5000;
	while (!closed && harness_ms_now() < end) {
		ssize_t n = send(fd, junk, sizeof(junk), MSG_DONTWAIT |
		    MSG_NOSIGNAL);
		closed = (n < 0 && errno != EAGAIN) || fd_closed(fd, 10);
	}
	close(fd);
	cr_assert(closed, "the ROUTER kept a peer that announced 8 GiB");
	cr_assert_lt(narad_rss_kib(&h), before + 32 * 1024);
	cr_assert(narad_alive(&h), "see %s", h.log);
}

/* The same on the ROUTER (no front): a batch reads at most batch_max of
 * its frames, and the rest are read by the next batches although libzmq
 * signals their arrival only once. */
Test(hostile_router, frames_beyond_a_batch_are_taken_by_the_next)
{
	enum { N = 30 };
	struct tclient c;
	int welcomes = 0;
	Nara__Frame *f;

	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	harness_conf_replace(&h, "[broker]\n", "[broker]\nbatch_max = 4\n");
	harness_start(&h);
	tclient_open(&c, &h, T_GBG, 0);
	for (int i = 0; i < N; i++)
		tclient_hello(&c, T_GBG, 0);
	while (welcomes < N && (f = tclient_expect(&c,
	    NARA__FRAME__KIND_WELCOME, 5000)) != NULL) {
		frame_free(&f);
		welcomes++;
	}
	tclient_close(&c);
	cr_assert_eq(welcomes, N, "%d of %d Hellos answered with batch_max 4; "
	    "see %s", welcomes, N, h.log);
}
