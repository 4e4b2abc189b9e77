/*
 * pg_batch_fixture.h — helpers shared by test_store_pg_batch.c and
 * test_store_pg_ahead.c (store_fixture.h with FX_POSTGRESQL): the round
 * trips a batch costs, collectors for loads, and the store opened as a
 * new run opens it.
 */
#ifndef NARA_TEST_PG_BATCH_FIXTURE_H
#define NARA_TEST_PG_BATCH_FIXTURE_H

#define FX_POSTGRESQL 1
#include "store_fixture.h"
#include "store_pg_int.h"

#define BUP "bup-ostra"
#define N 20

static inline uint64_t
round_trips(const struct fx *f)
{
	return f->st->be->round_trips;
}

static inline int
count_msg(void *arg, const struct store_msg *m)
{
	(void)m;
	++*(int *)arg;
	return 0;
}

struct rcpts {
	int64_t id[N];
	char mid[N][40];
	int n;
};

static inline int
take_receipt(void *arg, const struct store_receipt *r)
{
	struct rcpts *rs = arg;

	cr_assert_lt(rs->n, N);
	rs->id[rs->n] = r->id;
	snprintf(rs->mid[rs->n], sizeof(rs->mid[0]), "%s", r->message_id);
	rs->n++;
	return 0;
}

static inline int
take_none(void *arg, const struct store_receipt *r)
{
	(void)arg;
	(void)r;
	cr_assert_fail("no receipt was queued");
	return 1;
}

/* Begin, note the round trips so far; after commit, how many it took. */
static inline uint64_t
batch_open(struct fx *f)
{
	struct nara_err err = { 0 };
	uint64_t rt = round_trips(f);

	cr_assert_eq(store_begin(f->st, &err), 0, "%s", err.text);
	return rt;
}

static inline uint64_t
batch_close(struct fx *f, uint64_t rt)
{
	struct nara_err err = { 0 };

	cr_assert_eq(store_commit(f->st, &err), 0, "%s", err.text);
	return round_trips(f) - rt;
}

/* Accept messages *id + 1 to upto for BUP in the batch open, *id ending
 * at upto; the seq of the last. */
static inline int64_t
batch_accept_upto(struct fx *f, int *id, int upto)
{
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	int64_t seq = 0;

	while (*id < upto) {
		cr_assert_eq(store_accept(f->st, fx_msg(&x, ++*id, BUP), FX_NOW,
		    &res, &err), 0, "accept %d: %s", *id, err.text);
		seq = x.m.seq;
	}
	return seq;
}

/* The store as a new run opens it (its caches empty): as narad does,
 * each commit also beginning the next batch, when ahead. */
static inline void
new_run(struct fx *f, bool ahead)
{
	struct nara_err err = { 0 };
	struct store_options opt = { .sync_full = true, .backend = FX_BACKEND,
	    .pseudonym_key = f->key, .pseudonym_key_len = sizeof(f->key),
	    .head_file = true, .ahead = ahead };

	store_free(&f->st);
	f->st = store_open(f->path, &opt, &err);
	cr_assert_not_null(f->st, "store_open %s: %s", f->path, err.text);
}

#endif
