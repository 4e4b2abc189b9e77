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
 * This file: options, setup, the parts and their reports; the sender and
 * recipient threads and the check are in bench_e2e_nodes.c.
 *
 * usage: see usage() below.
 */
#include <getopt.h>
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
#include <zmq.h>

#include "bench_common.h"
#include "bench_e2e.h"
#include "fixture.h"
#include "pbstr.h"
#include "tunnel.h"
#include "validate.h"

#define MAX_RATES 16
#define BODY_START "Oro för koncentration och sömn. "

static const char *sender_ids[N_SENDERS] = {
	"SE2321000131-E000000000101", "SE2321000131-E000000000201",
	"SE2321000131-E000000000301", "SE2321000131-E000000000401",
};

static struct {
	long messages;
	double seconds;
	long rates[MAX_RATES];
	int n_rates;
	bool throughput, latency, drain, json;
	const char *narad, *tsv;
	const char *postgresql;      /* -P conninfo; NULL = SQLite */
	const char *trace;           /* --trace PREFIX; NULL = none */
} o = { 50000, 10, { 1000, 2000, 5000 }, 3, true, true, true, false,
	"build/bin/narad", "config/municipalities.tsv", NULL, NULL };

struct e2e_setup e2e = { .window = 256, .credit = 500, .lose = 0,
	.inbox_sync = "FULL" };

static char node_names[MAX_NODES][64];
static char top[256];           /* temporary directory with the PKI */
static FILE *out;               /* human-readable report */
static json_t *results;         /* --json */
static bool failed;

static void
node_id(int i, char *buf, size_t len)
{
	if (i < N_SENDERS)
		snprintf(buf, len, "%s", sender_ids[i]);
	else
		snprintf(buf, len, "kommun-%s",
		    e2e.recipient_codes[i - N_SENDERS]);
}

/* The municipality codes from the list, or 49 made-up ones without it. */
static void
load_recipients(void)
{
	char line[256];
	FILE *f = fopen(o.tsv, "r");

	e2e.n_recipients = 0;
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL &&
		    e2e.n_recipients < MAX_RECIPIENTS) {
			if (strlen(line) > 4 && line[4] == '\t' &&
			    strspn(line, "0123456789") == 4)
				snprintf(e2e.recipient_codes[e2e.n_recipients++], 16,
				    "%.4s", line);
		}
		fclose(f);
	}
	if (e2e.n_recipients == 0)
		for (; e2e.n_recipients < 49; e2e.n_recipients++)
			snprintf(e2e.recipient_codes[e2e.n_recipients], 16, "%d",
			    9001 + e2e.n_recipients);
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
	bench_write_broker_conf(f, &(struct bench_conf){ .router = p->router,
	    .run_dir = p->dir, .key_dir = top, .tls_port = p->tls_port,
	    .postgresql = o.postgresql });
	for (int i = 0; i < N_SENDERS; i++)
		fprintf(f, "[node %s]\nname = unit %d\nkind = region\n"
		    "addresses = %s\n\n", sender_ids[i], i, sender_ids[i]);
	for (int i = 0; i < e2e.n_recipients; i++)
		fprintf(f, "[node kommun-%s]\nname = municipality %s\n"
		    "kind = municipality\naddresses = kommun:%s:elevhalsa\n\n",
		    e2e.recipient_codes[i], e2e.recipient_codes[i],
		    e2e.recipient_codes[i]);
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
	bench_start_tunnels(p->tunnels, e2e.nodes, N_SENDERS + e2e.n_recipients,
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
	for (int i = 0; i < N_SENDERS + e2e.n_recipients; i++)
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
	    "%.0f us per message); bench process CPU %.2f s (%.0f us per "
	    "message)\n", cpu, wall, 100 * cpu / wall, 1e6 * cpu / p->total,
	    self, 1e6 * self / p->total);
	bench_print_threads(out, a, b, j);
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
	json_object_set_new(j, "bench_cpu_s", json_real(self));
	json_object_set_new(j, "bench_us_per_msg", json_real(1e6 * self / p->total));
	json_object_set_new(j, "machine_busy_cores", json_real(busy / wall));
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

	e2e_start_recipients(p, r);
	e2e_start_senders(p, sd, k == LATENCY);
	bench_snap_take(p->pid, a);
	p->t0 = bench_now_ns() + (k == LATENCY ? 10000000 : 0);
	atomic_store(&p->go, true);
	if (e2e_wait_for(p, &p->n_accepted, "Accepted") == 0)
		e2e_wait_for(p, &p->n_durable, "durable delivery");
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

	e2e_start_senders(p, sd, false);
	bench_snap_take(p->pid, a);
	p->t0 = bench_now_ns();
	atomic_store(&p->go, true);
	if (e2e_wait_for(p, &p->n_accepted, "Accepted") < 0)
		return false;
	rate = rate_until_last(p, p->accepted, p->t0, &secs);
	print_rate("queued (accepted)", rate, secs, j, "accepted_per_s");
	t_connect = bench_now_ns();
	e2e_start_recipients(p, r);
	e2e_wait_for(p, &p->n_durable, "drain");
	rate = rate_until_last(p, p->durable, t_connect, &secs);
	print_rate("drained", rate, secs, j, "drain_per_s");
	fprintf(out, "  (drain time from connecting the recipients to the last "
	    "durable)\n");
	return true;
}

static void
put_ms(FILE *f, int64_t t, int64_t t0, char sep)
{
	if (t != 0)
		fprintf(f, "%.3f", (double)(t - t0) / 1e6);
	fputc(sep, f);
}

/* --trace: every message's times, sender and recipient, by its index
 * (each sender's share in turn). */
static void
write_trace(const struct part *p, const char *name, long rate, long total)
{
	char path[512];
	FILE *f;

	if (rate > 0)
		snprintf(path, sizeof(path), "%s-%s-%ld.tsv", o.trace, name, rate);
	else
		snprintf(path, sizeof(path), "%s-%s.tsv", o.trace, name);
	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "%s: cannot write %s\n", PROG, path);
		failed = true;
		return;
	}
	fprintf(f, "intended_ms\tsent_ms\taccepted_ms\tdurable_ms\tsender\t"
	    "recipient\n");
	for (long i = 0; i < total; i++) {
		/* the senders' shares as e2e_start_senders cuts them */
		long share = total / N_SENDERS, s = share > 0 ? i / share : 0;

		put_ms(f, p->intended[i], p->t0, '\t');
		put_ms(f, p->sent[i], p->t0, '\t');
		put_ms(f, p->accepted[i], p->t0, '\t');
		put_ms(f, p->durable[i], p->t0, '\t');
		fprintf(f, "%s\t%s\n", sender_ids[s < N_SENDERS ? s :
		    N_SENDERS - 1], e2e.recipient_codes[i % e2e.n_recipients]);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: cannot write %s\n", PROG, path);
		failed = true;
	}
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
		    "per sender", total, e2e.window);
	else if (k == LATENCY)
		fprintf(out, "latency at %ld msg/s: %ld messages over %.0f s, "
		    "open loop, latency from the intended send time", rate,
		    total, o.seconds);
	else
		fprintf(out, "drain: %ld messages queued for %d offline "
		    "recipients, then they connect", total, e2e.n_recipients);
	fprintf(out, "; credit %d per recipient; narad pid %d\n", e2e.credit,
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
	e2e_stop_all(&p, sd, r, have_r);
	report_usage(&p, &a, &b, j);
	if (e2e_check_exactly_once(&p, out, j) < 0)
		failed = true;
	if (o.trace != NULL)
		write_trace(&p, names[k], k == LATENCY ? rate : 0, total);
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
	    "[-b NARAD]\n                 [-P CONNINFO] [--json] [--inbox-sync FULL|NORMAL|OFF] "
	    "[--lose N]\n                 [--trace PREFIX] [--random-ids]\n"
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
	    "-P  narad's store in PostgreSQL (libpq conninfo of an empty or\n"
	    "    nara-only database) instead of a SQLite file\n"
	    "--json  the results as JSON on stdout, the report on stderr\n"
	    "--inbox-sync FULL|NORMAL|OFF  the recipients' synchronous pragma,\n"
	    "    to see what their fsyncs cost on a shared disk (default FULL)\n"
	    "--lose N  one recipient acks N deliveries without storing them\n"
	    "    (checks that the exactly-once check fails)\n"
	    "--trace PREFIX  each part writes PREFIX-PART[-RATE].tsv: one line per\n"
	    "    message, its intended, sent, Accepted and durable times in ms from\n"
	    "    the part's start (empty when it never came), its sender and its\n"
	    "    recipient, to find stalls and whom they held\n"
	    "--random-ids  message ids with a random part (version 4 UUIDs)\n"
	    "    instead of time-ordered ones (version 7, as nara-msg new-id\n"
	    "    makes them), which follow each other in the store's index\n"
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
		{ "trace", required_argument, NULL, 'T' },
		{ "random-ids", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "t:n:r:d:w:c:m:b:P:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 't': if (parse_parts(optarg) < 0) return bad_arg(ch, optarg); break;
		case 'n': o.messages = atol(optarg); break;
		case 'r': if (parse_rates(optarg) < 0) return bad_arg(ch, optarg); break;
		case 'd': o.seconds = atof(optarg); break;
		case 'w': e2e.window = atoi(optarg); break;
		case 'c': e2e.credit = atoi(optarg); break;
		case 'm': o.tsv = optarg; break;
		case 'b': o.narad = optarg; break;
		case 'P': o.postgresql = optarg; break;
		case 'J': o.json = true; break;
		case 'L': e2e.lose = atol(optarg); break;
		case 'T': o.trace = optarg; break;
		case 'R': bench_random_ids = true; break;
		case 'S':
			if (strcmp(optarg, "FULL") != 0 && strcmp(optarg,
			    "NORMAL") != 0 && strcmp(optarg, "OFF") != 0)
				return bad_arg('S', optarg);
			e2e.inbox_sync = optarg;
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
	    o.seconds <= 0 || o.seconds > 3600 || e2e.window < 1 ||
	    e2e.credit < 1 || e2e.credit > 10000 || e2e.lose < 0) {
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

	e->referral->reason = e2e.body;
	fprintf(out, "envelope %zu bytes encoded; ",
	    nara__envelope__get_packed_size(e));
	fixture_free(&fx);
	fprintf(out, "bench_e2e: %d senders -> %d recipients through the TLS "
	    "front, narad synchronous=full, %d-byte referral text per message\n"
	    "recipients: own SQLite file per node (WAL, synchronous=%s), one "
	    "commit per batch of received frames, acks after the commit;\n"
	    "senders: ack receipts, keep submits in memory; load average %.2f, "
	    "%ld cores\n", N_SENDERS, e2e.n_recipients, BODY_BYTES,
	    e2e.inbox_sync, bench_loadavg(), sysconf(_SC_NPROCESSORS_ONLN));
	fflush(out);
}

int
main(int argc, char **argv)
{
	char cmd[300];
	const char *tmp;
	int seq = 0;

	if (parse_args(argc, argv) < 0) {
		fprintf(stderr, "%s: bad arguments: %s\n", PROG, argv_error);
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	out = o.json ? stderr : stdout;
	results = json_array();
	memset(e2e.body, 'x', BODY_BYTES);
	memcpy(e2e.body, BODY_START, strlen(BODY_START));
	load_recipients();
	for (int i = 0; i < N_SENDERS + e2e.n_recipients; i++) {
		node_id(i, node_names[i], sizeof(node_names[i]));
		e2e.nodes[i] = node_names[i];
	}
	/* TMPDIR puts the run (the recipients' inboxes among it) on another
	 * file system, e.g. one with a journal of its own */
	tmp = getenv("TMPDIR");
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(top, sizeof(top), "%s/nara-e2e-XXXXXX", tmp) >=
	    sizeof(top))
		bench_die(PROG, "TMPDIR is too long");
	if (mkdtemp(top) == NULL)
		bench_die(PROG, "mkdtemp");
	if (bench_write_pseudonym_key(top) < 0)
		bench_die(PROG, "cannot write the pseudonym key");
	if (bench_make_pki(o.narad, top, e2e.nodes,
	    N_SENDERS + e2e.n_recipients) < 0)
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
