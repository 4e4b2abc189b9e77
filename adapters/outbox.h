/*
 * outbox.h — nara-adapter's durable state in one SQLite file: the outbox of
 * messages from the local system, the ids handed to the local system, and
 * link facts for `nara-adapter status`. Only the adapter uses it.
 */
#ifndef NARA_OUTBOX_H
#define NARA_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"


enum outbox_state {
	OUTBOX_QUEUED = 0,     /* stored, not yet accepted by narad */
	OUTBOX_ACCEPTED = 1,   /* narad has it */
	OUTBOX_REJECTED = 2,   /* narad (or the adapter) refused it for good */
	OUTBOX_DELIVERED = 3,  /* receipt: the recipient has it */
	OUTBOX_FAILED = 4,     /* receipt: refused or expired */
};
const char *outbox_state_name(enum outbox_state s);

/* One outbox row as the backends and status see it. Strings owned. */
struct outbox_row {
	int64_t seq;
	char message_id[40];
	enum outbox_state state;
	char code[8];
	char *text;
	bool retryable;
	char *source;               /* spool file name, "" for HTTP */
	char *receipt_json;         /* the receipt, NULL until one came */
	int64_t created, updated;
	int attempts;
};
void outbox_row_clear(struct outbox_row *row);

enum outbox_put_result { OUTBOX_NEW, OUTBOX_SAME, OUTBOX_CONFLICT };

struct outbox;
/* Open (creating) the state file; readonly for status. */
struct outbox *outbox_open(const char *path, bool readonly, struct nara_err *err);
void outbox_free(struct outbox **ob);
/* Group several of the calls below into one transaction, so one fsync
 * covers them all (each call alone commits on its own). 0 or -1 (logged);
 * rollback does nothing outside a transaction. */
int outbox_begin(struct outbox *ob);
int outbox_commit(struct outbox *ob);
void outbox_rollback(struct outbox *ob);
/* Store a message before confirming it to the local system; committed with
 * synchronous=FULL when this returns. Returns enum outbox_put_result, or -1
 * (err: NR071). An id already stored with other bytes is OUTBOX_CONFLICT. */
/* The id with other bytes is OUTBOX_CONFLICT also after narad accepted the
 * first (the payload is gone then; a SHA-256 of it stays). */
int outbox_put(struct outbox *ob, const char *message_id, const uint8_t *env,
    size_t len, const char *source, int64_t now, struct nara_err *err);
int outbox_get(struct outbox *ob, const char *message_id, struct outbox_row *row);
/* Queued rows due at now, in order of storage, after seq; cb returns 0 to
 * go on, 1 to stop. */
typedef int (*outbox_due_cb)(void *arg, int64_t seq, const char *message_id,
    const uint8_t *env, size_t len);
int outbox_due(struct outbox *ob, int64_t now, int64_t after_seq, int limit,
    outbox_due_cb cb, void *arg);
/* Earliest next_try of a queued row, 0 when none waits. */
int64_t outbox_next_retry(struct outbox *ob);
/* narad's answer: accepted (the envelope is dropped), rejected for good, or
 * retry at next_try. */
int outbox_accepted(struct outbox *ob, const char *message_id, int64_t now);
int outbox_rejected(struct outbox *ob, const char *message_id, const char *code,
    const char *text, int64_t now);
int outbox_retry(struct outbox *ob, const char *message_id, const char *code,
    const char *text, int64_t next_try, int64_t now);
/* A receipt arrived for a message this node sent. */
int outbox_receipt(struct outbox *ob, const char *message_id,
    enum outbox_state st,
    const char *code, const char *text, const char *receipt_json, int64_t now);
/*
 * Hand-offs to the local system, kind "message", "receipt" or "refusal".
 * A hand-off is exactly once across a crash at any instruction because its
 * intent (kind, id and the final name it will have) is committed before
 * the step that makes it visible (a rename, a POST), and a start-up finds
 * every intent without an outcome (outbox_intents) and settles it.
 *
 * outbox_handed_get gives the enum below or -1; outbox_handed_seen is 1
 * only for a completed hand-off (not an intent, not a refusal), 0 else.
 */
enum handed_state {
	HANDED_NONE = 0,    /* never offered */
	HANDED_INTENT,      /* about to be (or being) handed off */
	HANDED_DONE,        /* the local system has it */
	HANDED_REFUSED,     /* the local system refused it for good */
};
int outbox_handed_get(struct outbox *ob, const char *kind, const char *id);
int outbox_handed_seen(struct outbox *ob, const char *kind, const char *id);
/* Record the outcome ("handed", "refused") of a hand-off; replaces an
 * intent or an earlier outcome (a retried message is offered again). */
int outbox_handed_add(struct outbox *ob, const char *kind, const char *id,
    const char *outcome, int64_t now);
/* Record the intent to hand off id under name (may be ""); replaces an
 * earlier outcome. */
int outbox_handed_intent(struct outbox *ob, const char *kind, const char *id,
    const char *name, int64_t now);
/* Drop an intent whose step certainly did not happen (outcomes stay). */
int outbox_handed_forget(struct outbox *ob, const char *kind, const char *id);
/* Forget a hand-off whatever its state, so that the next offer hands off
 * anew (a receipt whose outcome changed). */
int outbox_handed_reset(struct outbox *ob, const char *kind, const char *id);
/* Every open intent of kind (id, name borrowed for the call), in order;
 * cb returns 0 to go on. Returns the number seen or -1. */
typedef int (*outbox_intent_cb)(void *arg, const char *id, const char *name);
int outbox_intents(struct outbox *ob, const char *kind, outbox_intent_cb cb,
    void *arg);
/* Ids of messages narad refused for good whose refusal was not yet handed
 * to the local system (kind "refusal"), for the HTTP backend's push. */
typedef int (*outbox_id_cb)(void *arg, const char *id);
int outbox_unpushed_refusals(struct outbox *ob, outbox_id_cb cb, void *arg);
/* Forget what is settled: outbox rows rejected, delivered or failed, and
 * handed-off ids, last touched before `before`. Queued and accepted rows
 * (still waiting for a receipt) stay. Returns the rows removed, -1 on
 * error. */
long outbox_prune(struct outbox *ob, int64_t before);
/* Small key/value facts for status (link state, last receipt). */
int outbox_meta_set(struct outbox *ob, const char *key, const char *value);
/* The value of key into out ("" when unset or unreadable). */
void outbox_meta_get(struct outbox *ob, const char *key, char *out,
    size_t len);

struct outbox_status {
	char link[32];
	char link_since[32];
	char broker_id[80];
	long queued, accepted, rejected, delivered, failed, handed, receipts;
	int64_t oldest_unsent;      /* created of the oldest queued row, 0 = none */
	char last_receipt[32];
	char last_receipt_id[40];
	long intents;               /* hand-offs not settled (HTTP: waiting) */
	char local_error[200];      /* the local system's last fault, "" = ok */
	char local_error_since[32];
};
int outbox_status(struct outbox *ob, struct outbox_status *st);

#endif
