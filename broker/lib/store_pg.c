/*
 * store_pg.c — the PostgreSQL backend of store.h: the connection (and its
 * re-establishment with backoff), prepared statements, parameters and
 * results. Batches and the audit chain head are in store_pg_batch.c (in
 * pipeline mode: store_pg_pipe.c; rows per kind: store_pg_lanes.c),
 * messages and receipts in store_pg_msg.c (from the cache:
 * store_pg_fast.c, store_pg_cache.c), audit rows and verification in
 * store_pg_audit.c,
 * checkpoints, retention and replication status in store_pg_ckpt.c, the
 * tables in store_pg_schema.c, reading the log in store_pg_report.c.
 *
 * Durability: a batch is one transaction; store_pg_commit returns after
 * the server answered COMMIT, i.e. after its WAL was flushed (and, with
 * synchronous_standby_names set and synchronous_commit at its default, a
 * synchronous standby confirmed it). The chain head lives in the one-row
 * table head: begin locks that row (SELECT ... FOR UPDATE), so writers
 * (narad and the tools) take turns and each batch starts from the head
 * the last commit left, and commit writes it in the same transaction.
 *
 * A lost connection fails the batch (NR041, retryable); the next call
 * reconnects, at most once per backoff step (0.1 s doubling to 5 s).
 * With libpq's multi-host conninfo and target_session_attrs=read-write
 * the reconnection finds whichever host is the primary now.
 */
#include "store_pg_int.h"
#include "store_pg_lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "log.h"
#include "store_common.h"
#include "store_stats_sql.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

#define MSG_INSERT_COLS "seq, message_id, conversation_id, type, priority, " \
	"legal_basis, sender, sender_node, recipient, recipient_node, author, " \
	"subject_pseudonym, created, expires, accepted_at, payload, " \
	"payload_sha256, payload_size"
#define MSG_INSERT_VALS "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, " \
	"$13, $14, $15, $16, $17"
static const char *const pg_sql[P_COUNT] = {
	[P_HEAD_LOCK] = "SELECT seq, hash FROM head WHERE id = 1 FOR UPDATE",
	/* n seqs, the last returned; under the head lock nobody else takes
	 * one in between */
	[P_SEQ_BLOCK] = "SELECT setval(pg_get_serial_sequence('messages', "
	    "'seq'), nextval(pg_get_serial_sequence('messages', 'seq')) + $1 "
	    "- 1)",
	[P_SEQ_GIVE_BACK] = "SELECT setval(pg_get_serial_sequence('messages', "
	    "'seq'), $1, false)",
	[P_RCPT_BLOCK] = "SELECT setval(pg_get_serial_sequence('receipts', "
	    "'id'), nextval(pg_get_serial_sequence('receipts', 'id')) + $1 "
	    "- 1)",
	[P_RCPT_GIVE_BACK] = "SELECT setval(pg_get_serial_sequence('receipts', "
	    "'id'), $1, false)",
	[P_DB_SIZE] = "SELECT pg_database_size(current_database())",
	/* Plans inside a batch. A prepared statement keeps the plan made on
	 * its first uses, often while the tables are still empty, where
	 * reading a whole table (or the whole queue's partial index) looks
	 * cheapest; once the tables hold thousands of rows such a plan reads
	 * them all in every batch (at 1,000 msg/s it took most of the
	 * server's time). Every statement of a batch finds its rows by a key,
	 * so a batch neither scans nor hashes tables (PostgreSQL still scans
	 * where no index serves), and the changes of a row by its key that
	 * check its state write the check as `state + 0 = 0`, which keeps the
	 * partial indexes on state = 0 out of their plans. Reads outside
	 * batches (status, totals, reports) plan as usual. */
	[P_BATCH_PLANS] = "SELECT set_config('enable_seqscan', 'off', true), "
	    "set_config('enable_bitmapscan', 'off', true), "
	    "set_config('enable_hashjoin', 'off', true), "
	    "set_config('enable_mergejoin', 'off', true)",
	[P_RETRY_AT] = "UPDATE messages SET seq = $2, state = 0, attempts = 0, "
	    "dead_code = NULL, dead_text = NULL, done_at = NULL WHERE "
	    "message_id = $1 AND state = 2 AND payload IS NOT NULL RETURNING "
	    PG_MSG_COLS,
	[P_HEAD_SAVE] = "UPDATE head SET seq = $1, hash = $2 WHERE id = 1",
	[P_AUDIT_REKEY] = "UPDATE audit SET msg_seq = $2 WHERE msg_seq = $1",
	[P_MSG_FIND] = "SELECT payload_sha256 FROM messages WHERE message_id = $1",
	/* A new id costs one statement; a stored one returns no row. */
	[P_MSG_INSERT] = "INSERT INTO messages(" MSG_INSERT_COLS ") VALUES "
	    "(COALESCE($18::bigint, nextval(pg_get_serial_sequence('messages', "
	    "'seq'))), " MSG_INSERT_VALS ") ON CONFLICT (message_id) DO NOTHING "
	    "RETURNING seq",
	[P_MSG_META] = "SELECT " PG_MSG_COLS " FROM messages WHERE message_id = $1",
	[P_QUEUE_LOAD] = "SELECT " PG_MSG_COLS ", payload FROM messages WHERE "
	    "recipient_node = $1 AND state = 0 AND seq > $2 ORDER BY seq "
	    "LIMIT $3",
	[P_EXPIRED] = "SELECT " PG_MSG_COLS " FROM messages WHERE state = 0 "
	    "AND expires > 0 AND expires <= $1 ORDER BY expires LIMIT $2",
	/* state + 0: see P_BATCH_PLANS */
	[P_DELIVERING] = "UPDATE messages SET attempts = $2 WHERE seq = $1 AND "
	    "state + 0 = 0 RETURNING " PG_MSG_COLS,
	/* only what was delivered to the node (as in the SQLite store) */
	[P_ACKED] = "UPDATE messages SET state = 1, done_at = $3, payload = NULL "
	    "WHERE message_id = $1 AND recipient_node = $2 AND state + 0 = 0 "
	    "AND attempts > 0 RETURNING " PG_MSG_COLS,
	[P_DEAD] = "UPDATE messages SET state = 2, dead_code = $2, dead_text = "
	    "$3, done_at = $4 WHERE message_id = $1 AND state + 0 = 0 AND ($5 = "
	    "'' OR recipient_node = $5) RETURNING " PG_MSG_COLS,
	/* to the back of its queue with a new seq, as in the SQLite store */
	[P_RETRY] = "UPDATE messages SET seq = nextval(pg_get_serial_sequence("
	    "'messages', 'seq')), state = 0, attempts = 0, dead_code = NULL, "
	    "dead_text = NULL, done_at = NULL WHERE message_id = $1 AND state = "
	    "2 AND payload IS NOT NULL RETURNING " PG_MSG_COLS,
	[P_RECEIPTS_LOAD] = "SELECT id, node, message_id, outcome, encoded FROM "
	    "receipts WHERE node = $1 AND id > $2 ORDER BY id LIMIT $3",
	/* The receipt (or its change) and its message's metadata (for the
	 * audit row) in one statement: node, outcome, message_id, then the
	 * message's PG_MSG_COLS (NULL when the message is gone). A receipt
	 * sent is only read: the time it was sent is its audit row's. */
	[P_RECEIPT_SENT] = "WITH r AS (SELECT node, message_id, outcome FROM "
	    "receipts WHERE id = $1) SELECT r.node, "
	    "r.outcome, r.message_id, " PG_MSG_COLS_M " FROM r LEFT JOIN "
	    "messages m ON m.message_id = r.message_id",
	[P_RECEIPT_ACKED] = "WITH r AS (DELETE FROM receipts WHERE id = (SELECT "
	    "id FROM receipts WHERE node = $1 AND message_id = $2 ORDER BY id "
	    "LIMIT 1) RETURNING node, message_id, outcome) SELECT r.node, "
	    "r.outcome, r.message_id, " PG_MSG_COLS_M " FROM r LEFT JOIN "
	    "messages m ON m.message_id = r.message_id",
	[P_NODE_STATS] = STORE_SQL_NODE_STATS,
	[P_TOTALS] = STORE_SQL_TOTALS
	    ", pg_database_size(current_database())",
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- params */

void
pg_params_init(struct pg_params *p)
{
	p->n = 0;
}

void
pg_param_text(struct pg_params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

void
pg_param_int(struct pg_params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
	pg_param_text(p, p->num[p->n]);
}

void
pg_param_blob(struct pg_params *p, const void *data, size_t len)
{
	p->v[p->n] = data != NULL ? data : "";
	p->len[p->n] = (int)len;
	p->fmt[p->n] = 1;
	p->n++;
}

/* ---------------------------------------------------------------- results */

const char *
pg_text(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

int64_t
pg_int(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c),
	    NULL, 10);
}

/* The value of hex digit c, -1 when it is none. */
static int
pg_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the text form of a bytea ("\x" and hex) into out (n bytes). */
static bool
unhex(const char *s, size_t n, uint8_t *out)
{
	if (s[0] != '\\' || s[1] != 'x' || strlen(s + 2) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = pg_hexval(s[2 + 2 * i]), lo = pg_hexval(s[3 + 2 * i]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

bool
pg_bytes(const PGresult *res, int r, int c, uint8_t *out, size_t len)
{
	const char *s = pg_text(res, r, c);

	return s != NULL && unhex(s, len, out);
}

uint8_t *
pg_bytes_dup(const PGresult *res, int r, int c, size_t *len)
{
	const char *s = pg_text(res, r, c);
	size_t n;
	uint8_t *out;

	*len = 0;
	if (s == NULL || strlen(s) < 2)
		return NULL;
	n = (strlen(s) - 2) / 2;
	if ((out = malloc(n + 1)) == NULL || !unhex(s, n, out)) {
		free(out);
		return NULL;
	}
	*len = n;
	return out;
}

/* ---------------------------------------------------------------- errors */

int
pg_break(struct store_be *st, const struct nara_err *err)
{
	if (st->in_batch && !st->broken) {
		st->broken = true;
		st->broken_err = *err;
	}
	return -1;
}

int
pg_fail(struct store_be *st, const PGresult *res, const char *what,
    struct nara_err *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
	    : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	struct nara_err local;
	size_t n;

	if (err == NULL)
		err = &local;
	if (msg == NULL || msg[0] == '\0')
		msg = st->conn ? PQerrorMessage(st->conn) : "no connection to "
		    "the database (lost, or no answer in time)";
	n = strcspn(msg, "\n");
	nara_err_set(err, state != NULL && strncmp(state, "53", 2) == 0 ?
	    NR_STORE_FULL : NR_STORE_FAILED, "store", "%s: %.*s", what, (int)n,
	    msg);
	/* the lease's fence: another narad holds the store now */
	if (state != NULL && strcmp(state, PG_LEASE_FENCED_STATE) == 0) {
		err->code = NR_UNAVAILABLE;
		st->fence_epoch = 0;
	}
	log_error("store %s: %s", st->label, err->text);
	if (st->conn != NULL && PQstatus(st->conn) == CONNECTION_BAD) {
		PQfinish(st->conn);
		st->conn = NULL;
		st->pipe = false;
		st->pending = 0;
		st->lost = true;
		log_warn("store %s: connection lost; reconnecting", st->label);
	}
	return pg_break(st, err);
}

static int
pg_result(struct store_be *st, PGresult *res, PGresult **out,
    const char *what, struct nara_err *err)
{
	ExecStatusType s = PQresultStatus(res);

	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
		pg_fail(st, res, what, err);
		PQclear(res);
		return -1;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/* A connection for a statement: inside a batch only the batch's own (a
 * new one would run outside its transaction). */
static int
conn_for(struct store_be *st, struct nara_err *err)
{
	if (!st->in_batch && st->ahead)
		return pg_ready(st, err);
	if (st->conn != NULL)
		return 0;
	if (st->in_batch) {
		nara_err_set(err, NR_STORE_FAILED, "store", "the connection "
		    "was lost in this batch");
		return pg_break(st, err);
	}
	return pg_ready(st, err);
}

int
pg_send(struct store_be *st, enum pg_stmt s, const struct pg_params *p,
    const char *what, struct nara_err *err)
{
	char name[16];

	snprintf(name, sizeof(name), "n%d", (int)s);
	if (!st->pipe)
		return pg_run(st, s, p, NULL, what, err);
	return pg_pipe_send(st, name, true, p, what, err);
}

int
pg_send_keep(struct store_be *st, enum pg_stmt s, const struct pg_params *p,
    PGresult **keep, const char *what, struct nara_err *err)
{
	char name[16];

	snprintf(name, sizeof(name), "n%d", (int)s);
	return pg_pipe_send_keep(st, name, true, p, keep, what, err);
}

int
pg_run(struct store_be *st, enum pg_stmt s, const struct pg_params *p,
    PGresult **out, const char *what, struct nara_err *err)
{
	char name[16];

	if (out != NULL)
		*out = NULL;
	if (conn_for(st, err) != 0)
		return -1;
	snprintf(name, sizeof(name), "n%d", (int)s);
	if (st->pipe && pg_lanes_flush(st, err) != 0)
		return -1;
	if (st->pipe)
		return pg_pipe_call(st, name, true, p, out, what, err);
	return pg_result(st, pg_exec_wait(st, name, true, p), out, what, err);
}

int
pg_run_sql(struct store_be *st, const char *sql, const struct pg_params *p,
    PGresult **out, const char *what, struct nara_err *err)
{
	if (out != NULL)
		*out = NULL;
	if (conn_for(st, err) != 0)
		return -1;
	if (st->pipe && pg_lanes_flush(st, err) != 0)
		return -1;
	if (st->pipe)
		return pg_pipe_call(st, sql, false, p, out, what, err);
	return pg_result(st, pg_exec_wait(st, sql, false, p), out, what, err);
}

/* ---------------------------------------------------------------- connect */

bool
store_pg_is_conninfo(const char *s)
{
	PQconninfoOption *opts;
	char *msg = NULL;

	/* libpq parses an empty or blank text as a conninfo too */
	if (s == NULL || strpbrk(s, "=:") == NULL)
		return false;
	if ((opts = PQconninfoParse(s, &msg)) == NULL) {
		PQfreemem(msg);
		return false;
	}
	PQconninfoFree(opts);
	return true;
}

int
store_conninfo_check(const char *conninfo, char *why, size_t len)
{
	PQconninfoOption *opts;
	char *msg = NULL;
	int rc = 0;

	if ((opts = PQconninfoParse(conninfo, &msg)) == NULL) {
		snprintf(why, len, "not a libpq conninfo: %.*s", (int)strcspn(msg
		    ? msg : "out of memory", "\n"), msg ? msg : "out of memory");
		PQfreemem(msg);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL) {
			snprintf(why, len, "holds a password; put it in a "
			    "passfile (passfile=FILE or PGPASSFILE, mode 0600)");
			rc = -1;
		}
	PQconninfoFree(opts);
	return rc;
}

static int
prepare_all(struct store_be *st, struct nara_err *err)
{
	char name[16];

	for (int i = 0; i < P_COUNT; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		if (pg_result(st, PQprepare(st->conn, name, pg_sql[i], 0, NULL),
		    NULL, "preparing statements", err) != 0)
			return -1;
	}
	for (int i = 0; i < PG_LANE_COUNT; i++) {
		const char *sql = pg_lane_stmt(i, name);

		if (pg_result(st, PQprepare(st->conn, name, sql, 0, NULL), NULL,
		    "preparing statements", err) != 0)
			return -1;
	}
	return 0;
}

/* A new connection: no notices on stderr, the statements prepared. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Defaults under the configured conninfo (which overrides them): a server
 * that vanishes from the network is noticed within seconds instead of
 * after the kernel's TCP timeouts, and a connection attempt gives up. */
static PGconn *
connect_with_defaults(const char *conninfo)
{
	static const char *const keys[] = { "connect_timeout",
	    "keepalives_idle", "keepalives_interval", "keepalives_count",
	    "tcp_user_timeout", "application_name", "dbname", NULL };
	const char *values[] = { "10", "5", "2", "3", "10000", "narad",
	    conninfo, NULL };

	return PQconnectdbParams(keys, values, 1);
}

static int
connect_db(struct store_be *st, struct nara_err *err)
{
	PGconn *c = connect_with_defaults(st->conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		size_t n = strcspn(PQerrorMessage(c), "\n");
		nara_err_set(err, NR_STORE_FAILED, "store", "cannot connect to "
		    "PostgreSQL: %.*s", (int)n, PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	st->conn = c;
	snprintf(st->label, sizeof(st->label), "postgresql %s:%s/%s",
	    PQhost(c), PQport(c), PQdb(c));
	return 0;
}

int
pg_ready(struct store_be *st, struct nara_err *err)
{
	struct nara_err local = { 0 };
	int64_t now = mono_ms();

	/* a begin sent ahead holds the head's lock: end it first */
	if (st->ahead && !st->in_batch && store_pg_settle(st, err) != 0)
		return -1;
	if (st->conn != NULL)
		return 0;
	if (err == NULL)
		err = &local;
	if (now < st->retry_at_ms)
		return nara_err_set(err, NR_STORE_FAILED, "store", "the database "
		    "is unreachable; next attempt in %lld ms",
		    (long long)(st->retry_at_ms - now));
	if (connect_db(st, err) != 0 || prepare_all(st, err) != 0) {
		if (st->conn != NULL) {
			PQfinish(st->conn);
			st->conn = NULL;
		}
		st->backoff_ms = st->backoff_ms == 0 ? BACKOFF_MIN_MS :
		    st->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
		    st->backoff_ms * 2;
		st->retry_at_ms = now + st->backoff_ms;
		log_warn("store: %s", err->text);
		return -1;
	}
	/* The new connection may reach another server (a standby promoted
	 * after a failover) whose lease row is not the one this narad
	 * renewed: no batch fences before a lease step has renewed it here. */
	st->fence_epoch = 0;
	if (st->lost)
		log_info("store %s: connected again", st->label);
	st->lost = false;
	st->backoff_ms = 0;
	st->retry_at_ms = 0;
	return 0;
}

static int
copy_options(struct store_be *st, const char *conninfo,
    const struct store_options *opt, struct nara_err *err)
{
	st->read_only = opt->read_only;
	st->ahead_on = opt->ahead && !opt->read_only;
	st->max_bytes = opt->max_bytes;
	st->block = PG_BLOCK_MIN;
	st->sync_standbys = -1;
	snprintf(st->label, sizeof(st->label), "postgresql");
	if ((st->conninfo = strdup(conninfo)) == NULL)
		return nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
	if (store_key_set(&st->key, opt->pseudonym_key,
	    opt->pseudonym_key_len, err) != 0)
		return -1;
	if ((st->hasher = audit_hasher_new()) == NULL)
		return nara_err_set(err, NR_STORE_FAILED, "store", "cannot set "
		    "up SHA-256");
	return 0;
}

/*
 * The pseudonym key is the store's own (as in the SQLite store): its
 * check value is kept in head.pseudonym_check, a column added by the first
 * narad that opens the store with a key (outside the versioned schema, as
 * the lease's token: older narads keep working on the table). A read-only
 * open of a store without the column checks nothing.
 */
static int
key_check(struct store_be *st, struct nara_err *err)
{
	struct pg_params p;
	char mine[17], kept[17] = "";
	PGresult *r;
	bool has;

	if (st->key.bytes == NULL)
		return 0;
	if (store_key_check_value(st->key.bytes, st->key.len, mine) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "pseudonym_key",
		    "cannot compute the key's check value");
	if (pg_run_sql(st, "SELECT count(*) FROM pg_attribute WHERE attrelid = "
	    "'head'::regclass AND attname = 'pseudonym_check' AND NOT "
	    "attisdropped", NULL, &r, "reading the key's check value", err) != 0)
		return -1;
	has = pg_int(r, 0, 0) > 0;
	PQclear(r);
	if (!has && st->read_only)
		return 0;
	if (!has && pg_run_sql(st, "ALTER TABLE head ADD COLUMN IF NOT EXISTS "
	    "pseudonym_check text", NULL, NULL, "keeping the key's check value",
	    err) != 0)
		return -1;
	if (pg_run_sql(st, "SELECT pseudonym_check FROM head WHERE id = 1", NULL,
	    &r, "reading the key's check value", err) != 0)
		return -1;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		snprintf(kept, sizeof(kept), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (kept[0] != '\0' || st->read_only)
		return store_key_check_compare(st->label, kept, mine, err);
	pg_params_init(&p);
	pg_param_text(&p, mine);
	return pg_run_sql(st, "UPDATE head SET pseudonym_check = $1 WHERE id = "
	    "1 AND pseudonym_check IS NULL", &p, NULL, "keeping the key's check "
	    "value", err);
}

struct store_be *
store_pg_open(const char *path, const struct store_options *opt,
    struct store *outer, struct nara_err *err)
{
	static const struct store_options defaults = { .sync_full = true };
	struct store_be *st = calloc(1, sizeof(*st));

	if (opt == NULL)
		opt = &defaults;
	if (st == NULL) {
		nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
		return NULL;
	}
	st->outer = outer;
	if (copy_options(st, path, opt, err) != 0 || connect_db(st, err) != 0)
		goto fail;
	if (pg_schema_open(st, err) != 0 || prepare_all(st, err) != 0 ||
	    pg_head_read(st, err) != 0 || key_check(st, err) != 0 ||
	    pg_cache_new(st) != 0)
		goto fail;
	if (!st->read_only)
		pg_replication_check(st, (int64_t)time(NULL));
	st->opened = true;
	return st;
fail:
	store_pg_free(&st);
	return NULL;
}

void
store_pg_free(struct store_be **stp)
{
	struct store_be *st;

	if (stp == NULL || (st = *stp) == NULL)
		return;
	if (st->in_batch)
		store_pg_rollback(st);
	if (st->ahead)
		store_pg_settle(st, NULL);
	pg_sign_final(st);
	if (st->opened)
		log_info("store %s: %llu batches committed, %llu round trips",
		    st->label, (unsigned long long)st->batches,
		    (unsigned long long)st->round_trips);
	if (st->conn != NULL)
		PQfinish(st->conn);
	audit_hasher_free(&st->hasher);
	pg_cache_free(st);
	pg_lanes_free(st);
	pg_known_free(st);
	store_key_free(&st->key);
	free(st->buf);
	free(st->spec_ids);
	if (st->conninfo != NULL)
		OPENSSL_cleanse(st->conninfo, strlen(st->conninfo));
	free(st->conninfo);
	free(st);
	*stp = NULL;
}

int
store_pg_head_file_check(struct store_be *st, struct nara_err *err)
{
	(void)st;
	(void)err;
	return 0;   /* the head is recorded in the database itself */
}

/* ---------------------------------------------------------------- stats */

int
store_pg_node_stats(struct store_be *st, store_stats_fn fn, void *arg)
{
	struct store_node_stats ns;
	PGresult *r;

	if (pg_run(st, P_NODE_STATS, NULL, &r, "node statistics", NULL) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		ns.node = pg_text(r, i, 0);
		ns.queued = pg_int(r, i, 1);
		ns.oldest_created = pg_int(r, i, 2);
		ns.receipts = pg_int(r, i, 3);
		if (ns.node != NULL && fn(arg, &ns) != 0)
			break;
	}
	PQclear(r);
	return 0;
}

int
store_pg_totals(struct store_be *st, struct store_totals *t)
{
	PGresult *r;

	memset(t, 0, sizeof(*t));
	if (pg_run(st, P_TOTALS, NULL, &r, "totals", NULL) != 0)
		return -1;
	t->queued = pg_int(r, 0, 0);
	t->dead = pg_int(r, 0, 1);
	t->receipts = pg_int(r, 0, 2);
	t->audit_rows = pg_int(r, 0, 3);
	t->bytes = pg_int(r, 0, 4);
	PQclear(r);
	return 0;
}
