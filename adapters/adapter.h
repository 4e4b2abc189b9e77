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
	HANDOFF_RETRY,      /* not now: the backend retries, no ack */
};

/* What a backend tells the core; all borrowed. */
int adapter_store_local(struct adapter *a, const Nara__Envelope *env,
    const char *source, struct nara_err *err, enum out_state *state);
void adapter_handoff_done(struct adapter *a, bool is_receipt, const char *id,
    enum handoff_result res, const char *text);
/* Group the adapter_store_local calls between these into one transaction;
 * what they stored is submitted after the commit. 0 or -1 (logged; on -1
 * from end nothing of the group is stored). */
int adapter_batch_begin(struct adapter *a);
int adapter_batch_end(struct adapter *a);
struct outbox *adapter_outbox(struct adapter *a);
const struct adapter_config *adapter_cfg(const struct adapter *a);

/* A backend: the spool directory or the HTTP API. */
struct backend_ops {
	/* Hand json (a message envelope or a receipt) to the local system; the
	 * result comes later (or at once) through adapter_handoff_done. */
	void (*handoff)(void *be, bool is_receipt, const char *id,
	    const char *json);
	/* narad's final answer about a message the local system gave us. */
	void (*outcome)(void *be, const struct outbox_row *row);
	void (*free)(void **be);
};

void *spool_new(struct event_base *base, struct adapter *a, struct nara_err *err);
extern const struct backend_ops spool_ops;
void *http_new(struct event_base *base, struct adapter *a, struct nara_err *err);
extern const struct backend_ops http_ops;

struct adapter *adapter_new(struct event_base *base, struct adapter_config *cfg,
    struct nara_err *err);
void adapter_free(struct adapter **a);
/* SIGHUP: take the log level and timing knobs of a freshly loaded config. */
void adapter_reload(struct adapter *a, const struct adapter_config *cfg);

/* The status subcommand; returns the exit code. */
int status_main(int argc, char **argv);

/* Shared helpers (core.c). */
int64_t adapter_now(void);
/* Write data to dir/name via a temporary file, fsync, rename, fsync dir. */
int adapter_write_atomic(const char *dir, const char *name, const char *data,
    size_t len, struct nara_err *err);

#endif
