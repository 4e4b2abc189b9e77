/*
 * store_pg_report.c — reading the audit log of the PostgreSQL store for
 * nara-audit's reports and the chain verification: rows by selection,
 * checkpoints, a row's hash, the recorded head, and a read transaction
 * (one snapshot) around several of them (store.h, "Reading the audit log").
 *
 * Rows are fetched in single-row mode, so a walk over millions of rows
 * holds one row at a time, as the SQLite store's statement does.
 */
#include "audit.h"
#include "audit_sign.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <string.h>

#define ROW_COLS "SELECT seq, time, event, node, message_id, type, " \
	"sender, recipient, author, legal_basis, payload_sha256, " \
	"payload_size, subject, code, detail, prev_hash, hash"
#define SELECT_ROWS ROW_COLS " FROM audit "

static void
row_read(const PGresult *r, int i, struct audit_row *a)
{
	memset(a, 0, sizeof(*a));
	a->seq = pg_int(r, i, 0);
	a->time_ms = pg_int(r, i, 1);
	a->event = pg_text(r, i, 2);
	a->node = pg_text(r, i, 3);
	a->message_id = pg_text(r, i, 4);
	a->type = pg_text(r, i, 5);
	a->sender = pg_text(r, i, 6);
	a->recipient = pg_text(r, i, 7);
	a->author = pg_text(r, i, 8);
	a->legal_basis = pg_text(r, i, 9);
	a->payload_sha256 = pg_text(r, i, 10);
	a->payload_size = PQgetisnull(r, i, 11) ? -1 : pg_int(r, i, 11);
	a->subject = pg_text(r, i, 12);
	a->code = pg_text(r, i, 13);
	a->detail = pg_text(r, i, 14);
	/* typed columns: only the look-up column can be stored wrong */
	if (PQnfields(r) > 17 && pg_int(r, i, 17) == 0)
		a->misstored = STORE_MSG_SEQ_ASTRAY;
}

/* Row i of r to fn with its hashes; fn's answer. */
static int
row_pass(const PGresult *r, int i, store_audit_fn fn, void *arg)
{
	uint8_t prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
	struct audit_row a;

	row_read(r, i, &a);
	return fn(arg, &a, pg_bytes(r, i, 15, prev, AUDIT_HASH_LEN) ? prev
	    : NULL, pg_bytes(r, i, 16, hash, AUDIT_HASH_LEN) ? hash : NULL);
}

/* Inside a batch (pipeline mode) the rows come as one result. */
static int64_t
rows_whole(struct store_be *st, const char *sql, const struct pg_params *p,
    store_audit_fn fn, void *arg, struct nara_err *err)
{
	PGresult *r;
	int64_t n = 0;

	if (pg_run_sql(st, sql, p, &r, "reading the audit log", err) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		n++;
		if (row_pass(r, i, fn, arg) != 0)
			break;
	}
	PQclear(r);
	return n;
}

/* The query of a selection and its parameters. */
static const char *
rows_sql(const struct store_audit_filter *f, struct pg_params *p)
{
	pg_params_init(p);
	switch (f->select) {
	case STORE_AUDIT_ALL:
		return SELECT_ROWS "ORDER BY seq";
	case STORE_AUDIT_CHAIN:
		return ROW_COLS ", " STORE_SQL_MSG_SEQ_AGREES " FROM audit ORDER "
		    "BY seq";
	case STORE_AUDIT_MATCH:
		pg_param_int(p, f->from_ms);
		pg_param_int(p, f->to_ms);
		pg_param_text(p, f->party);
		pg_param_text(p, f->type);
		pg_param_text(p, f->event);
		pg_param_text(p, f->node);
		return SELECT_ROWS "WHERE time >= $1::bigint AND time < $2::bigint "
		    "AND ($3::text IS NULL OR sender = $3 OR recipient = $3) AND "
		    "($4::text IS NULL OR type = $4) AND ($5::text IS NULL OR "
		    "event = $5) AND ($6::text IS NULL OR node = $6) ORDER BY seq";
	case STORE_AUDIT_MESSAGE:
		pg_param_text(p, f->message_id);
		return SELECT_ROWS "WHERE msg_seq = (SELECT seq FROM messages "
		    "WHERE message_id = $1) OR message_id = $1 ORDER BY seq";
	case STORE_AUDIT_SUBJECT:
		pg_param_text(p, f->subject);
		/* as the SQLite store's (SUBJECT_WHERE there): no row is
		 * the child's by a message id alone */
		return SELECT_ROWS "WHERE subject = $1 OR (subject IS NULL AND "
		    "message_id IN (SELECT message_id FROM audit WHERE subject = "
		    "$1 AND event <> 'rejected' AND message_id IS NOT NULL)) "
		    "ORDER BY seq";
	case STORE_AUDIT_SEQ:
		pg_param_int(p, f->seq);
		return SELECT_ROWS "WHERE seq = $1::bigint";
	}
	return NULL;
}

/* Read what is left of a single-row query, so the connection is free. */
static void
drain(PGconn *c)
{
	PGresult *r;

	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
}

int64_t
store_pg_audit_rows(struct store_be *st, const struct store_audit_filter *f,
    store_audit_fn fn, void *arg, struct nara_err *err)
{
	struct pg_params p;
	const char *sql = rows_sql(f, &p);
	int64_t n = 0;
	PGresult *r;
	int stop = 0;

	if (sql == NULL)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "unknown "
		    "selection");
	if (st->pipe)
		return rows_whole(st, sql, &p, fn, arg, err);
	if (pg_ready(st, err) != 0)
		return -1;
	if (!PQsendQueryParams(st->conn, sql, p.n, NULL, p.v, p.len, p.fmt, 0) ||
	    !PQsetSingleRowMode(st->conn))
		return nara_err_set(err, NR_STORE_FAILED, "audit", "%s",
		    PQerrorMessage(st->conn));
	while (!stop && pg_wait_answer(st) == 0 &&
	    (r = PQgetResult(st->conn)) != NULL) {
		if (PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
			n++;
			stop = row_pass(r, 0, fn, arg);
		} else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			nara_err_set(err, NR_STORE_FAILED, "audit", "%s",
			    PQresultErrorMessage(r));
			n = -1;
		}
		PQclear(r);
	}
	if (st->conn == NULL)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "no answer "
		    "from the database");
	if (stop)   /* the rest is read and dropped; a cancel would race */
		drain(st->conn);
	return n;
}

int
store_pg_audit_checkpoints(struct store_be *st, const char *kind,
    store_ckpt_fn fn, void *arg, struct nara_err *err)
{
	struct audit_checkpoint c;
	struct pg_params p;
	PGresult *r;
	bool ok;

	pg_params_init(&p);
	pg_param_text(&p, kind);
	if (pg_run_sql(st, "SELECT kind, seq, hash, time, signature, "
	    "key_fingerprint FROM checkpoints WHERE kind = $1 ORDER BY seq, id",
	    &p, &r, "reading checkpoints", err) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		memset(&c, 0, sizeof(c));
		c.kind = pg_text(r, i, 0);
		c.seq = pg_int(r, i, 1);
		c.time_ms = pg_int(r, i, 3);
		c.fingerprint = pg_text(r, i, 5);
		ok = c.kind != NULL && pg_bytes(r, i, 2, c.hash, AUDIT_HASH_LEN) &&
		    pg_bytes(r, i, 4, c.sig, AUDIT_SIG_LEN);
		if (fn(arg, &c, ok) != 0)
			break;
	}
	PQclear(r);
	return 0;
}

int
store_pg_audit_hash(struct store_be *st, int64_t seq,
    uint8_t hash[AUDIT_HASH_LEN])
{
	struct pg_params p;
	PGresult *r;
	int rc;

	pg_params_init(&p);
	pg_param_int(&p, seq);
	if (pg_run_sql(st, "SELECT hash FROM audit WHERE seq = $1::bigint", &p,
	    &r, "reading a hash", NULL) != 0)
		return -1;
	rc = PQntuples(r) == 1 && pg_bytes(r, 0, 0, hash, AUDIT_HASH_LEN);
	PQclear(r);
	return rc;
}

int
store_pg_audit_head(struct store_be *st, int64_t *seq,
    uint8_t hash[AUDIT_HASH_LEN], struct nara_err *err)
{
	PGresult *r;

	*seq = -1;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (pg_run_sql(st, "SELECT seq, hash FROM head WHERE id = 1", NULL, &r,
	    "reading the audit head", err) != 0)
		return -1;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
		*seq = pg_int(r, 0, 0);
		pg_bytes(r, 0, 1, hash, AUDIT_HASH_LEN);
	}
	PQclear(r);
	return 0;
}

int
store_pg_read_begin(struct store_be *st, bool *own, struct nara_err *err)
{
	*own = !st->in_batch && !st->read_txn;
	if (!*own)
		return 0;
	if (pg_ready(st, err) != 0 || pg_run_sql(st, "BEGIN ISOLATION LEVEL "
	    "REPEATABLE READ READ ONLY", NULL, NULL, "read transaction",
	    err) != 0) {
		*own = false;
		return -1;
	}
	st->read_txn = true;
	return 0;
}

void
store_pg_read_end(struct store_be *st, bool own)
{
	if (!own || !st->read_txn)
		return;
	st->read_txn = false;
	if (st->conn != NULL)
		PQclear(pg_exec_wait(st, "ROLLBACK", false, NULL));
}
