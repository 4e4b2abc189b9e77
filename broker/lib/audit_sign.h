/*
 * audit_sign.h — Ed25519 signatures over the head of the audit hash chain
 * ("checkpoints"), and the full verification of an audit log: the chain,
 * its recorded head, the signed checkpoints and the signed retention cut.
 *
 * A checkpoint is a row of the checkpoints table: kind ("head" for the
 * periodic signature of the chain head, "cut" for the first row kept by a
 * retention prune), seq and hash of an audit row, the time it was signed,
 * the Ed25519 signature and the SHA-256 fingerprint of the public key. The
 * signed bytes are the tag "nara-audit-checkpoint-v1" with its NUL byte,
 * kind as 4-byte big-endian length and bytes, seq and time_ms as 8-byte
 * big-endian integers, the 32-byte hash, and the fingerprint (length and
 * bytes). A cut's hash is the hash of the last pruned row, i.e. the
 * prev_hash the first kept row must carry.
 *
 * Because the signing key never sits in the store, someone who can write the
 * database file can rewrite rows and the recorded head, but cannot make a
 * signed checkpoint agree with rows cut from the end or rewritten before it.
 */
#ifndef NARA_AUDIT_SIGN_H
#define NARA_AUDIT_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "errors.h"

struct store;

#define AUDIT_SIG_LEN 64
#define AUDIT_FPR_LEN 64             /* hex characters of the fingerprint */

/* An Ed25519 key: a private key (signs and verifies) or a public one. */
struct audit_key;

/* Load a PEM private key (must not be readable by group or others) or a
 * PEM public key; a private key file is accepted where a public key is
 * asked for. NULL with err (NR070) on failure. */
struct audit_key *audit_key_load_private(const char *path, struct nara_err *err);
struct audit_key *audit_key_load_public(const char *path, struct nara_err *err);
void audit_key_free(struct audit_key **k);
/* Hex SHA-256 of the raw 32-byte public key; owned by k. */
const char *audit_key_fingerprint(const struct audit_key *k);
bool audit_key_can_sign(const struct audit_key *k);

/* Write a new key pair: private key PEM (mode 0600, must not exist) and
 * public key PEM (0644). */
int audit_key_generate(const char *priv_path, const char *pub_path,
    struct nara_err *err);

/* One checkpoint row; strings borrowed. */
struct audit_checkpoint {
	const char *kind;            /* "head" or "cut" */
	int64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t time_ms;
	uint8_t sig[AUDIT_SIG_LEN];
	const char *fingerprint;     /* hex, AUDIT_FPR_LEN characters */
};

/* Sign c (fingerprint set from k, sig filled). 0 or -1 with err. */
int audit_checkpoint_sign(const struct audit_key *k, struct audit_checkpoint *c,
    struct nara_err *err);
/* 0 when c's signature is valid under k and names k's fingerprint. */
int audit_checkpoint_check(const struct audit_key *k,
    const struct audit_checkpoint *c);

/* Most public keys one verification takes: the current signing key and
 * the keys it replaced. */
#define AUDIT_RING_MAX 16

/* A key that signed checkpoints, and how many of them (heads and cuts). */
struct audit_signer {
	char fingerprint[AUDIT_FPR_LEN + 1];
	int64_t checkpoints;
};

/* What a full verification found. */
struct audit_report {
	int64_t rows;                /* audit rows checked */
	int64_t first_seq, last_seq; /* 0 when the log is empty */
	int64_t cut_seq;             /* last pruned seq, 0 when never pruned */
	int64_t checkpoints;         /* checkpoint rows checked */
	int64_t signed_seq;          /* newest signed head, 0 when none */
	int64_t signed_time_ms;
	bool signatures_checked;     /* a public key was given */
	size_t n_keys;               /* public keys given (the ring) */
	int64_t bad_seq;             /* first bad row, 0 when intact */
	/* The keys the checkpoints name, in the order first met; without
	 * public keys more than AUDIT_RING_MAX can appear: the checkpoints of
	 * the ones past that are only counted in other_signed. */
	struct audit_signer signers[AUDIT_RING_MAX];
	size_t n_signers;
	int64_t other_signed;
};

/* Verify everything in one read transaction of st (store_read_begin): the
 * chain from the signed cut (or from seq 1), the recorded head, and every
 * checkpoint (its signature when pub is not NULL, and that the chain holds
 * its row with its hash, so rows deleted at the end are caught even when
 * the meta head was rewritten too). With pub, a non-empty log without any
 * signed checkpoint fails. 0 if intact, -1 with rep->bad_seq and err. */
int audit_verify_full(struct store *st, struct audit_hasher *h,
    const struct audit_key *pub, struct audit_report *rep,
    struct nara_err *err);

/* The same against a key ring (keys borrowed, n at most AUDIT_RING_MAX,
 * 0 = signatures not checked), so that a log signed in turn by several
 * keys (the signing key was rotated) verifies as a whole. Each checkpoint
 * is checked against the key whose fingerprint it names; one naming a key
 * not in the ring fails with that fingerprint in err, like a bad
 * signature does. */
int audit_verify_ring(struct store *st, struct audit_hasher *h,
    const struct audit_key *const *keys, size_t n, struct audit_report *rep,
    struct nara_err *err);

#endif
