/*
 * bench_common.h — what the benchmarks in tests/bench share: a clock, a
 * free TCP port, certificates made with nara-pki, starting and stopping
 * narad, its CPU time, the load average and latency percentiles.
 */
#ifndef NARA_BENCH_COMMON_H
#define NARA_BENCH_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "nara.pb-c.h"

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* Print "PROG: what" to stderr and exit 1. */
void bench_die(const char *prog, const char *what) __attribute__((noreturn));

/* A TCP port on 127.0.0.1 that was free a moment ago; -1 on failure. */
int bench_free_port(void);

/* nara-pki from the directory of narad: a CA and the broker certificate
 * (for 127.0.0.1) in dir/pki, then one certificate per node id. Returns 0,
 * or -1 when nara-pki failed. */
int bench_make_pki(const char *narad, const char *dir, const char *const *nodes,
    int n_nodes);

/* Write dir/pseudonym.key (32 random bytes, mode 0600). 0 or -1. */
int bench_write_pseudonym_key(const char *dir);

/* Fork and exec `narad -c conf`, wait until router_sock exists and give
 * the TLS listener a moment. The pid, or -1 when narad did not come up. */
pid_t bench_start_narad(const char *narad, const char *conf,
    const char *router_sock);

/* SIGTERM narad and reap it; *pid becomes -1. */
void bench_stop_narad(pid_t *pid);

/* User + system CPU seconds of a process (from /proc/PID/stat), -1 when
 * it cannot be read. */
double bench_proc_cpu(pid_t pid);

/* The 1-minute load average, -1 when it cannot be read. */
double bench_loadavg(void);

/* The [broker] and [tls] sections of a narad config for a run in run_dir
 * whose certificates and pseudonym key are in key_dir (key_dir/pki). */
struct bench_conf {
	const char *router;          /* ROUTER endpoint */
	const char *run_dir, *key_dir;
	const char *sync;            /* synchronous; NULL = full */
	const char *log_level;       /* NULL = warning */
	int tls_port;                /* 0 = no TLS front */
	int max_connections;         /* of the TLS front; 0 = 128 */
	const char *postgresql;      /* conninfo: [store] backend = postgresql;
	                              * NULL = the SQLite file in run_dir */
};
void bench_write_broker_conf(FILE *f, const struct bench_conf *c);

/* Producer nodes kommun-CODE (address kommun:CODE:elevhalsa) send
 * referrals to the regional node BENCH_RECIPIENT. */
#define BENCH_MAX_PRODUCERS 8
#define BENCH_RECIPIENT "SE2321000131-E000000000101"
extern const char *const bench_producer_codes[BENCH_MAX_PRODUCERS];
/* [node] sections for n producers and the recipient, and the rule that
 * lets them send it referrals. */
void bench_write_producer_nodes(FILE *f, int n);

/* Submit e on s with its id's last 12 hex digits set to idx (see
 * bench_index_of); *sent_ns gets the time of sending unless NULL. Exits
 * with "PROG: ..." on failure. The id is a version 7 UUID (RFC 9562: the
 * Unix time in milliseconds first), as `nara-msg new-id` makes them and
 * docs/PROTOCOL.md recommends, so ids follow each other in the store's
 * message_id index as they are sent; with bench_random_ids it is a
 * version 4 UUID whose random part is made from idx, and each new id
 * lands anywhere in that index. */
extern bool bench_random_ids;
uint64_t bench_mix64(uint64_t x);
void bench_send_submit(void *s, const char *prog, Nara__Envelope *e, long idx,
    int64_t *sent_ns);

/* One client tunnel per node (nodes[i]'s certificate from key_dir/pki, the
 * ipc endpoint under run_dir/tun-i), as nara-adapter connects; exits on
 * failure. */
struct nara_tunnel;
void bench_start_tunnels(struct nara_tunnel **out, const char *const *nodes,
    int n, int tls_port, const char *key_dir, const char *run_dir);

/* A DEALER for node_id on endpoint (tunnel_dealer_open), greeted with a
 * Hello asking for credit deliveries in flight; returns after the Welcome
 * (exits when none comes within 10 s, e.g. a refused certificate). The
 * caller closes it. */
void *bench_node_open(void *zmq_ctx, const char *node_id, const char *endpoint,
    unsigned credit);

/* Receive one frame on s: 1 for an Accepted (its message id copied to id
 * when id is not NULL), 0 for any other frame or a receive timeout. A
 * Rejected is printed and ends the process: benchmarks submit only valid
 * messages. */
int bench_recv_accepted(void *s, char id[64]);
/* Send an Ack for a delivery (receipt false) or a receipt; exits on failure. */
void bench_send_ack(void *socket, const char *message_id, bool receipt);

/* Benchmark message ids carry the message index in their last 12 hex
 * digits; -1 for an id of another form. */
long bench_index_of(const char *message_id);

/* One of narad's threads at one time. */
#define BENCH_THREADS 32
struct bench_thread {
	int tid;
	char name[16];                 /* /proc/<pid>/task/<tid>/comm */
	double run, wait;              /* seconds on a core and runnable
	                                * waiting for one (schedstat) */
};
/* Load average and CPU seconds of narad, of this process and of the whole
 * machine (busy and waiting for I/O, all cores, from /proc/stat) at one
 * time, and narad's threads: the difference between two shows what other
 * jobs used. */
struct bench_snap {
	double load, narad_cpu, self_cpu, machine_busy, machine_iowait;
	int64_t t;
	int n_threads;                 /* narad's, the first BENCH_THREADS */
	struct bench_thread threads[BENCH_THREADS];
};
void bench_snap_take(pid_t narad, struct bench_snap *s);
/* narad's threads that ran at least 1 % of the time between a and b:
 * "  narad threads: narad 69 % running, 27 % waiting for a core; ..."
 * (waiting = runnable but off the cores), and the same into j when it is
 * not NULL (an array "narad_threads"). */
void bench_print_threads(FILE *f, const struct bench_snap *a,
    const struct bench_snap *b, json_t *j);

/* Percentiles of n latencies in ns (sorted in place). */
struct bench_pct {
	double p50, p99, p999, max;   /* milliseconds */
};
void bench_percentiles(int64_t *v, long n, struct bench_pct *out);
/* "  what  p50 … p99 … p99.9 … max …" on one line. */
void bench_print_pct(FILE *f, const char *what, const struct bench_pct *c);

#endif
