/*
 * front_conn.c — one connection of narad's TLS front, through the states
 * of front_int.h.
 *
 * The broker's bytes (its greeting and everything after) are always relayed
 * to the node unchanged: libzmq sends its greeting in parts and waits for
 * the peer's, so neither side may be held back during the greeting. The
 * node's bytes are held until the ROUTER's READY went by (libzmq drops a
 * peer that sends while ZAP is pending) and are then checked frame header
 * by frame header (zmtp_frames_feed) as they are relayed.
 *
 * A relay is never simply closed: its write side is shut and the front
 * waits until the ROUTER closes its end, which libzmq does only when it
 * destroys the engine of that connection. Only then may a newer connection
 * of the same node open its relay (front.h says why). The lifecycle both
 * sides share (watermarks, flushing close, burial and reaping) is the
 * relay module's; what follows is what it does not know.
 */
#include "front_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "tls_bev.h"

/* The node's input needed before READY is parsed; never more is read. */
#define HANDSHAKE_READ_MAX (ZMTP_GREETING_LEN + ZMTP_READY_MAX + 64)

static void conn_close(struct conn *c, bool flush);
static void relay_open(struct conn *c);

/* ---------------------------------------------------------------- lifetime */

void
conn_destroy(struct conn *c)
{
	relay_release(&c->r);            /* frees the SSL, closes the fds */
	if (c->out != NULL)
		evbuffer_free(c->out);
	free(c->q.v);
	free(c);
}

static void
leave_handshakes(struct conn *c)
{
	if (c->state != CONN_TLS)
		return;
	TAILQ_REMOVE(&c->f->handshakes, c, hs_link);
	c->f->n_handshakes--;
}

/* A waiting newer connection of the same node may open its relay now. */
static void
release_successor(struct conn *c)
{
	struct conn *next = c->successor;

	c->successor = NULL;
	if (next == NULL)
		return;
	next->waits_for = NULL;
	if (next->state == CONN_WAIT)
		relay_open(next);
}

/* relay_bury's hook: c leaves the handshakes and the node's session, and
 * a connection waiting for c goes ahead. */
static void
conn_unlist(struct relay *r)
{
	struct conn *c = (struct conn *)r;
	struct front *f = c->f;

	leave_handshakes(c);
	zd_unlist(c);
	if (c->relaying && f->hooks.disconnected != NULL)
		f->hooks.disconnected(f->hooks.arg, c->node, c->gen,
		    c->end_reason[0] ? c->end_reason : NULL);
	c->relaying = false;
	if (c->waits_for != NULL)
		c->waits_for->successor = NULL;
	c->waits_for = NULL;
	release_successor(c);
}

/* Close the node's side at once; what was buffered for it is dropped. */
static void
close_node_side(struct conn *c)
{
	if (c->r.unflushed[SIDE_NODE])
		return;
	c->r.unflushed[SIDE_NODE] = true;
	bufferevent_disable(c->tls, EV_READ | EV_WRITE);
	evbuffer_drain(bufferevent_get_output(c->tls),
	    evbuffer_get_length(bufferevent_get_output(c->tls)));
	shutdown(bufferevent_getfd(c->tls), SHUT_RDWR);
}

/* relay_close's hook once flushed (or out of time): the node side is done;
 * shut the relay's write side and wait for the ROUTER to close its end
 * (on_relay_event), or bury at once without one. */
static void
conn_finish(struct relay *r)
{
	struct conn *c = (struct conn *)r;
	struct evbuffer *out;

	close_node_side(c);
	if (c->f->direct && c->relaying && !c->refused && zd_has_frame(c)) {
		c->state = CONN_DRAIN;       /* the broker takes them first */
		relay_arm(r, CLOSE_FLUSH_SECONDS);
		zd_notify(c);
		return;
	}
	if (c->relay == NULL || c->relay_gone) {
		relay_bury(r);
		return;
	}
	out = bufferevent_get_output(c->relay);
	evbuffer_drain(out, evbuffer_get_length(out));
	if (shutdown(bufferevent_getfd(c->relay), SHUT_WR) != 0) {
		relay_bury(r);               /* never connected: no engine */
		return;
	}
	c->state = CONN_DRAIN;
	bufferevent_setwatermark(c->relay, EV_READ, 0, 0);
	bufferevent_enable(c->relay, EV_READ);
	relay_arm(r, CLOSE_FLUSH_SECONDS);
}

/* Stop reading both sides; with flush, let buffered bytes go out first
 * (bounded by CLOSE_FLUSH_SECONDS), then finish. */
static void
conn_close(struct conn *c, bool flush)
{
	if (c->r.buried || c->state == CONN_DRAIN ||
	    (c->state == CONN_CLOSING && flush))
		return;
	leave_handshakes(c);
	c->state = CONN_CLOSING;
	relay_close(&c->r, flush);
}

/* A closing connection whose node side just went away: finish once
 * nothing else waits to be written. */
static void
conn_close_if_flushed(struct conn *c)
{
	if (relay_flushed(&c->r))
		relay_close(&c->r, false);
}

void
conn_drop(struct conn *c)
{
	conn_close(c, false);
}

/* ---------------------------------------------------------------- reports */

/* Why c's relay ends, for the node_disconnected audit row; the first
 * reason given wins (what follows is a consequence). */
static void __attribute__((format(printf, 2, 3)))
conn_end_reason(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->relaying || c->end_reason[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->end_reason, sizeof(c->end_reason), fmt, ap);
	va_end(ap);
}

/* Milliseconds from libevent's cached time: no system call per read. */
static int64_t
cached_ms(struct front *f)
{
	struct timeval tv;

	if (event_base_gettimeofday_cached(f->base, &tv) != 0)
		return 0;
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Something about this connection for the log only, collapsed per peer. */
static void __attribute__((format(printf, 4, 5)))
conn_note(struct conn *c, enum log_level level, const char *what,
    const char *fmt, ...)
{
	char text[512];
	va_list ap;
	struct front_note n = { .level = level, .addr = c->addr,
	    .peer = c->peer, .node = c->node, .what = what, .text = text };

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	front_report(c->f, &n);
}

void
conn_refuse(struct conn *c, const char *event, enum nara_code code,
    const char *fmt, ...)
{
	char reason[320];
	va_list ap;
	const struct config_node *named = c->node[0] || !c->identity[0] ? NULL :
	    config_node_by_identity(c->f->cfg, c->identity);
	struct front_note n = { .event = event, .code = code,
	    .level = LOG_LVL_WARNING, .addr = c->addr, .peer = c->peer,
	    .node = c->node[0] ? c->node : named ? named->id : c->identity,
	    .subject = c->subject, .what = reason };

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	conn_end_reason(c, "%s: %s", nara_code_id(code), reason);
	c->refused = true;
	front_refusal_note(c, &n);
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

/* ---------------------------------------------------------------- relay */

/* Check the frame headers in the node's bytes about to be relayed; false
 * (connection refused) when one announces more than the limit. */
static bool
frames_check(struct conn *c, struct evbuffer *in, size_t done)
{
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr at;
	size_t len = evbuffer_get_length(in), ok;
	int n;

	while (done < len) {
		if (evbuffer_ptr_set(in, &at, done, EVBUFFER_PTR_SET) != 0 ||
		    (n = evbuffer_peek(in, -1, &at, v, 8)) <= 0)
			break;
		for (int i = 0; i < n && i < 8; i++) {
			if (zmtp_frames_feed(&c->frames, v[i].iov_base,
			    v[i].iov_len, &ok) != ZMTP_OK) {
				conn_refuse(c, "connection_refused", NR_TOO_LARGE,
				    "frame of %llu bytes announced, limit %llu",
				    (unsigned long long)c->frames.announced,
				    (unsigned long long)c->frames.max_body);
				return false;
			}
			done += v[i].iov_len;
		}
	}
	return true;
}

/* Move what arrived on from to the other side, written at once when nothing
 * waits there (saves an EPOLLOUT round trip; what blocks stays first in line,
 * the TLS part in one chain as OpenSSL's retry needs); relay_forward queues
 * the rest and applies the watermarks. */
static void
relay_pump(struct conn *c, struct bufferevent *from)
{
	struct bufferevent *to = from == c->tls ? c->relay : c->tls;
	struct evbuffer *in = bufferevent_get_input(from);
	struct evbuffer *out = bufferevent_get_output(to);
	size_t len = evbuffer_get_length(in);
	uint8_t *data;
	int n;

	if (from == c->tls && !frames_check(c, in, 0))
		return;
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
	relay_forward(&c->r, from == c->tls ? SIDE_NODE : SIDE_ROUTER);
}

/* Has the ROUTER (sent so far, now in) sent its greeting and all of its
 * READY? Any other first command (ERROR: ZAP refused) never releases the
 * node's bytes; the ROUTER closes then. */
static bool
broker_ready_seen(struct conn *c, struct evbuffer *in)
{
	size_t have = c->broker_seen;

	if (have < sizeof(c->broker_head))
		evbuffer_copyout(in, c->broker_head + have,
		    sizeof(c->broker_head) - have);
	c->broker_seen += evbuffer_get_length(in);
	return zmtp_server_ready(c->broker_head, c->broker_seen) == ZMTP_OK;
}

/* The front speaks ZMTP itself: check the new bytes' frame headers and
 * tell the broker when a whole frame waits. */
static void
direct_read(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->tls);

	if (!frames_check(c, in, c->checked))
		return;
	c->checked = evbuffer_get_length(in);
	zd_notify(c);
}

/* ---------------------------------------------------------------- ZMTP */

/* The READY is complete: check what it announces against the certificate,
 * forward it and whatever followed, and start relaying. */
static void
zmtp_ready(struct conn *c, const uint8_t *data, const struct zmtp_hello *h)
{
	struct front *f = c->f;
	char shown[80];

	if (strcmp(h->socket_type, "DEALER") != 0) {
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED,
		    "ZMTP socket type %s, not DEALER", h->socket_type);
		return;
	}
	if (!h->has_identity || h->identity_len == 0) {
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED,
		    "no ZMTP Identity (routing id) announced");
		return;
	}
	if (h->identity_len != strlen(c->node) ||
	    memcmp(h->identity, c->node, h->identity_len) != 0) {
		printable(shown, sizeof(shown), h->identity, h->identity_len);
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED, "ZMTP Identity "
		    "\"%s\" does not match the certificate's node %s", shown,
		    c->node);
		return;
	}
	if (f->direct)
		zd_ready(c);
	else
		evbuffer_add(bufferevent_get_output(c->relay), data +
		    c->forwarded, h->consumed - c->forwarded);
	evbuffer_drain(bufferevent_get_input(c->tls), h->consumed);
	zmtp_frames_init(&c->frames, f->cfg->broker.max_message_bytes +
	    FRONT_FRAME_OVERHEAD);
	c->state = CONN_RELAY;
	c->relaying = true;
	c->gen = ++f->gens;
	c->since = (int64_t)time(NULL);
	conn_note(c, LOG_LVL_INFO, "connected", "node %s connected from %s",
	    c->node, c->peer);
	if (f->hooks.connected != NULL)
		f->hooks.connected(f->hooks.arg, c->node, c->gen,
		    f->direct ? c : NULL);
	if (f->direct) {
		/* room for one frame of the largest size beyond the usual */
		bufferevent_setwatermark(c->tls, EV_READ, 0, RELAY_HIGH_WATER +
		    f->cfg->broker.max_message_bytes + FRONT_FRAME_OVERHEAD + 9);
		relay_arm(&c->r, ZMTP_HEARTBEAT_IVL_MS / 1000);
		direct_read(c);
		return;
	}
	event_del(c->r.timer);
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
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED, "ZMTP: %s",
		    h.reason);
		return;
	case ZMTP_NEED_MORE:
		if (h.greeting_ok > c->forwarded && c->relay != NULL) {
			evbuffer_add(bufferevent_get_output(c->relay),
			    data + c->forwarded, h.greeting_ok - c->forwarded);
			c->forwarded = h.greeting_ok;
		}
		if (len >= HANDSHAKE_READ_MAX)   /* cannot happen: capped */
			conn_refuse(c, "auth_failed", NR_AUTH_FAILED,
			    "ZMTP handshake too large");
		return;
	case ZMTP_OK:
		zmtp_ready(c, data, &h);
		return;
	}
}

/* ---------------------------------------------------------------- events */

static void
on_tls_read(struct conn *c)
{
	c->node_read_ms = cached_ms(c->f);
	if (c->state == CONN_ZMTP)
		zmtp_step(c);
	else if (c->state == CONN_RELAY && c->f->direct)
		direct_read(c);
	else if (c->state == CONN_RELAY && c->broker_ready)
		relay_pump(c, c->tls);
}

static void
on_relay_read(struct conn *c, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	bool was_ready = c->broker_ready;

	if (c->state == CONN_DRAIN)          /* the old session's last bytes */
		evbuffer_drain(in, evbuffer_get_length(in));
	if (c->state != CONN_ZMTP && c->state != CONN_RELAY)
		return;
	if (!was_ready)
		c->broker_ready = broker_ready_seen(c, in);
	relay_pump(c, bev);
	if (!was_ready && c->broker_ready && c->state == CONN_RELAY) {
		bufferevent_setwatermark(c->tls, EV_READ, 0, 0);
		relay_pump(c, c->tls);       /* what the node sent meanwhile */
	}
}

/* The ROUTER closed a relaying connection. libzmq drops a peer when its
 * heartbeat timeout passes without a byte from it, when a frame exceeds
 * ZMQ_MAXMSGSIZE or the ZMTP is wrong, and when the TTL of the node's own
 * PINGs passes; the front saw every byte the node sent, which tells the
 * first apart. */
static void
broker_closed_reason(struct conn *c, size_t unsent)
{
	int64_t idle = cached_ms(c->f) - c->node_read_ms;
	int queued = 0;

	/* Bytes of the node still on their way to the ROUTER (in the relay's
	 * output, the TLS input, or unread in the socket) mean the node did
	 * speak and narad had not passed it on (its loop was held, or the
	 * relay was backed up): no claim that the node fell silent. */
	if (ioctl(bufferevent_getfd(c->tls), FIONREAD, &queued) != 0)
		queued = 0;
	unsent += evbuffer_get_length(bufferevent_get_input(c->tls)) +
	    (size_t)(queued > 0 ? queued : 0);
	if (unsent > 0)
		conn_end_reason(c, "closed by the broker with %zu bytes from the "
		    "node not yet passed on (narad was not keeping up: heartbeat "
		    "or ZMTP; last read from the node %lld s before)", unsent,
		    (long long)(idle / 1000));
	else if (idle >= ZMTP_HEARTBEAT_TIMEOUT_MS)
		conn_end_reason(c, "closed by the broker: nothing from the node "
		    "for %lld s (heartbeat timeout)", (long long)(idle / 1000));
	else
		conn_end_reason(c, "closed by the broker (oversize frame, ZMTP "
		    "error or the node's heartbeat TTL; last byte from the node "
		    "%lld s before)", (long long)(idle / 1000));
}

static void
on_relay_event(struct conn *c, struct bufferevent *bev, short what)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t unsent;

	if (what & BEV_EVENT_CONNECTED)
		return;
	/* The ROUTER closed its end: libzmq destroyed that engine, and
	 * nothing more can go to it. */
	c->relay_gone = true;
	unsent = evbuffer_get_length(out);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	evbuffer_drain(out, unsent);
	if (c->state == CONN_DRAIN) {
		relay_bury(&c->r);
		return;
	}
	if (c->state == CONN_CLOSING) {      /* only the node side to flush */
		conn_close_if_flushed(c);
		return;
	}
	if (c->state != CONN_RELAY)
		conn_note(c, LOG_LVL_ERROR, "broker relay failed during the "
		    "handshake", "broker relay %s for %s: %s",
		    c->f->relay_addr.sun_path, c->peer, (what & BEV_EVENT_EOF) ?
		    "closed during handshake" :
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else {
		broker_closed_reason(c, unsent);
		conn_note(c, LOG_LVL_INFO, "closed by the broker", "broker "
		    "closed the connection of %s: %s", c->node, c->end_reason);
	}
	conn_close(c, true);
}

/* Connect c's relay to the ROUTER and start checking its ZMTP. */
static void
relay_open(struct conn *c)
{
	struct front *f = c->f;

	if (f->direct) {
		c->state = CONN_ZMTP;
		zd_greet(c);
		zmtp_step(c);
		return;
	}
	c->relay = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->relay == NULL || bufferevent_socket_connect(c->relay,
	    (struct sockaddr *)&f->relay_addr, sizeof(f->relay_addr)) != 0) {
		conn_note(c, LOG_LVL_ERROR, "cannot connect to the broker relay",
		    "cannot connect to the broker relay %s for %s",
		    f->relay_addr.sun_path, c->peer);
		if (c->relay != NULL)
			bufferevent_free(c->relay);
		c->relay = NULL;
		conn_close(c, false);
		return;
	}
	relay_attach(&c->r, SIDE_ROUTER, c->relay);
	bufferevent_enable(c->relay, EV_READ | EV_WRITE);
	c->state = CONN_ZMTP;
	zmtp_step(c);
}

/* A new connection of c's node: older ones give way. One still waiting
 * is closed; one with a relay is closed (takeover) and c waits until its
 * relay is gone. Returns the connection c must wait for, or NULL. */
static struct conn *
take_over(struct conn *c)
{
	struct conn *o, *next, *holder = NULL;

	for (o = conn_first(c->f); o != NULL; o = next) {
		next = conn_next(o);
		if (o == c || o->state == CONN_TLS || strcmp(o->node, c->node))
			continue;
		if (o->state == CONN_WAIT) {
			conn_note(o, LOG_LVL_INFO, "superseded", "node %s: "
			    "connection from %s superseded by one from %s "
			    "before it started", o->node, o->peer, c->peer);
			conn_close(o, false);
			next = conn_first(c->f);  /* list changed */
			continue;
		}
		holder = o;
	}
	if (holder == NULL)
		return NULL;
	if (holder->state == CONN_ZMTP || holder->state == CONN_RELAY) {
		conn_note(holder, LOG_LVL_INFO, "taken over", "node %s: the "
		    "connection from %s takes over from %s", c->node, c->peer,
		    holder->peer);
		conn_end_reason(holder, "a new connection of the node from %s "
		    "took over", c->peer);
		close_node_side(holder);
		conn_close(holder, true);
	} else if (holder->state == CONN_CLOSING) {
		close_node_side(holder);     /* do not wait for a gone node */
		conn_close_if_flushed(holder);
	}
	return holder->r.buried ? NULL : holder;
}

/* The certificate verified: find its node, then open the relay (after the
 * node's older connection, if any, has closed its relay). */
static void
tls_established(struct conn *c)
{
	struct front *f = c->f;
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	X509 *cert = SSL_get0_peer_certificate(ssl);
	const struct config_node *node;
	struct nara_err err = { 0 };
	struct conn *holder;

	leave_handshakes(c);
	c->state = CONN_WAIT;                /* authenticated: off the budget */
	if (cert == NULL) {
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED, "no certificate");
		return;
	}
	conn_cert_names(c, cert);
	/* A reload during the handshake: check against the current CRLs. */
	if (SSL_get_SSL_CTX(ssl) != f->ctx && tls_cert_reverify(f->ctx, cert,
	    SSL_get_peer_cert_chain(ssl), &err) != 0) {
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED, "certificate: %s",
		    err.text);
		return;
	}
	if (tls_cert_identity(cert, f->cfg->tls.identity, c->identity,
	    sizeof(c->identity), &err) != 0) {
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED, "%s", err.text);
		return;
	}
	if ((node = config_node_by_identity(f->cfg, c->identity)) == NULL) {
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED, "certificate "
		    "identity %s is not a configured node", c->identity);
		return;
	}
	snprintf(c->node, sizeof(c->node), "%s", node->id);
	if (tls_cert_days_left(cert, time(NULL), &c->days_left) == 0 &&
	    c->days_left <= (int)f->cfg->tls.expiry_warn_days)
		conn_note(c, LOG_LVL_WARNING, "certificate expires soon",
		    "certificate of node %s expires in %d days", c->node,
		    c->days_left);
	if ((holder = take_over(c)) != NULL) {
		c->waits_for = holder;
		holder->successor = c;
		return;
	}
	relay_open(c);
}

static void
on_tls_event(struct conn *c, short what)
{
	char reason[256];
	unsigned long e;
	bool only_eof;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CONN_TLS)
			tls_established(c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	switch (c->state) {
	case CONN_TLS:
		if (conn_tls_failure(c, what, reason, sizeof(reason))) {
			log_debug("tls front: %s closed without a handshake",
			    c->peer);
			conn_close(c, false);
			break;
		}
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED, "%s", reason);
		break;
	case CONN_WAIT:
	case CONN_ZMTP:
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED,
		    "closed before its ZMTP READY");
		break;
	case CONN_RELAY:
		/* EOF without close_notify is no error (libevent 2.1.12) */
		if ((what & BEV_EVENT_ERROR) && (e = tls_bev_error(c->tls,
		    &only_eof), !only_eof)) {
			conn_end_reason(c, "connection error: %s",
			    ERR_reason_error_string(e) != NULL ?
			    ERR_reason_error_string(e) : "TLS error");
			conn_note(c, LOG_LVL_INFO, "connection error",
			    "node %s: %s", c->node, c->end_reason);
		} else {
			conn_end_reason(c, "the node closed the connection");
			conn_note(c, LOG_LVL_INFO, "disconnected",
			    "node %s disconnected", c->node);
		}
		conn_close(c, true);
		break;
	case CONN_CLOSING:
		close_node_side(c);
		conn_close_if_flushed(c);
		break;
	case CONN_DRAIN:
		break;
	}
}

/* The front speaks ZMTP itself: a node silent for the heartbeat timeout
 * is closed (as libzmq's ROUTER does), otherwise sent a PING. A node whose
 * bytes still wait for the broker did speak: narad is behind, and its
 * reading was paused for that. */
static void
heartbeat(struct conn *c)
{
	int64_t idle = cached_ms(c->f) - c->node_read_ms;

	if (idle >= ZMTP_HEARTBEAT_TIMEOUT_MS &&
	    evbuffer_get_length(bufferevent_get_input(c->tls)) == 0) {
		conn_end_reason(c, "closed by the broker: nothing from the node "
		    "for %lld s (heartbeat timeout)", (long long)(idle / 1000));
		conn_note(c, LOG_LVL_INFO, "closed by the broker", "broker "
		    "closed the connection of %s: %s", c->node, c->end_reason);
		conn_close(c, true);
		return;
	}
	zd_heartbeat(c);
	relay_arm(&c->r, ZMTP_HEARTBEAT_IVL_MS / 1000);
}

/* The timer of a state; a close's flush limit is the relay's own. */
static void
on_timer(struct relay *r)
{
	struct conn *c = (struct conn *)r;

	switch (c->state) {
	case CONN_TLS:
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED,
		    "TLS handshake timed out");
		break;
	case CONN_WAIT:
		conn_refuse(c, "connection_refused", NR_UNAVAILABLE, "the "
		    "node's previous connection did not close in time");
		break;
	case CONN_ZMTP:
		conn_refuse(c, "auth_failed", NR_AUTH_FAILED,
		    "ZMTP handshake timed out");
		break;
	case CONN_DRAIN:
		if (c->relay == NULL && !zd_has_frame(c)) {
			relay_bury(r);       /* the broker took its last frames */
			break;
		}
		if (c->relay == NULL) {
			conn_note(c, LOG_LVL_WARNING, "last frames not taken",
			    "the broker did not take the last frames of %s "
			    "within %d s; closing it", c->node,
			    CLOSE_FLUSH_SECONDS);
			relay_bury(r);
			break;
		}
		conn_note(c, LOG_LVL_WARNING, "relay not closed by the broker",
		    "the broker did not close the relay of %s within %d s; "
		    "closing it", c->node[0] ? c->node : c->peer,
		    CLOSE_FLUSH_SECONDS);
		relay_bury(r);
		break;
	case CONN_RELAY:
		if (c->f->direct && c->fault[0] != '\0')
			zd_fault(c);
		else if (c->f->direct)
			heartbeat(c);
		break;
	case CONN_CLOSING:
		break;
	}
}

static void
on_read(struct relay *r, int side)
{
	struct conn *c = (struct conn *)r;

	if (side == SIDE_NODE)
		on_tls_read(c);
	else
		on_relay_read(c, c->relay);
}

static void
on_event(struct relay *r, int side, short what)
{
	struct conn *c = (struct conn *)r;

	if (side == SIDE_NODE)
		on_tls_event(c, what);
	else
		on_relay_event(c, c->relay, what);
}

static void
conn_reap(struct relay *r)
{
	conn_destroy((struct conn *)r);
}

static const struct relay_ops conn_ops = {
	.read = on_read, .event = on_event, .timer = on_timer,
	.done = conn_finish, .bury = conn_unlist, .destroy = conn_reap,
};

/* Arm c's handshake machinery: its relay (timer, place among the live
 * connections) and the TLS callbacks. */
int
conn_attach(struct conn *c)
{
	relay_attach(&c->r, SIDE_NODE, c->tls);
	if (relay_init(&c->r, &c->f->conns, &conn_ops) != 0)
		return -1;
	/* Never read more than the handshake can need before READY. */
	bufferevent_setwatermark(c->tls, EV_READ, 0, HANDSHAKE_READ_MAX);
	bufferevent_enable(c->tls, EV_READ | EV_WRITE);
	return 0;
}

/* The broker gave up on a node that does not read what it is sent: close
 * exactly that connection (a newer one of the node is left alone). */
int
front_close_node(struct front *f, const char *node, uint64_t gen)
{
	struct conn *c;

	for (c = conn_first(f); c != NULL; c = conn_next(c))
		if (c->relaying && c->gen == gen && strcmp(c->node, node) == 0) {
			conn_close(c, false);
			return 0;
		}
	return -1;
}
