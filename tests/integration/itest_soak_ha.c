/*
 * itest_soak_ha.c — failovers at random under load: two narads with [ha]
 * on a PostgreSQL primary with a synchronous standby, two sending and two
 * receiving nara-adapters that know both narads. Each cycle drops a few
 * referrals into the senders' outboxes and then, picked at random: kills
 * -9 the active narad (and starts it again as a standby), freezes it
 * (SIGSTOP until the other one serves, then SIGCONT), has it step down, or
 * kills the database primary, promotes its standby and builds a new
 * standby on the old primary's port. Before the next cycle it waits until
 * exactly one narad serves. At the end every message dropped is in its
 * recipient's inbox exactly once with its receipt back at the sender,
 * nothing was rejected, and `nara-audit verify` finds one intact chain.
 *
 * The schedule is seeded; the seed is printed and NARA_SEED=N replays it.
 * NARA_SOAK=1 (make soak) runs SOAK_CYCLES instead of CYCLES.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "adapter_helpers.h"
#include "fixture.h"
#include "ha_helpers.h"
#include "harness.h"
#include "pgserver.h"
#include "tls_helpers.h"

#define CYCLES 4
#define SOAK_CYCLES 200
#define PER_CYCLE 3
#define MAX_MSGS (SOAK_CYCLES * PER_CYCLE + PER_CYCLE)
#define LEASE_S 2

static struct pgserver db[2];    /* db[primary] and the standby */
static int primary;
static struct hapair pair;
static struct tadapter ad[4];    /* two senders, two receivers */
static const char *const node[4] = { T_GBG, T_BORAS, T_BUP, T_PED };
static const char *const addr[4] = { T_GBG_EH, T_BORAS_EH, T_BUP, T_PED };
static struct fixture *fx;
static unsigned seed, seed0;
static int actions[4];
static char (*sent)[64];         /* inbox names of every message */
static int *sent_to;             /* its receiver (2 or 3) */
static int *sent_from;
static int n_sent;

static bool
soak_mode(void)
{
	const char *v = getenv("NARA_SOAK");

	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static unsigned
pick(unsigned n)
{
	return (unsigned)rand_r(&seed) % n;
}

static void
setup(void)
{
	const char *s = getenv("NARA_SEED");

	seed0 = s != NULL ? (unsigned)strtoul(s, NULL, 10)
	    : (unsigned)time(NULL) ^ (unsigned)getpid();
	seed = seed0;
	fprintf(stderr, "soak_ha: seed %u (replay with NARA_SEED=%u), %d "
	    "cycles\n", seed0, seed0, soak_mode() ? SOAK_CYCLES : CYCLES);
	cr_assert_eq(pgserver_start(&db[0], "nara"), 0, "no PostgreSQL");
	cr_assert_eq(pgserver_standby(&db[0], &db[1]), 0, "no standby");
	snprintf(pair.conninfo, sizeof(pair.conninfo), "host=127.0.0.1,"
	    "127.0.0.1 port=%d,%d user=nara dbname=nara connect_timeout=2 "
	    "target_session_attrs=read-write", db[0].port, db[1].port);
	tls_pki_make(pair.pki, (const char *const[]){ T_GBG, T_BORAS, T_BUP,
	    T_PED, NULL });
	hapair_configure(&pair, LEASE_S);
	ha_launch(&pair.n[0]);
	cr_assert(harness_wait_log(&pair.n[0], "ha: active", 1, 20000));
	ha_launch(&pair.n[1]);
	cr_assert(harness_wait_log(&pair.n[1], "waits for the lease", 1, 20000));
	for (int i = 0; i < 4; i++) {
		ha_adapter(&ad[i], &pair, node[i]);
		tadapter_start(&ad[i]);
	}
	fx = fixture_new();
	sent = calloc(MAX_MSGS, sizeof(*sent));
	sent_to = calloc(MAX_MSGS, sizeof(*sent_to));
	sent_from = calloc(MAX_MSGS, sizeof(*sent_from));
	cr_assert(sent != NULL && sent_to != NULL && sent_from != NULL);
}

static void
teardown(void)
{
	char cmd[200];

	for (int i = 0; i < 4; i++)
		tadapter_cleanup(&ad[i]);
	harness_cleanup(&pair.n[0]);
	harness_cleanup(&pair.n[1]);
	pgserver_cleanup(&db[0]);
	pgserver_cleanup(&db[1]);
	fixture_free(&fx);
	free(sent);
	free(sent_to);
	free(sent_from);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pair.pki);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(soak_ha, .init = setup, .fini = teardown, .timeout = 3600);

static void
drop_some(void)
{
	char out[64];

	for (int i = 0; i < PER_CYCLE && n_sent < MAX_MSGS; i++) {
		int from = (int)pick(2), to = 2 + (int)pick(2);
		Nara__Envelope *env = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, addr[from], addr[to]);

		snprintf(sent[n_sent], 64, "%.36s.json", env->message_id);
		sent_to[n_sent] = to;
		sent_from[n_sent] = from;
		snprintf(out, sizeof(out), "soak-%d.json", n_sent);
		spool_put_envelope(&ad[from], out, env);
		n_sent++;
	}
}

/* Which narad serves now (0 or 1), -1 when none or both do. */
static int
the_active(void)
{
	bool a = strcmp(ha_role(&pair.n[0]), "active") == 0;
	bool b = strcmp(ha_role(&pair.n[1]), "active") == 0;

	return a == b ? -1 : a ? 0 : 1;
}

static bool
one_active(void *arg)
{
	return the_active() >= 0;
}

static void
restart(struct harness *h)
{
	harness_stop(h, SIGKILL);
	ha_launch(h);
}

/* The database primary dies; its standby is promoted; a new standby is
 * built from it on the dead primary's port. */
static void
database_failover(void)
{
	int old = primary, port = db[old].port;

	pgserver_kill(&db[old]);
	cr_assert_eq(pgserver_promote(&db[1 - old]), 0, "promote failed");
	pgserver_cleanup(&db[old]);
	primary = 1 - old;
	cr_assert_eq(pgserver_standby_at(&db[primary], &db[old], port), 0,
	    "no new standby on port %d", port);
}

static void
chaos(int active)
{
	struct harness *h = &pair.n[active], *other = &pair.n[1 - active];
	char out[4096];
	int before = harness_log_count(other, "ha: active");
	int action = (int)pick(4);

	actions[action]++;
	switch (action) {
	case 0:
		restart(h);
		break;
	case 1:
		kill(h->pid, SIGSTOP);
		cr_assert(harness_wait_log(other, "ha: active", before + 1,
		    30000), "no takeover from a frozen narad; see %s",
		    other->log);
		kill(h->pid, SIGCONT);
		break;
	case 2:
		cr_assert_eq(ha_naractl(h, out, sizeof(out), "step-down"), 0,
		    "%s", out);
		break;
	default:
		database_failover();
		break;
	}
}

Test(soak_ha, random_failovers_lose_and_double_nothing)
{
	int cycles = soak_mode() ? SOAK_CYCLES : CYCLES, active;

	for (int c = 0; c < cycles; c++) {
		drop_some();
		cr_assert(harness_wait(one_active, NULL, 60000), "cycle %d: no "
		    "single active narad; see %s and %s", c, pair.n[0].log,
		    pair.n[1].log);
		chaos(active = the_active());
		(void)active;
	}
	cr_assert(harness_wait(one_active, NULL, 60000), "no single active "
	    "narad at the end");
	for (int i = 0; i < n_sent; i++) {
		cr_assert(spool_wait(&ad[sent_to[i]], "inbox", sent[i], 120000),
		    "%s never arrived (seed %u)", sent[i], seed0);
		cr_assert(spool_wait(&ad[sent_from[i]], "receipts", sent[i],
		    120000), "no receipt for %s (seed %u)", sent[i], seed0);
	}
	cr_expect_eq(spool_count(&ad[2], "inbox", ".json") +
	    spool_count(&ad[3], "inbox", ".json"), n_sent,
	    "not exactly once (seed %u)", seed0);
	cr_expect_eq(spool_count(&ad[0], "rejected", "") +
	    spool_count(&ad[1], "rejected", ""), 0, "rejected files");
	fprintf(stderr, "soak_ha: %d messages, %d cycles: %d kill -9, %d "
	    "SIGSTOP, %d step-down, %d database failovers\n", n_sent, cycles,
	    actions[0], actions[1], actions[2], actions[3]);
	for (int i = 0; i < 4; i++)
		tadapter_stop(&ad[i], SIGTERM);
	harness_stop(&pair.n[0], SIGTERM);
	harness_stop(&pair.n[1], SIGTERM);
	ha_expect_audit_intact(&pair.n[0]);
}
