/*
 * errors.h — the one error catalogue of nara.
 *
 * Every refusal sent to a peer (Rejected, Nack, failure Receipt) and every
 * tool error names one of these codes. docs/PROTOCOL.md lists the same table;
 * tests/unit/test_errors.c checks that the two agree.
 */
#ifndef NARA_ERRORS_H
#define NARA_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

enum nara_code {
	NR_OK = 0,
	/* frames and sessions */
	NR_MALFORMED_FRAME,      /* NR001 */
	NR_PROTOCOL_VERSION,     /* NR002 */
	NR_NO_HELLO,             /* NR003 */
	NR_UNKNOWN_NODE,         /* NR004 */
	NR_UNEXPECTED_FRAME,     /* NR005 */
	NR_NOT_READING,          /* NR006 */
	/* envelope and body validation */
	NR_MISSING_FIELD,        /* NR010 */
	NR_BAD_MESSAGE_ID,       /* NR011 */
	NR_BAD_ADDRESS,          /* NR012 */
	NR_BAD_PERSONAL_NUMBER,  /* NR013 */
	NR_TYPE_MISMATCH,        /* NR014 */
	NR_BAD_TIME,             /* NR015 */
	NR_NO_LEGAL_BASIS,       /* NR016 */
	NR_LEGAL_BASIS_MISFIT,   /* NR017 */
	NR_SUBJECT_NOT_ALLOWED,  /* NR018 */
	NR_BAD_VALUE,            /* NR019 */
	NR_TOO_LARGE,            /* NR020 */
	NR_ATTACHMENT_LIMIT,     /* NR021 */
	NR_ATTACHMENT_HASH,      /* NR022 */
	NR_EXPIRED,              /* NR023 */
	NR_BAD_JSON,             /* NR024 */
	/* routing and policy */
	NR_SENDER_NOT_OWNED,     /* NR030 */
	NR_POLICY_DENIED,        /* NR031 */
	NR_NO_ROUTE,             /* NR032 */
	NR_DUPLICATE_CONFLICT,   /* NR033 */
	/* broker state (retryable) */
	NR_STORE_FULL,           /* NR040 */
	NR_STORE_FAILED,         /* NR041 */
	NR_UNAVAILABLE,          /* NR042 */
	/* delivery outcomes */
	NR_RECIPIENT_REFUSED,    /* NR050 */
	NR_EXPIRED_UNDELIVERED,  /* NR051 */
	NR_LOCAL_SYSTEM_REFUSED, /* NR052 */
	/* transport security */
	NR_AUTH_FAILED,          /* NR060 */
	/* configuration and tools */
	NR_CONFIG,               /* NR070 */
	NR_IO,                   /* NR071 */
	NR_USAGE,                /* NR072 */
	NR_CODE_COUNT
};

struct nara_code_info {
	enum nara_code code;
	const char *id;       /* "NR031" */
	const char *text;     /* short English text */
	bool retryable;       /* the same request may succeed later */
};

/* Detail of one failure: filled by the function that failed, owned by the
 * caller (usually on its stack). path is the field path ("envelope.subject
 * .personal_number"), empty when not about a field. */
struct nara_err {
	enum nara_code code;
	char path[128];
	char text[256];
};

/* Catalogue entry for a code; never NULL (unknown codes map to NR_OK's row). */
const struct nara_code_info *nara_code_info(enum nara_code code);
/* "NR031" for NR_POLICY_DENIED. */
const char *nara_code_id(enum nara_code code);
bool nara_code_retryable(enum nara_code code);
/* Parse "NR031" back into the enum; -1 when unknown. */
int nara_code_parse(const char *id, enum nara_code *out);
/* All catalogue rows, for docs and tests; *n receives the count. */
const struct nara_code_info *nara_code_table(size_t *n);

/* Record a failure in err (which may be NULL) and return -1, so callers can
 * write `return nara_err_set(err, NR_BAD_ADDRESS, "sender", "...")`. */
int nara_err_set(struct nara_err *err, enum nara_code code, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void nara_err_clear(struct nara_err *err);
/* "NR012 envelope.sender: not a nara address" into buf. */
const char *nara_err_format(const struct nara_err *err, char *buf, size_t len);

#endif
