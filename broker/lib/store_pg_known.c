/*
 * store_pg_known.c — the reads a PostgreSQL batch can answer itself: for
 * each node, everything it has past a seq (queued messages) or past an id
 * (receipts), as a read inside one of this store's batches found it and
 * as this store wrote it since. narad loads the receipts and the queue of
 * every node it delivers to in every batch; without this, each pass would
 * cost a round trip, and most of those reads either find nothing
 * (recipients get no receipts, senders no messages) or only what the
 * batch itself just wrote.
 *
 * An entry says: past after[k], the node has exactly the rows in rows[k]
 * (none when the list is empty). A read that got every row there is sets
 * it; a message this store accepts (with a seq from its block) or a
 * receipt it queues (with an id from its block) is appended, as a copy of
 * what a read would return; an ack, a dead letter or a receipt's ack
 * takes its row out; a delivery's attempt is noted. A load past after[k]
 * is answered from the list, and the rows it passed are dropped as after
 * moves up to the load's cursor. What cannot be followed that way (a
 * message queued again under a new seq, a row whose seq or id came from
 * the sequence past the block, an ack found only by reading) forgets the
 * node's entry, and the next load reads.
 *
 * It holds only while this store is the only writer: every write of any
 * writer appends to the audit chain, so begin (store_pg_batch.c) compares
 * the head it read under the lock with the head of this store's last
 * commit, and forgets everything here when they differ. Inside the batch
 * the head lock keeps other writers out. A failed batch forgets all.
 * Outside a batch nothing is answered from here. Whatever it answers is
 * still checked by the database: the delivery's or receipt's UPDATE of a
 * row that is not as the list said fails the batch (store_pg_fast.c).
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_MAX 512
#define ROWS_MAX 1024             /* rows listed per node and kind */
#define ROWS_BYTES (4u << 20)     /* their bytes per node and kind */
#define ALL_BYTES (64u << 20)     /* and in all: past it a node's entry is
                                   * forgotten instead (its next load
                                   * reads), so a recipient that does not
                                   * take its mail holds no more than this */

/* A row a load would return: a queued message or a receipt. */
struct known_row {
	struct known_row *next;
	int64_t key;                  /* seq or receipt id */
	size_t bytes;
	struct store_msg m;           /* PG_KNOWN_QUEUE */
	const char *subject;
	struct store_receipt r;       /* PG_KNOWN_RECEIPTS */
	char data[];                  /* strings, payload, encoded receipt */
};

struct known {
	char node[64];
	bool empty[PG_KNOWN_KINDS];    /* nothing past after[k] but rows[k] */
	int64_t after[PG_KNOWN_KINDS];
	struct known_row *rows[PG_KNOWN_KINDS], *last[PG_KNOWN_KINDS];
	size_t n[PG_KNOWN_KINDS], bytes[PG_KNOWN_KINDS];
};

static struct known *
find(struct store_be *st, const char *node)
{
	for (size_t i = 0; i < st->n_known; i++)
		if (strcmp(st->known[i].node, node) == 0)
			return &st->known[i];
	return NULL;
}

static bool
usable(const struct store_be *st, const char *node)
{
	return st->in_batch && st->sole && node != NULL;
}

static void
rows_free(struct store_be *st, struct known *k, int kind)
{
	struct known_row *r, *next;

	for (r = k->rows[kind]; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	st->known_bytes -= k->bytes[kind];
	k->rows[kind] = k->last[kind] = NULL;
	k->n[kind] = k->bytes[kind] = 0;
}

/* The entry of node that answers loads of kind past after, or NULL. */
static struct known *
answering(struct store_be *st, int kind, const char *node, int64_t after)
{
	struct known *k;

	if (!usable(st, node) || (k = find(st, node)) == NULL ||
	    !k->empty[kind] || after < k->after[kind])
		return NULL;
	return k;
}

bool
pg_known_answers(struct store_be *st, int kind, const char *node,
    int64_t after)
{
	return answering(st, kind, node, after) != NULL;
}

void
pg_known_set(struct store_be *st, int kind, const char *node, int64_t after)
{
	struct known *k;

	if (!usable(st, node) || strlen(node) >= sizeof(k->node))
		return;
	if ((k = find(st, node)) == NULL) {
		if (st->known == NULL && (st->known = calloc(KNOWN_MAX,
		    sizeof(*st->known))) == NULL)
			return;
		if (st->n_known == KNOWN_MAX)
			return;
		k = &st->known[st->n_known++];
		memset(k, 0, sizeof(*k));
		snprintf(k->node, sizeof(k->node), "%s", node);
	}
	/* the read got every row: those listed before were among them */
	rows_free(st, k, kind);
	k->empty[kind] = true;
	k->after[kind] = after;
}

/* k no longer knows anything of kind. */
static void
forget(struct store_be *st, struct known *k, int kind)
{
	rows_free(st, k, kind);
	k->empty[kind] = false;
}

void
pg_known_drop(struct store_be *st, int kind, const char *node)
{
	struct known *k = node != NULL ? find(st, node) : NULL;

	if (k != NULL)
		forget(st, k, kind);
}

/* Append row (allocated by the caller; NULL when that failed) to k's list
 * of kind, or forget k's entry of that kind when the list would grow past
 * its bounds. */
static void
append(struct store_be *st, struct known *k, int kind, struct known_row *row)
{
	if (!k->empty[kind])
		goto drop;
	if (row == NULL || row->key <= k->after[kind] ||
	    (k->last[kind] != NULL && row->key <= k->last[kind]->key) ||
	    k->n[kind] >= ROWS_MAX || k->bytes[kind] + row->bytes > ROWS_BYTES ||
	    st->known_bytes + row->bytes > ALL_BYTES)
		goto drop;
	row->next = NULL;
	if (k->last[kind] != NULL)
		k->last[kind]->next = row;
	else
		k->rows[kind] = row;
	k->last[kind] = row;
	k->n[kind]++;
	k->bytes[kind] += row->bytes;
	st->known_bytes += row->bytes;
	return;
drop:
	free(row);
	forget(st, k, kind);
}

void
pg_known_add_msg(struct store_be *st, const struct store_msg *m,
    const char *subject)
{
	struct known *k = m->recipient_node ? find(st, m->recipient_node) :
	    NULL;
	struct known_row *row;
	size_t size = m->payload_len;
	char *at;

	if (k == NULL)
		return;
	if (!usable(st, m->recipient_node) || m->seq <= 0) {
		forget(st, k, PG_KNOWN_QUEUE);
		return;
	}
	size += store_msg_text_size(m, subject);
	if ((row = calloc(1, sizeof(*row) + size)) != NULL) {
		at = row->data;
		row->key = m->seq;
		row->bytes = size;
		/* as a read of the queue gives it: queued, no personal
		 * number (only its pseudonym is stored) */
		row->m = *m;
		row->m.personal_number = NULL;
		row->m.state = STORE_QUEUED;
		row->m.payload = NULL;
		if (m->payload_len > 0) {
			memcpy(at, m->payload, m->payload_len);
			row->m.payload = (const uint8_t *)at;
			at += m->payload_len;
		}
		row->subject = store_msg_text_put(&at, &row->m, m, subject);
	}
	append(st, k, PG_KNOWN_QUEUE, row);
}

void
pg_known_add_rcpt(struct store_be *st, const struct store_receipt *r)
{
	struct known *k = r->node ? find(st, r->node) : NULL;
	struct known_row *row;
	size_t size;
	char *at;

	if (k == NULL)
		return;
	if (!usable(st, r->node) || r->id <= 0) {
		forget(st, k, PG_KNOWN_RECEIPTS);
		return;
	}
	size = r->encoded_len + store_text_size(r->node) + store_text_size(r->message_id);
	if ((row = calloc(1, sizeof(*row) + size)) != NULL) {
		at = row->data;
		row->key = r->id;
		row->bytes = size;
		row->r = *r;
		row->r.encoded = NULL;
		if (r->encoded_len > 0) {
			memcpy(at, r->encoded, r->encoded_len);
			row->r.encoded = (const uint8_t *)at;
			at += r->encoded_len;
		}
		row->r.node = store_text_put(&at, r->node);
		row->r.message_id = store_text_put(&at, r->message_id);
	}
	append(st, k, PG_KNOWN_RECEIPTS, row);
}

static struct known_row *
row_find(struct known *k, int kind, int64_t key, struct known_row **prev)
{
	*prev = NULL;
	for (struct known_row *r = k->rows[kind]; r != NULL; r = r->next) {
		if (r->key == key)
			return r;
		*prev = r;
	}
	return NULL;
}

void
pg_known_gone(struct store_be *st, int kind, const char *node, int64_t key)
{
	struct known *k = node != NULL ? find(st, node) : NULL;
	struct known_row *r, *prev;

	if (k == NULL || !k->empty[kind] || key <= k->after[kind] ||
	    (r = row_find(k, kind, key, &prev)) == NULL)
		return;
	if (prev != NULL)
		prev->next = r->next;
	else
		k->rows[kind] = r->next;
	if (k->last[kind] == r)
		k->last[kind] = prev;
	k->n[kind]--;
	k->bytes[kind] -= r->bytes;
	st->known_bytes -= r->bytes;
	free(r);
}

void
pg_known_attempt(struct store_be *st, const char *node, int64_t seq,
    int attempt)
{
	struct known *k = node != NULL ? find(st, node) : NULL;
	struct known_row *r, *prev;

	if (k != NULL && (r = row_find(k, PG_KNOWN_QUEUE, seq, &prev)) != NULL)
		r->m.attempts = attempt;
}

/* Row r to its load's callback, as a read would give it (and to the
 * cache, which the delivery's and receipt's changes are written from). */
static int
give(struct store_be *st, int kind, struct known_row *r, store_msg_fn mfn,
    store_receipt_fn rfn, void *arg)
{
	if (kind == PG_KNOWN_QUEUE) {
		if (pg_cache_msg_seq(st, r->key) == NULL)
			pg_cache_msg_put(st, &r->m, r->subject, true);
		return mfn(arg, &r->m);
	}
	if (pg_cache_rcpt_id(st, r->key) == NULL)
		pg_cache_rcpt_put(st, r->r.id, r->r.node, r->r.message_id,
		    r->r.outcome);
	return rfn(arg, &r->r);
}

/* The rows of kind past after, up to limit, to their callback; -1 when
 * the list cannot answer (read instead). The rows at or before after are
 * the node's cursor's past: they leave the list and after moves up. */
static int
answer(struct store_be *st, int kind, const char *node, int64_t after,
    int limit, store_msg_fn mfn, store_receipt_fn rfn, void *arg,
    bool *all)
{
	struct known *k = answering(st, kind, node, after);
	struct known_row *r;
	int n = 0, stop = 0;

	if (k == NULL)
		return -1;
	while ((r = k->rows[kind]) != NULL && r->key <= after) {
		k->rows[kind] = r->next;
		if (k->last[kind] == r)
			k->last[kind] = NULL;
		k->n[kind]--;
		k->bytes[kind] -= r->bytes;
		st->known_bytes -= r->bytes;
		free(r);
	}
	k->after[kind] = after;
	for (r = k->rows[kind]; r != NULL && n < limit && !stop; r = r->next) {
		stop = give(st, kind, r, mfn, rfn, arg);
		if (!stop)
			n++;
	}
	*all = !stop && r == NULL;
	return n;
}

int
pg_known_msgs(struct store_be *st, const char *node, int64_t after, int limit,
    store_msg_fn fn, void *arg, bool *all)
{
	return answer(st, PG_KNOWN_QUEUE, node, after, limit, fn, NULL, arg,
	    all);
}

int
pg_known_rcpts(struct store_be *st, const char *node, int64_t after,
    int limit, store_receipt_fn fn, void *arg, bool *all)
{
	return answer(st, PG_KNOWN_RECEIPTS, node, after, limit, NULL, fn, arg,
	    all);
}

void
pg_known_clear(struct store_be *st)
{
	for (size_t i = 0; i < st->n_known; i++)
		for (int kind = 0; kind < PG_KNOWN_KINDS; kind++)
			rows_free(st, &st->known[i], kind);
	st->n_known = 0;
}

void
pg_known_free(struct store_be *st)
{
	pg_known_clear(st);
	free(st->known);
	st->known = NULL;
}
