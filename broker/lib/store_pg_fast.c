/*
 * store_pg_fast.c — the store's changes written from what it knows
 * (store_pg_cache.c) instead of from rows read back: the statement, its
 * audit rows and receipts are only sent, and travel with COMMIT in the
 * batch's one round trip (store_pg_batch.c).
 *
 * Each statement checks what the cache assumed: an accepted id is new (a
 * plain INSERT: a stored one is a unique violation), a message is still
 * queued with that seq, a receipt still exists. When the database
 * disagrees, the statement fails, and with it the batch: nothing of it is
 * committed, the cache is cleared and the next attempt reads first (the
 * functions of store_pg_msg.c, one round trip each). The audit rows are
 * therefore only committed about changes that happened as they say.
 */
#include "store_common.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nara.pb-c.h"

void
pg_params_msg(struct pg_params *p, const struct store_msg *m,
    const char *subject, int64_t now, int64_t seq)
{
	pg_params_init(p);
	pg_param_text(p, m->message_id);
	pg_param_text(p, m->conversation_id);
	pg_param_int(p, m->type);
	pg_param_int(p, m->priority);
	pg_param_int(p, m->legal_basis);
	pg_param_text(p, m->sender);
	pg_param_text(p, m->sender_node);
	pg_param_text(p, m->recipient);
	pg_param_text(p, m->recipient_node);
	pg_param_text(p, m->author);
	pg_param_text(p, subject);
	pg_param_int(p, m->created);
	pg_param_int(p, m->expires);
	pg_param_int(p, now);
	pg_param_blob(p, m->payload, m->payload_len);
	pg_param_blob(p, m->payload_sha256, AUDIT_HASH_LEN);
	pg_param_int(p, (int64_t)m->payload_len);
	if (seq > 0)
		pg_param_int(p, seq);
	else
		pg_param_text(p, NULL);
}

static bool
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Remember an id this batch accepted without looking (see rollback). */
static int
spec_add(struct store_be *st, const char *message_id, struct nara_err *err)
{
	char **v;

	if (st->n_spec == st->cap_spec) {
		size_t cap = st->cap_spec ? st->cap_spec * 2 : 64;
		if ((v = realloc(st->spec_ids, cap * sizeof(*v))) == NULL)
			goto oom;
		st->spec_ids = v;
		st->cap_spec = cap;
	}
	if ((st->spec_ids[st->n_spec] = strdup(message_id)) == NULL)
		goto oom;
	st->n_spec++;
	return 0;
oom:
	nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
	return pg_break(st, err);
}

static int
lane_msg(struct store_be *st, const struct store_msg *m, const char *subject,
    int64_t now, int64_t seq, struct nara_err *err)
{
	return pg_lane_add(st, L_MSG_INSERT, (const struct pg_val[]){
	    pg_v_int(seq), pg_v_text(m->message_id),
	    pg_v_text(m->conversation_id), pg_v_int(m->type),
	    pg_v_int(m->priority), pg_v_int(m->legal_basis),
	    pg_v_text(m->sender), pg_v_text(m->sender_node),
	    pg_v_text(m->recipient), pg_v_text(m->recipient_node),
	    pg_v_text(m->author), pg_v_text(subject), pg_v_int(m->created),
	    pg_v_int(m->expires), pg_v_int(now),
	    pg_v_bytes(m->payload, m->payload_len),
	    pg_v_bytes(m->payload_sha256, AUDIT_HASH_LEN),
	    pg_v_int((int64_t)m->payload_len) }, err);
}

int
pg_fast_accept(struct store_be *st, struct store_msg *m,
    const char *subject, int64_t now, enum store_accept_result *res,
    struct nara_err *err)
{
	char detail[160];
	int64_t seq;

	/* known (or suspected) to be stored: look first */
	if (m->message_id == NULL || pg_cache_msg_id(st, m->message_id) != NULL)
		return 0;
	if ((seq = pg_seq_take(st)) == 0)
		return 0;
	if (spec_add(st, m->message_id, err) != 0 ||
	    lane_msg(st, m, subject, now, seq, err) != 0)
		return -1;
	m->seq = seq;
	*res = STORE_NEW;
	st->batch_bytes += (int64_t)m->payload_len;
	pg_known_add_msg(st, m, subject);
	snprintf(detail, sizeof(detail), "routed to %s",
	    m->recipient_node ? m->recipient_node : "");
	if (pg_audit_msg(st, "received", m->sender_node, m, subject, NULL,
	    detail, now, err) != 0)
		return -1;
	pg_cache_msg_put(st, m, subject, true);
	return 1;
}

int
pg_fast_delivering(struct store_be *st, int64_t seq, int attempt,
    const char *node, int64_t now, struct nara_err *err)
{
	struct pg_cmsg *e = pg_cache_msg_seq(st, seq);
	char detail[32];

	if (e == NULL || !e->queued)
		return 0;
	/* a second delivery of it in one statement would count once */
	if (e->mark == st->lane_gen && pg_lanes_flush(st, err) != 0)
		return -1;
	if (pg_lane_add(st, L_DELIVERING, (const struct pg_val[]){
	    pg_v_int(seq), pg_v_int(attempt) }, err) != 0)
		return -1;
	e->mark = st->lane_gen;
	e->m.attempts = attempt;
	pg_known_attempt(st, e->m.recipient_node, seq, attempt);
	snprintf(detail, sizeof(detail), "attempt %d", attempt);
	if (pg_audit_msg(st, "delivered", node, &e->m, e->subject, NULL,
	    detail, now, err) != 0)
		return -1;
	return 1;
}

int
pg_fast_acked(struct store_be *st, const char *message_id, const char *node,
    int64_t now, struct nara_err *err)
{
	struct pg_cmsg *e = pg_cache_msg_id(st, message_id);

	if (e == NULL || e->m.seq <= 0 || !e->queued ||
	    !same(e->m.recipient_node, node) || e->m.attempts <= 0)
		return 0;   /* the statement decides (and refuses the last) */
	if (pg_lane_add(st, L_ACKED, (const struct pg_val[]){
	    pg_v_int(e->m.seq), pg_v_int(now) }, err) != 0)
		return -1;
	e->queued = false;
	e->m.state = STORE_DELIVERED;
	pg_known_gone(st, PG_KNOWN_QUEUE, e->m.recipient_node, e->m.seq);
	if (pg_acked_rest(st, &e->m, e->subject, node, now, err) != 0)
		return pg_break(st, err);
	return 1;
}

int
pg_fast_dead(struct store_be *st, const char *message_id, const char *code,
    const char *text, bool expired, const char *node, int64_t now,
    struct nara_err *err)
{
	struct pg_cmsg *e = pg_cache_msg_id(st, message_id);

	if (e == NULL || e->m.seq <= 0 || !e->queued ||
	    (node != NULL && !same(e->m.recipient_node, node)))
		return 0;
	if (pg_lane_add(st, L_DEAD, (const struct pg_val[]){
	    pg_v_int(e->m.seq), pg_v_text(code), pg_v_text(text),
	    pg_v_int(now) }, err) != 0)
		return -1;
	e->queued = false;
	e->m.state = STORE_DEAD;
	pg_known_gone(st, PG_KNOWN_QUEUE, e->m.recipient_node, e->m.seq);
	if (pg_audit_msg(st, "dead_lettered", node, &e->m, e->subject, code,
	    text, now, err) != 0 || pg_receipt_queue(st, &e->m, e->subject,
	    expired ? NARA__OUTCOME__OUTCOME_EXPIRED :
	    NARA__OUTCOME__OUTCOME_FAILED, node, code, text, true, now, err) != 0)
		return pg_break(st, err);
	return 1;
}

int
pg_fast_receipt_sent(struct store_be *st, int64_t id, int64_t now,
    struct nara_err *err)
{
	struct pg_crcpt *r = pg_cache_rcpt_id(st, id);
	struct pg_cmsg *e = r ? pg_cache_msg_id(st, r->message_id) : NULL;

	if (e == NULL || e->m.seq <= 0)
		return 0;
	if (r->mark == st->lane_gen && pg_lanes_flush(st, err) != 0)
		return -1;
	if (pg_lane_add(st, L_RCPT_SENT, (const struct pg_val[]){
	    pg_v_int(id) }, err) != 0)
		return -1;
	r->mark = st->lane_gen;
	if (pg_audit_msg(st, "receipt_sent", r->node, &e->m, e->subject, NULL,
	    store_outcome_name(r->outcome), now, err) != 0)
		return pg_break(st, err);
	return 1;
}

int
pg_fast_receipt_acked(struct store_be *st, const char *node,
    const char *message_id, int64_t now, struct nara_err *err)
{
	struct pg_crcpt *r = pg_cache_rcpt_key(st, node, message_id);
	struct pg_cmsg *e = r ? pg_cache_msg_id(st, message_id) : NULL;

	if (e == NULL || e->m.seq <= 0)
		return 0;
	if (pg_lane_add(st, L_RCPT_ACKED, (const struct pg_val[]){
	    pg_v_int(r->id) }, err) != 0)
		return -1;
	pg_known_gone(st, PG_KNOWN_RECEIPTS, node, r->id);
	if (pg_audit_msg(st, "receipt_acked", node, &e->m, e->subject, NULL,
	    store_outcome_name(r->outcome), now, err) != 0)
		return pg_break(st, err);
	pg_cache_rcpt_drop(st, r);
	if (!e->queued)
		pg_cache_msg_drop(st, e);
	return 1;
}
