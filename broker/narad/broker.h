/*
 * broker.h — the broker core of narad: node sessions, submit handling,
 * per-node delivery with credit, receipts, expiry, and group commit.
 *
 * One event-loop iteration is one batch: frames read from the ROUTER are
 * applied to the store inside one transaction, deliveries that became
 * possible are prepared in the same transaction, then the store commits
 * (fsync) and only then are replies, deliveries and receipts sent.
 */
#ifndef NARA_BROKER_H
#define NARA_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "store.h"

struct broker;

/* How long a batch begun ahead with a commit (store_ahead) may wait for
 * frames before it is ended: under load the next batch takes it at once;
 * idle, other writers (nara-audit, a standby narad's lease step) wait at
 * most this long for the chain head's lock. */
#define BROKER_SETTLE_MS 20

/* The broker borrows base and st; it takes ownership of cfg (also when it
 * fails). It binds the ROUTER to cfg->broker.router (and listen_tcp when
 * set). NULL on failure, with the reason logged. */
struct broker *broker_new(struct event_base *base, struct config *cfg,
    struct store *st);
/* Stop reading new frames, finish nothing more, close the socket. */
void broker_free(struct broker **b);

/* Swap in a validated new config. On 0 the broker owns cfg and *old is the
 * config it used before, now the caller's to free once nothing else points
 * into it (the TLS front). On -1 (out of memory) nothing changed: the
 * broker keeps its config and cfg stays the caller's. */
int broker_reload(struct broker *b, struct config *cfg, struct config **old);
const struct config *broker_config(const struct broker *b);
/* True once the store failed the full check that runs in the background
 * after an unclean stop: the broker broke the event loop and narad exits
 * with status 1, as when the store is refused at start. */
bool broker_store_damaged(const struct broker *b);
/* Write one audit event that is not about a message ("config_reloaded",
 * "broker_started", ...) in a batch of its own. 0 once the row is
 * committed; -1 when it is not (the store said why in the log), for an
 * action that must not happen without its row. */
int broker_audit_event(struct broker *b, const char *event, const char *detail);
/* The same with the node it concerns and a catalogue code ("NR060"); node
 * and code may be NULL. */
void broker_audit_coded(struct broker *b, const char *event, const char *node,
    const char *code, const char *detail);

/* The TLS front's view of a node's connections (front.h hooks). gen
 * numbers the connections; a newer one ends the session of an older one
 * (the node must say hello again), and the end of a connection ends its
 * session only while it is the node's newest: a late end of an old
 * connection never touches the session of a newer one. */
void broker_node_up(struct broker *b, const char *node, uint64_t gen,
    void *link);
/* reason (borrowed, NULL = none known) says why the connection ended; it
 * becomes the detail of the node_disconnected row when the session ends. */
void broker_node_down(struct broker *b, const char *node, uint64_t gen,
    const char *reason);
/* Who closes a node's connection when narad gives up on it (it does not
 * read what is sent to it, NR006): the TLS front. Without one the session
 * ends but the ROUTER keeps the peer; its send queue stays bounded. */
typedef void (*broker_drop_fn)(void *arg, const char *node, uint64_t gen);
void broker_set_drop(struct broker *b, broker_drop_fn fn, void *arg);

/* The TLS front speaking ZMTP itself ([tls] zmtp = front) is a source and
 * sink of frames beside the ROUTER: the broker takes the frames waiting
 * there into its batches, and sends to a connection given to
 * broker_node_up through it (front.h says what each does). */
typedef void (*broker_frame_fn)(void *arg, const char *node,
    const uint8_t *data, size_t len, bool multipart);
struct broker_link {
	bool (*pending)(void *arg);
	/* up to max frames, or until their bodies reach max_bytes (front.h,
	 * front_pull) */
	size_t (*pull)(void *arg, size_t max, size_t max_bytes,
	    broker_frame_fn fn, void *fn_arg);
	int (*send)(void *arg, void *link, const uint8_t *data, size_t len);
	void *arg;
};
/* Use link (copied); before the first connection. */
void broker_set_link(struct broker *b, const struct broker_link *link);
/* Frames wait in the link: a batch takes them when the loop may. */
void broker_link_ready(struct broker *b);

/* Counters for status output. */
struct broker_stats {
	uint64_t submits, accepted, rejected, duplicates;
	uint64_t delivered, acked, nacked, expired, receipts_sent;
	uint64_t commits, commit_failures;
	uint64_t commits_unwaited;  /* sent; the loop went on until the answer */
	uint64_t last_commit_us, max_commit_us;
	unsigned nodes_connected;
};
void broker_stats(const struct broker *b, struct broker_stats *out);

/* ---- for the rest of narad (broker_view.c); nothing else sees inside ---- */

struct counts_reader;
struct metrics;
struct node_counts;

/* The store, for read-only queries (queue listings, message metadata,
 * totals). Changes go through the broker's own operations. */
struct store *broker_store(const struct broker *b);
/* The reader of the store's counts off the loop (counts.h), for the status
 * views. */
struct counts_reader *broker_counts(const struct broker *b);
/* The counters and commit latency (metrics.h), read-only. */
const struct metrics *broker_metrics(const struct broker *b);

/* One node as narad sees it now. */
struct broker_node_view {
	bool connected;             /* a live session after hello */
	int64_t connected_since;    /* epoch seconds, 0 when not connected */
	int64_t last_seen;          /* epoch seconds of its last frame, 0 never */
	size_t in_flight;           /* deliveries and receipts not yet acked */
	char software[64];          /* from its newest hello, "" before any */
	const struct node_counts *counts; /* session.h; valid until the next
	                            * reload, NULL for an unknown node */
};
/* Fill out for node (all zero when narad has never seen it). */
void broker_node_view(const struct broker *b, const char *node,
    struct broker_node_view *out);
/* Deliveries and receipts sent and not yet acked, over all nodes. */
size_t broker_in_flight(const struct broker *b);

/* An operator's retry of a dead letter whose content is still stored: it
 * goes back to the end of its recipient's queue and is delivered at once
 * when the node is connected, in a batch of its own; the "retried" audit
 * row names operator (borrowed). 0 with the recipient node in node, or -1
 * with err (NR019 not a retryable dead letter, NR041 store). */
int broker_retry(struct broker *b, const char *message_id, const char *operator,
    char *node, size_t node_len, struct nara_err *err);

#endif
