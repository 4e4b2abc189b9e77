/*
 * utf8.c — the one UTF-8 decoder of nara (utf8.h).
 */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

#define ONES   0x0101010101010101ull
#define HIGHS  0x8080808080808080ull

size_t
utf8_seq(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0], v, min;
	size_t more;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		more = 1, v = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		more = 2, v = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		more = 3, v = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n <= more)
		return 0;
	for (size_t k = 1; k <= more; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[k] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return more + 1;
}

bool
utf8_valid(const unsigned char *s, size_t n)
{
	unsigned cp;

	for (size_t i = 0, k; i < n; i += k)
		if ((k = utf8_seq(s + i, n - i, &cp)) == 0)
			return false;
	return true;
}

bool
utf8_is_control(unsigned cp)
{
	return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
	    (cp >= 0x7f && cp <= 0x9f);
}

/* Eight bytes of printable ASCII (0x20..0x7e), the most of any text. */
static bool
plain_ascii(const unsigned char *s)
{
	uint64_t v;

	memcpy(&v, s, sizeof(v));
	/* a byte >= 0x80, < 0x20 (its high bit after subtracting 0x20 from a
	 * byte below 0x80) or 0x7f (0x00 after xor, the same test) */
	return ((v | (v - 0x20 * ONES) | ((v ^ 0x7f * ONES) - ONES)) &
	    HIGHS) == 0;
}

enum utf8_text
utf8_text_check(const unsigned char *s, size_t n)
{
	bool control = false;
	unsigned cp;
	size_t i = 0, k;

	while (i < n) {
		if (n - i >= 8 && plain_ascii(s + i)) {
			i += 8;
			continue;
		}
		if ((k = utf8_seq(s + i, n - i, &cp)) == 0)
			return UTF8_TEXT_INVALID;
		control = control || utf8_is_control(cp);
		i += k;
	}
	return control ? UTF8_TEXT_CONTROL : UTF8_TEXT_OK;
}

size_t
utf8_repair(const char *s, size_t n, char *out, size_t cap)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0, k, len;
	unsigned cp;

	for (size_t i = 0; i < n; i += k) {
		const char *piece = s + i;

		if ((k = utf8_seq(u + i, n - i, &cp)) == 0) {
			piece = "\xef\xbf\xbd";
			k = 1;
			len = 3;
		} else {
			len = k;
		}
		if (o + len >= cap)
			break;
		memcpy(out + o, piece, len);
		o += len;
	}
	out[o] = '\0';
	return o;
}

size_t
utf8_copy(char *out, size_t cap, const char *s)
{
	size_t n = s != NULL ? strnlen(s, cap) : 0;

	if (n == cap) {   /* too long: back to the start of a character */
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, s != NULL ? s : "", n);
	out[n] = '\0';
	return n;
}
