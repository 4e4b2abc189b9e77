/*
 * store_pg_lease.h — which narad is active on a PostgreSQL store: a lease
 * row with a fencing epoch (private to the PostgreSQL backend).
 *
 * One row, nara_lease, names the instance that holds the lease, its epoch,
 * a token drawn at random by the take, and when it last renewed it, by the
 * database's clock (so the narad hosts' clocks do not matter). The active
 * narad renews it; a standby takes it over only after it expired, by
 * raising the epoch. Every batch transaction of the active one starts with
 * nara_fence(epoch, token), which raises an error unless that take still
 * holds the lease and takes the row's lock until the transaction ends. So:
 *  - a takeover (UPDATE of the row) and a batch of the old holder cannot
 *    both commit: they serialise on the row; after the takeover committed,
 *    the old holder's fence fails and its whole batch rolls back; a batch
 *    that committed first was the lease holder's when it committed;
 *  - an epoch issued twice (a database failover to a standby that missed
 *    the last takeover) still fences the other holder: its token differs;
 *  - a frozen active that holds the row's lock in an open transaction
 *    cannot stall the takeover: the standby ends that session
 *    (pg_terminate_backend, found by pid and application name) once the
 *    lease expired, which rolls the frozen transaction back;
 *  - a narad that wakes up after a takeover commits nothing more: its
 *    fence fails whatever it tries.
 * docs/HA.md has the whole argument and the timings.
 */
#ifndef NARA_STORE_PG_LEASE_H
#define NARA_STORE_PG_LEASE_H

#include <libpq-fe.h>
#include <stdint.h>

#include "errors.h"
#include "store.h"

/* The table and nara_fence(); idempotent, inside the caller's schema
 * transaction. 0, or -1 with err (NR041). */
int pg_lease_schema(PGconn *c, struct nara_err *err);

/* The length of a token as text (a UUID), with its NUL. */
#define PG_LEASE_TOKEN_LEN 37

/* One step of the lease for instance: renew it when out->epoch (in) is
 * the epoch this instance holds with token (in), and only read it when
 * that renewal fails (the lease is lost: it is taken again at the earliest
 * at a step that holds nothing, after the caller stopped serving) or when
 * out->epoch is negative; with out->epoch 0, take it over when it is free,
 * expired, or held by this same instance name with no other session of
 * that name connected (a restarted narad). ttl_ms is how long a renewal
 * holds. On return *out says who holds it now; out->active tells whether
 * it is this instance (with its epoch, and its token in token,
 * PG_LEASE_TOKEN_LEN bytes; "" when not active). 0, or -1 with err (NR041)
 * when the database cannot be asked (then out is inactive). */
int pg_lease_step(PGconn *c, const char *instance, int64_t ttl_ms,
    char *token, struct store_lease *out, struct nara_err *err);

/* Give the lease of epoch and token up at once (planned switchover): it
 * expires now, so a standby takes it at its next step. 0, or -1 with err. */
int pg_lease_release(PGconn *c, const char *instance, int64_t epoch,
    const char *token, struct nara_err *err);

/* The statement a batch transaction starts with, $1 = the epoch, $2 = the
 * token (text). */
#define PG_LEASE_FENCE_SQL "SELECT nara_fence($1::bigint, $2::uuid)"
/* The SQLSTATE nara_fence raises: this narad no longer holds the lease. */
#define PG_LEASE_FENCED_STATE "NARA1"

#endif
