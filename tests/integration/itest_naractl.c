/*
 * itest_naractl.c — naractl's commands against a real narad: every --json
 * output parsed and checked field by field, the check command's exit
 * codes at each backlog threshold and for disconnected nodes, retry of a
 * dead letter made with a nack (one, or all of a node's) and the dead
 * letter list, reload through the control socket with its audit rows, and
 * usage errors. How naractl reaches narad and what the control socket
 * refuses are in itest_naractl_socket.c; metrics and certificate days in
 * itest_metrics.c.
 */
#include <signal.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"
#include "ops_helpers.h"
#include "tls_helpers.h"
#include "tunnel.h"
#include "validate.h"

TestSuite(naractl, .timeout = 180);

/* naractl --json nodes with Göteborg connected and 3 messages for BUP. */
static void
expect_nodes(json_t *nv)
{
	json_t *n;

	ops_expect_fields(nv, "now:t broker_id:s nodes:a");
	cr_assert_eq(json_array_size(json_object_get(nv, "nodes")), 4);
	for (size_t i = 0; i < 4; i++)
		ops_expect_fields(json_array_get(json_object_get(nv, "nodes"), i),
		    "id:s name:s kind:s connected:b connected_since:T last_seen:T "
		    "in_flight:i queued:i receipts_waiting:i oldest_age_seconds:I "
		    "cert_days_left:I");
	n = ops_node_of(nv, T_GBG);
	cr_expect(json_is_true(json_object_get(n, "connected")));
	ops_expect_fields(n, "connected_since:t last_seen:t");
	cr_expect_str_eq(json_string_value(json_object_get(n, "name")), "Göteborg");
	n = ops_node_of(nv, T_BUP);
	cr_expect(json_is_false(json_object_get(n, "connected")));
	cr_expect_eq(ops_jint(n, "queued"), 3);
	cr_expect(json_is_null(json_object_get(n, "cert_days_left")));
}

Test(naractl, status_and_nodes_json)
{
	struct fixture *fx = fixture_new();
	struct tclient gbg;
	char out[8192];
	json_t *st, *nv;

	ops_start(NULL);
	tclient_open(&gbg, &ops_h, T_GBG, 8);
	ops_submit_to_bup(&gbg, fx, 3, NULL);
	st = ops_ctl_json("status");
	ops_expect_fields(st, "version:s broker_id:s now:t started:t "
	    "uptime_seconds:i nodes_configured:i nodes_connected:i queued:i "
	    "in_flight:i oldest_queued_age_seconds:I dead_letters:i "
	    "receipts_waiting:i audit_rows:i store_bytes:i commit_latency:o "
	    "counters:o thresholds:o");
	cr_expect_eq(ops_jint(st, "nodes_configured"), 4);
	cr_expect_eq(ops_jint(st, "nodes_connected"), 1);
	cr_expect_eq(ops_jint(st, "queued"), 3);
	cr_expect_eq(ops_jint(st, "dead_letters"), 0);
	cr_expect_geq(ops_jint(st, "oldest_queued_age_seconds"), 0);
	cr_expect_gt(ops_jint(st, "store_bytes"), 0);
	ops_expect_fields(json_object_get(st, "commit_latency"),
	    "window_seconds:i commits:i samples:i p50_us:i p99_us:i");
	cr_expect_leq(ops_jint(json_object_get(st, "commit_latency"), "samples"),
	    ops_jint(json_object_get(st, "commit_latency"), "commits"));
	cr_expect_gt(ops_jint(json_object_get(st, "commit_latency"), "commits"), 0);
	cr_expect_leq(ops_jint(json_object_get(st, "commit_latency"), "p50_us"),
	    ops_jint(json_object_get(st, "commit_latency"), "p99_us"));
	ops_expect_fields(json_object_get(st, "counters"), "submits:i accepted:i "
	    "rejected:i duplicates:i delivered:i acked:i nacked:i expired:i "
	    "commits:i commit_failures:i");
	cr_expect_eq(ops_jint(json_object_get(st, "counters"), "accepted"), 3);
	ops_expect_fields(json_object_get(st, "thresholds"), "warn_age_seconds:i "
	    "crit_age_seconds:i warn_days:i crit_days:i");
	cr_expect_eq(ops_jint(json_object_get(st, "thresholds"), "crit_days"), 7);

	nv = ops_ctl_json("nodes");
	expect_nodes(nv);
	/* the human forms */
	cr_assert_eq(ops_ctl(out, sizeof(out), NULL, 0, "status"), 0);
	cr_expect(strstr(out, "1 of 4 connected") != NULL, "%s", out);
	cr_assert_eq(ops_ctl(out, sizeof(out), NULL, 0, "nodes"), 0);
	cr_expect(strstr(out, "NODE") != NULL && strstr(out, T_BUP) != NULL);
	json_decref(st);
	json_decref(nv);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

Test(naractl, queue_and_show_metadata_only)
{
	struct fixture *fx = fixture_new();
	char ids[2][37], out[4096], err[1024], args[128];
	struct tclient gbg;
	json_t *q, *m;
	size_t i;

	ops_start(NULL);
	tclient_open(&gbg, &ops_h, T_GBG, 8);
	ops_submit_to_bup(&gbg, fx, 2, ids);
	q = ops_ctl_json("queue " T_BUP);
	ops_expect_fields(q, "address:s count:i truncated:b messages:a");
	cr_assert_eq(ops_jint(q, "count"), 2);
	json_array_foreach(json_object_get(q, "messages"), i, m) {
		ops_expect_fields(m, "message_id:s conversation_id:S type:s "
		    "priority:i sender:s sender_node:s recipient:s "
		    "recipient_node:s created:t accepted_at:t expires:T done_at:T "
		    "attempts:i size:i payload_sha256:s identifies_child:b "
		    "payload_kept:b state:s dead_code:S dead_text:S");
		cr_expect_str_eq(json_string_value(json_object_get(m,
		    "message_id")), ids[i]);
		cr_expect_str_eq(json_string_value(json_object_get(m, "state")),
		    "queued");
		cr_expect_null(json_object_get(m, "payload"));
		cr_expect_null(json_object_get(m, "subject"));
		cr_expect_null(json_object_get(m, "personal_number"));
	}
	json_decref(q);
	q = ops_ctl_json("queue --limit 1 " T_BUP);
	cr_expect_eq(ops_jint(q, "count"), 1);
	cr_expect(json_is_true(json_object_get(q, "truncated")));
	json_decref(q);

	snprintf(args, sizeof(args), "show %s", ids[1]);
	m = ops_ctl_json(args);
	cr_expect_str_eq(json_string_value(json_object_get(m, "type")), "referral");
	cr_expect_str_eq(json_string_value(json_object_get(m, "sender")), T_GBG_EH);
	cr_expect(json_is_true(json_object_get(m, "payload_kept")));
	json_decref(m);
	cr_assert_eq(ops_ctl(out, sizeof(out), NULL, 0, "show %s", ids[1]), 0);
	cr_expect(strstr(out, "recipient_node") && strstr(out, T_BUP), "%s", out);

	/* unknown and malformed ids: exit 1 with the catalogue code */
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err),
	    "show 00000000-0000-4000-8000-000000000000"), 1);
	cr_expect(strstr(err, "NR019") != NULL, "%s", err);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "--json show nope"), 1);
	cr_expect(strstr(err, "NR011") != NULL, "%s", err);
	q = json_loads(out, 0, NULL);
	cr_assert(q != NULL, "--json error reply not printed: %s", out);
	cr_expect(json_is_false(json_object_get(q, "ok")));
	cr_expect_str_eq(json_string_value(json_object_get(q, "code")), "NR011");
	json_decref(q);
	cr_expect_eq(harness_log_count(&ops_h, "control: refused show"), 2);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

Test(naractl, retry_dead_letter_audited)
{
	struct fixture *fx = fixture_new();
	char ids[1][37], sql[256], args[128], out[2048], err[1024];
	struct tclient gbg, bup;
	Nara__Frame *d;
	json_t *r;

	ops_start(NULL);
	tclient_open(&gbg, &ops_h, T_GBG, 8);
	ops_submit_to_bup(&gbg, fx, 1, ids);
	tclient_open(&bup, &ops_h, T_BUP, 8);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
	cr_assert(d != NULL);
	cr_assert_str_eq(d->deliver->envelope->message_id, ids[0]);
	frame_free(&d);
	ops_send_nack(&bup, ids[0]);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE "
	    "message_id = '%s' AND state = 2", ids[0]);
	ops_wait_sql(sql, 1);
	r = ops_ctl_json("status");
	cr_expect_eq(ops_jint(r, "dead_letters"), 1);
	json_decref(r);

	snprintf(args, sizeof(args), "retry %s", ids[0]);
	r = ops_ctl_json(args);
	ops_expect_fields(r, "message_id:s recipient_node:s state:s");
	cr_expect_str_eq(json_string_value(json_object_get(r, "recipient_node")),
	    T_BUP);
	json_decref(r);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE event = "
	    "'retried' AND message_id = '%s'", ids[0]);
	cr_expect_eq(harness_sql_long(&ops_h, sql), 1);
	/* the row names the operator: the kernel's uid of naractl's process */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE event = "
	    "'retried' AND message_id = '%s' AND detail LIKE '%% by %s (uid "
	    "%u, pid %%)'", ids[0], getpwuid(getuid())->pw_name,
	    (unsigned)getuid());
	cr_expect_eq(harness_sql_long(&ops_h, sql), 1, "no operator in the "
	    "retried row");
	/* back in BUP's queue: delivered again */
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
	cr_assert(d != NULL, "retried message not delivered");
	cr_expect_str_eq(d->deliver->envelope->message_id, ids[0]);
	frame_free(&d);
	/* not a dead letter any more: refused with NR019 */
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "retry %s",
	    ids[0]), 1);
	cr_expect(strstr(err, "NR019") && strstr(err, "not a dead letter"),
	    "%s", err);
	cr_expect_eq(harness_log_count(&ops_h, "control: retry requested"), 2);
	tclient_close(&bup);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

Test(naractl, reload_audited_and_refused)
{
	char out[2048], err[1024], sql[256];
	FILE *f;
	json_t *r;

	ops_start(NULL);
	r = ops_ctl_json("reload");
	ops_expect_fields(r, "reloaded:b nodes:i");
	cr_expect_eq(ops_jint(r, "nodes"), 4);
	json_decref(r);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'control_reload'"), 1);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE event = "
	    "'control_reload' AND detail LIKE 'ipc://%% by %s (uid %u, pid %%)'",
	    getpwuid(getuid())->pw_name, (unsigned)getuid());
	cr_expect_eq(harness_sql_long(&ops_h, sql), 1, "no operator in the "
	    "control_reload row");
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'config_reloaded'"), 1);
	cr_assert_eq(ops_ctl(out, sizeof(out), NULL, 0, "reload"), 0);
	cr_expect(strstr(out, "configuration reloaded: 4 nodes"), "%s", out);

	/* a broken file: refused, the running config stays, audited */
	f = fopen(ops_h.conf, "a");
	fprintf(f, "\n[node broken]\nkind = planet\n");
	fclose(f);
	/* naractl -c reads only the control socket from it: narad refuses */
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 10 reload"),
	    1);
	cr_expect(strstr(err, "NR070") != NULL, "%s", err);
	ops_by_socket = true;
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "-t 10 reload"), 1);
	cr_expect(strstr(err, "NR070") != NULL, "%s", err);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'config_refused'"), 2);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'control_reload'"), 4);
	cr_expect_eq(ops_ctl(out, sizeof(out), NULL, 0, "status"), 0);
	cr_expect(strstr(out, "0 of 4 connected") != NULL, "%s", out);
	ops_by_socket = false;
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* A reload whose control_reload row cannot be written (here a trigger
 * refuses it, as a full or failing store would) does not happen: the
 * operator gets NR041, and no config_reloaded row appears without the
 * row naming them. Once the store takes rows again, reload works. */
Test(naractl, reload_refused_without_its_audit_row)
{
	char out[2048], err[1024];

	ops_start(NULL);
	harness_sql_exec(&ops_h, "CREATE TRIGGER refuse_control_reload BEFORE "
	    "INSERT ON audit WHEN NEW.event = 'control_reload' BEGIN SELECT "
	    "RAISE(ABORT, 'audit refused'); END");
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "reload"), 1,
	    "%s", out);
	cr_expect(strstr(err, "NR041") && strstr(err, "not reloaded"), "%s", err);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'config_reloaded'"), 0, "reloaded without its operator on "
	    "record");
	cr_expect_eq(harness_log_count(&ops_h, "control: refused reload"), 1);
	harness_sql_exec(&ops_h, "DROP TRIGGER refuse_control_reload");
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "reload"), 0,
	    "%s", err);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'control_reload'"), 1);
	cr_expect_eq(harness_sql_long(&ops_h, "SELECT count(*) FROM audit WHERE "
	    "event = 'config_reloaded'"), 1);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* narad's own status says the oldest queued message is at least 2 s old. */
static bool
backlog_two_seconds_old(void *arg)
{
	json_t *r = ops_ctl_json("status");
	json_t *age = json_object_get(r, "oldest_queued_age_seconds");
	bool old = json_is_integer(age) && json_integer_value(age) >= 2;

	json_decref(r);
	return old;
}

/* naractl check ARGS: its exit status; the line into out. */
Test(naractl, check_backlog_age_thresholds)
{
	struct fixture *fx = fixture_new();
	struct tclient gbg;
	char out[2048];
	json_t *j;

	/* config defaults: warn at 1 s, critical at 1 h */
	ops_start("check_warn_age = 1\ncheck_crit_age = 1h\n"
	    "check_disconnected_warn = 0\n");
	cr_expect_eq(ops_check(out, sizeof(out), ""), 0, "%s", out);
	cr_expect(strncmp(out, "NARA OK - ", 10) == 0, "%s", out);
	tclient_open(&gbg, &ops_h, T_GBG, 8);
	ops_submit_to_bup(&gbg, fx, 1, NULL);
	cr_assert(harness_wait(backlog_two_seconds_old, NULL, 20000),
	    "the backlog never aged to 2 s");
	cr_expect_eq(ops_check(out, sizeof(out), ""), 1, "%s", out);
	cr_expect(strncmp(out, "NARA WARNING - " T_BUP " backlog", 15 +
	    strlen(T_BUP) + 8) == 0, "%s", out);
	cr_expect(strstr(out, "| nodes=4 connected=1 queued=1 dead=0") != NULL,
	    "%s", out);
	/* flags override the config; a threshold equal to the age crosses it */
	cr_expect_eq(ops_check(out, sizeof(out), "--warn-age 1 --crit-age 2"), 2,
	    "%s", out);
	cr_expect(strncmp(out, "NARA CRITICAL - ", 16) == 0, "%s", out);
	cr_expect_eq(ops_check(out, sizeof(out), "--warn-age 1h --crit-age 2h"), 0,
	    "%s", out);
	cr_expect_eq(ops_check(out, sizeof(out), "--warn-age 2 --crit-age 1d"), 1,
	    "%s", out);
	/* --json: status, exit_code, message, problems */
	cr_assert_eq(ops_check(out, sizeof(out), "--json --warn-age 1 --crit-age 2"), 2);
	j = json_loads(out, 0, NULL);
	cr_assert(j != NULL, "%s", out);
	ops_expect_fields(j, "status:s exit_code:i message:s problems:a thresholds:o");
	cr_expect_str_eq(json_string_value(json_object_get(j, "status")),
	    "CRITICAL");
	cr_expect_eq(ops_jint(j, "exit_code"), 2);
	json_t *p = json_array_get(json_object_get(j, "problems"), 0);
	ops_expect_fields(p, "node:s what:s value:i threshold:i level:s");
	cr_expect_str_eq(json_string_value(json_object_get(p, "node")), T_BUP);
	cr_expect_geq(ops_jint(p, "value"), 2);
	cr_expect_eq(ops_jint(p, "threshold"), 2);
	json_decref(j);
	/* bad threshold values are usage errors: UNKNOWN, with its line */
	cr_expect_eq(ops_check(out, sizeof(out), "--warn-age soon"), 3);
	cr_expect(strncmp(out, "NARA UNKNOWN - bad command line", 31) == 0,
	    "%s", out);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

Test(naractl, usage_errors)
{
	char out[8192], bin[300];

	harness_bin("naractl", bin, sizeof(bin));
	cr_expect_eq(harness_run(out, sizeof(out), "%s --help", bin), 0);
	cr_expect(strstr(out, "usage: naractl") && strstr(out, "check"));
	cr_expect_eq(harness_run(out, sizeof(out), "%s frobnicate", bin), 2);
	cr_expect(strstr(out, "unknown command \"frobnicate\""), "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s show", bin), 2);
	cr_expect(strstr(out, "wrong number of arguments"), "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s --limit 0 queue x", bin), 2);
	cr_expect_eq(harness_run(out, sizeof(out), "%s -c /nonexistent/nara.conf "
	    "status", bin), 1);
	cr_expect_eq(harness_run(out, sizeof(out), "%s -c /nonexistent/nara.conf "
	    "check", bin), 3);
	cr_expect(strstr(out, "NARA UNKNOWN - /nonexistent/nara.conf: cannot "
	    "open") != NULL, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s check --bogus", bin), 3);
	cr_expect(strstr(out, "NARA UNKNOWN - bad command line") != NULL, "%s",
	    out);
}

Test(naractl, check_counts_disconnected_nodes)
{
	struct tclient gbg;
	char out[2048];
	json_t *j;

	ops_start(NULL);   /* default check_disconnected_warn = 1 */
	cr_expect_eq(ops_check(out, sizeof(out), ""), 1, "%s", out);
	cr_expect(strstr(out, "NARA WARNING - 4 of 4 nodes disconnected (") ==
	    out, "%s", out);
	cr_expect(strstr(out, T_BUP) != NULL, "%s", out);
	tclient_open(&gbg, &ops_h, T_GBG, 8);
	cr_expect_eq(ops_check(out, sizeof(out), ""), 1, "%s", out);
	cr_expect(strstr(out, "3 of 4 nodes disconnected") != NULL, "%s", out);
	cr_expect(strstr(out, T_GBG) == NULL, "%s", out);
	cr_expect_eq(ops_check(out, sizeof(out), "--disconnected-warn 4"), 0,
	    "%s", out);
	cr_expect_eq(ops_check(out, sizeof(out), "--disconnected-warn 0"), 0,
	    "%s", out);
	cr_assert_eq(ops_check(out, sizeof(out), "--json"), 1);
	j = json_loads(out, 0, NULL);
	cr_assert(j != NULL, "%s", out);
	cr_expect_eq(ops_jint(json_object_get(j, "thresholds"),
	    "disconnected_warn"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(j, "problems"), 0), "what")), "nodes disconnected");
	json_decref(j);
	tclient_close(&gbg);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

Test(naractl, queue_of_an_unknown_name_is_an_error)
{
	char out[4096], err[2048];

	ops_start(NULL);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "queue nosuch"),
	    2, "%s", err);
	cr_expect(strstr(err, "NR032") && strstr(err, "nosuch is neither a node "
	    "nor an address"), "%s", err);
	/* known names with nothing queued are fine */
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "queue "
	    T_BORAS_SOC), 0, "%s", err);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "queue "
	    T_BORAS), 0, "%s", err);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* Three referrals Göteborg -> BUP, each refused by BUP's local system:
 * three dead letters (ids), BUP still connected. */
static void
three_dead_letters(struct tclient *gbg, struct tclient *bup,
    struct fixture *fx, char (*ids)[37])
{
	Nara__Frame *d;

	ops_start(NULL);
	tclient_open(gbg, &ops_h, T_GBG, 8);
	ops_submit_to_bup(gbg, fx, 3, ids);
	tclient_open(bup, &ops_h, T_BUP, 8);
	for (int k = 0; k < 3; k++) {
		d = tclient_expect(bup, NARA__FRAME__KIND_DELIVER, 10000);
		cr_assert(d != NULL);
		ops_send_nack(bup, d->deliver->envelope->message_id);
		frame_free(&d);
	}
	ops_wait_sql("SELECT count(*) FROM messages WHERE state = 2", 3);
}

/* `dead` lists the three with the code and reason BUP sent, metadata
 * only; `dead NODE` filters by recipient and --limit cuts. */
static void
dead_lists(char (*ids)[37])
{
	char out[8192];
	int seen[3] = { 0 };
	json_t *r, *m;
	size_t i;

	r = ops_ctl_json("dead");
	cr_expect_eq(ops_jint(r, "total"), 3);
	cr_expect_eq(json_array_size(json_object_get(r, "dead_letters")), 3);
	json_array_foreach(json_object_get(r, "dead_letters"), i, m) {
		ops_expect_fields(m, "message_id:s type:s sender_node:s "
		    "recipient_node:s recipient:s code:s reason:s attempts:i "
		    "accepted_at:t dead_at:t payload_kept:b");
		cr_expect_str_eq(json_string_value(json_object_get(m, "code")),
		    "NR052");
		cr_expect_str_eq(json_string_value(json_object_get(m, "reason")),
		    "local system refused it");
		cr_expect_str_eq(json_string_value(json_object_get(m,
		    "recipient_node")), T_BUP);
		cr_expect(!json_object_get(m, "payload") &&
		    !json_object_get(m, "subject"));
		for (int k = 0; k < 3; k++)
			seen[k] += strcmp(json_string_value(json_object_get(m,
			    "message_id")), ids[k]) == 0;
	}
	cr_expect(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
	json_decref(r);
	r = ops_ctl_json("dead " T_BUP " --limit 2");
	cr_expect_eq(ops_jint(r, "total"), 3);
	cr_expect_eq(json_array_size(json_object_get(r, "dead_letters")), 2);
	cr_expect(json_is_true(json_object_get(r, "truncated")));
	json_decref(r);
	r = ops_ctl_json("dead " T_GBG);
	cr_expect_eq(ops_jint(r, "total"), 0);
	json_decref(r);
	cr_expect_eq(ops_ctl(out, sizeof(out), NULL, 0, "dead " T_BUP), 0);
	cr_expect(strstr(out, "3 dead letter(s) for " T_BUP "\n") &&
	    strstr(out, ids[0]) && strstr(out, "NR052"), "%s", out);
}

/* `dead` and `dead NODE` against three dead letters of BUP. */
Test(naractl, dead_letters_listed_with_code_and_reason)
{
	struct fixture *fx = fixture_new();
	struct tclient gbg, bup;
	char ids[3][37];

	three_dead_letters(&gbg, &bup, fx, ids);
	dead_lists(ids);
	tclient_close(&bup);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* `retry --node BUP --all` puts every dead letter back, each audited with
 * the operator, and BUP gets them again; --node and --all go together and
 * only with retry. */
Test(naractl, retry_all_of_a_node_audited)
{
	struct fixture *fx = fixture_new();
	char ids[3][37], sql[320], out[8192], err[2048];
	struct tclient gbg, bup;
	Nara__Frame *d;
	json_t *r;

	three_dead_letters(&gbg, &bup, fx, ids);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "retry --all"), 2);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err),
	    "retry %s --node %s --all", ids[0], T_BUP), 2);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err),
	    "dead --node %s", T_BUP), 2);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err),
	    "retry --node no-such-node --all"), 2);
	cr_expect(strstr(err, "NR004") != NULL, "%s", err);
	r = ops_ctl_json("retry --node " T_BUP " --all");
	cr_expect_eq(json_array_size(json_object_get(r, "retried")), 3);
	cr_expect_eq(json_array_size(json_object_get(r, "failed")), 0);
	json_decref(r);
	for (int k = 0; k < 3; k++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE "
		    "event = 'retried' AND message_id = '%s' AND detail LIKE "
		    "'%% by %s (uid %u, pid %%)'", ids[k],
		    getpwuid(getuid())->pw_name, (unsigned)getuid());
		cr_expect_eq(harness_sql_long(&ops_h, sql), 1, "%s", ids[k]);
		d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 10000);
		cr_assert(d != NULL, "retried message %d not delivered", k);
		frame_free(&d);
	}
	r = ops_ctl_json("dead " T_BUP);
	cr_expect_eq(ops_jint(r, "total"), 0);
	json_decref(r);
	cr_expect_eq(ops_ctl(out, sizeof(out), NULL, 0, "retry --node %s --all",
	    T_BUP), 0);
	cr_expect_str_eq(out, "0 dead letter(s) of " T_BUP " queued again\n");
	tclient_close(&bup);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}
