/*
 * itest_policy.c — the policy checked again when a queued message is
 * delivered: a reload that denies it, moves its recipient address to
 * another node, or removes the recipient's node, while the message waits
 * for its recipient. The message is not delivered; it becomes a dead
 * letter with NR031 or NR032, its sender gets a FAILED receipt with that
 * code, and the audit log says so (and has no "delivered" row for it).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "adapter_helpers.h"
#include "harness.h"
#include "wire.h"

static struct harness h;
static struct fixture *fx;

static void
setup(void)
{
	harness_init(&h, "ack_timeout = 5\n");
	harness_start(&h);
	fx = fixture_new();
}

static void
teardown(void)
{
	fixture_free(&fx);
	harness_cleanup(&h);
}

TestSuite(policy, .init = setup, .fini = teardown, .timeout = 60);

/* Replace the first "from" in narad's config with "to" and reload; waits
 * for the n-th config_reloaded row. */
static void
reload_with(const char *from, const char *to, int n)
{
	char *text = file_slurp(h.conf, NULL), *at;
	FILE *f;

	cr_assert_not_null(text);
	cr_assert_not_null(at = strstr(text, from), "%s not in the config",
	    from);
	cr_assert_not_null(f = fopen(h.conf, "w"));
	fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	fclose(f);
	free(text);
	cr_assert_eq(kill(h.pid, SIGHUP), 0);
	cr_assert(harness_wait_sql(&h, "SELECT count(*) FROM audit WHERE "
	    "event = 'config_reloaded'", n, 10000), "no reload; see %s", h.log);
}

/* A report of concern from BUP to recipient, accepted while its node is
 * away; its id into id. */
static void
queue_one(struct tclient *bup, const char *recipient, char id[37])
{
	Nara__Envelope *env = fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP, recipient);
	Nara__Frame *r = tclient_submit(bup, env);

	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED);
	frame_free(&r);
	snprintf(id, 37, "%s", env->message_id);
}

/* The sender's receipt for id: FAILED with code; the dead letter and its
 * audit row carry the code, and nothing was delivered. */
static void
expect_failed(struct tclient *bup, const char *id, const char *code)
{
	Nara__Frame *r = tclient_expect(bup, NARA__FRAME__KIND_RECEIPT, 15000);
	char sql[300];

	cr_assert_not_null(r, "no receipt for %s; see %s", id, h.log);
	cr_expect_str_eq(r->receipt->message_id, id);
	cr_expect_eq(r->receipt->outcome, NARA__OUTCOME__OUTCOME_FAILED);
	cr_expect_str_eq(r->receipt->code, code);
	frame_free(&r);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE "
	    "message_id = '%s' AND state = 2 AND dead_code = '%s'", id, code);
	cr_expect(harness_wait_sql(&h, sql, 1, 1000), "%s", sql);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE "
	    "message_id = '%s' AND event = 'dead_lettered' AND code = '%s'",
	    id, code);
	cr_expect(harness_wait_sql(&h, sql, 1, 1000), "%s", sql);
	snprintf(sql, sizeof(sql), "SELECT 1 - count(*) FROM audit WHERE "
	    "message_id = '%s' AND event = 'delivered'", id);
	cr_expect(harness_wait_sql(&h, sql, 1, 1000), "%s was delivered", id);
}

Test(policy, deny_rule_loaded_while_queued_stops_the_message)
{
	struct tclient bup, gbg;
	char id[37];

	tclient_open(&bup, &h, T_BUP, 16);
	queue_one(&bup, T_GBG_SOC, id);
	reload_with("\n[rule region-concern]", "\n[rule stop-1480]\n"
	    "senders = *\nrecipients = kommun:1480:*\neffect = deny\n"
	    "\n[rule region-concern]", 1);
	tclient_open(&gbg, &h, T_GBG, 16);
	expect_failed(&bup, id, "NR031");
	tclient_close(&gbg);
	tclient_close(&bup);
}

Test(policy, address_moved_while_queued_is_not_delivered_to_the_old_node)
{
	struct tclient bup, gbg;
	char id[37];

	tclient_open(&bup, &h, T_BUP, 16);
	queue_one(&bup, T_GBG_SOC, id);
	reload_with("addresses = " T_GBG_SOC ", ", "addresses = ", 1);
	reload_with("\n[rule ", "\n[node kommun-1480-soc]\nname = Göteborg "
	    "socialtjänst\naddresses = " T_GBG_SOC "\n\n[rule ", 2);
	tclient_open(&gbg, &h, T_GBG, 16);
	expect_failed(&bup, id, "NR032");
	cr_expect_eq(harness_wait_log(&h, "served by node kommun-1480-soc", 1,
	    1000), true);
	tclient_close(&gbg);
	tclient_close(&bup);
}

Test(policy, node_removed_while_queued_settles_its_queue)
{
	struct tclient bup;
	char id[37];

	tclient_open(&bup, &h, T_BUP, 16);
	queue_one(&bup, T_BORAS_SOC, id);
	reload_with("\n[node " T_BORAS "]\nname = Borås\naddresses = "
	    T_BORAS_SOC ", " T_BORAS_EH "\n", "", 1);
	expect_failed(&bup, id, "NR032");
	cr_expect(harness_wait_log(&h, "node " T_BORAS " is not configured", 1,
	    1000));
	tclient_close(&bup);
}
