/*
 * store_pg_known.c — the reads a PostgreSQL batch can skip: for each node,
 * that it has no receipts past an id, or no queued message past a seq, as
 * a read inside one of this store's batches found and nothing this store
 * wrote since changed. narad loads the receipts and the queue of every
 * node it delivers to in every batch, one round trip each; most of those
 * loads find nothing (recipients get no receipts, senders no messages).
 *
 * It holds only while this store is the only writer: every write of any
 * writer appends to the audit chain, so begin (store_pg_batch.c) compares
 * the head it read under the lock with the head of this store's last
 * commit, and forgets everything here when they differ. Inside the batch
 * the head lock keeps other writers out. A receipt this store queues for
 * a node, a message it accepts or queues again for one, forget that
 * node's entry; a failed batch forgets all. Outside a batch nothing is
 * skipped.
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_MAX 512

struct known {
	char node[64];
	bool empty[PG_KNOWN_KINDS];    /* nothing past after[k] */
	int64_t after[PG_KNOWN_KINDS];
};

static struct known *
find(struct store_be *st, const char *node)
{
	for (size_t i = 0; i < st->n_known; i++)
		if (strcmp(st->known[i].node, node) == 0)
			return &st->known[i];
	return NULL;
}

bool
pg_known_empty(struct store_be *st, int kind, const char *node, int64_t after)
{
	struct known *k;

	if (!st->in_batch || !st->sole || node == NULL ||
	    (k = find(st, node)) == NULL)
		return false;
	return k->empty[kind] && after >= k->after[kind];
}

void
pg_known_set(struct store_be *st, int kind, const char *node, int64_t after)
{
	struct known *k;

	if (!st->in_batch || !st->sole || node == NULL ||
	    strlen(node) >= sizeof(k->node))
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
	k->empty[kind] = true;
	k->after[kind] = after;
}

void
pg_known_drop(struct store_be *st, int kind, const char *node)
{
	struct known *k = node != NULL ? find(st, node) : NULL;

	if (k != NULL)
		k->empty[kind] = false;
}

void
pg_known_clear(struct store_be *st)
{
	st->n_known = 0;
}

void
pg_known_free(struct store_be *st)
{
	free(st->known);
	st->known = NULL;
	st->n_known = 0;
}
