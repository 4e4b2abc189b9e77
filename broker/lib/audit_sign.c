/*
 * audit_sign.c — Ed25519 keys for audit checkpoints, signing and checking
 * checkpoints, and the full verification of an audit log (chain, recorded
 * head, checkpoints, retention cut).
 */
#include "audit_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

static const char CKPT_TAG[] = "nara-audit-checkpoint-v1";

struct audit_key {
	EVP_PKEY *pkey;
	bool priv;
	char fpr[AUDIT_FPR_LEN + 1];
};

/* ---------------------------------------------------------------- keys */

void
audit_key_free(struct audit_key **k)
{
	if (k == NULL || *k == NULL)
		return;
	EVP_PKEY_free((*k)->pkey);
	free(*k);
	*k = NULL;
}

const char *
audit_key_fingerprint(const struct audit_key *k)
{
	return k->fpr;
}

bool
audit_key_can_sign(const struct audit_key *k)
{
	return k != NULL && k->priv;
}

/* Wrap pkey (taken over) after checking it is Ed25519. */
static struct audit_key *
key_wrap(EVP_PKEY *pkey, bool priv, const char *path, struct nara_err *err)
{
	uint8_t raw[32], md[SHA256_DIGEST_LENGTH];
	size_t len = sizeof(raw);
	struct audit_key *k;

	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != 32) {
		EVP_PKEY_free(pkey);
		nara_err_set(err, NR_CONFIG, "audit_key", "%s is not an Ed25519 "
		    "key (make one with: nara-audit keygen)", path);
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		EVP_PKEY_free(pkey);
		nara_err_set(err, NR_CONFIG, "audit_key", "out of memory");
		return NULL;
	}
	SHA256(raw, len, md);
	audit_hex(md, sizeof(md), k->fpr);
	k->pkey = pkey;
	k->priv = priv;
	return k;
}

static FILE *
key_open(const char *path, bool priv, struct nara_err *err)
{
	struct stat sb;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		nara_err_set(err, NR_CONFIG, "audit_key", "cannot open %s: %s",
		    path, strerror(errno));
		return NULL;
	}
	if (priv && fstat(fileno(f), &sb) == 0 &&
	    (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		nara_err_set(err, NR_CONFIG, "audit_key", "signing key %s has "
		    "mode %04o and may be read by group or others; run chmod 600 "
		    "%s", path, (unsigned)(sb.st_mode & 07777), path);
		fclose(f);
		return NULL;
	}
	return f;
}

struct audit_key *
audit_key_load_private(const char *path, struct nara_err *err)
{
	FILE *f = key_open(path, true, err);
	EVP_PKEY *pkey;

	if (f == NULL)
		return NULL;
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL) {
		nara_err_set(err, NR_CONFIG, "audit_key", "%s holds no PEM "
		    "private key", path);
		return NULL;
	}
	return key_wrap(pkey, true, path, err);
}

struct audit_key *
audit_key_load_public(const char *path, struct nara_err *err)
{
	FILE *f = key_open(path, false, err);
	EVP_PKEY *pkey;
	bool priv = false;

	if (f == NULL)
		return NULL;
	pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (pkey == NULL) {
		rewind(f);
		pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		priv = pkey != NULL;
	}
	fclose(f);
	if (pkey == NULL) {
		nara_err_set(err, NR_CONFIG, "audit_key", "%s holds no PEM "
		    "public key", path);
		return NULL;
	}
	return key_wrap(pkey, priv, path, err);
}

/* Write one PEM file with the given mode; it must not exist yet. */
static int
pem_write(const char *path, EVP_PKEY *pkey, bool priv, struct nara_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    priv ? 0600 : 0644);
	FILE *f;
	int ok;

	if (fd < 0)
		return nara_err_set(err, NR_IO, "audit_key", "cannot create %s: "
		    "%s", path, strerror(errno));
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return nara_err_set(err, NR_IO, "audit_key", "cannot write %s",
		    path);
	}
	ok = priv ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)
	    : PEM_write_PUBKEY(f, pkey);
	if (fclose(f) != 0 || ok != 1) {
		unlink(path);
		return nara_err_set(err, NR_IO, "audit_key", "cannot write %s",
		    path);
	}
	return 0;
}

int
audit_key_generate(const char *priv_path, const char *pub_path,
    struct nara_err *err)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	int rc = -1;

	if (pkey == NULL)
		return nara_err_set(err, NR_IO, "audit_key", "Ed25519 key "
		    "generation failed");
	if (pem_write(priv_path, pkey, true, err) != 0)
		goto fail;
	if (pem_write(pub_path, pkey, false, err) != 0) {
		unlink(priv_path);
		goto fail;
	}
	rc = 0;
fail:
	EVP_PKEY_free(pkey);
	return rc;
}

/* ---------------------------------------------------------------- sign */

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* The signed bytes of c (see audit_sign.h) into buf; their length. */
static size_t
ckpt_bytes(const struct audit_checkpoint *c, const char *fpr, uint8_t *buf,
    size_t cap)
{
	size_t kl = strlen(c->kind), fl = strlen(fpr), o = 0;

	if (sizeof(CKPT_TAG) + 4 + kl + 16 + AUDIT_HASH_LEN + 4 + fl > cap)
		return 0;
	memcpy(buf, CKPT_TAG, sizeof(CKPT_TAG));
	o += sizeof(CKPT_TAG);
	put_be(buf + o, kl, 4);
	memcpy(buf + o + 4, c->kind, kl);
	o += 4 + kl;
	put_be(buf + o, (uint64_t)c->seq, 8);
	put_be(buf + o + 8, (uint64_t)c->time_ms, 8);
	o += 16;
	memcpy(buf + o, c->hash, AUDIT_HASH_LEN);
	o += AUDIT_HASH_LEN;
	put_be(buf + o, fl, 4);
	memcpy(buf + o + 4, fpr, fl);
	return o + 4 + fl;
}

int
audit_checkpoint_sign(const struct audit_key *k, struct audit_checkpoint *c,
    struct nara_err *err)
{
	uint8_t msg[256];
	size_t n = ckpt_bytes(c, k->fpr, msg, sizeof(msg)), siglen = AUDIT_SIG_LEN;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;

	c->fingerprint = k->fpr;
	if (ctx != NULL && n > 0 && k->priv &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1)
		ok = EVP_DigestSign(ctx, c->sig, &siglen, msg, n) == 1 &&
		    siglen == AUDIT_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : nara_err_set(err, NR_STORE_FAILED, "audit",
	    "signing the audit checkpoint failed");
}

int
audit_checkpoint_check(const struct audit_key *k,
    const struct audit_checkpoint *c)
{
	uint8_t msg[256];
	size_t n;
	EVP_MD_CTX *ctx;
	int ok = 0;

	if (c->fingerprint == NULL || strcmp(c->fingerprint, k->fpr) != 0)
		return -1;
	n = ckpt_bytes(c, c->fingerprint, msg, sizeof(msg));
	if (n == 0 || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1)
		ok = EVP_DigestVerify(ctx, c->sig, AUDIT_SIG_LEN, msg, n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}
