/*
 * ops.c — naractl's commands about nodes' connections and dead letters:
 * conns (what each node's TLS connection negotiated and presented, and
 * why the front last refused it), dead (dead letters, metadata only) and
 * retry --node NODE --all (every dead letter of a node back to its queue).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "naractl.h"

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" of a connection, "-" without one. */
static const char *
tls_text(json_t *conn, char *buf, size_t len)
{
	if (!json_is_object(conn))
		return "-";
	snprintf(buf, len, "%s %s", str(conn, "tls_version"), str(conn, "cipher"));
	return buf;
}

/* "NR060 certificate at 2026-...: what" of a last refusal, "-" for none. */
static const char *
refusal_text(json_t *r, char *buf, size_t len)
{
	if (!json_is_object(r))
		return "-";
	snprintf(buf, len, "%s %s %s: %s", str(r, "at"), str(r, "code"),
	    str(r, "reason"), str(r, "detail"));
	return buf;
}

/* One node in detail: a "key  value" line each. */
static void
print_conn_detail(json_t *n)
{
	json_t *c = json_object_get(n, "connection");
	json_t *r = json_object_get(n, "last_refusal");
	char buf[64], tls[128], ref[800];

	printf("%-22s %s (%s)\n", "node", str(n, "id"), str(n, "name"));
	printf("%-22s %s\n", "state", json_is_true(json_object_get(n,
	    "connected")) ? "connected" : "down");
	printf("%-22s %s\n", "connected_since", fmt_time(json_object_get(n,
	    "connected_since"), buf, sizeof(buf)));
	printf("%-22s %s\n", "software", str(n, "software"));
	printf("%-22s %s\n", "peer", str(c, "peer"));
	printf("%-22s %s\n", "tls", tls_text(c, tls, sizeof(tls)));
	printf("%-22s %s\n", "certificate_subject", str(c,
	    "certificate_subject"));
	printf("%-22s %s\n", "certificate_not_after", str(c,
	    "certificate_not_after"));
	printf("%-22s %s\n", "last_refusal", refusal_text(r, ref, sizeof(ref)));
	if (json_is_object(r))
		printf("%-22s %s, %s refusals since narad started\n",
		    "last_refused_peer", str(r, "peer"), fmt_int(json_object_get(r,
		    "count"), buf, sizeof(buf)));
}

static void
print_conns(json_t *res)
{
	static const char *const head[] = { "NODE", "STATE", "PEER", "TLS",
	    "CERT NOT AFTER", "SINCE", "SOFTWARE", "LAST REFUSAL" };
	struct table t = { .ncols = 8 };
	size_t i;
	json_t *n;

	table_add(&t, head);
	json_array_foreach(json_object_get(res, "nodes"), i, n) {
		json_t *c = json_object_get(n, "connection");
		char tls[128], since[40], ref[800];
		const char *row[] = { str(n, "id"), json_is_true(json_object_get(n,
		    "connected")) ? "connected" : "down", str(c, "peer"),
		    tls_text(c, tls, sizeof(tls)),
		    str(c, "certificate_not_after"),
		    fmt_time(json_object_get(c, "since"), since, sizeof(since)),
		    str(n, "software"), refusal_text(json_object_get(n,
		    "last_refusal"), ref, sizeof(ref)) };
		table_add(&t, row);
	}
	table_print(&t);
}

int
ops_conns(const struct opts *o, const char *node)
{
	json_t *req = json_pack("{s:s}", "command", "conns"), *r;
	int rc;

	if (node != NULL)
		json_object_set_new(req, "node", json_string(node));
	if ((r = call(o, req, false, &rc)) == NULL)
		return rc;
	if (o->json)
		print_json(r);
	else if (node != NULL)
		print_conn_detail(json_array_get(json_object_get(r, "nodes"), 0));
	else
		print_conns(r);
	json_decref(r);
	return EXIT_OK;
}

static void
print_dead(json_t *r, const char *node)
{
	static const char *const head[] = { "DEAD SINCE", "MESSAGE-ID", "TYPE",
	    "FROM", "TO NODE", "CODE", "REASON", "ATTEMPTS", "RETRYABLE" };
	struct table t = { .ncols = 9 };
	size_t i;
	json_t *d;

	table_add(&t, head);
	json_array_foreach(json_object_get(r, "dead_letters"), i, d) {
		char at[40], att[24];
		const char *row[] = { fmt_time(json_object_get(d, "dead_at"), at,
		    sizeof(at)), str(d, "message_id"), str(d, "type"),
		    str(d, "sender_node"), str(d, "recipient_node"),
		    str(d, "code"), str(d, "reason"),
		    fmt_int(json_object_get(d, "attempts"), att, sizeof(att)),
		    json_is_true(json_object_get(d, "payload_kept")) ? "yes"
		    : "no (content purged)" };
		table_add(&t, row);
	}
	table_print(&t);
	printf("%lld dead letter(s)%s%s%s\n",
	    (long long)json_integer_value(json_object_get(r, "total")),
	    node ? " for " : "", node ? node : "",
	    json_is_true(json_object_get(r, "truncated"))
	    ? " (more not shown; --limit)" : "");
}

int
ops_dead(const struct opts *o, const char *node)
{
	json_t *req = json_pack("{s:s}", "command", "dead"), *r;
	int rc;

	if (node != NULL)
		json_object_set_new(req, "node", json_string(node));
	if (o->limit > 0)
		json_object_set_new(req, "limit", json_integer(o->limit));
	if ((r = call(o, req, false, &rc)) == NULL)
		return rc;
	if (o->json)
		print_json(r);
	else
		print_dead(r, node);
	json_decref(r);
	return EXIT_OK;
}

/* Ask until narad says no more remain (each answer covers a batch); stop
 * when a batch put nothing back, so that failures cannot loop. */
int
ops_retry_all(const struct opts *o, const char *node)
{
	json_t *all = json_pack("{s:s, s:[], s:[]}", "node", node, "retried",
	    "failed"), *r;
	bool more = true;
	int rc = EXIT_OK;
	size_t i;
	json_t *v;

	while (more) {
		json_t *req = json_pack("{s:s, s:s, s:b}", "command", "retry",
		    "node", node, "all", 1);
		if ((r = call(o, req, true, &rc)) == NULL)
			break;
		json_array_extend(json_object_get(all, "retried"),
		    json_object_get(r, "retried"));
		json_array_extend(json_object_get(all, "failed"),
		    json_object_get(r, "failed"));
		more = json_is_true(json_object_get(r, "more")) &&
		    json_array_size(json_object_get(r, "retried")) > 0;
		json_decref(r);
	}
	if (rc == EXIT_OK && o->json)
		print_json(all);
	else if (rc == EXIT_OK)
		printf("%zu dead letter(s) of %s queued again\n",
		    json_array_size(json_object_get(all, "retried")), node);
	json_array_foreach(json_object_get(all, "failed"), i, v)
		errorf("%s not retried: %s %s", str(v, "message_id"),
		    str(v, "code"), str(v, "error"));
	if (rc == EXIT_OK && json_array_size(json_object_get(all, "failed")) > 0)
		rc = EXIT_FAIL;
	json_decref(all);
	return rc;
}
