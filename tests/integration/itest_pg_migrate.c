/*
 * itest_pg_migrate.c — nara-audit migrate moves a SQLite store into
 * PostgreSQL: narad on SQLite (with a signing key) delivers some traffic
 * and queues more for a node that is offline, one message of it in
 * flight; narad stops; the store is moved into a real PostgreSQL server
 * (pgserver.h); nara-audit verify finds the chain intact on both; narad
 * started on PostgreSQL delivers each queued message exactly once, with a
 * receipt each. A store left by a narad killed with -9 moves whole. And
 * the refusals: narad still running on the store
 * (NR042), a target that already holds a store (NR041), an unreachable
 * server (NR041), a conninfo libpq cannot parse (NR070) and a target that
 * keeps another pseudonym key's check value (NR070), each leaving the
 * target as it was. The moved store, like the SQLite one, is opened only
 * with its own pseudonym key.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "pgserver.h"
#include "wire.h"

#define N_DONE 5                  /* delivered before the move */
#define N_QUEUED 8                /* queued for the offline node */

static struct pgserver pg;
static struct harness h;
static struct fixture *fx;
static char keydir[64], tool[300];

static void
setup(void)
{
	char extra[400], out[2048];

	cr_assert_eq(pgserver_start(&pg, "nara"), 0, "no PostgreSQL server");
	snprintf(keydir, sizeof(keydir), "/tmp/nara-mig-XXXXXX");
	cr_assert(mkdtemp(keydir) != NULL);
	harness_bin("nara-audit", tool, sizeof(tool));
	cr_assert_eq(harness_run(out, sizeof(out), "%s keygen %s/sign.pem",
	    tool, keydir), 0, "%s", out);
	snprintf(extra, sizeof(extra), "ack_timeout = 5\nsigning_key = "
	    "%s/sign.pem\n", keydir);
	harness_init(&h, extra);
	fx = fixture_new();
}

static void
teardown(void)
{
	char cmd[200];

	fixture_free(&fx);
	harness_cleanup(&h);
	pgserver_cleanup(&pg);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", keydir);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(pg_migrate, .init = setup, .fini = teardown, .timeout = 240);

static long long
pg_long(const char *sql)
{
	long long v = -1;

	cr_assert_eq(pgserver_sql(pg.conninfo, sql, &v), 0, "%s", sql);
	return v;
}

/* Submit one referral from the elevhälsa to BUP; its id into id. */
static void
submit_one(struct tclient *c, char id[37])
{
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	Nara__Frame *r;

	snprintf(id, 37, "%s", e->message_id);
	r = tclient_submit(c, e);
	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED, "not accepted");
	frame_free(&r);
}

/* On SQLite: N_DONE delivered and acked (their receipts left waiting),
 * then N_QUEUED queued while BUP is offline, the first of them handed to
 * BUP once without an ack (in flight when narad stops with sig). */
static void
traffic_on_sqlite(char queued[N_QUEUED][37], int sig)
{
	struct tclient gbg, bup;
	char id[37];
	Nara__Frame *d;

	harness_start(&h);
	tclient_open(&gbg, &h, T_GBG, 16);
	tclient_open(&bup, &h, T_BUP, 16);
	for (int i = 0; i < N_DONE; i++) {
		submit_one(&gbg, id);
		d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
		cr_assert(d != NULL, "no delivery on SQLite");
		tclient_ack(&bup, d->deliver->envelope->message_id, false);
		frame_free(&d);
	}
	submit_one(&gbg, queued[0]);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
	cr_assert(d != NULL, "no delivery of the in-flight message");
	frame_free(&d);
	tclient_close(&bup);
	for (int i = 1; i < N_QUEUED; i++)
		submit_one(&gbg, queued[i]);
	tclient_close(&gbg);
	cr_assert_eq(harness_stop(&h, sig), sig == SIGTERM ? 0 : -sig);
}

static void
expect_verified(const char *what)
{
	char out[4096];

	cr_expect_eq(harness_run(out, sizeof(out), "%s verify -c %s", tool,
	    h.conf), 0, "verify %s: %s", what, out);
	cr_expect(strstr(out, "intact") != NULL, "%s: %s", what, out);
}

/* The config now names the PostgreSQL store. */
static void
conf_to_pg(void)
{
	FILE *f = fopen(h.conf, "a");

	cr_assert(f != NULL);
	fprintf(f, "\n[store]\nbackend = postgresql\npostgresql = %s\n",
	    pg.conninfo);
	cr_assert_eq(fclose(f), 0);
}

static int
find(char ids[][37], int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return i;
	return -1;
}

/* narad on PostgreSQL: each queued message reaches BUP exactly once and
 * its receipt reaches the sender, after the N_DONE receipts that waited
 * on SQLite. */
static void
deliver_on_pg(char queued[N_QUEUED][37])
{
	int got[N_QUEUED] = { 0 }, n = 0, receipts = 0, moved = 0;
	bool receipted[N_QUEUED] = { false };
	struct tclient gbg, bup;
	Nara__Frame *f;

	harness_start(&h);
	tclient_open(&bup, &h, T_BUP, 16);
	while (n < N_QUEUED &&
	    (f = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 15000)) != NULL) {
		int i = find(queued, N_QUEUED, f->deliver->envelope->message_id);
		cr_assert(i >= 0, "delivered a message that was not queued");
		cr_expect_eq(got[i]++, 0, "delivered twice: %s", queued[i]);
		n += got[i] == 1;
		tclient_ack(&bup, queued[i], false);
		frame_free(&f);
	}
	cr_assert_eq(n, N_QUEUED, "%d of %d queued messages delivered; see %s",
	    n, N_QUEUED, h.log);
	tclient_open(&gbg, &h, T_GBG, 64);
	while (receipts < N_QUEUED &&
	    (f = tclient_expect(&gbg, NARA__FRAME__KIND_RECEIPT, 15000)) != NULL) {
		int i = find(queued, N_QUEUED, f->receipt->message_id);
		if (i >= 0 && !receipted[i]) {
			receipted[i] = true;
			receipts++;
		} else if (i < 0) {
			cr_expect_eq(f->receipt->outcome,
			    NARA__OUTCOME__OUTCOME_DELIVERED);
			moved++;
		}
		tclient_ack(&gbg, f->receipt->message_id, true);
		frame_free(&f);
	}
	cr_expect_eq(receipts, N_QUEUED, "receipts for %d of %d", receipts,
	    N_QUEUED);
	cr_expect_eq(moved, N_DONE, "%d of the %d receipts moved from SQLite "
	    "reached the sender", moved, N_DONE);
	/* nothing more comes: the in-flight one is not delivered again */
	f = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 1000);
	cr_expect(f == NULL, "a delivery after all were acked");
	frame_free(&f);
	tclient_close(&gbg);
	tclient_close(&bup);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
}

/* The SQLite store's key check value, as text. */
static void
sqlite_key_check(char check[64])
{
	char out[256];

	cr_assert_eq(harness_run(out, sizeof(out), "sqlite3 %s \"SELECT value "
	    "FROM meta WHERE key = 'pseudonym_check'\"", h.store), 0, "%s", out);
	out[strcspn(out, "\n")] = '\0';
	cr_assert_eq(strlen(out), 16, "no check value in the SQLite store: %s",
	    out);
	snprintf(check, 64, "%s", out);
}

/* narad started with another pseudonym key than the store's (a copy of
 * the config naming a new key file): its exit status, output into out. */
static int
narad_with_another_key(char *out, size_t len)
{
	char conf[400], bin[300];

	snprintf(conf, sizeof(conf), "%s/other.conf", h.dir);
	cr_assert_eq(harness_run(out, len, "head -c 32 /dev/urandom > "
	    "%s/other.key && chmod 600 %s/other.key && sed 's|^pseudonym_key "
	    "= .*|pseudonym_key = %s/other.key|' %s > %s", h.dir, h.dir, h.dir,
	    h.conf, conf), 0, "%s", out);
	return harness_run(out, len, "timeout 20 %s -c %s",
	    harness_bin("narad", bin, sizeof(bin)), conf);
}

Test(pg_migrate, moved_store_verifies_and_narad_delivers_the_queue)
{
	char queued[N_QUEUED][37], out[8192], check[64], moved_check[64] = "";
	long msgs, audit, ckpts, receipts, high;

	traffic_on_sqlite(queued, SIGTERM);
	msgs = harness_sql_long(&h, "SELECT count(*) FROM messages");
	audit = harness_sql_long(&h, "SELECT count(*) FROM audit");
	ckpts = harness_sql_long(&h, "SELECT count(*) FROM checkpoints");
	receipts = harness_sql_long(&h, "SELECT count(*) FROM receipts");
	cr_assert_eq(receipts, N_DONE);
	cr_assert_eq(msgs, N_DONE + N_QUEUED);
	cr_assert_gt(ckpts, 0, "no signed checkpoint to move");
	/* receipt ids up to 100 past the last row's were given (their
	 * receipts acked since): none is given again on the target */
	harness_sql_exec(&h, "UPDATE meta SET value = value + 100 WHERE key = "
	    "'receipt_id_high'");
	high = harness_sql_long(&h, "SELECT value FROM meta WHERE key = "
	    "'receipt_id_high'");
	cr_assert_gt(high, harness_sql_long(&h, "SELECT max(id) FROM receipts"));
	cr_assert_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to '%s'",
	    tool, h.conf, pg.conninfo), 0, "migrate: %s", out);
	cr_expect(strstr(out, "audit chain intact on the target") != NULL,
	    "%s", out);
	cr_expect(strstr(out, "signatures checked") != NULL, "%s", out);
	cr_expect_eq(pg_long("SELECT count(*) FROM messages"), msgs);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit"), audit);
	cr_expect_eq(pg_long("SELECT count(*) FROM checkpoints"), ckpts);
	cr_expect_eq(pg_long("SELECT count(*) FROM receipts"), receipts);
	cr_expect_eq(pg_long("SELECT last_value FROM receipts_id_seq"), high,
	    "the receipts' counter goes on after the highest id given");
	cr_expect_eq(pg_long("SELECT count(*) FROM messages WHERE state = 0 "
	    "AND attempts = 1"), 1, "the in-flight attempt was not kept");
	/* the content kept apart in SQLite is in the message's row here */
	cr_expect_gt(harness_sql_long(&h, "SELECT count(*) FROM payloads"), 0);
	cr_expect_eq(pg_long("SELECT count(*) FROM messages WHERE payload IS "
	    "NOT NULL"), harness_sql_long(&h, "SELECT count(*) FROM payloads"),
	    "content lost in the move");
	cr_expect_eq(pg_long("SELECT count(*) FROM messages WHERE state = 0 "
	    "AND payload IS NULL"), 0, "a queued message lost its content");
	cr_expect_eq(pg_long("SELECT seq FROM head"), audit > 0 ?
	    harness_sql_long(&h, "SELECT max(seq) FROM audit") : 0);
	expect_verified("the SQLite store");
	conf_to_pg();
	expect_verified("the PostgreSQL store");

	/* the store's pseudonym key goes along: narad on PostgreSQL with
	 * another key is refused as on SQLite (it wrote its own key's check
	 * value and gave every child new pseudonyms) */
	sqlite_key_check(check);
	cr_expect_eq(pgserver_sql_text(pg.conninfo, "SELECT pseudonym_check "
	    "FROM head", moved_check, sizeof(moved_check)), 0);
	cr_expect_str_eq(moved_check, check, "the key's check value not moved");
	cr_expect_eq(narad_with_another_key(out, sizeof(out)), 1, "%s", out);
	cr_expect(strstr(out, "NR070") != NULL &&
	    strstr(out, "another pseudonym key") != NULL, "%s", out);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit"), audit,
	    "narad with another key wrote rows");
	cr_expect_eq(pgserver_sql_text(pg.conninfo, "SELECT pseudonym_check "
	    "FROM head", moved_check, sizeof(moved_check)), 0);
	cr_expect_str_eq(moved_check, check, "the check value was replaced");

	/* with the store's own key it runs */
	deliver_on_pg(queued);
	cr_expect_eq(pg_long("SELECT count(*) FROM messages WHERE state = 0"),
	    0);
	cr_expect_gt(pg_long("SELECT max(seq) FROM audit"), audit);
	expect_verified("the PostgreSQL store after traffic");
}

/* Target unchanged: no nara rows (the tables may have been created). */
static void
expect_target_empty(void)
{
	if (pg_long("SELECT count(*) FROM pg_tables WHERE tablename = "
	    "'audit'") == 0)
		return;   /* no tables at all */
	cr_expect_eq(pg_long("SELECT count(*) FROM audit"), 0,
	    "rows left in the target");
}

Test(pg_migrate, refused_while_narad_runs_or_the_target_is_unusable)
{
	char out[8192];

	/* narad holds the SQLite store */
	harness_start(&h);
	cr_expect_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to '%s'",
	    tool, h.conf, pg.conninfo), 1, "%s", out);
	cr_expect(strstr(out, "NR042") != NULL, "%s", out);
	cr_expect(strstr(out, "stop narad") != NULL, "%s", out);
	expect_target_empty();
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);

	/* a conninfo libpq cannot read; a server that is not there */
	cr_expect_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to "
	    "'host=127.0.0.1 port'", tool, h.conf), 2, "%s", out);
	cr_expect(strstr(out, "NR070") != NULL, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to "
	    "'host=127.0.0.1 port=1 dbname=nara connect_timeout=3'", tool,
	    h.conf), 1, "%s", out);
	cr_expect(strstr(out, "NR041") != NULL, "%s", out);
	cr_expect(strstr(out, "cannot connect") != NULL, "%s", out);

	/* the config already on PostgreSQL: nothing to move from */
	conf_to_pg();
	cr_expect_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to '%s'",
	    tool, h.conf, pg.conninfo), 2, "%s", out);
	cr_expect(strstr(out, "NR072") != NULL, "%s", out);
}

/* A store rolled back to an older copy (its chain ends before the head
 * narad recorded beside it) is refused, as narad and verify refuse it:
 * moved, its lost tail could no longer be seen. (It was moved, and the
 * target's verify said intact.) */
Test(pg_migrate, store_behind_its_head_file_is_refused)
{
	char queued[N_QUEUED][37], out[8192];

	traffic_on_sqlite(queued, SIGTERM);
	cr_assert_eq(harness_run(out, sizeof(out), "sqlite3 %s \"DELETE FROM "
	    "audit WHERE seq > (SELECT max(seq) - 3 FROM audit); DELETE FROM "
	    "checkpoints WHERE seq > (SELECT max(seq) FROM audit); UPDATE meta "
	    "SET value = (SELECT max(seq) FROM audit) WHERE key = "
	    "'audit_head_seq'; UPDATE meta SET value = (SELECT hash FROM audit "
	    "WHERE seq = (SELECT max(seq) FROM audit)) WHERE key = "
	    "'audit_head_hash'\"", h.store), 0, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to '%s'",
	    tool, h.conf, pg.conninfo), 1, "%s", out);
	cr_expect(strstr(out, "behind its head file") != NULL, "%s", out);
	expect_target_empty();
}

/* migrate into pg refused with status, naming code and why. */
static void
expect_move_refused(int status, const char *code, const char *why)
{
	char out[8192];

	cr_expect_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to '%s'",
	    tool, h.conf, pg.conninfo), status, "%s", out);
	cr_expect(strstr(out, code) != NULL && strstr(out, why) != NULL, "%s",
	    out);
}

Test(pg_migrate, failed_or_repeated_move_keeps_the_target_as_it_was)
{
	char queued[N_QUEUED][37], out[8192];

	/* narad killed: what its WAL holds moves too (a clean stop before
	 * left a signed checkpoint for verify); moved once, a second move
	 * into the same database is refused */
	harness_start(&h);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	traffic_on_sqlite(queued, SIGKILL);
	cr_assert_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to '%s'",
	    tool, h.conf, pg.conninfo), 0, "%s", out);
	long long rows = pg_long("SELECT count(*) FROM audit");
	cr_expect_eq(rows, harness_sql_long(&h, "SELECT count(*) FROM audit"));
	cr_expect_eq(pg_long("SELECT count(*) FROM messages"), N_DONE +
	    N_QUEUED);
	expect_move_refused(1, "NR041", "not empty");
	cr_expect_eq(pg_long("SELECT count(*) FROM audit"), rows);

	/* a target without rows that keeps another key's check value (narad
	 * was started on it with another key) is refused: the moved rows and
	 * the ones narad writes there would not link */
	cr_assert_eq(pgserver_sql(pg.conninfo, "TRUNCATE messages, receipts, "
	    "audit, checkpoints; ALTER TABLE head ADD COLUMN IF NOT EXISTS "
	    "pseudonym_check text; UPDATE head SET seq = NULL, hash = NULL, "
	    "pseudonym_check = '0123456789abcdef'; SELECT 0", NULL), 0);
	expect_move_refused(2, "NR070", "another pseudonym key");
	cr_expect_eq(pg_long("SELECT count(*) FROM messages"), 0);
	cr_expect_eq(pg_long("SELECT count(*) FROM head WHERE pseudonym_check "
	    "= '0123456789abcdef'"), 1, "the target's check value replaced");

	/* a move that fails part-way (the audit table refuses a row, after
	 * the messages were copied) keeps nothing: one transaction */
	cr_assert_eq(pgserver_sql(pg.conninfo, "UPDATE head SET "
	    "pseudonym_check = NULL; "
	    "ALTER TABLE audit ADD CONSTRAINT test_refuses CHECK (seq < 5); "
	    "SELECT 0", NULL), 0);
	expect_move_refused(1, "NR041", "test_refuses");
	cr_expect_eq(pg_long("SELECT count(*) FROM messages"), 0,
	    "messages kept from a failed move");
	cr_expect_eq(pg_long("SELECT count(seq) FROM head"), 0);
	cr_assert_eq(pgserver_sql(pg.conninfo, "ALTER TABLE audit DROP "
	    "CONSTRAINT test_refuses; SELECT 0", NULL), 0);
	cr_expect_eq(harness_run(out, sizeof(out), "%s migrate -c %s --to '%s'",
	    tool, h.conf, pg.conninfo), 0, "run again: %s", out);
}
