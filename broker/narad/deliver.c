/*
 * deliver.c — sending queued messages and receipts to connected nodes within
 * their credit window, redelivery after an ack timeout, and expiry.
 *
 * A delivery pass runs for "dirty" sessions only: a node that said hello,
 * acked, gave credit, or got new mail in this batch. Every second the tick
 * marks all connected sessions dirty so nothing waits on a missed wake-up.
 */
#include "broker_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

#define PAGE_MAX 256


void
broker_mark_node_dirty(struct broker *b, const char *node)
{
	if (node != NULL && node[0] != '\0')
		broker_mark_dirty(b, session_find(&b->sessions, node));
}

struct deliver_pass {
	struct broker *b;
	struct session *s;
	int64_t deadline;
	int n;
	int want;                  /* the page size of the pass */
	int rcpts;                 /* receipts the pass took */
};

/* The dirty list and the delivery pass's buffers grow together, so a
 * pass never allocates. */
static int
dirty_grow(struct broker *b)
{
	size_t cap = b->cap_dirty ? b->cap_dirty * 2 : 64;
	struct session **v = reallocarray(b->dirty, cap, sizeof(*v));
	struct store_load *l;
	struct deliver_pass *p;

	if (v == NULL)
		return -1;
	b->dirty = v;
	if ((l = reallocarray(b->loads, cap, sizeof(*l))) == NULL)
		return -1;
	b->loads = l;
	if ((p = reallocarray(b->passes, cap, sizeof(*p))) == NULL)
		return -1;
	b->passes = p;
	b->cap_dirty = cap;
	return 0;
}

void
broker_mark_dirty(struct broker *b, struct session *s)
{
	if (s == NULL || s->dirty || !s->connected)
		return;
	if (b->n_dirty == b->cap_dirty && dirty_grow(b) != 0)
		return;   /* the tick will find it */
	s->dirty = true;
	b->dirty[b->n_dirty++] = s;
}

/* A delivery pass over s, pages of at most want. */
static struct deliver_pass
pass_of(struct broker *b, struct session *s, int want)
{
	return (struct deliver_pass){ .b = b, .s = s, .want = want,
	    .deadline = b->batch_now_ms +
	    (int64_t)b->cfg->broker.ack_timeout * 1000 };
}

static int
page_of(uint32_t credit)
{
	return credit > PAGE_MAX ? PAGE_MAX : (int)credit;
}

static int
on_queued(void *arg, const struct store_msg *m)
{
	struct deliver_pass *p = arg;
	int attempt = m->attempts + 1;
	size_t len;
	uint8_t *data;

	/* receipts first: a full page of them may have more behind it, and
	 * the credit they leave is all messages get */
	if (p->rcpts >= p->want || session_credit(p->s) == 0)
		return 1;
	data = frame_wrap(NARA__FRAME__KIND_DELIVER, true, m->payload,
	    m->payload_len, (unsigned)attempt, &len);
	p->s->msg_cursor = m->seq;
	if (data == NULL)
		return -1;
	if (outq_push(&p->b->out, p->s->node, strlen(p->s->node), OUTQ_DELIVERY,
	    m->message_id, data, len) != 0)
		return -1;
	/* Audited (and counted as an attempt) once it was handed to the
	 * node's connection: lifecycle.c. */
	p->b->out.v[p->b->out.n - 1].ref = m->seq;
	p->b->out.v[p->b->out.n - 1].attempt = attempt;
	if (session_inflight_add(p->s, m->message_id, false, p->deadline,
	    m->sender_node) != 0)
		return -1;
	p->n++;
	return 0;
}

static int
on_receipt(void *arg, const struct store_receipt *r)
{
	struct deliver_pass *p = arg;
	size_t len;
	uint8_t *data = frame_wrap(NARA__FRAME__KIND_RECEIPT, false, r->encoded,
	    r->encoded_len, 0, &len);

	p->s->rcpt_cursor = r->id;
	if (data == NULL)
		return -1;
	if (outq_push(&p->b->out, p->s->node, strlen(p->s->node), OUTQ_RECEIPT,
	    r->message_id, data, len) != 0)
		return -1;
	p->b->out.v[p->b->out.n - 1].ref = r->id;
	if (session_inflight_add(p->s, r->message_id, true, p->deadline, NULL) != 0)
		return -1;
	p->n++;
	p->rcpts++;
	return 0;
}

/* Fill the node's credit: receipts first (small, and senders wait for
 * them), then its queue in order. */
static void
deliver_session(struct broker *b, struct session *s)
{
	struct deliver_pass p = pass_of(b, s, 0);
	uint32_t credit;
	int want, got;

	while ((credit = session_credit(s)) > 0) {
		want = page_of(credit);
		p.n = 0;
		got = store_receipts_load(b->store, s->node, s->rcpt_cursor,
		    want, on_receipt, &p);
		if (got < 0)
			break;
		if (got == want)
			continue;   /* there may be more receipts */
		credit = session_credit(s);
		if (credit == 0)
			break;
		want = page_of(credit);
		p.want = want;
		p.rcpts = 0;
		got = store_queue_load(b->store, s->node, s->msg_cursor, want,
		    on_queued, &p);
		if (got < want)
			break;
	}
}

/* The first page of every dirty session in one store_loads call (one
 * round trip on PostgreSQL instead of two per session); a session whose
 * page came back full goes on in deliver_session, which reads on from
 * the cursors the first page moved. */
void
broker_deliver_dirty(struct broker *b)
{
	struct store_load *v = b->loads;
	struct deliver_pass *pv = b->passes;
	size_t n = 0;

	for (size_t i = 0; i < b->n_dirty; i++) {
		struct session *s = b->dirty[i];
		uint32_t credit = session_credit(s);

		s->dirty = false;
		if (!s->connected || credit == 0)
			continue;
		pv[n] = pass_of(b, s, page_of(credit));
		v[n] = (struct store_load){ .node = s->node,
		    .rcpt_after = s->rcpt_cursor, .msg_after = s->msg_cursor,
		    .limit = pv[n].want, .rfn = on_receipt, .mfn = on_queued,
		    .arg = &pv[n] };
		n++;
	}
	b->n_dirty = 0;
	/* a failed load broke the batch: nothing of it is sent */
	if (n > 0 && store_loads(b->store, v, n) == 0)
		for (size_t i = 0; i < n; i++)
			if (v[i].rcpts == v[i].limit || v[i].msgs == v[i].limit)
				deliver_session(b, pv[i].s);
}

struct expiry {
	struct broker *b;
	int n;
};

static int
on_expired(void *arg, const struct store_msg *m)
{
	struct expiry *e = arg;
	struct broker *b = e->b;

	if (store_dead_letter(b->store, m->message_id,
	    nara_code_id(NR_EXPIRED_UNDELIVERED), "expired before delivery",
	    true, "", b->batch_now_ms / 1000) == 0) {
		b->stats.expired++;
		broker_mark_node_dirty(b, m->sender_node);
		log_info("message %s to %s expired undelivered", m->message_id,
		    m->recipient);
	}
	e->n++;
	return 0;
}

/* Once a second: redeliver what waited too long for an ack, dead-letter
 * expired messages, and give every connected node a delivery pass. */
void
broker_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct expiry e = { b, 0 };
	struct nara_err err = { 0 };

	broker_batch_begin(b);
	for (size_t i = 0; i < b->sessions.n; i++) {
		struct session *s = &b->sessions.v[i];
		if (!s->connected)
			continue;
		if (session_overdue(s, b->batch_now_ms)) {
			log_warn("node %s: no ack within %llus; redelivering",
			    s->node, (unsigned long long)b->cfg->broker.ack_timeout);
			session_reset(s);
		}
		broker_mark_dirty(b, s);
	}
	store_expired_load(b->store, b->batch_now_ms / 1000, 1000, on_expired, &e);
	/* Vacuum step, signed chain head, retention prune: the store decides
	 * what is due. */
	if (store_maintain(b->store, b->batch_now_ms / 1000, &err) != 0 &&
	    strcmp(err.path, STORE_DAMAGED) == 0 && !b->damaged) {
		log_error("%s %s; stopping: restore the store from a backup",
		    nara_code_id(err.code), err.text);
		b->damaged = true;
		event_base_loopbreak(b->base);
	}
	broker_deliver_dirty(b);
	broker_batch_end(b);
}
