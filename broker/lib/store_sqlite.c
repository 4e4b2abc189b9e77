/*
 * store_sqlite.c — the SQLite backend of store.h: opening and creating the
 * database, the prepared statements, batches and statistics. The
 * operations on messages and receipts are in store_sqlite_msg.c, the WAL
 * and the thread that checkpoints it in store_sqlite_wal.c.
 *
 * Durability: WAL with synchronous=FULL, so a commit returns after the WAL
 * is on disk.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "store_common.h"
#include "store_stats_sql.h"

/* A node acks only what was delivered to it (attempts > 0): an ack of a
 * message still waiting would claim that it arrived, have its content
 * deleted and its sender told DELIVERED. */
#define ACKABLE "message_id = ?1 AND recipient_node = ?2 AND state = 0 AND " \
	"attempts > 0"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_PAGE_COUNT] = "PRAGMA page_count",
	[S_DATA_VERSION] = "PRAGMA data_version",
	/* a prune may have taken the newest rows: their seqs are in meta */
	[S_SEQ_HIGH] = "SELECT max(coalesce((SELECT max(seq) FROM messages), "
	    "0), coalesce((SELECT value FROM meta WHERE key = "
	    "'message_seq_high'), 0))",
	/* receipt ids: see receipt_queue (store_sqlite_msg.c) */
	[S_RCPT_HIGH] = "SELECT coalesce((SELECT value FROM meta WHERE key = "
	    "'receipt_id_high'), 0), coalesce((SELECT max(id) FROM receipts), 0)",
	[S_RCPT_HIGH_SAVE] = "INSERT OR REPLACE INTO meta(key, value) VALUES "
	    "('receipt_id_high', ?1)",
	[S_VACUUM] = "PRAGMA incremental_vacuum(256)",
	[S_HEAD_SAVE] = "INSERT OR REPLACE INTO meta(key, value) VALUES "
	    "('audit_head_seq', ?1), ('audit_head_hash', ?2)",
	[S_HEAD_LOAD] = "SELECT (SELECT value FROM meta WHERE key = "
	    "'audit_head_seq'), (SELECT value FROM meta WHERE key = "
	    "'audit_head_hash')",
	[S_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	[S_AUDIT_INSERT] = "INSERT INTO audit(seq, time, event, node, "
	    "message_id, type, sender, recipient, author, legal_basis, "
	    "payload_sha256, payload_size, subject, code, detail, prev_hash, "
	    "hash, msg_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
	    "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
	/* A retried message's earlier audit rows follow it to its new seq. */
	[S_AUDIT_REKEY] = "UPDATE audit SET msg_seq = ?2 WHERE msg_seq = ?1",
	[S_MSG_FIND] = "SELECT payload_sha256 FROM messages WHERE message_id = ?1",
	/* A seq is never given twice, not even after a prune took the
	 * newest rows (?17: one above the highest given, store.h). */
	[S_MSG_INSERT] = "INSERT INTO messages(seq, message_id, "
	    "conversation_id, type, priority, legal_basis, sender, sender_node, "
	    "recipient, recipient_node, author, subject_pseudonym, created, "
	    "expires, accepted_at, payload_sha256, payload_size) VALUES ("
	    "max(coalesce((SELECT max(seq) FROM messages), 0) + 1, ?17), ?1, "
	    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
	/* the content apart from the row (store_sqlite_schema.c) */
	[S_PAYLOAD_PURGE] = "DELETE FROM payloads WHERE seq = ?1",
	[S_PAYLOAD_INSERT] = "INSERT INTO payloads(seq, payload) VALUES (?1, "
	    "?2)",
	[S_MSG_META] = "SELECT " MSG_COLS " FROM messages WHERE message_id = ?1",
	[S_QUEUE_LOAD] = "SELECT " MSG_COLS ", " STORE_SQL_PAYLOAD " FROM "
	    "messages INDEXED BY messages_queue WHERE "
	    "recipient_node = ?1 AND state = 0 AND seq > ?2 ORDER BY seq "
	    "LIMIT ?3",
	[S_QUEUE_SEQ] = "SELECT " MSG_COLS ", " STORE_SQL_PAYLOAD " FROM "
	    "messages WHERE seq = ?1 AND recipient_node = ?2 AND state = 0",
	[S_EXPIRED] = "SELECT " MSG_COLS ", NULL FROM messages WHERE state = 0 "
	    "AND expires > 0 AND expires <= ?1 ORDER BY expires LIMIT ?2",
	/*
	 * A delivery and an ack read the row, then change it by its key: an
	 * UPDATE ... RETURNING would gather its rows in a temporary b-tree
	 * opened and freed at every statement (4 % of narad's loop in a drain).
	 */
	[S_QUEUED_META] = "SELECT " MSG_COLS " FROM messages WHERE seq = ?1 AND "
	    "state = 0",
	/* only a queued row: none changed, it was acked or dead-lettered */
	[S_ATTEMPT] = "UPDATE messages SET attempts = ?2 WHERE seq = ?1 AND "
	    "state = 0",
	[S_ACK_FIND] = "SELECT " MSG_COLS " FROM messages WHERE " ACKABLE,
	/* the same, first, when narad knows the seq it delivered it under */
	[S_ACK_FIND_SEQ] = "SELECT " MSG_COLS " FROM messages WHERE seq = ?3 AND "
	    ACKABLE,
	[S_ACK_SET] = "UPDATE messages SET state = 1, done_at = ?2, payload = NULL "
	    "WHERE seq = ?1",
	[S_DEAD] = "UPDATE messages SET state = 2, dead_code = ?2, dead_text = "
	    "?3, done_at = ?4 WHERE message_id = ?1 AND state = 0 AND (?5 = '' "
	    "OR recipient_node = ?5) RETURNING " MSG_COLS,
	/* A retried message goes to the back of its queue with a new seq, so
	 * that readers paging by seq find it again. */
	[S_RETRY] = "UPDATE messages SET seq = max((SELECT max(seq) FROM "
	    "messages) + 1, ?2), state = 0, attempts = 0, dead_code = NULL, dead_text = "
	    "NULL, done_at = NULL WHERE message_id = ?1 AND state = 2 AND "
	    STORE_SQL_PAYLOAD_KEPT " RETURNING " MSG_COLS,
	/* An id is never given twice, not even after the newest receipts were
	 * acked and deleted (?5: one above the highest given, kept in meta and
	 * read again after another writer's commit; AUTOINCREMENT until
	 * schema version 5). An id taken meanwhile fails the batch. */
	[S_RECEIPT_INSERT] = "INSERT INTO receipts(id, node, message_id, "
	    "outcome, encoded) VALUES (?5, ?1, ?2, ?3, ?4)",
	[S_RECEIPTS_LOAD] = "SELECT id, node, message_id, outcome, encoded FROM "
	    "receipts WHERE node = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	/* a receipt sent: its audit row; the row itself is not changed
	 * (its sent column is no longer written: the receipt_sent row has
	 * the time) */
	[S_RECEIPT_GET] = "SELECT node, message_id, outcome FROM receipts WHERE "
	    "id = ?1",
	[S_RECEIPT_FIND] = "SELECT id, outcome FROM receipts WHERE node = ?1 AND "
	    "message_id = ?2 ORDER BY id LIMIT 1",
	[S_RECEIPT_DELETE] = "DELETE FROM receipts WHERE id = ?1",
	[S_NODE_STATS] = STORE_SQL_NODE_STATS,
	[S_TOTALS] = STORE_SQL_TOTALS,
};

/* ---------------------------------------------------------------- errors */

int
store_fail(struct store_be *st, int rc, const char *what, struct nara_err *err)
{
	struct nara_err local;

	if (err == NULL)
		err = &local;
	if (rc == SQLITE_FULL)
		nara_err_set(err, NR_STORE_FULL, "store", "%s: %s", what,
		    sqlite3_errmsg(st->db));
	else
		nara_err_set(err, NR_STORE_FAILED, "store", "%s: %s", what,
		    sqlite3_errmsg(st->db));
	log_error("store %s: %s", st->path, err->text);
	/* SQLite rolls the whole transaction back on some errors (full disk,
	 * I/O); what follows in this batch must not run in autocommit. */
	if (st->in_batch && sqlite3_get_autocommit(st->db))
		store_break(st, err);
	return -1;
}

int
store_break(struct store_be *st, const struct nara_err *err)
{
	if (st->in_batch && !st->broken) {
		st->broken = true;
		st->broken_err = *err;
	}
	return -1;
}

/* ---------------------------------------------------------------- open */

static int
exec_sql(struct store_be *st, const char *sql, struct nara_err *err)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_fail(st, rc, "setting up the database",
	    err);
}

/* Pragmas of the writer connection; auto_vacuum first, before any table.
 * secure_delete overwrites a purged payload instead of leaving clinical
 * content in free space inside the file. The page cache (64 MiB) holds the
 * message_id index of a deep backlog, which every accept probes at a random
 * place; no mmap: an I/O error stays an error, never a SIGBUS. */
static int
writer_pragmas(struct store_be *st, const struct store_options *opt,
    struct nara_err *err)
{
	sqlite3_stmt *s = NULL;
	bool wal = false;

	if (exec_sql(st, "PRAGMA auto_vacuum = INCREMENTAL", err) != 0)
		return -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		wal = sqlite3_column_text(s, 0) != NULL && strcmp((const char *)
		    sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!wal)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s: cannot "
		    "switch to WAL mode: %s", st->path, sqlite3_errmsg(st->db));
	if (exec_sql(st, opt->sync_full ? "PRAGMA synchronous = FULL"
	    : "PRAGMA synchronous = NORMAL", err) != 0 ||
	    exec_sql(st, "PRAGMA journal_size_limit = 67108864;"
	    "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;"
	    "PRAGMA secure_delete = ON", err) != 0)
		return -1;
	st->sync_full = opt->sync_full;
	sqlite3_wal_autocheckpoint(st->db, 0);
	sqlite3_wal_hook(st->db, store_sqlite_wal_hook, st);
	return 0;
}

static int
prepare_all(struct store_be *st, struct nara_err *err)
{
	for (int i = 0; i < S_COUNT; i++) {
		int rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL);
		if (rc != SQLITE_OK)
			return store_fail(st, rc, "preparing statements", err);
	}
	return 0;
}

static int64_t data_version(struct store_be *st);

/* The highest message seq given, never lowered (another writer may have
 * stored messages since). */
static int
seq_high_load(struct store_be *st, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_SEQ_HIGH];
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && sqlite3_column_int64(s, 0) > st->seq_high)
		st->seq_high = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, rc, "reading the highest "
	    "message seq", err);
}

/* The highest receipt id given, as meta records it or the table holds,
 * never lowered. */
static int
rcpt_high_load(struct store_be *st, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_RCPT_HIGH];
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		int64_t saved = sqlite3_column_int64(s, 0),
		    top = sqlite3_column_int64(s, 1);

		if (saved > st->rcpt_high_saved)
			st->rcpt_high_saved = saved;
		if (saved > st->rcpt_high)
			st->rcpt_high = saved;
		if (top > st->rcpt_high)
			st->rcpt_high = top;
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, rc, "reading the highest "
	    "receipt id", err);
}

/* The chain head: the recorded head, or the last row if that is further
 * (so a new row never reuses a seq); a difference is logged, and left for
 * store_sqlite_audit_verify to report. */
static int
head_load(struct store_be *st, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_HEAD_LOAD];
	int64_t last = 0;
	int rc;

	st->data_version = data_version(st);
	st->head_seq = 0;
	memset(st->head_hash, 0, sizeof(st->head_hash));
	if ((rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL &&
	    sqlite3_column_bytes(s, 1) == AUDIT_HASH_LEN) {
		st->head_seq = sqlite3_column_int64(s, 0);
		memcpy(st->head_hash, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_fail(st, rc, "reading the audit head", err);
	s = st->stmt[S_AUDIT_LAST];
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		last = sqlite3_column_int64(s, 0);
		if (last > st->head_seq &&
		    sqlite3_column_bytes(s, 1) == AUDIT_HASH_LEN) {
			st->head_seq = last;
			memcpy(st->head_hash, sqlite3_column_blob(s, 1),
			    AUDIT_HASH_LEN);
		}
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, rc, "reading the audit log", err);
	if (last != st->head_seq)
		log_warn("store %s: audit log ends at seq %lld but its recorded "
		    "head is %lld; run nara-audit verify", st->path,
		    (long long)last, (long long)st->head_seq);
	return seq_high_load(st, err) != 0 || rcpt_high_load(st, err) != 0 ?
	    -1 : 0;
}

/* The connection itself; a new store is created 0600 (clinical content)
 * by store_guard_path, and SQLite gives its -wal and -shm files the same
 * mode. SQLite never creates the file here: a missing store that the
 * guard did not create is an error. */
static int
db_connect(struct store_be *st, const char *vfs, struct nara_err *err)
{
	int flags = SQLITE_OPEN_NOMUTEX, rc;

	if (st->read_only)
		flags |= SQLITE_OPEN_READONLY;
	else if (store_guard_path(st, err) != 0)
		return -1;
	else
		flags |= SQLITE_OPEN_READWRITE;
	if (!st->read_only)
		store_check_clean(st);   /* before SQLite touches anything */
	rc = sqlite3_open_v2(st->path, &st->db, flags, st->read_only ? NULL : vfs);
	if (rc != SQLITE_OK)
		return nara_err_set(err, NR_STORE_FAILED, "store", "cannot open "
		    "%s: %s", st->path, st->db ? sqlite3_errmsg(st->db)
		    : sqlite3_errstr(rc));
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	return 0;
}

static int
copy_options(struct store_be *st, const char *path,
    const struct store_options *opt, struct nara_err *err)
{
	st->read_only = opt->read_only;
	st->mark_keep = opt->head_file && !opt->read_only;
	st->max_bytes = opt->max_bytes;
	atomic_init(&st->wal_frames, 0);
	st->page_size = 4096;      /* until store_schema_open reads the file's */
	st->wal_limit = store_sqlite_wal_limit(0, st->page_size);
	atomic_init(&st->ckpt_backfilled, 0);
	atomic_init(&st->purge_first, 0);
	if ((st->path = strdup(path)) == NULL ||
	    asprintf(&st->mark_path, "%s.head", path) < 0) {
		st->mark_path = NULL;
		return nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
	}
	if (store_key_set(&st->key, opt->pseudonym_key,
	    opt->pseudonym_key_len, err) != 0)
		return -1;
	if ((st->hasher = audit_hasher_new()) == NULL)
		return nara_err_set(err, NR_STORE_FAILED, "store", "cannot set "
		    "up SHA-256");
	return 0;
}

/* The pseudonym key is the store's own: its check value is kept in meta
 * at the first open with a key (store_key_check_value). */
static int
key_check(struct store_be *st, struct nara_err *err)
{
	sqlite3_stmt *s = NULL;
	char mine[17], kept[17] = "";
	int rc;

	if (st->key.bytes == NULL)
		return 0;
	if (store_key_check_value(st->key.bytes, st->key.len, mine) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "pseudonym_key",
		    "cannot compute the key's check value");
	rc = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = "
	    "'pseudonym_check'", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_text(s, 0) != NULL)
		snprintf(kept, sizeof(kept), "%s",
		    (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, rc, "reading the key's check value", err);
	if (kept[0] != '\0' || st->read_only)
		return store_key_check_compare(st->path, kept, mine, err);
	s = NULL;
	rc = sqlite3_prepare_v2(st->db, "INSERT INTO meta(key, value) VALUES "
	    "('pseudonym_check', ?1)", -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, mine, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 :
	    store_fail(st, rc, "keeping the key's check value", err);
}

/* The VFS of the writer connection with synchronous = FULL. */
static const char *walbuf_vfs;

/* Before SQLite's first use in the process: no allocation statistics,
 * which take a global mutex at every allocation (5-7 % of the broker's
 * throughput, docs/PERFORMANCE.md); the VFS that writes a commit's WAL
 * frames with one system call instead of two per page. */
static void
sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	walbuf_vfs = store_sqlite_walbuf_register();
}

struct store_be *
store_sqlite_open(const char *path, const struct store_options *opt,
    struct store *outer, struct nara_err *err)
{
	static const struct store_options defaults = { .sync_full = true,
	    .head_file = true };
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store_be *st;

	pthread_once(&once, sqlite_setup);
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
		return NULL;
	}
	if (opt == NULL)
		opt = &defaults;
	st->outer = outer;
	if (copy_options(st, path, opt, err) != 0 || db_connect(st,
	    opt->sync_full ? walbuf_vfs : NULL, err) != 0)
		goto fail;
	if (!st->read_only && (store_check_start(st, err) != 0 ||
	    writer_pragmas(st, opt, err) != 0))
		goto fail;
	if (store_schema_open(st, err) != 0 || prepare_all(st, err) != 0 ||
	    head_load(st, err) != 0 || key_check(st, err) != 0)
		goto fail;
	if (!st->read_only && store_guard_head(st, err) != 0)
		goto fail;
	if (!st->read_only && store_sqlite_wal_start(st, err) != 0)
		goto fail;
	st->opened = true;
	return st;
fail:
	store_sqlite_free(&st);
	return NULL;
}

void
store_sqlite_free(struct store_be **stp)
{
	struct store_be *st;

	if (stp == NULL || (st = *stp) == NULL)
		return;
	store_sqlite_apart_stop(st);
	store_sqlite_wal_stop(st);
	if (st->in_batch)
		store_sqlite_rollback(st);
	store_sign_final(st);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	if (!st->read_only)
		store_check_stamp(st);   /* after the last connection closed */
	audit_hasher_free(&st->hasher);
	store_rcache_free(st);
	store_key_free(&st->key);
	free(st->buf);
	free(st->path);
	free(st->mark_path);
	free(st);
	*stp = NULL;
}

/* ---------------------------------------------------------------- batches */

/* Step a statement that returns no rows, reset it: SQLITE_OK or the error. */
int
store_sqlite_step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Database size as SQLite sees it (the WAL included). */
static int64_t
db_size(struct store_be *st)
{
	sqlite3_stmt *s = st->stmt[S_PAGE_COUNT];
	int64_t pages = 0;

	if (sqlite3_step(s) == SQLITE_ROW)
		pages = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return pages * st->page_size;
}

static int64_t
data_version(struct store_be *st)
{
	sqlite3_stmt *s = st->stmt[S_DATA_VERSION];
	int64_t v = -1;

	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return v;
}

int
store_sqlite_begin(struct store_be *st, struct nara_err *err)
{
	int rc;

	if (st->read_only)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is open "
		    "read-only", st->path);
	if (st->in_batch)
		return nara_err_set(err, NR_STORE_FAILED, "store", "a batch is "
		    "already open");
	if (!st->apart_running)          /* else the commit thread does it */
		store_sqlite_wal_rewind(st);
	if ((rc = store_sqlite_step_done(st->stmt[S_BEGIN])) != SQLITE_OK)
		return store_fail(st, rc, "begin", err);
	atomic_store(&st->writer_holds, true);
	/* Another writer (a tool) committed since our last batch: the chain
	 * head moved, read it again now that we hold the write lock. */
	if (data_version(st) != st->data_version) {
		store_rcache_clear(st);    /* it may have retried or pruned */
		if (head_load(st, err) != 0) {
			store_sqlite_step_done(st->stmt[S_ROLLBACK]);
			atomic_store(&st->writer_holds, false);
			return -1;
		}
	}
	st->in_batch = true;
	st->broken = false;
	st->head_dirty = false;
	st->saved_seq = st->head_seq;
	memcpy(st->saved_hash, st->head_hash, AUDIT_HASH_LEN);
	store_upkeep_save(st);
	st->db_bytes = db_size(st);
	st->batch_bytes = 0;
	return 0;
}

/* Work done at the end of every batch before COMMIT: the recorded chain
 * head. Free pages go back to the file system in store_sqlite_maintain, off the
 * commit path. */
int
store_sqlite_commit_prepare(struct store_be *st, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_HEAD_SAVE];
	int rc;

	if (st->head_dirty) {
		sqlite3_bind_int64(s, 1, st->head_seq);
		sqlite3_bind_blob(s, 2, st->head_hash, AUDIT_HASH_LEN,
		    SQLITE_STATIC);
		if ((rc = store_sqlite_step_done(s)) != SQLITE_OK)
			return store_fail(st, rc, "saving the audit head", err);
	}
	st->rcpt_high_saving = st->rcpt_high_saved;
	if (st->rcpt_high > st->rcpt_high_saved) {
		s = st->stmt[S_RCPT_HIGH_SAVE];
		sqlite3_bind_int64(s, 1, st->rcpt_high);
		if ((rc = store_sqlite_step_done(s)) != SQLITE_OK)
			return store_fail(st, rc, "saving the highest receipt id",
			    err);
		st->rcpt_high_saving = st->rcpt_high;
	}
	st->commits++;
	return 0;
}

/* After COMMIT stepped with result rc (store_sqlite_commit, or the
 * commit thread: store_sqlite_apart.c): the batch is done, or it failed
 * and is rolled back. */
int
store_sqlite_commit_end(struct store_be *st, int rc, struct nara_err *err)
{
	if (rc != SQLITE_OK) {
		store_fail(st, rc, "commit", err);
		store_sqlite_rollback(st);
		return -1;
	}
	st->in_batch = false;
	st->implicit = false;
	atomic_store(&st->writer_holds, false);
	st->rcpt_high_saved = st->rcpt_high_saving;
	if (st->batch_purged) {
		int64_t none = 0;
		atomic_compare_exchange_strong(&st->purge_first, &none,
		    store_mono_seconds());
	}
	st->batch_purged = false;
	if (st->mark_due)
		store_mark_write(st);
	return 0;
}

int
store_sqlite_commit(struct store_be *st, struct nara_err *err)
{
	if (!st->in_batch)
		return nara_err_set(err, NR_STORE_FAILED, "store", "no batch "
		    "is open");
	if (st->broken) {
		if (err != NULL)
			*err = st->broken_err;
		goto fail;
	}
	if (store_sqlite_commit_prepare(st, err) != 0)
		goto fail;
	return store_sqlite_commit_end(st,
	    store_sqlite_step_done(st->stmt[S_COMMIT]), err);
fail:
	store_sqlite_rollback(st);
	return -1;
}

void
store_sqlite_rollback(struct store_be *st)
{
	if (st == NULL || !st->in_batch)
		return;
	if (!sqlite3_get_autocommit(st->db))
		store_sqlite_step_done(st->stmt[S_ROLLBACK]);
	st->head_seq = st->saved_seq;
	memcpy(st->head_hash, st->saved_hash, AUDIT_HASH_LEN);
	store_upkeep_restore(st);
	store_rcache_clear(st);
	st->in_batch = false;
	st->implicit = false;
	atomic_store(&st->writer_holds, false);
	st->broken = false;
	st->head_dirty = false;
	st->batch_purged = false;
	st->mark_due = false;
}

int
store_enter(struct store_be *st, struct nara_err *err)
{
	if (st->in_batch) {
		if (!st->broken)
			return 0;
		if (err != NULL)
			*err = st->broken_err;
		return -1;
	}
	if (store_sqlite_begin(st, err) != 0)
		return -1;
	st->implicit = true;
	return 0;
}

int
store_leave(struct store_be *st, int rc, struct nara_err *err)
{
	if (!st->implicit)
		return rc;
	if (rc != 0) {
		store_sqlite_rollback(st);
		return rc;
	}
	return store_sqlite_commit(st, err);
}

int
store_audit_append(struct store_be *st, struct audit_row *r, int64_t msg_seq,
    int64_t now, struct nara_err *err)
{
	sqlite3_stmt *s = st->stmt[S_AUDIT_INSERT];
	const char *text[] = { r->event, r->node, r->message_id, r->type,
	    r->sender, r->recipient, r->author, r->legal_basis,
	    r->payload_sha256 };
	uint8_t hash[AUDIT_HASH_LEN];
	struct nara_err local;
	int rc;

	if (err == NULL)
		err = &local;
	r->seq = st->head_seq + 1;
	r->time_ms = now * 1000;
	if (audit_row_hash(st->hasher, st->head_hash, r, hash) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "SHA-256 of "
		    "an audit row failed");
	sqlite3_bind_int64(s, 1, r->seq);
	sqlite3_bind_int64(s, 2, r->time_ms);
	for (int i = 0; i < 9; i++)
		sqlite3_bind_text(s, 3 + i, text[i], -1, SQLITE_STATIC);
	if (r->payload_size >= 0)
		sqlite3_bind_int64(s, 12, r->payload_size);
	else
		sqlite3_bind_null(s, 12);
	sqlite3_bind_text(s, 13, r->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 14, r->code, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 15, r->detail, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 16, st->head_hash, AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(s, 17, hash, AUDIT_HASH_LEN, SQLITE_STATIC);
	if (msg_seq > 0)
		sqlite3_bind_int64(s, 18, msg_seq);
	else
		sqlite3_bind_null(s, 18);
	/* A state change without its audit row must never commit. */
	if ((rc = store_sqlite_step_done(s)) != SQLITE_OK) {
		store_fail(st, rc, "writing the audit log", err);
		return store_break(st, err);
	}
	st->head_seq = r->seq;
	memcpy(st->head_hash, hash, AUDIT_HASH_LEN);
	st->head_dirty = true;
	return 0;
}

/* ---------------------------------------------------------------- stats */

int
store_sqlite_node_stats(struct store_be *st, store_stats_fn fn, void *arg)
{
	sqlite3_stmt *s = st->stmt[S_NODE_STATS];
	struct store_node_stats ns;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ns.node = (const char *)sqlite3_column_text(s, 0);
		ns.queued = sqlite3_column_int64(s, 1);
		ns.oldest_created = sqlite3_column_int64(s, 2);
		ns.receipts = sqlite3_column_int64(s, 3);
		if (ns.node != NULL && fn(arg, &ns) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, rc, "node statistics",
	    NULL);
}

int
store_sqlite_totals(struct store_be *st, struct store_totals *t)
{
	sqlite3_stmt *s = st->stmt[S_TOTALS];
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		t->queued = sqlite3_column_int64(s, 0);
		t->dead = sqlite3_column_int64(s, 1);
		t->receipts = sqlite3_column_int64(s, 2);
		t->audit_rows = sqlite3_column_int64(s, 3);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return store_fail(st, rc, "totals", NULL);
	t->bytes = db_size(st);
	return 0;
}
