/*
 * itest_adapter_link.c — nara-adapter against a scripted broker: a ROUTER
 * the test binds itself, so the test decides every answer. An NR003
 * ("hello required first") while the link is up means narad ended the
 * session although the connection stayed: the adapter must say hello
 * again and send the message again, never refuse it for good.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zmq.h>

#include "adapter_helpers.h"
#include "harness.h"
#include "pbstr.h"
#include "validate.h"

struct fake_broker {
	void *ctx, *router;
	char dir[64], endpoint[300];
	char peer[80];
	size_t peer_len;
};

static void
fake_open(struct fake_broker *b)
{
	int linger = 0;

	snprintf(b->dir, sizeof(b->dir), "/tmp/nara-fake-XXXXXX");
	cr_assert_not_null(mkdtemp(b->dir));
	snprintf(b->endpoint, sizeof(b->endpoint), "ipc://%s/fake.sock", b->dir);
	b->ctx = zmq_ctx_new();
	b->router = zmq_socket(b->ctx, ZMQ_ROUTER);
	zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_bind(b->router, b->endpoint), 0, "bind %s",
	    b->endpoint);
}

static void
fake_close(struct fake_broker *b)
{
	char path[320];

	zmq_close(b->router);
	zmq_ctx_term(b->ctx);
	snprintf(path, sizeof(path), "%s/fake.sock", b->dir);
	unlink(path);
	rmdir(b->dir);
}

/* The next frame from the adapter within timeout_ms, or NULL. */
static Nara__Frame *
fake_recv(struct fake_broker *b, int timeout_ms)
{
	zmq_pollitem_t it = { b->router, 0, ZMQ_POLLIN, 0 };
	uint8_t buf[65536];
	struct nara_err err;
	int n;

	if (zmq_poll(&it, 1, timeout_ms) <= 0)
		return NULL;
	n = zmq_recv(b->router, b->peer, sizeof(b->peer), 0);
	cr_assert_gt(n, 0);
	b->peer_len = (size_t)n;
	n = zmq_recv(b->router, buf, sizeof(buf), 0);
	cr_assert_geq(n, 0);
	return frame_decode(buf, (size_t)n, sizeof(buf), &err);
}

/* The next frame of kind, skipping credit frames and acks. */
static Nara__Frame *
fake_expect(struct fake_broker *b, Nara__Frame__KindCase kind, int timeout_ms)
{
	int64_t end = harness_ms_now() + timeout_ms;
	Nara__Frame *f;

	while (harness_ms_now() < end) {
		if ((f = fake_recv(b, (int)(end - harness_ms_now()))) == NULL)
			return NULL;
		if (f->kind_case == kind)
			return f;
		frame_free(&f);
	}
	return NULL;
}

static void
fake_send(struct fake_broker *b, const Nara__Frame *f)
{
	size_t len;
	uint8_t *data = frame_encode(f, &len);

	cr_assert_not_null(data);
	zmq_send(b->router, b->peer, b->peer_len, ZMQ_SNDMORE);
	zmq_send(b->router, data, len, 0);
	free(data);
}

static void
fake_welcome(struct fake_broker *b)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Welcome w = NARA__WELCOME__INIT;

	w.protocol_version = NARA_PROTOCOL_VERSION;
	w.broker_id = pb_str("fake");
	w.max_message_bytes = 16 << 20;
	f.kind_case = NARA__FRAME__KIND_WELCOME;
	f.welcome = &w;
	fake_send(b, &f);
}

static void
fake_answer(struct fake_broker *b, const char *id, const char *code)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Accepted acc = NARA__ACCEPTED__INIT;
	Nara__Rejected rej = NARA__REJECTED__INIT;
	char when[32];

	if (code == NULL) {
		acc.message_id = pb_str(id);
		acc.accepted_at = pb_str(time_format(time(NULL), when,
		    sizeof(when)));
		f.kind_case = NARA__FRAME__KIND_ACCEPTED;
		f.accepted = &acc;
	} else {
		rej.message_id = pb_str(id);
		rej.code = pb_str(code);
		rej.text = pb_str("send hello first");
		f.kind_case = NARA__FRAME__KIND_REJECTED;
		f.rejected = &rej;
	}
	fake_send(b, &f);
}

Test(adapter_link, nr003_while_up_means_hello_again_and_resend,
    .timeout = 120)
{
	struct fake_broker b;
	struct tadapter a;
	struct fixture *fx = fixture_new();
	Nara__Frame *f;
	char id[40];

	fake_open(&b);
	tadapter_init(&a, T_GBG, b.endpoint, NULL);
	tadapter_start(&a);
	f = fake_expect(&b, NARA__FRAME__KIND_HELLO, 20000);
	cr_assert_not_null(f, "no hello; see %s", a.log);
	frame_free(&f);
	fake_welcome(&b);

	spool_put_envelope(&a, "one.json", fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP));
	f = fake_expect(&b, NARA__FRAME__KIND_SUBMIT, 20000);
	cr_assert_not_null(f, "no submit; see %s", a.log);
	snprintf(id, sizeof(id), "%s", f->submit->envelope->message_id);
	frame_free(&f);
	/* the broker lost the session: NR003 for exactly this message */
	fake_answer(&b, id, "NR003");

	f = fake_expect(&b, NARA__FRAME__KIND_HELLO, 20000);
	cr_assert_not_null(f, "no new hello after NR003; see %s", a.log);
	frame_free(&f);
	fake_welcome(&b);
	f = fake_expect(&b, NARA__FRAME__KIND_SUBMIT, 20000);
	cr_assert_not_null(f, "the message was not sent again; see %s", a.log);
	cr_expect_str_eq(f->submit->envelope->message_id, id);
	frame_free(&f);
	fake_answer(&b, id, NULL);
	cr_expect(spool_wait(&a, "sent", "one.json", 20000),
	    "not moved to sent/; see %s", a.log);
	cr_expect_eq(spool_count(&a, "rejected", ""), 0,
	    "refused for good after NR003");
	tadapter_stop(&a, SIGTERM);
	tadapter_cleanup(&a);
	fake_close(&b);
	fixture_free(&fx);
}
