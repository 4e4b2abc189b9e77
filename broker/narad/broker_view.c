/*
 * broker_view.c — the broker core's operations for the rest of narad
 * (broker.h): read-only views for the control socket, the HTTP listener
 * and status.c, and the operator's retry of a dead letter. They are the
 * only way those modules reach the core's state.
 */
#include <stdio.h>
#include <string.h>

#include "broker_int.h"

struct counts_reader *
broker_counts(const struct broker *b)
{
	return b->counts;
}

struct store *
broker_store(const struct broker *b)
{
	return b->store;
}

const struct metrics *
broker_metrics(const struct broker *b)
{
	return &b->metrics;
}

void
broker_node_view(const struct broker *b, const char *node,
    struct broker_node_view *out)
{
	const struct session *s = NULL;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < b->sessions.n && s == NULL; i++)
		if (strcmp(b->sessions.v[i].node, node) == 0)
			s = &b->sessions.v[i];
	if (s == NULL)
		return;
	out->connected = s->connected;
	out->connected_since = s->connected ? s->connected_since : 0;
	out->last_seen = s->last_seen;
	out->in_flight = s->n_fl;
	snprintf(out->software, sizeof(out->software), "%s", s->software);
	out->counts = &s->counts;
}

size_t
broker_in_flight(const struct broker *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->sessions.n; i++)
		n += b->sessions.v[i].n_fl;
	return n;
}

/* store_meta_fn: keep the recipient node and whether it can be retried. */
struct retry_check {
	char node[CONFIG_NODE_ID_MAX + 1];
	int state;
	bool payload_kept;
};

static int
on_retry_meta(void *arg, const struct store_msg_meta *mm)
{
	struct retry_check *rc = arg;

	snprintf(rc->node, sizeof(rc->node), "%s",
	    mm->m.recipient_node ? mm->m.recipient_node : "");
	rc->state = mm->m.state;
	rc->payload_kept = mm->payload_kept;
	return 0;
}

int
broker_retry(struct broker *b, const char *message_id, const char *operator,
    char *node, size_t node_len, struct nara_err *err)
{
	struct retry_check rc = { .state = -1 };
	int found = store_msg_meta(b->store, message_id, on_retry_meta, &rc);

	if (found < 0)
		return nara_err_set(err, NR_STORE_FAILED, NULL, "store query "
		    "failed");
	if (found == 0)
		return nara_err_set(err, NR_BAD_VALUE, "message_id",
		    "no message %s", message_id);
	if (rc.state != STORE_DEAD || !rc.payload_kept)
		return nara_err_set(err, NR_BAD_VALUE, "message_id", "message %s "
		    "is %s, not a dead letter that can be retried", message_id,
		    rc.state == STORE_DEAD ? "dead without its content" :
		    store_state_name(rc.state));
	/* A batch of its own, like a frame from a node: the retry, a
	 * delivery pass for the recipient, then the commit and the sends. */
	broker_batch_begin(b);
	if (store_retry(b->store, message_id, operator, b->batch_now_ms / 1000,
	    err) != 0) {
		broker_batch_end(b);
		return -1;
	}
	broker_queue_added(b, rc.node, 0);
	broker_deliver_dirty(b);
	broker_batch_end(b);
	if (!b->metrics.last_ok)
		return nara_err_set(err, NR_STORE_FAILED, NULL, "retry not "
		    "committed");
	snprintf(node, node_len, "%s", rc.node);
	return 0;
}
