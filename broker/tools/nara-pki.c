/*
 * nara-pki — a small certificate authority for nara's tests and demo.
 *
 * It makes a CA, a broker server certificate and node client certificates
 * (CN = node id, SAN URI urn:nara:node:<id>), revokes them into a CRL and
 * lists what it issued. Keys are ECDSA P-256, written 0600. Everything lives
 * in one directory:
 *   ca.key ca.pem crl.pem   the CA and its current CRL
 *   index.txt               one line per issued certificate
 *   index.lock              held (flock) while the index or CRL is rewritten
 *   <stem>.pem <stem>.key   issued certificates and keys
 * Production deployments use the organisation's PKI (SITHS in Swedish health
 * care) instead; narad only needs the CA bundle, CRLs and its own key pair.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "rfc3339.h"
#include "tls.h"
#include "version.h"

#define DAY 86400L
#define INDEX_FILE "index.txt"
#define LOCK_FILE "index.lock"
#define CRL_DAYS 30             /* default validity of a CRL */
#define CRL_WARN_DAYS 7         /* list warns when the CRL has less left */

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

static int
pki_err(const char *fmt, ...)
{
	char ssl[200];
	va_list ap;

	fputs("nara-pki: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	tls_error_text(ssl, sizeof(ssl));
	if (ssl[0] != '\0')
		fprintf(stderr, " (%s)", ssl);
	fputc('\n', stderr);
	return -1;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: nara-pki COMMAND DIR [ARGS]\n"
	    "\n"
	    "A small CA for nara's tests and demo (use your organisation's PKI,\n"
	    "e.g. SITHS, in production). Keys are ECDSA P-256.\n"
	    "\n"
	    "  init-ca DIR [--days N] [--name CN] [--crl-days N]\n"
	    "                                           CA key, certificate, empty CRL\n"
	    "  broker DIR NAME [--dns NAME]... [--ip ADDR]... [--days N] [--out STEM]\n"
	    "                                           server certificate (SAN DNS/IP)\n"
	    "  node DIR NODE-ID [--days N] [--not-before RFC3339] [--out STEM]\n"
	    "       [--serial-number VALUE]             client certificate: CN and SAN\n"
	    "                                           URI urn:nara:node:NODE-ID\n"
	    "  revoke DIR CERT [--crl-days N]           revoke CERT, rewrite DIR/crl.pem\n"
	    "  crl DIR [--crl-days N]                   reissue the CRL (valid N days,\n"
	    "                                           default %d); narad refuses every\n"
	    "                                           certificate once it has expired,\n"
	    "                                           so renew it before (timer, cron)\n"
	    "  list DIR                                 issued certificates, expiry,\n"
	    "                                           days left, revoked marked; the\n"
	    "                                           CRL's next update\n"
	    "\n"
	    "Files: DIR/ca.pem, ca.key (0600), crl.pem, index.txt, STEM.pem, STEM.key.\n"
	    "--days defaults: CA 3650, others 397. --help after any command: this text.\n"
	    "\n"
	    "  -h, --help       this text\n"
	    "  -V, --version    print the version\n",
	    CRL_DAYS);
}

/* ---------------------------------------------------------------- files */

static void
dir_path(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Create a new file (never overwrite one) with exactly the given mode:
 * certificates must be readable by narad, which may run as another user,
 * whatever umask the operator has, and a key never more than 0600. */
static FILE *
create_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0600);
	FILE *f;

	if (fd < 0 || fchmod(fd, mode) != 0 || (f = fdopen(fd, "w")) == NULL) {
		pki_err("%s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return NULL;
	}
	return f;
}

/* A new PEM file with either a private key (0600) or a certificate. */
static int
write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	FILE *f = create_file(path, key != NULL ? 0600 : 0644);
	int ok;

	if (f == NULL)
		return -1;
	ok = key != NULL ?
	    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1 :
	    PEM_write_X509(f, cert) == 1;
	if (fclose(f) != 0 || !ok)
		return pki_err("cannot write %s", path);
	return 0;
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL) {
		pki_err("%s: %s", path, strerror(errno));
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		pki_err("%s: not a PEM certificate", path);
	return x;
}

static int
load_ca(const char *dir, X509 **ca, EVP_PKEY **key)
{
	char path[4096];
	FILE *f;

	dir_path(path, sizeof(path), dir, "ca.pem");
	if ((*ca = read_cert(path)) == NULL)
		return -1;
	dir_path(path, sizeof(path), dir, "ca.key");
	if ((f = fopen(path, "r")) == NULL)
		return pki_err("%s: %s", path, strerror(errno));
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*key == NULL)
		return pki_err("%s: not a PEM private key", path);
	return 0;
}

/*
 * index.txt and crl.pem are rewritten whole from what a run read. Two runs
 * at once (issues from a provisioning script, a revoke beside them) would
 * each write back their own view, and the later rename would drop the
 * other's certificate or revocation. Every command that reads or writes
 * them therefore holds DIR/index.lock from its read to its rename:
 * exclusive to change, shared to list. Returns the descriptor whose close
 * releases the lock, NO_LOCK for a reader that may not create the lock
 * file (renames keep each read whole), -1 on error.
 */
#define NO_LOCK (-2)
static int
index_lock(const char *dir, int how)
{
	char path[4096];
	int fd;

	dir_path(path, sizeof(path), dir, LOCK_FILE);
	if ((fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		if (how == LOCK_SH && (errno == EACCES || errno == EROFS))
			return NO_LOCK;
		return pki_err("%s: %s", path, strerror(errno));
	}
	while (flock(fd, how) != 0) {
		if (errno != EINTR) {
			pki_err("%s: cannot lock: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void
index_unlock(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A new file beside DIR/name to be renamed over it by replace_commit. Its
 * name is unique, so no other run's half-written file is reused; it is
 * readable by all (narad reads the CRL as another user). tmp receives its
 * path. */
static FILE *
replace_open(const char *dir, const char *name, char *tmp, size_t len)
{
	FILE *f;
	int fd;

	snprintf(tmp, len, "%s/.%s.XXXXXX", dir, name);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		pki_err("%s: %s", tmp, strerror(errno));
		return NULL;
	}
	if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL) {
		pki_err("%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return NULL;
	}
	return f;
}

/* Close f (the file tmp), put it in place of DIR/name. The data reaches
 * the disk before the rename and the rename before success is reported:
 * after a crash the old or the new file is there, never an empty one, and
 * a revocation that was reported done stays done. */
static int
replace_commit(FILE *f, const char *tmp, const char *dir, const char *name)
{
	char path[4096];
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	int fd;

	ok = fclose(f) == 0 && ok;
	dir_path(path, sizeof(path), dir, name);
	if (!ok || rename(tmp, path) != 0) {
		pki_err("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) != 0) {
		pki_err("%s written, but %s not synced: %s", path, dir,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* ---------------------------------------------------------------- index */

static int
index_parse(char *line, struct issued *e)
{
	char *f[7], *save = NULL;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	if (line[0] == '#' || line[0] == '\0')
		return 1;
	for (char *t = strtok_r(line, "\t", &save); t && n < 7;
	    t = strtok_r(NULL, "\t", &save))
		f[n++] = t;
	if (n != 7)
		return -1;
	memset(e, 0, sizeof(*e));
	snprintf(e->serial, sizeof(e->serial), "%s", f[0]);
	snprintf(e->kind, sizeof(e->kind), "%s", f[1]);
	snprintf(e->name, sizeof(e->name), "%s", f[2]);
	e->not_before = strtoll(f[3], NULL, 10);
	e->not_after = strtoll(f[4], NULL, 10);
	e->revoked = strtoll(f[5], NULL, 10);
	snprintf(e->file, sizeof(e->file), "%s", f[6]);
	return 0;
}

/* Read the whole index; *v is malloc'd (free it). */
static int
index_load(const char *dir, struct issued **v, size_t *n)
{
	char path[4096], line[1024];
	size_t cap = 0;
	FILE *f;
	int rc;

	*v = NULL;
	*n = 0;
	dir_path(path, sizeof(path), dir, INDEX_FILE);
	if ((f = fopen(path, "r")) == NULL)
		return pki_err("%s: %s (run init-ca first)", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (*n == cap) {
			struct issued *nv = reallocarray(*v,
			    (cap = cap ? 2 * cap : 16), sizeof(**v));
			if (nv == NULL)
				break;
			*v = nv;
		}
		if ((rc = index_parse(line, &(*v)[*n])) < 0) {
			fclose(f);
			return pki_err("%s: malformed line", path);
		}
		*n += rc == 0;
	}
	fclose(f);
	return 0;
}

static void
index_line(FILE *f, const struct issued *e)
{
	fprintf(f, "%s\t%s\t%s\t%lld\t%lld\t%lld\t%s\n", e->serial, e->kind,
	    e->name, e->not_before, e->not_after, e->revoked, e->file);
}

/* Rewrite the whole index through a temporary file and rename; the
 * caller holds the index lock. */
static int
index_store(const char *dir, const struct issued *v, size_t n)
{
	char tmp[4200];
	FILE *f;

	if ((f = replace_open(dir, INDEX_FILE, tmp, sizeof(tmp))) == NULL)
		return -1;
	fprintf(f, "# serial\tkind\tname\tnot_before\tnot_after\trevoked\tfile\n");
	for (size_t i = 0; i < n; i++)
		index_line(f, &v[i]);
	return replace_commit(f, tmp, dir, INDEX_FILE);
}

/* Append one certificate to the index under the index lock. */
static int
index_add(const char *dir, const struct issued *e)
{
	struct issued *v = NULL, *nv;
	size_t n = 0;
	int lock, rc = -1;

	if ((lock = index_lock(dir, LOCK_EX)) < 0)
		return -1;
	if (index_load(dir, &v, &n) == 0 &&
	    (nv = reallocarray(v, (n + 1), sizeof(*v))) != NULL) {
		v = nv;
		v[n++] = *e;
		rc = index_store(dir, v, n);
	}
	free(v);
	index_unlock(&lock);
	return rc;
}

/* ---------------------------------------------------------------- certificates */

static EVP_PKEY *
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
static X509 *
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
static int
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

/* ---------------------------------------------------------------- commands */

static int
cmd_init_ca(const char *dir, const char *cn, struct issue_opts *o)
{
	struct ext ext[] = {
		{ NID_basic_constraints, "critical,CA:TRUE" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
	};
	struct issued rec = { .kind = "ca", .file = "ca.pem" };
	char path[4096];
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	int lock, rc = -1;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return pki_err("%s: %s", dir, strerror(errno));
	if ((lock = index_lock(dir, LOCK_EX)) < 0)
		return -1;
	if ((key = key_new()) == NULL ||
	    (ca = cert_make(key, cn, NULL, key, o, ext, 3, &rec)) == NULL)
		goto done;
	dir_path(path, sizeof(path), dir, "ca.key");
	if (write_pem(path, key, NULL) != 0)
		goto done;
	dir_path(path, sizeof(path), dir, "ca.pem");
	if (write_pem(path, NULL, ca) != 0 || index_store(dir, &rec, 1) != 0 ||
	    crl_issue(dir, ca, key, o->crl_days) != 0)
		goto done;
	printf("CA \"%s\" in %s (ca.pem, ca.key, crl.pem)\n", cn, dir);
	rc = 0;
done:
	X509_free(ca);
	EVP_PKEY_free(key);
	index_unlock(&lock);
	return rc;
}

/* Issue one leaf certificate with the given extensions and write it. */
static int
issue_leaf(const char *dir, const char *kind, const char *cn,
    struct issue_opts *o, const struct ext *ext, size_t n_ext)
{
	struct issued rec = { .revoked = 0 };
	const char *stem = o->out ? o->out : cn;
	char path[4096];
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	int rc = -1;

	snprintf(rec.kind, sizeof(rec.kind), "%s", kind);
	snprintf(rec.file, sizeof(rec.file), "%s.pem", stem);
	if (load_ca(dir, &ca, &ca_key) != 0 || (key = key_new()) == NULL ||
	    (x = cert_make(key, cn, ca, ca_key, o, ext, n_ext, &rec)) == NULL)
		goto done;
	snprintf(path, sizeof(path), "%s/%s.key", dir, stem);
	if (write_pem(path, key, NULL) != 0)
		goto done;
	snprintf(path, sizeof(path), "%s/%s.pem", dir, stem);
	if (write_pem(path, NULL, x) != 0 || index_add(dir, &rec) != 0)
		goto done;
	printf("%s certificate for %s: %s/%s.pem (key %s.key), serial %s\n",
	    kind, cn, dir, stem, stem, rec.serial);
	rc = 0;
done:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}

/* A broker (server) or node (client) certificate. */
static int
cmd_leaf(const char *dir, const char *kind, const char *name,
    struct issue_opts *o)
{
	bool node = strcmp(kind, "node") == 0;
	char san[1400];

	if (node)
		snprintf(san, sizeof(san), "URI:" TLS_NODE_URN "%s", name);
	else
		snprintf(san, sizeof(san), "DNS:%s%s", name, o->san);
	struct ext ext[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, "critical,digitalSignature" },
		{ NID_ext_key_usage, node ? "clientAuth" : "serverAuth" },
		{ NID_subject_key_identifier, "hash" },
		{ NID_authority_key_identifier, "keyid:always" },
		{ NID_subject_alt_name, san },
	};
	return issue_leaf(dir, kind, name, o, ext, 6);
}

/* CERT is a path, or a stem inside DIR. */
static X509 *
find_cert(const char *dir, const char *cert)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.pem", dir, cert);
	return read_cert(access(cert, R_OK) == 0 ? cert : path);
}

static int
cmd_revoke(const char *dir, const char *cert, long crl_days)
{
	struct issued *v = NULL;
	size_t n = 0, i;
	X509 *x = NULL, *ca = NULL;
	EVP_PKEY *ca_key = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int lock = -1, rc = -1;

	if ((x = find_cert(dir, cert)) == NULL || load_ca(dir, &ca, &ca_key) != 0 ||
	    (lock = index_lock(dir, LOCK_EX)) < 0 || index_load(dir, &v, &n) != 0)
		goto done;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL)
		goto done;
	for (i = 0; i < n && strcasecmp(v[i].serial, hex) != 0; i++)
		;
	if (i == n || strcmp(v[i].kind, "ca") == 0) {
		pki_err("%s (serial %s) is the CA itself or not issued by it (%s)", cert,
		    hex, dir);
		goto done;
	}
	if (v[i].revoked == 0)
		v[i].revoked = (long long)time(NULL);
	if (index_store(dir, v, n) != 0 ||
	    crl_issue(dir, ca, ca_key, crl_days) != 0)
		goto done;
	printf("revoked %s %s (serial %s); %s/crl.pem updated\n", v[i].kind,
	    v[i].name, hex, dir);
	rc = 0;
done:
	index_unlock(&lock);
	OPENSSL_free(hex);
	BN_free(bn);
	free(v);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rc;
}

static int
cmd_crl(const char *dir, long crl_days)
{
	X509 *ca = NULL;
	EVP_PKEY *key = NULL;
	int lock = -1, rc;

	rc = load_ca(dir, &ca, &key) == 0 &&
	    (lock = index_lock(dir, LOCK_EX)) >= 0 &&
	    crl_issue(dir, ca, key, crl_days) == 0;
	index_unlock(&lock);
	if (rc)
		printf("%s/crl.pem reissued, valid %ld days\n", dir, crl_days);
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc ? 0 : -1;
}

/* Whole days from now to t, rounded towards the past: -1 on the day
 * after t. */
static long long
days_until(long long t, long long now)
{
	long long left = t - now;

	return left >= 0 ? left / DAY : -((-left + DAY - 1) / DAY);
}

/*
 * narad checks every certificate against the CRLs it loaded, and a CRL
 * past its next update fails that check: from then on every handshake is
 * refused. Nothing else reminds an operator, so list shows the date and
 * warns on stderr when under CRL_WARN_DAYS are left or it has passed.
 */
static int
crl_show(const char *dir, long long now)
{
	char path[4096], when[32];
	const ASN1_TIME *next;
	X509_CRL *crl = NULL;
	struct tm tm;
	time_t t;
	long long days;
	FILE *f;

	dir_path(path, sizeof(path), dir, "crl.pem");
	if ((f = fopen(path, "r")) == NULL)
		return pki_err("%s: %s", path, strerror(errno));
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	if (crl == NULL || (next = X509_CRL_get0_nextUpdate(crl)) == NULL ||
	    ASN1_TIME_to_tm(next, &tm) != 1 || (t = timegm(&tm)) == (time_t)-1) {
		X509_CRL_free(crl);
		return pki_err("%s: not a CRL with a next update", path);
	}
	X509_CRL_free(crl);
	days = days_until((long long)t, now);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("crl.pem next update %s, %lld days left\n", when, days);
	if ((long long)t <= now)
		fprintf(stderr, "nara-pki: warning: %s expired at %s: narad refuses "
		    "every certificate until it is renewed (nara-pki crl %s)\n",
		    path, when, dir);
	else if (days < CRL_WARN_DAYS)
		fprintf(stderr, "nara-pki: warning: %s expires at %s: renew it "
		    "before then (nara-pki crl %s)\n", path, when, dir);
	return 0;
}

static int
cmd_list(const char *dir)
{
	struct issued *v = NULL;
	size_t n = 0;
	long long now = (long long)time(NULL);
	char when[32];
	int lock, rc;

	if ((lock = index_lock(dir, LOCK_SH)) == -1)
		return -1;
	if ((rc = index_load(dir, &v, &n)) == 0)
		rc = crl_show(dir, now);
	index_unlock(&lock);
	if (rc != 0) {
		free(v);
		return -1;
	}
	printf("%-6s  %-28s  %-20s  %6s  %-13s  %s\n", "kind", "name",
	    "not after", "days", "status", "file");
	for (size_t i = 0; i < n; i++) {
		const struct issued *e = &v[i];
		time_t na = (time_t)e->not_after;
		const char *status = e->revoked ? "REVOKED" :
		    e->not_after < now ? "expired" :
		    now < e->not_before ? "not yet valid" : "valid";
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&na));
		printf("%-6s  %-28s  %-20s  %6lld  %-13s  %s\n", e->kind, e->name,
		    when, days_until(e->not_after, now), status, e->file);
	}
	free(v);
	return 0;
}

/* ---------------------------------------------------------------- names */

/*
 * narad takes a node's identity from its certificate (SAN URI, CN or
 * serialNumber) only when it is printable ASCII without spaces, at most 64
 * bytes (docs/PROTOCOL.md section 9). A certificate outside that rule would
 * be refused at every handshake, and a name with a newline or tab would
 * split its index.txt line, after which no revoke, crl or list could read
 * the index. So every name a command writes is checked before anything is
 * made.
 */
#define NAME_MAX_BYTES 64

enum name_kind {
	NAME_IDENTITY,          /* node id, serialNumber: narad's rule */
	NAME_SAN,               /* also in a subjectAltName list: no ',' */
	NAME_FILE,              /* a file stem in DIR: no '/' */
	NAME_CA,                /* the CA's CN: spaces and UTF-8 allowed */
};

static bool
name_byte_ok(unsigned char c, enum name_kind kind)
{
	if (kind == NAME_CA)
		return c >= 0x20 && c != 0x7f;
	if (c < 0x21 || c > 0x7e)
		return false;
	return !(kind == NAME_SAN && c == ',') && !(kind == NAME_FILE && c == '/');
}

/* 0 when s may be used as what; else -1 after saying why, with s shown
 * printable (it may hold the very newline being refused). */
static int
name_check(const char *what, const char *s, enum name_kind kind)
{
	size_t n = strlen(s), i;
	char shown[NAME_MAX_BYTES + 4];

	for (i = 0; i < n && i < NAME_MAX_BYTES; i++)
		shown[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	snprintf(shown + i, sizeof(shown) - i, "%s", n > i ? "..." : "");
	if (n == 0 || n > NAME_MAX_BYTES) {
		pki_err("%s \"%s\" refused: %zu bytes, not 1-%d", what, shown,
		    n, NAME_MAX_BYTES);
		return -1;
	}
	for (i = 0; i < n && name_byte_ok((unsigned char)s[i], kind); i++)
		;
	if (i < n) {
		static const char *const allowed[] = {
			[NAME_IDENTITY] = "printable ASCII 0x21-0x7e only",
			[NAME_SAN] = "printable ASCII 0x21-0x7e except ','",
			[NAME_FILE] = "printable ASCII 0x21-0x7e except '/'",
			[NAME_CA] = "no control characters",
		};
		pki_err("%s \"%s\" refused: byte 0x%02x at offset %zu (%s)",
		    what, shown, (unsigned char)s[i], i, allowed[kind]);
		return -1;
	}
	return 0;
}

/* The names cmd would write into a certificate, a file name or the index. */
static int
names_check(const char *cmd, char *const *pos, const struct issue_opts *o,
    const char *ca_name)
{
	if (strcmp(cmd, "init-ca") == 0)
		return name_check("--name", ca_name, NAME_CA);
	if (strcmp(cmd, "broker") != 0 && strcmp(cmd, "node") != 0)
		return 0;
	if (name_check(strcmp(cmd, "node") == 0 ? "node id" : "broker name",
	    pos[1], NAME_SAN) != 0)
		return -1;
	if (o->out != NULL && name_check("--out", o->out, NAME_FILE) != 0)
		return -1;
	if (o->serial_number != NULL && name_check("--serial-number",
	    o->serial_number, NAME_IDENTITY) != 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- options */

/* "2026-01-31T12:00:00Z", "...+01:00" or a plain date (UTC midnight);
 * -1 when malformed or not a real date (rfc3339.h). */
static int
parse_rfc3339(const char *s, time_t *out)
{
	int64_t t;

	if (rfc3339_parse_any(s, &t, NULL) != 0)
		return -1;
	*out = (time_t)t;
	return 0;
}

static int
san_append(struct issue_opts *o, const char *type, const char *value)
{
	size_t len = strlen(o->san);

	if (name_check(strcmp(type, "DNS") == 0 ? "--dns" : "--ip", value,
	    NAME_SAN) != 0)
		return -1;
	if (snprintf(o->san + len,
	    sizeof(o->san) - len, ",%s:%s", type, value) >= (int)(sizeof(o->san) - len))
		return pki_err("bad or too many names: %s", value);
	return 0;
}

/* Options of every command; returns the index of the first positional
 * argument, -1 on error, -2 for --help. */
static int
parse_opts(int argc, char **argv, struct issue_opts *o, const char **ca_name)
{
	static const struct option longopts[] = {
		{ "days", required_argument, NULL, 'd' },
		{ "not-before", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ "dns", required_argument, NULL, 'D' },
		{ "ip", required_argument, NULL, 'I' },
		{ "name", required_argument, NULL, 'n' },
		{ "serial-number", required_argument, NULL, 's' },
		{ "crl-days", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->days = strtol(optarg, &end, 10);
			if (*end != '\0' || o->days < 1 || o->days > 36500)
				return pki_err("--days: 1..36500, not %s", optarg);
			break;
		case 'c':
			o->crl_days = strtol(optarg, &end, 10);
			if (*end != '\0' || o->crl_days < 1 || o->crl_days > 3650)
				return pki_err("--crl-days: 1..3650, not %s", optarg);
			break;
		case 'b':
			if (parse_rfc3339(optarg, &o->not_before) != 0)
				return pki_err("--not-before: not RFC 3339: %s", optarg);
			break;
		case 'o': o->out = optarg; break;
		case 'n': *ca_name = optarg; break;
		case 's': o->serial_number = optarg; break;
		case 'D': if (san_append(o, "DNS", optarg) != 0) return -1; break;
		case 'I': if (san_append(o, "IP", optarg) != 0) return -1; break;
		case 'h': return -2;
		default: return -1;
		}
	}
	return optind;
}

static int
run(const char *cmd, int npos, char **pos, struct issue_opts *o,
    const char *ca_name)
{
	int want = strcmp(cmd, "broker") == 0 || strcmp(cmd, "node") == 0 ||
	    strcmp(cmd, "revoke") == 0 ? 2 : 1;

	if (npos != want) {
		usage(stderr);
		return 2;
	}
	if (names_check(cmd, pos, o, ca_name) != 0)
		return 2;
	if (strcmp(cmd, "init-ca") == 0) {
		if (o->days == 0)
			o->days = 3650;
		return cmd_init_ca(pos[0], ca_name, o) ? 1 : 0;
	}
	if (o->days == 0)
		o->days = 397;
	if (strcmp(cmd, "broker") == 0 || strcmp(cmd, "node") == 0)
		return cmd_leaf(pos[0], cmd, pos[1], o) ? 1 : 0;
	if (strcmp(cmd, "revoke") == 0)
		return cmd_revoke(pos[0], pos[1], o->crl_days) ? 1 : 0;
	if (strcmp(cmd, "crl") == 0)
		return cmd_crl(pos[0], o->crl_days) ? 1 : 0;
	return cmd_list(pos[0]) ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const char *const cmds[] = { "init-ca", "broker", "node",
	    "revoke", "crl", "list" };
	struct issue_opts o = { .days = 0, .crl_days = CRL_DAYS };
	const char *ca_name = "nara test CA";
	size_t i;
	int first;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("nara-pki %s\n", NARA_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i]) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		pki_err("unknown command %s", argv[1]);
		usage(stderr);
		return 2;
	}
	/* A minute back, so that a peer whose clock is a little behind
	 * accepts a certificate made just now. */
	o.not_before = time(NULL) - 60;
	first = parse_opts(argc - 1, argv + 1, &o, &ca_name);
	if (first == -2) {
		usage(stdout);
		return 0;
	}
	if (first < 0)
		return 2;
	return run(argv[1], argc - 1 - first, argv + 1 + first, &o, ca_name);
}
