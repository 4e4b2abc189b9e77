/*
 * itest_backlog.c — an offline regional unit accumulates 100,000 messages;
 * narad is killed and started again (where each queue starts is found by
 * a walk over the queue index, in two parts here, and a message queued
 * behind the backlog for another node is found in the second); meanwhile
 * another node's traffic flows undisturbed; when the unit returns it
 * receives the whole backlog in submission order.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zmq.h>

#include "harness.h"
#include "validate.h"

#define BACKLOG 100000
#define PIPELINE 2000

static struct harness h;

TestSuite(backlog, .timeout = 600);

/* Submit n referrals from Göteborg's school health to BUP, PIPELINE at a
 * time, recording the accepted ids in order. */
static void
submit_backlog(struct tclient *c, struct fixture *fx, char (*ids)[37], int n)
{
	int sent = 0, answered = 0;

	while (answered < n) {
		while (sent < n && sent - answered < PIPELINE) {
			Nara__Envelope *e = fixture_envelope(fx,
			    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
			strcpy(ids[sent++], e->message_id);
			Nara__Frame f = NARA__FRAME__INIT;
			Nara__Submit s = NARA__SUBMIT__INIT;
			s.envelope = e;
			f.kind_case = NARA__FRAME__KIND_SUBMIT;
			f.submit = &s;
			tclient_send(c, &f);
		}
		Nara__Frame *r = tclient_expect(c, NARA__FRAME__KIND_ACCEPTED, 20000);
		cr_assert(r != NULL, "no answer after %d of %d", answered, n);
		cr_assert_str_eq(r->accepted->message_id, ids[answered],
		    "answers out of order at %d", answered);
		frame_free(&r);
		answered++;
	}
}

Test(backlog, hundred_thousand_for_offline_node)
{
	struct fixture *fx = fixture_new();
	char (*ids)[37] = calloc(BACKLOG, 37);
	struct tclient gbg, boras, ped, bup;
	char early[37];

	cr_assert(ids != NULL);
	harness_init(&h, "ack_timeout = 120\nmax_credit = 5000\n");
	harness_start(&h);
	tclient_open(&gbg, &h, T_GBG, 1);
	submit_backlog(&gbg, fx, ids, BACKLOG);
	cr_assert_eq(harness_sql_long(&h, "select count(*) from messages where "
	    "recipient_node='" T_BUP "' and state=0"), BACKLOG);

	/* One consultation for paediatrics, offline, behind the backlog. */
	tclient_open(&boras, &h, T_BORAS, 16);
	Nara__Envelope *e0 = fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__CONSULTATION_REQUEST, T_BORAS_EH, T_PED);
	snprintf(early, sizeof(early), "%s", e0->message_id);
	Nara__Frame *r0 = tclient_submit(&boras, e0);
	cr_assert_eq(r0->kind_case, NARA__FRAME__KIND_ACCEPTED);
	frame_free(&r0);
	tclient_close(&boras);
	tclient_close(&gbg);

	/* Killed and started again: the queues' starts are found again. */
	cr_assert_eq(harness_stop(&h, SIGKILL), -SIGKILL);
	harness_start(&h);
	cr_assert(harness_wait_log(&h, "queues: 2 nodes have messages queued",
	    1, 60000), "the walk did not find both queues; see %s", h.log);
	cr_expect_eq(harness_log_count(&h, "2 turns of the loop"), 1,
	    "the walk was not in two parts; see %s", h.log);

	/* Paediatrics gets the message behind the backlog, then Borås →
	 * paediatrics flows while BUP's backlog waits. */
	tclient_open(&boras, &h, T_BORAS, 16);
	tclient_open(&ped, &h, T_PED, 16);
	Nara__Frame *d0 = tclient_expect(&ped, NARA__FRAME__KIND_DELIVER, 20000);
	cr_assert(d0 != NULL, "the message behind the backlog was not delivered");
	cr_assert_str_eq(d0->deliver->envelope->message_id, early);
	tclient_ack(&ped, early, false);
	frame_free(&d0);
	for (int i = 0; i < 50; i++) {
		Nara__Envelope *e = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__CONSULTATION_REQUEST, T_BORAS_EH, T_PED);
		Nara__Frame *r = tclient_submit(&boras, e);
		cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED);
		frame_free(&r);
		Nara__Frame *d = tclient_expect(&ped, NARA__FRAME__KIND_DELIVER, 5000);
		cr_assert(d != NULL, "paediatrics delivery %d waited behind the backlog", i);
		cr_assert_str_eq(d->deliver->envelope->message_id, e->message_id);
		tclient_ack(&ped, e->message_id, false);
		frame_free(&d);
	}

	/* BUP returns and drains everything, in order. */
	tclient_open(&bup, &h, T_BUP, 1000);
	for (int i = 0; i < BACKLOG; i++) {
		Nara__Frame *d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 20000);
		cr_assert(d != NULL, "backlog delivery %d missing", i);
		cr_assert_str_eq(d->deliver->envelope->message_id, ids[i],
		    "backlog out of order at %d", i);
		tclient_ack(&bup, ids[i], false);
		frame_free(&d);
	}
	cr_expect(harness_wait_sql_at_most(&h, "select count(*) from messages "
	    "where state=0", 0, 30000), "acked messages still queued");
	/* every content deleted: none in the rows, none apart (payloads) */
	cr_expect_eq(harness_sql_long(&h, "select count(*) from messages where "
	    "payload is not null"), 0);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from payloads"), 0);
	tclient_close(&bup);
	tclient_close(&ped);
	tclient_close(&boras);
	free(ids);
	fixture_free(&fx);
	harness_cleanup(&h);
}
