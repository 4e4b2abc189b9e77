/*
 * control_int.h — the state of one control socket, shared by control.c
 * (the socket: requests in, replies out) and control_cmd.c (the commands
 * that answer them); nothing outside control*.c includes it (control.h is
 * the interface).
 */
#ifndef NARA_CONTROL_INT_H
#define NARA_CONTROL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <jansson.h>

#include "control.h"
#include "evzmq.h"
#include "log.h"
#include "status.h"

/* A status or nodes request whose reply waits for the store's counts,
 * read off the loop (counts.h). */
struct control_wait {
	TAILQ_ENTRY(control_wait) link;
	struct control *c;
	unsigned char id[256];      /* the peer's routing id */
	size_t id_len;
	bool nodes;                 /* "nodes", else "status" */
	char operator[128];
	struct counts_ask *ask;
};

/* One bound control socket (narad has one, or two with control_readonly). */
struct control {
	struct ops_view view;
	struct control_hooks hooks;
	bool read_only;
	bool bound;                 /* the socket file is ours to remove */
	char *endpoint;
	void *zctx;
	/* A ROUTER, not a REP: a REP socket cannot be told to refuse a reply
	 * its peer's queue has no room for (libzmq aborts), a ROUTER can. */
	void *router;
	struct evzmq *watch;
	/* After a full batch the watch is held and this zero timer releases
	 * it: evzmq's own re-arm would run the next batch in the same turn of
	 * the loop, before libevent polls the other descriptors again. */
	struct event *resume;
	/* Who sent the request being handled: "user (uid N, pid P)" from the
	 * kernel's SO_PEERCRED, as libzmq reports it for an ipc peer. */
	char operator[128];
	/* What the command being handled adds to its refusal ("problems" of
	 * a refused reload); control_handle puts it in the reply. */
	json_t *refusal_detail;
	/* Replies dropped (peer not reading, or gone) and malformed requests
	 * are logged, a few lines per period: the peer decides how many. Each
	 * has its own budget, so that a stream of malformed requests cannot
	 * keep the warnings about dropped replies out of the log. */
	struct log_ratelimit drop_log;
	struct log_ratelimit malformed_log;
	unsigned long dropped;
	/* The request being handled: its peer's routing id. A command that
	 * answers later (status, nodes) copies it and sets deferred, and
	 * control_handle returns NULL: no reply now. */
	const void *id;
	size_t id_len;
	bool deferred;
	TAILQ_HEAD(, control_wait) waits;
	size_t n_waits;             /* at most CONTROL_WAITS_MAX */
};

/* Status and nodes requests one socket lets wait for the store's counts;
 * more are refused (NR042) until those are answered: a peer sending
 * requests without reading its replies cannot grow narad's memory. */
#define CONTROL_WAITS_MAX 256

/* The reply to the peer id (control.c): never a wait; a reply that cannot
 * go is counted and logged with operator (the peer's name). */
void control_send(struct control *c, const void *id, size_t id_len,
    const char *operator, json_t *reply);
/* Drops the replies still waiting (control_cmd.c), before c goes. */
void control_waits_drop(struct control *c);

#endif
