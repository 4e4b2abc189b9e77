/*
 * core.c — what the adapter does with a message, whichever backend the
 * local system uses:
 *
 *   outgoing  local system -> outbox (committed) -> confirmation to the
 *             local system -> submit when the link is up -> accepted
 *             (done) / rejected (reported) / retryable (retried later);
 *   incoming  deliver -> already handed off? ack : hand off -> recorded ->
 *             ack (or nack when the local system refuses it for good);
 *             the hand-offs completed in one turn of the event loop are
 *             recorded in one transaction (one fsync), then acked;
 *   receipts  recorded on the outbox row, handed off, then acked.
 */
#include "adapter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pbjson.h"
#include "validate.h"

#define ID_LEN 40

/* A completed hand-off waiting to be recorded, then acked or nacked. */
struct handed {
	bool is_receipt, refused;
	char id[ID_LEN];
	char text[200];
};

/* A small list of message ids (submits in flight, hand-offs pending). */
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
	struct event *tick;
	struct idlist inflight;      /* submitted, not answered; in order */
	struct idlist pending;       /* hand-offs under way ("m:"/"r:" + id) */
	struct handed *done;         /* completed, not yet recorded and acked */
	size_t n_done, cap_done;
	struct event *record;        /* records `done` after this loop turn */
	struct validate_limits lim;
	int64_t pruned_at;           /* last outbox_prune */
	bool batch;                  /* inside adapter_batch_begin/end */
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
		char (*v)[ID_LEN] = realloc(l->v, cap * sizeof(*v));
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

static void
pending_key(char out[ID_LEN], bool is_receipt, const char *id)
{
	snprintf(out, ID_LEN, "%s:%.36s", is_receipt ? "r" : "m", id);
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

static int
on_due(void *arg, int64_t seq, const char *id, const uint8_t *env, size_t len)
{
	struct adapter *a = arg;

	if (idlist_find(&a->inflight, id) >= 0)
		return 0;
	if (a->inflight.n >= a->cfg->submit_window)
		return 1;
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
    const char *source, struct nara_err *err, enum out_state *state)
{
	struct outbox_row row;
	size_t len = nara__envelope__get_packed_size(env);
	uint8_t *buf;
	int rc;

	if (len > a->cfg->max_message_bytes)
		return nara_err_set(err, NR_TOO_LARGE, "envelope", "%zu bytes; "
		    "at most %llu", len, (unsigned long long)a->cfg->max_message_bytes);
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
	*state = OUT_QUEUED;
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

	if (i < 0 && id[0] == '\0' && a->inflight.n > 0)
		i = 0;   /* answers come in submission order */
	if (i < 0) {
		log_warn("answer for %s, which is not in flight; ignored", id);
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

static void
start_handoff(struct adapter *a, bool is_receipt, const char *id,
    const ProtobufCMessage *msg)
{
	char key[ID_LEN];
	char *json;

	pending_key(key, is_receipt, id);
	if (idlist_find(&a->pending, key) >= 0)
		return;   /* still under way; acked when it completes */
	if ((json = pbjson_print(msg)) == NULL || idlist_add(&a->pending, key) != 0) {
		log_error("out of memory handing off %s", id);
		free(json);
		return;
	}
	a->ops->handoff(a->be, is_receipt, id, json);
	free(json);
}

static void
on_deliver(void *arg, const Nara__Envelope *env, unsigned attempt)
{
	struct adapter *a = arg;
	struct nara_err err = { 0 };
	const char *id = env->message_id ? env->message_id : "";
	int seen;

	if (validate_uuid(id, &err, "envelope.message_id") != 0 ||
	    validate_envelope(env, &a->lim, 0, &err) != 0) {
		log_warn("delivered message %s is invalid: %s %s; refusing it",
		    id, nara_code_id(err.code), err.text);
		link_nack(a->link, id, err.code, err.text);
		return;
	}
	if ((seen = outbox_handed_seen(a->ob, "message", id)) < 0)
		return;   /* state unusable: no ack, narad delivers again */
	if (seen) {
		log_info("message %s (attempt %u) was handed off before; acking",
		    id, attempt);
		link_ack(a->link, id, false);
		return;
	}
	start_handoff(a, false, id, &env->base);
}

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
	int seen;

	if ((seen = outbox_handed_seen(a->ob, "receipt", id)) < 0)
		return;
	if (seen) {
		link_ack(a->link, id, true);
		return;
	}
	/* One commit for the row and the status facts. */
	outbox_begin(a->ob);
	if ((json = pbjson_print(&r->base)) != NULL) {
		outbox_receipt(a->ob, id, r->outcome == NARA__OUTCOME__OUTCOME_DELIVERED ?
		    OUT_DELIVERED : OUT_FAILED, r->code, r->text, json,
		    adapter_now());
		free(json);
	}
	time_format(adapter_now(), t, sizeof(t));
	outbox_meta_set(a->ob, "last_receipt", t);
	outbox_meta_set(a->ob, "last_receipt_id", id);
	if (outbox_commit(a->ob) != 0)
		outbox_rollback(a->ob);
	log_info("receipt for %s: %s%s%s", id, ev ? ev->name : "unknown outcome",
	    coded ? " " : "", coded ? r->code : "");
	start_handoff(a, true, id, &r->base);
}

/* Forget a pending hand-off, so a redelivery starts it again. */
static void
pending_remove(struct adapter *a, bool is_receipt, const char *id)
{
	char key[ID_LEN];
	int i;

	pending_key(key, is_receipt, id);
	if ((i = idlist_find(&a->pending, key)) >= 0)
		idlist_remove_at(&a->pending, (size_t)i);
}

/*
 * Record every completed hand-off in one transaction, then ack (or nack)
 * them. When the record fails nothing is acked: narad delivers again and
 * the hand-off is repeated under the same file name or Idempotency-Key.
 */
static void
record_done(evutil_socket_t fd, short what, void *arg)
{
	struct adapter *a = arg;
	int64_t now = adapter_now();
	bool ok = outbox_begin(a->ob) == 0;

	for (size_t i = 0; ok && i < a->n_done; i++)
		ok = outbox_handed_add(a->ob, a->done[i].is_receipt ? "receipt" :
		    "message", a->done[i].id, a->done[i].refused ? "refused" :
		    "handed", now) == 0;
	if (ok)
		ok = outbox_commit(a->ob) == 0;
	if (!ok) {
		outbox_rollback(a->ob);
		log_error("cannot record %zu hand-offs; narad will deliver them "
		    "again", a->n_done);
	}
	for (size_t i = 0; i < a->n_done; i++) {
		struct handed *h = &a->done[i];

		pending_remove(a, h->is_receipt, h->id);
		if (!ok)
			continue;
		if (h->refused && !h->is_receipt) {
			log_warn("local system refused %s: %s; nack %s", h->id,
			    h->text, nara_code_id(NR_LOCAL_SYSTEM_REFUSED));
			link_nack(a->link, h->id, NR_LOCAL_SYSTEM_REFUSED, h->text);
			continue;
		}
		log_info("%s %s handed to the local system", h->is_receipt ?
		    "receipt" : "message", h->id);
		link_ack(a->link, h->id, h->is_receipt);
	}
	a->n_done = 0;
}

void
adapter_handoff_done(struct adapter *a, bool is_receipt, const char *id,
    enum handoff_result res, const char *text)
{
	struct handed *h;

	if (res == HANDOFF_RETRY) {
		pending_remove(a, is_receipt, id);
		return;
	}
	if (a->n_done == a->cap_done) {
		size_t cap = a->cap_done ? a->cap_done * 2 : 64;
		struct handed *v = realloc(a->done, cap * sizeof(*v));

		if (v == NULL) {
			log_error("out of memory recording %s; narad will deliver "
			    "it again", id);
			pending_remove(a, is_receipt, id);
			return;
		}
		a->done = v;
		a->cap_done = cap;
	}
	/* Stays pending until recorded: a redelivery meanwhile waits. */
	h = &a->done[a->n_done++];
	h->is_receipt = is_receipt;
	h->refused = res == HANDOFF_REFUSED;
	snprintf(h->id, sizeof(h->id), "%s", id);
	snprintf(h->text, sizeof(h->text), "%s", text ? text : "");
	if (a->n_done == 1)
		event_active(a->record, 0, 0);
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

struct adapter *
adapter_new(struct event_base *base, struct adapter_config *cfg,
    struct nara_err *err)
{
	struct adapter *a = calloc(1, sizeof(*a));
	struct link_hooks hooks = { on_up, on_down, on_answer, on_deliver,
		on_receipt, NULL };
	struct timeval sec = { 1, 0 };

	if (a == NULL) {
		nara_err_set(err, NR_IO, "", "out of memory");
		return NULL;
	}
	a->base = base;
	a->cfg = cfg;
	validate_limits_default(&a->lim);
	a->lim.max_message_bytes = (size_t)cfg->max_message_bytes;
	hooks.arg = a;
	a->ops = cfg->backend == BACKEND_HTTP ? &http_ops : &spool_ops;
	if ((a->ob = outbox_open(cfg->state, false, err)) == NULL)
		goto fail;
	set_link_meta(a, "connecting", NULL);
	if ((a->link = link_new(base, cfg, &hooks, err)) == NULL)
		goto fail;
	a->be = cfg->backend == BACKEND_HTTP ? http_new(base, a, err) :
	    spool_new(base, a, err);
	if (a->be == NULL)
		goto fail;
	if ((a->record = event_new(base, -1, 0, record_done, a)) == NULL ||
	    (a->tick = event_new(base, -1, EV_PERSIST, on_tick, a)) == NULL ||
	    event_add(a->tick, &sec) != 0) {
		nara_err_set(err, NR_IO, "", "event loop setup failed");
		goto fail;
	}
	return a;
fail:
	adapter_free(&a);
	return NULL;
}

void
adapter_free(struct adapter **ap)
{
	struct adapter *a;

	if (ap == NULL || (a = *ap) == NULL)
		return;
	if (a->tick)
		event_free(a->tick);
	if (a->record) {
		if (a->n_done > 0)
			record_done(-1, 0, a);
		event_free(a->record);
	}
	if (a->be)
		a->ops->free(&a->be);
	link_free(&a->link);
	if (a->ob) {
		set_link_meta(a, "stopped", NULL);
		outbox_free(&a->ob);
	}
	free(a->inflight.v);
	free(a->pending.v);
	free(a->done);
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
}

/* ---------------------------------------------------------------- files */

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
adapter_write_atomic(const char *dir, const char *name, const char *data,
    size_t len, struct nara_err *err)
{
	char tmp[1024], path[1024];
	size_t off = 0;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
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
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) != 0 || fsync_dir(dir) != 0)
		return nara_err_set(err, NR_IO, "", "%s: %s", path, strerror(errno));
	return 0;
fail:
	nara_err_set(err, NR_IO, "", "%s: %s", tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}
