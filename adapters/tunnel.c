/*
 * tunnel.c — the client TLS tunnel (see tunnel.h).
 *
 * One thread runs one libevent loop. Every local connection accepted on the
 * private endpoint becomes a struct tconn, a relay (relay.h) of two
 * bufferevents: the plain local side and a TLS connection to the broker that
 * this tunnel opens for it. The relay moves bytes both ways with high/low
 * watermarks, so a slow side stops the other from being read instead of
 * growing a buffer. When either side ends, what is buffered towards the
 * other is flushed (bounded in time) and both are closed; libzmq's
 * reconnect then opens a new local connection.
 *
 * The caller's thread talks to the loop only through a pipe (stop, and
 * "recheck" after a reload) and the mutex-protected counters and context,
 * so libevent needs no thread support.
 */
#include "tunnel_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zmq.h>

#include "log.h"
#include "relay.h"
#include "tls.h"
#include "tls_bev.h"

/* Seconds a closing connection may take to flush what it holds. */
#define TUNNEL_FLUSH_SECONDS 5
#define TUNNEL_SOCK_NAME "tunnel.sock"
/* What the caller's thread writes to the wake pipe. */
#define WAKE_STOP 'x'
#define WAKE_RECHECK 'r'

/* The relay's sides. */
enum { SIDE_LOCAL, SIDE_BROKER };

struct tconn {
	struct relay r;                /* first: a relay is its tconn */
	struct nara_tunnel *t;
	struct bufferevent *local;     /* plain side, from the DEALER */
	struct bufferevent *tls;       /* to the broker; owns its SSL and fd */
	int addr;                      /* index of the broker address tried */
	bool established;              /* TLS handshake done */
};

struct nara_tunnel {
	struct broker_addr addrs[TUNNEL_MAX_BROKERS];
	int n_addrs;
	int cur;                       /* the address new connections try */
	SSL_CTX *ctx;                  /* guarded by mu: tunnel_reload swaps it */
	unsigned handshake_timeout;
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *wake;
	int wake_fd[2];
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;            /* guards st and ctx */
	struct tunnel_stats st;
	struct relay_set conns;        /* the tconns */
	char last_why[256];            /* last failure without its address */
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char endpoint[160];
};

/* ---------------------------------------------------------------- counters */

/* A connection to address a failed: counted, logged once per new reason
 * (as an error when fault: a refused certificate, not a network matter),
 * and the next connection tries the next address of the list. */
static void
stat_failure(struct nara_tunnel *t, int a, const char *why, bool fault)
{
	const struct broker_addr *ba = &t->addrs[a];
	bool repeated;

	pthread_mutex_lock(&t->mu);
	t->st.handshakes_failed++;
	snprintf(t->st.last_error, sizeof(t->st.last_error), "%s:%s: %s",
	    ba->host, ba->port, why);
	repeated = strcmp(t->last_why, why) == 0;
	snprintf(t->last_why, sizeof(t->last_why), "%s", why);
	pthread_mutex_unlock(&t->mu);
	/* libzmq retries every second or so: warn once per new reason. */
	if (repeated)
		log_debug("tunnel to %s:%s: %s", ba->host, ba->port, why);
	else if (fault)
		log_error("tunnel to %s:%s: %s", ba->host, ba->port, why);
	else
		log_warn("tunnel to %s:%s: %s", ba->host, ba->port, why);
	if (t->n_addrs > 1 && t->cur == a) {
		t->cur = (a + 1) % t->n_addrs;
		log_info("tunnel: next connection tries broker %s:%s",
		    t->addrs[t->cur].host, t->addrs[t->cur].port);
	}
}

static void
stat_open(struct nara_tunnel *t, long delta)
{
	pthread_mutex_lock(&t->mu);
	t->st.connections_open = (unsigned long)((long)t->st.connections_open + delta);
	pthread_mutex_unlock(&t->mu);
}

/* ---------------------------------------------------------------- relay */

static void
tconn_destroy(struct relay *r)
{
	relay_release(r);                /* frees the SSL, closes the fds */
	free(r);
}

static void
tconn_bury(struct relay *r)
{
	stat_open(((struct tconn *)r)->t, -1);
}

/* The handshake timed out (the flush limit of a close is the relay's). */
static void
on_timer(struct relay *r)
{
	struct tconn *c = (struct tconn *)r;

	if (!r->closing && !c->established)
		stat_failure(c->t, c->addr, "TLS handshake timed out", false);
	relay_bury(r);
}

static void on_event(struct relay *r, int side, short what);

static const struct relay_ops tconn_ops = {
	.event = on_event, .timer = on_timer, .bury = tconn_bury,
	.destroy = tconn_destroy,
};

/* ---------------------------------------------------------------- TLS side */

/* Why the handshake with the broker failed, for the counters and the log. */
static void
handshake_failed(struct tconn *c, short what)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	int sock_err = EVUTIL_SOCKET_ERROR();
	bool only_eof;
	unsigned long e = tls_bev_error(c->tls, &only_eof);
	OSSL_HANDSHAKE_STATE hs = ssl ? SSL_get_state(ssl) : TLS_ST_BEFORE;
	char why[256];

	/* Nothing came back from the broker and the socket has an error:
	 * the TCP connect itself failed (libevent reports it as EOF). */
	if ((hs == TLS_ST_BEFORE || hs == TLS_ST_CW_CLNT_HELLO) && e == 0 &&
	    sock_err != 0 && verify == X509_V_OK)
		snprintf(why, sizeof(why), "connect: %s",
		    evutil_socket_error_to_string(sock_err));
	else if (verify != X509_V_OK)
		snprintf(why, sizeof(why), "%s broker certificate refused: %s",
		    nara_code_id(NR_AUTH_FAILED),
		    X509_verify_cert_error_string(verify));
	else if (e != 0 && !only_eof && ERR_reason_error_string(e) != NULL)
		snprintf(why, sizeof(why), "TLS handshake: %s",
		    ERR_reason_error_string(e));
	else if ((what & BEV_EVENT_EOF) || e != 0 || sock_err == 0)
		snprintf(why, sizeof(why), "broker closed during TLS handshake");
	else
		snprintf(why, sizeof(why), "connect: %s",
		    evutil_socket_error_to_string(sock_err));
	stat_failure(c->t, c->addr, why, verify != X509_V_OK);
}

/* c's broker certificate checked again against ctx (a reload's new
 * CRLs): when refused, c is closed before anything more goes over it. */
static bool
recheck_one(struct nara_tunnel *t, struct tconn *c, SSL *ssl, SSL_CTX *ctx)
{
	struct nara_err err = { 0 };
	char why[256];

	if (tls_server_cert_reverify(ctx, SSL_get0_peer_certificate(ssl),
	    SSL_get_peer_cert_chain(ssl), &err) == 0)
		return true;
	snprintf(why, sizeof(why), "%s broker certificate no longer accepted: "
	    "%.160s; connection closed", nara_code_id(err.code), err.text);
	stat_failure(t, c->addr, why, true);
	relay_close(&c->r, false);
	return false;
}

/* A handshake begun before a reload was verified with the context of its
 * start, and recheck_all passed it by while it was not established. */
static bool
still_accepted(struct nara_tunnel *t, struct tconn *c, SSL *ssl)
{
	SSL_CTX *ctx = NULL;
	bool ok;

	pthread_mutex_lock(&t->mu);
	if (t->ctx != SSL_get_SSL_CTX(ssl)) {
		ctx = t->ctx;
		SSL_CTX_up_ref(ctx);
	}
	pthread_mutex_unlock(&t->mu);
	if (ctx == NULL)
		return true;
	ok = recheck_one(t, c, ssl, ctx);
	SSL_CTX_free(ctx);
	return ok;
}

static void
handshake_done(struct tconn *c)
{
	struct nara_tunnel *t = c->t;
	const struct broker_addr *ba = &t->addrs[c->addr];
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	int days = -1;

	c->established = true;
	c->r.unflushed[SIDE_BROKER] = false;
	event_del(c->r.timer);
	if (cert != NULL && tls_cert_days_left(cert, time(NULL), &days) != 0)
		days = -1;
	pthread_mutex_lock(&t->mu);
	t->st.handshakes_ok++;
	t->st.broker_cert_days_left = days;
	snprintf(t->st.broker, sizeof(t->st.broker), "%s:%s", ba->host,
	    ba->port);
	t->last_why[0] = '\0';
	pthread_mutex_unlock(&t->mu);
	log_debug("tunnel to %s:%s: TLS established (%s)", ba->host, ba->port,
	    ssl ? SSL_get_version(ssl) : "?");
	if (ssl != NULL && !still_accepted(t, c, ssl))
		return;
	/* Anything the DEALER sent meanwhile is already queued on c->tls. */
	bufferevent_enable(c->local, EV_READ);
}

static void
connection_error(struct nara_tunnel *t, int a, unsigned long e)
{
	const char *reason = ERR_reason_error_string(e);
	const struct broker_addr *ba = &t->addrs[a];

	pthread_mutex_lock(&t->mu);
	snprintf(t->st.last_error, sizeof(t->st.last_error), "%s:%s: TLS: %s",
	    ba->host, ba->port, reason ? reason : "error");
	pthread_mutex_unlock(&t->mu);
	log_info("tunnel to %s:%s: TLS: %s", ba->host, ba->port,
	    reason ? reason : "error");
}

static void
on_tls_event(struct tconn *c, short what)
{
	unsigned long e;
	bool only_eof;

	if (what & BEV_EVENT_CONNECTED) {
		handshake_done(c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if (!c->established) {
		handshake_failed(c, what);
		relay_close(&c->r, false);
		return;
	}
	/* A close without close_notify is an ordinary end of stream. An alert
	 * (e.g. the broker refusing our certificate, which TLS 1.3 reports
	 * only after the handshake) is kept as the last error. */
	if ((what & BEV_EVENT_ERROR) && (e = tls_bev_error(c->tls, &only_eof)) != 0
	    && !only_eof)
		connection_error(c->t, c->addr, e);
	else
		log_debug("tunnel to %s:%s: broker closed the connection",
		    c->t->addrs[c->addr].host, c->t->addrs[c->addr].port);
	relay_close(&c->r, true);
}

static void
on_event(struct relay *r, int side, short what)
{
	if (side == SIDE_BROKER)
		on_tls_event((struct tconn *)r, what);
	else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		relay_close(r, true);
}

/* The broker's address, resolved for every connection so that a changed
 * DNS entry takes effect at the next reconnect. */
static int
broker_connect(struct tconn *c)
{
	struct nara_tunnel *t = c->t;
	const struct broker_addr *ba = &t->addrs[c->addr];
	struct evutil_addrinfo hints = { 0 }, *ai = NULL;
	char why[256];
	int rc, one = 1;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = evutil_getaddrinfo(ba->host, ba->port, &hints, &ai)) != 0) {
		snprintf(why, sizeof(why), "cannot resolve %s: %s", ba->host,
		    evutil_gai_strerror(rc));
		stat_failure(t, c->addr, why, false);
		return -1;
	}
	rc = bufferevent_socket_connect(c->tls, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	/* ZMTP frames are small and answered at once: no Nagle delay. */
	if (rc == 0)
		setsockopt(bufferevent_getfd(c->tls), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
	if (rc != 0) {
		snprintf(why, sizeof(why), "connect: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		stat_failure(t, c->addr, why, false);
	}
	return rc;
}

/* ---------------------------------------------------------------- accept */

static struct tconn *
tconn_new(struct nara_tunnel *t, evutil_socket_t fd)
{
	struct tconn *c = calloc(1, sizeof(*c));
	struct nara_err err = { 0 };
	SSL *ssl = NULL;

	if (c == NULL)
		goto fail;
	c->t = t;
	c->addr = t->cur;
	c->r.unflushed[SIDE_BROKER] = true;  /* until the handshake is done */
	c->local = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->local == NULL)
		goto fail;
	fd = -1;
	relay_attach(&c->r, SIDE_LOCAL, c->local);
	pthread_mutex_lock(&t->mu);      /* the SSL takes its own reference */
	ssl = tls_client_ssl_new(t->ctx, t->addrs[c->addr].name, &err);
	pthread_mutex_unlock(&t->mu);
	if (ssl == NULL) {
		log_error("tunnel: %s", err.text);
		goto fail;
	}
	c->tls = bufferevent_openssl_socket_new(t->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->tls == NULL)
		goto fail;
	ssl = NULL;                      /* owned by c->tls from here on */
	bufferevent_openssl_set_allow_dirty_shutdown(c->tls, 1);
	relay_attach(&c->r, SIDE_BROKER, c->tls);
	if (relay_init(&c->r, &t->conns, &tconn_ops) != 0)
		goto fail;
	return c;
fail:
	SSL_free(ssl);
	if (fd >= 0)
		evutil_closesocket(fd);
	if (c != NULL)
		tconn_destroy(&c->r);
	return NULL;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int socklen, void *arg)
{
	struct nara_tunnel *t = arg;
	struct tconn *c;

	if ((c = tconn_new(t, fd)) == NULL) {
		log_error("tunnel: cannot set up a connection");
		return;
	}
	stat_open(t, 1);
	/* The DEALER's greeting waits in c->tls's output until the handshake
	 * is done; its side is read again from handshake_done. */
	bufferevent_enable(c->local, EV_READ | EV_WRITE);
	bufferevent_enable(c->tls, EV_READ | EV_WRITE);
	relay_arm(&c->r, t->handshake_timeout);
	if (broker_connect(c) != 0)
		relay_close(&c->r, false);
}

/* After a reload: every established connection's broker certificate is
 * checked again against the new CRLs, and one no longer valid is closed at
 * once (nothing more goes over it); libzmq's reconnect then meets the new
 * context, which refuses the handshake. */
static void
recheck_all(struct nara_tunnel *t)
{
	struct relay *r, *next;
	SSL_CTX *ctx;

	pthread_mutex_lock(&t->mu);
	ctx = t->ctx;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&t->mu);
	for (r = LIST_FIRST(&t->conns.live); r != NULL; r = next) {
		struct tconn *c = (struct tconn *)r;
		SSL *ssl = bufferevent_openssl_get_ssl(c->tls);

		next = LIST_NEXT(r, link);   /* a close buries r */
		if (c->established && !r->closing && ssl != NULL)
			recheck_one(t, c, ssl, ctx);
	}
	SSL_CTX_free(ctx);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct nara_tunnel *t = arg;
	char cmd[16];
	ssize_t n;

	while ((n = read(fd, cmd, sizeof(cmd))) > 0)
		for (ssize_t i = 0; i < n; i++) {
			if (cmd[i] == WAKE_STOP) {
				event_base_loopbreak(t->base);
				return;
			}
			if (cmd[i] == WAKE_RECHECK)
				recheck_all(t);
		}
}

static void *
tunnel_main(void *arg)
{
	struct nara_tunnel *t = arg;
	sigset_t pipe;

	pthread_setname_np(pthread_self(), "nara-tunnel");
	/* A peer that resets its socket must give EPIPE here, never a signal
	 * that would end the host process. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	event_base_dispatch(t->base);
	return NULL;
}

/* ---------------------------------------------------------------- setup */

/* The ipc endpoint's directory: made 0700 when missing; refused when it is
 * not a directory of ours that only we can enter, since anyone who can
 * connect to the endpoint speaks to the broker with this node's certificate. */
static int
private_dir(const char *dir, struct nara_err *err)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return nara_err_set(err, NR_CONFIG, "local_dir",
		    "cannot create %s: %s", dir, strerror(errno));
	if (lstat(dir, &st) != 0)
		return nara_err_set(err, NR_CONFIG, "local_dir", "%s: %s", dir,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return nara_err_set(err, NR_CONFIG, "local_dir",
		    "%s is not a directory", dir);
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return nara_err_set(err, NR_CONFIG, "local_dir",
		    "%s must be owned by uid %u and have mode 0700 (has uid %u, "
		    "mode %04o)", dir, (unsigned)geteuid(), (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
	return 0;
}

static int
listen_ipc(struct nara_tunnel *t, const char *dir, struct nara_err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (private_dir(dir, err) != 0)
		return -1;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir,
	    TUNNEL_SOCK_NAME) >= sizeof(sun.sun_path))
		return nara_err_set(err, NR_CONFIG, "local_dir",
		    "path too long for an ipc socket: %s", dir);
	unlink(sun.sun_path);            /* a stale socket of an earlier run */
	t->listener = evconnlistener_new_bind(t->base, on_accept, t,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, sizeof(sun));
	if (t->listener == NULL)
		return nara_err_set(err, NR_IO, "local_dir", "cannot listen on "
		    "%s: %s", sun.sun_path, strerror(errno));
	snprintf(t->sock_path, sizeof(t->sock_path), "%s", sun.sun_path);
	snprintf(t->endpoint, sizeof(t->endpoint), "ipc://%s", sun.sun_path);
	return 0;
}

static int
listen_loopback(struct nara_tunnel *t, struct nara_err *err)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->listener = evconnlistener_new_bind(t->base, on_accept, t,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (t->listener == NULL || getsockname(evconnlistener_get_fd(
	    t->listener), (struct sockaddr *)&sin, &len) != 0)
		return nara_err_set(err, NR_IO, "tunnel",
		    "cannot listen on 127.0.0.1: %s", strerror(errno));
	snprintf(t->endpoint, sizeof(t->endpoint), "tcp://127.0.0.1:%u",
	    (unsigned)ntohs(sin.sin_port));
	return 0;
}

static int
tunnel_loop_init(struct nara_tunnel *t, struct nara_err *err)
{
	if ((t->base = event_base_new()) == NULL ||
	    pipe2(t->wake_fd, O_CLOEXEC | O_NONBLOCK) != 0)
		return nara_err_set(err, NR_IO, "tunnel",
		    "cannot set up the event loop");
	t->wake = event_new(t->base, t->wake_fd[0], EV_READ | EV_PERSIST,
	    on_wake, t);
	if (t->wake == NULL || relay_set_init(&t->conns, t->base,
	    TUNNEL_FLUSH_SECONDS) != 0 || event_add(t->wake, NULL))
		return nara_err_set(err, NR_IO, "tunnel",
		    "cannot set up the event loop");
	return 0;
}

/* The client context of o: CA bundle, own certificate and key, CRLs. */
static SSL_CTX *
tunnel_ctx_new(const struct tunnel_opts *o, struct nara_err *err)
{
	SSL_CTX *ctx = tls_client_ctx_new(o->ca, o->cert, o->key, "1.3", err);

	if (ctx != NULL && tls_ctx_load_crls(ctx, o->crl, o->n_crl, err) != 0)
		SSL_CTX_free(ctx);
	else
		return ctx;
	return NULL;
}

struct nara_tunnel *
tunnel_start(const struct tunnel_opts *o, struct nara_err *err)
{
	struct nara_tunnel *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		nara_err_set(err, NR_IO, "tunnel", "out of memory");
		return NULL;
	}
	t->wake_fd[0] = t->wake_fd[1] = -1;
	t->st.broker_cert_days_left = -1;
	pthread_mutex_init(&t->mu, NULL);
	t->handshake_timeout = o->handshake_timeout ? o->handshake_timeout : 10;
	if (tunnel_brokers_split(t->addrs, &t->n_addrs, o->broker,
	    o->server_name, err) != 0)
		goto fail;
	if (o->ca == NULL || (o->cert == NULL) != (o->key == NULL)) {
		nara_err_set(err, NR_CONFIG, "tunnel", "a CA bundle is required, "
		    "and a certificate needs its key");
		goto fail;
	}
	if ((t->ctx = tunnel_ctx_new(o, err)) == NULL ||
	    tunnel_loop_init(t, err) != 0)
		goto fail;
	if ((o->local_dir != NULL ? listen_ipc(t, o->local_dir, err) :
	    listen_loopback(t, err)) != 0)
		goto fail;
	if (pthread_create(&t->thread, NULL, tunnel_main, t) != 0) {
		nara_err_set(err, NR_IO, "tunnel", "cannot start the thread");
		goto fail;
	}
	t->running = true;
	for (int i = 0; i < t->n_addrs; i++)
		log_debug("tunnel %s -> %s:%s (name %s)", t->endpoint,
		    t->addrs[i].host, t->addrs[i].port, t->addrs[i].name);
	return t;
fail:
	tunnel_stop(&t);
	return NULL;
}

int
tunnel_reload(struct nara_tunnel *t, const struct tunnel_opts *o,
    struct nara_err *err)
{
	SSL_CTX *ctx, *old;
	char cmd = WAKE_RECHECK;

	if (o->ca == NULL || (o->cert == NULL) != (o->key == NULL))
		return nara_err_set(err, NR_CONFIG, "tunnel", "a CA bundle is "
		    "required, and a certificate needs its key");
	if ((ctx = tunnel_ctx_new(o, err)) == NULL)
		return -1;
	pthread_mutex_lock(&t->mu);
	old = t->ctx;
	t->ctx = ctx;
	pthread_mutex_unlock(&t->mu);
	SSL_CTX_free(old);               /* live SSLs hold their own reference */
	if (write(t->wake_fd[1], &cmd, 1) != 1)
		log_error("tunnel: cannot wake the tunnel thread: %s",
		    strerror(errno));
	return 0;
}

const char *
tunnel_endpoint(const struct nara_tunnel *t)
{
	return t->endpoint;
}

void
tunnel_stats(struct nara_tunnel *t, struct tunnel_stats *out)
{
	pthread_mutex_lock(&t->mu);
	*out = t->st;
	pthread_mutex_unlock(&t->mu);
}

void
tunnel_stop(struct nara_tunnel **tp)
{
	struct nara_tunnel *t = tp ? *tp : NULL;

	if (t == NULL)
		return;
	if (t->running) {
		char cmd = WAKE_STOP;

		if (write(t->wake_fd[1], &cmd, 1) != 1)
			log_error("tunnel: cannot wake the tunnel thread");
		pthread_join(t->thread, NULL);
	}
	if (t->base != NULL)
		relay_set_free(&t->conns);
	if (t->listener != NULL)
		evconnlistener_free(t->listener);
	if (t->sock_path[0] != '\0')
		unlink(t->sock_path);
	if (t->wake != NULL)
		event_free(t->wake);
	if (t->base != NULL)
		event_base_free(t->base);
	for (int i = 0; i < 2; i++)
		if (t->wake_fd[i] >= 0)
			close(t->wake_fd[i]);
	SSL_CTX_free(t->ctx);
	pthread_mutex_destroy(&t->mu);
	for (int i = 0; i < t->n_addrs; i++)
		tunnel_addr_free(&t->addrs[i]);
	free(t);
	*tp = NULL;
}

/* ---------------------------------------------------------------- DEALER */

/* Heartbeats find a dead link within TUNNEL_HB_TIMEOUT; reconnects start
 * after 100 ms plus up to 900 ms of jitter and back off to 10 s. */
#define TUNNEL_HB_IVL 5000
#define TUNNEL_HB_TIMEOUT 15000
#define TUNNEL_RECONNECT_MIN 100
#define TUNNEL_RECONNECT_JITTER 900
#define TUNNEL_RECONNECT_MAX 10000

void *
tunnel_dealer_open(void *zmq_ctx, const char *node_id, const char *endpoint,
    struct nara_err *err)
{
	void *s = zmq_socket(zmq_ctx, ZMQ_DEALER);
	int one = 1, linger = 0, hb_ivl = TUNNEL_HB_IVL, hb = TUNNEL_HB_TIMEOUT;
	int rmax = TUNNEL_RECONNECT_MAX, rivl;
	unsigned short r = 0;

	if (s == NULL) {
		nara_err_set(err, NR_IO, "tunnel", "zmq_socket: %s",
		    zmq_strerror(errno));
		return NULL;
	}
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned short)(getpid() ^ time(NULL));
	rivl = TUNNEL_RECONNECT_MIN + r % (TUNNEL_RECONNECT_JITTER + 1);
	if (node_id == NULL || node_id[0] == '\0' || strlen(node_id) > 255 ||
	    zmq_setsockopt(s, ZMQ_ROUTING_ID, node_id, strlen(node_id)) != 0) {
		nara_err_set(err, NR_CONFIG, "node_id", "routing id \"%s\" is not "
		    "1 to 255 bytes", node_id ? node_id : "");
		goto fail;
	}
	if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof(hb_ivl)) != 0 ||
	    zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &hb, sizeof(hb)) != 0 ||
	    zmq_setsockopt(s, ZMQ_HEARTBEAT_TTL, &hb, sizeof(hb)) != 0 ||
	    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &rivl, sizeof(rivl)) != 0 ||
	    zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &rmax, sizeof(rmax)) != 0) {
		nara_err_set(err, NR_IO, "tunnel", "zmq_setsockopt: %s",
		    zmq_strerror(errno));
		goto fail;
	}
	if (zmq_connect(s, endpoint) != 0) {
		nara_err_set(err, NR_CONFIG, "endpoint", "cannot connect to %s: %s",
		    endpoint, zmq_strerror(errno));
		goto fail;
	}
	return s;
fail:
	zmq_close(s);
	return NULL;
}
