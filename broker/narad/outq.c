/*
 * outq.c — post-commit send queue of narad.
 */
#include "outq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "log.h"

int
outq_push(struct outq *q, const char *node, size_t node_len, enum out_kind kind,
    const char *message_id, uint8_t *data, size_t len)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		struct out_frame *v = realloc(q->v, cap * sizeof(*v));
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
	snprintf(f->message_id, sizeof(f->message_id), "%s",
	    message_id ? message_id : "");
	f->data = data;
	f->len = len;
	return 0;
}

size_t
outq_flush(struct outq *q, void *router, outq_gone_fn gone, void *arg)
{
	const char *last_gone = NULL;
	size_t sent = 0;

	for (size_t i = 0; i < q->n; i++) {
		struct out_frame *f = &q->v[i];
		if (zmq_send(router, f->node, f->node_len,
		    ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
		    zmq_send(router, f->data, f->len, ZMQ_DONTWAIT) < 0) {
			/* EHOSTUNREACH: the peer left; EAGAIN: its pipe is
			 * full. Either way the store keeps the message and
			 * the session is reset when the node returns. */
			int e = errno;
			log_debug("send to %s dropped: %s", f->node,
			    zmq_strerror(e));
			if (e == EHOSTUNREACH && gone != NULL && (last_gone == NULL
			    || strcmp(last_gone, f->node) != 0)) {
				gone(f->node, arg);
				last_gone = f->node;
			}
		} else {
			sent++;
		}
	}
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
