/*
 * http.c — /metrics, /healthz, /api/status, /api/nodes, /api/conns,
 * /api/history, /api/dead, /api/message (http_message.c) and the dashboard
 * over evhttp, on the plain listener and the operators' HTTPS console
 * (console.c), which also takes the actions; http_conn.c bounds the
 * connections of each. The listeners own the history of the dashboard's
 * charts and the timer that samples it.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "audit_sign.h"
#include "broker.h"
#include "counts.h"
#include "front.h"
#include "metrics.h"
#include "opscheck.h"
#include "log.h"
#include "validate.h"
#include "version.h"

/* A request whose answer waits for the store's counts. */
enum http_wait_kind { WAIT_METRICS, WAIT_NODES, WAIT_STATUS };
struct http_wait {
	TAILQ_ENTRY(http_wait) link;
	struct http *h;
	struct evhttp_request *req;
	struct evhttp_connection *evcon; /* the request's when asked */
	enum http_wait_kind kind;
	struct counts_ask *ask;
};

/* The listeners; views are built per request from the running broker. */
struct http {
	struct ops_view view;
	struct http_listener *evh;  /* plain, read-only; NULL when off */
	struct http_listener *console; /* HTTPS with operators' certificates */
	struct history *history;    /* the charts' rings (metrics.h) */
	struct event *sampler;      /* every history_interval seconds */
	/* The store's counts are read off the loop (the broker's counts
	 * reader, counts.h): the views that show them answer when the read
	 * is done. */
	TAILQ_HEAD(, http_wait) waits;
	struct counts_ask *sample_ask; /* the history sample's, or NULL */
	int64_t sample_at;          /* epoch second it was asked */
	unsigned long samples_skipped;
};

/* The newest dead letters /api/dead lists; "total" says how many exist. */
#define HTTP_DEAD_LIMIT 500

/* ---------------------------------------------------------------- metrics */

static void
help(struct evbuffer *o, const char *name, const char *type, const char *text)
{
	evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, text, name,
	    type);
}

/* Label values: node ids are [A-Za-z0-9._-], but escape anyway. */
static void
label_value(struct evbuffer *o, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(o, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(o, "\\n", 2);
		else
			evbuffer_add(o, v, 1);
	}
}

/* One unlabelled sample with its HELP and TYPE lines. */
static void
gauge_total(struct evbuffer *o, const char *name, const char *type,
    const char *text, json_int_t v)
{
	help(o, name, type, text);
	evbuffer_add_printf(o, "%s %lld\n", name, (long long)v);
}

/* Every type and every code is listed, also at zero, so that rate() and
 * alerts work from the first scrape on. */
static void
by_type(struct evbuffer *o, const struct metrics *m)
{
	help(o, "nara_messages_accepted_total", "counter",
	    "Messages accepted into a queue, by type.");
	for (int t = 1; t < METRICS_TYPES; t++) {
		const char *name = message_type_name((Nara__MessageType)t);
		if (strcmp(name, "unknown") == 0)
			continue;
		evbuffer_add_printf(o, "nara_messages_accepted_total{type=\"%s\"} "
		    "%llu\n", name, (unsigned long long)m->accepted[t]);
	}
	help(o, "nara_messages_rejected_total", "counter",
	    "Refusals sent to nodes, by error code.");
	for (int c = 1; c < NR_CODE_COUNT; c++)
		evbuffer_add_printf(o, "nara_messages_rejected_total{code=\"%s\"} "
		    "%llu\n", nara_code_id((enum nara_code)c),
		    (unsigned long long)m->rejected[c]);
}

/* Prometheus buckets are cumulative; metrics.c counts per bucket. */
static void
latency(struct evbuffer *o, const struct metrics *m)
{
	uint64_t cum = 0;

	help(o, "nara_commit_latency_seconds", "histogram",
	    "Duration of store commits (group commit with fsync).");
	for (int b = 0; b < METRICS_BUCKETS; b++) {
		cum += m->bucket[b];
		evbuffer_add_printf(o, "nara_commit_latency_seconds_bucket{le=\"%g\"}"
		    " %llu\n", metrics_bucket_le[b], (unsigned long long)cum);
	}
	cum += m->bucket[METRICS_BUCKETS];
	evbuffer_add_printf(o, "nara_commit_latency_seconds_bucket{le=\"+Inf\"} "
	    "%llu\nnara_commit_latency_seconds_sum %.6f\n"
	    "nara_commit_latency_seconds_count %llu\n", (unsigned long long)cum,
	    m->hist_sum, (unsigned long long)m->hist_count);
}

/* One per-node gauge over the node array; key NULL entries are skipped. */
static void
per_node(struct evbuffer *o, json_t *nodes, const char *name, const char *text,
    const char *key)
{
	size_t i;
	json_t *n, *v;

	help(o, name, "gauge", text);
	json_array_foreach(nodes, i, n) {
		v = json_object_get(n, key);
		if (v == NULL || json_is_null(v))
			continue;
		evbuffer_add_printf(o, "%s{node=\"", name);
		label_value(o, json_string_value(json_object_get(n, "id")));
		evbuffer_add_printf(o, "\"} %lld\n", json_is_boolean(v)
		    ? (long long)json_is_true(v) : (long long)json_integer_value(v));
	}
}

/* Per node since start: submits received, deliveries handed to its
 * connection, refusals sent to it by code (only codes that occurred, so
 * that 53 nodes do not make 3,500 series of zeros). */
static void
node_counters(struct evbuffer *o, json_t *nodes)
{
	static const char *const fam[2][3] = {
	    { "nara_node_submitted_total", "submitted", "Submits received from "
	    "the node since narad started." },
	    { "nara_node_delivered_total", "delivered", "Deliveries handed to "
	    "the node's connection since narad started (redeliveries too)." } };
	size_t i;
	json_t *n, *v;
	const char *code;

	for (int f = 0; f < 2; f++) {
		help(o, fam[f][0], "counter", fam[f][2]);
		json_array_foreach(nodes, i, n) {
			evbuffer_add_printf(o, "%s{node=\"", fam[f][0]);
			label_value(o, json_string_value(json_object_get(n, "id")));
			evbuffer_add_printf(o, "\"} %lld\n", (long long)
			    json_integer_value(json_object_get(json_object_get(n,
			    "counters"), fam[f][1])));
		}
	}
	help(o, "nara_node_refused_total", "counter", "Refusals sent to the "
	    "node since narad started, by catalogue code (codes that occurred).");
	json_array_foreach(nodes, i, n) {
		json_object_foreach(json_object_get(json_object_get(n, "counters"),
		    "refused"), code, v) {
			evbuffer_add_printf(o, "nara_node_refused_total{node=\"");
			label_value(o, json_string_value(json_object_get(n, "id")));
			evbuffer_add_printf(o, "\",code=\"%s\"} %lld\n", code,
			    (long long)json_integer_value(v));
		}
	}
}

/* The TLS front's refusals by reason, and the certificates' remaining
 * validity: narad's own and each relaying node's. */
static void
front_metrics(struct evbuffer *o, const struct ops_view *v, json_t *nodes)
{
	uint64_t by[FRONT_REASONS];
	int64_t own, now = (int64_t)time(NULL);
	size_t i;
	json_t *n, *left;

	if (v->front == NULL)
		return;
	front_refusal_counts(v->front, by);
	help(o, "nara_connection_refusals_total", "counter", "Connections the "
	    "TLS front refused since narad started, by reason.");
	for (int r = 0; r < FRONT_REASONS; r++)
		evbuffer_add_printf(o, "nara_connection_refusals_total{reason="
		    "\"%s\"} %llu\n", front_reason_name((enum front_reason)r),
		    (unsigned long long)by[r]);
	if (front_own_not_after(v->front, &own) == 0)
		gauge_total(o, "nara_broker_certificate_expiry_seconds", "gauge",
		    "Seconds until narad's own TLS certificate expires "
		    "(negative once expired).", own - now);
	help(o, "nara_node_certificate_expiry_seconds", "gauge", "Seconds until "
	    "the certificate of the node's live TLS connection expires.");
	json_array_foreach(nodes, i, n) {
		left = json_object_get(json_object_get(n, "connection"),
		    "certificate_expires_in_seconds");
		if (!json_is_integer(left))
			continue;
		evbuffer_add_printf(o, "nara_node_certificate_expiry_seconds{node="
		    "\"");
		label_value(o, json_string_value(json_object_get(n, "id")));
		evbuffer_add_printf(o, "\"} %lld\n", (long long)
		    json_integer_value(left));
	}
}

/* store_ckpt_fn: the newest checkpoint time. */
static int
on_checkpoint(void *arg, const struct audit_checkpoint *c, bool well_formed)
{
	int64_t *newest = arg;

	if (well_formed && c->time_ms / 1000 > *newest)
		*newest = c->time_ms / 1000;
	return 0;
}

/* When narad last signed the audit chain (head or retention cut); absent
 * while no checkpoint exists (no signing key, or none due yet). */
static void
checkpoint_metric(struct evbuffer *o, const struct ops_view *v)
{
	struct nara_err err = { 0 };
	int64_t newest = 0;

	if (store_audit_checkpoints(broker_store(v->broker), "head",
	    on_checkpoint, &newest, &err) != 0 ||
	    store_audit_checkpoints(broker_store(v->broker), "cut",
	    on_checkpoint, &newest, &err) != 0 || newest == 0)
		return;
	gauge_total(o, "nara_audit_last_checkpoint_timestamp_seconds", "gauge",
	    "Unix time of the newest signed audit checkpoint.", newest);
}

/* Broker-wide gauges and counters, read from the status view so that
 * /metrics and naractl status never disagree. */
static void
totals(struct evbuffer *o, json_t *st)
{
#define G(name, key, text) gauge_total(o, name, "gauge", text, \
	json_integer_value(json_object_get(st, key)))
	G("nara_dead_letters", "dead_letters", "Messages in the dead-letter state.");
	G("nara_store_bytes", "store_bytes", "Size of the store database.");
	G("nara_audit_rows", "audit_rows", "Rows in the audit log (falls when "
	    "retention prunes).");
	G("nara_messages_queued", "queued", "Messages waiting for delivery.");
	G("nara_messages_in_flight", "in_flight", "Deliveries waiting for an ack.");
	G("nara_nodes_configured", "nodes_configured", "Nodes in the configuration.");
	G("nara_nodes_connected", "nodes_connected", "Nodes connected now.");
	G("nara_uptime_seconds", "uptime_seconds", "Seconds since narad started.");
#undef G
	json_t *c = json_object_get(st, "counters");
#define C(name, key, text) gauge_total(o, name, "counter", text, \
	json_integer_value(json_object_get(c, key)))
	C("nara_messages_delivered_total", "delivered", "Delivery attempts sent.");
	C("nara_messages_acked_total", "acked", "Deliveries acked by recipients.");
	C("nara_messages_nacked_total", "nacked", "Deliveries refused by recipients.");
	C("nara_messages_expired_total", "expired", "Messages expired undelivered.");
	C("nara_commit_failures_total", "commit_failures", "Batches not committed.");
#undef C
}

/* The whole /metrics body from the counts read; -1 when there are none
 * (503). */
static int
metrics_text(struct http *h, const struct counts *c, struct evbuffer *o)
{
	json_t *st, *nv, *nodes;

	if (c == NULL || status_both_of(&h->view, c, &st, &nv) != 0)
		return -1;
	nodes = json_object_get(nv, "nodes");
	help(o, "nara_build_info", "gauge", "Version of narad.");
	evbuffer_add_printf(o, "nara_build_info{version=\"%s\"} 1\n",
	    NARA_VERSION);
	gauge_total(o, "process_start_time_seconds", "gauge", "Start time of "
	    "narad since the Unix epoch in seconds.",
	    broker_metrics(h->view.broker)->started);
	by_type(o, broker_metrics(h->view.broker));
	per_node(o, nodes, "nara_queue_depth", "Messages queued for the node.",
	    "queued");
	per_node(o, nodes, "nara_queue_oldest_age_seconds", "Age of the oldest "
	    "message queued for the node (absent when none).", "oldest_age_seconds");
	per_node(o, nodes, "nara_node_connected", "1 when the node is connected.",
	    "connected");
	node_counters(o, nodes);
	front_metrics(o, &h->view, nodes);
	checkpoint_metric(o, &h->view);
	status_ha_metrics(o, h->view.ha);
	status_store_metrics(o, h->view.broker);
	latency(o, broker_metrics(h->view.broker));
	totals(o, st);
	json_decref(st);
	json_decref(nv);
	return 0;
}

/* ---------------------------------------------------------------- routes */

/* Every answer is uncached: operators look at live numbers. */
static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

	evhttp_add_header(hdr, "Content-Type", type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, code, reason, body);
}

static void
serve_json(struct evhttp_request *req, json_t *j)
{
	struct evbuffer *o = evbuffer_new();
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text == NULL) {
		evbuffer_add_printf(o, "store query failed\n");
		reply(req, 503, "Service Unavailable", "text/plain", o);
	} else {
		evbuffer_add(o, text, strlen(text));
		reply(req, 200, "OK", "application/json", o);
	}
	free(text);
	json_decref(j);
	evbuffer_free(o);
}

/* /api/message: 200 with the message, or the refusal with its status. */
static void
serve_message(struct http *h, struct evhttp_request *req, const char *query)
{
	struct evbuffer *o = evbuffer_new();
	int status = 503;
	json_t *j = http_message_json(&h->view, query, &status);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text != NULL)
		evbuffer_add(o, text, strlen(text));
	reply(req, text ? status : 503, status == 200 ? "OK" : status == 404 ?
	    "Not Found" : status == 400 ? "Bad Request" : "Service Unavailable",
	    "application/json", o);
	free(text);
	json_decref(j);
	evbuffer_free(o);
}

/* /api/nodes: the node table, the broker totals of naractl status, and
 * the overall state exactly as `naractl check` computes it (opscheck.h)
 * with the configured thresholds. */
static json_t *
api_nodes(struct http *h, const struct counts *c)
{
	json_t *nv, *st;
	struct opscheck_thresholds th;
	json_t *check;

	if (c == NULL || status_both_of(&h->view, c, &st, &nv) != 0)
		return NULL;
	opscheck_thresholds_of(st, &th);
	if ((check = opscheck_eval(st, nv, &th)) != NULL)
		json_object_set_new(nv, "check", check);
	json_object_set_new(nv, "status", st);
	return nv;
}

/* An action on the console (operator set) or a method nobody takes. */
static void
not_get(struct http *h, struct evhttp_request *req, const char *path,
    const char *operator, struct evbuffer *o)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char *text;
	json_t *r;
	int status;

	if (operator != NULL && cmd == EVHTTP_REQ_POST &&
	    (strcmp(path, "/api/retry") == 0 ||
	    strcmp(path, "/api/retry-node") == 0)) {
		r = console_action(&h->view, req, path, operator, &status);
		text = json_dumps(r, JSON_COMPACT);
		json_decref(r);
		evbuffer_add(o, text, strlen(text));
		free(text);
		reply(req, status, status == 200 ? "OK" : "Refused",
		    "application/json", o);
		return;
	}
	evbuffer_add_printf(o, operator ? "POST only to /api/retry and "
	    "/api/retry-node\n" : "read-only: GET only\n");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    operator ? "GET, HEAD, POST" : "GET, HEAD");
	reply(req, 405, "Method Not Allowed", "text/plain", o);
}

/* The counts are read: the waiting request gets its answer. */
static void
on_counts(void *arg, const struct counts *c, const char *error)
{
	struct http_wait *w = arg;
	struct http *h = w->h;
	struct evbuffer *o;
	json_t *st;

	TAILQ_REMOVE(&h->waits, w, link);
	if (c == NULL)
		log_warn("http: the store's counts cannot be read: %s", error);
	switch (w->kind) {
	case WAIT_METRICS:
		o = evbuffer_new();
		if (metrics_text(h, c, o) == 0) {
			reply(w->req, 200, "OK", "text/plain; version=0.0.4", o);
		} else {
			evbuffer_add_printf(o, "store query failed\n");
			reply(w->req, 503, "Service Unavailable", "text/plain", o);
		}
		evbuffer_free(o);
		break;
	case WAIT_NODES:
		serve_json(w->req, api_nodes(h, c));
		break;
	case WAIT_STATUS:
		serve_json(w->req, c != NULL && status_both_of(&h->view, c, &st,
		    NULL) == 0 ? st : NULL);
		break;
	}
	free(w);
}

/* The answer to req waits for a read of the store's counts begun now. */
static void
wait_counts(struct http *h, struct evhttp_request *req,
    enum http_wait_kind kind)
{
	struct http_wait *w = calloc(1, sizeof(*w));

	if (w != NULL) {
		w->h = h;
		w->req = req;
		w->evcon = evhttp_request_get_connection(req);
		w->kind = kind;
		TAILQ_INSERT_TAIL(&h->waits, w, link);
		if ((w->ask = counts_ask(broker_counts(h->view.broker), true,
		    on_counts, w)) != NULL)
			return;
		TAILQ_REMOVE(&h->waits, w, link);
		free(w);
	}
	serve_json(req, NULL);      /* out of memory: 503 */
}

/* evhttp frees evcon and the requests it holds: theirs are not sent. A
 * request evhttp already took off the connection (its peer went away
 * while it waited) lives on, and the reply frees it. */
static void
on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http *h = arg;
	struct http_wait *w, *next;

	for (w = TAILQ_FIRST(&h->waits); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->evcon != evcon || evhttp_request_get_connection(w->req)
		    != evcon)
			continue;
		counts_ask_cancel(w->ask);
		TAILQ_REMOVE(&h->waits, w, link);
		free(w);
	}
}

/* A standby ([ha]) has no broker: /alive says it lives, /healthz that it
 * does not serve (a load balancer sends nodes to the active narad),
 * /metrics has its role and the lease, /api/status and the dashboard show
 * them to an operator, the rest names who serves. */
static void
route_standby(struct http *h, struct evhttp_request *req, const char *path,
    struct evbuffer *o)
{
	json_t *ha = status_ha_json(h->view.ha);
	const char *holder = json_string_value(json_object_get(ha, "holder"));

	if (strcmp(path, "/alive") == 0) {
		evbuffer_add_printf(o, "alive, standby\n");
		reply(req, 200, "OK", "text/plain", o);
	} else if (strcmp(path, "/metrics") == 0) {
		help(o, "nara_build_info", "gauge", "Version of narad.");
		evbuffer_add_printf(o, "nara_build_info{version=\"%s\"} 1\n",
		    NARA_VERSION);
		status_ha_metrics(o, h->view.ha);
		reply(req, 200, "OK", "text/plain; version=0.0.4", o);
	} else if (strcmp(path, "/api/status") == 0) {
		serve_json(req, status_standby_json(&h->view));
	} else if (strcmp(path, "/") == 0) {
		evbuffer_add(o, http_dashboard_html, strlen(http_dashboard_html));
		reply(req, 200, "OK", "text/html; charset=utf-8", o);
	} else {
		evbuffer_add_printf(o, "standby: this narad does not serve; the "
		    "lease is held by %s\n", holder != NULL && holder[0] != '\0'
		    ? holder : "nobody yet");
		reply(req, 503, "Service Unavailable", "text/plain", o);
	}
	json_decref(ha);
}

/* The router: ten read-only paths, GET or HEAD; on the console (operator
 * set) also /api/whoami and the actions. */
static void
route(struct http *h, struct evhttp_request *req, const char *operator)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evhttp_uri *parsed = evhttp_uri_parse(uri);
	const char *path = parsed ? evhttp_uri_get_path(parsed) : NULL;
	struct evbuffer *o = evbuffer_new();
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (path == NULL || path[0] == '\0')
		path = "/";
	if (h->view.broker == NULL) {
		route_standby(h, req, path, o);
	} else if (strcmp(path, "/alive") == 0) {
		evbuffer_add_printf(o, "alive, %s\n", h->view.ha != NULL ?
		    "active" : "serving");
		reply(req, 200, "OK", "text/plain", o);
	} else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		not_get(h, req, path, operator, o);
	} else if (operator != NULL && strcmp(path, "/api/whoami") == 0) {
		serve_json(req, json_pack("{s:s}", "operator", operator));
	} else if (strcmp(path, "/metrics") == 0) {
		wait_counts(h, req, WAIT_METRICS);
	} else if (strcmp(path, "/healthz") == 0) {
		bool ok = status_healthy(&h->view);
		evbuffer_add_printf(o, ok ? "ok\n" : "store not committing\n");
		reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable",
		    "text/plain", o);
	} else if (strcmp(path, "/api/nodes") == 0) {
		wait_counts(h, req, WAIT_NODES);
	} else if (strcmp(path, "/api/status") == 0) {
		wait_counts(h, req, WAIT_STATUS);
	} else if (strcmp(path, "/api/conns") == 0) {
		serve_json(req, status_conns_json(&h->view, NULL));
	} else if (strcmp(path, "/api/history") == 0) {
		serve_json(req, status_history_json(h->history));
	} else if (strcmp(path, "/api/dead") == 0) {
		serve_json(req, status_dead_json(&h->view, NULL,
		    HTTP_DEAD_LIMIT));
	} else if (strcmp(path, "/api/message") == 0) {
		serve_message(h, req, evhttp_uri_get_query(parsed));
	} else if (strcmp(path, "/") == 0) {
		evbuffer_add(o, http_dashboard_html, strlen(http_dashboard_html));
		reply(req, 200, "OK", "text/html; charset=utf-8", o);
	} else {
		evbuffer_add_printf(o, "not found\n");
		reply(req, 404, "Not Found", "text/plain", o);
	}
	evbuffer_free(o);
	if (parsed != NULL)
		evhttp_uri_free(parsed);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	route(arg, req, NULL);
}

/* The console: the handshake verified the certificate; without one
 * (cannot happen: the handshake needs it) nothing is served. */
static void
on_console_request(struct evhttp_request *req, void *arg)
{
	char operator[400];
	struct evbuffer *o;

	if (console_operator(req, operator, sizeof(operator)) == 0) {
		route(arg, req, operator);
		return;
	}
	o = evbuffer_new();
	evbuffer_add_printf(o, "no verified client certificate\n");
	reply(req, 403, "Forbidden", "text/plain", o);
	evbuffer_free(o);
}

/* ---------------------------------------------------------------- life */

/* The counts for a sample are read: it is taken at the time it was
 * asked. A store that cannot be read skips the sample: the chart shows the
 * gap as a longer step, and /healthz already reports the store. */
static void
on_sample_counts(void *arg, const struct counts *c, const char *error)
{
	struct http *h = arg;

	h->sample_ask = NULL;
	if (c == NULL)
		log_warn("history: store not readable, sample skipped: %s",
		    error);
	else
		status_history_take(&h->view, h->history, c, h->sample_at);
}

/* A read still under way from the previous sample (a store slower than
 * the interval) skips this one, with a warning now and then. */
static void
on_sample(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;

	(void)fd;
	(void)what;
	if (h->sample_ask != NULL) {
		if (h->samples_skipped++ % 60 == 0)
			log_warn("history: the store's counts take longer than "
			    "history_interval; %lu samples skipped so far",
			    h->samples_skipped);
		return;
	}
	h->sample_at = (int64_t)time(NULL);
	h->sample_ask = counts_ask(broker_counts(h->view.broker),
	    history_node_due(h->history), on_sample_counts, h);
}

/* The history starts with narad: one sample now, then one per interval. */
static int
history_start(struct http *h, struct event_base *base)
{
	int64_t interval = (int64_t)broker_config(h->view.broker)->broker
	    .history_interval;
	struct timeval tv = { (time_t)interval, 0 };

	if ((h->history = history_new(interval)) == NULL ||
	    (h->sampler = event_new(base, -1, EV_PERSIST, on_sample, h)) == NULL)
		return -1;
	on_sample(-1, 0, h);
	return event_add(h->sampler, &tv);
}

/* One listener on listen: plain (ctx NULL) or TLS with ctx. */
static struct http_listener *
listener_new(struct http *h, struct event_base *base, const char *listen,
    SSL_CTX *ctx, const struct config *cfg)
{
	struct http_listener *l;
	struct evhttp *evh;

	if ((l = http_listener_new(base, ctx ? "console_listen" :
	    "http_listen", listen, ctx, cfg, ctx ? on_console_request :
	    on_request, h)) == NULL)
		return NULL;
	http_listener_on_close(l, on_conn_closed);
	evh = http_listener_evhttp(l);
	evhttp_set_allowed_methods(evh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	/* Slow or large requests are not what a scraper sends: bound both
	 * (the idle timeout here, the whole request in http_conn.c). Other
	 * methods are let through evhttp so that they get a 405 with an
	 * Allow header rather than a bare 501. Only the console takes a
	 * (small) body. */
	evhttp_set_timeout(evh, 10);
	evhttp_set_max_headers_size(evh, 8192);
	evhttp_set_max_body_size(evh, ctx ? 4096 : 0);
	log_info("%s on %s://%s/", ctx ? "operators' console (client "
	    "certificates)" : "metrics and dashboard", ctx ? "https" : "http",
	    listen);
	return l;
}

struct http *
http_new(struct event_base *base, const struct ops_view *view,
    const char *listen, const struct config *cfg)
{
	struct http *h = calloc(1, sizeof(*h));
	const char *console = cfg->broker.console_listen;
	SSL_CTX *ctx;

	if (h == NULL)
		return NULL;
	h->view = *view;
	TAILQ_INIT(&h->waits);
	/* a standby ([ha], no broker) answers only /alive, /healthz and
	 * /metrics on the plain listener: no history, no console */
	if (view->broker == NULL)
		console = "";
	else if (history_start(h, base) != 0) {
		log_error("http: no memory for the history");
		goto fail;
	}
	if (listen[0] != '\0' &&
	    (h->evh = listener_new(h, base, listen, NULL, cfg)) == NULL)
		goto fail;
	if (console[0] != '\0') {
		if ((ctx = console_tls_new(cfg)) == NULL)
			goto fail;
		h->console = listener_new(h, base, console, ctx, cfg);
		SSL_CTX_free(ctx);          /* the listener has its own */
		if (h->console == NULL)
			goto fail;
	}
	return h;
fail:
	http_free(&h);
	return NULL;
}

int
http_reload(struct http *h, const struct config *cfg)
{
	SSL_CTX *ctx;
	size_t closed;

	if (h->evh != NULL)
		http_listener_limits(h->evh, cfg);
	if (h->console == NULL)
		return 0;
	http_listener_limits(h->console, cfg);
	if (strcmp(cfg->broker.console_listen,
	    http_listener_address(h->console)) != 0)
		log_warn("console_listen change to %s takes effect at the next "
		    "restart", cfg->broker.console_listen);
	/* A revoked operator's certificate must stop working now, and a
	 * renewed CRL or broker certificate be taken before the old one
	 * expires. */
	if ((ctx = console_tls_new(cfg)) == NULL) {
		log_error("console: reload failed; keeping the old certificate, "
		    "operators' CA and CRLs");
		return -1;
	}
	closed = http_listener_set_ctx(h->console, ctx);
	log_info("console: certificates and CRLs reloaded, %zu connections "
	    "closed", closed);
	return 0;
}

void
http_free(struct http **hp)
{
	struct http *h = *hp;
	struct http_wait *w;

	if (h == NULL)
		return;
	if (h->sampler != NULL)
		event_free(h->sampler);
	/* the waiting requests go with their connections (evhttp_free) */
	counts_ask_cancel(h->sample_ask);
	while ((w = TAILQ_FIRST(&h->waits)) != NULL) {
		counts_ask_cancel(w->ask);
		TAILQ_REMOVE(&h->waits, w, link);
		free(w);
	}
	history_free(&h->history);
	http_listener_free(&h->evh);
	http_listener_free(&h->console);
	free(h);
	*hp = NULL;
}
