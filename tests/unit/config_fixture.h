/*
 * config_fixture.h — helpers shared by test_config.c, test_config_shipped.c,
 * test_config_checks.c and test_conftab.c: parse a text as "t.conf" and
 * compare the messages, the node used by many texts, message type and unit
 * shorthands, UTC times, NARA_TOP paths.
 */
#ifndef NARA_TEST_CONFIG_FIXTURE_H
#define NARA_TEST_CONFIG_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "config.h"

#define MIB (1024u * 1024u)
#define REF NARA__MESSAGE_TYPE__REFERRAL
#define REF_RESP NARA__MESSAGE_TYPE__REFERRAL_RESPONSE
#define CONS NARA__MESSAGE_TYPE__CONSULTATION_REQUEST
#define CONS_RESP NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE
#define SIP NARA__MESSAGE_TYPE__SIP_INVITATION
#define SIP_RESP NARA__MESSAGE_TYPE__SIP_RESPONSE
#define ROC NARA__MESSAGE_TYPE__REPORT_OF_CONCERN

#define BUP "SE2321000131-E000000000101"
#define BHV "SE2321000131-E000000000201"
#define HAB "SE2321000131-E000000000301"
#define PED "SE2321000131-E000000000401"

/* A node that passes every check, for texts that need one. */
#define NODE_A "[node a]\nname = A\naddresses = kommun:1480:elevhalsa\n"

static __attribute__((unused)) struct config *
parse(const char *text, struct config_diag *diag)
{
	return config_parse_string(text, "t.conf", diag);
}

/* text must fail with exactly the messages want, in order. */
static __attribute__((unused)) void
expect_errors(const char *text, const char *const *want, size_t n)
{
	struct config_diag diag = { 0 };
	struct config *cfg = parse(text, &diag);

	cr_assert_null(cfg, "parse of a bad text succeeded");
	for (size_t i = 0; i < diag.n; i++)
		cr_log_info("diag[%zu] %s", i, diag.msgs[i]);
	cr_assert_eq(diag.n, n, "got %zu messages, want %zu (first: %s)", diag.n,
	    n, diag.n ? diag.msgs[0] : "none");
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(diag.msgs[i], want[i]);
	config_diag_free(&diag);
	cr_assert_eq(diag.n, 0);
	cr_assert_null(diag.msgs);
}

#define EXPECT(text, ...) do { \
	const char *const want_[] = { __VA_ARGS__ }; \
	expect_errors(text, want_, sizeof(want_) / sizeof(want_[0])); \
} while (0)

/* text must load without any message. */
static __attribute__((unused)) struct config *
load_ok(const char *text)
{
	struct config_diag diag = { 0 };
	struct config *cfg = parse(text, &diag);

	cr_assert_not_null(cfg, "refused: %s", diag.n ? diag.msgs[0] : "?");
	cr_assert_eq(diag.n, 0);
	return cfg;
}

static __attribute__((unused)) int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm);
}

static __attribute__((unused)) const char *
top_path(const char *rel, char *buf, size_t len)
{
	const char *top = getenv("NARA_TOP");

	snprintf(buf, len, "%s/%s", top ? top : ".", rel);
	return buf;
}

#endif
