/*
 * client.c — a synchronous test client for narad (DEALER, one frame per
 * message) and valid envelopes of every type for it to send.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <openssl/rand.h>
#include <zmq.h>

#include "pbstr.h"
#include "validate.h"

static void
client_connect(struct tclient *c, const struct harness *h, const char *node)
{
	int linger = 0;

	memset(c, 0, sizeof(*c));
	snprintf(c->node, sizeof(c->node), "%s", node);
	c->ctx = zmq_ctx_new();
	c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
	cr_assert(c->sock != NULL);
	zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, node, strlen(node));
	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_connect(c->sock, h->router), 0);
}

void
tclient_open_raw(struct tclient *c, const struct harness *h, const char *node)
{
	client_connect(c, h, node);
}

void
tclient_hello(struct tclient *c, const char *node, unsigned window)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello hello = NARA__HELLO__INIT;

	hello.node_id = pb_str(node);
	hello.protocol_version = NARA_PROTOCOL_VERSION;
	hello.credit_window = window;
	hello.software = pb_str("nara integration test");
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	tclient_send(c, &f);
}

void
tclient_open(struct tclient *c, const struct harness *h, const char *node,
    unsigned window)
{
	Nara__Frame *w;

	client_connect(c, h, node);
	tclient_hello(c, node, window);
	w = tclient_recv(c, 5000);
	cr_assert(w != NULL, "%s: no answer to hello", node);
	cr_assert_eq(w->kind_case, NARA__FRAME__KIND_WELCOME,
	    "%s: hello answered with kind %d (%s)", node, w->kind_case,
	    w->kind_case == NARA__FRAME__KIND_REJECTED ? w->rejected->text : "");
	frame_free(&w);
}

void
tclient_close(struct tclient *c)
{
	if (c->sock != NULL)
		zmq_close(c->sock);
	if (c->ctx != NULL)
		zmq_ctx_term(c->ctx);
	memset(c, 0, sizeof(*c));
}

void
tclient_send_raw(struct tclient *c, const void *data, size_t len)
{
	cr_assert(zmq_send(c->sock, data, len, 0) == (int)len);
}

void
tclient_send(struct tclient *c, const Nara__Frame *f)
{
	size_t len;
	uint8_t *data = frame_encode(f, &len);

	cr_assert(data != NULL);
	tclient_send_raw(c, data, len);
	free(data);
}

Nara__Frame *
tclient_recv(struct tclient *c, int timeout_ms)
{
	zmq_pollitem_t item = { c->sock, 0, ZMQ_POLLIN, 0 };
	struct nara_err err;
	Nara__Frame *f;
	zmq_msg_t msg;

	if (zmq_poll(&item, 1, timeout_ms) <= 0)
		return NULL;
	zmq_msg_init(&msg);
	cr_assert(zmq_msg_recv(&msg, c->sock, 0) >= 0);
	f = frame_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), 1 << 26, &err);
	zmq_msg_close(&msg);
	cr_assert(f != NULL, "undecodable frame from narad: %s", err.text);
	return f;
}

Nara__Frame *
tclient_expect(struct tclient *c, Nara__Frame__KindCase kind, int timeout_ms)
{
	struct timespec t0, t;
	Nara__Frame *f;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || (f = tclient_recv(c, (int)left)) == NULL)
			return NULL;
		if (f->kind_case == kind)
			return f;
		frame_free(&f);
	}
}

void
tclient_submit_nowait(struct tclient *c, const Nara__Envelope *env)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit sub = NARA__SUBMIT__INIT;

	sub.envelope = (Nara__Envelope *)(uintptr_t)env;
	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &sub;
	tclient_send(c, &f);
}

Nara__Frame *
tclient_submit(struct tclient *c, const Nara__Envelope *env)
{
	Nara__Frame *r;

	tclient_submit_nowait(c, env);
	while ((r = tclient_recv(c, 10000)) != NULL) {
		if (r->kind_case == NARA__FRAME__KIND_ACCEPTED ||
		    r->kind_case == NARA__FRAME__KIND_REJECTED)
			return r;
		frame_free(&r);
	}
	cr_assert_fail("no answer to submit from %s", c->node);
	return NULL;
}

void
tclient_ack(struct tclient *c, const char *message_id, bool receipt)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Ack ack = NARA__ACK__INIT;

	ack.message_id = pb_str(message_id);
	ack.receipt = receipt;
	f.kind_case = NARA__FRAME__KIND_ACK;
	f.ack = &ack;
	tclient_send(c, &f);
}

