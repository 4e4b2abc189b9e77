/*
 * test_pnr.c — every spelling of a personal or coordination number comes
 * out as the same 12 digits (pnr.h), the century of a two-digit year is
 * the one Skatteverket's rule gives on a fixed day, and wrong numbers are
 * refused with NR013 without the number in the text.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "pnr.h"

/* A fixed "today" so that the century tests do not depend on the clock. */
#define TODAY 20261203

static void
expect_norm(const char *in, const char *want)
{
	struct nara_err err = { 0 };
	char out[PNR_LEN + 1];

	cr_expect_eq(pnr_normalise_at(in, TODAY, out, &err), 0,
	    "\"%s\" refused: %s", in, err.text);
	cr_expect_str_eq(out, want, "\"%s\" gave %s, not %s", in, out, want);
}

static void
expect_refused(const char *in)
{
	struct nara_err err = { 0 };
	char out[PNR_LEN + 1];

	cr_expect_eq(pnr_normalise_at(in, TODAY, out, &err), -1,
	    "\"%s\" accepted as %s", in, out);
	cr_expect_eq(err.code, NR_BAD_PERSONAL_NUMBER, "\"%s\": code %d", in,
	    (int)err.code);
	cr_expect_str_eq(out, "", "\"%s\": output left behind", in);
	cr_expect(strpbrk(err.text, "0123456789") == NULL || strstr(err.text,
	    "NNNN") != NULL, "\"%s\": the text repeats digits: %s", in, err.text);
}

Test(pnr, every_spelling_of_one_number)
{
	expect_norm("201902140621", "201902140621");
	expect_norm("20190214-0621", "201902140621");
	expect_norm("190214-0621", "201902140621");
	expect_norm("1902140621", "201902140621");
	expect_norm("  190214-0621\n", "201902140621");
	expect_norm("\t20190214-0621   \t   \r\n", "201902140621");
	expect_norm("\n1902140621        ", "201902140621");
}

/* Anything after the number is refused, however far behind a run of
 * blanks it comes: the number that was meant is not known. */
Test(pnr, trailing_text_refused)
{
	static const char *const bad[] = {
		"191212121212    X",
		"19121212-1212        1",
		"121212+1212                  and more",
		"1212121212\t\t\t\t\t\t\tx",
		"191212121212 \n191212121212",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i]);
}

Test(pnr, tolvan_born_1912_is_over_100)
{
	/* 121212-1212 without "+" is a child born 2012; with "+" the
	 * person born 1912, 114 years old on TODAY. */
	expect_norm("121212-1212", "201212121212");
	expect_norm("121212+1212", "191212121212");
	expect_norm("19121212-1212", "191212121212");
	expect_norm("191212121212", "191212121212");
}

Test(pnr, century_turns_on_the_birthday)
{
	/* 261203: born today, 0 years old; 261204: tomorrow's date, so the
	 * latest such birthday was in 1926. */
	expect_norm("261203-0011", "202612030011");
	expect_norm("2612030011", "202612030011");
	expect_norm("261204-0010", "192612040010");
	expect_refused("261204+0010");  /* 1826: before 1890 */
}

Test(pnr, coordination_number)
{
	/* Day 63 = born on the 3rd; the century is decided on the real day. */
	expect_norm("701063-2391", "197010632391");
	expect_norm("7010632391", "197010632391");
	expect_norm("19701063-2391", "197010632391");
	expect_norm("197010632391", "197010632391");
}

Test(pnr, wrong_ones_refused)
{
	static const char *const bad[] = {
		"", "   ", "20190102-0621",  /* check digit */
		"190102-0621", "1901020621", "201913020622", /* month 13 */
		"20190230-0622", "190230+0622", "19021406212",
		"2019021406212", "20190102+0622", "201901-020622",
		"190102 0622", "19O102-0622", "190102--0622", "+190214-0621",
		"190214-06210", "abcdefghijkl", "2019-01-02-0622",
		"701093-2391",    /* coordination day 93 - 60 = 33 */
		"20270101-0000",  /* born in a later year */
		"12345678901234567890",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i]);
	expect_refused(NULL);
}

Test(pnr, today_from_the_clock)
{
	struct nara_err err = { 0 };
	char out[PNR_LEN + 1];

	cr_expect_eq(pnr_normalise("19121212-1212", out, &err), 0);
	cr_expect_str_eq(out, "191212121212");
	cr_expect_eq(pnr_normalise("121212+1212", out, &err), 0);
	cr_expect_str_eq(out, "191212121212");
}
