/*
 * outq.h — frames waiting for the batch's commit before they are sent.
 *
 * Nothing a peer can rely on leaves narad before the state it describes is
 * durable, so replies, deliveries and receipts are queued here during a
 * batch and sent by outq_flush() after store_commit() succeeded.
 */
#ifndef NARA_OUTQ_H
#define NARA_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

enum out_kind { OUT_OTHER, OUT_ACCEPTED, OUT_DELIVERY };

struct out_frame {
	char node[NODE_ID_MAX + 1];    /* ZMQ routing id */
	size_t node_len;
	enum out_kind kind;
	char message_id[MESSAGE_ID_MAX]; /* for OUT_ACCEPTED */
	uint8_t *data;                 /* owned */
	size_t len;
};

struct outq {
	struct out_frame *v;
	size_t n, cap;
};

/* Queue data (ownership taken, freed by flush/clear). -1 on allocation
 * failure, in which case data is freed too. */
int outq_push(struct outq *q, const char *node, size_t node_len, enum out_kind kind,
    const char *message_id, uint8_t *data, size_t len);
/* Send everything on the ROUTER; returns how many were sent. Frames to
 * peers that are gone are dropped (the store still has what matters) and
 * gone(node, arg) is called once per such peer. */
typedef void (*outq_gone_fn)(const char *node, void *arg);
size_t outq_flush(struct outq *q, void *router, outq_gone_fn gone, void *arg);
void outq_clear(struct outq *q);

#endif
