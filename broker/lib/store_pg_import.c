/*
 * store_pg_import.c — the PostgreSQL side of moving a store from SQLite
 * (store_migrate.h): the rows written with COPY into an empty database,
 * in one transaction.
 *
 * The tables are created the way narad creates them (store_pg_schema.c,
 * committed on their own when the database has none yet); then one
 * transaction locks them all, checks that they hold no row, copies every
 * table, sets the id counters after the copied ids and the chain head,
 * and commits (the check value of the store's pseudonym key in the
 * head row too). A failure anywhere rolls it back: the tables stay empty
 * and the move can simply be run again. A narad started on the database
 * meanwhile waits for the lock and then finds the moved store.
 *
 * COPY's text format: integers in decimal, text with backslash, tab,
 * newline and carriage return escaped, bytea as \\x and hex, NULL as \N.
 */
#include "store_migrate.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_SQL "LOCK TABLE head, messages, receipts, audit, checkpoints " \
	"IN ACCESS EXCLUSIVE MODE"
#define EMPTY_SQL "SELECT (SELECT count(*) FROM messages) + (SELECT " \
	"count(*) FROM receipts) + (SELECT count(*) FROM audit) + (SELECT " \
	"count(*) FROM checkpoints) + (SELECT count(seq) FROM head)"

struct store_dst {
	struct store_be *be;       /* narad's own backend: connection, tables */
	bool in_txn;
	bool in_copy;
	char *line;                /* one COPY line (grow-only) */
	size_t cap, len;
};

/* The error of r (or of the connection) into err; -1. */
static int
dst_fail(struct store_dst *d, PGresult *r, const char *what,
    struct nara_err *err)
{
	const char *msg = r != NULL ? PQresultErrorMessage(r) : "";

	if (msg[0] == '\0')
		msg = d->be->conn != NULL ? PQerrorMessage(d->be->conn) :
		    "no connection";
	nara_err_set(err, NR_STORE_FAILED, "store", "%s: %s: %.*s",
	    d->be->label, what, (int)strcspn(msg, "\n"), msg);
	PQclear(r);
	return -1;
}

/* Run sql (no parameters, or p); the result into *out when wanted. */
static int
dst_sql(struct store_dst *d, const char *sql, const struct pg_params *p,
    PGresult **out, const char *what, struct nara_err *err)
{
	PGresult *r = p == NULL ? PQexec(d->be->conn, sql) :
	    PQexecParams(d->be->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
	ExecStatusType s = PQresultStatus(r);

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		return dst_fail(d, r, what, err);
	if (out != NULL)
		*out = r;
	else
		PQclear(r);
	return 0;
}

struct store_dst *
store_dst_open(const char *conninfo, struct nara_err *err)
{
	static const struct store_options opt = { .backend = "postgresql",
	    .sync_full = true };
	struct store_dst *d = calloc(1, sizeof(*d));
	PGresult *r = NULL;

	if (d == NULL) {
		nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
		return NULL;
	}
	if ((d->be = store_pg_open(conninfo, &opt, NULL, err)) == NULL)
		goto fail;
	if (dst_sql(d, "SET client_encoding = 'UTF8'", NULL, NULL, "setting "
	    "the encoding", err) != 0 || dst_sql(d, "BEGIN", NULL, NULL,
	    "starting the transaction", err) != 0)
		goto fail;
	d->in_txn = true;
	if (dst_sql(d, LOCK_SQL, NULL, NULL, "locking the tables", err) != 0 ||
	    dst_sql(d, EMPTY_SQL, NULL, &r, "checking that it is empty", err)
	    != 0)
		goto fail;
	if (pg_int(r, 0, 0) != 0) {
		nara_err_set(err, NR_STORE_FAILED, "store", "%s is not empty: "
		    "its nara tables hold rows (a store is moved only into a "
		    "database without one)", d->be->label);
		goto fail;
	}
	PQclear(r);
	return d;
fail:
	PQclear(r);
	store_dst_close(&d);
	return NULL;
}

void
store_dst_close(struct store_dst **dp)
{
	struct store_dst *d;

	if (dp == NULL || (d = *dp) == NULL)
		return;
	if (d->be != NULL && d->be->conn != NULL) {
		if (d->in_copy)
			PQputCopyEnd(d->be->conn, "abandoned");
		while (d->in_copy) {
			PGresult *r = PQgetResult(d->be->conn);
			if (r == NULL)
				break;
			PQclear(r);
		}
		if (d->in_txn)
			PQclear(PQexec(d->be->conn, "ROLLBACK"));
	}
	store_pg_free(&d->be);
	free(d->line);
	free(d);
	*dp = NULL;
}

int
store_dst_key_check(struct store_dst *d, const char *check,
    struct nara_err *err)
{
	struct pg_params p;
	char kept[17] = "";
	PGresult *r = NULL;

	if (check == NULL || check[0] == '\0')
		return 0;
	/* the column narad adds at its first open with a key (store_pg.c);
	 * the tables are locked already */
	if (dst_sql(d, "ALTER TABLE head ADD COLUMN IF NOT EXISTS "
	    "pseudonym_check text", NULL, NULL, "keeping the key's check value",
	    err) != 0 || dst_sql(d, "SELECT pseudonym_check FROM head WHERE id "
	    "= 1", NULL, &r, "reading the key's check value", err) != 0)
		return -1;
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		snprintf(kept, sizeof(kept), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (kept[0] != '\0' && strcmp(kept, check) != 0)
		return nara_err_set(err, NR_CONFIG, "pseudonym_key", "%s keeps "
		    "the check value of another pseudonym key (%s) than the one "
		    "the SQLite store was written with (%s): narad opened it "
		    "with another key; the moved rows and the ones narad would "
		    "write there could not be linked. Move into a database "
		    "without it, or give narad the store's own key",
		    d->be->label, kept, check);
	pg_params_init(&p);
	pg_param_text(&p, check);
	if (dst_sql(d, "UPDATE head SET pseudonym_check = $1 WHERE id = 1",
	    &p, &r, "keeping the key's check value", err) != 0)
		return -1;
	if (strcmp(PQcmdTuples(r), "1") != 0) {
		PQclear(r);
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s: no "
		    "chain head row to keep the key's check value in",
		    d->be->label);
	}
	PQclear(r);
	return 0;
}

int
store_dst_begin_table(struct store_dst *d, const struct store_table *t,
    struct nara_err *err)
{
	char sql[1024];
	PGresult *r = NULL;

	snprintf(sql, sizeof(sql), "COPY %s (%s) FROM STDIN", t->name, t->cols);
	r = PQexec(d->be->conn, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN)
		return dst_fail(d, r, t->name, err);
	PQclear(r);
	d->in_copy = true;
	return 0;
}

/* Room for n more bytes of the line. */
static int
line_room(struct store_dst *d, size_t n)
{
	size_t cap = d->cap ? d->cap : 4096;
	char *p;

	if (d->len + n <= d->cap)
		return 0;
	while (cap < d->len + n)
		cap *= 2;
	if ((p = realloc(d->line, cap)) == NULL)
		return -1;
	d->line = p;
	d->cap = cap;
	return 0;
}

/* One cell in COPY's text format. */
static int
line_cell(struct store_dst *d, const struct store_cell *c)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = c->p;

	if (line_room(d, 32 + 2 * c->len + 4) != 0)
		return -1;
	if (c->kind == CELL_NULL) {
		d->len += (size_t)sprintf(d->line + d->len, "\\N");
	} else if (c->kind == CELL_INT) {
		d->len += (size_t)sprintf(d->line + d->len, "%lld",
		    (long long)c->i);
	} else if (c->kind == CELL_BLOB) {
		memcpy(d->line + d->len, "\\\\x", 3);
		d->len += 3;
		for (size_t i = 0; i < c->len; i++) {
			d->line[d->len++] = hex[p[i] >> 4];
			d->line[d->len++] = hex[p[i] & 15];
		}
	} else {
		for (size_t i = 0; i < c->len; i++) {
			const char *esc = p[i] == '\\' ? "\\\\" : p[i] == '\t' ?
			    "\\t" : p[i] == '\n' ? "\\n" : p[i] == '\r' ? "\\r"
			    : NULL;
			if (esc == NULL) {
				d->line[d->len++] = (char)p[i];
			} else {
				memcpy(d->line + d->len, esc, 2);
				d->len += 2;
			}
		}
	}
	return 0;
}

int
store_dst_row(struct store_dst *d, const struct store_cell *row, int ncols,
    struct nara_err *err)
{
	d->len = 0;
	for (int c = 0; c < ncols; c++) {
		if (line_cell(d, &row[c]) != 0 || line_room(d, 1) != 0)
			return nara_err_set(err, NR_STORE_FAILED, "store", "out "
			    "of memory");
		d->line[d->len++] = c + 1 < ncols ? '\t' : '\n';
	}
	if (PQputCopyData(d->be->conn, d->line, (int)d->len) != 1)
		return dst_fail(d, NULL, "sending rows", err);
	return 0;
}

int
store_dst_end_table(struct store_dst *d, struct nara_err *err)
{
	PGresult *r = NULL;
	int rc = 0;

	if (PQputCopyEnd(d->be->conn, NULL) != 1)
		return dst_fail(d, NULL, "ending the copy", err);
	d->in_copy = false;
	while ((r = PQgetResult(d->be->conn)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
			rc = dst_fail(d, r, "copying rows", err);
			continue;
		}
		PQclear(r);
	}
	return rc;
}

int64_t
store_dst_count(struct store_dst *d, const struct store_table *t,
    struct nara_err *err)
{
	char sql[200];
	PGresult *r = NULL;
	int64_t n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", t->name);
	if (dst_sql(d, sql, NULL, &r, "counting rows", err) != 0)
		return -1;
	n = pg_int(r, 0, 0);
	PQclear(r);
	return n;
}

int
store_dst_counter(struct store_dst *d, const struct store_table *t,
    int64_t last, struct nara_err *err)
{
	struct pg_params p;

	if (t->counter == NULL)
		return 0;
	pg_params_init(&p);
	pg_param_text(&p, t->name);
	pg_param_text(&p, t->counter);
	pg_param_int(&p, last > 0 ? last : 1);
	pg_param_text(&p, last > 0 ? "true" : "false");
	return dst_sql(d, "SELECT setval(pg_get_serial_sequence($1, $2), "
	    "$3::bigint, $4::boolean)", &p, NULL, "setting the id counter",
	    err);
}

int
store_dst_commit(struct store_dst *d, int64_t head_seq,
    const uint8_t head_hash[32], struct nara_err *err)
{
	struct pg_params p;
	PGresult *r = NULL;
	bool ok;

	if (head_seq > 0) {
		pg_params_init(&p);
		pg_param_int(&p, head_seq);
		pg_param_blob(&p, head_hash, 32);
		if (dst_sql(d, "UPDATE head SET seq = $1::bigint, hash = $2 "
		    "WHERE id = 1", &p, NULL, "recording the audit head", err)
		    != 0)
			return -1;
	}
	if (dst_sql(d, "COMMIT", NULL, &r, "committing", err) != 0)
		return -1;
	d->in_txn = false;
	/* an aborted transaction answers COMMIT with ROLLBACK */
	ok = strcmp(PQcmdStatus(r), "COMMIT") == 0;
	PQclear(r);
	if (!ok)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s: the "
		    "transaction was rolled back", d->be->label);
	return 0;
}
