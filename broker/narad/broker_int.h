/*
 * broker_int.h — state private to narad's broker core (broker.c: batches
 * and dispatch; submit.c: accepting messages; deliver.c: deliveries,
 * receipts, timeouts and expiry; broker_view.c: the operations broker.h
 * gives the rest of narad). No other module includes it.
 */
#ifndef NARA_BROKER_INT_H
#define NARA_BROKER_INT_H

#include "broker.h"
#include "pbstr.h"
#include "errors.h"
#include "evzmq.h"
#include "metrics.h"
#include "outq.h"
#include "session.h"
#include "validate.h"

struct broker {
	struct event_base *base;
	struct config *cfg;
	struct store *store;
	void *zctx;
	void *router;
	struct evzmq *watch;
	struct zap *zap;            /* ZAP handler when the TLS front is on */
	struct event *tick;         /* once a second: timeouts, expiry */
	struct session_table sessions;
	struct outq out;
	struct broker_stats stats;
	struct metrics metrics;     /* per type/code counters, commit latency */
	int64_t batch_now_ms;       /* time of the current batch */
	bool batch_ok;              /* store_begin succeeded */
	struct nara_err batch_err;
	struct session **dirty;     /* sessions to run a delivery pass for */
	size_t n_dirty, cap_dirty;
	struct session *gone[64];   /* found disconnected by the last flush */
	size_t n_gone;
};

int64_t broker_now_ms(void);
void broker_limits(const struct broker *b, struct validate_limits *lim);
void broker_batch_begin(struct broker *b);
void broker_batch_end(struct broker *b);
int broker_queue_frame(struct broker *b, const char *node, size_t node_len,
    const Nara__Frame *frame, enum out_kind kind, const char *message_id);
void broker_queue_rejected(struct broker *b, const char *node, size_t node_len,
    const char *message_id, const struct nara_err *err);

/* submit.c */
void broker_submit(struct broker *b, struct session *s, const Nara__Frame *frame);

/* deliver.c */
void broker_mark_dirty(struct broker *b, struct session *s);
void broker_mark_node_dirty(struct broker *b, const char *node);
void broker_deliver_dirty(struct broker *b);
void broker_on_tick(evutil_socket_t fd, short what, void *arg);

#endif
