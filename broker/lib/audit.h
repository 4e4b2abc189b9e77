/*
 * audit.h — the canonical form of one audit row and the hash chain over the
 * audit table, shared by the store (which appends rows) and by nara-audit
 * (which verifies and reports them).
 *
 * Each row's hash is SHA-256(previous row's hash || canonical row). The
 * canonical row is the tag "nara-audit-row-v1" with its NUL byte, seq and
 * time_ms as 8-byte big-endian integers, the text fields event, node,
 * message_id, type, sender, recipient, author, legal_basis, payload_sha256,
 * then payload_size (8 bytes, -1 for NULL), then subject, code, detail. A
 * text field is a 4-byte big-endian length (0xFFFFFFFF for NULL) followed by
 * its bytes, so field boundaries are unambiguous. The first row's previous
 * hash is 32 zero bytes; the store also records the last seq and hash in
 * its meta table at every commit, so rows cut from the end are noticed.
 */
#ifndef NARA_AUDIT_H
#define NARA_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define AUDIT_HASH_LEN 32

struct store;

/* One audit row as stored; every string is borrowed and may be NULL. */
struct audit_row {
	int64_t seq;
	int64_t time_ms;             /* epoch milliseconds */
	const char *event;           /* "received", "acked", ... */
	const char *node;
	const char *message_id;
	const char *type;            /* "referral", ... */
	const char *sender;
	const char *recipient;
	const char *author;
	const char *legal_basis;     /* "guardian_consent", ... */
	const char *payload_sha256;  /* 64 lower-case hex digits */
	int64_t payload_size;        /* -1 when there is none (NULL) */
	const char *subject;         /* pseudonym of the personal number, hex */
	const char *code;            /* catalogue code, "NR050" */
	const char *detail;
	/* A reader's finding, not part of the row (always read for
	 * STORE_AUDIT_CHAIN): what
	 * is stored in a form the store never writes, said in a few words
	 * for verify's report; NULL when nothing is. */
	const char *misstored;
};

/*
 * One row, several facts. An "acked" row narad writes records three facts
 * that happen in the same transaction at the same time: the recipient
 * node acked, the clinical content was purged, and a "delivered" receipt
 * was queued for the sender node, which the row's detail names after
 * AUDIT_ACKED_FOLD. Rows from before this (an "acked" row without that
 * detail, followed by "payload_purged" and "receipt_queued" rows) keep
 * their meaning. Readers show facts, not rows: audit_row_facts.
 */
#define AUDIT_ACKED_FOLD "payload purged; receipt queued for "
#define AUDIT_FACTS_MAX 3

/* The facts row r records into facts (AUDIT_FACTS_MAX of them), in the
 * order they happened, each with r's seq and time and exactly the fields
 * a row of its own would have had; their strings point into r. Returns
 * the number of facts: 3 for a folded "acked" row, else 1 (r itself). */
int audit_row_facts(const struct audit_row *r,
    struct audit_row facts[AUDIT_FACTS_MAX]);

/* A reusable SHA-256 context; opaque so callers need no OpenSSL headers. */
struct audit_hasher;

struct audit_hasher *audit_hasher_new(void);
void audit_hasher_free(struct audit_hasher **h);

/* hash = SHA-256(prev || canonical(row)). Returns 0, or -1 if the digest
 * fails (out of memory inside OpenSSL). */
int audit_row_hash(struct audit_hasher *h, const uint8_t prev[AUDIT_HASH_LEN],
    const struct audit_row *row, uint8_t out[AUDIT_HASH_LEN]);

/* Readable name of a Nara__LegalBasis value ("guardian_consent"), NULL for
 * unspecified or unknown values. */
const char *audit_legal_basis_name(int legal_basis);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void audit_hex(const uint8_t *bytes, size_t len, char *out);

/* Walk the audit rows of st (store_audit_rows) from its first row in seq
 * order, in constant memory: seq must start at 1 and be contiguous, each prev_hash must equal
 * the previous row's hash (zero for the first), each hash must match the
 * recomputed one, and when head_seq >= 0 the last row must be head_seq with
 * hash head_hash (catches rows deleted at the end). 0 if intact; else -1 with
 * the first bad seq in *bad_seq and the reason in err (NR041). *rows receives
 * the number of rows checked (may be NULL). */
int audit_verify(struct store *st, struct audit_hasher *h, int64_t head_seq,
    const uint8_t head_hash[AUDIT_HASH_LEN], int64_t *rows, int64_t *bad_seq,
    struct nara_err *err);

/* The same from a retention cut: the first row must be start_seq + 1 and
 * link to start_hash (the hash of the last pruned row). audit_verify is
 * this with start_seq 0 and a zero hash. *rows counts the rows walked. */
int audit_verify_from(struct store *st, struct audit_hasher *h,
    int64_t start_seq,
    const uint8_t start_hash[AUDIT_HASH_LEN], int64_t head_seq,
    const uint8_t head_hash[AUDIT_HASH_LEN], int64_t *rows, int64_t *bad_seq,
    struct nara_err *err);

#endif
