/*
 * itest_adapter_crash.c — both adapters killed with SIGKILL at random
 * moments while messages flow (hand-offs, submits, acks in progress), again
 * and again. In the end every message is in the receiving inbox exactly
 * once, nothing is left in the sending outbox, and every sent file has its
 * receipt.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "adapter_helpers.h"
#include "harness.h"

#define N_MSG 200
#define CYCLES 24

static struct harness h;
static struct tadapter gbg, bup;
static struct fixture *fx;

static void
setup(void)
{
	harness_init(&h, "ack_timeout = 5\n");
	harness_start(&h);
	tadapter_init(&gbg, T_GBG, h.router, NULL);
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

TestSuite(adapter_crash, .init = setup, .fini = teardown, .timeout = 400);

static unsigned
random_ms(unsigned max)
{
	unsigned r = 0;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	return r % max;
}

/* Every inbox file is complete JSON naming the message of its file name. */
static void
check_inbox_files(char ids[][37], int n)
{
	char path[700];
	int found = 0;

	for (int i = 0; i < n; i++) {
		json_t *o;
		snprintf(path, sizeof(path), "%s/inbox/%.36s.json", bup.spool, ids[i]);
		o = json_load_file(path, 0, NULL);
		cr_assert_not_null(o, "inbox file for %s missing or torn", ids[i]);
		cr_expect_str_eq(json_string_value(json_object_get(o, "message_id")),
		    ids[i]);
		json_decref(o);
		found++;
	}
	cr_expect_eq(found, n);
}

/* Kill the receiving adapter the moment a new file shows in its inbox:
 * between the rename and recording the hand-off, or between recording and
 * the ack reaching narad. */
static void
kill_at_next_file(int cycle)
{
	int before = spool_count(&bup, "inbox", ".json");

	for (int i = 0; i < 30000; i++) {
		if (spool_count(&bup, "inbox", ".json") > before) {
			kill(bup.pid, SIGKILL);
			return;
		}
		usleep(100);
	}
	/* nothing left to deliver in this cycle: an ordinary kill */
	(void)cycle;
}

Test(adapter_crash, kill9_during_handoff_no_loss_no_duplicate)
{
	char ids[N_MSG][37], name[64];
	Nara__Envelope *env;
	int next = 0;

	for (int cycle = 0; cycle < CYCLES; cycle++) {
		/* a few more messages each round, written while both may be dead */
		for (int k = 0; k < 8 && next < N_MSG; k++, next++) {
			env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
			    T_GBG_EH, T_BUP);
			snprintf(ids[next], sizeof(ids[next]), "%s", env->message_id);
			snprintf(name, sizeof(name), "m-%03d.json", next);
			spool_put_envelope(&gbg, name, env);
		}
		tadapter_start(&gbg);
		tadapter_start(&bup);
		if (cycle % 2 == 0)
			kill_at_next_file(cycle);
		else
			usleep((useconds_t)(100 + random_ms(700)) * 1000);
		cr_assert_eq(tadapter_stop(&bup, SIGKILL), -SIGKILL);
		usleep((useconds_t)random_ms(300) * 1000);
		cr_assert_eq(tadapter_stop(&gbg, SIGKILL), -SIGKILL);
	}
	for (; next < N_MSG; next++) {
		env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH,
		    T_BUP);
		snprintf(ids[next], sizeof(ids[next]), "%s", env->message_id);
		snprintf(name, sizeof(name), "m-%03d.json", next);
		spool_put_envelope(&gbg, name, env);
	}
	tadapter_start(&gbg);
	tadapter_start(&bup);
	for (int i = 0; i < N_MSG; i++) {
		snprintf(name, sizeof(name), "%.36s.json", ids[i]);
		cr_assert(spool_wait(&bup, "inbox", name, 60000),
		    "message %d (%s) lost; see %s", i, ids[i], bup.log);
		cr_assert(spool_wait(&gbg, "receipts", name, 60000),
		    "no receipt for message %d", i);
	}
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), N_MSG,
	    "inbox holds a file twice or a stranger");
	cr_expect_eq(spool_count(&bup, "inbox", ""), N_MSG, "stray files in inbox");
	cr_expect_eq(spool_count(&gbg, "sent", ".json"), N_MSG);
	cr_expect_eq(spool_count(&gbg, "outbox", ""), 0);
	cr_expect_eq(spool_count(&gbg, "rejected", ""), 0);
	check_inbox_files(ids, N_MSG);
	/* narad delivered each message once to the local system's view: the
	 * handed table has one row per id */
	char out[256];
	harness_run(out, sizeof(out), "sqlite3 %s \"select count(*), "
	    "count(distinct id) from handed where kind='message'\"", bup.state);
	cr_expect_eq(strncmp(out, "200|200", 7), 0, "%s", out);
}
