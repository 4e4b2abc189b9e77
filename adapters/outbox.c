/*
 * outbox.c — the adapter's durable state in one SQLite file (WAL,
 * synchronous=FULL, so every commit is on disk when it returns):
 *
 *   outbox   messages from the local system until narad has them, then
 *            their fate (accepted, rejected, delivered, failed) without
 *            the clinical payload, which is dropped on acceptance;
 *   handed   ids of messages, receipts and refusals handed to the local
 *            system, with the intent recorded before the hand-off, so a
 *            redelivery is acked without a second hand-off and a crash
 *            in the middle is settled at the next start;
 *   meta     link state and last receipt for `nara-adapter status`.
 */
#include "outbox.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "log.h"

/* Statements are prepared once and kept: the SQL text is a string literal
 * and its address is the key. */
#define OUTBOX_STMTS 40

struct outbox {
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} stmts[OUTBOX_STMTS];
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS outbox ("
	"  seq INTEGER PRIMARY KEY, message_id TEXT UNIQUE NOT NULL,"
	"  envelope BLOB, source TEXT NOT NULL DEFAULT '',"
	"  state INTEGER NOT NULL DEFAULT 0, code TEXT NOT NULL DEFAULT '',"
	"  text TEXT NOT NULL DEFAULT '', retryable INTEGER NOT NULL DEFAULT 0,"
	"  attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL, updated INTEGER NOT NULL, receipt TEXT);"
	"CREATE INDEX IF NOT EXISTS outbox_queued ON outbox(state, seq);"
	"CREATE TABLE IF NOT EXISTS handed ("
	"  seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL,"
	"  outcome TEXT NOT NULL, time INTEGER NOT NULL, UNIQUE(kind, id));"
	"CREATE INDEX IF NOT EXISTS handed_open ON handed(outcome, kind);"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)"
	"  WITHOUT ROWID;";

/* Columns later versions added; a state file of an older adapter gets
 * them at open. */
static const struct {
	const char *table, *column, *decl;
} added_columns[] = {
	{ "outbox", "digest", "BLOB" },
	{ "handed", "name", "TEXT NOT NULL DEFAULT ''" },
};

static int
add_columns(sqlite3 *db, char **msg)
{
	char sql[200];

	for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]);
	    i++) {
		sqlite3_stmt *st = NULL;
		bool have = false;

		snprintf(sql, sizeof(sql), "SELECT 1 FROM pragma_table_info('%s') "
		    "WHERE name = '%s'", added_columns[i].table,
		    added_columns[i].column);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			return -1;
		have = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s",
		    added_columns[i].table, added_columns[i].column,
		    added_columns[i].decl);
		if (!have && sqlite3_exec(db, sql, NULL, NULL, msg) != SQLITE_OK)
			return -1;
	}
	return 0;
}

const char *
outbox_state_name(enum outbox_state s)
{
	static const char *names[] = { "queued", "accepted", "rejected",
		"delivered", "failed" };

	return (unsigned)s < 5 ? names[s] : "unknown";
}

void
outbox_row_clear(struct outbox_row *row)
{
	free(row->text);
	free(row->source);
	free(row->receipt_json);
	memset(row, 0, sizeof(*row));
}

struct outbox *
outbox_open(const char *path, bool readonly, struct nara_err *err)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	char *msg = NULL;
	int flags = readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	if (ob == NULL) {
		nara_err_set(err, NR_IO, "", "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &ob->db, flags | SQLITE_OPEN_FULLMUTEX,
	    NULL) != SQLITE_OK) {
		nara_err_set(err, NR_IO, "", "cannot open %s: %s", path,
		    ob->db ? sqlite3_errmsg(ob->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(ob->db, 5000);
	if (!readonly && sqlite3_exec(ob->db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=FULL;", NULL, NULL, &msg) != SQLITE_OK)
		goto sqlfail;
	if (!readonly && (sqlite3_exec(ob->db, schema, NULL, NULL, &msg) !=
	    SQLITE_OK || add_columns(ob->db, &msg) != 0))
		goto sqlfail;
	return ob;
sqlfail:
	nara_err_set(err, NR_IO, "", "%s: %s", path, msg ? msg : "error");
	sqlite3_free(msg);
fail:
	outbox_free(&ob);
	return NULL;
}

void
outbox_free(struct outbox **ob)
{
	if (ob == NULL || *ob == NULL)
		return;
	for (int i = 0; i < OUTBOX_STMTS && (*ob)->stmts[i].st; i++)
		sqlite3_finalize((*ob)->stmts[i].st);
	sqlite3_close((*ob)->db);
	free(*ob);
	*ob = NULL;
}

/*
 * The kept statement for sql, bound from fmt, one letter per parameter:
 * 't' text (NULL binds ""), 'b' blob (pointer, size_t), 'i' int, 'l'
 * int64_t. On failure it logs and returns NULL. Hand it back with done().
 */
static sqlite3_stmt *
stmt(struct outbox *ob, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int i, n = 1;

	for (i = 0; i < OUTBOX_STMTS && ob->stmts[i].sql != NULL; i++)
		if (ob->stmts[i].sql == sql) {
			st = ob->stmts[i].st;
			break;
		}
	if (st == NULL) {
		if (sqlite3_prepare_v3(ob->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
		    &st, NULL) != SQLITE_OK) {
			log_error("adapter state: %s", sqlite3_errmsg(ob->db));
			return NULL;
		}
		if (i < OUTBOX_STMTS) {
			ob->stmts[i].sql = sql;
			ob->stmts[i].st = st;
		}
	}
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++, n++) {
		const char *t;
		const void *blob;

		switch (*f) {
		case 't':
			t = va_arg(ap, const char *);
			sqlite3_bind_text(st, n, t ? t : "", -1, SQLITE_TRANSIENT);
			break;
		case 'b':
			blob = va_arg(ap, const void *);
			sqlite3_bind_blob(st, n, blob, (int)va_arg(ap, size_t),
			    SQLITE_TRANSIENT);
			break;
		case 'i':
			sqlite3_bind_int(st, n, va_arg(ap, int));
			break;
		default:
			sqlite3_bind_int64(st, n, va_arg(ap, int64_t));
			break;
		}
	}
	va_end(ap);
	return st;
}

/* Hand back a statement from stmt(): reset it, or finalize it when it was
 * one too many to keep. */
static void
done(struct outbox *ob, sqlite3_stmt *st)
{
	for (int i = 0; i < OUTBOX_STMTS; i++)
		if (ob->stmts[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	sqlite3_finalize(st);
}

/* Run a statement from stmt() to completion: 0, or -1 logged. */
static int
run(struct outbox *ob, sqlite3_stmt *st)
{
	int rc;

	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		log_error("adapter state: %s", sqlite3_errmsg(ob->db));
	done(ob, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
outbox_begin(struct outbox *ob)
{
	return run(ob, stmt(ob, "BEGIN IMMEDIATE", ""));
}

int
outbox_commit(struct outbox *ob)
{
	return run(ob, stmt(ob, "COMMIT", ""));
}

void
outbox_rollback(struct outbox *ob)
{
	if (!sqlite3_get_autocommit(ob->db))
		run(ob, stmt(ob, "ROLLBACK", ""));
}

int
outbox_put(struct outbox *ob, const char *message_id, const uint8_t *env,
    size_t len, const char *source, int64_t now, struct nara_err *err)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	sqlite3_stmt *st;
	int rc, same = 0;

	if (EVP_Digest(env, len, digest, &dlen, EVP_sha256(), NULL) != 1)
		return nara_err_set(err, NR_IO, "", "cannot hash message %s",
		    message_id);
	/* Once accepted the bytes are gone and their digest decides; a row
	 * of an older adapter without digest: the id decides. */
	st = stmt(ob, "SELECT CASE WHEN envelope IS NOT NULL THEN envelope = ?2 "
	    "WHEN digest IS NOT NULL THEN digest = ?3 ELSE 1 END FROM outbox "
	    "WHERE message_id = ?1", "tbb", message_id, (const void *)env, len,
	    (const void *)digest, (size_t)dlen);
	if (st == NULL)
		return nara_err_set(err, NR_IO, "", "adapter state unusable");
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		same = sqlite3_column_int(st, 0);
	done(ob, st);
	if (rc == SQLITE_ROW)
		return same ? OUTBOX_SAME : OUTBOX_CONFLICT;
	if (rc != SQLITE_DONE)
		return nara_err_set(err, NR_IO, "", "adapter state: %s",
		    sqlite3_errmsg(ob->db));
	if (run(ob, stmt(ob, "INSERT INTO outbox (message_id, envelope, source, "
	    "created, updated, digest) VALUES (?1, ?2, ?3, ?4, ?4, ?5)", "tbtlb",
	    message_id, (const void *)env, len, source, now,
	    (const void *)digest, (size_t)dlen)) != 0)
		return nara_err_set(err, NR_IO, "", "adapter state: cannot store "
		    "message %s", message_id);
	return OUTBOX_NEW;
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

int
outbox_get(struct outbox *ob, const char *message_id, struct outbox_row *row)
{
	sqlite3_stmt *st = stmt(ob, "SELECT seq, message_id, state, code, text, "
	    "retryable, source, receipt, created, updated, attempts FROM outbox "
	    "WHERE message_id = ?1", "t", message_id);
	int rc;

	memset(row, 0, sizeof(*row));
	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row->seq = sqlite3_column_int64(st, 0);
		snprintf(row->message_id, sizeof(row->message_id), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		row->state = (enum outbox_state)sqlite3_column_int(st, 2);
		snprintf(row->code, sizeof(row->code), "%s",
		    (const char *)sqlite3_column_text(st, 3));
		row->text = col_dup(st, 4);
		row->retryable = sqlite3_column_int(st, 5) != 0;
		row->source = col_dup(st, 6);
		row->receipt_json = col_dup(st, 7);
		row->created = sqlite3_column_int64(st, 8);
		row->updated = sqlite3_column_int64(st, 9);
		row->attempts = sqlite3_column_int(st, 10);
	}
	done(ob, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
outbox_due(struct outbox *ob, int64_t now, int64_t after_seq, int limit,
    outbox_due_cb cb, void *arg)
{
	sqlite3_stmt *st = stmt(ob, "SELECT seq, message_id, envelope FROM outbox "
	    "WHERE state = 0 AND seq > ?1 AND next_try <= ?2 ORDER BY seq LIMIT ?3",
	    "lli", after_seq, now, limit);
	int n = 0, rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (cb(arg, sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_blob(st, 2),
		    (size_t)sqlite3_column_bytes(st, 2)) != 0)
			break;
	}
	done(ob, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

/* The first column of the one row sql gives, or fallback. */
static int64_t
scalar(struct outbox *ob, sqlite3_stmt *st, int64_t fallback)
{
	int64_t v = fallback;

	if (st == NULL)
		return fallback;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	done(ob, st);
	return v;
}

int64_t
outbox_next_retry(struct outbox *ob)
{
	return scalar(ob, stmt(ob, "SELECT min(next_try) FROM outbox "
	    "WHERE state = 0", ""), 0);
}

/* Move a queued row to a final state; envelope dropped either way. */
static int
finish(struct outbox *ob, const char *message_id, enum outbox_state state,
    const char *code, const char *text, int64_t now)
{
	return run(ob, stmt(ob, "UPDATE outbox SET state = ?2, code = ?3, "
	    "text = ?4, retryable = 0, envelope = NULL, updated = ?5, "
	    "attempts = attempts + 1 WHERE message_id = ?1 AND state = 0",
	    "tittl", message_id, (int)state, code, text, now));
}

int
outbox_accepted(struct outbox *ob, const char *message_id, int64_t now)
{
	return finish(ob, message_id, OUTBOX_ACCEPTED, "", "", now);
}

int
outbox_rejected(struct outbox *ob, const char *message_id, const char *code,
    const char *text, int64_t now)
{
	return finish(ob, message_id, OUTBOX_REJECTED, code, text, now);
}

int
outbox_retry(struct outbox *ob, const char *message_id, const char *code,
    const char *text, int64_t next_try, int64_t now)
{
	return run(ob, stmt(ob, "UPDATE outbox SET code = ?2, text = ?3, "
	    "retryable = 1, next_try = ?4, updated = ?5, attempts = attempts + 1 "
	    "WHERE message_id = ?1 AND state = 0", "tttll", message_id, code,
	    text, next_try, now));
}

int
outbox_receipt(struct outbox *ob, const char *message_id,
    enum outbox_state state,
    const char *code, const char *text, const char *receipt_json, int64_t now)
{
	return run(ob, stmt(ob, "UPDATE outbox SET state = ?2, code = ?3, "
	    "text = ?4, receipt = ?5, updated = ?6, envelope = NULL "
	    "WHERE message_id = ?1", "titttl", message_id, (int)state, code,
	    text, receipt_json, now));
}

int
outbox_handed_get(struct outbox *ob, const char *kind, const char *id)
{
	sqlite3_stmt *st = stmt(ob, "SELECT outcome FROM handed WHERE kind = ?1 "
	    "AND id = ?2", "tt", kind, id);
	const char *outcome;
	int rc, state = HANDED_NONE;

	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		outcome = (const char *)sqlite3_column_text(st, 0);
		state = outcome == NULL ? HANDED_DONE :
		    strcmp(outcome, "intent") == 0 ? HANDED_INTENT :
		    strcmp(outcome, "refused") == 0 ? HANDED_REFUSED : HANDED_DONE;
	}
	done(ob, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? state : -1;
}

int
outbox_handed_seen(struct outbox *ob, const char *kind, const char *id)
{
	int state = outbox_handed_get(ob, kind, id);

	return state < 0 ? -1 : state == HANDED_DONE;
}

int
outbox_handed_add(struct outbox *ob, const char *kind, const char *id,
    const char *outcome, int64_t now)
{
	return run(ob, stmt(ob, "INSERT INTO handed (kind, id, outcome, time) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, id) DO UPDATE SET "
	    "outcome = excluded.outcome, time = excluded.time", "tttl", kind, id,
	    outcome, now));
}

int
outbox_handed_intent(struct outbox *ob, const char *kind, const char *id,
    const char *name, int64_t now)
{
	return run(ob, stmt(ob, "INSERT INTO handed (kind, id, outcome, time, "
	    "name) VALUES (?1, ?2, 'intent', ?3, ?4) ON CONFLICT (kind, id) DO "
	    "UPDATE SET outcome = 'intent', time = excluded.time, "
	    "name = excluded.name", "ttlt", kind, id, now, name));
}

int
outbox_handed_forget(struct outbox *ob, const char *kind, const char *id)
{
	return run(ob, stmt(ob, "DELETE FROM handed WHERE kind = ?1 AND id = ?2 "
	    "AND outcome = 'intent'", "tt", kind, id));
}

int
outbox_handed_reset(struct outbox *ob, const char *kind, const char *id)
{
	return run(ob, stmt(ob, "DELETE FROM handed WHERE kind = ?1 AND id = ?2",
	    "tt", kind, id));
}

int
outbox_intents(struct outbox *ob, const char *kind, outbox_intent_cb cb,
    void *arg)
{
	sqlite3_stmt *st = stmt(ob, "SELECT id, name FROM handed WHERE "
	    "outcome = 'intent' AND kind = ?1 ORDER BY seq", "t", kind);
	int n = 0, rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1)) != 0)
			break;
	}
	done(ob, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

int
outbox_unpushed_refusals(struct outbox *ob, outbox_id_cb cb, void *arg)
{
	sqlite3_stmt *st = stmt(ob, "SELECT message_id FROM outbox o WHERE "
	    "state = 2 AND NOT EXISTS (SELECT 1 FROM handed h WHERE "
	    "h.kind = 'refusal' AND h.id = o.message_id AND "
	    "h.outcome != 'intent') ORDER BY seq", "");
	int n = 0, rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (cb(arg, (const char *)sqlite3_column_text(st, 0)) != 0)
			break;
	}
	done(ob, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

long
outbox_prune(struct outbox *ob, int64_t before)
{
	long n;

	if (run(ob, stmt(ob, "DELETE FROM outbox WHERE state IN (2, 3, 4) "
	    "AND updated < ?1", "l", before)) != 0)
		return -1;
	n = sqlite3_changes(ob->db);
	if (run(ob, stmt(ob, "DELETE FROM handed WHERE time < ?1 AND "
	    "outcome != 'intent'", "l", before)) != 0)
		return -1;
	return n + sqlite3_changes(ob->db);
}

int
outbox_meta_set(struct outbox *ob, const char *key, const char *value)
{
	return run(ob, stmt(ob, "INSERT OR REPLACE INTO meta (key, value) "
	    "VALUES (?1, ?2)", "tt", key, value));
}

void
outbox_meta_get(struct outbox *ob, const char *key, char *out, size_t len)
{
	sqlite3_stmt *st = stmt(ob, "SELECT value FROM meta WHERE key = ?1",
	    "t", key);

	out[0] = '\0';
	if (st == NULL)
		return;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
	done(ob, st);
}

int
outbox_status(struct outbox *ob, struct outbox_status *s)
{
	long *by_state[] = { &s->queued, &s->accepted, &s->rejected,
		&s->delivered, &s->failed };

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 5; i++)
		if ((*by_state[i] = (long)scalar(ob, stmt(ob, "SELECT count(*) "
		    "FROM outbox WHERE state = ?1", "i", i), -1)) < 0)
			return -1;
	s->handed = (long)scalar(ob, stmt(ob, "SELECT count(*) FROM handed "
	    "WHERE kind = 'message' AND outcome != 'intent'", ""), -1);
	s->receipts = (long)scalar(ob, stmt(ob, "SELECT count(*) FROM handed "
	    "WHERE kind = 'receipt' AND outcome != 'intent'", ""), -1);
	s->intents = (long)scalar(ob, stmt(ob, "SELECT count(*) FROM handed "
	    "WHERE outcome = 'intent'", ""), -1);
	s->oldest_unsent = scalar(ob, stmt(ob, "SELECT coalesce(min(created), 0) "
	    "FROM outbox WHERE state = 0", ""), 0);
	outbox_meta_get(ob, "link", s->link, sizeof(s->link));
	outbox_meta_get(ob, "link_since", s->link_since,
	    sizeof(s->link_since));
	outbox_meta_get(ob, "broker_id", s->broker_id, sizeof(s->broker_id));
	outbox_meta_get(ob, "last_receipt", s->last_receipt,
	    sizeof(s->last_receipt));
	outbox_meta_get(ob, "last_receipt_id", s->last_receipt_id,
	    sizeof(s->last_receipt_id));
	outbox_meta_get(ob, "local_error", s->local_error,
	    sizeof(s->local_error));
	outbox_meta_get(ob, "local_error_since", s->local_error_since,
	    sizeof(s->local_error_since));
	if (s->link[0] == '\0')
		snprintf(s->link, sizeof(s->link), "never connected");
	return s->handed < 0 || s->receipts < 0 || s->intents < 0 ? -1 : 0;
}
