/*
 * http_message.c — GET /api/message?id=UUID on both listeners: one
 * message's metadata (what `naractl show` gives) and its audit trail (the
 * rows `nara-audit trace` reads), for the dashboard's lookup. Never the
 * payload, the subject or its pseudonym: an operator finds where a message
 * is and what happened to it, not what it says or whom it is about.
 */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "audit.h"
#include "broker.h"
#include "control.h"
#include "store.h"
#include "validate.h"

/* A message's life is about seven rows; retries of a dead letter add two
 * each. The newest rows past this are left out and "audit_truncated" says
 * so (nara-audit trace has them all). */
#define HTTP_TRAIL_MAX 200

struct trail {
	json_t *rows;
	bool truncated;
};

/* store_audit_fn: one row of the trail, without subject or payload hash. */
static int
on_row(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	struct trail *t = arg;

	(void)prev_hash;
	(void)hash;
	if (json_array_size(t->rows) >= HTTP_TRAIL_MAX) {
		t->truncated = true;
		return 1;
	}
	json_array_append_new(t->rows, json_pack("{s:I, s:o, s:s, s:s?, s:s?, "
	    "s:s?}", "seq", (json_int_t)r->seq, "at",
	    status_time_json(r->time_ms / 1000), "event", r->event ? r->event :
	    "", "node", r->node, "code", r->code, "detail", r->detail));
	return 0;
}

/* {"code", "error"} with the HTTP status for err. */
static json_t *
refusal(const struct nara_err *err, int status, int *out)
{
	*out = status;
	return json_pack("{s:s, s:s}", "code", nara_code_id(err->code),
	    "error", err->text);
}

/* The "id" of the query string, checked to be a UUID; NULL with err. The
 * value lives in q. */
static const char *
query_id(const char *query, struct evkeyvalq *q, struct nara_err *err)
{
	const char *id = NULL;

	if (query != NULL && evhttp_parse_query_str(query, q) == 0)
		id = evhttp_find_header(q, "id");
	if (id == NULL) {
		nara_err_set(err, NR_USAGE, "id", "id missing: "
		    "/api/message?id=MESSAGE_ID");
		return NULL;
	}
	return validate_uuid(id, err, "id") == 0 ? id : NULL;
}

json_t *
http_message_json(const struct ops_view *v, const char *query, int *status)
{
	struct evkeyvalq q;
	struct nara_err err = { 0 };
	struct trail t = { NULL, false };
	struct store_audit_filter f = { .select = STORE_AUDIT_MESSAGE };
	const char *id;
	json_t *m, *r;

	TAILQ_INIT(&q);
	if ((id = query_id(query, &q, &err)) == NULL) {
		r = refusal(&err, 400, status);
		goto done;
	}
	if ((m = control_show(v, id, &err)) == NULL) {
		r = refusal(&err, err.code == NR_STORE_FAILED ? 503 : 404, status);
		goto done;
	}
	t.rows = json_array();
	f.message_id = id;
	if (store_audit_rows(broker_store(v->broker), &f, on_row, &t, &err) < 0) {
		json_decref(m);
		json_decref(t.rows);
		r = refusal(&err, 503, status);
		goto done;
	}
	*status = 200;
	r = json_pack("{s:o, s:o, s:b}", "message", m, "audit", t.rows,
	    "audit_truncated", t.truncated);
done:
	evhttp_clear_headers(&q);
	return r;
}
