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
 *
 * This file has the commands and the command line; the directory's files
 * and index are in files.c, keys, certificates and the CRL in cert.c.
 */
#include <errno.h>
#include <getopt.h>
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
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "rfc3339.h"
#include "tls.h"
#include "version.h"

#define CRL_WARN_DAYS 7         /* list warns when the CRL has less left */

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
