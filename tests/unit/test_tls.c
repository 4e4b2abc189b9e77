/*
 * test_tls.c — certificate identities, expiry arithmetic, context set-up
 * refusals, in-memory handshakes and re-verification against a new CRL.
 * Certificates are made in the test with OpenSSL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* ---------------------------------------------------------------- fixtures */

struct spec {
	const char *cn;             /* NULL = no CN */
	const char *cn2;            /* a second CN */
	const char *serial_number;  /* subject serialNumber */
	const char *san;            /* subjectAltName value, NULL = none */
	const char *eku;            /* extendedKeyUsage, NULL = none */
	bool ca;
	long start, seconds;        /* validity relative to now */
	long serial;
};

static EVP_PKEY *
key_new(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	cr_assert_not_null(k);
	return k;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	cr_assert_not_null(e, "extension %s", value);
	cr_assert_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static void
add_name(X509_NAME *n, int nid, const char *v)
{
	cr_assert_eq(X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8,
	    (const unsigned char *)v, -1, -1, 0), 1);
}

static X509 *
cert_new(EVP_PKEY *key, const struct spec *s, X509 *issuer, EVP_PKEY *ikey)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), s->serial ? s->serial : 1);
	add_name(n, NID_organizationName, "nara unit test");
	if (s->cn) add_name(n, NID_commonName, s->cn);
	if (s->cn2) add_name(n, NID_commonName, s->cn2);
	if (s->serial_number) add_name(n, NID_serialNumber, s->serial_number);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	X509_gmtime_adj(X509_getm_notBefore(x), s->start);
	X509_gmtime_adj(X509_getm_notAfter(x), s->start + s->seconds);
	X509_set_pubkey(x, key);
	add_ext(x, issuer ? issuer : x, NID_basic_constraints,
	    s->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (s->san) add_ext(x, issuer, NID_subject_alt_name, s->san);
	if (s->eku) add_ext(x, issuer, NID_ext_key_usage, s->eku);
	cr_assert(X509_sign(x, ikey, EVP_sha256()) > 0);
	return x;
}

static char dir[64];
static EVP_PKEY *ca_key, *srv_key, *node_key;
static X509 *ca, *srv, *node;

static void
write_pem(const char *name, X509 *x, EVP_PKEY *k, X509_CRL *crl)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_not_null(f = fopen(path, "w"));
	if (x) PEM_write_X509(f, x);
	if (k) PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	if (crl) PEM_write_X509_CRL(f, crl);
	fclose(f);
}

/* A CRL from ca listing the given serials (0-terminated). */
static X509_CRL *
crl_new(const long *serials)
{
	X509_CRL *crl = X509_CRL_new();

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	ASN1_TIME *t = X509_gmtime_adj(NULL, -60);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_gmtime_adj(t, 86400);
	X509_CRL_set1_nextUpdate(crl, t);
	for (; *serials; serials++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *i = ASN1_INTEGER_new();
		ASN1_INTEGER_set(i, *serials);
		X509_REVOKED_set_serialNumber(r, i);
		ASN1_TIME *when = X509_gmtime_adj(NULL, -60);
		X509_REVOKED_set_revocationDate(r, when);
		ASN1_TIME_free(when);
		X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(i);
	}
	ASN1_TIME_free(t);
	cr_assert(X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0);
	return crl;
}

static void
setup(void)
{
	const long none[] = { 0 };
	struct spec sca = { .cn = "test CA", .ca = true, .start = -60,
	    .seconds = 86400 * 30, .serial = 1 };
	struct spec ssrv = { .cn = "narad", .san = "DNS:narad,IP:127.0.0.1",
	    .eku = "serverAuth", .start = -60, .seconds = 86400, .serial = 2 };
	struct spec snode = { .cn = "kommun-1480",
	    .san = "URI:urn:nara:node:kommun-1480", .eku = "clientAuth",
	    .start = -60, .seconds = 86400, .serial = 3 };

	snprintf(dir, sizeof(dir), "/tmp/nara-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	ca_key = key_new();
	srv_key = key_new();
	node_key = key_new();
	ca = cert_new(ca_key, &sca, NULL, ca_key);
	srv = cert_new(srv_key, &ssrv, ca, ca_key);
	node = cert_new(node_key, &snode, ca, ca_key);
	write_pem("ca.pem", ca, NULL, NULL);
	write_pem("srv.pem", srv, NULL, NULL);
	write_pem("srv.key", NULL, srv_key, NULL);
	write_pem("node.pem", node, NULL, NULL);
	write_pem("node.key", NULL, node_key, NULL);
	X509_CRL *crl = crl_new(none);
	write_pem("crl.pem", NULL, NULL, crl);
	X509_CRL_free(crl);
}

static void
teardown(void)
{
	char cmd[128];

	X509_free(ca); X509_free(srv); X509_free(node);
	EVP_PKEY_free(ca_key); EVP_PKEY_free(srv_key); EVP_PKEY_free(node_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(tls, .init = setup, .fini = teardown);

static X509 *
leaf(const struct spec *s)
{
	EVP_PKEY *k = key_new();
	X509 *x = cert_new(k, s, ca, ca_key);

	EVP_PKEY_free(k);
	return x;
}

static char paths[8][128];

static const char *
p(int slot, const char *name)
{
	snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", dir, name);
	return paths[slot];
}

static struct config_tls
server_cfg(void)
{
	static char *crls[1];
	struct config_tls c = { .listen = "127.0.0.1:0", .min_version = "1.3" };

	c.cert = (char *)(uintptr_t)p(0, "srv.pem");
	c.key = (char *)(uintptr_t)p(1, "srv.key");
	c.ca = (char *)(uintptr_t)p(2, "ca.pem");
	crls[0] = (char *)(uintptr_t)p(3, "crl.pem");
	c.crl = crls;
	c.n_crl = 1;
	return c;
}

/* ---------------------------------------------------------------- identity */

Test(tls, identity_from_san_uri)
{
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(node, CONFIG_ID_SAN_URI, id, sizeof(id),
	    &err), 0, "%s", err.text);
	cr_assert_str_eq(id, "kommun-1480");
}

Test(tls, identity_san_uri_ignores_other_uris)
{
	struct spec s = { .cn = "x", .san = "URI:https://example.org/,"
	    "DNS:node.example,URI:urn:nara:node:SE2321000131-E000000000101",
	    .seconds = 100 };
	X509 *x = leaf(&s);
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(x, CONFIG_ID_SAN_URI, id, sizeof(id),
	    NULL), 0);
	cr_assert_str_eq(id, "SE2321000131-E000000000101");
	X509_free(x);
}

Test(tls, identity_san_uri_missing)
{
	struct spec s = { .cn = "kommun-1480", .san = "DNS:kommun-1480",
	    .seconds = 100 };
	X509 *x = leaf(&s);
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(x, CONFIG_ID_SAN_URI, id, sizeof(id),
	    &err), -1);
	cr_assert_eq(err.code, NR_AUTH_FAILED);
	cr_assert_str_eq(err.text,
	    "no SAN URI urn:nara:node:<id> in certificate");
	cr_assert_str_eq(id, "");
	X509_free(x);
}

Test(tls, identity_san_uri_twice_refused)
{
	struct spec s = { .cn = "x", .san = "URI:urn:nara:node:kommun-1480,"
	    "URI:urn:nara:node:kommun-1481", .seconds = 100 };
	X509 *x = leaf(&s);
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(x, CONFIG_ID_SAN_URI, id, sizeof(id),
	    &err), -1);
	cr_assert_str_eq(err.text,
	    "more than one SAN URI urn:nara:node:<id> in certificate");
	X509_free(x);
}

Test(tls, identity_san_uri_empty_id_refused)
{
	struct spec s = { .cn = "x", .san = "URI:urn:nara:node:", .seconds = 100 };
	X509 *x = leaf(&s);
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(x, CONFIG_ID_SAN_URI, id, sizeof(id),
	    &err), -1);
	cr_assert_str_eq(err.text, "empty identity in certificate");
	X509_free(x);
}

Test(tls, identity_from_cn)
{
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(node, CONFIG_ID_CN, id, sizeof(id),
	    NULL), 0);
	cr_assert_str_eq(id, "kommun-1480");
}

Test(tls, identity_cn_twice_refused)
{
	struct spec s = { .cn = "kommun-1480", .cn2 = "kommun-1481",
	    .seconds = 100 };
	X509 *x = leaf(&s);
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(x, CONFIG_ID_CN, id, sizeof(id), &err), -1);
	cr_assert_str_eq(err.text, "more than one subject CN in certificate");
	X509_free(x);
}

Test(tls, identity_cn_with_space_refused)
{
	struct spec s = { .cn = "kommun 1480", .seconds = 100 };
	X509 *x = leaf(&s);
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(x, CONFIG_ID_CN, id, sizeof(id), &err), -1);
	cr_assert_str_eq(err.text, "identity in certificate has a non-printable byte");
	X509_free(x);
}

Test(tls, identity_from_serial_number)
{
	struct spec s = { .cn = "BUP Göteborg",
	    .serial_number = "SE2321000131-E000000000101", .seconds = 100 };
	X509 *x = leaf(&s);
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(x, CONFIG_ID_SERIAL, id, sizeof(id),
	    &err), 0, "%s", err.text);
	cr_assert_str_eq(id, "SE2321000131-E000000000101");
	/* The CN has a space and a non-ASCII letter: not an identity. */
	cr_assert_eq(tls_cert_identity(x, CONFIG_ID_CN, id, sizeof(id), &err), -1);
	X509_free(x);
}

Test(tls, identity_serial_number_missing)
{
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	cr_assert_eq(tls_cert_identity(node, CONFIG_ID_SERIAL, id, sizeof(id),
	    &err), -1);
	cr_assert_str_eq(err.text, "no subject serialNumber in certificate");
}

Test(tls, identity_too_long_for_buffer)
{
	struct nara_err err = { 0 };
	char id[8];

	cr_assert_eq(tls_cert_identity(node, CONFIG_ID_CN, id, sizeof(id), &err), -1);
	cr_assert_str_eq(err.text, "identity in certificate too long (11 bytes)");
}

Test(tls, identity_without_certificate)
{
	struct nara_err err = { 0 };
	char id[16];

	cr_assert_eq(tls_cert_identity(NULL, CONFIG_ID_CN, id, sizeof(id), &err), -1);
	cr_assert_str_eq(err.text, "no peer certificate");
}

/* ---------------------------------------------------------------- expiry */

Test(tls, days_left_rounds_down)
{
	struct spec s = { .cn = "x", .seconds = 10 * 86400 + 5 };
	X509 *x = leaf(&s);
	time_t now = time(NULL);
	int days = 99;

	cr_assert_eq(tls_cert_days_left(x, now, &days), 0);
	cr_assert_eq(days, 10);
	cr_assert_eq(tls_cert_days_left(x, now + 86400 + 10, &days), 0);
	cr_assert_eq(days, 8);
	X509_free(x);
}

Test(tls, days_left_negative_after_expiry)
{
	struct spec s = { .cn = "x", .start = -3 * 86400, .seconds = 86400 - 30 };
	X509 *x = leaf(&s);
	int days = 99;

	/* Expired two days and 30 seconds ago. */
	cr_assert_eq(tls_cert_days_left(x, time(NULL), &days), 0);
	cr_assert_eq(days, -3);
	cr_assert_eq(tls_cert_days_left(NULL, time(NULL), &days), -1);
	X509_free(x);
}

/* ---------------------------------------------------------------- contexts */

Test(tls, version_parse)
{
	cr_assert_eq(tls_version_parse("1.3"), TLS1_3_VERSION);
	cr_assert_eq(tls_version_parse(""), TLS1_3_VERSION);
	cr_assert_eq(tls_version_parse("1.2"), TLS1_2_VERSION);
	cr_assert_eq(tls_version_parse("1.1"), -1);
}

Test(tls, server_ctx_ok)
{
	struct config_tls c = server_cfg();
	struct nara_err err = { 0 };
	SSL_CTX *ctx = tls_server_ctx_new(&c, &err);

	cr_assert_not_null(ctx, "%s", err.text);
	cr_assert_eq(SSL_CTX_get_verify_mode(ctx),
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	cr_assert_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	cr_assert_eq(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(ctx)), 1);
	SSL_CTX_free(ctx);
}

Test(tls, server_ctx_missing_cert_file)
{
	struct config_tls c = server_cfg();
	struct nara_err err = { 0 };

	c.cert = (char *)(uintptr_t)p(4, "nonexistent.pem");
	cr_assert_null(tls_server_ctx_new(&c, &err));
	cr_assert_eq(err.code, NR_CONFIG);
	cr_assert_not_null(strstr(err.text, "cannot load certificate"), "%s", err.text);
	cr_assert_not_null(strstr(err.text, "nonexistent.pem"));
}

Test(tls, server_ctx_key_mismatch)
{
	struct config_tls c = server_cfg();
	struct nara_err err = { 0 };

	c.key = (char *)(uintptr_t)p(4, "node.key");
	cr_assert_null(tls_server_ctx_new(&c, &err));
	/* OpenSSL notices the mismatch while loading the key. */
	cr_assert_not_null(strstr(err.text, "cannot load key"), "%s", err.text);
	cr_assert_not_null(strstr(err.text, "key values mismatch"), "%s", err.text);
}

Test(tls, server_ctx_bad_crl)
{
	struct config_tls c = server_cfg();
	struct nara_err err = { 0 };

	c.crl[0] = (char *)(uintptr_t)p(4, "ca.pem");   /* not a CRL */
	cr_assert_null(tls_server_ctx_new(&c, &err));
	cr_assert_not_null(strstr(err.text, "cannot load CRL"), "%s", err.text);
}

Test(tls, server_ctx_bad_min_version)
{
	struct config_tls c = server_cfg();
	struct nara_err err = { 0 };

	c.min_version = "1.0";
	cr_assert_null(tls_server_ctx_new(&c, &err));
	cr_assert_str_eq(err.path, "tls.min_version");
	cr_assert_str_eq(err.text, "min_version must be 1.2 or 1.3, not \"1.0\"");
}

/* ---------------------------------------------------------------- handshakes */

/* Run a handshake between two in-memory SSLs; 1 when both finished. */
static int
handshake(SSL *server, SSL *client)
{
	BIO *a, *b;
	int sdone = 0, cdone = 0;

	cr_assert_eq(BIO_new_bio_pair(&a, 0, &b, 0), 1);
	SSL_set_bio(server, a, a);
	SSL_set_bio(client, b, b);
	SSL_set_accept_state(server);
	SSL_set_connect_state(client);
	for (int i = 0; i < 50 && !(sdone && cdone); i++) {
		int rc = 0;
		if (!cdone && (rc = SSL_do_handshake(client)) != 1 &&
		    SSL_get_error(client, rc) != SSL_ERROR_WANT_READ)
			return 0;
		cdone = cdone || rc == 1;
		if (!sdone && (rc = SSL_do_handshake(server)) != 1 &&
		    SSL_get_error(server, rc) != SSL_ERROR_WANT_READ)
			return 0;
		sdone = sdone || rc == 1;
	}
	/* TLS 1.3: the client learns of a refused certificate only on read. */
	char byte;
	SSL_write(server, "k", 1);
	return sdone && cdone && SSL_read(client, &byte, 1) == 1;
}

static int
try_handshake(const char *cert, const char *key, const char *host,
    const char *client_version)
{
	struct config_tls c = server_cfg();
	struct nara_err err = { 0 };
	SSL_CTX *sctx = tls_server_ctx_new(&c, &err), *cctx;
	SSL *s, *cl;
	int ok;

	cr_assert_not_null(sctx, "%s", err.text);
	cctx = tls_client_ctx_new(p(5, "ca.pem"), cert, key, "1.2", &err);
	cr_assert_not_null(cctx, "%s", err.text);
	if (client_version != NULL)
		SSL_CTX_set_max_proto_version(cctx, tls_version_parse(client_version));
	s = SSL_new(sctx);
	cl = tls_client_ssl_new(cctx, host, &err);
	cr_assert_not_null(cl, "%s", err.text);
	ok = handshake(s, cl);
	SSL_free(s);
	SSL_free(cl);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	ERR_clear_error();
	return ok;
}

Test(tls, handshake_with_node_cert)
{
	cr_assert_eq(try_handshake(p(6, "node.pem"), p(7, "node.key"),
	    "127.0.0.1", NULL), 1);
	cr_assert_eq(try_handshake(p(6, "node.pem"), p(7, "node.key"),
	    "narad", NULL), 1);
}

Test(tls, handshake_without_client_cert_fails)
{
	cr_assert_eq(try_handshake(NULL, NULL, "narad", NULL), 0);
}

Test(tls, handshake_wrong_host_name_fails)
{
	cr_assert_eq(try_handshake(p(6, "node.pem"), p(7, "node.key"),
	    "other.example", NULL), 0);
	cr_assert_eq(try_handshake(p(6, "node.pem"), p(7, "node.key"),
	    "127.0.0.2", NULL), 0);
}

Test(tls, handshake_tls12_refused_by_default)
{
	cr_assert_eq(try_handshake(p(6, "node.pem"), p(7, "node.key"),
	    "narad", "1.2"), 0);
}

/* ---------------------------------------------------------------- reload */

Test(tls, reverify_against_new_crl)
{
	struct config_tls c = server_cfg();
	struct nara_err err = { 0 };
	const long revoked[] = { 3, 0 };
	SSL_CTX *before = tls_server_ctx_new(&c, &err), *after;
	X509_CRL *crl;

	cr_assert_not_null(before, "%s", err.text);
	cr_assert_eq(tls_cert_reverify(before, node, NULL, &err), 0, "%s", err.text);
	crl = crl_new(revoked);
	unlink(p(4, "crl.pem"));
	write_pem("crl.pem", NULL, NULL, crl);
	X509_CRL_free(crl);
	after = tls_server_ctx_new(&c, &err);
	cr_assert_not_null(after, "%s", err.text);
	cr_assert_eq(tls_cert_reverify(after, node, NULL, &err), -1);
	cr_assert_eq(err.code, NR_AUTH_FAILED);
	cr_assert_str_eq(err.text, "certificate revoked");
	/* Not revoked, but a serverAuth-only certificate is no client's. */
	cr_assert_eq(tls_cert_reverify(after, srv, NULL, &err), -1);
	cr_assert_str_eq(err.text, "unsuitable certificate purpose");
	SSL_CTX_free(before);
	SSL_CTX_free(after);
}

Test(tls, reverify_foreign_ca)
{
	struct config_tls c = server_cfg();
	struct spec s = { .cn = "other CA", .ca = true, .seconds = 100 };
	EVP_PKEY *k = key_new();
	X509 *other = cert_new(k, &s, NULL, k);
	struct nara_err err = { 0 };
	SSL_CTX *ctx = tls_server_ctx_new(&c, &err);

	cr_assert_not_null(ctx);
	cr_assert_eq(tls_cert_reverify(ctx, other, NULL, &err), -1);
	cr_assert_str_eq(err.text, "self-signed certificate");
	SSL_CTX_free(ctx);
	X509_free(other);
	EVP_PKEY_free(k);
}
