/*
 * test_store_lease.c — the PostgreSQL store's lease and fence, with two
 * stores on one real database standing for two narads: who becomes
 * active, that a standby's batch is refused, that a takeover fences the
 * old holder (also one frozen inside a transaction), that a release hands
 * over at once, and that the audit chain stays one chain across holders.
 * The SQLite store cannot be shared and says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "pgserver.h"
#include "store.h"

#define TTL_MS 1000

/* The server of this run, started by the runner before any test; the
 * tests (in processes of their own) find it by NARA_TEST_PG_PORT. */
static struct pgserver pg;
static char ci[256];
static struct store *a, *b;
static const uint8_t key[32] = { 1, 2, 3 };

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char port[16];

	(void)set;
	if (pgserver_start(&pg, "nara") != 0)
		return;      /* setup then fails every test, saying why */
	snprintf(port, sizeof(port), "%d", pg.port);
	setenv("NARA_TEST_PG_PORT", port, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	pgserver_cleanup(&pg);
}

static struct store *
open_pg(void)
{
	struct store_options o = { .backend = "postgresql", .sync_full = true,
	    .pseudonym_key = key, .pseudonym_key_len = sizeof(key) };
	struct nara_err err = { 0 };
	struct store *st = store_open(ci, &o, &err);

	cr_assert_not_null(st, "store_open: %s", err.text);
	return st;
}

/* Each test: a database of its own, narad "a" and narad "b" on it. */
static void
setup(void)
{
	static int n;
	const char *port = getenv("NARA_TEST_PG_PORT");
	char admin[160], sql[120], name[64];

	cr_assert_not_null(port, "the PostgreSQL server did not start");
	snprintf(name, sizeof(name), "lease_%d_%d", (int)getpid(), n++);
	snprintf(admin, sizeof(admin), "host=127.0.0.1 port=%s user=nara "
	    "dbname=postgres", port);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	cr_assert_eq(pgserver_sql(admin, sql, NULL), 0, "%s", sql);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=nara dbname=%s",
	    port, name);
	a = open_pg();
	b = open_pg();
}

static void
teardown(void)
{
	store_free(&a);
	store_free(&b);
}

TestSuite(lease, .init = setup, .fini = teardown, .timeout = 60);

static struct store_lease
step(struct store *st, const char *instance, int64_t held)
{
	struct store_lease l = { .epoch = held };
	struct nara_err err = { 0 };

	cr_assert_eq(store_lease(st, instance, TTL_MS, &l, &err), 0,
	    "store_lease(%s): %s", instance, err.text);
	return l;
}

/* A lease step on st, kept for the test to look at. */
struct lease_try {
	struct store *st;
	const char *instance;
	int64_t held;
	bool want_active;           /* also wait until it holds the lease */
	struct store_lease l;
	struct nara_err err;
};

static bool
lease_answers(void *arg)
{
	struct lease_try *t = arg;

	t->l = (struct store_lease){ .epoch = t->held };
	if (store_lease(t->st, t->instance, TTL_MS, &t->l, &t->err) != 0)
		return false;
	return !t->want_active || t->l.active;
}

/* A step that may first find the database connection gone (and then
 * reconnects after the store's back-off): asked again until it answers. */
static struct store_lease
step_retrying(struct store *st, const char *instance, int64_t held)
{
	struct lease_try t = { .st = st, .instance = instance, .held = held };

	cr_assert(harness_wait(lease_answers, &t, 10000), "store_lease(%s) "
	    "kept failing: %s", instance, t.err.text);
	return t.l;
}

/* st asks until it holds the lease; the time it took in ms. */
static long
step_until_active(struct store *st, const char *instance, struct store_lease *l)
{
	struct lease_try t = { .st = st, .instance = instance,
	    .want_active = true };
	int64_t t0 = harness_ms_now();

	cr_assert(harness_wait(lease_answers, &t, 10000), "%s never got the "
	    "lease (holder %s, age %lld ms; %s)", instance, t.l.holder,
	    (long long)t.l.age_ms, t.err.text);
	*l = t.l;
	return (long)(harness_ms_now() - t0);
}

static int
event(struct store *st, const char *what, struct nara_err *err)
{
	if (store_begin(st, err) != 0)
		return -1;
	if (store_audit_event(st, what, "narad", NULL, (int64_t)time(NULL))
	    != 0) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st, err);
}

Test(lease, first_holder_then_standby)
{
	struct store_lease la = step(a, "a", 0), lb = step(b, "b", 0);
	struct nara_err err = { 0 };

	cr_expect(la.active);
	cr_expect_eq(la.epoch, 1);
	cr_expect_str_empty(la.prev_holder);
	cr_expect_not(lb.active);
	cr_expect_str_eq(lb.holder, "a");
	cr_expect_eq(lb.epoch, 1);
	cr_expect_geq(lb.age_ms, 0);
	cr_expect_eq(lb.ttl_ms, TTL_MS);
	/* renewing keeps the epoch */
	la = step(a, "a", la.epoch);
	cr_expect(la.active);
	cr_expect_eq(la.epoch, 1);
	cr_expect_eq(event(a, "test_event", &err), 0, "%s", err.text);
	/* the standby commits nothing */
	cr_expect_eq(event(b, "test_event", &err), -1);
	cr_expect_eq(err.code, NR_UNAVAILABLE, "%s", nara_code_id(err.code));
	cr_expect_not_null(strstr(err.text, "standby"), "%s", err.text);
}

Test(lease, takeover_after_expiry_fences_the_old_holder)
{
	struct store_lease la = step(a, "a", 0), lb;
	struct nara_err err = { 0 };
	int64_t seq = 0;
	uint8_t hash[32];
	long waited;

	cr_assert(la.active);
	cr_assert_eq(event(a, "before_takeover", &err), 0, "%s", err.text);
	waited = step_until_active(b, "b", &lb);
	cr_expect_geq(waited, TTL_MS - 200, "taken over after %ld ms, before "
	    "the lease expired", waited);
	cr_expect_eq(lb.epoch, 2);
	cr_expect_str_eq(lb.prev_holder, "a");
	cr_expect_eq(lb.prev_epoch, 1);
	cr_expect_gt(lb.prev_age_ms, TTL_MS);
	/* a wakes up: b ended its session, so its batch fails; once it is
	 * connected again, its lease step shows b, and it commits nothing */
	cr_expect_eq(event(a, "after_takeover", &err), -1);
	la = step_retrying(a, "a", la.epoch);
	cr_expect_not(la.active);
	cr_expect_str_eq(la.holder, "b");
	cr_expect_eq(event(a, "after_takeover", &err), -1);
	cr_expect_eq(err.code, NR_UNAVAILABLE, "%s %s", nara_code_id(err.code),
	    err.text);
	/* b goes on from a's last row: one chain */
	cr_assert_eq(event(b, "after_takeover", &err), 0, "%s", err.text);
	cr_assert_eq(store_audit_verify(b, &seq, &err), 0, "chain broken at "
	    "%lld: %s", (long long)seq, err.text);
	cr_assert_eq(store_audit_head(b, &seq, hash, &err), 0);
	cr_expect_eq(seq, 2, "head %lld: a's row and b's row",
	    (long long)seq);
}

/* A frozen holder inside a batch holds the lease row's lock: the standby
 * ends its session, and the frozen batch can never commit. */
Test(lease, holder_frozen_in_a_batch_is_fenced)
{
	struct store_lease la = step(a, "a", 0), lb;
	struct nara_err err = { 0 };

	cr_assert(la.active);
	cr_assert_eq(store_begin(a, &err), 0, "%s", err.text);
	cr_assert_eq(store_audit_event(a, "frozen", "narad", NULL,
	    (int64_t)time(NULL)), 0);
	step_until_active(b, "b", &lb);
	cr_expect_eq(lb.epoch, 2);
	cr_expect_neq(store_commit(a, &err), 0, "the frozen batch committed "
	    "after the takeover");
	cr_assert_eq(event(b, "after_takeover", &err), 0, "%s", err.text);
}

Test(lease, release_hands_over_at_once)
{
	struct store_lease la = step(a, "a", 0), lb = step(b, "b", 0);
	struct nara_err err = { 0 };

	cr_assert(la.active);
	cr_assert_not(lb.active);
	cr_assert_eq(store_lease_release(a, "a", &err), 0, "%s", err.text);
	lb = step(b, "b", 0);
	cr_expect(lb.active, "not taken over right after the release");
	cr_expect_eq(lb.epoch, 2);
	cr_expect_eq(event(a, "after_release", &err), -1);
	cr_expect_eq(err.code, NR_UNAVAILABLE);
	cr_expect_eq(event(b, "after_release", &err), 0, "%s", err.text);
}

/* A holder that lost the lease (frozen past the term, while the other
 * narad held it and released it at a clean stop) is told so, and takes
 * the free lease only at a later step, as a new take: it must stop
 * serving first, not go on at a new epoch with its old state. */
Test(lease, lost_lease_is_not_taken_back_in_the_same_step)
{
	struct store_lease la = step(a, "a", 0), lb;
	struct nara_err err = { 0 };

	cr_assert(la.active);
	step_until_active(b, "b", &lb);
	cr_assert_eq(lb.epoch, 2);
	cr_assert_eq(store_lease_release(b, "b", &err), 0, "%s", err.text);
	la = step_retrying(a, "a", la.epoch);
	cr_expect_not(la.active, "the lost lease was taken back as epoch "
	    "%lld in the renewal's step", (long long)la.epoch);
	cr_expect_str_eq(la.holder, "b");
	cr_expect_eq(event(a, "after_loss", &err), -1);
	la = step(a, "a", 0);
	cr_expect(la.active, "the free lease was not taken at the next step");
	cr_expect_eq(la.epoch, 3);
	cr_expect_str_eq(la.prev_holder, "b");
}

/* A release the database refuses leaves the lease with its holder: its
 * batches still commit (the failed hand-over can be audited), the other
 * narad stays a standby, and a release that goes through fences it. */
Test(lease, refused_release_keeps_the_lease)
{
	struct store_lease la = step(a, "a", 0), lb = step(b, "b", 0);
	struct nara_err err = { 0 };

	cr_assert(la.active);
	cr_assert_eq(pgserver_sql(ci, "CREATE FUNCTION refuse() RETURNS "
	    "trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.holder_pid = 0 THEN "
	    "RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$; CREATE "
	    "TRIGGER refuse BEFORE UPDATE ON nara_lease FOR EACH ROW EXECUTE "
	    "FUNCTION refuse()", NULL), 0);
	cr_assert_eq(store_lease_release(a, "a", &err), -1);
	cr_expect(strstr(err.text, "refused") != NULL, "%s", err.text);
	cr_expect_eq(event(a, "release_failed", &err), 0, "%s", err.text);
	lb = step(b, "b", 0);
	cr_expect_not(lb.active);
	cr_expect_str_eq(lb.holder, "a");
	cr_assert_eq(pgserver_sql(ci, "DROP TRIGGER refuse ON nara_lease",
	    NULL), 0);
	cr_assert_eq(store_lease_release(a, "a", &err), 0, "%s", err.text);
	cr_expect_eq(event(a, "after_release", &err), -1);
	cr_expect_eq(err.code, NR_UNAVAILABLE);
}

/* The same instance name again (a restarted narad) takes over at once,
 * but only once the session of the old process is gone: while it is
 * connected it may be a live narad of that name, and the name waits for
 * the term like any other. */
Test(lease, restarted_instance_takes_over_once_its_session_is_gone)
{
	struct store_lease la = step(a, "a", 0), again;

	cr_assert(la.active);
	again = step(b, "a", 0);
	cr_expect_not(again.active, "taken from a live session of the name");
	cr_expect_eq(again.epoch, 1);
	store_free(&a);
	step_until_active(b, "a", &again);
	cr_expect_eq(again.epoch, 2);
	cr_expect_str_eq(again.prev_holder, "a");
	cr_expect_lt(again.prev_age_ms, TTL_MS, "waited for the term (%lld "
	    "ms)", (long long)again.prev_age_ms);
}

/* sql on this test's database. */
static void
sql_run(const char *sql)
{
	cr_assert_eq(pgserver_sql(ci, sql, NULL), 0, "%s", sql);
}

/* A database failover to a standby that missed b's takeover: its lease
 * row is a's of epoch 1, and a, restarted, takes epoch 2 there, the epoch
 * b holds. b's fence must not pass on the strength of the epoch alone. */
Test(lease, epoch_issued_twice_fences_the_other_holder)
{
	struct store_lease la = step(a, "a", 0), lb;
	struct nara_err err = { 0 };

	cr_assert(la.active);
	sql_run("CREATE TABLE lease_on_standby AS SELECT * FROM nara_lease");
	step_until_active(b, "b", &lb);
	cr_assert_eq(lb.epoch, 2);
	cr_assert_eq(event(b, "b_holds", &err), 0, "%s", err.text);
	store_free(&a);
	/* what the promoted standby holds, renewed just now */
	sql_run("DELETE FROM nara_lease");
	sql_run("INSERT INTO nara_lease SELECT * FROM lease_on_standby");
	sql_run("UPDATE nara_lease SET renewed = clock_timestamp()");
	a = open_pg();
	la = step(a, "a", 0);
	cr_assert(la.active, "the restarted a did not take the lease (%s)",
	    la.holder);
	cr_assert_eq(la.epoch, 2, "the epoch was not issued twice");
	cr_expect_eq(event(b, "b_after_reissue", &err), -1, "b committed with "
	    "an epoch a holds too");
	cr_expect_eq(err.code, NR_UNAVAILABLE, "%s %s", nara_code_id(err.code),
	    err.text);
	cr_expect_eq(event(a, "a_holds", &err), 0, "%s", err.text);
	lb = step(b, "b", lb.epoch);
	cr_expect_not(lb.active);
	cr_expect_str_eq(lb.holder, "a");
}

/* A batch on st, kept for the test to look at. */
struct event_try {
	struct store *st;
	int rc;
	struct nara_err err;
};

/* The batch reached the database: it committed, or its store refused it
 * for the lease (not for the connection, which is still being made). */
static bool
event_answers(void *arg)
{
	struct event_try *t = arg;

	t->err = (struct nara_err){ 0 };
	t->rc = event(t->st, "after_reconnect", &t->err);
	return t->rc == 0 || t->err.code == NR_UNAVAILABLE;
}

/* A holder whose connection was lost fences nothing on the new one until
 * a lease step has renewed the lease there: the new connection may reach
 * a server whose row is not the one it renewed. */
Test(lease, reconnected_holder_waits_for_a_lease_step)
{
	struct store_lease la = step(a, "a", 0);
	struct event_try t = { .st = a };
	struct nara_err err = { 0 };
	long long ended = 0;

	cr_assert(la.active);
	cr_assert_eq(pgserver_sql(ci, "SELECT count(pg_terminate_backend(pid)) "
	    "FROM pg_stat_activity WHERE application_name = 'narad:a' AND "
	    "datname = current_database()", &ended), 0);
	cr_assert_eq(ended, 1);
	cr_assert(harness_wait(event_answers, &t, 10000), "no answer after "
	    "the reconnect: %s", t.err.text);
	cr_expect_eq(t.rc, -1, "committed on a new connection before a lease "
	    "step");
	cr_expect_not_null(strstr(t.err.text, "not confirmed"), "%s",
	    t.err.text);
	la = step_retrying(a, "a", la.epoch);
	cr_assert(la.active, "the lease was not renewed after the reconnect");
	cr_expect_eq(la.epoch, 1);
	cr_expect_eq(event(a, "renewed", &err), 0, "%s", err.text);
}

/* A store whose lease table was made before the token: the first lease
 * step adds the column, and the lease and its fence work on it. */
Test(lease, table_without_token_gets_it)
{
	struct store_lease la;
	struct nara_err err = { 0 };
	long long n = -1;

	sql_run("CREATE TABLE nara_lease (id integer PRIMARY KEY CHECK "
	    "(id = 1), epoch bigint NOT NULL, holder text NOT NULL, holder_pid "
	    "integer NOT NULL, renewed timestamptz NOT NULL, ttl_ms integer "
	    "NOT NULL)");
	la = step(a, "a", 0);
	cr_assert(la.active);
	cr_expect_eq(event(a, "on_old_table", &err), 0, "%s", err.text);
	cr_assert_eq(pgserver_sql(ci, "SELECT count(*) FROM nara_lease WHERE "
	    "token IS NOT NULL", &n), 0);
	cr_expect_eq(n, 1);
}

Test(sqlite, store_cannot_be_shared)
{
	char dir[] = "/tmp/nara-lease-XXXXXX", path[64];
	struct store_options o = { .sync_full = true, .pseudonym_key = key,
	    .pseudonym_key_len = sizeof(key) };
	struct store_lease l = { 0 };
	struct nara_err err = { 0 };
	struct store *st;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nara.db", dir);
	cr_assert_not_null(st = store_open(path, &o, &err), "%s", err.text);
	cr_expect_eq(store_lease(st, "a", TTL_MS, &l, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect_not_null(strstr(err.text, "cannot be shared"), "%s",
	    err.text);
	cr_expect_not(l.active);
	store_free(&st);
	unlink(path);
	rmdir(dir);
}
