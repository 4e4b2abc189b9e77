/*
 * pki.h — what the parts of nara-pki share: the CA directory's files and
 * its index (files.c), certificates and the CRL (cert.c), used by the
 * commands and the command line (main.c).
 */
#ifndef NARA_PKI_H
#define NARA_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define DAY 86400L
#define CRL_DAYS 30             /* default validity of a CRL */

/* One issued certificate in index.txt (tab-separated, in this order). */
struct issued {
	char serial[80];           /* hex */
	char kind[16];             /* ca | broker | node */
	char name[160];            /* CN */
	long long not_before, not_after, revoked; /* epoch seconds, 0 = no */
	char file[200];            /* certificate file name inside DIR */
};

struct ext { int nid; const char *value; };

/* Options shared by the issuing commands. */
struct issue_opts {
	long days;
	time_t not_before;
	const char *out;           /* file stem, default = name */
	const char *serial_number; /* subject serialNumber, optional */
	long crl_days;             /* validity of a CRL issued now */
	char san[1024];            /* subjectAltName value being built */
};

/* files.c */

/* "nara-pki: " and the message on stderr, with OpenSSL's last error when
 * there is one. Returns -1, so that callers can return it. */
int pki_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* DIR/name into buf. */
void dir_path(char *buf, size_t len, const char *dir, const char *name);
/* A new PEM file (never over an existing one) with either a private key
 * (mode 0600) or a certificate (0644). */
int write_pem(const char *path, EVP_PKEY *key, X509 *cert);
/* The certificate in a PEM file, NULL after saying why; caller frees. */
X509 *read_cert(const char *path);
/* DIR's CA certificate and key (caller frees both); -1 after saying why. */
int load_ca(const char *dir, X509 **ca, EVP_PKEY **key);
/* DIR/index.lock held with flock how (LOCK_EX to change index.txt or
 * crl.pem, LOCK_SH to read them) from the read to the rename: the
 * descriptor for index_unlock, -2 for a reader that may not create the
 * lock file, -1 after saying why. index_unlock accepts either. */
int index_lock(const char *dir, int how);
void index_unlock(int *fd);
/* A new file beside DIR/name, renamed over it by replace_commit (which
 * syncs it and DIR first); tmp receives its path. */
FILE *replace_open(const char *dir, const char *name, char *tmp, size_t len);
int replace_commit(FILE *f, const char *tmp, const char *dir,
    const char *name);
/* index.txt whole into *v (the caller frees it), rewritten whole, or one
 * certificate added (taking the lock itself). The caller of index_load
 * and index_store holds the index lock. */
int index_load(const char *dir, struct issued **v, size_t *n);
int index_store(const char *dir, const struct issued *v, size_t n);
int index_add(const char *dir, const struct issued *e);

/* cert.c */

/* A new ECDSA P-256 key, NULL after saying why; caller frees. */
EVP_PKEY *key_new(void);
/* A certificate for key, signed by issuer_key; issuer NULL = self-signed.
 * Records what it made in *rec (serial, name, validity). Caller frees. */
X509 *cert_make(EVP_PKEY *key, const char *cn, X509 *issuer,
    EVP_PKEY *issuer_key, const struct issue_opts *o, const struct ext *ext,
    size_t n_ext, struct issued *rec);
/* DIR/crl.pem issued again from the index, valid days from now; the
 * caller holds the index lock. */
int crl_issue(const char *dir, X509 *ca, EVP_PKEY *ca_key, long days);

#endif
