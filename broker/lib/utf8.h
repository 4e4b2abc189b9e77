/*
 * utf8.h — UTF-8 (RFC 3629) as every part of nara reads it: well-formed
 * only (no overlong form, no surrogate, nothing above U+10FFFF), and the
 * control characters clinical text may not carry. The frame check runs
 * over every text field of every message, so the check of a whole text is
 * one pass that takes plain ASCII eight bytes at a time.
 */
#ifndef NARA_UTF8_H
#define NARA_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length of the well-formed sequence at s, of which n > 0 bytes may
 * be read, with its code point in *cp; 0 when there is none. A NUL is a
 * sequence of its own, so a NUL-terminated string may be read with n as
 * large as the bytes that follow s, terminator included. */
size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp);

/* Well-formed UTF-8 throughout the n bytes at s. */
bool utf8_valid(const unsigned char *s, size_t n);

/* A control character: C0 but tab, line feed and carriage return; DEL;
 * C1 (U+0080..U+009F). */
bool utf8_is_control(unsigned cp);

enum utf8_text {
	UTF8_TEXT_OK,
	UTF8_TEXT_INVALID,       /* not well-formed, wherever it is */
	UTF8_TEXT_CONTROL,       /* well-formed, with a control character */
};

/* The n bytes at s as text: a text that is not well-formed is INVALID even
 * when a control character comes first. */
enum utf8_text utf8_text_check(const unsigned char *s, size_t n);

/* s (n bytes) into out (cap > 0 bytes, NUL-terminated) with every byte
 * that is not part of a well-formed sequence as U+FFFD, cut between
 * characters when out is full; the length written. */
size_t utf8_repair(const char *s, size_t n, char *out, size_t cap);

/* The string s into out (cap > 0 bytes, NUL-terminated) as it is, but
 * cut before the character that would not fit; the length written.
 * NULL is copied as "". For fields copied on every message, where
 * snprintf("%s") costs a format parse and may cut a character in two. */
size_t utf8_copy(char *out, size_t cap, const char *s);

#endif
