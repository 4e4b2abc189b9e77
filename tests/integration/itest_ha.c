/*
 * itest_ha.c — two narads with [ha] on one real PostgreSQL store, each
 * with its own TLS front, and nara-adapters that know both addresses.
 * One narad is active, the other a standby that answers only status.
 * Then the active one dies (kill -9), freezes (SIGSTOP; after SIGCONT it
 * must commit and accept nothing), or hands over (naractl step-down): the
 * standby serves within the lease term, the adapters move to it, every
 * message arrives in its inbox exactly once with a receipt, the audit
 * chain is one intact chain with the takeover (and step-down) rows.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "adapter_helpers.h"
#include "ha_helpers.h"
#include "fixture.h"
#include "harness.h"
#include "pgserver.h"
#include "tls_helpers.h"
#include "wire.h"

#define N_MSGS 10
#define LEASE_S 3

static struct pgserver pg, standby;
static struct hapair pair;
#define NA (pair.n[0])
#define NB (pair.n[1])
#define PKI (pair.pki)
#define CONNINFO (pair.conninfo)
#define port_a (pair.port[0])
#define port_b (pair.port[1])
static struct tadapter gbg, bup;
static struct fixture *fx;

/* The database (with a synchronous standby when replicated), the PKI,
 * narad-a active, narad-b standby with a lease term of lease_b seconds,
 * two adapters that know both. */
static void
start_all(bool replicated, int lease_b)
{
	char cmd[600];

	cr_assert_eq(pgserver_start(&pg, "nara"), 0, "no PostgreSQL server");
	if (replicated) {
		cr_assert_eq(pgserver_standby(&pg, &standby), 0, "no standby");
		snprintf(CONNINFO, sizeof(CONNINFO), "host=127.0.0.1,127.0.0.1 "
		    "port=%d,%d user=nara dbname=nara connect_timeout=2 "
		    "target_session_attrs=read-write", pg.port, standby.port);
	} else {
		snprintf(CONNINFO, sizeof(CONNINFO), "%s", pg.conninfo);
	}
	tls_pki_make(PKI, (const char *const[]){ T_GBG, T_BUP, NULL });
	fx = fixture_new();
	hapair_configure(&pair, LEASE_S);
	if (lease_b != LEASE_S) {
		snprintf(cmd, sizeof(cmd), "sed -i 's/^lease = %d$/lease = %d/' "
		    "'%s'", LEASE_S, lease_b, NB.conf);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
	}
	ha_launch(&NA);
	cr_assert(harness_wait_log(&NA, "ha: active", 1, 20000), "narad-a did "
	    "not become active; see %s", NA.log);
	tls_wait_listening(port_a, NA.log);
	ha_launch(&NB);
	cr_assert(harness_wait_log(&NB, "waits for the lease", 1, 20000),
	    "narad-b did not start as a standby; see %s", NB.log);
	ha_adapter(&gbg, &pair, T_GBG);
	ha_adapter(&bup, &pair, T_BUP);
	tadapter_start(&gbg);
	tadapter_start(&bup);
}

static void
setup(void)
{
	start_all(false, LEASE_S);
}

static void
setup_replicated(void)
{
	start_all(true, LEASE_S);
}

/* narad-b renews every 10 s: a test can act between two of its renewals
 * while narad-a steps every second. */
static void
setup_slow_b(void)
{
	start_all(false, 10 * LEASE_S);
}

static void
teardown(void)
{
	char cmd[200];

	fixture_free(&fx);
	tadapter_cleanup(&gbg);
	tadapter_cleanup(&bup);
	harness_cleanup(&NA);
	harness_cleanup(&NB);
	pgserver_cleanup(&standby);
	pgserver_cleanup(&pg);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", PKI);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(ha, .init = setup, .fini = teardown, .timeout = 240);
TestSuite(ha_db, .init = setup_replicated, .fini = teardown,
    .timeout = 240);
TestSuite(ha_terms, .init = setup_slow_b, .fini = teardown,
    .timeout = 240);

/* sql on the database that is primary now. */
static long long
pg_long(const char *sql)
{
	long long v = -1;

	cr_assert_eq(pgserver_sql(CONNINFO, sql, &v), 0, "%s", sql);
	return v;
}

static void
pg_exec(const char *sql)
{
	cr_assert_eq(pgserver_sql(CONNINFO, sql, NULL), 0, "%s", sql);
}

static bool
pg_true(void *arg)
{
	long long v = 0;

	return pgserver_sql(CONNINFO, arg, &v) == 0 && v == 1;
}

/* Put n envelopes in from's outbox; their inbox names into names. */
static void
send_many(struct tadapter *from, int n, int first, const char *sender,
    const char *recipient, char names[][64])
{
	char out[64];

	for (int i = 0; i < n; i++) {
		Nara__Envelope *env = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, sender, recipient);
		snprintf(names[i], 64, "%.36s.json", env->message_id);
		snprintf(out, sizeof(out), "out-%d.json", first + i);
		spool_put_envelope(from, out, env);
	}
}

static void
expect_delivered(struct tadapter *from, struct tadapter *to, int n,
    char names[][64])
{
	for (int i = 0; i < n; i++) {
		cr_assert(spool_wait(to, "inbox", names[i], 60000), "%s never "
		    "arrived; see %s, %s and %s", names[i], from->log, NA.log,
		    NB.log);
		cr_assert(spool_wait(from, "receipts", names[i], 60000),
		    "no receipt for %s", names[i]);
	}
}

/* The standby answers status with its role and the holder, and refuses
 * everything else with NR042. */
Test(ha, standby_answers_status_only)
{
	char out[4096];

	cr_assert_eq(ha_naractl(&NB, out, sizeof(out), "status"), 0, "%s", out);
	cr_expect_not_null(strstr(out, "role          standby, instance "
	    "narad-b"), "%s", out);
	cr_expect_not_null(strstr(out, "held by narad-a, epoch 1"), "%s", out);
	cr_assert_eq(ha_naractl(&NA, out, sizeof(out), "status"), 0, "%s", out);
	cr_expect_not_null(strstr(out, "role          active, instance "
	    "narad-a"), "%s", out);
	cr_expect_neq(ha_naractl(&NB, out, sizeof(out), "nodes"), 0);
	cr_expect_not_null(strstr(out, "NR042"), "%s", out);
	cr_expect_neq(ha_naractl(&NB, out, sizeof(out), "step-down"), 0);
	/* the standby's TLS front is closed: nodes go to narad-a */
	cr_expect_lt(tcp_connect_local(port_b), 0, "a standby accepted a "
	    "TCP connection");
}

static int64_t
takeover_ms(const struct harness *h, int64_t since)
{
	cr_assert(harness_wait_log(h, "ha: active", 1, 30000), "no takeover; "
	    "see %s", h->log);
	return harness_ms_now() - since;
}

Test(ha, kill9_active_standby_serves_within_the_term)
{
	char before[N_MSGS][64], after[N_MSGS][64], out[4096];
	int64_t t0, took;

	send_many(&gbg, N_MSGS, 0, T_GBG_EH, T_BUP, before);
	expect_delivered(&gbg, &bup, N_MSGS, before);
	t0 = harness_ms_now();
	harness_stop(&NA, SIGKILL);
	took = takeover_ms(&NB, t0);
	tls_wait_listening(port_b, NB.log);
	cr_expect_leq(took, (LEASE_S + 2) * 1000, "standby served %lld ms "
	    "after the kill", (long long)took);
	send_many(&gbg, N_MSGS, N_MSGS, T_GBG_EH, T_BUP, after);
	expect_delivered(&gbg, &bup, N_MSGS, after);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 2 * N_MSGS,
	    "not exactly once");
	cr_expect_eq(pg_long("SELECT count(*) FROM audit WHERE event = "
	    "'ha_takeover' AND detail LIKE 'instance narad-b epoch 2: lease of "
	    "narad-a (epoch 1) not renewed for %'"), 1);
	cr_assert_eq(ha_naractl(&NB, out, sizeof(out), "status"), 0, "%s", out);
	cr_expect_not_null(strstr(out, "role          active, instance "
	    "narad-b"), "%s", out);
	cr_expect_not_null(strstr(out, "1 takeovers"), "%s", out);
	tadapter_stop(&gbg, SIGTERM);
	tadapter_stop(&bup, SIGTERM);
	harness_stop(&NB, SIGTERM);
	ha_expect_audit_intact(&NB);
}

/* A TLS connection of node T_BUP to the narad on port, past its Hello. */
static struct nara_tunnel *
bup_connect(int port, struct tclient *c)
{
	char ca[128], cert[128], key[128];
	struct nara_tunnel *t;

	snprintf(ca, sizeof(ca), "%s/ca.pem", PKI);
	snprintf(cert, sizeof(cert), "%s/%s.pem", PKI, T_BUP);
	snprintf(key, sizeof(key), "%s/%s.key", PKI, T_BUP);
	t = tls_tunnel_start(port, NULL, ca, cert, key);
	tls_tunnel_client_hello(c, t, T_BUP);
	return t;
}

/* One submit of T_BUP on c; its envelope (the fixture's). */
static Nara__Envelope *
bup_submit(struct tclient *c)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit sub = NARA__SUBMIT__INIT;
	Nara__Envelope *env = fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REFERRAL_RESPONSE, T_BUP, T_GBG_SOC);

	sub.envelope = env;
	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	tclient_send(c, &f);
	return env;
}

/* Nothing on c is Accepted until it is quiet for quiet_ms, and the store
 * holds no env: the narad that got it (who) was fenced. */
static void
expect_not_accepted(struct tclient *c, int quiet_ms,
    const Nara__Envelope *env, const char *who)
{
	Nara__Frame *ans;
	char sql[200];

	while ((ans = tclient_recv(c, quiet_ms)) != NULL) {
		cr_expect_neq(ans->kind_case, NARA__FRAME__KIND_ACCEPTED,
		    "%s sent Accepted", who);
		frame_free(&ans);
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE "
	    "message_id = '%s'", env->message_id);
	cr_expect_eq(pg_long(sql), 0, "%s stored the message", who);
}

/* A frozen active narad: the standby takes over after the term; woken
 * up, the old one accepts nothing (its connection gets no Accepted for a
 * submit sent while it slept, and the message is not in the store) and
 * goes back to standby. */
Test(ha, frozen_active_commits_nothing_after_the_takeover)
{
	char names[N_MSGS][64];
	struct nara_tunnel *t;
	struct tclient c;
	Nara__Envelope *env;
	int64_t t0;

	t = bup_connect(port_a, &c);
	kill(NA.pid, SIGSTOP);
	env = bup_submit(&c);
	t0 = harness_ms_now();
	cr_expect_geq(takeover_ms(&NB, t0), LEASE_S * 1000 - 1500,
	    "taken over before the lease could have expired");
	kill(NA.pid, SIGCONT);
	cr_assert(harness_wait_log(&NA, "stepping down, not serving", 1, 30000),
	    "the woken narad did not step down; see %s", NA.log);
	expect_not_accepted(&c, 3000, env, "the fenced narad");
	cr_assert(harness_wait_log(&NA, "waits for the lease", 2, 30000),
	    "narad-a did not restart as a standby; see %s", NA.log);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	/* the adapters go on through narad-b */
	send_many(&gbg, N_MSGS, 0, T_GBG_EH, T_BUP, names);
	expect_delivered(&gbg, &bup, N_MSGS, names);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), N_MSGS);
	ha_expect_audit_intact(&NB);
}

/* The active narad frozen through the other's whole tenure: narad-b takes
 * over, serves, and stops cleanly (releasing the lease). Woken, narad-a
 * finds its lease lost and the lease free: it must step down and take the
 * lease anew as a standby, with its takeover audited and its status
 * truthful, not serve on at the new epoch as if it had renewed. */
Test(ha, woken_holder_takes_a_free_lease_only_as_a_new_takeover)
{
	char before[3][64], during[3][64], after[3][64], out[4096];
	char takeover[] = "SELECT count(*) FROM audit WHERE event = "
	    "'ha_takeover' AND detail LIKE 'instance narad-a epoch 3: lease of "
	    "narad-b (epoch 2) not renewed for %'";

	send_many(&gbg, 3, 0, T_GBG_EH, T_BUP, before);
	expect_delivered(&gbg, &bup, 3, before);
	kill(NA.pid, SIGSTOP);
	cr_assert(harness_wait_log(&NB, "ha: active", 1, 30000), "narad-b did "
	    "not take over; see %s", NB.log);
	send_many(&gbg, 3, 3, T_GBG_EH, T_BUP, during);
	expect_delivered(&gbg, &bup, 3, during);
	harness_stop(&NB, SIGTERM);
	kill(NA.pid, SIGCONT);
	cr_assert(harness_wait_log(&NA, "stepping down, not serving", 1, 30000),
	    "the woken narad served on without stepping down; see %s", NA.log);
	cr_assert(harness_wait_log(&NA, "ha: active", 2, 30000), "narad-a did "
	    "not take the free lease; see %s", NA.log);
	/* the row comes from the start-up that follows the log line */
	cr_expect(harness_wait(pg_true, takeover, 10000), "no takeover row for "
	    "epoch 3; see %s", NA.log);
	cr_assert_eq(ha_naractl(&NA, out, sizeof(out), "status"), 0, "%s", out);
	cr_expect_not_null(strstr(out, "role          active, instance "
	    "narad-a"), "%s", out);
	cr_expect_not_null(strstr(out, "held by narad-a, epoch 3"), "%s", out);
	cr_expect_not_null(strstr(out, "1 takeovers"), "%s", out);
	send_many(&gbg, 3, 6, T_GBG_EH, T_BUP, after);
	expect_delivered(&gbg, &bup, 3, after);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 9, "not exactly once");
	ha_expect_audit_intact(&NA);
}

Test(ha, step_down_hands_over_and_is_audited)
{
	char names[N_MSGS][64], out[4096];
	int64_t t0;

	send_many(&gbg, N_MSGS / 2, 0, T_GBG_EH, T_BUP, names);
	t0 = harness_ms_now();
	cr_assert_eq(ha_naractl(&NA, out, sizeof(out), "step-down"), 0, "%s", out);
	cr_expect_not_null(strstr(out, "stepped down"), "%s", out);
	cr_expect_leq(takeover_ms(&NB, t0), LEASE_S * 1000, "the standby "
	    "waited for the term instead of taking the released lease");
	cr_assert(harness_wait_log(&NA, "waits for the lease", 2, 30000),
	    "narad-a did not restart as a standby; see %s", NA.log);
	send_many(&gbg, N_MSGS / 2, N_MSGS / 2, T_GBG_EH, T_BUP,
	    names + N_MSGS / 2);
	expect_delivered(&gbg, &bup, N_MSGS, names);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), N_MSGS);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit WHERE event = "
	    "'ha_step_down' AND detail LIKE 'instance narad-a epoch 1: hand-over "
	    "to a standby asked by %'"), 1);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit WHERE event = "
	    "'ha_step_down_failed'"), 0);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit WHERE event = "
	    "'ha_takeover' AND detail LIKE 'instance narad-b epoch 2:%'"), 1);
	/* narad-a, restarted, leaves the lease to narad-b */
	cr_assert_eq(ha_naractl(&NA, out, sizeof(out), "status"), 0, "%s", out);
	cr_expect_not_null(strstr(out, "role          standby"), "%s", out);
	ha_expect_audit_intact(&NB);
}

/* A release of the lease the database refuses (a trigger stands in for
 * whatever makes it fail): naractl step-down fails, the audit log has the
 * operator's request and its failure and claims no hand-over, and narad-a
 * keeps the lease and serves. */
Test(ha, failed_step_down_audited_and_still_active)
{
	static const char refuse[] = "CREATE FUNCTION refuse_release() "
	    "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.holder_pid = 0 "
	    "THEN RAISE EXCEPTION 'release refused by the test'; END IF; "
	    "RETURN NEW; END $$; CREATE TRIGGER refuse_release BEFORE UPDATE ON "
	    "nara_lease FOR EACH ROW EXECUTE FUNCTION refuse_release()";
	char names[N_MSGS][64], out[4096];

	cr_assert_eq(pgserver_sql(CONNINFO, refuse, NULL), 0);
	cr_assert_neq(ha_naractl(&NA, out, sizeof(out), "step-down"), 0,
	    "step-down succeeded: %s", out);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit WHERE event = "
	    "'ha_step_down_failed' AND detail LIKE 'instance narad-a epoch 1: "
	    "hand-over to a standby asked by % failed, still active: "
	    "%release refused by the test%'"), 1);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit WHERE detail LIKE "
	    "'%handed over%'"), 0);
	cr_expect_str_eq(ha_role(&NA), "active");
	send_many(&gbg, N_MSGS, 0, T_GBG_EH, T_BUP, names);
	expect_delivered(&gbg, &bup, N_MSGS, names);
	cr_expect_str_eq(ha_role(&NA), "active");
	cr_expect_str_eq(ha_role(&NB), "standby");
	cr_assert_eq(pgserver_sql(CONNINFO, "DROP TRIGGER refuse_release ON "
	    "nara_lease", NULL), 0);
	ha_expect_audit_intact(&NA);
}

/* The database primary killed under traffic and its synchronous standby
 * promoted. Either the active narad reconnects to the new primary within
 * its lease and stays active, or it cannot renew in time, restarts as a
 * standby, and one narad takes over; with the active narad killed too,
 * the standby takes over. Either way not one accepted message is lost or
 * doubled, and exactly one narad is active at the end. */
static void
database_failover(bool kill_active_too)
{
	char before[N_MSGS][64], after[N_MSGS][64];
	const char *ra, *rb;

	send_many(&gbg, N_MSGS, 0, T_GBG_EH, T_BUP, before);
	cr_assert(spool_wait(&bup, "inbox", before[0], 60000), "no traffic");
	if (kill_active_too)
		harness_stop(&NA, SIGKILL);
	pgserver_kill(&pg);
	cr_assert_eq(pgserver_promote(&standby), 0, "promote failed");
	if (kill_active_too)
		cr_assert(harness_wait_log(&NB, "ha: active", 1, 60000), "narad-b "
		    "did not take over; see %s", NB.log);
	send_many(&gbg, N_MSGS, N_MSGS, T_GBG_EH, T_BUP, after);
	expect_delivered(&gbg, &bup, N_MSGS, before);
	expect_delivered(&gbg, &bup, N_MSGS, after);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 2 * N_MSGS,
	    "not exactly once");
	cr_expect_eq(pg_long("SELECT count(*) FROM messages"), 2 * N_MSGS);
	ra = kill_active_too ? "" : ha_role(&NA);
	rb = ha_role(&NB);
	cr_expect((strcmp(ra, "active") == 0) != (strcmp(rb, "active") == 0),
	    "not exactly one active narad: a %s, b %s", ra, rb);
	tadapter_stop(&gbg, SIGTERM);
	tadapter_stop(&bup, SIGTERM);
	harness_stop(&NA, SIGTERM);
	harness_stop(&NB, SIGTERM);
	ha_expect_audit_intact(&NB);
}

Test(ha_db, database_primary_killed_and_promoted)
{
	database_failover(false);
}

Test(ha_db, active_narad_and_database_primary_killed_together)
{
	database_failover(true);
}

/* A database failover to a server that missed narad-b's takeover (asynchronous
 * replication, or a promotion of the wrong standby): its lease row is
 * narad-a's of epoch 1, and narad-a, restarted as a standby, takes epoch 2
 * there at once, the epoch narad-b still holds. narad-b must not accept a
 * submit after that: its fence, and its next renewal, send it to standby.
 * The promoted server's row is the real row of epoch 1, put back between
 * two renewals of narad-b. */
Test(ha_terms, epoch_issued_twice_after_a_failover_accepts_nothing)
{
	char renewed[] = "SELECT (holder_pid <> 0)::int FROM nara_lease";
	struct nara_tunnel *t;
	struct tclient c;
	Nara__Envelope *env;

	tadapter_stop(&gbg, SIGTERM);
	tadapter_stop(&bup, SIGTERM);
	pg_exec("CREATE TABLE lease_on_standby AS SELECT * FROM nara_lease");
	kill(NA.pid, SIGSTOP);
	cr_assert(harness_wait_log(&NB, "ha: active", 1, 40000), "narad-b did "
	    "not take over; see %s", NB.log);
	tls_wait_listening(port_b, NB.log);
	kill(NA.pid, SIGCONT);
	cr_assert(harness_wait_log(&NA, "waits for the lease", 2, 30000),
	    "narad-a did not restart as a standby; see %s", NA.log);
	t = bup_connect(port_b, &c);
	/* a renewal of narad-b sets holder_pid again: right after it, its
	 * next renewal is 10 s away */
	pg_exec("UPDATE nara_lease SET holder_pid = 0");
	cr_assert(harness_wait(pg_true, renewed, 25000), "narad-b did not "
	    "renew; see %s", NB.log);
	pg_exec("BEGIN; DELETE FROM nara_lease; INSERT INTO nara_lease SELECT "
	    "* FROM lease_on_standby; UPDATE nara_lease SET renewed = "
	    "clock_timestamp(); COMMIT");
	cr_assert(harness_wait_log(&NA, "ha: active", 2, 5000), "narad-a did "
	    "not take the lease back; see %s", NA.log);
	cr_assert_eq(pg_long("SELECT epoch FROM nara_lease WHERE holder = "
	    "'narad-a'"), 2, "the epoch was not issued twice");
	env = bup_submit(&c);
	expect_not_accepted(&c, 1500, env, "narad-b, with the epoch narad-a "
	    "holds,");
	cr_expect(harness_wait_log(&NB, "stepping down, not serving", 1, 30000),
	    "narad-b did not step down; see %s", NB.log);
	tclient_close(&c);
	tls_tunnel_stop(&t);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit WHERE event = "
	    "'ha_takeover' AND detail LIKE 'instance narad-a epoch 2:%'"), 1);
	ha_expect_audit_intact(&NA);
}
