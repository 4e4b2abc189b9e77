/*
 * test_utf8.c — the one UTF-8 decoder (utf8.h): the sequences RFC 3629
 * refuses, and the whole-text check, whose fast path takes printable
 * ASCII eight bytes at a time, against a byte-by-byte model of the rules:
 * every position of a control character, an invalid byte or a multi-byte
 * character inside and across eight-byte chunks.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* The model: Unicode's table of well-formed byte sequences (chapter 3,
 * table 3-7), each row the range of every byte of a sequence. */
static const struct {
	int len;
	unsigned char lo[4], hi[4];
} well_formed[] = {
	{ 1, { 0x00 }, { 0x7f } },
	{ 2, { 0xc2, 0x80 }, { 0xdf, 0xbf } },
	{ 3, { 0xe0, 0xa0, 0x80 }, { 0xe0, 0xbf, 0xbf } },
	{ 3, { 0xe1, 0x80, 0x80 }, { 0xec, 0xbf, 0xbf } },
	{ 3, { 0xed, 0x80, 0x80 }, { 0xed, 0x9f, 0xbf } },
	{ 3, { 0xee, 0x80, 0x80 }, { 0xef, 0xbf, 0xbf } },
	{ 4, { 0xf0, 0x90, 0x80, 0x80 }, { 0xf0, 0xbf, 0xbf, 0xbf } },
	{ 4, { 0xf1, 0x80, 0x80, 0x80 }, { 0xf3, 0xbf, 0xbf, 0xbf } },
	{ 4, { 0xf4, 0x80, 0x80, 0x80 }, { 0xf4, 0x8f, 0xbf, 0xbf } },
};

/* The row of well_formed that the bytes at s[i] (of n) match, -1 none. */
static int
model_row(const unsigned char *s, size_t n, size_t i)
{
	for (int r = 0; r < (int)(sizeof(well_formed) /
	    sizeof(well_formed[0])); r++) {
		int k = 0;

		while (k < well_formed[r].len && i + (size_t)k < n &&
		    s[i + k] >= well_formed[r].lo[k] &&
		    s[i + k] <= well_formed[r].hi[k])
			k++;
		if (k == well_formed[r].len)
			return r;
	}
	return -1;
}

static enum utf8_text
model(const unsigned char *s, size_t n)
{
	bool control = false;
	int r;

	for (size_t i = 0; i < n; i += (size_t)well_formed[r].len) {
		if ((r = model_row(s, n, i)) < 0)
			return UTF8_TEXT_INVALID;
		/* C0 but tab, LF, CR; DEL; C1 (C2 80..C2 9F) */
		if (r == 0 && ((s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' &&
		    s[i] != '\r') || s[i] == 0x7f))
			control = true;
		if (r == 1 && s[i] == 0xc2 && s[i + 1] <= 0x9f)
			control = true;
	}
	return control ? UTF8_TEXT_CONTROL : UTF8_TEXT_OK;
}

Test(utf8, sequences_refused_and_taken)
{
	static const struct { const char *s; size_t len; unsigned cp; } t[] = {
		{ "A", 1, 'A' }, { "\xc3\xa5", 2, 0xe5 },
		{ "\xe2\x82\xac", 3, 0x20ac }, { "\xf0\x9f\x98\x80", 4, 0x1f600 },
		{ "\xf4\x8f\xbf\xbf", 4, 0x10ffff }, { "\xc2\x85", 2, 0x85 },
		{ "\xc0\xaf", 0, 0 }, { "\xc1\xbf", 0, 0 },          /* overlong */
		{ "\xe0\x80\xaf", 0, 0 }, { "\xf0\x80\x80\xaf", 0, 0 },
		{ "\xed\xa0\x80", 0, 0 }, { "\xed\xbf\xbf", 0, 0 },  /* surrogates */
		{ "\xf4\x90\x80\x80", 0, 0 }, { "\xf5\x80\x80\x80", 0, 0 },
		{ "\x80", 0, 0 }, { "\xbf", 0, 0 }, { "\xff", 0, 0 },
		{ "\xc3", 0, 0 }, { "\xe2\x82", 0, 0 }, { "\xc3(", 0, 0 },
	};
	unsigned cp;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const unsigned char *s = (const unsigned char *)t[i].s;

		cp = 0;
		cr_expect_eq(utf8_seq(s, strlen(t[i].s), &cp), t[i].len,
		    "sequence %zu", i);
		if (t[i].len > 0)
			cr_expect_eq(cp, t[i].cp, "sequence %zu: U+%04X", i, cp);
		cr_expect_eq(utf8_valid(s, strlen(t[i].s)), t[i].len > 0);
	}
	/* n bounds the read: a sequence cut by it is none */
	cr_expect_eq(utf8_seq((const unsigned char *)"\xe2\x82\xac", 2, &cp), 0);
}

Test(utf8, controls)
{
	static const unsigned yes[] = { 0, 1, 0x1b, 0x1f, 0x7f, 0x80, 0x85,
	    0x9f }, no[] = { '\t', '\n', '\r', ' ', '~', 0xa0, 0xe5, 0x2028 };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_expect(utf8_is_control(yes[i]), "U+%04X", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_expect_not(utf8_is_control(no[i]), "U+%04X", no[i]);
}

/* Each of these pieces at every offset 0..23 of a 40-byte ASCII text, and
 * two of them at every pair of offsets: the check agrees with the model
 * every time, and the cases cover all three answers. */
Test(utf8, text_check_agrees_with_the_rules_at_every_offset)
{
	static const char *const piece[] = {
		"\x01", "\x1f", "\x7f", "\t", "\n", "\r", " ", "~", "\x1b[",
		"\xc2\x85", "\xc2\xa0", "\xc3\xa5", "\xe2\x82\xac",
		"\xf0\x9f\x98\x80", "\x80", "\xc3", "\xe2\x82", "\xed\xa0\x80",
		"\xc0\xaf", "\xff", "\x20\x7f", "\x7e\x1f",
	};
	size_t np = sizeof(piece) / sizeof(piece[0]);
	unsigned char s[48];
	int seen[3] = { 0 }, cases = 0;

	for (size_t a = 0; a < np; a++)
		for (size_t b = 0; b <= np; b++)
			for (size_t i = 0; i < 24; i++)
				for (size_t j = i; j < 24; j += (b == np ? 24 : 5)) {
					size_t la = strlen(piece[a]);
					size_t lb = b < np ? strlen(piece[b]) : 0;

					memset(s, 'x', 40);
					if (j < i + la && b < np)
						continue;
					memcpy(s + i, piece[a], la);
					if (b < np)
						memcpy(s + j, piece[b], lb);
					for (size_t n = j + lb; n <= 40; n += 7) {
						enum utf8_text m = model(s, n);

						cr_assert_eq(utf8_text_check(s, n), m,
						    "pieces %zu at %zu, %zu at %zu, "
						    "%zu bytes", a, i, b, j, n);
						seen[m]++;
						cases++;
					}
				}
	cr_expect_gt(seen[UTF8_TEXT_OK], 0);
	cr_expect_gt(seen[UTF8_TEXT_INVALID], 0);
	cr_expect_gt(seen[UTF8_TEXT_CONTROL], 0);
	fprintf(stderr, "utf8: %d texts, ok %d, invalid %d, control %d\n",
	    cases, seen[0], seen[1], seen[2]);
}

/* Every byte value alone in each of the eight places of a chunk, with
 * ASCII around it: only 0x20..0x7e (and tab, line feed, carriage return
 * as controls that are allowed) leave the text plain. */
Test(utf8, every_byte_in_every_place_of_a_chunk)
{
	unsigned char s[24];

	for (unsigned v = 0; v < 256; v++)
		for (size_t i = 0; i < 8; i++) {
			memset(s, 'a', sizeof(s));
			s[8 + i] = (unsigned char)v;
			cr_assert_eq(utf8_text_check(s, sizeof(s)),
			    model(s, sizeof(s)), "byte 0x%02x at %zu", v, 8 + i);
		}
}

Test(utf8, repair_marks_each_stray_byte)
{
	char out[64];

	cr_expect_eq(utf8_repair("A\xc3" "B\xff", 4, out, sizeof(out)), 8);
	cr_expect_str_eq(out, "A\xef\xbf\xbd" "B\xef\xbf\xbd");
	cr_expect_eq(utf8_repair("\xc3\xa5\xe2\x82\xac", 5, out, sizeof(out)), 5);
	cr_expect_str_eq(out, "\xc3\xa5\xe2\x82\xac");
	/* full: cut between characters */
	cr_expect_eq(utf8_repair("ab\xe2\x82\xac", 5, out, 5), 2);
	cr_expect_str_eq(out, "ab");
	cr_expect_eq(utf8_repair("a\xff", 2, out, 4), 1);
	cr_expect_str_eq(out, "a");
}

Test(utf8, copy_cuts_between_characters)
{
	static const struct {
		const char *in;
		size_t cap, len;
		const char *out;
	} cases[] = {
		{ "abc", 6, 3, "abc" },
		{ "abcde", 6, 5, "abcde" },
		{ "abcdef", 6, 5, "abcde" },
		/* "\xc3\xa5" (a with ring) would end at byte 6: cut before it */
		{ "abcd\xc3\xa5", 6, 4, "abcd" },
		{ "abc\xc3\xa5", 6, 5, "abc\xc3\xa5" },
		/* a four-byte character that starts at byte 3 */
		{ "ab\xf0\x9f\x98\x80", 6, 2, "ab" },
		{ NULL, 6, 0, "" },
		{ "abc", 1, 0, "" },
	};
	char out[6];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(utf8_copy(out, cases[i].cap, cases[i].in),
		    cases[i].len, "case %zu", i);
		cr_expect_str_eq(out, cases[i].out, "case %zu", i);
	}
}
