/*
 * test_control.c — narad's control socket: the operator named in audit
 * rows comes from the kernel's peer credentials and nothing else, and
 * requests pipelined by its peers are answered a few per turn of the event
 * loop; status and nodes beyond the waiting limit are refused.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <zmq.h>

#include "control.h"
#include "control_int.h"
#include "harness.h"
#include "log.h"

Test(control, operator_from_ipc_peer_credentials)
{
	char out[128], want[128];
	struct passwd *pw = getpwuid(0);

	cr_assert(pw != NULL);
	control_operator_name("localhost:0:0:4242", out, sizeof(out));
	snprintf(want, sizeof(want), "%s (uid 0, pid 4242)", pw->pw_name);
	cr_expect_str_eq(out, want);
}

Test(control, operator_uid_without_a_user_name)
{
	char out[128];

	/* no passwd entry for this uid on a test machine */
	control_operator_name("localhost:3999999:3999999:17", out, sizeof(out));
	cr_expect_str_eq(out, "uid 3999999 (pid 17)");
}

Test(control, operator_unknown_for_other_addresses)
{
	char out[128];

	control_operator_name(NULL, out, sizeof(out));
	cr_expect_str_eq(out, "unknown peer");
	control_operator_name("127.0.0.1", out, sizeof(out));
	cr_expect_str_eq(out, "unknown peer");
	control_operator_name("localhost:1:2", out, sizeof(out));
	cr_expect_str_eq(out, "unknown peer");
	control_operator_name(":x:1:2", out, sizeof(out));
	cr_expect_str_eq(out, "unknown peer");
}

#define PIPELINING_PEERS 8
#define PIPELINED 16               /* requests of each peer */

/* Lines of f holding needle. */
static int
lines_with(FILE *f, const char *needle)
{
	char line[1200];
	int n = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	return n;
}

/* A standby's control socket refuses "nodes" without the broker and logs
 * each refusal: the log says how many requests each turn of the loop
 * answered. At most 4 per turn, however many wait; all answered in the
 * end. */
Test(control, a_few_pipelined_requests_per_turn_of_the_loop)
{
	const char *req = "{\"command\": \"nodes\"}";
	struct event_base *base = event_base_new();
	struct ops_view standby = { 0 };
	void *ctx = zmq_ctx_new(), *peer[PIPELINING_PEERS];
	struct control *c;
	int64_t deadline = harness_ms_now() + 20000;
	int done = 0, turn, saved = dup(2), linger = 0;
	FILE *log = tmpfile();
	char ep[128];

	cr_assert(base != NULL && ctx != NULL && log != NULL && saved >= 0);
	snprintf(ep, sizeof(ep), "ipc:///tmp/nara-ctl-unit-%d.sock",
	    (int)getpid());
	log_init("test", LOG_LVL_INFO, false);
	cr_assert(dup2(fileno(log), 2) == 2);
	c = control_new(base, &standby, ep, true, NULL);
	cr_assert_not_null(c);
	for (int i = 0; i < PIPELINING_PEERS; i++) {
		cr_assert_not_null(peer[i] = zmq_socket(ctx, ZMQ_DEALER));
		zmq_setsockopt(peer[i], ZMQ_LINGER, &linger, sizeof(linger));
		cr_assert_eq(zmq_connect(peer[i], ep), 0);
		for (int k = 0; k < PIPELINED; k++) {
			cr_assert(zmq_send(peer[i], "", 0, ZMQ_SNDMORE) == 0);
			cr_assert(zmq_send(peer[i], req, strlen(req), 0) > 0);
		}
	}
	while (done < PIPELINING_PEERS * PIPELINED &&
	    harness_ms_now() < deadline) {
		cr_assert_eq(event_base_loop(base, EVLOOP_ONCE), 0);
		turn = lines_with(log, "control: refused nodes") - done;
		cr_expect_leq(turn, 4, "%d requests answered in one turn of "
		    "the loop", turn);
		done += turn;
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	cr_expect_eq(done, PIPELINING_PEERS * PIPELINED);
	for (int i = 0; i < PIPELINING_PEERS; i++)
		zmq_close(peer[i]);
	control_free(&c);
	zmq_ctx_term(ctx);
	event_base_free(base);
	fclose(log);
}

/* A socket with CONTROL_WAITS_MAX status and nodes requests waiting for
 * the store's counts refuses the next with NR042, saying why; the
 * refusal comes before the broker is asked anything, so this control's
 * broker is a stand-in that is never read. */
Test(control, too_many_waiting_for_the_counts_refused)
{
	static const char *const reqs[] = { "{\"command\": \"status\"}",
	    "{\"command\": \"nodes\"}" };
	struct event_base *base = event_base_new();
	static char stand_in;
	struct ops_view v = { .broker = (struct broker *)&stand_in };
	char ep[128];
	struct control *c;

	snprintf(ep, sizeof(ep), "ipc:///tmp/nara-ctl-waits-%d.sock",
	    (int)getpid());
	cr_assert_not_null(c = control_new(base, &v, ep, true, NULL));
	c->n_waits = CONTROL_WAITS_MAX;
	for (size_t i = 0; i < 2; i++) {
		json_t *r = control_handle(c, reqs[i], strlen(reqs[i]));

		cr_assert_not_null(r, "%s was deferred", reqs[i]);
		cr_expect(json_is_false(json_object_get(r, "ok")));
		cr_expect_str_eq(json_string_value(json_object_get(r, "code")),
		    "NR042");
		cr_expect(strstr(json_string_value(json_object_get(r, "error")),
		    "256 status and nodes requests on this socket already wait")
		    != NULL, "%s", json_string_value(json_object_get(r,
		    "error")));
		json_decref(r);
	}
	c->n_waits = 0;
	control_free(&c);
	event_base_free(base);
}
