/*
 * bench_common.c — helpers shared by the benchmarks (see bench_common.h).
 * Plain C and POSIX: no test framework, so the benchmarks stay standalone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
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
#include <sys/resource.h>
#include <zmq.h>

#include "bench_common.h"
#include "pbstr.h"
#include "tunnel.h"
#include "validate.h"

int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
bench_die(const char *prog, const char *what)
{
	fprintf(stderr, "%s: %s\n", prog, what);
	exit(1);
}

int
bench_free_port(void)
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

int
bench_make_pki(const char *narad, const char *dir, const char *const *nodes,
    int n_nodes)
{
	char copy[512], pki[600], cmd[1400];

	snprintf(copy, sizeof(copy), "%s", narad);
	snprintf(pki, sizeof(pki), "%s/nara-pki", dirname(copy));
	snprintf(cmd, sizeof(cmd), "set -e; '%s' init-ca '%s/pki' >/dev/null; "
	    "'%s' broker '%s/pki' narad --ip 127.0.0.1 >/dev/null",
	    pki, dir, pki, dir);
	if (system(cmd) != 0)
		return -1;
	/* One call per node: a command line for 50+ nodes gets long. */
	for (int i = 0; i < n_nodes; i++) {
		snprintf(cmd, sizeof(cmd), "'%s' node '%s/pki' '%s' >/dev/null",
		    pki, dir, nodes[i]);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

int
bench_write_pseudonym_key(const char *dir)
{
	char path[512];
	unsigned char key[32];
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/pseudonym.key", dir);
	if (RAND_bytes(key, sizeof(key)) != 1)
		return -1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return -1;
	if (write(fd, key, sizeof(key)) == (ssize_t)sizeof(key))
		rc = 0;
	close(fd);
	return rc;
}

pid_t
bench_start_narad(const char *narad, const char *conf, const char *router_sock)
{
	struct stat st;
	pid_t pid;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		execl(narad, "narad", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && stat(router_sock, &st) != 0; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(10000);
	}
	if (stat(router_sock, &st) != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	usleep(100000);                  /* the TLS listener comes after */
	return pid;
}

void
bench_stop_narad(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	waitpid(*pid, NULL, 0);
	*pid = -1;
}

double
bench_proc_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces; fields 14 and 15 follow its ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

double
bench_loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%lf", &l) != 1)
		l = -1;
	fclose(f);
	return l;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

void
bench_percentiles(int64_t *v, long n, struct bench_pct *out)
{
	memset(out, 0, sizeof(*out));
	if (n <= 0)
		return;
	qsort(v, (size_t)n, sizeof(*v), cmp64);
	out->p50 = v[n / 2] / 1e6;
	out->p99 = v[n * 99 / 100] / 1e6;
	out->p999 = v[n * 999 / 1000] / 1e6;
	out->max = v[n - 1] / 1e6;
}

void
bench_print_pct(FILE *f, const char *what, const struct bench_pct *c)
{
	fprintf(f, "  %-24s p50 %8.2f ms  p99 %8.2f ms  p99.9 %8.2f ms  "
	    "max %8.2f ms\n", what, c->p50, c->p99, c->p999, c->max);
}

void
bench_write_broker_conf(FILE *f, const struct bench_conf *c)
{
	fprintf(f, "[broker]\nrouter = %s\nstore = %s/nara.db\n"
	    "pseudonym_key = %s/pseudonym.key\nhttp_listen =\n"
	    "control = ipc://%s/control.sock\nsynchronous = %s\n"
	    "log_level = %s\nmax_credit = 10000\n\n", c->router, c->run_dir,
	    c->key_dir, c->run_dir, c->sync ? c->sync : "full",
	    c->log_level ? c->log_level : "warning");
	if (c->postgresql != NULL)
		fprintf(f, "[store]\nbackend = postgresql\npostgresql = %s\n\n",
		    c->postgresql);
	if (c->tls_port > 0)
		fprintf(f, "[tls]\nlisten = 127.0.0.1:%d\ncert = %s/pki/narad.pem\n"
		    "key = %s/pki/narad.key\nca = %s/pki/ca.pem\n"
		    "runtime_dir = %s\nmax_connections = %d\n\n", c->tls_port,
		    c->key_dir, c->key_dir, c->key_dir, c->run_dir,
		    c->max_connections > 0 ? c->max_connections : 128);
}

const char *const bench_producer_codes[BENCH_MAX_PRODUCERS] = {
	"1480", "1490", "1401", "1402", "1407", "1415", "1419", "1421",
};

void
bench_write_producer_nodes(FILE *f, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(f, "[node kommun-%s]\nname = producer %d\naddresses = "
		    "kommun:%s:elevhalsa\n\n", bench_producer_codes[i], i,
		    bench_producer_codes[i]);
	fprintf(f, "[node %s]\nname = BUP\nkind = region\naddresses = %s\n\n"
	    "[rule bench]\nsenders = kommun:*:elevhalsa\nrecipients = "
	    "SE2321000131-*\ntypes = referral\n", BENCH_RECIPIENT,
	    BENCH_RECIPIENT);
}

bool bench_random_ids;

uint64_t
bench_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void
bench_send_submit(void *s, const char *prog, Nara__Envelope *e, long idx,
    int64_t *sent_ns)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit sub = NARA__SUBMIT__INIT;
	char *fixture_id = e->message_id;
	char id[37];
	uint8_t *data;
	size_t len;

	if (bench_random_ids) {
		uint64_t a = bench_mix64((uint64_t)idx), b = bench_mix64(a);

		snprintf(id, 25, "%08x-%04x-4%03x-%c%03x-", (unsigned)(a >> 32),
		    (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
		    "89ab"[b & 3], (unsigned)(b >> 2) & 0xfff);
	} else {
		/* version 7: the Unix time in milliseconds first */
		struct timespec ts;
		uint64_t ms;

		clock_gettime(CLOCK_REALTIME, &ts);
		ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
		snprintf(id, 25, "%08x-%04x-7000-8000-", (unsigned)(ms >> 16),
		    (unsigned)ms & 0xffff);
	}
	snprintf(id + 24, 13, "%012lx", idx);
	e->message_id = id;
	sub.envelope = e;
	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	data = frame_encode(&f, &len);
	e->message_id = fixture_id;
	if (data == NULL)
		bench_die(prog, "cannot encode a submit");
	if (sent_ns != NULL)
		*sent_ns = bench_now_ns();
	if (zmq_send(s, data, len, 0) < 0)
		bench_die(prog, zmq_strerror(errno));
	free(data);
}

void
bench_start_tunnels(struct nara_tunnel **out, const char *const *nodes,
    int n, int tls_port, const char *key_dir, const char *run_dir)
{
	char broker[64], ca[400], cert[600], key[600], local[400];
	struct nara_err err = { 0 };

	snprintf(broker, sizeof(broker), "127.0.0.1:%d", tls_port);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", key_dir);
	for (int i = 0; i < n; i++) {
		struct tunnel_opts t = { .broker = broker, .ca = ca,
		    .cert = cert, .key = key, .local_dir = local };
		snprintf(cert, sizeof(cert), "%s/pki/%s.pem", key_dir, nodes[i]);
		snprintf(key, sizeof(key), "%s/pki/%s.key", key_dir, nodes[i]);
		snprintf(local, sizeof(local), "%s/tun-%d", run_dir, i);
		if ((out[i] = tunnel_start(&t, &err)) == NULL) {
			fprintf(stderr, "tunnel for %s: %s\n", nodes[i], err.text);
			exit(1);
		}
	}
}

static void
send_frame(void *s, const Nara__Frame *f)
{
	uint8_t buf[512];
	size_t len = nara__frame__get_packed_size(f);

	if (len > sizeof(buf))
		bench_die("bench", "frame too large");
	nara__frame__pack(f, buf);
	if (zmq_send(s, buf, len, 0) < 0)
		bench_die("bench", zmq_strerror(errno));
}

void *
bench_node_open(void *zmq_ctx, const char *node_id, const char *endpoint,
    unsigned credit)
{
	struct nara_err err = { 0 };
	uint8_t buf[512];
	char what[200];
	int timeout = 10000, forever = -1;
	void *s;
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello h = NARA__HELLO__INIT;

	if ((s = tunnel_dealer_open(zmq_ctx, node_id, endpoint, &err)) == NULL)
		bench_die("bench", err.text);
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	h.node_id = pb_str(node_id);
	h.protocol_version = NARA_PROTOCOL_VERSION;
	h.credit_window = credit;
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &h;
	send_frame(s, &f);
	if (zmq_recv(s, buf, sizeof(buf), 0) < 0) {  /* Welcome */
		snprintf(what, sizeof(what), "no Welcome from narad for %s "
		    "within 10 s", node_id);
		bench_die("bench", what);
	}
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &forever, sizeof(forever));
	return s;
}

void
bench_send_ack(void *socket, const char *message_id, bool receipt)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Ack a = NARA__ACK__INIT;

	a.message_id = pb_str(message_id);
	a.receipt = receipt;
	f.kind_case = NARA__FRAME__KIND_ACK;
	f.ack = &a;
	send_frame(socket, &f);
}

long
bench_index_of(const char *message_id)
{
	return message_id != NULL && strlen(message_id) == 36 ?
	    strtol(message_id + 24, NULL, 16) : -1;
}

/* Busy and iowait CPU seconds of all cores since boot. */
static void
machine_cpu(double *busy, double *iowait)
{
	unsigned long long user, nice, sys, idle, io, irq, softirq, steal;
	FILE *f = fopen("/proc/stat", "r");

	*busy = *iowait = -1;
	if (f == NULL)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user,
	    &nice, &sys, &idle, &io, &irq, &softirq, &steal) == 8) {
		double tick = (double)sysconf(_SC_CLK_TCK);
		*busy = (user + nice + sys + irq + softirq + steal) / tick;
		*iowait = io / tick;
	}
	fclose(f);
}

/* narad's threads: name and schedstat (ns on a core, ns runnable and
 * waiting for one) of each, the first BENCH_THREADS found. */
static void
snap_threads(pid_t narad, struct bench_snap *s)
{
	char path[96];
	struct dirent *e;
	DIR *d;

	s->n_threads = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)narad);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL && s->n_threads < BENCH_THREADS) {
		struct bench_thread *t = &s->threads[s->n_threads];
		unsigned long long run, wait;
		FILE *f;
		int ok;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		t->tid = atoi(e->d_name);
		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat",
		    (int)narad, t->tid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		ok = fscanf(f, "%llu %llu", &run, &wait) == 2;
		fclose(f);
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm",
		    (int)narad, t->tid);
		if (!ok || (f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(t->name, sizeof(t->name), f) == NULL)
			t->name[0] = '\0';
		fclose(f);
		t->name[strcspn(t->name, "\n")] = '\0';
		t->run = run / 1e9;
		t->wait = wait / 1e9;
		s->n_threads++;
	}
	closedir(d);
}

void
bench_print_threads(FILE *f, const struct bench_snap *a,
    const struct bench_snap *b, json_t *j)
{
	double wall = (b->t - a->t) / 1e9;
	json_t *arr = j != NULL ? json_array() : NULL;
	const char *sep = "  narad threads: ";

	if (wall <= 0)
		return;
	for (int i = 0; i < b->n_threads; i++) {
		const struct bench_thread *t = &b->threads[i], *t0 = NULL;
		double run, wait;

		for (int k = 0; k < a->n_threads && t0 == NULL; k++)
			if (a->threads[k].tid == t->tid)
				t0 = &a->threads[k];
		run = t->run - (t0 != NULL ? t0->run : 0);
		wait = t->wait - (t0 != NULL ? t0->wait : 0);
		if (run / wall < 0.01)
			continue;
		fprintf(f, "%s%s %.0f %% running, %.0f %% waiting for a core",
		    sep, t->name, 100 * run / wall, 100 * wait / wall);
		sep = "; ";
		if (arr != NULL) {
			json_t *o = json_object();

			json_object_set_new(o, "name", json_string(t->name));
			json_object_set_new(o, "tid", json_integer(t->tid));
			json_object_set_new(o, "running", json_real(run / wall));
			json_object_set_new(o, "waiting", json_real(wait / wall));
			json_array_append_new(arr, o);
		}
	}
	if (sep[0] == ';')
		fputc('\n', f);
	if (arr != NULL)
		json_object_set_new(j, "narad_threads", arr);
}

void
bench_snap_take(pid_t narad, struct bench_snap *s)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	s->load = bench_loadavg();
	s->narad_cpu = bench_proc_cpu(narad);
	machine_cpu(&s->machine_busy, &s->machine_iowait);
	s->self_cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	snap_threads(narad, s);
	s->t = bench_now_ns();
}

int
bench_recv_accepted(void *s, char id[64])
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
		if (id != NULL)
			snprintf(id, 64, "%s", r->accepted->message_id ?
			    r->accepted->message_id : "");
		accepted = 1;
	} else if (r != NULL && r->kind_case == NARA__FRAME__KIND_REJECTED) {
		fprintf(stderr, "rejected: %s %s\n", r->rejected->code,
		    r->rejected->text);
		exit(1);
	}
	frame_free(&r);
	return accepted;
}
