/*
 * audit.c — canonical audit rows, their SHA-256 chain, and the streaming
 * verification of a whole audit table.
 */
#include "audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Domain tag in front of every canonical row; bump it with the format. */
static const char ROW_TAG[] = "nara-audit-row-v1";

struct audit_hasher {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

struct audit_hasher *
audit_hasher_new(void)
{
	struct audit_hasher *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if ((h->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (h->ctx = EVP_MD_CTX_new()) == NULL)
		audit_hasher_free(&h);
	return h;
}

void
audit_hasher_free(struct audit_hasher **h)
{
	if (h == NULL || *h == NULL)
		return;
	EVP_MD_CTX_free((*h)->ctx);
	EVP_MD_free((*h)->md);
	free(*h);
	*h = NULL;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static int
hash_text(EVP_MD_CTX *ctx, const char *s)
{
	uint8_t len[4];
	size_t n = s ? strlen(s) : 0;
	uint32_t v = s ? (uint32_t)n : UINT32_MAX;

	len[0] = (uint8_t)(v >> 24);
	len[1] = (uint8_t)(v >> 16);
	len[2] = (uint8_t)(v >> 8);
	len[3] = (uint8_t)v;
	if (EVP_DigestUpdate(ctx, len, sizeof(len)) != 1)
		return -1;
	return n > 0 ? (EVP_DigestUpdate(ctx, s, n) == 1 ? 0 : -1) : 0;
}

int
audit_row_hash(struct audit_hasher *h, const uint8_t prev[AUDIT_HASH_LEN],
    const struct audit_row *r, uint8_t out[AUDIT_HASH_LEN])
{
	const char *text[] = { r->event, r->node, r->message_id, r->type,
	    r->sender, r->recipient, r->author, r->legal_basis,
	    r->payload_sha256 };
	const char *tail[] = { r->subject, r->code, r->detail };
	uint8_t num[16];
	unsigned int len = 0;

	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, prev, AUDIT_HASH_LEN) != 1 ||
	    EVP_DigestUpdate(h->ctx, ROW_TAG, sizeof(ROW_TAG)) != 1)
		return -1;
	put_u64(num, (uint64_t)r->seq);
	put_u64(num + 8, (uint64_t)r->time_ms);
	if (EVP_DigestUpdate(h->ctx, num, sizeof(num)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		if (hash_text(h->ctx, text[i]) != 0)
			return -1;
	put_u64(num, (uint64_t)r->payload_size);
	if (EVP_DigestUpdate(h->ctx, num, 8) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		if (hash_text(h->ctx, tail[i]) != 0)
			return -1;
	if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != AUDIT_HASH_LEN)
		return -1;
	return 0;
}

const char *
audit_legal_basis_name(int legal_basis)
{
	static const char *const names[] = { NULL, "guardian_consent",
	    "own_consent", "mandatory_report", "deidentified" };

	if (legal_basis <= 0 || (size_t)legal_basis >= sizeof(names) /
	    sizeof(names[0]))
		return NULL;
	return names[legal_basis];
}

void
audit_hex(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

/* ---------------------------------------------------------------- verify */

#define VERIFY_SQL "SELECT seq, time, event, node, message_id, type, sender, " \
	"recipient, author, legal_basis, payload_sha256, payload_size, " \
	"subject, code, detail, prev_hash, hash FROM audit ORDER BY seq"

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

/* Row of VERIFY_SQL into r; the strings live until the next step. */
static void
row_read(sqlite3_stmt *s, struct audit_row *r)
{
	r->seq = sqlite3_column_int64(s, 0);
	r->time_ms = sqlite3_column_int64(s, 1);
	r->event = col_text(s, 2);
	r->node = col_text(s, 3);
	r->message_id = col_text(s, 4);
	r->type = col_text(s, 5);
	r->sender = col_text(s, 6);
	r->recipient = col_text(s, 7);
	r->author = col_text(s, 8);
	r->legal_basis = col_text(s, 9);
	r->payload_sha256 = col_text(s, 10);
	r->payload_size = sqlite3_column_type(s, 11) == SQLITE_NULL ? -1
	    : sqlite3_column_int64(s, 11);
	r->subject = col_text(s, 12);
	r->code = col_text(s, 13);
	r->detail = col_text(s, 14);
}

/* A stored hash column as 32 bytes; false when it is not 32 bytes. */
static bool
col_hash(sqlite3_stmt *s, int i, uint8_t out[AUDIT_HASH_LEN])
{
	const void *p = sqlite3_column_blob(s, i);

	if (p == NULL || sqlite3_column_bytes(s, i) != AUDIT_HASH_LEN)
		return false;
	memcpy(out, p, AUDIT_HASH_LEN);
	return true;
}

static int bad(int64_t seq, int64_t *bad_seq, struct nara_err *err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Record the first bad row and why. */
static int
bad(int64_t seq, int64_t *bad_seq, struct nara_err *err, const char *fmt, ...)
{
	char text[200];
	va_list ap;

	*bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return nara_err_set(err, NR_STORE_FAILED, "audit", "%s", text);
}

/* Checks of one row against the chain so far (expect = previous hash). */
static int
verify_row(sqlite3_stmt *s, struct audit_hasher *h, int64_t prev_seq,
    bool first, uint8_t expect[AUDIT_HASH_LEN], int64_t *bad_seq,
    struct nara_err *err)
{
	struct audit_row r;
	uint8_t prev[AUDIT_HASH_LEN], stored[AUDIT_HASH_LEN], calc[AUDIT_HASH_LEN];

	row_read(s, &r);
	if (r.seq != prev_seq + 1 && first)
		return bad(prev_seq + 1, bad_seq, err, "row %lld: missing, the "
		    "chain starts at seq %lld (rows deleted at the start)",
		    (long long)prev_seq + 1, (long long)r.seq);
	if (r.seq != prev_seq + 1)
		return bad(prev_seq + 1, bad_seq, err, "gap between seq %lld and "
		    "%lld (rows deleted)", (long long)prev_seq, (long long)r.seq);
	if (!col_hash(s, 15, prev) || memcmp(prev, expect, AUDIT_HASH_LEN) != 0)
		return bad(r.seq, bad_seq, err, "row %lld: previous hash does not "
		    "link (row deleted or reordered)", (long long)r.seq);
	if (!col_hash(s, 16, stored))
		return bad(r.seq, bad_seq, err, "row %lld: hash missing or not "
		    "32 bytes", (long long)r.seq);
	if (audit_row_hash(h, prev, &r, calc) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "audit",
		    "SHA-256 failed at row %lld", (long long)r.seq);
	if (memcmp(calc, stored, AUDIT_HASH_LEN) != 0)
		return bad(r.seq, bad_seq, err, "row %lld: hash mismatch (row "
		    "edited)", (long long)r.seq);
	memcpy(expect, stored, AUDIT_HASH_LEN);
	return 0;
}

/* After the last row: the recorded head must be where the chain ended. */
static int
verify_head(int64_t last, const uint8_t hash[AUDIT_HASH_LEN], int64_t head_seq,
    const uint8_t head_hash[AUDIT_HASH_LEN], int64_t *bad_seq,
    struct nara_err *err)
{
	if (head_seq < 0)
		return 0;
	if (last < head_seq)
		return bad(last + 1, bad_seq, err, "the chain ends at seq %lld but "
		    "the store recorded %lld rows (rows deleted at the end)",
		    (long long)last, (long long)head_seq);
	if (last > head_seq)
		return bad(head_seq + 1, bad_seq, err, "row %lld: beyond the "
		    "recorded chain head %lld (rows added outside the store)",
		    (long long)head_seq + 1, (long long)head_seq);
	if (head_seq > 0 &&
	    memcmp(hash, head_hash, AUDIT_HASH_LEN) != 0)
		return bad(last, bad_seq, err, "row %lld: hash differs from the "
		    "recorded chain head (last row replaced)", (long long)last);
	return 0;
}

int
audit_verify(sqlite3 *db, struct audit_hasher *h, int64_t head_seq,
    const uint8_t head_hash[AUDIT_HASH_LEN], int64_t *rows, int64_t *bad_seq,
    struct nara_err *err)
{
	static const uint8_t zero[AUDIT_HASH_LEN];

	return audit_verify_from(db, h, 0, zero, head_seq, head_hash, rows,
	    bad_seq, err);
}

int
audit_verify_from(sqlite3 *db, struct audit_hasher *h, int64_t start_seq,
    const uint8_t start_hash[AUDIT_HASH_LEN], int64_t head_seq,
    const uint8_t head_hash[AUDIT_HASH_LEN], int64_t *rows, int64_t *bad_seq,
    struct nara_err *err)
{
	sqlite3_stmt *s = NULL;
	uint8_t expect[AUDIT_HASH_LEN];
	int64_t last = start_seq, dummy;
	int rc;

	if (bad_seq == NULL)
		bad_seq = &dummy;
	*bad_seq = 0;
	memcpy(expect, start_hash, AUDIT_HASH_LEN);
	if (sqlite3_prepare_v2(db, VERIFY_SQL, -1, &s, NULL) != SQLITE_OK) {
		nara_err_set(err, NR_STORE_FAILED, "audit", "cannot read the "
		    "audit table: %s", sqlite3_errmsg(db));
		goto fail;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (verify_row(s, h, last, last == start_seq, expect, bad_seq,
		    err) != 0)
			goto fail;
		last++;
	}
	if (rc != SQLITE_DONE) {
		nara_err_set(err, NR_STORE_FAILED, "audit", "reading the audit "
		    "table after seq %lld: %s", (long long)last, sqlite3_errmsg(db));
		goto fail;
	}
	if (verify_head(last, expect, head_seq, head_hash, bad_seq, err) != 0)
		goto fail;
	if (rows != NULL)
		*rows = last - start_seq;
	sqlite3_finalize(s);
	return 0;
fail:
	if (rows != NULL)
		*rows = last - start_seq;
	sqlite3_finalize(s);
	return -1;
}
