/*
 * itest_pg.c — narad serving on the PostgreSQL backend end to end: a real
 * PostgreSQL server (pgserver.h), narad with its TLS front, two
 * nara-adapters with certificates from nara-pki. Traffic both ways: every
 * message in its recipient's inbox exactly once, a receipt for each, the
 * store's rows as they should be, and nara-audit verify -c (which opens
 * the same PostgreSQL store from [store]) finds the chain intact. Then the
 * database goes away under narad: submits are refused (retryable), nothing
 * the adapter holds is lost, and when the server is back narad reconnects
 * by itself and the waiting messages go through. naractl status tells
 * whether a synchronous standby confirms every commit.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "adapter_helpers.h"
#include "harness.h"
#include "ops_helpers.h"
#include "pgserver.h"
#include "tls_helpers.h"

#define N_MSGS 20

static struct pgserver pg, standby;
static struct harness h;
static struct tadapter gbg, bup;
static struct fixture *fx;
static char pki[64];
static int tls_port;

static void
tls_adapter(struct tadapter *a, const char *node)
{
	char extra[1024], broker[64];

	snprintf(broker, sizeof(broker), "127.0.0.1:%d", tls_port);
	snprintf(extra, sizeof(extra), "ca = %s/ca.pem\ncert = %s/%s.pem\n"
	    "key = %s/%s.key\n", pki, pki, node, pki, node);
	tadapter_init(a, node, broker, extra);
}

static void
setup(void)
{
	cr_assert_eq(pgserver_start(&pg, "nara"), 0, "no PostgreSQL server");
	tls_pki_make(pki, (const char *const[]){ T_GBG, T_BUP, NULL });
	tls_port = tls_free_port();
	fx = fixture_new();
}

/* narad's config with its store at conninfo; a short ack_timeout. */
static void
configure(const char *conninfo)
{
	char extra[2048];

	/* An ack that reached narad while the database was away is lost
	 * with its batch; the delivery comes again after ack_timeout. */
	snprintf(extra, sizeof(extra), "ack_timeout = 5\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\ncrl = %s/crl.pem\n"
	    "identity = san-uri\nhandshake_timeout = 2\n"
	    "runtime_dir = @RUNTIME_DIR@\n"
	    "[store]\nbackend = postgresql\npostgresql = %s\n", tls_port, pki,
	    pki, pki, pki, conninfo);
	harness_init(&h, extra);
	tls_conf_runtime_dir(&h);
	/* /metrics on a free port (ops_helpers.h reads ops_http_port) */
	ops_http_port = tls_free_port();
	snprintf(extra, sizeof(extra), "http_listen = 127.0.0.1:%d\n",
	    ops_http_port);
	ops_conf_replace(&h, "http_listen =\n", extra);
}

static bool
http_listening(void *arg)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)ops_http_port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	(void)arg;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void
teardown(void)
{
	char cmd[200];

	fixture_free(&fx);
	tadapter_cleanup(&gbg);
	tadapter_cleanup(&bup);
	harness_cleanup(&h);
	pgserver_cleanup(&standby);
	pgserver_cleanup(&pg);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(pg, .init = setup, .fini = teardown, .timeout = 240);

static long long
pg_long_at(const struct pgserver *s, const char *sql)
{
	long long v = -1;

	cr_assert_eq(pgserver_sql(s->conninfo, sql, &v), 0, "%s", sql);
	return v;
}

static long long
pg_long(const char *sql)
{
	return pg_long_at(&pg, sql);
}

static void
start_all(const char *conninfo)
{
	configure(conninfo);
	harness_start(&h);
	tls_wait_listening(tls_port, h.log);
	tls_adapter(&gbg, T_GBG);
	tls_adapter(&bup, T_BUP);
	tadapter_start(&gbg);
	tadapter_start(&bup);
}

/* Put n envelopes in from's outbox; their inbox names into names. */
static void
send_many(struct tadapter *from, int n, const char *sender,
    const char *recipient, char names[][64])
{
	char out[64];

	for (int i = 0; i < n; i++) {
		Nara__Envelope *env = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, sender, recipient);
		snprintf(names[i], 64, "%.36s.json", env->message_id);
		snprintf(out, sizeof(out), "out-%d.json", i);
		spool_put_envelope(from, out, env);
	}
}

/* Each named message in to's inbox and a receipt for each at from. */
static void
expect_delivered(struct tadapter *from, struct tadapter *to, int n,
    char names[][64])
{
	for (int i = 0; i < n; i++) {
		cr_assert(spool_wait(to, "inbox", names[i], 60000), "%s never "
		    "arrived; see %s and %s", names[i], from->log, h.log);
		cr_assert(spool_wait(from, "receipts", names[i], 60000),
		    "no receipt for %s", names[i]);
	}
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

/* The store's batches and round trips in /metrics: narad committed some
 * (its start is audited), each waited at least for its commit (its begin
 * may have come back with the commit before it: test_store_pg_batch). */
static void
expect_costs(const char *metrics)
{
	const char *b = strstr(metrics, "\nnara_store_batches_total ");
	const char *r = strstr(metrics, "\nnara_store_round_trips_total ");
	unsigned long long batches = 0, trips = 0;

	cr_assert(b != NULL && r != NULL, "no batch or round trip counter in "
	    "/metrics:\n%s", metrics);
	cr_assert_eq(sscanf(b, "\nnara_store_batches_total %llu", &batches), 1);
	cr_assert_eq(sscanf(r, "\nnara_store_round_trips_total %llu", &trips), 1);
	cr_expect_geq(batches, 1);
	cr_expect_geq(trips, batches, "%llu round trips for %llu batches",
	    trips, batches);
}

/* Traffic in bursts: batches found their begin answered with the commit
 * before them (/metrics). */
static void
expect_begun_ahead(void)
{
	char out[16384];
	const char *a;
	unsigned long long n = 0;

	cr_assert(harness_wait(http_listening, NULL, 10000), "no HTTP listener");
	cr_assert_eq(ops_http_get("GET", "/metrics", out, sizeof(out)), 200);
	a = strstr(out, "\nnara_store_batches_begun_ahead_total ");
	cr_assert(a != NULL && sscanf(a, "\nnara_store_batches_begun_ahead_"
	    "total %llu", &n) == 1, "no counter of batches begun ahead:\n%s",
	    out);
	cr_expect_geq(n, 1, "no batch began with the commit before it");
	a = strstr(out, "\nnara_store_commits_unwaited_total ");
	n = 0;
	cr_assert(a != NULL && sscanf(a, "\nnara_store_commits_unwaited_"
	    "total %llu", &n) == 1, "no counter of commits not waited for:\n%s",
	    out);
	cr_expect_geq(n, 1, "narad waited for every commit");
}

/* naractl status (text and --json) on the replication: standbys
 * synchronous standbys confirm every commit, or none and the warning. */
static void
expect_replication(int standbys)
{
	char out[8192], bin[300], want[120];
	json_t *j, *store;

	harness_bin("naractl", bin, sizeof(bin));
	cr_assert_eq(harness_run(out, sizeof(out), "%s -c %s status", bin,
	    h.conf), 0, "%s", out);
	if (standbys > 0)
		snprintf(want, sizeof(want), "replication   postgresql: %d "
		    "synchronous standby(s) confirm every commit", standbys);
	else
		snprintf(want, sizeof(want), "replication   postgresql: no "
		    "synchronous standby: a commit may be lost with the primary");
	cr_expect(strstr(out, want) != NULL, "want \"%s\" in:\n%s", want, out);
	cr_assert_eq(harness_run(out, sizeof(out), "%s -c %s --json status",
	    bin, h.conf), 0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert(j != NULL, "not JSON: %s", out);
	store = json_object_get(j, "store");
	cr_expect_str_eq(json_string_value(json_object_get(store, "backend")),
	    "postgresql");
	cr_expect_eq(json_integer_value(json_object_get(store, "sync_standbys")),
	    standbys);
	cr_expect(json_is_integer(json_object_get(store, "sync_standbys")));
	cr_expect(standbys > 0 ? json_is_null(json_object_get(store, "warning"))
	    : strstr(json_string_value(json_object_get(store, "warning")),
	    "may be lost with the primary") != NULL, "%s", out);
	json_decref(j);
	cr_assert(harness_wait(http_listening, NULL, 10000), "no HTTP listener");
	cr_assert_eq(ops_http_get("GET", "/metrics", out, sizeof(out)), 200);
	snprintf(want, sizeof(want), "\nnara_store_sync_standbys %d\n",
	    standbys);
	cr_expect(strstr(out, want) != NULL, "no %s in /metrics", want + 1);
	snprintf(want, sizeof(want), "\nnara_store_replication_ok %d\n",
	    standbys > 0);
	cr_expect(strstr(out, want) != NULL, "no %s in /metrics", want + 1);
	expect_costs(out);
}

/* A primary alone: narad warns in its log and naractl status says that
 * a commit may be lost with the primary. */
Test(pg, status_without_standby_says_commits_may_be_lost)
{
	configure(pg.conninfo);
	harness_start(&h);
	cr_expect(harness_wait_log(&h, "no synchronous standby", 1, 30000),
	    "no warning in the log; see %s", h.log);
	expect_replication(0);
	cr_expect_eq(harness_stop(&h, SIGTERM), 0);
}

/* narad hands its batch_max to the store at start and at a reload: a
 * batch of that many frames takes its seqs and receipt ids in one block
 * (test_store_pg_batch checks what the store does with it). */
Test(pg, batch_max_sets_the_id_blocks_at_start_and_reload)
{
	configure(pg.conninfo);
	harness_conf_replace(&h, "ack_timeout = 5\n",
	    "ack_timeout = 5\nbatch_max = 2000\n");
	harness_start(&h);
	cr_expect(harness_wait_log(&h, "receipt ids taken 2000 at a time", 1,
	    30000), "block not set at start; see %s", h.log);
	harness_conf_replace(&h, "batch_max = 2000\n", "batch_max = 700\n");
	cr_assert_eq(kill(h.pid, SIGHUP), 0);
	cr_expect(harness_wait_log(&h, "receipt ids taken 700 at a time", 1,
	    30000), "block not set at the reload; see %s", h.log);
	harness_conf_replace(&h, "batch_max = 700\n", "batch_max = 64\n");
	cr_assert_eq(kill(h.pid, SIGHUP), 0);
	cr_expect(harness_wait_log(&h, "receipt ids taken 512 at a time", 1,
	    30000), "block not back at its least; see %s", h.log);
	cr_expect_eq(harness_stop(&h, SIGTERM), 0);
}

Test(pg, traffic_exactly_once_with_receipts_and_intact_chain)
{
	char to_bup[N_MSGS][64], to_gbg[N_MSGS][64];

	start_all(pg.conninfo);
	send_many(&gbg, N_MSGS, T_GBG_EH, T_BUP, to_bup);
	send_many(&bup, N_MSGS, T_BUP, T_GBG_SOC, to_gbg);
	expect_delivered(&gbg, &bup, N_MSGS, to_bup);
	expect_delivered(&bup, &gbg, N_MSGS, to_gbg);
	/* exactly once: nothing more in either inbox */
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), N_MSGS);
	cr_expect_eq(spool_count(&gbg, "inbox", ".json"), N_MSGS);
	cr_expect_eq(pg_long("SELECT count(*) FROM messages"), 2 * N_MSGS);
	cr_expect_eq(pg_long("SELECT count(*) FROM audit WHERE event = "
	    "'received'"), 2 * N_MSGS);
	cr_expect_eq(pg_long("SELECT count(*) FROM messages WHERE payload IS "
	    "NOT NULL"), 0, "payloads kept after delivery");
	expect_begun_ahead();
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
	cr_expect_eq(harness_stop(&h, SIGTERM), 0);
	expect_audit_intact();
}

static bool
log_has_refusal(void *arg)
{
	(void)arg;
	return harness_log_count(&h, "NR041") > 0;
}

static bool
log_has_no_answer(void *arg)
{
	(void)arg;
	return harness_log_count(&h, "no answer from the database") > 0 ||
	    harness_log_count(&h, "NR041") > 0;
}

/* The server freezes (SIGSTOP: connections stay open, nothing answers):
 * narad's loop is not held for ever, submits are refused meanwhile, and
 * when the server runs again everything arrives once. */
Test(pg, frozen_database_is_given_up_then_service_resumes)
{
	char first[1][64], during[3][64];

	start_all(pg.conninfo);
	send_many(&gbg, 1, T_GBG_EH, T_BUP, first);
	expect_delivered(&gbg, &bup, 1, first);
	pgserver_freeze(&pg, true);
	send_many(&gbg, 3, T_GBG_EH, T_BUP, during);
	cr_expect(harness_wait(log_has_no_answer, NULL, 60000), "narad never "
	    "gave the frozen database up; see %s", h.log);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 1);
	pgserver_freeze(&pg, false);
	expect_delivered(&gbg, &bup, 3, during);
	cr_expect_geq(harness_log_count(&h, "no answer from the database"), 1);
	cr_expect_geq(harness_log_count(&h, "connected again"), 1);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 4);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
	cr_expect_eq(harness_stop(&h, SIGTERM), 0, "narad did not stop");
	expect_audit_intact();
}

/* narad -n connects and checks the tables: an empty database is one narad
 * will create them in; an unreachable server is NR041 and exit 1. */
Test(pg, check_only_connects_and_checks_the_schema)
{
	char out[4096], bin[300];

	configure(pg.conninfo);
	harness_bin("narad", bin, sizeof(bin));
	cr_expect_eq(harness_run(out, sizeof(out), "%s -n -c %s", bin, h.conf),
	    0, "%s", out);
	cr_expect(strstr(out, "store postgresql does not exist yet") != NULL,
	    "%s", out);
	harness_start(&h);
	cr_expect_eq(harness_stop(&h, SIGTERM), 0);
	cr_expect_eq(harness_run(out, sizeof(out), "%s -n -c %s", bin, h.conf),
	    0, "%s", out);
	cr_expect(strstr(out, "does not exist yet") == NULL, "%s", out);
	cr_assert_eq(pgserver_stop(&pg), 0);
	cr_expect_eq(harness_run(out, sizeof(out), "%s -n -c %s", bin, h.conf),
	    1, "%s", out);
	cr_expect(strstr(out, "NR041") != NULL, "%s", out);
}

Test(pg, database_down_refuses_then_service_resumes)
{
	char first[1][64], during[5][64];

	start_all(pg.conninfo);
	send_many(&gbg, 1, T_GBG_EH, T_BUP, first);
	expect_delivered(&gbg, &bup, 1, first);
	cr_assert_eq(pgserver_stop(&pg), 0);
	send_many(&gbg, 5, T_GBG_EH, T_BUP, during);
	cr_assert(harness_wait(log_has_refusal, NULL, 60000), "no NR041 while "
	    "the database is down; see %s", h.log);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 1);
	cr_assert_eq(pgserver_restart(&pg), 0);
	expect_delivered(&gbg, &bup, 5, during);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 6);
	cr_expect_eq(pg_long("SELECT count(*) FROM messages"), 6);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
	cr_expect_eq(harness_stop(&h, SIGTERM), 0);
	expect_audit_intact();
}

static bool
inbox_has_one(void *arg)
{
	return spool_count(arg, "inbox", ".json") > 0;
}

/* A primary with a synchronous standby: narad says so. kill -9 the primary
 * under traffic and promote the standby: narad (multi-host conninfo with
 * target_session_attrs=read-write) reconnects to the new primary by itself
 * and every message arrives exactly once, with the chain intact there;
 * the new primary has no synchronous standby, and narad warns about it. */
Test(pg, primary_killed_standby_promoted_nothing_lost)
{
	char conninfo[400], msgs[N_MSGS][64];

	cr_assert_eq(pgserver_standby(&pg, &standby), 0, "no standby");
	snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1,127.0.0.1 "
	    "port=%d,%d user=nara dbname=nara connect_timeout=5 "
	    "target_session_attrs=read-write", pg.port, standby.port);
	start_all(conninfo);
	cr_expect(harness_wait_log(&h, "1 synchronous standby(s) confirm every "
	    "commit", 1, 30000), "replication not reported; see %s", h.log);
	expect_replication(1);
	send_many(&gbg, N_MSGS, T_GBG_EH, T_BUP, msgs);
	cr_assert(harness_wait(inbox_has_one, &bup, 60000), "no traffic");
	pgserver_kill(&pg);
	cr_assert_eq(pgserver_promote(&standby), 0, "promote failed");
	expect_delivered(&gbg, &bup, N_MSGS, msgs);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), N_MSGS);
	/* the promoted server has no standby of its own: narad warns */
	cr_expect(harness_wait_log(&h, "no synchronous standby", 1, 30000),
	    "no warning about the missing standby; see %s", h.log);
	expect_replication(0);
	cr_expect_eq(pg_long_at(&standby, "SELECT count(*) FROM messages"),
	    N_MSGS);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
	cr_expect_eq(harness_stop(&h, SIGTERM), 0);
	expect_audit_intact();
}
