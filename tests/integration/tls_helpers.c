/*
 * tls_helpers.c — nara-pki runs, the library TLS tunnel and a raw TLS client
 * for the TLS front's integration tests.
 */
#include "tls_helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zmq.h>

#include "fixture.h"
#include "harness.h"
#include "pbstr.h"
#include "tls.h"
#include "tunnel.h"
#include "validate.h"
#include "wire.h"

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

struct nara_tunnel *
tls_tunnel_start(int tls_port, const char *server_name, const char *ca,
    const char *cert, const char *key)
{
	char broker[64];

	snprintf(broker, sizeof(broker), "127.0.0.1:%d", tls_port);
	return tls_tunnel_start_list(broker, server_name, ca, cert, key);
}

struct nara_tunnel *
tls_tunnel_start_list(const char *brokers, const char *server_name,
    const char *ca, const char *cert, const char *key)
{
	char dir[64];
	struct nara_err err = { 0 };
	struct tunnel_opts o = { 0 };
	struct nara_tunnel *t;

	snprintf(dir, sizeof(dir), "/tmp/nara-tun-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	o.broker = brokers;
	o.server_name = server_name;
	o.ca = ca;
	o.cert = cert;
	o.key = key;
	o.local_dir = dir;
	o.handshake_timeout = 5;
	t = tunnel_start(&o, &err);
	cr_assert_not_null(t, "tunnel_start: %s %s", nara_code_id(err.code),
	    err.text);
	return t;
}

void
tls_tunnel_stop(struct nara_tunnel **tp)
{
	char dir[160];
	char *slash;

	if (*tp == NULL)
		return;
	/* "ipc://DIR/tunnel.sock" -> DIR */
	snprintf(dir, sizeof(dir), "%s", tunnel_endpoint(*tp) + 6);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	tunnel_stop(tp);
	rmdir(dir);
}

void
tls_conf_runtime_dir(const struct harness *h)
{
	const char *mark = "@RUNTIME_DIR@";
	char *text = NULL, *p, *q;
	size_t len = 0;
	FILE *f = fopen(h->conf, "r");

	cr_assert_not_null(f, "%s", h->conf);
	cr_assert_geq(getdelim(&text, &len, '\0', f), 0);
	fclose(f);
	cr_assert_not_null(f = fopen(h->conf, "w"));
	for (p = text; (q = strstr(p, mark)) != NULL; p = q + strlen(mark)) {
		fwrite(p, 1, (size_t)(q - p), f);
		fputs(h->dir, f);
	}
	fputs(p, f);
	fclose(f);
	free(text);
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

void
tls_pki_make(char dir[64], const char *const *nodes)
{
	snprintf(dir, 64, "/tmp/nara-pki-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	pki_run(true, "init-ca %s", dir);
	pki_run(true, "broker %s narad --ip 127.0.0.1 --dns localhost", dir);
	for (size_t i = 0; nodes[i] != NULL; i++)
		pki_run(true, "node %s %s", dir, nodes[i]);
}

void
tls_wait_listening(int port, const char *log)
{
	for (int i = 0; i < 500; i++) {
		int fd = tcp_connect_local(port);
		if (fd >= 0) {
			close(fd);
			return;
		}
		usleep(10000);
	}
	cr_assert_fail("nothing listens on 127.0.0.1:%d; see %s", port,
	    log);
}

/* ---------------------------------------------------------------- clients */

/* A DEALER made by tunnel_dealer_open on the tunnel t, as a tclient. */
void
tls_tunnel_client(struct tclient *c, struct nara_tunnel *t, const char *node)
{
	struct nara_err err = { 0 };

	memset(c, 0, sizeof(*c));
	snprintf(c->node, sizeof(c->node), "%s", node);
	c->ctx = zmq_ctx_new();
	c->sock = tunnel_dealer_open(c->ctx, node, tunnel_endpoint(t), &err);
	cr_assert_not_null(c->sock, "tunnel_dealer_open: %s", err.text);
}

/* One try of tls_hello_welcomed: the hello goes out once a link is up
 * (ZMQ_IMMEDIATE refuses it before), then up to 500 ms for the welcome. */
struct hello_try {
	struct tclient *c;
	uint8_t buf[256];
	size_t len;
};

static bool
hello_answered(void *arg)
{
	struct hello_try *t = arg;
	Nara__Frame *w;

	if (zmq_send(t->c->sock, t->buf, t->len, ZMQ_DONTWAIT) != (int)t->len)
		return false;
	if ((w = tclient_expect(t->c, NARA__FRAME__KIND_WELCOME, 500)) == NULL)
		return false;
	frame_free(&w);
	return true;
}

/* Send hello without blocking (ZMQ_IMMEDIATE holds messages while no link
 * is up) and wait for the welcome, within timeout_ms in all. */
bool
tls_hello_welcomed(struct tclient *c, const char *node, int timeout_ms)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello hello = NARA__HELLO__INIT;
	struct hello_try t = { .c = c };

	hello.node_id = pb_str(node);
	hello.protocol_version = NARA_PROTOCOL_VERSION;
	hello.credit_window = 4;
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	t.len = nara__frame__pack(&f, t.buf);
	return harness_wait(hello_answered, &t, timeout_ms);
}

void
tls_tunnel_client_hello(struct tclient *c, struct nara_tunnel *t,
    const char *node)
{
	tls_tunnel_client(c, t, node);
	cr_assert(tls_hello_welcomed(c, node, 15000), "no welcome for %s "
	    "through the tunnel", node);
}
