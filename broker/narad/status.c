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
#include "counts.h"
#include "front.h"
#include "metrics.h"
#include "session.h"
#include "validate.h"
#include "version.h"

/* Store counts of one configured node, indexed like cfg->nodes. */
struct node_row {
	int64_t queued, oldest, receipts;
};

/* Per configured node: the counts read (rows[] indexed like cfg->nodes);
 * a node removed from the config counts only in the totals. */
static struct node_row *
node_rows(const struct broker *b, const struct counts *c)
{
	const struct config *cfg = broker_config(b);
	struct node_row *rows = calloc(cfg->n_nodes + 1, sizeof(*rows));
	const struct config_node *n;

	if (rows == NULL)
		return NULL;
	for (size_t i = 0; i < c->n; i++) {
		if ((n = config_node_find(cfg, c->nodes[i].node)) == NULL)
			continue;
		struct node_row *r = &rows[n - cfg->nodes];
		r->queued = c->nodes[i].queued;
		r->oldest = c->nodes[i].oldest;
		r->receipts = c->nodes[i].receipts;
	}
	return rows;
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

/* Whole days until narad's own TLS certificate expires (rounded down, as
 * the nodes' cert_days_left), null without the TLS front. */
static json_t *
own_cert_days_json(const struct ops_view *v, int64_t now)
{
	int64_t na, left;

	if (front_own_not_after(v->front, &na) != 0)
		return json_null();
	left = na - now;
	return json_integer(left >= 0 ? left / 86400 : -((-left + 86399) / 86400));
}

/* The status view from the store's totals and the oldest queued message
 * over all nodes. */
static json_t *
status_json_of(const struct ops_view *v, const struct store_totals *t,
    int64_t oldest)
{
	const struct broker *b = v->broker;
	const struct config *cfg = broker_config(b);
	const struct metrics *m = broker_metrics(b);
	struct broker_stats s;
	int64_t now = (int64_t)time(NULL);

	broker_stats(b, &s);
	return json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, "
	    "s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "version", NARA_VERSION, "broker_id", cfg->broker.id,
	    "now", status_time_json(now),
	    "started", status_time_json(m->started),
	    "uptime_seconds", (json_int_t)(now - m->started),
	    "nodes_configured", (json_int_t)cfg->n_nodes,
	    "nodes_connected", (json_int_t)s.nodes_connected,
	    "queued", (json_int_t)t->queued,
	    "in_flight", (json_int_t)broker_in_flight(b),
	    "oldest_queued_age_seconds", oldest > 0
	    ? json_integer(now > oldest ? now - oldest : 0) : json_null(),
	    "dead_letters", (json_int_t)t->dead,
	    "receipts_waiting", (json_int_t)t->receipts,
	    "audit_rows", (json_int_t)t->audit_rows,
	    "store_bytes", (json_int_t)t->bytes,
	    "store", status_store_json(b),
	    "commit_latency", latency_json(m),
	    "counters", counters_json(&s),
	    "thresholds", thresholds_json(&cfg->broker),
	    "broker_cert_days_left", own_cert_days_json(v, now),
	    "ha", status_ha_active_json(v));
}

json_t *
status_json(const struct ops_view *v)
{
	json_t *st;

	return status_both_json(v, &st, NULL) == 0 ? st : NULL;
}

json_t *
status_time_json(int64_t t)
{
	char buf[32];

	return t > 0 ? json_string(time_format(t, buf, sizeof(buf)))
	    : json_null();
}

/* The node's relaying connection through the TLS front, or null. */
static json_t *
connection_json(const struct ops_view *v, const char *node, int64_t now)
{
	struct front_conn_info ci;

	if (front_conn_of(v->front, node, &ci) != 0)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:I}",
	    "peer", ci.peer, "tls_version", ci.tls_version,
	    "cipher", ci.cipher, "certificate_subject", ci.subject,
	    "certificate_not_after", status_time_json(ci.not_after),
	    "certificate_expires_in_seconds", ci.not_after > 0
	    ? json_integer(ci.not_after - now) : json_null(),
	    "since", status_time_json(ci.since),
	    "generation", (json_int_t)ci.gen);
}

/* Why the front last refused a connection naming the node, or null. */
static json_t *
last_refusal_json(const struct ops_view *v, const char *node)
{
	struct front_last_refusal r;

	if (front_last_refusal(v->front, node, &r) != 0)
		return json_null();
	return json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:s?, s:I}",
	    "at", status_time_json(r.at), "event", r.event, "code", r.code,
	    "reason", front_reason_name(r.reason), "detail", r.what,
	    "peer", r.peer, "certificate_subject", r.subject[0] ? r.subject
	    : NULL, "count", (json_int_t)r.count);
}

/* Counters of what the node did since narad started; refusals by code,
 * only the codes that occurred. */
static json_t *
node_counters_json(const struct node_counts *c)
{
	json_t *refused = json_object();

	for (int i = 1; c != NULL && i < NR_CODE_COUNT; i++)
		if (c->refused[i] > 0)
			json_object_set_new(refused, nara_code_id((enum nara_code)i),
			    json_integer((json_int_t)c->refused[i]));
	return json_pack("{s:I, s:I, s:o}",
	    "submitted", (json_int_t)(c ? c->submitted : 0),
	    "delivered", (json_int_t)(c ? c->delivered : 0), "refused", refused);
}

/* What /api/conns and `naractl conns` show of one node. */
static json_t *
conn_detail_json(const struct ops_view *v, const struct config_node *n,
    int64_t now)
{
	struct broker_node_view s;

	broker_node_view(v->broker, n->id, &s);
	return json_pack("{s:s, s:s, s:b, s:o, s:s?, s:o, s:o}",
	    "id", n->id, "name", n->name, "connected", s.connected,
	    "connected_since", status_time_json(s.connected_since),
	    "software", s.software[0] ? s.software : NULL,
	    "connection", connection_json(v, n->id, now),
	    "last_refusal", last_refusal_json(v, n->id));
}

json_t *
status_conns_json(const struct ops_view *v, const char *node)
{
	const struct config *cfg = broker_config(v->broker);
	int64_t now = (int64_t)time(NULL), own = 0;
	json_t *list = json_array();

	for (size_t i = 0; i < cfg->n_nodes; i++)
		if (node == NULL || strcmp(cfg->nodes[i].id, node) == 0)
			json_array_append_new(list, conn_detail_json(v,
			    &cfg->nodes[i], now));
	if (node != NULL && json_array_size(list) == 0) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:o, s:s, s:b, s:o, s:o}", "now", status_time_json(now),
	    "broker_id", cfg->broker.id, "tls_front", v->front != NULL,
	    "broker_certificate_not_after", status_time_json(
	    front_own_not_after(v->front, &own) == 0 ? own : 0),
	    "nodes", list);
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
	    "s:o, s:s?, s:o, s:o, s:o}",
	    "id", n->id, "name", n->name, "kind", n->kind,
	    "connected", s.connected,
	    "connected_since", status_time_json(s.connected_since),
	    "last_seen", status_time_json(s.last_seen),
	    "in_flight", (json_int_t)s.in_flight,
	    "queued", (json_int_t)r->queued,
	    "receipts_waiting", (json_int_t)r->receipts,
	    "oldest_age_seconds", r->oldest > 0
	    ? json_integer(now > r->oldest ? now - r->oldest : 0) : json_null(),
	    "cert_days_left", have_days ? json_integer(days) : json_null(),
	    "software", s.software[0] ? s.software : NULL,
	    "connection", connection_json(v, n->id, now),
	    "last_refusal", last_refusal_json(v, n->id),
	    "counters", node_counters_json(s.counts));
}

static json_t *
nodes_json_of(const struct ops_view *v, const struct node_row *rows)
{
	const struct config *cfg = broker_config(v->broker);
	int64_t now = (int64_t)time(NULL);
	json_t *list = json_array();

	for (size_t i = 0; i < cfg->n_nodes; i++)
		json_array_append_new(list, node_json(v, &cfg->nodes[i], &rows[i],
		    now));
	return json_pack("{s:o, s:s, s:o}", "now", status_time_json(now),
	    "broker_id", cfg->broker.id, "nodes", list);
}

json_t *
status_nodes_json(const struct ops_view *v)
{
	json_t *nv;

	return status_both_json(v, NULL, &nv) == 0 ? nv : NULL;
}

int
status_both_json(const struct ops_view *v, json_t **st, json_t **nv)
{
	struct counts c;
	struct nara_err err = { 0 };
	int rc;

	if (counts_read(broker_store(v->broker), true, &c, &err) != 0) {
		if (st != NULL)
			*st = NULL;
		if (nv != NULL)
			*nv = NULL;
		return -1;
	}
	rc = status_both_of(v, &c, st, nv);
	counts_clear(&c);
	return rc;
}

int
status_both_of(const struct ops_view *v, const struct counts *c,
    json_t **st, json_t **nv)
{
	struct node_row *rows = NULL;

	if (st != NULL)
		*st = NULL;
	if (nv != NULL)
		*nv = NULL;
	if (!c->per_node)
		return -1;
	if (nv != NULL && (rows = node_rows(v->broker, c)) == NULL)
		return -1;
	if (st != NULL)
		*st = status_json_of(v, &c->totals, c->oldest);
	if (nv != NULL)
		*nv = nodes_json_of(v, rows);
	free(rows);
	if ((st != NULL && *st == NULL) || (nv != NULL && *nv == NULL)) {
		if (st != NULL) {
			json_decref(*st);
			*st = NULL;
		}
		if (nv != NULL) {
			json_decref(*nv);
			*nv = NULL;
		}
		return -1;
	}
	return 0;
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

/* Totals every sample; per node every HISTORY_NODE_EVERY-th (once a minute
 * by default): the counts per node walk every queued message (a GROUP BY,
 * and each row for its age), the total alone counts the entries of the
 * queue index, a third of that. Every configured node gets a ring, also
 * one that never had a queue. */
void
status_history_take(const struct ops_view *v, struct history *h,
    const struct counts *c, int64_t at)
{
	const struct config *cfg = broker_config(v->broker);
	struct history_counters hc;
	struct broker_stats s;

	if (history_node_due(h) && !c->per_node)
		return;     /* no depths per node: better no sample than zeros */
	broker_stats(v->broker, &s);
	hc.submitted = s.submits;
	hc.accepted = s.accepted;
	hc.delivered = s.delivered;
	hc.refused = s.rejected;
	if (!history_sample(h, at, &hc, (uint64_t)c->totals.queued))
		return;     /* not a sample per node */
	for (size_t i = 0; i < cfg->n_nodes; i++)
		history_node_queued(h, cfg->nodes[i].id, 0);
	for (size_t i = 0; i < c->n; i++)
		history_node_queued(h, c->nodes[i].node,
		    (uint64_t)c->nodes[i].queued);
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
struct dead_walk {
	json_t *list;
	const char *node;           /* recipient node to keep, NULL = all */
	int limit;
	int64_t matched;
};

static int
on_dead(void *arg, const struct store_msg_meta *mm)
{
	struct dead_walk *w = arg;

	if (w->node != NULL && (mm->m.recipient_node == NULL ||
	    strcmp(mm->m.recipient_node, w->node) != 0))
		return 0;
	if (w->matched++ >= w->limit)
		return 0;
	json_array_append_new(w->list, json_pack("{s:s, s:s, s:s, s:s, s:s, "
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
status_dead_json(const struct ops_view *v, const char *node, int limit)
{
	struct store_totals t;
	struct dead_walk w = { json_array(), node, limit, 0 };

	/* A node's dead letters are found among all of them, newest first. */
	if (store_totals(broker_store(v->broker), &t) != 0 ||
	    store_dead_list(broker_store(v->broker), node ? (int)(t.dead > 0 ?
	    (t.dead < INT32_MAX ? t.dead : INT32_MAX) : 1) : limit, on_dead,
	    &w) < 0) {
		json_decref(w.list);
		return NULL;
	}
	return json_pack("{s:o, s:s?, s:I, s:i, s:b, s:o}",
	    "now", status_time_json((int64_t)time(NULL)), "node", node,
	    "total", node ? (json_int_t)w.matched : (json_int_t)t.dead,
	    "limit", limit, "truncated", (node ? w.matched : t.dead) > limit,
	    "dead_letters", w.list);
}
