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
 * crash would read it all. So once the WAL passes WAL_RESET_FRAMES the
 * writer connection copies the few frames the thread has not yet copied,
 * between two batches, and the next batch writes the WAL from its start
 * again.
 */
#include "store_int.h"

#include <string.h>
#include <time.h>

#include "log.h"

#define CKPT_MIN_FRAMES 256        /* checkpoint once the WAL has this many */
#define CKPT_KICK_FRAMES 1024      /* wake the thread after this many more */
#define WAL_RESET_FRAMES 4096      /* writer finishes the checkpoint above */
#define WAL_WIPE_AFTER 10          /* s from a purge to the WAL's truncation */

/* After each commit of the writer: the WAL's size in frames. Past
 * CKPT_KICK_FRAMES more than at the last wake-up, the checkpoint thread is
 * woken at once instead of at its next second, so that it copies while the
 * writer goes on and store_sqlite_wal_rewind finds little left to do. */
int
store_sqlite_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_be *st = arg;

	if (frames < st->wal_log) {          /* the WAL started over */
		st->wal_kicked = 0;
		atomic_store(&st->ckpt_backfilled, 0);
	}
	atomic_store(&st->wal_frames, frames);
	st->wal_log = frames;
	if (st->ckpt_running && frames - st->wal_kicked >= CKPT_KICK_FRAMES) {
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
 * cuts the WAL to zero bytes. It waits (busy timeout) for the writer's
 * batch and for readers on older snapshots; when it cannot finish, the
 * next second tries again. Under load this runs once per WAL_WIPE_AFTER.
 */
static void
ckpt_wipe(struct store_be *st)
{
	int64_t first = atomic_load(&st->purge_first), cur;

	if (first == 0 || store_mono_seconds() - first < WAL_WIPE_AFTER)
		return;
	atomic_store(&st->purge_first, 0);
	if (sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) == SQLITE_OK)
		return;
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

	pthread_mutex_lock(&st->ckpt_mu);
	while (!st->ckpt_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&st->ckpt_cv, &st->ckpt_mu, &ts);
		if (st->ckpt_stop)
			break;
		pthread_mutex_unlock(&st->ckpt_mu);
		if (atomic_exchange(&st->wal_frames, 0) >= CKPT_MIN_FRAMES &&
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
	sqlite3_busy_timeout(st->ckpt_db, STORE_BUSY_TIMEOUT_MS);
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
 * machine of docs/PERFORMANCE.md). Busy means the thread is checkpointing
 * right now; the next commit or batch tries again.
 */
bool
store_sqlite_wal_rewind_due(const struct store_be *st)
{
	int behind = st->wal_log - atomic_load(&st->ckpt_backfilled);

	return st->wal_log >= WAL_RESET_FRAMES && (behind <=
	    WAL_RESET_FRAMES / 4 || st->wal_log >= 2 * WAL_RESET_FRAMES);
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
