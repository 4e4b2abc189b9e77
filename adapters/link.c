/*
 * link.c — the adapter's one connection to narad: a DEALER whose routing id
 * is the node id, watched in the libevent loop (evzmq.h), plus a monitor
 * socket that says when the ZMTP handshake succeeded or the connection
 * dropped. After every (re)connection the link says hello and is "up" once
 * the welcome comes; libzmq reconnects by itself.
 *
 * ZMQ_IMMEDIATE keeps libzmq from queueing frames for a connection that
 * does not exist: a send while down fails at once, and the outbox keeps the
 * message instead of a pipe that would lose it with the connection.
 */
#include "adapter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "evzmq.h"
#include "log.h"
#include "pbstr.h"
#include "tunnel.h"
#include "validate.h"
#include "version.h"

enum link_state { LINK_DOWN, LINK_HELLO, LINK_UP };

struct link {
	const struct adapter_config *cfg;    /* borrowed */
	struct link_hooks hooks;
	void *ctx, *dealer, *monitor;
	struct evzmq *ez_dealer, *ez_monitor;
	struct event *tick;
	struct nara_tunnel *tunnel;          /* NULL without TLS */
	char monitor_ep[64];
	enum link_state state;
	bool connected;                      /* ZMTP handshake done */
	int64_t hello_at;                    /* 0: hello not sent */
	size_t max_frame;
};

static void link_send_hello(struct link *l);

static int64_t
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static int
send_bytes(struct link *l, const void *data, size_t len)
{
	if (zmq_send(l->dealer, data, len, ZMQ_DONTWAIT) != (int)len) {
		log_debug("send to narad failed: %s", zmq_strerror(errno));
		return -1;
	}
	evzmq_poke(l->ez_dealer);
	return 0;
}

static int
send_frame(struct link *l, const Nara__Frame *f)
{
	size_t len;
	uint8_t *data = frame_encode(f, &len);
	int rc;

	if (data == NULL)
		return -1;
	rc = send_bytes(l, data, len);
	free(data);
	return rc;
}

static void
set_down(struct link *l, const char *why)
{
	bool was_up = l->state == LINK_UP;

	l->state = LINK_DOWN;
	l->hello_at = 0;
	if (was_up) {
		log_warn("link to narad down: %s", why);
		l->hooks.down(l->hooks.arg);
	}
}

static void
on_welcome(struct link *l, const Nara__Welcome *w)
{
	if (l->state == LINK_UP)
		return;   /* answer to a repeated hello */
	l->state = LINK_UP;
	if (w->max_message_bytes > 0)
		l->max_frame = (size_t)w->max_message_bytes + 4096;
	log_info("link to narad up: broker %s, protocol %u, credit window %u",
	    w->broker_id ? w->broker_id : "", w->protocol_version,
	    w->credit_window);
	/* 0: a broker that does not say; it keeps what it was asked for */
	if (w->credit_window > 0 && l->cfg->credit_window > 0 &&
	    w->credit_window < l->cfg->credit_window)
		log_warn("narad keeps a credit window of %u, not the %llu of "
		    "credit_window (its max_credit is lower)", w->credit_window,
		    (unsigned long long)l->cfg->credit_window);
	l->hooks.up(l->hooks.arg, w);
}

/* A refusal of hello itself (unknown node, ...) has no message id and
 * comes while not up: log it and say hello again later. NR003 while up
 * means narad has ended this link's session (a new connection replaced
 * it, or narad gave up on it) although the connection is still there: it
 * refuses nothing for good. The link goes down, which sends every
 * unanswered message again after the new hello (docs/PROTOCOL.md). */
static void
on_rejected(struct link *l, const Nara__Rejected *r)
{
	if (l->state != LINK_UP) {
		log_error("narad refused hello: %s %s", r->code, r->text);
		return;
	}
	if (r->code != NULL && strcmp(r->code, "NR003") == 0) {
		set_down(l, "narad has no session for this connection (NR003)");
		link_send_hello(l);
		return;
	}
	l->hooks.answer(l->hooks.arg, r->message_id ? r->message_id : "", r,
	    false);
}

static void
dispatch(struct link *l, const Nara__Frame *f)
{
	switch (f->kind_case) {
	case NARA__FRAME__KIND_WELCOME:
		on_welcome(l, f->welcome);
		break;
	case NARA__FRAME__KIND_ACCEPTED:
		if (l->state == LINK_UP)
			l->hooks.answer(l->hooks.arg, f->accepted->message_id,
			    NULL, f->accepted->duplicate);
		break;
	case NARA__FRAME__KIND_REJECTED:
		on_rejected(l, f->rejected);
		break;
	case NARA__FRAME__KIND_DELIVER:
		if (l->state == LINK_UP && f->deliver->envelope != NULL)
			l->hooks.deliver(l->hooks.arg, f->deliver->envelope,
			    f->deliver->attempt);
		break;
	case NARA__FRAME__KIND_RECEIPT:
		if (l->state == LINK_UP)
			l->hooks.receipt(l->hooks.arg, f->receipt);
		break;
	default:
		log_warn("narad sent an unexpected frame (kind %d); ignored",
		    (int)f->kind_case);
		break;
	}
}

static void
on_dealer(void *zsock, void *arg)
{
	struct link *l = arg;
	struct nara_err err = { 0 };
	Nara__Frame *f;
	zmq_msg_t msg;

	for (int i = 0; i < 64; i++) {
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, zsock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			return;
		}
		f = frame_decode(zmq_msg_data(&msg), zmq_msg_size(&msg),
		    l->max_frame, &err);
		zmq_msg_close(&msg);
		if (f == NULL) {
			log_warn("undecodable frame from narad: %s %s",
			    nara_code_id(err.code), err.text);
			continue;
		}
		dispatch(l, f);
		frame_free(&f);
	}
}

/* Monitor events: two parts, (u16 event, u32 value) and the endpoint. */
static void
on_monitor(void *zsock, void *arg)
{
	struct link *l = arg;
	uint8_t head[6];
	char ep[256];
	uint16_t event;
	int more;
	size_t more_len = sizeof(more);

	while (zmq_recv(zsock, head, sizeof(head), ZMQ_DONTWAIT) >= 0) {
		zmq_getsockopt(zsock, ZMQ_RCVMORE, &more, &more_len);
		if (more)
			zmq_recv(zsock, ep, sizeof(ep), 0);
		memcpy(&event, head, sizeof(event));
		if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
			log_debug("connected to narad");
			l->connected = true;
			set_down(l, "reconnected");
			link_send_hello(l);
		} else if (event == ZMQ_EVENT_DISCONNECTED) {
			l->connected = false;
			set_down(l, "connection closed");
		}
	}
}

static void
link_send_hello(struct link *l)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello hello = NARA__HELLO__INIT;

	hello.node_id = pb_str(l->cfg->node_id);
	hello.protocol_version = NARA_PROTOCOL_VERSION;
	hello.credit_window = (uint32_t)l->cfg->credit_window;
	hello.software = pb_str("nara-adapter " NARA_VERSION);
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	if (send_frame(l, &f) == 0) {
		l->state = LINK_HELLO;
		l->hello_at = now_sec();
		log_debug("hello sent as %s", l->cfg->node_id);
	}
}

/* Twice a second: say hello when not (yet) welcomed. The monitor may miss
 * the very first handshake, so this does not wait for it; with
 * ZMQ_IMMEDIATE the send simply fails while no connection exists. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;

	if (l->state == LINK_UP)
		return;
	if (l->hello_at == 0 ||
	    now_sec() - l->hello_at >= (int64_t)l->cfg->hello_timeout)
		link_send_hello(l);
}

/* The DEALER, connected to narad directly or to the tunnel's local end;
 * routing id, heartbeats and reconnect jitter come from tunnel.c. */
static void *
open_dealer(struct link *l, const char *endpoint, struct nara_err *err)
{
	int one = 1;
	void *s;

	s = tunnel_dealer_open(l->ctx, l->cfg->node_id, endpoint, err);
	if (s == NULL)
		return NULL;
	zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one));
	return s;
}

/*
 * The private directory of the tunnel's local socket: tunnel_dir, else the
 * service's runtime directory (systemd's RUNTIME_DIRECTORY, the first one
 * if it names several), else STATE.tunnel beside the state file. Never
 * 127.0.0.1: any local user could connect there and reach narad as this
 * node, with its certificate.
 */
static void
tunnel_dir(const struct adapter_config *cfg, char *out, size_t len)
{
	const char *rt = getenv("RUNTIME_DIRECTORY");

	if (cfg->tunnel_dir[0] != '\0')
		snprintf(out, len, "%s", cfg->tunnel_dir);
	else if (rt != NULL && rt[0] == '/')
		snprintf(out, len, "%.*s", (int)strcspn(rt, ":"), rt);
	else
		snprintf(out, len, "%s.tunnel", cfg->state);
}

/* The TLS files of cfg into o. */
static void
tls_files(const struct adapter_config *cfg, struct tunnel_opts *o)
{
	o->ca = cfg->ca;
	o->cert = cfg->cert;
	o->key = cfg->key;
	o->crl = cfg->crl;
	o->n_crl = cfg->n_crl;
}

static int
open_transport(struct link *l, struct nara_err *err)
{
	struct tunnel_opts o = { 0 };
	const char *ep = l->cfg->broker;
	char dir[1024];

	if (l->cfg->tls) {
		o.broker = l->cfg->broker;
		o.server_name = l->cfg->server_name[0] ? l->cfg->server_name : NULL;
		tls_files(l->cfg, &o);
		tunnel_dir(l->cfg, dir, sizeof(dir));
		o.local_dir = dir;
		if ((l->tunnel = tunnel_start(&o, err)) == NULL)
			return -1;
		ep = tunnel_endpoint(l->tunnel);
	}
	if ((l->dealer = open_dealer(l, ep, err)) == NULL)
		return -1;
	snprintf(l->monitor_ep, sizeof(l->monitor_ep),
	    "inproc://nara-adapter-monitor-%p", (void *)l);
	if (zmq_socket_monitor(l->dealer, l->monitor_ep,
	    ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0 ||
	    (l->monitor = zmq_socket(l->ctx, ZMQ_PAIR)) == NULL ||
	    zmq_connect(l->monitor, l->monitor_ep) != 0)
		return nara_err_set(err, NR_IO, "", "socket monitor: %s",
		    zmq_strerror(errno));
	return 0;
}

struct link *
link_new(struct event_base *base, const struct adapter_config *cfg,
    const struct link_hooks *hooks, struct nara_err *err)
{
	struct link *l = calloc(1, sizeof(*l));
	struct timeval half = { 0, 500000 };

	if (l == NULL) {
		nara_err_set(err, NR_IO, "", "out of memory");
		return NULL;
	}
	l->cfg = cfg;
	l->hooks = *hooks;
	l->max_frame = (size_t)cfg->max_message_bytes + 4096;
	if ((l->ctx = zmq_ctx_new()) == NULL) {
		nara_err_set(err, NR_IO, "", "zmq context: %s", zmq_strerror(errno));
		goto fail;
	}
	if (open_transport(l, err) != 0)
		goto fail;
	l->ez_dealer = evzmq_new(base, l->dealer, on_dealer, l);
	l->ez_monitor = evzmq_new(base, l->monitor, on_monitor, l);
	l->tick = event_new(base, -1, EV_PERSIST, on_tick, l);
	if (l->ez_dealer == NULL || l->ez_monitor == NULL || l->tick == NULL ||
	    event_add(l->tick, &half) != 0) {
		nara_err_set(err, NR_IO, "", "event loop setup failed");
		goto fail;
	}
	log_info("connecting to narad at %s as %s%s", cfg->broker, cfg->node_id,
	    cfg->tls ? " (TLS)" : "");
	return l;
fail:
	link_free(&l);
	return NULL;
}

void
link_free(struct link **lp)
{
	struct link *l;
	int zero = 0;

	if (lp == NULL || (l = *lp) == NULL)
		return;
	if (l->tick)
		event_free(l->tick);
	evzmq_free(&l->ez_dealer);
	evzmq_free(&l->ez_monitor);
	if (l->dealer) {
		zmq_socket_monitor(l->dealer, NULL, 0);
		zmq_setsockopt(l->dealer, ZMQ_LINGER, &zero, sizeof(zero));
		zmq_close(l->dealer);
	}
	if (l->monitor) {
		zmq_setsockopt(l->monitor, ZMQ_LINGER, &zero, sizeof(zero));
		zmq_close(l->monitor);
	}
	if (l->ctx)
		zmq_ctx_term(l->ctx);
	tunnel_stop(&l->tunnel);
	free(l);
	*lp = NULL;
}

void
link_reload(struct link *l, const struct adapter_config *cfg)
{
	struct tunnel_opts o = { 0 };
	struct nara_err err = { 0 };

	if (l->tunnel == NULL)
		return;
	tls_files(cfg, &o);
	if (tunnel_reload(l->tunnel, &o, &err) != 0)
		log_error("reload: %s %s; keeping the old certificates and CRLs",
		    nara_code_id(err.code), err.text);
	else
		log_info("reload: certificates and CRLs re-read (%zu CRL files)",
		    cfg->n_crl);
}

bool
link_is_up(const struct link *l)
{
	return l->state == LINK_UP;
}

/* Frame{submit{envelope = stored bytes}} without decoding them again. */
int
link_submit(struct link *l, const uint8_t *env, size_t len)
{
	size_t n;
	uint8_t *buf;
	int rc;

	if (l->state != LINK_UP)
		return -1;
	if ((buf = frame_wrap(NARA__FRAME__KIND_SUBMIT, true, env, len, 0,
	    &n)) == NULL)
		return -1;
	rc = send_bytes(l, buf, n);
	free(buf);
	return rc;
}

int
link_ack(struct link *l, const char *message_id, bool receipt)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Ack ack = NARA__ACK__INIT;

	if (l->state != LINK_UP)
		return -1;
	ack.message_id = pb_str(message_id);
	ack.receipt = receipt;
	f.kind_case = NARA__FRAME__KIND_ACK;
	f.ack = &ack;
	return send_frame(l, &f);
}

int
link_nack(struct link *l, const char *message_id, enum nara_code code,
    const char *text)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Nack nack = NARA__NACK__INIT;
	char clean[1024];

	if (l->state != LINK_UP)
		return -1;
	/* the text may come from the local system (an HTTP header): narad
	 * refuses a frame whose text is not clean UTF-8, and that refusal
	 * carries no id to tell which frame it was about */
	text_made_valid(text != NULL ? text : "", clean, sizeof(clean));
	nack.message_id = pb_str(message_id);
	nack.code = pb_str(nara_code_id(code));
	nack.text = clean;
	f.kind_case = NARA__FRAME__KIND_NACK;
	f.nack = &nack;
	return send_frame(l, &f);
}
