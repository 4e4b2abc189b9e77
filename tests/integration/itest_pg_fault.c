/*
 * itest_pg_fault.c — narad on the PostgreSQL backend under faults, with a
 * real server (pgserver.h) and two clients speaking nara frames:
 *
 * - kill -9 narad repeatedly while messages stream in and out (as
 *   itest_crash.c does on SQLite): after the last restart every message
 *   narad answered Accepted reaches the recipient, each is handed over
 *   once per restart at most and kept once by the recipient's inbox (by
 *   message id), the sender gets a receipt for each, no queued row is
 *   left, and nara-audit verify finds the chain intact;
 * - the database unreachable for 30 s: every submit meanwhile is refused
 *   with the retryable NR041, nothing hangs; the server comes back and
 *   narad (the same process, never restarted) reconnects by itself,
 *   accepts again and delivers everything it had accepted, once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "pgserver.h"
#include "wire.h"

#define CYCLES 6
#define MAX_MSGS 20000
#define OUTAGE_MS 30000

static struct pgserver pg;
static struct harness h;
static struct fixture *fx;

static void
setup(void)
{
	char extra[600];

	cr_assert_eq(pgserver_start(&pg, "nara"), 0, "no PostgreSQL server");
	snprintf(extra, sizeof(extra), "ack_timeout = 5\n\n[store]\nbackend = "
	    "postgresql\npostgresql = %s\n", pg.conninfo);
	harness_init(&h, extra);
	fx = fixture_new();
}

static void
teardown(void)
{
	fixture_free(&fx);
	harness_cleanup(&h);
	pgserver_cleanup(&pg);
}

TestSuite(pg_fault, .init = setup, .fini = teardown, .timeout = 600);

/* What the clients saw: ids sent, accepted, handed to the recipient
 * (its inbox), receipted to the sender. */
struct book {
	char (*sent)[37];
	bool *accepted, *inbox, *receipted;
	int n_sent, n_accepted, n_inbox, n_receipted, redeliveries;
};

static void
book_init(struct book *bk)
{
	memset(bk, 0, sizeof(*bk));
	bk->sent = calloc(MAX_MSGS, 37);
	bk->accepted = calloc(MAX_MSGS, sizeof(bool));
	bk->inbox = calloc(MAX_MSGS, sizeof(bool));
	bk->receipted = calloc(MAX_MSGS, sizeof(bool));
	cr_assert(bk->sent && bk->accepted && bk->inbox && bk->receipted);
}

static void
book_free(struct book *bk)
{
	free(bk->sent);
	free(bk->accepted);
	free(bk->inbox);
	free(bk->receipted);
}

static int
book_find(const struct book *bk, const char *id)
{
	for (int i = bk->n_sent - 1; i >= 0; i--)
		if (strcmp(bk->sent[i], id) == 0)
			return i;
	return -1;
}

/* One frame the sender got: Accepted, Rejected or a receipt. */
static void
on_sender_frame(struct book *bk, struct tclient *prod, const Nara__Frame *f)
{
	int i;

	if (f->kind_case == NARA__FRAME__KIND_ACCEPTED) {
		i = book_find(bk, f->accepted->message_id);
		cr_assert(i >= 0, "accepted an id never sent");
		bk->n_accepted += !bk->accepted[i];
		bk->accepted[i] = true;
	} else if (f->kind_case == NARA__FRAME__KIND_REJECTED) {
		/* retryable only: the database is the one thing failing */
		cr_expect(strcmp(f->rejected->code, "NR041") == 0 ||
		    strcmp(f->rejected->code, "NR040") == 0 ||
		    strcmp(f->rejected->code, "NR042") == 0, "refused %s: %s",
		    f->rejected->code, f->rejected->text);
	} else if (f->kind_case == NARA__FRAME__KIND_RECEIPT) {
		i = book_find(bk, f->receipt->message_id);
		cr_assert(i >= 0, "a receipt for an id never sent");
		bk->n_receipted += !bk->receipted[i];
		bk->receipted[i] = true;
		tclient_ack(prod, f->receipt->message_id, true);
	}
}

/* Handle everything waiting on both clients. */
static void
pump(struct book *bk, struct tclient *prod, struct tclient *cons, int wait_ms)
{
	Nara__Frame *f;

	while ((f = tclient_recv(prod, 0)) != NULL) {
		on_sender_frame(bk, prod, f);
		frame_free(&f);
	}
	while ((f = tclient_recv(cons, wait_ms)) != NULL) {
		wait_ms = 0;
		if (f->kind_case == NARA__FRAME__KIND_DELIVER) {
			const char *id = f->deliver->envelope->message_id;
			int i = book_find(bk, id);
			cr_assert(i >= 0, "delivered an id never sent: %s", id);
			if (bk->inbox[i])
				bk->redeliveries++;
			else
				bk->n_inbox++;
			bk->inbox[i] = true;
			tclient_ack(cons, id, false);
		}
		frame_free(&f);
	}
}

/* Send k referrals without waiting for their answers. */
static void
send_burst(struct book *bk, struct tclient *prod, int k)
{
	for (; k > 0 && bk->n_sent < MAX_MSGS; k--) {
		Nara__Envelope *e = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
		Nara__Frame f = NARA__FRAME__INIT;
		Nara__Submit s = NARA__SUBMIT__INIT;

		snprintf(bk->sent[bk->n_sent++], 37, "%s", e->message_id);
		s.envelope = e;
		f.kind_case = NARA__FRAME__KIND_SUBMIT;
		f.submit = &s;
		tclient_send(prod, &f);
	}
}

static void
kill_cycle(struct book *bk, unsigned *seed)
{
	struct tclient prod, cons;
	int64_t kill_at = harness_ms_now() + 200 + rand_r(seed) % 800;

	harness_start(&h);
	tclient_open(&prod, &h, T_GBG, 64);
	tclient_open(&cons, &h, T_BUP, 64);
	while (harness_ms_now() < kill_at) {
		send_burst(bk, &prod, 20);
		pump(bk, &prod, &cons, 2);
	}
	cr_assert_eq(harness_stop(&h, SIGKILL), -SIGKILL);
	pump(bk, &prod, &cons, 50);   /* what was already on its way */
	tclient_close(&prod);
	tclient_close(&cons);
}

/* Accepted but not (yet) in the inbox, or without a receipt. */
static int
missing(const struct book *bk)
{
	int n = 0;

	for (int i = 0; i < bk->n_sent; i++)
		n += bk->accepted[i] && (!bk->inbox[i] || !bk->receipted[i]);
	return n;
}

static long long
pg_long(const char *sql)
{
	long long v = -1;

	cr_assert_eq(pgserver_sql(pg.conninfo, sql, &v), 0, "%s", sql);
	return v;
}

/* Both nodes connected until every accepted message is in the inbox with
 * its receipt and no message is queued in the store (the last acks
 * committed), or timeout_ms passed. */
static void
drain(struct book *bk, int timeout_ms)
{
	struct tclient prod, cons;
	int64_t until = harness_ms_now() + timeout_ms;

	tclient_open(&prod, &h, T_GBG, 256);
	tclient_open(&cons, &h, T_BUP, 256);
	do
		pump(bk, &prod, &cons, 100);
	while ((missing(bk) > 0 || pg_long("SELECT count(*) FROM messages "
	    "WHERE state = 0") > 0) && harness_ms_now() < until);
	tclient_close(&prod);
	tclient_close(&cons);
}

static void
expect_audit_intact(void)
{
	char out[4096], tool[300];

	harness_bin("nara-audit", tool, sizeof(tool));
	cr_expect_eq(harness_run(out, sizeof(out), "%s verify -c %s", tool,
	    h.conf), 0, "nara-audit verify: %s", out);
	cr_expect(strstr(out, "intact") != NULL, "%s", out);
}

Test(pg_fault, kill9_under_load_loses_nothing)
{
	unsigned seed = (unsigned)time(NULL);
	struct book bk;

	book_init(&bk);
	for (int c = 0; c < CYCLES; c++)
		kill_cycle(&bk, &seed);
	harness_start(&h);
	drain(&bk, 120000);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	fprintf(stderr, "pg kill -9: %d cycles, %d sent, %d accepted, %d "
	    "delivered, %d receipted, %d repeated deliveries absorbed by the "
	    "inbox (seed %u)\n", CYCLES, bk.n_sent, bk.n_accepted, bk.n_inbox,
	    bk.n_receipted, bk.redeliveries, seed);
	cr_expect_gt(bk.n_accepted, CYCLES * 10, "too little traffic to test");
	cr_expect_eq(missing(&bk), 0, "%d accepted messages not delivered or "
	    "without a receipt", missing(&bk));
	/* nothing stored that the sender was not told about, nothing left */
	cr_expect_eq(pg_long("SELECT count(*) FROM messages WHERE state = 0"), 0);
	cr_expect_geq(pg_long("SELECT count(*) FROM messages"), bk.n_accepted);
	expect_audit_intact();
	book_free(&bk);
}

/* Submit one and wait for its answer: the Rejected code ("" when
 * accepted) into code. */
static void
submit_wait(struct book *bk, struct tclient *prod, char code[8])
{
	Nara__Frame *f;
	int want;

	send_burst(bk, prod, 1);
	want = bk->n_sent - 1;
	code[0] = '\0';
	while ((f = tclient_recv(prod, 20000)) != NULL) {
		bool mine = (f->kind_case == NARA__FRAME__KIND_ACCEPTED &&
		    strcmp(f->accepted->message_id, bk->sent[want]) == 0) ||
		    (f->kind_case == NARA__FRAME__KIND_REJECTED &&
		    strcmp(f->rejected->message_id, bk->sent[want]) == 0);
		if (f->kind_case == NARA__FRAME__KIND_REJECTED && mine)
			snprintf(code, 8, "%s", f->rejected->code);
		on_sender_frame(bk, prod, f);
		frame_free(&f);
		if (mine)
			return;
	}
	cr_assert_fail("no answer to a submit within 20 s: narad hangs; see %s",
	    h.log);
}

Test(pg_fault, database_away_30s_refused_then_resumes_by_itself)
{
	struct tclient prod;
	struct book bk;
	char code[8];
	int64_t down_at;
	int refused = 0, before, tries;
	pid_t pid;

	/* BUP stays offline until the end: what was accepted before the
	 * outage waits in the store through it */
	book_init(&bk);
	harness_start(&h);
	pid = h.pid;
	tclient_open(&prod, &h, T_GBG, 64);
	for (int i = 0; i < 10; i++) {
		submit_wait(&bk, &prod, code);
		cr_assert_str_empty(code, "refused before the outage: %s", code);
	}
	before = bk.n_accepted;
	cr_assert_eq(pgserver_stop(&pg), 0);
	down_at = harness_ms_now();
	while (harness_ms_now() < down_at + OUTAGE_MS) {
		submit_wait(&bk, &prod, code);
		cr_expect_str_eq(code, "NR041", "a submit while the database is "
		    "away was not refused with NR041");
		refused++;
		/* the next submit after narad's next attempt to connect
		 * (its backoff grows to 5 s) */
		tries = harness_log_count(&h, "cannot connect to PostgreSQL");
		harness_wait_log(&h, "cannot connect to PostgreSQL", tries + 1,
		    6000);
	}
	cr_expect_gt(refused, 3, "too few submits during the outage");
	cr_expect_gt(harness_log_count(&h, "cannot connect to PostgreSQL"), 3,
	    "narad did not keep trying to connect");
	cr_expect_eq(bk.n_accepted, before, "accepted while the database was "
	    "away");
	cr_assert_eq(pgserver_restart(&pg), 0);
	/* narad reconnects by itself, with no submit to prompt it (its
	 * once-a-second tick tries when the backoff, at most 5 s, is over);
	 * then the next submit is accepted */
	cr_assert(harness_wait_log(&h, "connected again", 1, 30000), "narad did "
	    "not reconnect within 30 s after the database came back; see %s",
	    h.log);
	submit_wait(&bk, &prod, code);
	cr_assert_str_empty(code, "refused after narad reconnected: %s; see %s",
	    code, h.log);
	cr_expect_eq(h.pid, pid, "narad was restarted");
	tclient_close(&prod);
	drain(&bk, 60000);
	cr_expect_eq(bk.n_accepted, before + 1);
	cr_expect_eq(missing(&bk), 0, "%d accepted messages lost",
	    missing(&bk));
	cr_expect_eq(bk.redeliveries, 0);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	expect_audit_intact();
	book_free(&bk);
}
