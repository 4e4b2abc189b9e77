/*
 * store_pg_ckpt.c — upkeep of the PostgreSQL store that is not about one
 * message: signed checkpoints of the chain head, the retention prune
 * behind a signed cut, the reviewer's conclusions, and the replication
 * status (whether a synchronous standby confirms every commit), read at
 * open and every REPL_EVERY seconds from store_maintain. Space is given
 * back by PostgreSQL's autovacuum; nothing here vacuums.
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_sign.h"
#include "log.h"
#include "validate.h"

#define PRUNE_STEP 10000           /* audit rows per automatic prune step */
#define PRUNE_EVERY 3600           /* seconds between automatic prunes */
#define REPL_EVERY 10              /* seconds between replication checks */
#define MS 1000

void
store_pg_set_signer(struct store_be *st, const struct audit_key *key,
    int64_t interval, int64_t retention)
{
	st->signer = key;
	st->sign_interval = interval > 0 ? interval : 60;
	st->retention = retention;
	st->signed_at = 0;
	st->signed_seq = -1;
	st->pruned_at = 0;
}

int
pg_cut_load(struct store_be *st, int64_t *seq, uint8_t hash[AUDIT_HASH_LEN],
    struct nara_err *err)
{
	PGresult *r;

	*seq = 0;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (pg_run_sql(st, "SELECT seq, hash FROM checkpoints WHERE kind = "
	    "'cut' ORDER BY seq DESC LIMIT 1", NULL, &r, "reading the "
	    "retention cut", err) != 0)
		return -1;
	if (PQntuples(r) == 1 && pg_bytes(r, 0, 1, hash, AUDIT_HASH_LEN))
		*seq = pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

/* ---------------------------------------------------------------- sign */

static int
ckpt_write(struct store_be *st, const struct audit_key *key, const char *kind,
    int64_t seq, const uint8_t hash[AUDIT_HASH_LEN], int64_t now,
    struct nara_err *err)
{
	struct audit_checkpoint c = { .kind = kind, .seq = seq,
	    .time_ms = now * MS };
	struct pg_params p;

	memcpy(c.hash, hash, AUDIT_HASH_LEN);
	if (audit_checkpoint_sign(key, &c, err) != 0)
		return -1;
	pg_params_init(&p);
	pg_param_text(&p, c.kind);
	pg_param_int(&p, c.seq);
	pg_param_blob(&p, c.hash, AUDIT_HASH_LEN);
	pg_param_int(&p, c.time_ms);
	pg_param_blob(&p, c.sig, AUDIT_SIG_LEN);
	pg_param_text(&p, c.fingerprint);
	return pg_run_sql(st, "INSERT INTO checkpoints(kind, seq, hash, time, "
	    "signature, key_fingerprint) VALUES ($1, $2, $3, $4, $5, $6)", &p,
	    NULL, "writing the checkpoint", err);
}

int
store_pg_checkpoint(struct store_be *st, const struct audit_key *key,
    int64_t now, struct nara_err *err)
{
	int rc;

	if (key == NULL || !audit_key_can_sign(key))
		return nara_err_set(err, NR_CONFIG, "signing_key", "no private "
		    "signing key");
	if (pg_enter(st, err) != 0)
		return -1;
	rc = st->head_seq > 0 ? ckpt_write(st, key, "head", st->head_seq,
	    st->head_hash, now, err) : 0;
	if (rc == 0 && key == st->signer) {
		st->signed_seq = st->head_seq;
		st->signed_at = now;
	}
	return pg_leave(st, rc, err);
}

void
pg_sign_final(struct store_be *st)
{
	struct nara_err err = { 0 };

	if (st->read_only || !st->opened || st->signer == NULL)
		return;
	if (store_pg_begin(st, &err) != 0)
		goto fail;
	if (st->head_seq == st->signed_seq || st->head_seq == 0) {
		store_pg_rollback(st);
		return;
	}
	if (ckpt_write(st, st->signer, "head", st->head_seq, st->head_hash,
	    (int64_t)time(NULL), &err) != 0 || store_pg_commit(st, &err) != 0)
		goto fail;
	log_info("audit chain head %lld signed at shutdown",
	    (long long)st->head_seq);
	return;
fail:
	store_pg_rollback(st);
	log_error("store %s: signing the audit head at shutdown: %s", st->label,
	    err.text);
}

/* ---------------------------------------------------------------- replication */

/*
 * Whether a commit is confirmed by a synchronous standby: the primary's
 * synchronous_standby_names and the standbys pg_stat_replication shows in
 * state sync or quorum. Logged when it changes, and as a warning while
 * there is none: a commit may then be lost with the primary.
 */
void
pg_replication_check(struct store_be *st, int64_t now)
{
	PGresult *r = NULL;
	struct nara_err err = { 0 };
	int n;

	if (now - st->repl_checked < REPL_EVERY && st->sync_standbys >= 0)
		return;
	st->repl_checked = now;
	if (pg_run_sql(st, "SELECT current_setting('synchronous_standby_names'),"
	    " (SELECT count(*) FROM pg_stat_replication WHERE sync_state IN "
	    "('sync', 'quorum')), current_setting('synchronous_commit')", NULL,
	    &r, "reading the replication status", &err) != 0)
		return;
	n = (int)pg_int(r, 0, 1);
	if (n == 0 && st->sync_standbys != 0)
		log_warn("store %s: no synchronous standby (synchronous_standby_"
		    "names '%s'): a commit may be lost with the primary",
		    st->label, pg_text(r, 0, 0) ? pg_text(r, 0, 0) : "");
	else if (n > 0 && n != st->sync_standbys)
		log_info("store %s: %d synchronous standby(s) confirm every "
		    "commit (synchronous_commit %s)", st->label, n,
		    pg_text(r, 0, 2) ? pg_text(r, 0, 2) : "?");
	st->sync_standbys = n;
	PQclear(r);
}

int
store_pg_replication(struct store_be *st, int *sync_standbys)
{
	*sync_standbys = st->sync_standbys;
	return 0;
}

void
store_pg_costs(struct store_be *st, struct store_costs *out)
{
	out->batches = st->batches;
	out->round_trips = st->round_trips;
	out->begun_ahead = st->adopted - st->settled;
	out->settled = st->settled;
}

/* ---------------------------------------------------------------- upkeep */

static int
maintain_steps(struct store_be *st, int64_t now, struct nara_err *err)
{
	int64_t cut, deleted;

	if (st->signer == NULL)
		return 0;
	if (st->retention > 0 && now - st->pruned_at >= PRUNE_EVERY) {
		if (store_pg_audit_prune(st, st->signer, now - st->retention,
		    PRUNE_STEP, now, NULL, &cut, &deleted, err) != 0)
			return -1;
		if (deleted < PRUNE_STEP)
			st->pruned_at = now;
	}
	if (st->head_seq != st->signed_seq && st->head_seq > 0 &&
	    now - st->signed_at >= st->sign_interval) {
		if (ckpt_write(st, st->signer, "head", st->head_seq,
		    st->head_hash, now, err) != 0)
			return -1;
		st->signed_seq = st->head_seq;
		st->signed_at = now;
	}
	return 0;
}

int
store_pg_maintain(struct store_be *st, int64_t now, struct nara_err *err)
{
	struct nara_err local = { 0 };

	if (err == NULL)
		err = &local;
	if (st->read_only)
		return 0;
	if (pg_enter(st, err) != 0)
		return -1;
	/* a read of two settings, in the broker's batch as it comes */
	pg_replication_check(st, now);
	return pg_leave(st, maintain_steps(st, now, err), err);
}

/* ---------------------------------------------------------------- review */

int
store_pg_audit_review(struct store_be *st, const char *message_id,
    const char *reviewer, const char *conclusion, int64_t now,
    struct nara_err *err)
{
	struct store_msg m = { .message_id = message_id, .author = reviewer };
	struct pg_params p;
	PGresult *r;
	int rc;

	if (pg_enter(st, err) != 0)
		return -1;
	pg_params_init(&p);
	pg_param_text(&p, message_id);
	if ((rc = pg_run_sql(st, "SELECT 1 FROM audit WHERE msg_seq = (SELECT "
	    "seq FROM messages WHERE message_id = $1) OR message_id = $1 "
	    "LIMIT 1", &p, &r, "review", err)) != 0)
		return pg_leave(st, rc, err);
	if (PQntuples(r) == 0)
		rc = nara_err_set(err, NR_BAD_MESSAGE_ID, "message_id", "the "
		    "audit log holds no row for message %s", message_id);
	else
		rc = pg_audit_msg(st, "log_reviewed", NULL, &m, NULL, NULL,
		    conclusion, now, err);
	PQclear(r);
	return pg_leave(st, rc, err);
}

/* A row about a child, not a message: no message_id, so m carries only
 * the author. */
int
store_pg_audit_subject(struct store_be *st, const char *event,
    const char *subject, const char *author, const char *detail, int64_t now,
    struct nara_err *err)
{
	struct store_msg m = { .author = author };

	if (pg_enter(st, err) != 0)
		return -1;
	return pg_leave(st, pg_audit_msg(st, event, NULL, &m, subject, NULL,
	    detail, now, err), err);
}

/* ---------------------------------------------------------------- prune */

/* The last seq to prune (0 = nothing) and its hash, as the SQLite store
 * finds it (store_sqlite_ckpt.c): in chain order from the old cut up to the
 * row before the first one not older than before, at most max_rows rows;
 * the search reads the rows it prunes and one more. Finished messages go
 * with the cut, found in the key's range of those accepted before it. */
/* As in the SQLite store (prune_floor there): no cut past a row of a
 * message still queued; only the rows about to go are looked at. */
static int
prune_floor(struct store_be *st, int64_t old_cut, int64_t *cut,
    uint8_t hash[AUDIT_HASH_LEN], struct nara_err *err)
{
	struct pg_params p;
	PGresult *r;
	int64_t first;

	pg_params_init(&p);
	pg_param_int(&p, old_cut);
	pg_param_int(&p, *cut);
	if (pg_run_sql(st, "SELECT min(a.seq) FROM audit AS a JOIN messages AS "
	    "m ON m.seq = a.msg_seq WHERE a.seq > $1::bigint AND a.seq <= "
	    "$2::bigint AND m.state = 0", &p, &r, "finding rows to prune",
	    err) != 0)
		return -1;
	first = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? pg_int(r, 0, 0) :
	    0;
	PQclear(r);
	if (first == 0)
		return 0;
	*cut = first - 1;
	if (*cut <= old_cut)
		return 0;   /* nothing before it to cut */
	pg_params_init(&p);
	pg_param_int(&p, *cut);
	if (pg_run_sql(st, "SELECT hash FROM audit WHERE seq = $1::bigint", &p,
	    &r, "finding rows to prune", err) != 0)
		return -1;
	if (PQntuples(r) != 1 || !pg_bytes(r, 0, 0, hash, AUDIT_HASH_LEN))
		*cut = old_cut;   /* no such row: cut nothing */
	PQclear(r);
	return 0;
}

static int
prune_target(struct store_be *st, int64_t before, int64_t max_rows,
    int64_t *cut, uint8_t hash[AUDIT_HASH_LEN], struct nara_err *err)
{
	uint8_t old_hash[AUDIT_HASH_LEN];
	struct pg_params p;
	int64_t old_cut;
	PGresult *r;

	*cut = 0;
	if (pg_cut_load(st, &old_cut, old_hash, err) != 0)
		return -1;
	pg_params_init(&p);
	pg_param_int(&p, before * MS);
	pg_param_int(&p, max_rows);
	pg_param_int(&p, old_cut);
	if (pg_run_sql(st, "SELECT seq, hash FROM audit WHERE seq = (SELECT "
	    "min(x) FROM (SELECT coalesce((SELECT seq FROM audit WHERE seq > "
	    "$3::bigint AND time >= $1::bigint ORDER BY seq LIMIT 1) - 1, "
	    "(SELECT max(seq) FROM audit)) AS x UNION ALL SELECT $3::bigint + "
	    "$2::bigint WHERE $2::bigint > 0) AS u)", &p, &r, "finding rows to "
	    "prune", err) != 0)
		return -1;
	if (PQntuples(r) == 1 && pg_bytes(r, 0, 1, hash, AUDIT_HASH_LEN))
		*cut = pg_int(r, 0, 0);
	PQclear(r);
	if (*cut > old_cut && prune_floor(st, old_cut, cut, hash, err) != 0)
		return -1;
	if (*cut <= old_cut)
		*cut = 0;
	return 0;
}

/* Delete with one bigint parameter; the number of rows deleted or -1. */
static int64_t
delete_where(struct store_be *st, const char *sql, int64_t v,
    struct nara_err *err)
{
	struct pg_params p;
	PGresult *r;
	int64_t n;

	pg_params_init(&p);
	pg_param_int(&p, v);
	if (pg_run_sql(st, sql, &p, &r, "pruning", err) != 0)
		return -1;
	n = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return n;
}

static int
prune_rows(struct store_be *st, const struct audit_key *key, int64_t before,
    int64_t now, const char *by, int64_t cut, const uint8_t hash[AUDIT_HASH_LEN],
    int64_t *deleted, struct nara_err *err)
{
	char detail[400], day[32];
	int64_t msgs;

	if (ckpt_write(st, key, "cut", cut, hash, now, err) != 0)
		return pg_break(st, err);
	if ((*deleted = delete_where(st, "DELETE FROM audit WHERE seq <= "
	    "$1::bigint", cut, err)) < 0 ||
	    delete_where(st, "DELETE FROM checkpoints WHERE seq < $1::bigint OR "
	    "(kind = 'head' AND seq = $1::bigint)", cut, err) < 0 ||
	    (msgs = delete_where(st, "DELETE FROM messages WHERE seq < "
	    "coalesce((SELECT seq FROM messages WHERE accepted_at >= $1::bigint "
	    "ORDER BY seq LIMIT 1), 9223372036854775807) AND state <> 0 AND "
	    "done_at IS NOT NULL AND done_at < $1::bigint", before, err)) < 0)
		return pg_break(st, err);
	snprintf(detail, sizeof(detail), "audit rows up to seq %lld (%lld rows) "
	    "and %lld finished messages older than %s%s%s", (long long)cut,
	    (long long)*deleted, (long long)msgs, time_format(before, day,
	    sizeof(day)), by != NULL ? ", by " : "", by != NULL ? by : "");
	return pg_audit_msg(st, "audit_pruned", NULL, NULL, NULL, NULL, detail,
	    now, err);
}

int
store_pg_audit_prune(struct store_be *st, const struct audit_key *key,
    int64_t before, int64_t max_rows, int64_t now, const char *by,
    int64_t *cut_seq, int64_t *deleted, struct nara_err *err)
{
	uint8_t hash[AUDIT_HASH_LEN];
	int rc;

	*cut_seq = 0;
	*deleted = 0;
	if (key == NULL || !audit_key_can_sign(key))
		return nara_err_set(err, NR_CONFIG, "signing_key", "pruning needs "
		    "the private signing key, to sign the cut");
	if (pg_enter(st, err) != 0)
		return -1;
	rc = prune_target(st, before, max_rows, cut_seq, hash, err);
	if (rc == 0 && *cut_seq > 0)
		rc = prune_rows(st, key, before, now, by, *cut_seq, hash, deleted,
		    err);
	rc = pg_leave(st, rc, err);
	if (rc == 0 && *cut_seq > 0)
		log_info("audit log pruned up to seq %lld (%lld rows)",
		    (long long)*cut_seq, (long long)*deleted);
	return rc;
}
