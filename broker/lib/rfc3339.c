/*
 * rfc3339.c — see rfc3339.h. Fields are read digit by digit at fixed
 * places, so nothing is read past the end of the string, and the date is
 * checked against the calendar before timegm() could normalise it.
 */
#include "rfc3339.h"

#include <time.h>

/* Value of n decimal digits at s, or -1; stops at the first non-digit. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
rfc3339_month_days(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	    31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	if (month < 1 || month > 12)
		return 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DD" at s into tm; -1 unless a real date. */
static int
date_fields(const char *s, struct tm *tm)
{
	int y = digits(s, 4), m, d;

	if (y < 0 || s[4] != '-' || (m = digits(s + 5, 2)) < 0 || s[7] != '-' ||
	    (d = digits(s + 8, 2)) < 1 || d > rfc3339_month_days(y, m))
		return -1;
	tm->tm_year = y - 1900;
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	return 0;
}

/* "Z" / "+HH:MM" / "-HH:MM" at *p: offset in seconds east of UTC. */
static int
zone(const char **p, int *offset)
{
	const char *s = *p;
	int hours, minutes;

	if (s[0] == 'Z') {
		*offset = 0;
		*p = s + 1;
		return 0;
	}
	if (s[0] != '+' && s[0] != '-')
		return -1;
	if ((hours = digits(s + 1, 2)) < 0 || hours > 23 || s[3] != ':' ||
	    (minutes = digits(s + 4, 2)) < 0 || minutes > 59)
		return -1;
	*offset = (hours * 3600 + minutes * 60) * (s[0] == '-' ? -1 : 1);
	*p = s + 6;
	return 0;
}

int
rfc3339_parse(const char *s, int64_t *epoch)
{
	struct tm tm = { 0 };
	const char *p;
	int offset = 0, n = 0;

	if (s == NULL || date_fields(s, &tm) != 0 || s[10] != 'T' ||
	    (tm.tm_hour = digits(s + 11, 2)) < 0 || tm.tm_hour > 23 ||
	    s[13] != ':' || (tm.tm_min = digits(s + 14, 2)) < 0 ||
	    tm.tm_min > 59 || s[16] != ':' ||
	    (tm.tm_sec = digits(s + 17, 2)) < 0 || tm.tm_sec > 59)
		return -1;
	p = s + 19;
	if (*p == '.') {
		while (p[1 + n] >= '0' && p[1 + n] <= '9')
			n++;
		if (n < 1 || n > 9)
			return -1;
		p += 1 + n;
	}
	if (zone(&p, &offset) != 0 || *p != '\0')
		return -1;
	if (epoch != NULL)
		*epoch = (int64_t)timegm(&tm) - offset;
	return 0;
}

int
rfc3339_parse_date(const char *s, int64_t *epoch)
{
	struct tm tm = { 0 };

	if (s == NULL || date_fields(s, &tm) != 0 || s[10] != '\0')
		return -1;
	if (epoch != NULL)
		*epoch = (int64_t)timegm(&tm);
	return 0;
}

int
rfc3339_parse_any(const char *s, int64_t *epoch, bool *date_only)
{
	bool date = s != NULL && rfc3339_parse_date(s, epoch) == 0;

	if (date_only != NULL)
		*date_only = date;
	return date || rfc3339_parse(s, epoch) == 0 ? 0 : -1;
}
