/*
 * store.h — the broker's durable state: per-recipient queues, receipts and
 * the hash-chained audit log, behind one interface: store.c passes every
 * call to the table of operations (store_ops.h) of the backend store_open
 * picked; the SQLite backend is store_sqlite*.c, the PostgreSQL backend
 * store_pg*.c.
 *
 * Batching: the broker gathers everything one loop iteration produced between
 * store_begin() and store_commit(); store_commit() returns only after the
 * transaction is durable (SQLite synchronous=FULL: fsync of the WAL;
 * PostgreSQL: the server answered COMMIT). Only then may
 * the broker send Accepted/receipts. On a failed commit the whole batch is
 * rolled back and every submit in it is refused with the returned code.
 *
 * Audit rows are written by the same calls that change state, inside the same
 * transaction, each carrying SHA-256(previous row's hash || canonical row).
 * No clinical content enters the audit: metadata only, and the child's
 * personal number only as HMAC-SHA-256 under the pseudonym key.
 *
 * Strings passed in are borrowed; strings in results are owned by the store
 * and valid until the next store call unless the comment says otherwise.
 */
#ifndef NARA_STORE_H
#define NARA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct store;

struct store_options {
	const char *backend;       /* "sqlite" (NULL: the default, sqlite) or
	                            * "postgresql": then path is a libpq
	                            * conninfo (store_pg*.c) */
	bool sync_full;            /* synchronous=FULL (default) or NORMAL */
	uint64_t max_bytes;        /* 0 = unlimited; above it accept gives NR040 */
	const uint8_t *pseudonym_key; /* HMAC key for personal numbers (borrowed) */
	size_t pseudonym_key_len;
	bool read_only;            /* tools: open without writing */
	bool head_file;            /* narad: keep <path>.head beside the store
	                            * (store_sqlite_guard.c); every read-write
	                            * open checks it when it exists */
	bool ahead;                /* narad: each commit also begins the next
	                            * batch in its round trip (PostgreSQL; see
	                            * store_settle) */
};

/* Message states kept in the store. In-flight is not a state: a delivery
 * without ack is simply redelivered after a restart. */
enum store_msg_state { STORE_QUEUED = 0, STORE_DELIVERED = 1, STORE_DEAD = 2 };
/* "queued", "delivered", "dead" (or "unknown"), as tools show a state. */
const char *store_state_name(int state);

/* Metadata of a message, extracted from the validated envelope by the caller.
 * payload is the encoded Envelope (the clinical content), kept until ack. */
struct store_msg {
	int64_t seq;               /* assigned by the store on accept */
	const char *message_id;
	const char *conversation_id;
	int type;                  /* Nara__MessageType */
	int priority;
	int legal_basis;
	const char *sender;        /* address */
	const char *sender_node;
	const char *recipient;     /* address */
	const char *recipient_node;
	const char *author;        /* author id */
	const char *personal_number; /* clear text in, only its HMAC is stored; NULL if none */
	int64_t created;           /* epoch seconds */
	int64_t expires;           /* epoch seconds, 0 = never */
	const uint8_t *payload;
	size_t payload_len;
	uint8_t payload_sha256[32];
	int attempts;              /* deliveries so far (results only) */
	int state;                 /* enum store_msg_state (results only) */
};

enum store_accept_result { STORE_NEW, STORE_DUPLICATE, STORE_CONFLICT };

/* Which narad may serve a store that several narads share (store_lease):
 * the one holding the lease, with its fencing epoch. */
struct store_lease {
	bool active;               /* this instance holds the lease */
	int64_t epoch;             /* in: the epoch this instance holds (0:
	                            * none; negative: only look, take
	                            * nothing); out: the lease's epoch now */
	char holder[64];           /* the instance holding it, "" if nobody */
	int64_t age_ms;            /* since the holder last renewed it, by the
	                            * database's clock; -1 unknown */
	int64_t ttl_ms;            /* how long a renewal holds */
	/* When this step took the lease over: whom from, and how long that
	 * holder had not renewed it ("" and -1 otherwise; "" too when nobody
	 * held it before). */
	char prev_holder[64];
	int64_t prev_epoch;
	int64_t prev_age_ms;
};

/* A receipt waiting for (or sent to) the node that sent the message. */
struct store_receipt {
	int64_t id;
	const char *node;          /* node to deliver the receipt to */
	const char *message_id;
	int outcome;               /* Nara__Outcome */
	const uint8_t *encoded;    /* encoded Nara__Receipt */
	size_t encoded_len;
};

/* Open or create the store at path (schema, WAL, pragmas) with the backend
 * opt->backend names (NULL: sqlite; an unknown name is NR041 and touches no
 * file). NULL on failure with err filled (NR041, or NR040 when the disk is
 * full). */
struct store *store_open(const char *path, const struct store_options *opt,
    struct nara_err *err);
void store_free(struct store **st);

/* A PostgreSQL conninfo as nara.conf may hold it: libpq can parse it and
 * it holds no password (that belongs in a passfile: passfile= or
 * PGPASSFILE). 0, or -1 with the reason in why (the config check). */
int store_conninfo_check(const char *conninfo, char *why, size_t len);

/* narad -n for any backend: sqlite is store_check; postgresql connects
 * read-only and checks the tables (*absent: none yet, narad creates them
 * at start). 0, or -1 with err (NR041). */
int store_check_backend(const char *backend, const char *path, bool *absent,
    struct nara_err *err);

/* What store_open (read-write) would refuse, without creating or writing
 * anything, for narad -n: the file is SQLite, passes the quick check, and
 * its chain is not behind the head file beside it. *absent says no store
 * exists yet (narad would create one). 0, or -1 with err (NR041). */
int store_check(const char *path, bool *absent, struct nara_err *err);
/* The head file narad keeps beside an open store: 0 when there is none or
 * the chain reaches its seq with its hash, -1 with err (NR041) when the
 * store is behind it or holds another chain (nara-audit verify). */
int store_head_file_check(struct store *st, struct nara_err *err);

/*
 * Transactions: exactly one open batch at a time.
 *
 * The batch contract. A writing call made inside a batch either writes all
 * of its rows or, when it fails part-way, breaks the batch: every later
 * writing call in it fails at once with the first error, and
 * store_commit() rolls everything back and returns that first error. A
 * caller may therefore ignore the result of a writing call inside a batch
 * when it has nothing else to do on failure (the broker's submit and
 * delivery paths do): the commit reports it, and nothing of the batch is
 * kept, so no Accepted or delivery is sent for it. A backend that sends
 * rows ahead without waiting for their answers (PostgreSQL's pipeline,
 * store_pg_pipe.c) learns of a failed row only at a later call that reads,
 * at the latest at store_commit: the call that sent it may have returned
 * 0, and calls after it until then too; the commit still fails with the
 * first error and keeps nothing. A writing call made
 * outside a batch runs in a batch of its own and returns its commit's
 * result.
 */
int store_begin(struct store *st, struct nara_err *err);
/* Make the batch durable (fsync before returning 0). -1 with the first
 * error of the batch, after rolling it back; no batch is open afterwards. */
int store_commit(struct store *st, struct nara_err *err);
void store_rollback(struct store *st);

/* The same commit without waiting for it (narad, so that its loop
 * relays TLS while PostgreSQL and its standby flush, or while SQLite's
 * commit thread writes and syncs the WAL: store_sqlite_apart.c).
 * store_commit_send: 1 when the commit went out and its answer is due on
 * store_commit_fd (readable when it came); then store_commit_take reads
 * it (waiting if it is not all there yet) and returns what store_commit
 * would have. 0 or -1: the
 * backend committed (or failed) in the call, as store_commit. Until the
 * owner took the answer no reply of the batch may go out; any other call
 * on the store first waits for the answer itself, keeps it for
 * store_commit_take and calls the owner's on_taken (which should see to
 * the take soon: the answer is no longer on the descriptor). */
int store_commit_send(struct store *st, struct nara_err *err);
int store_commit_take(struct store *st, struct nara_err *err);
int store_commit_fd(struct store *st);
void store_on_taken(struct store *st, void (*cb)(void *arg), void *arg);
/* After a commit's answer a backend may go on working on its own (SQLite:
 * the WAL's restart, on its commit thread). -1 when it is idle; else a
 * descriptor that becomes readable once it is: call again then (a call
 * that finds it idle consumes that signal). Any other call on the store
 * meanwhile waits for it, so a caller that must not block begins its
 * next batch only after -1. */
int store_idle_fd(struct store *st);

/* Insert a validated message into its recipient's queue and audit
 * "received". Same id + same payload hash → STORE_DUPLICATE (nothing
 * written); same id + other hash → STORE_CONFLICT (nothing written).
 * m->seq is set for STORE_NEW. NR040 when the store is over max_bytes. */
int store_accept(struct store *st, struct store_msg *m, int64_t now,
    enum store_accept_result *res, struct nara_err *err);

/* Audit a refused submission (no message row). Fields of m may be NULL/0
 * when the frame could not be decoded that far. */
int store_audit_rejected(struct store *st, const struct store_msg *m,
    const char *node, const char *code, const char *text, int64_t now);

/* Audit an event that is not about one message: "node_connected",
 * "node_disconnected", "auth_failed", "config_reloaded", "config_refused",
 * "signing_key_changed", "signing_key_refused", "broker_started",
 * "broker_stopped". node and detail may be NULL. */
int store_audit_event(struct store *st, const char *event, const char *node,
    const char *detail, int64_t now);
/* The same with a catalogue code ("NR060"): a connection the TLS front
 * refused or closed. node, code and detail may be NULL. */
int store_audit_event_coded(struct store *st, const char *event,
    const char *node, const char *code, const char *detail, int64_t now);

/* Load up to limit queued messages for node with seq > after_seq, in seq
 * order, calling fn for each (payload valid during the call only). Returns
 * the number loaded, -1 on error. */
typedef int (*store_msg_fn)(void *arg, const struct store_msg *m);
int store_queue_load(struct store *st, const char *node, int64_t after_seq,
    int limit, store_msg_fn fn, void *arg);

/* A delivery attempt was sent: attempts = attempt, audit "delivered". */
int store_delivering(struct store *st, int64_t seq, int attempt, const char *node,
    int64_t now);

/* The recipient acked: state DELIVERED, payload deleted, audit "acked" and
 * "payload_purged", and a DELIVERED receipt queued for the sender node
 * (audit "receipt_queued"). Acking an unknown or already delivered message
 * is not an error (returns 0, *was_new = false). */
int store_acked(struct store *st, const char *message_id, const char *node,
    int64_t now, bool *was_new);
/* The same, with the seq narad delivered the message under (0 = not
 * known): SQLite finds the row by its key instead of through the
 * message_id index. Only a hint: a seq that is not the message's changes
 * nothing but the cost, on either backend. */
int store_acked_seq(struct store *st, int64_t seq, const char *message_id,
    const char *node, int64_t now, bool *was_new);

/* Dead-letter: state DEAD with code/text, audit "dead_lettered" and a
 * FAILED (or EXPIRED when expired is true) receipt for the sender node.
 * The payload is kept so an operator can retry; it is purged when the
 * retention of dead letters ends. */
int store_dead_letter(struct store *st, const char *message_id, const char *code,
    const char *text, bool expired, const char *node, int64_t now);

/* Messages queued whose expires <= now: fn is called for each (up to limit). */
int store_expired_load(struct store *st, int64_t now, int limit,
    store_msg_fn fn, void *arg);

/* Receipts waiting for node with id > after_id, in id order. */
typedef int (*store_receipt_fn)(void *arg, const struct store_receipt *r);
int store_receipts_load(struct store *st, const char *node, int64_t after_id,
    int limit, store_receipt_fn fn, void *arg);
/* What a delivery pass reads for several nodes at once: for each, its
 * receipts with id > rcpt_after (at most limit) to rfn, then its queued
 * messages with seq > msg_after (at most limit) to mfn, each exactly as
 * store_receipts_load and store_queue_load give them (a function's
 * nonzero result stops that walk); rcpts and msgs receive the numbers
 * taken. PostgreSQL answers all of them in one round trip inside a batch;
 * a backend without that reads them one after the other. 0, or -1 when a
 * read failed (the batch is broken then). */
struct store_load {
	const char *node;
	int64_t rcpt_after, msg_after;
	int limit;
	store_receipt_fn rfn;
	store_msg_fn mfn;
	void *arg;
	bool no_msgs;              /* receipts only */
	int rcpts, msgs;           /* out */
};
int store_loads(struct store *st, struct store_load *v, size_t n);

/* The highest seq a message of this store has had (0: none yet): every
 * message stored (or retried) from now on gets a higher one. -1 when the
 * backend does not say (a reader of queues then never skips ahead). */
int64_t store_seq_high(struct store *st);
/* The messages at seq[0..n) (ascending) still queued for node, each to fn
 * as store_queue_load gives it (its nonzero result stops); a seq not
 * queued for node is passed over. The number of seqs dealt with (taken or
 * passed over): where fn stopped, or n; -1 on error (also where
 * store_seq_high is -1). */
int store_queue_seqs(struct store *st, const char *node, const int64_t *seq,
    int n, store_msg_fn fn, void *arg);
/* The queued messages with after < seq <= upto, at most max, in seq order
 * for all nodes: (node, seq) to fn, whose nonzero result stops the walk.
 * The number walked, or -1 (also where store_seq_high is -1: a backend
 * whose queue reads find a node's first message by themselves). */
typedef int (*store_floor_fn)(void *arg, const char *node, int64_t seq);
int store_queue_walk(struct store *st, int64_t after, int64_t upto, int max,
    store_floor_fn fn, void *arg);

/* The receipt was sent (audit "receipt_sent"). */
int store_receipt_sent(struct store *st, int64_t id, int64_t now);
/* The sender node acked the receipt: row deleted, audit "receipt_acked". */
int store_receipt_acked(struct store *st, const char *node,
    const char *message_id, int64_t now);

/* Operator retry: a dead letter goes back to its queue (audit "retried",
 * whose detail names the operator; operator is borrowed, NULL for none). */
int store_retry(struct store *st, const char *message_id,
    const char *operator, int64_t now, struct nara_err *err);

/* Counts for status tools and startup. They run at every status request
 * (naractl's on narad's loop, the others on its counts reader's thread,
 * counts.h), so they read only what waits now (queued messages, dead
 * letters, receipts) and the span of the audit seqs, never the delivered
 * history (store_stats_sql.h). */
struct store_node_stats {
	const char *node;
	int64_t queued;
	int64_t oldest_created;    /* accepted time of the oldest queued, 0 = none */
	int64_t receipts;
};
typedef int (*store_stats_fn)(void *arg, const struct store_node_stats *s);
int store_node_stats(struct store *st, store_stats_fn fn, void *arg);
struct store_totals {
	int64_t queued, dead, receipts;
	int64_t audit_rows;        /* head seq - oldest kept seq + 1 */
	int64_t bytes;
};
int store_totals(struct store *st, struct store_totals *t);

/* Walk the audit chain from the start: 0 if intact, else -1 with the first
 * bad row's seq in *bad_seq and the reason in err. */
int store_audit_verify(struct store *st, int64_t *bad_seq, struct nara_err *err);

/* Replication as the store last saw it, for status and metrics: the
 * number of synchronous standbys confirming every commit (PostgreSQL: read
 * at open and every 10 s by store_maintain), or -1 when not known or not
 * applicable (SQLite: one local file). 0, or -1 on a bad call. */
int store_replication(struct store *st, int *sync_standbys);

/* What the batches cost in waits for the database, for /metrics: batches
 * committed and round trips to the server (answers waited for, in
 * batches and outside) since the store was opened. PostgreSQL only; both
 * 0 for SQLite, whose commits wait for no server. */
struct store_costs {
	uint64_t batches;
	uint64_t round_trips;
	uint64_t begun_ahead;      /* batches whose begin came back with the
	                            * commit before them (store_ahead) */
	uint64_t settled;          /* such begins ended without a batch */
};
void store_costs(struct store *st, struct store_costs *out);

/* A store opened with store_options.ahead sends, with each commit, the
 * next batch's begin (PostgreSQL: BEGIN, the lease's fence, the lock of
 * the chain head, the seq blocks), so that the next store_begin finds its
 * answers there and costs no round trip of its own. Until then the store
 * holds an open transaction and the head's lock, which every other writer
 * waits for. store_ahead: such a transaction is open. store_settle ends
 * it (commits it empty, giving the blocks back); every other use of the
 * store outside a batch does so first by itself. The owner settles when no
 * batch followed within a few milliseconds. 0, or -1 with err. */
bool store_ahead(struct store *st);
int store_settle(struct store *st, struct nara_err *err);

/* HMAC-SHA-256 of a personal number under the pseudonym key, hex (65 bytes). */
int store_pseudonym(const struct store *st, const char *personal_number,
    char hex[65]);

/* Read a key file (raw bytes, at least 32) into a malloc'd buffer. */
int store_read_key_file(const char *path, uint8_t **key, size_t *len,
    struct nara_err *err);

/* ---------------------------------------------------------------- operator
 * Read-only metadata for naractl and the dashboard (store_sqlite_stats.c).
 * Never the payload, never the subject pseudonym. */
struct store_msg_meta {
	struct store_msg m;        /* payload NULL, personal_number NULL */
	bool has_subject;          /* the message identifies a child */
	bool payload_kept;         /* clinical content still stored */
	int64_t accepted_at;       /* epoch seconds */
	int64_t done_at;           /* acked or dead-lettered, 0 = not yet */
	const char *dead_code;     /* NULL unless dead */
	const char *dead_text;
};
typedef int (*store_meta_fn)(void *arg, const struct store_msg_meta *mm);
/* Queued messages whose recipient address or recipient node is address, in
 * queue order, at most limit; the number of rows, -1 on error. */
int store_queue_list(struct store *st, const char *address, int limit,
    store_meta_fn fn, void *arg);
/* Dead letters, the most recently dead-lettered first, at most limit; the
 * number of rows, -1 on error (the dashboard's list, naractl's retry). */
int store_dead_list(struct store *st, int limit, store_meta_fn fn, void *arg);
/* The message with this id: 1 when found (fn called), 0 when not, -1. */
int store_msg_meta(struct store *st, const char *message_id, store_meta_fn fn,
    void *arg);

/* ------------------------------------------------------------------------
 * Audit checkpoints, retention and review (store_sqlite_ckpt.c).
 * The signing key is an Ed25519 key of audit_sign.h; the store borrows it.
 */
struct audit_key;

/* Sign the chain head with key every interval seconds (from store_maintain)
 * and once more at store_free when it moved; retention > 0 makes
 * store_maintain prune audit rows older than retention seconds, in steps,
 * behind a signed cut. key must outlive the store; NULL turns signing off. */
void store_set_signer(struct store *st, const struct audit_key *key,
    int64_t interval, int64_t retention);

/* The most frames the caller's batches take ([broker] batch_max), each a
 * submit or an ack at most. The PostgreSQL store then takes as many
 * message seqs and receipt ids at each begin (at least 512), so
 * that a full batch of submits or acks costs no round trip for them
 * (store_pg_batch.c); SQLite has no use for it. Takes effect at the next
 * begin. */
void store_set_batch_frames(struct store *st, unsigned frames);

/* Periodic upkeep, once a second from the broker's tick, inside its batch
 * or on its own: a small incremental vacuum step when the file has free
 * pages (stores created with auto_vacuum=INCREMENTAL; others are left as
 * they are), a signed checkpoint when due, an automatic prune step.
 * A store whose full check at start (run in the background after an
 * unclean stop) failed gives -1 here with NR041 and err->path
 * STORE_DAMAGED: the caller stops, as it would have at start. */
int store_maintain(struct store *st, int64_t now, struct nara_err *err);
#define STORE_DAMAGED "store.integrity"

/* Sign the current chain head now ("head" checkpoint). */
int store_checkpoint(struct store *st, const struct audit_key *key,
    int64_t now, struct nara_err *err);

/* The systematic log review: the reviewer's conclusion about one message
 * becomes an audit row "log_reviewed" (author = reviewer, detail = the
 * conclusion, cleaned of personal numbers), appended to the chain in a
 * short transaction. NR011 when the log holds no row for message_id. */
int store_audit_review(struct store *st, const char *message_id,
    const char *reviewer, const char *conclusion, int64_t now,
    struct nara_err *err);

/* An event about a child rather than a message ("log_extracted": a
 * patient's log extract was made): the row's subject is the pseudonym
 * (hex, as store_pseudonym makes it), so every query by subject finds it,
 * its author is who asked, detail what was made. 0, or -1 with err. */
int store_audit_subject(struct store *st, const char *event,
    const char *subject, const char *author, const char *detail, int64_t now,
    struct nara_err *err);

/* Retention: delete audit rows older than before (epoch seconds), at most
 * max_rows of them (0 = all), and finished messages done before it; a "cut"
 * checkpoint signed with key records the seq and hash of the last deleted
 * row, and the row "audit_pruned" is appended, naming who pruned (by; NULL
 * for narad's own retention). *cut_seq and *deleted report what was done
 * (0 when nothing was old enough). */
int store_audit_prune(struct store *st, const struct audit_key *key,
    int64_t before, int64_t max_rows, int64_t now, const char *by,
    int64_t *cut_seq, int64_t *deleted, struct nara_err *err);

/* ------------------------------------------------------------------------
 * Reading the audit log (store_sqlite_report.c): nara-audit's reports and
 * the chain verification of audit.c and audit_verify.c read rows,
 * checkpoints and the recorded head only through these, as plain structs,
 * so every backend answers them alike.
 */
struct audit_row;
struct audit_checkpoint;

/* Which rows store_audit_rows reads; always in seq order. */
enum store_audit_select {
	STORE_AUDIT_ALL,      /* every row */
	STORE_AUDIT_MATCH,    /* time in [from_ms, to_ms) and the filters */
	STORE_AUDIT_MESSAGE,  /* the rows about message_id (trace) */
	STORE_AUDIT_SUBJECT,  /* rows with subject, and the rows without
	                       * any subject of the messages the child's
	                       * rows (refusals aside) name */
	STORE_AUDIT_SEQ,      /* the row seq, if it is there */
	STORE_AUDIT_CHAIN,    /* every row, as ALL, each with what a reader
	                       * finds stored wrong (audit_row.misstored):
	                       * the chain check */
};

/* What to read; strings are borrowed, NULL filters match anything. */
struct store_audit_filter {
	enum store_audit_select select;
	int64_t from_ms, to_ms;    /* MATCH */
	const char *party;         /* MATCH: sender or recipient */
	const char *type, *event, *node; /* MATCH */
	const char *message_id;    /* MESSAGE */
	const char *subject;       /* SUBJECT: the pseudonym, hex */
	int64_t seq;               /* SEQ */
	bool rows;                 /* the rows as stored (the chain check);
	                            * otherwise the facts they record, a
	                            * folded "acked" row as three
	                            * (audit_row_facts), each with the row's
	                            * seq, time and hashes */
};

/* One row: its strings, prev_hash and hash (NULL when the stored value is
 * not 32 bytes) are valid during the call only. Nonzero stops the walk. */
typedef int (*store_audit_fn)(void *arg, const struct audit_row *r,
    const uint8_t *prev_hash, const uint8_t *hash);
/* Call fn for each selected row (or fact); the number of calls made, or -1
 * with the backend's reason in err (NR041). event and node select facts:
 * "receipt_queued" for the sender's node finds the fact a folded "acked"
 * row records. */
int64_t store_audit_rows(struct store *st, const struct store_audit_filter *f,
    store_audit_fn fn, void *arg, struct nara_err *err);

/* One signed checkpoint; well_formed is false when its hash, signature or
 * kind is malformed (c->seq is still the stored one). Nonzero stops. */
typedef int (*store_ckpt_fn)(void *arg, const struct audit_checkpoint *c,
    bool well_formed);
/* The checkpoints of kind ("head" or "cut") in seq order; none for a store
 * from before checkpoints. 0, or -1 with err. */
int store_audit_checkpoints(struct store *st, const char *kind,
    store_ckpt_fn fn, void *arg, struct nara_err *err);

/* The hash of row seq: 1 when the row is there with a 32-byte hash, 0 when
 * not, -1 on error. */
int store_audit_hash(struct store *st, int64_t seq, uint8_t hash[32]);

/* The chain head the store recorded at its last commit: *seq = -1 (hash
 * zero) when none is recorded. 0, or -1 with err. */
int store_audit_head(struct store *st, int64_t *seq, uint8_t hash[32],
    struct nara_err *err);

/* A consistent read of several calls: opens a read transaction unless one
 * is open already (*own says whether this call opened it); end it with
 * store_read_end(st, own). 0, or -1 with err. */
int store_read_begin(struct store *st, bool *own, struct nara_err *err);
void store_read_end(struct store *st, bool own);

/* ------------------------------------------------------------------------
 * Several narads on one store (docs/HA.md): only the lease holder serves.
 */

/* One step of the lease for instance (config [ha]): renew it when
 * l->epoch is the epoch this instance holds, else take it over when it is
 * free or expired. From then on every batch of this store commits only
 * while that epoch holds the lease (the backend's fence); a store whose
 * instance is not active refuses batches with NR042. *l says who holds it
 * now. Never inside a batch. 0, or -1 with err (NR041: the database could
 * not be asked, or the backend cannot be shared, as SQLite). */
int store_lease(struct store *st, const char *instance, int64_t ttl_ms,
    struct store_lease *l, struct nara_err *err);

/* Give the lease up at once (a planned switchover); this store commits
 * nothing more. 0, or -1 with err; then the lease is still held as far as
 * this store knows, and it commits as before while the database agrees. */
int store_lease_release(struct store *st, const char *instance,
    struct nara_err *err);

#endif
