/*
 * hostile_helpers.c — raw ZMTP-over-TLS clients, handshake floods and
 * health probes for itest_hostile.c; slowed or failing fsyncs (strace
 * attached to narad) for the suites that need a commit to take long or
 * to fail.
 */
#include "hostile_helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "nara.pb-c.h"
#include "pbstr.h"
#include "tls.h"
#include "validate.h"

#define ZBUF_MAX (256 * 1024)

struct zconn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	uint8_t buf[ZBUF_MAX];
	size_t len;
	bool closed;
};

/* A TCP socket from src (NULL = any loopback) connected to port. */
static int
connect_from(int port, const char *src, bool nonblock)
{
	struct sockaddr_in to = { .sin_family = AF_INET }, from = to;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons((uint16_t)port);
	if (src != NULL && (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0))
		goto fail;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0)
		goto fail;
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return -1;
}

struct zconn *
zconn_open(int port, const char *pki, const char *stem, const char *src)
{
	return zconn_open_cork(port, pki, stem, src, false);
}

struct zconn *
zconn_open_cork(int port, const char *pki, const char *stem, const char *src,
    bool cork)
{
	struct zconn *z = calloc(1, sizeof(*z));
	char ca[200], cert[200], key[200];

	cr_assert_not_null(z);
	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki, stem);
	snprintf(key, sizeof(key), "%s/%s.key", pki, stem);
	z->ctx = tls_client_ctx_new(ca, cert, key, "1.3", NULL);
	cr_assert_not_null(z->ctx);
	if ((z->fd = connect_from(port, src, false)) < 0)
		goto fail;
	z->ssl = tls_client_ssl_new(z->ctx, "127.0.0.1", NULL);
	cr_assert_not_null(z->ssl);
	SSL_set_fd(z->ssl, z->fd);
	if (cork)
		zconn_cork(z, true);
	if (SSL_connect(z->ssl) != 1)
		goto fail;
	return z;
fail:
	ERR_clear_error();
	zconn_free(&z);
	return NULL;
}

void
zconn_free(struct zconn **zp)
{
	struct zconn *z = *zp;

	if (z == NULL)
		return;
	SSL_free(z->ssl);
	if (z->fd >= 0)
		close(z->fd);
	SSL_CTX_free(z->ctx);
	free(z);
	*zp = NULL;
}

int
zconn_send_raw(struct zconn *z, const void *data, size_t len)
{
	int n;

	if (z->closed)
		return -1;
	n = SSL_write(z->ssl, data, (int)len);
	ERR_clear_error();
	if (n != (int)len) {
		z->closed = true;
		return -1;
	}
	return 0;
}

/* Read what arrives until deadline (ms, harness clock); -1 when closed. */
static int
zconn_read(struct zconn *z, int64_t deadline)
{
	struct pollfd p = { z->fd, POLLIN, 0 };
	int64_t left = deadline - harness_ms_now();
	int n;

	if (z->closed)
		return -1;
	if (SSL_pending(z->ssl) == 0 &&
	    poll(&p, 1, left > 0 ? (int)left : 0) <= 0)
		return 0;
	if (z->len == sizeof(z->buf))
		z->len = 0;                  /* nothing here keeps that much */
	n = SSL_read(z->ssl, z->buf + z->len, (int)(sizeof(z->buf) - z->len));
	ERR_clear_error();
	if (n <= 0) {
		z->closed = true;
		return -1;
	}
	z->len += (size_t)n;
	return n;
}

/* The next complete frame at the start of the buffer: its flags, body and
 * total length; false until it is all there. */
static bool
frame_at(const struct zconn *z, size_t off, uint8_t *flags, size_t *hdr,
    uint64_t *size)
{
	if (z->len < off + 2)
		return false;
	*flags = z->buf[off];
	*hdr = (*flags & 0x02) ? 9 : 2;
	if (z->len < off + *hdr)
		return false;
	*size = 0;
	for (size_t i = 1; i < *hdr; i++)
		*size = *size << 8 | z->buf[off + i];
	return *size <= sizeof(z->buf) && z->len >= off + *hdr + *size;
}

static void
consume(struct zconn *z, size_t n)
{
	memmove(z->buf, z->buf + n, z->len - n);
	z->len -= n;
}

/* A DEALER's greeting and READY with identity (< 200 bytes) into out
 * (512 bytes); returns the length. */
static size_t
client_opening(uint8_t *out, const char *identity)
{
	static const uint8_t sig[12] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F,
	    3, 1 };
	size_t n = 64, id_len = strlen(identity);

	cr_assert_lt(id_len, 200);
	memset(out, 0, 64);
	memcpy(out, sig, sizeof(sig));
	memcpy(out + 12, "NULL", 4);
	out[n++] = 0x04;
	out[n++] = (uint8_t)(6 + 1 + 11 + 4 + 6 + 1 + 8 + 4 + id_len);
	memcpy(out + n, "\x05READY\x0bSocket-Type\0\0\0\x06" "DEALER"
	    "\x08Identity\0\0\0", 6 + 1 + 11 + 4 + 6 + 1 + 8 + 3);
	n += 6 + 1 + 11 + 4 + 6 + 1 + 8 + 3;
	out[n++] = (uint8_t)id_len;
	memcpy(out + n, identity, id_len);
	return n + id_len;
}

/* Encrypt each of the n parts of data (cut at cuts[0..n-2]) as its own
 * TLS record and send the records' bytes chunk bytes per write (0 = all
 * in one write). */
static int
send_records(struct zconn *z, const uint8_t *data, size_t len,
    const size_t *cuts, size_t n, size_t chunk)
{
	BIO *mem = BIO_new(BIO_s_mem()), *sock = SSL_get_rbio(z->ssl);
	size_t from = 0, to, wire_len, at = 0, step;
	char *wire;
	int rc = 0, yes = 1;

	cr_assert_not_null(mem);
	/* Each write its own segment, not held back to be merged. */
	setsockopt(z->fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
	BIO_up_ref(sock);
	SSL_set0_wbio(z->ssl, mem);          /* records go to memory */
	for (size_t i = 0; i < n; i++, from = to) {
		to = i + 1 < n ? cuts[i] : len;
		cr_assert_eq(SSL_write(z->ssl, data + from, (int)(to - from)),
		    (int)(to - from));
	}
	wire_len = (size_t)BIO_get_mem_data(mem, &wire);
	for (; rc == 0 && at < wire_len; at += step) {
		step = chunk == 0 || wire_len - at < chunk ? wire_len - at : chunk;
		if (write(z->fd, wire + at, step) != (ssize_t)step)
			rc = -1;
	}
	SSL_set0_wbio(z->ssl, sock);         /* frees mem */
	return rc;
}

int
zconn_handshake_cut(struct zconn *z, const char *identity,
    const size_t *cuts, size_t n, size_t chunk, int timeout_ms)
{
	uint8_t out[512];
	size_t len = client_opening(out, identity);

	if (send_records(z, out, len, cuts, n, chunk) != 0)
		return -1;
	return zconn_handshake_wait(z, timeout_ms);
}

int
zconn_handshake(struct zconn *z, const char *identity, int timeout_ms)
{
	if (zconn_opening(z, identity) != 0)
		return -1;
	return zconn_handshake_wait(z, timeout_ms);
}

int
zconn_opening(struct zconn *z, const char *identity)
{
	uint8_t out[512];

	return zconn_send_raw(z, out, client_opening(out, identity));
}

int
zconn_handshake_wait(struct zconn *z, int timeout_ms)
{
	int64_t deadline = harness_ms_now() + timeout_ms;
	uint8_t flags;
	size_t hdr;
	uint64_t size;

	while (!(z->len >= 64 && frame_at(z, 64, &flags, &hdr, &size))) {
		if (harness_ms_now() >= deadline || zconn_read(z, deadline) < 0)
			return -1;
	}
	consume(z, 64 + hdr + (size_t)size);
	return 0;
}

int
zconn_send(struct zconn *z, const void *data, size_t len)
{
	uint8_t hdr[9];
	size_t h;

	if (len < 256) {
		hdr[0] = 0x00;
		hdr[1] = (uint8_t)len;
		h = 2;
	} else {
		hdr[0] = 0x02;
		for (int i = 0; i < 8; i++)
			hdr[1 + i] = (uint8_t)((uint64_t)len >> (8 * (7 - i)));
		h = 9;
	}
	if (zconn_send_raw(z, hdr, h) != 0)
		return -1;
	return zconn_send_raw(z, data, len);
}

int
zconn_hello_nowait(struct zconn *z, const char *node)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello hello = NARA__HELLO__INIT;
	uint8_t buf[512];
	size_t len;

	hello.node_id = pb_str(node);
	hello.protocol_version = NARA_PROTOCOL_VERSION;
	hello.credit_window = 4;
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	len = nara__frame__get_packed_size(&f);
	cr_assert_lt(len, sizeof(buf));
	nara__frame__pack(&f, buf);
	return zconn_send(z, buf, len);
}

int
zconn_hello(struct zconn *z, const char *node, int timeout_ms)
{
	if (zconn_hello_nowait(z, node) != 0)
		return -1;
	return zconn_welcome(z, timeout_ms);
}

int
zconn_welcome(struct zconn *z, int timeout_ms)
{
	int64_t deadline = harness_ms_now() + timeout_ms;
	Nara__Frame *f;
	uint8_t flags;
	size_t hdr;
	uint64_t size;
	bool welcome;

	for (;;) {
		while (frame_at(z, 0, &flags, &hdr, &size)) {
			welcome = false;
			if (!(flags & 0x04) && (f = nara__frame__unpack(NULL,
			    (size_t)size, z->buf + hdr)) != NULL) {
				welcome = f->kind_case ==
				    NARA__FRAME__KIND_WELCOME;
				nara__frame__free_unpacked(f, NULL);
			}
			consume(z, hdr + (size_t)size);
			if (welcome)
				return 0;
		}
		if (harness_ms_now() >= deadline || zconn_read(z, deadline) < 0)
			return -1;
	}
}

void
zconn_cork(struct zconn *z, bool on)
{
	int v = on;

	cr_assert_eq(setsockopt(z->fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)),
	    0);
}

int
zconn_next(struct zconn *z, int timeout_ms, uint8_t *flags, uint8_t *body,
    size_t cap, size_t *len)
{
	int64_t deadline = harness_ms_now() + timeout_ms;
	size_t hdr;
	uint64_t size;

	while (!frame_at(z, 0, flags, &hdr, &size))
		if (harness_ms_now() >= deadline || zconn_read(z, deadline) < 0)
			return -1;
	*len = (size_t)size;
	memcpy(body, z->buf + hdr, *len < cap ? *len : cap);
	consume(z, hdr + (size_t)size);
	return 0;
}

bool
zconn_closed(struct zconn *z, int timeout_ms)
{
	int64_t deadline = harness_ms_now() + timeout_ms;

	while (harness_ms_now() < deadline) {
		if (zconn_read(z, deadline) < 0)
			return true;
		z->len = 0;
	}
	return z->closed;
}

int
flood_connect(int port, const char *src, bool half_tls)
{
	static SSL_CTX *ctx;
	int fd = connect_from(port, src, true);
	SSL *ssl;

	if (fd < 0 || !half_tls)
		return fd;
	if (ctx == NULL)
		ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(ctx);
	/* One ClientHello goes out; the handshake is never continued. */
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_connect(ssl);
	ERR_clear_error();
	SSL_set_quiet_shutdown(ssl, 1);
	SSL_free(ssl);                      /* the fd stays open */
	return fd;
}

static bool
process_traced(pid_t pid)
{
	char path[64], line[256];
	long tracer = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
			break;
	fclose(f);
	return tracer != 0;
}

struct trace_want {
	pid_t pid;
	bool want;
};

static bool
trace_is(void *arg)
{
	struct trace_want *t = arg;

	return process_traced(t->pid) == t->want;
}

bool
process_wait_traced(pid_t pid, bool want, int timeout_ms)
{
	struct trace_want t = { pid, want };

	return harness_wait(trace_is, &t, timeout_ms);
}

pid_t
fsync_inject(pid_t pid, const char *inject)
{
	char target[16], rule[128];
	pid_t tracer;

	snprintf(target, sizeof(target), "%d", (int)pid);
	snprintf(rule, sizeof(rule), "inject=fsync,fdatasync:%s", inject);
	tracer = fork();
	cr_assert(tracer >= 0);
	if (tracer == 0) {
		execlp("strace", "strace", "-f", "-qq", "-o", "/dev/null",
		    "-e", "trace=fsync,fdatasync", "-e", rule, "-p", target,
		    (char *)NULL);
		_exit(127);
	}
	cr_assert(process_wait_traced(pid, true, 10000), "strace did not "
	    "attach to %d", (int)pid);
	return tracer;
}

void
fsync_inject_end(pid_t tracer, pid_t pid)
{
	int status;

	cr_assert_eq(kill(tracer, SIGTERM), 0);
	cr_assert_eq(waitpid(tracer, &status, 0), tracer);
	cr_assert(process_wait_traced(pid, false, 10000), "%d still traced",
	    (int)pid);
}

bool
narad_alive(struct harness *h)
{
	int status;

	if (h->pid <= 0)
		return false;
	if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
		cr_log_error("narad exited: status %d (signal %d)", status,
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		h->pid = -1;
		return false;
	}
	return kill(h->pid, 0) == 0;
}

long
narad_status_kib(const struct harness *h, const char *field)
{
	char path[64], line[256], name[32];
	long kib;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)h->pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%31[^:]: %ld kB", name, &kib) == 2 &&
		    strcmp(name, field) == 0) {
			fclose(f);
			return kib;
		}
	}
	fclose(f);
	return -1;
}

long
narad_rss_kib(const struct harness *h)
{
	return narad_status_kib(h, "VmRSS");
}

int
ipc_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(sun.sun_path))
		goto fail;
	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		goto fail;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int
zmtp_plain_handshake(int fd, const char *identity, int timeout_ms)
{
	uint8_t out[512], in[512];
	size_t n = client_opening(out, identity), have = 0;
	int64_t deadline = harness_ms_now() + timeout_ms;
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t got;

	if (write(fd, out, n) != (ssize_t)n)
		return -1;
	/* The broker's greeting and a short READY command. */
	while (have < 66 || have < 66 + (size_t)in[65]) {
		if (harness_ms_now() >= deadline || poll(&p, 1, 50) < 0)
			return -1;
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		if ((got = read(fd, in + have, sizeof(in) - have)) <= 0)
			return -1;
		have += (size_t)got;
	}
	return 0;
}

bool
fd_closed(int fd, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[4096];

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	return read(fd, buf, sizeof(buf)) <= 0;
}
