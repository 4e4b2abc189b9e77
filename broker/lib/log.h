/*
 * log.h — leveled logging to stderr, shared by every binary.
 *
 * Lines look like "narad[1234]: warning: text". Under systemd, journald reads
 * the "<N>" priority prefix that log_init(.., true) adds. Clinical content
 * must never be passed to these functions: log ids, codes and addresses only.
 * Control characters in the text (a newline in a value a peer sent) are
 * written as escapes (\n, \x1b), so every call is exactly one line.
 */
#ifndef NARA_LOG_H
#define NARA_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* name: program name (borrowed, must outlive logging); level: most verbose
 * level printed; journal_prefix: prefix lines with "<N>" for journald. */
void log_init(const char *name, enum log_level level, bool journal_prefix);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error|warning|info|debug"; -1 when unknown. */
int log_level_parse(const char *s, enum log_level *out);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Lines about one subject (one peer) are limited so that a peer cannot fill
 * the log: at most LOG_LIMIT_BURST per LOG_LIMIT_SECONDS. The first line
 * written after some were left out says how many. Zeroed memory is a fresh
 * limiter; the caller owns it. */
#define LOG_LIMIT_BURST 10
#define LOG_LIMIT_SECONDS 10
struct log_ratelimit {
	int64_t start;             /* monotonic seconds: start of the window */
	unsigned lines;            /* written in this window */
	unsigned long dropped;     /* left out since the last line written */
};
void log_limited(struct log_ratelimit *rl, enum log_level level,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* For startup failures and broken invariants only: logs and exits 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
