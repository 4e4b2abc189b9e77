/*
 * store_pg_pipe.c — a batch of the PostgreSQL store in libpq's pipeline
 * mode, so that it costs few round trips to the server instead of one per
 * statement.
 *
 * Inside a batch the connection is in pipeline mode. Statements whose
 * result the store does not need (audit rows, receipts, the chain head,
 * the rekey of a retry) are only sent (pg_send): they travel with the
 * next statement that needs an answer, or with COMMIT. A statement whose
 * result is needed (an accept's insert, which says new or duplicate; an
 * update returning the row its audit row describes; reads) is sent with a
 * flush request, and the results of everything sent before it are read
 * first, in order. So BEGIN and the head lock take one round trip, each
 * statement with an answer one, and the rows that follow it none; COMMIT
 * and all that is still unanswered go in the last one, with a pipeline
 * sync. The first error of a statement sent earlier is reported by the
 * next read (with what that statement was doing), breaks the batch, and
 * the server skips the rest of the pipeline (PGRES_PIPELINE_ABORTED).
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Results of statements sent and not read yet. Past PIPE_MAX they are read
 * (one round trip) before more is sent, which bounds the memory. */
static int
pipe_take(struct store_be *st, PGresult **last, struct nara_err *err);

static bool
send_one(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p)
{
	if (prepared)
		return PQsendQueryPrepared(st->conn, stmt, p ? p->n : 0,
		    p ? p->v : NULL, p ? p->len : NULL, p ? p->fmt : NULL, 0);
	return PQsendQueryParams(st->conn, stmt, p ? p->n : 0, NULL,
	    p ? p->v : NULL, p ? p->len : NULL, p ? p->fmt : NULL, 0);
}

int
pg_pipe_send(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p, const char *what, struct nara_err *err)
{
	if (st->broken) {
		if (err != NULL)
			*err = st->broken_err;
		return -1;
	}
	if (st->conn == NULL || !send_one(st, stmt, prepared, p))
		return pg_fail(st, NULL, what, err);
	st->whats[st->pending++] = what;
	if (st->pending == PG_PIPE_MAX && (!PQsendFlushRequest(st->conn) ||
	    pipe_take(st, NULL, err) != 0))
		return -1;
	return 0;
}

/* Read one statement's results (a result, then NULL). NULL when the
 * connection gave none. */
static PGresult *
read_one(struct store_be *st)
{
	PGresult *r = PQgetResult(st->conn), *end;

	if (r != NULL && (end = PQgetResult(st->conn)) != NULL)
		PQclear(end);       /* a protocol surprise: keep in step */
	return r;
}

/* Read the results of everything pending; the last one's into *last
 * (unless NULL, then it is cleared too). -1 with the first error. */
static int
pipe_take(struct store_be *st, PGresult **last, struct nara_err *err)
{
	struct nara_err first = { 0 };
	bool failed = false;

	while (st->pending > 0) {
		const char *what = st->whats[0];
		PGresult *r = read_one(st);
		ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

		memmove(st->whats, st->whats + 1, (size_t)--st->pending *
		    sizeof(st->whats[0]));
		if (!failed && s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK &&
		    s != PGRES_PIPELINE_ABORTED) {
			failed = true;
			pg_fail(st, r, what, &first);
		}
		if (st->conn == NULL) {        /* lost: nothing more to read */
			PQclear(r);
			st->pending = 0;
			break;
		}
		if (st->pending == 0 && last != NULL && !failed)
			*last = r;
		else
			PQclear(r);
	}
	if (!failed)
		return 0;
	if (err != NULL)
		*err = first;
	return -1;
}

int
pg_pipe_call(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p, PGresult **out, const char *what,
    struct nara_err *err)
{
	PGresult *r = NULL;

	if (out != NULL)
		*out = NULL;
	if (pg_pipe_send(st, stmt, prepared, p, what, err) != 0)
		return -1;
	if (st->pending > 0 && !PQsendFlushRequest(st->conn))
		return pg_fail(st, NULL, what, err);
	if (pipe_take(st, &r, err) != 0)
		return -1;
	if (out != NULL)
		*out = r;
	else
		PQclear(r);
	return 0;
}

int
pg_pipe_begin(struct store_be *st, struct nara_err *err)
{
	if (!PQenterPipelineMode(st->conn))
		return pg_fail(st, NULL, "begin", err);
	st->pipe = true;
	st->pending = 0;
	return pg_pipe_send(st, "BEGIN", false, NULL, "begin", err);
}

/* After a pipeline sync: read up to its PGRES_PIPELINE_SYNC. */
static void
pipe_sync_wait(struct store_be *st)
{
	for (int nulls = 0; st->conn != NULL && nulls < 2; ) {
		PGresult *r = PQgetResult(st->conn);
		bool sync = r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

		nulls = r == NULL && PQstatus(st->conn) == CONNECTION_BAD ?
		    nulls + 1 : 0;
		PQclear(r);
		if (sync)
			break;
	}
}

static void
pipe_leave(struct store_be *st)
{
	st->pipe = false;
	st->pending = 0;
	if (st->conn != NULL && !PQexitPipelineMode(st->conn))
		log_warn("store %s: leaving pipeline mode: %s", st->label,
		    PQerrorMessage(st->conn));
}

int
pg_pipe_commit(struct store_be *st, struct nara_err *err)
{
	PGresult *r = NULL;
	int rc = -1;

	if (pg_pipe_send(st, "COMMIT", false, NULL, "commit", err) != 0)
		return -1;
	if (!PQpipelineSync(st->conn))
		return pg_fail(st, NULL, "commit", err);
	if (pipe_take(st, &r, err) == 0) {
		/* an aborted transaction answers COMMIT with ROLLBACK */
		if (strcmp(PQcmdStatus(r), "COMMIT") == 0)
			rc = 0;
		else
			nara_err_set(err, NR_STORE_FAILED, "store", "commit: the "
			    "server rolled the transaction back");
		PQclear(r);
	}
	pipe_sync_wait(st);
	pipe_leave(st);
	return rc;
}

void
pg_pipe_abort(struct store_be *st)
{
	if (!st->pipe)
		return;
	if (st->conn != NULL && PQpipelineSync(st->conn)) {
		pipe_take(st, NULL, NULL);
		pipe_sync_wait(st);
	}
	pipe_leave(st);
}
