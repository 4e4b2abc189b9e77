/*
 * store_sqlite_apart.c — the SQLite backend's COMMIT on a thread of its
 * own (store.h store_commit_send), so that narad's loop goes on relaying
 * the TLS front while SQLite writes the batch's WAL frames and waits for
 * the fsync.
 *
 * store_sqlite_commit_send does what store_sqlite_commit does before the
 * COMMIT (the chain head row) on the caller's thread, then hands the
 * COMMIT statement to the thread, which steps it and signals an eventfd
 * (store_sqlite_commit_fd), then the condition. store_sqlite_commit_take
 * waits for the condition and finishes as store_sqlite_commit does. The
 * writer connection (opened without SQLite's mutexes) is used by one
 * thread at a time: from the hand-over to the take only by this thread;
 * store.c makes every other call take the commit first. The thread starts
 * with the first commit sent, so tools, which never send one, have none.
 * store_sqlite_thread_start starts this thread and the checkpoint thread.
 *
 * When the WAL is due to start over (store_sqlite_wal.c), the thread does
 * that after signalling the commit's answer, still on the writer
 * connection: the batch's replies go out meanwhile and the loop goes on
 * relaying. The store is then not idle: every call on it waits first
 * (store_sqlite_idle_wait, from store.c), and store_sqlite_idle_fd gives
 * the owner a descriptor to wait on without blocking before its next
 * batch.
 */
#include "store_int.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { JOB_NONE, JOB_COMMIT, JOB_DONE };

/* Commits made on the caller's thread after the commit thread could not
 * start, before it is tried again. */
#define APART_RETRY_COMMITS 1000

static void
signal_fd(struct store_be *st)
{
	uint64_t one = 1;

	while (write(st->apart_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Read the signal of a rewind's end off apart_fd, if one is there (with
 * apart_mu held), so that the next commit's answer is the only count. */
static void
idle_signal_take(struct store_be *st)
{
	uint64_t n;

	if (!st->idle_signalled)
		return;
	st->idle_signalled = false;
	while (read(st->apart_fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
}

/* After a commit that left the WAL due to start over: the rewind, then
 * the owner told if it waits. Called and returns with apart_mu held. */
static void
apart_rewind(struct store_be *st)
{
	pthread_mutex_unlock(&st->apart_mu);
	store_sqlite_wal_rewind(st);
	pthread_mutex_lock(&st->apart_mu);
	atomic_store(&st->rewinding, false);
	if (st->idle_waiter) {
		st->idle_waiter = false;
		st->idle_signalled = true;
		signal_fd(st);
	}
	pthread_cond_broadcast(&st->apart_cv);
}

static void *
apart_main(void *arg)
{
	struct store_be *st = arg;

	pthread_setname_np(pthread_self(), "nara-commit");
	pthread_mutex_lock(&st->apart_mu);
	for (;;) {
		while (!st->apart_stop && st->apart_job != JOB_COMMIT)
			pthread_cond_wait(&st->apart_cv, &st->apart_mu);
		if (st->apart_stop)
			break;
		pthread_mutex_unlock(&st->apart_mu);
		int rc = store_sqlite_step_done(st->stmt[S_COMMIT]);
		bool rewind = rc == SQLITE_OK && store_sqlite_wal_rewind_due(st);
		/* the descriptor first: the take that sees JOB_DONE reads it */
		signal_fd(st);
		pthread_mutex_lock(&st->apart_mu);
		st->apart_rc = rc;
		st->apart_job = JOB_DONE;
		atomic_store(&st->rewinding, rewind);
		pthread_cond_broadcast(&st->apart_cv);
		if (rewind)
			apart_rewind(st);
	}
	pthread_mutex_unlock(&st->apart_mu);
	return NULL;
}

int
store_sqlite_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int
apart_start(struct store_be *st, struct nara_err *err)
{
	int rc;

	if ((st->apart_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return nara_err_set(err, NR_STORE_FAILED, "store",
		    "eventfd: %s", strerror(errno));
	pthread_mutex_init(&st->apart_mu, NULL);
	pthread_cond_init(&st->apart_cv, NULL);
	st->apart_job = JOB_NONE;
	st->apart_stop = false;
	atomic_store(&st->rewinding, false);
	st->idle_waiter = st->idle_signalled = false;
	if ((rc = store_sqlite_thread_start(&st->apart_thread, apart_main,
	    st)) != 0) {
		pthread_cond_destroy(&st->apart_cv);
		pthread_mutex_destroy(&st->apart_mu);
		close(st->apart_fd);
		st->apart_fd = -1;
		return nara_err_set(err, NR_STORE_FAILED, "store",
		    "cannot start the commit thread: %s", strerror(rc));
	}
	st->apart_running = true;
	return 0;
}

void
store_sqlite_apart_stop(struct store_be *st)
{
	if (!st->apart_running)
		return;
	pthread_mutex_lock(&st->apart_mu);
	while (st->apart_job == JOB_COMMIT)  /* a commit nobody took */
		pthread_cond_wait(&st->apart_cv, &st->apart_mu);
	st->apart_stop = true;
	pthread_cond_broadcast(&st->apart_cv);
	pthread_mutex_unlock(&st->apart_mu);
	pthread_join(st->apart_thread, NULL);
	pthread_cond_destroy(&st->apart_cv);
	pthread_mutex_destroy(&st->apart_mu);
	close(st->apart_fd);
	st->apart_fd = -1;
	st->apart_running = false;
}

int
store_sqlite_commit_send(struct store_be *st, struct nara_err *err)
{
	if (!st->in_batch || st->broken || st->implicit ||
	    st->commits < st->apart_retry)
		return store_sqlite_commit(st, err);    /* reports it */
	if (!st->apart_running) {
		struct nara_err why = { 0 };

		if (apart_start(st, &why) != 0) {
			/* without a descriptor or a thread now, the process
			 * is short of both: commits go on as before, and the
			 * thread is tried again APART_RETRY_COMMITS later
			 * (a shortage may pass; one line per try) */
			st->apart_retry = st->commits + APART_RETRY_COMMITS;
			log_warn("store %s: %s; committing on the loop's "
			    "thread for the next %d commits", st->path,
			    why.text, APART_RETRY_COMMITS);
			return store_sqlite_commit(st, err);
		}
	}
	if (store_sqlite_commit_prepare(st, err) != 0) {
		store_sqlite_rollback(st);
		return -1;
	}
	pthread_mutex_lock(&st->apart_mu);
	idle_signal_take(st);            /* the owner began without asking */
	st->idle_waiter = false;
	st->apart_job = JOB_COMMIT;
	pthread_cond_broadcast(&st->apart_cv);
	pthread_mutex_unlock(&st->apart_mu);
	return 1;
}

int
store_sqlite_commit_take(struct store_be *st, struct nara_err *err)
{
	uint64_t n;
	int rc;

	if (!st->apart_running)
		return nara_err_set(err, NR_STORE_FAILED, "store", "no commit "
		    "was sent");
	pthread_mutex_lock(&st->apart_mu);
	if (st->apart_job == JOB_NONE) {
		pthread_mutex_unlock(&st->apart_mu);
		return nara_err_set(err, NR_STORE_FAILED, "store", "no commit "
		    "was sent");
	}
	while (st->apart_job == JOB_COMMIT)
		pthread_cond_wait(&st->apart_cv, &st->apart_mu);
	rc = st->apart_rc;
	st->apart_job = JOB_NONE;
	pthread_mutex_unlock(&st->apart_mu);
	while (read(st->apart_fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	return store_sqlite_commit_end(st, rc, err);
}

int
store_sqlite_commit_fd(struct store_be *st)
{
	return st->apart_running ? st->apart_fd : -1;
}

/* Wait until the thread's work after a commit is done: the writer
 * connection is the caller's again. */
void
store_sqlite_idle_wait(struct store_be *st)
{
	if (!atomic_load(&st->rewinding))
		return;
	pthread_mutex_lock(&st->apart_mu);
	while (atomic_load(&st->rewinding))
		pthread_cond_wait(&st->apart_cv, &st->apart_mu);
	pthread_mutex_unlock(&st->apart_mu);
}

/* -1 when the store is idle; else apart_fd, readable once it is (then
 * call again, which reads that signal). */
int
store_sqlite_idle_fd(struct store_be *st)
{
	int fd = -1;

	if (!st->apart_running)
		return -1;
	pthread_mutex_lock(&st->apart_mu);
	if (atomic_load(&st->rewinding)) {
		st->idle_waiter = true;
		fd = st->apart_fd;
	} else {
		idle_signal_take(st);
	}
	pthread_mutex_unlock(&st->apart_mu);
	return fd;
}
