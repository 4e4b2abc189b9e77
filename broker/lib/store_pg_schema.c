/*
 * store_pg_schema.c — the tables of the PostgreSQL store, created in an
 * empty database and brought up to date in an older one.
 *
 * The tables mean what the SQLite store's mean (store_sqlite_schema.c):
 * messages with their payload until ack, receipts, the hash-chained audit
 * log (msg_seq, a look-up aid outside the hashed row), signed checkpoints.
 * Two tables are PostgreSQL's own: schema_version, one row with the
 * version of these tables, and head, one row with the chain head the last
 * commit recorded, which every batch locks (store_pg.c).
 *
 * Creation and migration run in one transaction under an advisory lock,
 * so two programs starting at once on an empty database do not both
 * create. A read-only open (the tools) of a database without the tables,
 * or with an older version, is refused with NR041 saying what to do; a
 * newer version is refused by every program. A migration from version N
 * is the function migrations[N - 1] (none yet: version 1 is the first).
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store_stats_sql.h"

#define SCHEMA_LOCK "SELECT pg_advisory_xact_lock(7243618)"

/* Room left in each page of messages: the delivery's UPDATE of attempts
 * changes no indexed column, so with room on the page it is a HOT update
 * (no new index entries). At 100 (PostgreSQL's default) the pages fill
 * up with new messages and almost every delivery wrote a new entry in
 * each of the table's four indexes. A storage setting, not a schema
 * change: it is set on older stores of the same version too. */
#define MSG_FILLFACTOR "50"

static const char SCHEMA_SQL[] =
	"CREATE TABLE schema_version (version integer NOT NULL);"
	"INSERT INTO schema_version VALUES (1);"
	"CREATE TABLE head (id integer PRIMARY KEY CHECK (id = 1),"
	"  seq bigint, hash bytea);"
	"INSERT INTO head(id) VALUES (1);"
	"CREATE TABLE messages ("
	"  seq bigserial PRIMARY KEY, message_id text UNIQUE NOT NULL,"
	"  conversation_id text, type integer NOT NULL,"
	"  priority integer NOT NULL, legal_basis integer NOT NULL,"
	"  sender text NOT NULL, sender_node text NOT NULL,"
	"  recipient text NOT NULL, recipient_node text NOT NULL,"
	"  author text, subject_pseudonym text, created bigint NOT NULL,"
	"  expires bigint NOT NULL DEFAULT 0, accepted_at bigint NOT NULL,"
	"  state integer NOT NULL DEFAULT 0,"
	"  attempts integer NOT NULL DEFAULT 0, payload bytea,"
	"  payload_sha256 bytea NOT NULL, payload_size bigint NOT NULL,"
	"  dead_code text, dead_text text, done_at bigint)"
	"  WITH (fillfactor = " MSG_FILLFACTOR ");"
	"CREATE INDEX messages_queue"
	"  ON messages(recipient_node, seq) WHERE state = 0;"
	"CREATE INDEX messages_expiry"
	"  ON messages(expires) WHERE state = 0 AND expires > 0;"
	STORE_SQL_DEAD_INDEX
	"CREATE TABLE receipts ("
	"  id bigserial PRIMARY KEY, node text NOT NULL,"
	"  message_id text NOT NULL, outcome integer NOT NULL,"
	/* sent: written by earlier versions only; when a receipt was sent
	 * is its receipt_sent audit row */
	"  encoded bytea NOT NULL, sent bigint);"
	"CREATE INDEX receipts_node ON receipts(node, id);"
	"CREATE INDEX receipts_message ON receipts(message_id);"
	"CREATE TABLE audit ("
	"  seq bigint PRIMARY KEY, time bigint NOT NULL, event text NOT NULL,"
	"  node text, message_id text, type text, sender text, recipient text,"
	"  author text, legal_basis text, payload_sha256 text,"
	"  payload_size bigint, subject text, code text, detail text,"
	"  prev_hash bytea NOT NULL, hash bytea NOT NULL, msg_seq bigint);"
	"CREATE INDEX audit_msg ON audit(msg_seq) WHERE msg_seq IS NOT NULL;"
	"CREATE INDEX audit_message ON audit(message_id)"
	"  WHERE msg_seq IS NULL AND message_id IS NOT NULL;"
	"CREATE INDEX audit_subject ON audit(subject) WHERE subject IS NOT NULL;"
	/* Rows are appended in time order, so a block range index serves the
	 * auditors' time windows at almost no cost per row (a B-tree was one
	 * more index entry and WAL record for every audit row). Stores made
	 * before keep their B-tree of the same name, which serves alike. */
	"CREATE INDEX audit_time ON audit USING brin (time);"
	"CREATE TABLE checkpoints ("
	"  id bigserial PRIMARY KEY, kind text NOT NULL, seq bigint NOT NULL,"
	"  hash bytea NOT NULL, time bigint NOT NULL, signature bytea NOT NULL,"
	"  key_fingerprint text NOT NULL);";

/* Migration from version i + 1 to i + 2, in the open transaction. */
typedef int (*pg_migration)(struct store_be *st, struct nara_err *err);
static const pg_migration migrations[STORE_PG_SCHEMA_VERSION] = { NULL };

/* The version of the tables: 0 when there are none. */
static int
db_version(struct store_be *st, int64_t *version, struct nara_err *err)
{
	PGresult *r;

	*version = 0;
	if (pg_run_sql(st, "SELECT to_regclass('schema_version') IS NOT NULL",
	    NULL, &r, "reading the schema", err) != 0)
		return -1;
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		return 0;
	}
	PQclear(r);
	if (pg_run_sql(st, "SELECT max(version) FROM schema_version", NULL, &r,
	    "reading the schema version", err) != 0)
		return -1;
	*version = pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

static int
version_known(struct store_be *st, int64_t version, struct nara_err *err)
{
	if (version == STORE_PG_SCHEMA_VERSION)
		return 0;
	if (version > STORE_PG_SCHEMA_VERSION || version < 1)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s has "
		    "schema version %lld; this program reads version %d",
		    st->label, (long long)version, STORE_PG_SCHEMA_VERSION);
	return 0;
}

/* The storage settings of a store created before they were part of its
 * tables (same schema version). */
static int
storage_set(struct store_be *st, struct nara_err *err)
{
	PGresult *r;
	bool set;

	if (pg_run_sql(st, "SELECT coalesce('fillfactor=" MSG_FILLFACTOR "' = "
	    "ANY (reloptions), false) FROM pg_class WHERE oid = "
	    "'messages'::regclass", NULL, &r, "reading the storage settings",
	    err) != 0)
		return -1;
	set = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (set)
		return 0;
	log_info("store %s: setting fillfactor %s on messages", st->label,
	    MSG_FILLFACTOR);
	return pg_run_sql(st, "ALTER TABLE messages SET (fillfactor = "
	    MSG_FILLFACTOR ")", NULL, NULL, "setting the storage settings",
	    err);
}

/* Indexes added since a store of this version could have been made
 * (store_stats_sql.h): they change no row, and older programs keep them up
 * to date. The build holds writers to messages off for its time, logged;
 * with [ha] the active narad's commits wait for a newer standby's start. */
static int
indexes_add(struct store_be *st, struct nara_err *err)
{
	PGresult *r;
	bool have;
	struct timespec t0, t1;

	if (pg_run_sql(st, "SELECT to_regclass('messages_dead') IS NOT NULL",
	    NULL, &r, "reading the indexes", err) != 0)
		return -1;
	have = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (have)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pg_run_sql(st, STORE_SQL_DEAD_INDEX, NULL, NULL, "adding the dead "
	    "letter index", err) != 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("store %s: dead letter index built in %.1f s", st->label,
	    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

/* Inside the transaction: create, migrate step by step, or accept. */
static int
schema_write(struct store_be *st, struct nara_err *err)
{
	struct pg_params p;
	int64_t version;

	if (pg_run_sql(st, SCHEMA_LOCK, NULL, NULL, "locking the schema",
	    err) != 0 || db_version(st, &version, err) != 0)
		return -1;
	if (version == 0) {
		log_info("store %s: creating the tables (schema version %d)",
		    st->label, STORE_PG_SCHEMA_VERSION);
		/* several statements: the simple protocol, no parameters */
		PGresult *r = PQexec(st->conn, SCHEMA_SQL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			nara_err_set(err, NR_STORE_FAILED, "store", "creating the "
			    "tables: %s", PQresultErrorMessage(r));
		PQclear(r);
		return ok ? 0 : -1;
	}
	if (version_known(st, version, err) != 0 || storage_set(st, err) != 0 ||
	    indexes_add(st, err) != 0)
		return -1;
	for (; version < STORE_PG_SCHEMA_VERSION; version++) {
		log_info("store %s: migrating schema version %lld to %lld",
		    st->label, (long long)version, (long long)version + 1);
		if (migrations[version - 1] == NULL ||
		    migrations[version - 1](st, err) != 0)
			return -1;
		pg_params_init(&p);
		pg_param_int(&p, version + 1);
		if (pg_run_sql(st, "UPDATE schema_version SET version = $1::int",
		    &p, NULL, "migrating", err) != 0)
			return -1;
	}
	return 0;
}

int
pg_schema_open(struct store_be *st, struct nara_err *err)
{
	int64_t version;

	if (st->read_only) {
		if (db_version(st, &version, err) != 0)
			return -1;
		if (version == 0)
			return nara_err_set(err, NR_STORE_FAILED, "store", "%s "
			    "holds no nara store: start narad on it once to "
			    "create the tables", st->label);
		if (version < STORE_PG_SCHEMA_VERSION)
			return nara_err_set(err, NR_STORE_FAILED, "store", "%s has "
			    "schema version %lld; start narad on it once to "
			    "migrate it to version %d, then run this again",
			    st->label, (long long)version,
			    STORE_PG_SCHEMA_VERSION);
		return version_known(st, version, err);
	}
	if (pg_run_sql(st, "BEGIN", NULL, NULL, "opening the store", err) != 0)
		return -1;
	if (schema_write(st, err) != 0 ||
	    pg_run_sql(st, "COMMIT", NULL, NULL, "opening the store", err) != 0) {
		if (st->conn != NULL)
			PQclear(PQexec(st->conn, "ROLLBACK"));
		return -1;
	}
	return 0;
}
