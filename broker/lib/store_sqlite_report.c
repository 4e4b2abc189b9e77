/*
 * store_sqlite_report.c — reading the audit log of the SQLite store for
 * nara-audit's reports and for the chain verification: audit rows by
 * selection, checkpoints, a row's hash, the recorded head, and a read
 * transaction around several of them (store.h, "Reading the audit log").
 */
#include "audit.h"
#include "audit_sign.h"
#include "store_int.h"

#include <stdio.h>
#include <string.h>

#define ROW_COLS "SELECT seq, time, event, node, message_id, type, " \
	"sender, recipient, author, legal_basis, payload_sha256, " \
	"payload_size, subject, code, detail, prev_hash, hash"
#define SELECT_ROWS ROW_COLS " FROM audit "
#define CHAIN_SQL ROW_COLS ", " STORE_SQL_MSG_SEQ_AGREES " FROM audit " \
	"ORDER BY seq"

/*
 * The rows about one message come through the two audit indexes: rows of
 * a stored message by its seq (msg_seq), the others (refusals, events
 * about unknown ids) by message_id. A seq may be taken again after the
 * message that had it was pruned (max(seq) + 1), so the rows found by seq
 * must carry the id as well. Only when neither finds a row, e.g.
 * for a message whose row was pruned, the whole log is scanned.
 */
#define TRACE_INDEXED "WHERE (msg_seq = (SELECT seq FROM messages WHERE " \
	"message_id = ?1) AND message_id = ?1) OR (msg_seq IS NULL AND " \
	"message_id = ?1) ORDER BY seq"

/*
 * The rows about one child: those carrying its pseudonym, and those about
 * one of its messages that carry no pseudonym at all (a review's row). A
 * message id alone does not say whose a row is: a refused submission is
 * written with its own id and its own child's pseudonym, and may reuse the
 * id of another child's message (NR033). So no id is taken from a refusal,
 * and no row naming another child is taken for an id.
 */
#define SUBJECT_WHERE "WHERE subject = ?1 OR (subject IS NULL AND " \
	"message_id IN (SELECT message_id FROM audit WHERE subject = ?1 AND " \
	"event <> 'rejected' AND message_id IS NOT NULL))"

#define CKPT_SQL "SELECT kind, seq, hash, time, signature, key_fingerprint " \
	"FROM checkpoints WHERE kind = ?1 ORDER BY seq, id"

static int
report_fail(struct store_be *st, struct nara_err *err)
{
	return nara_err_set(err, NR_STORE_FAILED, "audit", "%s",
	    sqlite3_errmsg(st->db));
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

/* A stored hash column, or NULL when it is not 32 bytes. */
static const uint8_t *
col_hash(sqlite3_stmt *s, int i)
{
	const void *p = sqlite3_column_blob(s, i);

	return p != NULL && sqlite3_column_bytes(s, i) == AUDIT_HASH_LEN ? p
	    : NULL;
}

/*
 * What of a SELECT_ROWS row is stored otherwise than the store writes it
 * (the first such column, said), or NULL. SQLite keeps any type in any column and the row hash
 * covers the values as converted for reading: a subject made a BLOB, a
 * time made TEXT or a BLOB, or a text with a NUL and more bytes after it
 * hashes as before, yet SQL comparisons (subject = ?, time >= ?, event = ?)
 * no longer find the row. Called before any conversion, while the
 * column types are still the stored ones.
 */
static const char *
row_misstored(sqlite3_stmt *s)
{
#define ODD(col) col " stored as another type or with a NUL inside"
	static const char *const names[] = { ODD("seq"), ODD("time"),
	    ODD("event"), ODD("node"), ODD("message_id"), ODD("type"),
	    ODD("sender"), ODD("recipient"), ODD("author"), ODD("legal_basis"),
	    ODD("payload_sha256"), ODD("payload_size"), ODD("subject"),
	    ODD("code"), ODD("detail") };
#undef ODD
	const char *text;
	int t;

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		t = sqlite3_column_type(s, i);
		if (i == 0 || i == 1 || i == 11) {
			if (t != SQLITE_INTEGER && (i != 11 || t != SQLITE_NULL))
				return names[i];
			continue;
		}
		if (t == SQLITE_NULL)
			continue;
		if (t != SQLITE_TEXT || (text = col_text(s, i)) == NULL ||
		    strlen(text) != (size_t)sqlite3_column_bytes(s, i))
			return names[i];
	}
	return NULL;
}

/* Row of SELECT_ROWS into r; the strings live until the next step. */
static void
row_read(sqlite3_stmt *s, struct audit_row *r)
{
	r->misstored = row_misstored(s);
	if (r->misstored == NULL && sqlite3_column_count(s) > 17 &&
	    sqlite3_column_int(s, 17) == 0)
		r->misstored = STORE_MSG_SEQ_ASTRAY;
	r->seq = sqlite3_column_int64(s, 0);
	r->time_ms = sqlite3_column_int64(s, 1);
	r->event = col_text(s, 2);
	r->node = col_text(s, 3);
	r->message_id = col_text(s, 4);
	r->type = col_text(s, 5);
	r->sender = col_text(s, 6);
	r->recipient = col_text(s, 7);
	r->author = col_text(s, 8);
	r->legal_basis = col_text(s, 9);
	r->payload_sha256 = col_text(s, 10);
	r->payload_size = sqlite3_column_type(s, 11) == SQLITE_NULL ? -1
	    : sqlite3_column_int64(s, 11);
	r->subject = col_text(s, 12);
	r->code = col_text(s, 13);
	r->detail = col_text(s, 14);
}

static sqlite3_stmt *
prepare(struct store_be *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

/* The trace statement: through the indexes when they find a row. */
static sqlite3_stmt *
trace_prepare(struct store_be *st, const char *message_id)
{
	sqlite3_stmt *s = prepare(st, "SELECT 1 FROM audit " TRACE_INDEXED);
	bool found = false;

	if (s != NULL) {
		sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
		found = sqlite3_step(s) == SQLITE_ROW;
		sqlite3_finalize(s);
	}
	s = prepare(st, found ? SELECT_ROWS TRACE_INDEXED :
	    SELECT_ROWS "WHERE message_id = ?1 ORDER BY seq");
	if (s != NULL)
		sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
	return s;
}

static sqlite3_stmt *
match_prepare(struct store_be *st, const struct store_audit_filter *f)
{
	sqlite3_stmt *s = prepare(st, SELECT_ROWS "WHERE time >= ?1 AND "
	    "time < ?2 AND (?3 IS NULL OR sender = ?3 OR recipient = ?3) AND "
	    "(?4 IS NULL OR type = ?4) AND (?5 IS NULL OR event = ?5) AND "
	    "(?6 IS NULL OR node = ?6) ORDER BY seq");

	if (s != NULL) {
		sqlite3_bind_int64(s, 1, f->from_ms);
		sqlite3_bind_int64(s, 2, f->to_ms);
		sqlite3_bind_text(s, 3, f->party, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, f->type, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, f->event, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, f->node, -1, SQLITE_STATIC);
	}
	return s;
}

static sqlite3_stmt *
rows_prepare(struct store_be *st, const struct store_audit_filter *f)
{
	sqlite3_stmt *s = NULL;

	switch (f->select) {
	case STORE_AUDIT_ALL:
		return prepare(st, SELECT_ROWS "ORDER BY seq");
	case STORE_AUDIT_CHAIN:
		return prepare(st, CHAIN_SQL);
	case STORE_AUDIT_MATCH:
		return match_prepare(st, f);
	case STORE_AUDIT_MESSAGE:
		return trace_prepare(st, f->message_id);
	case STORE_AUDIT_SUBJECT:
		s = prepare(st, SELECT_ROWS SUBJECT_WHERE " ORDER BY seq");
		if (s != NULL)
			sqlite3_bind_text(s, 1, f->subject, -1, SQLITE_STATIC);
		return s;
	case STORE_AUDIT_SEQ:
		s = prepare(st, SELECT_ROWS "WHERE seq = ?1");
		if (s != NULL)
			sqlite3_bind_int64(s, 1, f->seq);
		return s;
	}
	return NULL;
}

int64_t
store_sqlite_audit_rows(struct store_be *st, const struct store_audit_filter *f,
    store_audit_fn fn, void *arg, struct nara_err *err)
{
	sqlite3_stmt *s = rows_prepare(st, f);
	struct audit_row r;
	int64_t n = 0;
	int rc;

	if (s == NULL)
		return report_fail(st, err);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row_read(s, &r);
		n++;
		if (fn(arg, &r, col_hash(s, 15), col_hash(s, 16)) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		n = report_fail(st, err);
	sqlite3_finalize(s);
	return n;
}

/* Row of CKPT_SQL into c; false when the hash or signature is malformed. */
static bool
ckpt_read(sqlite3_stmt *s, struct audit_checkpoint *c)
{
	c->kind = (const char *)sqlite3_column_text(s, 0);
	c->seq = sqlite3_column_int64(s, 1);
	c->time_ms = sqlite3_column_int64(s, 3);
	c->fingerprint = (const char *)sqlite3_column_text(s, 5);
	if (sqlite3_column_bytes(s, 2) != AUDIT_HASH_LEN ||
	    sqlite3_column_bytes(s, 4) != AUDIT_SIG_LEN || c->kind == NULL)
		return false;
	memcpy(c->hash, sqlite3_column_blob(s, 2), AUDIT_HASH_LEN);
	memcpy(c->sig, sqlite3_column_blob(s, 4), AUDIT_SIG_LEN);
	return true;
}

int
store_sqlite_audit_checkpoints(struct store_be *st, const char *kind,
    store_ckpt_fn fn, void *arg, struct nara_err *err)
{
	struct audit_checkpoint c;
	sqlite3_stmt *s;
	int rc;

	if ((rc = store_ckpt_table(st)) <= 0)   /* 0: from before them */
		return rc < 0 ? report_fail(st, err) : 0;
	if ((s = prepare(st, CKPT_SQL)) == NULL)
		return report_fail(st, err);
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&c, 0, sizeof(c));
		bool ok = ckpt_read(s, &c);
		if (fn(arg, &c, ok) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	/* A damaged page ends the steps as the last row does, only with
	 * SQLITE_CORRUPT for SQLITE_DONE: the checkpoints beyond it are
	 * unread, so the walk fails instead of ending short. */
	if (rc != SQLITE_DONE)
		rc = report_fail(st, err);
	else
		rc = 0;
	sqlite3_finalize(s);
	return rc;
}

int
store_sqlite_audit_hash(struct store_be *st, int64_t seq,
    uint8_t hash[AUDIT_HASH_LEN])
{
	sqlite3_stmt *s = prepare(st, "SELECT hash FROM audit WHERE seq = ?1");
	int rc;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == AUDIT_HASH_LEN) {
		memcpy(hash, sqlite3_column_blob(s, 0), AUDIT_HASH_LEN);
		rc = 1;
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(s);
	return rc;
}

int
store_sqlite_audit_head(struct store_be *st, int64_t *seq,
    uint8_t hash[AUDIT_HASH_LEN], struct nara_err *err)
{
	sqlite3_stmt *s = prepare(st, "SELECT (SELECT value FROM meta WHERE "
	    "key = 'audit_head_seq'), (SELECT value FROM meta WHERE key = "
	    "'audit_head_hash')");
	int rc = SQLITE_ERROR;

	*seq = -1;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (s != NULL && (rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*seq = sqlite3_column_int64(s, 0);
		if (sqlite3_column_bytes(s, 1) == AUDIT_HASH_LEN)
			memcpy(hash, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
	}
	if (rc != SQLITE_ROW)
		report_fail(st, err);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_sqlite_read_begin(struct store_be *st, bool *own, struct nara_err *err)
{
	*own = sqlite3_get_autocommit(st->db) != 0;
	if (*own && sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		*own = false;
		return report_fail(st, err);
	}
	return 0;
}

void
store_sqlite_read_end(struct store_be *st, bool own)
{
	if (own)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}
