/*
 * store_pg_pipe.c — a batch of the PostgreSQL store in libpq's pipeline
 * mode, so that it costs few round trips to the server instead of one per
 * statement.
 *
 * Inside a batch the connection is in pipeline mode. Statements whose
 * result the store does not need (all the rows a batch writes: see
 * store_pg_batch.c and store_pg_lanes.c) are only sent (pg_pipe_send), or
 * sent with a place for their result (pg_pipe_send_keep: the head, the
 * seq block); they travel with the next statement that needs an answer,
 * or with COMMIT. A statement whose result is needed (reads: queues,
 * receipts, the slow paths of store_pg_msg.c) is sent with a flush
 * request, and the results of everything sent before it are read first,
 * in order: one round trip. COMMIT and all that is still unanswered go in
 * the last one, with a pipeline sync. Every wait for answers counts in
 * st->round_trips. The first error of a statement sent earlier is
 * reported by the next read (with what that statement was doing), breaks
 * the batch, and the server skips the rest of the pipeline
 * (PGRES_PIPELINE_ABORTED).
 */
#include "store_pg_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* How long the store waits for any answer of the server before it gives
 * the connection up: a server that keeps the connection open but never
 * answers (a primary whose synchronous standby is gone, a frozen host)
 * must not hold narad's loop for ever. The batch then fails as on a lost
 * connection (NR041), and its outcome is the server's: a resent message
 * finds its duplicate. */
#define ANSWER_MS 15000

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
pg_pipe_send_keep(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p, PGresult **keep, const char *what,
    struct nara_err *err)
{
	if (keep != NULL)
		*keep = NULL;
	if (st->broken) {
		if (err != NULL)
			*err = st->broken_err;
		return -1;
	}
	if (st->conn == NULL)
		return pg_fail(st, NULL, what, err);
	/* No room for one more: read the answers so far first (one round
	 * trip), before this statement is sent, so that its own answer (a
	 * read's rows, COMMIT's outcome) stays for the caller to take. */
	if (st->pending >= PG_PIPE_MAX - 1) {
		if (!PQsendFlushRequest(st->conn))
			return pg_fail(st, NULL, what, err);
		if (pipe_take(st, NULL, err) != 0)
			return -1;
	}
	if (!send_one(st, stmt, prepared, p))
		return pg_fail(st, NULL, what, err);
	st->keeps[st->pending] = keep;
	st->whats[st->pending++] = what;
	return 0;
}

int
pg_pipe_send(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p, const char *what, struct nara_err *err)
{
	return pg_pipe_send_keep(st, stmt, prepared, p, NULL, what, err);
}

int
pg_pipe_flush(struct store_be *st, struct nara_err *err)
{
	if (st->pending == 0)
		return 0;
	if (!PQsendFlushRequest(st->conn))
		return pg_fail(st, NULL, "sending a batch", err);
	return pipe_take(st, NULL, err);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll the connection's socket for events, up to the deadline end; false
 * when the time ran out. */
static bool
sock_wait(PGconn *c, short events, int64_t end)
{
	struct pollfd pfd = { .fd = PQsocket(c), .events = events };
	int64_t left;
	int rc;

	while ((left = end - now_ms()) > 0) {
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0 || (rc < 0 && errno != EINTR))
			return true;
	}
	return false;
}

int
pg_wait_answer(struct store_be *st)
{
	int64_t end = now_ms() + ANSWER_MS;
	int rc;

	if (st->conn == NULL)
		return -1;
	while ((rc = PQflush(st->conn)) > 0)
		if (!sock_wait(st->conn, POLLOUT, end))
			goto late;
	while (rc == 0 && PQisBusy(st->conn)) {
		if (!sock_wait(st->conn, POLLIN, end))
			goto late;
		if (!PQconsumeInput(st->conn))
			break;    /* PQgetResult reports the error */
	}
	return 0;
late:
	log_error("store %s: no answer from the database in %d s; dropping "
	    "the connection", st->label, ANSWER_MS / 1000);
	PQfinish(st->conn);
	st->conn = NULL;
	st->pipe = false;
	st->pending = 0;
	st->lost = true;
	return -1;
}

PGresult *
pg_exec_wait(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p)
{
	PGresult *last = NULL, *r;

	if (st->conn == NULL || !send_one(st, stmt, prepared, p))
		return NULL;
	st->round_trips++;
	while (pg_wait_answer(st) == 0 && (r = PQgetResult(st->conn)) != NULL) {
		PQclear(last);
		last = r;
	}
	return last;
}

/* Read one statement's results (a result, then NULL). NULL when the
 * connection gave none or the server did not answer in time. */
static PGresult *
read_one(struct store_be *st)
{
	PGresult *r, *end;

	if (pg_wait_answer(st) != 0)
		return NULL;
	r = PQgetResult(st->conn);

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

	if (st->pending > 0)
		st->round_trips++;
	while (st->pending > 0) {
		const char *what = st->whats[0];
		PGresult **keep = st->keeps[0];
		PGresult *r = read_one(st);
		ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

		if (!failed && s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK &&
		    s != PGRES_PIPELINE_ABORTED) {
			failed = true;
			pg_fail(st, r, what, &first);
		}
		/* lost, here or while read_one waited (a server that gave no
		 * answer in time is dropped, pending with it): nothing more
		 * to read */
		if (st->conn == NULL) {
			PQclear(r);
			st->pending = 0;
			break;
		}
		st->pending--;
		memmove(st->whats, st->whats + 1, (size_t)st->pending *
		    sizeof(st->whats[0]));
		memmove(st->keeps, st->keeps + 1, (size_t)st->pending *
		    sizeof(st->keeps[0]));
		if (keep != NULL && !failed)
			*keep = r;
		else if (st->pending == 0 && last != NULL && !failed)
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

/* After a pipeline sync: read up to its PGRES_PIPELINE_SYNC. The NULLs
 * between statements are skipped; a run of them without the sync (it
 * was read already, or the connection broke) ends the wait. */
static void
pipe_sync_wait(struct store_be *st)
{
	for (int nulls = 0; st->conn != NULL && nulls < 64; ) {
		PGresult *r = pg_wait_answer(st) == 0 ? PQgetResult(st->conn)
		    : NULL;
		bool sync = r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC;

		if (st->conn == NULL)
			break;
		nulls = r != NULL ? 0 : PQstatus(st->conn) == CONNECTION_BAD ?
		    64 : nulls + 1;
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
pg_pipe_commit_send(struct store_be *st, struct nara_err *err)
{
	if (pg_pipe_send(st, "COMMIT", false, NULL, "commit", err) != 0)
		return -1;
	if (!PQpipelineSync(st->conn))
		return pg_fail(st, NULL, "commit", err);
	return 0;
}

int
pg_pipe_commit_take(struct store_be *st, int n, struct nara_err *err)
{
	PGresult *r = NULL;
	int rest, rc = -1;

	/* what was sent after the sync waits: take the first n only */
	rest = st->pending > n ? st->pending - n : 0;
	st->pending -= rest;
	if (pipe_take(st, &r, err) == 0) {
		/* an aborted transaction answers COMMIT with ROLLBACK */
		if (r != NULL && strcmp(PQcmdStatus(r), "COMMIT") == 0)
			rc = 0;
		else
			nara_err_set(err, NR_STORE_FAILED, "store", "commit: the "
			    "server rolled the transaction back");
		PQclear(r);
	}
	if (st->conn == NULL)
		rest = 0;
	if (rest > 0) {
		/* pipe_take moved nothing past its own: the rest sits at n.. */
		memmove(st->whats, st->whats + n, (size_t)rest *
		    sizeof(st->whats[0]));
		memmove(st->keeps, st->keeps + n, (size_t)rest *
		    sizeof(st->keeps[0]));
	}
	pipe_sync_wait(st);
	st->pending = rest;
	if (rest == 0)
		pipe_leave(st);
	return rc;
}

int
pg_pipe_take_sent(struct store_be *st, struct nara_err *err)
{
	uint64_t rt = st->round_trips;
	int rc = pipe_take(st, NULL, err);

	st->round_trips = rt;
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
