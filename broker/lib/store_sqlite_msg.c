/*
 * store_sqlite_msg.c — messages and receipts in the SQLite store: accept
 * with duplicate detection, queue reads, delivery attempts, acks that purge
 * the clinical payload, dead letters, retries and the receipts that tell a
 * sender what became of its message. Every change writes its audit rows in
 * the same transaction.
 */
#include "store_common.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nara.pb-c.h"
#include "pbstr.h"
#include "validate.h"

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

void
store_row_read(sqlite3_stmt *s, bool with_payload, struct msg_row *r)
{
	struct store_msg *m = &r->m;
	const void *sha;

	memset(r, 0, sizeof(*r));
	m->seq = sqlite3_column_int64(s, MC_SEQ);
	m->message_id = col_text(s, MC_MESSAGE_ID);
	m->conversation_id = col_text(s, MC_CONVERSATION_ID);
	m->type = sqlite3_column_int(s, MC_TYPE);
	m->priority = sqlite3_column_int(s, MC_PRIORITY);
	m->legal_basis = sqlite3_column_int(s, MC_LEGAL_BASIS);
	m->sender = col_text(s, MC_SENDER);
	m->sender_node = col_text(s, MC_SENDER_NODE);
	m->recipient = col_text(s, MC_RECIPIENT);
	m->recipient_node = col_text(s, MC_RECIPIENT_NODE);
	m->author = col_text(s, MC_AUTHOR);
	r->subject = col_text(s, MC_SUBJECT);
	m->created = sqlite3_column_int64(s, MC_CREATED);
	m->expires = sqlite3_column_int64(s, MC_EXPIRES);
	sha = sqlite3_column_blob(s, MC_SHA256);
	if (sha != NULL && sqlite3_column_bytes(s, MC_SHA256) == AUDIT_HASH_LEN)
		memcpy(m->payload_sha256, sha, AUDIT_HASH_LEN);
	m->payload_len = (size_t)sqlite3_column_int64(s, MC_SIZE);
	m->attempts = sqlite3_column_int(s, MC_ATTEMPTS);
	m->state = sqlite3_column_int(s, MC_STATE);
	if (with_payload) {
		m->payload = sqlite3_column_blob(s, MC_PAYLOAD);
		m->payload_len = (size_t)sqlite3_column_bytes(s, MC_PAYLOAD);
	}
}

/* ---------------------------------------------------------------- accept */

/* Same id stored before? *res says whether it is the same content. */
static int
accept_find(struct store_be *st, const struct store_msg *m,
    enum store_accept_result *res, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_MSG_FIND];
	const void *sha;
	int rc;

	sqlite3_bind_text(s, 1, m->message_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*res = STORE_NEW;
	if (rc == SQLITE_ROW) {
		sha = sqlite3_column_blob(s, 0);
		*res = sha != NULL && sqlite3_column_bytes(s, 0) == AUDIT_HASH_LEN
		    && memcmp(sha, m->payload_sha256, AUDIT_HASH_LEN) == 0
		    ? STORE_DUPLICATE : STORE_CONFLICT;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, rc, "looking up a message id", err);
	return 0;
}

static void
bind_msg(sqlite3_stmt *s, const struct store_msg *m, const char *subject,
    int64_t now)
{
	const char *text[] = { m->message_id, m->conversation_id };
	const char *addr[] = { m->sender, m->sender_node, m->recipient,
	    m->recipient_node, m->author, subject };

	for (int i = 0; i < 2; i++)
		sqlite3_bind_text(s, 1 + i, text[i], -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, m->type);
	sqlite3_bind_int(s, 4, m->priority);
	sqlite3_bind_int(s, 5, m->legal_basis);
	for (int i = 0; i < 6; i++)
		sqlite3_bind_text(s, 6 + i, addr[i], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 12, m->created);
	sqlite3_bind_int64(s, 13, m->expires);
	sqlite3_bind_int64(s, 14, now);
	sqlite3_bind_blob(s, 15, m->payload_sha256, AUDIT_HASH_LEN,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 16, (int64_t)m->payload_len);
}

/* The content of the message just stored as seq, in its own table. */
static int
payload_insert(struct store_be *st, const struct store_msg *m,
    struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_PAYLOAD_INSERT];
	int rc;

	sqlite3_bind_int64(s, 1, m->seq);
	sqlite3_bind_blob64(s, 2, m->payload ? (const void *)m->payload : "",
	    m->payload_len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, rc, "storing a message's content", err);
		/* the message's row is in: no commit without its content */
		return store_break(st, err);
	}
	return 0;
}

/* The store is over max_bytes if m is added. */
static bool
accept_over_limit(const struct store_be *st, const struct store_msg *m)
{
	int64_t size = st->db_bytes + st->batch_bytes;

	return st->max_bytes > 0 &&
	    (uint64_t)size + m->payload_len > st->max_bytes;
}

/* Insert m; *res says STORE_NEW, or, when its id is stored already, what
 * accept_find makes of it. The common case (a new id) costs one probe of
 * the message_id index instead of a look-up followed by the insert. */
static int
accept_insert(struct store_be *st, struct store_msg *m, const char *subject,
    int64_t now, enum store_accept_result *res, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_MSG_INSERT];
	struct nara_err local;
	char detail[160];
	int rc;

	if (err == NULL)
		err = &local;
	bind_msg(s, m, subject, now);
	sqlite3_bind_int64(s, 17, st->seq_high + 1);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		char why[200];
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(st->db));
		if (accept_find(st, m, res, err) != 0)
			return -1;
		if (*res != STORE_NEW)
			return 0;   /* nothing was written */
		nara_err_set(err, NR_STORE_FAILED, "store", "storing a "
		    "message: %s", why);
		log_error("store %s: %s", st->path, err->text);
		return -1;
	}
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, "storing a message", err);
	*res = STORE_NEW;
	m->seq = sqlite3_last_insert_rowid(st->db);
	if (m->seq > st->seq_high)
		st->seq_high = m->seq;
	if (payload_insert(st, m, err) != 0)
		return -1;
	st->batch_bytes += (int64_t)m->payload_len;
	snprintf(detail, sizeof(detail), "routed to %s",
	    m->recipient_node ? m->recipient_node : "");
	return store_audit_msg(st, "received", m->sender_node, m, subject,
	    NULL, detail, now, err);
}

int
store_sqlite_accept(struct store_be *st, struct store_msg *m, int64_t now,
    enum store_accept_result *res, struct nara_err *err)
{
	bool named = m->personal_number != NULL && m->personal_number[0];
	char subject[65];
	int rc;

	/* nothing is accepted on a store whose start-up check has not passed */
	if (store_check_wait(st, err) != 0)
		return -1;
	if (store_enter(st, err) != 0)
		return -1;
	/* A repeat of a stored message is answered as a duplicate even when
	 * the store is full or has no pseudonym key: nothing is written. */
	if (accept_over_limit(st, m) || (named &&
	    store_sqlite_pseudonym(st, m->personal_number, subject) != 0)) {
		rc = accept_find(st, m, res, err);
		if (rc == 0 && *res == STORE_NEW && accept_over_limit(st, m))
			rc = nara_err_set(err, NR_STORE_FULL, "store", "store is "
			    "%lld bytes, limit %llu", (long long)(st->db_bytes +
			    st->batch_bytes), (unsigned long long)st->max_bytes);
		else if (rc == 0 && *res == STORE_NEW)
			rc = nara_err_set(err, NR_CONFIG, "pseudonym_key", "no "
			    "pseudonym key: cannot store a message that names a "
			    "child");
		return store_leave(st, rc, err);
	}
	rc = accept_insert(st, m, named ? subject : NULL, now, res, err);
	return store_leave(st, rc, err);
}

/* ---------------------------------------------------------------- reads */

/* Step s (bound by the caller), calling fn for each message; fn returning
 * non-zero stops the walk. The number of messages passed, or -1. */
static int
walk_msgs(struct store_be *st, sqlite3_stmt *s, bool with_payload,
    store_msg_fn fn, void *arg, const char *what)
{
	struct msg_row r;
	int rc, n = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_row_read(s, with_payload, &r);
		if (!with_payload)
			r.m.payload_len = 0;
		if (fn(arg, &r.m) != 0) {
			rc = SQLITE_DONE;
			break;
		}
		/* handed out: its delivery's row reads it here (dcache) */
		if (with_payload)
			store_dcache_put(st, &r);
		n++;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? n : store_fail(st, rc, what, NULL);
}

int
store_sqlite_queue_load(struct store_be *st, const char *node,
    int64_t after_seq, int limit, store_msg_fn fn, void *arg)
{
	sqlite3_stmt *s = st->stmt[S_QUEUE_LOAD];

	if (limit <= 0)    /* SQLite reads a negative LIMIT as "no limit" */
		return 0;
	sqlite3_bind_text(s, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, after_seq);
	sqlite3_bind_int(s, 3, limit);
	return walk_msgs(st, s, true, fn, arg, "loading a queue");
}

/* Each a look-up by key: what narad knows was queued for node since it
 * read its queue to the end, without walking the other nodes' messages
 * between. A seq no longer queued for node is passed over. */
int
store_sqlite_queue_seqs(struct store_be *st, const char *node,
    const int64_t *seq, int n, store_msg_fn fn, void *arg)
{
	sqlite3_stmt *s = st->stmt[S_QUEUE_SEQ];
	struct msg_row r;
	int rc, i;

	for (i = 0; i < n; i++) {
		sqlite3_bind_int64(s, 1, seq[i]);
		sqlite3_bind_text(s, 2, node, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			store_row_read(s, true, &r);
			rc = fn(arg, &r.m) != 0 ? SQLITE_ABORT : SQLITE_DONE;
			/* handed out: its delivery's row reads it here */
			if (rc == SQLITE_DONE)
				store_dcache_put(st, &r);
		}
		sqlite3_reset(s);
		if (rc == SQLITE_ABORT)
			break;
		if (rc != SQLITE_DONE)
			return store_fail(st, rc, "loading a queue", NULL);
	}
	return i;
}

int64_t
store_sqlite_seq_high(struct store_be *st)
{
	return st->seq_high;
}

/* A walk over the queue index in seq order (all nodes in one order): how
 * narad finds where each node's queue starts. The index alone answers it
 * (80 ms for 1,000,000 queued in the sqlite3 shell). */
int
store_sqlite_queue_walk(struct store_be *st, int64_t after, int64_t upto,
    int max, store_floor_fn fn, void *arg)
{
	static const char sql[] = "SELECT recipient_node, seq FROM messages "
	    "INDEXED BY messages_queue WHERE state = 0 AND seq > ?1 AND "
	    "seq <= ?2 ORDER BY seq LIMIT ?3";
	sqlite3_stmt *s = NULL;
	int rc, n = 0;

	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK)
		return store_fail(st, rc, "reading where the queues start", NULL);
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, upto);
	sqlite3_bind_int(s, 3, max);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *node = (const char *)sqlite3_column_text(s, 0);

		n++;
		if (node != NULL && fn(arg, node, sqlite3_column_int64(s, 1))
		    != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : store_fail(st, rc, "reading where the "
	    "queues start", NULL);
}

int
store_sqlite_expired_load(struct store_be *st, int64_t now, int limit,
    store_msg_fn fn, void *arg)
{
	sqlite3_stmt *s = st->stmt[S_EXPIRED];

	if (limit <= 0)
		return 0;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, limit);
	return walk_msgs(st, s, false, fn, arg, "loading expired messages");
}

int
store_sqlite_receipts_load(struct store_be *st, const char *node,
    int64_t after_id, int limit, store_receipt_fn fn, void *arg)
{
	sqlite3_stmt *s = st->stmt[S_RECEIPTS_LOAD];
	struct store_receipt r;
	int rc, n = 0;

	if (limit <= 0)
		return 0;
	sqlite3_bind_text(s, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, after_id);
	sqlite3_bind_int(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r.id = sqlite3_column_int64(s, 0);
		r.node = col_text(s, 1);
		r.message_id = col_text(s, 2);
		r.outcome = sqlite3_column_int(s, 3);
		r.encoded = sqlite3_column_blob(s, 4);
		r.encoded_len = (size_t)sqlite3_column_bytes(s, 4);
		if (fn(arg, &r) != 0) {
			rc = SQLITE_DONE;
			break;
		}
		n++;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? n : store_fail(st, rc, "loading receipts",
	    NULL);
}

/*
 * One row changed or deleted by its key (?1) after a SELECT read it: an
 * UPDATE or DELETE ... RETURNING would gather its rows in a temporary
 * b-tree, opened and freed at every statement.
 */
static int
row_change(struct store_be *st, sqlite3_stmt *s, int64_t key,
    const char *what, struct nara_err *err)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, what, err);
	if (sqlite3_changes(st->db) != 1)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s: row %lld "
		    "is gone", what, (long long)key);
	return 0;
}

/* ?2 = value */
static int
row_set_int(struct store_be *st, enum store_stmt which, int64_t key,
    int64_t value, const char *what, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[which];

	sqlite3_bind_int64(s, 1, key);
	sqlite3_bind_int64(s, 2, value);
	return row_change(st, s, key, what, err);
}

static int
row_delete(struct store_be *st, enum store_stmt which, int64_t key,
    const char *what, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[which];

	sqlite3_bind_int64(s, 1, key);
	return row_change(st, s, key, what, err);
}

/* ---------------------------------------------------------------- receipts */

/* Queue a receipt about m for its sender node; audit "receipt_queued"
 * unless the caller's row records it (the folded "acked" row). */
static int
receipt_queue(struct store_be *st, const struct msg_row *row, int outcome,
    const char *receiving_node, const char *code, const char *text,
    bool audit, int64_t now, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_RECEIPT_INSERT];
	const uint8_t *enc;
	size_t len = 0;
	int rc;

	len = store_receipt_pack(&st->buf, &st->buf_cap, &row->m, outcome,
	    receiving_node, code, text, now);
	enc = st->buf;
	if (len == 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "out of memory "
		    "encoding a receipt");
	sqlite3_bind_text(s, 1, row->m.sender_node, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, row->m.message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, outcome);
	sqlite3_bind_blob64(s, 4, enc, len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, st->rcpt_high + 1);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, "queueing a receipt", err);
	/* never lowered, not by a rollback either: an id given once is not
	 * given again (a session's cursor may have passed it) */
	st->rcpt_high++;
	store_rcache_put(st, row);
	if (!audit)
		return 0;
	return store_audit_msg(st, "receipt_queued", row->m.sender_node, &row->m,
	    row->subject, code, store_outcome_name(outcome), now, err);
}

/* Audit an event about a receipt with the metadata of its message. */
static int
receipt_audit(struct store_be *st, const char *event, const char *node,
    const char *message_id, int outcome, int64_t now, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_MSG_META];
	struct msg_row row = { .m = { .message_id = message_id } };
	int rc = SQLITE_ROW;

	/* the message's fields kept since the receipt was queued, else read;
	 * a message no longer stored leaves its id alone in the row */
	if (!store_rcache_get(st, message_id, &row)) {
		sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW)
			store_row_read(s, false, &row);
	}
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = store_audit_msg(st, event, node, &row.m, row.subject, NULL,
		    store_outcome_name(outcome), now, err);
	else
		rc = store_fail(st, rc, "reading a message", err);
	sqlite3_reset(s);
	/* the receipt row changed already: no commit without its audit row */
	return rc == 0 ? 0 : store_break(st, err);
}

int
store_sqlite_receipt_sent(struct store_be *st, int64_t id, int64_t now)
{
	sqlite3_stmt *s = st->stmt[S_RECEIPT_GET];
	struct nara_err err;
	int rc;

	if (store_enter(st, &err) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rc = receipt_audit(st, "receipt_sent", col_text(s, 0),
		    col_text(s, 1), sqlite3_column_int(s, 2), now, &err);
	} else if (rc == SQLITE_DONE) {
		rc = -1;    /* no such receipt */
	} else {
		rc = store_fail(st, rc, "marking a receipt sent", &err);
	}
	sqlite3_reset(s);
	return store_leave(st, rc, &err);
}

int
store_sqlite_receipt_acked(struct store_be *st, const char *node,
    const char *message_id, int64_t now)
{
	sqlite3_stmt *s = st->stmt[S_RECEIPT_FIND];
	struct nara_err err;
	int rc;

	if (store_enter(st, &err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, message_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		rc = row_delete(st, S_RECEIPT_DELETE, sqlite3_column_int64(s, 0),
		    "deleting a receipt", &err);
		if (rc == 0)
			rc = receipt_audit(st, "receipt_acked", node, message_id,
			    sqlite3_column_int(s, 1), now, &err);
		store_rcache_drop(st, message_id);
	} else if (rc == SQLITE_DONE) {
		rc = 0;     /* acking an unknown receipt is harmless */
	} else {
		rc = store_fail(st, rc, "deleting a receipt", &err);
	}
	sqlite3_reset(s);
	return store_leave(st, rc, &err);
}

/* ---------------------------------------------------------------- changes */

/* Statement which stepped with ?1 = a and ?2 = b: SQLITE_DONE or the
 * error. */
static int
step_ints(struct store_be *st, enum store_stmt which, int64_t a, int64_t b)
{
	sqlite3_stmt *s = st->stmt[which];
	int rc;

	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc;
}

/* attempts = attempt on seq's row while it is queued: 0, 1 when it is not
 * (acked or dead meanwhile), -1 with err. */
static int
attempt_set(struct store_be *st, int64_t seq, int attempt,
    struct nara_err *err)
{
	int rc = step_ints(st, S_ATTEMPT, seq, attempt);

	if (rc != SQLITE_DONE)
		return store_fail(st, rc, "recording a delivery", err);
	return sqlite3_changes(st->db) == 1 ? 0 : 1;
}

int
store_sqlite_delivering(struct store_be *st, int64_t seq, int attempt,
    const char *node, int64_t now)
{
	sqlite3_stmt *s = st->stmt[S_QUEUED_META];
	struct nara_err err;
	struct msg_row row;
	char detail[32];
	int rc = SQLITE_ROW;

	if (store_enter(st, &err) != 0)
		return -1;
	/* what the delivery pass read of it (dcache), else its row */
	if (!store_dcache_get(st, seq, &row)) {
		sqlite3_bind_int64(s, 1, seq);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW)
			store_row_read(s, false, &row);
	}
	if (rc == SQLITE_ROW) {
		if ((rc = attempt_set(st, seq, attempt, &err)) == 1)
			rc = -1;    /* not queued (acked or dead meanwhile) */
		snprintf(detail, sizeof(detail), "attempt %d", attempt);
		/* the row changed: no commit without its audit row */
		if (rc == 0 && store_audit_msg(st, "delivered", node, &row.m,
		    row.subject, NULL, detail, now, &err) != 0)
			rc = store_break(st, &err);
	} else if (rc == SQLITE_DONE) {
		rc = -1;    /* not queued (acked or dead meanwhile) */
	} else {
		rc = store_fail(st, rc, "recording a delivery", &err);
	}
	sqlite3_reset(s);
	store_dcache_drop(st, seq);
	return store_leave(st, rc, &err);
}

/* An acked message's content out of payloads (a row stored before version
 * 3 has none there: S_ACK_SET cleared its own column). A statement of its
 * own, not a trigger on the ack's UPDATE: with a trigger SQLite gathers
 * the rows to change in a temporary table first, and the ack's UPDATE
 * cost twice as much, 6 % of narad's instructions per message (schema
 * version 4). */
static int
payload_purge(struct store_be *st, int64_t seq, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_PAYLOAD_PURGE];
	int rc;

	sqlite3_bind_int64(s, 1, seq);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, rc, "purging a message's "
	    "content", err);
}

/* After the ack's UPDATE: the content purged, the sender's receipt and one
 * audit row for the ack, the purge and the receipt (audit.h,
 * AUDIT_ACKED_FOLD). */
static int
acked_rest(struct store_be *st, const struct msg_row *row, const char *node,
    int64_t now, struct nara_err *err)
{
	struct store_audit_text t;
	struct audit_row r;

	store_audit_fill_acked(&r, &t, node, &row->m, row->subject);
	if (payload_purge(st, row->m.seq, err) != 0 ||
	    receipt_queue(st, row, NARA__OUTCOME__OUTCOME_DELIVERED, node, NULL,
	    NULL, false, now, err) != 0 ||
	    store_audit_append(st, &r, row->m.seq, now, err) != 0)
		return store_break(st, err);
	st->batch_purged = true;
	return 0;
}

int
store_sqlite_acked(struct store_be *st, int64_t seq, const char *message_id,
    const char *node, int64_t now, bool *was_new)
{
	sqlite3_stmt *s = st->stmt[seq > 0 ? S_ACK_FIND_SEQ : S_ACK_FIND];
	struct nara_err err;
	struct msg_row row;
	int rc;

	if (was_new != NULL)
		*was_new = false;
	if (store_enter(st, &err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, node, -1, SQLITE_STATIC);
	if (seq > 0)
		sqlite3_bind_int64(s, 3, seq);
	if ((rc = sqlite3_step(s)) == SQLITE_DONE && seq > 0) {
		/* the seq is a hint: not that message's, look it up by id */
		sqlite3_reset(s);
		s = st->stmt[S_ACK_FIND];
		sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, node, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	if (rc == SQLITE_ROW) {
		store_row_read(s, false, &row);
		rc = row_set_int(st, S_ACK_SET, row.m.seq, now, "recording an "
		    "ack", &err);
		if (rc == 0)
			rc = acked_rest(st, &row, node, now, &err);
		if (rc == 0 && was_new != NULL)
			*was_new = true;
	} else if (rc == SQLITE_DONE) {
		rc = 0;   /* unknown, already acked, or not this node's */
	} else {
		rc = store_fail(st, rc, "recording an ack", &err);
	}
	sqlite3_reset(s);
	return store_leave(st, rc, &err);
}

/* After the dead letter's UPDATE: its audit row and the sender's receipt. */
static int
dead_rest(struct store_be *st, const struct msg_row *row, const char *code,
    const char *text, bool expired, const char *by, int64_t now,
    struct nara_err *err)
{
	int outcome = expired ? NARA__OUTCOME__OUTCOME_EXPIRED
	    : NARA__OUTCOME__OUTCOME_FAILED;

	if (store_audit_msg(st, "dead_lettered", by, &row->m, row->subject,
	    code, text, now, err) != 0 ||
	    receipt_queue(st, row, outcome, by, code, text, true, now, err) != 0)
		return store_break(st, err);
	return 0;
}

int
store_sqlite_dead_letter(struct store_be *st, const char *message_id,
    const char *code, const char *text, bool expired, const char *node,
    int64_t now)
{
	sqlite3_stmt *s = st->stmt[S_DEAD];
	const char *by = node != NULL && node[0] != '\0' ? node : NULL;
	struct nara_err err;
	struct msg_row row;
	int rc;

	if (store_enter(st, &err) != 0)
		return -1;
	sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, code, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_text(s, 5, by ? by : "", -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_row_read(s, false, &row);
		rc = dead_rest(st, &row, code, text, expired, by, now, &err);
	} else if (rc == SQLITE_DONE) {
		rc = -1;  /* no queued message with that id for that node */
	} else {
		rc = store_fail(st, rc, "dead-lettering a message", &err);
	}
	sqlite3_reset(s);
	return store_leave(st, rc, &err);
}

/* The seq a message has now, 0 when it is not stored. */
static int
msg_seq_of(struct store_be *st, const char *message_id, int64_t *seq,
    struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_MSG_META];
	int rc;

	*seq = 0;
	sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*seq = sqlite3_column_int64(s, MC_SEQ);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, rc, "reading a message", err);
	return 0;
}

/* The retried message's audit rows move with it to its new seq. */
static int
retry_rekey(struct store_be *st, int64_t old_seq, int64_t new_seq,
    struct nara_err *err)
{
	int rc = step_ints(st, S_AUDIT_REKEY, old_seq, new_seq);

	if (rc != SQLITE_DONE) {
		store_fail(st, rc, "moving the audit rows of a retry", err);
		return store_break(st, err);
	}
	return 0;
}

int
store_sqlite_retry(struct store_be *st, const char *message_id,
    const char *operator, int64_t now, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_RETRY];
	struct msg_row row;
	int64_t old_seq;
	char detail[320];
	int rc;

	if (store_enter(st, err) != 0)
		return -1;
	store_rcache_drop(st, message_id); /* it gets a new seq */
	if (msg_seq_of(st, message_id, &old_seq, err) != 0)
		return store_leave(st, -1, err);
	sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, st->seq_high + 1);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_row_read(s, false, &row);
		if (row.m.seq > st->seq_high)
			st->seq_high = row.m.seq;
		snprintf(detail, sizeof(detail), "queued again for %s%s%s",
		    row.m.recipient_node ? row.m.recipient_node : "",
		    operator ? " by " : "", operator ? operator : "");
		rc = retry_rekey(st, old_seq, row.m.seq, err);
		if (rc == 0)
			rc = store_audit_msg(st, "retried", NULL, &row.m,
			    row.subject, NULL, detail, now, err);
	} else if (rc == SQLITE_DONE) {
		rc = nara_err_set(err, NR_BAD_VALUE, "message_id", "no dead "
		    "letter with id %s", message_id ? message_id : "(none)");
	} else {
		rc = store_fail(st, rc, "retrying a dead letter", err);
	}
	sqlite3_reset(s);
	return store_leave(st, rc, err);
}
