/*
 * http.h — narad's local HTTP listener (libevent evhttp, in the loop):
 *   /metrics    Prometheus text format
 *   /healthz    200 "ok" while the store commits and the loop runs, else 503
 *   /api/status naractl status's view (a standby's: role and lease)
 *   /api/nodes  the node table and broker totals as JSON
 *   /api/history  rates and queue depths of the last hours (metrics.h)
 *   /api/dead   the dead letters, metadata only
 *   /api/conns  each node's connection details
 *   /api/message?id=UUID  one message's metadata and audit trail
 *   /           the dashboard (inline HTML/CSS/JS, no external assets; on a
 *               standby its banner says so and names the lease holder)
 * The plain listener (http_listen) is read-only and has no authentication,
 * so bind it to a loopback or management address only. The operators'
 * console (console_listen, console.c) serves the same over HTTPS to
 * clients with a certificate console_ca signs, plus /api/whoami and the
 * actions POST /api/retry and /api/retry-node, each audited with the
 * certificate's subject.
 */
#ifndef NARA_HTTP_H
#define NARA_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "config.h"
#include "status.h"

struct http;

/* Listen on listen ("HOST:PORT", "" = no plain listener) and, with
 * cfg->broker.console_listen set, the HTTPS console. view is copied; what
 * it and cfg point to must outlive the listener (the console's TLS
 * context is made at start; a reload does not change it). NULL on
 * failure, with the reason logged. */
struct http *http_new(struct event_base *base, const struct ops_view *view,
    const char *listen, const struct config *cfg);
/* Accepts NULL; sets *h to NULL. */
void http_free(struct http **h);

/* ---- console.c: the HTTPS console's parts */

/* The console's TLS context: [tls] cert and key, clients verified against
 * console_ca (and [tls] crl). NULL when it cannot be made (logged). */
SSL_CTX *console_tls_new(const struct config *cfg);
/* narad -n: with console_listen set, can the console's TLS context be
 * made? 0, or -1 with the reason logged. */
int console_check(const struct config *cfg);
/* evhttp_set_bevcb: a TLS server bufferevent for ctx (arg). */
struct bufferevent *console_bev(struct event_base *base, void *arg);
/* The operator behind req on the console: "SUBJECT (https from ADDR)" with
 * the verified client certificate's subject (RFC 2253). 0, or -1 when the
 * connection has no verified certificate. */
int console_operator(struct evhttp_request *req, char *out, size_t len);
/* POST path (/api/retry or /api/retry-node) by operator: the result or
 * {"code", "error"}, with the HTTP status in *status. New reference. */
json_t *console_action(const struct ops_view *v, struct evhttp_request *req,
    const char *path, const char *operator, int *status);

/* ---- http_message.c */

/* GET /api/message with query (the URI's query string, may be NULL):
 * {"message": naractl show's metadata, "audit": [{"seq", "at", "event",
 * "node", "code", "detail"}], "audit_truncated"}, or {"code", "error"};
 * the HTTP status in *status (400 bad id, 404 no such message, 503 store).
 * Never the payload, subject or pseudonym. New reference. */
json_t *http_message_json(const struct ops_view *v, const char *query,
    int *status);

/* The dashboard page (dashboard.c). */
extern const char http_dashboard_html[];

#endif
