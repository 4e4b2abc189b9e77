/*
 * store_sqlite_ckpt.c — upkeep of the store that is not about one message:
 * signed checkpoints of the audit chain head, the retention prune behind a
 * signed cut, the reviewer's conclusions, and returning free pages to the
 * file system in small incremental-vacuum steps off the commit path.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit_sign.h"
#include "log.h"
#include "validate.h"

#define VACUUM_STEP 64             /* pages returned per maintenance call */
#define PRUNE_STEP 10000           /* audit rows per automatic prune step */
#define PRUNE_EVERY 3600           /* seconds between automatic prunes */
#define MS 1000
#define UNSIGNED_MARK_EVERY 60     /* s between head files without a key */

void
store_sqlite_set_signer(struct store_be *st, const struct audit_key *key,
    int64_t interval, int64_t retention)
{
	st->signer = key;
	st->sign_interval = interval > 0 ? interval : 60;
	st->retention = retention;
	st->signed_at = 0;
	st->signed_seq = -1;
	st->pruned_at = 0;
}

/* One integer from a statement without parameters; -1 on error. */
static int64_t
query_one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) !=
	    SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

int
store_ckpt_table(struct store_be *st)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, "SELECT 1 FROM sqlite_master "
	    "WHERE type = 'table' AND name = 'checkpoints'", -1, &s, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_cut_load(struct store_be *st, int64_t *seq, uint8_t hash[AUDIT_HASH_LEN])
{
	sqlite3_stmt *s = NULL;
	int rc;

	*seq = 0;
	memset(hash, 0, AUDIT_HASH_LEN);
	if ((rc = store_ckpt_table(st)) <= 0)
		return rc;   /* 0: a store from before checkpoints, read-only */
	rc = sqlite3_prepare_v2(st->db, "SELECT seq, hash FROM checkpoints "
	    "WHERE kind = 'cut' ORDER BY seq DESC LIMIT 1", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_bytes(s, 1) == AUDIT_HASH_LEN) {
		*seq = sqlite3_column_int64(s, 0);
		memcpy(hash, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---------------------------------------------------------------- sign */

/* Insert c into the checkpoints table of db. */
static int
ckpt_insert(sqlite3 *db, const struct audit_checkpoint *c,
    struct nara_err *err)
{
	static const char sql[] = "INSERT INTO checkpoints(kind, seq, hash, "
	    "time, signature, key_fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_text(s, 1, c->kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, c->seq);
		sqlite3_bind_blob(s, 3, c->hash, AUDIT_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, c->time_ms);
		sqlite3_bind_blob(s, 5, c->sig, AUDIT_SIG_LEN, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, c->fingerprint, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	return nara_err_set(err, rc == SQLITE_FULL ? NR_STORE_FULL
	    : NR_STORE_FAILED, "audit", "writing the checkpoint: %s",
	    sqlite3_errmsg(db));
}

/* A checkpoint of kind over (seq, hash), signed and inserted in the open
 * batch. A failed insert is undone by SQLite at statement level, so the
 * broker's batch it runs in stays good. */
static int
ckpt_write(struct store_be *st, const struct audit_key *key, const char *kind,
    int64_t seq, const uint8_t hash[AUDIT_HASH_LEN], int64_t now,
    struct nara_err *err)
{
	struct audit_checkpoint c = { .kind = kind, .seq = seq,
	    .time_ms = now * MS };

	memcpy(c.hash, hash, AUDIT_HASH_LEN);
	if (audit_checkpoint_sign(key, &c, err) != 0 ||
	    ckpt_insert(st->db, &c, err) != 0)
		return -1;
	if (strcmp(kind, "head") == 0)
		store_mark_set(st, &c);
	return 0;
}

int
store_sqlite_checkpoint(struct store_be *st, const struct audit_key *key,
    int64_t now, struct nara_err *err)
{
	int rc;

	if (key == NULL || !audit_key_can_sign(key))
		return nara_err_set(err, NR_CONFIG, "signing_key", "no private "
		    "signing key");
	if (store_enter(st, err) != 0)
		return -1;
	rc = st->head_seq > 0 ? ckpt_write(st, key, "head", st->head_seq,
	    st->head_hash, now, err) : 0;
	if (rc == 0 && key == st->signer) {
		st->signed_seq = st->head_seq;
		st->signed_at = now;
	}
	return store_leave(st, rc, err);
}

void
store_sign_final(struct store_be *st)
{
	struct nara_err err = { 0 };

	/* a store refused at open must not record its head as the truth */
	if (st->read_only || !st->opened ||
	    atomic_load(&st->check_state) == CHECK_FAILED)
		return;
	if (st->signer == NULL) {
		/* unsigned: the head file alone records where the chain ended */
		if (st->mark_keep && st->head_seq > 0 &&
		    st->head_seq != st->mark.seq) {
			store_mark_set(st, NULL);
			store_mark_write(st);
		}
		return;
	}
	if (store_sqlite_begin(st, &err) != 0)
		goto fail;
	if (st->head_seq == st->signed_seq || st->head_seq == 0) {
		store_sqlite_rollback(st);
		return;
	}
	if (ckpt_write(st, st->signer, "head", st->head_seq, st->head_hash,
	    (int64_t)time(NULL), &err) != 0 || store_sqlite_commit(st, &err) != 0)
		goto fail;
	log_info("audit chain head %lld signed at shutdown",
	    (long long)st->head_seq);
	return;
fail:
	store_sqlite_rollback(st);
	log_error("store %s: signing the audit head at shutdown: %s", st->path,
	    err.text);
}

/* ---------------------------------------------------------------- upkeep */

void
store_upkeep_save(struct store_be *st)
{
	st->saved_mark = st->mark;
	st->saved_signed_seq = st->signed_seq;
	st->saved_signed_at = st->signed_at;
	st->saved_marked_at = st->marked_at;
	st->saved_pruned_at = st->pruned_at;
}

void
store_upkeep_restore(struct store_be *st)
{
	st->mark = st->saved_mark;
	st->signed_seq = st->saved_signed_seq;
	st->signed_at = st->saved_signed_at;
	st->marked_at = st->saved_marked_at;
	st->pruned_at = st->saved_pruned_at;
}

/* A few free pages back to the file system; only stores created with
 * auto_vacuum=INCREMENTAL (2) can, older ones simply keep their size. */
static int
vacuum_step(struct store_be *st, struct nara_err *err)
{
	char sql[64];
	int rc;

	if (query_one(st->db, "PRAGMA auto_vacuum") != 2 ||
	    query_one(st->db, "PRAGMA freelist_count") <= 0)
		return 0;
	snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", VACUUM_STEP);
	if ((rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
		return store_fail(st, rc, "incremental vacuum", err);
	return 0;
}

static int
maintain_steps(struct store_be *st, int64_t now, struct nara_err *err)
{
	int64_t cut, deleted;

	if (vacuum_step(st, err) != 0)
		return -1;
	if (st->signer == NULL) {
		/* no signing key: the head file still records the head */
		if (st->head_seq != st->mark.seq && st->head_seq > 0 &&
		    now - st->marked_at >= UNSIGNED_MARK_EVERY) {
			store_mark_set(st, NULL);
			st->marked_at = now;
		}
		return 0;
	}
	if (st->retention > 0 && now - st->pruned_at >= PRUNE_EVERY) {
		if (store_sqlite_audit_prune(st, st->signer, now - st->retention,
		    PRUNE_STEP, now, NULL, &cut, &deleted, err) != 0)
			return -1;
		/* A full step means more is due: come back at the next tick. */
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
store_sqlite_maintain(struct store_be *st, int64_t now, struct nara_err *err)
{
	struct nara_err local = { 0 };

	if (err == NULL)
		err = &local;
	if (st->read_only)
		return 0;
	if (store_check_poll(st, err) != 0)
		return -1;
	if (store_enter(st, err) != 0)
		return -1;
	return store_leave(st, maintain_steps(st, now, err), err);
}

/* ---------------------------------------------------------------- review */

/* Rows about message_id: through the two audit indexes first (rows of a
 * stored message by its seq, the others by id), then, for rows whose
 * message was pruned already, a scan. */
static const char *const AUDIT_HAS_MSG[] = {
	"SELECT 1 FROM audit WHERE msg_seq = (SELECT seq FROM messages WHERE "
	    "message_id = ?1) AND message_id = ?1 LIMIT 1",
	"SELECT 1 FROM audit WHERE msg_seq IS NULL AND message_id = ?1 LIMIT 1",
	"SELECT 1 FROM audit WHERE message_id = ?1 LIMIT 1",
};

/* 1 when the log holds a row about message_id, 0 when not, -1. */
static int
audit_has_message(struct store_be *st, const char *message_id)
{
	int found = 0, rc = SQLITE_DONE;

	for (size_t i = 0; i < 3 && !found; i++) {
		sqlite3_stmt *s = NULL;
		rc = sqlite3_prepare_v2(st->db, AUDIT_HAS_MSG[i], -1, &s, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
			rc = sqlite3_step(s);
		}
		found = rc == SQLITE_ROW;
		sqlite3_finalize(s);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return -1;
	}
	return found;
}

int
store_sqlite_audit_review(struct store_be *st, const char *message_id,
    const char *reviewer, const char *conclusion, int64_t now,
    struct nara_err *err)
{
	struct store_msg m = { .message_id = message_id, .author = reviewer };
	int rc, found;

	if (store_enter(st, err) != 0)
		return -1;
	/* Checked inside the write transaction, so the answer holds. */
	if ((found = audit_has_message(st, message_id)) < 0)
		rc = store_fail(st, sqlite3_errcode(st->db), "review", err);
	else if (!found)
		rc = nara_err_set(err, NR_BAD_MESSAGE_ID, "message_id", "the "
		    "audit log holds no row for message %s", message_id);
	else
		rc = store_audit_msg(st, "log_reviewed", NULL, &m, NULL, NULL,
		    conclusion, now, err);
	return store_leave(st, rc, err);
}

/* A row about a child, not a message: no message_id, so m carries only
 * the author. */
int
store_sqlite_audit_subject(struct store_be *st, const char *event,
    const char *subject, const char *author, const char *detail, int64_t now,
    struct nara_err *err)
{
	struct store_msg m = { .author = author };
	int rc;

	if (store_enter(st, err) != 0)
		return -1;
	rc = store_audit_msg(st, event, NULL, &m, subject, NULL, detail, now,
	    err);
	return store_leave(st, rc, err);
}

/* ---------------------------------------------------------------- prune */

/* The last seq to prune (0 = nothing) and its hash: the log is cut in
 * chain order, from the old cut up to the row before the first one not
 * older than before (at most max_rows rows, 0 = no limit). The search goes
 * forward from the old cut, so it reads the rows it prunes and one more;
 * the log has no index on time here, and the search back from the head
 * for the newest old row read every row kept (8 s on a store of 5,000,000
 * rows, once an hour on narad's loop). */
/*
 * No cut goes past a row of a message still queued, whatever the date:
 * the patient's extract and the trace would lose a live message's
 * beginning. Only the rows about to go are looked at (a retried message's
 * earlier rows follow its seq), so the check costs what the cut reads.
 * Moves *cut (and hash) back before the first such row; an SQLite code.
 */
static int
prune_floor(struct store_be *st, int64_t old_cut, int64_t *cut,
    uint8_t hash[AUDIT_HASH_LEN])
{
	sqlite3_stmt *s = NULL;
	int64_t first = 0;
	int rc = sqlite3_prepare_v2(st->db, "SELECT min(a.seq) FROM audit AS a "
	    "JOIN messages AS m ON m.seq = a.msg_seq WHERE a.seq > ?1 AND "
	    "a.seq <= ?2 AND m.state = 0", -1, &s, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, old_cut);
		sqlite3_bind_int64(s, 2, *cut);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW)
			first = sqlite3_column_int64(s, 0);   /* 0: NULL, none */
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc;
	if (first == 0)
		return 0;
	*cut = first - 1;
	if (*cut <= old_cut)
		return 0;   /* nothing before it to cut */
	s = NULL;
	rc = sqlite3_prepare_v2(st->db, "SELECT hash FROM audit WHERE seq = ?1",
	    -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, *cut);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW &&
		    sqlite3_column_bytes(s, 0) == AUDIT_HASH_LEN)
			memcpy(hash, sqlite3_column_blob(s, 0), AUDIT_HASH_LEN);
		else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
			*cut = old_cut;   /* no such row: cut nothing */
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : rc;
}

static int
prune_target(struct store_be *st, int64_t before, int64_t max_rows,
    int64_t *cut, uint8_t hash[AUDIT_HASH_LEN], struct nara_err *err)
{
	uint8_t old_hash[AUDIT_HASH_LEN];
	sqlite3_stmt *s = NULL;
	int64_t old_cut;
	int rc;

	*cut = 0;
	if (store_cut_load(st, &old_cut, old_hash) != 0)
		return store_fail(st, SQLITE_ERROR, "reading the retention cut",
		    err);
	rc = sqlite3_prepare_v2(st->db, "SELECT seq, hash FROM audit WHERE seq "
	    "= (SELECT min(x) FROM (SELECT coalesce((SELECT seq FROM audit WHERE "
	    "seq > ?3 AND time >= ?1 ORDER BY seq LIMIT 1) - 1, (SELECT max(seq) "
	    "FROM audit)) AS x UNION ALL SELECT ?3 + ?2 WHERE ?2 > 0))", -1, &s,
	    NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, before * MS);
		sqlite3_bind_int64(s, 2, max_rows);
		sqlite3_bind_int64(s, 3, old_cut);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW &&
		    sqlite3_column_bytes(s, 1) == AUDIT_HASH_LEN) {
			*cut = sqlite3_column_int64(s, 0);
			memcpy(hash, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, rc, "finding rows to prune", err);
	if (*cut > old_cut && (rc = prune_floor(st, old_cut, cut, hash)) != 0)
		return store_fail(st, rc, "finding rows to prune", err);
	if (*cut <= old_cut)
		*cut = 0;
	return 0;
}

/* Run a statement with one int64 parameter (a delete); the number of rows
 * changed or -1. */
static int64_t
delete_where(struct store_be *st, const char *sql, int64_t v)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, v);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? sqlite3_changes64(st->db) : -1;
}

/* Finished messages done before ?1, found among those accepted before it
 * (a message is done after it was accepted, and seqs follow acceptance):
 * a range of the key from the oldest row, not a scan of every message
 * kept. A clock stepped back between acceptance and the end only delays
 * a message's prune to a later one. */
#define PRUNE_MESSAGES_SQL \
	"DELETE FROM messages WHERE seq < coalesce((SELECT seq FROM messages " \
	"WHERE accepted_at >= ?1 ORDER BY seq LIMIT 1), 9223372036854775807) " \
	"AND state <> 0 AND done_at IS NOT NULL AND done_at < ?1"

/* The highest message seq given, kept where a prune of the newest rows
 * cannot take it: a seq is never given twice (store_sqlite.c). */
#define SEQ_HIGH_SAVE_SQL \
	"INSERT INTO meta(key, value) VALUES ('message_seq_high', max(?1, " \
	"coalesce((SELECT max(seq) FROM messages), 0))) ON CONFLICT(key) DO " \
	"UPDATE SET value = max(value, excluded.value)"

static int
prune_rows(struct store_be *st, const struct audit_key *key, int64_t before,
    int64_t now, const char *by, int64_t cut, const uint8_t hash[AUDIT_HASH_LEN],
    int64_t *deleted, struct nara_err *err)
{
	char detail[400], day[32];
	int64_t msgs;

	if (ckpt_write(st, key, "cut", cut, hash, now, err) != 0)
		return store_break(st, err);
	if ((*deleted = delete_where(st, "DELETE FROM audit WHERE seq <= ?1",
	    cut)) < 0 ||
	    delete_where(st, "DELETE FROM checkpoints WHERE seq < ?1 OR (kind = "
	    "'head' AND seq = ?1)", cut) < 0 ||
	    delete_where(st, SEQ_HIGH_SAVE_SQL, st->seq_high) < 0 ||
	    (msgs = delete_where(st, PRUNE_MESSAGES_SQL, before)) < 0) {
		store_fail(st, sqlite3_errcode(st->db), "pruning", err);
		return store_break(st, err);
	}
	st->batch_purged = true;   /* dead letters' payloads went with them */
	store_rcache_clear(st);    /* and rows that receipts may refer to */
	snprintf(detail, sizeof(detail), "audit rows up to seq %lld (%lld rows) "
	    "and %lld finished messages older than %s%s%s", (long long)cut,
	    (long long)*deleted, (long long)msgs, time_format(before, day,
	    sizeof(day)), by != NULL ? ", by " : "", by != NULL ? by : "");
	return store_audit_msg(st, "audit_pruned", NULL, NULL, NULL, NULL,
	    detail, now, err);
}

int
store_sqlite_audit_prune(struct store_be *st, const struct audit_key *key,
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
	if (store_enter(st, err) != 0)
		return -1;
	rc = prune_target(st, before, max_rows, cut_seq, hash, err);
	if (rc == 0 && *cut_seq > 0)
		rc = prune_rows(st, key, before, now, by, *cut_seq, hash, deleted,
		    err);
	rc = store_leave(st, rc, err);
	if (rc == 0 && *cut_seq > 0)
		log_info("audit log pruned up to seq %lld (%lld rows)",
		    (long long)*cut_seq, (long long)*deleted);
	return rc;
}
