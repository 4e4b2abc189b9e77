/*
 * outq.c — post-commit send queue of narad.
 */
#include "outq.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "utf8.h"

int
outq_push(struct outq *q, const char *node, size_t node_len, enum out_kind kind,
    const char *message_id, uint8_t *data, size_t len)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		struct out_frame *v = reallocarray(q->v, cap, sizeof(*v));
		if (v == NULL) {
			free(data);
			return -1;
		}
		q->v = v;
		q->cap = cap;
	}
	struct out_frame *f = &q->v[q->n++];
	if (node_len > NODE_ID_MAX)
		node_len = NODE_ID_MAX;
	memcpy(f->node, node, node_len);
	f->node[node_len] = '\0';
	f->node_len = node_len;
	f->kind = kind;
	f->ref = 0;
	f->attempt = 0;
	utf8_copy(f->message_id, sizeof(f->message_id), message_id);
	f->data = data;
	f->len = len;
	return 0;
}

/* Did an earlier frame to f's peer fail in this flush? failed[] holds
 * the indexes of the first failure per peer. */
static bool
peer_failed(const struct outq *q, const size_t *failed, size_t n_failed,
    const struct out_frame *f)
{
	for (size_t i = 0; i < n_failed; i++) {
		const struct out_frame *g = &q->v[failed[i]];
		if (g->node_len == f->node_len &&
		    memcmp(g->node, f->node, f->node_len) == 0)
			return true;
	}
	return false;
}

/* Send f: 0, or the errno of the failure. */
static int
send_one(struct outq *q, const struct out_frame *f, void *router,
    const struct outq_fns *fns)
{
	int e;

	if (fns != NULL && fns->send != NULL && (e = fns->send(f, fns->arg)) >= 0)
		return e;
	q->used_router = true;
	if (zmq_send(router, f->node, f->node_len, ZMQ_SNDMORE | ZMQ_DONTWAIT)
	    >= 0 && zmq_send(router, f->data, f->len, ZMQ_DONTWAIT) >= 0)
		return 0;
	return errno;
}

size_t
outq_flush(struct outq *q, void *router, const struct outq_fns *fns)
{
	size_t sent = 0, n_failed = 0, cap_failed = 0, *failed = NULL;

	q->used_router = false;
	for (size_t i = 0; i < q->n; i++) {
		struct out_frame *f = &q->v[i];
		int e = 0;

		if (n_failed == 0 || !peer_failed(q, failed, n_failed, f)) {
			if ((e = send_one(q, f, router, fns)) == 0) {
				sent++;
				if (fns != NULL && fns->sent != NULL)
					fns->sent(f, fns->arg);
				continue;
			}
			if (n_failed == cap_failed) {
				size_t cap = cap_failed ? cap_failed * 2 : 8;
				size_t *v = reallocarray(failed, cap,
				    sizeof(*v));
				if (v != NULL) {
					failed = v;
					cap_failed = cap;
				}
			}
			if (n_failed < cap_failed)
				failed[n_failed++] = i;
		}
		if (fns != NULL && fns->failed != NULL)
			fns->failed(f, e, fns->arg);
	}
	free(failed);
	outq_clear(q);
	return sent;
}

void
outq_clear(struct outq *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->v[i].data);
	q->n = 0;
}
