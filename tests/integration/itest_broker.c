/*
 * itest_broker.c — narad end to end over ipc with real processes: the
 * submit → deliver → ack → receipt cycle, refusals with their codes,
 * idempotency, offline recipients, nack, expiry, redelivery and reload.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "hostile_helpers.h"
#include "ops_helpers.h"
#include "pbstr.h"
#include "validate.h"

static struct harness h;
static struct fixture *fx;

static void
setup(void)
{
	harness_init(&h, "ack_timeout = 2\n");
	harness_start(&h);
	fx = fixture_new();
}

static void
teardown(void)
{
	fixture_free(&fx);
	harness_cleanup(&h);
}

TestSuite(broker, .init = setup, .fini = teardown, .timeout = 60);

/* The suite's narad with acks allowed 30 s: for a test whose messages
 * stay in flight longer than the suite's 2 s, so that a delivery again can
 * only come from what the test looks at, not from the ack timeout. */
static void
setup_slow_acks(void)
{
	harness_init(&h, "ack_timeout = 30\n");
	harness_start(&h);
	fx = fixture_new();
}

static void
expect_rejected(struct tclient *c, const Nara__Envelope *e, const char *code,
    const char *path)
{
	Nara__Frame *r = tclient_submit(c, e);

	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_REJECTED,
	    "expected %s, got kind %d", code, r->kind_case);
	cr_expect_str_eq(r->rejected->code, code, "text: %s", r->rejected->text);
	if (path != NULL)
		cr_expect_str_eq(r->rejected->path, path);
	cr_expect_str_eq(r->rejected->message_id, e->message_id);
	frame_free(&r);
}

static void
expect_accepted(struct tclient *c, const Nara__Envelope *e, bool duplicate)
{
	Nara__Frame *r = tclient_submit(c, e);

	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED, "rejected: %s %s",
	    r->kind_case == NARA__FRAME__KIND_REJECTED ? r->rejected->code : "",
	    r->kind_case == NARA__FRAME__KIND_REJECTED ? r->rejected->text : "");
	cr_expect_str_eq(r->accepted->message_id, e->message_id);
	cr_expect_eq(r->accepted->duplicate, duplicate);
	frame_free(&r);
}

Test(broker, submit_deliver_ack_receipt)
{
	struct tclient bup, soc;
	Nara__Frame *d, *r;
	char id[37], sql[400];

	tclient_open(&bup, &h, T_BUP, 16);
	tclient_open(&soc, &h, T_GBG, 16);
	Nara__Envelope *e = fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP, T_GBG_SOC);
	strcpy(id, e->message_id);
	expect_accepted(&bup, e, false);

	d = tclient_expect(&soc, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert(d != NULL, "no delivery");
	cr_expect_str_eq(d->deliver->envelope->message_id, id);
	cr_expect_eq(d->deliver->attempt, 1);
	cr_expect_str_eq(d->deliver->envelope->report_of_concern->observations,
	    "Blåmärken i olika läkningsstadier.");
	frame_free(&d);
	tclient_ack(&soc, id, false);

	r = tclient_expect(&bup, NARA__FRAME__KIND_RECEIPT, 5000);
	cr_assert(r != NULL, "no receipt");
	cr_expect_str_eq(r->receipt->message_id, id);
	cr_expect_eq(r->receipt->outcome, NARA__OUTCOME__OUTCOME_DELIVERED);
	cr_expect_str_eq(r->receipt->receiving_node, T_GBG);
	frame_free(&r);
	tclient_ack(&bup, id, true);
	snprintf(sql, sizeof(sql), "select count(*) from audit where "
	    "event='receipt_acked' and message_id='%s'", id);
	cr_expect(harness_wait_sql(&h, sql, 1, 10000), "receipt ack not "
	    "recorded");

	snprintf(sql, sizeof(sql), "select count(*) from messages where "
	    "message_id='%s' and payload is null and state=1", id);
	cr_expect_eq(harness_sql_long(&h, sql), 1, "message not acked");
	cr_expect_eq(harness_sql_long(&h, "select count(*) from payloads"), 0,
	    "payload not purged");
	cr_expect_eq(harness_sql_long(&h, "select count(*) from receipts"), 0,
	    "acked receipt still stored");
	/* seven facts in five rows: the acked row records the purge and the
	 * receipt queued for the sender's node too (AUDIT.md) */
	snprintf(sql, sizeof(sql), "select count(*) from audit where message_id="
	    "'%s' and event in ('received','delivered','acked','receipt_sent',"
	    "'receipt_acked')", id);
	cr_expect_eq(harness_sql_long(&h, sql), 5);
	snprintf(sql, sizeof(sql), "select count(*) from audit where message_id="
	    "'%s' and event = 'acked' and node = '%s' and detail = 'payload "
	    "purged; receipt queued for %s'", id, T_GBG, T_BUP);
	cr_expect_eq(harness_sql_long(&h, sql), 1);
	tclient_close(&bup);
	tclient_close(&soc);
}

Test(broker, offline_recipient_catches_up_in_order)
{
	struct tclient eh, bup;
	char ids[20][37];

	tclient_open(&eh, &h, T_GBG, 16);
	for (int i = 0; i < 20; i++) {
		Nara__Envelope *e = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
		strcpy(ids[i], e->message_id);
		expect_accepted(&eh, e, false);
	}
	tclient_open(&bup, &h, T_BUP, 8);
	for (int i = 0; i < 20; i++) {
		Nara__Frame *d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
		cr_assert(d != NULL, "delivery %d missing", i);
		cr_assert_str_eq(d->deliver->envelope->message_id, ids[i],
		    "out of order at %d", i);
		tclient_ack(&bup, ids[i], false);
		frame_free(&d);
	}
	for (int i = 0; i < 20; i++) {
		Nara__Frame *r = tclient_expect(&eh, NARA__FRAME__KIND_RECEIPT, 5000);
		cr_assert(r != NULL, "receipt %d missing", i);
		tclient_ack(&eh, r->receipt->message_id, true);
		frame_free(&r);
	}
	tclient_close(&eh);
	tclient_close(&bup);
}

/* A connected recipient holding its one credit while 150 messages for it
 * arrive, between 50 for a recipient that is offline: narad keeps the
 * first ones by seq, knows too many after 64 and reads the queue again,
 * passing the other's messages; every one arrives once, in order. */
Test(broker, recipient_without_credit_gets_a_long_run_in_order)
{
	struct tclient eh, boras, bup, ped;
	char ids[150][37], pids[50][37];

	tclient_open(&bup, &h, T_BUP, 1);
	tclient_open(&eh, &h, T_GBG, 16);
	tclient_open(&boras, &h, T_BORAS, 16);
	for (int i = 0, k = 0; i < 150; i++) {
		Nara__Envelope *e = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
		strcpy(ids[i], e->message_id);
		expect_accepted(&eh, e, false);
		if (i % 3 == 0 && k < 50) {
			e = fixture_envelope(fx,
			    NARA__MESSAGE_TYPE__CONSULTATION_REQUEST, T_BORAS_EH,
			    T_PED);
			strcpy(pids[k++], e->message_id);
			expect_accepted(&boras, e, false);
		}
	}
	for (int i = 0; i < 150; i++) {
		Nara__Frame *d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
		cr_assert(d != NULL, "delivery %d missing", i);
		cr_assert_str_eq(d->deliver->envelope->message_id, ids[i],
		    "out of order at %d", i);
		cr_assert_eq(d->deliver->attempt, 1, "delivered twice at %d", i);
		tclient_ack(&bup, ids[i], false);
		frame_free(&d);
	}
	tclient_open(&ped, &h, T_PED, 16);
	for (int i = 0; i < 50; i++) {
		Nara__Frame *d = tclient_expect(&ped, NARA__FRAME__KIND_DELIVER, 5000);
		cr_assert(d != NULL, "paediatrics delivery %d missing", i);
		cr_assert_str_eq(d->deliver->envelope->message_id, pids[i],
		    "paediatrics out of order at %d", i);
		tclient_ack(&ped, pids[i], false);
		frame_free(&d);
	}
	cr_expect(harness_wait_sql_at_most(&h, "select count(*) from messages "
	    "where state=0", 0, 10000), "acked messages still queued");
	tclient_close(&eh);
	tclient_close(&boras);
	tclient_close(&bup);
	tclient_close(&ped);
}

Test(broker, idempotent_and_conflicting_resubmit)
{
	struct tclient eh;
	char sql[200];

	tclient_open(&eh, &h, T_GBG, 16);
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	expect_accepted(&eh, e, false);
	expect_accepted(&eh, e, true);
	e->referral->reason = pb_str("Annan text med samma id.");
	expect_rejected(&eh, e, "NR033", "envelope.message_id");
	snprintf(sql, sizeof(sql), "select count(*) from messages where "
	    "message_id='%s'", e->message_id);
	cr_expect_eq(harness_sql_long(&h, sql), 1);
	tclient_close(&eh);
}

Test(broker, refusal_codes)
{
	struct tclient eh;
	Nara__Envelope *e;

	tclient_open(&eh, &h, T_GBG, 16);
	/* Borås' address used by Göteborg's node */
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_BORAS_EH, T_BUP);
	expect_rejected(&eh, e, "NR030", "envelope.sender");
	/* municipality to municipality: no rule */
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BORAS_EH);
	expect_rejected(&eh, e, "NR031", NULL);
	/* a school may not send reports of concern to the region */
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_GBG_EH, T_BUP);
	expect_rejected(&eh, e, "NR031", NULL);
	/* valid address that no node serves */
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH,
	    "SE2321000131-E000000000999");
	expect_rejected(&eh, e, "NR032", "envelope.recipient");
	/* identifying referral without a legal basis */
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	e->legal_basis = NARA__LEGAL_BASIS__LEGAL_BASIS_UNSPECIFIED;
	expect_rejected(&eh, e, "NR016", NULL);
	/* referral claiming a mandatory report */
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	e->legal_basis = NARA__LEGAL_BASIS__LEGAL_BASIS_MANDATORY_REPORT;
	expect_rejected(&eh, e, "NR017", NULL);
	/* bad check digit in the personal number */
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	{
		/* the fixture's valid number with its check digit moved by one */
		static char bad[16];
		snprintf(bad, sizeof bad, "%s", e->subject->personal_number);
		size_t n = strlen(bad);
		bad[n - 1] = (char)('0' + (bad[n - 1] - '0' + 1) % 10);
		e->subject->personal_number = bad;
	}
	expect_rejected(&eh, e, "NR013", "envelope.subject.personal_number");
	cr_expect_eq(harness_sql_long(&h, "select count(*) from messages"), 0);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='rejected'"), 7);
	tclient_close(&eh);
}

/* The Welcome says the credit window narad keeps for the session: the
 * hello's, default_credit (64) for 0, at most max_credit (1000). */
Test(broker, welcome_names_the_credit_window_kept)
{
	static const struct { uint32_t asked, kept; } t[] = {
		{ 7, 7 }, { 0, 64 }, { 1000, 1000 }, { 1000000, 1000 },
	};
	struct tclient c;
	Nara__Frame *r;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		tclient_open_raw(&c, &h, T_GBG);
		tclient_hello(&c, T_GBG, t[i].asked);
		r = tclient_expect(&c, NARA__FRAME__KIND_WELCOME, 5000);
		cr_assert(r != NULL, "no welcome for a window of %u", t[i].asked);
		cr_expect_eq(r->welcome->credit_window, t[i].kept, "asked %u, "
		    "welcomed with %u", t[i].asked, r->welcome->credit_window);
		frame_free(&r);
		tclient_close(&c);
	}
}

Test(broker, session_refusals)
{
	struct tclient c;
	Nara__Frame *r;
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello hello = NARA__HELLO__INIT;

	/* frames before hello */
	tclient_open_raw(&c, &h, T_GBG);
	tclient_ack(&c, "9b2f0a44-56a1-4c1e-9d0e-0a4c1b2f3e4d", false);
	r = tclient_expect(&c, NARA__FRAME__KIND_REJECTED, 5000);
	cr_assert(r != NULL);
	cr_expect_str_eq(r->rejected->code, "NR003");
	frame_free(&r);
	/* garbage bytes */
	tclient_send_raw(&c, "\xff\xff\xff\xff", 4);
	r = tclient_expect(&c, NARA__FRAME__KIND_REJECTED, 5000);
	cr_assert(r != NULL);
	cr_expect_str_eq(r->rejected->code, "NR001");
	frame_free(&r);
	tclient_close(&c);
	/* hello from a node that is not configured */
	tclient_open_raw(&c, &h, "kommun-9999");
	hello.node_id = pb_str("kommun-9999");
	hello.protocol_version = NARA_PROTOCOL_VERSION;
	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &hello;
	tclient_send(&c, &f);
	r = tclient_expect(&c, NARA__FRAME__KIND_REJECTED, 5000);
	cr_assert(r != NULL);
	cr_expect_str_eq(r->rejected->code, "NR004");
	frame_free(&r);
	/* wrong protocol version */
	hello.protocol_version = 99;
	tclient_send(&c, &f);
	r = tclient_expect(&c, NARA__FRAME__KIND_REJECTED, 5000);
	cr_assert(r != NULL);
	cr_expect_str_eq(r->rejected->code, "NR002");
	frame_free(&r);
	tclient_close(&c);
	/* a frame kind only the broker sends */
	tclient_open(&c, &h, T_GBG, 4);
	Nara__Welcome w = NARA__WELCOME__INIT;
	f.kind_case = NARA__FRAME__KIND_WELCOME;
	f.welcome = &w;
	tclient_send(&c, &f);
	r = tclient_expect(&c, NARA__FRAME__KIND_REJECTED, 5000);
	cr_assert(r != NULL);
	cr_expect_str_eq(r->rejected->code, "NR005");
	frame_free(&r);
	tclient_close(&c);
}

Test(broker, nack_dead_letters_with_failure_receipt)
{
	struct tclient eh, bup;
	Nara__Frame f = NARA__FRAME__INIT, *d, *r;
	Nara__Nack nack = NARA__NACK__INIT;
	char id[37];

	tclient_open(&eh, &h, T_GBG, 16);
	tclient_open(&bup, &h, T_BUP, 16);
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	strcpy(id, e->message_id);
	expect_accepted(&eh, e, false);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert(d != NULL);
	frame_free(&d);
	nack.message_id = id;
	nack.code = pb_str("NR052");
	nack.text = pb_str("journal system refused the referral");
	f.kind_case = NARA__FRAME__KIND_NACK;
	f.nack = &nack;
	tclient_send(&bup, &f);
	r = tclient_expect(&eh, NARA__FRAME__KIND_RECEIPT, 5000);
	cr_assert(r != NULL);
	cr_expect_eq(r->receipt->outcome, NARA__OUTCOME__OUTCOME_FAILED);
	cr_expect_str_eq(r->receipt->code, "NR052");
	frame_free(&r);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from messages where "
	    "state=2"), 1);
	tclient_close(&eh);
	tclient_close(&bup);
}

/* A recipient may refuse (nack) or ack only what was delivered to it: a
 * nack of a message still waiting in its queue dead-lettered it with a
 * FAILED receipt ("the local system refused it"), and an ack marked it
 * delivered. Both are ignored; the message is delivered in its turn. */
Test(broker, nack_or_ack_of_a_message_not_delivered_is_ignored)
{
	struct tclient eh, bup;
	Nara__Frame *d, *r;
	char first[37], second[37];
	Nara__Envelope *e;

	tclient_open(&eh, &h, T_GBG, 16);
	tclient_open(&bup, &h, T_BUP, 1);
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	strcpy(first, e->message_id);
	expect_accepted(&eh, e, false);
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	strcpy(second, e->message_id);
	expect_accepted(&eh, e, false);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert(d != NULL);
	cr_assert_str_eq(d->deliver->envelope->message_id, first);
	frame_free(&d);
	/* the second waits behind the window of one */
	ops_send_nack(&bup, second);
	tclient_ack(&bup, second, false);
	cr_assert(harness_wait_log(&h, "which is not in flight to it; ignored",
	    1, 5000), "the nack was taken; see %s", h.log);
	tclient_ack(&bup, first, false);
	r = tclient_expect(&eh, NARA__FRAME__KIND_RECEIPT, 5000);
	cr_assert(r != NULL);
	cr_expect_str_eq(r->receipt->message_id, first);
	cr_expect_eq(r->receipt->outcome, NARA__OUTCOME__OUTCOME_DELIVERED);
	frame_free(&r);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert(d != NULL, "the second message was not delivered");
	cr_expect_str_eq(d->deliver->envelope->message_id, second);
	frame_free(&d);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from messages where "
	    "state=2"), 0);
	tclient_close(&eh);
	tclient_close(&bup);
}

Test(broker, no_ack_redelivers_with_next_attempt)
{
	struct tclient eh, bup;
	Nara__Frame *d;

	tclient_open(&eh, &h, T_GBG, 16);
	tclient_open(&bup, &h, T_BUP, 16);
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	expect_accepted(&eh, e, false);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert(d != NULL);
	cr_expect_eq(d->deliver->attempt, 1);
	frame_free(&d);
	/* ack_timeout is 2 s in this suite */
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 6000);
	cr_assert(d != NULL, "not redelivered");
	cr_expect_eq(d->deliver->attempt, 2);
	frame_free(&d);
	tclient_close(&eh);
	tclient_close(&bup);
}

Test(broker, reconnect_redelivers_unacked)
{
	struct tclient eh, bup;
	Nara__Frame *d;

	tclient_open(&eh, &h, T_GBG, 16);
	tclient_open(&bup, &h, T_BUP, 16);
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	expect_accepted(&eh, e, false);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert(d != NULL);
	frame_free(&d);
	tclient_close(&bup);
	tclient_open(&bup, &h, T_BUP, 16);
	d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert(d != NULL, "not redelivered after reconnect");
	cr_expect_str_eq(d->deliver->envelope->message_id, e->message_id);
	cr_expect_eq(d->deliver->attempt, 2);
	frame_free(&d);
	tclient_close(&eh);
	tclient_close(&bup);
}

Test(broker, expiry_gives_expired_receipt)
{
	struct tclient eh;
	Nara__Frame *r;
	char when[32];

	tclient_open(&eh, &h, T_GBG, 16);
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	time_format(time(NULL) + 2, when, sizeof(when));
	e->expires = when;
	expect_accepted(&eh, e, false);
	r = tclient_expect(&eh, NARA__FRAME__KIND_RECEIPT, 8000);
	cr_assert(r != NULL, "no expiry receipt");
	cr_expect_str_eq(r->receipt->message_id, e->message_id);
	cr_expect_eq(r->receipt->outcome, NARA__OUTCOME__OUTCOME_EXPIRED);
	cr_expect_str_eq(r->receipt->code, "NR051");
	frame_free(&r);
	tclient_close(&eh);
}

/* The tick's work (here: expiry) is done also when a commit is out
 * whenever the tick comes: with every fsync slowed by 300 ms (strace) and
 * a submit every 50 ms, one commit follows another at once, so the tick
 * finds one out each time; its work goes with the next batch. */
Test(broker, tick_work_done_while_commits_follow_each_other)
{
	struct tclient eh;
	Nara__Frame *f, *r = NULL;
	char when[32], id[37];
	int64_t end;
	pid_t tracer;
	int fillers = 0;

	if (system("command -v strace >/dev/null 2>&1") != 0)
		cr_skip_test("strace is not installed: no slow commits");
	tclient_open(&eh, &h, T_GBG, 16);
	tracer = fsync_inject(h.pid, "delay_enter=300000");
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	time_format(time(NULL) + 2, when, sizeof(when));
	e->expires = when;
	snprintf(id, sizeof(id), "%s", e->message_id);
	tclient_submit_nowait(&eh, e);
	end = harness_ms_now() + 20000;
	while (r == NULL && harness_ms_now() < end) {
		tclient_submit_nowait(&eh, fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP));
		fillers++;
		while (r == NULL && (f = tclient_recv(&eh, 50)) != NULL) {
			if (f->kind_case == NARA__FRAME__KIND_RECEIPT &&
			    strcmp(f->receipt->message_id, id) == 0)
				r = f;
			else
				frame_free(&f);
		}
	}
	fsync_inject_end(tracer, h.pid);
	cr_assert_not_null(r, "no expiry receipt in 20 s of back-to-back "
	    "commits (%d submits); see %s", fillers, h.log);
	cr_expect_eq(r->receipt->outcome, NARA__OUTCOME__OUTCOME_EXPIRED);
	cr_expect_str_eq(r->receipt->code, "NR051");
	frame_free(&r);
	tclient_close(&eh);
}

/* A message that expired while in flight, then acked by the node: the
 * ack changes nothing (it is a dead letter already) and the messages in
 * flight after it are not delivered again. They stay unacked for the
 * 2-3 s until the expiry: with the suite's ack timeout of 2 s they would
 * be delivered again for that reason alone when the machine is slow. */
Test(broker, ack_of_a_message_expired_in_flight_resends_nothing,
    .init = setup_slow_acks)
{
	struct tclient eh, bup;
	Nara__Frame *d, *r;
	char when[32], ids[4][37];

	tclient_open(&eh, &h, T_GBG, 16);
	tclient_open(&bup, &h, T_BUP, 8);
	for (int i = 0; i < 3; i++) {
		Nara__Envelope *e = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
		if (i == 0) {
			time_format(time(NULL) + 2, when, sizeof(when));
			e->expires = when;
		}
		strcpy(ids[i], e->message_id);
		expect_accepted(&eh, e, false);
	}
	for (int i = 0; i < 3; i++) {
		cr_assert_not_null(d = tclient_expect(&bup,
		    NARA__FRAME__KIND_DELIVER, 5000), "delivery %d missing", i);
		cr_assert_str_eq(d->deliver->envelope->message_id, ids[i]);
		frame_free(&d);
	}
	/* the first expires in flight: its sender hears EXPIRED */
	cr_assert_not_null(r = tclient_expect(&eh, NARA__FRAME__KIND_RECEIPT,
	    8000), "no expiry receipt");
	cr_expect_str_eq(r->receipt->message_id, ids[0]);
	cr_expect_eq(r->receipt->outcome, NARA__OUTCOME__OUTCOME_EXPIRED);
	tclient_ack(&eh, ids[0], true);
	frame_free(&r);
	tclient_ack(&bup, ids[0], false);
	/* the next delivery is a new message, not one of those in flight
	 * again */
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	strcpy(ids[3], e->message_id);
	expect_accepted(&eh, e, false);
	cr_assert_not_null(d = tclient_expect(&bup, NARA__FRAME__KIND_DELIVER,
	    5000), "the new message was not delivered");
	cr_expect_str_eq(d->deliver->envelope->message_id, ids[3],
	    "a message in flight was delivered again");
	frame_free(&d);
	for (int i = 1; i < 4; i++)
		tclient_ack(&bup, ids[i], false);
	tclient_close(&eh);
	tclient_close(&bup);
}

Test(broker, reload_good_and_bad_config)
{
	char out[512];
	FILE *f;

	/* a good change: a new node appears */
	f = fopen(h.conf, "a");
	fprintf(f, "\n[node kommun-1401]\nname = Härryda\n"
	    "addresses = kommun:1401:socialtjanst\n");
	fclose(f);
	kill(h.pid, SIGHUP);
	cr_expect(harness_wait_sql(&h, "select count(*) from audit where "
	    "event='config_reloaded'", 1, 10000), "no reload; see %s", h.log);
	cr_expect(harness_wait_log(&h, "configuration reloaded", 1, 10000));
	cr_expect_eq(harness_log_count(&h, "configuration reloaded"), 1);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='config_reloaded'"), 1);
	struct tclient c;
	tclient_open(&c, &h, "kommun-1401", 4);   /* asserts Welcome */
	tclient_close(&c);
	/* a bad change: the running config stays */
	f = fopen(h.conf, "a");
	fprintf(f, "\n[node kommun-1402]\nno_such_key = 1\n");
	fclose(f);
	kill(h.pid, SIGHUP);
	cr_expect(harness_wait_sql(&h, "select count(*) from audit where "
	    "event='config_refused'", 1, 10000), "bad config not refused; "
	    "see %s", h.log);
	cr_expect_eq(harness_log_count(&h, "reload refused"), 1);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='config_refused'"), 1);
	tclient_open(&c, &h, "kommun-1401", 4);
	tclient_close(&c);
	/* narad -n names the bad line */
	char bin[300];
	int rc = harness_run(out, sizeof(out), "%s -n -c %s",
	    harness_bin("narad", bin, sizeof(bin)), h.conf);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(out, "no_such_key") != NULL, "output: %s", out);
}

Test(broker, audit_chain_has_no_personal_number)
{
	struct tclient bup;
	char sql[300];

	tclient_open(&bup, &h, T_BUP, 16);
	Nara__Envelope *e = fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP, T_GBG_SOC);
	expect_accepted(&bup, e, false);
	snprintf(sql, sizeof(sql), "select count(*) from audit where "
	    "coalesce(subject,'')||coalesce(detail,'')||coalesce(author,'') "
	    "like '%%%s%%'", e->subject->personal_number);
	cr_expect_eq(harness_sql_long(&h, sql), 0);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='received' and length(subject)=64"), 1);
	cr_expect_eq(harness_log_count(&h, e->subject->personal_number), 0);
	tclient_close(&bup);
}

Test(broker, sigterm_stops_cleanly)
{
	cr_expect_eq(harness_stop(&h, SIGTERM), 0);
	cr_expect_eq(harness_log_count(&h, "stopped"), 1);
}
