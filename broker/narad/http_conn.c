/*
 * http_conn.c — the HTTP listeners' sockets and what each may hold: at
 * most http_max_connections connections (http_max_connections_per_address
 * from one address), each request whole within HTTP_REQUEST_DEADLINE of
 * the connection's start or of the previous reply (the console's TLS
 * handshake included), and no accept(2) spinning when narad is out of
 * descriptors.
 *
 * evhttp's own timeout is an idle timer that every byte resets, and
 * libevent 2.1 has no connection cap: a client dripping a header line
 * every few seconds kept a descriptor for ever, and a few hundred of them
 * used up narad's descriptors; libzmq then aborts narad on its next ipc
 * accept (naractl, a node's relay). evhttp 2.1 has no hook before a
 * connection starts, so a connection is admitted right after evhttp set it
 * up: its bufferevent (made here, evhttp_set_bevcb) is held with a
 * reference until the listener's admission event looks at it, and the
 * listener takes no further connection until then.
 */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include "log.h"
#include "tls.h"

/* A scraper's or a browser's request arrives in milliseconds; ten seconds
 * also covers an operator's card reader during the console's handshake.
 * Counted in the listener's one-second ticks: 10 to 11 s. */
#define HTTP_REQUEST_DEADLINE 10

/* Each listener holds at most this share of RLIMIT_NOFILE (1/8; both
 * together a quarter): the TLS front, the store and libzmq's ipc accepts
 * (naractl, the nodes' relays) keep the rest, since libzmq 4.3 aborts on
 * EMFILE instead of refusing. */
#define HTTP_FD_SHARE 8

struct http_conn {
	TAILQ_ENTRY(http_conn) link;
	struct http_listener *l;
	struct evhttp_connection *evcon;
	char addr[64];                 /* numeric host, for the address cap */
	int ticks_left;                /* until its next request is late */
};

struct http_listener {
	LIST_ENTRY(http_listener) all;
	struct evhttp *evh;
	struct evconnlistener *lev;    /* owned by evh */
	const char *key;               /* "http_listen" or "console_listen" */
	char listen[300];
	SSL_CTX *ctx;                  /* console: for new connections */
	void (*cb)(struct evhttp_request *, void *);
	void *cb_arg;
	void (*closed)(struct evhttp_connection *, void *); /* or NULL */
	size_t max_conns, max_per_address;
	TAILQ_HEAD(, http_conn) conns;
	size_t n_conns;
	struct bufferevent *pending;   /* accepted, not yet admitted */
	struct event *admission;       /* activated by on_accepted */
	struct event *tick;            /* every second: deadlines */
	struct event *resume;          /* accepting again after EMFILE */
	bool paused;
	/* a flood of refusals or failed accepts does not flood the log */
	struct log_ratelimit refused_log, accept_log;
};

/* evhttp_bind_listener makes the evhttp the evconnlistener's argument,
 * so its error callback finds its listener here (two at most). */
static LIST_HEAD(, http_listener) http_listeners =
    LIST_HEAD_INITIALIZER(http_listeners);

/* http_max_connections, or less when the descriptor limit is low; read
 * each time, so a limit lowered at run time (prlimit) counts at once. */
static size_t
listener_cap(const struct http_listener *l)
{
	struct rlimit rl;
	size_t cap = l->max_conns;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / HTTP_FD_SHARE < cap)
		cap = rl.rlim_cur / HTTP_FD_SHARE;
	return cap > 0 ? cap : 1;
}

static void
listener_enable(struct http_listener *l)
{
	if (!l->paused && l->pending == NULL)
		evconnlistener_enable(l->lev);
}

static void
conn_close(struct http_conn *c)
{
	evhttp_connection_free(c->evcon);   /* on_conn_closed frees c */
}

/* evhttp_connection_set_closecb: evhttp frees the connection. */
static void
on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn *c = arg;

	if (c->l->closed != NULL)
		c->l->closed(evcon, c->l->cb_arg);
	TAILQ_REMOVE(&c->l->conns, c, link);
	c->l->n_conns--;
	free(c);
}

static void
refuse(struct http_listener *l, struct evhttp_connection *evcon,
    const char *addr, const char *why)
{
	log_limited(&l->refused_log, LOG_LVL_WARNING, "%s %s: closed a new "
	    "connection from %s: %s", l->key, l->listen, addr, why);
	evhttp_connection_free(evcon);
}

/* The connection evhttp set up around bev: counted and given its
 * deadline, or closed when the listener or its address is full. */
static void
admit(struct http_listener *l, struct bufferevent *bev)
{
	struct evhttp_connection *evcon;
	struct http_conn *c;
	char *addr = NULL, why[120];
	ev_uint16_t port;
	size_t from = 0, cap = listener_cap(l);
	void *arg = NULL;

	/* bufferevent_free clears the callbacks: a connection evhttp has
	 * already given up has none, and only our reference keeps bev */
	bufferevent_getcb(bev, NULL, NULL, NULL, &arg);
	bufferevent_decref(bev);
	if ((evcon = arg) == NULL)
		return;
	evhttp_connection_get_peer(evcon, &addr, &port);
	TAILQ_FOREACH(c, &l->conns, link)
		from += strcmp(c->addr, addr ? addr : "") == 0;
	if (l->n_conns >= cap) {
		snprintf(why, sizeof(why), "%zu connections open (%s)",
		    l->n_conns, cap < l->max_conns ? "an eighth of the "
		    "descriptor limit" : "http_max_connections");
		refuse(l, evcon, addr ? addr : "?", why);
	} else if (from >= l->max_per_address) {
		snprintf(why, sizeof(why), "%zu connections open from it "
		    "(http_max_connections_per_address)", from);
		refuse(l, evcon, addr ? addr : "?", why);
	} else if ((c = calloc(1, sizeof(*c))) == NULL) {
		refuse(l, evcon, addr ? addr : "?", "out of memory");
	} else {
		c->l = l;
		c->evcon = evcon;
		snprintf(c->addr, sizeof(c->addr), "%s", addr ? addr : "");
		c->ticks_left = HTTP_REQUEST_DEADLINE + 1;
		TAILQ_INSERT_TAIL(&l->conns, c, link);
		l->n_conns++;
		evhttp_connection_set_closecb(evcon, on_conn_closed, c);
	}
}

/* The connection accepted last is admitted or closed; then the listener
 * accepts again. */
static void
on_admission(evutil_socket_t fd, short what, void *arg)
{
	struct http_listener *l = arg;
	struct bufferevent *bev = l->pending;

	l->pending = NULL;
	if (bev != NULL)
		admit(l, bev);
	listener_enable(l);
}

/* Every second: close connections whose request is late. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct http_listener *l = arg;
	struct http_conn *c, *next;

	for (c = TAILQ_FIRST(&l->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (--c->ticks_left <= 0) {
			log_debug("%s: closed the connection from %s: no whole "
			    "request in %d s", l->key, c->addr,
			    HTTP_REQUEST_DEADLINE);
			conn_close(c);
		}
	}
}

/* evhttp_set_bevcb, right after accept(2): the connection's bufferevent
 * (TLS on the console), held until on_tick admits it. */
static struct bufferevent *
on_accepted(struct event_base *base, void *arg)
{
	struct http_listener *l = arg;
	struct bufferevent *bev;
	SSL *ssl;

	/* not expected (the listener waits for on_admission), but this one's
	 * connection is set up by now and can be judged */
	if (l->pending != NULL) {
		bev = l->pending;
		l->pending = NULL;
		admit(l, bev);
	}
	if (l->ctx == NULL)
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	else if ((ssl = SSL_new(l->ctx)) != NULL)
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	else
		bev = NULL;
	/* without one evhttp makes a plain bufferevent: on the console that
	 * connection has no certificate and is served nothing (http.c) */
	if (bev == NULL) {
		log_error("%s: cannot set up a connection", l->key);
		return NULL;
	}
	bufferevent_incref(bev);
	l->pending = bev;
	evconnlistener_disable(l->lev);
	event_active(l->admission, EV_TIMEOUT, 1);
	return bev;
}

/* Every request: the connection's next one has a deadline of its own. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http_listener *l = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct http_conn *c;

	TAILQ_FOREACH(c, &l->conns, link)
		if (c->evcon == evcon)
			c->ticks_left = HTTP_REQUEST_DEADLINE + 1;
	l->cb(req, l->cb_arg);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http_listener *l = arg;

	l->paused = false;
	listener_enable(l);
}

/* accept(2) failed. Out of descriptors or memory the listening socket
 * stays readable and libevent would call accept again at once, for ever:
 * pause for a second instead, as the TLS front does. */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct http_listener *l;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval second = { 1, 0 };

	LIST_FOREACH(l, &http_listeners, all)
		if (l->lev == lev)
			break;
	if (l == NULL)
		return;
	log_limited(&l->accept_log, LOG_LVL_ERROR, "%s %s: accept: %s",
	    l->key, l->listen, evutil_socket_error_to_string(err));
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(lev);
		l->paused = true;
		event_add(l->resume, &second);
	}
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int
split_hostport(const char *s, char *host, size_t len, char *port,
    size_t port_len)
{
	const char *colon = strrchr(s, ':');
	const char *h = s;
	unsigned p;
	size_t n;

	if (colon == NULL || sscanf(colon + 1, "%u", &p) != 1 || p > 65535)
		return -1;
	snprintf(port, port_len, "%u", p);
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= len)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

/* The listening socket, on the first address listen resolves to. */
static struct evconnlistener *
bind_listen(struct event_base *base, const char *listen, void *arg)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE,
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct evconnlistener *lev = NULL;
	char host[256], port[8];

	if (split_hostport(listen, host, sizeof(host), port, sizeof(port)) != 0 ||
	    getaddrinfo(host, port, &hints, &ai) != 0)
		return NULL;
	lev = evconnlistener_new_bind(base, NULL, arg, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, -1, ai->ai_addr,
	    (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	return lev;
}

struct http_listener *
http_listener_new(struct event_base *base, const char *key,
    const char *listen, SSL_CTX *ctx, const struct config *cfg,
    void (*cb)(struct evhttp_request *, void *), void *cb_arg)
{
	struct http_listener *l = calloc(1, sizeof(*l));
	struct timeval second = { 1, 0 };

	if (l == NULL)
		return NULL;
	TAILQ_INIT(&l->conns);
	LIST_INSERT_HEAD(&http_listeners, l, all);
	l->key = key;
	snprintf(l->listen, sizeof(l->listen), "%s", listen);
	l->cb = cb;
	l->cb_arg = cb_arg;
	http_listener_limits(l, cfg);
	if ((l->admission = event_new(base, -1, 0, on_admission, l)) == NULL ||
	    (l->tick = event_new(base, -1, EV_PERSIST, on_tick, l)) == NULL ||
	    event_add(l->tick, &second) != 0 ||
	    (l->resume = evtimer_new(base, on_resume, l)) == NULL ||
	    (l->evh = evhttp_new(base)) == NULL)
		goto fail;
	if ((l->lev = bind_listen(base, listen, l)) == NULL) {
		log_error("cannot listen on %s %s", key, listen);
		goto fail;
	}
	if (evhttp_bind_listener(l->evh, l->lev) == NULL) {
		evconnlistener_free(l->lev);
		goto fail;
	}
	evconnlistener_set_error_cb(l->lev, on_accept_error);
	evhttp_set_bevcb(l->evh, on_accepted, l);
	evhttp_set_gencb(l->evh, on_request, l);
	if (ctx != NULL) {
		SSL_CTX_up_ref(ctx);
		l->ctx = ctx;
	}
	return l;
fail:
	http_listener_free(&l);
	return NULL;
}

void
http_listener_limits(struct http_listener *l, const struct config *cfg)
{
	l->max_conns = (size_t)cfg->broker.http_max_connections;
	l->max_per_address = (size_t)cfg->broker.http_max_connections_per_address;
}

struct evhttp *
http_listener_evhttp(struct http_listener *l)
{
	return l->evh;
}

const char *
http_listener_address(const struct http_listener *l)
{
	return l->listen;
}

/* Does l->ctx still accept the client certificate c's handshake verified?
 * A connection whose handshake is not done was set up with the old
 * context: it does not count as accepted, and the client connects
 * again. */
static bool
still_accepted(struct http_listener *l, struct http_conn *c, char *why,
    size_t len)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *cert = ssl && SSL_is_init_finished(ssl) ?
	    SSL_get0_peer_certificate(ssl) : NULL;
	struct nara_err err = { 0 };

	if (cert == NULL) {
		snprintf(why, len, "TLS handshake not done at the reload");
		return false;
	}
	if (tls_cert_reverify(l->ctx, cert, SSL_get_peer_cert_chain(ssl),
	    &err) != 0) {
		snprintf(why, len, "certificate no longer accepted: %s",
		    err.text);
		return false;
	}
	return true;
}

size_t
http_listener_set_ctx(struct http_listener *l, SSL_CTX *ctx)
{
	struct http_conn *c, *next;
	char why[300];
	size_t closed = 0;

	SSL_CTX_free(l->ctx);       /* live SSLs hold their own reference */
	l->ctx = ctx;
	for (c = TAILQ_FIRST(&l->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (still_accepted(l, c, why, sizeof(why)))
			continue;
		log_warn("%s: closed the connection from %s: %s", l->key,
		    c->addr, why);
		conn_close(c);
		closed++;
	}
	return closed;
}

void
http_listener_on_close(struct http_listener *l,
    void (*closed)(struct evhttp_connection *, void *))
{
	l->closed = closed;
}

void
http_listener_free(struct http_listener **lp)
{
	struct http_listener *l = *lp;

	if (l == NULL)
		return;
	LIST_REMOVE(l, all);
	if (l->evh != NULL)
		evhttp_free(l->evh);        /* closes every connection */
	if (l->pending != NULL)
		bufferevent_decref(l->pending);
	if (l->admission != NULL)
		event_free(l->admission);
	if (l->tick != NULL)
		event_free(l->tick);
	if (l->resume != NULL)
		event_free(l->resume);
	SSL_CTX_free(l->ctx);
	free(l);
	*lp = NULL;
}
