/*
 * pnr.h — the spellings people write a Swedish personal identity number
 * (personnummer) or coordination number (samordningsnummer) in, turned
 * into the one 12-digit form YYYYMMDDNNNC that envelopes carry and that
 * the broker pseudonymises. Any tool that takes a number from a person
 * (nara-audit's subject and extract) normalises it here first, so every
 * spelling finds the same child.
 */
#ifndef NARA_PNR_H
#define NARA_PNR_H

#include "errors.h"

#define PNR_LEN 12

/*
 * in may be YYYYMMDD-NNNC, YYYYMMDDNNNC, YYMMDD-NNNC, YYMMDDNNNC or
 * YYMMDD+NNNC (surrounding blanks are ignored). A two-digit year takes the
 * century that makes the person younger than 100 on the day today
 * (YYYYMMDD as an integer, e.g. 20261203), as Skatteverket does; "+" marks
 * a person of 100 or more, one century earlier. A coordination number's
 * day (day of birth + 60) counts as its day of birth. The result is then
 * checked like an envelope's number (validate_personal_number: real date,
 * year of birth, Luhn check digit). 0 with the 13-byte out filled, or -1
 * with err (NR013); err never repeats the number.
 */
int pnr_normalise_at(const char *in, int today, char out[PNR_LEN + 1],
    struct nara_err *err);

/* pnr_normalise_at for today's date (UTC). */
int pnr_normalise(const char *in, char out[PNR_LEN + 1], struct nara_err *err);

#endif
