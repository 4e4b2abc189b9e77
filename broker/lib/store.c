/*
 * store.c — the dispatch of store.h to the backend a store was opened
 * with (store_ops.h): store_open picks the backend by name, every other
 * call goes to the same operation of that backend.
 */
#include "audit.h"
#include "store_ops.h"

#include <stdlib.h>
#include <string.h>

/* The backend for a call: a commit sent and not taken is waited for
 * first (its outcome kept for store_commit_take), then the backend's own
 * work after a commit (store_idle_fd). */
static struct store_be *
be_of(struct store *st)
{
	if (st->sent && !st->taken) {
		st->taken = true;
		memset(&st->taken_err, 0, sizeof(st->taken_err));
		st->taken_rc = st->ops->commit_take(st->be, &st->taken_err);
		if (st->on_taken != NULL)
			st->on_taken(st->on_taken_arg);
	}
	if (st->ops->idle_wait != NULL)
		st->ops->idle_wait(st->be);
	return st->be;
}

static const struct store_ops *const backends[] = { &store_sqlite_ops,
    &store_pg_ops };

/* The backend called name; NULL (the default) is "sqlite". */
static const struct store_ops *
backend_find(const char *name, struct nara_err *err)
{
	if (name == NULL)
		name = "sqlite";
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	nara_err_set(err, NR_STORE_FAILED, "store", "unknown store backend "
	    "\"%s\" (known: sqlite, postgresql)", name);
	return NULL;
}

/* A SQLite path that is a conninfo meant for backend = postgresql would
 * become an empty SQLite file of that name in the working directory:
 * refused (-1 with err), without repeating the text (it may hold a
 * password). */
static int
not_a_conninfo(const char *path, struct nara_err *err)
{
	if (!store_pg_is_conninfo(path))
		return 0;
	return nara_err_set(err, NR_STORE_FAILED, "store", "the store path is "
	    "a PostgreSQL conninfo, not a SQLite file (backend = postgresql)");
}

struct store *
store_open(const char *path, const struct store_options *opt,
    struct nara_err *err)
{
	const struct store_ops *ops = backend_find(opt != NULL ? opt->backend
	    : NULL, err);
	struct store *st;

	if (ops == NULL)
		return NULL;
	if (ops == &store_sqlite_ops && not_a_conninfo(path, err) != 0)
		return NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
		return NULL;
	}
	st->ops = ops;
	if ((st->be = ops->open(path, opt, st, err)) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

void
store_free(struct store **st)
{
	if (st == NULL || *st == NULL)
		return;
	(void)be_of(*st);
	(*st)->ops->free(&(*st)->be);
	free(*st);
	*st = NULL;
}

int
store_head_file_check(struct store *st, struct nara_err *err)
{
	return st->ops->head_file_check(be_of(st), err);
}

int
store_begin(struct store *st, struct nara_err *err)
{
	return st->ops->begin(be_of(st), err);
}

int
store_commit(struct store *st, struct nara_err *err)
{
	return st->ops->commit(be_of(st), err);
}

int
store_commit_send(struct store *st, struct nara_err *err)
{
	struct store_be *be = be_of(st);
	int rc;

	if (st->ops->commit_send == NULL)
		return st->ops->commit(be, err);
	if ((rc = st->ops->commit_send(be, err)) == 1) {
		st->sent = true;
		st->taken = false;
	}
	return rc;
}

int
store_commit_take(struct store *st, struct nara_err *err)
{
	if (!st->sent)
		return nara_err_set(err, NR_STORE_FAILED, "store", "no commit "
		    "was sent");
	if (!st->taken)
		st->taken_rc = st->ops->commit_take(st->be, &st->taken_err);
	st->sent = st->taken = false;
	if (st->taken_rc != 0 && err != NULL)
		*err = st->taken_err;
	return st->taken_rc;
}

int
store_commit_fd(struct store *st)
{
	return st->sent && !st->taken && st->ops->commit_fd != NULL ?
	    st->ops->commit_fd(st->be) : -1;
}

int
store_idle_fd(struct store *st)
{
	return st->ops->idle_fd != NULL ? st->ops->idle_fd(st->be) : -1;
}

void
store_on_taken(struct store *st, void (*cb)(void *arg), void *arg)
{
	st->on_taken = cb;
	st->on_taken_arg = arg;
}

void
store_rollback(struct store *st)
{
	st->ops->rollback(be_of(st));
}

int
store_accept(struct store *st, struct store_msg *m, int64_t now,
    enum store_accept_result *res, struct nara_err *err)
{
	return st->ops->accept(be_of(st), m, now, res, err);
}

int
store_audit_rejected(struct store *st, const struct store_msg *m,
    const char *node, const char *code, const char *text, int64_t now)
{
	return st->ops->audit_rejected(be_of(st), m, node, code, text, now);
}

int
store_audit_event(struct store *st, const char *event, const char *node,
    const char *detail, int64_t now)
{
	return st->ops->audit_event(be_of(st), event, node, detail, now);
}

int
store_audit_event_coded(struct store *st, const char *event, const char *node,
    const char *code, const char *detail, int64_t now)
{
	return st->ops->audit_event_coded(be_of(st), event, node, code, detail,
	    now);
}

int
store_queue_load(struct store *st, const char *node, int64_t after_seq,
    int limit, store_msg_fn fn, void *arg)
{
	return st->ops->queue_load(be_of(st), node, after_seq, limit, fn, arg);
}

int
store_delivering(struct store *st, int64_t seq, int attempt, const char *node,
    int64_t now)
{
	return st->ops->delivering(be_of(st), seq, attempt, node, now);
}

int
store_acked(struct store *st, const char *message_id, const char *node,
    int64_t now, bool *was_new)
{
	return st->ops->acked(be_of(st), 0, message_id, node, now, was_new);
}

int
store_acked_seq(struct store *st, int64_t seq, const char *message_id,
    const char *node, int64_t now, bool *was_new)
{
	return st->ops->acked(be_of(st), seq, message_id, node, now, was_new);
}

int
store_dead_letter(struct store *st, const char *message_id, const char *code,
    const char *text, bool expired, const char *node, int64_t now)
{
	return st->ops->dead_letter(be_of(st), message_id, code, text, expired,
	    node, now);
}

int
store_expired_load(struct store *st, int64_t now, int limit, store_msg_fn fn,
    void *arg)
{
	return st->ops->expired_load(be_of(st), now, limit, fn, arg);
}

int
store_loads(struct store *st, struct store_load *v, size_t n)
{
	bool all = true;
	int rc;

	for (size_t i = 0; i < n; i++)
		all = all && !v[i].no_msgs;
	if (all && st->ops->loads != NULL &&
	    (rc = st->ops->loads(be_of(st), v, n)) != 1)
		return rc;
	for (size_t i = 0; i < n; i++) {
		v[i].rcpts = st->ops->receipts_load(be_of(st), v[i].node,
		    v[i].rcpt_after, v[i].limit, v[i].rfn, v[i].arg);
		if (v[i].rcpts < 0)
			return -1;
		v[i].msgs = v[i].no_msgs ? 0 : st->ops->queue_load(be_of(st),
		    v[i].node, v[i].msg_after, v[i].limit, v[i].mfn, v[i].arg);
		if (v[i].msgs < 0)
			return -1;
	}
	return 0;
}

int
store_receipts_load(struct store *st, const char *node, int64_t after_id,
    int limit, store_receipt_fn fn, void *arg)
{
	return st->ops->receipts_load(be_of(st), node, after_id, limit, fn, arg);
}

int
store_receipt_sent(struct store *st, int64_t id, int64_t now)
{
	return st->ops->receipt_sent(be_of(st), id, now);
}

int
store_receipt_acked(struct store *st, const char *node, const char *message_id,
    int64_t now)
{
	return st->ops->receipt_acked(be_of(st), node, message_id, now);
}

int
store_retry(struct store *st, const char *message_id, const char *operator,
    int64_t now, struct nara_err *err)
{
	return st->ops->retry(be_of(st), message_id, operator, now, err);
}

int64_t
store_seq_high(struct store *st)
{
	return st->ops->seq_high != NULL ? st->ops->seq_high(be_of(st)) : -1;
}

int
store_queue_seqs(struct store *st, const char *node, const int64_t *seq,
    int n, store_msg_fn fn, void *arg)
{
	if (st->ops->queue_seqs == NULL)
		return -1;
	return st->ops->queue_seqs(be_of(st), node, seq, n, fn, arg);
}

int
store_queue_walk(struct store *st, int64_t after, int64_t upto, int max,
    store_floor_fn fn, void *arg)
{
	if (st->ops->queue_walk == NULL)
		return -1;
	return st->ops->queue_walk(be_of(st), after, upto, max, fn, arg);
}

int
store_node_stats(struct store *st, store_stats_fn fn, void *arg)
{
	return st->ops->node_stats(be_of(st), fn, arg);
}

int
store_totals(struct store *st, struct store_totals *t)
{
	return st->ops->totals(be_of(st), t);
}

int
store_audit_verify(struct store *st, int64_t *bad_seq, struct nara_err *err)
{
	return st->ops->audit_verify(be_of(st), bad_seq, err);
}

int
store_pseudonym(const struct store *st, const char *personal_number,
    char hex[65])
{
	return st->ops->pseudonym(st->be, personal_number, hex);
}

int
store_queue_list(struct store *st, const char *address, int limit,
    store_meta_fn fn, void *arg)
{
	return st->ops->queue_list(be_of(st), address, limit, fn, arg);
}

int
store_dead_list(struct store *st, int limit, store_meta_fn fn, void *arg)
{
	return st->ops->dead_list(be_of(st), limit, fn, arg);
}

int
store_msg_meta(struct store *st, const char *message_id, store_meta_fn fn,
    void *arg)
{
	return st->ops->msg_meta(be_of(st), message_id, fn, arg);
}

void
store_set_signer(struct store *st, const struct audit_key *key,
    int64_t interval, int64_t retention)
{
	st->ops->set_signer(be_of(st), key, interval, retention);
}

void
store_set_batch_frames(struct store *st, unsigned frames)
{
	if (st->ops->set_batch_frames != NULL)
		st->ops->set_batch_frames(be_of(st), frames);
}

int
store_maintain(struct store *st, int64_t now, struct nara_err *err)
{
	return st->ops->maintain(be_of(st), now, err);
}

int
store_checkpoint(struct store *st, const struct audit_key *key, int64_t now,
    struct nara_err *err)
{
	return st->ops->checkpoint(be_of(st), key, now, err);
}

int
store_audit_subject(struct store *st, const char *event, const char *subject,
    const char *author, const char *detail, int64_t now, struct nara_err *err)
{
	return st->ops->audit_subject(be_of(st), event, subject, author, detail,
	    now, err);
}

int
store_audit_review(struct store *st, const char *message_id,
    const char *reviewer, const char *conclusion, int64_t now,
    struct nara_err *err)
{
	return st->ops->audit_review(be_of(st), message_id, reviewer, conclusion,
	    now, err);
}

int
store_audit_prune(struct store *st, const struct audit_key *key, int64_t before,
    int64_t max_rows, int64_t now, const char *by, int64_t *cut_seq,
    int64_t *deleted, struct nara_err *err)
{
	return st->ops->audit_prune(be_of(st), key, before, max_rows, now, by,
	    cut_seq, deleted, err);
}

/* Facts out of rows: the caller's function sees each fact a row records,
 * the ones its event and node filters select. */
struct facts_walk {
	const struct store_audit_filter *f;
	bool filter;               /* event/node left to this walk */
	store_audit_fn fn;
	void *arg;
	int64_t calls;
};

static bool
same_or_any(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

static int
facts_one(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	struct facts_walk *w = arg;
	struct audit_row facts[AUDIT_FACTS_MAX];
	int n = audit_row_facts(r, facts), rc;

	for (int i = 0; i < n; i++) {
		if (w->filter && (!same_or_any(w->f->event, facts[i].event) ||
		    !same_or_any(w->f->node, facts[i].node)))
			continue;
		w->calls++;
		if ((rc = w->fn(w->arg, &facts[i], prev_hash, hash)) != 0)
			return rc;
	}
	return 0;
}

/* A fact a folded row records under another event or node. */
static bool
folded_event(const char *event)
{
	return event != NULL && (strcmp(event, "payload_purged") == 0 ||
	    strcmp(event, "receipt_queued") == 0);
}

int64_t
store_audit_rows(struct store *st, const struct store_audit_filter *f,
    store_audit_fn fn, void *arg, struct nara_err *err)
{
	struct store_audit_filter wide = *f;
	struct facts_walk w = { .f = f, .fn = fn, .arg = arg };

	if (f->rows)
		return st->ops->audit_rows(be_of(st), f, fn, arg, err);
	/* The receipt_queued fact of a folded row carries the sender's node,
	 * the row the recipient's: the backend selects without the node (and
	 * without an event the row does not name), this walk selects facts. */
	if (f->select == STORE_AUDIT_MATCH && (f->node != NULL ||
	    folded_event(f->event))) {
		w.filter = true;
		wide.node = NULL;
		if (folded_event(f->event))
			wide.event = NULL;
	}
	if (st->ops->audit_rows(be_of(st), &wide, facts_one, &w, err) < 0)
		return -1;
	return w.calls;
}

int
store_audit_checkpoints(struct store *st, const char *kind, store_ckpt_fn fn,
    void *arg, struct nara_err *err)
{
	return st->ops->audit_checkpoints(be_of(st), kind, fn, arg, err);
}

int
store_audit_hash(struct store *st, int64_t seq, uint8_t hash[32])
{
	return st->ops->audit_hash(be_of(st), seq, hash);
}

int
store_audit_head(struct store *st, int64_t *seq, uint8_t hash[32],
    struct nara_err *err)
{
	return st->ops->audit_head(be_of(st), seq, hash, err);
}

int
store_replication(struct store *st, int *sync_standbys)
{
	return st->ops->replication(be_of(st), sync_standbys);
}

void
store_costs(struct store *st, struct store_costs *out)
{
	memset(out, 0, sizeof(*out));
	if (st != NULL && st->ops->costs != NULL)
		st->ops->costs(be_of(st), out);
}

bool
store_ahead(struct store *st)
{
	return st != NULL && st->ops->ahead != NULL && st->ops->ahead(be_of(st));
}

int
store_settle(struct store *st, struct nara_err *err)
{
	if (st == NULL || st->ops->settle == NULL)
		return 0;
	return st->ops->settle(be_of(st), err);
}

int
store_read_begin(struct store *st, bool *own, struct nara_err *err)
{
	return st->ops->read_begin(be_of(st), own, err);
}

void
store_read_end(struct store *st, bool own)
{
	st->ops->read_end(be_of(st), own);
}

int
store_check_backend(const char *backend, const char *path, bool *absent,
    struct nara_err *err)
{
	struct store_options opt = { .backend = backend, .read_only = true };
	struct store *st;

	*absent = false;
	if (backend == NULL || strcmp(backend, "postgresql") != 0)
		return not_a_conninfo(path, err) != 0 ? -1
		    : store_check(path, absent, err);
	if ((st = store_open(path, &opt, err)) != NULL) {
		store_free(&st);
		return 0;
	}
	/* an empty database: narad creates the tables at its first start */
	if (strstr(err->text, "holds no nara store") != NULL) {
		*absent = true;
		return 0;
	}
	return -1;
}

int
store_lease(struct store *st, const char *instance, int64_t ttl_ms,
    struct store_lease *l, struct nara_err *err)
{
	if (st->ops->lease == NULL) {
		l->active = false;
		return nara_err_set(err, NR_STORE_FAILED, "lease", "the %s store "
		    "cannot be shared by several narads ([ha] needs the "
		    "postgresql backend)", st->ops->name);
	}
	return st->ops->lease(be_of(st), instance, ttl_ms, l, err);
}

int
store_lease_release(struct store *st, const char *instance,
    struct nara_err *err)
{
	if (st->ops->lease_release == NULL)
		return nara_err_set(err, NR_STORE_FAILED, "lease", "the %s store "
		    "has no lease", st->ops->name);
	return st->ops->lease_release(be_of(st), instance, err);
}
