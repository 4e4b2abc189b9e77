/*
 * test_outq.c — narad's post-commit send queue against a real ROUTER with
 * ROUTER_MANDATORY (as the broker sets it): frames reach a connected peer
 * in order and are reported sent; frames to a peer that is not there are
 * reported failed with EHOSTUNREACH (the first) or 0 (not tried after it);
 * the queue owns and frees what it holds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <zmq.h>

#include "outq.h"

struct rig {
	void *ctx, *router, *dealer;
};

static void
rig_open(struct rig *r)
{
	int one = 1;
	char endpoint[64];

	r->ctx = zmq_ctx_new();
	r->router = zmq_socket(r->ctx, ZMQ_ROUTER);
	zmq_setsockopt(r->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	snprintf(endpoint, sizeof(endpoint), "inproc://outq-%p", (void *)r);
	cr_assert_eq(zmq_bind(r->router, endpoint), 0);
	r->dealer = zmq_socket(r->ctx, ZMQ_DEALER);
	zmq_setsockopt(r->dealer, ZMQ_ROUTING_ID, "kommun-1480", 11);
	cr_assert_eq(zmq_connect(r->dealer, endpoint), 0);
	/* The ROUTER learns the peer's id from its first message. */
	zmq_send(r->dealer, "hi", 2, 0);
	char buf[64];
	cr_assert_eq(zmq_recv(r->router, buf, sizeof(buf), 0), 11);
	cr_assert_eq(zmq_recv(r->router, buf, sizeof(buf), 0), 2);
}

static void
rig_close(struct rig *r)
{
	int zero = 0;

	zmq_setsockopt(r->dealer, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(r->router, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_close(r->dealer);
	zmq_close(r->router);
	zmq_ctx_term(r->ctx);
}

static uint8_t *
bytes(const char *s)
{
	uint8_t *p = malloc(strlen(s));

	memcpy(p, s, strlen(s));
	return p;
}

struct flush_log {
	int sent;
	struct {
		char node[80], id[40];
		int err;
	} failed[8];
	int n_failed;
};

static void
on_sent(const struct out_frame *f, void *arg)
{
	struct flush_log *g = arg;

	g->sent++;
}

static void
on_failed(const struct out_frame *f, int err, void *arg)
{
	struct flush_log *g = arg;

	if (g->n_failed < 8) {
		snprintf(g->failed[g->n_failed].node, 80, "%s", f->node);
		snprintf(g->failed[g->n_failed].id, 40, "%s", f->message_id);
		g->failed[g->n_failed++].err = err;
	}
}

Test(outq, frames_reach_the_peer_in_order)
{
	struct rig r;
	struct outq q = { 0 };
	struct flush_log g = { 0 };
	struct outq_fns fns = { on_sent, on_failed, &g, NULL };
	char buf[64];
	int n;

	rig_open(&r);
	for (int i = 0; i < 300; i++) {     /* past the first growth */
		char text[16];
		snprintf(text, sizeof(text), "frame %d", i);
		cr_assert_eq(outq_push(&q, "kommun-1480", 11, OUTQ_OTHER, NULL,
		    bytes(text), strlen(text)), 0);
	}
	cr_expect_eq(q.n, 300);
	cr_expect_eq(outq_flush(&q, r.router, &fns), 300);
	cr_expect_eq(q.n, 0, "flush empties the queue");
	cr_expect_eq(g.sent, 300);
	cr_expect_eq(g.n_failed, 0);
	for (int i = 0; i < 300; i++) {
		char want[16];
		snprintf(want, sizeof(want), "frame %d", i);
		n = zmq_recv(r.dealer, buf, sizeof(buf) - 1, 0);
		cr_assert_eq(n, (int)strlen(want));
		buf[n] = '\0';
		cr_assert_str_eq(buf, want);
	}
	free(q.v);
	rig_close(&r);
}

Test(outq, absent_peer_reported_and_later_frames_not_tried)
{
	struct rig r;
	struct outq q = { 0 };
	struct flush_log g = { 0 };
	struct outq_fns fns = { on_sent, on_failed, &g, NULL };
	char buf[64];

	rig_open(&r);
	outq_push(&q, "kommun-1490", 11, OUTQ_DELIVERY, "m1", bytes("a"), 1);
	outq_push(&q, "kommun-1480", 11, OUTQ_ACCEPTED, "m3", bytes("c"), 1);
	outq_push(&q, "kommun-1490", 11, OUTQ_DELIVERY, "m2", bytes("b"), 1);
	cr_expect_eq(outq_flush(&q, r.router, &fns), 1);
	cr_expect_eq(g.sent, 1);
	cr_assert_eq(g.n_failed, 2);
	cr_expect_str_eq(g.failed[0].id, "m1");
	cr_expect_eq(g.failed[0].err, EHOSTUNREACH);
	/* never a later frame to a peer after an earlier one failed */
	cr_expect_str_eq(g.failed[1].id, "m2");
	cr_expect_eq(g.failed[1].err, 0);
	cr_expect_eq(zmq_recv(r.dealer, buf, sizeof(buf), 0), 1);
	cr_expect_eq(buf[0], 'c');
	free(q.v);
	rig_close(&r);
}

Test(outq, clear_frees_and_keeps_message_ids)
{
	struct outq q = { 0 };

	outq_push(&q, "kommun-1480", 11, OUTQ_ACCEPTED,
	    "9d0b5c63-f1e8-4a27-b6d4-08a2e7c91f35", bytes("x"), 1);
	cr_expect_str_eq(q.v[0].message_id,
	    "9d0b5c63-f1e8-4a27-b6d4-08a2e7c91f35");
	cr_expect_eq(q.v[0].kind, OUTQ_ACCEPTED);
	cr_expect_str_eq(q.v[0].node, "kommun-1480");
	outq_clear(&q);
	cr_expect_eq(q.n, 0);
	free(q.v);
}
