/*
 * front_tls.c — the TLS side of a front connection: accepting it, the
 * names its certificate carries (for reports, also when the handshake
 * refuses it), why a handshake failed, and the re-check after a reload.
 */
#include "front_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "tls_bev.h"

/* Subject and identity of the node's certificate, for reports; also for
 * certificates the handshake then refuses. */
void
conn_cert_names(struct conn *c, X509 *cert)
{
	struct nara_err err = { 0 };
	BIO *bio = BIO_new(BIO_s_mem());
	struct tm tm;
	int n = 0;

	if (bio != NULL && X509_NAME_print_ex(bio, X509_get_subject_name(cert),
	    0, XN_FLAG_RFC2253) >= 0)
		n = BIO_read(bio, c->subject, (int)sizeof(c->subject) - 1);
	c->subject[n > 0 ? n : 0] = '\0';
	BIO_free(bio);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
		c->not_after = (int64_t)timegm(&tm);
	if (tls_cert_identity(cert, c->f->cfg->tls.identity, c->identity,
	    sizeof(c->identity), &err) != 0)
		c->identity[0] = '\0';
}

/* OpenSSL's per-certificate check; records the leaf's names, changes
 * nothing about the verdict. */
static int
on_verify(int ok, X509_STORE_CTX *sctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(sctx);

	if (c != NULL && cert != NULL && X509_STORE_CTX_get_error_depth(sctx)
	    == 0 && c->subject[0] == '\0')
		conn_cert_names(c, cert);
	return ok;
}

/* Why a TLS handshake failed, from the certificate verification result and
 * the OpenSSL errors. Returns true, with no text, for a connection closed
 * before it sent a single handshake byte: a port probe or health check,
 * not an authentication attempt. */
bool
conn_tls_failure(struct conn *c, short what, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	int sock_err = EVUTIL_SOCKET_ERROR();
	bool only_eof;
	unsigned long e = tls_bev_error(c->tls, &only_eof);

	buf[0] = '\0';
	if (ssl != NULL && SSL_get_state(ssl) == TLS_ST_BEFORE &&
	    (e == 0 || only_eof) && ((what & BEV_EVENT_EOF) || sock_err == 0 ||
	    sock_err == ECONNRESET))
		return true;
	if (verify != X509_V_OK)
		snprintf(buf, len, "TLS handshake: certificate: %s",
		    X509_verify_cert_error_string(verify));
	else if (e != 0 && !only_eof && ERR_reason_error_string(e) != NULL)
		snprintf(buf, len, "TLS handshake: %s", ERR_reason_error_string(e));
	else if ((what & BEV_EVENT_EOF) || e != 0 || sock_err == 0)
		snprintf(buf, len, "closed during TLS handshake");
	else
		snprintf(buf, len, "TLS handshake: %s",
		    evutil_socket_error_to_string(sock_err));
	return false;
}

/* ---------------------------------------------------------------- accept */

static void
peer_name(const struct sockaddr *sa, socklen_t salen, struct conn *c)
{
	char host[64], port[16];

	if (getnameinfo(sa, salen, host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(c->addr, sizeof(c->addr), "unknown");
		snprintf(c->peer, sizeof(c->peer), "unknown");
		return;
	}
	snprintf(c->addr, sizeof(c->addr), "%s", host);
	snprintf(c->peer, sizeof(c->peer), sa->sa_family == AF_INET6 ?
	    "[%s]:%s" : "%s:%s", host, port);
}

/* Start the TLS handshake for fd; c->addr is filled for admission. */
struct conn *
conn_new(struct front *f, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct conn *c = calloc(1, sizeof(*c));
	SSL *ssl = NULL;

	if (c == NULL || (ssl = SSL_new(f->ctx)) == NULL)
		goto fail;
	c->f = f;
	/* An idle node must cost little: OpenSSL frees the connection's 16 KiB
	 * read and write record buffers whenever they are empty. */
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_set_app_data(ssl, c);
	SSL_set_verify(ssl, SSL_get_verify_mode(ssl), on_verify);
	peer_name(sa, salen, c);
	c->tls = bufferevent_openssl_socket_new(f->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->tls == NULL)
		goto fail;
	bufferevent_openssl_set_allow_dirty_shutdown(c->tls, 1);
	if (conn_attach(c) != 0) {
		conn_destroy(c);             /* the bufferevent owns fd and SSL */
		return NULL;
	}
	return c;
fail:
	SSL_free(ssl);
	free(c);
	evutil_closesocket(fd);
	return NULL;
}

void
conn_recheck(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	X509 *cert = SSL_get0_peer_certificate(ssl);
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];
	const struct config_node *node;

	if (tls_cert_reverify(c->f->ctx, cert, SSL_get_peer_cert_chain(ssl),
	    &err) != 0) {
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED,
		    "certificate no longer accepted: %s", err.text);
		return;
	}
	if (tls_cert_identity(cert, c->f->cfg->tls.identity, id, sizeof(id),
	    &err) != 0 || (node = config_node_by_identity(c->f->cfg, id)) == NULL ||
	    strcmp(node->id, c->node) != 0)
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED, "node %s is no "
		    "longer configured for this certificate", c->node);
}
