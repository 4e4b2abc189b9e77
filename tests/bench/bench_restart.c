/*
 * bench_restart.c — how fast narad takes up delivery again after a crash
 * with a deep backlog. P producer nodes submit N referrals over ipc to one
 * regional node that stays offline, so all N wait in its queue; as soon as
 * the last Accepted has arrived narad is killed with SIGKILL (no clean
 * shutdown, the WAL left as it is), started again, and the regional node
 * connects. Printed: the time from starting narad to its "ready" log line,
 * and from starting it to the first Deliver at the recipient; then the
 * recipient acks a few pages to show that delivery goes on.
 *
 * The backlog goes in through narad itself, exactly as nodes would send it,
 * so the store holds what narad writes (audit rows included).
 *
 * usage: bench_restart [-n MESSAGES] [-p PRODUCERS] [-w WINDOW] [-b NARAD]
 *                      [-P CONNINFO] [-k]   (-k keeps the directory)
 *
 * -P keeps narad's store in PostgreSQL (libpq conninfo of an empty or
 * nara-only database) instead of a SQLite file in the directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#define DRAIN 2000                /* deliveries acked after the restart */


static struct {
	long messages;
	int producers;
	int window;
	const char *narad;
	bool keep;
	const char *postgresql;      /* -P conninfo; NULL = SQLite */
} o = { 1000000, 4, 256, "build/bin/narad", false, NULL };

static char dir[256], router[320];
static atomic_long n_accepted;

static void
die(const char *what)
{
	bench_die("bench_restart", what);
}

static void
write_config(void)
{
	char path[400];
	FILE *f;

	if (bench_write_pseudonym_key(dir) != 0)
		die("cannot write the pseudonym key");
	snprintf(path, sizeof(path), "%s/nara.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		die("cannot write the config");
	/* info: the "ready" line is what the restart is timed against */
	bench_write_broker_conf(f, &(struct bench_conf){ .router = router,
	    .run_dir = dir, .key_dir = dir, .log_level = "info",
	    .postgresql = o.postgresql });
	bench_write_producer_nodes(f, o.producers);
	fclose(f);
}

/* Start narad with its stderr on a pipe (returned in *err_fd) or into
 * narad.log in the directory when err_fd is NULL. */
static pid_t
start_narad(int *err_fd)
{
	char conf[400], log[400];
	int p[2] = { -1, -1 };
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/nara.conf", dir);
	snprintf(log, sizeof(log), "%s/narad.log", dir);
	if (err_fd != NULL && pipe(p) != 0)
		die("pipe");
	if ((pid = fork()) == 0) {
		int fd = err_fd != NULL ? p[1] : open(log, O_WRONLY | O_CREAT |
		    O_APPEND, 0600);
		dup2(fd, 2);
		execl(o.narad, "narad", "-c", conf, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		die("fork");
	if (err_fd != NULL) {
		close(p[1]);
		*err_fd = p[0];
	}
	return pid;
}

/* Read narad's log until its ready line; copies the log to log_copy. */
static void
wait_ready(int fd, FILE *log_copy)
{
	char buf[4096];
	size_t have = 0;
	ssize_t n;

	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		fwrite(buf + have, 1, (size_t)n, log_copy);
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, " ready: ") != NULL)
			return;
		if (strstr(buf, "startup failed") != NULL)
			die("narad did not start again (see narad.log)");
		if (have > sizeof(buf) / 2) {   /* keep the tail only */
			memmove(buf, buf + have - 64, 64);
			have = 64;
		}
	}
	die("narad exited before it was ready");
}

/* ---------------------------------------------------------------- fill */

struct producer {
	void *ctx;
	int n;
	long count;
};

/* 1 for an Accepted, 0 for anything else that may come. */
static int
producer_answer(void *s)
{
	return bench_recv_accepted(s, NULL);
}

static void *
producer_run(void *arg)
{
	struct producer *p = arg;
	char node[32], sender[40];
	struct fixture *fx = fixture_new();
	long sent = 0, answered = 0;
	void *s;

	snprintf(node, sizeof(node), "kommun-%s", producer_codes[p->n]);
	snprintf(sender, sizeof(sender), "kommun:%s:elevhalsa",
	    producer_codes[p->n]);
	s = bench_node_open(p->ctx, node, router, 1000);
	while (answered < p->count) {
		while (sent < p->count && sent - answered < o.window) {
			/* ids unique over all producers */
			bench_send_submit(s, "bench_restart", fixture_envelope(fx,
			    NARA__MESSAGE_TYPE__REFERRAL, sender, RECIPIENT),
			    (long)p->n << 36 | sent, NULL);
			sent++;
		}
		if (producer_answer(s)) {
			answered++;
			atomic_fetch_add(&n_accepted, 1);
		}
	}
	zmq_close(s);
	fixture_free(&fx);
	return NULL;
}

static void
fill(void)
{
	pthread_t th[MAX_PRODUCERS];
	struct producer p[MAX_PRODUCERS];
	void *ctx = zmq_ctx_new();
	int64_t t0 = bench_now_ns();
	long share = o.messages / o.producers, shown = 0;

	for (int i = 0; i < o.producers; i++) {
		p[i] = (struct producer){ ctx, i, i == o.producers - 1
		    ? o.messages - share * i : share };
		pthread_create(&th[i], NULL, producer_run, &p[i]);
	}
	while (atomic_load(&n_accepted) < o.messages) {
		usleep(200000);
		long n = atomic_load(&n_accepted);
		if (n - shown >= 100000) {
			fprintf(stderr, "  %ld accepted\n", n);
			shown = n;
		}
	}
	for (int i = 0; i < o.producers; i++)
		pthread_join(th[i], NULL);
	printf("filled: %ld messages queued for %s in %.1f s (%.0f msg/s)\n",
	    o.messages, RECIPIENT, (bench_now_ns() - t0) / 1e9,
	    o.messages / ((bench_now_ns() - t0) / 1e9));
	zmq_ctx_term(ctx);
}

/* ---------------------------------------------------------------- restart */

static off_t
file_size(const char *name)
{
	char path[400];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? sb.st_size : 0;
}

/* Receive until a Deliver comes; ack it. Returns false on a timeout. */
static bool
recv_deliver(void *s)
{
	bool got = false;

	while (!got) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, 0) < 0) {
			zmq_msg_close(&m);
			return false;
		}
		Nara__Frame *r = frame_decode(zmq_msg_data(&m),
		    zmq_msg_size(&m), 1 << 20, NULL);
		zmq_msg_close(&m);
		if (r != NULL && r->kind_case == NARA__FRAME__KIND_DELIVER) {
			bench_send_ack(s, r->deliver->envelope->message_id, false);
			got = true;
		}
		frame_free(&r);
	}
	return true;
}

static void
restart(pid_t pid)
{
	char path[400];
	int64_t t0, t_ready, t_first, t_drain;
	int fd, timeout = 30000;
	void *ctx, *s;
	FILE *log;
	long n;

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (o.postgresql != NULL)
		printf("killed narad (SIGKILL); store in PostgreSQL\n");
	else
		printf("killed narad (SIGKILL): nara.db %.1f MiB, WAL %.1f "
		    "MiB\n", file_size("nara.db") / 1048576.0,
		    file_size("nara.db-wal") / 1048576.0);
	snprintf(path, sizeof(path), "%s/narad.log", dir);
	if ((log = fopen(path, "a")) == NULL)
		die("cannot append to narad.log");
	ctx = zmq_ctx_new();
	t0 = bench_now_ns();
	pid = start_narad(&fd);
	wait_ready(fd, log);
	t_ready = bench_now_ns();
	s = bench_node_open(ctx, RECIPIENT, router, 1000);
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	if (!recv_deliver(s))
		die("no delivery within 30 s of the restart");
	t_first = bench_now_ns();
	for (n = 1; n < DRAIN && n < o.messages && recv_deliver(s); n++)
		;
	t_drain = bench_now_ns();
	printf("restart: start -> ready %.1f ms, start -> first Deliver "
	    "%.1f ms\n", (t_ready - t0) / 1e6, (t_first - t0) / 1e6);
	printf("then %ld deliveries acked in %.1f ms (%.0f msg/s)\n", n,
	    (t_drain - t_first) / 1e6, n / ((t_drain - t_first) / 1e9));
	zmq_close(s);
	zmq_ctx_term(ctx);
	kill(pid, SIGTERM);
	/* keep reading narad's log so that its shutdown never blocks */
	char buf[4096];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)r, log);
	close(fd);
	waitpid(pid, NULL, 0);
	fclose(log);
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: bench_restart [-n MESSAGES] [-p PRODUCERS 1-8] "
	    "[-w WINDOW] [-b NARAD] [-P CONNINFO] [-k]\n"
	    "Queues MESSAGES for an offline node through narad, kills narad\n"
	    "with SIGKILL, starts it again and times start -> ready and start\n"
	    "-> first delivery. -k keeps the directory. Default: -n 1000000\n"
	    "-p 4 -w 256 -b build/bin/narad. -P keeps the store in PostgreSQL\n"
	    "(libpq conninfo) instead of SQLite.\n");
}

int
main(int argc, char **argv)
{
	char cmd[300], sock[400];
	struct stat sb;
	pid_t pid;
	int ch;

	while ((ch = getopt(argc, argv, "n:p:w:b:P:kh")) != -1) {
		switch (ch) {
		case 'n': o.messages = atol(optarg); break;
		case 'p': o.producers = atoi(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 'b': o.narad = optarg; break;
		case 'k': o.keep = true; break;
		case 'P': o.postgresql = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.producers < 1 || o.producers > MAX_PRODUCERS || o.messages < 1 ||
	    o.window < 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/nara-restart-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(router, sizeof(router), "ipc://%s/router.sock", dir);
	snprintf(sock, sizeof(sock), "%s/router.sock", dir);
	write_config();
	pid = start_narad(NULL);
	for (int i = 0; i < 500 && stat(sock, &sb) != 0; i++)
		usleep(10000);
	if (stat(sock, &sb) != 0)
		die("narad did not start");
	fill();
	restart(pid);
	if (o.keep) {
		printf("kept %s\n", dir);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return 0;
}
