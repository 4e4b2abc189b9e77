/*
 * http_int.h — what the HTTP backend's two halves share: the API server
 * (http.c) and the webhook client (webhook.c). Private to nara-adapter.
 */
#ifndef NARA_ADAPTER_HTTP_INT_H
#define NARA_ADAPTER_HTTP_INT_H

#include <event2/http.h>

#include "adapter.h"
#include "log.h"

/* One hand-off to the webhook: prepared, then sent and retried until the
 * local system takes it or refuses it for good. */
struct hook_req {
	struct http *h;
	enum handoff_kind kind;
	char id[40];
	char *json;
	unsigned attempt;
	bool sent;                   /* shown: the first POST went out */
	bool queued;                 /* waits for a free connection */
	struct event *timer;
	struct evhttp_connection *conn;
	struct hook_req *next;
	struct hook_req *queue_next; /* in the http's queue while queued */
};

/* The most webhook requests open at once. Refusals are not bounded by
 * narad's credit window (a burst of POSTs narad refuses, or the refusals
 * a stop left, are pushed all at once), and each open request holds a
 * descriptor for up to webhook_timeout. */
#define HOOK_MAX_OPEN 64

struct http {
	struct adapter *a;
	struct event_base *base;
	struct evhttp *srv;
	char unix_path[108];
	struct evhttp_uri *hook;
	char hook_host[64];          /* to connect to: no brackets */
	char hook_authority[80];     /* the Host header: [::1]:PORT */
	int hook_port;
	struct hook_req *reqs;
	struct hook_req *queue_head; /* to send when a connection is free */
	struct hook_req **queue_tail;
	unsigned hook_open;          /* requests with a connection */
	struct event *hook_pump;     /* starts queued requests */
	int64_t started;             /* epoch seconds, for /metrics */
	uint64_t hook_busy;          /* webhook attempts without an answer,
	                              * 408, 429 or 5xx (retried) */
	uint64_t hook_fault;         /* other 4xx: its configuration (retried) */
	unsigned api_conns;          /* API connections open (http_front.c) */
	struct log_ratelimit api_log; /* refusals and failed accepts */
	struct evconnlistener *lev;  /* the API's listener, owned by srv */
	struct event *accept_resume; /* accepting again after EMFILE */
};

/* The largest request header block the API reads (the front answers
 * 431 beyond it; evhttp's own limit is set just above it). */
#define HTTP_MAX_HEAD (16 * 1024)

/* The API's own connection limits (http_front.c). evhttp's timeout is an
 * idle timer that every byte resets and libevent has no connection cap: a
 * local user dripping bytes could hold descriptors for ever. So a request
 * must arrive whole within HTTP_REQUEST_DEADLINE seconds of the
 * connection's start or of the previous answer, and at most
 * HTTP_MAX_CONNS connections are open (fewer when RLIMIT_NOFILE is low);
 * one beyond is closed at once. */
#define HTTP_REQUEST_DEADLINE 10
#define HTTP_MAX_CONNS 64

/* http_front.c: the filtering bufferevent of every API connection (for
 * evhttp_set_bevcb; arg is the struct http). */
struct bufferevent *http_front_bev(struct event_base *base, void *arg);
/* How many API connections may be open now. */
unsigned http_front_cap(void);

/* status.c: GET /metrics of the HTTP API (Prometheus text): link state,
 * outbox depth, oldest unsent age, hand-offs waiting for the local
 * system, webhook failures; docs/ADAPTER.md. */
void status_serve_metrics(struct http *h, struct evhttp_request *req);

/* webhook.c: the backend_ops hand-off calls for the HTTP backend. */
int hook_prepare(void *be, enum handoff_kind kind, const char *id,
    const char *json, char *name, size_t name_len, char *why,
    size_t why_len);
void hook_show(void *be, enum handoff_kind kind, const char *id);
void hook_abandon(void *be, enum handoff_kind kind, const char *id);
/* Push narad's refusal of a message the local system POSTed. */
void hook_push_refusal(struct http *h, const struct outbox_row *row);
/* Push the refusals a stop left unpushed. */
void hook_start_all(struct http *h);
/* Set up the queue of requests that wait for a connection; 0 or -1. */
int hook_init(struct http *h);
/* Free every request (at exit). */
void hook_free_all(struct http *h);

#endif
