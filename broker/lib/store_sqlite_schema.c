/*
 * store_sqlite_schema.c — the tables of the SQLite store, created for a new
 * file and brought up to date for an older one.
 *
 * Version 2 changed how the audit log finds the rows of one message. In
 * version 1 the index audit_message held every row's message_id: a random
 * key, so each of the six or so rows a message gets over its life dirtied
 * its own index page, which was written to the WAL again at every commit —
 * about a third of the broker's cost per message. Version 2 keys those rows
 * by the message's seq (msg_seq, which grows with time, so the index only
 * ever appends) and keeps a message_id index just for rows that have no
 * stored message (refused submissions, events about unknown ids). msg_seq
 * is a lookup aid only: it is not part of the hashed row, so the chain of a
 * migrated store verifies as before.
 *
 * The migration from version 1 runs at the first read-write open, in one
 * transaction, and leaves the rows written before it to the message_id
 * index (their msg_seq stays NULL). It also rebuilds a receipts table that was created without
 * AUTOINCREMENT, so that receipt ids are never reused after a delete.
 * Version 3 keeps a queued message's content apart from its row, in the
 * table payloads (keyed by the same seq). A message's row changes at its
 * delivery and at its ack, in different commits; with the content in it,
 * two or three rows filled a page and each change wrote that whole page to
 * the WAL again, and the checkpoint copied it again. Apart, the content is
 * written once and deleted once (at the ack, by a trigger, so that no path
 * that finishes or deletes a message can leave it behind), and a page of
 * rows holds about twenty messages. The migration from version 2 only adds
 * the table and its triggers: rows written before it keep their content in
 * messages.payload, which every read takes when payloads has none.
 * Version 4 deletes the content at the ack by a statement of its own
 * instead of that trigger: a trigger on the ack's UPDATE made SQLite
 * gather the rows to change in a temporary table first, 6 % of narad's
 * instructions per message. Only the ack sets state 1, and an
 * older program, which would rely on the trigger, refuses a version 4
 * store. The migration from version 3 drops the trigger.
 * Version 5 gives receipt ids itself instead of AUTOINCREMENT (one above
 * the highest given, kept in meta as receipt_id_high), whose bookkeeping
 * was nearly half of each receipt's insert; an older program, which
 * would take max(id) + 1 and give an acked receipt's id again, refuses
 * it. The migration from version 4 copies the receipts (the rows waiting
 * for their senders: few) into a table without AUTOINCREMENT.
 *
 * A read-only open (the tools) of an older store is refused with NR041
 * saying what to do; a newer store is refused by every program.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "store_stats_sql.h"

/* The content of queued messages and what keeps it with its message: moved
 * with a retried message's new seq, deleted with its row (retention). A
 * dead letter keeps it for a retry until retention deletes the row. The
 * ack deletes it by a statement of its own in the ack's transaction
 * (store_sqlite_msg.c, payload_purge; a trigger until version 4). */
#define PAYLOADS_SQL \
	"CREATE TABLE payloads (" \
	"  seq INTEGER PRIMARY KEY, payload BLOB NOT NULL);" \
	"CREATE TRIGGER payload_moves AFTER UPDATE OF seq ON messages BEGIN" \
	"  UPDATE payloads SET seq = new.seq WHERE seq = old.seq; END;" \
	"CREATE TRIGGER payload_deleted AFTER DELETE ON messages BEGIN" \
	"  DELETE FROM payloads WHERE seq = old.seq; END;"

/*
 * The queue index is in seq order for all nodes, not by node: a new message
 * is added at its end and an acked one leaves near its start, so a commit
 * writes a few of its pages. By node, each commit wrote a page in the range
 * of nearly every node, twice (the WAL model in tests/bench/wal_pages.sh:
 * 5.1 pages per message at commits of 50 against 3.5). A node's queue is
 * read by walking it from the session's cursor, which narad keeps past
 * the other nodes' messages (store_seq_high, store_queue_walk,
 * store_queue_seqs).
 */
#define QUEUE_INDEX_SQL \
	"CREATE INDEX messages_queue ON messages(seq, recipient_node) " \
	"WHERE state = 0;"

/* Receipts waiting for their sender. Their ids are given by narad, never
 * twice (store_sqlite.c, S_RECEIPT_INSERT), not by AUTOINCREMENT, whose
 * bookkeeping in sqlite_sequence was nearly half of each receipt's insert
 * (until version 5). sent: written by earlier versions only; when a
 * receipt was sent is its receipt_sent audit row. */
#define RECEIPTS_SQL \
	"CREATE TABLE receipts (" \
	"  id INTEGER PRIMARY KEY, node TEXT NOT NULL," \
	"  message_id TEXT NOT NULL," \
	"  outcome INTEGER NOT NULL, encoded BLOB NOT NULL, sent INTEGER);" \
	"CREATE INDEX receipts_node ON receipts(node);" \
	"CREATE INDEX receipts_message ON receipts(message_id);"

/* The tables of a new store (version STORE_SCHEMA_VERSION). */
static const char SCHEMA_SQL[] =
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE messages ("
	"  seq INTEGER PRIMARY KEY, message_id TEXT UNIQUE NOT NULL,"
	"  conversation_id TEXT, type INTEGER NOT NULL, priority INTEGER NOT NULL,"
	"  legal_basis INTEGER NOT NULL, sender TEXT NOT NULL,"
	"  sender_node TEXT NOT NULL, recipient TEXT NOT NULL,"
	"  recipient_node TEXT NOT NULL, author TEXT, subject_pseudonym TEXT,"
	"  created INTEGER NOT NULL, expires INTEGER NOT NULL DEFAULT 0,"
	"  accepted_at INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
	/* payload: content of rows written before version 3 only */
	"  attempts INTEGER NOT NULL DEFAULT 0, payload BLOB,"
	"  payload_sha256 BLOB NOT NULL, payload_size INTEGER NOT NULL,"
	"  dead_code TEXT, dead_text TEXT, done_at INTEGER);"
	/* Partial indexes: only queued rows, so delivered history kept for
	 * the audit retention period does not slow the queues down. */
	QUEUE_INDEX_SQL
	"CREATE INDEX messages_expiry"
	"  ON messages(expires) WHERE state = 0 AND expires > 0;"
	STORE_SQL_DEAD_INDEX
	RECEIPTS_SQL
	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL,"
	"  node TEXT, message_id TEXT, type TEXT, sender TEXT, recipient TEXT,"
	"  author TEXT, legal_basis TEXT, payload_sha256 TEXT,"
	"  payload_size INTEGER, subject TEXT, code TEXT, detail TEXT,"
	"  prev_hash BLOB NOT NULL, hash BLOB NOT NULL, msg_seq INTEGER);"
	"CREATE INDEX audit_msg ON audit(msg_seq) WHERE msg_seq IS NOT NULL;"
	"CREATE INDEX audit_message ON audit(message_id)"
	"  WHERE msg_seq IS NULL AND message_id IS NOT NULL;"
	/* Signed chain heads and retention cuts (audit_sign.h). */
	"CREATE TABLE checkpoints ("
	"  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  hash BLOB NOT NULL, time INTEGER NOT NULL, signature BLOB NOT NULL,"
	"  key_fingerprint TEXT NOT NULL);"
	PAYLOADS_SQL
	"INSERT INTO meta(key, value) VALUES ('schema_version', 5);";

/* Version 1 → 2: the audit lookup column and its indexes (see the top of
 * this file), and the checkpoints table early version 1 stores lack. The
 * old rows keep msg_seq NULL, so the message_id index still holds them and
 * the look-up by message finds them there: nothing is rewritten, and the
 * migration of a store with 300,000 messages takes 0.6 s instead of the
 * 3.3 s a back-fill of msg_seq took. */
static const char MIGRATE_1_2_SQL[] =
	"ALTER TABLE audit ADD COLUMN msg_seq INTEGER;"
	"DROP INDEX IF EXISTS audit_message;"
	"CREATE INDEX audit_msg ON audit(msg_seq) WHERE msg_seq IS NOT NULL;"
	"CREATE INDEX audit_message ON audit(message_id)"
	"  WHERE msg_seq IS NULL AND message_id IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS checkpoints ("
	"  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  hash BLOB NOT NULL, time INTEGER NOT NULL, signature BLOB NOT NULL,"
	"  key_fingerprint TEXT NOT NULL);"
	"UPDATE meta SET value = 2 WHERE key = 'schema_version';";

/* Version 2 → 3: the payloads table and its triggers (see the top of this
 * file). No row is rewritten. */
static const char MIGRATE_2_3_SQL[] =
	PAYLOADS_SQL
	"UPDATE meta SET value = 3 WHERE key = 'schema_version';";

/* Version 3 → 4: the ack's trigger goes; narad deletes the content itself
 * (see the top of this file). No row is rewritten. */
static const char MIGRATE_3_4_SQL[] =
	"DROP TRIGGER IF EXISTS payload_purged;"
	"UPDATE meta SET value = 4 WHERE key = 'schema_version';";

/* Version 4 → 5: receipts without AUTOINCREMENT, their rows and ids kept;
 * the highest id AUTOINCREMENT gave goes to meta, where narad keeps it
 * from now on. */
static const char MIGRATE_4_5_SQL[] =
	"INSERT OR REPLACE INTO meta(key, value) SELECT 'receipt_id_high', "
	"  max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
	"  'receipts'), 0), coalesce((SELECT max(id) FROM receipts), 0));"
	"ALTER TABLE receipts RENAME TO receipts_autoinc;"
	"DROP INDEX receipts_node; DROP INDEX receipts_message;"
	RECEIPTS_SQL
	"INSERT INTO receipts(id, node, message_id, outcome, encoded, sent)"
	"  SELECT id, node, message_id, outcome, encoded, sent"
	"  FROM receipts_autoinc;"
	"DROP TABLE receipts_autoinc;"
	"UPDATE meta SET value = 5 WHERE key = 'schema_version';";

/* A receipts table without AUTOINCREMENT, copied into one with it. */
static const char RECEIPTS_REBUILD_SQL[] =
	"CREATE TABLE receipts_new ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL,"
	"  message_id TEXT NOT NULL,"
	"  outcome INTEGER NOT NULL, encoded BLOB NOT NULL, sent INTEGER);"
	"INSERT INTO receipts_new(id, node, message_id, outcome, encoded, sent)"
	"  SELECT id, node, message_id, outcome, encoded, sent FROM receipts;"
	"DROP TABLE receipts;"
	"ALTER TABLE receipts_new RENAME TO receipts;"
	"CREATE INDEX receipts_node ON receipts(node);"
	"CREATE INDEX receipts_message ON receipts(message_id);";

/* One integer from a query: 1 with *out set, 0 when no row (or NULL), -1
 * on error. */
static int
query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

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

/* The version the file says it has: 0 for a file without tables (new),
 * -1 with err set when it is not a nara store. */
static int
file_version(struct store_be *st, int64_t *version, struct nara_err *err)
{
	int64_t tables = 0;

	*version = 0;
	if (query_int(st->db, "SELECT count(*) FROM sqlite_master", &tables)
	    < 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is not a "
		    "nara store: %s", st->path, sqlite3_errmsg(st->db));
	if (tables == 0)
		return 0;
	if (query_int(st->db, "SELECT value FROM meta WHERE key = "
	    "'schema_version'", version) != 1)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is not a "
		    "nara store: %s", st->path, sqlite3_errmsg(st->db));
	return 0;
}

static int
run_sql(struct store_be *st, const char *sql, const char *what,
    struct nara_err *err)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : store_fail(st, rc, what, err);
}

/* run_sql for work over every row of a table (building an index): logs
 * "done in N s". Over years of rows it may outlast systemd's start
 * timeout, so that is extended first (no-op outside systemd). */
static int
run_timed(struct store_be *st, const char *sql, const char *what,
    const char *done, struct nara_err *err)
{
	struct timespec t0, t1;
	char status[160];

	snprintf(status, sizeof(status), "EXTEND_TIMEOUT_USEC=3600000000\n"
	    "STATUS=%s", what);
	sd_notify(0, status);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (run_sql(st, sql, what, err) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("store %s: %s in %.1f s", st->path, done,
	    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

static int
migrate_1_2(struct store_be *st, struct nara_err *err)
{
	int64_t autoinc = 0;

	if (run_timed(st, MIGRATE_1_2_SQL, "migrating the store to version 2",
	    "audit indexes built", err) != 0)
		return -1;
	if (query_int(st->db, "SELECT count(*) FROM sqlite_master WHERE name = "
	    "'receipts' AND sql LIKE '%AUTOINCREMENT%'", &autoinc) < 0)
		return store_fail(st, sqlite3_errcode(st->db), "migrating the "
		    "receipts", err);
	if (autoinc == 0 && run_sql(st, RECEIPTS_REBUILD_SQL, "migrating the "
	    "receipts", err) != 0)
		return -1;
	return 0;
}

/* From version 2 on a step is SQL alone: MIGRATE_SQL[v - 2] takes version
 * v to v + 1. */
static const char *const MIGRATE_SQL[] = {
	MIGRATE_2_3_SQL, MIGRATE_3_4_SQL, MIGRATE_4_5_SQL
};
_Static_assert(sizeof(MIGRATE_SQL) / sizeof(MIGRATE_SQL[0]) ==
    STORE_SCHEMA_VERSION - 2, "a migration for each version from 2");

/* Version from to from + 1, in the open transaction. */
static int
migrate(struct store_be *st, int64_t from, struct nara_err *err)
{
	char what[64];

	log_info("store %s: migrating schema version %lld to %lld", st->path,
	    (long long)from, (long long)from + 1);
	if (from == 1)
		return migrate_1_2(st, err);
	snprintf(what, sizeof(what), "migrating the store to version %lld",
	    (long long)from + 1);
	return run_sql(st, MIGRATE_SQL[from - 2], what, err);
}

/* 0 for this program's version; a newer (or unknown) one is refused. */
static int
version_known(struct store_be *st, int64_t version, struct nara_err *err)
{
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	return nara_err_set(err, NR_STORE_FAILED, "store", "%s has schema "
	    "version %lld; this program reads version %d", st->path,
	    (long long)version, STORE_SCHEMA_VERSION);
}

/* Indexes added or reshaped since a store of this version could have been
 * made: they change no row, and older programs keep them up to date (and
 * read the queue index of either shape). Building one over a large store
 * is logged with its time. */
static int
indexes_add(struct store_be *st, struct nara_err *err)
{
	int64_t have = 0, by_node = 0;

	/* The queue index of stores made before it was in seq order. */
	if (query_int(st->db, "SELECT count(*) FROM sqlite_master WHERE type = "
	    "'index' AND name = 'messages_queue' AND sql LIKE "
	    "'%(recipient_node, seq)%'", &by_node) < 0)
		return store_fail(st, sqlite3_errcode(st->db), "reading the "
		    "indexes", err);
	if (by_node > 0 && run_timed(st, "DROP INDEX messages_queue;"
	    QUEUE_INDEX_SQL, "rebuilding the queue index", "queue index "
	    "rebuilt in seq order", err) != 0)
		return -1;

	if (query_int(st->db, "SELECT count(*) FROM sqlite_master WHERE type = "
	    "'index' AND name = 'messages_dead'", &have) < 0)
		return store_fail(st, sqlite3_errcode(st->db), "reading the "
		    "indexes", err);
	if (have > 0)
		return 0;
	return run_timed(st, STORE_SQL_DEAD_INDEX, "adding the dead letter "
	    "index", "dead letter index built", err);
}

/* Inside the write transaction: create, migrate, or accept the file. */
static int
schema_write(struct store_be *st, struct nara_err *err)
{
	int64_t version;

	if (file_version(st, &version, err) != 0)
		return -1;
	if (version == 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is not a "
		    "nara store: it has no tables (a store is created only where "
		    "no file exists)", st->path);
	for (; version >= 1 && version < STORE_SCHEMA_VERSION; version++)
		if (migrate(st, version, err) != 0)
			return -1;
	if (version_known(st, version, err) != 0)
		return -1;
	return indexes_add(st, err);
}

int
store_schema_create(const char *tmp, struct nara_err *err)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);

	/* Rollback journal and FULL sync here: when the transaction is done
	 * the file alone holds the complete store; the writer switches it to
	 * WAL at its first open. The page size and auto_vacuum must precede
	 * the tables. Pages of 8 KiB: at saturation a commit writes about the
	 * same bytes as with 4 KiB in half the frames, and the checkpoint
	 * copies them in half the calls, 4 % less of narad's CPU per message
	 * end to end and 10 % in the broker alone; at 2,000 msg/s the tail
	 * is the same (docs/PERFORMANCE.md, "Pages of 8 KiB"). A store made
	 * before keeps its 4 KiB. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA page_size = 8192;"
		    "PRAGMA synchronous = FULL;"
		    "PRAGMA auto_vacuum = INCREMENTAL; BEGIN IMMEDIATE;", NULL,
		    NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, SCHEMA_SQL, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		nara_err_set(err, rc == SQLITE_FULL ? NR_STORE_FULL :
		    NR_STORE_FAILED, "store", "creating %s: %s", tmp, db != NULL
		    ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	if ((rc = sqlite3_close(db)) != SQLITE_OK)
		return nara_err_set(err, NR_STORE_FAILED, "store", "closing %s: "
		    "%s", tmp, sqlite3_errstr(rc));
	return 0;
}

int
store_schema_open(struct store_be *st, struct nara_err *err)
{
	int64_t version;

	/* first: the WAL's limits follow it (store_sqlite_wal_limit), also
	 * for the commit of a migration */
	if (query_int(st->db, "PRAGMA page_size", &st->page_size) != 1 ||
	    st->page_size <= 0)
		st->page_size = 4096;
	if (st->read_only) {
		if (file_version(st, &version, err) != 0)
			return -1;
		if (version == 0)
			return nara_err_set(err, NR_STORE_FAILED, "store", "%s is "
			    "not a nara store: it has no tables", st->path);
		if (version >= 1 && version < STORE_SCHEMA_VERSION)
			return nara_err_set(err, NR_STORE_FAILED, "store", "%s has "
			    "schema version %lld; start narad on it once to "
			    "migrate it to version %d, then run this again",
			    st->path, (long long)version, STORE_SCHEMA_VERSION);
		if (version_known(st, version, err) != 0)
			return -1;
	} else {
		if (run_sql(st, "BEGIN IMMEDIATE", "opening the store", err) != 0)
			return -1;
		if (schema_write(st, err) != 0 ||
		    run_sql(st, "COMMIT", "opening the store", err) != 0) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}
