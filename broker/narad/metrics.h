/*
 * metrics.h — what narad counts while it runs. The views built from these
 * counters and the broker's state are status.h's.
 *
 * The counters live in struct broker and are bumped from the event loop
 * only (no locks). Queue depths and ages come from the store when a view is
 * built. Commit latency keeps the last METRICS_RING commits with their time
 * for the percentiles of the last minute (of at most that many commits),
 * a count of commits per second for the last minute, and a fixed-bucket
 * histogram for Prometheus.
 */
#ifndef NARA_METRICS_H
#define NARA_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define METRICS_RING 1024
#define METRICS_BUCKETS 12
#define METRICS_TYPES 32
#define METRICS_WINDOW_S 60
#define METRICS_WINDOW_US (METRICS_WINDOW_S * 1000000LL)

struct metrics {
	uint64_t accepted[METRICS_TYPES];   /* by Nara__MessageType */
	uint64_t rejected[NR_CODE_COUNT];   /* by refusal code */
	uint32_t ring_us[METRICS_RING];     /* commit durations */
	int64_t ring_at[METRICS_RING];      /* monotonic us of each commit */
	size_t ring_head, ring_n;
	uint32_t per_sec[METRICS_WINDOW_S];  /* commits in each second ... */
	int64_t per_sec_at[METRICS_WINDOW_S]; /* ... of this monotonic second */
	uint64_t bucket[METRICS_BUCKETS + 1]; /* per bucket, last = +Inf */
	uint64_t hist_count;
	double hist_sum;                    /* seconds */
	int64_t started;                    /* epoch seconds */
	int64_t last_ok_at;                 /* monotonic us of the last good commit */
	bool last_ok;                       /* the last commit succeeded */
};

/* Upper bounds of the latency buckets in seconds. */
extern const double metrics_bucket_le[METRICS_BUCKETS];

int64_t metrics_mono_us(void);
void metrics_init(struct metrics *m);
void metrics_commit(struct metrics *m, int64_t dur_us, bool ok);
void metrics_accepted(struct metrics *m, int type);
void metrics_rejected(struct metrics *m, enum nara_code code);
/* p50/p99 in microseconds over the commits of the last window_us (the
 * newest METRICS_RING of them); returns how many samples that was (0:
 * p50/p99 set to 0). */
size_t metrics_latency(const struct metrics *m, int64_t window_us,
    uint64_t *p50, uint64_t *p99);
/* Successful commits in the last METRICS_WINDOW_S seconds. */
uint64_t metrics_commits_in_window(const struct metrics *m);

/*
 * History for the dashboard's charts: what the broker did and how much
 * waited, sampled every interval seconds (history_interval, 10 s by
 * default) by the HTTP listener's timer (http.c), which owns the struct.
 * Bounded rings, allocated once:
 *   totals    HISTORY_SLOTS samples of struct history_point (32 bytes):
 *             2160 x 32 = 69,120 bytes, 6 h at 10 s;
 *   per node  HISTORY_NODE_SLOTS queue depths (uint32_t) taken at every
 *             HISTORY_NODE_EVERY-th sample, 360 x 4 = 1,440 bytes per node
 *             plus its id: 1,508 bytes per node, 6 h at 1 min;
 *             at most HISTORY_MAX_NODES nodes (a node removed from the
 *             config keeps its ring until narad restarts).
 * The 49 municipalities and a few regional units cost about 150 KB in all.
 */
#define HISTORY_SLOTS 2160
#define HISTORY_NODE_SLOTS 360
#define HISTORY_NODE_EVERY 6
#define HISTORY_MAX_NODES 1024
#define HISTORY_ID_MAX 64

/* Counters as they stand at a sample (cumulative, from broker_stats). */
struct history_counters {
	uint64_t submitted, accepted, delivered, refused;
};

/* One sample of the totals: what happened since the previous sample. */
struct history_point {
	int64_t at;                 /* epoch seconds */
	uint32_t submitted, accepted, delivered, refused;
	uint32_t queued;            /* over all nodes at the sample */
	uint32_t pad;
};

struct history_node {
	char id[HISTORY_ID_MAX + 1];
	uint32_t queued[HISTORY_NODE_SLOTS]; /* indexed like node_at */
};

struct history {
	int64_t interval;           /* seconds between samples */
	struct history_point point[HISTORY_SLOTS];
	size_t head, n;             /* next slot, samples kept */
	struct history_counters last; /* counters at the previous sample */
	bool have_last;
	uint64_t samples;           /* taken since start */
	int64_t node_at[HISTORY_NODE_SLOTS]; /* epoch seconds of node samples */
	size_t node_head, node_n;
	struct history_node *nodes; /* n_nodes of them, grown on demand */
	size_t n_nodes;
	bool node_due;              /* this sample also records per node */
};

/* A history sampled every interval seconds; NULL when out of memory.
 * The caller owns it and frees it with history_free. */
struct history *history_new(int64_t interval);
void history_free(struct history **h);
/* Take one sample at epoch second now: the counters (cumulative) and the
 * total queue depth. Returns true when this sample also records per-node
 * depths, which the caller then gives with history_node_queued. */
bool history_sample(struct history *h, int64_t now,
    const struct history_counters *c, uint64_t queued);
/* Whether the next history_sample records per-node depths too. */
bool history_node_due(const struct history *h);
/* The queue depth of node (borrowed id) at the sample history_sample just
 * took; nodes beyond HISTORY_MAX_NODES or with too long an id are not
 * kept (-1), else 0. */
int history_node_queued(struct history *h, const char *node, uint64_t queued);
/* The i-th oldest total sample (i < h->n). */
const struct history_point *history_point_at(const struct history *h,
    size_t i);
/* The slot of the i-th oldest node sample (i < h->node_n). */
size_t history_node_slot(const struct history *h, size_t i);

#endif
