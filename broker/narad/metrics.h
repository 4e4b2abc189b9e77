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

#endif
