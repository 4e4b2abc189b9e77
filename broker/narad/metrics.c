/*
 * metrics.c — narad's counters and commit latency (metrics.h). Plain
 * counting with no knowledge of the broker; status.c renders them.
 */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>


/* A commit with fsync takes about a millisecond on SSD and tens on a busy
 * disk; the buckets cover both and the pathological seconds. */
const double metrics_bucket_le[METRICS_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};

int64_t
metrics_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->started = (int64_t)time(NULL);
	m->last_ok = true;
	m->last_ok_at = metrics_mono_us();
}

/* One store commit (or failed batch) of dur_us microseconds. */
void
metrics_commit(struct metrics *m, int64_t dur_us, bool ok)
{
	int64_t now = metrics_mono_us();
	double sec = (double)dur_us / 1e6;
	size_t b = 0, slot;

	m->last_ok = ok;
	if (!ok)
		return;
	m->last_ok_at = now;
	slot = (size_t)(now / 1000000 % METRICS_WINDOW_S);
	if (m->per_sec_at[slot] != now / 1000000) {
		m->per_sec_at[slot] = now / 1000000;
		m->per_sec[slot] = 0;
	}
	m->per_sec[slot]++;
	m->ring_us[m->ring_head] = dur_us > UINT32_MAX ? UINT32_MAX
	    : (uint32_t)dur_us;
	m->ring_at[m->ring_head] = now;
	m->ring_head = (m->ring_head + 1) % METRICS_RING;
	if (m->ring_n < METRICS_RING)
		m->ring_n++;
	while (b < METRICS_BUCKETS && sec > metrics_bucket_le[b])
		b++;
	m->bucket[b]++;
	m->hist_count++;
	m->hist_sum += sec;
}

void
metrics_accepted(struct metrics *m, int type)
{
	if (type >= 0 && type < METRICS_TYPES)
		m->accepted[type]++;
}

void
metrics_rejected(struct metrics *m, enum nara_code code)
{
	if ((int)code >= 0 && code < NR_CODE_COUNT)
		m->rejected[code]++;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t
metrics_latency(const struct metrics *m, int64_t window_us, uint64_t *p50,
    uint64_t *p99)
{
	uint32_t v[METRICS_RING];
	int64_t since = metrics_mono_us() - window_us;
	size_t n = 0;

	for (size_t i = 0; i < m->ring_n; i++)
		if (m->ring_at[i] >= since)
			v[n++] = m->ring_us[i];
	*p50 = *p99 = 0;
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_u32);
	/* nearest rank: the smallest value with at least p of the samples */
	*p50 = v[(n * 50 + 99) / 100 - 1];
	*p99 = v[(n * 99 + 99) / 100 - 1];
	return n;
}

uint64_t
metrics_commits_in_window(const struct metrics *m)
{
	int64_t now_s = metrics_mono_us() / 1000000;
	uint64_t n = 0;

	for (size_t i = 0; i < METRICS_WINDOW_S; i++)
		if (m->per_sec[i] > 0 && m->per_sec_at[i] > now_s - METRICS_WINDOW_S)
			n += m->per_sec[i];
	return n;
}

/* ---------------------------------------------------------------- history */

/* The sizes metrics.h and docs/OPERATIONS.md state. */
_Static_assert(sizeof(struct history_point) == 32, "history point size");
_Static_assert(sizeof(struct history_node) == 1508, "history node size");

struct history *
history_new(int64_t interval)
{
	struct history *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->interval = interval > 0 ? interval : 10;
	return h;
}

void
history_free(struct history **hp)
{
	if (*hp == NULL)
		return;
	free((*hp)->nodes);
	free(*hp);
	*hp = NULL;
}

/* The increase of a counter since the last sample, clamped to 32 bits
 * (a counter never goes back while narad runs). */
static uint32_t
delta(uint64_t now, uint64_t before)
{
	uint64_t d = now >= before ? now - before : 0;

	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

bool
history_sample(struct history *h, int64_t now,
    const struct history_counters *c, uint64_t queued)
{
	struct history_point *p = &h->point[h->head];

	memset(p, 0, sizeof(*p));
	p->at = now;
	if (h->have_last) {
		p->submitted = delta(c->submitted, h->last.submitted);
		p->accepted = delta(c->accepted, h->last.accepted);
		p->delivered = delta(c->delivered, h->last.delivered);
		p->refused = delta(c->refused, h->last.refused);
	}
	p->queued = queued > UINT32_MAX ? UINT32_MAX : (uint32_t)queued;
	h->last = *c;
	h->have_last = true;
	h->head = (h->head + 1) % HISTORY_SLOTS;
	if (h->n < HISTORY_SLOTS)
		h->n++;
	h->node_due = h->samples++ % HISTORY_NODE_EVERY == 0;
	if (!h->node_due)
		return false;
	/* a node the store does not report has nothing queued */
	for (size_t i = 0; i < h->n_nodes; i++)
		h->nodes[i].queued[h->node_head] = 0;
	h->node_at[h->node_head] = now;
	h->node_head = (h->node_head + 1) % HISTORY_NODE_SLOTS;
	if (h->node_n < HISTORY_NODE_SLOTS)
		h->node_n++;
	return true;
}

bool
history_node_due(const struct history *h)
{
	return h->samples % HISTORY_NODE_EVERY == 0;
}

int
history_node_queued(struct history *h, const char *node, uint64_t queued)
{
	size_t i, slot = (h->node_head + HISTORY_NODE_SLOTS - 1) %
	    HISTORY_NODE_SLOTS;
	struct history_node *grown;

	if (!h->node_due || strlen(node) > HISTORY_ID_MAX)
		return -1;
	for (i = 0; i < h->n_nodes; i++)
		if (strcmp(h->nodes[i].id, node) == 0)
			break;
	if (i == h->n_nodes) {
		if (h->n_nodes == HISTORY_MAX_NODES || (grown = realloc(h->nodes,
		    (h->n_nodes + 1) * sizeof(*grown))) == NULL)
			return -1;
		h->nodes = grown;
		memset(&h->nodes[i], 0, sizeof(h->nodes[i]));
		strcpy(h->nodes[i].id, node);
		h->n_nodes++;
	}
	h->nodes[i].queued[slot] = queued > UINT32_MAX ? UINT32_MAX
	    : (uint32_t)queued;
	return 0;
}

const struct history_point *
history_point_at(const struct history *h, size_t i)
{
	return &h->point[(h->head + HISTORY_SLOTS - h->n + i) % HISTORY_SLOTS];
}

size_t
history_node_slot(const struct history *h, size_t i)
{
	return (h->node_head + HISTORY_NODE_SLOTS - h->node_n + i) %
	    HISTORY_NODE_SLOTS;
}
