/*
 * bench_idle.c — what an idle node costs narad: memory, file descriptors
 * and threads with N nodes connected through the TLS front and doing
 * nothing but heartbeats.
 *
 * A fresh directory gets a nara-pki CA, the broker certificate and one
 * certificate per node, a nara.conf listing every node (ipc ROUTER inside
 * the 0700 [tls] runtime_dir) and a narad. The bench measures narad from
 * /proc (smaps_rollup Rss/Pss/Anonymous, status VmRSS, fd and thread
 * counts) with no node connected, then connects every node: a blocking
 * TLS 1.3 client per node with its own certificate that sends the ZMTP
 * greeting, READY (DEALER, Identity = node id) and a Hello, and waits for
 * the Welcome. The nodes stay idle (a ZMTP PING every few seconds answers
 * the broker's heartbeat timeout) for -i seconds and narad is measured
 * again; the difference divided by N is the cost of one idle connection.
 * The client side lives in this process and is not part of what is
 * measured.
 *
 * usage: bench_idle [-n NODES] [-i IDLE_SECONDS] [-b NARAD] [-k] [-r DIR]
 * -k keeps the directory; -r DIR reuses the certificates of such a kept
 * directory (DIR/pki, made for at least NODES nodes) instead of making new
 * ones, for repeated measurements.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench_common.h"
#include "pbstr.h"
#include "tls.h"
#include "validate.h"

#define MAX_NODES 8999           /* node ids kommun-1000 ... kommun-9998 */
#define PING_EVERY_MS 4000       /* below narad's 15 s heartbeat timeout */
#define TARGET_KIB 50            /* the goal per idle connection */

struct opts {
	int nodes;
	int idle;
	const char *narad;
	bool keep;
	const char *reuse;               /* directory of an earlier -k run */
};

struct mem {
	long rss, pss, anon, vmrss;   /* KiB */
	int fds, threads;
};

struct client {
	SSL *ssl;
	int fd;
};

static struct opts o = { 1000, 5, "build/bin/narad", false, NULL };
static char dir[256];
static int tls_port;
static pid_t narad_pid;

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_idle: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (narad_pid > 0)
		kill(narad_pid, SIGKILL);
	exit(1);
}

static int64_t
ms_now(void)
{
	return bench_now_ns() / 1000000;
}

static void
node_name(int i, char *out, size_t len)
{
	snprintf(out, len, "kommun-%04d", 1000 + i);
}

/* Both this process (one socket per node) and narad (a TLS socket, a relay
 * socket and the ROUTER's end of it per node) need several descriptors per
 * node; narad inherits the limit. */
static void
raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)o.nodes * 4 + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ?
	    want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		die("open files limit %llu, need %llu: raise the hard limit "
		    "(ulimit -Hn)", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)want);
}

/* ---------------------------------------------------------------- setup */

/* nara-pki next to narad: a CA, the broker, one certificate per node, in
 * one shell loop (one nara-pki run per node). */
static void
make_pki(void)
{
	char narad[400], cmd[1200];
	int64_t t0 = ms_now();

	if (o.reuse != NULL) {
		snprintf(cmd, sizeof(cmd), "cp -a '%s/pki' '%s/pki' && test -f "
		    "'%s/pki/kommun-%04d.pem'", o.reuse, dir, dir, 1000 + o.nodes - 1);
		if (system(cmd) != 0)
			die("%s/pki has no certificates for %d nodes", o.reuse,
			    o.nodes);
		return;
	}
	snprintf(narad, sizeof(narad), "%s", o.narad);
	snprintf(cmd, sizeof(cmd), "set -e; p=%s/nara-pki; d=%s/pki; "
	    "$p init-ca $d >/dev/null; $p broker $d narad --ip 127.0.0.1 "
	    ">/dev/null; i=0; while [ $i -lt %d ]; do "
	    "$p node $d kommun-$((1000 + i)) >/dev/null; i=$((i + 1)); done",
	    dirname(narad), dir, o.nodes);
	if (system(cmd) != 0)
		die("nara-pki failed (is it built next to narad?)");
	printf("certificates: CA, broker and %d nodes in %.1f s "
	    "(one nara-pki run per node)\n", o.nodes,
	    (double)(ms_now() - t0) / 1000);
}

static void
write_config(void)
{
	char path[400], node[32], router[320];
	FILE *f;

	if (bench_write_pseudonym_key(dir) != 0)
		die("cannot write the pseudonym key");
	snprintf(path, sizeof(path), "%s/nara.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		die("cannot write the config");
	snprintf(router, sizeof(router), "ipc://%s/router.sock", dir);
	bench_write_broker_conf(f, &(struct bench_conf){ .router = router,
	    .run_dir = dir, .key_dir = dir, .log_level =
	    getenv("NARA_BENCH_DEBUG") ? "debug" : "warning",
	    .tls_port = tls_port, .max_connections = o.nodes + 16 });
	for (int i = 0; i < o.nodes; i++) {
		node_name(i, node, sizeof(node));
		fprintf(f, "[node %s]\nname = node %d\naddresses = "
		    "kommun:%d:elevhalsa\n\n", node, i, 1000 + i);
	}
	fprintf(f, "[node SE2321000131-E000000000101]\nname = BUP\nkind = region\n"
	    "addresses = SE2321000131-E000000000101\n\n[rule bench]\n"
	    "senders = kommun:*:elevhalsa\nrecipients = SE2321000131-*\n"
	    "types = referral\n");
	fclose(f);
}

static bool
port_open(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)tls_port);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void
start_narad(void)
{
	char conf[400], log[400];

	snprintf(conf, sizeof(conf), "%s/nara.conf", dir);
	snprintf(log, sizeof(log), "%s/narad.log", dir);
	if ((narad_pid = fork()) == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		execl(o.narad, "narad", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 6000 && !port_open(); i++) {
		if (waitpid(narad_pid, NULL, WNOHANG) == narad_pid) {
			narad_pid = 0;
			die("narad exited at start; see %s", log);
		}
		usleep(10000);
	}
	if (!port_open())
		die("narad does not listen on 127.0.0.1:%d; see %s", tls_port, log);
}

/* ---------------------------------------------------------------- /proc */

static long
field_kib(const char *path, const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int
count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
mem_read(pid_t pid, struct mem *m)
{
	char rollup[64], status[64];

	snprintf(rollup, sizeof(rollup), "/proc/%d/smaps_rollup", (int)pid);
	snprintf(status, sizeof(status), "/proc/%d/status", (int)pid);
	m->rss = field_kib(rollup, "Rss");
	m->pss = field_kib(rollup, "Pss");
	m->anon = field_kib(rollup, "Anonymous");
	m->vmrss = field_kib(status, "VmRSS");
	m->threads = (int)field_kib(status, "Threads");
	m->fds = count_fds(pid);
	if (m->rss < 0 || m->vmrss < 0)
		die("cannot read %s or %s", rollup, status);
}

static void
mem_print(const char *what, const struct mem *m)
{
	printf("%-22s Rss %7ld KiB  Pss %7ld KiB  Anonymous %7ld KiB  "
	    "VmRSS %7ld KiB  fds %5d  threads %d\n", what, m->rss, m->pss,
	    m->anon, m->vmrss, m->fds, m->threads);
}

/* ---------------------------------------------------------------- ZMTP */

/* The 64-byte ZMTP 3.0 greeting: signature, version 3.0, NULL, client. */
static size_t
zmtp_greeting(uint8_t *out)
{
	memset(out, 0, 64);
	out[0] = 0xff;
	out[9] = 0x7f;
	out[10] = 3;
	memcpy(out + 12, "NULL", 4);
	return 64;
}

static size_t
zmtp_property(uint8_t *out, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);

	out[0] = (uint8_t)n;
	memcpy(out + 1, name, n);
	out[1 + n] = out[2 + n] = out[3 + n] = 0;
	out[4 + n] = (uint8_t)v;
	memcpy(out + 5 + n, value, v);
	return 5 + n + v;
}

/* READY with Socket-Type DEALER and Identity node (short command frame). */
static size_t
zmtp_ready(uint8_t *out, const char *node)
{
	size_t len = 0;
	uint8_t body[200];

	memcpy(body, "\x05READY", 6);
	len = 6;
	len += zmtp_property(body + len, "Socket-Type", "DEALER");
	len += zmtp_property(body + len, "Identity", node);
	out[0] = 0x04;
	out[1] = (uint8_t)len;
	memcpy(out + 2, body, len);
	return len + 2;
}

/* One short (< 256 bytes) message frame. */
static size_t
zmtp_message(uint8_t *out, const uint8_t *data, size_t len)
{
	out[0] = 0x00;
	out[1] = (uint8_t)len;
	memcpy(out + 2, data, len);
	return len + 2;
}

static size_t
hello_frame(uint8_t *out, const char *node)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello h = NARA__HELLO__INIT;
	uint8_t buf[200];
	size_t len;

	h.node_id = pb_str(node);
	h.protocol_version = NARA_PROTOCOL_VERSION;
	h.credit_window = 64;
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &h;
	if (nara__frame__get_packed_size(&f) > sizeof(buf))
		die("hello too large");
	len = nara__frame__pack(&f, buf);
	return zmtp_message(out, buf, len);
}

/* The broker's side after its greeting: *ready is set on its READY
 * command, *welcome on the first message, which must be a Welcome. */
static void
parse_frames(const uint8_t *p, size_t len, bool *ready, bool *welcome,
    const char *node)
{
	size_t at = 0;

	while (at + 2 <= len) {
		uint8_t flags = p[at];
		size_t hdr = (flags & 0x02) ? 9 : 2, size = 0;
		if (at + hdr > len)
			break;
		if (flags & 0x02)
			for (int i = 0; i < 8; i++)
				size = size << 8 | p[at + 1 + i];
		else
			size = p[at + 1];
		if (size > (1 << 20))
			die("%s: ZMTP frame of %zu bytes from narad", node, size);
		if (at + hdr + size > len)
			break;
		if ((flags & 0x04) && size >= 6 &&
		    memcmp(p + at + hdr, "\x05READY", 6) == 0)
			*ready = true;
		if (!(flags & 0x04)) {
			Nara__Frame *f = frame_decode(p + at + hdr, size, 1 << 20,
			    NULL);
			if (f == NULL || f->kind_case != NARA__FRAME__KIND_WELCOME)
				die("%s: first message from narad is not a Welcome",
				    node);
			frame_free(&f);
			*welcome = true;
		}
		at += hdr + size;
	}
}

/* ---------------------------------------------------------------- nodes */

static int
connect_tls_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)tls_port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		die("connect 127.0.0.1:%d: %s", tls_port, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Node i: TLS with its certificate, greeting + READY, then (after the
 * broker's READY: libzmq drops a peer whose messages arrive while its
 * handshake is still being authorised) Hello, and the Welcome. */
static void
client_open(struct client *c, int i)
{
	char node[32], ca[400], cert[400], key[400];
	struct nara_err err = { 0 };
	uint8_t out[512], in[4096];
	size_t len, got = 0;
	bool ready = false, welcome = false, hello_sent = false;
	SSL_CTX *ctx;

	node_name(i, node, sizeof(node));
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/pki/%s.pem", dir, node);
	snprintf(key, sizeof(key), "%s/pki/%s.key", dir, node);
	if ((ctx = tls_client_ctx_new(ca, cert, key, "1.3", &err)) == NULL ||
	    (c->ssl = tls_client_ssl_new(ctx, "127.0.0.1", &err)) == NULL)
		die("%s: %s", node, err.text);
	SSL_CTX_free(ctx);               /* the SSL holds its own reference */
	c->fd = connect_tls_port();
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1)
		die("%s: TLS handshake failed", node);
	len = zmtp_greeting(out);
	len += zmtp_ready(out + len, node);
	if (SSL_write(c->ssl, out, (int)len) != (int)len)
		die("%s: TLS write failed", node);
	while (!welcome) {
		int n = SSL_read(c->ssl, in + got, (int)(sizeof(in) - got));
		if (n <= 0)
			die("%s: narad closed the connection before Welcome (see "
			    "%s/narad.log)", node, dir);
		got += (size_t)n;
		if (got > 64)
			parse_frames(in + 64, got - 64, &ready, &welcome, node);
		if (ready && !hello_sent) {
			len = hello_frame(out, node);
			if (SSL_write(c->ssl, out, (int)len) != (int)len)
				die("%s: TLS write failed", node);
			hello_sent = true;
		}
		if (!welcome && got == sizeof(in))
			die("%s: no Welcome in %zu bytes", node, got);
	}
}

/* A ZMTP PING with no TTL: any frame from the node resets narad's
 * heartbeat timeout, and narad answers with a PONG that is read away. */
static void
keepalive(struct client *cl, int n, int ms)
{
	static const uint8_t ping[] = { 0x04, 0x07, 0x04, 'P', 'I', 'N', 'G',
	    0x00, 0x00 };
	int64_t until = ms_now() + ms, next_ping = 0;
	uint8_t buf[4096];

	while (ms_now() < until) {
		bool send_ping = ms_now() >= next_ping;
		for (int i = 0; i < n; i++) {
			if (send_ping && SSL_write(cl[i].ssl, ping, sizeof(ping)) <= 0)
				die("node %d: connection lost", i);
			while (SSL_read(cl[i].ssl, buf, sizeof(buf)) > 0)
				;
			ERR_clear_error();
		}
		if (send_ping)
			next_ping = ms_now() + PING_EVERY_MS;
		usleep(200000);
	}
}

static void
clients_nonblocking(struct client *cl, int n)
{
	for (int i = 0; i < n; i++)
		fcntl(cl[i].fd, F_SETFL, fcntl(cl[i].fd, F_GETFL) | O_NONBLOCK);
}

static void
clients_close(struct client *cl, int n)
{
	for (int i = 0; i < n; i++) {
		SSL_free(cl[i].ssl);
		close(cl[i].fd);
	}
}

/* ---------------------------------------------------------------- main */

static void
report(const struct mem *idle, const struct mem *busy, const struct mem *after)
{
	double per_rss = (double)(busy->rss - idle->rss) / o.nodes;
	double per_pss = (double)(busy->pss - idle->pss) / o.nodes;
	double per_anon = (double)(busy->anon - idle->anon) / o.nodes;

	mem_print("0 nodes connected", idle);
	mem_print("all nodes connected", busy);
	mem_print("all disconnected", after);
	printf("per idle connection: Rss %.1f KiB, Pss %.1f KiB, Anonymous "
	    "%.1f KiB (target <= %d KiB: %s); fds %.2f\n", per_rss, per_pss,
	    per_anon, TARGET_KIB, per_rss <= TARGET_KIB ? "met" : "MISSED",
	    (double)(busy->fds - idle->fds) / o.nodes);
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: bench_idle [-n NODES 1-%d] [-i IDLE_SECONDS] "
	    "[-b NARAD] [-k] [-r DIR]\n  -k keeps the directory (certificates, "
	    "config, narad.log)\n  -r DIR reuses the certificates of a kept "
	    "directory\n", MAX_NODES);
}

static void
parse_args(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "n:i:b:kr:h")) != -1) {
		switch (ch) {
		case 'n': o.nodes = atoi(optarg); break;
		case 'i': o.idle = atoi(optarg); break;
		case 'b': o.narad = optarg; break;
		case 'k': o.keep = true; break;
		case 'r': o.reuse = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (o.nodes < 1 || o.nodes > MAX_NODES || o.idle < 1) {
		usage(stderr);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	struct mem idle, busy, after;
	struct client *cl;
	int64_t t0;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	raise_nofile();
	snprintf(dir, sizeof(dir), "/tmp/nara-idle-XXXXXX");
	if (mkdtemp(dir) == NULL || (cl = calloc((size_t)o.nodes,
	    sizeof(*cl))) == NULL)
		die("cannot make a directory: %s", strerror(errno));
	make_pki();
	tls_port = bench_free_port();
	write_config();
	start_narad();
	sleep(2);
	mem_read(narad_pid, &idle);

	t0 = ms_now();
	for (int i = 0; i < o.nodes; i++)
		client_open(&cl[i], i);
	printf("%d nodes connected (TLS 1.3 + ZMTP + Hello/Welcome) in %.1f s\n",
	    o.nodes, (double)(ms_now() - t0) / 1000);
	clients_nonblocking(cl, o.nodes);
	keepalive(cl, o.nodes, o.idle * 1000);
	mem_read(narad_pid, &busy);
	/* a wrapper (valgrind, heaptrack, a shell) would be measured instead */
	if (busy.fds - idle.fds < o.nodes)
		die("pid %d holds %d more descriptors with %d nodes connected: it "
		    "is not the process serving them (pass narad itself with -b)",
		    (int)narad_pid, busy.fds - idle.fds, o.nodes);
	clients_close(cl, o.nodes);
	sleep(3);
	mem_read(narad_pid, &after);
	report(&idle, &busy, &after);

	kill(narad_pid, SIGTERM);
	waitpid(narad_pid, NULL, 0);
	if (!o.keep) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_idle: could not remove %s\n", dir);
	} else {
		printf("kept %s\n", dir);
	}
	free(cl);
	return 0;
}
