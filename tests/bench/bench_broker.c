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
 *                     [-m ipc|tls|both] [-r RATE] [-b NARAD] [-P CONNINFO]
 *
 * -P runs narad on the PostgreSQL backend with that libpq conninfo (an
 * existing, empty or nara-only database); without it, on a SQLite file.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "bench_common.h"
#include "fixture.h"
#include "pbstr.h"
#include "tunnel.h"
#include "validate.h"

#define MAX_PRODUCERS BENCH_MAX_PRODUCERS
#define RECIPIENT BENCH_RECIPIENT
#define producer_codes bench_producer_codes

struct opts {
	long messages;
	int producers;
	int window;
	const char *sync;
	const char *mode;
	const char *narad;
	long rate;                       /* msg/s over all producers; 0 = max */
	const char *postgresql;          /* -P conninfo, NULL = SQLite */
};

/* One run: a fresh directory, store and narad. */
struct run {
	bool tls;
	char dir[256], router[320];
	int tls_port;
	struct nara_tunnel *tunnels[MAX_PRODUCERS + 1];  /* last: recipient */
	pid_t pid;
};

static struct opts o = { 200000, 4, 256, "full", "both", "build/bin/narad", 0,
    NULL };
static int64_t *submit_ns;        /* per message index: send time */
static int64_t *accept_lat, *deliver_lat;
static atomic_long n_accepted, n_delivered;

static void
node_name(int i, char *out, size_t len)
{
	if (i == o.producers)
		snprintf(out, len, "%s", RECIPIENT);
	else
		snprintf(out, len, "kommun-%s", producer_codes[i]);
}

/* ---------------------------------------------------------------- setup */

/* nara-pki from the directory of narad: a CA, the broker, every node. */
static void
make_pki(struct run *r)
{
	char names[MAX_PRODUCERS + 1][64];
	const char *nodes[MAX_PRODUCERS + 1];

	for (int i = 0; i <= o.producers; i++) {
		node_name(i, names[i], sizeof(names[i]));
		nodes[i] = names[i];
	}
	if (bench_make_pki(o.narad, r->dir, nodes, o.producers + 1) < 0)
		bench_die("bench_broker", "nara-pki failed (is it built next to narad?)");
}

static void
write_config(struct run *r)
{
	char path[400];
	FILE *f;

	if (bench_write_pseudonym_key(r->dir) < 0)
		bench_die("bench_broker", "cannot write the pseudonym key");
	snprintf(path, sizeof(path), "%s/nara.conf", r->dir);
	if ((f = fopen(path, "w")) == NULL)
		bench_die("bench_broker", "cannot write the config");
	bench_write_broker_conf(f, &(struct bench_conf){ .router = r->router,
	    .run_dir = r->dir, .key_dir = r->dir, .sync = o.sync,
	    .tls_port = r->tls ? r->tls_port : 0, .postgresql = o.postgresql });
	bench_write_producer_nodes(f, o.producers);
	fclose(f);
}

static void
start_narad(struct run *r)
{
	char conf[400], sock[400];

	snprintf(conf, sizeof(conf), "%s/nara.conf", r->dir);
	snprintf(sock, sizeof(sock), "%s/router.sock", r->dir);
	if ((r->pid = bench_start_narad(o.narad, conf, sock)) < 0)
		bench_die("bench_broker", "narad did not start");
}

/* One tunnel per node, each presenting that node's certificate. */
static void
start_tunnels(struct run *r)
{
	char names[MAX_PRODUCERS + 1][64];
	const char *nodes[MAX_PRODUCERS + 1];

	for (int i = 0; i <= o.producers; i++) {
		node_name(i, names[i], sizeof(names[i]));
		nodes[i] = names[i];
	}
	bench_start_tunnels(r->tunnels, nodes, o.producers + 1, r->tls_port,
	    r->dir, r->dir);
}

static const char *
endpoint_of(const struct run *r, int i)
{
	return r->tls ? tunnel_endpoint(r->tunnels[i]) : r->router;
}

/* ---------------------------------------------------------------- nodes */

struct producer {
	void *ctx;
	const char *endpoint;
	int n;
	long first, count;
};

static void
producer_submit(void *s, struct fixture *fx, const char *sender, long idx)
{
	bench_send_submit(s, "bench_broker", fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REFERRAL, sender, RECIPIENT), idx,
	    &submit_ns[idx]);
}

/* One answer from the broker; returns 1 for an Accepted. */
static int
producer_answer(void *s)
{
	char id[64];

	if (!bench_recv_accepted(s, id))
		return 0;
	accept_lat[atomic_fetch_add(&n_accepted, 1)] =
	    bench_now_ns() - submit_ns[bench_index_of(id)];
	return 1;
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
	s = bench_node_open(p->ctx, node, p->endpoint, 1000);
	start = bench_now_ns();
	while (answered < p->count) {
		int64_t due = start + sent * gap;
		long timeout = -1;
		while (sent < p->count && sent - answered < o.window &&
		    bench_now_ns() >= (due = start + sent * gap))
			producer_submit(s, fx, sender, p->first + sent++);
		if (gap > 0 && sent < p->count && sent - answered < o.window)
			timeout = (due - bench_now_ns()) / 1000000;
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
	void *s = bench_node_open(cons->ctx, RECIPIENT, cons->endpoint, 1000);

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
			    bench_now_ns() - submit_ns[bench_index_of(id)];
			bench_send_ack(s, id, false);
		}
		frame_free(&r);
	}
	zmq_close(s);
	return NULL;
}

/* ---------------------------------------------------------------- report */

static void
report(const char *what, int64_t *v, long n)
{
	struct bench_pct c;

	bench_percentiles(v, n, &c);
	bench_print_pct(stdout, what, &c);
}

/* Producers and the consumer against r's narad; prints the results. */
static void
run_load(struct run *r)
{
	pthread_t prod[MAX_PRODUCERS], cons;
	struct producer p[MAX_PRODUCERS];
	struct consumer c;
	void *ctx = zmq_ctx_new();
	struct bench_snap a, b;
	int64_t t0;
	double t_acc, t_all;
	char rate[32] = "max";

	if (o.rate > 0)
		snprintf(rate, sizeof(rate), "%ld msg/s", o.rate);
	atomic_store(&n_accepted, 0);
	atomic_store(&n_delivered, 0);
	bench_snap_take(r->pid, &a);
	t0 = a.t;
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
	t_acc = (bench_now_ns() - t0) / 1e9;
	pthread_join(cons, NULL);
	bench_snap_take(r->pid, &b);
	t_all = (b.t - t0) / 1e9;
	printf("%s: %ld messages, %d producers, window %d, synchronous=%s, "
	    "offered load %s\n", r->tls ? "TLS front (tunnel per node)" :
	    "plain ipc", o.messages, o.producers, o.window, o.sync, rate);
	printf("  accepted        %9.0f msg/s  (%.2f s)\n", o.messages / t_acc, t_acc);
	printf("  delivered+acked %9.0f msg/s  (%.2f s)\n", o.messages / t_all, t_all);
	report("submit -> accepted", accept_lat, o.messages);
	report("submit -> delivered", deliver_lat, o.messages);
	printf("  narad CPU %.2f s (%.0f us per message); load average %.2f at "
	    "start, %.2f at end\n", b.narad_cpu - a.narad_cpu,
	    1e6 * (b.narad_cpu - a.narad_cpu) / o.messages, a.load, b.load);
	bench_print_threads(stdout, &a, &b, NULL);
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
		bench_die("bench_broker", "mkdtemp");
	snprintf(r.router, sizeof(r.router), "ipc://%s/router.sock", r.dir);
	if (tls) {
		if ((r.tls_port = bench_free_port()) < 0)
			bench_die("bench_broker", "no free port");
		make_pki(&r);
	}
	write_config(&r);
	start_narad(&r);
	if (tls)
		start_tunnels(&r);
	run_load(&r);
	for (int i = 0; i <= o.producers; i++)
		tunnel_stop(&r.tunnels[i]);
	bench_stop_narad(&r.pid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", r.dir);
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: bench_broker [-n MESSAGES] [-p PRODUCERS 1-8] "
	    "[-w WINDOW] [-s full|normal]\n"
	    "                    [-m ipc|tls|both] [-r RATE] [-b NARAD] "
	    "[-P CONNINFO]\n"
	    "-P keeps the store in PostgreSQL (libpq conninfo) instead of SQLite.\n"
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

	while ((ch = getopt(argc, argv, "n:p:w:s:m:b:r:P:h")) != -1) {
		switch (ch) {
		case 'n': o.messages = atol(optarg); break;
		case 'p': o.producers = atoi(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 's': o.sync = optarg; break;
		case 'm': o.mode = optarg; break;
		case 'b': o.narad = optarg; break;
		case 'r': o.rate = atol(optarg); break;
		case 'P': o.postgresql = optarg; break;
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
		bench_die("bench_broker", "out of memory");
	if (strcmp(o.mode, "tls") != 0)
		run_one(false);
	if (strcmp(o.mode, "ipc") != 0)
		run_one(true);
	free(submit_ns);
	free(accept_lat);
	free(deliver_lat);
	return 0;
}
