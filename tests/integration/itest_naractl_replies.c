/*
 * itest_naractl_replies.c — what naractl's replies tell the operator when
 * something goes wrong: a refused reload names each FILE:LINE and why, as
 * narad's log does; an action that gets no reply in time is reported as
 * possibly done (exit 4) with where to look, a query as not answered; and
 * a peer that floods the control socket without reading its replies gets
 * them dropped, with a log line, while narad answers naractl; peers that
 * go away before their status reply (answered off the loop) leave narad
 * serving.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <zmq.h>

#include "harness.h"
#include "ops_helpers.h"

TestSuite(naractl_replies, .timeout = 180);

/* Lines of the file at path. */
static int
file_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, ch;

	cr_assert_not_null(f, "%s", path);
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* A reload refused for a bad line says at the terminal which line of which
 * file and why, in the loader's words (the same line narad logs); --json
 * carries them in "problems". */
Test(naractl_replies, refused_reload_names_file_line_and_reason)
{
	char out[4096], err[4096], want[600];
	int line;
	FILE *f;

	ops_start(NULL);
	line = file_lines(ops_h.conf) + 3;          /* blank, header, kind */
	cr_assert_not_null(f = fopen(ops_h.conf, "a"));
	fprintf(f, "\n[node broken]\nkind = planet\n");
	fclose(f);
	snprintf(want, sizeof(want), "%s:%d: [node broken] kind: \"planet\" is "
	    "not one of municipality, region", ops_h.conf, line);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 10 reload"),
	    1, "%s", out);
	cr_expect(strstr(err, "NR070") != NULL, "%s", err);
	cr_expect(strstr(err, want) != NULL, "no \"%s\" in:\n%s", want, err);
	/* at the start of its own line, as compilers write it */
	snprintf(want, sizeof(want), "\n%s:%d: ", ops_h.conf, line);
	cr_expect(strstr(err, want) != NULL, "%s", err);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err),
	    "--json -t 10 reload"), 1);
	json_t *j = json_loads(out, 0, NULL), *p;
	size_t i;
	bool found = false;
	cr_assert_not_null(j, "%s", out);
	cr_expect_str_eq(json_string_value(json_object_get(j, "code")), "NR070");
	cr_assert(json_is_array(json_object_get(j, "problems")), "%s", out);
	snprintf(want, sizeof(want), "%s:%d: [node broken] kind: \"planet\" is "
	    "not one of municipality, region", ops_h.conf, line);
	json_array_foreach(json_object_get(j, "problems"), i, p) {
		cr_expect(strncmp(json_string_value(p), ops_h.conf,
		    strlen(ops_h.conf)) == 0, "%s", json_string_value(p));
		found |= strcmp(json_string_value(p), want) == 0;
		/* each one is what narad logged for the same reload */
		cr_expect_geq(harness_log_count(&ops_h, json_string_value(p)), 1,
		    "%s not in narad's log", json_string_value(p));
	}
	cr_expect(found, "%s", out);
	json_decref(j);
	cr_expect_eq(ops_ctl(out, sizeof(out), NULL, 0, "status"), 0);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* A control socket that takes requests and never answers: narad stuck
 * after it read the request, or before its reply left. */
struct mute {
	void *ctx, *router;
	char ep[128];
};

static void
mute_open(struct mute *m)
{
	int linger = 0;

	snprintf(m->ep, sizeof(m->ep), "ipc:///tmp/nara-mute-%d.sock",
	    (int)getpid());
	m->ctx = zmq_ctx_new();
	cr_assert_not_null(m->router = zmq_socket(m->ctx, ZMQ_ROUTER));
	zmq_setsockopt(m->router, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_bind(m->router, m->ep), 0);
}

static void
mute_close(struct mute *m)
{
	zmq_close(m->router);
	zmq_ctx_term(m->ctx);
	unlink(m->ep + 6);
}

/* Requests the mute socket has taken in, read and counted. */
static int
mute_taken(struct mute *m)
{
	zmq_msg_t msg;
	int n = 0;

	zmq_msg_init(&msg);
	while (zmq_msg_recv(&msg, m->router, ZMQ_DONTWAIT) >= 0)
		n += !zmq_msg_more(&msg);
	zmq_msg_close(&msg);
	return n;
}

/* naractl --socket at the mute socket, 1 s timeout: exit status, its
 * output (only stderr, when nothing is answered) into err. */
static int
ctl_mute(struct mute *m, char *err, size_t len, const char *args)
{
	char bin[300];

	return harness_run(err, len, "%s --socket %s -t 1 %s",
	    harness_bin("naractl", bin, sizeof(bin)), m->ep, args);
}

/* An action sent but not answered may have been carried out: naractl says
 * the outcome is unknown, how to find it out, and exits 4; a query that
 * is not answered keeps "not answering" and exit 1. */
Test(naractl_replies, unanswered_action_outcome_unknown)
{
	const char *id = "6f1c2a4e-8b1d-4c5e-9f3a-2b7d8e9c0a11";
	char err[2048], args[128];
	struct mute m;

	mute_open(&m);
	cr_expect_eq(ctl_mute(&m, err, sizeof(err), "reload"), 4, "%s", err);
	cr_expect(strstr(err, "the reload was sent and may have been carried "
	    "out; its outcome is unknown") != NULL, "%s", err);
	cr_expect(strstr(err, "nara-audit query --event config_reloaded") !=
	    NULL, "%s", err);
	cr_expect(strstr(err, "not answering") == NULL, "%s", err);
	cr_expect_eq(mute_taken(&m), 1, "the reload did not reach the socket");
	snprintf(args, sizeof(args), "retry %s", id);
	cr_expect_eq(ctl_mute(&m, err, sizeof(err), args), 4, "%s", err);
	snprintf(args, sizeof(args), "naractl show %s", id);
	cr_expect(strstr(err, "outcome is unknown") && strstr(err, args), "%s",
	    err);
	cr_expect_eq(ctl_mute(&m, err, sizeof(err), "retry --node " T_BUP
	    " --all"), 4, "%s", err);
	cr_expect(strstr(err, "outcome is unknown") && strstr(err, "naractl dead "
	    T_BUP), "%s", err);
	cr_expect_eq(ctl_mute(&m, err, sizeof(err), "step-down"), 4, "%s", err);
	cr_expect(strstr(err, "outcome is unknown") && strstr(err,
	    "naractl status"), "%s", err);
	cr_expect_eq(mute_taken(&m), 3);
	/* queries: nothing can have happened */
	cr_expect_eq(ctl_mute(&m, err, sizeof(err), "status"), 1, "%s", err);
	cr_expect(strstr(err, "narad is not answering") != NULL, "%s", err);
	cr_expect(strstr(err, "outcome") == NULL, "%s", err);
	cr_expect_eq(ctl_mute(&m, err, sizeof(err), "dead"), 1, "%s", err);
	cr_expect(strstr(err, "narad is not answering") != NULL, "%s", err);
	mute_close(&m);
}

/* A DEALER that sends requests and never reads: its replies fill the
 * kernel's buffer, then narad's queue for it. */
struct deaf {
	void *ctx, *s;
};

static void
deaf_flood(struct deaf *d, int requests)
{
	const char *req = "{\"command\": \"status\"}";
	char ep[400];
	int one = 1, unbounded = 0, linger = 0;

	snprintf(ep, sizeof(ep), "ipc://%s/control.sock", ops_h.dir);
	d->ctx = zmq_ctx_new();
	cr_assert_not_null(d->s = zmq_socket(d->ctx, ZMQ_DEALER));
	zmq_setsockopt(d->s, ZMQ_RCVHWM, &one, sizeof(one));
	zmq_setsockopt(d->s, ZMQ_SNDHWM, &unbounded, sizeof(unbounded));
	zmq_setsockopt(d->s, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_connect(d->s, ep), 0);
	for (int k = 0; k < requests; k++) {
		cr_assert(zmq_send(d->s, "", 0, ZMQ_SNDMORE) == 0);
		cr_assert(zmq_send(d->s, req, strlen(req), 0) ==
		    (int)strlen(req));
	}
}

/* Replies narad could not queue for a peer that does not read them are
 * dropped with a log line (the queue stays at its 16), never waited for:
 * naractl on the same socket is answered meanwhile. */
Test(naractl_replies, never_reading_peer_gets_replies_dropped)
{
	char out[4096], err[2048];
	struct deaf d;

	ops_start(NULL);
	deaf_flood(&d, 2000);
	cr_assert(harness_wait_log(&ops_h, "dropped: the peer does not read "
	    "its replies (queue full)", 1, 60000), "no reply dropped for the "
	    "peer that does not read");
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 5 status"),
	    0, "%s", err);
	zmq_close(d.s);
	zmq_ctx_term(d.ctx);
	/* and still once the peer has gone */
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 5 status"),
	    0, "%s", err);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* Status and nodes are answered when the store's counts are read, off
 * narad's loop: peers that ask and go away before that get nothing, and
 * narad goes on answering and stops cleanly. */
Test(naractl_replies, peers_gone_before_their_status_reply)
{
	char out[4096], err[2048], ep[400];
	int linger = 0;
	void *ctx = zmq_ctx_new();

	ops_start(NULL);
	snprintf(ep, sizeof(ep), "ipc://%s/control.sock", ops_h.dir);
	for (int i = 0; i < 40; i++) {
		const char *req = i % 2 ? "{\"command\": \"nodes\"}" :
		    "{\"command\": \"status\"}";
		void *s = zmq_socket(ctx, ZMQ_REQ);

		cr_assert_not_null(s);
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
		cr_assert_eq(zmq_connect(s, ep), 0);
		cr_assert(zmq_send(s, req, strlen(req), 0) == (int)strlen(req));
		zmq_close(s);
	}
	zmq_ctx_term(ctx);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 5 status"),
	    0, "%s", err);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 5 nodes"),
	    0, "%s", err);
	cr_expect_eq(harness_stop(&ops_h, SIGTERM), 0, "narad did not stop "
	    "cleanly");
	harness_cleanup(&ops_h);
}
