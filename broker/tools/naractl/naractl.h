/*
 * naractl.h — what the parts of naractl share: the options, the exit codes,
 * the transport to narad's control socket (transport.c) and the formatting
 * helpers (main.c) that both the tables and the Nagios check line use.
 */
#ifndef NARACTL_H
#define NARACTL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define PROG "naractl"
#define DEFAULT_CONFIG "/etc/nara/nara.conf"
#define DEFAULT_SOCKET "ipc:///run/nara/control.sock"

/* Exit codes; check uses the Nagios ones (0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN). EXIT_OUTCOME_UNKNOWN: a command that changes state (retry,
 * reload, step-down) was sent and no reply came in time, so narad may
 * have carried it out: a script must look before it repeats it. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNKNOWN = 3,
    EXIT_OUTCOME_UNKNOWN = 4 };

struct opts {
	const char *config;
	const char *socket;
	bool json;
	int timeout_ms;
	long limit;
	const char *node;           /* retry --node */
	bool all;                   /* retry --all */
	long long warn_age, crit_age, warn_days, crit_days; /* -1 = config */
	long long disconnected_warn;    /* -1 = config */
	const char *ro_socket;      /* [broker] control_readonly, "" = none */
	char socket_buf[512], ro_buf[512]; /* endpoints read from the file */
};

/* "naractl: ..." on stderr. */
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "90", "15m", "2h", "1d" into seconds, -1 when malformed; a count >= 0. */
long long parse_duration(const char *s);
long long parse_count(const char *s);
/* Table cells from JSON values; "-" when absent. buf is the caller's. */
const char *fmt_age(json_t *v, char *buf, size_t len);
const char *fmt_int(json_t *v, char *buf, size_t len);
/* An RFC 3339 time as narad gives it, printed as it is. */
const char *fmt_time(json_t *v, char *buf, size_t len);
const char *str(json_t *o, const char *key);
void print_json(json_t *j);

/* An aligned table for people: add the header row, then the rows (cells
 * copied; NULL prints "-"), then print (which frees the cells). */
#define TABLE_COLS 10
struct table {
	size_t ncols, nrows;
	char **cells;               /* nrows * ncols, row 0 = header */
	size_t width[TABLE_COLS];
};
void table_add(struct table *t, const char *const *row);
void table_print(struct table *t);

/* The endpoint for a command (read-only ones may fall back to
 * control_readonly); borrowed from o. */
const char *endpoint_for(const struct opts *o, bool changes);
/* Send req (consumed) and return the reply's result (caller's), or NULL
 * after printing why; *exit_code is the status naractl should end with
 * (EXIT_OUTCOME_UNKNOWN when changes and no reply came). */
json_t *call(const struct opts *o, json_t *req, bool changes, int *exit_code);

/* ops.c: conns [NODE], dead [NODE], retry --node NODE --all; node may be
 * NULL (every node) except for retry_all. Return naractl's exit status. */
int ops_conns(const struct opts *o, const char *node);
int ops_dead(const struct opts *o, const char *node);
int ops_retry_all(const struct opts *o, const char *node);

/* check (check.c): one Nagios line on stdout, whatever happens; returns
 * the Nagios exit code. */
int check_run(const struct opts *o);
/* The same line for a check that cannot even ask narad. */
int check_unknown(const struct opts *o, const char *why);

#endif
