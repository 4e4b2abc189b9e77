/*
 * store_pg_arows.c — the audit rows of a PostgreSQL batch, written with one
 * statement instead of one each. pg_audit_append (store_pg_batch.c) hashes
 * a row and adds it here, column by column, as PostgreSQL array literals;
 * pg_arows_flush sends them all as one INSERT ... SELECT FROM unnest(...)
 * before anything that reads (pg_run, pg_run_sql), before the rekey of a
 * retry and before COMMIT, so every statement still sees the rows written
 * before it, in the same transaction. A rollback drops what is buffered.
 * A batch writes about eight audit rows per message: this is most of the
 * server's work saved.
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AROWS_MAX 2000            /* rows per statement */

struct pg_arows {
	char *col[PG_AROW_COLS];
	size_t len[PG_AROW_COLS], cap[PG_AROW_COLS];
	int n;
	bool oom;
};

static const char sql_many[] = "INSERT INTO audit(seq, time, event, node, "
    "message_id, type, sender, recipient, author, legal_basis, "
    "payload_sha256, payload_size, subject, code, detail, prev_hash, hash, "
    "msg_seq) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], "
    "$4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
    "$9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], "
    "$14::text[], $15::text[], $16::bytea[], $17::bytea[], $18::bigint[])";

static void
put(struct pg_arows *a, int c, const char *s, size_t n)
{
	if (a->len[c] + n + 1 > a->cap[c]) {
		size_t cap = a->cap[c] ? a->cap[c] : 4096;
		char *p;

		while (a->len[c] + n + 1 > cap)
			cap *= 2;
		if ((p = realloc(a->col[c], cap)) == NULL) {
			a->oom = true;
			return;
		}
		a->col[c] = p;
		a->cap[c] = cap;
	}
	memcpy(a->col[c] + a->len[c], s, n);
	a->len[c] += n;
	a->col[c][a->len[c]] = '\0';
}

/* One element of column c: NULL, or s quoted with " and \ escaped. */
static void
put_elem(struct pg_arows *a, int c, const char *s)
{
	put(a, c, a->n == 0 ? "{" : ",", 1);
	if (s == NULL) {
		put(a, c, "NULL", 4);
		return;
	}
	put(a, c, "\"", 1);
	for (const char *p = s; *p != '\0'; ) {
		size_t run = strcspn(p, "\"\\");
		put(a, c, p, run);
		p += run;
		if (*p != '\0') {
			put(a, c, "\\", 1);
			put(a, c, p++, 1);
		}
	}
	put(a, c, "\"", 1);
}

int
pg_arows_add(struct store_be *st, const char *const v[PG_AROW_COLS],
    struct nara_err *err)
{
	struct pg_arows *a = st->arows;

	if (a == NULL && (a = st->arows = calloc(1, sizeof(*a))) == NULL)
		goto oom;
	for (int c = 0; c < PG_AROW_COLS; c++)
		put_elem(a, c, v[c]);
	a->n++;
	if (a->oom)
		goto oom;
	if (a->n >= AROWS_MAX)
		return pg_arows_flush(st, err);
	return 0;
oom:
	nara_err_set(err, NR_STORE_FAILED, "store", "out of memory buffering "
	    "audit rows");
	return pg_break(st, err);
}

void
pg_arows_drop(struct store_be *st)
{
	struct pg_arows *a = st->arows;

	if (a == NULL)
		return;
	for (int c = 0; c < PG_AROW_COLS; c++)
		a->len[c] = 0;
	a->n = 0;
	a->oom = false;
}

int
pg_arows_flush(struct store_be *st, struct nara_err *err)
{
	struct pg_arows *a = st->arows;
	struct pg_params p;
	int rc;

	if (a == NULL || a->n == 0)
		return 0;
	pg_params_init(&p);
	for (int c = 0; c < PG_AROW_COLS; c++) {
		put(a, c, "}", 1);
		pg_param_text(&p, a->col[c]);
	}
	if (a->oom) {
		pg_arows_drop(st);
		nara_err_set(err, NR_STORE_FAILED, "store", "out of memory "
		    "buffering audit rows");
		return pg_break(st, err);
	}
	rc = pg_pipe_send(st, sql_many, false, &p, "writing the audit log", err);
	pg_arows_drop(st);
	return rc;
}

void
pg_arows_free(struct store_be *st)
{
	if (st->arows == NULL)
		return;
	for (int c = 0; c < PG_AROW_COLS; c++)
		free(st->arows->col[c]);
	free(st->arows);
	st->arows = NULL;
}
