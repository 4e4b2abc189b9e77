/*
 * store_pg_cache.c — what the PostgreSQL store knows of its messages and
 * receipts without asking: the metadata of the messages it accepted or
 * read from a queue, and the receipts it read. With it a delivery, an ack,
 * a dead letter or a receipt's progress writes its rows and audit rows
 * without reading the row back first (store_pg_fast.c), so a batch costs
 * one round trip instead of one per statement.
 *
 * It is only a cache: every statement written from it checks that the
 * database agrees (the row is still in the state the cache says), and a
 * disagreement fails the batch, which clears the cache
 * (store_pg_batch.c). What is not in it costs a round trip. Its size is
 * bounded: past CACHE_MAX entries of a kind it starts empty again.
 */
#include "store_pg_int.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 16384u          /* a power of two */
#define CACHE_MAX 65536

struct pg_cache {
	struct pg_cmsg *by_id[BUCKETS], *by_seq[BUCKETS];
	struct pg_crcpt *r_by_id[BUCKETS], *r_by_key[BUCKETS];
	size_t n_msgs, n_rcpts;
};

static uint32_t
hash_str(uint32_t h, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static uint32_t
slot_id(const char *message_id)
{
	return hash_str(2166136261u, message_id) & (BUCKETS - 1);
}

static uint32_t
slot_seq(int64_t seq)
{
	return (uint32_t)(((uint64_t)seq * 0x9e3779b97f4a7c15ull) >> 40) &
	    (BUCKETS - 1);
}

static uint32_t
slot_key(const char *node, const char *message_id)
{
	return hash_str(hash_str(2166136261u, node) * 31u, message_id) &
	    (BUCKETS - 1);
}

static bool
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

int
pg_cache_new(struct store_be *st)
{
	st->cache = calloc(1, sizeof(*st->cache));
	st->lane_gen = 1;      /* a mark of 0 is never the current one */
	return st->cache != NULL ? 0 : -1;
}

static void
clear_msgs(struct pg_cache *c)
{
	for (size_t i = 0; i < BUCKETS; i++) {
		while (c->by_id[i] != NULL) {
			struct pg_cmsg *e = c->by_id[i];
			c->by_id[i] = e->next_id;
			free(e);
		}
		c->by_seq[i] = NULL;
	}
	c->n_msgs = 0;
}

static void
clear_rcpts(struct pg_cache *c)
{
	for (size_t i = 0; i < BUCKETS; i++) {
		while (c->r_by_id[i] != NULL) {
			struct pg_crcpt *r = c->r_by_id[i];
			c->r_by_id[i] = r->next_id;
			free(r);
		}
		c->r_by_key[i] = NULL;
	}
	c->n_rcpts = 0;
}

void
pg_cache_clear(struct store_be *st)
{
	if (st->cache == NULL)
		return;
	clear_msgs(st->cache);
	clear_rcpts(st->cache);
}

void
pg_cache_free(struct store_be *st)
{
	pg_cache_clear(st);
	free(st->cache);
	st->cache = NULL;
}

/* ---------------------------------------------------------------- messages */

static struct pg_cmsg *
msg_make(const struct store_msg *m, const char *subject)
{
	struct pg_cmsg *e;
	char *at;

	if ((e = calloc(1, sizeof(*e) + store_msg_text_size(m, subject))) ==
	    NULL)
		return NULL;
	e->m = *m;
	at = e->text;
	e->subject = store_msg_text_put(&at, &e->m, m, subject);
	e->m.personal_number = NULL;
	e->m.payload = NULL;
	return e;
}

struct pg_cmsg *
pg_cache_msg_id(struct store_be *st, const char *message_id)
{
	struct pg_cmsg *e;

	if (st->cache == NULL || message_id == NULL)
		return NULL;
	for (e = st->cache->by_id[slot_id(message_id)]; e; e = e->next_id)
		if (same(e->m.message_id, message_id))
			return e;
	return NULL;
}

struct pg_cmsg *
pg_cache_msg_seq(struct store_be *st, int64_t seq)
{
	struct pg_cmsg *e;

	if (st->cache == NULL || seq <= 0)
		return NULL;
	for (e = st->cache->by_seq[slot_seq(seq)]; e; e = e->next_seq)
		if (e->m.seq == seq)
			return e;
	return NULL;
}

void
pg_cache_msg_drop(struct store_be *st, struct pg_cmsg *e)
{
	struct pg_cmsg **pp;

	if (st->cache == NULL || e == NULL)
		return;
	for (pp = &st->cache->by_id[slot_id(e->m.message_id)]; *pp;
	    pp = &(*pp)->next_id)
		if (*pp == e) {
			*pp = e->next_id;
			break;
		}
	for (pp = &st->cache->by_seq[slot_seq(e->m.seq)]; *pp;
	    pp = &(*pp)->next_seq)
		if (*pp == e) {
			*pp = e->next_seq;
			break;
		}
	st->cache->n_msgs--;
	free(e);
}

struct pg_cmsg *
pg_cache_msg_put(struct store_be *st, const struct store_msg *m,
    const char *subject, bool queued)
{
	struct pg_cache *c = st->cache;
	struct pg_cmsg *e;
	uint32_t h;

	if (c == NULL || m->message_id == NULL)
		return NULL;
	pg_cache_msg_drop(st, pg_cache_msg_id(st, m->message_id));
	if (m->seq > 0)
		pg_cache_msg_drop(st, pg_cache_msg_seq(st, m->seq));
	if (c->n_msgs >= CACHE_MAX)
		clear_msgs(c);
	if ((e = msg_make(m, subject)) == NULL)
		return NULL;
	e->queued = queued;
	h = slot_id(e->m.message_id);
	e->next_id = c->by_id[h];
	c->by_id[h] = e;
	h = slot_seq(e->m.seq);
	e->next_seq = c->by_seq[h];
	c->by_seq[h] = e;
	c->n_msgs++;
	return e;
}

void
pg_cache_msg_stub(struct store_be *st, const char *message_id)
{
	struct store_msg m = { .message_id = message_id };

	if (pg_cache_msg_id(st, message_id) == NULL)
		pg_cache_msg_put(st, &m, NULL, false);
}

/* ---------------------------------------------------------------- receipts */

struct pg_crcpt *
pg_cache_rcpt_id(struct store_be *st, int64_t id)
{
	struct pg_crcpt *r;

	if (st->cache == NULL)
		return NULL;
	for (r = st->cache->r_by_id[slot_seq(id)]; r; r = r->next_id)
		if (r->id == id)
			return r;
	return NULL;
}

struct pg_crcpt *
pg_cache_rcpt_key(struct store_be *st, const char *node,
    const char *message_id)
{
	struct pg_crcpt *r, *best = NULL;

	if (st->cache == NULL || node == NULL || message_id == NULL)
		return NULL;
	for (r = st->cache->r_by_key[slot_key(node, message_id)]; r;
	    r = r->next_key)
		if (same(r->node, node) && same(r->message_id, message_id) &&
		    (best == NULL || r->id < best->id))
			best = r;
	return best;
}

void
pg_cache_rcpt_drop(struct store_be *st, struct pg_crcpt *r)
{
	struct pg_crcpt **pp;

	if (st->cache == NULL || r == NULL)
		return;
	for (pp = &st->cache->r_by_id[slot_seq(r->id)]; *pp;
	    pp = &(*pp)->next_id)
		if (*pp == r) {
			*pp = r->next_id;
			break;
		}
	for (pp = &st->cache->r_by_key[slot_key(r->node, r->message_id)]; *pp;
	    pp = &(*pp)->next_key)
		if (*pp == r) {
			*pp = r->next_key;
			break;
		}
	st->cache->n_rcpts--;
	free(r);
}

void
pg_cache_rcpt_put(struct store_be *st, int64_t id, const char *node,
    const char *message_id, int outcome)
{
	struct pg_cache *c = st->cache;
	struct pg_crcpt *r;
	uint32_t h;
	char *at;

	if (c == NULL || node == NULL || message_id == NULL)
		return;
	pg_cache_rcpt_drop(st, pg_cache_rcpt_id(st, id));
	if (c->n_rcpts >= CACHE_MAX)
		clear_rcpts(c);
	if ((r = calloc(1, sizeof(*r) + store_text_size(node) +
	    store_text_size(message_id))) == NULL)
		return;
	r->id = id;
	r->outcome = outcome;
	at = r->text;
	r->node = store_text_put(&at, node);
	r->message_id = store_text_put(&at, message_id);
	h = slot_seq(id);
	r->next_id = c->r_by_id[h];
	c->r_by_id[h] = r;
	h = slot_key(node, message_id);
	r->next_key = c->r_by_key[h];
	c->r_by_key[h] = r;
	c->n_rcpts++;
}
