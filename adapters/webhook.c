/*
 * webhook.c — the HTTP backend's client half: messages, receipts and
 * narad's refusals POSTed to the local system's webhook with
 * Idempotency-Key (the message id; "receipt-" or "refusal-" + id for the
 * others) and Nara-Kind (message, receipt, refusal).
 *
 * What an answer means (docs/ADAPTER.md, "Webhook"):
 *   2xx                         the local system has it: ack;
 *   422, or any 4xx that carries
 *   the header Nara-Refused     refused for good: nack NR052 (its value, if
 *                               any, is the reason);
 *   408, 429, 5xx, no answer    the local system is busy or down: retried;
 *   any other status (401, 403,
 *   404, 405, ...)              a configuration fault of the receiving side
 *                               (wrong path or credentials): retried, logged
 *                               as an error and shown by status.
 * Retries back off from retry_min, doubling up to retry_max, for as long as
 * it takes; nothing is acked meanwhile, so narad keeps the message.
 * At most HOOK_MAX_OPEN requests are open at once; the others wait in a
 * queue, in the order they were due.
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "log.h"

enum verdict { TAKEN, REFUSED, BUSY, FAULT };

static void hook_send(struct hook_req *r);
static void hook_connect(struct hook_req *r);

static void
free_conn_later(evutil_socket_t fd, short what, void *arg)
{
	evhttp_connection_free(arg);
}

static void
queue_remove(struct http *h, struct hook_req *r)
{
	struct hook_req **pp;

	for (pp = &h->queue_head; *pp != NULL; pp = &(*pp)->queue_next) {
		if (*pp == r) {
			*pp = r->queue_next;
			break;
		}
	}
	if (h->queue_tail == &r->queue_next)
		h->queue_tail = pp;
	r->queued = false;
}

static void
hook_req_free(struct hook_req *r)
{
	struct hook_req **pp;

	if (r->queued)
		queue_remove(r->h, r);
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

static struct hook_req *
hook_find(struct http *h, enum handoff_kind kind, const char *id)
{
	for (struct hook_req *r = h->reqs; r != NULL; r = r->next)
		if (r->kind == kind && strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	hook_send(arg);
}

static void
hook_retry(struct hook_req *r, const char *why, bool fault)
{
	const struct adapter_config *cfg = adapter_cfg(r->h->a);
	uint64_t delay = cfg->retry_min;
	struct timeval tv;

	for (unsigned i = 1; i < r->attempt && delay < cfg->retry_max; i++)
		delay *= 2;
	if (delay > cfg->retry_max)
		delay = cfg->retry_max;
	if (fault)
		log_error("webhook did not take %s %s (attempt %u: %s): the "
		    "local system's webhook is misconfigured (path, method or "
		    "credentials); nothing is acked until it takes it; again in "
		    "%llus", handoff_kind_name(r->kind), r->id, r->attempt, why,
		    (unsigned long long)delay);
	else
		log_warn("webhook did not take %s %s (attempt %u: %s); again in "
		    "%llus", handoff_kind_name(r->kind), r->id, r->attempt, why,
		    (unsigned long long)delay);
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	evtimer_add(r->timer, &tv);
}

/* The rule in the header comment; why gets the reason. */
static enum verdict
classify(struct evhttp_request *req, int code, char *why, size_t len)
{
	const char *refused = NULL;

	if (req != NULL && code >= 400 && code < 500)
		refused = evhttp_find_header(evhttp_request_get_input_headers(req),
		    "Nara-Refused");
	if (code >= 200 && code < 300)
		return TAKEN;
	if (code == 422 || refused != NULL) {
		if (refused != NULL && refused[0] != '\0')
			snprintf(why, len, "local system answered HTTP %d: %.120s",
			    code, refused);
		else
			snprintf(why, len, "local system answered HTTP %d", code);
		return REFUSED;
	}
	if (code == 0) {
		snprintf(why, len, "no answer");
		return BUSY;
	}
	snprintf(why, len, "HTTP %d", code);
	return code == 408 || code == 429 || code >= 500 ? BUSY : FAULT;
}

/* Start queued requests while connections are free. From the loop, not
 * from a request's callback: a send that fails at once frees its slot
 * again, and would recurse through the whole queue. */
static void
on_pump(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct hook_req *r;

	while (h->hook_open < HOOK_MAX_OPEN && (r = h->queue_head) != NULL) {
		queue_remove(h, r);
		hook_connect(r);
	}
}

/* A request's connection is done with: its slot goes to the queue. */
static void
slot_free(struct http *h)
{
	h->hook_open--;
	if (h->queue_head != NULL)
		event_active(h->hook_pump, 0, 0);
}

/* The webhook's answer (req NULL or code 0: no answer in time). */
static void
on_hook_done(struct evhttp_request *req, void *arg)
{
	struct hook_req *r = arg;
	struct http *h = r->h;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	struct timeval now = { 0, 0 };
	char why[200], status[400];
	enum verdict v;

	if (r->conn != NULL) {
		/* never free a connection inside its own callback */
		event_base_once(h->base, -1, EV_TIMEOUT, free_conn_later,
		    r->conn, &now);
		r->conn = NULL;
		slot_free(h);
	}
	v = classify(req, code, why, sizeof(why));
	if (v == TAKEN || v == REFUSED) {
		adapter_local_error(h->a, NULL);
		adapter_handoff_done(h->a, r->kind, r->id, v == TAKEN ?
		    HANDOFF_DONE : HANDOFF_REFUSED, why);
		hook_req_free(r);
		return;
	}
	if (v == FAULT)
		h->hook_fault++;
	else
		h->hook_busy++;
	snprintf(status, sizeof(status), "webhook %s: %s%s", h->hook_host, why,
	    v == FAULT ? " (configuration fault of the local system; "
	    "retrying)" : " (retrying)");
	adapter_local_error(h->a, status);
	hook_retry(r, why, v == FAULT);
}

/* Send r now if a connection is free, else when one is. */
static void
hook_send(struct hook_req *r)
{
	struct http *h = r->h;

	if (h->hook_open < HOOK_MAX_OPEN && h->queue_head == NULL) {
		hook_connect(r);
		return;
	}
	r->queued = true;
	r->queue_next = NULL;
	*h->queue_tail = r;
	h->queue_tail = &r->queue_next;
}

static void
hook_connect(struct hook_req *r)
{
	struct http *h = r->h;
	const char *path = evhttp_uri_get_path(h->hook);
	struct evhttp_request *req;
	struct evkeyvalq *hdr;
	char key[64];

	r->attempt++;
	r->conn = evhttp_connection_base_new(h->base, NULL, h->hook_host,
	    (unsigned short)h->hook_port);
	req = r->conn ? evhttp_request_new(on_hook_done, r) : NULL;
	if (req == NULL) {
		if (r->conn != NULL)
			evhttp_connection_free(r->conn);
		r->conn = NULL;
		hook_retry(r, "out of memory", false);
		return;
	}
	h->hook_open++;
	evhttp_connection_set_timeout(r->conn,
	    (int)adapter_cfg(h->a)->webhook_timeout);
	hdr = evhttp_request_get_output_headers(req);
	snprintf(key, sizeof(key), "%s%s", r->kind == HK_RECEIPT ? "receipt-" :
	    r->kind == HK_REFUSAL ? "refusal-" : "", r->id);
	evhttp_add_header(hdr, "Host", h->hook_authority);
	evhttp_add_header(hdr, "Content-Type", "application/json");
	evhttp_add_header(hdr, "Idempotency-Key", key);
	evhttp_add_header(hdr, "Nara-Kind", handoff_kind_name(r->kind));
	evhttp_add_header(hdr, "Connection", "close");
	evbuffer_add(evhttp_request_get_output_buffer(req), r->json,
	    strlen(r->json));
	if (evhttp_make_request(r->conn, req, EVHTTP_REQ_POST,
	    path && path[0] ? path : "/") != 0) {
		/* the request was freed by libevent */
		event_base_once(h->base, -1, EV_TIMEOUT, free_conn_later,
		    r->conn, &(struct timeval){ 0, 0 });
		r->conn = NULL;
		slot_free(h);
		hook_retry(r, "cannot send", false);
	}
}

int
hook_prepare(void *be, enum handoff_kind kind, const char *id,
    const char *json, char *name, size_t name_len, char *why, size_t why_len)
{
	struct http *h = be;
	struct hook_req *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->json = strdup(json)) == NULL ||
	    (r->timer = evtimer_new(h->base, on_retry, r)) == NULL) {
		if (r != NULL)
			free(r->json);
		free(r);
		log_error("out of memory handing off %s", id);
		return -1;
	}
	r->h = h;
	r->kind = kind;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->next = h->reqs;
	h->reqs = r;
	name[0] = '\0';
	(void)name_len;
	(void)why;
	(void)why_len;
	return 0;
}

void
hook_show(void *be, enum handoff_kind kind, const char *id)
{
	struct hook_req *r = hook_find(be, kind, id);

	if (r != NULL && !r->sent) {
		r->sent = true;
		hook_send(r);
	}
}

void
hook_abandon(void *be, enum handoff_kind kind, const char *id)
{
	struct hook_req *r = hook_find(be, kind, id);

	if (r != NULL && !r->sent)
		hook_req_free(r);
}

void
hook_push_refusal(struct http *h, const struct outbox_row *row)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "message_id",
	    row->message_id, "state", outbox_state_name(row->state), "code",
	    row->code, "text", row->text ? row->text : "", "retryable",
	    row->retryable);
	char *js = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

	if (js == NULL)
		log_error("out of memory pushing the refusal of %s",
		    row->message_id);
	else
		adapter_offer(h->a, HK_REFUSAL, row->message_id, js);
	free(js);
	json_decref(o);
}

static int
push_unpushed(void *arg, const char *id)
{
	struct http *h = arg;
	struct outbox_row row;

	if (outbox_get(adapter_outbox(h->a), id, &row) == 1) {
		hook_push_refusal(h, &row);
		outbox_row_clear(&row);
	}
	return 0;
}

void
hook_start_all(struct http *h)
{
	int n = outbox_unpushed_refusals(adapter_outbox(h->a), push_unpushed, h);

	if (n > 0)
		log_info("pushing %d refusals not yet taken by the local system", n);
}

int
hook_init(struct http *h)
{
	h->queue_tail = &h->queue_head;
	h->hook_pump = event_new(h->base, -1, 0, on_pump, h);
	return h->hook_pump != NULL ? 0 : -1;
}

void
hook_free_all(struct http *h)
{
	while (h->reqs != NULL) {
		struct hook_req *r = h->reqs;
		if (r->conn != NULL)
			evhttp_connection_free(r->conn);
		hook_req_free(r);
	}
	if (h->hook_pump != NULL)
		event_free(h->hook_pump);
	h->hook_pump = NULL;
}
