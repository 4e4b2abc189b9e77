/*
 * broker.c — narad's broker core: batches, frame dispatch, replies.
 * Delivery to nodes lives in deliver.c; both share broker_int.h.
 */
#include "broker_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <zmq.h>

#include "counts.h"
#include "log.h"
#include "zmtp.h"
#include "validate.h"
#include "zap.h"

int64_t
broker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Pack a frame and queue it for after the commit. */
int
broker_queue_frame(struct broker *b, const char *node, size_t node_len,
    const Nara__Frame *frame, enum out_kind kind, const char *message_id)
{
	size_t len;
	uint8_t *data = frame_encode(frame, &len);

	if (data == NULL)
		return -1;
	return outq_push(&b->out, node, node_len, kind, message_id, data, len);
}

/* A refusal sent to a configured node's routing id counts for that node
 * (/metrics); a routing id that names no node is not counted per node. */
static void
broker_count_refused(struct broker *b, const char *node, size_t node_len,
    enum nara_code code)
{
	char id[NODE_ID_MAX + 1];
	struct session *s;

	if (node_len == 0 || node_len > NODE_ID_MAX || (int)code < 0 ||
	    code >= NR_CODE_COUNT)
		return;
	memcpy(id, node, node_len);
	id[node_len] = '\0';
	if ((s = session_find(&b->sessions, id)) != NULL)
		s->counts.refused[code]++;
}

void
broker_queue_rejected(struct broker *b, const char *node, size_t node_len,
    const char *message_id, const struct nara_err *err)
{
	Nara__Frame frame = NARA__FRAME__INIT;
	Nara__Rejected rej = NARA__REJECTED__INIT;

	rej.message_id = pb_str(message_id);
	rej.code = pb_str(nara_code_id(err->code));
	rej.text = pb_str(err->text);
	rej.path = pb_str(err->path);
	rej.retryable = nara_code_retryable(err->code);
	frame.kind_case = NARA__FRAME__KIND_REJECTED;
	frame.rejected = &rej;
	b->stats.rejected++;
	metrics_rejected(&b->metrics, err->code);
	broker_count_refused(b, node, node_len, err->code);
	broker_queue_frame(b, node, node_len, &frame, OUTQ_OTHER, message_id);
}

/* ---------------------------------------------------------------- batches */

void
broker_batch_begin(struct broker *b)
{
	struct nara_err err;

	broker_commit_wait(b);
	b->batch_now_ms = broker_now_ms();
	if (b->settle != NULL)
		evtimer_del(b->settle);
	b->batch_ok = store_begin(b->store, &err) == 0;
	if (!b->batch_ok) {
		b->batch_err = err;
		log_error("store: cannot begin batch: %s", err.text);
		return;
	}
	broker_post_write(b);
}

/* The batch did not commit: every Accepted becomes a retryable refusal,
 * deliveries are dropped (their sessions restart), the rest still goes. */
static void
batch_refuse_accepted(struct broker *b, const struct nara_err *err)
{
	struct outq keep = b->out;

	memset(&b->out, 0, sizeof(b->out));
	for (size_t i = 0; i < keep.n; i++) {
		struct out_frame *f = &keep.v[i];
		if (f->kind == OUTQ_ACCEPTED) {
			broker_queue_rejected(b, f->node, f->node_len,
			    f->message_id, err);
		} else if (f->kind == OUTQ_OTHER) {
			outq_push(&b->out, f->node, f->node_len, f->kind,
			    f->message_id, f->data, f->len);
			f->data = NULL;
		}
	}
	outq_clear(&keep);
	free(keep.v);
}

int
broker_audit_event(struct broker *b, const char *event, const char *detail)
{
	int rc;

	broker_batch_begin(b);
	rc = store_audit_event(b->store, event, NULL, detail,
	    b->batch_now_ms / 1000);
	broker_batch_end(b);
	/* the batch may commit without the row, or not at all */
	return rc == 0 && b->metrics.last_ok ? 0 : -1;
}

void
broker_audit_coded(struct broker *b, const char *event, const char *node,
    const char *code, const char *detail)
{
	broker_batch_begin(b);
	store_audit_event_coded(b->store, event, node, code, detail,
	    b->batch_now_ms / 1000);
	broker_batch_end(b);
}

/* After the commit (rc, err) of the batch, t0 its start: refuse or send
 * the batch's replies. */
static void
batch_done(struct broker *b, int rc, struct nara_err *err, int64_t t0)
{
	int64_t dt = mono_us() - t0;

	b->stats.commits++;
	b->stats.last_commit_us = (uint64_t)dt;
	if ((uint64_t)dt > b->stats.max_commit_us)
		b->stats.max_commit_us = (uint64_t)dt;
	metrics_commit(&b->metrics, dt, rc == 0);
	if (rc != 0) {
		if (b->batch_ok)
			store_rollback(b->store);
		b->stats.commit_failures++;
		if (err->code == NR_OK)
			nara_err_set(err, NR_STORE_FAILED, NULL, "commit failed");
		log_error("store: batch not committed (%s): %s; refusing its "
		    "submits", nara_code_id(err->code), err->text);
		batch_refuse_accepted(b, err);
		/* Deliveries and acks of this batch are forgotten: start
		 * every session from its durable queue again. */
		for (size_t i = 0; i < b->sessions.n; i++) {
			struct session *s = &b->sessions.v[i];

			if (s->connected)
				session_reset(s);
			if (s->took_batch == b->batches + 1)
				session_rewind(s, s->took_low);
		}
	}
	broker_post_done(b, rc == 0);
	broker_flush(b);
	if (b->settle != NULL && store_ahead(b->store)) {
		struct timeval tv = { 0, BROKER_SETTLE_MS * 1000 };
		evtimer_add(b->settle, &tv);
	}
	/* a send may have read the socket's commands in passing (evzmq.h) */
	if (b->out.used_router)
		evzmq_poke(b->watch);
	broker_link_ready(b);
}

void
broker_batch_end(struct broker *b)
{
	struct nara_err err = { 0 };
	int64_t t0 = mono_us();
	int rc = -1;

	if (b->batch_ok)
		rc = store_commit(b->store, &err);
	else
		err = b->batch_err;
	batch_done(b, rc, &err, t0);
}

/* The answer to a commit sent by batch_end_sent is there, or the store
 * took it for another call, or it is late and is waited for here: the
 * batch's replies may go. */
void
broker_commit_wait(struct broker *b)
{
	struct nara_err err = { 0 };
	int rc;

	if (!b->committing)
		return;
	b->committing = false;
	if (b->commit_ev != NULL)
		event_free(b->commit_ev);
	b->commit_ev = NULL;
	rc = store_commit_take(b->store, &err);
	evzmq_hold(b->watch, false);
	batch_done(b, rc, &err, b->commit_t0);
}

static void
on_commit_answer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	broker_commit_wait(arg);
}

/* The store waited for the answer itself (another call needed it). */
static void
on_commit_taken(void *arg)
{
	struct broker *b = arg;

	if (b->committing && b->commit_ev != NULL)
		event_active(b->commit_ev, EV_READ, 0);
}

/* End the batch of on_router without waiting for the commit when the
 * store can (PostgreSQL: COMMIT on the wire; SQLite: on its commit
 * thread): the loop goes on relaying the TLS front's traffic both ways
 * meanwhile, and takes the outcome when store_commit_fd is readable. The
 * ROUTER is held until then (one batch in flight); a batch begun
 * meanwhile by anyone else waits for it first. */
static void
batch_end_sent(struct broker *b)
{
	struct nara_err err = { 0 };
	int64_t t0 = mono_us();
	int rc, fd;

	if (!b->batch_ok) {
		broker_batch_end(b);
		return;
	}
	if ((rc = store_commit_send(b->store, &err)) != 1) {
		batch_done(b, rc, &err, t0);
		return;
	}
	b->committing = true;
	b->commit_t0 = t0;
	b->stats.commits_unwaited++;
	evzmq_hold(b->watch, true);
	fd = store_commit_fd(b->store);
	b->commit_ev = fd >= 0 ? event_new(b->base, fd, EV_READ,
	    on_commit_answer, b) : NULL;
	/* no answer within a second: wait for it there, under the store's
	 * own deadline for answers (it drops a server that never answers) */
	struct timeval tv = { 1, 0 };
	if (b->commit_ev == NULL || event_add(b->commit_ev, &tv) != 0)
		broker_commit_wait(b);
}

/* The store began the next batch with the last commit (PostgreSQL) and
 * holds the chain head's lock for it; no frame came: give it back. */
static void
on_settle(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct nara_err err = { 0 };

	if (store_settle(b->store, &err) != 0)
		log_warn("store: ending the batch begun ahead: %s %s",
		    nara_code_id(err.code), err.text);
}

/* ---------------------------------------------------------------- frames */

/* peer: the session of the routing id rid, NULL when there is none. */
static void
handle_hello(struct broker *b, const char *rid, size_t rid_len,
    struct session *peer, const Nara__Hello *h)
{
	Nara__Frame frame = NARA__FRAME__INIT;
	Nara__Welcome w = NARA__WELCOME__INIT;
	struct nara_err err;
	struct session *s;
	char now[32];

	if (strlen(h->node_id) != rid_len ||
	    memcmp(h->node_id, rid, rid_len) != 0) {
		nara_err_set(&err, NR_UNKNOWN_NODE, "hello.node_id",
		    "node id does not match the connection identity");
		goto refuse;
	}
	if (config_node_find(b->cfg, h->node_id) == NULL ||
	    (s = session_find(&b->sessions, h->node_id)) == NULL) {
		nara_err_set(&err, NR_UNKNOWN_NODE, "hello.node_id",
		    "node %s is not configured", h->node_id);
		goto refuse;
	}
	if (s->down_ms != 0) {
		log_info("node %s: hello on a connection that has closed; "
		    "ignored", s->node);
		return;
	}
	s->window = h->credit_window ? h->credit_window
	    : (uint32_t)b->cfg->broker.default_credit;
	if (s->window > b->cfg->broker.max_credit)
		s->window = (uint32_t)b->cfg->broker.max_credit;
	session_reset(s);
	if (!s->connected) {
		s->connected = true;
		s->connected_since = b->batch_now_ms / 1000;
	}
	s->last_seen = b->batch_now_ms / 1000;
	snprintf(s->software, sizeof(s->software), "%s",
	    h->software ? h->software : "");
	store_audit_event(b->store, "node_connected", s->node, h->software,
	    b->batch_now_ms / 1000);
	log_info("node %s connected (window %u)", s->node, s->window);
	w.protocol_version = NARA_PROTOCOL_VERSION;
	w.broker_id = b->cfg->broker.id;
	w.max_message_bytes = b->cfg->broker.max_message_bytes;
	w.server_time = pb_str(time_format(b->batch_now_ms / 1000, now, sizeof(now)));
	w.credit_window = s->window;
	frame.kind_case = NARA__FRAME__KIND_WELCOME;
	frame.welcome = &w;
	broker_queue_frame(b, rid, rid_len, &frame, OUTQ_OTHER, NULL);
	broker_mark_dirty(b, s);
	return;
refuse:
	log_limited(broker_peer_log(b, peer), LOG_LVL_WARNING,
	    "hello refused (%s): %s", nara_code_id(err.code), err.text);
	store_audit_event(b->store, "hello_refused", NULL, err.text,
	    b->batch_now_ms / 1000);
	broker_queue_rejected(b, rid, rid_len, NULL, &err);
}

static void
handle_ack(struct broker *b, struct session *s, const Nara__Ack *a)
{
	int64_t now = b->batch_now_ms / 1000;
	struct inflight was = { .seq = 0 };
	bool was_new = false;
	int rc;

	if (session_inflight_remove(s, a->message_id, a->receipt, &was) != 0)
		log_debug("node %s acked %s, which was not in flight", s->node,
		    a->message_id);
	if (a->receipt) {
		store_receipt_acked(b->store, s->node, a->message_id, now);
		broker_mark_dirty(b, s);
		return;
	}
	rc = store_acked_seq(b->store, was.seq, a->message_id, s->node, now,
	    &was_new);
	if (rc == 0 && was_new) {
		b->stats.acked++;
		broker_mark_node_dirty(b, was.sender_node);
	}
	/* It left flight (or its queue) in this batch: if the batch does
	 * not commit, it is queued again and read again. Not a rewind now:
	 * what follows it is still in flight. */
	if (was.seq > 0 || (rc == 0 && was_new))
		broker_queue_took(b, s->node, was.seq);
	broker_mark_dirty(b, s);
}

static void
handle_nack(struct broker *b, struct session *s, const Nara__Nack *n)
{
	int64_t now = b->batch_now_ms / 1000;
	struct inflight was;

	/* Only what is in flight to the node may be refused by it: a nack
	 * of a message still waiting in its queue would say its local
	 * system refused what it never had (and tell the sender FAILED).
	 * After a restart nothing is in flight: what the node refused then
	 * is delivered again, and refused again. */
	if (session_inflight_remove(s, n->message_id, false, &was) != 0) {
		log_limited(&s->loglim, LOG_LVL_WARNING, "node %s refused %s, "
		    "which is not in flight to it; ignored", s->node,
		    n->message_id);
		return;
	}
	log_info("node %s refused %s: %s %s", s->node, n->message_id, n->code,
	    n->text);
	if (store_dead_letter(b->store, n->message_id, n->code, n->text, false,
	    s->node, now) == 0) {
		b->stats.nacked++;
		broker_mark_node_dirty(b, was.sender_node);
	}
	broker_queue_took(b, s->node, was.seq);   /* as in handle_ack */
	broker_mark_dirty(b, s);
}

/* Ack, nack or credit on a live session. */
static void
handle_session_frame(struct broker *b, struct session *s, const char *rid,
    size_t rid_len, const Nara__Frame *frame)
{
	struct nara_err err = { 0 };
	struct validate_limits lim;

	broker_limits(b, &lim);
	if (validate_frame(frame, &lim, 0, &err) != 0) {
		broker_queue_rejected(b, rid, rid_len, NULL, &err);
		return;
	}
	if (frame->kind_case == NARA__FRAME__KIND_ACK) {
		handle_ack(b, s, frame->ack);
	} else if (frame->kind_case == NARA__FRAME__KIND_NACK) {
		handle_nack(b, s, frame->nack);
	} else {
		uint64_t w = (uint64_t)s->window + frame->credit->credits;
		s->window = w > b->cfg->broker.max_credit
		    ? (uint32_t)b->cfg->broker.max_credit : (uint32_t)w;
		broker_mark_dirty(b, s);
	}
}

/* A frame other than hello on a connection without a session: NR003, with
 * the message id of a submit so the node knows which one to send again. */
static void
refuse_no_hello(struct broker *b, const char *rid, size_t rid_len,
    const Nara__Frame *frame)
{
	const char *mid = NULL;
	struct nara_err err;

	if (frame->kind_case == NARA__FRAME__KIND_SUBMIT && frame->submit &&
	    frame->submit->envelope && frame->submit->envelope->message_id &&
	    strlen(frame->submit->envelope->message_id) < MESSAGE_ID_MAX)
		mid = frame->submit->envelope->message_id;
	nara_err_set(&err, NR_NO_HELLO, NULL, "send hello first");
	broker_queue_rejected(b, rid, rid_len, mid, &err);
}

static void
handle_frame(struct broker *b, const char *rid, size_t rid_len,
    const uint8_t *data, size_t len)
{
	struct nara_err err = { 0 };
	struct validate_limits lim;
	struct session *s = NULL;
	char node[NODE_ID_MAX + 1];
	Nara__Frame *frame;

	if (rid_len <= NODE_ID_MAX) {
		memcpy(node, rid, rid_len);
		node[rid_len] = '\0';
		s = session_find(&b->sessions, node);
	}
	broker_limits(b, &lim);
	frame = frame_decode(data, len, lim.max_message_bytes + 4096, &err);
	if (frame != NULL && frame->kind_case == NARA__FRAME__KIND__NOT_SET) {
		frame_free(&frame);
		nara_err_set(&err, NR_MALFORMED_FRAME, NULL, len == 0 ?
		    "empty frame" : "frame of no known kind");
	}
	if (frame == NULL) {
		log_limited(broker_peer_log(b, s), LOG_LVL_WARNING,
		    "undecodable frame from %.*s: %s", (int)rid_len, rid,
		    err.text);
		broker_queue_rejected(b, rid, rid_len, NULL, &err);
		return;
	}
	if (frame->kind_case == NARA__FRAME__KIND_HELLO) {
		if (validate_frame(frame, &lim, 0, &err) == 0)
			handle_hello(b, rid, rid_len, s, frame->hello);
		else
			broker_queue_rejected(b, rid, rid_len, NULL, &err);
	} else if (s == NULL || !s->connected) {
		refuse_no_hello(b, rid, rid_len, frame);
	} else if (frame->kind_case == NARA__FRAME__KIND_SUBMIT) {
		s->last_seen = b->batch_now_ms / 1000;
		broker_submit(b, s, frame);
	} else if (frame->kind_case == NARA__FRAME__KIND_ACK ||
	    frame->kind_case == NARA__FRAME__KIND_NACK ||
	    frame->kind_case == NARA__FRAME__KIND_CREDIT) {
		s->last_seen = b->batch_now_ms / 1000;
		handle_session_frame(b, s, rid, rid_len, frame);
	} else {
		nara_err_set(&err, NR_UNEXPECTED_FRAME, NULL,
		    "frame kind %d is sent by the broker, not to it",
		    (int)frame->kind_case);
		broker_queue_rejected(b, rid, rid_len, NULL, &err);
	}
	frame_free(&frame);
}

/* One message of several parts: nara frames are single-part. */
static void
refuse_multipart(struct broker *b, const char *rid, size_t rid_len)
{
	struct nara_err err;

	nara_err_set(&err, NR_MALFORMED_FRAME, NULL,
	    "multi-part message; one frame per message");
	broker_queue_rejected(b, rid, rid_len, NULL, &err);
}

/* A frame the TLS front read itself. */
static void
link_frame(void *arg, const char *node, const uint8_t *data, size_t len,
    bool multipart)
{
	struct broker *b = arg;

	if (multipart)
		refuse_multipart(b, node, strlen(node));
	else
		handle_frame(b, node, strlen(node), data, len);
}

/* Read up to max frames from the ROUTER into the open batch, or until
 * their bodies reach max_bytes (*bytes); how many. */
static uint64_t
router_take(struct broker *b, void *router, uint64_t max, uint64_t max_bytes,
    uint64_t *bytes)
{
	zmq_msg_t id, body;
	uint64_t n;

	zmq_msg_init(&id);
	zmq_msg_init(&body);
	for (n = 0; n < max && *bytes < max_bytes; n++) {
		if (zmq_msg_recv(&id, router, ZMQ_DONTWAIT) < 0)
			break;
		if (!zmq_msg_more(&id)) {
			log_warn("frame without routing id dropped");
			continue;
		}
		if (zmq_msg_recv(&body, router, 0) < 0)
			break;
		if (zmq_msg_more(&body)) {
			/* Drain the rest: nara frames are single-part. */
			while (zmq_msg_more(&body) &&
			    zmq_msg_recv(&body, router, 0) >= 0)
				;
			refuse_multipart(b, zmq_msg_data(&id),
			    zmq_msg_size(&id));
			continue;
		}
		*bytes += zmq_msg_size(&body);
		handle_frame(b, zmq_msg_data(&id), zmq_msg_size(&id),
		    zmq_msg_data(&body), zmq_msg_size(&body));
	}
	zmq_msg_close(&id);
	zmq_msg_close(&body);
	return n;
}

/* Take up to batch_max frames (the ROUTER's when it signalled, then the
 * TLS front's), and no more once their bodies add up to batch_max_bytes
 * (so that a flood of large messages makes several transactions of a
 * bounded size, not one that holds every sender until gigabytes are
 * synced), do the tick's work when it is due, apply them in one
 * transaction, commit, send. A batch for the front's frames or the tick
 * leaves the ROUTER alone: each look costs libzmq's command check (a poll
 * and a getpid), and with the front speaking ZMTP itself the ROUTER has no
 * peer; its input has an event of its own (evzmq). */
static void
take_batch(struct broker *b, bool router)
{
	uint64_t max = b->cfg->broker.batch_max, n = 0, bytes = 0;
	uint64_t max_bytes = b->cfg->broker.batch_max_bytes;

	broker_batch_begin(b);
	if (router)
		n = router_take(b, b->router, max, max_bytes, &bytes);
	if (b->link.pull != NULL && n < max && bytes < max_bytes)
		b->link.pull(b->link.arg, (size_t)(max - n),
		    (size_t)(max_bytes - bytes), link_frame, b);
	if (b->tick_due)
		broker_tick_work(b);
	broker_deliver_dirty(b);
	batch_end_sent(b);
}

void
broker_take_batch(struct broker *b)
{
	take_batch(b, false);
}

static void
on_router(void *router, void *arg)
{
	(void)router;
	if (broker_may_begin(arg))
		take_batch(arg, true);
}

static bool
link_pending(struct broker *b)
{
	return b->link.pending != NULL && b->link.pending(b->link.arg);
}

static void
on_store_idle(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	event_free(b->idle_ev);
	b->idle_ev = NULL;
	/* a look at the ROUTER too: on_router may have left it unread */
	evzmq_hold(b->watch, false);
	evzmq_poke(b->watch);
	broker_link_ready(b);
}

/* After a commit's answer the store may go on working on its own (the
 * SQLite store's WAL restart, store_idle_fd): the next batch waits for it
 * as for a commit, the ROUTER held, while the loop relays. */
bool
broker_may_begin(struct broker *b)
{
	int fd;

	if (b->committing || b->idle_ev != NULL)
		return false;
	if ((fd = store_idle_fd(b->store)) < 0)
		return true;
	b->idle_ev = event_new(b->base, fd, EV_READ, on_store_idle, b);
	if (b->idle_ev == NULL || event_add(b->idle_ev, NULL) != 0) {
		if (b->idle_ev != NULL)
			event_free(b->idle_ev);
		b->idle_ev = NULL;
		return true;      /* the batch's first store call waits */
	}
	evzmq_hold(b->watch, true);
	return false;
}

/* Frames wait in the TLS front, or the tick's work waits: none is taken
 * while a commit is out or the store is busy after it (batch_done and
 * on_store_idle call again). */
static void
on_link(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	if ((b->tick_due || link_pending(b)) && broker_may_begin(b))
		take_batch(b, false);
}

void
broker_set_link(struct broker *b, const struct broker_link *link)
{
	b->link = *link;
}

void
broker_link_ready(struct broker *b)
{
	if ((b->tick_due || link_pending(b)) && broker_may_begin(b))
		event_active(b->link_ev, EV_READ, 0);
}

/* ---------------------------------------------------------------- life */

static void
on_router_refused(void *arg, const char *address, const char *reason)
{
	char detail[600];

	snprintf(detail, sizeof(detail), "router ipc peer %s: %s",
	    address[0] != '\0' ? address : "refused", reason);
	broker_audit_event(arg, "auth_failed", detail);
}

/* With the TLS front on, only its relay may reach the ROUTER: ipc in the
 * 0700 runtime_dir, no TCP, and libzmq's pid filter that admits narad's
 * own process only (zap.h). */
static int
router_guard(struct broker *b)
{
	const struct config *cfg = b->cfg;
	char why[512];

	if (cfg->broker.listen_tcp[0] != '\0') {
		log_error("[broker] listen_tcp = %s cannot be used with [tls]: "
		    "nodes connect through the TLS front only",
		    cfg->broker.listen_tcp);
		return -1;
	}
	if (zap_check_runtime_dir(cfg->tls.runtime_dir, cfg->broker.router, why,
	    sizeof(why)) != 0) {
		log_error("%s", why);
		return -1;
	}
	if ((b->zap = zap_guard(b->base, b->zctx, b->router, on_router_refused,
	    b)) == NULL)
		return -1;
	return 0;
}

/* A node that does not read finds its send queue full (EAGAIN with
 * ZMQ_ROUTER_MANDATORY): room for its whole credit window and answers.
 * Applies to connections made after the call. */
static void
router_sndhwm(struct broker *b)
{
	uint64_t v = b->cfg->broker.max_credit + ROUTER_ANSWER_BACKLOG;
	int hwm = v > INT32_MAX ? INT32_MAX : (int)v;

	zmq_setsockopt(b->router, ZMQ_SNDHWM, &hwm, sizeof(hwm));
}

static int
router_open(struct broker *b)
{
	const struct config_broker *cb = &b->cfg->broker;
	int one = 1, linger = 0, hb_ivl = ZMTP_HEARTBEAT_IVL_MS,
	    hb_ttl = ZMTP_HEARTBEAT_TIMEOUT_MS;
	int rcvhwm = ROUTER_RCV_BACKLOG;
	int64_t max_msg = (int64_t)cb->max_message_bytes + 4096;

	if ((b->router = zmq_socket(b->zctx, ZMQ_ROUTER)) == NULL)
		return -1;
	zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	zmq_setsockopt(b->router, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
	router_sndhwm(b);
	zmq_setsockopt(b->router, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm));
	zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(b->router, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof(hb_ivl));
	zmq_setsockopt(b->router, ZMQ_HEARTBEAT_TIMEOUT, &hb_ttl, sizeof(hb_ttl));
	/* Second line behind the front's frame check: libzmq drops a peer
	 * that announces a frame above the limit frame_decode applies. */
	zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg));
	if (b->cfg->tls.listen[0] != '\0' && router_guard(b) != 0)
		return -1;
	if (zmq_bind(b->router, cb->router) != 0) {
		log_error("cannot bind %s: %s", cb->router, zmq_strerror(errno));
		return -1;
	}
	if (cb->listen_tcp[0] != '\0' && zmq_bind(b->router, cb->listen_tcp) != 0) {
		log_error("cannot bind %s: %s", cb->listen_tcp, zmq_strerror(errno));
		return -1;
	}
	return 0;
}

static int
sessions_from_config(struct broker *b, bool rebuild)
{
	const char **ids = calloc(b->cfg->n_nodes + 1, sizeof(*ids));
	int rc;

	if (ids == NULL)
		return -1;
	for (size_t i = 0; i < b->cfg->n_nodes; i++)
		ids[i] = b->cfg->nodes[i].id;
	rc = rebuild ? session_table_rebuild(&b->sessions, ids, b->cfg->n_nodes)
	    : session_table_init(&b->sessions, ids, b->cfg->n_nodes);
	free(ids);
	return rc;
}

struct broker *
broker_new(struct event_base *base, struct config *cfg, struct store *st)
{
	struct broker *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		config_free(&cfg);
		return NULL;
	}
	b->base = base;
	b->cfg = cfg;
	b->orphans_due = true;
	metrics_init(&b->metrics);
	b->store = st;
	if ((b->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (b->zctx = zmq_ctx_new()) == NULL || router_open(b) != 0 ||
	    sessions_from_config(b, false) != 0 ||
	    broker_lifecycle_init(b) != 0)
		goto fail;
	broker_queue_floors(b);
	b->watch = evzmq_new(base, b->router, on_router, b);
	b->tick = event_new(base, -1, EV_PERSIST, broker_on_tick, b);
	b->settle = evtimer_new(base, on_settle, b);
	b->link_ev = event_new(base, -1, 0, on_link, b);
	b->counts = counts_reader_new(base, config_store_location(cfg),
	    config_store_backend(cfg));
	store_on_taken(st, on_commit_taken, b);
	store_set_batch_frames(st, (unsigned)cfg->broker.batch_max);
	if (b->watch == NULL || b->tick == NULL || b->settle == NULL ||
	    b->link_ev == NULL || b->counts == NULL)
		goto fail;
	struct timeval tv = { 1, 0 };
	event_add(b->tick, &tv);
	return b;
fail:
	broker_free(&b);
	return NULL;
}

void
broker_free(struct broker **bp)
{
	struct broker *b = *bp;

	if (b == NULL)
		return;
	broker_commit_wait(b);
	counts_reader_free(&b->counts);
	free(b->orphans);
	if (b->store != NULL)
		store_on_taken(b->store, NULL, NULL);
	evzmq_free(&b->watch);
	if (b->tick != NULL)
		event_free(b->tick);
	if (b->settle != NULL)
		event_free(b->settle);
	if (b->link_ev != NULL)
		event_free(b->link_ev);
	if (b->idle_ev != NULL)
		event_free(b->idle_ev);
	broker_lifecycle_free(b);
	broker_queue_floors_free(b);
	outq_clear(&b->out);
	free(b->out.v);
	zap_free(&b->zap);
	if (b->router != NULL)
		zmq_close(b->router);
	if (b->zctx != NULL)
		zmq_ctx_term(b->zctx);
	session_table_free(&b->sessions);
	free(b->dirty);
	free(b->loads);
	free(b->passes);
	free(b->held);
	config_free(&b->cfg);
	EVP_MD_free(b->sha256);
	free(b);
	*bp = NULL;
}

int
broker_reload(struct broker *b, struct config *cfg, struct config **old)
{
	struct config *prev = b->cfg;
	int64_t max_msg;
	int rc;

	/* The dirty list points into the session table the rebuild frees:
	 * empty it, and mark every connected session of the table that
	 * stands (new, or the old one kept) again after. */
	for (size_t i = 0; i < b->n_dirty; i++)
		b->dirty[i]->dirty = false;
	b->n_dirty = 0;
	b->cfg = cfg;
	if ((rc = sessions_from_config(b, true)) != 0)
		b->cfg = prev;
	for (size_t i = 0; i < b->sessions.n; i++)
		broker_mark_dirty(b, &b->sessions.v[i]);
	if (rc != 0) {
		log_error("reload: out of memory; keeping the running config");
		return -1;
	}
	router_sndhwm(b);
	store_set_batch_frames(b->store, (unsigned)cfg->broker.batch_max);
	/* a node may be gone with its queue: look again (a look's answer
	 * still to come is judged by this config; one already found by the
	 * old config is not settled) */
	b->orphans_due = true;
	b->orphans_found = false;
	broker_queue_floors(b);  /* where the queues of added nodes start */
	/* Connections from now on get the new frame limit (router_open). */
	max_msg = (int64_t)cfg->broker.max_message_bytes + 4096;
	zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg));
	*old = prev;
	return 0;
}

const struct config *
broker_config(const struct broker *b)
{
	return b->cfg;
}

bool
broker_store_damaged(const struct broker *b)
{
	return b->damaged;
}

void
broker_stats(const struct broker *b, struct broker_stats *out)
{
	*out = b->stats;
	out->nodes_connected = 0;
	for (size_t i = 0; i < b->sessions.n; i++)
		out->nodes_connected += b->sessions.v[i].connected;
}

void
broker_limits(const struct broker *b, struct validate_limits *lim)
{
	lim->max_message_bytes = b->cfg->broker.max_message_bytes;
	lim->max_attachments = b->cfg->broker.max_attachments;
	lim->max_attachment_bytes = b->cfg->broker.max_attachment_bytes;
	lim->max_text_bytes = b->cfg->broker.max_text_bytes;
}
