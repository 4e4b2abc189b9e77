/*
 * pnr.c — every written form of a personal or coordination number into
 * the 12-digit form (pnr.h). The checks of the result are
 * validate_personal_number's, so a number the broker accepts in an
 * envelope and the same number typed by an auditor agree.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "pnr.h"
#include "validate.h"

/* What may surround a number: a typed or pasted line's blanks. */
#define BLANKS " \t\r\n"
#define SHAPES "YYYYMMDD-NNNN, YYYYMMDDNNNN, YYMMDD-NNNN, YYMMDD+NNNN or " \
	"YYMMDDNNNN"

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int
two(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* The four-digit year for a two-digit one: the latest year whose birthday
 * (YYMMDD, coordination day taken back by 60) is not after today; one
 * century earlier for "+". */
static int
century_year(const char *yymmdd, bool plus, int today)
{
	int yy = two(yymmdd), mm = two(yymmdd + 2), dd = two(yymmdd + 4);
	int year = today / 10000 / 100 * 100 + yy;

	if (dd > 60)
		dd -= 60;
	if (year * 10000 + mm * 100 + dd > today)
		year -= 100;
	return plus ? year - 100 : year;
}

int
pnr_normalise_at(const char *in, int today, char out[PNR_LEN + 1],
    struct nara_err *err)
{
	char s[16];
	size_t n, lead;
	int year;

	out[0] = '\0';
	if (in == NULL)
		return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, NULL,
		    "no number given");
	/* Trim the whole input before judging its length: a length capped
	 * first would cut off whatever follows a run of blanks and accept
	 * "191212121212    X" as the number alone. */
	lead = strspn(in, BLANKS);
	n = strlen(in + lead);
	while (n > 0 && strchr(BLANKS, in[lead + n - 1]) != NULL)
		n--;
	if (n >= sizeof(s))
		return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, NULL,
		    "too long: write it as " SHAPES);
	memcpy(s, in + lead, n);
	s[n] = '\0';
	if (n == 12 && all_digits(s, 12)) {
		memcpy(out, s, 12);
	} else if (n == 13 && all_digits(s, 8) && s[8] == '-' &&
	    all_digits(s + 9, 4)) {
		memcpy(out, s, 8);
		memcpy(out + 8, s + 9, 4);
	} else if ((n == 10 && all_digits(s, 10)) || (n == 11 &&
	    all_digits(s, 6) && (s[6] == '-' || s[6] == '+') &&
	    all_digits(s + 7, 4))) {
		year = century_year(s, n == 11 && s[6] == '+', today);
		if (year < 1000)
			return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, NULL,
			    "year of birth out of range");
		out[0] = (char)('0' + year / 1000);
		out[1] = (char)('0' + year / 100 % 10);
		memcpy(out + 2, s, 6);
		memcpy(out + 8, s + n - 4, 4);
	} else {
		return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, NULL,
		    "not a personal or coordination number: write it as "
		    SHAPES);
	}
	out[PNR_LEN] = '\0';
	if (validate_personal_number(out, err, NULL) != 0) {
		memset(out, 0, PNR_LEN + 1);
		return -1;
	}
	return 0;
}

int
pnr_normalise(const char *in, char out[PNR_LEN + 1], struct nara_err *err)
{
	time_t now = time(NULL);
	struct tm tm;
	int today = 99991231;

	if (gmtime_r(&now, &tm) != NULL)
		today = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
		    tm.tm_mday;
	return pnr_normalise_at(in, today, out, err);
}
