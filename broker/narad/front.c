/*
 * front.c — the TLS terminator of narad.
 *
 * One struct conn per accepted TCP connection, through these states:
 *   CONN_TLS    TLS handshake running (handshake timer armed)
 *   CONN_ZMTP   certificate accepted, ipc relay connected; the node's
 *               greeting is forwarded as far as it is valid, its READY held
 *   CONN_RELAY  READY checked and forwarded; plain relay both ways, but the
 *               node's further bytes wait until the broker's READY went by
 *               (libzmq drops a peer that sends while ZAP is pending)
 *   CONN_CLOSING reads stopped, flushing what is buffered, then freed
 * The broker's bytes (its greeting and everything after) are always relayed
 * to the node unchanged: libzmq sends its greeting in parts and waits for
 * the peer's, so neither side may be held back during the greeting.
 *
 * Connections are never freed inside their own callbacks: they move to a
 * dead list that an event callback empties.
 */
#include "front.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "tls.h"
#include "tls_bev.h"
#include "zmtp.h"

/* Bytes buffered towards one side before the other side stops being read. */
#define RELAY_HIGH_WATER (256 * 1024)
/* The node's input needed before READY is parsed; never more is read. */
#define HANDSHAKE_READ_MAX (ZMTP_GREETING_LEN + ZMTP_READY_MAX + 64)
/* Seconds a closing connection may take to flush. */
#define CLOSE_FLUSH_SECONDS 5

enum conn_state { CONN_TLS, CONN_ZMTP, CONN_RELAY, CONN_CLOSING };

struct conn {
	struct front *f;
	LIST_ENTRY(conn) link;         /* in f->live or f->dead */
	struct bufferevent *tls;       /* node side; owns the SSL and fd */
	struct bufferevent *relay;     /* ipc side, NULL until CONN_ZMTP */
	struct event *timer;           /* handshake timeout / flush limit */
	enum conn_state state;
	bool relaying;                 /* in CONN_RELAY, connected hook called */
	bool buried;                   /* on the dead list */
	size_t forwarded;              /* greeting bytes sent to the ROUTER */
	bool broker_ready;             /* the ROUTER's READY went to the node */
	size_t broker_seen;            /* ROUTER bytes relayed until then */
	uint8_t broker_head[ZMTP_GREETING_LEN + 9 + 6]; /* and the first ones */
	int days_left;                 /* certificate, valid from CONN_ZMTP */
	char peer[80];                 /* "address:port" */
	char node[TLS_IDENTITY_MAX + 1];
	uint64_t gen;                  /* set when relaying starts */
};

struct front {
	struct event_base *base;
	const struct config *cfg;
	struct front_hooks hooks;
	SSL_CTX *ctx;
	struct evconnlistener *listener;
	struct sockaddr_un relay_addr;
	char listen[256];              /* the address bound at start */
	struct event *reaper;          /* frees the dead list */
	LIST_HEAD(conn_list, conn) live, dead;
	size_t n_live;
	uint64_t refusals;
	uint64_t gens;                 /* connections that started relaying */
};

static void conn_close(struct conn *c, bool flush);

/* ---------------------------------------------------------------- lifetime */

static void
conn_destroy(struct conn *c)
{
	if (c->tls != NULL)
		bufferevent_free(c->tls);    /* frees the SSL, closes the fd */
	if (c->relay != NULL)
		bufferevent_free(c->relay);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;
	struct conn *c;

	while ((c = LIST_FIRST(&f->dead)) != NULL) {
		LIST_REMOVE(c, link);
		conn_destroy(c);
	}
}

/* Leave the live list now, be freed after the current callback returns. */
static void
conn_bury(struct conn *c)
{
	struct front *f = c->f;

	if (c->buried)
		return;
	c->buried = true;
	if (c->relaying && f->hooks.disconnected != NULL)
		f->hooks.disconnected(f->hooks.arg, c->node, c->gen);
	c->relaying = false;
	bufferevent_setcb(c->tls, NULL, NULL, NULL, NULL);
	bufferevent_disable(c->tls, EV_READ | EV_WRITE);
	if (c->relay != NULL) {
		bufferevent_setcb(c->relay, NULL, NULL, NULL, NULL);
		bufferevent_disable(c->relay, EV_READ | EV_WRITE);
	}
	if (c->timer != NULL)
		event_del(c->timer);
	LIST_REMOVE(c, link);
	f->n_live--;
	LIST_INSERT_HEAD(&f->dead, c, link);
	event_active(f->reaper, EV_TIMEOUT, 0);
}

/* Refuse the peer: log, count, tell the broker, close without flushing. */
static void __attribute__((format(printf, 2, 3)))
conn_refuse(struct conn *c, const char *fmt, ...)
{
	struct front *f = c->f;
	char reason[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	f->refusals++;
	log_warn("tls front: refused %s%s%s: %s", c->peer,
	    c->node[0] ? " as " : "", c->node, reason);
	if (f->hooks.auth_failed != NULL)
		f->hooks.auth_failed(f->hooks.arg, c->peer, reason);
	conn_close(c, false);
}

/* Peer-sent bytes for a log line: printable ASCII only. */
static void
printable(char *out, size_t len, const char *in, size_t in_len)
{
	size_t i;

	for (i = 0; i + 1 < len && i < in_len; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

/* Why a TLS handshake failed, from the certificate verification result and
 * the OpenSSL errors. Returns true, with no text, for a connection closed
 * before it sent a single handshake byte: a port probe or health check,
 * not an authentication attempt. */
static bool
tls_failure(struct conn *c, short what, char *buf, size_t len)
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

/* ---------------------------------------------------------------- relay */

/* Move what arrived on from to the other side, written at once when nothing
 * waits there (saves an EPOLLOUT round trip; what blocks stays first in line,
 * the TLS part in one chain as OpenSSL's retry needs). Stop reading from when
 * the other side has too much waiting (its write callback resumes it). */
static void
relay_pump(struct conn *c, struct bufferevent *from)
{
	struct bufferevent *to = from == c->tls ? c->relay : c->tls;
	struct evbuffer *in = bufferevent_get_input(from);
	struct evbuffer *out = bufferevent_get_output(to);
	size_t len = evbuffer_get_length(in);
	uint8_t *data;
	int n;

	if (evbuffer_get_length(out) == 0 && to == c->relay)
		evbuffer_write(in, bufferevent_getfd(to));
	else if (evbuffer_get_length(out) == 0 && (data = evbuffer_pullup(in,
	    (ev_ssize_t)(len = len < 16384 ? len : 16384))) != NULL) {
		ERR_clear_error();
		n = SSL_write(bufferevent_openssl_get_ssl(to), data, (int)len);
		if (n > 0)
			evbuffer_drain(in, (size_t)n);
		ERR_clear_error();
	}
	evbuffer_add_buffer(out, in);
	if (evbuffer_get_length(out) >= RELAY_HIGH_WATER) {
		bufferevent_disable(from, EV_READ);
		bufferevent_setwatermark(to, EV_WRITE, RELAY_HIGH_WATER / 2,
		    RELAY_HIGH_WATER);
	}
}

/* Has the ROUTER (sent so far, now in) sent its greeting and all of its
 * READY? Any other first command (ERROR: ZAP refused) never releases the
 * node's bytes; the ROUTER closes then. */
static bool
broker_ready_seen(struct conn *c, struct evbuffer *in)
{
	const uint8_t *cmd = c->broker_head + ZMTP_GREETING_LEN;
	size_t have = c->broker_seen, hdr;
	uint64_t size = 0;

	if (have < sizeof(c->broker_head))
		evbuffer_copyout(in, c->broker_head + have,
		    sizeof(c->broker_head) - have);
	c->broker_seen += evbuffer_get_length(in);
	hdr = (cmd[0] & 0x02) ? 9 : 2;
	if (c->broker_seen < ZMTP_GREETING_LEN + hdr + 6)
		return false;
	for (size_t i = 1; i < hdr; i++)
		size = size << 8 | cmd[i];
	return (cmd[0] & 0x04) && size >= 6 && size <= ZMTP_READY_MAX &&
	    memcmp(cmd + hdr, "\x05READY", 6) == 0 &&
	    c->broker_seen >= ZMTP_GREETING_LEN + hdr + size;
}

static bool
conn_flushed(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->tls)) == 0 &&
	    (c->relay == NULL ||
	    evbuffer_get_length(bufferevent_get_output(c->relay)) == 0);
}

/* Output of bev drained below its low watermark. */
static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct bufferevent *other = bev == c->tls ? c->relay : c->tls;

	if (c->state == CONN_CLOSING) {
		if (conn_flushed(c))
			conn_bury(c);
		return;
	}
	if (c->state == CONN_RELAY && other != NULL &&
	    !(bufferevent_get_enabled(other) & EV_READ)) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bufferevent_enable(other, EV_READ);
	}
}

/* Stop reading both sides; with flush, let buffered bytes go out first
 * (bounded by CLOSE_FLUSH_SECONDS). */
static void
conn_close(struct conn *c, bool flush)
{
	struct timeval tv = { CLOSE_FLUSH_SECONDS, 0 };

	if (c->state == CONN_CLOSING && flush)
		return;
	c->state = CONN_CLOSING;
	if (!flush || conn_flushed(c)) {
		conn_bury(c);
		return;
	}
	bufferevent_disable(c->tls, EV_READ);
	bufferevent_setwatermark(c->tls, EV_WRITE, 0, 0);
	if (c->relay != NULL) {
		bufferevent_disable(c->relay, EV_READ);
		bufferevent_setwatermark(c->relay, EV_WRITE, 0, 0);
	}
	event_del(c->timer);             /* now the flush limit (on_timer) */
	event_add(c->timer, &tv);
}

/* ---------------------------------------------------------------- ZMTP */

/* The READY is complete: check what it announces against the certificate,
 * forward it and whatever followed, and start relaying. */
static void
zmtp_ready(struct conn *c, const uint8_t *data, const struct zmtp_hello *h)
{
	char shown[80];

	if (strcmp(h->socket_type, "DEALER") != 0) {
		conn_refuse(c, "ZMTP socket type %s, not DEALER", h->socket_type);
		return;
	}
	if (!h->has_identity || h->identity_len == 0) {
		conn_refuse(c, "no ZMTP Identity (routing id) announced");
		return;
	}
	if (h->identity_len != strlen(c->node) ||
	    memcmp(h->identity, c->node, h->identity_len) != 0) {
		printable(shown, sizeof(shown), h->identity, h->identity_len);
		conn_refuse(c, "ZMTP Identity \"%s\" does not match the "
		    "certificate's node %s", shown, c->node);
		return;
	}
	evbuffer_add(bufferevent_get_output(c->relay), data + c->forwarded,
	    h->consumed - c->forwarded);
	evbuffer_drain(bufferevent_get_input(c->tls), h->consumed);
	c->state = CONN_RELAY;
	c->relaying = true;
	c->gen = ++c->f->gens;
	event_del(c->timer);
	log_info("tls front: node %s connected from %s", c->node, c->peer);
	if (c->f->hooks.connected != NULL)
		c->f->hooks.connected(c->f->hooks.arg, c->node, c->gen);
	/* Until the ROUTER's READY has gone by, hold at most this much. */
	bufferevent_setwatermark(c->tls, EV_READ, 0,
	    c->broker_ready ? 0 : RELAY_HIGH_WATER);
	if (c->broker_ready)
		relay_pump(c, c->tls);
}

/* New bytes from the node before its READY went through. */
static void
zmtp_step(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->tls);
	size_t len = evbuffer_get_length(in);
	struct zmtp_hello h;
	uint8_t *data;

	if (len == 0)
		return;
	if (len > HANDSHAKE_READ_MAX)
		len = HANDSHAKE_READ_MAX;
	if ((data = evbuffer_pullup(in, (ev_ssize_t)len)) == NULL) {
		conn_close(c, false);
		return;
	}
	switch (zmtp_parse(data, len, &h)) {
	case ZMTP_ERROR:
		conn_refuse(c, "ZMTP: %s", h.reason);
		return;
	case ZMTP_NEED_MORE:
		if (h.greeting_ok > c->forwarded) {
			evbuffer_add(bufferevent_get_output(c->relay),
			    data + c->forwarded, h.greeting_ok - c->forwarded);
			c->forwarded = h.greeting_ok;
		}
		if (len >= HANDSHAKE_READ_MAX)   /* cannot happen: capped */
			conn_refuse(c, "ZMTP handshake too large");
		return;
	case ZMTP_OK:
		zmtp_ready(c, data, &h);
		return;
	}
}

/* ---------------------------------------------------------------- events */

static void
on_tls_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_ZMTP)
		zmtp_step(c);
	else if (c->state == CONN_RELAY && c->broker_ready)
		relay_pump(c, bev);
}

static void
on_relay_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	bool was_ready = c->broker_ready;

	if (c->state != CONN_ZMTP && c->state != CONN_RELAY)
		return;
	if (!was_ready)
		c->broker_ready = broker_ready_seen(c, bufferevent_get_input(bev));
	relay_pump(c, bev);
	if (!was_ready && c->broker_ready && c->state == CONN_RELAY) {
		bufferevent_setwatermark(c->tls, EV_READ, 0, 0);
		relay_pump(c, c->tls);       /* what the node sent meanwhile */
	}
}

static void
on_relay_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (c->state != CONN_RELAY)
		log_error("tls front: broker relay %s: %s",
		    c->f->relay_addr.sun_path, (what & BEV_EVENT_EOF) ?
		    "closed during handshake" :
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		log_info("tls front: broker closed the connection of %s",
		    c->node);
	conn_close(c, true);
}

/* The certificate verified: find its node, connect the relay. */
static void
tls_established(struct conn *c)
{
	struct front *f = c->f;
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	X509 *cert = SSL_get0_peer_certificate(ssl);
	const struct config_node *node;
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];

	/* A reload during the handshake: check against the current CRLs. */
	if (SSL_get_SSL_CTX(ssl) != f->ctx && tls_cert_reverify(f->ctx, cert,
	    SSL_get_peer_cert_chain(ssl), &err) != 0) {
		conn_refuse(c, "certificate: %s", err.text);
		return;
	}
	if (tls_cert_identity(cert, f->cfg->tls.identity, id, sizeof(id),
	    &err) != 0) {
		conn_refuse(c, "%s", err.text);
		return;
	}
	if ((node = config_node_by_identity(f->cfg, id)) == NULL) {
		conn_refuse(c, "certificate identity %s is not a configured node", id);
		return;
	}
	snprintf(c->node, sizeof(c->node), "%s", node->id);
	if (tls_cert_days_left(cert, time(NULL), &c->days_left) == 0 &&
	    c->days_left <= (int)f->cfg->tls.expiry_warn_days)
		log_warn("tls front: certificate of node %s expires in %d days",
		    c->node, c->days_left);
	c->relay = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->relay == NULL || bufferevent_socket_connect(c->relay,
	    (struct sockaddr *)&f->relay_addr, sizeof(f->relay_addr)) != 0) {
		log_error("tls front: cannot connect to the broker relay %s",
		    f->relay_addr.sun_path);
		conn_close(c, false);
		return;
	}
	bufferevent_setcb(c->relay, on_relay_read, on_write, on_relay_event, c);
	bufferevent_enable(c->relay, EV_READ | EV_WRITE);
	c->state = CONN_ZMTP;
	zmtp_step(c);
}

static void
on_tls_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	char reason[256];
	bool only_eof;

	if (what & BEV_EVENT_CONNECTED) {
		tls_established(c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	switch (c->state) {
	case CONN_TLS:
		if (tls_failure(c, what, reason, sizeof(reason))) {
			log_debug("tls front: %s closed without a handshake",
			    c->peer);
			conn_close(c, false);
			break;
		}
		conn_refuse(c, "%s", reason);
		break;
	case CONN_ZMTP:
		conn_refuse(c, "closed before its ZMTP READY");
		break;
	case CONN_RELAY:
		/* EOF without close_notify is no error (libevent 2.1.12) */
		if ((what & BEV_EVENT_ERROR) && tls_bev_error(bev, &only_eof) &&
		    !only_eof)
			log_info("tls front: node %s: connection error", c->node);
		else
			log_info("tls front: node %s disconnected", c->node);
		conn_close(c, true);
		break;
	case CONN_CLOSING:
		conn_bury(c);
		break;
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_TLS)
		conn_refuse(c, "TLS handshake timed out");
	else if (c->state == CONN_ZMTP)
		conn_refuse(c, "ZMTP handshake timed out");
	else if (c->state == CONN_CLOSING)
		conn_bury(c);
}

/* ---------------------------------------------------------------- accept */

static void
peer_name(const struct sockaddr *sa, socklen_t salen, char *out, size_t len)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getnameinfo(sa, salen, host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, len, "unknown");
	else
		snprintf(out, len, sa->sa_family == AF_INET6 ? "[%s]:%s" :
		    "%s:%s", host, port);
}

static struct conn *
conn_new(struct front *f, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct conn *c = calloc(1, sizeof(*c));
	SSL *ssl = NULL;

	if (c == NULL || (c->timer = evtimer_new(f->base, on_timer, c)) ==
	    NULL || (ssl = SSL_new(f->ctx)) == NULL)
		goto fail;
	c->f = f;
	/* An idle node must cost little: OpenSSL frees the connection's 16 KiB
	 * read and write record buffers whenever they are empty. */
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	peer_name(sa, salen, c->peer, sizeof(c->peer));
	c->tls = bufferevent_openssl_socket_new(f->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->tls == NULL)
		goto fail;
	bufferevent_openssl_set_allow_dirty_shutdown(c->tls, 1);
	return c;
fail:
	SSL_free(ssl);
	if (c != NULL && c->timer != NULL)
		event_free(c->timer);
	free(c);
	evutil_closesocket(fd);
	return NULL;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int socklen, void *arg)
{
	struct front *f = arg;
	struct timeval tv = { (time_t)f->cfg->tls.handshake_timeout, 0 };
	struct conn *c;
	int one = 1;

	/* ZMTP frames are small and answered at once: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (f->n_live >= f->cfg->tls.max_connections) {
		f->refusals++;
		log_warn("tls front: %zu connections open (max_connections); "
		    "closing a new one", f->n_live);
		evutil_closesocket(fd);
		return;
	}
	if ((c = conn_new(f, fd, sa, (socklen_t)socklen)) == NULL) {
		log_error("tls front: cannot set up a connection");
		return;
	}
	LIST_INSERT_HEAD(&f->live, c, link);
	f->n_live++;
	log_debug("tls front: connection from %s", c->peer);
	if (tv.tv_sec <= 0)
		tv.tv_sec = 10;
	event_add(c->timer, &tv);
	/* Never read more than the handshake can need before READY. */
	bufferevent_setwatermark(c->tls, EV_READ, 0, HANDSHAKE_READ_MAX);
	bufferevent_setcb(c->tls, on_tls_read, on_write, on_tls_event, c);
	bufferevent_enable(c->tls, EV_READ | EV_WRITE);
}

static void
on_listen_error(struct evconnlistener *l, void *arg)
{
	log_error("tls front: accept: %s",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* ---------------------------------------------------------------- API */

static int
front_listen(struct front *f, const char *listen)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &len) != 0) {
		log_error("tls front: listen = %s: not address:port", listen);
		return -1;
	}
	f->listener = evconnlistener_new_bind(f->base, on_accept, f,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    -1, (struct sockaddr *)&ss, len);
	if (f->listener == NULL) {
		log_error("tls front: cannot listen on %s: %s", listen,
		    strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(f->listener, on_listen_error);
	snprintf(f->listen, sizeof(f->listen), "%s", listen);
	return 0;
}

struct front *
front_new(struct event_base *base, const struct config *cfg,
    const char *relay_endpoint_path, struct front_hooks *hooks)
{
	struct front *f = calloc(1, sizeof(*f));
	struct nara_err err = { 0 };

	if (f == NULL)
		return NULL;
	f->base = base;
	f->cfg = cfg;
	if (hooks != NULL)
		f->hooks = *hooks;
	f->relay_addr.sun_family = AF_UNIX;
	if (strlen(relay_endpoint_path) >= sizeof(f->relay_addr.sun_path)) {
		log_error("tls front: relay path too long: %s", relay_endpoint_path);
		goto fail;
	}
	strcpy(f->relay_addr.sun_path, relay_endpoint_path);
	if ((f->ctx = tls_server_ctx_new(&cfg->tls, &err)) == NULL) {
		log_error("tls front: %s", err.text);
		goto fail;
	}
	if ((f->reaper = event_new(base, -1, 0, on_reap, f)) == NULL ||
	    front_listen(f, cfg->tls.listen) != 0)
		goto fail;
	log_info("tls front listening on %s (TLS %s+, identity from %s), "
	    "relaying to %s", cfg->tls.listen, cfg->tls.min_version[0] ?
	    cfg->tls.min_version : "1.3", cfg->tls.identity == CONFIG_ID_CN ?
	    "CN" : cfg->tls.identity == CONFIG_ID_SERIAL ? "serialNumber" :
	    "SAN URI", relay_endpoint_path);
	return f;
fail:
	front_free(&f);
	return NULL;
}

/* A live connection after a reload: certificate and node still accepted? */
static void
conn_recheck(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	X509 *cert = SSL_get0_peer_certificate(ssl);
	struct nara_err err = { 0 };
	char id[TLS_IDENTITY_MAX + 1];
	const struct config_node *node;

	if (tls_cert_reverify(c->f->ctx, cert, SSL_get_peer_cert_chain(ssl),
	    &err) != 0) {
		conn_refuse(c, "certificate no longer accepted: %s", err.text);
		return;
	}
	if (tls_cert_identity(cert, c->f->cfg->tls.identity, id, sizeof(id),
	    &err) != 0 || (node = config_node_by_identity(c->f->cfg, id)) == NULL ||
	    strcmp(node->id, c->node) != 0)
		conn_refuse(c, "node %s is no longer configured for this "
		    "certificate", c->node);
}

int
front_reload(struct front *f, const struct config *cfg)
{
	struct nara_err err = { 0 };
	struct conn *c, *next;
	SSL_CTX *ctx;

	/* The old config may already be freed: never look at f->cfg here. */
	if (strcmp(f->listen, cfg->tls.listen) != 0)
		log_warn("tls front: listen change to %s takes effect at the "
		    "next restart", cfg->tls.listen);
	f->cfg = cfg;
	if ((ctx = tls_server_ctx_new(&cfg->tls, &err)) == NULL) {
		log_error("tls front: reload: %s; keeping the old certificates "
		    "and CRLs", err.text);
		return -1;
	}
	SSL_CTX_free(f->ctx);            /* live SSLs hold their own reference */
	f->ctx = ctx;
	for (c = LIST_FIRST(&f->live); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		if (c->state == CONN_ZMTP || c->state == CONN_RELAY)
			conn_recheck(c);
	}
	log_info("tls front: certificates and CRLs reloaded, %zu connections",
	    f->n_live);
	return 0;
}

void
front_free(struct front **fp)
{
	struct front *f = fp ? *fp : NULL;
	struct conn *c;

	if (f == NULL)
		return;
	if (f->listener != NULL)
		evconnlistener_free(f->listener);
	while ((c = LIST_FIRST(&f->live)) != NULL) {
		LIST_REMOVE(c, link);
		conn_destroy(c);
	}
	on_reap(-1, 0, f);
	if (f->reaper != NULL)
		event_free(f->reaper);
	SSL_CTX_free(f->ctx);
	free(f);
	*fp = NULL;
}

int
front_close_node(struct front *f, const char *node, uint64_t gen)
{
	struct conn *c;

	LIST_FOREACH(c, &f->live, link)
		if (c->relaying && c->gen == gen && strcmp(c->node, node) == 0) {
			conn_close(c, false);
			return 0;
		}
	return -1;
}

size_t
front_connections(const struct front *f)
{
	return f ? f->n_live : 0;
}

uint64_t
front_refusals(const struct front *f)
{
	return f ? f->refusals : 0;
}

int
front_cert_days(const struct front *f, const char *node, int *days)
{
	for (const struct conn *c = f ? LIST_FIRST(&f->live) : NULL; c != NULL;
	    c = LIST_NEXT(c, link)) {
		if ((c->state == CONN_ZMTP || c->state == CONN_RELAY) &&
		    strcmp(c->node, node) == 0) {
			*days = c->days_left;
			return 0;
		}
	}
	return -1;
}

size_t
front_cert_list(const struct front *f, struct front_cert *out, size_t max)
{
	size_t n = 0;

	for (const struct conn *c = f ? LIST_FIRST(&f->live) : NULL; c != NULL;
	    c = LIST_NEXT(c, link)) {
		if (c->state != CONN_RELAY)
			continue;
		if (n < max) {
			snprintf(out[n].node, sizeof(out[n].node), "%s", c->node);
			snprintf(out[n].peer, sizeof(out[n].peer), "%s", c->peer);
			out[n].days_left = c->days_left;
		}
		n++;
	}
	return n;
}
