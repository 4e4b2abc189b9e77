/*
 * log.c — leveled logging to stderr.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_name = "nara";
static enum log_level log_level = LOG_LVL_INFO;
static bool log_journal;

static const char *const level_names[] = { "error", "warning", "info", "debug" };
static const int level_syslog[] = { 3, 4, 6, 7 };

void
log_init(const char *name, enum log_level level, bool journal_prefix)
{
	log_name = name;
	log_level = level;
	log_journal = journal_prefix;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOG_LVL_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/*
 * text into out (len bytes, NUL-terminated, cut when full) with control
 * characters written as escapes: \n, \r, \t, or \xNN for the other C0
 * characters and DEL. Log lines carry values that peers chose (a command
 * name, a node id, a path); a newline in one would start a line of its own
 * that reads as narad's, and journald and log readers split on it.
 */
static void
log_escape(char *out, size_t len, const char *text)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)text;
	char esc[5];
	size_t o = 0, n;

	for (; *p != '\0'; p++) {
		if (*p >= 0x20 && *p != 0x7f) {
			esc[0] = (char)*p;
			n = 1;
		} else if (*p == '\n' || *p == '\r' || *p == '\t') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
			n = 2;
		} else {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[*p >> 4];
			esc[3] = hex[*p & 0xf];
			n = 4;
		}
		if (o + n >= len)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char text[1024], line[1024];
	int n;

	if (level > log_level)
		return;
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>%s: ",
		    level_syslog[level], level_names[level]);
	else
		n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_name,
		    (long)getpid(), level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(text, sizeof(text), fmt, ap);
	log_escape(line + n, sizeof(line) - (size_t)n, text);
	fprintf(stderr, "%s\n", line);
}

#define LOG_FN(fn, lvl)                      \
	void fn(const char *fmt, ...)        \
	{                                    \
		va_list ap;                  \
		va_start(ap, fmt);           \
		log_vwrite(lvl, fmt, ap);    \
		va_end(ap);                  \
	}

static void __attribute__((format(printf, 2, 3)))
log_at(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

LOG_FN(log_error, LOG_LVL_ERROR)
LOG_FN(log_warn, LOG_LVL_WARNING)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void
log_limited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	struct timespec ts;
	char text[900];
	va_list ap;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec - rl->start >= LOG_LIMIT_SECONDS) {
		rl->start = ts.tv_sec;
		rl->lines = 0;
	}
	if (rl->lines >= LOG_LIMIT_BURST) {
		rl->dropped++;
		return;
	}
	rl->lines++;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (rl->dropped > 0) {
		log_at(level, "%s (%lu similar lines left out)", text,
		    rl->dropped);
		rl->dropped = 0;
	} else {
		log_at(level, "%s", text);
	}
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
