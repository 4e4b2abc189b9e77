/*
 * test_metrics.c — the dashboard history's rings (metrics.h): rates are
 * the counters' increase per sample, the rings stay bounded and keep the
 * newest samples oldest first when they wrap, a node not reported at a
 * per-node sample counts as empty, and ids and node counts beyond the
 * bounds are refused instead of written.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "metrics.h"

Test(history, rates_are_increases_per_sample)
{
	struct history *h = history_new(10);
	struct history_counters c = { 100, 90, 80, 10 };

	cr_assert(h != NULL);
	cr_assert(history_sample(h, 1000, &c, 5));   /* first: per node too */
	c = (struct history_counters){ 103, 92, 80, 11 };
	cr_assert_not(history_sample(h, 1010, &c, 7));
	cr_assert_eq(h->n, 2);
	cr_assert_eq(history_point_at(h, 0)->submitted, 0, "nothing to compare "
	    "the first sample with");
	cr_assert_eq(history_point_at(h, 1)->at, 1010);
	cr_assert_eq(history_point_at(h, 1)->submitted, 3);
	cr_assert_eq(history_point_at(h, 1)->accepted, 2);
	cr_assert_eq(history_point_at(h, 1)->delivered, 0);
	cr_assert_eq(history_point_at(h, 1)->refused, 1);
	cr_assert_eq(history_point_at(h, 1)->queued, 7);
	history_free(&h);
	cr_assert_null(h);
	history_free(&h);
}

Test(history, rings_wrap_and_stay_bounded)
{
	struct history *h = history_new(10);
	struct history_counters c = { 0, 0, 0, 0 };
	size_t total = HISTORY_SLOTS + 25;

	for (size_t i = 0; i < total; i++) {
		c.submitted = i;
		if (history_sample(h, (int64_t)i, &c, i))
			cr_assert_eq(history_node_queued(h, "kommun-1480", i), 0);
	}
	cr_assert_eq(h->n, HISTORY_SLOTS);
	cr_assert_eq(history_point_at(h, 0)->at, 25, "not the oldest kept");
	cr_assert_eq(history_point_at(h, HISTORY_SLOTS - 1)->at,
	    (int64_t)total - 1);
	cr_assert_eq(history_point_at(h, HISTORY_SLOTS - 1)->submitted, 1);
	cr_assert_eq(h->node_n, HISTORY_NODE_SLOTS);
	cr_assert_eq(h->n_nodes, 1);
	/* node samples at every HISTORY_NODE_EVERY-th sample, oldest first */
	for (size_t i = 1; i < h->node_n; i++)
		cr_assert_eq(h->node_at[history_node_slot(h, i)] -
		    h->node_at[history_node_slot(h, i - 1)], HISTORY_NODE_EVERY);
	size_t last = history_node_slot(h, h->node_n - 1);
	cr_assert_eq(h->nodes[0].queued[last], (uint32_t)h->node_at[last]);
	history_free(&h);
}

Test(history, unreported_node_is_empty_and_bounds_hold)
{
	struct history *h = history_new(0);
	struct history_counters c = { 0, 0, 0, 0 };
	char id[HISTORY_ID_MAX + 2];
	size_t slot;

	cr_assert_eq(h->interval, 10, "a zero interval falls back to 10 s");
	cr_assert(history_sample(h, 1, &c, 4));
	cr_assert_eq(history_node_queued(h, "kommun-1490", 4), 0);
	memset(id, 'x', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	cr_assert_eq(history_node_queued(h, id, 1), -1, "too long an id kept");
	for (int i = 1; i < HISTORY_NODE_EVERY; i++) {
		cr_assert_not(history_sample(h, 1 + i, &c, 0));
		cr_assert_eq(history_node_queued(h, "kommun-1490", 1), -1,
		    "a per-node depth outside a per-node sample");
	}
	cr_assert(history_sample(h, 99, &c, 0));   /* kommun-1490 not reported */
	slot = history_node_slot(h, 1);
	cr_assert_eq(h->nodes[0].queued[slot], 0);
	cr_assert_eq(h->nodes[0].queued[history_node_slot(h, 0)], 4);
	for (int i = 0; i < HISTORY_MAX_NODES + 5; i++) {
		snprintf(id, sizeof(id), "node-%d", i);
		history_node_queued(h, id, 1);
	}
	cr_assert_eq(h->n_nodes, HISTORY_MAX_NODES);
	history_free(&h);
}
