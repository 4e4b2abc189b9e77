/*
 * cert.c — what nara-pki signs: ECDSA P-256 keys, certificates with their
 * serial, subject and extensions, and the CRL issued again from the index
 * with every revoked serial.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pki.h"

/* ---------------------------------------------------------------- certificates */

EVP_PKEY *
key_new(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");

	if (key == NULL)
		pki_err("cannot generate a P-256 key");
	return key;
}

/* 127 random bits: positive and unique enough for a test CA. */
static int
serial_set(X509 *x, char *hex, size_t len)
{
	unsigned char raw[16];
	BIGNUM *bn = NULL;
	char *h = NULL;
	int ok;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	raw[0] &= 0x7f;
	raw[0] |= 0x01;
	ok = (bn = BN_bin2bn(raw, sizeof(raw), NULL)) != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
	    (h = BN_bn2hex(bn)) != NULL;
	if (ok)
		snprintf(hex, len, "%s", h);
	OPENSSL_free(h);
	BN_free(bn);
	return ok ? 0 : -1;
}

static int
subject_set(X509 *x, const char *cn, const char *serial_number)
{
	X509_NAME *name = X509_get_subject_name(x);

	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"nara test PKI", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1)
		return -1;
	if (serial_number != NULL && X509_NAME_add_entry_by_NID(name,
	    NID_serialNumber, MBSTRING_UTF8,
	    (const unsigned char *)serial_number, -1, -1, 0) != 1)
		return -1;
	return 0;
}

static int
extensions_add(X509 *x, X509 *issuer, const struct ext *ext, size_t n)
{
	X509V3_CTX v3;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	for (size_t i = 0; i < n; i++) {
		X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &v3, ext[i].nid,
		    ext[i].value);
		int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
		X509_EXTENSION_free(e);
		if (!ok)
			return pki_err("bad extension %s = %s",
			    OBJ_nid2sn(ext[i].nid), ext[i].value);
	}
	return 0;
}

/* A certificate for key, signed by issuer_key; issuer NULL = self-signed.
 * Records what it made in *rec (serial, name, validity). */
X509 *
cert_make(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
    const struct issue_opts *o, const struct ext *ext, size_t n_ext,
    struct issued *rec)
{
	X509 *x = X509_new();
	time_t nb = o->not_before;

	if (x == NULL || X509_set_version(x, 2) != 1 ||
	    serial_set(x, rec->serial, sizeof(rec->serial)) != 0 ||
	    subject_set(x, cn, o->serial_number) != 0 ||
	    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) != 1 ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &nb) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)o->days, 0, &nb) == NULL ||
	    X509_set_pubkey(x, key) != 1) {
		pki_err("cannot build certificate for %s", cn);
		goto fail;
	}
	if (extensions_add(x, issuer ? issuer : x, ext, n_ext) != 0)
		goto fail;
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		pki_err("cannot sign certificate for %s", cn);
		goto fail;
	}
	snprintf(rec->name, sizeof(rec->name), "%s", cn);
	rec->not_before = (long long)nb;
	rec->not_after = (long long)nb + o->days * DAY;
	return x;
fail:
	X509_free(x);
	return NULL;
}

/* ---------------------------------------------------------------- CRL */

static int
crl_revoked_add(X509_CRL *crl, const struct issued *e)
{
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)e->revoked);
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	int ok;

	ok = r != NULL && t != NULL && BN_hex2bn(&bn, e->serial) > 0 &&
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
	    X509_REVOKED_set_serialNumber(r, serial) == 1 &&
	    X509_REVOKED_set_revocationDate(r, t) == 1 &&
	    X509_CRL_add0_revoked(crl, r) == 1;
	if (!ok)
		X509_REVOKED_free(r);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	ASN1_TIME_free(t);
	return ok ? 0 : -1;
}

static int
crl_write(const char *dir, X509_CRL *crl)
{
	char tmp[4200];
	FILE *f;

	if ((f = replace_open(dir, "crl.pem", tmp, sizeof(tmp))) == NULL)
		return -1;
	if (PEM_write_X509_CRL(f, crl) != 1) {
		fclose(f);
		unlink(tmp);
		return pki_err("cannot write %s/crl.pem", dir);
	}
	return replace_commit(f, tmp, dir, "crl.pem");
}

/* Issue DIR/crl.pem again from the index: every revoked serial, valid for
 * days from now. The caller holds the index lock. */
int
crl_issue(const char *dir, X509 *ca, EVP_PKEY *ca_key, long days)
{
	struct issued *v = NULL;
	size_t n = 0;
	time_t now = time(NULL);
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = NULL;
	int rc = -1;

	if (crl == NULL || index_load(dir, &v, &n) != 0)
		goto done;
	if (X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
	    (t = ASN1_TIME_set(NULL, now)) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    X509_time_adj_ex(t, (int)days, 0, &now) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1) {
		pki_err("cannot build CRL");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].revoked != 0 && crl_revoked_add(crl, &v[i]) != 0) {
			pki_err("cannot add serial %s to CRL", v[i].serial);
			goto done;
		}
	X509_CRL_sort(crl);
	if (X509_CRL_sign(crl, ca_key, EVP_sha256()) <= 0) {
		pki_err("cannot sign CRL");
		goto done;
	}
	rc = crl_write(dir, crl);
done:
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	free(v);
	return rc;
}
