/*
 * store_pg_int.h — internals of the PostgreSQL backend: its state (struct
 * store_be, behind a struct store of store_ops.h) and the helpers its
 * files (store_pg*.c) share. Nothing outside them includes this header,
 * and no libpq call is made outside them.
 */
#ifndef NARA_STORE_PG_INT_H
#define NARA_STORE_PG_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit.h"
#include "audit_sign.h"
#include "store_common.h"
#include "store_ops.h"
#include "store_pg_lease.h"

/* The schema version this program writes (store_pg.c's schema table). */
#define STORE_PG_SCHEMA_VERSION 1
#define PG_MAX_PARAMS 20
#define PG_PIPE_MAX 256            /* statements sent before their results
                                    * are read (store_pg_pipe.c) */

/* Columns every message query returns first, in this order (PC_*). */
#define PG_MSG_COLS "seq, message_id, conversation_id, type, priority, " \
	"legal_basis, sender, sender_node, recipient, recipient_node, author, " \
	"subject_pseudonym, created, expires, payload_sha256, payload_size, " \
	"attempts, state"
/* The same qualified by the alias m, for joins. */
#define PG_MSG_COLS_M "m.seq, m.message_id, m.conversation_id, m.type, " \
	"m.priority, m.legal_basis, m.sender, m.sender_node, m.recipient, " \
	"m.recipient_node, m.author, m.subject_pseudonym, m.created, " \
	"m.expires, m.payload_sha256, m.payload_size, m.attempts, m.state"
enum pg_msg_col {
	PC_SEQ, PC_MESSAGE_ID, PC_CONVERSATION_ID, PC_TYPE, PC_PRIORITY,
	PC_LEGAL_BASIS, PC_SENDER, PC_SENDER_NODE, PC_RECIPIENT,
	PC_RECIPIENT_NODE, PC_AUTHOR, PC_SUBJECT, PC_CREATED, PC_EXPIRES,
	PC_SHA256, PC_SIZE, PC_ATTEMPTS, PC_STATE, PC_PAYLOAD
};

/* Prepared at every (re)connection; SQL in store_pg.c's pg_sql table. */
enum pg_stmt {
	P_HEAD_SAVE, P_AUDIT_REKEY, P_MSG_FIND, P_MSG_INSERT,
	P_MSG_META, P_QUEUE_LOAD, P_EXPIRED, P_DELIVERING, P_ACKED, P_DEAD,
	P_RETRY, P_RECEIPTS_LOAD, P_RECEIPT_SENT,
	P_RECEIPT_ACKED, P_NODE_STATS, P_TOTALS,
	/* one batch, one round trip (store_pg_fast.c): rows the store
	 * writes from what it holds in memory, each checking that the
	 * database still agrees (else the batch fails) */
	P_HEAD_LOCK, P_SEQ_BLOCK, P_SEQ_GIVE_BACK, P_RCPT_BLOCK,
	P_RCPT_GIVE_BACK, P_RETRY_AT, P_DB_SIZE, P_BATCH_PLANS,
	P_COUNT
};

/* Message seqs the store takes per batch from the messages sequence at
 * begin (store_pg_batch.c), and receipt ids from the receipts' sequence:
 * at least this many, and as many as the caller's batch takes frames
 * when that is more (store_set_batch_frames). A batch that accepts more
 * messages pays a round trip for each of the rest; a receipt past the
 * block takes its id from the sequence and is read back before it is
 * delivered (with its id known, store_pg_known.c delivers it without). */
#define PG_BLOCK_MIN 512

/* Values a batch takes from a sequence at begin (store_pg_batch.c):
 * next..last, none when next is 0 or past last; res keeps the answer. */
struct pg_block {
	int64_t next, last;
	PGresult *res;
};

struct pg_cache;     /* store_pg_cache.c */
struct pg_lanes;     /* store_pg_lanes.c */
struct known;        /* store_pg_known.c */
enum { PG_KNOWN_RECEIPTS, PG_KNOWN_QUEUE, PG_KNOWN_KINDS };
#define PG_AROW_COLS 18      /* columns of an audit row as written */

/* The kinds of rows a batch buffers (store_pg_lanes.c), in the order in
 * which they are sent. */
enum pg_lane {
	L_MSG_INSERT, L_DELIVERING, L_ACKED, L_DEAD, L_RCPT_INSERT,
	L_RCPT_SENT, L_RCPT_ACKED, L_AUDIT, PG_LANE_COUNT
};

/* Parameters of one statement: text, NULL or binary (bytea). */
struct pg_params {
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][24];
	int n;
};

struct store_be {
	struct store *outer;       /* the store this is the state of */
	PGconn *conn;              /* NULL while the database is unreachable */
	char *conninfo;            /* as configured (may hold a password:
	                            * never logged) */
	char label[160];           /* "postgresql host:port/db" for logs */
	bool read_only;
	bool opened;
	uint64_t max_bytes;
	struct store_key key;         /* pseudonym key (own copy) */

	/* the open batch */
	bool in_batch;
	bool implicit;
	bool broken;
	struct nara_err broken_err;
	bool read_txn;             /* store_read_begin opened a transaction */
	bool pipe;                 /* the batch runs in pipeline mode */
	int pending;               /* statements sent, results not read */
	const char *whats[PG_PIPE_MAX]; /* what each pending one does */
	PGresult **keeps[PG_PIPE_MAX];  /* where its result goes (or NULL) */
	uint64_t round_trips;      /* waits for the server's answers */
	uint64_t batches;          /* batches committed */
	uint64_t rt0;              /* round_trips when the batch began */
	bool ahead_on;             /* store_options.ahead: commits begin the
	                            * next batch (store_pg_batch.c) */
	bool ahead;                /* that begin is open, its answers pending */
	int commit_n;              /* a COMMIT sent: its statements' answers */
	bool commit_ahead;         /* ... and a begin sent behind it */
	uint64_t adopted;          /* such begins taken (by a batch or a
	                            * settle) */
	uint64_t settled;          /* of those, taken by store_pg_settle */
	int64_t block;             /* seqs and receipt ids a begin takes:
	                            * PG_BLOCK_MIN, or the caller's batch
	                            * frames when more (store_pg_batch.c) */
	int64_t block_asked;       /* ... as the begin in flight asked */
	int64_t db_bytes;          /* database size at begin (max_bytes only) */
	int64_t batch_bytes;

	/* audit chain head; saved_* is the head before begin */
	struct audit_hasher *hasher;
	int64_t head_seq, saved_seq;
	uint8_t head_hash[AUDIT_HASH_LEN], saved_hash[AUDIT_HASH_LEN];
	bool head_dirty;
	struct pg_block seqs;      /* message seqs of the open batch */
	struct pg_block rcpt_ids;  /* receipt ids of the open batch */
	PGresult *head_res, *size_res; /* kept answers */

	/* what the store knows of its messages and receipts (a cache: what
	 * is not in it costs a round trip); cleared when a batch fails */
	struct pg_cache *cache;
	struct pg_lanes *lanes;    /* rows not sent yet */
	/* reads a batch can skip (store_pg_known.c); sole: the head at
	 * begin was this store's last commit's (committed_*) */
	struct known *known;
	size_t n_known;
	size_t known_bytes;        /* of the rows listed, all nodes */
	bool sole, committed_known;
	int64_t committed_seq;
	uint8_t committed_hash[AUDIT_HASH_LEN];
	uint64_t lane_gen;         /* counts flushes of the lanes */
	char **spec_ids;           /* message ids accepted unseen this batch */
	size_t n_spec, cap_spec;

	uint8_t *buf;              /* encoded receipts (grow-only) */
	size_t buf_cap;

	/* reconnection with backoff (store_pg.c) */
	int64_t retry_at_ms;       /* monotonic ms of the next attempt */
	int64_t backoff_ms;
	bool lost;                 /* a connection was lost since the last */

	/* several narads on this database (store_pg_lease.c): once the lease
	 * was asked for, every batch starts with the fence of fence_epoch
	 * and lease_token, and none starts while it is 0: a standby, or a
	 * lease not yet renewed on this connection (a new connection may
	 * reach another server, promoted after a failover) */
	bool leased;
	bool lease_schema;         /* nara_lease and nara_fence() exist */
	int64_t lease_epoch;       /* held as last known, 0 none: renewed */
	char lease_token[PG_LEASE_TOKEN_LEN];
	int64_t fence_epoch;

	/* replication as last seen (store_pg_ckpt.c) */
	int64_t repl_checked;      /* s */
	int sync_standbys;         /* -1 = not known yet */

	/* signed checkpoints and retention (store_pg_ckpt.c) */
	const struct audit_key *signer;
	int64_t sign_interval, signed_at, signed_seq, retention, pruned_at;
	/* before begin, put back by a rollback: a head signed in a batch
	 * that never committed was not signed */
	int64_t saved_signed_at, saved_signed_seq, saved_pruned_at;
};

/* ---------------------------------------------------------------- params */
void pg_params_init(struct pg_params *p);
void pg_param_text(struct pg_params *p, const char *s);
void pg_param_int(struct pg_params *p, int64_t v);
void pg_param_blob(struct pg_params *p, const void *data, size_t len);

/* ---------------------------------------------------------------- results */
/* Column c of row r: text (NULL when SQL NULL), integer (0 for NULL),
 * and a bytea decoded into out when it is exactly len bytes (true). */
const char *pg_text(const PGresult *res, int r, int c);
int64_t pg_int(const PGresult *res, int r, int c);
bool pg_bytes(const PGresult *res, int r, int c, uint8_t *out, size_t len);
/* A bytea column decoded into a new buffer (*len bytes); NULL when SQL
 * NULL or out of memory. The caller frees it. */
uint8_t *pg_bytes_dup(const PGresult *res, int r, int c, size_t *len);

/* ---------------------------------------------------------------- running */
/* Run prepared statement s; *out gets the result (tuples or command),
 * which the caller clears. -1 with err (NR040 for a full disk, NR041
 * otherwise), the batch broken: in PostgreSQL an error ends the whole
 * transaction. */
int pg_run(struct store_be *st, enum pg_stmt s, const struct pg_params *p,
    PGresult **out, const char *what, struct nara_err *err);
/* Send prepared statement s inside a batch without waiting for its
 * result, which nothing needs; an error surfaces at the next read or at
 * commit (store_pg_pipe.c). Outside a batch it is pg_run. */
int pg_send(struct store_be *st, enum pg_stmt s, const struct pg_params *p,
    const char *what, struct nara_err *err);
/* pg_send whose result goes to *keep (see pg_pipe_send_keep); only inside
 * a batch. */
int pg_send_keep(struct store_be *st, enum pg_stmt s,
    const struct pg_params *p, PGresult **keep, const char *what,
    struct nara_err *err);
/* The error of res (or of the connection) into err: NR040 for SQLSTATE
 * class 53, NR041 otherwise; a lost connection is dropped; the batch is
 * broken. Returns -1. */
int pg_fail(struct store_be *st, const PGresult *res, const char *what,
    struct nara_err *err);

/* Pipeline mode (store_pg_pipe.c): begin sends BEGIN; send queues a
 * statement (stmt is a prepared name when prepared, else SQL); call sends
 * one and reads every result up to its own; commit_send and commit_take
 * (below) end the batch; abort syncs, drops what is left and leaves. */
int pg_pipe_begin(struct store_be *st, struct nara_err *err);
int pg_pipe_send(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p, const char *what, struct nara_err *err);
/* pg_pipe_send whose result goes to *keep when it is read (the caller
 * clears it; left NULL when the statement or one before it failed). */
int pg_pipe_send_keep(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p, PGresult **keep, const char *what,
    struct nara_err *err);
/* Read every pending result now (one round trip); -1 with the first
 * error. */
int pg_pipe_flush(struct store_be *st, struct nara_err *err);
int pg_pipe_call(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p, PGresult **out, const char *what,
    struct nara_err *err);
/* COMMIT in two halves, so that statements of the next transaction can
 * travel after its sync: send (COMMIT, sync), then take the first n
 * pending results (COMMIT's the last of them) and the sync; the pipeline
 * is left only when nothing else is pending. */
int pg_pipe_commit_send(struct store_be *st, struct nara_err *err);
int pg_pipe_commit_take(struct store_be *st, int n, struct nara_err *err);
/* Read every pending result, which an earlier round trip asked for
 * (a begin sent with the last commit): not counted as a round trip. */
int pg_pipe_take_sent(struct store_be *st, struct nara_err *err);
/* Wait (at most a fixed time) until a result can be read without
 * blocking; -1 when the server did not answer in time: the connection is
 * dropped then, as if lost. */
int pg_wait_answer(struct store_be *st);
/* PQexecPrepared/PQexecParams with that wait: the last result, or NULL
 * when nothing came (connection lost or dropped). */
PGresult *pg_exec_wait(struct store_be *st, const char *stmt, bool prepared,
    const struct pg_params *p);
void pg_pipe_abort(struct store_be *st);

/* The same for SQL text (upkeep, reports, tools). */
int pg_run_sql(struct store_be *st, const char *sql, const struct pg_params *p,
    PGresult **out, const char *what, struct nara_err *err);
/* The batch is broken with err (once); returns -1. */
int pg_break(struct store_be *st, const struct nara_err *err);
/* A connection to use now: reconnects (with backoff) when it was lost.
 * -1 with err NR041 while the database is unreachable. */
int pg_ready(struct store_be *st, struct nara_err *err);

int pg_enter(struct store_be *st, struct nara_err *err);
int pg_leave(struct store_be *st, int rc, struct nara_err *err);

/* Append one audit row (seq, hashes and time filled here). */
int pg_audit_append(struct store_be *st, struct audit_row *r, int64_t msg_seq,
    int64_t now, struct nara_err *err);
/* An audit row about message m (see store_common.h's store_audit_fill). */
int pg_audit_msg(struct store_be *st, const char *event, const char *node,
    const struct store_msg *m, const char *subject, const char *code,
    const char *detail, int64_t now, struct nara_err *err);
/* A recipient node acked m: its receipt to the sender queued and the one
 * audit row recording the ack, the purge and the receipt (store_common.h's
 * store_audit_fill_acked). */
int pg_acked_rest(struct store_be *st, const struct store_msg *m,
    const char *subject, const char *node, int64_t now, struct nara_err *err);

/* The tables at open: created, migrated or refused (store_pg_schema.c). */
int pg_schema_open(struct store_be *st, struct nara_err *err);
/* The newest retention cut (seq 0 and a zero hash when none). */
int pg_cut_load(struct store_be *st, int64_t *seq,
    uint8_t hash[AUDIT_HASH_LEN], struct nara_err *err);
/* At free: sign the head once more when it moved. */
void pg_sign_final(struct store_be *st);
/* Read and log whether the database has a synchronous standby. */
void pg_replication_check(struct store_be *st, int64_t now);

/* The operations of store_ops.h (store_pg_ops.c's table). */
struct store_be *store_pg_open(const char *path,
    const struct store_options *opt, struct store *outer,
    struct nara_err *err);
void store_pg_free(struct store_be **stp);
int store_pg_head_file_check(struct store_be *st, struct nara_err *err);
int store_pg_begin(struct store_be *st, struct nara_err *err);
int store_pg_commit(struct store_be *st, struct nara_err *err);
int store_pg_commit_send(struct store_be *st, struct nara_err *err);
int store_pg_commit_take(struct store_be *st, struct nara_err *err);
int store_pg_commit_fd(struct store_be *st);
void store_pg_rollback(struct store_be *st);
int store_pg_accept(struct store_be *st, struct store_msg *m, int64_t now,
    enum store_accept_result *res, struct nara_err *err);
int store_pg_audit_rejected(struct store_be *st, const struct store_msg *m,
    const char *node, const char *code, const char *text, int64_t now);
int store_pg_audit_event(struct store_be *st, const char *event,
    const char *node, const char *detail, int64_t now);
int store_pg_audit_event_coded(struct store_be *st, const char *event,
    const char *node, const char *code, const char *detail, int64_t now);
int store_pg_queue_load(struct store_be *st, const char *node,
    int64_t after_seq, int limit, store_msg_fn fn, void *arg);
int store_pg_delivering(struct store_be *st, int64_t seq, int attempt,
    const char *node, int64_t now);
int store_pg_acked(struct store_be *st, int64_t seq, const char *message_id,
    const char *node, int64_t now, bool *was_new);
int store_pg_dead_letter(struct store_be *st, const char *message_id,
    const char *code, const char *text, bool expired, const char *node,
    int64_t now);
int store_pg_expired_load(struct store_be *st, int64_t now, int limit,
    store_msg_fn fn, void *arg);
int store_pg_receipts_load(struct store_be *st, const char *node,
    int64_t after_id, int limit, store_receipt_fn fn, void *arg);
int store_pg_loads(struct store_be *st, struct store_load *v, size_t n);
int store_pg_receipt_sent(struct store_be *st, int64_t id, int64_t now);
int store_pg_receipt_acked(struct store_be *st, const char *node,
    const char *message_id, int64_t now);
int store_pg_retry(struct store_be *st, const char *message_id,
    const char *operator, int64_t now, struct nara_err *err);
int store_pg_node_stats(struct store_be *st, store_stats_fn fn, void *arg);
int store_pg_totals(struct store_be *st, struct store_totals *t);
int store_pg_audit_verify(struct store_be *st, int64_t *bad_seq,
    struct nara_err *err);
int store_pg_pseudonym(const struct store_be *st, const char *personal_number,
    char hex[65]);
int store_pg_queue_list(struct store_be *st, const char *address, int limit,
    store_meta_fn fn, void *arg);
int store_pg_dead_list(struct store_be *st, int limit, store_meta_fn fn,
    void *arg);
int store_pg_msg_meta(struct store_be *st, const char *message_id,
    store_meta_fn fn, void *arg);
void store_pg_set_batch_frames(struct store_be *st, unsigned frames);
void store_pg_set_signer(struct store_be *st, const struct audit_key *key,
    int64_t interval, int64_t retention);
int store_pg_maintain(struct store_be *st, int64_t now, struct nara_err *err);
int store_pg_checkpoint(struct store_be *st, const struct audit_key *key,
    int64_t now, struct nara_err *err);
int store_pg_audit_subject(struct store_be *st, const char *event,
    const char *subject, const char *author, const char *detail, int64_t now,
    struct nara_err *err);
int store_pg_audit_review(struct store_be *st, const char *message_id,
    const char *reviewer, const char *conclusion, int64_t now,
    struct nara_err *err);
int store_pg_audit_prune(struct store_be *st, const struct audit_key *key,
    int64_t before, int64_t max_rows, int64_t now, const char *by,
    int64_t *cut_seq, int64_t *deleted, struct nara_err *err);
int64_t store_pg_audit_rows(struct store_be *st,
    const struct store_audit_filter *f, store_audit_fn fn, void *arg,
    struct nara_err *err);
int store_pg_audit_checkpoints(struct store_be *st, const char *kind,
    store_ckpt_fn fn, void *arg, struct nara_err *err);
int store_pg_audit_hash(struct store_be *st, int64_t seq, uint8_t hash[32]);
int store_pg_audit_head(struct store_be *st, int64_t *seq, uint8_t hash[32],
    struct nara_err *err);
/* The fence a batch starts with when the lease is in use: 0, or -1 with
 * err NR042 when this narad does not (or no longer) hold the lease. */
int pg_lease_fence(struct store_be *st, struct nara_err *err);
int store_pg_lease(struct store_be *st, const char *instance, int64_t ttl_ms,
    struct store_lease *l, struct nara_err *err);
int store_pg_lease_release(struct store_be *st, const char *instance,
    struct nara_err *err);
int store_pg_replication(struct store_be *st, int *sync_standbys);
void store_pg_costs(struct store_be *st, struct store_costs *out);
bool store_pg_ahead(struct store_be *st);
int store_pg_settle(struct store_be *st, struct nara_err *err);
int store_pg_read_begin(struct store_be *st, bool *own, struct nara_err *err);
void store_pg_read_end(struct store_be *st, bool own);

/* ---------------------------------------------------------------- cache */
/* A message as this store last wrote or read it (store_pg_cache.c): its
 * metadata for audit rows, without payload or personal number, as a row
 * of the messages table gives it. seq 0: only "this id may be stored"
 * (a stub), nothing else is known. */
struct pg_cmsg {
	struct pg_cmsg *next_id, *next_seq;
	struct store_msg m;        /* strings point into text */
	const char *subject;
	bool queued;               /* state 0, as far as this store knows */
	uint64_t mark;             /* lane_gen when its delivery was buffered */
	char text[];
};
/* A receipt as receipts_load read it. */
struct pg_crcpt {
	struct pg_crcpt *next_id, *next_key;
	int64_t id;
	int outcome;
	uint64_t mark;             /* lane_gen when marked sent in a lane */
	const char *node, *message_id;
	char text[];
};

/* The cache of st (made at open, freed at free). -1 out of memory. */
int pg_cache_new(struct store_be *st);
void pg_cache_free(struct store_be *st);
/* Forget everything (a failed batch: the database is the truth again). */
void pg_cache_clear(struct store_be *st);
/* Remember message m (replacing what was known of its id); NULL when out
 * of memory, which only costs round trips later. */
struct pg_cmsg *pg_cache_msg_put(struct store_be *st,
    const struct store_msg *m, const char *subject, bool queued);
/* Remember only that message_id may be stored (a stub, seq 0). */
void pg_cache_msg_stub(struct store_be *st, const char *message_id);
struct pg_cmsg *pg_cache_msg_id(struct store_be *st, const char *message_id);
struct pg_cmsg *pg_cache_msg_seq(struct store_be *st, int64_t seq);
void pg_cache_msg_drop(struct store_be *st, struct pg_cmsg *e);
void pg_cache_rcpt_put(struct store_be *st, int64_t id, const char *node,
    const char *message_id, int outcome);
struct pg_crcpt *pg_cache_rcpt_id(struct store_be *st, int64_t id);
/* The oldest receipt known for message_id to node. */
struct pg_crcpt *pg_cache_rcpt_key(struct store_be *st, const char *node,
    const char *message_id);
void pg_cache_rcpt_drop(struct store_be *st, struct pg_crcpt *r);

/* ---------------------------------------------------------------- lanes */
/* One value of a lane's row, as its column's type takes it: an integer
 * for bigint and integer columns, bytes for text and bytea ones; a value
 * of the other kind fails the batch (pg_lane_add). */
struct pg_val {
	const void *p;
	size_t len;
	int64_t i;
	char kind;                    /* PG_V_INT, PG_V_BYTES, PG_V_NULL */
};

enum { PG_V_NULL, PG_V_INT, PG_V_BYTES };

static inline struct pg_val
pg_v_int(int64_t i)
{
	return (struct pg_val){ .i = i, .kind = PG_V_INT };
}

static inline struct pg_val
pg_v_null(void)
{
	return (struct pg_val){ .kind = PG_V_NULL };
}

/* s as text; NULL: SQL NULL. */
static inline struct pg_val
pg_v_text(const char *s)
{
	return s ? (struct pg_val){ .p = s, .len = strlen(s),
	    .kind = PG_V_BYTES } : pg_v_null();
}

static inline struct pg_val
pg_v_bytes(const void *p, size_t len)
{
	return (struct pg_val){ .p = p, .len = len, .kind = PG_V_BYTES };
}

/* Rows of the open batch (store_pg_lanes.c): add one to a lane (one
 * value per column, copied in the column's binary form at once), send
 * all lanes, one statement each (before any read, rekey or COMMIT, and
 * once enough rows are buffered), drop them (rollback), free the buffers
 * (at free). A flush or drop advances st->lane_gen. */
int pg_lane_add(struct store_be *st, enum pg_lane lane,
    const struct pg_val *v, struct nara_err *err);
int pg_lanes_flush(struct store_be *st, struct nara_err *err);
void pg_lanes_drop(struct store_be *st);
/* Lane lane's statement and, in name, the name it is prepared under on
 * every new connection (store_pg.c), so the server parses and plans it
 * once per connection, not once per batch. */
const char *pg_lane_stmt(int lane, char name[16]);
void pg_lanes_free(struct store_be *st);

/* ---------------------------------------------------------------- known */
/* Loads a batch answers itself (store_pg_known.c), kind PG_KNOWN_*: set
 * records that a load inside this batch found all there is past after;
 * add_msg and add_rcpt list a message accepted or a receipt queued (with
 * their seq or id from this batch's blocks; without one they forget the
 * node's entry); gone takes a row out (acked, dead, receipt acked);
 * attempt notes a delivery's attempt; drop forgets a node's entry, clear
 * all. answers tells whether a load past after is answered from the
 * list; msgs and rcpts answer a load past after from the list: the rows
 * given to fn, *all when fn got every row there is; -1 when the list
 * cannot answer and the database must be read. */
void pg_known_set(struct store_be *st, int kind, const char *node,
    int64_t after);
void pg_known_add_msg(struct store_be *st, const struct store_msg *m,
    const char *subject);
void pg_known_add_rcpt(struct store_be *st, const struct store_receipt *r);
void pg_known_gone(struct store_be *st, int kind, const char *node,
    int64_t key);
void pg_known_attempt(struct store_be *st, const char *node, int64_t seq,
    int attempt);
bool pg_known_answers(struct store_be *st, int kind, const char *node,
    int64_t after);
int pg_known_msgs(struct store_be *st, const char *node, int64_t after,
    int limit, store_msg_fn fn, void *arg, bool *all);
int pg_known_rcpts(struct store_be *st, const char *node, int64_t after,
    int limit, store_receipt_fn fn, void *arg, bool *all);
void pg_known_drop(struct store_be *st, int kind, const char *node);
void pg_known_clear(struct store_be *st);
void pg_known_free(struct store_be *st);

/* ---------------------------------------------------------------- fast */
/* The operations from memory (store_pg_fast.c): 1 when done (the rows
 * are sent, their check comes with the commit), 0 when the cache cannot
 * answer (the caller takes the round trip), -1 with err. */
int pg_fast_accept(struct store_be *st, struct store_msg *m,
    const char *subject, int64_t now, enum store_accept_result *res,
    struct nara_err *err);
int pg_fast_delivering(struct store_be *st, int64_t seq, int attempt,
    const char *node, int64_t now, struct nara_err *err);
int pg_fast_acked(struct store_be *st, const char *message_id,
    const char *node, int64_t now, struct nara_err *err);
int pg_fast_dead(struct store_be *st, const char *message_id,
    const char *code, const char *text, bool expired, const char *node,
    int64_t now, struct nara_err *err);
int pg_fast_receipt_sent(struct store_be *st, int64_t id, int64_t now,
    struct nara_err *err);
int pg_fast_receipt_acked(struct store_be *st, const char *node,
    const char *message_id, int64_t now, struct nara_err *err);
/* A receipt about message m to its sender: the row and, when audit is
 * set, its audit row (store_pg_msg.c's, shared with the fast path). */
int pg_receipt_queue(struct store_be *st, const struct store_msg *m,
    const char *subject, int outcome, const char *receiving_node,
    const char *code, const char *text, bool audit, int64_t now,
    struct nara_err *err);
/* The parameters of P_MSG_INSERT: message m, with seq (0: NULL, the
 * sequence picks). */
void pg_params_msg(struct pg_params *p, const struct store_msg *m,
    const char *subject, int64_t now, int64_t seq);
/* The head as committed, read without a lock (at open). */
int pg_head_read(struct store_be *st, struct nara_err *err);
/* A message seq from the batch's block; 0 when it is used up. */
int64_t pg_seq_take(struct store_be *st);
/* A receipt id from the batch's block; 0 when it is used up (the
 * receipts' sequence gives it then). */
int64_t pg_rcpt_take(struct store_be *st);

#endif
