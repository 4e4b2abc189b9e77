/*
 * store_sqlite_wal.c — the write-ahead log of the SQLite store: the thread
 * that checkpoints it on a connection of its own, the wipe of purged
 * content out of it, and the writer's rewind of a long one before a batch.
 *
 * The writer connection never checkpoints (wal_autocheckpoint=0); a thread
 * with its own connection runs passive checkpoints once a second when the
 * WAL has grown (sooner when the writer wakes it), keeping that work off
 * the commit path.
 *
 * Under steady load that thread alone never lets the WAL start over: SQLite
 * rewinds the WAL only when a write begins with every frame copied back, and
 * the writer keeps appending while the thread copies. The WAL would grow
 * without end, in newly allocated (zeroed) blocks, and a restart after a
 * crash would read it all. So once the WAL passes its limit (below) the
 * writer connection copies the few frames the thread has not yet copied,
 * between two batches, and the next batch writes the WAL from its start
 * again.
 *
 * How long the WAL grows before it starts over follows the size of the
 * commits: WAL_COMMITS commits of the recent average size, within
 * WAL_RESET_MIN and WAL_RESET_MAX bytes (in frames of the store's page
 * size: 512 to 4,096 of 8 KiB, 1,024 to 8,192 of 4 KiB in a store made
 * before its pages grew), and the thread is woken at the same length. A
 * page changed by several commits of one WAL cycle (the tail pages of
 * each table and index, a message's row at its accept, delivery and ack)
 * is copied back once per cycle, so a longer cycle copies less: with
 * batches of hundreds of messages (saturation) the copy is about a
 * quarter less per message. With small batches (moderate rates, where
 * latency counts) the cycle stays at WAL_RESET_MIN, because
 * the batch after a restart waits for the rest of the copy and the sync
 * of the database file, which at 4,096 frames of 4 KiB and more
 * lengthened the tail at 2,000 msg/s about threefold (docs/PERFORMANCE.md,
 * "The WAL's length follows the batches").
 */
#include "store_int.h"

#include <string.h>
#include <time.h>

#include "log.h"

#define CKPT_MIN (1 << 20)         /* checkpoint once the WAL has this many
                                    * bytes */
#define WAL_RESET_MIN (4 << 20)    /* writer finishes the checkpoint above */
#define WAL_RESET_MAX (32 << 20)   /* ... at most (twice that when the
                                    * thread lags: see
                                    * store_sqlite_wal_rewind) */
#define WAL_COMMITS 32             /* commits of the average size per cycle */
#define WAL_WIPE_AFTER 10          /* s from a purge to the WAL's truncation */

/* The WAL length in frames at which it starts over (and the thread is
 * woken), for commits of frames_avg16 / 16 frames on average in a store of
 * page_size. */
int
store_sqlite_wal_limit(int frames_avg16, int64_t page_size)
{
	int64_t want = (int64_t)frames_avg16 * WAL_COMMITS / 16,
	    lo = WAL_RESET_MIN / page_size, hi = WAL_RESET_MAX / page_size;

	return (int)(want < lo ? lo : want > hi ? hi : want);
}

/* After each commit of the writer: the WAL's size in frames. The commit's
 * own frames go into the average (an eighth each). Past the limit more
 * than at the last wake-up, the checkpoint thread is woken at once instead
 * of at its next second, so that it copies while the writer goes on and
 * store_sqlite_wal_rewind finds little left to do. */
int
store_sqlite_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_be *st = arg;
	int added = frames;

	if (frames < st->wal_log) {          /* the WAL started over */
		st->wal_kicked = 0;
		atomic_store(&st->ckpt_backfilled, 0);
	} else {
		added = frames - st->wal_log;
	}
	/* 16ths of a frame, so that small commits still move it */
	st->wal_avg16 += (added * 16 - st->wal_avg16) / 8;
	st->wal_limit = store_sqlite_wal_limit(st->wal_avg16, st->page_size);
	atomic_store(&st->wal_frames, frames);
	st->wal_log = frames;
	if (st->ckpt_running && frames - st->wal_kicked >= st->wal_limit) {
		st->wal_kicked = frames;
		pthread_cond_signal(&st->ckpt_cv);
	}
	return SQLITE_OK;
}

int64_t
store_mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec + 1;     /* never 0, which means "none" */
}

/*
 * Purged content out of the WAL. secure_delete zeroes a purged payload in
 * the database file, but the WAL keeps the frames that carried it (the
 * accept, and the page before the purge) until they are overwritten, which
 * under light load may be never. So WAL_WIPE_AFTER seconds after the first
 * purge not yet wiped, a TRUNCATE checkpoint copies every frame back and
 * cuts the WAL to zero bytes. Under load this runs once per WAL_WIPE_AFTER.
 *
 * The TRUNCATE holds the write lock from its start to its end, also while
 * it waits, so whatever it waits for, every batch waits for too. It waits
 * (wipe_busy) for this store's writer to end its batch, which a commit
 * does soon; anything else in the way ends the attempt at once: a reader
 * on an older snapshot (narad's count of the queues, nara-audit, a backup)
 * may read for seconds or minutes, and waiting for it held every batch
 * for the whole busy timeout, again each second while the reader stayed.
 * The next second tries again; a wipe put off for WIPE_WARN_AFTER seconds
 * is logged once, and its end after that.
 */
#define WIPE_WAIT_TRIES STORE_BUSY_TIMEOUT_MS  /* 1 ms each */
#define WIPE_WARN_AFTER 60         /* s put off before it is logged */

static atomic_ullong wipes_done, wipes_put_off;

void
store_sqlite_wipe_counts(uint64_t *done, uint64_t *put_off)
{
	*done = atomic_load(&wipes_done);
	*put_off = atomic_load(&wipes_put_off);
}

/* The checkpoint connection's busy handler: wait while this store's
 * writer holds its batch, else give up (see above). */
static int
wipe_busy(void *arg, int tries)
{
	struct store_be *st = arg;
	struct timespec ms = { 0, 1000000 };

	if (!atomic_load(&st->writer_holds) || tries >= WIPE_WAIT_TRIES)
		return 0;
	nanosleep(&ms, NULL);
	return 1;
}

static void
ckpt_wipe(struct store_be *st)
{
	int64_t first = atomic_load(&st->purge_first), cur, now;
	int rc;

	now = store_mono_seconds();
	if (first == 0 || now - first < WAL_WIPE_AFTER)
		return;
	atomic_store(&st->purge_first, 0);
	/* most of the copy first without holding the writer, so that the
	 * TRUNCATE holds it for what is left (a WAL cycle can be long) */
	sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL);
	rc = sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (rc == SQLITE_OK) {
		atomic_fetch_add(&wipes_done, 1);
		if (st->wipe_warned)
			log_info("store %s: purged content wiped out of the "
			    "WAL after %lld s put off by a reader", st->path,
			    (long long)(now - st->wipe_waited));
		st->wipe_waited = 0;
		st->wipe_warned = false;
		return;
	}
	atomic_fetch_add(&wipes_put_off, 1);
	if (st->wipe_waited == 0)
		st->wipe_waited = now;
	if (!st->wipe_warned && now - st->wipe_waited >= WIPE_WARN_AFTER) {
		st->wipe_warned = true;
		log_warn("store %s: purged content stays in the WAL for now: "
		    "%s for %lld s (a long read of the store: an export, a "
		    "backup?); trying again each second", st->path,
		    rc == SQLITE_BUSY ? "readers have been in the way" :
		    sqlite3_errstr(rc), (long long)(now - st->wipe_waited));
	}
	/* not done: the oldest purge is still waiting */
	cur = atomic_load(&st->purge_first);
	while ((cur == 0 || cur > first) &&
	    !atomic_compare_exchange_weak(&st->purge_first, &cur, first))
		;
}

/* Checkpoints, on a connection of their own. */
static void *
ckpt_main(void *arg)
{
	struct store_be *st = arg;
	struct timespec ts;
	int log, done;

	pthread_setname_np(pthread_self(), "nara-checkpoint");
	pthread_mutex_lock(&st->ckpt_mu);
	while (!st->ckpt_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&st->ckpt_cv, &st->ckpt_mu, &ts);
		if (st->ckpt_stop)
			break;
		pthread_mutex_unlock(&st->ckpt_mu);
		if (atomic_exchange(&st->wal_frames, 0) >= CKPT_MIN /
		    st->page_size &&
		    sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK)
			atomic_store(&st->ckpt_backfilled, done);
		ckpt_wipe(st);
		pthread_mutex_lock(&st->ckpt_mu);
	}
	pthread_mutex_unlock(&st->ckpt_mu);
	return NULL;
}

int
store_sqlite_wal_start(struct store_be *st, struct nara_err *err)
{
	pthread_condattr_t ca;
	int rc;

	rc = sqlite3_open_v2(st->path, &st->ckpt_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s: "
		    "checkpoint connection: %s", st->path, sqlite3_errstr(rc));
	sqlite3_busy_handler(st->ckpt_db, wipe_busy, st);
	sqlite3_exec(st->ckpt_db, st->sync_full ? "PRAGMA synchronous = FULL"
	    : "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->ckpt_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&st->ckpt_mu, NULL);
	if ((rc = store_sqlite_thread_start(&st->ckpt_thread, ckpt_main,
	    st)) != 0) {
		pthread_cond_destroy(&st->ckpt_cv);
		pthread_mutex_destroy(&st->ckpt_mu);
		return nara_err_set(err, NR_STORE_FAILED, "store", "cannot start "
		    "the checkpoint thread: %s", strerror(rc));
	}
	st->ckpt_running = true;
	return 0;
}

void
store_sqlite_wal_stop(struct store_be *st)
{
	if (st->ckpt_running) {
		pthread_mutex_lock(&st->ckpt_mu);
		st->ckpt_stop = true;
		pthread_cond_signal(&st->ckpt_cv);
		pthread_mutex_unlock(&st->ckpt_mu);
		pthread_join(st->ckpt_thread, NULL);
		pthread_cond_destroy(&st->ckpt_cv);
		pthread_mutex_destroy(&st->ckpt_mu);
		st->ckpt_running = false;
	}
	sqlite3_close(st->ckpt_db);
	st->ckpt_db = NULL;
}

/*
 * Let the next batch start the WAL over when the WAL is long (see the top
 * of this file): once the thread has copied all but a quarter of it, or
 * regardless at twice the length. The commit thread does it right after
 * its commit's answer is out (store_sqlite_apart.c), so that neither the
 * replies of that commit nor the loop's thread wait for the copying and
 * the sync of the database file; the next batch waits for it instead.
 * Without the commit thread (tools, a commit on the caller's thread) it
 * runs before a batch. A restart after a crash reads the whole WAL, so its
 * size bounds the time to ready (16 MiB: ~20 ms, 64 MiB: ~300 ms on the
 * machine of docs/PERFORMANCE.md): WAL_RESET_MAX keeps it within 64 MiB.
 * The batch after the rewind waits for the sync of the database file
 * whatever the WAL's length, and for the copy of what the thread left,
 * which grows with it: at 1,024 frames the latency's tail at 2,000 msg/s
 * was lower than at 4096 and 16384 (docs/PERFORMANCE.md, "What a second
 * batch in flight could win"), hence the length follows the commits'
 * (store_sqlite_wal_limit). Busy means the thread is checkpointing right
 * now; the next commit or batch tries again.
 */
bool
store_sqlite_wal_rewind_due(const struct store_be *st)
{
	int behind = st->wal_log - atomic_load(&st->ckpt_backfilled);
	int limit = st->wal_limit;

	return st->wal_log >= limit && (behind <= limit / 4 ||
	    st->wal_log >= 2 * limit);
}

void
store_sqlite_wal_rewind(struct store_be *st)
{
	int rc;

	if (!store_sqlite_wal_rewind_due(st))
		return;
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL);
	if (rc == SQLITE_OK) {
		st->wal_log = 0;
		st->wal_kicked = 0;
		atomic_store(&st->ckpt_backfilled, 0);
	} else if (rc != SQLITE_BUSY) {
		log_warn("store %s: checkpoint: %s", st->path,
		    sqlite3_errmsg(st->db));
	}
}
