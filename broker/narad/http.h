/*
 * http.h — narad's local HTTP listener (libevent evhttp, in the loop):
 *   /metrics    Prometheus text format
 *   /healthz    200 "ok" while the store commits and the loop runs, else 503
 *   /api/nodes  the node table and broker totals as JSON
 *   /api/history  rates and queue depths of the last hours (metrics.h)
 *   /api/dead   the dead letters, metadata only
 *   /           a read-only dashboard (inline HTML/CSS/JS, no external assets)
 * Read-only by design: there is nothing to change over HTTP. It has no
 * authentication, so bind it to a loopback or management address only.
 */
#ifndef NARA_HTTP_H
#define NARA_HTTP_H

#include <event2/event.h>

#include "status.h"

struct http;

/* Listen on listen ("HOST:PORT"). view is copied; what it points to must
 * outlive the listener. NULL on failure, with the reason logged. */
struct http *http_new(struct event_base *base, const struct ops_view *view,
    const char *listen);
/* Accepts NULL; sets *h to NULL. */
void http_free(struct http **h);

/* The dashboard page (dashboard.c). */
extern const char http_dashboard_html[];

#endif
