/*
 * store_int.h — internals of the SQLite backend: its state (struct
 * store_be, behind a struct store of store_ops.h) and its operations,
 * shared by the store_sqlite*.c files. Nothing outside them includes this
 * header.
 */
#ifndef NARA_STORE_INT_H
#define NARA_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "audit.h"
#include "audit_sign.h"
#include "store_common.h"
#include "store_ops.h"

/* The newest audit chain head narad recorded, also kept in a file beside
 * the store so that a store emptied, replaced or rolled back behind it is
 * refused at start-up (store_sqlite_guard.c). */
struct store_mark {
	int64_t seq;                  /* 0 = none */
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t time_ms;
	bool is_signed;
	uint8_t sig[AUDIT_SIG_LEN];
	char fingerprint[AUDIT_FPR_LEN + 1];
	/* the store file as narad left it at a clean stop (store_sqlite_check.c) */
	bool clean;
	uint64_t clean_dev, clean_ino;
	int64_t clean_size, clean_mtime_ns;
};

/* Columns every message query returns first, in this order (MC_*). */
#define MSG_COLS "seq, message_id, conversation_id, type, priority, " \
	"legal_basis, sender, sender_node, recipient, recipient_node, author, " \
	"subject_pseudonym, created, expires, payload_sha256, payload_size, " \
	"attempts, state"
/* A message's content, in payloads since schema version 3, in its row
 * before; and whether it is still kept. For statements on messages. */
#define STORE_SQL_PAYLOAD "coalesce((SELECT p.payload FROM payloads p " \
	"WHERE p.seq = messages.seq), messages.payload)"
#define STORE_SQL_PAYLOAD_KEPT "(messages.payload IS NOT NULL OR EXISTS " \
	"(SELECT 1 FROM payloads p WHERE p.seq = messages.seq))"
enum msg_col {
	MC_SEQ, MC_MESSAGE_ID, MC_CONVERSATION_ID, MC_TYPE, MC_PRIORITY,
	MC_LEGAL_BASIS, MC_SENDER, MC_SENDER_NODE, MC_RECIPIENT,
	MC_RECIPIENT_NODE, MC_AUTHOR, MC_SUBJECT, MC_CREATED, MC_EXPIRES,
	MC_SHA256, MC_SIZE, MC_ATTEMPTS, MC_STATE, MC_PAYLOAD
};

/* Prepared once at open; SQL text in store_sqlite.c's stmt_sql table. */
enum store_stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_PAGE_COUNT, S_DATA_VERSION, S_VACUUM,
	S_HEAD_SAVE,
	S_HEAD_LOAD, S_AUDIT_LAST, S_AUDIT_INSERT, S_AUDIT_REKEY, S_MSG_FIND, S_MSG_INSERT,
	S_PAYLOAD_INSERT,
	S_PAYLOAD_PURGE,
	S_MSG_META, S_QUEUE_LOAD, S_QUEUE_SEQ, S_EXPIRED, S_QUEUED_META, S_ATTEMPT,
	S_ACK_FIND, S_ACK_FIND_SEQ, S_ACK_SET, S_DEAD,
	S_RETRY, S_RECEIPT_INSERT, S_RECEIPTS_LOAD, S_RECEIPT_GET,
	S_RECEIPT_FIND, S_RECEIPT_DELETE, S_NODE_STATS, S_TOTALS, S_SEQ_HIGH,
	S_RCPT_HIGH, S_RCPT_HIGH_SAVE, S_COUNT
};

struct store_be {
	struct store *outer;       /* the store this is the state of */
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	char *path;
	bool read_only;
	bool opened;                  /* store_sqlite_open completed: may sign and
	                               * mark at store_sqlite_free */
	bool sync_full;
	uint64_t max_bytes;
	struct store_key key;         /* pseudonym key (own copy) */

	/* the open batch */
	bool in_batch;
	bool implicit;                /* opened by a call made outside a batch */
	bool broken;                  /* part of an operation failed: no commit */
	struct nara_err broken_err;
	int64_t db_bytes;             /* page_count * page_size at begin */
	int64_t batch_bytes;          /* payload bytes accepted in this batch */
	int64_t page_size;
	int64_t data_version;         /* changes when another connection commits */
	int64_t seq_high;             /* highest message seq given (store.h) */
	int64_t rcpt_high;            /* highest receipt id given, never lowered
	                               * (receipt_queue) */
	int64_t rcpt_high_saved;      /* ... as meta records it */
	int64_t rcpt_high_saving;     /* ... as the commit under way writes it */
	uint64_t commits;

	/* audit chain head; saved_* is the head before store_sqlite_begin */
	struct audit_hasher *hasher;
	int64_t head_seq, saved_seq;
	uint8_t head_hash[AUDIT_HASH_LEN], saved_hash[AUDIT_HASH_LEN];
	bool head_dirty;

	/* scratch buffer for encoded receipts (grow-only) */
	uint8_t *buf;
	size_t buf_cap;

	/* the commit thread (store_sqlite_apart.c), from the first commit
	 * sent: apart_job and apart_rc under apart_mu */
	bool apart_running, apart_stop;
	uint64_t apart_retry;         /* could not start: commits stay here
	                               * until commits reaches this */
	pthread_t apart_thread;
	pthread_mutex_t apart_mu;
	pthread_cond_t apart_cv;
	int apart_job, apart_rc;
	int apart_fd;                 /* eventfd, readable when a commit ended */
	/* the thread restarts the WAL after a commit (store_sqlite_wal_rewind):
	 * set with JOB_DONE, cleared when done; under apart_mu, and read
	 * without it first (store_sqlite_idle_wait) */
	atomic_bool rewinding;
	bool idle_waiter;             /* the owner waits on apart_fd for it */
	bool idle_signalled;          /* apart_fd counts that end */

	/* receipts' message metadata (store_sqlite_rcache.c), NULL until used */
	struct rcache_entry **rcache;
	/* ... and that of messages a delivery pass handed out, by seq */
	struct rcache_entry **dcache;

	/* checkpoint thread with its own connection (store_sqlite_wal.c) */
	sqlite3 *ckpt_db;
	pthread_t ckpt_thread;
	bool ckpt_running;
	bool ckpt_stop;
	pthread_mutex_t ckpt_mu;
	pthread_cond_t ckpt_cv;
	atomic_int wal_frames;        /* WAL size reported after each commit */
	int wal_log;                  /* the same, for the writer's own use */
	int wal_kicked;               /* WAL size when the thread was woken */
	int wal_avg16;                /* frames per commit, average, in 16ths */
	int wal_limit;                /* the WAL starts over at this length
	                               * (store_sqlite_wal_limit) */
	atomic_int ckpt_backfilled;   /* frames the thread's last pass copied */

	/* signed checkpoints and retention (store_sqlite_ckpt.c) */
	const struct audit_key *signer; /* borrowed, NULL = no signing */
	int64_t sign_interval;        /* seconds */
	int64_t signed_at;            /* when the last head was signed */
	int64_t signed_seq;           /* which seq it covered */
	int64_t retention;            /* seconds of audit kept, 0 = forever */
	int64_t pruned_at;            /* last automatic prune */

	/* the chain head kept beside the store (store_sqlite_guard.c) */
	char *mark_path;              /* <store>.head */
	bool mark_keep;               /* this program writes it (narad) */
	struct store_mark mark;       /* the newest head recorded, or due */
	bool mark_due;                /* write mark after this batch commits */
	int64_t marked_at;            /* when the last mark was taken */
	/* the upkeep state before store_sqlite_begin, put back by a rollback:
	 * a head recorded or signed in a batch that never committed is not
	 * the chain's head */
	struct store_mark saved_mark;
	int64_t saved_signed_seq, saved_signed_at, saved_marked_at,
	    saved_pruned_at;

	/* the full check at start (store_sqlite_check.c) */
	bool created;                 /* this open created the file */
	bool was_clean;               /* head file: clean stop, file unchanged */
	bool was_stamped;             /* head file had a clean-stop stamp */
	atomic_int check_state;       /* CHECK_* */
	bool check_thread_live;       /* started and not yet joined */
	pthread_t check_thread;
	struct nara_err check_err;    /* set by the thread before CHECK_FAILED */

	/* purged content leaves the WAL (see ckpt_wipe, store_sqlite_wal.c) */
	bool batch_purged;            /* this batch deleted clinical content */
	atomic_llong purge_first;     /* monotonic s of the oldest purge still
	                               * in the WAL, 0 = none */
	atomic_bool writer_holds;     /* the writer connection holds the write
	                               * lock: from its BEGIN to its batch's end */
	int64_t wipe_waited;          /* checkpoint thread: monotonic s of the
	                               * first wipe a reader put off, 0 = none */
	bool wipe_warned;             /* that wait was logged */
};

/* A message row read from MSG_COLS; strings borrowed from the statement. */
struct msg_row {
	struct store_msg m;
	const char *subject;          /* pseudonym hex, NULL when none */
};

/* The metadata of a message with a receipt queued (store_sqlite_rcache.c):
 * put when the receipt is queued (row read without its payload), get for
 * the receipt's audit rows (row's texts valid until the next put, drop or
 * clear of the cache), drop at the receipt's ack; clear when what is kept
 * may no longer be true (a rollback, a retry, a prune, another writer). */
void store_rcache_put(struct store_be *st, const struct msg_row *row);
bool store_rcache_get(struct store_be *st, const char *message_id,
    struct msg_row *row);
void store_rcache_drop(struct store_be *st, const char *message_id);
/* The same by seq for messages a delivery pass handed out, until the
 * delivery's row is written (store_sqlite_delivering). */
void store_dcache_put(struct store_be *st, const struct msg_row *row);
bool store_dcache_get(struct store_be *st, int64_t seq, struct msg_row *row);
void store_dcache_drop(struct store_be *st, int64_t seq);
/* Both caches emptied. */
void store_rcache_clear(struct store_be *st);
void store_rcache_free(struct store_be *st);

/* Fill r from the MSG_COLS (and MC_PAYLOAD when with_payload) of s. */
void store_row_read(sqlite3_stmt *s, bool with_payload, struct msg_row *r);

/* Map a SQLite result to NR040 (disk full) or NR041 with the SQLite text;
 * marks an open batch broken when SQLite rolled it back. Returns -1. */
int store_fail(struct store_be *st, int rc, const char *what,
    struct nara_err *err);
/* Part of an operation was written before a later step failed: the batch
 * must not commit. Returns -1. */
int store_break(struct store_be *st, const struct nara_err *err);

/* Every writing operation runs between these: outside a batch they open
 * and commit one of their own. store_leave returns rc (or -1 if the commit
 * of the implicit batch failed). */
int store_enter(struct store_be *st, struct nara_err *err);
int store_leave(struct store_be *st, int rc, struct nara_err *err);

/* An audit row about message m (may be NULL): its metadata, the subject
 * pseudonym, and code/detail cut to size with m's personal number removed. */
int store_audit_msg(struct store_be *st, const char *event, const char *node,
    const struct store_msg *m, const char *subject, const char *code,
    const char *detail, int64_t now, struct nara_err *err);

/* Append one audit row (seq, hashes and time filled here). msg_seq is the
 * seq of the stored message the row is about, 0 when none: it indexes the
 * row for look-ups by message and is not part of the hashed row. */
int store_audit_append(struct store_be *st, struct audit_row *r,
    int64_t msg_seq, int64_t now, struct nara_err *err);

/* CLOCK_MONOTONIC in whole seconds (purge times for the WAL wipe). */
int64_t store_mono_seconds(void);

/* How long a connection of narad's waits for another's lock. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* The WAL (store_sqlite_wal.c). The hook is the writer's sqlite3_wal_hook:
 * it reports the WAL's size to the checkpoint thread and wakes it. start
 * opens the thread's connection and starts it (read-write stores only);
 * stop joins it and closes that connection (also after a failed start).
 * rewind copies what the thread has not yet copied of a long WAL so that
 * the next batch writes it from its start again: on the commit thread
 * after a commit when there is one, else before a batch; rewind_due says
 * whether it would do anything. */
int store_sqlite_wal_hook(void *arg, sqlite3 *db, const char *name,
    int frames);
int store_sqlite_wal_start(struct store_be *st, struct nara_err *err);
void store_sqlite_wal_stop(struct store_be *st);
int store_sqlite_wal_limit(int frames_avg16, int64_t page_size);
bool store_sqlite_wal_rewind_due(const struct store_be *st);
void store_sqlite_wal_rewind(struct store_be *st);

/* The schema version this program writes (store_sqlite_schema.c). */
#define STORE_SCHEMA_VERSION 5
/* At open: create the tables of a new file, migrate an older one (read-write
 * only), refuse what cannot be read, and read the page size. */
int store_schema_open(struct store_be *st, struct nara_err *err);

/* Before the connection (read-write): an absent store is created
 * complete under another name and linked into place; an existing one must
 * look like a SQLite file (a 0-byte file is refused, not initialised), and
 * an absent one is refused when a head file says a chain existed. */
int store_guard_path(struct store_be *st, struct nara_err *err);
/* PRAGMA quick_check on the open connection: NR041 with SQLite's first
 * complaint. */
int store_guard_check(struct store_be *st, struct nara_err *err);
/* The store_guard_check of an already open connection db on path. */
int store_guard_quick_check(sqlite3 *db, const char *path,
    struct nara_err *err);
/* The head file at path into m (m->seq 0 when there is none). */
int store_mark_read(const char *path, struct store_mark *m,
    struct nara_err *err);

/* store_sqlite_check.c: the full check at start. Before the connection:
 * was the store stopped cleanly and left unchanged since (the head file's
 * clean-stop stamp against the file)? After it: run the check now (file
 * changed after a clean stop), in the background (unclean stop), or not at
 * all (clean and unchanged). */
enum { CHECK_NONE, CHECK_RUNNING, CHECK_OK, CHECK_FAILED };
void store_check_clean(struct store_be *st);
int store_check_start(struct store_be *st, struct nara_err *err);
/* Nothing is accepted on a store whose check has not passed: waits for a
 * running check (writer thread only); -1 with its NR041 when it failed. */
int store_check_wait(struct store_be *st, struct nara_err *err);
/* Without waiting: -1 with NR041 (path STORE_DAMAGED) once it failed. */
int store_check_poll(struct store_be *st, struct nara_err *err);
/* At a clean close, after the last connection: stamp the head file with
 * the file as it is now, so the next start may skip the check. */
void store_check_stamp(struct store_be *st);

/* After head_load: refuse a chain behind (or other than) the head file. */
int store_guard_head(struct store_be *st, struct nara_err *err);
/* Record the head (signed checkpoint c, or unsigned when c is NULL) to be
 * written beside the store once the batch commits; store_mark_write does
 * that (tmp file, fsync, rename, fsync of the directory). */
void store_mark_set(struct store_be *st, const struct audit_checkpoint *c);
void store_mark_write(struct store_be *st);
/* Create a new store file at tmp (complete schema, rollback journal, so
 * nothing but the file remains); store_sqlite_schema.c. */
int store_schema_create(const char *tmp, struct nara_err *err);

/* At store_sqlite_free: sign the head once more if it moved since the last
 * checkpoint (clean shutdown). */
void store_sign_final(struct store_be *st);
/* At a batch's begin and rollback: the head recorded or signed, and when
 * (store_sqlite_ckpt.c), as they were before the batch. */
void store_upkeep_save(struct store_be *st);
void store_upkeep_restore(struct store_be *st);
/* Whether the store has its checkpoints table: 1, 0 for a store from
 * before checkpoints (opened read-only, so not migrated), -1 when its
 * schema cannot be read. Only an answer of 0 may be taken for "no
 * checkpoints": a damaged schema must not read as an unsigned log. */
int store_ckpt_table(struct store_be *st);
/* The newest retention cut (seq 0 and a zero hash when none). */
int store_cut_load(struct store_be *st, int64_t *seq,
    uint8_t hash[AUDIT_HASH_LEN]);

/* The operations of store_ops.h in the SQLite backend (store_sqlite_ops.c
 * puts them in its table); each is documented at its store.h name. */
struct store_be *store_sqlite_open(const char *path,
    const struct store_options *opt, struct store *outer,
    struct nara_err *err);
void store_sqlite_free(struct store_be **stp);
int store_sqlite_head_file_check(struct store_be *st, struct nara_err *err);
int store_sqlite_begin(struct store_be *st, struct nara_err *err);
int store_sqlite_commit(struct store_be *st, struct nara_err *err);
int store_sqlite_commit_send(struct store_be *st, struct nara_err *err);
int store_sqlite_commit_take(struct store_be *st, struct nara_err *err);
int store_sqlite_commit_fd(struct store_be *st);
void store_sqlite_rollback(struct store_be *st);
/* the halves of a commit, and the commit thread (store_sqlite_apart.c) */
int store_sqlite_step_done(sqlite3_stmt *s);
int store_sqlite_commit_prepare(struct store_be *st, struct nara_err *err);
int store_sqlite_commit_end(struct store_be *st, int rc, struct nara_err *err);
void store_sqlite_apart_stop(struct store_be *st);
int store_sqlite_idle_fd(struct store_be *st);
void store_sqlite_idle_wait(struct store_be *st);
/* pthread_create with every signal blocked in the new thread: signals stay
 * with the daemon's own thread. 0, or the error number. */
int store_sqlite_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
int store_sqlite_accept(struct store_be *st, struct store_msg *m, int64_t now,
    enum store_accept_result *res, struct nara_err *err);
int store_sqlite_audit_rejected(struct store_be *st, const struct store_msg *m,
    const char *node, const char *code, const char *text, int64_t now);
int store_sqlite_audit_event(struct store_be *st, const char *event,
    const char *node, const char *detail, int64_t now);
int store_sqlite_audit_event_coded(struct store_be *st, const char *event,
    const char *node, const char *code, const char *detail, int64_t now);
int store_sqlite_queue_load(struct store_be *st, const char *node,
    int64_t after_seq, int limit, store_msg_fn fn, void *arg);
int store_sqlite_delivering(struct store_be *st, int64_t seq, int attempt,
    const char *node, int64_t now);
int store_sqlite_acked(struct store_be *st, int64_t seq, const char *message_id,
    const char *node, int64_t now, bool *was_new);
int store_sqlite_dead_letter(struct store_be *st, const char *message_id,
    const char *code, const char *text, bool expired, const char *node,
    int64_t now);
int store_sqlite_expired_load(struct store_be *st, int64_t now, int limit,
    store_msg_fn fn, void *arg);
int store_sqlite_receipts_load(struct store_be *st, const char *node,
    int64_t after_id, int limit, store_receipt_fn fn, void *arg);
int store_sqlite_receipt_sent(struct store_be *st, int64_t id, int64_t now);
int store_sqlite_receipt_acked(struct store_be *st, const char *node,
    const char *message_id, int64_t now);
int store_sqlite_retry(struct store_be *st, const char *message_id,
    const char *operator, int64_t now, struct nara_err *err);
int store_sqlite_node_stats(struct store_be *st, store_stats_fn fn, void *arg);
int64_t store_sqlite_seq_high(struct store_be *st);
int store_sqlite_queue_seqs(struct store_be *st, const char *node,
    const int64_t *seq, int n, store_msg_fn fn, void *arg);
int store_sqlite_queue_walk(struct store_be *st, int64_t after,
    int64_t upto, int max, store_floor_fn fn, void *arg);
int store_sqlite_totals(struct store_be *st, struct store_totals *t);
int store_sqlite_audit_verify(struct store_be *st, int64_t *bad_seq,
    struct nara_err *err);
int store_sqlite_pseudonym(const struct store_be *st,
    const char *personal_number, char hex[65]);
int store_sqlite_queue_list(struct store_be *st, const char *address, int limit,
    store_meta_fn fn, void *arg);
int store_sqlite_dead_list(struct store_be *st, int limit, store_meta_fn fn,
    void *arg);
int store_sqlite_msg_meta(struct store_be *st, const char *message_id,
    store_meta_fn fn, void *arg);
void store_sqlite_set_signer(struct store_be *st, const struct audit_key *key,
    int64_t interval, int64_t retention);
int store_sqlite_maintain(struct store_be *st, int64_t now,
    struct nara_err *err);
int store_sqlite_checkpoint(struct store_be *st, const struct audit_key *key,
    int64_t now, struct nara_err *err);
int store_sqlite_audit_subject(struct store_be *st, const char *event,
    const char *subject, const char *author, const char *detail, int64_t now,
    struct nara_err *err);
int store_sqlite_audit_review(struct store_be *st, const char *message_id,
    const char *reviewer, const char *conclusion, int64_t now,
    struct nara_err *err);
int store_sqlite_audit_prune(struct store_be *st, const struct audit_key *key,
    int64_t before, int64_t max_rows, int64_t now, const char *by,
    int64_t *cut_seq, int64_t *deleted, struct nara_err *err);
int64_t store_sqlite_audit_rows(struct store_be *st,
    const struct store_audit_filter *f, store_audit_fn fn, void *arg,
    struct nara_err *err);
int store_sqlite_audit_checkpoints(struct store_be *st, const char *kind,
    store_ckpt_fn fn, void *arg, struct nara_err *err);
int store_sqlite_audit_hash(struct store_be *st, int64_t seq, uint8_t hash[32]);
int store_sqlite_audit_head(struct store_be *st, int64_t *seq, uint8_t hash[32],
    struct nara_err *err);
int store_sqlite_read_begin(struct store_be *st, bool *own,
    struct nara_err *err);
void store_sqlite_read_end(struct store_be *st, bool own);

/* The VFS that gathers a commit's writes to the WAL into one write
 * (store_sqlite_walbuf.c), registered once; its name, or NULL when the
 * default VFS cannot carry it. */
const char *store_sqlite_walbuf_register(void);
/* Writes to WAL files it was given and writes it made, since start. */
void store_sqlite_walbuf_counts(uint64_t *in, uint64_t *out);
/* Wipes of purged content out of the WAL done, and put off because a
 * reader (or another process) was in the way, by every store of this
 * process (store_sqlite_wal.c). */
void store_sqlite_wipe_counts(uint64_t *done, uint64_t *put_off);

#endif
