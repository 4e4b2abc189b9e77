/*
 * bench_e2e.h — what bench_e2e.c (options, parts, reports) and
 * bench_e2e_nodes.c (sender and recipient threads, the recipients' durable
 * inboxes, the exactly-once check) share: the node setup, one part's state
 * and the calls that run the nodes of a part.
 */
#ifndef NARA_BENCH_E2E_H
#define NARA_BENCH_E2E_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#define PROG "bench_e2e"
#define N_SENDERS 4
#define MAX_RECIPIENTS 64
#define MAX_NODES (N_SENDERS + MAX_RECIPIENTS)
#define BODY_BYTES 1024

struct nara_tunnel;

/* The nodes and how they behave: filled by main before the first part,
 * only read by the node threads. */
struct e2e_setup {
	int window;                 /* closed loop: unanswered submits per sender */
	int credit;                 /* credit window per recipient = largest batch */
	long lose;                  /* --lose: acks a recipient does not store */
	const char *inbox_sync;     /* recipients' PRAGMA synchronous */
	int n_recipients;
	char recipient_codes[MAX_RECIPIENTS][16];
	const char *nodes[MAX_NODES];   /* node ids: senders, then recipients */
	char body[BODY_BYTES + 1];      /* the referral text of every message */
};

extern struct e2e_setup e2e;

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

/* One sender thread: messages first .. first+count-1 of the part. */
struct sender {
	struct part *p;
	int n;
	long first, count;
	bool open_loop;
	pthread_t thread;
};

/* One recipient thread with its inbox file in the part's directory. */
struct recipient {
	struct part *p;
	int n;                       /* 0 .. e2e.n_recipients-1 */
	pthread_t thread;
};

/* Start the N_SENDERS sender threads into sd[] (the caller's array) and
 * wait until each has its DEALER; they send once p->go is set. */
void e2e_start_senders(struct part *p, struct sender *sd, bool open_loop);

/* Start one recipient thread per municipality into r[] and wait until
 * each has its DEALER and its inbox. */
void e2e_start_recipients(struct part *p, struct recipient *r);

/* Until counter reaches p->total (less the rejected, and the lost for
 * n_durable), or it stalls for a minute: 0 or -1. */
int e2e_wait_for(struct part *p, atomic_long *counter, const char *what);

/* Stop and join the senders, and the recipients when have_r. */
void e2e_stop_all(struct part *p, struct sender *sd, struct recipient *r,
    bool have_r);

/* Every id once, at the recipient it was addressed to, read back from the
 * recipients' inbox files; the counts go to out and j. 0, or -1 when any
 * message is missing, duplicated, misrouted, unknown or rejected. */
int e2e_check_exactly_once(struct part *p, FILE *out, json_t *j);

#endif
