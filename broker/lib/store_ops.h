/*
 * store_ops.h — the store as a table of operations: store.c keeps the
 * backend a store was opened with and passes every call of store.h to it.
 * A backend (SQLite: store_sqlite*.c, store_sqlite_ops.c; PostgreSQL:
 * store_pg*.c, store_pg_ops.c) defines
 * struct store_be, its own state, in its own files and fills one
 * struct store_ops; nothing outside the backend sees inside store_be.
 * Each operation is the store.h function of the same name without the
 * "store_" prefix, with the backend's state for the store.
 */
#ifndef NARA_STORE_OPS_H
#define NARA_STORE_OPS_H

#include "store.h"

struct store_be;

/*
 * Whether an audit row's msg_seq agrees with its message_id, as 1 or 0: a
 * column of both backends' STORE_AUDIT_CHAIN. msg_seq is the look-up aid
 * outside the hashed row (store_sqlite_schema.c): trace and review record
 * find a stored message's rows by it, so a changed msg_seq alone would hide
 * a row from its message or show it under another. It agrees when it is
 * NULL, or names the message with the row's message_id. It may name
 * another message, or none, only for a row older than any stored message
 * with its id: one about an earlier message with that id, pruned since
 * (its seq may have been given again). The row's time and message_id are
 * hashed; a row written while its message was stored has a time at or
 * after the message was accepted.
 */
#define STORE_SQL_MSG_SEQ_AGREES \
	"CASE WHEN audit.msg_seq IS NULL OR EXISTS (SELECT 1 FROM messages m " \
	"WHERE m.seq = audit.msg_seq AND m.message_id = audit.message_id) OR " \
	"NOT EXISTS (SELECT 1 FROM messages m WHERE m.message_id = " \
	"audit.message_id AND m.accepted_at * 1000 <= audit.time) THEN 1 " \
	"ELSE 0 END"
#define STORE_MSG_SEQ_ASTRAY "msg_seq leads the look-ups to another " \
	"message than its message_id"

struct store_ops {
	const char *name;            /* as store_options.backend names it */
	/* Open path; outer is the store the backend's state belongs to, for
	 * calls back through store.h (the chain verification). NULL with
	 * err on failure. */
	struct store_be *(*open)(const char *path,
	    const struct store_options *opt, struct store *outer,
	    struct nara_err *err);
	void (*free)(struct store_be **be);
	int (*head_file_check)(struct store_be *st, struct nara_err *err);
	int (*begin)(struct store_be *st, struct nara_err *err);
	int (*commit)(struct store_be *st, struct nara_err *err);
	/* NULL: commits only in commit. commit_send: 1 sent (the answer
	 * comes to commit_fd, commit_take reads it), 0 or -1 as commit. */
	int (*commit_send)(struct store_be *st, struct nara_err *err);
	int (*commit_take)(struct store_be *st, struct nara_err *err);
	int (*commit_fd)(struct store_be *st);
	/* NULL: the backend does nothing on its own after a commit's answer.
	 * idle_fd: -1 when idle, else a descriptor readable once it is;
	 * idle_wait: wait until it is (store.c calls it before every call). */
	int (*idle_fd)(struct store_be *st);
	void (*idle_wait)(struct store_be *st);
	void (*rollback)(struct store_be *st);
	int (*accept)(struct store_be *st, struct store_msg *m, int64_t now,
	    enum store_accept_result *res, struct nara_err *err);
	int (*audit_rejected)(struct store_be *st, const struct store_msg *m,
	    const char *node, const char *code, const char *text, int64_t now);
	int (*audit_event)(struct store_be *st, const char *event,
	    const char *node, const char *detail, int64_t now);
	int (*audit_event_coded)(struct store_be *st, const char *event,
	    const char *node, const char *code, const char *detail,
	    int64_t now);
	int (*queue_load)(struct store_be *st, const char *node,
	    int64_t after_seq, int limit, store_msg_fn fn, void *arg);
	int (*delivering)(struct store_be *st, int64_t seq, int attempt,
	    const char *node, int64_t now);
	int (*acked)(struct store_be *st, int64_t seq, const char *message_id,
	    const char *node, int64_t now, bool *was_new);
	int (*dead_letter)(struct store_be *st, const char *message_id,
	    const char *code, const char *text, bool expired, const char *node,
	    int64_t now);
	int (*expired_load)(struct store_be *st, int64_t now, int limit,
	    store_msg_fn fn, void *arg);
	int (*receipts_load)(struct store_be *st, const char *node,
	    int64_t after_id, int limit, store_receipt_fn fn, void *arg);
	/* NULL, or 1 returned (it cannot read them at once now): store_loads
	 * reads node by node through the two above */
	int (*loads)(struct store_be *st, struct store_load *v, size_t n);
	/* these three NULL when the backend's queue index is by node
	 * (store.h: store_seq_high is -1 then) */
	int64_t (*seq_high)(struct store_be *st);
	int (*queue_walk)(struct store_be *st, int64_t after, int64_t upto,
	    int max, store_floor_fn fn, void *arg);
	int (*queue_seqs)(struct store_be *st, const char *node,
	    const int64_t *seq, int n, store_msg_fn fn, void *arg);
	int (*receipt_sent)(struct store_be *st, int64_t id, int64_t now);
	int (*receipt_acked)(struct store_be *st, const char *node,
	    const char *message_id, int64_t now);
	int (*retry)(struct store_be *st, const char *message_id,
	    const char *operator, int64_t now, struct nara_err *err);
	int (*node_stats)(struct store_be *st, store_stats_fn fn, void *arg);
	int (*totals)(struct store_be *st, struct store_totals *t);
	int (*audit_verify)(struct store_be *st, int64_t *bad_seq,
	    struct nara_err *err);
	int (*pseudonym)(const struct store_be *st, const char *personal_number,
	    char hex[65]);
	int (*queue_list)(struct store_be *st, const char *address, int limit,
	    store_meta_fn fn, void *arg);
	int (*dead_list)(struct store_be *st, int limit, store_meta_fn fn,
	    void *arg);
	int (*msg_meta)(struct store_be *st, const char *message_id,
	    store_meta_fn fn, void *arg);
	void (*set_signer)(struct store_be *st, const struct audit_key *key,
	    int64_t interval, int64_t retention);
	/* NULL: the backend has no use for it */
	void (*set_batch_frames)(struct store_be *st, unsigned frames);
	int (*maintain)(struct store_be *st, int64_t now, struct nara_err *err);
	int (*checkpoint)(struct store_be *st, const struct audit_key *key,
	    int64_t now, struct nara_err *err);
	int (*audit_subject)(struct store_be *st, const char *event,
	    const char *subject, const char *author, const char *detail,
	    int64_t now, struct nara_err *err);
	int (*audit_review)(struct store_be *st, const char *message_id,
	    const char *reviewer, const char *conclusion, int64_t now,
	    struct nara_err *err);
	int (*audit_prune)(struct store_be *st, const struct audit_key *key,
	    int64_t before, int64_t max_rows, int64_t now, const char *by,
	    int64_t *cut_seq, int64_t *deleted, struct nara_err *err);
	int64_t (*audit_rows)(struct store_be *st,
	    const struct store_audit_filter *f, store_audit_fn fn, void *arg,
	    struct nara_err *err);
	int (*audit_checkpoints)(struct store_be *st, const char *kind,
	    store_ckpt_fn fn, void *arg, struct nara_err *err);
	int (*audit_hash)(struct store_be *st, int64_t seq, uint8_t hash[32]);
	int (*audit_head)(struct store_be *st, int64_t *seq, uint8_t hash[32],
	    struct nara_err *err);
	int (*replication)(struct store_be *st, int *sync_standbys);
	/* NULL: nothing to count (store_costs gives zeros). */
	void (*costs)(struct store_be *st, struct store_costs *out);
	/* NULL: the backend never begins ahead (store_ahead is false). */
	bool (*ahead)(struct store_be *st);
	int (*settle)(struct store_be *st, struct nara_err *err);
	int (*read_begin)(struct store_be *st, bool *own, struct nara_err *err);
	void (*read_end)(struct store_be *st, bool own);
	/* NULL: the backend cannot be shared by several narads. */
	int (*lease)(struct store_be *st, const char *instance, int64_t ttl_ms,
	    struct store_lease *l, struct nara_err *err);
	int (*lease_release)(struct store_be *st, const char *instance,
	    struct nara_err *err);
};

/* A store: its backend and the backend's state (both owned by store.c). */
struct store {
	const struct store_ops *ops;
	struct store_be *be;
	/* a commit sent by store_commit_send, not yet taken by its owner */
	bool sent;
	bool taken;                 /* taken already by another call */
	int taken_rc;
	struct nara_err taken_err;
	void (*on_taken)(void *arg);
	void *on_taken_arg;
};

/* The backends store_open can pick. */
extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;    /* store_pg*.c */

/* Whether s is a libpq conninfo (keyword=value pairs or a postgresql://
 * URI) rather than a file name: store_open refuses to give one to the
 * SQLite backend, which would create a file of that name. */
bool store_pg_is_conninfo(const char *s);

#endif
