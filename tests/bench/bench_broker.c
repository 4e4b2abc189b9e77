/*
 * bench_broker.c — end-to-end benchmark of narad, once over plain ipc and
 * once through the TLS front: P producer nodes submit referrals in a closed
 * loop with a window of W unanswered submits; one regional node receives
 * and acks every delivery. For each path it prints the submit rate (until
 * the last Accepted), the deliver+ack rate (until the last delivery), and
 * the latency of submit → Accepted (which includes the group commit and its
 * fsync) and of submit → delivery at the recipient.
 *
 * The TLS run gives every node its own certificate (made with nara-pki next
 * to narad) and its own client tunnel (tunnel.h), exactly as nara-adapter
 * does; the DEALERs of both runs are made by tunnel_dealer_open.
 *
 * usage: bench_broker [-n MESSAGES] [-p PRODUCERS] [-w WINDOW] [-s full|normal]
 *                     [-m ipc|tls|both] [-r RATE] [-b NARAD]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <zmq.h>

#include "fixture.h"
#include "pbstr.h"
#include "tunnel.h"
#include "validate.h"

#define MAX_PRODUCERS 8
#define RECIPIENT "SE2321000131-E000000000101"

static const char *producer_codes[MAX_PRODUCERS] = {
	"1480", "1490", "1401", "1402", "1407", "1415", "1419", "1421",
};

struct opts {
	long messages;
	int producers;
	int window;
	const char *sync;
	const char *mode;
	const char *narad;
	long rate;                       /* msg/s over all producers; 0 = max */
};

/* One run: a fresh directory, store and narad. */
struct run {
	bool tls;
	char dir[256], router[320];
	int tls_port;
	struct nara_tunnel *tunnels[MAX_PRODUCERS + 1];  /* last: recipient */
	pid_t pid;
};

static struct opts o = { 200000, 4, 256, "full", "both", "build/bin/narad", 0 };
static int64_t *submit_ns;        /* per message index: send time */
static int64_t *accept_lat, *deliver_lat;
static atomic_long n_accepted, n_delivered;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_broker: %s\n", what);
	exit(1);
}

static void
node_name(int i, char *out, size_t len)
{
	if (i == o.producers)
		snprintf(out, len, "%s", RECIPIENT);
	else
		snprintf(out, len, "kommun-%s", producer_codes[i]);
}

/* ---------------------------------------------------------------- setup */

static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* nara-pki from the directory of narad: a CA, the broker, every node. */
static void
make_pki(struct run *r)
{
	char narad[400], cmd[1200], node[64];

	snprintf(narad, sizeof(narad), "%s", o.narad);
	snprintf(cmd, sizeof(cmd), "set -e; p=%s/nara-pki; d=%s/pki; "
	    "$p init-ca $d >/dev/null; $p broker $d narad --ip 127.0.0.1 "
	    ">/dev/null", dirname(narad), r->dir);
	for (int i = 0; i <= o.producers; i++) {
		node_name(i, node, sizeof(node));
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd),
		    "; $p node $d %s >/dev/null", node);
	}
	if (system(cmd) != 0)
		die("nara-pki failed (is it built next to narad?)");
}

static void
write_config(struct run *r)
{
	char path[400];
	unsigned char key[32];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/pseudonym.key", r->dir);
	RAND_bytes(key, sizeof(key));
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || write(fd, key, sizeof(key)) != sizeof(key))
		die("cannot write the pseudonym key");
	close(fd);
	snprintf(path, sizeof(path), "%s/nara.conf", r->dir);
	if ((f = fopen(path, "w")) == NULL)
		die("cannot write the config");
	fprintf(f, "[broker]\nrouter = %s\nstore = %s/nara.db\n"
	    "pseudonym_key = %s/pseudonym.key\nhttp_listen =\n"
	    "control = ipc://%s/control.sock\nsynchronous = %s\n"
	    "log_level = warning\nmax_credit = 10000\n\n",
	    r->router, r->dir, r->dir, r->dir, o.sync);
	if (r->tls)
		fprintf(f, "[tls]\nlisten = 127.0.0.1:%d\ncert = %s/pki/narad.pem\n"
		    "key = %s/pki/narad.key\nca = %s/pki/ca.pem\n"
		    "runtime_dir = %s\nmax_connections = 64\n\n", r->tls_port,
		    r->dir, r->dir, r->dir, r->dir);
	for (int i = 0; i < o.producers; i++)
		fprintf(f, "[node kommun-%s]\nname = producer %d\naddresses = "
		    "kommun:%s:elevhalsa\n\n", producer_codes[i], i,
		    producer_codes[i]);
	fprintf(f, "[node %s]\nname = BUP\nkind = region\naddresses = %s\n\n"
	    "[rule bench]\nsenders = kommun:*:elevhalsa\nrecipients = "
	    "SE2321000131-*\ntypes = referral\n", RECIPIENT, RECIPIENT);
	fclose(f);
}

static void
start_narad(struct run *r)
{
	char conf[400], sock[400];
	struct stat st;

	snprintf(conf, sizeof(conf), "%s/nara.conf", r->dir);
	snprintf(sock, sizeof(sock), "%s/router.sock", r->dir);
	if ((r->pid = fork()) == 0) {
		execl(o.narad, "narad", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && stat(sock, &st) != 0; i++)
		usleep(10000);
	if (stat(sock, &st) != 0)
		die("narad did not start");
	usleep(100000);                  /* the TLS listener comes after */
}

/* One tunnel per node, each presenting that node's certificate. */
static void
start_tunnels(struct run *r)
{
	char broker[64], ca[400], cert[400], key[400], node[64], local[400];
	struct nara_err err = { 0 };

	snprintf(broker, sizeof(broker), "127.0.0.1:%d", r->tls_port);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", r->dir);
	for (int i = 0; i <= o.producers; i++) {
		struct tunnel_opts t = { .broker = broker, .ca = ca,
		    .cert = cert, .key = key, .local_dir = local };
		node_name(i, node, sizeof(node));
		snprintf(cert, sizeof(cert), "%s/pki/%s.pem", r->dir, node);
		snprintf(key, sizeof(key), "%s/pki/%s.key", r->dir, node);
		snprintf(local, sizeof(local), "%s/tun-%d", r->dir, i);
		if ((r->tunnels[i] = tunnel_start(&t, &err)) == NULL) {
			fprintf(stderr, "tunnel for %s: %s\n", node, err.text);
			exit(1);
		}
	}
}

static const char *
endpoint_of(const struct run *r, int i)
{
	return r->tls ? tunnel_endpoint(r->tunnels[i]) : r->router;
}

/* ---------------------------------------------------------------- nodes */

static void *
dealer(void *ctx, const char *node, const char *endpoint)
{
	struct nara_err err = { 0 };
	void *s = tunnel_dealer_open(ctx, node, endpoint, &err);
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello h = NARA__HELLO__INIT;
	uint8_t buf[256];
	size_t len;

	if (s == NULL)
		die(err.text);
	h.node_id = pb_str(node);
	h.protocol_version = NARA_PROTOCOL_VERSION;
	h.credit_window = 1000;
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &h;
	len = nara__frame__pack(&f, buf);
	zmq_send(s, buf, len, 0);
	zmq_recv(s, buf, sizeof(buf), 0);   /* welcome */
	return s;
}

/* The message index is encoded in the last 12 hex digits of the id. */
static long
index_of(const char *id)
{
	return strtol(id + 24, NULL, 16);
}

struct producer {
	void *ctx;
	const char *endpoint;
	int n;
	long first, count;
};

static void
producer_submit(void *s, struct fixture *fx, const char *sender, long idx)
{
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    sender, RECIPIENT);
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit sub = NARA__SUBMIT__INIT;
	char id[37];
	uint8_t *data;
	size_t len;

	memcpy(id, e->message_id, 24);
	snprintf(id + 24, 13, "%012lx", idx);
	e->message_id = id;
	sub.envelope = e;
	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	data = frame_encode(&f, &len);
	submit_ns[idx] = now_ns();
	zmq_send(s, data, len, 0);
	free(data);
}

/* One answer from the broker; returns 1 for an Accepted. */
static int
producer_answer(void *s)
{
	zmq_msg_t m;
	Nara__Frame *r;
	int accepted = 0;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, s, 0) < 0) {
		zmq_msg_close(&m);
		return 0;
	}
	r = frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), 1 << 20, NULL);
	zmq_msg_close(&m);
	if (r != NULL && r->kind_case == NARA__FRAME__KIND_ACCEPTED) {
		long idx = index_of(r->accepted->message_id);
		accept_lat[atomic_fetch_add(&n_accepted, 1)] =
		    now_ns() - submit_ns[idx];
		accepted = 1;
	} else if (r != NULL && r->kind_case == NARA__FRAME__KIND_REJECTED) {
		fprintf(stderr, "rejected: %s %s\n", r->rejected->code,
		    r->rejected->text);
		exit(1);
	}
	frame_free(&r);
	return accepted;
}

/* Submit in a closed loop (at most o.window unanswered), paced to
 * o.rate / o.producers per second when -r is given. */
static void *
producer_run(void *arg)
{
	struct producer *p = arg;
	char node[32], sender[40];
	struct fixture *fx = fixture_new();
	long sent = 0, answered = 0;
	int64_t start, gap = o.rate > 0 ? 1000000000LL * o.producers / o.rate : 0;
	void *s;

	node_name(p->n, node, sizeof(node));
	snprintf(sender, sizeof(sender), "kommun:%s:elevhalsa", producer_codes[p->n]);
	s = dealer(p->ctx, node, p->endpoint);
	start = now_ns();
	while (answered < p->count) {
		int64_t due = start + sent * gap;
		long timeout = -1;
		while (sent < p->count && sent - answered < o.window &&
		    now_ns() >= (due = start + sent * gap))
			producer_submit(s, fx, sender, p->first + sent++);
		if (gap > 0 && sent < p->count && sent - answered < o.window)
			timeout = (due - now_ns()) / 1000000;
		zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
		if (zmq_poll(&it, 1, timeout < 0 && gap > 0 && sent < p->count &&
		    sent - answered < o.window ? 0 : timeout) > 0)
			answered += producer_answer(s);
	}
	zmq_close(s);
	fixture_free(&fx);
	return NULL;
}

struct consumer {
	void *ctx;
	const char *endpoint;
};

static void *
consumer_run(void *arg)
{
	struct consumer *cons = arg;
	void *s = dealer(cons->ctx, RECIPIENT, cons->endpoint);
	uint8_t ackbuf[128];

	while (atomic_load(&n_delivered) < o.messages) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		zmq_msg_recv(&m, s, 0);
		Nara__Frame *r = frame_decode(zmq_msg_data(&m), zmq_msg_size(&m),
		    1 << 20, NULL);
		zmq_msg_close(&m);
		if (r != NULL && r->kind_case == NARA__FRAME__KIND_DELIVER) {
			const char *id = r->deliver->envelope->message_id;
			deliver_lat[atomic_fetch_add(&n_delivered, 1)] =
			    now_ns() - submit_ns[index_of(id)];
			Nara__Frame f = NARA__FRAME__INIT;
			Nara__Ack a = NARA__ACK__INIT;
			a.message_id = pb_str(id);
			f.kind_case = NARA__FRAME__KIND_ACK;
			f.ack = &a;
			zmq_send(s, ackbuf, nara__frame__pack(&f, ackbuf), 0);
		}
		frame_free(&r);
	}
	zmq_close(s);
	return NULL;
}

/* ---------------------------------------------------------------- report */

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void
report(const char *what, int64_t *v, long n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp64);
	printf("  %-22s p50 %8.2f ms   p99 %8.2f ms   p99.9 %8.2f ms   max %8.2f ms\n",
	    what, v[n / 2] / 1e6, v[n * 99 / 100] / 1e6, v[n * 999 / 1000] / 1e6,
	    v[n - 1] / 1e6);
}

/* Producers and the consumer against r's narad; prints the results. */
static void
run_load(struct run *r)
{
	pthread_t prod[MAX_PRODUCERS], cons;
	struct producer p[MAX_PRODUCERS];
	struct consumer c;
	void *ctx = zmq_ctx_new();
	int64_t t0 = now_ns();
	double t_acc, t_all;
	char rate[32] = "max";

	if (o.rate > 0)
		snprintf(rate, sizeof(rate), "%ld msg/s", o.rate);
	atomic_store(&n_accepted, 0);
	atomic_store(&n_delivered, 0);
	c = (struct consumer){ ctx, endpoint_of(r, o.producers) };
	pthread_create(&cons, NULL, consumer_run, &c);
	for (int i = 0; i < o.producers; i++) {
		long share = o.messages / o.producers;
		p[i] = (struct producer){ ctx, endpoint_of(r, i), i, share * i,
		    i == o.producers - 1 ? o.messages - share * i : share };
		pthread_create(&prod[i], NULL, producer_run, &p[i]);
	}
	for (int i = 0; i < o.producers; i++)
		pthread_join(prod[i], NULL);
	t_acc = (now_ns() - t0) / 1e9;
	pthread_join(cons, NULL);
	t_all = (now_ns() - t0) / 1e9;
	printf("%s: %ld messages, %d producers, window %d, synchronous=%s, "
	    "offered load %s\n", r->tls ? "TLS front (tunnel per node)" :
	    "plain ipc", o.messages, o.producers, o.window, o.sync, rate);
	printf("  accepted        %9.0f msg/s  (%.2f s)\n", o.messages / t_acc, t_acc);
	printf("  delivered+acked %9.0f msg/s  (%.2f s)\n", o.messages / t_all, t_all);
	report("submit -> accepted", accept_lat, o.messages);
	report("submit -> delivered", deliver_lat, o.messages);
	fflush(stdout);
	zmq_ctx_term(ctx);
}

static void
run_one(bool tls)
{
	struct run r = { .tls = tls };
	char cmd[300];

	snprintf(r.dir, sizeof(r.dir), "/tmp/nara-bench-XXXXXX");
	if (mkdtemp(r.dir) == NULL)
		die("mkdtemp");
	snprintf(r.router, sizeof(r.router), "ipc://%s/router.sock", r.dir);
	if (tls) {
		if ((r.tls_port = free_port()) < 0)
			die("no free port");
		make_pki(&r);
	}
	write_config(&r);
	start_narad(&r);
	if (tls)
		start_tunnels(&r);
	run_load(&r);
	for (int i = 0; i <= o.producers; i++)
		tunnel_stop(&r.tunnels[i]);
	kill(r.pid, SIGTERM);
	waitpid(r.pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", r.dir);
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: bench_broker [-n MESSAGES] [-p PRODUCERS 1-8] "
	    "[-w WINDOW] [-s full|normal]\n"
	    "                    [-m ipc|tls|both] [-r RATE] [-b NARAD]\n"
	    "-r paces the producers to RATE submits per second in all (default:\n"
	    "as fast as the window allows), for latency at a given load.\n"
	    "Runs narad (and nara-pki from the same directory for -m tls) and\n"
	    "prints msg/s and latency percentiles per path. Default: -n 200000\n"
	    "-p 4 -w 256 -s full -m both -b build/bin/narad.\n");
}

int
main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "n:p:w:s:m:b:r:h")) != -1) {
		switch (ch) {
		case 'n': o.messages = atol(optarg); break;
		case 'p': o.producers = atoi(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 's': o.sync = optarg; break;
		case 'm': o.mode = optarg; break;
		case 'b': o.narad = optarg; break;
		case 'r': o.rate = atol(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.producers < 1 || o.producers > MAX_PRODUCERS || o.messages < 1 ||
	    o.window < 1 || o.rate < 0 || (strcmp(o.mode, "ipc") != 0 &&
	    strcmp(o.mode, "tls") != 0 && strcmp(o.mode, "both") != 0)) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	submit_ns = calloc((size_t)o.messages, sizeof(int64_t));
	accept_lat = calloc((size_t)o.messages, sizeof(int64_t));
	deliver_lat = calloc((size_t)o.messages, sizeof(int64_t));
	if (submit_ns == NULL || accept_lat == NULL || deliver_lat == NULL)
		die("out of memory");
	if (strcmp(o.mode, "tls") != 0)
		run_one(false);
	if (strcmp(o.mode, "ipc") != 0)
		run_one(true);
	free(submit_ns);
	free(accept_lat);
	free(deliver_lat);
	return 0;
}
