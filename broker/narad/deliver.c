/*
 * deliver.c — sending queued messages and receipts to connected nodes within
 * their credit window, redelivery after an ack timeout, and expiry.
 *
 * A delivery pass runs for "dirty" sessions only: a node that said hello,
 * acked, gave credit, or got new mail in this batch. Every second the tick
 * marks all connected sessions dirty so nothing waits on a missed wake-up.
 *
 * The policy is checked again before each delivery: a message accepted
 * before a reload that denies it, moves its recipient address to another
 * node or removes the address, or before its rule's last day, is not
 * delivered but dead-lettered (NR031 or NR032), and its sender gets a
 * FAILED receipt. Queues of nodes no longer configured are found after
 * every start and reload and settled the same way.
 */
#include "broker_int.h"

#include <stdlib.h>
#include <string.h>

#include "counts.h"
#include "log.h"
#include "store.h"

#define PAGE_MAX 256

struct held_back {
	char message_id[MESSAGE_ID_MAX + 1];
	char sender_node[NODE_ID_MAX + 1];
	char recipient_node[NODE_ID_MAX + 1];
	int64_t seq;
	enum nara_code code;
	char text[240];
};


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
	bool stopped;              /* a message was left for later */
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

/* The policy as it stands now for a queued message: NR_OK, or the code
 * and text of why it may not go (the configuration changed, or a rule's
 * last day passed, since it was accepted). */
static enum nara_code
policy_now(const struct broker *b, const struct store_msg *m, char *text,
    size_t len)
{
	const struct config_node *dest = config_route(b->cfg, m->recipient);

	if (dest == NULL) {
		snprintf(text, len, "no node serves %s since the configuration "
		    "changed; not delivered", m->recipient);
		return NR_NO_ROUTE;
	}
	if (strcmp(dest->id, m->recipient_node) != 0) {
		snprintf(text, len, "%s is served by node %s since the "
		    "configuration changed, not by %s; not delivered (send it "
		    "again)", m->recipient, dest->id, m->recipient_node);
		return NR_NO_ROUTE;
	}
	if (config_authorize(b->cfg, m->sender, m->recipient, m->type,
	    b->batch_now_ms / 1000) != NR_OK) {
		snprintf(text, len, "no rule allows %s from %s to %s any longer "
		    "(the policy changed after it was accepted); not delivered",
		    message_type_name(m->type), m->sender, m->recipient);
		return NR_POLICY_DENIED;
	}
	return NR_OK;
}

/* Keep m for dead-lettering after the reads (a read is under way). */
static int
hold_back(struct broker *b, const struct store_msg *m, enum nara_code code,
    const char *text)
{
	struct held_back *h;

	if (b->n_held == b->cap_held) {
		size_t cap = b->cap_held ? b->cap_held * 2 : 16;
		struct held_back *v = reallocarray(b->held, cap, sizeof(*v));

		if (v == NULL)
			return -1;
		b->held = v;
		b->cap_held = cap;
	}
	h = &b->held[b->n_held++];
	snprintf(h->message_id, sizeof(h->message_id), "%s", m->message_id);
	snprintf(h->sender_node, sizeof(h->sender_node), "%s", m->sender_node);
	snprintf(h->recipient_node, sizeof(h->recipient_node), "%s",
	    m->recipient_node);
	h->seq = m->seq;
	h->code = code;
	snprintf(h->text, sizeof(h->text), "%s", text);
	return 0;
}

/* Dead-letter what the reads held back: the sender gets a FAILED receipt
 * with the code, the audit a dead_lettered row with the text. */
static void
settle_held(struct broker *b)
{
	for (size_t i = 0; i < b->n_held; i++) {
		struct held_back *h = &b->held[i];

		/* the cursor passed it: a batch that does not commit (with or
		 * without its dead letter) puts it back */
		broker_queue_took(b, h->recipient_node, h->seq);
		if (store_dead_letter(b->store, h->message_id,
		    nara_code_id(h->code), h->text, false, "",
		    b->batch_now_ms / 1000) != 0)
			continue;   /* the batch failed: read again next time */
		log_warn("message %s not delivered: %s %s", h->message_id,
		    nara_code_id(h->code), h->text);
		broker_mark_node_dirty(b, h->sender_node);
	}
	b->n_held = 0;
}

static int
on_queued(void *arg, const struct store_msg *m)
{
	struct deliver_pass *p = arg;
	int attempt = m->attempts + 1;
	enum nara_code code;
	char why[240];
	size_t len;
	uint8_t *data;

	/* receipts first: a full page of them may have more behind it, and
	 * the credit they leave is all messages get */
	p->stopped = true;   /* until it was taken */
	if (p->rcpts >= p->want || session_credit(p->s) == 0)
		return 1;
	if ((code = policy_now(p->b, m, why, sizeof(why))) != NR_OK) {
		if (hold_back(p->b, m, code, why) != 0)
			return 1;   /* out of memory: not delivered either */
		p->s->msg_cursor = m->seq;
		p->stopped = false;
		return 0;
	}
	/* In flight first: the cursor passes only what is in flight, so
	 * that a reset reads from it again. */
	if (session_inflight_add(p->s, m->message_id, m->seq, false,
	    p->deadline, m->sender_node) != 0)
		return -1;
	p->s->msg_cursor = m->seq;
	data = frame_wrap(NARA__FRAME__KIND_DELIVER, true, m->payload,
	    m->payload_len, (unsigned)attempt, &len);
	if (data == NULL || outq_push(&p->b->out, p->s->node,
	    strlen(p->s->node), OUTQ_DELIVERY, m->message_id, data, len) != 0)
		return -1;   /* out of memory: its ack timeout reads it again */
	/* Audited (and counted as an attempt) once it was handed to the
	 * node's connection: lifecycle.c. */
	p->b->out.v[p->b->out.n - 1].ref = m->seq;
	p->b->out.v[p->b->out.n - 1].attempt = attempt;
	p->n++;
	p->stopped = false;
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
	if (session_inflight_add(p->s, r->message_id, 0, true, p->deadline,
	    NULL) != 0)
		return -1;
	p->n++;
	p->rcpts++;
	return 0;
}

/* A load found every message queued for s: none stored later has a seq
 * at or below the store's highest, so the cursor moves there. From then
 * on narad knows what is queued for s by seq (broker_queue_added) and
 * reads those messages by key, instead of walking the other nodes'
 * messages between them (the SQLite queue index is in seq order for all
 * nodes), until it knows too many or the cursor goes back. */
static void
queue_read_to_end(struct broker *b, struct session *s)
{
	int64_t high = store_seq_high(b->store);

	if (high < 0)
		return;   /* the backend does not say (store.h) */
	if (high > s->msg_cursor)
		s->msg_cursor = high;
	s->queue_read = true;
	s->n_known = 0;
}

void
broker_queue_added(struct broker *b, const char *node, int64_t seq)
{
	struct session *s = session_find(&b->sessions, node);

	if (s == NULL)
		return;
	if (seq > 0 && seq <= s->msg_cursor) {
		/* never expected: start over from before it */
		session_reset(s);
		session_rewind(s, seq);
	} else if (seq > 0 && s->queue_read && s->n_known < SESSION_KNOWN_MAX)
		s->known[s->n_known++] = seq;
	else
		s->queue_read = false;    /* walk from the cursor */
	broker_mark_dirty(b, s);
}

/* What is queued for s since it read its queue to its end, by seq. */
static void
deliver_known(struct broker *b, struct session *s)
{
	uint32_t credit = session_credit(s);
	struct deliver_pass p = pass_of(b, s, page_of(credit));
	int done;

	if (!s->queue_read || s->n_known == 0 || credit == 0)
		return;
	done = store_queue_seqs(b->store, s->node, s->known, s->n_known,
	    on_queued, &p);
	if (done < 0) {
		s->queue_read = false;
		return;
	}
	/* also what the cursor passed (in flight, though its frame failed) */
	while (done < s->n_known && s->known[done] <= s->msg_cursor)
		done++;
	s->n_known -= (uint8_t)done;
	memmove(s->known, s->known + done, s->n_known * sizeof(*s->known));
	if (s->n_known == 0)
		queue_read_to_end(b, s);
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
		if (s->queue_read)
			deliver_known(b, s);
		if (credit == 0 || s->floor_pending || s->queue_read)
			break;
		want = page_of(credit);
		p.want = want;
		p.rcpts = 0;
		p.stopped = false;
		got = store_queue_load(b->store, s->node, s->msg_cursor, want,
		    on_queued, &p);
		if (got >= 0 && got < want && !p.stopped)
			queue_read_to_end(b, s);
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
		    .arg = &pv[n],
		    .no_msgs = s->floor_pending || s->queue_read };
		n++;
	}
	b->n_dirty = 0;
	/* a failed load broke the batch: nothing of it is sent */
	if (n > 0 && store_loads(b->store, v, n) == 0)
		for (size_t i = 0; i < n; i++) {
			if (v[i].no_msgs)
				deliver_known(b, pv[i].s);
			else if (v[i].rcpts < v[i].limit &&
			    v[i].msgs < v[i].limit && !pv[i].stopped)
				queue_read_to_end(b, pv[i].s);
			if (v[i].rcpts == v[i].limit || v[i].msgs == v[i].limit)
				deliver_session(b, pv[i].s);
		}
	settle_held(b);
}

void
broker_queue_took(struct broker *b, const char *node, int64_t seq)
{
	struct session *s = session_find(&b->sessions, node);

	if (s == NULL)
		return;
	/* stamped batches + 1: 0 is a session that never took anything */
	if (s->took_batch != b->batches + 1 || seq < s->took_low) {
		s->took_low = seq;
		s->took_batch = b->batches + 1;
	}
}

static int
on_orphan(void *arg, const struct store_msg *m)
{
	struct broker *b = arg;
	char why[240];

	snprintf(why, sizeof(why), "node %s is no longer in the "
	    "configuration; not delivered", m->recipient_node);
	return hold_back(b, m, NR_NO_ROUTE, why) == 0 ? 0 : 1;
}

/* The counts per node are read (off the loop, counts.h): the nodes with
 * messages queued that the configuration no longer has (a reload or a
 * restart removed them), for the next tick to settle. */
static void
on_orphan_counts(void *arg, const struct counts *c, const char *error)
{
	struct broker *b = arg;

	b->orphans_ask = NULL;
	if (c == NULL) {
		if (!b->orphans_unread)
			log_warn("queues of nodes not configured: the store's "
			    "counts cannot be read (%s); trying again each tick",
			    error);
		b->orphans_unread = true;
		return;
	}
	b->orphans_unread = false;
	free(b->orphans);
	b->orphans = NULL;
	b->n_orphans = 0;
	if (c->n > 0 && (b->orphans = calloc(c->n, sizeof(*b->orphans))) == NULL)
		return;   /* asked again at the next tick */
	for (size_t i = 0; i < c->n; i++)
		if (c->nodes[i].queued > 0 &&
		    config_node_find(b->cfg, c->nodes[i].node) == NULL)
			snprintf(b->orphans[b->n_orphans++],
			    sizeof(*b->orphans), "%s", c->nodes[i].node);
	b->orphans_found = true;
}

/* A page of each orphaned queue per tick, until a look finds none: the
 * look (a walk of every queued message) runs off the loop, the pages in
 * the tick's batch. */
static void
settle_orphans(struct broker *b)
{
	if (b->orphans_found) {
		b->orphans_found = false;
		for (size_t i = 0; i < b->n_orphans; i++) {
			if (config_node_find(b->cfg, b->orphans[i]) != NULL)
				continue;   /* configured again by a reload */
			log_warn("node %s is not configured but has messages "
			    "queued; dead-lettering them (%s)", b->orphans[i],
			    nara_code_id(NR_NO_ROUTE));
			store_queue_load(b->store, b->orphans[i], 0, PAGE_MAX,
			    on_orphan, b);
		}
		settle_held(b);
		b->orphans_due = b->n_orphans > 0;
		free(b->orphans);
		b->orphans = NULL;
		b->n_orphans = 0;
		return;
	}
	if (b->orphans_ask == NULL)
		b->orphans_ask = counts_ask(b->counts, true, on_orphan_counts, b);
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
		broker_queue_took(b, m->recipient_node, m->seq);
		b->stats.expired++;
		broker_mark_node_dirty(b, m->sender_node);
		log_info("message %s to %s expired undelivered", m->message_id,
		    m->recipient);
	}
	e->n++;
	return 0;
}

/* The work of the tick, in the open batch: redeliver what waited too
 * long for an ack, dead-letter expired messages, do the store's upkeep,
 * and give every connected node a delivery pass. */
void
broker_tick_work(struct broker *b)
{
	struct expiry e = { b, 0 };
	struct nara_err err = { 0 };

	b->tick_due = false;
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
	if (b->orphans_due)
		settle_orphans(b);
	/* Vacuum step, signed chain head, retention prune: the store decides
	 * what is due. */
	if (store_maintain(b->store, b->batch_now_ms / 1000, &err) != 0 &&
	    strcmp(err.path, STORE_DAMAGED) == 0 && !b->damaged) {
		log_error("%s %s; stopping: restore the store from a backup",
		    nara_code_id(err.code), err.text);
		b->damaged = true;
		event_base_loopbreak(b->base);
	}
}

/* Once a second. The tick's work goes with the next batch: one of its own
 * at once when no commit is out, else the batch taken after that commit
 * (batch_done). Either way the loop's thread neither waits for a commit
 * nor commits itself; under load the tick costs no commit at all. */
void
broker_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	b->tick_due = true;
	if (broker_may_begin(b))
		broker_take_batch(b);
}
