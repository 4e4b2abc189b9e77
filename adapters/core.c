/*
 * core.c — what the adapter does with a message, whichever backend the
 * local system uses:
 *
 *   outgoing  local system -> outbox (committed) -> confirmation to the
 *             local system -> submit when the link is up -> accepted
 *             (done) / rejected (reported) / retryable (retried later);
 *   incoming  deliver -> handoff.c (exactly once into the local system,
 *             intent recorded first) -> ack, or nack when the local
 *             system refuses it for good;
 *   receipts  recorded on the outbox row (the spool file moves to sent/
 *             even when narad's accepted was lost), handed off, acked.
 */
#include "adapter.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pbjson.h"
#include "validate.h"

#define ID_LEN 40

/* A small list of message ids (submits in flight). */
struct idlist {
	char (*v)[ID_LEN];
	size_t n, cap;
};

struct adapter {
	struct event_base *base;
	struct adapter_config *cfg;
	struct outbox *ob;
	struct link *link;
	const struct backend_ops *ops;
	void *be;
	struct handoffs *hs;
	struct event *tick;
	struct idlist inflight;      /* submitted, not answered; in order */
	struct validate_limits lim;
	int64_t pruned_at;           /* last outbox_prune */
	bool batch;                  /* inside adapter_batch_begin/end */
	bool drop_accepted;          /* test: narad's accepted is "lost" */
	uint64_t broker_max;         /* narad's max_message_bytes, 0 = not yet heard */
	int lock_fd;                 /* STATE.lock, flocked while running */
	char local_error[200];       /* what status shows, "" = ok */
};

static int
idlist_find(const struct idlist *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], id) == 0)
			return (int)i;
	return -1;
}

static int
idlist_add(struct idlist *l, const char *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char (*v)[ID_LEN] = reallocarray(l->v, cap, sizeof(*v));
		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n++], ID_LEN, "%s", id);
	return 0;
}

static void
idlist_remove_at(struct idlist *l, size_t i)
{
	memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(l->v[0]));
	l->n--;
}

int64_t
adapter_now(void)
{
	return (int64_t)time(NULL);
}

struct outbox *
adapter_outbox(struct adapter *a)
{
	return a->ob;
}

const struct adapter_config *
adapter_cfg(const struct adapter *a)
{
	return a->cfg;
}

/* ---------------------------------------------------------------- outgoing */

static void report_outcome(struct adapter *a, const char *id);

/* A stored message larger than narad takes: submitted, its frame would
 * end the connection (PROTOCOL.md, sizes) and the same submit would follow
 * every reconnect, holding up all the node's traffic. It is refused here
 * for good, with the code narad would give. */
static void
refuse_too_large(struct adapter *a, const char *id, size_t len)
{
	char text[160];

	snprintf(text, sizeof(text), "%zu bytes; narad accepts at most %llu",
	    len, (unsigned long long)a->broker_max);
	log_warn("%s is too large for narad: %s; rejected: %s", id, text,
	    nara_code_id(NR_TOO_LARGE));
	if (outbox_rejected(a->ob, id, nara_code_id(NR_TOO_LARGE), text,
	    adapter_now()) == 0)
		report_outcome(a, id);
}

static int
on_due(void *arg, int64_t seq, const char *id, const uint8_t *env, size_t len)
{
	struct adapter *a = arg;

	if (idlist_find(&a->inflight, id) >= 0)
		return 0;
	if (a->inflight.n >= a->cfg->submit_window)
		return 1;
	if (env != NULL && a->broker_max > 0 && len > a->broker_max) {
		refuse_too_large(a, id, len);
		return 0;
	}
	if (env == NULL || link_submit(a->link, env, len) != 0 ||
	    idlist_add(&a->inflight, id) != 0)
		return 1;
	log_debug("submitted %s", id);
	return 0;
}

/* Send what is due, in order of storage, within the submit window. */
static void
pump(struct adapter *a)
{
	if (!link_is_up(a->link) || a->inflight.n >= a->cfg->submit_window)
		return;
	outbox_due(a->ob, adapter_now(), 0,
	    (int)(a->cfg->submit_window + a->inflight.n), on_due, a);
}

int
adapter_batch_begin(struct adapter *a)
{
	if (a->batch || outbox_begin(a->ob) != 0)
		return -1;
	a->batch = true;
	return 0;
}

int
adapter_batch_end(struct adapter *a)
{
	int rc = outbox_commit(a->ob);

	a->batch = false;
	if (rc != 0)
		outbox_rollback(a->ob);
	pump(a);
	return rc;
}

int
adapter_store_local(struct adapter *a, const Nara__Envelope *env,
    const char *source, struct nara_err *err, enum outbox_state *state)
{
	struct outbox_row row;
	size_t len = nara__envelope__get_packed_size(env);
	uint8_t *buf;
	int rc;

	if (len > a->cfg->max_message_bytes)
		return nara_err_set(err, NR_TOO_LARGE, "envelope", "%zu bytes; "
		    "at most %llu", len, (unsigned long long)a->cfg->max_message_bytes);
	if (a->broker_max > 0 && len > a->broker_max)
		return nara_err_set(err, NR_TOO_LARGE, "envelope", "%zu bytes; "
		    "narad accepts at most %llu", len,
		    (unsigned long long)a->broker_max);
	if (validate_envelope(env, &a->lim, adapter_now(), err) != 0)
		return -1;
	if ((buf = malloc(len ? len : 1)) == NULL)
		return nara_err_set(err, NR_IO, "", "out of memory");
	nara__envelope__pack(env, buf);
	rc = outbox_put(a->ob, env->message_id, buf, len, source,
	    adapter_now(), err);
	free(buf);
	if (rc < 0)
		return -1;
	if (rc == OUTBOX_CONFLICT)
		return nara_err_set(err, NR_DUPLICATE_CONFLICT, "envelope.message_id",
		    "message %s was stored earlier with other content",
		    env->message_id);
	*state = OUTBOX_QUEUED;
	if (rc == OUTBOX_SAME && outbox_get(a->ob, env->message_id, &row) == 1) {
		*state = row.state;
		outbox_row_clear(&row);
	}
	if (rc == OUTBOX_NEW)
		log_info("stored %s from the local system%s%s", env->message_id,
		    source[0] ? ": " : "", source);
	if (!a->batch)
		pump(a);
	return 0;
}

static void
report_outcome(struct adapter *a, const char *id)
{
	struct outbox_row row;

	if (outbox_get(a->ob, id, &row) == 1) {
		a->ops->outcome(a->be, &row);
		outbox_row_clear(&row);
	}
}

/* A retryable refusal: back off retry_min * 2^attempts, at most retry_max. */
static void
retry_later(struct adapter *a, const char *id, const Nara__Rejected *rej)
{
	struct outbox_row row;
	uint64_t delay = a->cfg->retry_min;
	int attempts = 0;

	if (outbox_get(a->ob, id, &row) == 1) {
		attempts = row.attempts;
		outbox_row_clear(&row);
	}
	for (int i = 0; i < attempts && delay < a->cfg->retry_max; i++)
		delay *= 2;
	if (delay > a->cfg->retry_max)
		delay = a->cfg->retry_max;
	log_warn("narad refused %s for now: %s %s; retrying in %llus", id,
	    rej->code, rej->text, (unsigned long long)delay);
	outbox_retry(a->ob, id, rej->code, rej->text,
	    adapter_now() + (int64_t)delay, adapter_now());
}

static void
on_answer(void *arg, const char *id, const Nara__Rejected *rej, bool dup)
{
	struct adapter *a = arg;
	int i = idlist_find(&a->inflight, id);
	char mid[ID_LEN];

	if (id[0] == '\0') {
		/* narad names no message when it could not tell which frame
		 * it refuses (a frame it cannot decode, an invalid ack or
		 * nack): marking the oldest submit would refuse a message
		 * narad may have accepted. Nothing is marked. */
		log_error("narad refused a frame without naming a message: %s "
		    "%s", rej != NULL ? rej->code : "", rej != NULL ? rej->text :
		    "");
		return;
	}
	if (i < 0) {
		log_warn("answer for %s, which is not in flight; ignored", id);
		return;
	}
	if (rej == NULL && a->drop_accepted) {
		log_warn("test: narad's accepted for %s dropped", id);
		return;
	}
	snprintf(mid, sizeof(mid), "%s", a->inflight.v[i]);
	idlist_remove_at(&a->inflight, (size_t)i);
	if (rej == NULL) {
		log_info("narad accepted %s%s", mid, dup ? " (duplicate)" : "");
		outbox_accepted(a->ob, mid, adapter_now());
		report_outcome(a, mid);
	} else if (rej->retryable) {
		retry_later(a, mid, rej);
	} else {
		log_warn("narad rejected %s: %s %s %s", mid, rej->code,
		    rej->path ? rej->path : "", rej->text);
		outbox_rejected(a->ob, mid, rej->code, rej->text, adapter_now());
		report_outcome(a, mid);
	}
	pump(a);
}

/* ---------------------------------------------------------------- link */

static void
set_link_meta(struct adapter *a, const char *state, const char *broker)
{
	char t[32];

	time_format(adapter_now(), t, sizeof(t));
	outbox_meta_set(a->ob, "link", state);
	outbox_meta_set(a->ob, "link_since", t);
	if (broker != NULL)
		outbox_meta_set(a->ob, "broker_id", broker);
}

static void
on_up(void *arg, const Nara__Welcome *w)
{
	struct adapter *a = arg;

	a->inflight.n = 0;
	a->broker_max = w->max_message_bytes;
	set_link_meta(a, "up", w->broker_id);
	pump(a);
}

static void
on_down(void *arg)
{
	struct adapter *a = arg;

	/* Unanswered submits are sent again after the next hello; narad
	 * answers a repeated message with duplicate = true. */
	a->inflight.n = 0;
	set_link_meta(a, "down", NULL);
}

/* ---------------------------------------------------------------- incoming */

/* Print msg as JSON and offer it through handoff.c; no ack on failure. */
static void
offer_pb(struct adapter *a, enum handoff_kind kind, const char *id,
    const ProtobufCMessage *msg)
{
	char *json = pbjson_print(msg);

	if (json == NULL) {
		log_error("out of memory handing off %s", id);
		return;
	}
	handoffs_offer(a->hs, kind, id, json);
	free(json);
}

void
adapter_offer(struct adapter *a, enum handoff_kind kind, const char *id,
    const char *json)
{
	handoffs_offer(a->hs, kind, id, json);
}

void
adapter_handoff_done(struct adapter *a, enum handoff_kind kind,
    const char *id, enum handoff_result res, const char *text)
{
	handoffs_done(a->hs, kind, id, res, text);
}

static void
on_deliver(void *arg, const Nara__Envelope *env, unsigned attempt)
{
	struct adapter *a = arg;
	struct nara_err err = { 0 };
	const char *id = env->message_id ? env->message_id : "";

	if (validate_uuid(id, &err, "envelope.message_id") != 0 ||
	    validate_envelope(env, &a->lim, 0, &err) != 0) {
		log_warn("delivered message %s is invalid: %s %s; refusing it",
		    id, nara_code_id(err.code), err.text);
		link_nack(a->link, id, err.code, err.text);
		return;
	}
	log_debug("message %s delivered (attempt %u)", id, attempt);
	offer_pb(a, HK_MESSAGE, id, &env->base);
}

/* A receipt for a message whose receipt was handed off before, with
 * another outcome: the message failed, an operator retried it, and now it
 * is delivered. The new outcome is recorded and handed off as well. */
static bool
receipt_changed(struct adapter *a, const char *id, const Nara__Receipt *r)
{
	enum outbox_state now = r->outcome == NARA__OUTCOME__OUTCOME_DELIVERED ?
	    OUTBOX_DELIVERED : OUTBOX_FAILED;
	struct outbox_row row;
	bool changed = false;

	if (outbox_get(a->ob, id, &row) == 1) {
		changed = row.state != now && (row.state == OUTBOX_DELIVERED ||
		    row.state == OUTBOX_FAILED);
		outbox_row_clear(&row);
	}
	if (changed) {
		log_info("receipt for %s again, now %s (retried)", id,
		    outbox_state_name(now));
		outbox_handed_reset(a->ob, "receipt", id);
	}
	return changed;
}

/*
 * A receipt settles the outbox row whatever became of narad's accepted
 * (lost in a narad crash, the receipt may come first): the submit is no
 * longer in flight and the backend hears the outcome (spool: the file
 * moves to sent/).
 */
static void
on_receipt(void *arg, const Nara__Receipt *r)
{
	struct adapter *a = arg;
	const char *id = r->message_id ? r->message_id : "";
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
	    &nara__outcome__descriptor, (int)r->outcome);
	bool coded = r->code != NULL && r->code[0] != '\0';
	char *json;
	char t[32];
	int seen, i;

	if ((seen = outbox_handed_seen(a->ob, "receipt", id)) < 0)
		return;
	if (seen && !receipt_changed(a, id, r)) {
		link_ack(a->link, id, true);
		return;
	}
	/* One commit for the row and the status facts. Not recorded, the
	 * receipt is neither handed off nor acked: narad delivers it again
	 * (handed off and acked, the row would stay "accepted" for good). */
	if ((json = pbjson_print(&r->base)) == NULL) {
		log_error("out of memory recording the receipt for %s; narad "
		    "will deliver it again", id);
		return;
	}
	time_format(adapter_now(), t, sizeof(t));
	if (outbox_begin(a->ob) != 0 || outbox_receipt(a->ob, id,
	    r->outcome == NARA__OUTCOME__OUTCOME_DELIVERED ? OUTBOX_DELIVERED :
	    OUTBOX_FAILED, r->code, r->text, json, adapter_now()) != 0 ||
	    outbox_meta_set(a->ob, "last_receipt", t) != 0 ||
	    outbox_meta_set(a->ob, "last_receipt_id", id) != 0 ||
	    outbox_commit(a->ob) != 0) {
		outbox_rollback(a->ob);
		free(json);
		log_error("cannot record the receipt for %s; narad will deliver "
		    "it again", id);
		return;
	}
	free(json);
	log_info("receipt for %s: %s%s%s", id, ev ? ev->name : "unknown outcome",
	    coded ? " " : "", coded ? r->code : "");
	if ((i = idlist_find(&a->inflight, id)) >= 0)
		idlist_remove_at(&a->inflight, (size_t)i);
	report_outcome(a, id);
	offer_pb(a, HK_RECEIPT, id, &r->base);
	pump(a);
}

void
adapter_local_error(struct adapter *a, const char *text)
{
	char t[32];

	if (text == NULL)
		text = "";
	if (strcmp(a->local_error, text) == 0 || a->batch ||
	    outbox_begin(a->ob) != 0)
		return;   /* unchanged, or said at the next change */
	time_format(adapter_now(), t, sizeof(t));
	outbox_meta_set(a->ob, "local_error", text);
	outbox_meta_set(a->ob, "local_error_since", text[0] ? t : "");
	if (outbox_commit(a->ob) != 0)
		outbox_rollback(a->ob);
	else
		snprintf(a->local_error, sizeof(a->local_error), "%s", text);
}

void
adapter_test_stop(const char *point)
{
	static const char *want;
	static bool looked;

	if (!looked) {
		want = getenv("NARA_TEST_HANDOFF_STOP");
		looked = true;
	}
	if (want != NULL && strcmp(want, point) == 0)
		raise(SIGSTOP);
}

/* ---------------------------------------------------------------- setup */

/* Once a second: send what became due. Once an hour: forget settled
 * messages older than the retention time. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct adapter *a = arg;
	int64_t now = adapter_now();
	long n;

	pump(a);
	if (now - a->pruned_at < 3600)
		return;
	a->pruned_at = now;
	if ((n = outbox_prune(a->ob, now - (int64_t)a->cfg->retention)) > 0)
		log_info("forgot %ld settled messages and hand-offs older than "
		    "%llu days", n, (unsigned long long)(a->cfg->retention / 86400));
}

/*
 * One adapter per state file: STATE.lock is flocked while the adapter runs
 * (the kernel lets go of it however the process ends) and holds its pid,
 * so status can tell a running adapter from a killed one.
 */
static int
lock_state(struct adapter *a, struct nara_err *err)
{
	char path[1100], pid[32];
	int n;

	snprintf(path, sizeof(path), "%s.lock", a->cfg->state);
	if ((a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return nara_err_set(err, NR_IO, "", "%s: %s", path, strerror(errno));
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return nara_err_set(err, NR_IO, "", "%s: %s", path,
		    errno == EWOULDBLOCK ? "another nara-adapter runs with this "
		    "state file" : strerror(errno));
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(a->lock_fd, 0) != 0 || pwrite(a->lock_fd, pid, (size_t)n,
	    0) != n)
		log_warn("%s: cannot write the pid: %s", path, strerror(errno));
	return 0;
}

static int
open_parts(struct adapter *a, struct link_hooks *hooks, struct nara_err *err)
{
	struct adapter_config *cfg = a->cfg;
	struct timeval sec = { 1, 0 };

	if (lock_state(a, err) != 0 ||
	    (a->ob = outbox_open(cfg->state, false, err)) == NULL)
		return -1;
	/* what the last run left: clearing it must be seen as a change */
	outbox_meta_get(a->ob, "local_error", a->local_error,
	    sizeof(a->local_error));
	set_link_meta(a, "connecting", NULL);
	if ((a->link = link_new(a->base, cfg, hooks, err)) == NULL)
		return -1;
	a->be = cfg->backend == BACKEND_HTTP ? http_new(a->base, a, err) :
	    spool_new(a->base, a, err);
	if (a->be == NULL || (a->hs = handoffs_new(a->base, a->ob, a->link,
	    a->ops, a->be, err)) == NULL)
		return -1;
	if ((a->tick = event_new(a->base, -1, EV_PERSIST, on_tick, a)) == NULL ||
	    event_add(a->tick, &sec) != 0)
		return nara_err_set(err, NR_IO, "", "event loop setup failed");
	a->ops->start(a->be);
	return 0;
}

struct adapter *
adapter_new(struct event_base *base, struct adapter_config *cfg,
    struct nara_err *err)
{
	struct adapter *a = calloc(1, sizeof(*a));
	struct link_hooks hooks = { on_up, on_down, on_answer, on_deliver,
		on_receipt, NULL };

	if (a == NULL) {
		nara_err_set(err, NR_IO, "", "out of memory");
		return NULL;
	}
	a->base = base;
	a->cfg = cfg;
	a->lock_fd = -1;
	validate_limits_default(&a->lim);
	a->lim.max_message_bytes = (size_t)cfg->max_message_bytes;
	hooks.arg = a;
	a->ops = cfg->backend == BACKEND_HTTP ? &http_ops : &spool_ops;
	/* test only: simulates an accepted lost in a narad crash */
	a->drop_accepted = getenv("NARA_TEST_DROP_ACCEPTED") != NULL;
	if (open_parts(a, &hooks, err) != 0) {
		adapter_free(&a);
		return NULL;
	}
	return a;
}

void
adapter_free(struct adapter **ap)
{
	struct adapter *a;

	if (ap == NULL || (a = *ap) == NULL)
		return;
	if (a->tick)
		event_free(a->tick);
	handoffs_free(&a->hs);
	if (a->be)
		a->ops->free(&a->be);
	link_free(&a->link);
	if (a->ob) {
		set_link_meta(a, "stopped", NULL);
		outbox_free(&a->ob);
	}
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	free(a->inflight.v);
	adapter_config_free(&a->cfg);
	free(a);
	*ap = NULL;
}

void
adapter_reload(struct adapter *a, const struct adapter_config *cfg)
{
	a->cfg->log_level = cfg->log_level;
	a->cfg->retry_min = cfg->retry_min;
	a->cfg->retry_max = cfg->retry_max;
	a->cfg->submit_window = cfg->submit_window;
	a->cfg->webhook_timeout = cfg->webhook_timeout;
	if (a->link != NULL)
		link_reload(a->link, cfg);
}

/* ---------------------------------------------------------------- files */

int
adapter_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
adapter_write_temp(const char *dir, const char *name, const char *data,
    size_t len, struct nara_err *err)
{
	char tmp[1024];
	size_t off = 0;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
		return nara_err_set(err, NR_IO, "", "%s: %s", tmp, strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	nara_err_set(err, NR_IO, "", "%s: %s", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);   /* after the error is taken: close may change errno */
	unlink(tmp);
	return -1;
}

int
adapter_write_atomic(const char *dir, const char *name, const char *data,
    size_t len, struct nara_err *err)
{
	char tmp[1024], path[1024];

	if (adapter_write_temp(dir, name, data, len, err) != 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (rename(tmp, path) != 0 || adapter_fsync_dir(dir) != 0)
		return nara_err_set(err, NR_IO, "", "%s: %s", path, strerror(errno));
	return 0;
}
