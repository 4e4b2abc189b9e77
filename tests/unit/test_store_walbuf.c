/*
 * test_store_walbuf.c — the writer's VFS that gathers a commit's writes
 * to the WAL into few (store_sqlite_walbuf.c): a commit reaches the file
 * in a handful of writes instead of two per page, what it wrote is what
 * another connection reads, it is on disk when the process dies without
 * closing the store, a transaction larger than the buffer commits, and a
 * store with synchronous = NORMAL does not use it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "store_fixture.h"
#include "store_int.h"

static void
counts(uint64_t *in, uint64_t *out)
{
	store_sqlite_walbuf_counts(in, out);
}

/* Accept messages first..last in one batch. */
static void
accept_batch(struct store *st, int first, int last)
{
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	cr_assert_eq(store_begin(st, &err), 0, "%s", err.text);
	for (int i = first; i <= last; i++)
		cr_assert_eq(store_accept(st, fx_msg(&x, i, FX_BUP), FX_NOW, &res,
		    &err), 0, "accept %d: %s", i, err.text);
	cr_assert_eq(store_commit(st, &err), 0, "%s", err.text);
}

Test(walbuf, a_commit_reaches_the_wal_in_few_writes)
{
	struct fx f;
	uint64_t in0, out0, in1, out1;

	fx_init(&f);
	counts(&in0, &out0);
	accept_batch(f.st, 1, 40);
	counts(&in1, &out1);
	/* every page SQLite wrote is a header and a page: at least the
	 * messages', the audit's and their indexes' pages */
	cr_expect_geq(in1 - in0, 10, "%llu writes given",
	    (unsigned long long)(in1 - in0));
	cr_expect_geq(out1 - out0, 1);
	cr_expect_leq((out1 - out0) * 5, in1 - in0, "%llu writes made of %llu",
	    (unsigned long long)(out1 - out0), (unsigned long long)(in1 - in0));
	/* another connection (SQLite's own VFS) reads the commit */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 40);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* More than the buffer holds (127 KiB) in one transaction: the frames
 * go out as the buffer fills, and all of them commit. */
Test(walbuf, a_transaction_larger_than_the_buffer_commits)
{
	struct fx f;

	fx_init(&f);
	accept_batch(f.st, 1, 2000);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 2000);
	fx_verify_ok(&f);
	store_free(&f.st);
	f.st = fx_open(&f, false);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 2000);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A process that commits and dies without closing the store: its commit
 * is in the file (nothing was left in the buffer after the sync). */
Test(walbuf, a_commit_survives_the_process)
{
	struct fx f;
	int status = 0;
	pid_t pid;

	fx_init(&f);
	store_free(&f.st);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct store *st = fx_open(&f, false);
		accept_batch(st, 1, 25);
		_exit(0);       /* no close: no flush at close */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	f.st = fx_open(&f, false);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 25);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* synchronous = NORMAL does not sync a commit: the frames must reach the
 * file at once, so that store's writer writes the WAL itself. */
Test(walbuf, a_store_without_full_sync_writes_directly)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_options opt = { .sync_full = false,
	    .pseudonym_key = NULL, .head_file = true };
	uint64_t in0, out0, in1, out1;
	struct store *st;

	fx_init(&f);
	store_free(&f.st);
	opt.pseudonym_key = f.key;
	opt.pseudonym_key_len = sizeof(f.key);
	st = store_open(f.path, &opt, &err);
	cr_assert_not_null(st, "%s", err.text);
	counts(&in0, &out0);
	accept_batch(st, 1, 10);
	counts(&in1, &out1);
	cr_expect_eq(in1, in0);
	cr_expect_eq(out1, out0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 10);
	store_free(&st);
	fx_fini(&f);
}

/* A batch larger than the page cache that is rolled back leaves nothing
 * behind. SQLite spills some of such a batch's pages to the WAL before its
 * commit (without a sync); this VFS kept the last of them and wrote them
 * at its next read, over what another connection had committed at the same
 * place in the WAL meanwhile. Now it drops them when the write lock goes.
 * A cache of 20 pages stands in for a batch of large messages past the
 * 64 MiB cache. */
Test(walbuf, a_rolled_back_batch_larger_than_the_cache_leaves_nothing)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	struct store_totals t;

	fx_init(&f);
	accept_batch(f.st, 1, 1);
	cr_assert_eq(sqlite3_exec(f.st->be->db, "PRAGMA cache_size = 20", NULL,
	    NULL, NULL), SQLITE_OK);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	for (int i = 2; i <= 300; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, FX_BUP), FX_NOW, &res,
		    &err), 0, "accept %d: %s", i, err.text);
	store_rollback(f.st);
	fx_sql_exec(&f, "CREATE TABLE other(a, b); WITH RECURSIVE n(i) AS "
	    "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO "
	    "other SELECT i, randomblob(1000) FROM n");
	cr_assert_eq(store_totals(f.st, &t), 0);    /* the store reads */
	cr_expect_eq(t.queued, 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM pragma_integrity_check"
	    " WHERE integrity_check = 'ok'"), 1, "the store file is damaged");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM other"), 300);
	fx_verify_ok(&f);
	fx_fini(&f);
}
