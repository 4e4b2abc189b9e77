/*
 * broker_int.h — state private to narad's broker core (broker.c: batches
 * and dispatch; submit.c: accepting messages; deliver.c: deliveries,
 * receipts, timeouts and expiry; lifecycle.c: connections starting and
 * ending, audit rows of frames handed over; broker_view.c: the operations
 * broker.h gives the rest of narad). No other module includes it.
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

struct deliver_pass;        /* deliver.c */

/* Frames queued to one node beyond its credit window before narad decides
 * that the node does not read (ZMQ_SNDHWM = max_credit + this). */
#define ROUTER_ANSWER_BACKLOG 4096
/* Frames read from one connection that wait for narad (ZMQ_RCVHWM). */
#define ROUTER_RCV_BACKLOG 1024
/* After the front reports a connection closed, frames the node sent just
 * before are still on their way through the ROUTER: its session ends this
 * much later, so that they are still taken (acks, nacks). */
#define SESSION_DRAIN_MS 200

/* An audit row about something that happened after a commit: a frame was
 * handed to a node's connection, a connection ended. It is written at the
 * start of the next batch (lifecycle.c). */
enum post_kind { POST_DELIVERED, POST_RECEIPT_SENT, POST_DISCONNECTED };
struct post_row {
	enum post_kind kind;
	int64_t ref;                /* message seq or receipt id */
	int attempt;
	int64_t when;               /* epoch seconds */
	char node[NODE_ID_MAX + 1];
	char code[8];               /* catalogue code, "" = none */
	char detail[SESSION_REASON_MAX];
};

/* The walk that finds where each session's queue starts (queue_floor.c). */
struct floor_pass {
	struct event *ev;           /* the next part, in a later turn */
	int64_t at, upto;           /* walked up to at, of what was below upto */
	int64_t t0;                 /* when it began (mono_us) */
	size_t missing, found;      /* sessions still waiting; found so far */
	int turns;
	char last[NODE_ID_MAX + 1]; /* node of the last message walked */
};

struct broker {
	struct event_base *base;
	struct config *cfg;
	struct store *store;
	void *zctx;
	void *router;
	struct evzmq *watch;
	struct broker_link link;    /* the TLS front's frames; zero = none */
	struct event *link_ev;      /* a batch for them */
	struct zap *zap;            /* ROUTER guard when the TLS front is on */
	struct event *tick;         /* once a second: timeouts, expiry */
	struct event *settle;       /* a begin sent ahead found no batch */
	struct session_table sessions;
	struct outq out;
	struct broker_stats stats;
	struct metrics metrics;     /* per type/code counters, commit latency */
	struct evp_md_st *sha256;   /* fetched once: a content's digest */
	int64_t batch_now_ms;       /* time of the current batch */
	bool batch_ok;              /* store_begin succeeded */
	bool committing;            /* a commit sent, its answer not taken */
	int64_t commit_t0;          /* when it was sent (mono_us) */
	struct event *commit_ev;    /* the store's socket, for that answer */
	struct event *idle_ev;      /* the store busy after it (store_idle_fd) */
	bool damaged;               /* the store failed its start-up check */
	struct nara_err batch_err;
	struct session **dirty;     /* sessions to run a delivery pass for */
	size_t n_dirty, cap_dirty;
	/* the delivery pass's reads, as many as dirty holds (deliver.c) */
	struct store_load *loads;
	struct deliver_pass *passes;
	/* queued messages the policy no longer lets go, dead-lettered after
	 * the reads that found them (deliver.c) */
	struct held_back *held;
	size_t n_held, cap_held;
	bool orphans_due;           /* look for queues of nodes not configured */
	/* The store's counts, read off the loop (counts.h): the status views
	 * and the look for orphaned queues ask it. */
	struct counts_reader *counts;
	struct counts_ask *orphans_ask; /* a look under way, or NULL */
	char (*orphans)[CONFIG_NODE_ID_MAX + 1]; /* found, not yet settled */
	size_t n_orphans;
	bool orphans_found;         /* the look ended: settle at the next tick */
	bool orphans_unread;        /* the last look could not read the store */
	bool tick_due;              /* the tick's work waits for a batch */
	struct post_row *post;      /* rows waiting for the next batch */
	size_t n_post, cap_post;
	size_t n_post_written;      /* of them, written in the open batch */
	uint64_t batches;           /* batches ended */
	uint64_t post_armed_at;     /* batches when post_ev was armed */
	struct event *post_ev;      /* writes post rows when no batch comes */
	struct event *drain_ev;     /* ends sessions of closed connections */
	broker_drop_fn drop;
	void *drop_arg;
	struct log_ratelimit others_log; /* log lines about unknown peers */
	struct floor_pass floor;
};

int64_t broker_now_ms(void);
void broker_limits(const struct broker *b, struct validate_limits *lim);
void broker_batch_begin(struct broker *b);
void broker_batch_end(struct broker *b);
int broker_queue_frame(struct broker *b, const char *node, size_t node_len,
    const Nara__Frame *frame, enum out_kind kind, const char *message_id);
void broker_queue_rejected(struct broker *b, const char *node, size_t node_len,
    const char *message_id, const struct nara_err *err);

/* lifecycle.c */
/* The timers of post rows and session drains; freed with the post rows. */
int broker_lifecycle_init(struct broker *b);
void broker_lifecycle_free(struct broker *b);
/* End a connected session: nothing in flight any more (the store still
 * queues it), audit node_disconnected with code (NR_OK: none) and detail
 * at when_ms. */
void broker_session_end(struct broker *b, struct session *s,
    enum nara_code code, const char *detail, int64_t when_ms);
/* broker_batch_begin writes the waiting post rows into its transaction;
 * broker_batch_end drops them once committed (keeps them otherwise), then
 * sends the batch's frames with broker_flush, which adds the rows for
 * what was sent and ends sessions whose peer is gone or not reading. */
void broker_post_write(struct broker *b);
void broker_post_done(struct broker *b, bool committed);
/* Take the answer to a batch's commit still on its way (and send the
 * batch's replies); nothing when none is. */
void broker_commit_wait(struct broker *b);
/* No commit out and the store idle: a batch may begin without the loop's
 * thread waiting. When the store is still busy after a commit, watches
 * for the end of that and calls broker_link_ready then. */
bool broker_may_begin(struct broker *b);
void broker_flush(struct broker *b);
/* The log limiter for lines about a peer: its session's, or one shared
 * by peers without a session (s NULL). */
struct log_ratelimit *broker_peer_log(struct broker *b, struct session *s);

/* submit.c */
void broker_submit(struct broker *b, struct session *s, const Nara__Frame *frame);

/* deliver.c */
void broker_mark_dirty(struct broker *b, struct session *s);
void broker_mark_node_dirty(struct broker *b, const char *node);
void broker_deliver_dirty(struct broker *b);
/* queue_floor.c */
/* Find where the queues of sessions that have not read theirs yet start
 * (at start, and for nodes a reload added). */
void broker_queue_floors(struct broker *b);
void broker_queue_floors_free(struct broker *b);
/* A message was queued for node at seq (accepted, retried; 0: a new seq,
 * higher than any before, not known here): read it. */
void broker_queue_added(struct broker *b, const char *node, int64_t seq);
/* The open batch finishes the message at seq of node's queue (acked,
 * refused, dead-lettered); 0 when its seq is not known. */
void broker_queue_took(struct broker *b, const char *node, int64_t seq);
void broker_on_tick(evutil_socket_t fd, short what, void *arg);
void broker_tick_work(struct broker *b);
void broker_take_batch(struct broker *b);

#endif
