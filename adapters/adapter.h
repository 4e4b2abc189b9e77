/*
 * adapter.h — internals of nara-adapter, the program every municipality and
 * regional unit runs between its local system and narad.
 *
 * Modules: adapter_config (the INI file), outbox (the SQLite state), tunnel
 * (the in-process TLS tunnel), link (DEALER to narad), spool and http (the
 * two backends towards the local system), core (the glue that moves
 * messages between them) and status (the read-only report). Unit tests
 * reach them through the adapter's own archive, libadapter.a.
 */
#ifndef NARA_ADAPTER_H
#define NARA_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "adapter_config.h"
#include "errors.h"
#include "nara.pb-c.h"
#include "outbox.h"

/* ---------------------------------------------------------------- link */

struct link_hooks {
	void (*up)(void *arg, const Nara__Welcome *w);
	void (*down)(void *arg);
	/* rej NULL: accepted. id may be "" on a rejected without id. */
	void (*answer)(void *arg, const char *id, const Nara__Rejected *rej,
	    bool duplicate);
	void (*deliver)(void *arg, const Nara__Envelope *env, unsigned attempt);
	void (*receipt)(void *arg, const Nara__Receipt *r);
	void *arg;
};

struct link;
/* Open the DEALER (and the TLS tunnel when cfg->tls) and start saying
 * hello; NULL with err set. */
struct link *link_new(struct event_base *base, const struct adapter_config *cfg,
    const struct link_hooks *hooks, struct nara_err *err);
void link_free(struct link **l);
/* SIGHUP: the tunnel re-reads ca, cert, key and crl of cfg (borrowed, used
 * only during the call) and drops a connection whose broker certificate is
 * now revoked; a file that cannot be read is logged and the old ones kept. */
void link_reload(struct link *l, const struct adapter_config *cfg);
bool link_is_up(const struct link *l);
/* Send a submit around stored envelope bytes; -1 when the link is down. */
int link_submit(struct link *l, const uint8_t *env, size_t len);
int link_ack(struct link *l, const char *message_id, bool receipt);
int link_nack(struct link *l, const char *message_id, enum nara_code code,
    const char *text);

/* ---------------------------------------------------------------- core */

struct adapter;

enum handoff_result {
	HANDOFF_DONE,       /* durably with the local system: ack */
	HANDOFF_REFUSED,    /* the local system refused it for good: nack */
	HANDOFF_RETRY,      /* not shown to the local system: no ack */
};

/* What is handed to the local system: a message for this node, a receipt
 * for a message it sent, or (HTTP) narad's refusal of a message it sent. */
enum handoff_kind { HK_MESSAGE, HK_RECEIPT, HK_REFUSAL };
/* "message", "receipt", "refusal": the kind in the state file. */
const char *handoff_kind_name(enum handoff_kind kind);

/* What a backend tells the core; all borrowed. */
int adapter_store_local(struct adapter *a, const Nara__Envelope *env,
    const char *source, struct nara_err *err, enum outbox_state *state);
/* The result of backend_ops.show (or a refusal found by prepare). */
void adapter_handoff_done(struct adapter *a, enum handoff_kind kind,
    const char *id, enum handoff_result res, const char *text);
/* Offer json (borrowed) to the local system through the hand-off
 * protocol below; for what the adapter itself has to tell (refusals). */
void adapter_offer(struct adapter *a, enum handoff_kind kind, const char *id,
    const char *json);
/* Group the adapter_store_local calls between these into one transaction;
 * what they stored is submitted after the commit. 0 or -1 (logged; on -1
 * from end nothing of the group is stored). */
int adapter_batch_begin(struct adapter *a);
int adapter_batch_end(struct adapter *a);
struct outbox *adapter_outbox(struct adapter *a);
const struct adapter_config *adapter_cfg(const struct adapter *a);
/* Record (or clear, text NULL) a fault of the local system for status;
 * written only when it changes. */
void adapter_local_error(struct adapter *a, const char *text);
/*
 * Test hook: when the environment variable NARA_TEST_HANDOFF_STOP equals
 * point ("intent": the intent is committed, nothing shown yet; "rename":
 * the file is in inbox/, its outcome not yet recorded), the adapter stops
 * itself with SIGSTOP there, so a test can kill -9 it exactly in that
 * window. Without the variable (always in production) it does nothing.
 */
void adapter_test_stop(const char *point);

/*
 * A backend: the spool directory or the HTTP API.
 *
 * A hand-off is exactly once across a crash at any instruction: prepare
 * makes it ready without the local system seeing it (spool: the temporary
 * file, fsynced), sync makes that durable, the core commits the intent
 * (kind, id, final name), show makes it visible (spool: rename; HTTP: the
 * POST with Idempotency-Key), and the core commits the outcome before it
 * acks. A start-up settles every intent without outcome (spool: the
 * temporary file still there means the rename did not happen).
 */
struct backend_ops {
	/* 0 ready (name: the final name, may be ""), 1 refused for good
	 * (why says so), -1 not now (logged; narad delivers again). */
	int (*prepare)(void *be, enum handoff_kind kind, const char *id,
	    const char *json, char *name, size_t name_len, char *why,
	    size_t why_len);
	/* Make what prepare and show wrote durable; 0 or -1 (logged). */
	int (*sync)(void *be);
	/* Show a prepared hand-off; the result comes through
	 * adapter_handoff_done, at once or later. */
	void (*show)(void *be, enum handoff_kind kind, const char *id);
	/* Drop a prepared hand-off whose intent could not be recorded. */
	void (*abandon)(void *be, enum handoff_kind kind, const char *id);
	/* narad's final answer about a message the local system gave us. */
	void (*outcome)(void *be, const struct outbox_row *row);
	/* Everything is set up: catch up on what a stop left undone. */
	void (*start)(void *be);
	void (*free)(void **be);
};

/* ------------------------------------------------------------- handoff */

/* The hand-off protocol above, between the link and a backend (handoff.c).
 * Owns nothing it is given. */
struct handoffs;
struct handoffs *handoffs_new(struct event_base *base, struct outbox *ob,
    struct link *link, const struct backend_ops *ops, void *be,
    struct nara_err *err);
/* Completes what it can (records, acks) before it frees. */
void handoffs_free(struct handoffs **hs);
/* Offer json unless the local system has it already (a redelivery of a
 * completed hand-off is acked at once; a refused one is offered again). */
void handoffs_offer(struct handoffs *hs, enum handoff_kind kind,
    const char *id, const char *json);
void handoffs_done(struct handoffs *hs, enum handoff_kind kind,
    const char *id, enum handoff_result res, const char *text);

void *spool_new(struct event_base *base, struct adapter *a, struct nara_err *err);
extern const struct backend_ops spool_ops;
void *http_new(struct event_base *base, struct adapter *a, struct nara_err *err);
extern const struct backend_ops http_ops;

struct adapter *adapter_new(struct event_base *base, struct adapter_config *cfg,
    struct nara_err *err);
void adapter_free(struct adapter **a);
/* SIGHUP: take the log level and timing knobs of a freshly loaded config,
 * and have the tunnel re-read its certificates and CRLs. */
void adapter_reload(struct adapter *a, const struct adapter_config *cfg);

/* The status subcommand; returns the exit code. */
int status_main(int argc, char **argv);

/* Shared helpers (core.c). */
int64_t adapter_now(void);
/* Write data to dir/name via a temporary file, fsync, rename, fsync dir. */
int adapter_write_atomic(const char *dir, const char *name, const char *data,
    size_t len, struct nara_err *err);
/* The first half of it: dir/.tmp-name written and fsynced. */
int adapter_write_temp(const char *dir, const char *name, const char *data,
    size_t len, struct nara_err *err);
int adapter_fsync_dir(const char *dir);

#endif
