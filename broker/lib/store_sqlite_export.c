/*
 * store_sqlite_export.c — the SQLite side of moving a store to PostgreSQL
 * (store_migrate.h): the tables read row by row, value for value.
 *
 * The store is held exclusively while it is read: a connection in
 * exclusive locking mode takes the write lock (BEGIN EXCLUSIVE) and keeps
 * it until it closes. narad keeps its WAL connections open as long as it
 * runs, so while it runs that lock cannot be had (NR042, "stop narad
 * first"), and a narad started during the move cannot open the store
 * until the move is over. Nothing is written: the transaction is rolled
 * back at the end.
 */
#include "store_migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_int.h"     /* STORE_SCHEMA_VERSION: an older store is
                              * migrated by narad first */

/* Since version 3 a message's content is kept apart (payloads) unless the
 * row was written before: a view of this connection only, named as the
 * table so that the walk below reads it unchanged, gives each message its
 * content in the column PostgreSQL keeps it in. */
static const char SRC_MESSAGES_VIEW[] =
	"CREATE TEMP VIEW messages AS SELECT seq, message_id, conversation_id,"
	" type, priority, legal_basis, sender, sender_node, recipient,"
	" recipient_node, author, subject_pseudonym, created, expires,"
	" accepted_at, state, attempts, coalesce((SELECT p.payload FROM"
	" main.payloads p WHERE p.seq = messages.seq), messages.payload) AS"
	" payload, payload_sha256, payload_size, dead_code, dead_text, done_at"
	" FROM main.messages AS messages";

struct store_src {
	sqlite3 *db;
	char path[512];
};

static int
src_fail(struct store_src *src, const char *what, struct nara_err *err)
{
	int rc = sqlite3_errcode(src->db);

	return nara_err_set(err, NR_STORE_FAILED, "store", "%s: %s: %s",
	    src->path, what, rc == SQLITE_OK ? "failed" : sqlite3_errmsg(src->db));
}

/* One integer from sql: 1 (*out set), 0 for no row or NULL, -1. */
static int
src_int(struct store_src *src, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(src->db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*out = sqlite3_column_int64(s, 0);
		rc = 1;
	} else {
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(s);
	return rc;
}

/* The exclusive lock, then the schema version. */
static int
src_lock(struct store_src *src, struct nara_err *err)
{
	int64_t version = 0;
	int rc;

	sqlite3_busy_timeout(src->db, 0);
	rc = sqlite3_exec(src->db, "PRAGMA locking_mode = EXCLUSIVE; "
	    "BEGIN EXCLUSIVE", NULL, NULL, NULL);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return nara_err_set(err, NR_UNAVAILABLE, "store", "%s is in use "
		    "(narad or another program has it open): stop narad before "
		    "moving its store", src->path);
	if (rc != SQLITE_OK)
		return src_fail(src, "cannot lock the store", err);
	if (src_int(src, "SELECT value FROM meta WHERE key = "
	    "'schema_version'", &version) != 1)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is not a "
		    "nara store", src->path);
	if (version != STORE_SCHEMA_VERSION)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s has schema "
		    "version %lld; start narad on it once (it migrates the file "
		    "to version %d), stop it, then move it", src->path,
		    (long long)version, STORE_SCHEMA_VERSION);
	if (sqlite3_exec(src->db, SRC_MESSAGES_VIEW, NULL, NULL, NULL)
	    != SQLITE_OK)
		return src_fail(src, "reading the messages", err);
	return 0;
}

struct store_src *
store_src_open(const char *path, struct nara_err *err)
{
	struct store_src *src = calloc(1, sizeof(*src));
	int rc;

	if (src == NULL) {
		nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
		return NULL;
	}
	snprintf(src->path, sizeof(src->path), "%s", path);
	/* read-write only for the lock: no transaction here is committed */
	rc = sqlite3_open_v2(path, &src->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		nara_err_set(err, NR_STORE_FAILED, "store", "cannot open %s: %s",
		    path, src->db != NULL ? sqlite3_errmsg(src->db) :
		    sqlite3_errstr(rc));
		goto fail;
	}
	if (src_lock(src, err) != 0)
		goto fail;
	return src;
fail:
	store_src_close(&src);
	return NULL;
}

void
store_src_close(struct store_src **srcp)
{
	struct store_src *src;

	if (srcp == NULL || (src = *srcp) == NULL)
		return;
	if (src->db != NULL) {
		if (!sqlite3_get_autocommit(src->db))
			sqlite3_exec(src->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(src->db);
	}
	free(src);
	*srcp = NULL;
}

/* Column c of s as the kind the table says it is. */
static void
src_cell(sqlite3_stmt *s, int c, char kind, struct store_cell *cell)
{
	memset(cell, 0, sizeof(*cell));
	if (sqlite3_column_type(s, c) == SQLITE_NULL)
		return;
	switch (kind) {
	case 'i':
		cell->kind = CELL_INT;
		cell->i = sqlite3_column_int64(s, c);
		break;
	case 't':
		cell->kind = CELL_TEXT;
		cell->p = sqlite3_column_text(s, c);
		cell->len = (size_t)sqlite3_column_bytes(s, c);
		break;
	default:
		cell->kind = CELL_BLOB;
		cell->p = sqlite3_column_blob(s, c);
		cell->len = (size_t)sqlite3_column_bytes(s, c);
		if (cell->p == NULL)
			cell->p = "";   /* a blob of no bytes */
		break;
	}
}

int
store_src_rows(struct store_src *src, const struct store_table *t,
    store_row_fn fn, void *arg, struct nara_err *err)
{
	struct store_cell row[STORE_TABLE_MAX_COLS];
	int n = (int)strlen(t->kinds), rc;
	sqlite3_stmt *s = NULL;
	char sql[1024];

	if (n > STORE_TABLE_MAX_COLS)
		return nara_err_set(err, NR_STORE_FAILED, "store", "table %s: "
		    "too many columns", t->name);
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->cols,
	    t->name, t->key);
	if (sqlite3_prepare_v2(src->db, sql, -1, &s, NULL) != SQLITE_OK)
		return src_fail(src, t->name, err);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_count(s) != n)
			break;
		for (int c = 0; c < n; c++)
			src_cell(s, c, t->kinds[c], &row[c]);
		if (fn(arg, row, n) != 0) {
			sqlite3_finalize(s);
			return -1;   /* fn filled err */
		}
	}
	if (rc != SQLITE_DONE) {
		src_fail(src, t->name, err);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

int64_t
store_src_count(struct store_src *src, const struct store_table *t,
    struct nara_err *err)
{
	char sql[200];
	int64_t n = 0;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", t->name);
	if (src_int(src, sql, &n) < 0)
		return src_fail(src, t->name, err);
	return n;
}

int
store_src_counter(struct store_src *src, const struct store_table *t,
    int64_t *last, struct nara_err *err)
{
	char sql[300];
	int64_t seq = 0, max = 0;

	*last = 0;
	if (t->counter == NULL)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT max(%s) FROM %s", t->counter,
	    t->name);
	if (src_int(src, sql, &max) < 0)
		return src_fail(src, t->name, err);
	/* AUTOINCREMENT tables: ids of deleted rows are never handed out
	 * again, so the record may be past the largest id left */
	snprintf(sql, sizeof(sql), "SELECT seq FROM sqlite_sequence WHERE "
	    "name = '%s'", t->name);
	if (src_int(src, "SELECT count(*) FROM sqlite_master WHERE name = "
	    "'sqlite_sequence'", &seq) == 1 && seq > 0) {
		seq = 0;
		if (src_int(src, sql, &seq) < 0)
			return src_fail(src, "sqlite_sequence", err);
	}
	if (seq > max)
		max = seq;
	/* ids narad gives itself: the highest is in meta */
	seq = 0;
	if (t->meta_high != NULL) {
		snprintf(sql, sizeof(sql), "SELECT value FROM meta WHERE key = "
		    "'%s'", t->meta_high);
		if (src_int(src, sql, &seq) < 0)
			return src_fail(src, "meta", err);
	}
	*last = seq > max ? seq : max;
	return 0;
}

int
store_src_head(struct store_src *src, int64_t *seq, uint8_t hash[32],
    struct nara_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*seq = 0;
	memset(hash, 0, 32);
	/* the head the last commit recorded; a store without one (every
	 * row pruned, or older files) ends at its last row */
	rc = sqlite3_prepare_v2(src->db, "SELECT (SELECT value FROM meta WHERE "
	    "key = 'audit_head_seq'), (SELECT value FROM meta WHERE key = "
	    "'audit_head_hash') UNION ALL SELECT * FROM (SELECT seq, hash FROM "
	    "audit ORDER BY seq DESC LIMIT 1)", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return src_fail(src, "reading the audit head", err);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) == SQLITE_NULL ||
		    sqlite3_column_bytes(s, 1) != 32)
			continue;
		*seq = sqlite3_column_int64(s, 0);
		memcpy(hash, sqlite3_column_blob(s, 1), 32);
		break;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return src_fail(src, "reading the audit head", err);
	return 0;
}

int
store_src_key_check(struct store_src *src, char check[17],
    struct nara_err *err)
{
	sqlite3_stmt *s = NULL;
	const char *v;
	int rc;

	check[0] = '\0';
	rc = sqlite3_prepare_v2(src->db, "SELECT value FROM meta WHERE key = "
	    "'pseudonym_check'", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW &&
	    (v = (const char *)sqlite3_column_text(s, 0)) != NULL) {
		if (strlen(v) != 16 || strspn(v, "0123456789abcdef") != 16) {
			sqlite3_finalize(s);
			return nara_err_set(err, NR_STORE_FAILED, "store", "%s: "
			    "the pseudonym key's check value in meta is not one "
			    "(16 hex digits)", src->path);
		}
		memcpy(check, v, 17);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return src_fail(src, "reading the key's check value", err);
	return 0;
}
