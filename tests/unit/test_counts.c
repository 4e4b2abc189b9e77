/*
 * test_counts.c — the counts behind the status views (counts.h): a read on
 * the caller's thread; the reader thread answering on the loop, each
 * answer from a read begun after its ask (with a read of the test's own
 * that waits until the test lets it go); cancelled asks; failed reads;
 * and the reader on a real store beside its writer (SQLite here, and
 * PostgreSQL through test_counts_pg.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "counts.h"
#include "store_fixture.h"

static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* Runs the loop until *calls reaches want; fails after 20 s instead of
 * hanging. */
static void
wait_calls(struct event_base *base, const int *calls, int want)
{
	bool late = false;
	struct timeval tv = { 20, 0 };
	struct event *guard = evtimer_new(base, on_guard, &late);

	evtimer_add(guard, &tv);
	while (*calls < want && !late)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
	cr_assert(!late, "no answer within 20 s (%d of %d)", *calls, want);
}

#ifndef FX_POSTGRESQL
/* ---------------------------------------------------------------- answers */

struct answer {
	int calls;
	bool got;                   /* counts, not an error */
	int64_t queued;
	bool per_node;
	size_t n;
	char error[COUNTS_ERROR_MAX];
};

static void
on_answer(void *arg, const struct counts *c, const char *error)
{
	struct answer *a = arg;

	a->calls++;
	a->got = c != NULL;
	if (c != NULL) {
		a->queued = c->totals.queued;
		a->per_node = c->per_node;
		a->n = c->n;
	} else {
		snprintf(a->error, sizeof(a->error), "%s", error);
	}
}

/* ---------------------------------------------------------------- a gated read */

/* Read k (from 1) reports queued = k and waits until the test allowed
 * k reads; read k fails when fail_at == k. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, allowed, fail_at;
	bool per_node[16];
};

static void
gate_init(struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
}

static int
gate_read(void *arg, bool per_node, struct counts *c, char *error,
    size_t len)
{
	struct gate *g = arg;
	int k;

	pthread_mutex_lock(&g->mu);
	k = ++g->started;
	if (k < 16)
		g->per_node[k] = per_node;
	pthread_cond_broadcast(&g->cv);
	while (g->allowed < k)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	if (k == g->fail_at) {
		snprintf(error, len, "read %d failed on purpose", k);
		return -1;
	}
	c->totals.queued = k;
	if (per_node) {
		c->per_node = true;
		c->nodes = calloc(1, sizeof(*c->nodes));
		cr_assert_not_null(c->nodes);
		c->n = c->cap = 1;
		snprintf(c->nodes[0].node, sizeof(c->nodes[0].node), "bup-ostra");
		c->nodes[0].queued = k;
	}
	return 0;
}

static void
gate_allow(struct gate *g, int k)
{
	pthread_mutex_lock(&g->mu);
	g->allowed = k;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Waits until read k has begun on the reader's thread (20 s at most). */
static void
gate_started(struct gate *g, int k)
{
	struct timespec until;
	int started;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&g->mu);
	while (g->started < k && pthread_cond_timedwait(&g->cv, &g->mu,
	    &until) == 0)
		;
	started = g->started;
	pthread_mutex_unlock(&g->mu);
	cr_assert_geq(started, k, "read %d did not begin within 20 s", k);
}

Test(reader, answers_come_from_a_read_begun_after_the_ask)
{
	struct event_base *base = event_base_new();
	struct gate g;
	struct answer a = { 0 }, b = { 0 }, c = { 0 };
	struct counts_reader *r;

	gate_init(&g);
	r = counts_reader_new_fn(base, gate_read, &g, NULL);
	cr_assert_not_null(r);
	cr_assert_not_null(counts_ask(r, false, on_answer, &a));
	gate_started(&g, 1);
	/* read 1 is under way: it may have read the store before these */
	cr_assert_not_null(counts_ask(r, true, on_answer, &b));
	cr_assert_not_null(counts_ask(r, false, on_answer, &c));
	gate_allow(&g, 1);
	wait_calls(base, &a.calls, 1);
	cr_expect_eq(a.queued, 1);
	cr_expect_not(a.per_node);
	cr_expect_eq(b.calls, 0, "an ask made during read 1 was answered "
	    "from it");
	cr_expect_eq(c.calls, 0);
	gate_started(&g, 2);
	cr_expect(g.per_node[2], "read 2 serves an ask for the nodes");
	cr_expect_not(g.per_node[1]);
	gate_allow(&g, 2);
	wait_calls(base, &c.calls, 1);
	wait_calls(base, &b.calls, 1);
	cr_expect_eq(b.queued, 2);
	cr_expect(b.per_node);
	cr_expect_eq(b.n, 1);
	cr_expect_eq(c.queued, 2, "one read serves every ask waiting");
	cr_expect_eq(a.calls + b.calls + c.calls, 3);
	pthread_mutex_lock(&g.mu);
	cr_expect_eq(g.started, 2, "no read without an ask");
	pthread_mutex_unlock(&g.mu);
	counts_reader_free(&r);
	cr_expect_null(r);
	event_base_free(base);
}

Test(reader, a_cancelled_ask_gets_no_answer)
{
	struct event_base *base = event_base_new();
	struct gate g;
	struct answer a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	struct counts_reader *r;
	struct counts_ask *ask;

	gate_init(&g);
	r = counts_reader_new_fn(base, gate_read, &g, NULL);
	cr_assert_not_null(r);
	counts_ask(r, false, on_answer, &a);
	cr_assert_not_null(ask = counts_ask(r, false, on_answer, &b));
	counts_ask(r, false, on_answer, &c);
	counts_ask_cancel(ask);
	gate_allow(&g, 2);
	wait_calls(base, &c.calls, 1);
	cr_expect_eq(a.calls, 1);
	cr_expect_eq(b.calls, 0);
	/* an ask open when the reader goes is dropped, not answered */
	counts_ask(r, true, on_answer, &d);
	gate_started(&g, 3);
	gate_allow(&g, 3);
	counts_reader_free(&r);
	cr_expect_eq(d.calls, 0);
	event_base_free(base);
}

Test(reader, a_failed_read_says_why_and_the_next_one_reads_again)
{
	struct event_base *base = event_base_new();
	struct gate g;
	struct answer a = { 0 }, b = { 0 };
	struct counts_reader *r;

	gate_init(&g);
	g.fail_at = 1;
	r = counts_reader_new_fn(base, gate_read, &g, NULL);
	cr_assert_not_null(r);
	counts_ask(r, true, on_answer, &a);
	gate_allow(&g, 1);
	wait_calls(base, &a.calls, 1);
	cr_expect_not(a.got);
	cr_expect_str_eq(a.error, "read 1 failed on purpose");
	counts_ask(r, true, on_answer, &b);
	gate_allow(&g, 2);
	wait_calls(base, &b.calls, 1);
	cr_expect(b.got);
	cr_expect_eq(b.queued, 2);
	counts_reader_free(&r);
	event_base_free(base);
}

#endif

/* ---------------------------------------------------------------- a store */

#define PED "ped-nal"

struct answer_copy {
	int calls;
	struct counts c;            /* a copy of the answer's */
	char error[COUNTS_ERROR_MAX];
};

static void
on_copy(void *arg, const struct counts *c, const char *error)
{
	struct answer_copy *a = arg;

	a->calls++;
	counts_clear(&a->c);
	if (c == NULL) {
		snprintf(a->error, sizeof(a->error), "%s", error);
		return;
	}
	a->c = *c;
	a->c.nodes = calloc(c->n + 1, sizeof(*c->nodes));
	cr_assert_not_null(a->c.nodes);
	memcpy(a->c.nodes, c->nodes, c->n * sizeof(*c->nodes));
	a->c.cap = c->n + 1;
}

static const struct counts_node *
node_of(const struct counts *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->nodes[i].node, id) == 0)
			return &c->nodes[i];
	return NULL;
}

static void
expect_same(const struct counts *got, const struct counts *want)
{
	cr_expect_eq(got->totals.queued, want->totals.queued);
	cr_expect_eq(got->totals.dead, want->totals.dead);
	cr_expect_eq(got->totals.receipts, want->totals.receipts);
	cr_expect_eq(got->totals.audit_rows, want->totals.audit_rows);
	cr_expect_eq(got->oldest, want->oldest);
	cr_assert_eq(got->n, want->n);
	for (size_t i = 0; i < want->n; i++) {
		const struct counts_node *n = node_of(got, want->nodes[i].node);

		cr_assert_not_null(n, "%s missing", want->nodes[i].node);
		cr_expect_eq(n->queued, want->nodes[i].queued);
		cr_expect_eq(n->oldest, want->nodes[i].oldest);
		cr_expect_eq(n->receipts, want->nodes[i].receipts);
	}
}

Test(store, the_reader_counts_what_the_writer_committed)
{
	struct fx f;
	struct event_base *base = event_base_new();
	struct answer_copy a = { 0 };
	struct counts direct;
	struct nara_err err = { 0 };
	struct counts_reader *r;

	fx_init(&f);
	for (int i = 1; i <= 3; i++)
		fx_accept(&f, i, FX_BUP);
	fx_accept(&f, 4, PED);
	r = counts_reader_new(base, f.path, FX_BACKEND);
	cr_assert_not_null(r);
	counts_ask(r, true, on_copy, &a);
	wait_calls(base, &a.calls, 1);
	cr_assert(a.c.per_node, "%s", a.error);
	cr_assert_eq(counts_read(f.st, true, &direct, &err), 0, "%s", err.text);
	cr_expect_eq(direct.totals.queued, 4);
	cr_expect_eq(node_of(&direct, FX_BUP)->queued, 3);
	expect_same(&a.c, &direct);
	counts_clear(&direct);
	/* the writer goes on; the reader's connection sees its commits */
	for (int i = 5; i <= 9; i++)
		fx_accept(&f, i, PED);
	counts_ask(r, true, on_copy, &a);
	wait_calls(base, &a.calls, 2);
	cr_assert(a.c.per_node, "%s", a.error);
	cr_expect_eq(a.c.totals.queued, 9);
	cr_expect_eq(node_of(&a.c, PED)->queued, 6);
	cr_assert_eq(counts_read(f.st, true, &direct, &err), 0);
	expect_same(&a.c, &direct);
	counts_clear(&direct);
	counts_clear(&a.c);
	counts_reader_free(&r);
	event_base_free(base);
	fx_fini(&f);
}

#ifndef FX_POSTGRESQL
Test(store, a_store_that_cannot_be_opened_is_an_error_each_time)
{
	struct event_base *base = event_base_new();
	struct answer a = { 0 }, b = { 0 };
	struct counts_reader *r = counts_reader_new(base,
	    "/nonexistent/nara.db", "sqlite");

	cr_assert_not_null(r);
	counts_ask(r, true, on_answer, &a);
	wait_calls(base, &a.calls, 1);
	cr_expect_not(a.got);
	cr_expect(strstr(a.error, "cannot open the store: NR") == a.error,
	    "%s", a.error);
	cr_expect(strstr(a.error, "/nonexistent/nara.db") != NULL, "%s",
	    a.error);
	counts_ask(r, false, on_answer, &b);
	wait_calls(base, &b.calls, 1);
	cr_expect_not(b.got);
	counts_reader_free(&r);
	event_base_free(base);
}
#endif
