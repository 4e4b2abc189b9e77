/*
 * counts.h — the store's counts behind the status views (status.h): the
 * totals (queued, dead letters, receipts, audit rows, bytes) and, when
 * asked, the queue depth, the oldest queued message and the receipts
 * waiting of every node.
 *
 * The counts per node walk every queued message (store_stats_sql.h): 0.2 s
 * with 300,000 queued. /metrics, the dashboard, naractl status and nodes
 * (and so every naractl check), the history sampler and the look for
 * queues of nodes no longer configured ask for them, several every few
 * seconds, so they read through the broker's counts reader: a thread with
 * a read-only connection of its own to the store, answering on narad's
 * loop when the read is done. The loop goes on meanwhile. Each
 * answer comes from a read that began after the question was asked, so a
 * view never shows counts older than its request.
 */
#ifndef NARA_COUNTS_H
#define NARA_COUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct event_base;

struct counts_node {
	char node[CONFIG_NODE_ID_MAX + 1];
	int64_t queued;
	int64_t oldest;             /* accepted time of its oldest queued, 0 = none */
	int64_t receipts;
};

struct counts {
	struct store_totals totals;
	bool per_node;              /* nodes[] and oldest were read */
	struct counts_node *nodes;  /* each node the store reports (a node id
	                             * longer than a configured one can be is
	                             * left out here, counted in totals) */
	size_t n, cap;
	int64_t oldest;             /* over all nodes, 0 = nothing queued */
};

/* Reads the counts on st, on the caller's thread: 0, or -1 with c cleared
 * and why in err. */
int counts_read(struct store *st, bool per_node, struct counts *c,
    struct nara_err *err);
/* Frees what counts_read allocated; c may be read again. */
void counts_clear(struct counts *c);

/* The reader's answer: c is NULL when the store could not be read, with
 * why in error. Both are valid only during the call. */
typedef void (*counts_fn)(void *arg, const struct counts *c,
    const char *error);

struct counts_reader;
struct counts_ask;

/* A reader of the store at location (config_store_location) with the
 * backend named ("sqlite", "postgresql"); it connects at its first read
 * and again after a failed one. NULL when no thread could be started. */
struct counts_reader *counts_reader_new(struct event_base *base,
    const char *location, const char *backend);
/* fn(arg, ...) on the loop once a read begun after this call is done;
 * per_node asks for the counts per node too. The handle serves only to
 * cancel; it is freed after fn returned. NULL when out of memory. */
struct counts_ask *counts_ask(struct counts_reader *r, bool per_node,
    counts_fn fn, void *arg);
/* fn is not called for this ask (its arg is going away). */
void counts_ask_cancel(struct counts_ask *a);
/* The same with a read of the caller's own, fn(arg, per_node, c, error,
 * len) on the reader's thread: 0 with c filled, or -1 with why in error;
 * arg_free(arg) (may be NULL) when the reader is freed, also when this
 * fails. For tests, and for sources other than a store. */
#define COUNTS_ERROR_MAX 512
typedef int (*counts_read_fn)(void *arg, bool per_node, struct counts *c,
    char *error, size_t len);
struct counts_reader *counts_reader_new_fn(struct event_base *base,
    counts_read_fn fn, void *arg, void (*arg_free)(void *));
/* Asks still open are dropped (their handles are invalid from here on);
 * waits for a read under way to end. */
void counts_reader_free(struct counts_reader **r);

#endif
