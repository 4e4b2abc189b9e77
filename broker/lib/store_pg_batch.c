/*
 * store_pg_batch.c — a batch of the PostgreSQL store: one transaction, and
 * two round trips to the server whatever it writes (one when its begin went
 * with the last commit, below), plus one for each read
 * the batch itself asks for: a delivery pass reads the queues and receipts
 * of all its nodes in one (store_loads, store_pg_msg.c), and none when
 * what it would read is what this store wrote itself (store_pg_known.c).
 *
 * begin sends BEGIN, the lease's fence, the batch's plan settings
 * (P_BATCH_PLANS, store_pg.c), the lock of the head row with the read of
 * the chain head, and takes a block of message seqs from the messages
 * sequence and one of receipt ids from the receipts' (as many as a batch
 * of the caller takes frames, PG_BLOCK_MIN at least): one round trip,
 * without a WAL flush. From
 * then on the batch computes every row itself — message seqs, audit rows
 * and their hashes, as the SQLite store does — and only sends them; the
 * rows that change messages and receipts are written from the store's
 * cache (store_pg_fast.c). commit sends the new head and COMMIT with one
 * pipeline sync and reads every answer at once (store_pg_pipe.c).
 *
 * narad's store (store_options.ahead) also sends the next batch's begin
 * right behind COMMIT's sync, with a flush request: its answers arrive
 * behind COMMIT's, and the next begin reads them without a round trip of
 * its own, so a batch under load costs one. That transaction holds the
 * head's lock until a batch takes it; store_settle commits it empty (the
 * blocks given back), and so does every use of the store outside a batch
 * first (pg_ready). A commit that fails rolls it back with the batch.
 *
 * Writers take turns on the head row's lock, so nobody appends to the
 * chain or takes seqs between the lock and COMMIT: seqs (and receipt ids)
 * grow in commit order, as the delivery cursors need, and those the
 * batch did not use go back to their sequence with COMMIT (nobody took
 * one since), so seqs stay dense as in the SQLite store while batches commit
 * (a failed batch leaves its block as a gap, as a rolled back serial
 * does).
 *
 * A batch that fails (any statement's error, a failed check of the cache,
 * COMMIT answered by ROLLBACK) is rolled back whole; the head in memory
 * goes back to the last commit's, the cache of messages is cleared, and
 * the ids this batch accepted without looking are marked, so that their
 * next accept looks first (an id stored by an earlier run that the cache
 * does not know fails one batch).
 */
#include "store_pg_int.h"
#include "store_pg_lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Statements a begin sends at most: BEGIN, fence, plans, head, two blocks,
 * size. */
#define AHEAD_STMTS 9

int
pg_head_read(struct store_be *st, struct nara_err *err)
{
	PGresult *r;

	if (pg_run_sql(st, "SELECT seq, hash FROM head WHERE id = 1", NULL, &r,
	    "reading the audit head", err) != 0)
		return -1;
	st->head_seq = 0;
	memset(st->head_hash, 0, AUDIT_HASH_LEN);
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
	    pg_bytes(r, 0, 1, st->head_hash, AUDIT_HASH_LEN))
		st->head_seq = pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

/* The next value of block b; 0 when it is used up. */
static int64_t
block_next(struct pg_block *b)
{
	return b->next > 0 && b->next <= b->last ? b->next++ : 0;
}

void
store_pg_set_batch_frames(struct store_be *st, unsigned frames)
{
	int64_t block = frames > PG_BLOCK_MIN ? (int64_t)frames : PG_BLOCK_MIN;

	if (block != st->block)
		log_info("store %s: seqs and receipt ids taken %lld at a time "
		    "(batches of up to %u frames)", st->label, (long long)block,
		    frames);
	st->block = block;
}

int64_t
pg_seq_take(struct store_be *st)
{
	return block_next(&st->seqs);
}

int64_t
pg_rcpt_take(struct store_be *st)
{
	return block_next(&st->rcpt_ids);
}

static void
kept_clear(struct store_be *st)
{
	PQclear(st->head_res);
	PQclear(st->seqs.res);
	PQclear(st->rcpt_ids.res);
	PQclear(st->size_res);
	st->head_res = st->seqs.res = st->rcpt_ids.res = st->size_res = NULL;
}

/* A transaction that will not commit: what is pending read and dropped,
 * the kept answers cleared, ROLLBACK when the server still has it open. */
static void
txn_abandon(struct store_be *st)
{
	pg_pipe_abort(st);
	kept_clear(st);
	if (st->conn != NULL && PQtransactionStatus(st->conn) != PQTRANS_IDLE)
		PQclear(pg_exec_wait(st, "ROLLBACK", false, NULL));
}

static void
blocks_clear(struct store_be *st)
{
	st->seqs.next = st->seqs.last = 0;
	st->rcpt_ids.next = st->rcpt_ids.last = 0;
}

/* Ask for size values of a sequence (statement s, P_SEQ_BLOCK or
 * P_RCPT_BLOCK) into b. */
static int
block_send(struct store_be *st, enum pg_stmt s, int64_t size,
    struct pg_block *b, const char *what, struct nara_err *err)
{
	struct pg_params p;

	pg_params_init(&p);
	pg_param_int(&p, size);
	return pg_send_keep(st, s, &p, &b->res, what, err);
}

/* The answer (the last of the size values) into b->next..b->last. */
static void
block_take(struct pg_block *b, int64_t size)
{
	int64_t end;

	b->next = b->last = 0;
	if (b->res == NULL || PQntuples(b->res) != 1)
		return;
	end = pg_int(b->res, 0, 0);
	if (end >= size) {
		b->next = end - size + 1;
		b->last = end;
	}
}

/* What the batch did not use of b back to its sequence (statement s),
 * sent with COMMIT. Not when the block ran out: then the sequence itself
 * gave the values past it. */
static int
block_give_back(struct store_be *st, enum pg_stmt s,
    const struct pg_block *b, const char *what, struct nara_err *err)
{
	struct pg_params p;

	if (b->next <= 0 || b->next > b->last)
		return 0;
	pg_params_init(&p);
	pg_param_int(&p, b->next);
	return pg_send(st, s, &p, what, err);
}

/* The batch's plans (P_BATCH_PLANS), lock and read the head, take a block
 * of seqs (and read the size): sent after BEGIN and the fence, in the same
 * round trip. */
static int
begin_send(struct store_be *st, struct nara_err *err)
{
	st->block_asked = st->block;
	return pg_send(st, P_BATCH_PLANS, NULL, "setting the batch's plans",
	    err) != 0 || pg_send_keep(st, P_HEAD_LOCK, NULL, &st->head_res,
	    "reading the audit head", err) != 0 || block_send(st, P_SEQ_BLOCK,
	    st->block, &st->seqs, "taking message seqs", err) != 0 ||
	    block_send(st, P_RCPT_BLOCK, st->block, &st->rcpt_ids,
	    "taking receipt ids", err) != 0 ||
	    (st->max_bytes > 0 && pg_send_keep(st, P_DB_SIZE, NULL,
	    &st->size_res, "database size", err) != 0) ? -1 : 0;
}

/* What begin_send asked for, once its answers are read. */
static int
begin_read(struct store_be *st, struct nara_err *err)
{
	PGresult *r;

	r = st->head_res;
	if (r == NULL)
		return nara_err_set(err, NR_STORE_FAILED, "store", "beginning "
		    "a batch: the head of the audit chain was not read");
	st->head_seq = 0;
	memset(st->head_hash, 0, AUDIT_HASH_LEN);
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
	    pg_bytes(r, 0, 1, st->head_hash, AUDIT_HASH_LEN))
		st->head_seq = pg_int(r, 0, 0);
	block_take(&st->seqs, st->block_asked);
	block_take(&st->rcpt_ids, st->block_asked);
	if (st->size_res != NULL)
		st->db_bytes = pg_int(st->size_res, 0, 0);
	kept_clear(st);
	/* nobody else committed since this store's last commit? */
	st->sole = st->committed_known && st->head_seq == st->committed_seq &&
	    memcmp(st->head_hash, st->committed_hash, AUDIT_HASH_LEN) == 0;
	if (!st->sole)
		pg_known_clear(st);
	return 0;
}

/* The begin sent with the last commit is still there to be taken (not
 * when the connection went since). */
static bool
ahead_alive(const struct store_be *st)
{
	return st->conn != NULL && st->pipe && st->pending > 0;
}

/* A begin of the next batch sent with the last commit: its answers,
 * which that round trip asked for. 1: gone, begin anew. */
static int
begin_adopt(struct store_be *st, struct nara_err *err)
{
	st->ahead = false;
	if (!ahead_alive(st))
		return 1;
	st->adopted++;
	return pg_pipe_take_sent(st, err) != 0 || begin_read(st, err) != 0 ?
	    -1 : 0;
}

int
store_pg_begin(struct store_be *st, struct nara_err *err)
{
	int rc = 1;

	if (st->read_only)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is open "
		    "read-only", st->label);
	if (st->in_batch)
		return nara_err_set(err, NR_STORE_FAILED, "store", "a batch is "
		    "already open");
	if (st->read_txn)
		store_pg_read_end(st, true);
	st->rt0 = st->round_trips;
	if (st->ahead)
		rc = begin_adopt(st, err);
	if (rc > 0) {
		pg_pipe_abort(st);
		if (pg_ready(st, err) != 0 || pg_pipe_begin(st, err) != 0) {
			pg_pipe_abort(st);
			return -1;
		}
		/* the fence (when narads share the store) and the head row's
		 * lock travel with BEGIN: writers take turns from the last
		 * commit */
		rc = pg_lease_fence(st, err) != 0 || begin_send(st, err) != 0 ||
		    pg_pipe_flush(st, err) != 0 || begin_read(st, err) != 0;
	}
	if (rc != 0) {
		txn_abandon(st);
		return -1;
	}
	st->in_batch = true;
	st->broken = false;
	st->head_dirty = false;
	st->saved_seq = st->head_seq;
	memcpy(st->saved_hash, st->head_hash, AUDIT_HASH_LEN);
	st->saved_signed_at = st->signed_at;
	st->saved_signed_seq = st->signed_seq;
	st->saved_pruned_at = st->pruned_at;
	st->batch_bytes = 0;
	return 0;
}

static void
spec_forget(struct store_be *st, bool mark)
{
	for (size_t i = 0; i < st->n_spec; i++) {
		if (mark)
			pg_cache_msg_stub(st, st->spec_ids[i]);
		free(st->spec_ids[i]);
	}
	st->n_spec = 0;
}

/* The new head, and the seqs and receipt ids the batch did not use back
 * to their sequences, sent with COMMIT. */
static int
commit_send(struct store_be *st, struct nara_err *err)
{
	struct pg_params p;

	if (pg_lanes_flush(st, err) != 0)
		return -1;
	pg_params_init(&p);
	pg_param_int(&p, st->head_seq);
	pg_param_blob(&p, st->head_hash, AUDIT_HASH_LEN);
	if (st->head_dirty && pg_send(st, P_HEAD_SAVE, &p, "saving the audit "
	    "head", err) != 0)
		return -1;
	if (block_give_back(st, P_SEQ_GIVE_BACK, &st->seqs, "giving message "
	    "seqs back", err) != 0)
		return -1;
	return block_give_back(st, P_RCPT_GIVE_BACK, &st->rcpt_ids, "giving "
	    "receipt ids back", err);
}

/* The next batch's begin after COMMIT's sync, with a flush request: its
 * answers come back right behind COMMIT's. Not when this narad is a
 * standby (no fence to send) or the pipeline has no room. */
static bool
ahead_send(struct store_be *st)
{
	if (!st->ahead_on || st->broken || st->conn == NULL ||
	    (st->leased && st->fence_epoch == 0) ||
	    st->pending + AHEAD_STMTS >= PG_PIPE_MAX)
		return false;
	if (pg_pipe_send(st, "BEGIN", false, NULL, "begin", NULL) != 0 ||
	    pg_lease_fence(st, NULL) != 0 || begin_send(st, NULL) != 0 ||
	    !PQsendFlushRequest(st->conn))
		return false;
	return true;
}

bool
store_pg_ahead(struct store_be *st)
{
	return st->ahead;
}

/* Commit the open batch, in two halves: send COMMIT (with next, the next
 * batch's begin behind it: ahead_send) and take its answer. Between them
 * the batch stays open (sent) and nothing else may use the connection;
 * store.c sees to that for store_pg_commit_send's callers. */
static int
commit_send_half(struct store_be *st, bool next, struct nara_err *err)
{
	if (!st->in_batch)
		return nara_err_set(err, NR_STORE_FAILED, "store", "no batch "
		    "is open");
	if (st->broken) {
		if (err != NULL)
			*err = st->broken_err;
		goto fail;
	}
	if (commit_send(st, err) != 0 || pg_pipe_commit_send(st, err) != 0)
		goto fail;
	st->commit_n = st->pending;
	blocks_clear(st);
	st->commit_ahead = next && ahead_send(st);
	return 0;
fail:
	store_pg_rollback(st);
	return -1;
}

static int
commit_take_half(struct store_be *st, struct nara_err *err)
{
	bool ahead = st->commit_ahead;

	st->commit_ahead = false;
	if (pg_pipe_commit_take(st, st->commit_n, err) != 0)
		goto fail;
	if (!ahead && st->pending > 0)
		txn_abandon(st);    /* a begin that did not go out whole */
	/* the batch committed; a send of the begin behind it that failed
	 * with the connection still up (out of memory) broke only that begin */
	st->broken = false;
	st->ahead = ahead && st->pending > 0;
	spec_forget(st, false);
	st->committed_known = true;
	st->committed_seq = st->head_seq;
	memcpy(st->committed_hash, st->head_hash, AUDIT_HASH_LEN);
	st->batches++;
	log_debug("store %s: batch committed after %llu round trips",
	    st->label, (unsigned long long)(st->round_trips - st->rt0));
	st->in_batch = false;
	st->implicit = false;
	return 0;
fail:
	store_pg_rollback(st);
	return -1;
}

static int
commit_batch(struct store_be *st, bool next, struct nara_err *err)
{
	if (commit_send_half(st, next, err) != 0)
		return -1;
	return commit_take_half(st, err);
}

/* store.h store_commit_send: 1 when COMMIT is on its way (flushed). */
int
store_pg_commit_send(struct store_be *st, struct nara_err *err)
{
	if (st->implicit)
		return store_pg_commit(st, err);
	if (commit_send_half(st, true, err) != 0)
		return -1;
	if (st->conn == NULL || PQflush(st->conn) != 0)
		return commit_take_half(st, err);  /* reports what broke */
	return 1;
}

int
store_pg_commit_take(struct store_be *st, struct nara_err *err)
{
	return commit_take_half(st, err);
}

int
store_pg_commit_fd(struct store_be *st)
{
	return st->conn != NULL ? PQsocket(st->conn) : -1;
}

int
store_pg_settle(struct store_be *st, struct nara_err *err)
{
	if (!st->ahead || st->in_batch)
		return 0;
	if (!ahead_alive(st)) {
		st->ahead = false;  /* went with the connection */
		return 0;
	}
	st->settled++;
	if (store_pg_begin(st, err) != 0)
		return -1;
	return commit_batch(st, false, err);
}

int
store_pg_commit(struct store_be *st, struct nara_err *err)
{
	/* a batch of its own (pg_enter) has nobody to settle after it */
	return commit_batch(st, !st->implicit, err);
}

void
store_pg_rollback(struct store_be *st)
{
	if (st == NULL || !st->in_batch)
		return;
	pg_lanes_drop(st);
	txn_abandon(st);
	st->head_seq = st->saved_seq;
	memcpy(st->head_hash, st->saved_hash, AUDIT_HASH_LEN);
	st->signed_at = st->saved_signed_at;
	st->signed_seq = st->saved_signed_seq;
	st->pruned_at = st->saved_pruned_at;
	/* the database is the truth again: look before writing what the
	 * cache said */
	blocks_clear(st);
	pg_cache_clear(st);
	pg_known_clear(st);
	spec_forget(st, true);
	st->in_batch = false;
	st->implicit = false;
	st->broken = false;
	st->head_dirty = false;
}

int
pg_enter(struct store_be *st, struct nara_err *err)
{
	if (st->in_batch) {
		if (!st->broken)
			return 0;
		if (err != NULL)
			*err = st->broken_err;
		return -1;
	}
	if (store_pg_begin(st, err) != 0)
		return -1;
	st->implicit = true;
	return 0;
}

int
pg_leave(struct store_be *st, int rc, struct nara_err *err)
{
	if (!st->implicit)
		return rc;
	if (rc != 0) {
		store_pg_rollback(st);
		return rc;
	}
	return store_pg_commit(st, err);
}

int
pg_audit_append(struct store_be *st, struct audit_row *r, int64_t msg_seq,
    int64_t now, struct nara_err *err)
{
	uint8_t hash[AUDIT_HASH_LEN];
	struct nara_err local;

	if (err == NULL)
		err = &local;
	r->seq = st->head_seq + 1;
	r->time_ms = now * 1000;
	if (audit_row_hash(st->hasher, st->head_hash, r, hash) != 0) {
		nara_err_set(err, NR_STORE_FAILED, "store", "SHA-256 of an "
		    "audit row failed");
		return pg_break(st, err);
	}
	const struct pg_val v[PG_AROW_COLS] = { pg_v_int(r->seq),
	    pg_v_int(r->time_ms), pg_v_text(r->event), pg_v_text(r->node),
	    pg_v_text(r->message_id), pg_v_text(r->type), pg_v_text(r->sender),
	    pg_v_text(r->recipient), pg_v_text(r->author),
	    pg_v_text(r->legal_basis), pg_v_text(r->payload_sha256),
	    r->payload_size < 0 ? pg_v_null() : pg_v_int(r->payload_size),
	    pg_v_text(r->subject), pg_v_text(r->code), pg_v_text(r->detail),
	    pg_v_bytes(st->head_hash, AUDIT_HASH_LEN),
	    pg_v_bytes(hash, AUDIT_HASH_LEN),
	    msg_seq <= 0 ? pg_v_null() : pg_v_int(msg_seq) };
	if (pg_lane_add(st, L_AUDIT, v, err) != 0)
		return -1;
	st->head_seq = r->seq;
	memcpy(st->head_hash, hash, AUDIT_HASH_LEN);
	st->head_dirty = true;
	return 0;
}
