/*
 * tls_helpers.c — nara-pki runs, a threaded TLS tunnel and a raw TLS client
 * for the TLS front's integration tests.
 */
#include "tls_helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "tls.h"

#define TUNNEL_MAX_CONNS 1024

int
pki_run(bool want_ok, const char *fmt, ...)
{
	char args[1500], bin[300], out[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	rc = harness_run(out, sizeof(out), "%s %s",
	    harness_bin("nara-pki", bin, sizeof(bin)), args);
	if (want_ok)
		cr_assert_eq(rc, 0, "nara-pki %s: %s", args, out);
	return rc;
}

int
tls_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

int
tcp_connect_local(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static SSL_CTX *
client_ctx(const char *ca, const char *cert, const char *key)
{
	struct nara_err err = { 0 };
	SSL_CTX *ctx = tls_client_ctx_new(ca, cert, key, "1.3", &err);

	cr_assert_not_null(ctx, "client TLS context: %s", err.text);
	return ctx;
}

/* ---------------------------------------------------------------- tunnel */

struct tunnel {
	int lfd, port, tls_port;
	SSL_CTX *ctx;
	pthread_t acceptor;
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_t workers[TUNNEL_MAX_CONNS];
	int n_workers;
	atomic_int ok, failed;
};

struct job {
	struct tunnel *t;
	int plain;
};

static int
wait_fd(int fd, short events)
{
	struct pollfd p = { fd, events, 0 };

	return poll(&p, 1, 100);
}

static int
plain_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			wait_fd(fd, POLLOUT);
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
ssl_write_all(SSL *ssl, int fd, const char *buf, size_t len)
{
	while (len > 0) {
		int n = SSL_write(ssl, buf, (int)len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		int e = SSL_get_error(ssl, n);
		if (e == SSL_ERROR_WANT_WRITE)
			wait_fd(fd, POLLOUT);
		else if (e == SSL_ERROR_WANT_READ)
			wait_fd(fd, POLLIN);
		else
			return -1;
	}
	return 0;
}

/* TLS -> plain: everything readable now; -1 on EOF or error. */
static int
pump_from_tls(SSL *ssl, int plain)
{
	char buf[16384];

	for (;;) {
		int n = SSL_read(ssl, buf, sizeof(buf));
		if (n > 0) {
			if (plain_write_all(plain, buf, (size_t)n) != 0)
				return -1;
			continue;
		}
		return SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ ? 0 : -1;
	}
}

static void
relay(struct tunnel *t, int plain, SSL *ssl, int tfd)
{
	char buf[16384];

	fcntl(plain, F_SETFL, fcntl(plain, F_GETFL) | O_NONBLOCK);
	fcntl(tfd, F_SETFL, fcntl(tfd, F_GETFL) | O_NONBLOCK);
	while (!atomic_load(&t->stop)) {
		struct pollfd p[2] = { { plain, POLLIN, 0 }, { tfd, POLLIN, 0 } };
		if (SSL_pending(ssl) == 0 && poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if ((p[1].revents || SSL_pending(ssl) > 0) &&
		    pump_from_tls(ssl, plain) != 0)
			break;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(plain, buf, sizeof(buf));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;
			if (n > 0 && ssl_write_all(ssl, tfd, buf, (size_t)n) != 0)
				break;
		}
	}
}

static void *
tunnel_worker(void *arg)
{
	struct job *job = arg;
	struct tunnel *t = job->t;
	int plain = job->plain, tfd = tcp_connect_local(t->tls_port);
	SSL *ssl = NULL;

	free(job);
	if (tfd < 0 || (ssl = tls_client_ssl_new(t->ctx, "127.0.0.1", NULL)) == NULL)
		goto done;
	SSL_set_fd(ssl, tfd);
	if (SSL_connect(ssl) != 1) {
		atomic_fetch_add(&t->failed, 1);
		goto done;
	}
	atomic_fetch_add(&t->ok, 1);
	relay(t, plain, ssl, tfd);
done:
	SSL_free(ssl);
	ERR_clear_error();
	if (tfd >= 0)
		close(tfd);
	close(plain);
	return NULL;
}

static void *
tunnel_acceptor(void *arg)
{
	struct tunnel *t = arg;

	while (!atomic_load(&t->stop)) {
		if (wait_fd(t->lfd, POLLIN) <= 0)
			continue;
		int fd = accept(t->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		struct job *job = malloc(sizeof(*job));
		pthread_mutex_lock(&t->mu);
		if (job == NULL || t->n_workers == TUNNEL_MAX_CONNS) {
			pthread_mutex_unlock(&t->mu);
			free(job);
			close(fd);
			continue;
		}
		job->t = t;
		job->plain = fd;
		if (pthread_create(&t->workers[t->n_workers], NULL,
		    tunnel_worker, job) == 0)
			t->n_workers++;
		else {
			free(job);
			close(fd);
		}
		pthread_mutex_unlock(&t->mu);
	}
	return NULL;
}

struct tunnel *
tunnel_start(int tls_port, const char *ca, const char *cert, const char *key)
{
	struct tunnel *t = calloc(1, sizeof(*t));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	cr_assert_not_null(t);
	t->tls_port = tls_port;
	t->ctx = client_ctx(ca, cert, key);
	pthread_mutex_init(&t->mu, NULL);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(t->lfd >= 0);
	cr_assert_eq(bind(t->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(t->lfd, 16), 0);
	cr_assert_eq(getsockname(t->lfd, (struct sockaddr *)&sin, &len), 0);
	t->port = ntohs(sin.sin_port);
	cr_assert_eq(pthread_create(&t->acceptor, NULL, tunnel_acceptor, t), 0);
	return t;
}

int
tunnel_port(const struct tunnel *t)
{
	return t->port;
}

int
tunnel_handshakes(const struct tunnel *t, int *failed)
{
	if (failed != NULL)
		*failed = atomic_load(&t->failed);
	return atomic_load(&t->ok);
}

void
tunnel_stop(struct tunnel **tp)
{
	struct tunnel *t = *tp;

	if (t == NULL)
		return;
	atomic_store(&t->stop, 1);
	pthread_join(t->acceptor, NULL);
	for (int i = 0; i < t->n_workers; i++)
		pthread_join(t->workers[i], NULL);
	close(t->lfd);
	SSL_CTX_free(t->ctx);
	pthread_mutex_destroy(&t->mu);
	free(t);
	*tp = NULL;
}

/* ---------------------------------------------------------------- raw TLS */

struct tls_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

struct tls_conn *
tls_conn_open(int port, const char *ca, const char *cert, const char *key)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	c->ctx = client_ctx(ca, cert, key);
	c->fd = tcp_connect_local(port);
	cr_assert(c->fd >= 0, "cannot connect to 127.0.0.1:%d", port);
	c->ssl = tls_client_ssl_new(c->ctx, "127.0.0.1", NULL);
	cr_assert_not_null(c->ssl);
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1) {
		ERR_clear_error();
		tls_conn_free(&c);
	}
	return c;
}

void
tls_conn_send(struct tls_conn *c, const void *data, size_t len)
{
	cr_assert_eq(SSL_write(c->ssl, data, (int)len), (int)len);
}

bool
tls_conn_closed(struct tls_conn *c, int timeout_ms, size_t *received)
{
	char buf[4096];
	size_t got = 0;
	bool closed = false;

	for (int waited = 0; waited < timeout_ms && !closed; ) {
		struct pollfd p = { c->fd, POLLIN, 0 };
		if (SSL_pending(c->ssl) == 0 && poll(&p, 1, 50) == 0) {
			waited += 50;
			continue;
		}
		int n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n > 0)
			got += (size_t)n;
		else
			closed = true;
	}
	ERR_clear_error();
	if (received != NULL)
		*received = got;
	return closed;
}

void
tls_conn_free(struct tls_conn **cp)
{
	struct tls_conn *c = *cp;

	if (c == NULL)
		return;
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	SSL_CTX_free(c->ctx);
	free(c);
	*cp = NULL;
}
