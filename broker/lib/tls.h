/*
 * tls.h — OpenSSL contexts and certificate identities for nara's mutual TLS.
 *
 * The broker side (narad's TLS front) needs a server context that demands a
 * client certificate from the configured CA bundle, checks the CRLs and
 * refuses anything below TLS 1.3 (1.2 when configured). Adapters need a
 * client context that checks the broker's certificate and host name. Both
 * sides name a node by one certificate field chosen in the config: the SAN
 * URI urn:nara:node:<id>, the subject CN, or the subject serialNumber (the
 * HSA-id field of SITHS certificates).
 *
 * Contexts are returned with one reference owned by the caller (SSL_CTX_free).
 */
#ifndef NARA_TLS_H
#define NARA_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "errors.h"

#define TLS_NODE_URN "urn:nara:node:"
/* Longest identity taken from a certificate. */
#define TLS_IDENTITY_MAX 128

/* Server context from cfg->tls: cert chain + key, CA bundle as the only trust
 * anchors and as the list of acceptable client CAs, CRLs (checked for the
 * whole chain when any are configured), minimum version, peer certificate
 * required, no session resumption (so a reload's CRL applies to every new
 * connection). NULL with err (NR_CONFIG) on failure. */
SSL_CTX *tls_server_ctx_new(const struct config_tls *cfg, struct nara_err *err);

/* Client context: trust ca, present cert/key (both NULL for none), minimum
 * version "1.3" or "1.2" (NULL = "1.3"). The peer's certificate is always
 * verified; the host name is set per connection with tls_client_ssl_new. */
SSL_CTX *tls_client_ctx_new(const char *ca, const char *cert, const char *key,
    const char *min_version, struct nara_err *err);

/* CRL files (PEM) into ctx's trust store; with any loaded, every
 * certificate of a peer's chain must be covered by a current CRL
 * (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL). n == 0 changes
 * nothing. For the server context and the adapter's tunnel alike. -1 with
 * err (NR_CONFIG) when a file cannot be read. */
int tls_ctx_load_crls(SSL_CTX *ctx, char *const *files, size_t n,
    struct nara_err *err);

/* A client SSL for one connection to host (DNS name or IP literal): sets SNI
 * for names and makes verification require the name or address to match the
 * certificate. The caller owns the SSL. */
SSL *tls_client_ssl_new(SSL_CTX *ctx, const char *host, struct nara_err *err);

/* The node identity a certificate carries, by the configured field, into
 * out (NUL-terminated). Refused (-1, NR_AUTH_FAILED) when the field is
 * missing, present more than once, empty, too long or not printable. */
int tls_cert_identity(X509 *cert, enum config_identity how, char *out,
    size_t len, struct nara_err *err);

/* Whole days from now until the certificate's notAfter, rounded down;
 * negative once expired. -1 when the time cannot be read. */
int tls_cert_days_left(X509 *cert, time_t now, int *days);

/* Check cert (with the untrusted chain the peer sent, may be NULL) against
 * ctx's trust store and CRLs now, as for a new connection. Used on reload to
 * drop connections whose certificate was revoked. 0 when still valid; -1
 * with the verification error in err (NR_AUTH_FAILED). */
int tls_cert_reverify(SSL_CTX *ctx, X509 *cert, STACK_OF(X509) *chain,
    struct nara_err *err);

/* The same for a server's certificate (the broker's, seen by the adapter's
 * tunnel): used when the tunnel re-reads its CRLs. No name check; the name
 * was checked at the handshake. */
int tls_server_cert_reverify(SSL_CTX *ctx, X509 *cert, STACK_OF(X509) *chain,
    struct nara_err *err);

/* "1.3" -> TLS1_3_VERSION, "1.2" -> TLS1_2_VERSION, else -1. */
int tls_version_parse(const char *s);

/* The most recent OpenSSL error of this thread as text ("" when none);
 * clears the queue. */
const char *tls_error_text(char *buf, size_t len);

#endif
