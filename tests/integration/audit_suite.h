/*
 * audit_suite.h — the suite that itest_audit.c and itest_audit_verify.c
 * share: a real narad that signs its chain head (signing_key, a 1 s
 * checkpoint interval) started for each test, nara-audit run with its
 * output in out, the JSON it prints parsed, and traffic about two
 * children. Each test file includes it once and gets its own narad (h),
 * fixture (fx) and buffers.
 */
#ifndef NARA_TEST_AUDIT_SUITE_H
#define NARA_TEST_AUDIT_SUITE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"
#include "wire.h"

#define CHILD2 "191212121212"
static char child2[] = CHILD2;
#define OUT_MAX 262144

static struct harness h;
static struct fixture *fx;
static char tool[300], out[OUT_MAX];

/* Put signing_key and a 1 s checkpoint interval into the harness config. */
static inline void
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

/* Before each test: a signing narad, started, and a fixture. */
static inline void
setup(void)
{
	harness_bin("nara-audit", tool, sizeof(tool));
	harness_init(&h, NULL);
	config_signing();
	harness_start(&h);
	fx = fixture_new();
}

static inline void
teardown(void)
{
	fixture_free(&fx);
	harness_cleanup(&h);
}

/* Run nara-audit with the formatted args (stdout only); its exit code. */
static inline int audit(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static inline int
audit(const char *fmt, ...)
{
	char args[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return harness_run(out, sizeof(out), "{ %s %s 2>/dev/null; }", tool, args);
}

/* out as JSON; the test fails if it is not. */
static inline json_t *
parse(void)
{
	json_error_t jerr;
	json_t *j = json_loads(out, 0, &jerr);

	cr_assert_not_null(j, "not JSON (%s): %.300s", jerr.text, out);
	return j;
}

/* Member k of row as a string, "" if it is none. */
static inline const char *
str(json_t *row, const char *k)
{
	const char *s = json_string_value(json_object_get(row, k));

	return s ? s : "";
}

/* Submit one report of concern about pn (NULL: the fixture's child). */
static inline void
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

/* soc gets message id delivered, and acks it. */
static inline void
deliver_ack(struct tclient *soc, const char *id)
{
	Nara__Frame *d = tclient_expect(soc, NARA__FRAME__KIND_DELIVER, 5000);

	cr_assert_not_null(d);
	cr_assert_str_eq(d->deliver->envelope->message_id, id);
	frame_free(&d);
	tclient_ack(soc, id, false);
}

/* narad has signed a checkpoint that covers every audit row so far. */
static inline void
wait_signed_head(void)
{
	cr_assert(harness_wait_sql(&h, "select count(*) from checkpoints "
	    "where seq >= (select max(seq) from audit)", 1, 20000),
	    "no signed checkpoint covers the newest row; see %s", h.log);
}

/* Two messages about two children, the first delivered and acked; then
 * wait for narad to sign the head. */
static inline void
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
static inline json_t *
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

/* Member k of j as an integer (0 if it is none). */
static inline json_int_t
jint(json_t *j, const char *k)
{
	return json_integer_value(json_object_get(j, k));
}

#endif
