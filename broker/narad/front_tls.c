/*
 * front_tls.c — the TLS side of a front connection: accepting it, the
 * names its certificate carries (for reports, also when the handshake
 * refuses it), why a handshake failed, the re-check after a reload, and
 * the node's socket below the TLS.
 *
 * The TLS bufferevent is a filter over a socket bufferevent (c->sock):
 * each wakeup reads what the socket holds with one readv, and OpenSSL
 * takes its records from that buffer, however many there are, instead of
 * two reads per record (header, then body) on the socket. Towards the
 * node, the records OpenSSL makes go into c->sock's output; the front
 * writes them itself, all of a wakeup's records in one write, and arms
 * c->sock's write event only when the socket blocks.
 */
#include "front_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "tls_bev.h"

/* Bytes of records waiting in c->sock before OpenSSL is given no more. */
#define NODE_RAW_HIGH (64 * 1024)
/* Plaintext per SSL_write (one record), and the record it makes at most. */
#define NODE_PLAIN_MAX 16384
#define NODE_RECORD_MAX (NODE_PLAIN_MAX + 512)

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

	if (c == NULL || (ssl = SSL_new(f->ctx)) == NULL ||
	    (c->sock = bufferevent_socket_new(f->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto fail;
	c->f = f;
	/* An idle node must cost little: OpenSSL frees the connection's 16 KiB
	 * read and write record buffers whenever they are empty. */
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	SSL_set_app_data(ssl, c);
	SSL_set_verify(ssl, SSL_get_verify_mode(ssl), on_verify);
	peer_name(sa, salen, c);
	c->tls = bufferevent_openssl_filter_new(f->base, c->sock, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->tls == NULL) {                /* it freed the SSL */
		bufferevent_free(c->sock);   /* closes fd */
		free(c);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->tls, 1);
	/* OpenSSL stops encrypting into sock at this much (the TLS side's
	 * output then holds the rest, under the relay's watermarks). */
	bufferevent_setwatermark(c->sock, EV_WRITE, 0, NODE_RAW_HIGH);
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

/* ---------------------------------------------------------------- socket */

int64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
node_flush(struct conn *c)
{
	struct evbuffer *raw = bufferevent_get_output(c->sock);

	if (evbuffer_get_length(raw) == 0 ||
	    (bufferevent_get_enabled(c->sock) & EV_WRITE))
		return;                      /* nothing, or libevent's turn */
	evbuffer_unfreeze(raw, 1);           /* the socket bufferevent's lock */
	evbuffer_write(raw, bufferevent_getfd(c->sock));
	evbuffer_freeze(raw, 1);
	/* Blocked or failed: libevent writes the rest, or reports the error
	 * through the TLS side's event callback. */
	if (evbuffer_get_length(raw) != 0)
		bufferevent_enable(c->sock, EV_WRITE);
}

void
node_send(struct conn *c, struct evbuffer *in)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	struct evbuffer *raw = bufferevent_get_output(c->sock);
	size_t len;
	uint8_t *data;
	int n;

	/* Written by the front from here on: an armed write event would cost
	 * an epoll_ctl and a wakeup per burst. node_flush arms it again when
	 * the socket blocks. */
	if (evbuffer_get_length(raw) == 0)
		bufferevent_disable(c->sock, EV_WRITE);
	/* A whole record always fits under NODE_RAW_HIGH: OpenSSL never has
	 * a record half written that a retry would have to repeat. */
	while ((len = evbuffer_get_length(in)) != 0 &&
	    evbuffer_get_length(raw) + NODE_RECORD_MAX <= NODE_RAW_HIGH) {
		if (len > NODE_PLAIN_MAX)
			len = NODE_PLAIN_MAX;
		if ((data = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL)
			break;
		ERR_clear_error();
		n = SSL_write(ssl, data, (int)len);
		ERR_clear_error();           /* libevent's write reports it */
		if (n <= 0)
			break;
		evbuffer_drain(in, (size_t)n);
	}
	node_flush(c);
}

static void
on_raw_written(struct evbuffer *raw, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	if (c->draining && info->n_deleted != 0 &&
	    evbuffer_get_length(raw) == 0)
		event_active(c->r.timer, EV_TIMEOUT, 1);  /* on_timer: finish */
}

bool
node_unflushed(struct conn *c)
{
	struct evbuffer *raw = bufferevent_get_output(c->sock);
	int64_t left = c->close_by_ms - conn_now_ms();
	struct timeval tv;

	c->draining = false;
	if (!c->flush_node || c->r.unflushed[SIDE_NODE] ||
	    evbuffer_get_length(raw) == 0 || left <= 0)
		return false;
	if (!c->raw_cb && evbuffer_add_cb(raw, on_raw_written, c) == NULL)
		return false;
	c->raw_cb = true;
	c->draining = true;
	if (!(bufferevent_get_enabled(c->sock) & EV_WRITE))
		bufferevent_enable(c->sock, EV_WRITE);
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	event_del(c->r.timer);
	event_add(c->r.timer, &tv);
	return true;
}

void
node_shut(struct conn *c)
{
	struct evbuffer *raw = bufferevent_get_output(c->sock);
	evutil_socket_t fd = bufferevent_getfd(c->sock);

	c->draining = false;
	bufferevent_disable(c->tls, EV_READ | EV_WRITE);
	bufferevent_disable(c->sock, EV_READ | EV_WRITE);
	evbuffer_drain(bufferevent_get_output(c->tls),
	    evbuffer_get_length(bufferevent_get_output(c->tls)));
	/* An alert OpenSSL wrote last (a refused certificate) reaches the
	 * node as it did when OpenSSL wrote to the socket itself. */
	evbuffer_unfreeze(raw, 1);
	if (evbuffer_get_length(raw) != 0 && fd >= 0)
		evbuffer_write(raw, fd);
	evbuffer_drain(raw, evbuffer_get_length(raw));
	evbuffer_freeze(raw, 1);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
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
