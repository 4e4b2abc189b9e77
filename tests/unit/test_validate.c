/*
 * test_validate.c — the building blocks of edge validation: UUIDs, nara
 * addresses, personal identity numbers (check digits computed by hand with
 * Luhn over YYMMDDNNN), RFC 3339 times, every example in config/examples
 * passing validate_envelope, and the envelope's attachment, size and text
 * rules (the other envelope rules are in test_validate_envelope.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "envelope_fixture.h"
#include "pbjson.h"
#include "validate.h"

#define REFERRAL       NARA__MESSAGE_TYPE__REFERRAL
#define SIP_INVITATION NARA__MESSAGE_TYPE__SIP_INVITATION

static struct env_fixture fx;

/* Run check, expect -1 with code and path. */
#define EXPECT_REFUSED(call, want_code, want_path) do {                    \
		struct nara_err err_ = { 0 };                               \
		struct nara_err *err = &err_;                               \
		cr_assert_eq((call), -1, "accepted, expected %s",           \
		    nara_code_id(want_code));                               \
		cr_expect_eq(err_.code, (want_code), "got %s %s: %s",       \
		    nara_code_id(err_.code), err_.path, err_.text);         \
		cr_expect_str_eq(err_.path, (want_path));                   \
	} while (0)

#define EXPECT_OK(call) do {                                               \
		struct nara_err err_ = { 0 };                               \
		struct nara_err *err = &err_;                               \
		cr_assert_geq((call), 0, "refused: %s %s: %s",              \
		    nara_code_id(err_.code), err_.path, err_.text);         \
	} while (0)

/* ---------------------------------------------------------------- UUIDs */

/* Upper case is refused: ids are compared byte for byte, so the same
 * UUID in both cases was accepted as two messages (the idempotency key
 * did not hold). */
Test(uuid, lower_case_accepted_upper_case_refused)
{
	EXPECT_OK(validate_uuid("3f1c2a7e-5b8d-4e21-9c43-0a6d2f1b8e57", err, "id"));
	EXPECT_REFUSED(validate_uuid("3F1C2A7E-5B8D-4E21-9C43-0A6D2F1B8E57", err,
	    "id"), NR_BAD_MESSAGE_ID, "id");
	EXPECT_REFUSED(validate_uuid("3f1c2a7e-5b8d-4e21-9c43-0a6d2f1b8E57", err,
	    "id"), NR_BAD_MESSAGE_ID, "id");
}

Test(uuid, wrong_length_refused)
{
	EXPECT_REFUSED(validate_uuid("3f1c2a7e-5b8d-4e21-9c43-0a6d2f1b8e5", err,
	    "envelope.message_id"), NR_BAD_MESSAGE_ID, "envelope.message_id");
	EXPECT_REFUSED(validate_uuid("3f1c2a7e-5b8d-4e21-9c43-0a6d2f1b8e570", err,
	    "x"), NR_BAD_MESSAGE_ID, "x");
	EXPECT_REFUSED(validate_uuid("", err, "x"), NR_BAD_MESSAGE_ID, "x");
	EXPECT_REFUSED(validate_uuid(NULL, err, "x"), NR_BAD_MESSAGE_ID, "x");
}

Test(uuid, misplaced_hyphen_and_non_hex_refused)
{
	EXPECT_REFUSED(validate_uuid("3f1c2a7e5-b8d-4e21-9c43-0a6d2f1b8e57", err,
	    "id"), NR_BAD_MESSAGE_ID, "id");
	EXPECT_REFUSED(validate_uuid("3f1c2a7e-5b8d-4e21-9c43-0a6d2f1b8g57", err,
	    "id"), NR_BAD_MESSAGE_ID, "id");
	EXPECT_REFUSED(validate_uuid("{f1c2a7e-5b8d-4e21-9c43-0a6d2f1b8e5}", err,
	    "id"), NR_BAD_MESSAGE_ID, "id");
}

/* ---------------------------------------------------------------- addresses */

Test(address, every_municipal_service_accepted)
{
	static const char *const ok[] = {
		"kommun:1480:socialtjanst", "kommun:1480:elevhalsa",
		"kommun:1490:forskola", "kommun:1438:skola",
		"kommun:1401:hemsjukvard",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_expect_eq(validate_address(ok[i], NULL, NULL),
		    ADDRESS_MUNICIPAL, "%s", ok[i]);
}

Test(address, municipal_code_must_be_four_digits_not_zero)
{
	EXPECT_REFUSED(validate_address("kommun:148:elevhalsa", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("kommun:14800:elevhalsa", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("kommun:14a0:elevhalsa", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("kommun:0000:elevhalsa", err, "a"),
	    NR_BAD_ADDRESS, "a");
}

Test(address, unknown_or_missing_service_refused)
{
	EXPECT_REFUSED(validate_address("kommun:1480:bibliotek", err,
	    "envelope.recipient"), NR_BAD_ADDRESS, "envelope.recipient");
	EXPECT_REFUSED(validate_address("kommun:1480:", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("kommun:1480", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("kommun:1480:Elevhalsa", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("kommun:1480:elevhalsa ", err, "a"),
	    NR_BAD_ADDRESS, "a");
}

Test(address, regional_hsa_id_accepted)
{
	cr_expect_eq(validate_address("SE2321000131-E000000000101", NULL, NULL),
	    ADDRESS_REGIONAL);
	cr_expect_eq(validate_address("SE2321000131-a", NULL, NULL),
	    ADDRESS_REGIONAL);
	/* exactly 31 characters of unit id */
	cr_expect_eq(validate_address("SE2321000131-ABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
	    NULL, NULL), ADDRESS_REGIONAL);
}

Test(address, regional_unit_id_rules)
{
	EXPECT_REFUSED(validate_address("SE2321000131-", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("SE2321000131-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
	    err, "a"), NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("SE2321000131-E0001-2", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("SE2321000131-E0001å", err, "a"),
	    NR_BAD_ADDRESS, "a");
}

Test(address, other_forms_refused)
{
	EXPECT_REFUSED(validate_address("se2321000131-E000000000101", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("SE2321000999-E000000000101", err, "a"),
	    NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("", err, "a"), NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address(NULL, err, "a"), NR_BAD_ADDRESS, "a");
	EXPECT_REFUSED(validate_address("mailto:bup@vgregion.se", err, "a"),
	    NR_BAD_ADDRESS, "a");
}

Test(address, municipality_code_extracted)
{
	char code[5] = "xxxx";

	cr_assert_eq(address_municipality("kommun:1490:socialtjanst", code), 0);
	cr_expect_str_eq(code, "1490");
	cr_expect_eq(address_municipality("SE2321000131-E000000000101", code), -1);
	cr_expect_eq(address_municipality("kommun:0000:skola", code), -1);
	cr_expect_eq(address_municipality(NULL, code), -1);
}

/* ---------------------------------------------------------------- personal numbers */

Test(personal_number, valid_examples)
{
	static const char *const ok[] = {
		"201304172388", "201902140621", "201609024573", "201106287194",
		"201203142391", "199912319986",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		EXPECT_OK(validate_personal_number(ok[i], err, "p"));
}

Test(personal_number, leap_days)
{
	EXPECT_OK(validate_personal_number("201202291231", err, "p"));
	EXPECT_OK(validate_personal_number("200002294569", err, "p"));
	/* 2013 and 1900 are not leap years (check digits are right) */
	EXPECT_REFUSED(validate_personal_number("201302291230", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
	EXPECT_REFUSED(validate_personal_number("190002291110", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
}

Test(personal_number, invalid_dates)
{
	EXPECT_REFUSED(validate_personal_number("201213311234", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");   /* month 13 */
	EXPECT_REFUSED(validate_personal_number("201204311235", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");   /* 31 April */
	EXPECT_REFUSED(validate_personal_number("201203001233", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");   /* day 00 */
}

Test(personal_number, coordination_number_day_plus_sixty)
{
	EXPECT_OK(validate_personal_number("201203742398", err, "p"));
	EXPECT_OK(validate_personal_number("201203612344", err, "p"));  /* 1st */
	EXPECT_OK(validate_personal_number("201203913452", err, "p"));  /* 31st */
	/* day 60 is neither a birth day nor a coordination day */
	EXPECT_REFUSED(validate_personal_number("201203601230", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
	/* 31 + 60 is the last coordination day, 32 + 60 is not */
	EXPECT_REFUSED(validate_personal_number("201203921232", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
}

Test(personal_number, check_digit)
{
	EXPECT_REFUSED(validate_personal_number("201304172389", err,
	    "envelope.subject.personal_number"), NR_BAD_PERSONAL_NUMBER,
	    "envelope.subject.personal_number");
	EXPECT_REFUSED(validate_personal_number("201203742390", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
}

Test(personal_number, digits_and_length)
{
	EXPECT_REFUSED(validate_personal_number("20130417-2388", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
	EXPECT_REFUSED(validate_personal_number("2013041723X8", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
	EXPECT_REFUSED(validate_personal_number("1304172388", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
	EXPECT_REFUSED(validate_personal_number("2013041723880", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
	EXPECT_REFUSED(validate_personal_number("", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
	EXPECT_REFUSED(validate_personal_number(NULL, err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
}

Test(personal_number, birth_year_range)
{
	EXPECT_OK(validate_personal_number("189001012229", err, "p"));
	EXPECT_REFUSED(validate_personal_number("188912311233", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
	EXPECT_REFUSED(validate_personal_number("299912311231", err, "p"),
	    NR_BAD_PERSONAL_NUMBER, "p");
}

Test(personal_number, text_does_not_echo_the_number)
{
	struct nara_err e = { 0 };

	cr_assert_eq(validate_personal_number("201304172389", &e, "p"), -1);
	cr_expect_null(strstr(e.text, "2013"), "text: %s", e.text);
}

/* ---------------------------------------------------------------- times */

Test(time, utc_and_offsets)
{
	int64_t t = 0;

	cr_assert_eq(validate_time("1970-01-01T00:00:00Z", &t, NULL, NULL), 0);
	cr_expect_eq(t, 0);
	cr_assert_eq(validate_time("2026-11-23T08:30:00Z", &t, NULL, NULL), 0);
	cr_expect_eq(t, 1795422600);
	cr_assert_eq(validate_time("2026-11-23T09:30:00+01:00", &t, NULL, NULL), 0);
	cr_expect_eq(t, 1795422600);
	cr_assert_eq(validate_time("2026-11-23T03:00:00-05:30", &t, NULL, NULL), 0);
	cr_expect_eq(t, 1795422600);
}

Test(time, fraction_accepted_and_ignored)
{
	int64_t t = 0;

	cr_assert_eq(validate_time("2026-11-23T08:30:00.5Z", &t, NULL, NULL), 0);
	cr_expect_eq(t, 1795422600);
	cr_assert_eq(validate_time("2026-11-23T08:30:00.123456789Z", &t, NULL,
	    NULL), 0);
	cr_expect_eq(t, 1795422600);
	EXPECT_REFUSED(validate_time("2026-11-23T08:30:00.Z", NULL, err, "t"),
	    NR_BAD_TIME, "t");
	EXPECT_REFUSED(validate_time("2026-11-23T08:30:00.1234567890Z", NULL,
	    err, "t"), NR_BAD_TIME, "t");
}

Test(time, leap_day)
{
	int64_t t = 0;

	cr_assert_eq(validate_time("2024-02-29T12:00:00Z", &t, NULL, NULL), 0);
	cr_expect_eq(t, 1709208000);
	EXPECT_REFUSED(validate_time("2023-02-29T12:00:00Z", NULL, err, "t"),
	    NR_BAD_TIME, "t");
	EXPECT_REFUSED(validate_time("2100-02-29T12:00:00Z", NULL, err, "t"),
	    NR_BAD_TIME, "t");
}

Test(time, impossible_calendar_values)
{
	static const char *const bad[] = {
		"2026-02-30T10:00:00Z", "2026-13-01T10:00:00Z",
		"2026-00-10T10:00:00Z", "2026-04-31T10:00:00Z",
		"2026-11-00T10:00:00Z", "2026-11-23T24:00:00Z",
		"2026-11-23T10:60:00Z", "2026-11-23T10:00:60Z",
		"2026-11-23T10:00:00+24:00", "2026-11-23T10:00:00+01:60",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_REFUSED(validate_time(bad[i], NULL, err, "envelope.created"),
		    NR_BAD_TIME, "envelope.created");
}

Test(time, syntax_is_strict)
{
	static const char *const bad[] = {
		"2026-11-23t08:30:00Z", "2026-11-23 08:30:00Z",
		"2026-11-23T08:30:00z", "2026-11-23T08:30:00",
		"2026-11-23T08:30Z", "2026-11-23", "26-11-23T08:30:00Z",
		"2026-11-23T08:30:00Z ", "2026-11-23T08:30:00+0100",
		"2026-11-23T8:30:00Z", "", "2026/11/23T08:30:00Z",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_REFUSED(validate_time(bad[i], NULL, err, "t"),
		    NR_BAD_TIME, "t");
	EXPECT_REFUSED(validate_time(NULL, NULL, err, "t"), NR_BAD_TIME, "t");
}

Test(time, format_round_trip)
{
	char buf[32];
	int64_t t = 0;

	cr_expect_str_eq(time_format(1795422600, buf, sizeof(buf)),
	    "2026-11-23T08:30:00Z");
	cr_expect_str_eq(time_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
	cr_assert_eq(validate_time(time_format(1709208000, buf, sizeof(buf)), &t,
	    NULL, NULL), 0);
	cr_expect_eq(t, 1709208000);
	cr_expect_str_eq(time_format(0, buf, 0), "");
}

/* The digit-by-digit form against gmtime and printf: around the epoch,
 * leap days, the turns of centuries and eras, the ends of the range it
 * writes itself, and beyond them; a buffer too short is cut as printf
 * cuts it. */
static void
expect_as_gmtime(int64_t epoch)
{
	char buf[40], want[40];
	time_t t = (time_t)epoch;
	struct tm tm;

	cr_assert_not_null(gmtime_r(&t, &tm));
	snprintf(want, sizeof(want), "%04lld-%02d-%02dT%02d:%02d:%02dZ",
	    (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	cr_expect_str_eq(time_format(epoch, buf, sizeof(buf)), want,
	    "epoch %lld", (long long)epoch);
	want[11] = '\0';   /* printf's cut of the same text */
	cr_expect_str_eq(time_format(epoch, buf, 12), want,
	    "epoch %lld, 12 bytes", (long long)epoch);
}

Test(time, format_matches_gmtime)
{
	static const int64_t at[] = {
		0, -1, 1, 86399, 86400, -86400, -86401,
		951782400,              /* 2000-02-29 */
		951868799, 951868800,   /* 2000-02-29 / 03-01 */
		4107542399, 4107542400, /* 2100-02-28 / 03-01 (not leap) */
		-2203891200,            /* 1900-02-28 */
		-62167219200,           /* 0000-01-01 */
		-62167219201,           /* the second before: year -1 */
		253402300799,           /* 9999-12-31T23:59:59 */
		253402300800,           /* 10000-01-01 */
		1795422600, 1709208000,
	};
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		expect_as_gmtime(at[i]);
	for (int i = 0; i < 200000; i++) {   /* years about -2000 to 6000 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		expect_as_gmtime((int64_t)(x % 252000000000ull) - 126000000000);
	}
}

/* ---------------------------------------------------------------- examples */

static ProtobufCMessage *
example(const char *name)
{
	const char *top = getenv("NARA_TOP");
	struct nara_err e = { 0 };
	ProtobufCMessage *msg;
	char path[512], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/config/examples/%s", top ? top : ".", name);
	cr_assert_not_null(f = fopen(path, "rb"), "cannot open %s (set NARA_TOP)",
	    path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	cr_assert_not_null(buf = malloc((size_t)n + 1));
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	msg = pbjson_parse(&nara__envelope__descriptor, buf, (size_t)n, &e);
	free(buf);
	cr_assert_not_null(msg, "%s: %s %s", name, e.path, e.text);
	return msg;
}

Test(examples, every_envelope_example_is_valid)
{
	static const char *const names[] = {
		"referral.json", "referral-response.json",
		"consultation-request-deidentified.json",
		"consultation-request-identified.json",
		"consultation-response.json", "sip-invitation.json",
		"sip-response.json", "report-of-concern.json",
	};
	struct validate_limits lim;
	int64_t now = 0;

	validate_limits_default(&lim);
	cr_assert_eq(validate_time("2026-11-25T12:00:00Z", &now, NULL, NULL), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ProtobufCMessage *msg = example(names[i]);
		struct nara_err e = { 0 };

		cr_expect_eq(validate_envelope((const Nara__Envelope *)msg, &lim,
		    now, &e), 0, "%s: %s %s: %s", names[i], nara_code_id(e.code),
		    e.path, e.text);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
}

Test(examples, report_of_concern_expires_after_a_week)
{
	ProtobufCMessage *msg = example("report-of-concern.json");
	struct nara_err e = { 0 };
	int64_t now = 0;

	cr_assert_eq(validate_time("2026-11-30T07:55:00Z", &now, NULL, NULL), 0);
	cr_expect_eq(validate_envelope((const Nara__Envelope *)msg, NULL, now, &e),
	    -1);
	cr_expect_eq(e.code, NR_EXPIRED);
	cr_expect_str_eq(e.path, "envelope.expires");
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---------------------------------------------------------------- attachments */

static const char pdf[] = "%PDF-1.4 tillväxtkurva";

Test(attachment, valid_attachments)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	fx_attach(&fx, "kurva.pdf", pdf, sizeof(pdf) - 1);
	fx_attach(&fx, "tom.txt", "", 0);
	fx_accepted(e);
}

Test(attachment, too_many)
{
	struct validate_limits lim;
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	validate_limits_default(&lim);
	lim.max_attachments = 2;
	for (int i = 0; i < 3; i++)
		fx_attach(&fx, "a.pdf", pdf, sizeof(pdf) - 1);
	fx_refused_with(e, &lim, fx_now(), NR_ATTACHMENT_LIMIT, "envelope.attachments");
}

Test(attachment, default_limit_is_twenty)
{
	struct validate_limits lim;
	Nara__Attachment a, *list[21];
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	validate_limits_default(&lim);
	fx_attach(&fx, "a.pdf", pdf, sizeof(pdf) - 1);
	a = fx.att[0];
	for (int i = 0; i < 21; i++)
		list[i] = &a;
	e->attachments = list;
	e->n_attachments = 20;
	fx_accepted(e);
	e->n_attachments = 21;
	fx_refused_with(e, &lim, fx_now(), NR_ATTACHMENT_LIMIT, "envelope.attachments");
}

Test(attachment, too_big)
{
	struct validate_limits lim;
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	validate_limits_default(&lim);
	lim.max_attachment_bytes = 8;
	fx_attach(&fx, "a.pdf", pdf, 8);
	fx_attach(&fx, "b.pdf", pdf, 9);
	fx_refused_with(e, &lim, fx_now(), NR_ATTACHMENT_LIMIT,
	    "envelope.attachments[1].data");
}

Test(attachment, media_type_and_file_name_required)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);
	Nara__Attachment *a = fx_attach(&fx, "a.pdf", pdf, 4);

	a->media_type = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.attachments[0].media_type");
	a->media_type = pb_str("text/plain");
	a->file_name = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.attachments[0].file_name");
}

Test(attachment, file_name_without_path)
{
	static const char *const bad[] = {
		"../etc/passwd", "dir/a.pdf", "/a.pdf", "..", "a..pdf", "c:\\a.pdf",
	};
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);
	Nara__Attachment *a = fx_attach(&fx, "a.pdf", pdf, 4);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a->file_name = pb_str(bad[i]);
		fx_refused(e, NR_BAD_VALUE, "envelope.attachments[0].file_name");
	}
	a->file_name = pb_str(".hidden.pdf");
	fx_accepted(e);
}

Test(attachment, sha256_wrong_length)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);
	Nara__Attachment *a = fx_attach(&fx, "a.pdf", pdf, 4);

	a->sha256.len = 31;
	fx_refused(e, NR_ATTACHMENT_HASH, "envelope.attachments[0].sha256");
	a->sha256.len = 0;
	fx_refused(e, NR_ATTACHMENT_HASH, "envelope.attachments[0].sha256");
}

Test(attachment, sha256_mismatch)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	fx_attach(&fx, "a.pdf", pdf, 4);
	fx_attach(&fx, "b.pdf", pdf, 5);
	fx.sha[1][31] ^= 1;
	fx_refused(e, NR_ATTACHMENT_HASH, "envelope.attachments[1].sha256");
}

/* ---------------------------------------------------------------- sizes and text */

Test(size, text_field_too_long)
{
	struct validate_limits lim;
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);
	size_t max = 64 * 1024;
	char *big = malloc(max + 2);

	cr_assert_not_null(big);
	memset(big, 'a', max + 1);
	big[max] = '\0';
	validate_limits_default(&lim);
	cr_assert_eq(lim.max_text_bytes, max);
	fx.referral.background = big;   /* exactly at the limit */
	fx_accepted(e);
	big[max] = 'a';
	big[max + 1] = '\0';
	fx_refused(e, NR_TOO_LARGE, "envelope.referral.background");
	free(big);
}

Test(size, nested_text_path_names_list_index)
{
	struct validate_limits lim;
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	validate_limits_default(&lim);
	lim.max_text_bytes = 40;    /* every other string is shorter */
	fx_accepted(e);
	fx.party.role = pb_str("vårdnadshavare och kontaktperson för barnet");
	fx_refused_with(e, &lim, fx_now(), NR_TOO_LARGE,
	    "envelope.sip_invitation.invited[0].role");
}

Test(size, repeated_string_path)
{
	char *contacts[2] = { pb_str("Anna, 031-365 00 00"), pb_str("\xff\xfe") };
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	fx.referral.contacts = contacts;
	fx.referral.n_contacts = 2;
	fx_refused(e, NR_BAD_VALUE, "envelope.referral.contacts[1]");
}

/* Each of bad[] as author name is refused with NR019; good is accepted. */
static void
author_names_refused(const char *const *bad, size_t n, const char *good)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	for (size_t i = 0; i < n; i++) {
		fx.author.name = pb_str(bad[i]);
		fx_refused(e, NR_BAD_VALUE, "envelope.author.name");
	}
	fx.author.name = pb_str(good);
	fx_accepted(e);
}

Test(size, invalid_utf8_refused)
{
	static const char *const bad[] = {
		"Anna \xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\x80", "\xf8\x88\x80\x80\x80",
	};

	author_names_refused(bad, sizeof(bad) / sizeof(bad[0]),
	    "Åsa Öberg \xf0\x9f\x98\x80 \xe2\x82\xac");
}

/* The text check is step 1 (PROTOCOL.md section 5): bad text beside a
 * missing required field is NR019, not NR010. (It ran last.) */
Test(size, text_is_checked_before_the_required_fields)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	fx.author.name = pb_str("Anna \xc3");
	e->created = NULL;
	fx_refused(e, NR_BAD_VALUE, "envelope.author.name");
	fx.author.name = pb_str("Anna");
	fx_refused(e, NR_MISSING_FIELD, "envelope.created");
}

Test(size, control_characters_refused)
{
	static const char *const bad[] = {
		"Anna\x01", "\x1b[2J", "a\x7f", "del\xc2\x85", "\x0bvt", "nul\x1f",
	};

	/* Tab, line breaks and non-control characters after C1 stay allowed. */
	author_names_refused(bad, sizeof(bad) / sizeof(bad[0]),
	    "Åsa\tÖberg\r\nrad två \xc2\xa0\xc2\xb0");
}

Test(size, encoded_envelope_too_large)
{
	struct validate_limits lim;
	struct nara_err err = { 0 };
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);
	size_t packed = protobuf_c_message_get_packed_size(&e->base);

	validate_limits_default(&lim);
	lim.max_message_bytes = packed;
	cr_expect_eq(validate_envelope(e, &lim, fx_now(), &err), 0, "%s", err.text);
	lim.max_message_bytes = packed - 1;
	fx_refused_with(e, &lim, fx_now(), NR_TOO_LARGE, "envelope");
}

/* Text from outside (a local system's HTTP answer) made fit for a frame:
 * every frame narad validates carries it, bytes that are not well-formed
 * UTF-8 or are control characters become '?', and a cut to size falls
 * between characters. (An adapter's nack with a Latin-1 reason was refused
 * by narad without an id, and the adapter took the refusal for its oldest
 * submit.) */
Test(size, text_made_valid_passes_every_frame_check)
{
	static const char *const in[] = {
		"Patienten \xe4r ok\xe4nd", "Anna \xc3", "\xc0\xaf", "\xed\xa0\x80",
		"\x1b[2J", "del\xc2\x85", "nul\x1f end", "\xf4\x90\x80\x80",
		"Åsa\tÖberg\r\n \xf0\x9f\x98\x80",
	};
	static const char *const want[] = {
		"Patienten ?r ok?nd", "Anna ?", "??", "???", "?[2J", "del?",
		"nul? end", "????", "Åsa\tÖberg\r\n \xf0\x9f\x98\x80",
	};
	struct validate_limits lim;
	struct nara_err err = { 0 };
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Nack nack = NARA__NACK__INIT;
	char out[64];

	validate_limits_default(&lim);
	nack.message_id = pb_str("00000000-0000-4000-8000-000000000001");
	nack.code = pb_str("NR060");
	f.kind_case = NARA__FRAME__KIND_NACK;
	f.nack = &nack;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		cr_expect_eq(text_made_valid(in[i], out, sizeof(out)),
		    strlen(want[i]));
		cr_expect_str_eq(out, want[i]);
		nack.text = out;
		cr_expect_eq(validate_frame(&f, &lim, 0, &err), 0, "%s: %s",
		    want[i], err.text);
	}
	/* room for three bytes: one two-byte character, not one and a half */
	cr_expect_eq(text_made_valid("ÅÅÅ", out, 4), 2);
	cr_expect_str_eq(out, "Å");
	cr_expect_eq(text_made_valid("abc", out, 1), 0);
	cr_expect_str_eq(out, "");
}
