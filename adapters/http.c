/*
 * http.c — the HTTP backend: a small JSON API on the loopback interface or a
 * unix socket for local systems that would rather make requests than write
 * files; the webhook that hands incoming messages, receipts and narad's
 * refusals to the local system is webhook.c.
 *
 *   POST /v1/messages        a nara-msg JSON envelope; 202 once it is in the
 *                            outbox on disk, 400/409/413 with a code if not
 *   GET  /v1/messages/{id}   queued / accepted / rejected / delivered /
 *                            failed, with the code and the receipt
 *
 * Every answer, refusals included, is JSON ({"code", "text", "path",
 * "retryable"} for a refusal) with the standard reason phrase: other
 * methods get 405 NR072, other paths 404 NR072, a body over
 * max_message_bytes 413 NR020 (one far over it is dropped unread by the
 * filter in http_front.c and marked with Nara-Front), a chunked body 411
 * NR072, a header block over HTTP_MAX_HEAD 431 NR072, a Content-Length
 * that is not 1*DIGIT (or two that differ) or a header line not ended by
 * CRLF 400 NR072.
 */
#include "http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "log.h"
#include "pbjson.h"
#include "validate.h"

/* ---------------------------------------------------------------- API */

/* The standard reason phrase of the statuses this API answers with. */
static const char *
http_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return status < 300 ? "OK" : status < 500 ? "Bad Request" :
	    "Internal Server Error";
	}
}

static void
reply(struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *js = body ? json_dumps(body, JSON_INDENT(2)) : NULL;

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	if (js != NULL)
		evbuffer_add_printf(out, "%s\n", js);
	evhttp_send_reply(req, status, http_phrase(status), out);
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
	enum outbox_state st;
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
		    env->message_id, "state", outbox_state_name(st)));
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
	    "state", outbox_state_name(row.state), "created",
	    (json_int_t)row.created,
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

static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "?";
	}
}

/* A request the front (http_front.c) refused already: answer it (the
 * front closes the connection after the answer). */
static bool
front_refused(struct http *h, struct evhttp_request *req)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Nara-Front");
	struct nara_err err = { 0 };

	if (v == NULL)
		return false;
	if (strncmp(v, "413 ", 4) == 0) {
		nara_err_set(&err, NR_TOO_LARGE, "", "body is %s bytes; at most "
		    "%llu", v + 4, (unsigned long long)
		    adapter_cfg(h->a)->max_message_bytes);
		reply_err(req, 413, &err);
	} else if (strcmp(v, "400 framing") == 0) {
		nara_err_set(&err, NR_USAGE, "", "every header line must end in "
		    "CRLF (no bare LF or CR, no NUL, no folded line)");
		reply_err(req, 400, &err);
	} else if (strcmp(v, "400") == 0) {
		nara_err_set(&err, NR_USAGE, "", "Content-Length must be "
		    "decimal digits only (no sign, no other characters), once");
		reply_err(req, 400, &err);
	} else if (strcmp(v, "431") == 0) {
		nara_err_set(&err, NR_USAGE, "", "the header block is over %d "
		    "bytes", HTTP_MAX_HEAD);
		reply_err(req, 431, &err);
	} else {
		nara_err_set(&err, NR_USAGE, "", "a body needs Content-Length "
		    "(chunked transfer is not taken)");
		reply_err(req, 411, &err);
	}
	return true;
}

/* "127.0.0.1", "localhost" or "[::1]", with or without ":PORT". */
static bool
loopback_host(const char *host)
{
	size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");

	if (host[n] != '\0' && host[n] != ':')
		return false;
	return (n == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
	    (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	    (n == 5 && strncmp(host, "[::1]", 5) == 0);
}

/*
 * The API is for the local system's programs, not for web pages: a
 * browser on the host could otherwise submit messages as this node (a
 * form posting text/plain needs no CORS preflight; a page whose name was
 * rebound to 127.0.0.1 is even same-origin). A request with an Origin
 * header, one over TCP whose Host is not a loopback name, and a POST whose
 * body is not declared JSON are refused.
 */
static bool
browser_refused(struct http *h, struct evhttp_request *req,
    enum evhttp_cmd_type cmd)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *origin = evhttp_find_header(in, "Origin");
	const char *host = evhttp_find_header(in, "Host");
	const char *type = evhttp_find_header(in, "Content-Type");
	struct nara_err err = { 0 };

	if (origin != NULL) {
		nara_err_set(&err, NR_USAGE, "", "a request from a web page "
		    "(Origin header) is refused: the API is for the local "
		    "system's programs");
		reply_err(req, 403, &err);
	} else if (h->unix_path[0] == '\0' && host != NULL &&
	    !loopback_host(host)) {
		nara_err_set(&err, NR_USAGE, "", "Host must be a loopback name "
		    "(127.0.0.1, localhost or [::1])");
		reply_err(req, 403, &err);
	} else if (cmd == EVHTTP_REQ_POST && (type == NULL ||
	    strncasecmp(type, "application/json", 16) != 0 ||
	    (type[16] != '\0' && type[16] != ';' && type[16] != ' '))) {
		nara_err_set(&err, NR_USAGE, "", "a message is posted with "
		    "Content-Type: application/json");
		reply_err(req, 415, &err);
	} else {
		return false;
	}
	return true;
}

/* Every method reaches here (see http_new), so none gets libevent's HTML. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct nara_err err = { 0 };
	bool list, one;

	if (path == NULL)
		path = "";
	if (front_refused(h, req))
		return;
	if (strcmp(path, "/metrics") == 0 && (cmd == EVHTTP_REQ_GET ||
	    cmd == EVHTTP_REQ_HEAD)) {
		status_serve_metrics(h, req);
		return;
	}
	list = strcmp(path, "/v1/messages") == 0;
	one = strncmp(path, "/v1/messages/", 13) == 0;
	if ((list || one) && browser_refused(h, req, cmd))
		return;
	if (list && cmd == EVHTTP_REQ_POST) {
		post_message(h, req);
	} else if (one && cmd == EVHTTP_REQ_GET) {
		get_message(h, req, path + 13);
	} else if (list || one) {
		nara_err_set(&err, NR_USAGE, "", "method %s not allowed on %s; "
		    "allowed: %s", method_name(cmd), path, list ? "POST" : "GET");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
		    list ? "POST" : "GET");
		reply_err(req, 405, &err);
	} else {
		nara_err_set(&err, NR_USAGE, "", "no such resource: %s %s",
		    method_name(cmd), path);
		reply_err(req, 404, &err);
	}
}

/* ---------------------------------------------------------------- backend */

static int
http_sync(void *be)
{
	return 0;   /* a POST is durable at the local system or not at all */
}

/* narad's refusal of a message the local system POSTed is pushed to it
 * like a receipt; GET shows every outcome too. */
static void
http_outcome(void *be, const struct outbox_row *row)
{
	if (row->state == OUTBOX_REJECTED)
		hook_push_refusal(be, row);
}

static void
http_start(void *be)
{
	hook_start_all(be);
}

/* ---------------------------------------------------------------- setup */

/* The API whose listener fails: libevent hands the error callback the
 * evhttp, not ours, and a process has one API. */
static struct http *api_of_listener;

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;

	if (h->lev != NULL)
		evconnlistener_enable(h->lev);
}

/* accept(2) failed. Out of descriptors the listening socket stays
 * readable and libevent would try again at once, for ever, logging each
 * time: accepting pauses for a second instead. */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct http *h = api_of_listener;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval second = { 1, 0 };

	if (h == NULL || h->lev != lev)
		return;
	log_limited(&h->api_log, LOG_LVL_ERROR, "HTTP API: accept: %s",
	    evutil_socket_error_to_string(err));
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(lev);
		evtimer_add(h->accept_resume, &second);
	}
}

/* Watch the listener evhttp made around the bound socket bound. */
static int
watch_listener(struct http *h, struct evhttp_bound_socket *bound)
{
	if (bound == NULL)
		return -1;
	h->lev = evhttp_bound_socket_get_listener(bound);
	if ((h->accept_resume = evtimer_new(h->base, on_accept_resume,
	    h)) == NULL)
		return -1;
	api_of_listener = h;
	evconnlistener_set_error_cb(h->lev, on_accept_error);
	return 0;
}

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
	    watch_listener(h, evhttp_accept_socket_with_handle(h->srv,
	    fd)) != 0) {
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
	if (watch_listener(h, evhttp_bind_socket_with_handle(h->srv, host,
	    (uint16_t)atoi(colon + 1))) != 0)
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
	h->hook_port = evhttp_uri_get_port(h->hook);
	snprintf(h->hook_authority, sizeof(h->hook_authority), "%s:%d", host,
	    h->hook_port);
	/* evhttp gives an IPv6 literal in its brackets, which the resolver
	 * behind evhttp_connection_base_new does not take */
	if (host[0] == '[')
		snprintf(h->hook_host, sizeof(h->hook_host), "%.*s",
		    (int)strcspn(host + 1, "]"), host + 1);
	else
		snprintf(h->hook_host, sizeof(h->hook_host), "%s",
		    strcmp(host, "localhost") == 0 ? "127.0.0.1" : host);
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
	h->started = (int64_t)time(NULL);
	if ((h->srv = evhttp_new(base)) == NULL || hook_init(h) != 0) {
		nara_err_set(err, NR_IO, "", "out of memory setting up HTTP");
		goto fail;
	}
	/* The front refuses bodies over the limit before libevent reads
	 * them; this is the second line. */
	evhttp_set_max_body_size(h->srv,
	    (ev_ssize_t)(cfg->max_message_bytes + 64 * 1024));
	/* Likewise for headers, which libevent 2.1 reads without limit; the
	 * front adds a line or two to what it passes. */
	evhttp_set_max_headers_size(h->srv, HTTP_MAX_HEAD + 1024);
	evhttp_set_allowed_methods(h->srv, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	/* an idle timer; the front's deadline is the one that counts */
	evhttp_set_timeout(h->srv, 60);
	evhttp_set_gencb(h->srv, on_request, h);
	evhttp_set_bevcb(h->srv, http_front_bev, h);
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
	hook_free_all(h);
	if (h->srv)
		evhttp_free(h->srv);
	if (h->accept_resume)
		event_free(h->accept_resume);
	if (api_of_listener == h)
		api_of_listener = NULL;
	if (h->unix_path[0] != '\0')
		unlink(h->unix_path);
	if (h->hook)
		evhttp_uri_free(h->hook);
	free(h);
	*be = NULL;
}

const struct backend_ops http_ops = {
	.prepare = hook_prepare,
	.sync = http_sync,
	.show = hook_show,
	.abandon = hook_abandon,
	.outcome = http_outcome,
	.start = http_start,
	.free = http_free,
};
