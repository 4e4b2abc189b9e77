/*
 * outq.h — frames waiting for the batch's commit before they are sent.
 *
 * Nothing a peer can rely on leaves narad before the state it describes is
 * durable, so replies, deliveries and receipts are queued here during a
 * batch and sent by outq_flush() after store_commit() succeeded.
 */
#ifndef NARA_OUTQ_H
#define NARA_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

enum out_kind { OUTQ_OTHER, OUTQ_ACCEPTED, OUTQ_DELIVERY, OUTQ_RECEIPT };

struct out_frame {
	char node[NODE_ID_MAX + 1];    /* ZMQ routing id */
	size_t node_len;
	enum out_kind kind;
	char message_id[MESSAGE_ID_MAX]; /* OUTQ_ACCEPTED, OUTQ_DELIVERY */
	int64_t ref;                   /* message seq (OUTQ_DELIVERY) or
	                                * receipt id (OUTQ_RECEIPT) */
	int attempt;                   /* OUTQ_DELIVERY */
	uint8_t *data;                 /* owned */
	size_t len;
};

struct outq {
	struct out_frame *v;
	size_t n, cap;
	bool used_router;              /* the last flush called zmq_send */
};

/* Queue data (ownership taken, freed by flush/clear). -1 on allocation
 * failure, in which case data is freed too. */
int outq_push(struct outq *q, const char *node, size_t node_len, enum out_kind kind,
    const char *message_id, uint8_t *data, size_t len);

/* What became of each frame of a flush; any function may be NULL. */
struct outq_fns {
	/* The frame is on the peer's connection (zmq_send or send took
	 * it). */
	void (*sent)(const struct out_frame *f, void *arg);
	/* err is zmq_send's errno (EHOSTUNREACH: no such peer; EAGAIN: the
	 * peer's send queue is full, it does not read), or 0 when the frame
	 * was not tried because an earlier one to that peer failed in this
	 * flush: a peer never gets a later frame without an earlier one. */
	void (*failed)(const struct out_frame *f, int err, void *arg);
	void *arg;
	/* Send f another way than the ROUTER (the TLS front's own
	 * connections): 0 sent, an errno as for failed when it failed, -1 when
	 * it goes on the ROUTER. */
	int (*send)(const struct out_frame *f, void *arg);
};

/* Send everything through fns->send or on the ROUTER (ZMQ_ROUTER_MANDATORY,
 * never blocking), in order, reporting each frame through fns; returns how
 * many were sent. The queue is empty afterwards. */
size_t outq_flush(struct outq *q, void *router, const struct outq_fns *fns);
void outq_clear(struct outq *q);

#endif
