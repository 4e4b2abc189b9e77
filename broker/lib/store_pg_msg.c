/*
 * store_pg_msg.c — messages and receipts in the PostgreSQL store: accept
 * with duplicate detection, queue reads, delivery attempts, acks that purge
 * the clinical payload, dead letters, retries and receipts. Every change
 * writes its audit rows in the same transaction, as in the SQLite store
 * (store_sqlite_msg.c), whose behaviour this follows call for call.
 */
#include "store_common.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nara.pb-c.h"

/* A message row of PG_MSG_COLS; strings borrowed from the result. */
struct pg_row {
	struct store_msg m;
	const char *subject;
	uint8_t *payload;          /* decoded (owned), with_payload only */
};

/* Row i of res from column o on: PG_MSG_COLS (and the payload). */
static void
row_read_at(const PGresult *res, int i, int o, bool with_payload,
    struct pg_row *r)
{
	struct store_msg *m = &r->m;

	memset(r, 0, sizeof(*r));
	m->seq = pg_int(res, i, o + PC_SEQ);
	m->message_id = pg_text(res, i, o + PC_MESSAGE_ID);
	m->conversation_id = pg_text(res, i, o + PC_CONVERSATION_ID);
	m->type = (int)pg_int(res, i, o + PC_TYPE);
	m->priority = (int)pg_int(res, i, o + PC_PRIORITY);
	m->legal_basis = (int)pg_int(res, i, o + PC_LEGAL_BASIS);
	m->sender = pg_text(res, i, o + PC_SENDER);
	m->sender_node = pg_text(res, i, o + PC_SENDER_NODE);
	m->recipient = pg_text(res, i, o + PC_RECIPIENT);
	m->recipient_node = pg_text(res, i, o + PC_RECIPIENT_NODE);
	m->author = pg_text(res, i, o + PC_AUTHOR);
	r->subject = pg_text(res, i, o + PC_SUBJECT);
	m->created = pg_int(res, i, o + PC_CREATED);
	m->expires = pg_int(res, i, o + PC_EXPIRES);
	pg_bytes(res, i, o + PC_SHA256, m->payload_sha256, AUDIT_HASH_LEN);
	m->payload_len = (size_t)pg_int(res, i, o + PC_SIZE);
	m->attempts = (int)pg_int(res, i, o + PC_ATTEMPTS);
	m->state = (int)pg_int(res, i, o + PC_STATE);
	if (with_payload) {
		r->payload = pg_bytes_dup(res, i, o + PC_PAYLOAD,
		    &m->payload_len);
		m->payload = r->payload;
	}
}

static void
row_read(const PGresult *res, int i, bool with_payload, struct pg_row *r)
{
	row_read_at(res, i, 0, with_payload, r);
}

/* ---------------------------------------------------------------- accept */

static int
accept_find(struct store_be *st, const struct store_msg *m,
    enum store_accept_result *res, struct nara_err *err)
{
	uint8_t sha[AUDIT_HASH_LEN];
	struct pg_params p;
	PGresult *r;

	pg_params_init(&p);
	pg_param_text(&p, m->message_id);
	if (pg_run(st, P_MSG_FIND, &p, &r, "looking up a message id", err) != 0)
		return -1;
	*res = STORE_NEW;
	if (PQntuples(r) > 0)
		*res = pg_bytes(r, 0, 0, sha, AUDIT_HASH_LEN) &&
		    memcmp(sha, m->payload_sha256, AUDIT_HASH_LEN) == 0 ?
		    STORE_DUPLICATE : STORE_CONFLICT;
	PQclear(r);
	return 0;
}

static bool
accept_over_limit(const struct store_be *st, const struct store_msg *m)
{
	int64_t size = st->db_bytes + st->batch_bytes;

	return st->max_bytes > 0 &&
	    (uint64_t)size + m->payload_len > st->max_bytes;
}

static int
accept_insert(struct store_be *st, struct store_msg *m, const char *subject,
    int64_t now, enum store_accept_result *res, struct nara_err *err)
{
	struct pg_params p;
	char detail[160];
	PGresult *r;
	int n;

	pg_params_msg(&p, m, subject, now, pg_seq_take(st));
	if (pg_run(st, P_MSG_INSERT, &p, &r, "storing a message", err) != 0)
		return -1;
	if ((n = PQntuples(r)) == 1)
		m->seq = pg_int(r, 0, 0);
	PQclear(r);
	if (n == 0)      /* the id is stored already: nothing was written */
		return accept_find(st, m, res, err);
	*res = STORE_NEW;
	st->batch_bytes += (int64_t)m->payload_len;
	pg_known_add_msg(st, m, subject);
	snprintf(detail, sizeof(detail), "routed to %s",
	    m->recipient_node ? m->recipient_node : "");
	if (pg_audit_msg(st, "received", m->sender_node, m, subject, NULL,
	    detail, now, err) != 0)
		return -1;
	pg_cache_msg_put(st, m, subject, true);
	return 0;
}

int
store_pg_accept(struct store_be *st, struct store_msg *m, int64_t now,
    enum store_accept_result *res, struct nara_err *err)
{
	bool named = m->personal_number != NULL && m->personal_number[0];
	char subject[65];
	int rc;

	if (pg_enter(st, err) != 0)
		return -1;
	if (accept_over_limit(st, m) || (named &&
	    store_pg_pseudonym(st, m->personal_number, subject) != 0)) {
		rc = accept_find(st, m, res, err);
		if (rc == 0 && *res == STORE_NEW && accept_over_limit(st, m))
			rc = nara_err_set(err, NR_STORE_FULL, "store", "store is "
			    "%lld bytes, limit %llu", (long long)(st->db_bytes +
			    st->batch_bytes), (unsigned long long)st->max_bytes);
		else if (rc == 0 && *res == STORE_NEW)
			rc = nara_err_set(err, NR_CONFIG, "pseudonym_key", "no "
			    "pseudonym key: cannot store a message that names a "
			    "child");
		return pg_leave(st, rc, err);
	}
	rc = pg_fast_accept(st, m, named ? subject : NULL, now, res, err);
	if (rc == 0)
		rc = accept_insert(st, m, named ? subject : NULL, now, res, err);
	return pg_leave(st, rc < 0 ? -1 : 0, err);
}

/* ---------------------------------------------------------------- reads */

/* The parameters of a queue or receipts load. */
static void
load_params(struct pg_params *p, const char *node, int64_t after, int limit)
{
	pg_params_init(p);
	pg_param_text(p, node);
	pg_param_int(p, after);
	pg_param_int(p, limit);
}

/* The message rows of r to fn; *all (unless NULL) tells whether fn got
 * every row there is (fewer than limit, none refused), *last the last
 * seq it got. */
static int
walk_msg_rows(struct store_be *st, PGresult *r, bool with_payload,
    store_msg_fn fn, void *arg, int limit, bool *all, int64_t *last)
{
	struct pg_row row;
	int n = 0, stop = 0;

	for (int i = 0; i < PQntuples(r) && !stop; i++) {
		row_read(r, i, with_payload, &row);
		pg_cache_msg_put(st, &row.m, row.subject,
		    row.m.state == STORE_QUEUED);
		if (!with_payload)
			row.m.payload_len = 0;
		stop = fn(arg, &row.m);
		free(row.payload);
		if (!stop) {
			n++;
			*last = row.m.seq;
		}
	}
	if (all != NULL)
		*all = !stop && PQntuples(r) < limit;
	return n;
}

/* The rows of statement s to fn, as walk_msg_rows. */
static int
walk_msgs(struct store_be *st, enum pg_stmt s, const struct pg_params *p,
    bool with_payload, store_msg_fn fn, void *arg, const char *what,
    int limit, bool *all, int64_t *last)
{
	PGresult *r;
	int n;

	if (pg_run(st, s, p, &r, what, NULL) != 0)
		return -1;
	n = walk_msg_rows(st, r, with_payload, fn, arg, limit, all, last);
	PQclear(r);
	return n;
}

/* The queue rows of r (node's, after after_seq) to fn; what the walk
 * learnt goes to the known reads (store_pg_known.c). */
static int
walk_queue_rows(struct store_be *st, PGresult *r, const char *node,
    int64_t after_seq, int limit, store_msg_fn fn, void *arg)
{
	int64_t last = after_seq;
	bool all = false;
	int n = walk_msg_rows(st, r, true, fn, arg, limit, &all, &last);

	if (all)
		pg_known_set(st, PG_KNOWN_QUEUE, node, last);
	return n;
}

int
store_pg_queue_load(struct store_be *st, const char *node, int64_t after_seq,
    int limit, store_msg_fn fn, void *arg)
{
	struct pg_params p;
	PGresult *r;
	bool all;
	int n;

	if (limit <= 0)
		return 0;
	if ((n = pg_known_msgs(st, node, after_seq, limit, fn, arg, &all)) >= 0)
		return n;
	load_params(&p, node, after_seq, limit);
	if (pg_run(st, P_QUEUE_LOAD, &p, &r, "loading a queue", NULL) != 0)
		return -1;
	n = walk_queue_rows(st, r, node, after_seq, limit, fn, arg);
	PQclear(r);
	return n;
}

int
store_pg_expired_load(struct store_be *st, int64_t now, int limit,
    store_msg_fn fn, void *arg)
{
	int64_t last = 0;
	struct pg_params p;

	if (limit <= 0)
		return 0;
	pg_params_init(&p);
	pg_param_int(&p, now);
	pg_param_int(&p, limit);
	return walk_msgs(st, P_EXPIRED, &p, false, fn, arg,
	    "loading expired messages", limit, NULL, &last);
}

/* The receipt rows of r (node's, after after_id) to fn; what the walk
 * learnt goes to the known reads (store_pg_known.c). */
static int
walk_rcpt_rows(struct store_be *st, PGresult *r, const char *node,
    int64_t after_id, int limit, store_receipt_fn fn, void *arg)
{
	struct store_receipt rc;
	int64_t last = after_id;
	uint8_t *enc;
	int n = 0, stop = 0;

	for (int i = 0; i < PQntuples(r) && !stop; i++) {
		rc.id = pg_int(r, i, 0);
		rc.node = pg_text(r, i, 1);
		rc.message_id = pg_text(r, i, 2);
		rc.outcome = (int)pg_int(r, i, 3);
		pg_cache_rcpt_put(st, rc.id, rc.node, rc.message_id, rc.outcome);
		enc = pg_bytes_dup(r, i, 4, &rc.encoded_len);
		rc.encoded = enc;
		stop = fn(arg, &rc);
		free(enc);
		if (!stop) {
			n++;
			last = rc.id;
		}
	}
	if (!stop && PQntuples(r) < limit)
		pg_known_set(st, PG_KNOWN_RECEIPTS, node, last);
	return n;
}

int
store_pg_receipts_load(struct store_be *st, const char *node,
    int64_t after_id, int limit, store_receipt_fn fn, void *arg)
{
	struct pg_params p;
	PGresult *r;
	bool all;
	int n;

	if (limit <= 0)
		return 0;
	if ((n = pg_known_rcpts(st, node, after_id, limit, fn, arg, &all)) >= 0)
		return n;
	load_params(&p, node, after_id, limit);
	if (pg_run(st, P_RECEIPTS_LOAD, &p, &r, "loading receipts", NULL) != 0)
		return -1;
	n = walk_rcpt_rows(st, r, node, after_id, limit, fn, arg);
	PQclear(r);
	return n;
}

/* One of a pass's loads: answered from the known rows, or the answer of
 * its read. */
struct load_slot {
	bool known;
	PGresult *res;
};

/* Every load the known rows cannot answer is sent before the first answer
 * is read: one round trip, none when they answer all. Then each node's
 * receipts and messages go to its callbacks, from the list or from the
 * answer. Only inside a batch's pipeline; otherwise 1, and store.c reads
 * them one by one. */
int
store_pg_loads(struct store_be *st, struct store_load *v, size_t n)
{
	struct load_slot *rc_of, *msg_of;   /* per node: receipts, queue */
	struct pg_params p;
	int rc = 0, reads = 0;
	bool all;

	if (!st->in_batch || !st->pipe || st->broken || n == 0 ||
	    (rc_of = calloc(2 * n, sizeof(*rc_of))) == NULL)
		return 1;
	msg_of = rc_of + n;
	for (size_t i = 0; i < n; i++) {
		v[i].rcpts = v[i].msgs = 0;
		if (v[i].limit <= 0)
			continue;
		rc_of[i].known = pg_known_answers(st, PG_KNOWN_RECEIPTS,
		    v[i].node, v[i].rcpt_after);
		msg_of[i].known = pg_known_answers(st, PG_KNOWN_QUEUE,
		    v[i].node, v[i].msg_after);
		reads += !rc_of[i].known + !msg_of[i].known;
	}
	if (reads > 0 && pg_lanes_flush(st, NULL) != 0)
		rc = -1;
	for (size_t i = 0; i < n && rc == 0 && reads > 0; i++) {
		if (v[i].limit <= 0)
			continue;
		load_params(&p, v[i].node, v[i].rcpt_after, v[i].limit);
		if (!rc_of[i].known && pg_send_keep(st, P_RECEIPTS_LOAD, &p,
		    &rc_of[i].res, "loading receipts", NULL) != 0)
			rc = -1;
		load_params(&p, v[i].node, v[i].msg_after, v[i].limit);
		if (rc == 0 && !msg_of[i].known && pg_send_keep(st,
		    P_QUEUE_LOAD, &p, &msg_of[i].res, "loading a queue",
		    NULL) != 0)
			rc = -1;
	}
	if (rc == 0 && reads > 0 && pg_pipe_flush(st, NULL) != 0)
		rc = -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (v[i].limit <= 0)
			continue;
		if (rc_of[i].known)
			v[i].rcpts = pg_known_rcpts(st, v[i].node,
			    v[i].rcpt_after, v[i].limit, v[i].rfn, v[i].arg,
			    &all);
		else if (rc_of[i].res != NULL)
			v[i].rcpts = walk_rcpt_rows(st, rc_of[i].res, v[i].node,
			    v[i].rcpt_after, v[i].limit, v[i].rfn, v[i].arg);
		if (msg_of[i].known)
			v[i].msgs = pg_known_msgs(st, v[i].node,
			    v[i].msg_after, v[i].limit, v[i].mfn, v[i].arg,
			    &all);
		else if (msg_of[i].res != NULL)
			v[i].msgs = walk_queue_rows(st, msg_of[i].res,
			    v[i].node, v[i].msg_after, v[i].limit, v[i].mfn,
			    v[i].arg);
	}
	for (size_t i = 0; i < 2 * n; i++)
		PQclear(rc_of[i].res);
	free(rc_of);
	return rc;
}

/* ---------------------------------------------------------------- receipts */

int
pg_receipt_queue(struct store_be *st, const struct store_msg *m,
    const char *subject, int outcome, const char *receiving_node,
    const char *code, const char *text, bool audit, int64_t now,
    struct nara_err *err)
{
	struct store_receipt rc;
	size_t len;

	len = store_receipt_pack(&st->buf, &st->buf_cap, m, outcome,
	    receiving_node, code, text, now);
	if (len == 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "out of memory "
		    "encoding a receipt");
	rc = (struct store_receipt){ .id = pg_rcpt_take(st),
	    .node = m->sender_node, .message_id = m->message_id,
	    .outcome = outcome, .encoded = st->buf, .encoded_len = len };
	if (pg_lane_add(st, L_RCPT_INSERT, (const struct pg_val[]){
	    rc.id > 0 ? pg_v_int(rc.id) : pg_v_null(),
	    pg_v_text(m->sender_node), pg_v_text(m->message_id),
	    pg_v_int(outcome), pg_v_bytes(st->buf, len) }, err) != 0)
		return -1;
	if (rc.id > 0)
		pg_cache_rcpt_put(st, rc.id, rc.node, rc.message_id, outcome);
	pg_known_add_rcpt(st, &rc);
	if (!audit)
		return 0;
	return pg_audit_msg(st, "receipt_queued", m->sender_node, m, subject,
	    code, store_outcome_name(outcome), now, err);
}

/* Audit an event about a receipt (row 0 of r: node, outcome, message_id,
 * then its message's PG_MSG_COLS, NULL when the message is gone). */
static int
receipt_audit(struct store_be *st, const char *event, const char *node,
    const PGresult *r, int64_t now, struct nara_err *err)
{
	struct store_msg bare = { .message_id = pg_text(r, 0, 2) };
	bool known = !PQgetisnull(r, 0, 3 + PC_SEQ);
	struct pg_row row;

	if (known)
		row_read_at(r, 0, 3, false, &row);
	if (pg_audit_msg(st, event, node != NULL ? node : pg_text(r, 0, 0),
	    known ? &row.m : &bare, known ? row.subject : NULL, NULL,
	    store_outcome_name((int)pg_int(r, 0, 1)), now, err) != 0)
		return pg_break(st, err);
	return 0;
}

int
store_pg_receipt_sent(struct store_be *st, int64_t id, int64_t now)
{
	struct nara_err err = { 0 };
	struct pg_params p;
	PGresult *r;
	int rc;

	if (pg_enter(st, &err) != 0)
		return -1;
	if ((rc = pg_fast_receipt_sent(st, id, now, &err)) != 0)
		return pg_leave(st, rc < 0 ? -1 : 0, &err);
	pg_params_init(&p);
	pg_param_int(&p, id);
	if ((rc = pg_run(st, P_RECEIPT_SENT, &p, &r, "reading a receipt sent",
	    &err)) == 0) {
		rc = PQntuples(r) == 0 ? -1 : receipt_audit(st, "receipt_sent",
		    NULL, r, now, &err);
		PQclear(r);
	}
	return pg_leave(st, rc, &err);
}

int
store_pg_receipt_acked(struct store_be *st, const char *node,
    const char *message_id, int64_t now)
{
	struct nara_err err = { 0 };
	struct pg_params p;
	PGresult *r;
	int rc;

	if (pg_enter(st, &err) != 0)
		return -1;
	if ((rc = pg_fast_receipt_acked(st, node, message_id, now,
	    &err)) != 0)
		return pg_leave(st, rc < 0 ? -1 : 0, &err);
	pg_params_init(&p);
	pg_param_text(&p, node);
	pg_param_text(&p, message_id);
	/* which of the node's receipts it was is not read back */
	pg_known_drop(st, PG_KNOWN_RECEIPTS, node);
	if ((rc = pg_run(st, P_RECEIPT_ACKED, &p, &r, "deleting a receipt",
	    &err)) == 0) {
		rc = PQntuples(r) == 0 ? 0 : receipt_audit(st, "receipt_acked",
		    node, r, now, &err);
		PQclear(r);
	}
	return pg_leave(st, rc, &err);
}

/* ---------------------------------------------------------------- changes */

int
store_pg_delivering(struct store_be *st, int64_t seq, int attempt,
    const char *node, int64_t now)
{
	struct nara_err err = { 0 };
	struct pg_params p;
	struct pg_row row;
	char detail[32];
	PGresult *r;
	int rc;

	if (pg_enter(st, &err) != 0)
		return -1;
	if ((rc = pg_fast_delivering(st, seq, attempt, node, now,
	    &err)) != 0)
		return pg_leave(st, rc < 0 ? -1 : 0, &err);
	pg_params_init(&p);
	pg_param_int(&p, seq);
	pg_param_int(&p, attempt);
	if ((rc = pg_run(st, P_DELIVERING, &p, &r, "recording a delivery",
	    &err)) != 0)
		return pg_leave(st, rc, &err);
	if (PQntuples(r) == 0) {
		rc = -1;    /* not queued (acked or dead meanwhile) */
	} else {
		row_read(r, 0, false, &row);
		pg_cache_msg_put(st, &row.m, row.subject, true);
		pg_known_attempt(st, row.m.recipient_node, seq, attempt);
		snprintf(detail, sizeof(detail), "attempt %d", attempt);
		rc = pg_audit_msg(st, "delivered", node, &row.m, row.subject,
		    NULL, detail, now, &err);
	}
	PQclear(r);
	return pg_leave(st, rc, &err);
}

int
store_pg_acked(struct store_be *st, int64_t seq, const char *message_id,
    const char *node, int64_t now, bool *was_new)
{
	struct nara_err err = { 0 };
	struct pg_params p;
	struct pg_row row;
	PGresult *r;
	int rc;

	(void)seq;    /* the batch's cache finds the row (store_pg_fast.c) */
	if (was_new != NULL)
		*was_new = false;
	if (pg_enter(st, &err) != 0)
		return -1;
	if ((rc = pg_fast_acked(st, message_id, node, now, &err)) != 0) {
		if (rc > 0 && was_new != NULL)
			*was_new = true;
		return pg_leave(st, rc < 0 ? -1 : 0, &err);
	}
	pg_params_init(&p);
	pg_param_text(&p, message_id);
	pg_param_text(&p, node);
	pg_param_int(&p, now);
	if ((rc = pg_run(st, P_ACKED, &p, &r, "recording an ack", &err)) != 0)
		return pg_leave(st, rc, &err);
	if (PQntuples(r) > 0) {
		row_read(r, 0, false, &row);
		pg_cache_msg_put(st, &row.m, row.subject, false);
		pg_known_gone(st, PG_KNOWN_QUEUE, row.m.recipient_node,
		    row.m.seq);
		if (pg_acked_rest(st, &row.m, row.subject, node, now, &err) != 0)
			rc = pg_break(st, &err);
		else if (was_new != NULL)
			*was_new = true;
	}
	PQclear(r);
	return pg_leave(st, rc, &err);
}

int
store_pg_dead_letter(struct store_be *st, const char *message_id,
    const char *code, const char *text, bool expired, const char *node,
    int64_t now)
{
	const char *by = node != NULL && node[0] != '\0' ? node : NULL;
	struct nara_err err = { 0 };
	struct pg_params p;
	struct pg_row row;
	PGresult *r;
	int rc;

	if (pg_enter(st, &err) != 0)
		return -1;
	if ((rc = pg_fast_dead(st, message_id, code, text, expired, by,
	    now, &err)) != 0)
		return pg_leave(st, rc < 0 ? -1 : 0, &err);
	pg_params_init(&p);
	pg_param_text(&p, message_id);
	pg_param_text(&p, code);
	pg_param_text(&p, text);
	pg_param_int(&p, now);
	pg_param_text(&p, by ? by : "");
	if ((rc = pg_run(st, P_DEAD, &p, &r, "dead-lettering a message",
	    &err)) != 0)
		return pg_leave(st, rc, &err);
	if (PQntuples(r) == 0) {
		rc = -1;    /* no queued message with that id for that node */
	} else {
		row_read(r, 0, false, &row);
		pg_cache_msg_put(st, &row.m, row.subject, false);
		pg_known_gone(st, PG_KNOWN_QUEUE, row.m.recipient_node,
		    row.m.seq);
		if (pg_audit_msg(st, "dead_lettered", by, &row.m, row.subject,
		    code, text, now, &err) != 0 ||
		    pg_receipt_queue(st, &row.m, row.subject, expired ?
		    NARA__OUTCOME__OUTCOME_EXPIRED : NARA__OUTCOME__OUTCOME_FAILED,
		    by, code, text, true, now, &err) != 0)
			rc = pg_break(st, &err);
	}
	PQclear(r);
	return pg_leave(st, rc, &err);
}

/* The seq a message has now, 0 when it is not stored. */
static int
msg_seq_of(struct store_be *st, const char *message_id, int64_t *seq,
    struct nara_err *err)
{
	struct pg_params p;
	PGresult *r;

	*seq = 0;
	pg_params_init(&p);
	pg_param_text(&p, message_id);
	if (pg_run(st, P_MSG_META, &p, &r, "reading a message", err) != 0)
		return -1;
	if (PQntuples(r) > 0)
		*seq = pg_int(r, 0, PC_SEQ);
	PQclear(r);
	return 0;
}

/* After the retry's UPDATE: the audit rows follow, and "retried". */
static int
retry_rest(struct store_be *st, const PGresult *r, int64_t old_seq,
    const char *operator, int64_t now, struct nara_err *err)
{
	struct pg_params p;
	struct pg_row row;
	char detail[320];

	row_read(r, 0, false, &row);
	pg_cache_msg_put(st, &row.m, row.subject, true);
	pg_known_drop(st, PG_KNOWN_QUEUE, row.m.recipient_node);
	snprintf(detail, sizeof(detail), "queued again for %s%s%s",
	    row.m.recipient_node ? row.m.recipient_node : "",
	    operator ? " by " : "", operator ? operator : "");
	if (pg_lanes_flush(st, err) != 0)
		return -1;
	pg_params_init(&p);
	pg_param_int(&p, old_seq);
	pg_param_int(&p, row.m.seq);
	if (pg_send(st, P_AUDIT_REKEY, &p, "moving the audit rows of a retry",
	    err) != 0)
		return -1;
	return pg_audit_msg(st, "retried", NULL, &row.m, row.subject, NULL,
	    detail, now, err);
}

int
store_pg_retry(struct store_be *st, const char *message_id,
    const char *operator, int64_t now, struct nara_err *err)
{
	struct pg_params p;
	int64_t old_seq, seq;
	PGresult *r;
	int rc;

	if (pg_enter(st, err) != 0)
		return -1;
	if (msg_seq_of(st, message_id, &old_seq, err) != 0)
		return pg_leave(st, -1, err);
	pg_params_init(&p);
	pg_param_text(&p, message_id);
	if ((seq = pg_seq_take(st)) > 0)
		pg_param_int(&p, seq);
	if ((rc = pg_run(st, seq > 0 ? P_RETRY_AT : P_RETRY, &p, &r,
	    "retrying a dead letter", err)) != 0)
		return pg_leave(st, rc, err);
	if (PQntuples(r) == 0)
		rc = nara_err_set(err, NR_BAD_VALUE, "message_id", "no dead "
		    "letter with id %s", message_id ? message_id : "(none)");
	else
		rc = retry_rest(st, r, old_seq, operator, now, err);
	PQclear(r);
	return pg_leave(st, rc, err);
}
