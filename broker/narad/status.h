/*
 * status.h — the views of narad's state for operators: the status and
 * node lists of naractl and /api, and the health of /healthz. Built on
 * demand from the broker's read-only operations; nothing here changes
 * state.
 */
#ifndef NARA_STATUS_H
#define NARA_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct broker;
struct counts;
struct evbuffer;
struct front;
struct ha;

/* What the views read: borrowed, and must outlive the view's users. */
struct ops_view {
	struct broker *broker;      /* NULL while a standby ([ha]) */
	struct front *front;        /* NULL without a TLS front */
	struct ha *ha;              /* NULL without [ha] */
};

/* {"version", "uptime_seconds", "nodes_connected", ...}; see
 * docs/OPERATIONS.md. New reference, NULL when the store fails. */
json_t *status_json(const struct ops_view *v);
/* {"nodes": [{"id", "name", "kind", "connected", ...}, ...]}. */
json_t *status_nodes_json(const struct ops_view *v);
/* Both (either may be NULL) from one read of the store's counts per node,
 * which walks every queued message, on the caller's thread: the control
 * socket's way when it cannot wait for the counts reader, and tests.
 * 0, or -1 with both NULL when the store could not be read. */
int status_both_json(const struct ops_view *v, json_t **st, json_t **nv);
/* The same from counts read already (counts.h; per node): /metrics, the
 * dashboard and naractl take them from the broker's counts reader. */
int status_both_of(const struct ops_view *v, const struct counts *c,
    json_t **st, json_t **nv);
/* /api/conns and `naractl conns`: per configured node (only node when
 * not NULL) its connection through the TLS front (peer, TLS version and
 * cipher, certificate subject and notAfter, since when), the software of
 * its newest hello and the front's last refusal of it; see
 * docs/OPERATIONS.md. New reference; NULL when node is not configured. */
json_t *status_conns_json(const struct ops_view *v, const char *node);
/* [ha] (status_ha.c): {"role", "instance", "epoch", "holder",
 * "lease_age_ms", "lease_ms", "since", "failovers", "last_error"}, or
 * JSON null without [ha]. */
json_t *status_ha_json(const struct ha *h);
/* The same for the active narad's status view, with "sync_standbys": the
 * database's synchronous standbys confirming every commit as the store
 * last saw them (store_replication; null when not known). */
json_t *status_ha_active_json(const struct ops_view *v);
/* What naractl status gets from a standby: {"version", "role", "now",
 * "ha"}. */
json_t *status_standby_json(const struct ops_view *v);
/* nara_active, nara_failovers_total, nara_lease_epoch and
 * nara_lease_age_seconds in the Prometheus text format; nothing without
 * [ha]. */
void status_ha_metrics(struct evbuffer *o, const struct ha *h);

/* The store's replication (status_store.c): {"backend", "sync_standbys"
 * (null: SQLite, or not known yet), "warning" (null, or why a commit may
 * be lost with the database host)}. New reference. */
json_t *status_store_json(const struct broker *b);
/* nara_store_sync_standbys and nara_store_replication_ok in the
 * Prometheus text format; nothing for SQLite or while not known. */
void status_store_metrics(struct evbuffer *o, const struct broker *b);

/* True when the last commit succeeded within the last 5 seconds. */
bool status_healthy(const struct ops_view *v);

struct history;

/* Take a history sample (metrics.h) at epoch second at from the broker's
 * counters and the counts read for it: with the counts per node when
 * history_node_due said so (a sample that needs them and has none is not
 * taken). */
void status_history_take(const struct ops_view *v, struct history *h,
    const struct counts *c, int64_t at);
/* /api/history: {"now", "interval_seconds", "slots", "samples": {"at",
 * "submitted_per_minute", ...}, "node_interval_seconds", "node_slots",
 * "nodes": {"at", "queued": {NODE: [...]}}}; see docs/OPERATIONS.md.
 * New reference. */
json_t *status_history_json(const struct history *h);
/* /api/dead and `naractl dead`: the newest limit dead letters (only those
 * for recipient node when not NULL), metadata only (id, type, nodes, code,
 * reason, times); never payload or subject. "total" counts all of them
 * (of node). New reference, NULL when the store fails. */
json_t *status_dead_json(const struct ops_view *v, const char *node,
    int limit);

/* A point in time as every view shows it: RFC 3339 in UTC
 * ("2026-12-03T09:15:00Z"), or null for 0 (never). New reference. */
json_t *status_time_json(int64_t epoch);

#endif
