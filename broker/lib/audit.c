/*
 * audit.c — canonical audit rows, their SHA-256 chain, and the streaming
 * verification of a whole audit table.
 */
#include "audit.h"
#include "store.h"

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
	uint8_t *buf;                 /* a row's canonical bytes, hashed in one */
	size_t cap;                   /* update: a dozen small ones cost more */
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
	free((*h)->buf);
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

/* A text as the row's bytes spell it: its length in 4 bytes big-endian
 * (all ones for none), then its bytes. */
static uint8_t *
put_text(uint8_t *p, const char *s, size_t n)
{
	uint32_t v = s != NULL ? (uint32_t)n : UINT32_MAX;

	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	if (n > 0)
		memcpy(p + 4, s, n);
	return p + 4 + n;
}

int
audit_row_hash(struct audit_hasher *h, const uint8_t prev[AUDIT_HASH_LEN],
    const struct audit_row *r, uint8_t out[AUDIT_HASH_LEN])
{
	const char *text[] = { r->event, r->node, r->message_id, r->type,
	    r->sender, r->recipient, r->author, r->legal_basis,
	    r->payload_sha256, NULL, r->subject, r->code, r->detail };
	enum { NTEXT = sizeof(text) / sizeof(text[0]), SIZE_AT = 9 };
	size_t lens[NTEXT], need = AUDIT_HASH_LEN + sizeof(ROW_TAG) + 24;
	unsigned int len = 0;
	uint8_t *p;

	/* prev, tag, seq, time; the nine texts; payload size; three texts */
	for (int i = 0; i < NTEXT; i++) {
		lens[i] = text[i] != NULL ? strlen(text[i]) : 0;
		if (i != SIZE_AT)
			need += 4 + lens[i];
	}
	if (need > h->cap) {
		uint8_t *b = realloc(h->buf, need);

		if (b == NULL)
			return -1;
		h->buf = b;
		h->cap = need;
	}
	p = h->buf;
	memcpy(p, prev, AUDIT_HASH_LEN);
	p += AUDIT_HASH_LEN;
	memcpy(p, ROW_TAG, sizeof(ROW_TAG));
	p += sizeof(ROW_TAG);
	put_u64(p, (uint64_t)r->seq);
	put_u64(p + 8, (uint64_t)r->time_ms);
	p += 16;
	for (int i = 0; i < NTEXT; i++) {
		if (i == SIZE_AT) {
			put_u64(p, (uint64_t)r->payload_size);
			p += 8;
		} else {
			p = put_text(p, text[i], lens[i]);
		}
	}
	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, h->buf, (size_t)(p - h->buf)) != 1 ||
	    EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != AUDIT_HASH_LEN)
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

/* ---------------------------------------------------------------- facts */

int
audit_row_facts(const struct audit_row *r,
    struct audit_row facts[AUDIT_FACTS_MAX])
{
	static const size_t plen = sizeof(AUDIT_ACKED_FOLD) - 1;

	facts[0] = *r;
	if (r->event == NULL || strcmp(r->event, "acked") != 0 ||
	    r->detail == NULL || strncmp(r->detail, AUDIT_ACKED_FOLD, plen) != 0)
		return 1;
	facts[0].detail = NULL;
	facts[1] = facts[0];
	facts[1].event = "payload_purged";
	facts[1].node = NULL;
	facts[1].detail = "clinical content deleted after delivery";
	facts[2] = facts[0];
	facts[2].event = "receipt_queued";
	facts[2].node = r->detail + plen;
	facts[2].detail = "delivered";
	return 3;
}

/* ---------------------------------------------------------------- verify */

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

/* The walk of audit_verify_from over the rows the store passes. */
struct walk {
	struct audit_hasher *h;
	int64_t start_seq, last;
	uint8_t expect[AUDIT_HASH_LEN];    /* the previous row's hash */
	int64_t *bad_seq;
	struct nara_err *err;
	bool failed;
};

/* Checks of one row against the chain so far (expect = previous hash). */
static int
verify_row(struct walk *w, const struct audit_row *r, const uint8_t *prev,
    const uint8_t *stored)
{
	uint8_t calc[AUDIT_HASH_LEN];
	int64_t prev_seq = w->last;

	if (r->seq != prev_seq + 1 && prev_seq == w->start_seq)
		return bad(prev_seq + 1, w->bad_seq, w->err, "row %lld: missing, "
		    "the chain starts at seq %lld (rows deleted at the start)",
		    (long long)prev_seq + 1, (long long)r->seq);
	if (r->seq != prev_seq + 1)
		return bad(prev_seq + 1, w->bad_seq, w->err, "gap between seq "
		    "%lld and %lld (rows deleted)", (long long)prev_seq,
		    (long long)r->seq);
	if (prev == NULL || memcmp(prev, w->expect, AUDIT_HASH_LEN) != 0)
		return bad(r->seq, w->bad_seq, w->err, "row %lld: previous hash "
		    "does not link (row deleted or reordered)", (long long)r->seq);
	if (stored == NULL)
		return bad(r->seq, w->bad_seq, w->err, "row %lld: hash missing or "
		    "not 32 bytes", (long long)r->seq);
	/* the hash is over the values as read; the queries compare them as
	 * stored and find rows through msg_seq, so a change there alone
	 * hides the row from them */
	if (r->misstored != NULL)
		return bad(r->seq, w->bad_seq, w->err, "row %lld: %s (row "
		    "edited)", (long long)r->seq, r->misstored);
	if (audit_row_hash(w->h, prev, r, calc) != 0)
		return nara_err_set(w->err, NR_STORE_FAILED, "audit",
		    "SHA-256 failed at row %lld", (long long)r->seq);
	if (memcmp(calc, stored, AUDIT_HASH_LEN) != 0)
		return bad(r->seq, w->bad_seq, w->err, "row %lld: hash mismatch "
		    "(row edited)", (long long)r->seq);
	memcpy(w->expect, stored, AUDIT_HASH_LEN);
	return 0;
}

static int
walk_row(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	struct walk *w = arg;

	if (verify_row(w, r, prev_hash, hash) != 0) {
		w->failed = true;
		return 1;
	}
	w->last++;
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
audit_verify(struct store *st, struct audit_hasher *h, int64_t head_seq,
    const uint8_t head_hash[AUDIT_HASH_LEN], int64_t *rows, int64_t *bad_seq,
    struct nara_err *err)
{
	static const uint8_t zero[AUDIT_HASH_LEN];

	return audit_verify_from(st, h, 0, zero, head_seq, head_hash, rows,
	    bad_seq, err);
}

int
audit_verify_from(struct store *st, struct audit_hasher *h, int64_t start_seq,
    const uint8_t start_hash[AUDIT_HASH_LEN], int64_t head_seq,
    const uint8_t head_hash[AUDIT_HASH_LEN], int64_t *rows, int64_t *bad_seq,
    struct nara_err *err)
{
	const struct store_audit_filter all = { .select = STORE_AUDIT_CHAIN,
	    .rows = true };
	struct walk w = { .h = h, .start_seq = start_seq, .last = start_seq,
	    .err = err };
	struct nara_err why = { 0 };
	int64_t dummy;
	int rc = -1;

	w.bad_seq = bad_seq != NULL ? bad_seq : &dummy;
	*w.bad_seq = 0;
	memcpy(w.expect, start_hash, AUDIT_HASH_LEN);
	if (store_audit_rows(st, &all, walk_row, &w, &why) < 0)
		nara_err_set(err, NR_STORE_FAILED, "audit", "reading the audit "
		    "table after seq %lld: %s", (long long)w.last, why.text);
	else if (!w.failed && verify_head(w.last, w.expect, head_seq,
	    head_hash, w.bad_seq, err) == 0)
		rc = 0;
	if (rows != NULL)
		*rows = w.last - start_seq;
	return rc;
}
