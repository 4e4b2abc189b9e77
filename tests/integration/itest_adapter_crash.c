/*
 * itest_adapter_crash.c — both adapters killed with SIGKILL again and again
 * while messages flow, the receiving one aimed at the two windows of a
 * hand-off (NARA_TEST_HANDOFF_STOP makes it stop itself there): after its
 * intent is committed but before the file is renamed into inbox/, and after
 * the rename but before the outcome is recorded. The test plays the local
 * system and takes every inbox file away at once (also while the adapter
 * sits in the window), so a second hand-off of one message would be seen.
 * In the end every message was taken exactly once, nothing is left in the
 * sending outbox, and every sent file has its receipt. And one hand-off
 * whose rename fails, killed right after: the message still arrives once;
 * and one whose outcome cannot be recorded for a while: shown once.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "adapter_helpers.h"
#include "harness.h"

#define N_MSG 240
#define CYCLES 36

static struct harness h;
static struct tadapter gbg, bup;
static struct fixture *fx;
static char taken_dir[400];       /* where the "local system" puts files */

static void
setup(void)
{
	harness_init(&h, "ack_timeout = 5\n");
	harness_start(&h);
	tadapter_init(&gbg, T_GBG, h.router, NULL);
	tadapter_init(&bup, T_BUP, h.router, NULL);
	snprintf(taken_dir, sizeof(taken_dir), "%s/taken", bup.dir);
	cr_assert_eq(mkdir(taken_dir, 0750), 0);
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

/* What the local system took from inbox/: how often each message. */
static int taken[N_MSG], strays;

static int
index_of(char ids[][37], const char *name)
{
	for (int i = 0; i < N_MSG; i++)
		if (strncmp(ids[i], name, 36) == 0)
			return i;
	return -1;
}

/* Play the local system: check each inbox file is complete JSON naming its
 * message, and take it away (into DIR/taken/, one name per take). */
static void
take_inbox(char ids[][37])
{
	char dir[400], from[700], to[800];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/inbox", bup.spool);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int i;
		json_t *o;

		if (e->d_name[0] == '.')
			continue;
		snprintf(from, sizeof(from), "%s/%s", dir, e->d_name);
		if ((i = index_of(ids, e->d_name)) < 0) {
			strays++;
			continue;
		}
		o = json_load_file(from, 0, NULL);
		cr_expect_not_null(o, "inbox file %s torn", e->d_name);
		cr_expect_str_eq(json_string_value(json_object_get(o,
		    "message_id")), ids[i]);
		json_decref(o);
		snprintf(to, sizeof(to), "%s/%s.%d", taken_dir, e->d_name,
		    taken[i]);
		cr_assert_eq(rename(from, to), 0, "take %s", from);
		taken[i]++;
	}
	closedir(d);
}

/* The adapter (pid) has stopped itself at its test stop point. */
static bool
adapter_stopped(void *arg)
{
	pid_t pid = *(pid_t *)arg;
	int st;
	pid_t r = waitpid(pid, &st, WUNTRACED | WNOHANG);

	cr_assert_geq(r, 0, "adapter gone");
	if (r == pid && WIFSTOPPED(st))
		return true;
	cr_assert(r == 0, "adapter ended on its own");
	return false;
}

static bool
wait_stopped(pid_t pid, int timeout_ms)
{
	return harness_wait(adapter_stopped, &pid, timeout_ms);
}

/* Start the receiving adapter so that it stops in the window point, take
 * what it put into inbox/ meanwhile, and kill it there. 1 when it was
 * killed in the window, 0 when nothing came to hand off. */
static int
kill_in_window(const char *point, char ids[][37])
{
	bool hit;

	setenv("NARA_TEST_HANDOFF_STOP", point, 1);
	tadapter_start(&bup);
	unsetenv("NARA_TEST_HANDOFF_STOP");
	hit = wait_stopped(bup.pid, 8000);
	take_inbox(ids);
	cr_assert_eq(tadapter_stop(&bup, SIGKILL), -SIGKILL);
	return hit;
}

static void
put_message(char ids[][37], int i)
{
	Nara__Envelope *env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	char name[64];

	snprintf(ids[i], 37, "%s", env->message_id);
	snprintf(name, sizeof(name), "m-%03d.json", i);
	spool_put_envelope(&gbg, name, env);
}

/* Take what the inbox holds; true once every message was taken. */
static bool
took_everything(void *ids)
{
	int once = 0;

	take_inbox(ids);
	for (int i = 0; i < N_MSG; i++)
		once += taken[i] > 0;
	return once == N_MSG;
}

/* Take what comes until every message was taken (or timeout_ms). */
static void
take_all(char ids[][37], int timeout_ms)
{
	harness_wait(took_everything, ids, timeout_ms);
}

/* The receiving adapter logged one more "link up" than *ups. */
static bool
bup_up_again(void *ups)
{
	return tadapter_log_count(&bup, "link to narad up") != *(int *)ups;
}

Test(adapter_crash, kill9_in_handoff_window_exactly_once)
{
	static char ids[N_MSG][37];
	int next = 0, hits_intent = 0, hits_rename = 0, rc, ups;
	char name[64], out[256];

	for (int cycle = 0; cycle < CYCLES; cycle++) {
		/* a few more messages each round, written while both are dead */
		for (int k = 0; k < 8 && next < N_MSG; k++)
			put_message(ids, next++);
		tadapter_start(&gbg);
		if (cycle % 3 == 0) {
			hits_rename += kill_in_window("rename", ids);
		} else if (cycle % 3 == 1) {
			hits_intent += kill_in_window("intent", ids);
		} else {
			tadapter_start(&bup);
			usleep((useconds_t)(100 + random_ms(700)) * 1000);
			take_inbox(ids);
			cr_assert_eq(tadapter_stop(&bup, SIGKILL), -SIGKILL);
		}
		usleep((useconds_t)random_ms(300) * 1000);
		cr_assert_eq(tadapter_stop(&gbg, SIGKILL), -SIGKILL);
	}
	while (next < N_MSG)
		put_message(ids, next++);
	ups = tadapter_log_count(&bup, "link to narad up");
	tadapter_start(&gbg);
	tadapter_start(&bup);
	take_all(ids, 90000);
	for (int i = 0; i < N_MSG; i++) {
		snprintf(name, sizeof(name), "%.36s.json", ids[i]);
		cr_assert(spool_wait(&gbg, "receipts", name, 60000),
		    "no receipt for message %d", i);
	}
	/* up: it has seen what narad delivers again; a late second hand-off
	 * would show now */
	harness_wait(bup_up_again, &ups, 10000);
	rc = tadapter_stop(&bup, SIGTERM);
	cr_assert_eq(rc, 0, "adapter stopped with %d; see %s", rc, bup.log);
	take_inbox(ids);
	fprintf(stderr, "adapter_crash: %d kills after the intent, %d after "
	    "the rename, of %d cycles\n", hits_intent, hits_rename, CYCLES);
	cr_expect_geq(hits_rename, 1, "no kill landed between rename and record");
	cr_expect_geq(hits_intent, 1, "no kill landed between intent and rename");
	for (int i = 0; i < N_MSG; i++)
		cr_expect_eq(taken[i], 1, "message %d (%s) taken %d times; see %s",
		    i, ids[i], taken[i], bup.log);
	cr_expect_eq(strays, 0, "strangers in inbox");
	cr_expect_eq(spool_count(&bup, "inbox", ""), 0, "stray files in inbox");
	cr_expect_eq(spool_count(&gbg, "sent", ".json"), N_MSG);
	cr_expect_eq(spool_count(&gbg, "outbox", ""), 0);
	cr_expect_eq(spool_count(&gbg, "rejected", ""), 0);
	harness_run(out, sizeof(out), "sqlite3 %s \"select count(*), "
	    "count(distinct id) from handed where kind='message' and "
	    "outcome='handed'\"", bup.state);
	cr_expect_eq(strncmp(out, "240|240", 7), 0, "%s", out);
}

/* The rename into inbox/ fails (a directory of the message file's name
 * stands in the way) and the adapter is killed right after it logged the
 * failure (NARA_TEST_HANDOFF_STOP=rename_failed). The hand-off must not be
 * lost: the temporary file stays until the intent is forgotten, so the
 * next start finishes the hand-off, once. (The adapter removed the file
 * before forgetting the intent: killed between the two, its next start
 * took the intent without a file for a finished hand-off and acked
 * narad's redelivery without writing anything.) */
Test(adapter_crash, a_failed_rename_loses_nothing)
{
	Nara__Envelope *env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	char block[400], name[64], cmd[1000], out[256];

	snprintf(name, sizeof(name), "%s.json", env->message_id);
	snprintf(block, sizeof(block), "%s/inbox/%s", bup.spool, name);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && touch %s/x", block, block);
	cr_assert_eq(system(cmd), 0);
	setenv("NARA_TEST_HANDOFF_STOP", "rename_failed", 1);
	tadapter_start(&bup);
	unsetenv("NARA_TEST_HANDOFF_STOP");
	spool_put_envelope(&gbg, "m-rename.json", env);
	tadapter_start(&gbg);
	cr_assert(wait_stopped(bup.pid, 30000), "the adapter did not stop "
	    "after a failed rename; see %s", bup.log);
	cr_assert_eq(tadapter_stop(&bup, SIGKILL), -SIGKILL);
	snprintf(cmd, sizeof(cmd), "rm -r %s", block);
	cr_assert_eq(system(cmd), 0);
	tadapter_start(&bup);
	cr_expect(spool_wait(&bup, "inbox", name, 30000), "the message never "
	    "reached inbox/; see %s", bup.log);
	cr_expect_eq(spool_count(&bup, "inbox", ".json"), 1);
	cr_assert_eq(tadapter_stop(&bup, SIGTERM), 0);
	harness_run(out, sizeof(out), "sqlite3 %s \"select count(*) from handed "
	    "where kind='message' and outcome='handed'\"", bup.state);
	cr_expect_eq(atoi(out), 1, "%s", out);
}

/* The adapter's log has a line containing the needle (arg). */
static bool
bup_logged(void *needle)
{
	return tadapter_log_count(&bup, needle) > 0;
}

static bool
receipt_or_second_file(void *name)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/receipts/%s", gbg.spool,
	    (const char *)name);
	return access(path, F_OK) == 0 || spool_count(&bup, "inbox", "") > 0;
}

/* A hand-off whose outcome cannot be recorded (another process holds the
 * state database's write lock past the busy timeout) is recorded later,
 * and narad's redelivery meanwhile is not shown a second time. (It was
 * given up: the redelivery found the intent open and renamed the message
 * into inbox/ again, after the local system had taken the first file.) */
Test(adapter_crash, an_unrecorded_hand_off_is_not_shown_twice)
{
	Nara__Envelope *env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	char name[64], from[700], to[800], out[256];
	sqlite3 *db;

	snprintf(name, sizeof(name), "%s.json", env->message_id);
	setenv("NARA_TEST_HANDOFF_STOP", "rename", 1);
	tadapter_start(&bup);
	unsetenv("NARA_TEST_HANDOFF_STOP");
	spool_put_envelope(&gbg, "m-locked.json", env);
	tadapter_start(&gbg);
	cr_assert(wait_stopped(bup.pid, 30000), "the adapter did not stop "
	    "after the rename; see %s", bup.log);
	/* the local system takes the file */
	snprintf(from, sizeof(from), "%s/inbox/%s", bup.spool, name);
	snprintf(to, sizeof(to), "%s/%s", taken_dir, name);
	cr_assert_eq(rename(from, to), 0, "nothing in inbox/ at the stop");
	cr_assert_eq(sqlite3_open(bup.state, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(kill(bup.pid, SIGCONT), 0);
	cr_assert(harness_wait(bup_logged, "cannot record 1 hand-off", 30000),
	    "the outcome was recorded under the lock; see %s", bup.log);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	/* the receipt (narad has the ack: nothing is delivered again), or the
	 * message in inbox/ a second time */
	cr_assert(harness_wait(receipt_or_second_file, name, 60000), "neither "
	    "a receipt nor a second hand-off; see %s", bup.log);
	cr_assert_eq(spool_count(&bup, "inbox", ""), 0, "the message was "
	    "handed to the local system a second time; see %s", bup.log);
	cr_assert_eq(tadapter_stop(&bup, SIGTERM), 0);
	harness_run(out, sizeof(out), "sqlite3 %s \"select count(*) from handed "
	    "where kind='message' and outcome='handed'\"", bup.state);
	cr_expect_eq(atoi(out), 1, "%s", out);
}
