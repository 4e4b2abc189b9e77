/*
 * queue_floor.c — where each node's queue starts, when narad has not read
 * it yet: at start, and for the nodes a reload adds.
 *
 * The SQLite store's queue index is in seq order for all nodes, not by
 * node (store_sqlite_schema.c), so a node's first queued message is found
 * only by walking past the other nodes' messages before it. A session's
 * reads keep their cursor past what they have walked (deliver.c); this
 * walk gives each session its first cursor. It runs a part per turn of the
 * loop, between batches, over what is committed: a session whose first
 * message it found is served at once (with 1,000,000 queued for one node
 * that is the first part), the others wait, receipts still flowing, until
 * the walk ends; their queues then start after the highest seq there was
 * when it began (a message stored later gets a higher one). A backend
 * whose reads find a node's first message by themselves (PostgreSQL, by
 * node) has no highest seq to give: nothing waits there.
 */
#include "broker_int.h"

#include <string.h>

#include "log.h"
#include "store.h"

#define FLOOR_ROWS 65536          /* messages walked per turn of the loop */

static int
on_floor(void *arg, const char *node, int64_t seq)
{
	struct broker *b = arg;
	struct floor_pass *fp = &b->floor;
	struct session *s;

	fp->at = seq;
	if (strcmp(node, fp->last) == 0)
		return 0;
	snprintf(fp->last, sizeof(fp->last), "%s", node);
	if ((s = session_find(&b->sessions, node)) == NULL || !s->floor_pending)
		return 0;
	s->floor_pending = false;
	s->queue_read = false;
	s->msg_cursor = seq - 1;
	fp->found++;
	broker_mark_dirty(b, s);
	return --fp->missing == 0;
}

/* The sessions still waiting start at cursor (after the walk: nothing of
 * theirs below its highest seq; after a failed read: from the start). */
static void
floor_end(struct broker *b, int64_t cursor)
{
	for (size_t i = 0; i < b->sessions.n; i++) {
		struct session *s = &b->sessions.v[i];

		if (!s->floor_pending)
			continue;
		s->floor_pending = false;
		s->queue_read = false;
		s->msg_cursor = cursor;
		broker_mark_dirty(b, s);
	}
	b->floor.missing = 0;
}

static void
on_floor_turn(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval now = { 0, 0 };
	struct broker *b = arg;
	struct floor_pass *fp = &b->floor;
	int n;

	(void)fd;
	(void)what;
	broker_commit_wait(b);   /* no batch open, its commit taken */
	n = store_queue_walk(b->store, fp->at, fp->upto, FLOOR_ROWS, on_floor, b);
	fp->turns++;
	if (n < 0) {
		log_warn("queues: cannot read where they start; reading them "
		    "from the beginning");
		floor_end(b, 0);
		return;
	}
	if (fp->missing > 0 && n == FLOOR_ROWS) {
		evtimer_add(fp->ev, &now);
		return;
	}
	floor_end(b, fp->upto);
	log_info("queues: %zu nodes have messages queued (found in %lld ms, "
	    "%d turns of the loop)", fp->found,
	    (long long)(metrics_mono_us() - fp->t0) / 1000, fp->turns);
}

void
broker_queue_floors(struct broker *b)
{
	static const struct timeval now = { 0, 0 };
	struct floor_pass *fp = &b->floor;

	fp->upto = store_seq_high(b->store);
	fp->missing = 0;
	for (size_t i = 0; i < b->sessions.n; i++) {
		struct session *s = &b->sessions.v[i];

		if (fp->upto > 0 && !s->connected && s->msg_cursor == 0)
			s->floor_pending = true;
		fp->missing += s->floor_pending;
	}
	if (fp->missing == 0)
		return;
	fp->at = 0;
	fp->found = 0;
	fp->turns = 0;
	fp->last[0] = '\0';
	fp->t0 = metrics_mono_us();
	if (fp->ev == NULL)
		fp->ev = evtimer_new(b->base, on_floor_turn, b);
	if (fp->ev == NULL || evtimer_add(fp->ev, &now) != 0) {
		log_warn("queues: out of memory; reading them from the beginning");
		floor_end(b, 0);
	}
}

void
broker_queue_floors_free(struct broker *b)
{
	if (b->floor.ev != NULL)
		event_free(b->floor.ev);
	b->floor.ev = NULL;
}
