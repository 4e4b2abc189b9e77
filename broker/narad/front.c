/*
 * front.c — narad's TLS front: the listener, admission of new connections
 * (connection and handshake budgets), reload and the status API. One
 * connection's life is in front_conn.c, reports about peers in
 * front_report.c; front_int.h has what they share.
 */
#include "front_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/util.h>

#include "log.h"
#include "tls.h"

/* ---------------------------------------------------------------- admission */

/* A connection the front will not even start: counted, logged at a
 * bounded rate per address, closed. */
static void
admission_refuse(struct front *f, evutil_socket_t fd, const char *addr,
    const char *what)
{
	struct front_note n = { .level = LOG_LVL_WARNING, .addr = addr,
	    .peer = addr, .node = "", .what = what, .text = NULL };
	char text[320];

	f->refusals++;
	snprintf(text, sizeof(text), "closed a new connection from %s: %s",
	    addr, what);
	n.text = text;
	front_report(f, &n);
	evutil_closesocket(fd);
}

/* A handshake counts against max_handshakes_per_address once it has run
 * this long: a node's handshake takes milliseconds, so only one that
 * stalls (idle TCP, a ClientHello never continued) counts. A burst of
 * nodes behind one address (a NAT, all reconnecting after a restart) goes
 * through; a burst of anything is bounded by max_handshakes. */
#define HANDSHAKE_STALL_MS 1000

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stalled handshakes from addr. The handshake list is bounded by
 * max_handshakes, so counting it is cheap. */
static size_t
handshakes_from(const struct front *f, const char *addr, int64_t now)
{
	const struct conn *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &f->handshakes, hs_link)
		if (now - c->accepted_ms >= HANDSHAKE_STALL_MS &&
		    strcmp(c->addr, addr) == 0)
			n++;
	return n;
}

/* The oldest unfinished handshake of the address that holds the most of
 * them (the list is in order of age and bounded by max_handshakes). */
static struct conn *
handshake_to_drop(struct front *f)
{
	struct conn *best = NULL, *c, *d;
	size_t best_n = 0;

	TAILQ_FOREACH(c, &f->handshakes, hs_link) {
		size_t n = 0;

		for (d = TAILQ_FIRST(&f->handshakes); d != c &&
		    strcmp(d->addr, c->addr) != 0; d = TAILQ_NEXT(d, hs_link))
			;
		if (d != c)
			continue;        /* not the oldest of its address */
		for (; d != NULL; d = TAILQ_NEXT(d, hs_link))
			n += strcmp(d->addr, c->addr) == 0;
		if (n > best_n) {
			best_n = n;
			best = c;
		}
	}
	return best;
}

/* Make room for one more unfinished handshake: at max_handshakes the
 * oldest one of the address holding the most gives way. A flood renews
 * itself faster than a node far away completes its handshake; were the
 * oldest of all to go, a churn from one address would push out every
 * node's handshake (a real node's takes a few round trips). */
static void
handshake_budget(struct front *f)
{
	size_t budget = f->cfg->tls.max_handshakes;
	struct conn *oldest;

	if (budget > f->cfg->tls.max_connections / 2)
		budget = f->cfg->tls.max_connections / 2;
	if (budget == 0)
		budget = 1;
	while (f->n_handshakes >= budget &&
	    (oldest = handshake_to_drop(f)) != NULL) {
		struct front_note n = { .level = LOG_LVL_WARNING,
		    .addr = oldest->addr, .peer = oldest->peer, .node = "",
		    .what = "handshake dropped for a newer one (max_handshakes)" };
		char text[320];

		snprintf(text, sizeof(text), "%zu TLS handshakes in progress "
		    "(max_handshakes); dropping the oldest, from %s",
		    f->n_handshakes, oldest->peer);
		n.text = text;
		f->refusals++;
		front_report(f, &n);
		conn_drop(oldest);
	}
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int socklen, void *arg)
{
	struct front *f = arg;
	unsigned timeout = f->cfg->tls.handshake_timeout;
	int64_t now = mono_ms();
	char addr[64];
	struct conn *c;
	int one = 1;

	if (getnameinfo(sa, (socklen_t)socklen, addr, sizeof(addr), NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(addr, sizeof(addr), "unknown");
	if (handshakes_from(f, addr, now) >=
	    f->cfg->tls.max_handshakes_per_address) {
		admission_refuse(f, fd, addr, "too many stalled TLS handshakes "
		    "from this address (max_handshakes_per_address)");
		return;
	}
	handshake_budget(f);
	if (f->conns.n_live >= f->cfg->tls.max_connections) {
		admission_refuse(f, fd, addr, "connection limit reached "
		    "(max_connections)");
		return;
	}
	/* ZMTP frames are small and answered at once: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c = conn_new(f, fd, sa, (socklen_t)socklen)) == NULL) {
		log_error("tls front: cannot set up a connection");
		return;
	}
	c->accepted_ms = now;
	TAILQ_INSERT_TAIL(&f->handshakes, c, hs_link);
	f->n_handshakes++;
	log_debug("tls front: connection from %s", c->peer);
	relay_arm(&c->r, timeout > 0 ? timeout : 10);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;

	evconnlistener_enable(f->listener);
}

/* accept(2) failed. Out of descriptors or memory the listening socket stays
 * readable: pause accepting for a second instead of spinning, and say so
 * at a bounded rate. */
static void
on_listen_error(struct evconnlistener *l, void *arg)
{
	struct front *f = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval second = { 1, 0 };
	char what[160];
	struct front_note n = { .level = LOG_LVL_ERROR, .addr = "listener",
	    .peer = f->listen, .node = "", .what = what, .text = NULL };

	snprintf(what, sizeof(what), "accept: %s",
	    evutil_socket_error_to_string(err));
	n.text = what;
	front_report(f, &n);
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(l);
		event_add(f->resume, &second);
	}
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
	LIST_INIT(&f->conns.live);
	LIST_INIT(&f->conns.dead);
	TAILQ_INIT(&f->handshakes);
	TAILQ_INIT(&f->ready);
	TAILQ_INIT(&f->staged);
	f->direct = cfg->tls.zmtp == CONFIG_ZMTP_FRONT;
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
	if ((f->report = front_report_new(f)) == NULL ||
	    (f->resume = evtimer_new(base, on_resume, f)) == NULL ||
	    (f->writer = event_new(base, -1, 0, zd_write, f)) == NULL ||
	    relay_set_init(&f->conns, base, CLOSE_FLUSH_SECONDS) != 0 ||
	    front_listen(f, cfg->tls.listen) != 0)
		goto fail;
	log_info("tls front listening on %s (TLS %s+, identity from %s), "
	    "%s%s", cfg->tls.listen, cfg->tls.min_version[0] ?
	    cfg->tls.min_version : "1.3", cfg->tls.identity == CONFIG_ID_CN ?
	    "CN" : cfg->tls.identity == CONFIG_ID_SERIAL ? "serialNumber" :
	    "SAN URI", f->direct ? "speaking ZMTP itself" : "relaying to ",
	    f->direct ? "" : relay_endpoint_path);
	return f;
fail:
	front_free(&f);
	return NULL;
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
	if ((cfg->tls.zmtp == CONFIG_ZMTP_FRONT) != f->direct)
		log_warn("tls front: zmtp change to %s takes effect at the "
		    "next restart", cfg->tls.zmtp == CONFIG_ZMTP_FRONT ?
		    "front" : "router");
	f->cfg = cfg;
	if ((ctx = tls_server_ctx_new(&cfg->tls, &err)) == NULL) {
		log_error("tls front: reload: %s; keeping the old certificates "
		    "and CRLs", err.text);
		return -1;
	}
	SSL_CTX_free(f->ctx);            /* live SSLs hold their own reference */
	f->ctx = ctx;
	for (c = conn_first(f); c != NULL; c = next) {
		next = conn_next(c);
		/* CONN_WAIT too: its certificate was checked against the
		 * old CRLs, and it relays as soon as the older connection of
		 * its node has closed, with no check of its own then */
		if (c->state == CONN_WAIT || c->state == CONN_ZMTP ||
		    c->state == CONN_RELAY)
			conn_recheck(c);
	}
	log_info("tls front: certificates and CRLs reloaded, %zu connections",
	    f->conns.n_live);
	return 0;
}

void
front_free(struct front **fp)
{
	struct front *f = fp ? *fp : NULL;

	if (f == NULL)
		return;
	if (f->listener != NULL)
		evconnlistener_free(f->listener);
	relay_set_free(&f->conns);
	if (f->resume != NULL)
		event_free(f->resume);
	if (f->writer != NULL)
		event_free(f->writer);
	front_report_flush(f);           /* repeats counted until now */
	front_report_free(&f->report);
	SSL_CTX_free(f->ctx);
	free(f);
	*fp = NULL;
}

size_t
front_connections(const struct front *f)
{
	return f ? f->conns.n_live : 0;
}

uint64_t
front_refusals(const struct front *f)
{
	return f ? f->refusals : 0;
}

int
front_cert_days(const struct front *f, const char *node, int *days)
{
	for (const struct conn *c = f ? conn_first(f) : NULL; c != NULL;
	    c = conn_next(c)) {
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

	for (const struct conn *c = f ? conn_first(f) : NULL; c != NULL;
	    c = conn_next(c)) {
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
