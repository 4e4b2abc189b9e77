/*
 * opscheck.h — the operators' overall state of a running narad, computed
 * one way for every place that shows it: `naractl check` (the Nagios line),
 * the dashboard's banner and /api/nodes. Input is narad's own status and
 * nodes views (the JSON of the control socket); output the level, one
 * line of reasons, and the problems worst first.
 */
#ifndef NARA_OPSCHECK_H
#define NARA_OPSCHECK_H

#include <stddef.h>

#include <jansson.h>

/* Levels, as Nagios counts them (and naractl check exits with). */
enum opscheck_level {
	OPSCHECK_OK = 0, OPSCHECK_WARNING = 1, OPSCHECK_CRITICAL = 2,
	OPSCHECK_UNKNOWN = 3,
};

/* A backlog at least warn_age/crit_age seconds old, a certificate (a
 * node's, or narad's own: status "broker_cert_days_left") with at most
 * warn_days/crit_days left, or disconnected_warn or more configured nodes
 * not connected (0: not checked) is a problem. With [ha] (status "ha"),
 * so is a database without a synchronous standby (WARNING, "synchronous
 * standbys" 0 of threshold 1) and a lease older than its term (CRITICAL,
 * "lease age ms"), named by the instance. */
struct opscheck_thresholds {
	long long warn_age, crit_age, warn_days, crit_days, disconnected_warn;
};

/* The thresholds narad reports in its status view ("thresholds"). */
void opscheck_thresholds_of(json_t *status, struct opscheck_thresholds *th);

/*
 * Evaluate status and nodes (narad's views, borrowed) against th. A new
 * object: {"status": "OK"|"WARNING"|"CRITICAL", "exit_code": 0..2,
 * "message": one line of reasons (or a summary when all is well),
 * "problems": [{"node", "what", "value", "threshold", "level"}] worst
 * first, "thresholds": {...}}. NULL only when out of memory.
 */
json_t *opscheck_eval(json_t *status, json_t *nodes,
    const struct opscheck_thresholds *th);

/* "OK", "WARNING", "CRITICAL", "UNKNOWN". */
const char *opscheck_level_name(int level);

/* "42 s", "5 min", "3 h", "2 d": an age as people read it. */
const char *opscheck_age_text(long long seconds, char *buf, size_t len);

#endif
