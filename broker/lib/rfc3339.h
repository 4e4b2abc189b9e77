/*
 * rfc3339.h — the one parser of times that people and peers write: RFC
 * 3339 date-times for envelopes (validate.c), certificate validity
 * (nara-pki) and audit queries (nara-audit), and plain full-dates for the
 * tools' day arguments. Strict: upper-case T and Z, a real calendar date
 * (2026-11-31 is refused, never moved to December), seconds 00-59, at
 * most 9 fraction digits (dropped), offsets up to +-23:59.
 */
#ifndef NARA_RFC3339_H
#define NARA_RFC3339_H

#include <stdbool.h>
#include <stdint.h>

/* "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" into seconds since the
 * epoch (UTC). 0, or -1 when s is not one. */
int rfc3339_parse(const char *s, int64_t *epoch);

/* "YYYY-MM-DD" into its UTC midnight. 0, or -1. */
int rfc3339_parse_date(const char *s, int64_t *epoch);

/* Either form; *date_only says which (may be NULL). 0, or -1. */
int rfc3339_parse_any(const char *s, int64_t *epoch, bool *date_only);

/* Days in month (1-12) of year, 0 for a month that does not exist. */
int rfc3339_month_days(int year, int month);

#endif
