/*
 * itest_naractl_socket.c — naractl and narad's control socket: naractl
 * when narad is down (exit 3, a stale socket file), the sockets' modes and
 * the read-only socket, another user told at once, a typo elsewhere in the
 * file, malformed requests refused with their codes and logged with their
 * peer, an oversized request dropped unbuffered and pipelined requests
 * that do not hold the loop. The commands' outputs are in itest_naractl.c.
 */
#include <fcntl.h>
#include <signal.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <zmq.h>

#include "harness.h"
#include "hostile_helpers.h"
#include "ops_helpers.h"

TestSuite(naractl, .timeout = 180);

Test(naractl, narad_down)
{
	char out[2048], err[1024], sock[400];
	int fd;

	ops_start(NULL);
	harness_stop(&ops_h, SIGTERM);
	/* socket file removed at a clean stop */
	cr_expect_eq(ops_check(out, sizeof(out), ""), 3, "%s", out);
	cr_expect(strncmp(out, "NARA UNKNOWN - ", 15) == 0, "%s", out);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "status"), 1);
	cr_expect(strstr(err, "narad is not running") != NULL, "%s", err);
	/* a stale socket file (killed narad): a timeout, not a hang */
	snprintf(sock, sizeof(sock), "%s/control.sock", ops_h.dir);
	fd = open(sock, O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	close(fd);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 1 status"), 1);
	cr_expect(strstr(err, "not answering") || strstr(err, "cannot reach"),
	    "%s", err);
	cr_expect_eq(ops_check(out, sizeof(out), "-t 1"), 3, "%s", out);
	harness_cleanup(&ops_h);
}

static bool
file_exists(void *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

Test(naractl, read_only_socket_and_modes)
{
	char out[2048], err[1024], path[400], extra[512];
	struct stat st;

	snprintf(extra, sizeof(extra), "control_readonly = ipc:///tmp/"
	    "nara-ro-%d.sock\n", (int)getpid());
	ops_start(extra);
	snprintf(path, sizeof(path), "%s/control.sock", ops_h.dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0660);
	snprintf(path, sizeof(path), "/tmp/nara-ro-%d.sock", (int)getpid());
	/* narad binds the read-only socket after the main one */
	cr_assert(harness_wait(file_exists, path, 10000), "no %s", path);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0666);
	char bin[300];
	cr_expect_eq(harness_run(out, sizeof(out), "%s --socket ipc://%s status",
	    harness_bin("naractl", bin, sizeof(bin)), path), 0, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s --socket ipc://%s reload",
	    harness_bin("naractl", bin, sizeof(bin)), path), 1, "%s", out);
	cr_expect(strstr(out, "NR060") && strstr(out, "read-only"), "%s", out);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'control_reload'"), 0);
	/* -c: a user who cannot write the control socket falls back to the
	 * read-only one for read-only commands (root can; just run it) */
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "status"), 0, "%s",
	    err);
	harness_stop(&ops_h, SIGTERM);
	cr_expect_neq(stat(path, &st), 0, "socket file left behind");
	harness_cleanup(&ops_h);
}

/* naractl reads only [broker] control: a typo elsewhere, which narad -n
 * reports, must not lock the operators out. */
Test(naractl, typo_elsewhere_in_the_file)
{
	char out[4096], err[2048];
	FILE *f;

	ops_start(NULL);
	f = fopen(ops_h.conf, "a");
	cr_assert_not_null(f);
	fputs("\n[node kommun-1499]\nname = Typo\naddreses = kommun:1499:x\n", f);
	fclose(f);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "status"), 0,
	    "%s", err);
	cr_expect(strstr(out, "0 of 4 connected") != NULL, "%s", out);
	cr_expect_eq(ops_check(out, sizeof(out), "--disconnected-warn 0"), 0,
	    "%s", out);
	cr_expect(strncmp(out, "NARA OK - ", 10) == 0, "%s", out);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* Another user on a running narad's socket: told at once, not "not
 * running", and not after the timeout. */
Test(naractl, permission_denied_at_once)
{
	char out[4096], bin[300];
	int64_t t0;
	int rc;

	ops_start(NULL);
	harness_bin("naractl", bin, sizeof(bin));
	t0 = harness_ms_now();
	rc = harness_run(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
	    "--clear-groups %s --socket ipc://%s/control.sock status", bin,
	    ops_h.dir);
	cr_expect_eq(rc, 1, "%s", out);
	cr_expect(strstr(out, "permission denied on ") != NULL, "%s", out);
	cr_expect(strstr(out, "not running") == NULL, "%s", out);
	cr_expect_lt(harness_ms_now() - t0, 2000, "took the timeout: %s", out);
	rc = harness_run(out, sizeof(out), "setpriv --reuid=65534 --regid=65534 "
	    "--clear-groups %s --socket ipc://%s/control.sock check", bin,
	    ops_h.dir);
	cr_expect_eq(rc, 3, "%s", out);
	cr_expect(strstr(out, "NARA UNKNOWN - ") != NULL, "%s", out);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* One raw request on the control socket at ep (NULL: the operators'
 * socket); the reply as JSON. */
static json_t *
raw_request(const char *ep, const void *data, size_t len, bool two_parts)
{
	char main_ep[400];
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_REQ);
	int timeout = 10000, linger = 0;
	zmq_msg_t msg;
	json_t *j;

	snprintf(main_ep, sizeof(main_ep), "ipc://%s/control.sock", ops_h.dir);
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_connect(s, ep != NULL ? ep : main_ep), 0);
	if (two_parts)
		cr_assert(zmq_send(s, "{}", 2, ZMQ_SNDMORE) == 2);
	cr_assert(zmq_send(s, data, len, 0) == (int)len);
	zmq_msg_init(&msg);
	cr_assert(zmq_msg_recv(&msg, s, 0) >= 0, "no reply from narad");
	j = json_loadb(zmq_msg_data(&msg), zmq_msg_size(&msg), 0, NULL);
	cr_assert(j != NULL, "reply is not JSON");
	zmq_msg_close(&msg);
	zmq_close(s);
	zmq_ctx_term(ctx);
	return j;
}

static void
expect_refusal(const char *req, const char *code, const char *text)
{
	json_t *j = raw_request(NULL, req, strlen(req), false);

	ops_expect_fields(j, "ok:b code:s error:s");
	cr_expect(json_is_false(json_object_get(j, "ok")), "%s accepted", req);
	cr_expect_str_eq(json_string_value(json_object_get(j, "code")), code,
	    "request %s", req);
	cr_expect(strstr(json_string_value(json_object_get(j, "error")), text),
	    "%s: %s", req, json_string_value(json_object_get(j, "error")));
	json_decref(j);
}

Test(naractl, control_protocol_errors)
{
	char want[256];
	json_t *j;

	ops_start(NULL);
	expect_refusal("{not json", "NR024", "not a JSON object");
	expect_refusal("[1, 2]", "NR024", "not a JSON object");
	expect_refusal("{\"command\": \"drop_all\"}", "NR072",
	    "unknown command \"drop_all\"");
	expect_refusal("{\"verb\": \"status\"}", "NR072", "unknown command");
	expect_refusal("{\"command\": \"queue\"}", "NR072", "address missing");
	expect_refusal("{\"command\": \"queue\", \"address\": \"x\", \"limit\": 0}",
	    "NR019", "limit must be 1..1000");
	expect_refusal("{\"command\": \"show\"}", "NR072", "message_id missing");
	expect_refusal("{\"command\": \"retry\", \"message_id\": \"x\"}",
	    "NR011", "is not a UUID");
	expect_refusal("{\"command\": \"status\", \"command\": \"nodes\"}",
	    "NR024", "duplicate");
	j = raw_request(NULL, "{\"command\": \"status\"}", 21, true);
	cr_expect_str_eq(json_string_value(json_object_get(j, "code")), "NR024");
	json_decref(j);
	/* a newline in the command cannot forge a line of narad's log: it
	 * stays in the refusal's line, escaped */
	expect_refusal("{\"command\": \"x\\nnarad[1]: info: control: retry "
	    "requested on ipc://c.sock by alice\"}", "NR072", "unknown command");
	snprintf(want, sizeof(want), "control: refused x\\nnarad[1]: info: "
	    "control: retry requested on ipc://c.sock by alice by %s (uid %u, "
	    "pid %d) on ipc://", getpwuid(getuid())->pw_name,
	    (unsigned)getuid(), (int)getpid());
	cr_expect_eq(harness_log_count(&ops_h, want), 1, "no line %s", want);
	/* every refusal is logged with its peer, and narad still answers */
	cr_expect_eq(harness_log_count(&ops_h, "control: refused"), 11);
	snprintf(want, sizeof(want), "by %s (uid %u, pid %d) on ipc://",
	    getpwuid(getuid())->pw_name, (unsigned)getuid(), (int)getpid());
	cr_expect_eq(harness_log_count(&ops_h, want), 11);
	j = raw_request(NULL, "{\"command\": \"status\"}", 21, false);
	cr_expect(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* narad with a read-only socket too; its endpoint into ep. */
static void
start_with_read_only(char *ep, size_t len)
{
	char extra[512];

	snprintf(ep, len, "ipc:///tmp/nara-ro-%d.sock", (int)getpid());
	snprintf(extra, sizeof(extra), "control_readonly = %s\n", ep);
	ops_start(extra);
	/* narad binds the read-only socket after the main one */
	cr_assert(harness_wait(file_exists, ep + 6, 10000), "no %s", ep);
}

/* One request of len bytes, sent whole (the context ends once libzmq has
 * written it out or lost its connection), without waiting for a reply. */
static void
send_unanswered(const char *ep, const void *data, size_t len)
{
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_REQ);
	int linger = 20000;

	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_connect(s, ep), 0);
	cr_assert(zmq_send(s, data, len, 0) == (int)len);
	zmq_close(s);
	zmq_ctx_term(ctx);
}

/* Any local user may use the read-only socket: a request over the 4096
 * bytes of the protocol is dropped at its header, so narad never holds
 * it, and the next request is answered. One of exactly 4096 is served. */
Test(naractl, oversized_request_not_buffered)
{
	size_t big = 16u << 20;
	char ep[128], out[4096], bin[300], *buf;
	long before;
	json_t *j;

	start_with_read_only(ep, sizeof(ep));
	harness_bin("naractl", bin, sizeof(bin));
	cr_assert_eq(harness_run(out, sizeof(out), "%s --socket %s status", bin,
	    ep), 0, "%s", out);
	before = narad_status_kib(&ops_h, "VmHWM");
	cr_assert_geq(before, 0);
	cr_assert_not_null(buf = malloc(big));
	memset(buf, ' ', big);
	memcpy(buf, "{\"command\": \"status\"}", 21);
	send_unanswered(ep, buf, big);
	j = raw_request(ep, buf, 4096, false);
	cr_expect(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	free(buf);
	cr_expect_lt(narad_status_kib(&ops_h, "VmHWM") - before, (long)(big / 1024 / 4),
	    "narad buffered the oversized request");
	cr_expect_eq(harness_run(out, sizeof(out), "%s --socket %s status", bin,
	    ep), 0, "%s", out);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* DEALERs on the read-only socket, each with requests pipelined: several,
 * so that narad always has one of them waiting whatever it reads ahead
 * per connection. */
#define FLOOD_PEERS 32
struct flood {
	void *ctx, *s[FLOOD_PEERS];
	int sent, answered;
};

static void
flood_start(struct flood *fl, const char *ep, int per_peer)
{
	const char *req = "{\"command\": \"status\"}";
	int unbounded = 0, linger = 0;

	fl->ctx = zmq_ctx_new();
	fl->sent = fl->answered = 0;
	for (int i = 0; i < FLOOD_PEERS; i++) {
		cr_assert_not_null(fl->s[i] = zmq_socket(fl->ctx, ZMQ_DEALER));
		/* every request goes out, every reply is taken in, unread */
		zmq_setsockopt(fl->s[i], ZMQ_SNDHWM, &unbounded, sizeof(int));
		zmq_setsockopt(fl->s[i], ZMQ_RCVHWM, &unbounded, sizeof(int));
		zmq_setsockopt(fl->s[i], ZMQ_LINGER, &linger, sizeof(int));
		cr_assert_eq(zmq_connect(fl->s[i], ep), 0);
	}
	for (int k = 0; k < per_peer; k++) {
		for (int i = 0; i < FLOOD_PEERS; i++, fl->sent++) {
			cr_assert(zmq_send(fl->s[i], "", 0, ZMQ_SNDMORE) == 0);
			cr_assert(zmq_send(fl->s[i], req, strlen(req), 0) ==
			    (int)strlen(req));
		}
	}
}

/* Count the replies arrived so far; true once there is at least one. */
static bool
flood_answered(void *arg)
{
	struct flood *fl = arg;
	zmq_msg_t msg;

	zmq_msg_init(&msg);
	for (int i = 0; i < FLOOD_PEERS; i++)
		while (zmq_msg_recv(&msg, fl->s[i], ZMQ_DONTWAIT) >= 0)
			if (!zmq_msg_more(&msg))
				fl->answered++;
	zmq_msg_close(&msg);
	return fl->answered > 0;
}

static void
flood_stop(struct flood *fl)
{
	for (int i = 0; i < FLOOD_PEERS; i++)
		zmq_close(fl->s[i]);
	zmq_ctx_term(fl->ctx);
}

/* Requests pipelined on the read-only socket are served a few at a time:
 * an operator's naractl on the other socket is answered while the flood is
 * still being served, not after it. */
Test(naractl, pipelined_requests_do_not_hold_the_loop)
{
	struct flood fl;
	char ep[128], out[4096], err[1024];

	start_with_read_only(ep, sizeof(ep));
	flood_start(&fl, ep, 1000);
	cr_assert(harness_wait(flood_answered, &fl, 20000), "flood not served");
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 30 status"),
	    0, "%s", err);
	(void)flood_answered(&fl);
	cr_expect_lt(fl.answered, fl.sent, "naractl answered only after all %d "
	    "pipelined requests", fl.sent);
	flood_stop(&fl);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}
