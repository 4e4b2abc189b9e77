/*
 * bench_broker.c — broker-core benchmark over ipc (no TLS): P producer nodes
 * submit referrals in a closed loop with a window of W unanswered submits;
 * R regional nodes receive and ack. Prints throughput and the latency of
 * submit → Accepted (which includes the group commit and its fsync) and of
 * submit → delivery at the recipient.
 *
 * usage: bench_broker [-n MESSAGES] [-p PRODUCERS] [-w WINDOW] [-s normal]
 *                     [-b NARAD]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <zmq.h>

#include "fixture.h"
#include "pbstr.h"
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
	const char *narad;
	char dir[256], router[320];
};

static struct opts o = { 200000, 4, 256, "full", "build/bin/narad", "", "" };
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
write_config(void)
{
	char path[400];
	unsigned char key[32];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/pseudonym.key", o.dir);
	RAND_bytes(key, sizeof(key));
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || write(fd, key, sizeof(key)) != sizeof(key))
		abort();
	close(fd);
	snprintf(path, sizeof(path), "%s/nara.conf", o.dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "[broker]\nrouter = %s\nstore = %s/nara.db\n"
	    "pseudonym_key = %s/pseudonym.key\nhttp_listen =\n"
	    "control = ipc://%s/control.sock\nsynchronous = %s\n"
	    "log_level = warning\nmax_credit = 10000\n\n",
	    o.router, o.dir, o.dir, o.dir, o.sync);
	for (int i = 0; i < o.producers; i++)
		fprintf(f, "[node kommun-%s]\nname = producer %d\naddresses = "
		    "kommun:%s:elevhalsa\n\n", producer_codes[i], i,
		    producer_codes[i]);
	fprintf(f, "[node %s]\nname = BUP\nkind = region\naddresses = %s\n\n"
	    "[rule bench]\nsenders = kommun:*:elevhalsa\nrecipients = "
	    "SE2321000131-*\ntypes = referral\n", RECIPIENT, RECIPIENT);
	fclose(f);
}

static pid_t
start_narad(void)
{
	char conf[400], sock[400];
	struct stat st;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/nara.conf", o.dir);
	snprintf(sock, sizeof(sock), "%s/router.sock", o.dir);
	if ((pid = fork()) == 0) {
		execl(o.narad, "narad", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && stat(sock, &st) != 0; i++)
		usleep(10000);
	return pid;
}

static void *
dealer(void *ctx, const char *node)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello h = NARA__HELLO__INIT;
	uint8_t buf[256];
	size_t len;

	zmq_setsockopt(s, ZMQ_ROUTING_ID, node, strlen(node));
	zmq_connect(s, o.router);
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

struct producer { void *ctx; int n; long first, count; };

static void *
producer_run(void *arg)
{
	struct producer *p = arg;
	char node[32], sender[40], id[37];
	struct fixture *fx = fixture_new();
	void *s;
	long sent = 0, answered = 0;

	snprintf(node, sizeof(node), "kommun-%s", producer_codes[p->n]);
	snprintf(sender, sizeof(sender), "kommun:%s:elevhalsa", producer_codes[p->n]);
	s = dealer(p->ctx, node);
	while (answered < p->count) {
		while (sent < p->count && sent - answered < o.window) {
			Nara__Envelope *e = fixture_envelope(fx,
			    NARA__MESSAGE_TYPE__REFERRAL, sender, RECIPIENT);
			long idx = p->first + sent++;
			memcpy(id, e->message_id, 24);
			snprintf(id + 24, 13, "%012lx", idx);
			e->message_id = id;
			Nara__Frame f = NARA__FRAME__INIT;
			Nara__Submit sub = NARA__SUBMIT__INIT;
			sub.envelope = e;
			f.kind_case = NARA__FRAME__KIND_SUBMIT;
			f.submit = &sub;
			size_t len;
			uint8_t *data = frame_encode(&f, &len);
			submit_ns[idx] = now_ns();
			zmq_send(s, data, len, 0);
			free(data);
		}
		zmq_msg_t m;
		zmq_msg_init(&m);
		zmq_msg_recv(&m, s, 0);
		Nara__Frame *r = frame_decode(zmq_msg_data(&m), zmq_msg_size(&m),
		    1 << 20, NULL);
		zmq_msg_close(&m);
		if (r != NULL && r->kind_case == NARA__FRAME__KIND_ACCEPTED) {
			long idx = index_of(r->accepted->message_id);
			accept_lat[atomic_fetch_add(&n_accepted, 1)] =
			    now_ns() - submit_ns[idx];
			answered++;
		} else if (r != NULL && r->kind_case == NARA__FRAME__KIND_REJECTED) {
			fprintf(stderr, "rejected: %s %s\n", r->rejected->code,
			    r->rejected->text);
			exit(1);
		}
		frame_free(&r);
	}
	zmq_close(s);
	fixture_free(&fx);
	return NULL;
}

static void *
consumer_run(void *ctx)
{
	void *s = dealer(ctx, RECIPIENT);
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

int
main(int argc, char **argv)
{
	pthread_t prod[MAX_PRODUCERS], cons;
	struct producer p[MAX_PRODUCERS];
	int ch;

	while ((ch = getopt(argc, argv, "n:p:w:s:b:h")) != -1) {
		switch (ch) {
		case 'n': o.messages = atol(optarg); break;
		case 'p': o.producers = atoi(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 's': o.sync = optarg; break;
		case 'b': o.narad = optarg; break;
		default:
			fprintf(stderr, "usage: bench_broker [-n MESSAGES] [-p PRODUCERS 1-8] "
			    "[-w WINDOW] [-s full|normal] [-b NARAD]\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (o.producers < 1 || o.producers > MAX_PRODUCERS || o.messages < 1)
		return 2;
	snprintf(o.dir, sizeof(o.dir), "/tmp/nara-bench-XXXXXX");
	if (mkdtemp(o.dir) == NULL)
		return 1;
	snprintf(o.router, sizeof(o.router), "ipc://%s/router.sock", o.dir);
	submit_ns = calloc((size_t)o.messages, sizeof(int64_t));
	accept_lat = calloc((size_t)o.messages, sizeof(int64_t));
	deliver_lat = calloc((size_t)o.messages, sizeof(int64_t));
	write_config();
	pid_t pid = start_narad();
	void *ctx = zmq_ctx_new();
	int64_t t0 = now_ns();
	pthread_create(&cons, NULL, consumer_run, ctx);
	for (int i = 0; i < o.producers; i++) {
		long share = o.messages / o.producers;
		p[i] = (struct producer){ ctx, i, share * i,
		    i == o.producers - 1 ? o.messages - share * i : share };
		pthread_create(&prod[i], NULL, producer_run, &p[i]);
	}
	for (int i = 0; i < o.producers; i++)
		pthread_join(prod[i], NULL);
	double t_acc = (now_ns() - t0) / 1e9;
	pthread_join(cons, NULL);
	double t_all = (now_ns() - t0) / 1e9;
	printf("broker core over ipc: %ld messages, %d producers, window %d, "
	    "synchronous=%s\n", o.messages, o.producers, o.window, o.sync);
	printf("  accepted   %9.0f msg/s  (%.2f s)\n", o.messages / t_acc, t_acc);
	printf("  delivered+acked %4.0f msg/s  (%.2f s)\n", o.messages / t_all, t_all);
	report("submit -> accepted", accept_lat, o.messages);
	report("submit -> delivered", deliver_lat, o.messages);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", o.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", o.dir);
	zmq_ctx_term(ctx);
	return 0;
}
