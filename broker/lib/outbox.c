/*
 * outbox.c — the adapter's durable state in one SQLite file (WAL,
 * synchronous=FULL, so every commit is on disk when it returns):
 *
 *   outbox   messages from the local system until narad has them, then
 *            their fate (accepted, rejected, delivered, failed) without
 *            the clinical payload, which is dropped on acceptance;
 *   handed   ids of messages and receipts handed to the local system, so a
 *            redelivery is acked without a second hand-off;
 *   meta     link state and last receipt for `nara-adapter status`.
 */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"

struct outbox {
	sqlite3 *db;
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
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)"
	"  WITHOUT ROWID;";

const char *
out_state_name(enum out_state s)
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
	if (!readonly && sqlite3_exec(ob->db, schema, NULL, NULL, &msg) != SQLITE_OK)
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
	sqlite3_close((*ob)->db);
	free(*ob);
	*ob = NULL;
}

/* Prepare sql; on failure log and return NULL. */
static sqlite3_stmt *
prep(struct outbox *ob, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(ob->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_error("adapter state: %s", sqlite3_errmsg(ob->db));
		return NULL;
	}
	return st;
}

/* Run a prepared statement to completion and finalize it. */
static int
run(struct outbox *ob, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		log_error("adapter state: %s", sqlite3_errmsg(ob->db));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_TRANSIENT);
}

int
outbox_put(struct outbox *ob, const char *message_id, const uint8_t *env,
    size_t len, const char *source, int64_t now, struct nara_err *err)
{
	sqlite3_stmt *st;
	int rc;

	st = prep(ob, "SELECT envelope IS NULL OR envelope = ?2 FROM outbox "
	    "WHERE message_id = ?1");
	if (st == NULL)
		return nara_err_set(err, NR_IO, "", "adapter state unusable");
	bind_text(st, 1, message_id);
	sqlite3_bind_blob(st, 2, env, (int)len, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		/* Once accepted the bytes are gone; the id then decides. */
		int same = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		return same ? OUTBOX_SAME : OUTBOX_CONFLICT;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return nara_err_set(err, NR_IO, "", "adapter state: %s",
		    sqlite3_errmsg(ob->db));
	st = prep(ob, "INSERT INTO outbox (message_id, envelope, source, "
	    "created, updated) VALUES (?1, ?2, ?3, ?4, ?4)");
	if (st == NULL)
		return nara_err_set(err, NR_IO, "", "adapter state unusable");
	bind_text(st, 1, message_id);
	sqlite3_bind_blob(st, 2, env, (int)len, SQLITE_TRANSIENT);
	bind_text(st, 3, source);
	sqlite3_bind_int64(st, 4, now);
	if (run(ob, st) != 0)
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
	sqlite3_stmt *st = prep(ob, "SELECT seq, message_id, state, code, text, "
	    "retryable, source, receipt, created, updated, attempts FROM outbox "
	    "WHERE message_id = ?1");
	int rc;

	memset(row, 0, sizeof(*row));
	if (st == NULL)
		return -1;
	bind_text(st, 1, message_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row->seq = sqlite3_column_int64(st, 0);
		snprintf(row->message_id, sizeof(row->message_id), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		row->state = (enum out_state)sqlite3_column_int(st, 2);
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
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
outbox_due(struct outbox *ob, int64_t now, int64_t after_seq, int limit,
    outbox_due_cb cb, void *arg)
{
	sqlite3_stmt *st = prep(ob, "SELECT seq, message_id, envelope FROM outbox "
	    "WHERE state = 0 AND seq > ?1 AND next_try <= ?2 ORDER BY seq LIMIT ?3");
	int n = 0, rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, after_seq);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (cb(arg, sqlite3_column_int64(st, 0),
		    (const char *)sqlite3_column_text(st, 1),
		    sqlite3_column_blob(st, 2),
		    (size_t)sqlite3_column_bytes(st, 2)) != 0)
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

int64_t
outbox_next_retry(struct outbox *ob)
{
	sqlite3_stmt *st = prep(ob, "SELECT min(next_try) FROM outbox WHERE state = 0");
	int64_t t = 0;

	if (st == NULL)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		t = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return t;
}

/* Move a queued row to a final state; envelope dropped either way. */
static int
finish(struct outbox *ob, const char *message_id, enum out_state state,
    const char *code, const char *text, int64_t now)
{
	sqlite3_stmt *st = prep(ob, "UPDATE outbox SET state = ?2, code = ?3, "
	    "text = ?4, retryable = 0, envelope = NULL, updated = ?5, "
	    "attempts = attempts + 1 WHERE message_id = ?1 AND state = 0");

	if (st == NULL)
		return -1;
	bind_text(st, 1, message_id);
	sqlite3_bind_int(st, 2, state);
	bind_text(st, 3, code);
	bind_text(st, 4, text);
	sqlite3_bind_int64(st, 5, now);
	return run(ob, st);
}

int
outbox_accepted(struct outbox *ob, const char *message_id, int64_t now)
{
	return finish(ob, message_id, OUT_ACCEPTED, "", "", now);
}

int
outbox_rejected(struct outbox *ob, const char *message_id, const char *code,
    const char *text, int64_t now)
{
	return finish(ob, message_id, OUT_REJECTED, code, text, now);
}

int
outbox_retry(struct outbox *ob, const char *message_id, const char *code,
    const char *text, int64_t next_try, int64_t now)
{
	sqlite3_stmt *st = prep(ob, "UPDATE outbox SET code = ?2, text = ?3, "
	    "retryable = 1, next_try = ?4, updated = ?5, attempts = attempts + 1 "
	    "WHERE message_id = ?1 AND state = 0");

	if (st == NULL)
		return -1;
	bind_text(st, 1, message_id);
	bind_text(st, 2, code);
	bind_text(st, 3, text);
	sqlite3_bind_int64(st, 4, next_try);
	sqlite3_bind_int64(st, 5, now);
	return run(ob, st);
}

int
outbox_receipt(struct outbox *ob, const char *message_id, enum out_state state,
    const char *code, const char *text, const char *receipt_json, int64_t now)
{
	sqlite3_stmt *st = prep(ob, "UPDATE outbox SET state = ?2, code = ?3, "
	    "text = ?4, receipt = ?5, updated = ?6, envelope = NULL "
	    "WHERE message_id = ?1");

	if (st == NULL)
		return -1;
	bind_text(st, 1, message_id);
	sqlite3_bind_int(st, 2, state);
	bind_text(st, 3, code);
	bind_text(st, 4, text);
	bind_text(st, 5, receipt_json);
	sqlite3_bind_int64(st, 6, now);
	return run(ob, st);
}

int
outbox_handed_seen(struct outbox *ob, const char *kind, const char *id)
{
	sqlite3_stmt *st = prep(ob, "SELECT 1 FROM handed WHERE kind = ?1 AND id = ?2");
	int rc;

	if (st == NULL)
		return -1;
	bind_text(st, 1, kind);
	bind_text(st, 2, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
outbox_handed_add(struct outbox *ob, const char *kind, const char *id,
    const char *outcome, int64_t now)
{
	sqlite3_stmt *st = prep(ob, "INSERT OR IGNORE INTO handed (kind, id, "
	    "outcome, time) VALUES (?1, ?2, ?3, ?4)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, kind);
	bind_text(st, 2, id);
	bind_text(st, 3, outcome);
	sqlite3_bind_int64(st, 4, now);
	return run(ob, st);
}

long
outbox_prune(struct outbox *ob, int64_t before)
{
	sqlite3_stmt *st;
	long n = 0;

	st = prep(ob, "DELETE FROM outbox WHERE state IN (2, 3, 4) AND updated < ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	if (run(ob, st) != 0)
		return -1;
	n += sqlite3_changes(ob->db);
	if ((st = prep(ob, "DELETE FROM handed WHERE time < ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, before);
	if (run(ob, st) != 0)
		return -1;
	return n + sqlite3_changes(ob->db);
}

int
outbox_meta_set(struct outbox *ob, const char *key, const char *value)
{
	sqlite3_stmt *st = prep(ob, "INSERT OR REPLACE INTO meta (key, value) "
	    "VALUES (?1, ?2)");

	if (st == NULL)
		return -1;
	bind_text(st, 1, key);
	bind_text(st, 2, value);
	return run(ob, st);
}

static void
meta_get(struct outbox *ob, const char *key, char *out, size_t len)
{
	sqlite3_stmt *st = prep(ob, "SELECT value FROM meta WHERE key = ?1");

	out[0] = '\0';
	if (st == NULL)
		return;
	bind_text(st, 1, key);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static long
count(struct outbox *ob, const char *sql)
{
	sqlite3_stmt *st = prep(ob, sql);
	long n = -1;

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int
outbox_status(struct outbox *ob, struct outbox_status *s)
{
	long *by_state[] = { &s->queued, &s->accepted, &s->rejected,
		&s->delivered, &s->failed };
	char sql[96];

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 5; i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox WHERE "
		    "state = %d", i);
		if ((*by_state[i] = count(ob, sql)) < 0)
			return -1;
	}
	s->handed = count(ob, "SELECT count(*) FROM handed WHERE kind = 'message'");
	s->receipts = count(ob, "SELECT count(*) FROM handed WHERE kind = 'receipt'");
	s->oldest_unsent = count(ob, "SELECT coalesce(min(created), 0) FROM "
	    "outbox WHERE state = 0");
	meta_get(ob, "link", s->link, sizeof(s->link));
	meta_get(ob, "link_since", s->link_since, sizeof(s->link_since));
	meta_get(ob, "broker_id", s->broker_id, sizeof(s->broker_id));
	meta_get(ob, "last_receipt", s->last_receipt, sizeof(s->last_receipt));
	meta_get(ob, "last_receipt_id", s->last_receipt_id,
	    sizeof(s->last_receipt_id));
	if (s->link[0] == '\0')
		snprintf(s->link, sizeof(s->link), "never connected");
	return s->handed < 0 || s->receipts < 0 ? -1 : 0;
}
