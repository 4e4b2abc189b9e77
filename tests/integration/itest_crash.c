/*
 * itest_crash.c — kill -9 narad repeatedly while messages stream in and
 * out. Every message narad answered with Accepted must reach the recipient
 * after the restarts, the recipient's inbox (kept like the adapter's, by
 * message id) holds each message once, and the audit chain verifies.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zmq.h>

#include "harness.h"
#include "store.h"
#include "validate.h"

/* Kill cycles in make check; NARA_SOAK=1 (make soak) runs SOAK_CYCLES. */
#define CYCLES 20
#define SOAK_CYCLES 150
#define MAX_MSGS 250000

static struct harness h;

struct book {
	char (*sent)[37];
	bool *accepted, *handed_off;
	int n_sent, n_accepted, n_handed_off, redeliveries;
};

static int
cycles(void)
{
	const char *v = getenv("NARA_SOAK");

	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0 ? SOAK_CYCLES
	    : CYCLES;
}

static int
book_find(const struct book *bk, const char *id)
{
	for (int i = bk->n_sent - 1; i >= 0; i--)
		if (strcmp(bk->sent[i], id) == 0)
			return i;
	return -1;
}

/* Handle everything waiting on both clients. */
static void
pump(struct book *bk, struct tclient *prod, struct tclient *cons, int wait_ms)
{
	Nara__Frame *f;

	while ((f = tclient_recv(prod, 0)) != NULL) {
		if (f->kind_case == NARA__FRAME__KIND_ACCEPTED) {
			int i = book_find(bk, f->accepted->message_id);
			cr_assert(i >= 0, "accepted an id never sent");
			if (!bk->accepted[i])
				bk->n_accepted++;
			bk->accepted[i] = true;
		} else if (f->kind_case == NARA__FRAME__KIND_RECEIPT) {
			tclient_ack(prod, f->receipt->message_id, true);
		}
		frame_free(&f);
	}
	while ((f = tclient_recv(cons, wait_ms)) != NULL) {
		wait_ms = 0;
		if (f->kind_case == NARA__FRAME__KIND_DELIVER) {
			const char *id = f->deliver->envelope->message_id;
			int i = book_find(bk, id);
			cr_assert(i >= 0, "delivered an id never sent: %s", id);
			if (bk->handed_off[i])
				bk->redeliveries++;
			else
				bk->n_handed_off++;
			bk->handed_off[i] = true;
			tclient_ack(cons, id, false);
		}
		frame_free(&f);
	}
}

static void
run_cycle(struct book *bk, struct fixture *fx, unsigned *seed)
{
	struct tclient prod, cons;
	int64_t kill_at = harness_ms_now() + 50 + rand_r(seed) % 400;

	harness_start(&h);
	tclient_open(&prod, &h, T_GBG, 64);
	tclient_open(&cons, &h, T_BUP, 64);
	while (harness_ms_now() < kill_at && bk->n_sent < MAX_MSGS) {
		for (int k = 0; k < 20 && bk->n_sent < MAX_MSGS; k++) {
			Nara__Envelope *e = fixture_envelope(fx,
			    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
			Nara__Frame f = NARA__FRAME__INIT;
			Nara__Submit s = NARA__SUBMIT__INIT;
			strcpy(bk->sent[bk->n_sent++], e->message_id);
			s.envelope = e;
			f.kind_case = NARA__FRAME__KIND_SUBMIT;
			f.submit = &s;
			tclient_send(&prod, &f);
		}
		pump(bk, &prod, &cons, 2);
	}
	cr_assert_eq(harness_stop(&h, SIGKILL), -SIGKILL);
	pump(bk, &prod, &cons, 50);   /* what was already on its way */
	tclient_close(&prod);
	tclient_close(&cons);
}

Test(crash, kill9_loses_nothing, .timeout = 1200)
{
	struct book bk = { 0 };
	struct fixture *fx = fixture_new();
	unsigned seed = (unsigned)time(NULL);

	bk.sent = calloc(MAX_MSGS, 37);
	bk.accepted = calloc(MAX_MSGS, sizeof(bool));
	bk.handed_off = calloc(MAX_MSGS, sizeof(bool));
	harness_init(&h, "ack_timeout = 5\n");
	for (int c = 0; c < cycles(); c++)
		run_cycle(&bk, fx, &seed);

	/* Final restart: drain until every accepted message was handed off. */
	struct tclient prod, cons;
	harness_start(&h);
	tclient_open(&prod, &h, T_GBG, 64);
	tclient_open(&cons, &h, T_BUP, 256);
	int64_t until = harness_ms_now() + 180000;
	int missing;
	do {
		pump(&bk, &prod, &cons, 100);
		missing = 0;
		for (int i = 0; i < bk.n_sent; i++)
			missing += bk.accepted[i] && !bk.handed_off[i];
	} while (missing > 0 && harness_ms_now() < until);
	tclient_close(&prod);
	tclient_close(&cons);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);

	fprintf(stderr, "crash: %d cycles, %d sent, %d accepted, %d handed off, "
	    "%d repeated deliveries absorbed by the inbox\n", cycles(), bk.n_sent,
	    bk.n_accepted, bk.n_handed_off, bk.redeliveries);
	cr_expect_gt(bk.n_accepted, cycles() * 10, "too little traffic to test");
	cr_expect_eq(missing, 0, "%d accepted messages never delivered", missing);

	struct nara_err err = { 0 };
	struct store_options opt = { .read_only = true };
	struct store *st = store_open(h.store, &opt, &err);
	cr_assert(st != NULL, "%s", err.text);
	int64_t bad = 0;
	cr_expect_eq(store_audit_verify(st, &bad, &err), 0,
	    "audit chain broken at %lld: %s", (long long)bad, err.text);
	store_free(&st);
	free(bk.sent);
	free(bk.accepted);
	free(bk.handed_off);
	fixture_free(&fx);
	harness_cleanup(&h);
}
