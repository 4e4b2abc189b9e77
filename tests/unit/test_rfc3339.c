/*
 * test_rfc3339.c — the one time parser of libnara (rfc3339.h) that
 * envelopes, nara-pki and nara-audit share: what it takes, and that an
 * impossible date is refused instead of moved into the next month.
 */
#include <stdint.h>

#include <criterion/criterion.h>

#include "rfc3339.h"

Test(rfc3339, date_times)
{
	int64_t t = 0;

	cr_expect_eq(rfc3339_parse("2026-03-01T12:00:00Z", &t), 0);
	cr_expect_eq(t, 1772366400);
	cr_expect_eq(rfc3339_parse("2026-03-01T13:30:00+01:30", &t), 0);
	cr_expect_eq(t, 1772366400);
	cr_expect_eq(rfc3339_parse("2026-03-01T10:00:00-02:00", &t), 0);
	cr_expect_eq(t, 1772366400);
	cr_expect_eq(rfc3339_parse("2026-03-01T12:00:00.123456789Z", &t), 0);
	cr_expect_eq(t, 1772366400);
	cr_expect_eq(rfc3339_parse("2024-02-29T00:00:00Z", &t), 0);
	cr_expect_eq(rfc3339_parse("2000-02-29T00:00:00Z", NULL), 0);
}

Test(rfc3339, refused)
{
	static const char *const bad[] = {
		"2026-11-31T00:00:00Z", "2026-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
		"2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z",
		"2026-03-01t12:00:00Z", "2026-03-01T12:00:00z",
		"2026-03-01T24:00:00Z", "2026-03-01T12:60:00Z",
		"2026-03-01T12:00:60Z", "2026-03-01T12:00:00",
		"2026-03-01T12:00:00+24:00", "2026-03-01T12:00:00+01:60",
		"2026-03-01T12:00:00+0100", "2026-03-01T12:00:00.Z",
		"2026-03-01T12:00:00.1234567890Z", "2026-03-01T12:00:00Zjunk",
		"2026-3-01T12:00:00Z", "2026-03-01 12:00:00Z", "", "2026-03-01",
		"2026-03-01T12:00Z",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(rfc3339_parse(bad[i], NULL), -1, "%s", bad[i]);
	cr_expect_eq(rfc3339_parse(NULL, NULL), -1);
}

Test(rfc3339, dates)
{
	int64_t t = 0;
	bool date = false;

	cr_expect_eq(rfc3339_parse_date("2026-03-01", &t), 0);
	cr_expect_eq(t, 1772323200);
	cr_expect_eq(rfc3339_parse_date("2026-11-31", &t), -1);
	cr_expect_eq(rfc3339_parse_date("2026-02-29", &t), -1);
	cr_expect_eq(rfc3339_parse_date("2026-03-01x", &t), -1);
	cr_expect_eq(rfc3339_parse_date("2026-03-01T00:00:00Z", &t), -1);
	cr_expect_eq(rfc3339_parse_any("2026-03-01", &t, &date), 0);
	cr_expect(date);
	cr_expect_eq(rfc3339_parse_any("2026-03-01T00:00:00Z", &t, &date), 0);
	cr_expect(!date);
	cr_expect_eq(t, 1772323200);
	cr_expect_eq(rfc3339_parse_any("2026-11-31", &t, &date), -1);
	cr_expect_eq(rfc3339_month_days(2024, 2), 29);
	cr_expect_eq(rfc3339_month_days(2100, 2), 28);
	cr_expect_eq(rfc3339_month_days(2026, 13), 0);
}
