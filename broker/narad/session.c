/*
 * session.c — per-node runtime state of narad.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static int
session_cmp(const void *a, const void *b)
{
	return strcmp(((const struct session *)a)->node,
	    ((const struct session *)b)->node);
}

int
session_table_init(struct session_table *t, const char *const *ids, size_t n)
{
	t->v = calloc(n ? n : 1, sizeof(*t->v));
	t->n = n;
	if (t->v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		strncpy(t->v[i].node, ids[i], NODE_ID_MAX);
	qsort(t->v, n, sizeof(*t->v), session_cmp);
	return 0;
}

int
session_table_rebuild(struct session_table *t, const char *const *ids, size_t n)
{
	struct session_table nt;

	if (session_table_init(&nt, ids, n) != 0)
		return -1;
	for (size_t i = 0; i < nt.n; i++) {
		struct session *old = session_find(t, nt.v[i].node);
		if (old != NULL) {
			nt.v[i] = *old;
			old->fl = NULL;   /* moved */
		}
	}
	session_table_free(t);
	*t = nt;
	return 0;
}

void
session_table_free(struct session_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].fl);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

struct session *
session_find(struct session_table *t, const char *node)
{
	struct session key;

	if (strlen(node) > NODE_ID_MAX)
		return NULL;
	memset(key.node, 0, sizeof(key.node));
	strcpy(key.node, node);
	return bsearch(&key, t->v, t->n, sizeof(*t->v), session_cmp);
}

void
session_reset(struct session *s)
{
	for (size_t i = s->fl_head; i < s->fl_head + s->n_fl; i++)
		if (!s->fl[i].receipt)
			session_rewind(s, s->fl[i].seq);
	s->fl_head = 0;
	s->n_fl = 0;
	s->rcpt_cursor = 0;
	s->queue_read = false;
}

void
session_rewind(struct session *s, int64_t seq)
{
	if (seq - 1 < s->msg_cursor)
		s->msg_cursor = seq > 0 ? seq - 1 : 0;
	s->queue_read = false;
}

uint32_t
session_credit(const struct session *s)
{
	if (!s->connected || s->down_ms != 0 || s->n_fl >= s->window)
		return 0;
	return s->window - (uint32_t)s->n_fl;
}

/* Room for one more entry at the end of the in-flight run: slide the run
 * to the front of the array when acks have left space there, else grow. */
static int
inflight_room(struct session *s)
{
	size_t cap;
	struct inflight *v;

	if (s->fl_head + s->n_fl < s->cap_fl)
		return 0;
	if (s->fl_head > 0) {
		memmove(s->fl, s->fl + s->fl_head, s->n_fl * sizeof(*s->fl));
		s->fl_head = 0;
		return 0;
	}
	cap = s->cap_fl ? s->cap_fl * 2 : 64;
	if ((v = reallocarray(s->fl, cap, sizeof(*v))) == NULL)
		return -1;
	s->fl = v;
	s->cap_fl = cap;
	return 0;
}

int
session_inflight_add(struct session *s, const char *message_id, int64_t seq,
    bool receipt, int64_t deadline, const char *sender_node)
{
	struct inflight *f;

	if (inflight_room(s) != 0)
		return -1;
	f = &s->fl[s->fl_head + s->n_fl++];
	utf8_copy(f->message_id, sizeof(f->message_id), message_id);
	f->seq = seq;
	f->receipt = receipt;
	f->deadline = deadline;
	utf8_copy(f->sender_node, sizeof(f->sender_node), sender_node);
	return 0;
}

int
session_inflight_remove(struct session *s, const char *message_id,
    bool receipt, struct inflight *was)
{
	struct inflight *run = s->fl + s->fl_head;

	/* Acks mostly arrive in sending order, so the match is near the
	 * front, and removing the front entry only moves the head. */
	for (size_t i = 0; i < s->n_fl; i++) {
		if (run[i].receipt != receipt ||
		    strcmp(run[i].message_id, message_id) != 0)
			continue;
		if (was != NULL)
			*was = run[i];
		if (i == 0)
			s->fl_head++;
		else
			memmove(&run[i], &run[i + 1],
			    (s->n_fl - i - 1) * sizeof(*run));
		if (--s->n_fl == 0)
			s->fl_head = 0;
		return 0;
	}
	return -1;
}

bool
session_overdue(const struct session *s, int64_t now_ms)
{
	/* Entries are appended in time order with the same timeout, so the
	 * first one is the oldest. */
	return s->n_fl > 0 && s->fl[s->fl_head].deadline <= now_ms;
}
