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
 * certificate's subject. Both cap their connections, in all and per
 * address, and the time a request may take to arrive (http_conn.c).
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
 * cfg->broker.console_listen set, the HTTPS console. view is copied and
 * what it points to must outlive the listener; cfg is read here only.
 * NULL on failure, with the reason logged. */
struct http *http_new(struct event_base *base, const struct ops_view *view,
    const char *listen, const struct config *cfg);
/* Reload: the connection limits of cfg, and the console's certificate,
 * key, operators' CA and CRLs read again; console connections whose
 * certificate the new ones no longer accept are closed. When they cannot
 * be loaded the console keeps the old ones and -1 is returned. Listen
 * addresses change at the next restart. cfg is read here only. */
int http_reload(struct http *h, const struct config *cfg);
/* Accepts NULL; sets *h to NULL. */
void http_free(struct http **h);

/* ---- http_conn.c: a listener's socket and its connections */

struct http_listener;

/* evhttp listening on listen ("HOST:PORT"), plain (ctx NULL) or TLS with
 * ctx (borrowed: the listener takes its own reference); key names the
 * config key in logs. Every complete request goes to cb with cb_arg.
 * Connections are capped as cfg says (read here only). NULL on failure,
 * logged. */
struct http_listener *http_listener_new(struct event_base *base,
    const char *key, const char *listen, SSL_CTX *ctx,
    const struct config *cfg, void (*cb)(struct evhttp_request *, void *),
    void *cb_arg);
/* closed(evcon, cb_arg) as evhttp is about to free a connection and the
 * requests it still holds: a reply deferred past it must not be sent. */
void http_listener_on_close(struct http_listener *l,
    void (*closed)(struct evhttp_connection *, void *));
/* The connection caps of cfg (read here only), from the next connection
 * on. */
void http_listener_limits(struct http_listener *l, const struct config *cfg);
/* The evhttp, for its settings; owned by the listener. */
struct evhttp *http_listener_evhttp(struct http_listener *l);
/* The address it was made with. */
const char *http_listener_address(const struct http_listener *l);
/* TLS listener: ctx (taken over) for new connections; open connections
 * whose client certificate ctx no longer accepts, or whose handshake is
 * not done, are closed. Returns how many were closed. */
size_t http_listener_set_ctx(struct http_listener *l, SSL_CTX *ctx);
/* Closes every connection. Accepts NULL; sets *l to NULL. */
void http_listener_free(struct http_listener **l);

/* ---- console.c: the HTTPS console's parts */

/* The console's TLS context: [tls] cert and key, clients verified against
 * console_ca (and [tls] crl). NULL when it cannot be made (logged). */
SSL_CTX *console_tls_new(const struct config *cfg);
/* narad -n: with console_listen set, can the console's TLS context be
 * made? 0, or -1 with the reason logged. */
int console_check(const struct config *cfg);
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
