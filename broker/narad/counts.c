/*
 * counts.c — the store's counts for the status views, read on the
 * caller's thread (counts_read) or by a reader thread with a connection of
 * its own (counts.h).
 *
 * The reader: the loop keeps the asks; the thread sees only "read now,
 * with or without the nodes" and leaves its result for the loop. Asks made
 * while a read is under way wait for the next read, which begins when
 * that one ends: its snapshot may predate them. One read serves every ask
 * waiting when it begins. The thread opens the store read-only (SQLite: a
 * reader beside narad's writer in WAL mode; batches do not wait for it,
 * but the checkpoint that cuts the WAL after a purge (store_sqlite_wal.c,
 * at most every 10 s) waits for a read under way to end, and holds the
 * next batch meanwhile; PostgreSQL: a connection of its own) and closes it
 * after a failed read, so that the next read connects again (to whichever
 * server is the primary by then).
 */
#include "counts.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

/* ---------------------------------------------------------------- read */

static int
on_node(void *arg, const struct store_node_stats *s)
{
	struct counts *c = arg;

	if (s->oldest_created > 0 && (c->oldest == 0 || s->oldest_created <
	    c->oldest))
		c->oldest = s->oldest_created;
	if (strlen(s->node) > CONFIG_NODE_ID_MAX)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void *v = reallocarray(c->nodes, cap, sizeof(*c->nodes));

		if (v == NULL)
			return 1;
		c->nodes = v;
		c->cap = cap;
	}
	struct counts_node *n = &c->nodes[c->n++];
	snprintf(n->node, sizeof(n->node), "%s", s->node);
	n->queued = s->queued;
	n->oldest = s->oldest_created;
	n->receipts = s->receipts;
	return 0;
}

int
counts_read(struct store *st, bool per_node, struct counts *c,
    struct nara_err *err)
{
	memset(c, 0, sizeof(*c));
	if (store_totals(st, &c->totals) != 0) {
		nara_err_set(err, NR_STORE_FAILED, "store", "cannot read the "
		    "store's totals");
		return -1;
	}
	if (!per_node)
		return 0;
	c->per_node = true;
	if (store_node_stats(st, on_node, c) != 0) {
		counts_clear(c);
		nara_err_set(err, NR_STORE_FAILED, "store", "cannot read the "
		    "store's counts per node");
		return -1;
	}
	return 0;
}

void
counts_clear(struct counts *c)
{
	free(c->nodes);
	memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------- source */

/* The store as the reader's thread sees it: opened read-only at the first
 * read, and again after a failed one. */
struct store_source {
	char *location, *backend;
	struct store *st;
};

static int
source_read(void *arg, bool per_node, struct counts *c, char *error,
    size_t len)
{
	struct store_source *s = arg;
	struct store_options opt = { .backend = s->backend, .read_only = true };
	struct nara_err err = { 0 };

	if (s->st == NULL && (s->st = store_open(s->location, &opt, &err))
	    == NULL) {
		snprintf(error, len, "cannot open the store: %s %s",
		    nara_code_id(err.code), err.text);
		return -1;
	}
	if (counts_read(s->st, per_node, c, &err) != 0) {
		snprintf(error, len, "%s %s", nara_code_id(err.code), err.text);
		store_free(&s->st);     /* connect again at the next read */
		return -1;
	}
	return 0;
}

static void
source_free(void *arg)
{
	struct store_source *s = arg;

	store_free(&s->st);
	free(s->location);
	free(s->backend);
	free(s);
}

struct counts_reader *
counts_reader_new(struct event_base *base, const char *location,
    const char *backend)
{
	struct store_source *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->location = strdup(location)) == NULL ||
	    (s->backend = strdup(backend)) == NULL) {
		if (s != NULL)
			source_free(s);
		return NULL;
	}
	return counts_reader_new_fn(base, source_read, s, source_free);
}

/* ---------------------------------------------------------------- reader */

struct counts_ask {
	TAILQ_ENTRY(counts_ask) link;
	bool per_node;
	counts_fn fn;               /* NULL: cancelled */
	void *arg;
};
TAILQ_HEAD(ask_list, counts_ask);

struct counts_reader {
	struct ask_list waiting;    /* for the next read */
	struct ask_list reading;    /* served by the read under way */
	bool busy;                  /* a read is under way (loop's view) */
	int fd;                     /* eventfd: a read ended */
	struct event *done;
	counts_read_fn read;        /* on the thread */
	void *read_arg;
	void (*read_arg_free)(void *);
	/* shared with the thread, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started, go, go_per_node, stop;
	struct counts result;
	bool ok;
	char error[COUNTS_ERROR_MAX];
};

static void *
reader_main(void *arg)
{
	struct counts_reader *r = arg;
	struct counts c;
	char error[COUNTS_ERROR_MAX];
	uint64_t one = 1;
	bool per_node, ok;

	pthread_setname_np(pthread_self(), "nara-counts");
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->go && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop)
			break;
		per_node = r->go_per_node;
		pthread_mutex_unlock(&r->mu);
		memset(&c, 0, sizeof(c));
		error[0] = '\0';
		ok = r->read(r->read_arg, per_node, &c, error, sizeof(error)) == 0;
		if (!ok)
			counts_clear(&c);
		pthread_mutex_lock(&r->mu);
		r->go = false;
		r->result = c;
		r->ok = ok;
		memcpy(r->error, error, sizeof(error));
		while (write(r->fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Starts a read for every waiting ask (loop's thread, none under way). */
static void
begin_read(struct counts_reader *r)
{
	struct counts_ask *a;
	bool per_node = false;

	TAILQ_FOREACH(a, &r->waiting, link)
		per_node |= a->per_node;
	TAILQ_CONCAT(&r->reading, &r->waiting, link);
	r->busy = true;
	pthread_mutex_lock(&r->mu);
	r->go = true;
	r->go_per_node = per_node;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* A read ended: its asks get the result, then the next read begins. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct counts_reader *r = arg;
	struct ask_list served = TAILQ_HEAD_INITIALIZER(served);
	struct counts_ask *a;
	struct counts c;
	char error[sizeof(r->error)];
	uint64_t n;
	bool ok;

	(void)what;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&r->mu);
	c = r->result;
	memset(&r->result, 0, sizeof(r->result));
	ok = r->ok;
	memcpy(error, r->error, sizeof(error));
	pthread_mutex_unlock(&r->mu);
	TAILQ_CONCAT(&served, &r->reading, link);
	r->busy = false;
	if (!TAILQ_EMPTY(&r->waiting))
		begin_read(r);
	while ((a = TAILQ_FIRST(&served)) != NULL) {
		TAILQ_REMOVE(&served, a, link);
		if (a->fn != NULL)
			a->fn(a->arg, ok ? &c : NULL, ok ? NULL : error);
		free(a);
	}
	counts_clear(&c);
}

struct counts_reader *
counts_reader_new_fn(struct event_base *base, counts_read_fn fn, void *arg,
    void (*arg_free)(void *))
{
	struct counts_reader *r = calloc(1, sizeof(*r));
	sigset_t all, old;

	if (r == NULL) {
		if (arg_free != NULL)
			arg_free(arg);
		return NULL;
	}
	r->fd = -1;
	r->read = fn;
	r->read_arg = arg;
	r->read_arg_free = arg_free;
	TAILQ_INIT(&r->waiting);
	TAILQ_INIT(&r->reading);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if ((r->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (r->done = event_new(base, r->fd, EV_READ | EV_PERSIST, on_done,
	    r)) == NULL || event_add(r->done, NULL) != 0)
		goto fail;
	/* signals stay with the loop's thread (libevent's handlers) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r->started = pthread_create(&r->thread, NULL, reader_main, r) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!r->started)
		goto fail;
	return r;
fail:
	counts_reader_free(&r);
	return NULL;
}

struct counts_ask *
counts_ask(struct counts_reader *r, bool per_node, counts_fn fn, void *arg)
{
	struct counts_ask *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->per_node = per_node;
	a->fn = fn;
	a->arg = arg;
	TAILQ_INSERT_TAIL(&r->waiting, a, link);
	if (!r->busy)
		begin_read(r);
	return a;
}

void
counts_ask_cancel(struct counts_ask *a)
{
	if (a != NULL)
		a->fn = NULL;
}

static void
asks_free(struct ask_list *l)
{
	struct counts_ask *a;

	while ((a = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, a, link);
		free(a);
	}
}

void
counts_reader_free(struct counts_reader **rp)
{
	struct counts_reader *r = *rp;

	if (r == NULL)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stop = true;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	asks_free(&r->waiting);
	asks_free(&r->reading);
	counts_clear(&r->result);
	if (r->done != NULL)
		event_free(r->done);
	if (r->fd >= 0)
		close(r->fd);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	if (r->read_arg_free != NULL)
		r->read_arg_free(r->read_arg);
	free(r);
	*rp = NULL;
}
