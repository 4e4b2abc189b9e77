/*
 * store_sqlite_check.c — when narad runs SQLite's full check of its store
 * at start (PRAGMA quick_check reads every page: about 2 s for a store of
 * 1.2 GiB with a million messages queued).
 *
 * - Clean stop, file unchanged: at a clean stop narad stamps its head file
 *   with the store file as it left it (device, inode, size, modification
 *   time in ns) after the last connection closed. When the next start
 *   finds the file exactly so and no WAL beside it, nothing wrote to the
 *   store in between and the check is skipped. The stamp is removed from
 *   the head file at once, before anything is written, so a crash later
 *   leaves no stamp.
 * - Changed after a clean stop (stamp there, file differs: another program
 *   wrote it, it was copied over, truncated): the check runs before
 *   anything else, and a failure refuses the store with NR041 as always.
 * - Unclean stop (no stamp: kill -9, crash, power loss, first start of this
 *   version): the check runs in a thread on its own read-only connection
 *   while narad starts serving. Nothing is accepted before it passed: a
 *   submission that arrives meanwhile waits for it (store_check_wait in
 *   accept). When it fails, store_maintain reports it (NR041, path
 *   STORE_DAMAGED) at the next tick and narad stops with exit status 1,
 *   without the clean-stop stamp.
 */
#include "store_int.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

/* The store file and its WAL as they are now: 0 and the identity in m. */
static int
file_identity(const char *path, struct store_mark *m)
{
	char wal[4200];
	struct stat sb;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &sb) == 0 && sb.st_size > 0)
		return -1;        /* pages not yet in the file: not a clean stop */
	if (stat(path, &sb) != 0)
		return -1;
	m->clean_dev = (uint64_t)sb.st_dev;
	m->clean_ino = (uint64_t)sb.st_ino;
	m->clean_size = (int64_t)sb.st_size;
	m->clean_mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 +
	    sb.st_mtim.tv_nsec;
	return 0;
}

void
store_check_clean(struct store_be *st)
{
	struct store_mark m, now;
	struct nara_err err;

	st->was_clean = st->was_stamped = false;
	if (!st->mark_keep || store_mark_read(st->mark_path, &m, &err) != 0 ||
	    !m.clean)
		return;           /* a damaged head file is refused later */
	st->was_stamped = true;
	st->was_clean = file_identity(st->path, &now) == 0 &&
	    now.clean_dev == m.clean_dev && now.clean_ino == m.clean_ino &&
	    now.clean_size == m.clean_size &&
	    now.clean_mtime_ns == m.clean_mtime_ns;
}

static void *
check_main(void *arg)
{
	struct store_be *st = arg;
	struct nara_err err = { 0 };
	sqlite3 *db = NULL;
	int rc;

	pthread_setname_np(pthread_self(), "nara-check");
	rc = sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL);

	if (rc != SQLITE_OK) {
		nara_err_set(&err, NR_STORE_FAILED, STORE_DAMAGED, "%s failed "
		    "the integrity check: cannot open it: %s", st->path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	} else {
		sqlite3_busy_timeout(db, 5000);
		rc = store_guard_quick_check(db, st->path, &err);
	}
	sqlite3_close(db);
	if (rc != SQLITE_OK) {
		snprintf(err.path, sizeof(err.path), "%s", STORE_DAMAGED);
		st->check_err = err;
		atomic_store(&st->check_state, CHECK_FAILED);
	} else {
		atomic_store(&st->check_state, CHECK_OK);
	}
	return NULL;
}

int
store_check_start(struct store_be *st, struct nara_err *err)
{
	sigset_t all, old;
	int rc;

	atomic_store(&st->check_state, CHECK_NONE);
	if (st->created)
		return 0;         /* built complete under a temporary name */
	if (st->was_clean) {
		log_info("store %s: stopped cleanly and unchanged since; the full "
		    "check is not needed", st->path);
		return 0;
	}
	if (st->was_stamped) {
		log_warn("store %s: changed since narad's clean stop; checking it "
		    "before anything else", st->path);
		return store_guard_check(st, err);
	}
	atomic_store(&st->check_state, CHECK_RUNNING);
	/* Signals stay with the daemon's own thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&st->check_thread, NULL, check_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		atomic_store(&st->check_state, CHECK_NONE);
		log_warn("store %s: cannot start the check thread (%s); checking "
		    "before serving", st->path, strerror(rc));
		return store_guard_check(st, err);
	}
	st->check_thread_live = true;
	log_info("store %s: not stopped cleanly; checking it while serving, "
	    "nothing is accepted before the check passed", st->path);
	return 0;
}

static void
check_join(struct store_be *st)
{
	if (!st->check_thread_live)
		return;
	pthread_join(st->check_thread, NULL);
	st->check_thread_live = false;
	if (atomic_load(&st->check_state) == CHECK_OK)
		log_info("store %s: integrity check passed", st->path);
}

int
store_check_wait(struct store_be *st, struct nara_err *err)
{
	if (atomic_load_explicit(&st->check_state, memory_order_acquire) <
	    CHECK_RUNNING)
		return 0;
	check_join(st);
	return store_check_poll(st, err);
}

int
store_check_poll(struct store_be *st, struct nara_err *err)
{
	switch (atomic_load(&st->check_state)) {
	case CHECK_FAILED:
		check_join(st);
		if (err != NULL)
			*err = st->check_err;
		return -1;
	case CHECK_OK:
		check_join(st);
		return 0;
	default:
		return 0;
	}
}

void
store_check_stamp(struct store_be *st)
{
	struct store_mark now;

	check_join(st);
	if (!st->mark_keep || !st->opened || st->mark.seq <= 0 ||
	    atomic_load(&st->check_state) == CHECK_FAILED)
		return;
	if (file_identity(st->path, &now) != 0) {
		log_warn("store %s: its WAL is still there after closing; the next "
		    "start checks the whole store", st->path);
		return;
	}
	st->mark.clean = true;
	st->mark.clean_dev = now.clean_dev;
	st->mark.clean_ino = now.clean_ino;
	st->mark.clean_size = now.clean_size;
	st->mark.clean_mtime_ns = now.clean_mtime_ns;
	store_mark_write(st);
}
