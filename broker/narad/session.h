/*
 * session.h — what narad knows about each configured node while it runs:
 * whether it is connected, its credit window, what is in flight to it, and
 * how far its queue and receipt list have been sent.
 *
 * Nothing here is durable. After a reconnect (hello) or an ack timeout a
 * session reads its queue again from its lowest message still in flight:
 * every message still queued in the store is delivered again with attempt
 * + 1, and the adapter's exactly-once inbox absorbs the repeat. After a
 * restart the cursors come from the store (broker_queue_floors); after a
 * batch that did not commit, each goes back to the lowest message that was
 * in flight or that the batch finished.
 */
#ifndef NARA_SESSION_H
#define NARA_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "log.h"

#define NODE_ID_MAX 64
#define MESSAGE_ID_MAX 40
/* Why a connection ended, as the node_disconnected row says it. */
#define SESSION_REASON_MAX 160
/* Messages queued for a node that narad keeps by seq after it read the
 * node's queue to its end (deliver.c). */
#define SESSION_KNOWN_MAX 64

struct inflight {
	char message_id[MESSAGE_ID_MAX];
	int64_t seq;               /* the message's seq; 0 for a receipt */
	int64_t deadline;          /* epoch ms after which it is redelivered */
	bool receipt;              /* a receipt, not a delivery */
	char sender_node[NODE_ID_MAX + 1]; /* to wake for the receipt */
};

/* What a node did since narad started, for /metrics; kept over reloads. */
struct node_counts {
	uint64_t submitted;        /* submits received from the node */
	uint64_t delivered;        /* deliveries handed to its connection */
	uint64_t refused[NR_CODE_COUNT]; /* refusals sent to it, by code */
};

struct session {
	char node[NODE_ID_MAX + 1];
	bool connected;
	bool dirty;                /* may be able to send something now */
	bool floor_pending;        /* where its queue starts is not known yet:
	                            * receipts only (queue_floor.c) */
	bool queue_read;           /* past msg_cursor its queue holds just
	                            * known[0..n_known) (ascending) */
	uint8_t n_known;
	int64_t known[SESSION_KNOWN_MAX];
	uint32_t window;           /* credit window from hello (+ credit frames) */
	int64_t msg_cursor;        /* the queue is read after this seq: every
	                            * message queued for the node with a seq
	                            * at or below it is in flight, done, or
	                            * being settled in the open batch */
	int64_t rcpt_cursor;       /* highest receipt id sent this session */
	int64_t took_low;          /* lowest seq of its queue finished in */
	uint64_t took_batch;       /* this batch (acked, refused, dead-
	                            * lettered): put back if it fails */
	struct inflight *fl;       /* in flight: fl[fl_head .. fl_head + n_fl) */
	size_t fl_head, n_fl, cap_fl;
	int64_t connected_since;   /* epoch seconds, 0 when not connected */
	int64_t last_seen;
	uint64_t gen;              /* the TLS front's number of the node's
	                            * newest connection; 0 = none known */
	void *link;                /* that connection, when the front speaks
	                            * ZMTP itself (front_send); NULL after it
	                            * ended */
	int64_t down_ms;           /* when that connection ended (epoch ms);
	                            * the session ends after a short drain */
	char down_reason[SESSION_REASON_MAX]; /* why it ended, "" = unknown */
	uint64_t dropped_gen;      /* connection narad closed itself (NR006) */
	struct log_ratelimit loglim; /* log lines about this peer */
	char software[64];         /* from its newest hello, "" before */
	struct node_counts counts;
};

struct session_table {
	struct session *v;         /* sorted by node id */
	size_t n;
};

/* Build a table with one session per id (ids borrowed, copied). */
int session_table_init(struct session_table *t, const char *const *ids, size_t n);
/* Rebuild for a new list of ids, keeping the state of ids present in both. */
int session_table_rebuild(struct session_table *t, const char *const *ids, size_t n);
void session_table_free(struct session_table *t);
struct session *session_find(struct session_table *t, const char *node);

/* Forget everything in flight: the queue is read again from the lowest
 * message that was in flight, receipts from the beginning. */
void session_reset(struct session *s);
/* A message at seq is queued again behind the cursor (what a batch that
 * did not commit finished): read the queue from it again. Messages in
 * flight after it are not forgotten, so call it only where they are
 * forgotten too (session_reset) or none can be (a failed batch). */
void session_rewind(struct session *s, int64_t seq);
/* Deliveries + receipts that may still be sent: none while the node's
 * connection is known to have ended. */
uint32_t session_credit(const struct session *s);
int session_inflight_add(struct session *s, const char *message_id,
    int64_t seq, bool receipt, int64_t deadline, const char *sender_node);
/* Remove an in-flight entry; 0 when found (the entry copied into *was when
 * not NULL), -1 when not in flight. */
int session_inflight_remove(struct session *s, const char *message_id,
    bool receipt, struct inflight *was);
/* True when an in-flight entry passed its deadline. */
bool session_overdue(const struct session *s, int64_t now_ms);

#endif
