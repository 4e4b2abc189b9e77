/*
 * metrics.c — narad's counters, commit latency, and the JSON views of the
 * running broker shared by the control socket and the HTTP listener.
 */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker_int.h"
#include "front.h"
#include "version.h"

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

/* ---------------------------------------------------------------- views */

/* Store counts of one configured node, indexed like cfg->nodes. */
struct node_row {
	int64_t queued, oldest, receipts;
};

struct stats_walk {
	const struct config *cfg;
	struct node_row *rows;
	int64_t oldest;             /* over all nodes, 0 = nothing queued */
};

static int
on_node_stats(void *arg, const struct store_node_stats *s)
{
	struct stats_walk *w = arg;
	const struct config_node *n = config_node_find(w->cfg, s->node);

	if (s->oldest_created > 0 && (w->oldest == 0 || s->oldest_created <
	    w->oldest))
		w->oldest = s->oldest_created;
	if (n == NULL)
		return 0;   /* a node removed from the config: totals only */
	struct node_row *r = &w->rows[n - w->cfg->nodes];
	r->queued = s->queued;
	r->oldest = s->oldest_created;
	r->receipts = s->receipts;
	return 0;
}

/* Per configured node: store counts (rows[] indexed like cfg->nodes). */
static struct node_row *
node_rows(const struct broker *b, int64_t *oldest)
{
	struct stats_walk w = { b->cfg, calloc(b->cfg->n_nodes + 1,
	    sizeof(struct node_row)), 0 };

	if (w.rows == NULL)
		return NULL;
	if (store_node_stats(b->store, on_node_stats, &w) != 0) {
		free(w.rows);
		return NULL;
	}
	if (oldest != NULL)
		*oldest = w.oldest;
	return w.rows;
}

/* Deliveries and receipts sent and not yet acked, over all sessions. */
static size_t
in_flight(const struct broker *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->sessions.n; i++)
		n += b->sessions.v[i].n_fl;
	return n;
}

static json_t *
latency_json(const struct metrics *m)
{
	uint64_t p50, p99;
	size_t n = metrics_latency(m, METRICS_WINDOW_US, &p50, &p99);

	return json_pack("{s:i, s:I, s:I, s:I, s:I}", "window_seconds",
	    METRICS_WINDOW_S, "commits",
	    (json_int_t)metrics_commits_in_window(m), "samples", (json_int_t)n,
	    "p50_us", (json_int_t)p50, "p99_us", (json_int_t)p99);
}

static json_t *
counters_json(const struct broker_stats *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "submits", (json_int_t)s->submits,
	    "accepted", (json_int_t)s->accepted,
	    "rejected", (json_int_t)s->rejected,
	    "duplicates", (json_int_t)s->duplicates,
	    "delivered", (json_int_t)s->delivered,
	    "acked", (json_int_t)s->acked,
	    "nacked", (json_int_t)s->nacked,
	    "expired", (json_int_t)s->expired,
	    "commits", (json_int_t)s->commits,
	    "commit_failures", (json_int_t)s->commit_failures);
}

static json_t *
thresholds_json(const struct config_broker *cb)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "warn_age_seconds", (json_int_t)cb->check_warn_age,
	    "crit_age_seconds", (json_int_t)cb->check_crit_age,
	    "warn_days", (json_int_t)cb->check_warn_days,
	    "crit_days", (json_int_t)cb->check_crit_days,
	    "disconnected_warn", (json_int_t)cb->check_disconnected_warn);
}

json_t *
metrics_status_json(const struct ops_view *v)
{
	const struct broker *b = v->broker;
	struct store_totals t;
	struct broker_stats s;
	int64_t now = (int64_t)time(NULL), oldest = 0;
	struct node_row *rows;

	if (store_totals(b->store, &t) != 0 ||
	    (rows = node_rows(b, &oldest)) == NULL)
		return NULL;
	free(rows);
	broker_stats(b, &s);
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, "
	    "s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
	    "version", NARA_VERSION, "broker_id", b->cfg->broker.id,
	    "now", (json_int_t)now,
	    "started", (json_int_t)b->metrics.started,
	    "uptime_seconds", (json_int_t)(now - b->metrics.started),
	    "nodes_configured", (json_int_t)b->cfg->n_nodes,
	    "nodes_connected", (json_int_t)s.nodes_connected,
	    "queued", (json_int_t)t.queued,
	    "in_flight", (json_int_t)in_flight(b),
	    "oldest_queued_age_seconds", oldest > 0
	    ? json_integer(now > oldest ? now - oldest : 0) : json_null(),
	    "dead_letters", (json_int_t)t.dead,
	    "delivered", (json_int_t)t.delivered,
	    "receipts_waiting", (json_int_t)t.receipts,
	    "audit_rows", (json_int_t)t.audit_rows,
	    "store_bytes", (json_int_t)t.bytes,
	    "commit_latency", latency_json(&b->metrics),
	    "counters", counters_json(&s),
	    "thresholds", thresholds_json(&b->cfg->broker));
}

static json_t *
time_or_null(int64_t t)
{
	return t > 0 ? json_integer(t) : json_null();
}

/* One node as the nodes view shows it; certificate days only for a node
 * connected through the TLS front (front_cert_days knows no other). */
static json_t *
node_json(const struct ops_view *v, const struct config_node *n,
    const struct node_row *r, int64_t now)
{
	struct broker *b = v->broker;
	const struct session *s = session_find(&b->sessions, n->id);
	int days = 0;
	bool have_days = v->front != NULL &&
	    front_cert_days(v->front, n->id, &days) == 0;

	return json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:I, s:I, s:I, s:o, "
	    "s:o}",
	    "id", n->id, "name", n->name, "kind", n->kind,
	    "connected", s != NULL && s->connected,
	    "connected_since", time_or_null(s ? s->connected_since : 0),
	    "last_seen", time_or_null(s ? s->last_seen : 0),
	    "in_flight", (json_int_t)(s ? s->n_fl : 0),
	    "queued", (json_int_t)r->queued,
	    "receipts_waiting", (json_int_t)r->receipts,
	    "oldest_age_seconds", r->oldest > 0
	    ? json_integer(now > r->oldest ? now - r->oldest : 0) : json_null(),
	    "cert_days_left", have_days ? json_integer(days) : json_null());
}

json_t *
metrics_nodes_json(const struct ops_view *v)
{
	const struct config *cfg = v->broker->cfg;
	int64_t now = (int64_t)time(NULL);
	struct node_row *rows = node_rows(v->broker, NULL);
	json_t *list, *o;

	if (rows == NULL)
		return NULL;
	list = json_array();
	for (size_t i = 0; i < cfg->n_nodes; i++)
		json_array_append_new(list, node_json(v, &cfg->nodes[i], &rows[i],
		    now));
	free(rows);
	o = json_pack("{s:I, s:s, s:o}", "now", (json_int_t)now, "broker_id",
	    cfg->broker.id, "nodes", list);
	return o;
}

/* The tick commits once a second, so a good commit within 5 s says both
 * that the store works and that the loop is not stuck. */
bool
metrics_healthy(const struct ops_view *v)
{
	const struct metrics *m = &v->broker->metrics;

	return m->last_ok && metrics_mono_us() - m->last_ok_at < 5000000;
}
