/*
 * relay.h — the lifecycle of one relayed connection, shared by narad's TLS
 * front and the client tunnel: two bufferevents relayed both ways with
 * high/low watermarks, a close that flushes what is buffered within a time
 * limit, and burial: a connection leaves the live list at once and is
 * freed by a reaper event after the current callback has returned, so
 * nothing is ever freed inside its own callback.
 *
 * A struct relay is embedded in the owner's connection; the owner keeps its
 * own protocol logic in the relay_ops hooks. Side 0 and side 1 are the
 * owner's names for the two bufferevents (the front: node and ROUTER; the
 * tunnel: local and broker). One event loop thread only.
 */
#ifndef NARA_RELAY_H
#define NARA_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

/* Bytes buffered towards one side before the other side stops being read. */
#define RELAY_HIGH_WATER (256 * 1024)

struct relay;

/* The owner's part. Every hook may be NULL. */
struct relay_ops {
	/* Bytes arrived on side; NULL = relay_forward. */
	void (*read)(struct relay *r, int side);
	/* An event (connected, EOF, error) on side. */
	void (*event)(struct relay *r, int side, short what);
	/* The timer fired, except the flush limit of a close (see done). */
	void (*timer)(struct relay *r);
	/* A close has flushed, or its time limit passed; NULL = relay_bury. */
	void (*done)(struct relay *r);
	/* Being buried: marked so (a close now does nothing), still on the
	 * live list, its callbacks not yet cleared. */
	void (*bury)(struct relay *r);
	/* Free the owner; only from the reaper or relay_set_free. */
	void (*destroy)(struct relay *r);
};

struct relay {
	LIST_ENTRY(relay) link;        /* in set->live or set->dead */
	struct relay_set *set;
	const struct relay_ops *ops;
	struct bufferevent *bev[2];    /* freed with the relay; may be NULL */
	struct event *timer;           /* owner's timeouts and the flush limit */
	bool unflushed[2];             /* this side's output need not drain */
	bool closing;                  /* relay_close ran */
	bool done;                     /* ops->done ran */
	bool buried;                   /* on the dead list */
};

/* All relays of one owner (the front, a tunnel) on one event base. */
struct relay_set {
	LIST_HEAD(relay_list, relay) live, dead;
	size_t n_live;
	struct event *reaper;          /* frees the dead list */
	unsigned flush_seconds;        /* limit for a flushing close */
};

/* Set up an empty set on base; 0 or -1 (out of memory). */
int relay_set_init(struct relay_set *s, struct event_base *base,
    unsigned flush_seconds);
/* Free every relay (live and dead) and the reaper; for shutdown, outside
 * the set's callbacks. */
void relay_set_free(struct relay_set *s);

/* Make r (zeroed by the owner) a live relay of s with its timer; the
 * bufferevents are attached later. 0 or -1 (nothing to undo). */
int relay_init(struct relay *r, struct relay_set *s,
    const struct relay_ops *ops);
/* Route bev's callbacks (side 0 or 1) through r; r owns bev from now on. */
void relay_attach(struct relay *r, int side, struct bufferevent *bev);
/* Free r's bufferevents and timer (not r itself); for ops->destroy and
 * for an owner whose relay never went live. */
void relay_release(struct relay *r);

/* Move what arrived on side to the other side; when the other side then
 * holds RELAY_HIGH_WATER or more, stop reading side until that output has
 * drained to half (the write callback resumes it). */
void relay_forward(struct relay *r, int side);
/* Arm r's timer (an owner's timeout), replacing any earlier one. */
void relay_arm(struct relay *r, unsigned seconds);
/* Stop reading both sides. With flush, let what is buffered go out first
 * (within the set's flush limit); then ops->done. Without, ops->done at
 * once. A second flushing close of a closing relay does nothing. */
void relay_close(struct relay *r, bool flush);
/* Has every side that counts written out what it holds? */
bool relay_flushed(const struct relay *r);
/* Leave the live list now; freed after the current callback returns. */
void relay_bury(struct relay *r);

#endif
