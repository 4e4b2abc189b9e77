/*
 * itest_adapter.c — two nara-adapters with the spool backend through a real
 * narad: every message type end to end with receipts, bad and oversize
 * outbox files, the outbox draining in order after the broker was away,
 * new outbox files seen at once (inotify) and a burst of them sent once,
 * the status report and the configuration check.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "adapter_helpers.h"
#include "harness.h"
#include "pbjson.h"
#include "validate.h"

static struct harness h;
static struct tadapter gbg, bup;
static struct fixture *fx;

static void
setup(void)
{
	harness_init(&h, "ack_timeout = 5\n");
	harness_start(&h);
	tadapter_init(&gbg, T_GBG, h.router, "max_message_bytes = 64K\n");
	tadapter_init(&bup, T_BUP, h.router, NULL);
	fx = fixture_new();
}

static void
teardown(void)
{
	fixture_free(&fx);
	tadapter_cleanup(&gbg);
	tadapter_cleanup(&bup);
	harness_cleanup(&h);
}

TestSuite(adapter, .init = setup, .fini = teardown, .timeout = 120);

/* JSON member of a file, or "" (static buffer). */
static const char *
json_field(const char *path, const char *key)
{
	static char out[256];
	json_t *o = json_load_file(path, 0, NULL);
	json_t *v = o ? json_object_get(o, key) : NULL;

	out[0] = '\0';
	if (json_is_string(v))
		snprintf(out, sizeof(out), "%s", json_string_value(v));
	else if (json_is_boolean(v))
		snprintf(out, sizeof(out), "%s", json_is_true(v) ? "true" : "false");
	json_decref(o);
	return out;
}

/* Send one message from a to b's spool and check the whole path. */
static void
round_trip(struct tadapter *from, struct tadapter *to, Nara__MessageType type,
    const char *sender, const char *recipient, int n)
{
	Nara__Envelope *env = fixture_envelope(fx, type, sender, recipient);
	char name[64], id_json[64], path[700];

	snprintf(name, sizeof(name), "msg-%02d.json", n);
	snprintf(id_json, sizeof(id_json), "%s.json", env->message_id);
	spool_put_envelope(from, name, env);
	cr_assert(spool_wait(to, "inbox", id_json, 20000),
	    "%s never reached %s's inbox (see %s, %s)", message_type_name(type),
	    to->node, from->log, to->log);
	cr_assert(spool_wait(from, "sent", name, 10000), "%s not in sent/", name);
	cr_assert(spool_wait(from, "receipts", id_json, 20000),
	    "no receipt for %s", env->message_id);
	snprintf(path, sizeof(path), "%s/receipts/%s", from->spool, id_json);
	cr_expect_str_eq(json_field(path, "outcome"), "OUTCOME_DELIVERED");
	cr_expect_str_eq(json_field(path, "receiving_node"), to->node);
	snprintf(path, sizeof(path), "%s/inbox/%s", to->spool, id_json);
	cr_expect_str_eq(json_field(path, "message_id"), env->message_id);
	cr_expect_str_eq(json_field(path, "type"),
	    protobuf_c_enum_descriptor_get_value(&nara__message_type__descriptor,
	    type)->name);
}

Test(adapter, every_type_round_trip_with_receipts)
{
	static const struct {
		Nara__MessageType type;
		bool from_gbg;
		const char *sender, *recipient;
	} cases[] = {
		{ NARA__MESSAGE_TYPE__REFERRAL, true, T_GBG_EH, T_BUP },
		{ NARA__MESSAGE_TYPE__CONSULTATION_REQUEST, true, T_GBG_EH, T_BUP },
		{ NARA__MESSAGE_TYPE__SIP_INVITATION, true, T_GBG_EH, T_BUP },
		{ NARA__MESSAGE_TYPE__REFERRAL_RESPONSE, true, T_GBG_SOC, T_BUP },
		{ NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, false, T_BUP, T_GBG_SOC },
		{ NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE, false, T_BUP, T_GBG_EH },
		{ NARA__MESSAGE_TYPE__SIP_RESPONSE, false, T_BUP, T_GBG_EH },
	};
	char out[4096];

	tadapter_start(&gbg);
	tadapter_start(&bup);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		round_trip(cases[i].from_gbg ? &gbg : &bup,
		    cases[i].from_gbg ? &bup : &gbg, cases[i].type,
		    cases[i].sender, cases[i].recipient, (int)i);
	cr_expect_eq(spool_count(&gbg, "inbox", ".json"), 3);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 4);
	cr_expect_eq(spool_count(&gbg, "outbox", ""), 0);
	/* narad keeps no receipt waiting: every one was acked. */
	for (int i = 0; i < 100 && harness_sql_long(&h,
	    "select count(*) from receipts") > 0; i++)
		usleep(50000);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from receipts"), 0,
	    "receipts left unacked at narad");
	cr_assert_eq(adapter_run(out, sizeof(out), "status -c %s --json",
	    gbg.conf), 0, "%s", out);
	cr_expect(strstr(out, "\"outbox_depth\": 0") != NULL, "%s", out);
	cr_expect(strstr(out, "\"link\": \"up\"") != NULL, "%s", out);
	cr_expect(strstr(out, "\"delivered\": 4") != NULL, "%s", out);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
}

/* A bad file is refused with its code and never blocks the good one. */
static void
expect_rejected(const char *name, const char *code)
{
	char path[700];

	cr_assert(spool_wait(&gbg, "rejected", name, 10000), "%s not rejected",
	    name);
	snprintf(path, sizeof(path), "%s/rejected/%s.error.json", gbg.spool, name);
	cr_expect_str_eq(json_field(path, "code"), code, "%s", name);
	cr_expect_str_eq(json_field(path, "retryable"), "false", "%s", name);
	cr_expect_neq(strlen(json_field(path, "text")), 0);
}

Test(adapter, malformed_and_oversize_files_rejected_with_code)
{
	Nara__Envelope *env;
	char *big = malloc(100 * 1024);

	spool_put(&gbg, "a-not-json.json", "{ not json", 10);
	spool_put(&gbg, "b-garbage.pb", "\xff\xff\xff\xff", 4);
	spool_put(&gbg, "c-empty-object.json", "{}", 2);
	memset(big, ' ', 100 * 1024);
	big[0] = '{';
	big[100 * 1024 - 1] = '}';
	spool_put(&gbg, "d-oversize.json", big, 100 * 1024);
	free(big);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	env->subject->personal_number = (char *)"201403122381";
	spool_put_envelope(&gbg, "e-bad-pnr.json", env);
	/* not this node's address: only narad can tell */
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_BORAS_EH, T_BUP);
	spool_put_envelope(&gbg, "f-foreign-sender.json", env);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	spool_put_envelope(&gbg, "z-good.json", env);
	/* an encoded envelope is as good as JSON */
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__CONSULTATION_REQUEST,
	    T_GBG_EH, T_BUP);
	{
		uint8_t pb[8192];
		size_t n = nara__envelope__get_packed_size(env);
		cr_assert_lt(n, sizeof(pb));
		nara__envelope__pack(env, pb);
		spool_put(&gbg, "z-good.pb", pb, n);
	}
	tadapter_start(&gbg);
	expect_rejected("a-not-json.json", "NR024");
	expect_rejected("b-garbage.pb", "NR001");
	expect_rejected("c-empty-object.json", "NR010");
	expect_rejected("d-oversize.json", "NR020");
	expect_rejected("e-bad-pnr.json", "NR013");
	expect_rejected("f-foreign-sender.json", "NR030");
	cr_assert(spool_wait(&gbg, "sent", "z-good.json", 10000),
	    "the good file was blocked");
	cr_assert(spool_wait(&gbg, "sent", "z-good.pb", 10000),
	    "the encoded envelope was not sent");
	cr_expect_eq(spool_count(&gbg, "outbox", ""), 0);
	cr_expect_eq(tadapter_log_count(&gbg, "rejected: NR0"), 6);
}

/* Wait until the adapter's status says link state want. */
static void
wait_link(const struct tadapter *a, const char *want)
{
	char out[4096], needle[64];

	snprintf(needle, sizeof(needle), "\"link\": \"%s\"", want);
	for (int i = 0; i < 300; i++) {
		adapter_run(out, sizeof(out), "status -c %s --json", a->conf);
		if (strstr(out, needle) != NULL)
			return;
		usleep(50000);
	}
	cr_assert_fail("%s: link never %s: %s", a->node, want, out);
}

Test(adapter, outbox_drains_in_order_after_broker_outage)
{
	char ids[12][37], name[64], out[4096];
	Nara__Envelope *env;
	json_t *o;

	tadapter_start(&gbg);
	tadapter_start(&bup);
	wait_link(&gbg, "up");
	harness_stop(&h, SIGTERM);
	wait_link(&gbg, "down");
	for (int i = 0; i < 12; i++) {
		env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH,
		    T_BUP);
		snprintf(ids[i], sizeof(ids[i]), "%s", env->message_id);
		snprintf(name, sizeof(name), "out-%02d.json", i);
		spool_put_envelope(&gbg, name, env);
	}
	/* stored while the broker is away; status reports the backlog */
	for (int i = 0; i < 200; i++) {
		adapter_run(out, sizeof(out), "status -c %s --json", gbg.conf);
		if (strstr(out, "\"outbox_depth\": 12") != NULL)
			break;
		usleep(50000);
	}
	cr_assert(strstr(out, "\"outbox_depth\": 12") != NULL, "%s", out);
	cr_expect(strstr(out, "\"link\": \"down\"") != NULL, "%s", out);
	o = json_loads(out, 0, NULL);
	cr_expect_neq(strlen(json_string_value(json_object_get(o,
	    "oldest_unsent"))), 0);
	json_decref(o);
	/* all twelve wait in outbox/ while the link is down */
	cr_expect_eq(spool_count(&gbg, "outbox", ".json"), 12);
	harness_start(&h);
	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "%.36s.json", ids[i]);
		cr_assert(spool_wait(&bup, "inbox", name, 30000), "%d missing", i);
	}
	/* the receiving adapter handed them off in the order they were written */
	for (int i = 0; i < 12; i++) {
		char cmd[800];
		snprintf(cmd, sizeof(cmd), "sqlite3 %s \"select id from handed where "
		    "kind='message' order by seq limit 1 offset %d\"", bup.state, i);
		cr_assert_eq(harness_run(out, sizeof(out), "%s", cmd), 0, "%s", out);
		out[strcspn(out, "\n")] = '\0';
		cr_expect_str_eq(out, ids[i], "position %d", i);
	}
}

/* With the periodic scan an hour away, only the inotify watch can see new
 * files; a burst of them is stored, sent and handed off exactly once. */
Test(adapter, outbox_watched_without_waiting_for_a_scan)
{
	char ids[40][37], name[64];
	Nara__Envelope *env;
	FILE *f = fopen(gbg.conf, "a");

	cr_assert(f != NULL);
	fprintf(f, "scan_interval = 1h\n");       /* [spool] is the last section */
	fclose(f);
	tadapter_start(&gbg);
	tadapter_start(&bup);
	wait_link(&gbg, "up");
	cr_assert(tadapter_log_count(&gbg, "cannot watch") == 0);
	for (int i = 0; i < 40; i++) {
		env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH,
		    T_BUP);
		snprintf(ids[i], sizeof(ids[i]), "%s", env->message_id);
		snprintf(name, sizeof(name), "burst-%02d.json", i);
		spool_put_envelope(&gbg, name, env);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "burst-%02d.json", i);
		cr_assert(spool_wait(&gbg, "sent", name, 20000), "%s not sent "
		    "(see %s)", name, gbg.log);
		snprintf(name, sizeof(name), "%.36s.json", ids[i]);
		cr_assert(spool_wait(&bup, "inbox", name, 20000), "%d missing", i);
	}
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 40);
	cr_expect_eq(spool_count(&gbg, "outbox", ".json"), 0);
	cr_expect_eq(spool_count(&gbg, "rejected", ".json"), 0);
}

Test(adapter, config_check)
{
	char out[4096], path[600];
	FILE *f;

	cr_expect_eq(adapter_run(out, sizeof(out), "-n -c %s", gbg.conf), 0,
	    "%s", out);
	cr_expect(strstr(out, "configuration ok") != NULL, "%s", out);
	snprintf(path, sizeof(path), "%s/bad.conf", gbg.dir);
	f = fopen(path, "w");
	fprintf(f, "[adapter]\nnode_id = kommun 1480\nbroker = ipc:///x\n"
	    "tls = no\ncredit_window = 0\nbackend = ftp\n");
	fclose(f);
	cr_expect_eq(adapter_run(out, sizeof(out), "-n -c %s", path), 1, "%s", out);
	cr_expect(strstr(out, "bad.conf:2: [adapter] node_id") != NULL, "%s", out);
	cr_expect(strstr(out, "bad.conf:5: [adapter] credit_window") != NULL,
	    "%s", out);
	cr_expect(strstr(out, "bad.conf:6: [adapter] backend") != NULL, "%s", out);
	/* the shipped example is a valid file */
	cr_expect_eq(adapter_run(out, sizeof(out), "-n -c %s/config/"
	    "adapter.conf.example", getenv("NARA_TOP") ? getenv("NARA_TOP") : "."),
	    0, "%s", out);
	cr_expect_eq(adapter_run(out, sizeof(out), "--help"), 0);
	cr_expect(strstr(out, "usage: nara-adapter") != NULL, "%s", out);
	cr_expect_eq(adapter_run(out, sizeof(out), "status"), 2);
}

Test(adapter, retryable_rejection_retried_with_backoff)
{
	Nara__Envelope *env;
	char name[64], out[4096];

	/* narad's store is "full": every submit gets NR040 (retryable) */
	harness_stop(&h, SIGTERM);
	harness_conf_replace(&h, "ack_timeout = 5\n",
	    "ack_timeout = 5\nstore_max_bytes = 1\n");
	harness_start(&h);
	tadapter_start(&gbg);
	tadapter_start(&bup);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(name, sizeof(name), "%.36s.json", env->message_id);
	spool_put_envelope(&gbg, "full.json", env);
	for (int i = 0; i < 200 && tadapter_log_count(&gbg,
	    "for now: NR040") < 3; i++)
		usleep(50000);
	cr_assert_geq(tadapter_log_count(&gbg, "for now: NR040"), 3,
	    "NR040 not retried; see %s", gbg.log);
	cr_expect_eq(tadapter_log_count(&gbg, "retrying in 1s"), 1);
	cr_expect_geq(tadapter_log_count(&gbg, "retrying in 2s"), 2);
	cr_expect_eq(spool_count(&gbg, "rejected", ""), 0);
	cr_assert_eq(adapter_run(out, sizeof(out), "status -c %s", gbg.conf), 0);
	cr_expect(strstr(out, "outbox depth:   1") != NULL, "%s", out);
	/* room again: the same message goes through */
	harness_stop(&h, SIGTERM);
	harness_conf_replace(&h, "store_max_bytes = 1\n", "");
	harness_start(&h);
	cr_assert(spool_wait(&bup, "inbox", name, 30000), "never delivered");
	cr_assert(spool_wait(&gbg, "sent", "full.json", 10000));
}

/* A stored message larger than narad takes (narad's max_message_bytes is
 * below the adapter's) is rejected with NR020 by the adapter once it knows
 * narad's limit, and does not hold up the node. (It was submitted: its
 * frame ended the connection, and the same submit followed every
 * reconnect.) */
Test(adapter, message_larger_than_narad_takes_rejected_without_blocking)
{
	Nara__Envelope *big, *small;
	Nara__Referral referral;
	char text[20000], name[64];

	harness_stop(&h, SIGTERM);
	harness_conf_replace(&h, "ack_timeout = 5\n", "ack_timeout = 5\n"
	    "max_message_bytes = 4K\n");
	harness_start(&h);
	tadapter_start(&bup);
	big = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	referral = *big->referral;
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	referral.background = text;
	big->referral = &referral;
	spool_put_envelope(&gbg, "a-big.json", big);
	small = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH,
	    T_BUP);
	snprintf(name, sizeof(name), "%.36s.json", small->message_id);
	spool_put_envelope(&gbg, "b-small.json", small);
	tadapter_start(&gbg);
	expect_rejected("a-big.json", "NR020");
	cr_assert(spool_wait(&bup, "inbox", name, 20000), "the small message "
	    "behind the big one was not delivered; see %s", gbg.log);
	cr_assert(spool_wait(&gbg, "sent", "b-small.json", 10000));
	cr_expect_eq(tadapter_log_count(&gbg, "link to narad up"), 1,
	    "the link went down and up again; see %s", gbg.log);
}

Test(adapter, sighup_reloads_and_keeps_running)
{
	FILE *f;

	tadapter_start(&gbg);
	for (int i = 0; i < 200 && tadapter_log_count(&gbg, "ready") == 0; i++)
		usleep(20000);
	kill(gbg.pid, SIGHUP);
	for (int i = 0; i < 200 && tadapter_log_count(&gbg,
	    "configuration reloaded") == 0; i++)
		usleep(20000);
	cr_expect_eq(tadapter_log_count(&gbg, "configuration reloaded"), 1);
	/* a broken file is refused and the adapter goes on */
	f = fopen(gbg.conf, "a");
	fprintf(f, "[adapter]\nnode_id = x\n");
	fclose(f);
	kill(gbg.pid, SIGHUP);
	for (int i = 0; i < 200 && tadapter_log_count(&gbg,
	    "reload refused") == 0; i++)
		usleep(20000);
	cr_expect_eq(tadapter_log_count(&gbg, "reload refused"), 1);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
}

/* An adapter that asks for a larger credit window than narad's max_credit
 * (1000; the adapter takes up to 1024) learns from the Welcome what it got
 * and says so. */
Test(adapter, window_above_max_credit_is_reported)
{
	struct tadapter big;

	tadapter_init(&big, T_BUP, h.router, "credit_window = 1024\n");
	tadapter_start(&big);
	cr_expect(tadapter_wait_log(&big, "narad keeps a credit window of 1000, "
	    "not the 1024 of credit_window", 1, 10000), "no warning; see %s",
	    big.log);
	cr_expect_eq(tadapter_log_count(&big, "credit window 1000"), 1);
	cr_expect_eq(tadapter_stop(&big, SIGTERM), 0);
	tadapter_cleanup(&big);
	/* as asked: no warning */
	tadapter_start(&gbg);
	cr_expect(tadapter_wait_log(&gbg, "credit window 16", 1, 10000),
	    "see %s", gbg.log);
	cr_expect_eq(tadapter_log_count(&gbg, "narad keeps"), 0);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
}

/* narad's accepted lost (as in a narad crash; NARA_TEST_DROP_ACCEPTED drops
 * it in the adapter) and the receipt comes first: the file still moves out
 * of outbox/. */
Test(adapter, receipt_before_accepted_moves_file_to_sent)
{
	Nara__Envelope *env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	char id_json[64];

	snprintf(id_json, sizeof(id_json), "%s.json", env->message_id);
	setenv("NARA_TEST_DROP_ACCEPTED", "1", 1);
	tadapter_start(&gbg);
	unsetenv("NARA_TEST_DROP_ACCEPTED");
	tadapter_start(&bup);
	spool_put_envelope(&gbg, "lost-accepted.json", env);
	cr_assert(spool_wait(&gbg, "receipts", id_json, 20000), "no receipt");
	cr_expect_eq(tadapter_log_count(&gbg, "test: narad's accepted for"), 1);
	cr_expect(spool_wait(&gbg, "sent", "lost-accepted.json", 5000),
	    "delivered file left in outbox/");
	cr_expect_eq(spool_count(&gbg, "outbox", ""), 0);
}

/* The id of a message narad has accepted, used again with other content:
 * refused with NR033 (the same content again stays harmless). */
Test(adapter, reused_id_after_acceptance_rejected)
{
	Nara__Envelope *env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	char path[700];

	tadapter_start(&gbg);
	tadapter_start(&bup);
	spool_put_envelope(&gbg, "first.json", env);
	cr_assert(spool_wait(&gbg, "sent", "first.json", 20000));
	spool_put_envelope(&gbg, "again.json", env);
	cr_assert(spool_wait(&gbg, "sent", "again.json", 20000));
	env->referral->reason = (char *)"another reason";
	spool_put_envelope(&gbg, "other.json", env);
	cr_assert(spool_wait(&gbg, "rejected", "other.json.error.json", 20000),
	    "other content under a used id was not refused");
	snprintf(path, sizeof(path), "%s/rejected/other.json.error.json",
	    gbg.spool);
	cr_expect_str_eq(json_field(path, "code"), "NR033");
	cr_expect(spool_wait(&gbg, "rejected", "other.json", 1000));
	cr_expect_eq(spool_count(&gbg, "sent", ".json"), 2);
}

/* status reads the truth: a killed adapter is not running and its link is
 * down whatever the state file last said; files waiting in inbox/ show. */
Test(adapter, status_after_kill9_tells_the_truth)
{
	Nara__Envelope *env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	char out[4096], id_json[64];
	json_t *o;

	snprintf(id_json, sizeof(id_json), "%s.json", env->message_id);
	tadapter_start(&gbg);
	tadapter_start(&bup);
	spool_put_envelope(&gbg, "m.json", env);
	cr_assert(spool_wait(&bup, "inbox", id_json, 20000));
	wait_link(&bup, "up");
	cr_assert_eq(adapter_run(out, sizeof(out), "status -c %s", bup.conf), 0);
	cr_expect(strstr(out, "adapter:        running (pid ") != NULL, "%s", out);
	cr_expect(strstr(out, "waiting:        1 messages in inbox/") != NULL,
	    "%s", out);
	cr_expect(strstr(out, "local system:   ok") != NULL, "%s", out);
	cr_assert_eq(tadapter_stop(&bup, SIGKILL), -SIGKILL);
	cr_assert_eq(adapter_run(out, sizeof(out), "status -c %s", bup.conf), 0);
	cr_expect(strstr(out, "adapter:        not running") != NULL, "%s", out);
	cr_expect(strstr(out, "link:           down (adapter not running)\n") !=
	    NULL, "%s", out);
	cr_expect(strstr(out, "up since") == NULL, "%s", out);
	cr_assert_eq(adapter_run(out, sizeof(out), "status -c %s --json",
	    bup.conf), 0);
	o = json_loads(out, 0, NULL);
	cr_expect(json_is_false(json_object_get(o, "running")), "%s", out);
	cr_expect_str_eq(json_string_value(json_object_get(o, "link")), "down");
	cr_expect_eq(json_integer_value(json_object_get(o, "waiting_messages")), 1);
	json_decref(o);
	/* a second adapter on the same state file is refused */
	tadapter_start(&bup);
	wait_link(&bup, "up");
	cr_expect_neq(adapter_run(out, sizeof(out), "-c %s", bup.conf), 0);
	cr_expect(strstr(out, "another nara-adapter runs") != NULL, "%s", out);
}
