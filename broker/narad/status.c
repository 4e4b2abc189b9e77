/*
 * status.c — the views of the running broker that naractl, /metrics, the
 * API and the dashboard show (status.h), built from the broker's read-only
 * operations (broker.h), the counters (metrics.h) and the store's queries.
 */
#include "status.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "front.h"
#include "metrics.h"
#include "validate.h"
#include "version.h"

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
	const struct config *cfg = broker_config(b);
	struct stats_walk w = { cfg, calloc(cfg->n_nodes + 1,
	    sizeof(struct node_row)), 0 };

	if (w.rows == NULL)
		return NULL;
	if (store_node_stats(broker_store(b), on_node_stats, &w) != 0) {
		free(w.rows);
		return NULL;
	}
	if (oldest != NULL)
		*oldest = w.oldest;
	return w.rows;
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
status_json(const struct ops_view *v)
{
	const struct broker *b = v->broker;
	const struct config *cfg = broker_config(b);
	const struct metrics *m = broker_metrics(b);
	struct store_totals t;
	struct broker_stats s;
	int64_t now = (int64_t)time(NULL), oldest = 0;
	struct node_row *rows;

	if (store_totals(broker_store(b), &t) != 0 ||
	    (rows = node_rows(b, &oldest)) == NULL)
		return NULL;
	free(rows);
	broker_stats(b, &s);
	return json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, "
	    "s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
	    "version", NARA_VERSION, "broker_id", cfg->broker.id,
	    "now", status_time_json(now),
	    "started", status_time_json(m->started),
	    "uptime_seconds", (json_int_t)(now - m->started),
	    "nodes_configured", (json_int_t)cfg->n_nodes,
	    "nodes_connected", (json_int_t)s.nodes_connected,
	    "queued", (json_int_t)t.queued,
	    "in_flight", (json_int_t)broker_in_flight(b),
	    "oldest_queued_age_seconds", oldest > 0
	    ? json_integer(now > oldest ? now - oldest : 0) : json_null(),
	    "dead_letters", (json_int_t)t.dead,
	    "delivered", (json_int_t)t.delivered,
	    "receipts_waiting", (json_int_t)t.receipts,
	    "audit_rows", (json_int_t)t.audit_rows,
	    "store_bytes", (json_int_t)t.bytes,
	    "commit_latency", latency_json(m),
	    "counters", counters_json(&s),
	    "thresholds", thresholds_json(&cfg->broker));
}

json_t *
status_time_json(int64_t t)
{
	char buf[32];

	return t > 0 ? json_string(time_format(t, buf, sizeof(buf)))
	    : json_null();
}

/* One node as the nodes view shows it; certificate days only for a node
 * connected through the TLS front (front_cert_days knows no other). */
static json_t *
node_json(const struct ops_view *v, const struct config_node *n,
    const struct node_row *r, int64_t now)
{
	struct broker_node_view s;
	int days = 0;
	bool have_days = v->front != NULL &&
	    front_cert_days(v->front, n->id, &days) == 0;

	broker_node_view(v->broker, n->id, &s);
	return json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:I, s:I, s:I, s:o, "
	    "s:o}",
	    "id", n->id, "name", n->name, "kind", n->kind,
	    "connected", s.connected,
	    "connected_since", status_time_json(s.connected_since),
	    "last_seen", status_time_json(s.last_seen),
	    "in_flight", (json_int_t)s.in_flight,
	    "queued", (json_int_t)r->queued,
	    "receipts_waiting", (json_int_t)r->receipts,
	    "oldest_age_seconds", r->oldest > 0
	    ? json_integer(now > r->oldest ? now - r->oldest : 0) : json_null(),
	    "cert_days_left", have_days ? json_integer(days) : json_null());
}

json_t *
status_nodes_json(const struct ops_view *v)
{
	const struct config *cfg = broker_config(v->broker);
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
	o = json_pack("{s:o, s:s, s:o}", "now", status_time_json(now), "broker_id",
	    cfg->broker.id, "nodes", list);
	return o;
}

/* The tick commits once a second, so a good commit within 5 s says both
 * that the store works and that the loop is not stuck. */
bool
status_healthy(const struct ops_view *v)
{
	const struct metrics *m = broker_metrics(v->broker);

	return m->last_ok && metrics_mono_us() - m->last_ok_at < 5000000;
}

/* ---------------------------------------------------------------- history */

struct history_walk {
	struct history *h;
	uint64_t queued;
	bool nodes;                 /* second pass: per-node depths */
};

static int
on_history_stats(void *arg, const struct store_node_stats *s)
{
	struct history_walk *w = arg;

	if (w->nodes)
		history_node_queued(w->h, s->node, (uint64_t)s->queued);
	else
		w->queued += (uint64_t)s->queued;
	return 0;
}

/* Totals every sample; per node every HISTORY_NODE_EVERY-th, when the
 * store is read a second time (once a minute by default). Every configured
 * node gets a ring, also one that never had a queue. */
int
status_history_sample(const struct ops_view *v, struct history *h)
{
	const struct config *cfg = broker_config(v->broker);
	struct history_walk w = { h, 0, false };
	struct history_counters c;
	struct broker_stats s;

	if (store_node_stats(broker_store(v->broker), on_history_stats, &w) != 0)
		return -1;
	broker_stats(v->broker, &s);
	c.submitted = s.submits;
	c.accepted = s.accepted;
	c.delivered = s.delivered;
	c.refused = s.rejected;
	if (!history_sample(h, (int64_t)time(NULL), &c, w.queued))
		return 0;
	for (size_t i = 0; i < cfg->n_nodes; i++)
		history_node_queued(h, cfg->nodes[i].id, 0);
	w.nodes = true;
	return store_node_stats(broker_store(v->broker), on_history_stats, &w);
}

/* One count per sample as a rate per minute. */
static json_t *
per_minute(uint32_t count, int64_t interval)
{
	return json_real((double)count * 60.0 / (double)interval);
}

static json_t *
history_totals_json(const struct history *h)
{
	json_t *at = json_array(), *sub = json_array(), *acc = json_array();
	json_t *del = json_array(), *ref = json_array(), *q = json_array();

	for (size_t i = 0; i < h->n; i++) {
		const struct history_point *p = history_point_at(h, i);
		json_array_append_new(at, status_time_json(p->at));
		json_array_append_new(sub, per_minute(p->submitted, h->interval));
		json_array_append_new(acc, per_minute(p->accepted, h->interval));
		json_array_append_new(del, per_minute(p->delivered, h->interval));
		json_array_append_new(ref, per_minute(p->refused, h->interval));
		json_array_append_new(q, json_integer(p->queued));
	}
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "at", at,
	    "submitted_per_minute", sub, "accepted_per_minute", acc,
	    "delivered_per_minute", del, "refused_per_minute", ref, "queued", q);
}

static json_t *
history_nodes_json(const struct history *h)
{
	json_t *at = json_array(), *by_node = json_object(), *q;

	for (size_t i = 0; i < h->node_n; i++)
		json_array_append_new(at, status_time_json(
		    h->node_at[history_node_slot(h, i)]));
	for (size_t n = 0; n < h->n_nodes; n++) {
		q = json_array();
		for (size_t i = 0; i < h->node_n; i++)
			json_array_append_new(q, json_integer(
			    h->nodes[n].queued[history_node_slot(h, i)]));
		json_object_set_new(by_node, h->nodes[n].id, q);
	}
	return json_pack("{s:o, s:o}", "at", at, "queued", by_node);
}

json_t *
status_history_json(const struct history *h)
{
	return json_pack("{s:o, s:I, s:i, s:o, s:I, s:i, s:o}",
	    "now", status_time_json((int64_t)time(NULL)),
	    "interval_seconds", (json_int_t)h->interval,
	    "slots", HISTORY_SLOTS,
	    "samples", history_totals_json(h),
	    "node_interval_seconds", (json_int_t)(h->interval *
	    HISTORY_NODE_EVERY),
	    "node_slots", HISTORY_NODE_SLOTS,
	    "nodes", history_nodes_json(h));
}

/* ---------------------------------------------------------------- dead */

/* Metadata only: no payload, no subject, no conversation. */
static int
on_dead(void *arg, const struct store_msg_meta *mm)
{
	json_t *list = arg;

	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, "
	    "s:s, s:s, s:i, s:o, s:o, s:b}",
	    "message_id", mm->m.message_id,
	    "type", message_type_name((Nara__MessageType)mm->m.type),
	    "sender_node", mm->m.sender_node,
	    "recipient_node", mm->m.recipient_node,
	    "recipient", mm->m.recipient,
	    "code", mm->dead_code ? mm->dead_code : "",
	    "reason", mm->dead_text ? mm->dead_text : "",
	    "attempts", mm->m.attempts,
	    "accepted_at", status_time_json(mm->accepted_at),
	    "dead_at", status_time_json(mm->done_at),
	    "payload_kept", mm->payload_kept));
	return 0;
}

json_t *
status_dead_json(const struct ops_view *v, int limit)
{
	struct store_totals t;
	json_t *list = json_array();

	if (store_totals(broker_store(v->broker), &t) != 0 ||
	    store_dead_list(broker_store(v->broker), limit, on_dead, list) < 0) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:o, s:I, s:i, s:o}",
	    "now", status_time_json((int64_t)time(NULL)),
	    "total", (json_int_t)t.dead, "limit", limit, "dead_letters", list);
}
