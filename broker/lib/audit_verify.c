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

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The public keys of one verification; n == 0: signatures not checked. */
struct ring {
	const struct audit_key *const *keys;
	size_t n;
};

#define CKPT_SQL "SELECT kind, seq, hash, time, signature, key_fingerprint " \
	"FROM checkpoints WHERE kind = ?1 ORDER BY seq, id"

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

static bool
has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *s = NULL;
	bool yes = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = "
	    "'table' AND name = ?1", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		yes = sqlite3_step(s) == SQLITE_ROW;
	}
	sqlite3_finalize(s);
	return yes;
}

/* Row of CKPT_SQL into c; false when the hash or signature is malformed. */
static bool
ckpt_read(sqlite3_stmt *s, struct audit_checkpoint *c)
{
	c->kind = (const char *)sqlite3_column_text(s, 0);
	c->seq = sqlite3_column_int64(s, 1);
	c->time_ms = sqlite3_column_int64(s, 3);
	c->fingerprint = (const char *)sqlite3_column_text(s, 5);
	if (sqlite3_column_bytes(s, 2) != AUDIT_HASH_LEN ||
	    sqlite3_column_bytes(s, 4) != AUDIT_SIG_LEN || c->kind == NULL)
		return false;
	memcpy(c->hash, sqlite3_column_blob(s, 2), AUDIT_HASH_LEN);
	memcpy(c->sig, sqlite3_column_blob(s, 4), AUDIT_SIG_LEN);
	return true;
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

/* The newest retention cut, checked against the ring. */
static int
cut_load(sqlite3 *db, const struct ring *ring, int64_t *seq,
    uint8_t hash[AUDIT_HASH_LEN], struct audit_report *rep,
    struct nara_err *err)
{
	struct audit_checkpoint c;
	sqlite3_stmt *s = NULL;
	char why[160] = "is malformed";
	int rc = 0;

	*seq = 0;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (sqlite3_prepare_v2(db, CKPT_SQL, -1, &s, NULL) != SQLITE_OK)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "reading "
		    "checkpoints: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(s, 1, "cut", -1, SQLITE_STATIC);
	while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
		bool ok = ckpt_read(s, &c);
		if (!ok || (ring->n > 0 && ring_check(ring, &c, why,
		    sizeof(why)) != 0))
			rc = ckpt_bad(rep, c.seq + 1, err, "row %lld: the retention "
			    "cut before it %s", (long long)c.seq + 1, why);
		else
			signer_count(rep, c.fingerprint);
		*seq = c.seq;
		memcpy(hash, c.hash, AUDIT_HASH_LEN);
	}
	sqlite3_finalize(s);
	return rc;
}

static int
head_load(sqlite3 *db, int64_t *seq, uint8_t hash[AUDIT_HASH_LEN])
{
	sqlite3_stmt *s = NULL;
	int rc;

	*seq = -1;
	memset(hash, 0, AUDIT_HASH_LEN);
	rc = sqlite3_prepare_v2(db, "SELECT (SELECT value FROM meta WHERE key = "
	    "'audit_head_seq'), (SELECT value FROM meta WHERE key = "
	    "'audit_head_hash')", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*seq = sqlite3_column_int64(s, 0);
		if (sqlite3_column_bytes(s, 1) == AUDIT_HASH_LEN)
			memcpy(hash, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* One head checkpoint against its key and the chain (cut..last). */
static int
ckpt_match(sqlite3 *db, const struct audit_checkpoint *c,
    const struct ring *ring, struct audit_report *rep, struct nara_err *err)
{
	sqlite3_stmt *s = NULL;
	bool same = false;
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
	if (sqlite3_prepare_v2(db, "SELECT hash FROM audit WHERE seq = ?1", -1,
	    &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, c->seq);
		same = sqlite3_step(s) == SQLITE_ROW &&
		    sqlite3_column_bytes(s, 0) == AUDIT_HASH_LEN &&
		    memcmp(sqlite3_column_blob(s, 0), c->hash, AUDIT_HASH_LEN) == 0;
	}
	sqlite3_finalize(s);
	if (!same)
		return ckpt_bad(rep, c->seq, err, "row %lld: differs from its "
		    "signed checkpoint (chain rewritten)", (long long)c->seq);
	return 0;
}

static int
ckpts_check(sqlite3 *db, const struct ring *ring, struct audit_report *rep,
    struct nara_err *err)
{
	struct audit_checkpoint c;
	sqlite3_stmt *s = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db, CKPT_SQL, -1, &s, NULL) != SQLITE_OK)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "reading "
		    "checkpoints: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(s, 1, "head", -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
		if (!ckpt_read(s, &c))
			rc = ckpt_bad(rep, c.seq, err, "row %lld: its checkpoint "
			    "is malformed", (long long)c.seq);
		else
			rc = ckpt_match(db, &c, ring, rep, err);
		rep->checkpoints++;
		if (rc == 0 && c.seq >= rep->signed_seq) {
			rep->signed_seq = c.seq;
			rep->signed_time_ms = c.time_ms;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

/* The chain from the cut to the recorded head; fills rows and seqs. */
static int
chain_check(sqlite3 *db, struct audit_hasher *h, const struct ring *ring,
    bool ckpt_table, struct audit_report *rep, struct nara_err *err)
{
	uint8_t cut_hash[AUDIT_HASH_LEN], head_hash[AUDIT_HASH_LEN];
	int64_t head_seq;

	if (ckpt_table && cut_load(db, ring, &rep->cut_seq, cut_hash, rep,
	    err) != 0)
		return -1;
	if (!ckpt_table)
		memset(cut_hash, 0, sizeof(cut_hash));
	if (head_load(db, &head_seq, head_hash) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "reading the "
		    "recorded head: %s", sqlite3_errmsg(db));
	if (audit_verify_from(db, h, rep->cut_seq, cut_hash, head_seq,
	    head_hash, &rep->rows, &rep->bad_seq, err) != 0)
		return -1;
	rep->first_seq = rep->rows > 0 ? rep->cut_seq + 1 : 0;
	rep->last_seq = rep->cut_seq + rep->rows;
	return 0;
}

int
audit_verify_full(sqlite3 *db, struct audit_hasher *h,
    const struct audit_key *pub, struct audit_report *rep,
    struct nara_err *err)
{
	return audit_verify_ring(db, h, &pub, pub != NULL ? 1 : 0, rep, err);
}

int
audit_verify_ring(sqlite3 *db, struct audit_hasher *h,
    const struct audit_key *const *keys, size_t n, struct audit_report *rep,
    struct nara_err *err)
{
	struct ring ring = { keys, n };
	bool own = sqlite3_get_autocommit(db) != 0, table;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (n > AUDIT_RING_MAX)
		return nara_err_set(err, NR_USAGE, "pubkey", "at most %d public "
		    "keys, not %zu", AUDIT_RING_MAX, n);
	rep->signatures_checked = n > 0;
	rep->n_keys = n;
	if (own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return nara_err_set(err, NR_STORE_FAILED, "audit", "cannot start "
		    "a read transaction: %s", sqlite3_errmsg(db));
	table = has_table(db, "checkpoints");
	if (chain_check(db, h, &ring, table, rep, err) != 0)
		goto done;
	if (table && ckpts_check(db, &ring, rep, err) != 0)
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
	if (own)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}
