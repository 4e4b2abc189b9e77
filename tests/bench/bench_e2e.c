/*
 * bench_e2e.c — nara end to end: 4 regional units send 1 KiB referrals to
 * the school health services of the 49 municipalities through narad's TLS
 * front (synchronous = full), and every recipient stores each delivered id
 * durably before it acks, as nara-adapter must.
 *
 * Every node has its own certificate (nara-pki), its own client tunnel
 * (tunnel.h) and its own DEALER. A recipient keeps its own SQLite file
 * (WAL, synchronous = FULL): it reads every Deliver that is waiting (at most
 * its credit window), inserts their ids in one transaction, commits (the
 * fsync), and only then acks them. Senders ack the receipts narad returns.
 *
 * Parts (-t, default all), each against a fresh narad and fresh stores:
 *   throughput  closed loop, window W unanswered submits per sender;
 *               rate until the last Accepted and until the last durable.
 *   latency     open loop at each rate of -r for -d seconds: sends happen
 *               at fixed intended times and latency counts from the
 *               intended time (coordinated omission included):
 *               intended → Accepted and intended → durable at recipient.
 *   drain       N messages queued while the recipients are offline, then
 *               they connect: time until the last is durable.
 * Each part ends with an exactly-once check over the recipients' files
 * (every id once, at the right recipient); a failed check exits 1.
 *
 * usage: see usage() below.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <zmq.h>

#include "bench_common.h"
#include "fixture.h"
#include "pbstr.h"
#include "tunnel.h"
#include "validate.h"

#define PROG "bench_e2e"
#define N_SENDERS 4
#define MAX_RECIPIENTS 64
#define MAX_NODES (N_SENDERS + MAX_RECIPIENTS)
#define MAX_RATES 16
#define BODY_BYTES 1024
#define BODY_START "Oro för koncentration och sömn. "
#define STALL_NS (60LL * 1000000000)   /* no progress this long = failure */

static const char *sender_ids[N_SENDERS] = {
	"SE2321000131-E000000000101", "SE2321000131-E000000000201",
	"SE2321000131-E000000000301", "SE2321000131-E000000000401",
};

static struct {
	long messages;
	int window, credit;
	double seconds;
	long rates[MAX_RATES];
	int n_rates;
	bool throughput, latency, drain, json;
	const char *narad, *tsv;
	long lose;                  /* --lose: acks a recipient does not store */
	const char *inbox_sync;     /* recipients' PRAGMA synchronous */
} o = { 50000, 256, 500, 10, { 1000, 2000, 5000 }, 3, true, true, true,
	false, "build/bin/narad", "config/municipalities.tsv", 0, "FULL" };

static char recipient_codes[MAX_RECIPIENTS][16];
static char node_names[MAX_NODES][64];
static const char *nodes[MAX_NODES];    /* senders, then recipients */
static int n_recipients;
static char top[256];           /* temporary directory with the PKI */
static char body[BODY_BYTES + 1];
static FILE *out;               /* human-readable report */
static json_t *results;         /* --json */
static bool failed;

/* One part: its narad, tunnels and per-message times (indexed by message). */
struct part {
	const char *name;
	char dir[320], router[340];
	int tls_port;
	pid_t pid;
	struct nara_tunnel *tunnels[MAX_NODES];
	void *ctx;
	long total;
	long rate;                  /* open loop: msg/s over all senders */
	int64_t t0;
	int64_t *intended, *sent, *accepted, *durable;
	atomic_long n_accepted, n_durable, n_rejected, n_duplicate_accept;
	atomic_long n_receipts, n_redelivered, n_commits, n_ready, n_lost;
	atomic_long n_already_stored;   /* deliveries the inbox ignored */
	atomic_bool go, stop_senders, stop_recipients;
};

static void
node_id(int i, char *buf, size_t len)
{
	if (i < N_SENDERS)
		snprintf(buf, len, "%s", sender_ids[i]);
	else
		snprintf(buf, len, "kommun-%s", recipient_codes[i - N_SENDERS]);
}

/* The municipality codes from the list, or 49 made-up ones without it. */
static void
load_recipients(void)
{
	char line[256];
	FILE *f = fopen(o.tsv, "r");

	n_recipients = 0;
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL &&
		    n_recipients < MAX_RECIPIENTS) {
			if (strlen(line) > 4 && line[4] == '\t' &&
			    strspn(line, "0123456789") == 4)
				snprintf(recipient_codes[n_recipients++], 16,
				    "%.4s", line);
		}
		fclose(f);
	}
	if (n_recipients == 0)
		for (; n_recipients < 49; n_recipients++)
			snprintf(recipient_codes[n_recipients], 16, "%d",
			    9001 + n_recipients);
}

/* ---------------------------------------------------------------- setup */

static void
write_config(struct part *p)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/nara.conf", p->dir);
	if ((f = fopen(path, "w")) == NULL)
		bench_die(PROG, "cannot write the config");
	bench_write_broker_conf(f, p->router, p->dir, top, "full", p->tls_port);
	for (int i = 0; i < N_SENDERS; i++)
		fprintf(f, "[node %s]\nname = unit %d\nkind = region\n"
		    "addresses = %s\n\n", sender_ids[i], i, sender_ids[i]);
	for (int i = 0; i < n_recipients; i++)
		fprintf(f, "[node kommun-%s]\nname = municipality %s\n"
		    "kind = municipality\naddresses = kommun:%s:elevhalsa\n\n",
		    recipient_codes[i], recipient_codes[i], recipient_codes[i]);
	fprintf(f, "[rule bench]\nsenders = SE2321000131-*\n"
	    "recipients = kommun:*:elevhalsa\ntypes = referral\n");
	fclose(f);
}

/* A fresh directory, store, narad and tunnels for one part. */
static void
part_open(struct part *p, const char *name, long total, long rate, int seq)
{
	char conf[400], sock[400];

	memset(p, 0, sizeof(*p));
	p->name = name;
	p->total = total;
	p->rate = rate;
	snprintf(p->dir, sizeof(p->dir), "%s/run-%d", top, seq);
	if (mkdir(p->dir, 0700) != 0)
		bench_die(PROG, "cannot make the run directory");
	snprintf(p->router, sizeof(p->router), "ipc://%s/router.sock", p->dir);
	if ((p->tls_port = bench_free_port()) < 0)
		bench_die(PROG, "no free port");
	write_config(p);
	snprintf(conf, sizeof(conf), "%s/nara.conf", p->dir);
	snprintf(sock, sizeof(sock), "%s/router.sock", p->dir);
	if ((p->pid = bench_start_narad(o.narad, conf, sock)) < 0)
		bench_die(PROG, "narad did not start");
	bench_start_tunnels(p->tunnels, nodes, N_SENDERS + n_recipients,
	    p->tls_port, top, p->dir);
	p->ctx = zmq_ctx_new();
	p->intended = calloc((size_t)total, sizeof(int64_t));
	p->sent = calloc((size_t)total, sizeof(int64_t));
	p->accepted = calloc((size_t)total, sizeof(int64_t));
	p->durable = calloc((size_t)total, sizeof(int64_t));
	if (p->ctx == NULL || p->intended == NULL || p->sent == NULL ||
	    p->accepted == NULL || p->durable == NULL)
		bench_die(PROG, "out of memory");
}

static void
part_close(struct part *p)
{
	char cmd[400];

	zmq_ctx_term(p->ctx);
	for (int i = 0; i < N_SENDERS + n_recipients; i++)
		tunnel_stop(&p->tunnels[i]);
	bench_stop_narad(&p->pid);
	free(p->intended);
	free(p->sent);
	free(p->accepted);
	free(p->durable);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", p->dir);
}

/* ---------------------------------------------------------------- recipients */

struct recipient {
	struct part *p;
	int n;                       /* 0 .. n_recipients-1 */
	pthread_t thread;
};

static sqlite3 *
inbox_open(struct part *p, int n)
{
	char path[400], sql[300];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/inbox-%s.db", p->dir, recipient_codes[n]);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=WAL; PRAGMA synchronous="
	    "%s; CREATE TABLE IF NOT EXISTS received (id TEXT PRIMARY KEY, "
	    "at INTEGER NOT NULL)", o.inbox_sync);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		bench_die(PROG, "cannot open a recipient's inbox");
	return db;
}

/* Read every Deliver waiting (the first blocking up to 100 ms); the ids go
 * to ids[], at most max. Returns how many. */
static int
inbox_read(void *s, char (*ids)[37], int max, long *redelivered)
{
	int n = 0;

	for (int flags = 0; n < max; flags = ZMQ_DONTWAIT) {
		zmq_msg_t m;
		Nara__Frame *f;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, flags) < 0) {
			zmq_msg_close(&m);
			break;
		}
		f = frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), 1 << 20, NULL);
		zmq_msg_close(&m);
		if (f != NULL && f->kind_case == NARA__FRAME__KIND_DELIVER &&
		    f->deliver->envelope != NULL) {
			snprintf(ids[n++], 37, "%s", f->deliver->envelope->message_id);
			if (f->deliver->attempt > 1)
				(*redelivered)++;
		}
		frame_free(&f);
	}
	return n;
}

/* Store a batch of ids in one transaction (one fsync); marks the first
 * arrival of each as durable. */
static void
inbox_commit(struct part *p, sqlite3 *db, sqlite3_stmt *ins, char (*ids)[37],
    int n)
{
	bool fresh[n];
	int64_t now;
	long added = 0;

	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		bench_die(PROG, sqlite3_errmsg(db));
	for (int i = 0; i < n; i++) {
		sqlite3_bind_text(ins, 1, ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, bench_now_ns());
		if (sqlite3_step(ins) != SQLITE_DONE)
			bench_die(PROG, sqlite3_errmsg(db));
		fresh[i] = sqlite3_changes(db) == 1;
		sqlite3_reset(ins);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		bench_die(PROG, sqlite3_errmsg(db));
	now = bench_now_ns();
	for (int i = 0; i < n; i++) {
		long idx = bench_index_of(ids[i]);
		if (fresh[i] && idx >= 0 && idx < p->total) {
			p->durable[idx] = now;
			added++;
		}
	}
	atomic_fetch_add(&p->n_durable, added);
	atomic_fetch_add(&p->n_already_stored, n - added);
	atomic_fetch_add(&p->n_commits, 1);
}

static void *
recipient_run(void *arg)
{
	struct recipient *r = arg;
	struct part *p = r->p;
	sqlite3 *db = inbox_open(p, r->n);
	sqlite3_stmt *ins;
	char (*ids)[37] = calloc((size_t)o.credit, 37);
	int timeout = 100;
	long redelivered = 0;
	void *s;

	if (ids == NULL || sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO received "
	    "(id, at) VALUES (?1, ?2)", -1, &ins, NULL) != SQLITE_OK)
		bench_die(PROG, "cannot prepare the inbox");
	s = bench_node_open(p->ctx, nodes[N_SENDERS + r->n],
	    tunnel_endpoint(p->tunnels[N_SENDERS + r->n]), (unsigned)o.credit);
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	atomic_fetch_add(&p->n_ready, 1);
	while (!atomic_load(&p->stop_recipients)) {
		int n = inbox_read(s, ids, o.credit, &redelivered);
		/* --lose: the first recipient acks without storing, as a
		 * broken adapter would; the exactly-once check must fail. */
		while (r->n == 0 && n > 0 && atomic_load(&p->n_lost) < o.lose) {
			bench_send_ack(s, ids[--n], false);
			atomic_fetch_add(&p->n_lost, 1);
		}
		if (n == 0)
			continue;
		inbox_commit(p, db, ins, ids, n);
		for (int i = 0; i < n; i++)      /* acked only once durable */
			bench_send_ack(s, ids[i], false);
	}
	atomic_fetch_add(&p->n_redelivered, redelivered);
	zmq_close(s);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	free(ids);
	return NULL;
}

/* ---------------------------------------------------------------- senders */

struct sender {
	struct part *p;
	int n;
	long first, count;
	bool open_loop;
	pthread_t thread;
};

static void
submit(struct part *p, void *s, struct fixture *fx, int n, long idx)
{
	char recipient[32], id[37];
	Nara__Envelope *e;
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit sub = NARA__SUBMIT__INIT;
	uint8_t *data;
	size_t len;

	snprintf(recipient, sizeof(recipient), "kommun:%s:elevhalsa",
	    recipient_codes[idx % n_recipients]);
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, sender_ids[n],
	    recipient);
	e->referral->reason = body;
	memcpy(id, e->message_id, 24);
	snprintf(id + 24, 13, "%012lx", idx);
	e->message_id = id;
	sub.envelope = e;
	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	if ((data = frame_encode(&f, &len)) == NULL)
		bench_die(PROG, "cannot encode a submit");
	p->sent[idx] = bench_now_ns();
	if (zmq_send(s, data, len, 0) < 0)
		bench_die(PROG, zmq_strerror(errno));
	free(data);
}

/* Everything narad has sent this sender; returns the submits answered. */
static long
sender_answers(struct part *p, void *s)
{
	long answered = 0;
	zmq_msg_t m;

	zmq_msg_init(&m);
	while (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) >= 0) {
		Nara__Frame *f = frame_decode(zmq_msg_data(&m), zmq_msg_size(&m),
		    1 << 20, NULL);
		long idx;
		if (f == NULL)
			bench_die(PROG, "undecodable frame from narad");
		switch (f->kind_case) {
		case NARA__FRAME__KIND_ACCEPTED:
			idx = bench_index_of(f->accepted->message_id);
			if (idx >= 0 && idx < p->total && p->accepted[idx] == 0) {
				p->accepted[idx] = bench_now_ns();
				atomic_fetch_add(&p->n_accepted, 1);
			} else {
				atomic_fetch_add(&p->n_duplicate_accept, 1);
			}
			answered++;
			break;
		case NARA__FRAME__KIND_REJECTED:
			fprintf(stderr, "rejected %s: %s %s\n",
			    f->rejected->message_id, f->rejected->code,
			    f->rejected->text);
			atomic_fetch_add(&p->n_rejected, 1);
			answered++;
			break;
		case NARA__FRAME__KIND_RECEIPT:
			bench_send_ack(s, f->receipt->message_id, true);
			atomic_fetch_add(&p->n_receipts, 1);
			break;
		default:
			break;
		}
		frame_free(&f);
	}
	zmq_msg_close(&m);
	return answered;
}

/* Wait for answers until `due` (absolute ns; 0 = up to 100 ms). Below a
 * millisecond zmq_poll cannot wait, so sleep to the exact time instead. */
static void
sender_wait(void *s, int64_t due)
{
	zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
	int64_t left = due > 0 ? due - bench_now_ns() : 100000000;

	if (left <= 0)
		return;
	if (left >= 1000000) {
		zmq_poll(&it, 1, (long)(left / 1000000));
	} else {
		struct timespec ts = { (time_t)(due / 1000000000),
		    (long)(due % 1000000000) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

/* Closed loop: at most o.window unanswered. Open loop: message k is due at
 * t0 + k * gap (gap = senders / rate, senders staggered), sent when due
 * however many are unanswered; its latency counts from that time. */
static void *
sender_run(void *arg)
{
	struct sender *sd = arg;
	struct part *p = sd->p;
	struct fixture *fx = fixture_new();
	void *s = bench_node_open(p->ctx, nodes[sd->n],
	    tunnel_endpoint(p->tunnels[sd->n]), 1000);
	int64_t gap = sd->open_loop ? 1000000000LL * N_SENDERS / p->rate : 0;
	int64_t offset = gap * sd->n / N_SENDERS;
	long sent = 0, answered = 0;

	atomic_fetch_add(&p->n_ready, 1);
	while (!atomic_load(&p->go))
		usleep(1000);
	while (!atomic_load(&p->stop_senders)) {
		int64_t due = 0;
		if (sd->open_loop) {
			while (sent < sd->count && bench_now_ns() >=
			    (due = p->t0 + offset + sent * gap)) {
				p->intended[sd->first + sent] = due;
				submit(p, s, fx, sd->n, sd->first + sent++);
			}
			if (sent == sd->count)
				due = 0;
		} else {
			while (sent < sd->count && sent - answered < o.window) {
				p->intended[sd->first + sent] = bench_now_ns();
				submit(p, s, fx, sd->n, sd->first + sent++);
			}
		}
		answered += sender_answers(p, s);
		sender_wait(s, due);
	}
	zmq_close(s);
	fixture_free(&fx);
	return NULL;
}

/* ---------------------------------------------------------------- running */

static void
wait_ready(struct part *p, long n)
{
	while (atomic_load(&p->n_ready) < n)
		usleep(10000);
}

static void
start_senders(struct part *p, struct sender *sd, bool open_loop)
{
	long share = p->total / N_SENDERS;

	atomic_store(&p->n_ready, 0);
	for (int i = 0; i < N_SENDERS; i++) {
		sd[i] = (struct sender){ p, i, share * i, i == N_SENDERS - 1 ?
		    p->total - share * i : share, open_loop, 0 };
		pthread_create(&sd[i].thread, NULL, sender_run, &sd[i]);
	}
	wait_ready(p, N_SENDERS);
}

static void
start_recipients(struct part *p, struct recipient *r)
{
	atomic_store(&p->n_ready, 0);
	for (int i = 0; i < n_recipients; i++) {
		r[i] = (struct recipient){ p, i, 0 };
		pthread_create(&r[i].thread, NULL, recipient_run, &r[i]);
	}
	wait_ready(p, n_recipients);
}

/* Until counter reaches p->total, or it stalls for STALL_NS: 0 or -1. */
static int
wait_for(struct part *p, atomic_long *counter, const char *what)
{
	long last = -1;
	int64_t since = bench_now_ns();

	for (;;) {
		long now = atomic_load(counter);
		if (now >= p->total - atomic_load(&p->n_rejected) -
		    (counter == &p->n_durable ? atomic_load(&p->n_lost) : 0))
			return 0;
		if (now != last) {
			last = now;
			since = bench_now_ns();
		} else if (bench_now_ns() - since > STALL_NS) {
			fprintf(stderr, "%s: %s stalled at %ld of %ld\n", PROG,
			    what, now, p->total);
			return -1;
		}
		usleep(2000);
	}
}

static void
stop_all(struct part *p, struct sender *sd, struct recipient *r, bool have_r)
{
	/* Give receipts a moment so narad's work per message is complete. */
	for (int i = 0; i < 500 && atomic_load(&p->n_receipts) < p->total; i++)
		usleep(10000);
	atomic_store(&p->stop_senders, true);
	atomic_store(&p->stop_recipients, true);
	for (int i = 0; i < N_SENDERS; i++)
		pthread_join(sd[i].thread, NULL);
	for (int i = 0; have_r && i < n_recipients; i++)
		pthread_join(r[i].thread, NULL);
}

/* ---------------------------------------------------------------- report */

static json_t *
pct_json(const struct bench_pct *c)
{
	return json_pack("{s:f, s:f, s:f, s:f}", "p50", c->p50, "p99", c->p99,
	    "p99.9", c->p999, "max", c->max);
}

/* Percentiles of to[i] - from[i] over the messages that have both. */
static void
latency(const struct part *p, const int64_t *from, const int64_t *to,
    const char *what, json_t *j, const char *key)
{
	int64_t *v = malloc((size_t)p->total * sizeof(int64_t));
	struct bench_pct c;
	long n = 0;

	if (v == NULL)
		bench_die(PROG, "out of memory");
	for (long i = 0; i < p->total; i++)
		if (from[i] > 0 && to[i] > 0)
			v[n++] = to[i] - from[i];
	bench_percentiles(v, n, &c);
	free(v);
	bench_print_pct(out, what, &c);
	json_object_set_new(j, key, pct_json(&c));
}

/* The rate until the last of times[] (counted from p->t0 or `since`). */
static double
rate_until_last(const struct part *p, const int64_t *times, int64_t since,
    double *secs)
{
	int64_t last = since;

	for (long i = 0; i < p->total; i++)
		if (times[i] > last)
			last = times[i];
	*secs = (last - since) / 1e9;
	return *secs > 0 ? p->total / *secs : 0;
}

/* Every id once, at the recipient it was addressed to. 0 or -1. */
static int
check_exactly_once(struct part *p, json_t *j)
{
	uint8_t *seen = calloc((size_t)p->total, 1);
	long distinct = 0, dup = 0, misrouted = 0, foreign = 0, missing;
	long rejected = atomic_load(&p->n_rejected);
	bool ok;

	if (seen == NULL)
		bench_die(PROG, "out of memory");
	for (int n = 0; n < n_recipients; n++) {
		sqlite3 *db = inbox_open(p, n);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, "SELECT id FROM received", -1, &st,
		    NULL) != SQLITE_OK)
			bench_die(PROG, sqlite3_errmsg(db));
		while (sqlite3_step(st) == SQLITE_ROW) {
			long idx = bench_index_of((const char *)sqlite3_column_text(st, 0));
			if (idx < 0 || idx >= p->total) {
				foreign++;
				continue;
			}
			if (idx % n_recipients != n)
				misrouted++;
			if (seen[idx]++ == 0)
				distinct++;
			else
				dup++;
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	free(seen);
	missing = p->total - distinct;
	ok = missing == 0 && dup == 0 && misrouted == 0 && foreign == 0 &&
	    rejected == 0;
	fprintf(out, "  exactly once: %ld sent, %ld distinct ids durable at the "
	    "recipients, %ld duplicates, %ld at a wrong recipient, %ld unknown, "
	    "%ld missing, %ld rejected: %s\n", p->total, distinct, dup,
	    misrouted, foreign, missing, rejected, ok ? "OK" : "FAILED");
	fprintf(out, "  redeliveries seen %ld (already stored, ignored: %ld), "
	    "duplicate Accepted %ld, receipts acked %ld\n",
	    atomic_load(&p->n_redelivered), atomic_load(&p->n_already_stored),
	    atomic_load(&p->n_duplicate_accept), atomic_load(&p->n_receipts));
	json_object_set_new(j, "exactly_once", json_boolean(ok));
	json_object_set_new(j, "distinct", json_integer(distinct));
	json_object_set_new(j, "duplicates", json_integer(dup));
	json_object_set_new(j, "missing", json_integer(missing));
	if (!ok)
		failed = true;
	return ok ? 0 : -1;
}

/* Load, CPU and recipient commits between two snapshots. */
static void
report_usage(struct part *p, const struct bench_snap *a, const struct bench_snap *b,
    json_t *j)
{
	double wall = (b->t - a->t) / 1e9, cpu = b->narad_cpu - a->narad_cpu;
	double self = b->self_cpu - a->self_cpu;
	double busy = b->machine_busy - a->machine_busy;
	long commits = atomic_load(&p->n_commits);

	fprintf(out, "  narad CPU %.2f s in %.2f s wall (%.0f %% of one core, "
	    "%.0f us per message); bench process CPU %.2f s\n", cpu, wall,
	    100 * cpu / wall, 1e6 * cpu / p->total, self);
	fprintf(out, "  machine: %.2f of %ld cores busy (other processes %.2f), "
	    "%.2f waiting for I/O\n", busy / wall, sysconf(_SC_NPROCESSORS_ONLN),
	    (busy - cpu - self) / wall,
	    (b->machine_iowait - a->machine_iowait) / wall);
	fprintf(out, "  recipient commits %ld (%.1f messages per fsync); load "
	    "average %.2f at start, %.2f at end\n", commits,
	    commits ? (double)p->total / commits : 0, a->load, b->load);
	json_object_set_new(j, "other_cores", json_real((busy - cpu - self) / wall));
	json_object_set_new(j, "narad_cpu_s", json_real(cpu));
	json_object_set_new(j, "narad_us_per_msg", json_real(1e6 * cpu / p->total));
	json_object_set_new(j, "bench_cpu_s", json_real(b->self_cpu - a->self_cpu));
	json_object_set_new(j, "recipient_commits", json_integer(commits));
	json_object_set_new(j, "load_start", json_real(a->load));
	json_object_set_new(j, "load_end", json_real(b->load));
}

/* ---------------------------------------------------------------- parts */

enum kind { THROUGHPUT, LATENCY, DRAIN };

static void
print_rate(const char *what, double rate, double secs, json_t *j,
    const char *key)
{
	fprintf(out, "  %-20s %9.0f msg/s  (%.2f s)\n", what, rate, secs);
	json_object_set_new(j, key, json_real(rate));
}

/* Throughput and latency: recipients online, then the senders (closed
 * loop, or open loop at `rate`) until every message is durable. */
static void
load_online(struct part *p, enum kind k, struct sender *sd,
    struct recipient *r, struct bench_snap *a, json_t *j)
{
	double secs, rate;

	start_recipients(p, r);
	start_senders(p, sd, k == LATENCY);
	bench_snap_take(p->pid, a);
	p->t0 = bench_now_ns() + (k == LATENCY ? 10000000 : 0);
	atomic_store(&p->go, true);
	if (wait_for(p, &p->n_accepted, "Accepted") == 0)
		wait_for(p, &p->n_durable, "durable delivery");
	rate = rate_until_last(p, p->accepted, p->t0, &secs);
	print_rate("accepted", rate, secs, j, "accepted_per_s");
	rate = rate_until_last(p, p->durable, p->t0, &secs);
	print_rate(k == LATENCY ? "durable at recipient" : "end to end (durable)",
	    rate, secs, j, "durable_per_s");
	if (k == LATENCY)
		latency(p, p->intended, p->sent, "intended -> sent", j,
		    "send_lag_ms");
	latency(p, p->intended, p->accepted, k == LATENCY ?
	    "intended -> Accepted" : "send -> Accepted", j, "accepted_ms");
	latency(p, p->intended, p->durable, k == LATENCY ?
	    "intended -> durable" : "send -> durable", j, "durable_ms");
}

/* Drain: queue everything while the recipients are offline, then connect
 * them and time until the last message is durable. */
static bool
load_drain(struct part *p, struct sender *sd, struct recipient *r,
    struct bench_snap *a, json_t *j)
{
	double secs, rate;
	int64_t t_connect;

	start_senders(p, sd, false);
	bench_snap_take(p->pid, a);
	p->t0 = bench_now_ns();
	atomic_store(&p->go, true);
	if (wait_for(p, &p->n_accepted, "Accepted") < 0)
		return false;
	rate = rate_until_last(p, p->accepted, p->t0, &secs);
	print_rate("queued (accepted)", rate, secs, j, "accepted_per_s");
	t_connect = bench_now_ns();
	start_recipients(p, r);
	wait_for(p, &p->n_durable, "drain");
	rate = rate_until_last(p, p->durable, t_connect, &secs);
	print_rate("drained", rate, secs, j, "drain_per_s");
	fprintf(out, "  (drain time from connecting the recipients to the last "
	    "durable)\n");
	return true;
}

static void
run_part(enum kind k, long rate, int seq)
{
	static const char *names[] = { "throughput", "latency", "drain" };
	struct part p;
	struct sender sd[N_SENDERS];
	struct recipient r[MAX_RECIPIENTS];
	struct bench_snap a, b;
	json_t *j = json_pack("{s:s}", "part", names[k]);
	long total = k == LATENCY ? (long)(rate * o.seconds) : o.messages;
	bool have_r = true;

	part_open(&p, names[k], total, rate, seq);
	if (k == THROUGHPUT)
		fprintf(out, "throughput: %ld messages, closed loop, window %d "
		    "per sender", total, o.window);
	else if (k == LATENCY)
		fprintf(out, "latency at %ld msg/s: %ld messages over %.0f s, "
		    "open loop, latency from the intended send time", rate,
		    total, o.seconds);
	else
		fprintf(out, "drain: %ld messages queued for %d offline "
		    "recipients, then they connect", total, n_recipients);
	fprintf(out, "; credit %d per recipient; narad pid %d\n", o.credit,
	    (int)p.pid);
	fflush(out);
	json_object_set_new(j, "messages", json_integer(total));
	if (k == LATENCY)
		json_object_set_new(j, "rate", json_integer(rate));
	if (k == DRAIN)
		have_r = load_drain(&p, sd, r, &a, j);
	else
		load_online(&p, k, sd, r, &a, j);
	bench_snap_take(p.pid, &b);
	stop_all(&p, sd, r, have_r);
	report_usage(&p, &a, &b, j);
	check_exactly_once(&p, j);
	json_array_append_new(results, j);
	fflush(out);
	part_close(&p);
}

/* ---------------------------------------------------------------- main */

static void
usage(FILE *f)
{
	fprintf(f, "usage: bench_e2e [-t throughput,latency,drain] [-n MESSAGES] "
	    "[-r RATE,...] [-d SECONDS]\n"
	    "                 [-w WINDOW] [-c CREDIT] [-m MUNICIPALITIES.tsv] "
	    "[-b NARAD]\n                 [--json] [--inbox-sync FULL|NORMAL|OFF] "
	    "[--lose N]\n"
	    "End to end through narad's TLS front (synchronous = full): %d "
	    "senders, one\nrecipient per municipality of -m, each storing "
	    "delivered ids durably\n(SQLite, synchronous = FULL, one commit per "
	    "batch) before it acks.\n"
	    "-t  parts to run (default all)\n"
	    "-n  messages for throughput and drain (default 50000)\n"
	    "-r  offered rates for latency, msg/s (default 1000,2000,5000)\n"
	    "-d  seconds per rate (default 10)\n"
	    "-w  unanswered submits per sender, closed loop (default 256)\n"
	    "-c  credit window per recipient = largest batch (default 500)\n"
	    "-m  municipality list (default config/municipalities.tsv; "
	    "49 made-up\n    codes when it cannot be read)\n"
	    "-b  narad (default build/bin/narad; nara-pki must sit next to it)\n"
	    "--json  the results as JSON on stdout, the report on stderr\n"
	    "--inbox-sync FULL|NORMAL|OFF  the recipients' synchronous pragma,\n"
	    "    to see what their fsyncs cost on a shared disk (default FULL)\n"
	    "--lose N  one recipient acks N deliveries without storing them\n"
	    "    (checks that the exactly-once check fails)\n"
	    "Exit 1 when any message is lost, duplicated or misrouted.\n",
	    N_SENDERS);
}

static char argv_error[128] = "see usage";

static int
bad_arg(int opt, const char *arg)
{
	snprintf(argv_error, sizeof(argv_error), "-%c %s", opt, arg);
	return -1;
}

static int
parse_parts(char *arg)
{
	o.throughput = o.latency = o.drain = false;
	for (char *t = strtok(arg, ","); t != NULL; t = strtok(NULL, ",")) {
		if (strcmp(t, "throughput") == 0)
			o.throughput = true;
		else if (strcmp(t, "latency") == 0)
			o.latency = true;
		else if (strcmp(t, "drain") == 0)
			o.drain = true;
		else if (strcmp(t, "all") == 0)
			o.throughput = o.latency = o.drain = true;
		else
			return -1;
	}
	return o.throughput || o.latency || o.drain ? 0 : -1;
}

static int
parse_rates(char *arg)
{
	o.n_rates = 0;
	for (char *t = strtok(arg, ","); t != NULL; t = strtok(NULL, ",")) {
		char *end;
		long r = strtol(t, &end, 10);
		if (*end != '\0' || r < 1 || r > 10000000 || o.n_rates == MAX_RATES)
			return -1;
		o.rates[o.n_rates++] = r;
	}
	return o.n_rates > 0 ? 0 : -1;
}

static int
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "lose", required_argument, NULL, 'L' },
		{ "inbox-sync", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "t:n:r:d:w:c:m:b:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 't': if (parse_parts(optarg) < 0) return bad_arg(ch, optarg); break;
		case 'n': o.messages = atol(optarg); break;
		case 'r': if (parse_rates(optarg) < 0) return bad_arg(ch, optarg); break;
		case 'd': o.seconds = atof(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 'c': o.credit = atoi(optarg); break;
		case 'm': o.tsv = optarg; break;
		case 'b': o.narad = optarg; break;
		case 'J': o.json = true; break;
		case 'L': o.lose = atol(optarg); break;
		case 'S':
			if (strcmp(optarg, "FULL") != 0 && strcmp(optarg,
			    "NORMAL") != 0 && strcmp(optarg, "OFF") != 0)
				return bad_arg('S', optarg);
			o.inbox_sync = optarg;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc) {
		snprintf(argv_error, sizeof(argv_error), "unexpected \"%s\"",
		    argv[optind]);
		return -1;
	}
	if (o.messages < 1 || o.messages > 100000000 ||
	    o.seconds <= 0 || o.seconds > 3600 || o.window < 1 ||
	    o.credit < 1 || o.credit > 10000 || o.lose < 0) {
		snprintf(argv_error, sizeof(argv_error), "-n 1..100000000, -d "
		    "0..3600, -w >= 1, -c 1..10000, --lose >= 0");
		return -1;
	}
	return 0;
}

/* The header: what is measured and how the recipients store. */
static void
print_setup(void)
{
	struct fixture *fx = fixture_new();
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    sender_ids[0], "kommun:1480:elevhalsa");

	e->referral->reason = body;
	fprintf(out, "envelope %zu bytes encoded; ",
	    nara__envelope__get_packed_size(e));
	fixture_free(&fx);
	fprintf(out, "bench_e2e: %d senders -> %d recipients through the TLS "
	    "front, narad synchronous=full, %d-byte referral text per message\n"
	    "recipients: own SQLite file per node (WAL, synchronous=%s), one "
	    "commit per batch of received frames, acks after the commit;\n"
	    "senders: ack receipts, keep submits in memory; load average %.2f, "
	    "%ld cores\n", N_SENDERS, n_recipients, BODY_BYTES, o.inbox_sync,
	    bench_loadavg(), sysconf(_SC_NPROCESSORS_ONLN));
	fflush(out);
}

int
main(int argc, char **argv)
{
	char cmd[300];
	int seq = 0;

	if (parse_args(argc, argv) < 0) {
		fprintf(stderr, "%s: bad arguments: %s\n", PROG, argv_error);
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	out = o.json ? stderr : stdout;
	results = json_array();
	memset(body, 'x', BODY_BYTES);
	memcpy(body, BODY_START, strlen(BODY_START));
	load_recipients();
	for (int i = 0; i < N_SENDERS + n_recipients; i++) {
		node_id(i, node_names[i], sizeof(node_names[i]));
		nodes[i] = node_names[i];
	}
	snprintf(top, sizeof(top), "/tmp/nara-e2e-XXXXXX");
	if (mkdtemp(top) == NULL)
		bench_die(PROG, "mkdtemp");
	if (bench_write_pseudonym_key(top) < 0)
		bench_die(PROG, "cannot write the pseudonym key");
	if (bench_make_pki(o.narad, top, nodes, N_SENDERS + n_recipients) < 0)
		bench_die(PROG, "nara-pki failed (is it built next to narad?)");
	print_setup();
	if (o.throughput)
		run_part(THROUGHPUT, 0, seq++);
	for (int i = 0; o.latency && i < o.n_rates; i++)
		run_part(LATENCY, o.rates[i], seq++);
	if (o.drain)
		run_part(DRAIN, 0, seq++);
	if (o.json) {
		json_t *doc = json_pack("{s:o, s:b}", "results", results, "ok",
		    !failed);
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
		putchar('\n');
		json_decref(doc);
	} else {
		json_decref(results);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", top);
	fprintf(out, "bench_e2e: %s\n", failed ? "FAILED (messages lost, "
	    "duplicated or misrouted)" : "every message exactly once");
	return failed ? 1 : 0;
}
