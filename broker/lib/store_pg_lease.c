/*
 * store_pg_lease.c — the lease row and its fence (see store_pg_lease.h).
 */
#include "store_pg_lease.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_pg_int.h"

/* The lease row and the fence every batch of the active narad starts with.
 * The fence's UPDATE both checks the lease and holds the row's lock until
 * the batch ends, which is what serialises it against a takeover.
 *
 * The fence checks the token, not only the epoch: an epoch can be issued
 * twice when the database fails over to a standby that had not received
 * a takeover yet (its row is one epoch behind, and the next takeover
 * there gives the lost epoch to another narad). A token is drawn afresh
 * by every take, on whichever server, so no two holders share one.
 *
 * Stores whose table predates the token get the column here, not by a
 * schema version: the table is the lease's own, older narads still read
 * and write it (their INSERT fills the leading columns, their takeovers
 * raise the epoch, so the token they leave behind fences nobody), and a
 * version change would stop them opening the store during a rolling
 * upgrade. The
 * column is added only when missing, so a start does not take the
 * table's lock for nothing while the active narad fences. nara_fence(e)
 * of those narads stays as it was; this one is nara_fence(e, t). */
static const char *const lease_schema =
    "CREATE TABLE IF NOT EXISTS nara_lease ("
    " id integer PRIMARY KEY CHECK (id = 1),"
    " epoch bigint NOT NULL,"
    " holder text NOT NULL,"
    " holder_pid integer NOT NULL,"
    " renewed timestamptz NOT NULL,"
    " ttl_ms integer NOT NULL,"
    " token uuid);"
    "DO $d$ BEGIN"
    " IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid ="
    "  'nara_lease'::regclass AND attname = 'token' AND NOT attisdropped)"
    " THEN ALTER TABLE nara_lease ADD COLUMN IF NOT EXISTS token uuid;"
    " END IF; END $d$;"
    "CREATE OR REPLACE FUNCTION nara_fence(e bigint, t uuid) RETURNS void"
    " LANGUAGE plpgsql AS $f$ BEGIN"
    " UPDATE nara_lease SET renewed = clock_timestamp()"
    "  WHERE id = 1 AND epoch = e AND token = t;"
    " IF NOT FOUND THEN"
    "  RAISE EXCEPTION 'lease epoch % is no longer held by this narad', e"
    "   USING ERRCODE = '" PG_LEASE_FENCED_STATE "';"
    " END IF; END $f$;";

/* Who holds it now, by the database's clock. */
static const char *const lease_read =
    "SELECT epoch, holder, holder_pid,"
    " floor(extract(epoch FROM clock_timestamp() - renewed) * 1000)::bigint,"
    " ttl_ms FROM nara_lease WHERE id = 1";

static const char *const lease_renew =
    "UPDATE nara_lease SET renewed = clock_timestamp(),"
    " holder_pid = pg_backend_pid(), ttl_ms = $3::integer"
    " WHERE id = 1 AND epoch = $1::bigint AND holder = $2"
    " AND token = $4::uuid RETURNING epoch, token";

static const char *const lease_first =
    "INSERT INTO nara_lease VALUES (1, 1, $1, pg_backend_pid(),"
    " clock_timestamp(), $2::integer, gen_random_uuid())"
    " ON CONFLICT (id) DO NOTHING RETURNING epoch, token";

/* Takes the lease over from epoch $1 if it is still that epoch and
 * expired, or names this same instance ($2) and no other session of that
 * name is connected to this database: a restarted narad, not a live one
 * that only froze.
 * The same name on the row alone is no proof: it is also what a database
 * failover brings back when the promoted server missed later takeovers. */
static const char *const lease_take =
    "UPDATE nara_lease SET epoch = epoch + 1, holder = $2,"
    " holder_pid = pg_backend_pid(), renewed = clock_timestamp(),"
    " ttl_ms = $3::integer, token = gen_random_uuid()"
    " WHERE id = 1 AND epoch = $1::bigint AND"
    " (renewed < clock_timestamp() - ttl_ms * interval '1 ms' OR"
    " (holder = $2 AND NOT EXISTS (SELECT FROM pg_stat_activity"
    "  WHERE application_name = 'narad:' || $2"
    "  AND datname = current_database() AND pid <> pg_backend_pid())))"
    " RETURNING epoch, token";

/* The old holder's session, if it is still there under its name: ending it
 * rolls back a transaction it may hold the row's lock in. */
static const char *const lease_end_holder =
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE pid = $1::integer AND pid <> pg_backend_pid()"
    " AND application_name = 'narad:' || $2";

static int
lease_fail(PGconn *c, PGresult *r, const char *what, struct nara_err *err)
{
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);

	nara_err_set(err, NR_STORE_FAILED, "lease", "%s: %.*s", what,
	    (int)strcspn(msg, "\n"), msg);
	PQclear(r);
	return -1;
}

/* A statement with text parameters; its result (caller clears) or NULL
 * with err. */
static PGresult *
run(PGconn *c, const char *sql, int n, const char *const *params,
    const char *what, struct nara_err *err)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		lease_fail(c, r, what, err);
		return NULL;
	}
	return r;
}

int
pg_lease_schema(PGconn *c, struct nara_err *err)
{
	PGresult *r = PQexec(c, lease_schema);

	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
		return lease_fail(c, r, "lease schema", err);
	PQclear(r);
	return 0;
}

/* The row into out (holder, epoch, age, ttl) and the holder's pid into
 * *pid; 1 when there is a row, 0 when none, -1 on error. */
static int
lease_load(PGconn *c, struct store_lease *out, char *pid, size_t pid_len,
    struct nara_err *err)
{
	PGresult *r = run(c, lease_read, 0, NULL, "read the lease", err);

	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	out->epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	snprintf(out->holder, sizeof(out->holder), "%s", PQgetvalue(r, 0, 1));
	snprintf(pid, pid_len, "%s", PQgetvalue(r, 0, 2));
	out->age_ms = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
	out->ttl_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
	PQclear(r);
	return 1;
}

/* One UPDATE/INSERT … RETURNING epoch, token: 1 with *epoch and token
 * when it hit a row, 0 when none, -1 on error. */
static int
returning_lease(PGconn *c, const char *sql, int n, const char *const *p,
    const char *what, int64_t *epoch, char *token, struct nara_err *err)
{
	PGresult *r = run(c, sql, n, p, what, err);
	int hit;

	if (r == NULL)
		return -1;
	if ((hit = PQntuples(r) == 1)) {
		*epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		snprintf(token, PG_LEASE_TOKEN_LEN, "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return hit;
}

/* A statement without parameters or result rows; 0 or -1 with err. */
static int
exec_simple(PGconn *c, const char *sql, struct nara_err *err)
{
	PGresult *r = run(c, sql, 0, NULL, sql, err);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* The lease is free, expired or ours by name: take it. The old holder's
 * session is ended first when the lease expired (by name, the holder is
 * gone already, or the UPDATE does not take it); the UPDATE waits at most
 * 2 s for the row's lock in any case, so a stalled session cannot stall
 * this narad's loop. */
static int
lease_take_over(PGconn *c, const char *instance, const char *ttl,
    struct store_lease *out, const char *pid, char *token,
    struct nara_err *err)
{
	char seen[24];
	const char *p[3] = { seen, instance, ttl };
	const char *pe[2] = { pid, out->holder };
	PGresult *r;
	int hit;

	snprintf(seen, sizeof(seen), "%" PRId64, out->epoch);
	snprintf(out->prev_holder, sizeof(out->prev_holder), "%s", out->holder);
	out->prev_epoch = out->epoch;
	out->prev_age_ms = out->age_ms;
	if (out->age_ms > out->ttl_ms) {
		if ((r = run(c, lease_end_holder, 2, pe, "end the old holder's "
		    "session", err)) == NULL)
			return -1;
		PQclear(r);
	}
	if (exec_simple(c, "BEGIN", err) != 0)
		return -1;
	if (exec_simple(c, "SET LOCAL lock_timeout = '2s'", err) != 0 ||
	    (hit = returning_lease(c, lease_take, 3, p, "take the lease",
	    &out->epoch, token, err)) < 0 || exec_simple(c, "COMMIT", err) != 0) {
		PQclear(PQexec(c, "ROLLBACK"));
		return -1;
	}
	if (hit == 1) {
		snprintf(out->holder, sizeof(out->holder), "%s", instance);
		out->active = true;
		out->age_ms = 0;
	}
	return 0;
}

/* This session's name, so that a successor can find and end it. */
static int
lease_name_session(PGconn *c, const char *instance, struct nara_err *err)
{
	const char *p[1] = { instance };
	PGresult *r = run(c, "SELECT set_config('application_name', "
	    "'narad:' || $1, false)", 1, p, "name the session", err);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* out names this instance as the holder that just renewed or took it. */
static void
lease_mine(struct store_lease *out, const char *instance, int64_t ttl_ms)
{
	snprintf(out->holder, sizeof(out->holder), "%s", instance);
	out->active = true;
	out->age_ms = 0;
	out->ttl_ms = ttl_ms;
}

int
pg_lease_step(PGconn *c, const char *instance, int64_t ttl_ms, char *token,
    struct store_lease *out, struct nara_err *err)
{
	char ttl[24], held[24], pid[24] = "0", mine_token[PG_LEASE_TOKEN_LEN];
	const char *p[4] = { held, instance, ttl, mine_token };
	int64_t mine = out->epoch;
	int rc;

	memset(out, 0, sizeof(*out));
	out->age_ms = out->prev_age_ms = -1;
	snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
	snprintf(held, sizeof(held), "%" PRId64, mine);
	snprintf(mine_token, sizeof(mine_token), "%s", token);
	token[0] = '\0';
	if (lease_name_session(c, instance, err) != 0)
		return -1;
	if (mine < 0)               /* only look */
		return lease_load(c, out, pid, sizeof(pid), err) < 0 ? -1 : 0;
	if (mine > 0) {
		if ((rc = returning_lease(c, lease_renew, 4, p, "renew the lease",
		    &out->epoch, token, err)) < 0)
			return -1;
		if (rc == 1) {
			lease_mine(out, instance, ttl_ms);
			return 0;
		}
		/* Lost: say who holds it and take nothing, even if it is free
		 * now. A holder that took it back in the same step would serve
		 * on at a new epoch with its old state, and its takeover would
		 * go unrecorded; it must stop serving first. */
		return lease_load(c, out, pid, sizeof(pid), err) < 0 ? -1 : 0;
	}
	if ((rc = lease_load(c, out, pid, sizeof(pid), err)) < 0)
		return -1;
	if (rc == 0) {
		p[0] = instance;
		p[1] = ttl;
		if ((rc = returning_lease(c, lease_first, 2, p, "take the lease",
		    &out->epoch, token, err)) < 0)
			return -1;
		if (rc == 0)        /* another instance was first: look again */
			return lease_load(c, out, pid, sizeof(pid), err) < 0 ?
			    -1 : 0;
		lease_mine(out, instance, ttl_ms);
		return 0;
	}
	if (strcmp(out->holder, instance) == 0 || out->age_ms > out->ttl_ms)
		return lease_take_over(c, instance, ttl, out, pid, token, err);
	return 0;
}

int
pg_lease_release(PGconn *c, const char *instance, int64_t epoch,
    const char *token, struct nara_err *err)
{
	char held[24];
	const char *p[3] = { held, instance, token };
	PGresult *r;

	snprintf(held, sizeof(held), "%" PRId64, epoch);
	/* holder_pid 0: the successor has no session to end. */
	r = run(c, "UPDATE nara_lease SET holder_pid = 0, renewed = "
	    "clock_timestamp() - (ttl_ms + 1000) * interval '1 ms' WHERE id = 1 "
	    "AND epoch = $1::bigint AND holder = $2 AND token = $3::uuid", 3, p,
	    "release the lease", err);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* ---------------------------------------------------------------- the ops */

/* A lost connection is dropped, so that the next call reconnects. */
static void
drop_if_lost(struct store_be *st)
{
	if (st->conn != NULL && PQstatus(st->conn) == CONNECTION_BAD) {
		PQfinish(st->conn);
		st->conn = NULL;
		log_warn("store %s: connection lost; reconnecting", st->label);
	}
}

int
store_pg_lease(struct store_be *st, const char *instance, int64_t ttl_ms,
    struct store_lease *l, struct nara_err *err)
{
	char token[PG_LEASE_TOKEN_LEN];

	if (st->in_batch || st->read_txn)
		return nara_err_set(err, NR_STORE_FAILED, "lease", "the lease "
		    "is not asked for inside a transaction");
	l->active = false;
	if (pg_ready(st, err) != 0)
		return -1;
	st->leased = true;
	if (!st->lease_schema && pg_lease_schema(st->conn, err) != 0) {
		drop_if_lost(st);
		return -1;
	}
	st->lease_schema = true;
	if (l->epoch >= 0)          /* negative: the caller only looks */
		l->epoch = st->lease_epoch;
	/* a step that fails keeps the lease as held, for the next renewal */
	snprintf(token, sizeof(token), "%s", st->lease_token);
	if (pg_lease_step(st->conn, instance, ttl_ms, token, l, err) != 0) {
		drop_if_lost(st);
		return -1;
	}
	snprintf(st->lease_token, sizeof(st->lease_token), "%s", token);
	st->lease_epoch = l->active ? l->epoch : 0;
	st->fence_epoch = st->lease_epoch;
	return 0;
}

int
store_pg_lease_release(struct store_be *st, const char *instance,
    struct nara_err *err)
{
	int64_t epoch = st->lease_epoch;

	if (epoch == 0)
		return 0;
	if (st->in_batch || st->read_txn)
		return nara_err_set(err, NR_STORE_FAILED, "lease", "the lease "
		    "is not given up inside a transaction");
	/* Not released, the lease is still this narad's as far as it
	 * knows: the fence stays, so that narad can go on (and audit the
	 * failed hand-over). Should the database have taken the release
	 * after all, nara_fence refuses the next batch. */
	if (pg_ready(st, err) != 0)
		return -1;
	if (pg_lease_release(st->conn, instance, epoch, st->lease_token,
	    err) != 0) {
		drop_if_lost(st);
		return -1;
	}
	st->lease_epoch = st->fence_epoch = 0;
	return 0;
}

int
pg_lease_fence(struct store_be *st, struct nara_err *err)
{
	struct pg_params p;

	if (!st->leased)
		return 0;
	if (st->lease_epoch != 0 && st->fence_epoch == 0)
		return nara_err_set(err, NR_UNAVAILABLE, "lease", "this narad's "
		    "lease is not confirmed: lost, or not renewed on this "
		    "database connection yet");
	if (st->fence_epoch == 0)
		return nara_err_set(err, NR_UNAVAILABLE, "lease", "this narad "
		    "does not hold the store's lease (standby)");
	/* sent, not waited for: its error (NR042, pg_fail) comes with the
	 * next statement's answer and breaks the batch */
	pg_params_init(&p);
	pg_param_int(&p, st->fence_epoch);
	pg_param_text(&p, st->lease_token);
	return pg_pipe_send(st, PG_LEASE_FENCE_SQL, false, &p, "lease fence",
	    err);
}
