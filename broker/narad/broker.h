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
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "store.h"

struct broker;

/* The broker borrows base and st; it takes ownership of cfg (also when it
 * fails). It binds the ROUTER to cfg->broker.router (and listen_tcp when
 * set). NULL on failure, with the reason logged. */
struct broker *broker_new(struct event_base *base, struct config *cfg,
    struct store *st);
/* Stop reading new frames, finish nothing more, close the socket. */
void broker_free(struct broker **b);

/* Swap in a validated new config (ownership taken); the old one is freed
 * after live sessions are re-checked against it. */
void broker_reload(struct broker *b, struct config *cfg);
const struct config *broker_config(const struct broker *b);
/* Write one audit event that is not about a message ("config_reloaded",
 * "broker_started", ...) in a batch of its own. */
void broker_audit_event(struct broker *b, const char *event, const char *detail);
/* The same with the node it concerns and a catalogue code ("NR060"); node
 * and code may be NULL. */
void broker_audit_coded(struct broker *b, const char *event, const char *node,
    const char *code, const char *detail);

/* Counters for status output. */
struct broker_stats {
	uint64_t submits, accepted, rejected, duplicates;
	uint64_t delivered, acked, nacked, expired, receipts_sent;
	uint64_t commits, commit_failures;
	uint64_t last_commit_us, max_commit_us;
	unsigned nodes_connected;
};
void broker_stats(const struct broker *b, struct broker_stats *out);

#endif
