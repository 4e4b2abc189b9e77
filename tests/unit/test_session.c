/*
 * test_session.c — narad's per-node runtime state: the credit window, the
 * in-flight run (acks in order and out of order, the run sliding back to
 * the front of its array, growth), overdue entries, and the table rebuilt
 * on reload keeping the state of nodes that stay.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "session.h"

static const char *const ids3[] = { "kommun-1490", "kommun-1480",
	"SE2321000131-E000000000101" };

static void
id_of(int i, char out[MESSAGE_ID_MAX])
{
	snprintf(out, MESSAGE_ID_MAX, "00000000-0000-4000-8000-%012d", i);
}

Test(session, table_sorted_and_found)
{
	struct session_table t;

	cr_assert_eq(session_table_init(&t, ids3, 3), 0);
	cr_expect_str_eq(t.v[0].node, "SE2321000131-E000000000101");
	cr_expect_str_eq(t.v[2].node, "kommun-1490");
	cr_expect_not_null(session_find(&t, "kommun-1480"));
	cr_expect_null(session_find(&t, "kommun-1481"));
	/* an id longer than any node id is simply not found */
	char longid[200];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	cr_expect_null(session_find(&t, longid));
	session_table_free(&t);
}

Test(session, credit_follows_window_and_in_flight)
{
	struct session_table t;
	struct session *s;
	char id[MESSAGE_ID_MAX];

	session_table_init(&t, ids3, 3);
	s = session_find(&t, "kommun-1480");
	s->window = 3;
	cr_expect_eq(session_credit(s), 0, "no credit before hello");
	s->connected = true;
	cr_expect_eq(session_credit(s), 3);
	for (int i = 0; i < 3; i++) {
		id_of(i, id);
		cr_assert_eq(session_inflight_add(s, id, i + 1, false, 1000 + i, ""), 0);
	}
	cr_expect_eq(session_credit(s), 0);
	/* a window lowered under what is in flight gives no credit, not a
	 * huge unsigned number */
	s->window = 1;
	cr_expect_eq(session_credit(s), 0);
	s->window = 5;
	cr_expect_eq(session_credit(s), 2);
	session_table_free(&t);
}

Test(session, acks_in_and_out_of_order)
{
	struct session_table t;
	struct session *s;
	char id[MESSAGE_ID_MAX];
	struct inflight was;

	session_table_init(&t, ids3, 3);
	s = session_find(&t, "kommun-1480");
	for (int i = 0; i < 5; i++) {
		id_of(i, id);
		session_inflight_add(s, id, i == 2 ? 0 : i + 1, i == 2, 100 * i,
		    i == 2 ? "kommun-1490" : "SE2321000131-E000000000101");
	}
	id_of(0, id);
	cr_expect_eq(session_inflight_remove(s, id, false, &was), 0);
	cr_expect_str_eq(was.sender_node, "SE2321000131-E000000000101");
	cr_expect_eq(was.seq, 1);
	cr_expect_eq(s->fl_head, 1, "the front entry only moves the head");
	/* a receipt ack must name a receipt, a delivery ack a delivery */
	id_of(2, id);
	cr_expect_eq(session_inflight_remove(s, id, false, NULL), -1);
	cr_expect_eq(session_inflight_remove(s, id, true, &was), 0);
	cr_expect_str_eq(was.sender_node, "kommun-1490");
	id_of(4, id);
	cr_expect_eq(session_inflight_remove(s, id, false, NULL), 0);
	cr_expect_eq(s->n_fl, 2);
	cr_expect_eq(session_inflight_remove(s, id, false, NULL), -1,
	    "acked twice");
	/* what is left, in order: 1 and 3 */
	id_of(1, id);
	cr_expect_str_eq(s->fl[s->fl_head].message_id, id);
	id_of(3, id);
	cr_expect_str_eq(s->fl[s->fl_head + 1].message_id, id);
	session_table_free(&t);
}

/* Steady traffic: add and ack one by one far past the array's size; the
 * run slides back to the front instead of growing without bound, and the
 * oldest entry stays first. */
Test(session, in_flight_run_wraps_without_growing)
{
	struct session_table t;
	struct session *s;
	char id[MESSAGE_ID_MAX];
	size_t cap;

	session_table_init(&t, ids3, 3);
	s = session_find(&t, "kommun-1480");
	for (int i = 0; i < 8; i++) {
		id_of(i, id);
		session_inflight_add(s, id, i + 1, false, i, "");
	}
	cap = s->cap_fl;
	cr_assert_gt(cap, 0);
	for (int i = 8; i < 8 + 20 * (int)cap; i++) {
		id_of(i - 8, id);
		cr_assert_eq(session_inflight_remove(s, id, false, NULL), 0);
		id_of(i, id);
		cr_assert_eq(session_inflight_add(s, id, i + 1, false, i, ""), 0);
		cr_assert_eq(s->n_fl, 8);
		cr_assert_leq(s->fl_head + s->n_fl, s->cap_fl);
	}
	cr_expect_eq(s->cap_fl, cap, "the array grew under steady traffic");
	id_of(20 * (int)cap, id);
	cr_expect_str_eq(s->fl[s->fl_head].message_id, id);
	cr_expect(session_overdue(s, 20 * (int64_t)cap));
	cr_expect(!session_overdue(s, 20 * (int64_t)cap - 1));
	session_table_free(&t);
}

Test(session, grows_for_a_large_window)
{
	struct session_table t;
	struct session *s;
	char id[MESSAGE_ID_MAX];

	session_table_init(&t, ids3, 3);
	s = session_find(&t, "kommun-1480");
	for (int i = 0; i < 1000; i++) {
		id_of(i, id);
		cr_assert_eq(session_inflight_add(s, id, i + 1, false, i, ""), 0);
	}
	cr_expect_eq(s->n_fl, 1000);
	id_of(999, id);
	cr_expect_eq(session_inflight_remove(s, id, false, NULL), 0);
	id_of(0, id);
	cr_expect_str_eq(s->fl[s->fl_head].message_id, id);
	session_reset(s);
	cr_expect_eq(s->n_fl, 0);
	cr_expect(!session_overdue(s, 1 << 30));
	session_table_free(&t);
}

Test(session, rebuild_keeps_nodes_that_stay)
{
	static const char *const ids_new[] = { "kommun-1480", "kommun-1401" };
	struct session_table t;
	struct session *s;
	char id[MESSAGE_ID_MAX];

	session_table_init(&t, ids3, 3);
	s = session_find(&t, "kommun-1480");
	s->connected = true;
	s->window = 16;
	s->msg_cursor = 42;
	id_of(7, id);
	session_inflight_add(s, id, 40, false, 5, "kommun-1490");
	cr_assert_eq(session_table_rebuild(&t, ids_new, 2), 0);
	cr_expect_eq(t.n, 2);
	cr_expect_null(session_find(&t, "kommun-1490"), "removed node kept");
	s = session_find(&t, "kommun-1480");
	cr_assert_not_null(s);
	cr_expect(s->connected);
	cr_expect_eq(s->window, 16);
	cr_expect_eq(s->msg_cursor, 42);
	cr_expect_eq(s->n_fl, 1);
	cr_expect_eq(session_inflight_remove(s, id, false, NULL), 0);
	s = session_find(&t, "kommun-1401");
	cr_assert_not_null(s);
	cr_expect(!s->connected);
	cr_expect_eq(s->n_fl, 0);
	session_table_free(&t);
}

/* A reset reads the queue again from the lowest message that was in
 * flight, not from the start (the other messages before the cursor were
 * acked or settled), and never moves the cursor forward. */
Test(session, reset_rewinds_to_the_lowest_in_flight)
{
	struct session_table t;
	struct session *s;
	char id[MESSAGE_ID_MAX];

	session_table_init(&t, ids3, 3);
	s = session_find(&t, "kommun-1480");
	s->connected = true;
	s->window = 16;
	s->msg_cursor = 90;
	id_of(1, id);
	session_inflight_add(s, id, 70, false, 5, "kommun-1490");
	id_of(2, id);
	session_inflight_add(s, id, 0, true, 5, "");    /* a receipt */
	id_of(3, id);
	session_inflight_add(s, id, 55, false, 5, "kommun-1490");
	id_of(4, id);
	session_inflight_add(s, id, 80, false, 5, "kommun-1490");
	session_reset(s);
	cr_expect_eq(s->msg_cursor, 54);
	cr_expect_eq(s->n_fl, 0);
	cr_expect_eq(s->rcpt_cursor, 0);
	session_reset(s);
	cr_expect_eq(s->msg_cursor, 54, "nothing in flight: stays");
	session_rewind(s, 60);
	cr_expect_eq(s->msg_cursor, 54, "a rewind never moves forward");
	session_rewind(s, 12);
	cr_expect_eq(s->msg_cursor, 11);
	session_table_free(&t);
}
