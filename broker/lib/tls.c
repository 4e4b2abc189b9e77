/*
 * tls.c — OpenSSL 3 contexts for the broker and adapters, and the node
 * identity a certificate carries.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* Chains are CA -> (intermediate ->) leaf; anything deeper is refused. */
#define VERIFY_DEPTH 4

const char *
tls_error_text(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (e != 0)
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

int
tls_version_parse(const char *s)
{
	if (s == NULL || s[0] == '\0' || strcmp(s, "1.3") == 0)
		return TLS1_3_VERSION;
	if (strcmp(s, "1.2") == 0)
		return TLS1_2_VERSION;
	return -1;
}

static int
ssl_fail(struct nara_err *err, const char *what, const char *file)
{
	char buf[200];

	return nara_err_set(err, NR_CONFIG, "tls", "%s %s: %s", what,
	    file ? file : "", tls_error_text(buf, sizeof(buf)));
}

/* Certificate chain, private key and their match. */
static int
load_own_cert(SSL_CTX *ctx, const char *cert, const char *key,
    struct nara_err *err)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return ssl_fail(err, "cannot load certificate", cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return ssl_fail(err, "cannot load key", key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ssl_fail(err, "key does not match certificate", key);
	return 0;
}

int
tls_ctx_load_crls(SSL_CTX *ctx, char *const *files, size_t n,
    struct nara_err *err)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lookup;

	if (n == 0)
		return 0;
	if ((lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file())) == NULL)
		return ssl_fail(err, "cannot set up CRL lookup", NULL);
	for (size_t i = 0; i < n; i++)
		if (X509_load_crl_file(lookup, files[i], X509_FILETYPE_PEM) <= 0)
			return ssl_fail(err, "cannot load CRL", files[i]);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_CRL_CHECK_ALL);
	return 0;
}

static int
set_common(SSL_CTX *ctx, const char *min_version, struct nara_err *err)
{
	int v = tls_version_parse(min_version);

	if (v < 0)
		return nara_err_set(err, NR_CONFIG, "tls.min_version",
		    "min_version must be 1.2 or 1.3, not \"%s\"", min_version);
	if (SSL_CTX_set_min_proto_version(ctx, v) != 1)
		return ssl_fail(err, "cannot set minimum TLS version", NULL);
	/* A peer closing without close_notify reads as a plain EOF. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_verify_depth(ctx, VERIFY_DEPTH);
	return 0;
}

SSL_CTX *
tls_server_ctx_new(const struct config_tls *cfg, struct nara_err *err)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		ssl_fail(err, "cannot create TLS context", NULL);
		return NULL;
	}
	if (set_common(ctx, cfg->min_version, err) != 0 ||
	    load_own_cert(ctx, cfg->cert, cfg->key, err) != 0)
		goto fail;
	if (SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
		ssl_fail(err, "cannot load CA bundle", cfg->ca);
		goto fail;
	}
	if ((names = SSL_load_client_CA_file(cfg->ca)) == NULL) {
		ssl_fail(err, "no CA names in", cfg->ca);
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	if (tls_ctx_load_crls(ctx, cfg->crl, cfg->n_crl, err) != 0)
		goto fail;
	/* No tickets and no session cache: every connection runs a full
	 * handshake, so a certificate revoked by a reload is never resumed. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_client_ctx_new(const char *ca, const char *cert, const char *key,
    const char *min_version, struct nara_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		ssl_fail(err, "cannot create TLS context", NULL);
		return NULL;
	}
	if (set_common(ctx, min_version, err) != 0)
		goto fail;
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		ssl_fail(err, "cannot load CA bundle", ca);
		goto fail;
	}
	if (cert != NULL && load_own_cert(ctx, cert, key, err) != 0)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL *
tls_client_ssl_new(SSL_CTX *ctx, const char *host, struct nara_err *err)
{
	unsigned char addr[16];
	bool is_ip = inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL) {
		ssl_fail(err, "cannot create TLS connection", NULL);
		return NULL;
	}
	if (is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
			goto fail;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
		    SSL_set1_host(ssl, host) != 1)
			goto fail;
	}
	return ssl;
fail:
	nara_err_set(err, NR_CONFIG, "tls", "cannot use host name \"%s\"", host);
	SSL_free(ssl);
	return NULL;
}

/* An identity must be plain printable ASCII without spaces: it is compared
 * with a node id and written to logs and the audit. */
static int
identity_copy(const unsigned char *s, size_t n, char *out, size_t len,
    struct nara_err *err)
{
	if (n == 0)
		return nara_err_set(err, NR_AUTH_FAILED, "certificate",
		    "empty identity in certificate");
	if (n >= len || n > TLS_IDENTITY_MAX)
		return nara_err_set(err, NR_AUTH_FAILED, "certificate",
		    "identity in certificate too long (%zu bytes)", n);
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return nara_err_set(err, NR_AUTH_FAILED, "certificate",
			    "identity in certificate has a non-printable byte");
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* The one SAN URI of the form urn:nara:node:<id>. */
static int
identity_san_uri(X509 *cert, char *out, size_t len, struct nara_err *err)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name,
	    NULL, NULL);
	const size_t plen = strlen(TLS_NODE_URN);
	const unsigned char *found = NULL;
	size_t found_len = 0;
	int n_found = 0, rc;

	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type != GEN_URI)
			continue;
		const unsigned char *s = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		size_t n = (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (n < plen || strncasecmp((const char *)s, TLS_NODE_URN, plen) != 0)
			continue;
		found = s + plen;
		found_len = n - plen;
		n_found++;
	}
	if (n_found == 1)
		rc = identity_copy(found, found_len, out, len, err);
	else
		rc = nara_err_set(err, NR_AUTH_FAILED, "certificate",
		    n_found == 0 ? "no SAN URI " TLS_NODE_URN "<id> in certificate" :
		    "more than one SAN URI " TLS_NODE_URN "<id> in certificate");
	GENERAL_NAMES_free(names);
	return rc;
}

/* The one subject attribute nid (CN or serialNumber), as UTF-8. */
static int
identity_subject(X509 *cert, int nid, char *out, size_t len,
    struct nara_err *err)
{
	const X509_NAME *subject = X509_get_subject_name(cert);
	const char *what = nid == NID_commonName ? "CN" : "serialNumber";
	unsigned char *utf8 = NULL;
	int i, n, rc;

	i = X509_NAME_get_index_by_NID(subject, nid, -1);
	if (i < 0)
		return nara_err_set(err, NR_AUTH_FAILED, "certificate",
		    "no subject %s in certificate", what);
	if (X509_NAME_get_index_by_NID(subject, nid, i) >= 0)
		return nara_err_set(err, NR_AUTH_FAILED, "certificate",
		    "more than one subject %s in certificate", what);
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(subject, i)));
	if (n < 0)
		return nara_err_set(err, NR_AUTH_FAILED, "certificate",
		    "unreadable subject %s in certificate", what);
	rc = identity_copy(utf8, (size_t)n, out, len, err);
	OPENSSL_free(utf8);
	return rc;
}

int
tls_cert_identity(X509 *cert, enum config_identity how, char *out, size_t len,
    struct nara_err *err)
{
	if (len > 0)
		out[0] = '\0';
	if (cert == NULL)
		return nara_err_set(err, NR_AUTH_FAILED, "certificate",
		    "no peer certificate");
	switch (how) {
	case CONFIG_ID_SAN_URI:
		return identity_san_uri(cert, out, len, err);
	case CONFIG_ID_CN:
		return identity_subject(cert, NID_commonName, out, len, err);
	case CONFIG_ID_SERIAL:
		return identity_subject(cert, NID_serialNumber, out, len, err);
	}
	return nara_err_set(err, NR_CONFIG, "tls.identity", "unknown identity field");
}

int
tls_cert_days_left(X509 *cert, time_t now, int *days)
{
	ASN1_TIME *t_now = ASN1_TIME_set(NULL, now);
	int d = 0, s = 0, ok;

	if (t_now == NULL)
		return -1;
	ok = cert != NULL &&
	    ASN1_TIME_diff(&d, &s, t_now, X509_get0_notAfter(cert)) == 1;
	ASN1_TIME_free(t_now);
	if (!ok)
		return -1;
	/* d and s carry the same sign; round towards minus infinity. */
	*days = s < 0 ? d - 1 : d;
	return 0;
}

/* cert verified as a client's ("ssl_client") or a server's ("ssl_server")
 * certificate: the purpose follows the extended key usage nara-pki gives. */
static int
reverify(SSL_CTX *ctx, X509 *cert, STACK_OF(X509) *chain,
    const char *purpose, struct nara_err *err)
{
	X509_STORE_CTX *sctx = X509_STORE_CTX_new();
	int rc = -1;

	if (sctx == NULL)
		return nara_err_set(err, NR_AUTH_FAILED, "certificate", "out of memory");
	if (X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(ctx), cert,
	    chain) != 1 || X509_STORE_CTX_set_default(sctx, purpose) != 1) {
		nara_err_set(err, NR_AUTH_FAILED, "certificate",
		    "cannot set up verification");
		goto done;
	}
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(sctx), VERIFY_DEPTH);
	if (X509_verify_cert(sctx) == 1)
		rc = 0;
	else
		nara_err_set(err, NR_AUTH_FAILED, "certificate", "%s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
done:
	X509_STORE_CTX_free(sctx);
	ERR_clear_error();
	return rc;
}

int
tls_cert_reverify(SSL_CTX *ctx, X509 *cert, STACK_OF(X509) *chain,
    struct nara_err *err)
{
	return reverify(ctx, cert, chain, "ssl_client", err);
}

int
tls_server_cert_reverify(SSL_CTX *ctx, X509 *cert, STACK_OF(X509) *chain,
    struct nara_err *err)
{
	return reverify(ctx, cert, chain, "ssl_server", err);
}
