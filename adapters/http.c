/*
 * http.c — the HTTP backend: a small JSON API on the loopback interface or a
 * unix socket for local systems that would rather make requests than write
 * files, and a webhook client that hands incoming messages and receipts to
 * the local system.
 *
 *   POST /v1/messages        a nara-msg JSON envelope; 202 once it is in the
 *                            outbox on disk, 400/409/413 with a code if not
 *   GET  /v1/messages/{id}   queued / accepted / rejected / delivered /
 *                            failed, with the code and the receipt
 *
 * Webhook: POST with Idempotency-Key (the message id) and Nara-Kind
 * (message or receipt). 2xx: handed off, acked to narad. 4xx other than
 * 408/429: refused for good, nacked with NR052. Anything else, or no answer
 * within webhook_timeout: tried again with backoff, never acked meanwhile.
 */
#include "adapter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "log.h"
#include "pbjson.h"
#include "validate.h"

/* One hand-off to the webhook, retried until it gets an answer. */
struct hook_req {
	struct http *h;
	bool is_receipt;
	char id[40];
	char *json;
	unsigned attempt;
	struct event *timer;
	struct evhttp_connection *conn;
	struct hook_req *next;
};

struct http {
	struct adapter *a;
	struct event_base *base;
	struct evhttp *srv;
	char unix_path[108];
	struct evhttp_uri *hook;
	char hook_host[64];
	int hook_port;
	struct hook_req *reqs;
};

/* ---------------------------------------------------------------- API */

static void
reply(struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *js = body ? json_dumps(body, JSON_INDENT(2)) : NULL;

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	if (js != NULL)
		evbuffer_add_printf(out, "%s\n", js);
	evhttp_send_reply(req, status, status < 300 ? "OK" : "Error", out);
	evbuffer_free(out);
	free(js);
	json_decref(body);
}

static void
reply_err(struct evhttp_request *req, int status, const struct nara_err *err)
{
	log_warn("HTTP %d: %s %s %s", status, nara_code_id(err->code),
	    err->path, err->text);
	reply(req, status, json_pack("{s:s, s:s, s:s, s:b}", "code",
	    nara_code_id(err->code), "text", err->text, "path", err->path,
	    "retryable", nara_code_retryable(err->code)));
}

static void
post_message(struct http *h, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct nara_err err = { 0 };
	Nara__Envelope *env = NULL;
	enum out_state st;
	char *body;
	int status;

	if (len > adapter_cfg(h->a)->max_message_bytes) {
		nara_err_set(&err, NR_TOO_LARGE, "", "body is %zu bytes", len);
		reply_err(req, 413, &err);
		return;
	}
	if ((body = malloc(len + 1)) == NULL) {
		nara_err_set(&err, NR_IO, "", "out of memory");
		reply_err(req, 503, &err);
		return;
	}
	evbuffer_remove(in, body, len);
	body[len] = '\0';
	env = (Nara__Envelope *)pbjson_parse(&nara__envelope__descriptor, body,
	    len, &err);
	free(body);
	if (env == NULL || adapter_store_local(h->a, env, "", &err, &st) != 0) {
		status = err.code == NR_IO ? 503 :
		    err.code == NR_DUPLICATE_CONFLICT ? 409 : 400;
		reply_err(req, status, &err);
	} else {
		reply(req, 202, json_pack("{s:s, s:s}", "message_id",
		    env->message_id, "state", out_state_name(st)));
	}
	if (env != NULL)
		protobuf_c_message_free_unpacked(&env->base, NULL);
}

static void
get_message(struct http *h, struct evhttp_request *req, const char *id)
{
	struct nara_err err = { 0 };
	struct outbox_row row;
	json_t *o, *receipt = NULL;
	int rc;

	if (validate_uuid(id, &err, "message_id") != 0) {
		reply_err(req, 400, &err);
		return;
	}
	if ((rc = outbox_get(adapter_outbox(h->a), id, &row)) <= 0) {
		nara_err_set(&err, rc < 0 ? NR_IO : NR_BAD_MESSAGE_ID, "message_id",
		    rc < 0 ? "adapter state unusable" : "no message %s here", id);
		reply_err(req, rc < 0 ? 503 : 404, &err);
		return;
	}
	if (row.receipt_json != NULL)
		receipt = json_loads(row.receipt_json, 0, NULL);
	o = json_pack("{s:s, s:s, s:I, s:I}", "message_id", row.message_id,
	    "state", out_state_name(row.state), "created", (json_int_t)row.created,
	    "updated", (json_int_t)row.updated);
	if (o != NULL && row.code[0] != '\0') {
		json_object_set_new(o, "code", json_string(row.code));
		json_object_set_new(o, "text", json_string(row.text ? row.text : ""));
		json_object_set_new(o, "retryable", json_boolean(row.retryable));
	}
	if (o != NULL && receipt != NULL)
		json_object_set_new(o, "receipt", receipt);
	else
		json_decref(receipt);
	outbox_row_clear(&row);
	reply(req, 200, o);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct nara_err err = { 0 };

	if (path == NULL)
		path = "";
	if (strcmp(path, "/v1/messages") == 0 && cmd == EVHTTP_REQ_POST) {
		post_message(h, req);
	} else if (strncmp(path, "/v1/messages/", 13) == 0 &&
	    cmd == EVHTTP_REQ_GET) {
		get_message(h, req, path + 13);
	} else {
		nara_err_set(&err, NR_USAGE, "", "no such resource: %s %s",
		    cmd == EVHTTP_REQ_GET ? "GET" : cmd == EVHTTP_REQ_POST ?
		    "POST" : "other", path);
		reply_err(req, 404, &err);
	}
}

/* ---------------------------------------------------------------- webhook */

static void hook_send(struct hook_req *r);

static void
free_conn_later(evutil_socket_t fd, short what, void *arg)
{
	evhttp_connection_free(arg);
}

static void
hook_req_free(struct hook_req *r)
{
	struct hook_req **pp;

	for (pp = &r->h->reqs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (r->timer)
		event_free(r->timer);
	free(r->json);
	free(r);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	hook_send(arg);
}

static void
hook_retry(struct hook_req *r, const char *why)
{
	const struct adapter_config *cfg = adapter_cfg(r->h->a);
	uint64_t delay = cfg->retry_min;
	struct timeval tv;

	for (unsigned i = 1; i < r->attempt && delay < cfg->retry_max; i++)
		delay *= 2;
	if (delay > cfg->retry_max)
		delay = cfg->retry_max;
	log_warn("webhook did not take %s %s (attempt %u: %s); again in %llus",
	    r->is_receipt ? "receipt" : "message", r->id, r->attempt, why,
	    (unsigned long long)delay);
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	evtimer_add(r->timer, &tv);
}

/* The webhook's answer (req NULL or code 0: no answer in time). */
static void
on_hook_done(struct evhttp_request *req, void *arg)
{
	struct hook_req *r = arg;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	struct timeval now = { 0, 0 };
	char why[160];

	if (r->conn != NULL) {
		/* never free a connection inside its own callback */
		event_base_once(r->h->base, -1, EV_TIMEOUT, free_conn_later,
		    r->conn, &now);
		r->conn = NULL;
	}
	if (code >= 200 && code < 300) {
		adapter_handoff_done(r->h->a, r->is_receipt, r->id, HANDOFF_DONE, "");
		hook_req_free(r);
		return;
	}
	if (code >= 400 && code < 500 && code != 408 && code != 429) {
		snprintf(why, sizeof(why), "local system answered HTTP %d", code);
		adapter_handoff_done(r->h->a, r->is_receipt, r->id,
		    HANDOFF_REFUSED, why);
		hook_req_free(r);
		return;
	}
	snprintf(why, sizeof(why), code ? "HTTP %d" : "no answer", code);
	hook_retry(r, why);
}

static void
hook_send(struct hook_req *r)
{
	struct http *h = r->h;
	const char *path = evhttp_uri_get_path(h->hook);
	struct evhttp_request *req;
	struct evkeyvalq *hdr;
	char key[64], host[96];

	r->attempt++;
	r->conn = evhttp_connection_base_new(h->base, NULL, h->hook_host,
	    (unsigned short)h->hook_port);
	req = r->conn ? evhttp_request_new(on_hook_done, r) : NULL;
	if (req == NULL) {
		hook_retry(r, "out of memory");
		return;
	}
	evhttp_connection_set_timeout(r->conn,
	    (int)adapter_cfg(h->a)->webhook_timeout);
	hdr = evhttp_request_get_output_headers(req);
	snprintf(host, sizeof(host), "%s:%d", h->hook_host, h->hook_port);
	snprintf(key, sizeof(key), "%s%s", r->is_receipt ? "receipt-" : "", r->id);
	evhttp_add_header(hdr, "Host", host);
	evhttp_add_header(hdr, "Content-Type", "application/json");
	evhttp_add_header(hdr, "Idempotency-Key", key);
	evhttp_add_header(hdr, "Nara-Kind", r->is_receipt ? "receipt" : "message");
	evhttp_add_header(hdr, "Connection", "close");
	evbuffer_add(evhttp_request_get_output_buffer(req), r->json,
	    strlen(r->json));
	if (evhttp_make_request(r->conn, req, EVHTTP_REQ_POST,
	    path && path[0] ? path : "/") != 0) {
		/* the request was freed by libevent */
		event_base_once(h->base, -1, EV_TIMEOUT, free_conn_later,
		    r->conn, &(struct timeval){ 0, 0 });
		r->conn = NULL;
		hook_retry(r, "cannot send");
	}
}

static void
http_handoff(void *be, bool is_receipt, const char *id, const char *json)
{
	struct http *h = be;
	struct hook_req *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->json = strdup(json)) == NULL ||
	    (r->timer = evtimer_new(h->base, on_retry, r)) == NULL) {
		if (r != NULL)
			free(r->json);
		free(r);
		adapter_handoff_done(h->a, is_receipt, id, HANDOFF_RETRY,
		    "out of memory");
		return;
	}
	r->h = h;
	r->is_receipt = is_receipt;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->next = h->reqs;
	h->reqs = r;
	hook_send(r);
}

/* The local system polls GET /v1/messages/{id} for outcomes. */
static void
http_outcome(void *be, const struct outbox_row *row)
{
}

/* ---------------------------------------------------------------- setup */

static int
listen_unix(struct http *h, const char *path, struct nara_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return nara_err_set(err, NR_CONFIG, "listen", "socket path too long");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(h->unix_path, sizeof(h->unix_path), "%s", path);
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0660) != 0 || listen(fd, 64) != 0 ||
	    evutil_make_socket_nonblocking(fd) != 0 ||
	    evhttp_accept_socket(h->srv, fd) != 0) {
		nara_err_set(err, NR_IO, "listen", "unix:%s: %s", path,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

static int
listen_tcp(struct http *h, const char *listen, struct nara_err *err)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	size_t n = (size_t)(colon - listen);

	if (listen[0] == '[') {
		snprintf(host, sizeof(host), "%.*s", (int)(n - 2), listen + 1);
	} else {
		snprintf(host, sizeof(host), "%.*s", (int)n, listen);
		if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
	}
	if (evhttp_bind_socket(h->srv, host, (uint16_t)atoi(colon + 1)) != 0)
		return nara_err_set(err, NR_IO, "listen", "cannot listen on %s: %s",
		    listen, strerror(errno));
	return 0;
}

static int
parse_webhook(struct http *h, const char *url, struct nara_err *err)
{
	const char *host;

	if ((h->hook = evhttp_uri_parse(url)) == NULL ||
	    (host = evhttp_uri_get_host(h->hook)) == NULL ||
	    evhttp_uri_get_port(h->hook) <= 0)
		return nara_err_set(err, NR_CONFIG, "webhook", "bad URL %s", url);
	snprintf(h->hook_host, sizeof(h->hook_host), "%s",
	    strcmp(host, "localhost") == 0 ? "127.0.0.1" : host);
	h->hook_port = evhttp_uri_get_port(h->hook);
	return 0;
}

void *
http_new(struct event_base *base, struct adapter *a, struct nara_err *err)
{
	const struct adapter_config *cfg = adapter_cfg(a);
	struct http *h = calloc(1, sizeof(*h));
	void *be;

	if (h == NULL) {
		nara_err_set(err, NR_IO, "", "out of memory");
		return NULL;
	}
	h->a = a;
	h->base = base;
	if ((h->srv = evhttp_new(base)) == NULL) {
		nara_err_set(err, NR_IO, "", "evhttp_new failed");
		goto fail;
	}
	/* Bodies a little over the limit reach post_message for a coded 413;
	 * far larger ones libevent refuses by itself. */
	evhttp_set_max_body_size(h->srv,
	    (ev_ssize_t)(cfg->max_message_bytes + 64 * 1024));
	evhttp_set_allowed_methods(h->srv, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_timeout(h->srv, 60);
	evhttp_set_gencb(h->srv, on_request, h);
	if (parse_webhook(h, cfg->webhook, err) != 0)
		goto fail;
	if (strncmp(cfg->listen, "unix:", 5) == 0 ?
	    listen_unix(h, cfg->listen + 5, err) : listen_tcp(h, cfg->listen, err))
		goto fail;
	log_info("HTTP API on %s, webhook %s", cfg->listen, cfg->webhook);
	return h;
fail:
	be = h;
	http_ops.free(&be);
	return NULL;
}

static void
http_free(void **be)
{
	struct http *h = *be;

	if (h == NULL)
		return;
	while (h->reqs != NULL) {
		struct hook_req *r = h->reqs;
		if (r->conn != NULL)
			evhttp_connection_free(r->conn);
		hook_req_free(r);
	}
	if (h->srv)
		evhttp_free(h->srv);
	if (h->unix_path[0] != '\0')
		unlink(h->unix_path);
	if (h->hook)
		evhttp_uri_free(h->hook);
	free(h);
	*be = NULL;
}

const struct backend_ops http_ops = {
	.handoff = http_handoff,
	.outcome = http_outcome,
	.free = http_free,
};
