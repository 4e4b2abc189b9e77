/*
 * audit_verify.c — the full verification of an audit log: the retention
 * cut, the hash chain from there, the head recorded in meta, and every
 * signed checkpoint, all read in one transaction so that a broker writing
 * at the same time cannot make them disagree. The signatures are checked
 * against a ring of public keys, so that a log whose signing key was
 * rotated verifies as a whole: each checkpoint names the key that signed
 * it.
 */
#include "audit_sign.h"
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The public keys of one verification; n == 0: signatures not checked. */
struct ring {
	const struct audit_key *const *keys;
	size_t n;
};

static int ckpt_bad(struct audit_report *rep, int64_t seq,
    struct nara_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
ckpt_bad(struct audit_report *rep, int64_t seq, struct nara_err *err,
    const char *fmt, ...)
{
	char text[220];
	va_list ap;

	rep->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return nara_err_set(err, NR_STORE_FAILED, "audit", "%s", text);
}

/* The fingerprint a checkpoint names, fit to print: a tampered row may
 * hold anything there. */
static const char *
fpr_shown(const char *fpr)
{
	size_t n = fpr != NULL ? strspn(fpr, "0123456789abcdef") : 0;

	return n == AUDIT_FPR_LEN && fpr[n] == '\0' ? fpr : "(malformed)";
}

/* Check c against the key of the ring it names. 0 when good, else -1 with
 * why ("is signed by key ..., not among ..." or "has a bad signature"). */
static int
ring_check(const struct ring *r, const struct audit_checkpoint *c, char *why,
    size_t len)
{
	for (size_t i = 0; i < r->n; i++) {
		if (c->fingerprint == NULL || strcmp(c->fingerprint,
		    audit_key_fingerprint(r->keys[i])) != 0)
			continue;
		if (audit_checkpoint_check(r->keys[i], c) == 0)
			return 0;
		snprintf(why, len, "has a bad signature (key %s)",
		    fpr_shown(c->fingerprint));
		return -1;
	}
	snprintf(why, len, "is signed by key %s, not among the --pubkey keys",
	    fpr_shown(c->fingerprint));
	return -1;
}

/* One more checkpoint signed by the key fpr names, for the report. */
static void
signer_count(struct audit_report *rep, const char *fpr)
{
	const char *shown = fpr_shown(fpr);
	size_t i;

	for (i = 0; i < rep->n_signers; i++)
		if (strcmp(rep->signers[i].fingerprint, shown) == 0)
			break;
	if (i == AUDIT_RING_MAX) {
		rep->other_signed++;
		return;
	}
	if (i == rep->n_signers) {
		snprintf(rep->signers[i].fingerprint,
		    sizeof(rep->signers[i].fingerprint), "%s", shown);
		rep->n_signers++;
	}
	rep->signers[i].checkpoints++;
}

/* The walk over the cut checkpoints (cut_load). */
struct cut_walk {
	const struct ring *ring;
	struct audit_report *rep;
	struct nara_err *err;
	int64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	int rc;
};

static int
cut_one(void *arg, const struct audit_checkpoint *c, bool ok)
{
	struct cut_walk *w = arg;
	char why[160] = "is malformed";

	if (!ok || (w->ring->n > 0 && ring_check(w->ring, c, why,
	    sizeof(why)) != 0))
		w->rc = ckpt_bad(w->rep, c->seq + 1, w->err, "row %lld: the "
		    "retention cut before it %s", (long long)c->seq + 1, why);
	else
		signer_count(w->rep, c->fingerprint);
	w->seq = c->seq;
	memcpy(w->hash, c->hash, AUDIT_HASH_LEN);
	return w->rc;
}

/* The newest retention cut, checked against the ring. */
static int
cut_load(struct store *st, const struct ring *ring, int64_t *seq,
    uint8_t hash[AUDIT_HASH_LEN], struct audit_report *rep,
    struct nara_err *err)
{
	struct cut_walk w = { .ring = ring, .rep = rep, .err = err };
	struct nara_err why = { 0 };

	if (store_audit_checkpoints(st, "cut", cut_one, &w, &why) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "reading "
		    "checkpoints: %s", why.text);
	*seq = w.seq;
	memcpy(hash, w.hash, AUDIT_HASH_LEN);
	return w.rc;
}

/* One head checkpoint against its key and the chain (cut..last). */
static int
ckpt_match(struct store *st, const struct audit_checkpoint *c,
    const struct ring *ring, struct audit_report *rep, struct nara_err *err)
{
	uint8_t hash[AUDIT_HASH_LEN];
	bool same;
	char why[160];

	if (ring->n > 0 && ring_check(ring, c, why, sizeof(why)) != 0)
		return ckpt_bad(rep, c->seq, err, "row %lld: its signed checkpoint "
		    "%s", (long long)c->seq, why);
	signer_count(rep, c->fingerprint);
	if (c->seq <= rep->cut_seq)
		return 0;   /* its rows were pruned after it was signed */
	if (c->seq > rep->last_seq)
		return ckpt_bad(rep, rep->last_seq + 1, err, "row %lld: missing, "
		    "the chain ends at seq %lld but a signed checkpoint covers "
		    "seq %lld (rows deleted at the end)",
		    (long long)rep->last_seq + 1, (long long)rep->last_seq,
		    (long long)c->seq);
	same = store_audit_hash(st, c->seq, hash) == 1 &&
	    memcmp(hash, c->hash, AUDIT_HASH_LEN) == 0;
	if (!same)
		return ckpt_bad(rep, c->seq, err, "row %lld: differs from its "
		    "signed checkpoint (chain rewritten)", (long long)c->seq);
	return 0;
}

/* The walk over the head checkpoints (ckpts_check). */
struct head_walk {
	struct store *st;
	const struct ring *ring;
	struct audit_report *rep;
	struct nara_err *err;
	int rc;
};

static int
head_one(void *arg, const struct audit_checkpoint *c, bool ok)
{
	struct head_walk *w = arg;

	if (!ok)
		w->rc = ckpt_bad(w->rep, c->seq, w->err, "row %lld: its "
		    "checkpoint is malformed", (long long)c->seq);
	else
		w->rc = ckpt_match(w->st, c, w->ring, w->rep, w->err);
	w->rep->checkpoints++;
	if (w->rc == 0 && c->seq >= w->rep->signed_seq) {
		w->rep->signed_seq = c->seq;
		w->rep->signed_time_ms = c->time_ms;
	}
	return w->rc;
}

static int
ckpts_check(struct store *st, const struct ring *ring,
    struct audit_report *rep, struct nara_err *err)
{
	struct head_walk w = { .st = st, .ring = ring, .rep = rep,
	    .err = err };
	struct nara_err why = { 0 };

	if (store_audit_checkpoints(st, "head", head_one, &w, &why) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "reading "
		    "checkpoints: %s", why.text);
	return w.rc;
}

/* The chain from the cut to the recorded head; fills rows and seqs. */
static int
chain_check(struct store *st, struct audit_hasher *h, const struct ring *ring,
    struct audit_report *rep, struct nara_err *err)
{
	uint8_t cut_hash[AUDIT_HASH_LEN], head_hash[AUDIT_HASH_LEN];
	struct nara_err why = { 0 };
	int64_t head_seq;

	if (cut_load(st, ring, &rep->cut_seq, cut_hash, rep, err) != 0)
		return -1;
	if (store_audit_head(st, &head_seq, head_hash, &why) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "reading the "
		    "recorded head: %s", why.text);
	if (audit_verify_from(st, h, rep->cut_seq, cut_hash, head_seq,
	    head_hash, &rep->rows, &rep->bad_seq, err) != 0)
		return -1;
	rep->first_seq = rep->rows > 0 ? rep->cut_seq + 1 : 0;
	rep->last_seq = rep->cut_seq + rep->rows;
	return 0;
}

int
audit_verify_full(struct store *st, struct audit_hasher *h,
    const struct audit_key *pub, struct audit_report *rep,
    struct nara_err *err)
{
	return audit_verify_ring(st, h, &pub, pub != NULL ? 1 : 0, rep, err);
}

int
audit_verify_ring(struct store *st, struct audit_hasher *h,
    const struct audit_key *const *keys, size_t n, struct audit_report *rep,
    struct nara_err *err)
{
	struct ring ring = { keys, n };
	struct nara_err why = { 0 };
	bool own;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (n > AUDIT_RING_MAX)
		return nara_err_set(err, NR_USAGE, "pubkey", "at most %d public "
		    "keys, not %zu", AUDIT_RING_MAX, n);
	rep->signatures_checked = n > 0;
	rep->n_keys = n;
	if (store_read_begin(st, &own, &why) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "cannot start "
		    "a read transaction: %s", why.text);
	if (chain_check(st, h, &ring, rep, err) != 0)
		goto done;
	if (ckpts_check(st, &ring, rep, err) != 0)
		goto done;
	if (n > 0 && rep->rows > 0 && rep->signed_seq == 0 &&
	    rep->cut_seq == 0) {
		ckpt_bad(rep, rep->first_seq, err, "row %lld: no signed checkpoint "
		    "in the store although a public key was given (checkpoints "
		    "deleted, or signing not configured)",
		    (long long)rep->first_seq);
		goto done;
	}
	rc = 0;
done:
	store_read_end(st, own);
	return rc;
}
