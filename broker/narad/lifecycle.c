/*
 * lifecycle.c — what narad learns about node connections after the fact:
 * the TLS front reports connections that start and end, a send finds a
 * peer gone or not reading, and a frame handed to a connection becomes
 * its "delivered" or "receipt_sent" audit row.
 *
 * Audit rows about sends and ends of connections describe something that
 * happened after a batch committed, so they wait in b->post and are written
 * at the start of the next batch, before anything that batch reads (so a
 * delivery's row always precedes its ack's), each with the time of its
 * send. When no batch follows within POST_DELAY_MS one is run for them
 * alone. Under load a batch follows within milliseconds; at 5 ms the
 * scheduling gaps of a busy machine ran a batch and an fsync of its own
 * about once every 15 messages (bench_e2e: 1,562 fdatasync calls per
 * 20,000 messages, 811 at 100 ms).
 */
#include "broker_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "log.h"
#include "store.h"
#include "utf8.h"

#define POST_DELAY_MS 100

static void
post_arm(struct broker *b)
{
	struct timeval tv = { POST_DELAY_MS / 1000,
	    POST_DELAY_MS % 1000 * 1000 };

	if (b->post_ev == NULL || evtimer_pending(b->post_ev, NULL))
		return;
	b->post_armed_at = b->batches;
	evtimer_add(b->post_ev, &tv);
}

static void
post_push(struct broker *b, enum post_kind kind, const char *node,
    int64_t ref, int attempt, enum nara_code code, const char *detail,
    int64_t when)
{
	struct post_row *r;

	if (b->n_post == b->cap_post) {
		size_t cap = b->cap_post ? b->cap_post * 2 : 64;
		struct post_row *v = reallocarray(b->post, cap, sizeof(*v));
		if (v == NULL) {
			log_error("audit: out of memory; a %s row about %s is "
			    "lost", kind == POST_DISCONNECTED ?
			    "node_disconnected" : "delivery", node);
			return;
		}
		b->post = v;
		b->cap_post = cap;
	}
	r = &b->post[b->n_post++];
	r->kind = kind;
	r->ref = ref;
	r->attempt = attempt;
	r->when = when;
	utf8_copy(r->node, sizeof(r->node), node);
	utf8_copy(r->code, sizeof(r->code), code != NR_OK ?
	    nara_code_id(code) : "");
	utf8_copy(r->detail, sizeof(r->detail), detail);
	post_arm(b);
}

/* Start of a batch whose store transaction is open: the rows first. */
void
broker_post_write(struct broker *b)
{
	for (size_t i = 0; i < b->n_post; i++) {
		const struct post_row *r = &b->post[i];
		switch (r->kind) {
		case POST_DELIVERED:
			store_delivering(b->store, r->ref, r->attempt, r->node,
			    r->when);
			break;
		case POST_RECEIPT_SENT:
			store_receipt_sent(b->store, r->ref, r->when);
			break;
		case POST_DISCONNECTED:
			store_audit_event_coded(b->store, "node_disconnected",
			    r->node, r->code[0] ? r->code : NULL, r->detail[0] ?
			    r->detail : NULL, r->when);
			break;
		}
	}
	b->n_post_written = b->n_post;
}

/* End of the batch: committed rows are done, the others are written again
 * by the next batch (the tick runs one every second). */
void
broker_post_done(struct broker *b, bool committed)
{
	size_t n = b->n_post_written;

	b->n_post_written = 0;
	b->batches++;
	if (n == 0)
		return;
	if (!committed) {
		log_error("audit: %zu rows about deliveries and disconnects not "
		    "committed; they are written again with the next batch", n);
		return;
	}
	memmove(b->post, b->post + n, (b->n_post - n) * sizeof(*b->post));
	b->n_post -= n;
}

static void
on_post(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	if (b->n_post == 0)
		return;
	if (b->batches != b->post_armed_at) {
		post_arm(b);        /* batches run anyway; one takes the rows */
		return;
	}
	broker_batch_begin(b);
	broker_batch_end(b);
}

struct log_ratelimit *
broker_peer_log(struct broker *b, struct session *s)
{
	return s != NULL ? &s->loglim : &b->others_log;
}

void
broker_session_end(struct broker *b, struct session *s, enum nara_code code,
    const char *detail, int64_t when_ms)
{
	if (!s->connected)
		return;
	s->connected = false;
	s->connected_since = 0;
	session_reset(s);
	log_info("node %s disconnected: %s", s->node, detail);
	post_push(b, POST_DISCONNECTED, s->node, 0, 0, code, detail,
	    when_ms / 1000);
}

/* ---------------------------------------------------------------- sends */

static void
on_sent(const struct out_frame *f, void *arg)
{
	struct broker *b = arg;
	int64_t now = broker_now_ms() / 1000;
	struct session *s;

	if (f->kind == OUTQ_DELIVERY) {
		post_push(b, POST_DELIVERED, f->node, f->ref, f->attempt, NR_OK,
		    NULL, now);
		b->stats.delivered++;
		if ((s = session_find(&b->sessions, f->node)) != NULL)
			s->counts.delivered++;
	} else if (f->kind == OUTQ_RECEIPT) {
		post_push(b, POST_RECEIPT_SENT, f->node, f->ref, 0, NR_OK, NULL,
		    now);
		b->stats.receipts_sent++;
	}
}

/* The node's send queue is full: it does not read. Its session ends and
 * the front closes the connection, once per connection. */
static void
not_reading(struct broker *b, struct session *s)
{
	char detail[80];

	if (s->gen != 0 ? s->dropped_gen == s->gen : !s->connected)
		return;
	snprintf(detail, sizeof(detail), "%s: node does not read what it is "
	    "sent", nara_code_id(NR_NOT_READING));
	log_warn("node %s: %s; closing its connection", s->node, detail);
	if (s->connected)
		broker_session_end(b, s, NR_NOT_READING, detail,
		    broker_now_ms());
	else
		post_push(b, POST_DISCONNECTED, s->node, 0, 0, NR_NOT_READING,
		    detail, broker_now_ms() / 1000);
	if (s->gen != 0) {
		s->dropped_gen = s->gen;
		if (s->down_ms == 0)
			s->down_ms = broker_now_ms();
		if (b->drop != NULL)
			b->drop(b->drop_arg, s->node, s->gen);
	}
}

static void
on_send_failed(const struct out_frame *f, int err, void *arg)
{
	struct broker *b = arg;
	struct session *s = session_find(&b->sessions, f->node);

	if (err == 0)
		return;        /* an earlier frame to the peer failed */
	log_limited(broker_peer_log(b, s), LOG_LVL_DEBUG, "send to %s "
	    "dropped: %s", f->node, zmq_strerror(err));
	if (s == NULL)
		return;
	if (err == EAGAIN)
		not_reading(b, s);
	else if (err == EHOSTUNREACH)
		broker_session_end(b, s, NR_OK, "connection gone",
		    broker_now_ms());
}

/* A frame to a node connected through the TLS front speaking ZMTP itself
 * goes to its connection; others to the ROUTER. */
static int
link_send(const struct out_frame *f, void *arg)
{
	struct broker *b = arg;
	struct session *s = session_find(&b->sessions, f->node);

	if (s == NULL || s->link == NULL)
		return -1;
	return b->link.send(b->link.arg, s->link, f->data, f->len);
}

/* After the commit: send what the batch queued. */
void
broker_flush(struct broker *b)
{
	struct outq_fns fns = { on_sent, on_send_failed, b,
	    b->link.send != NULL ? link_send : NULL };

	outq_flush(&b->out, b->router, &fns);
}

/* ---------------------------------------------------------------- front */

/* What the node_disconnected row says of a closed connection: the front's
 * reason, or "connection closed" when it gave none. */
static const char *
down_reason(const struct session *s)
{
	return s->down_reason[0] ? s->down_reason : "connection closed";
}

void
broker_node_up(struct broker *b, const char *node, uint64_t gen, void *link)
{
	struct session *s = session_find(&b->sessions, node);

	if (s == NULL)
		return;
	if (s->connected)
		broker_session_end(b, s, NR_OK, s->down_ms ? down_reason(s) :
		    "a new connection replaced it", s->down_ms ? s->down_ms :
		    broker_now_ms());
	s->gen = gen;
	s->link = link;
	s->down_ms = 0;
	s->down_reason[0] = '\0';
}

void
broker_node_down(struct broker *b, const char *node, uint64_t gen,
    const char *reason)
{
	struct session *s = session_find(&b->sessions, node);
	struct timeval tv = { 0, SESSION_DRAIN_MS * 1000 };

	if (s == NULL)
		return;
	if (gen != s->gen) {
		log_debug("node %s: connection %llu ended after a newer one "
		    "(%llu) started; the session stays", node,
		    (unsigned long long)gen, (unsigned long long)s->gen);
		return;
	}
	s->link = NULL;
	if (s->down_ms == 0)
		s->down_ms = broker_now_ms();
	snprintf(s->down_reason, sizeof(s->down_reason), "%s",
	    reason != NULL ? reason : "");
	if (s->connected && !evtimer_pending(b->drain_ev, NULL))
		evtimer_add(b->drain_ev, &tv);
}

/* Sessions whose connection closed at least SESSION_DRAIN_MS ago end. */
static void
on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct timeval tv = { 0, SESSION_DRAIN_MS * 1000 };
	int64_t now = broker_now_ms();
	bool more = false;

	for (size_t i = 0; i < b->sessions.n; i++) {
		struct session *s = &b->sessions.v[i];
		if (!s->connected || s->down_ms == 0)
			continue;
		if (now - s->down_ms >= SESSION_DRAIN_MS)
			broker_session_end(b, s, NR_OK, down_reason(s),
			    s->down_ms);
		else
			more = true;
	}
	if (more)
		evtimer_add(b->drain_ev, &tv);
}

void
broker_set_drop(struct broker *b, broker_drop_fn fn, void *arg)
{
	b->drop = fn;
	b->drop_arg = arg;
}

int
broker_lifecycle_init(struct broker *b)
{
	b->post_ev = evtimer_new(b->base, on_post, b);
	b->drain_ev = evtimer_new(b->base, on_drain, b);
	return b->post_ev != NULL && b->drain_ev != NULL ? 0 : -1;
}

void
broker_lifecycle_free(struct broker *b)
{
	if (b->post_ev != NULL)
		event_free(b->post_ev);
	if (b->drain_ev != NULL)
		event_free(b->drain_ev);
	b->post_ev = b->drain_ev = NULL;
	free(b->post);
	b->post = NULL;
	b->n_post = b->cap_post = 0;
}
