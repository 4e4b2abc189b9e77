/*
 * itest_audit_verify.c — nara-audit verify against the chain a real narad
 * signs (audit_suite.h): verify while narad runs and after, tampering
 * detected with the bad seq named (also newest rows deleted behind a
 * signed checkpoint), prune then verify then tamper, the signing key
 * rotated on SIGHUP with the whole log verifying against both public keys
 * (a key that fails to load keeps the running one), --pubkey errors, and
 * a missing head file reported as a warning. The reading commands are in
 * itest_audit.c.
 */
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "audit_suite.h"
#include "harness.h"
#include "validate.h"

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 120);

Test(audit, verify_while_running_and_after_stop)
{
	char a[37], b[37];
	json_t *j;

	traffic(a, b);
	cr_expect_eq(audit("verify -c %s", h.conf), 0, "%s", out);
	cr_expect(strstr(out, "intact") != NULL, "%s", out);
	j = verify_json(0);
	cr_expect_gt(jint(j, "signed_seq"), 0);
	cr_expect_eq(jint(j, "first_seq"), 1);
	json_decref(j);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	j = verify_json(0);
	/* the clean shutdown signed the very last row */
	cr_expect_eq(jint(j, "signed_seq"), jint(j, "last_seq"));
	json_decref(j);
}

Test(audit, tampering_is_named)
{
	char a[37], b[37], cmd[600];
	json_t *j;

	traffic(a, b);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s \"update audit set recipient = "
	    "'kommun:1490:socialtjanst' where seq = 3\"", h.store);
	cr_assert_eq(harness_run(out, sizeof(out), "%s", cmd), 0, "%s", out);
	j = verify_json(1);
	cr_expect_eq(jint(j, "bad_seq"), 3);
	json_decref(j);
	cr_expect_eq(audit("verify -c %s", h.conf), 1);
	cr_expect(strstr(out, "seq 3") != NULL, "%s", out);
}

Test(audit, newest_rows_deleted_after_signed_checkpoint)
{
	char a[37], b[37], cmd[800];
	long last;
	json_t *j;

	traffic(a, b);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	last = harness_sql_long(&h, "select max(seq) from audit");
	snprintf(cmd, sizeof(cmd), "sqlite3 %s \"delete from audit where seq >= "
	    "%ld; update meta set value = %ld where key = 'audit_head_seq'; "
	    "update meta set value = (select hash from audit where seq = %ld) "
	    "where key = 'audit_head_hash'\"", h.store, last - 1, last - 2,
	    last - 2);
	cr_assert_eq(harness_run(out, sizeof(out), "%s", cmd), 0, "%s", out);
	j = verify_json(1);
	cr_expect_eq(jint(j, "bad_seq"), last - 1);
	json_decref(j);
}

/* The clock has passed the second of the newest audit row, so a cut at
 * "now" lies after every row (rows are recorded in whole seconds). */
static bool
clock_past_newest_row(void *arg)
{
	return (long)time(NULL) * 1000 > harness_sql_long(&h, "select "
	    "max(time) from audit");
}

Test(audit, prune_then_verify_then_tamper)
{
	char a[37], b[37], when[32], cmd[600];
	json_t *j;

	traffic(a, b);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	cr_assert(harness_wait(clock_past_newest_row, NULL, 5000));
	time_format((int64_t)time(NULL), when, sizeof(when));
	cr_assert_eq(audit("prune -c %s --before %s", h.conf, when), 0, "%s", out);
	cr_expect(strstr(out, "pruned") != NULL, "%s", out);
	/* a is delivered, its received row gone (its ack may come after b's
	 * first row); b still waits for its ack, so the cut stops before
	 * its first row, however late the date */
	snprintf(cmd, sizeof(cmd), "select count(*) from audit where "
	    "message_id = '%s' and event = 'received'", a);
	cr_expect_eq(harness_sql_long(&h, cmd), 0);
	snprintf(cmd, sizeof(cmd), "select min(seq) = (select min(seq) from "
	    "audit where message_id = '%s' and event = 'received') from audit",
	    b);
	cr_expect_eq(harness_sql_long(&h, cmd), 1, "the cut passed the first "
	    "row of a queued message");
	j = verify_json(0);
	cr_expect_gt(jint(j, "cut_seq"), 0);
	json_decref(j);
	cr_expect_eq(audit("prune -c %s --before 2999-01-01", h.conf), 2);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s \"update audit set detail = 'x'\"",
	    h.store);
	cr_assert_eq(harness_run(out, sizeof(out), "%s", cmd), 0, "%s", out);
	j = verify_json(1);
	json_decref(j);
}

/* ---------------------------------------------------------------- rotation */

/* Point [broker] signing_key of the running config at dir/name. */
static void
config_set_signing_key(const char *name)
{
	char *conf = NULL, *p, *eol;
	size_t len = 0;
	FILE *f = fopen(h.conf, "r");

	cr_assert_not_null(f);
	cr_assert_gt(getdelim(&conf, &len, '\0', f), 0);
	fclose(f);
	cr_assert_not_null(p = strstr(conf, "signing_key = "));
	cr_assert_not_null(eol = strchr(p, '\n'));
	*p = '\0';
	f = fopen(h.conf, "w");
	fprintf(f, "%ssigning_key = %s/%s%s", conf, h.dir, name, eol);
	fclose(f);
	free(conf);
}

/* The fingerprint of the one key that signed every checkpoint so far. */
static void
only_signer(const char *pub, char fpr[65])
{
	json_t *j, *signers;

	cr_assert_eq(audit("verify --store %s --pubkey %s/%s --json", h.store,
	    h.dir, pub), 0, "%s", out);
	j = parse();
	signers = json_object_get(j, "signers");
	cr_assert_eq(json_array_size(signers), 1, "%s", out);
	snprintf(fpr, 65, "%s", str(json_array_get(signers, 0), "fingerprint"));
	cr_expect_eq(strlen(fpr), 64);
	json_decref(j);
}

/* One more message from BUP, then time for a checkpoint. */
static void
more_traffic(void)
{
	struct tclient bup;
	char id[37];

	tclient_open(&bup, &h, T_BUP, 16);
	submit(&bup, NULL, id);
	tclient_close(&bup);
	wait_signed_head();
}

/* Rotate to sign2.pem on SIGHUP; returns the old and new fingerprints. */
static void
rotate(char old_fpr[65], char new_fpr[65])
{
	char key[300];

	only_signer("sign.pem.pub", old_fpr);
	snprintf(key, sizeof(key), "%s/sign2.pem", h.dir);
	cr_assert_eq(harness_run(out, sizeof(out), "%s keygen %s", tool, key), 0,
	    "%s", out);
	config_set_signing_key("sign2.pem");
	kill(h.pid, SIGHUP);
	cr_assert(harness_wait_log(&h, "audit signing key changed", 1, 5000), "no key change logged");
	more_traffic();
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	/* the old key alone fails at the first checkpoint of the new one */
	cr_assert_eq(audit("verify --store %s --pubkey %s/sign.pem.pub --json",
	    h.store, h.dir), 1, "%s", out);
	snprintf(new_fpr, 65, "%.64s", strstr(out, "signed by key ") ?
	    strstr(out, "signed by key ") + 14 : "");
	cr_expect_str_neq(old_fpr, new_fpr);
}

Test(audit, signing_key_rotated_on_sighup_verifies_with_both_keys)
{
	char a[37], b[37], old_fpr[65], new_fpr[65], sql[400], want[200];
	json_t *j, *signers;
	size_t i;
	json_t *s;

	traffic(a, b);
	rotate(old_fpr, new_fpr);
	/* the change is on the chain, naming both keys */
	snprintf(sql, sizeof(sql), "select count(*) from audit where event = "
	    "'signing_key_changed' and detail like '%s -> %s%%'", old_fpr,
	    new_fpr);
	cr_expect_eq(harness_sql_long(&h, sql), 1);
	/* the old key signed the head just before the switch, that row too */
	snprintf(sql, sizeof(sql), "select count(*) from checkpoints where "
	    "key_fingerprint = '%s' and seq >= (select seq from audit where "
	    "event = 'signing_key_changed')", old_fpr);
	cr_expect_eq(harness_sql_long(&h, sql), 1);

	/* both public keys: intact, each key's checkpoints counted */
	cr_assert_eq(audit("verify --store %s --pubkey %s/sign.pem.pub --pubkey "
	    "%s/sign2.pem.pub --json", h.store, h.dir, h.dir), 0, "%s", out);
	j = parse();
	cr_expect(json_is_true(json_object_get(j, "ok")));
	cr_expect_eq(jint(j, "keys"), 2);
	cr_expect_eq(jint(j, "signed_seq"), jint(j, "last_seq"));
	signers = json_object_get(j, "signers");
	cr_assert_eq(json_array_size(signers), 2, "%s", out);
	json_array_foreach(signers, i, s)
		cr_expect_gt(jint(s, "checkpoints"), 0);
	cr_expect_str_eq(str(json_array_get(signers, 0), "fingerprint"),
	    old_fpr);
	cr_expect_str_eq(str(json_array_get(signers, 1), "fingerprint"),
	    new_fpr);
	json_decref(j);
	cr_assert_eq(audit("verify --store %s --pubkey %s/sign.pem.pub --pubkey "
	    "%s/sign2.pem.pub", h.store, h.dir, h.dir), 0, "%s", out);
	snprintf(want, sizeof(want), "signed by key %s: ", old_fpr);
	cr_expect(strstr(out, want) != NULL, "%s", out);

	/* one key only: exit 1 naming the other key */
	cr_expect_eq(audit("verify --store %s --pubkey %s/sign2.pem.pub",
	    h.store, h.dir), 1);
	snprintf(want, sizeof(want), "signed by key %s, not among the --pubkey "
	    "keys", old_fpr);
	cr_expect(strstr(out, want) != NULL, "%s", out);
	cr_expect(strstr(out, "FAILED") != NULL, "%s", out);
	cr_expect_eq(audit("verify --store %s --pubkey %s/sign.pem.pub",
	    h.store, h.dir), 1);
	snprintf(want, sizeof(want), "signed by key %s, not among the --pubkey "
	    "keys", new_fpr);
	cr_expect(strstr(out, want) != NULL, "%s", out);

	/* -c: signing_key.pub plus the retired keys kept as .pub.* */
	cr_expect_eq(audit("verify -c %s", h.conf), 1, "%s", out);
	cr_assert_eq(harness_run(out, sizeof(out), "cp %s/sign.pem.pub "
	    "%s/sign2.pem.pub.1", h.dir, h.dir), 0, "%s", out);
	j = verify_json(0);
	cr_expect_eq(jint(j, "keys"), 2);
	json_decref(j);
}

Test(audit, signing_key_that_fails_to_load_keeps_the_running_one)
{
	char a[37], b[37], fpr[65], path[400];
	json_t *j, *signers;
	FILE *f;

	traffic(a, b);
	only_signer("sign.pem.pub", fpr);
	snprintf(path, sizeof(path), "%s/junk.pem", h.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("not a key\n", f);
	fclose(f);
	chmod(path, 0600);
	config_set_signing_key("junk.pem");
	kill(h.pid, SIGHUP);
	cr_assert(harness_wait_log(&h, "keeping the running signing key", 1,
	    5000), "no refusal");
	cr_expect_eq(harness_log_count(&h, "NR070"), 1);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'signing_key_refused'"), 1);
	/* the config itself was reloaded; the old key still signs */
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'config_reloaded'"), 1);
	more_traffic();
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	cr_assert_eq(audit("verify --store %s --pubkey %s/sign.pem.pub --json",
	    h.store, h.dir), 0, "%s", out);
	j = parse();
	cr_expect_eq(jint(j, "signed_seq"), jint(j, "last_seq"));
	signers = json_object_get(j, "signers");
	cr_assert_eq(json_array_size(signers), 1, "%s", out);
	cr_expect_str_eq(str(json_array_get(signers, 0), "fingerprint"), fpr);
	json_decref(j);
}

Test(audit, pubkey_errors)
{
	char args[2000];
	size_t o = 0;

	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	/* a ring of 17 keys is refused before anything is read */
	for (int i = 0; i < 17; i++)
		o += (size_t)snprintf(args + o, sizeof(args) - o, " --pubkey "
		    "%s/sign.pem.pub", h.dir);
	cr_expect_eq(harness_run(out, sizeof(out), "%s verify --store %s%s",
	    tool, h.store, args), 2);
	cr_expect(strstr(out, "NR072") != NULL && strstr(out, "at most 16")
	    != NULL, "%s", out);
	/* one unreadable key of two: exit 2 naming it */
	cr_expect_eq(harness_run(out, sizeof(out), "%s verify --store %s "
	    "--pubkey %s/sign.pem.pub --pubkey %s/none.pub", tool, h.store,
	    h.dir, h.dir), 2);
	cr_expect(strstr(out, "NR070") != NULL && strstr(out, "none.pub")
	    != NULL, "%s", out);
}

/* ---------------------------------------------------------------- head file */

/* verify --json's head_file and its warnings, joined. */
static const char *
head_file_state(char *warnings, size_t len)
{
	json_t *j = verify_json(0), *w;
	static char state[32];
	size_t i, o = 0;

	snprintf(state, sizeof(state), "%s", str(j, "head_file"));
	warnings[0] = '\0';
	json_array_foreach(json_object_get(j, "warnings"), i, w)
		o += (size_t)snprintf(warnings + o, len - o, "%s\n",
		    json_string_value(w));
	json_decref(j);
	return state;
}

/* A store without the head file narad keeps beside it cannot be compared
 * with it (a rollback would not show): verify says so in a warning line
 * with NR041, and in JSON; the chain itself is intact, so exit 0. */
Test(audit, missing_head_file_is_reported)
{
	char a[37], b[37], head[400], warnings[1000];
	struct stat sb;

	traffic(a, b);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	snprintf(head, sizeof(head), "%s.head", h.store);
	cr_assert_eq(stat(head, &sb), 0, "narad left no %s", head);
	cr_assert_eq(audit("verify -c %s", h.conf), 0, "%s", out);
	cr_expect(strstr(out, "warning") == NULL, "%s", out);
	cr_expect_str_eq(head_file_state(warnings, sizeof(warnings)), "present");
	cr_expect_str_eq(warnings, "");

	cr_assert_eq(unlink(head), 0);
	cr_expect_eq(audit("verify -c %s", h.conf), 0, "%s", out);
	cr_expect(strstr(out, "intact") != NULL, "%s", out);
	cr_expect(strstr(out, "\nwarning: NR041 ") != NULL && strstr(out, head)
	    != NULL && strstr(out, "missing") != NULL, "%s", out);
	cr_expect_str_eq(head_file_state(warnings, sizeof(warnings)), "missing");
	cr_expect(strncmp(warnings, "NR041 ", 6) == 0 && strstr(warnings, head)
	    != NULL, "%s", warnings);
	/* still a failure when the chain is bad too */
	cr_assert_eq(harness_run(out, sizeof(out), "sqlite3 %s \"update audit "
	    "set detail = 'x' where seq = 2\"", h.store), 0, "%s", out);
	cr_expect_eq(audit("verify -c %s", h.conf), 1, "%s", out);
	cr_expect(strstr(out, "FAILED") != NULL && strstr(out, "warning: NR041")
	    != NULL, "%s", out);
}
