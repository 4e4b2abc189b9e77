/*
 * store_sqlite_rcache.c — what the audit rows of a receipt need of its
 * message, kept from the moment the receipt is queued until the sender
 * acked it.
 *
 * A receipt's rows (receipt_sent, receipt_acked) carry its message's
 * metadata, which the store read by message_id: two look-ups through the
 * random-keyed index and the row per message, 8 % of narad's loop at
 * saturation (docs/PERFORMANCE.md). The row was in hand when the receipt
 * was queued (the ack, a dead letter, an expiry), so it is copied here
 * then; the look-up is the fallback when the entry is gone (a slot taken
 * by another message, a restart). What is kept does not change after the
 * receipt is queued but for a retry, which drops its message's entry (the
 * message gets a new seq); everything is cleared when a batch is rolled
 * back (its receipts and rows may not exist), at a prune (rows may be
 * gone) and after another process's commit (store_sqlite_begin sees it:
 * it may have done either). The cache is direct-mapped by a hash of the
 * message id: an entry displaces another.
 *
 * The same for a delivery's audit row, by seq (dcache): a delivery pass
 * keeps what it read of each message it handed out, and the row that
 * records the delivery, in the next batch, takes it from here instead of
 * reading the message again (2.5 % of narad's instructions per message);
 * the UPDATE of its attempts checks that it is still queued. Cleared with
 * the receipts' entries; an entry goes once its delivery is recorded.
 */
#include "store_common.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#define RCACHE_SLOTS 8192        /* a power of two */
#define DCACHE_SLOTS 4096        /* a power of two */

struct rcache_entry {
	struct store_msg m;          /* its texts in text; no content, no
	                              * personal number */
	const char *subject;         /* in text */
	char text[];
};

static size_t
slot_of(const char *message_id)
{
	uint64_t h = 1469598103934665603ull;

	for (const unsigned char *p = (const unsigned char *)message_id;
	    *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (size_t)(h & (RCACHE_SLOTS - 1));
}

/* A copy of row's metadata in one allocation; NULL when out of memory. */
static struct rcache_entry *
entry_new(const struct msg_row *row)
{
	const struct store_msg *m = &row->m;
	struct rcache_entry *e;
	char *at;

	if ((e = malloc(sizeof(*e) + store_msg_text_size(m, row->subject))) ==
	    NULL)
		return NULL;
	e->m = *m;
	e->m.personal_number = NULL;
	e->m.payload = NULL;
	at = e->text;
	e->subject = store_msg_text_put(&at, &e->m, m, row->subject);
	return e;
}

/* A copy of row into slot of *table (n slots, made at the first put),
 * displacing what was there; nothing when out of memory. */
static void
table_put(struct rcache_entry ***table, size_t n, size_t slot,
    const struct msg_row *row)
{
	struct rcache_entry *e;

	if (*table == NULL && (*table = calloc(n, sizeof(**table))) == NULL)
		return;
	if ((e = entry_new(row)) == NULL)
		return;
	free((*table)[slot]);
	(*table)[slot] = e;
}

void
store_rcache_put(struct store_be *st, const struct msg_row *row)
{
	if (row->m.message_id != NULL)
		table_put(&st->rcache, RCACHE_SLOTS,
		    slot_of(row->m.message_id), row);
}

void
store_dcache_put(struct store_be *st, const struct msg_row *row)
{
	if (row->m.message_id != NULL && row->m.seq > 0)
		table_put(&st->dcache, DCACHE_SLOTS,
		    (size_t)row->m.seq & (DCACHE_SLOTS - 1), row);
}

/* row as e keeps it (its texts e's). */
static void
entry_read(const struct rcache_entry *e, struct msg_row *row)
{
	memset(row, 0, sizeof(*row));
	row->m = e->m;
	row->subject = e->subject;
}

/* The dcache slot holding seq's entry, or NULL. */
static struct rcache_entry **
dcache_hit(struct store_be *st, int64_t seq)
{
	struct rcache_entry **p;

	if (st->dcache == NULL || seq <= 0)
		return NULL;
	p = &st->dcache[(size_t)seq & (DCACHE_SLOTS - 1)];
	return *p != NULL && (*p)->m.seq == seq ? p : NULL;
}

bool
store_dcache_get(struct store_be *st, int64_t seq, struct msg_row *row)
{
	struct rcache_entry **p = dcache_hit(st, seq);

	if (p != NULL)
		entry_read(*p, row);
	return p != NULL;
}

void
store_dcache_drop(struct store_be *st, int64_t seq)
{
	struct rcache_entry **p = dcache_hit(st, seq);

	if (p != NULL) {
		free(*p);
		*p = NULL;
	}
}

bool
store_rcache_get(struct store_be *st, const char *message_id,
    struct msg_row *row)
{
	struct rcache_entry *e;

	if (st->rcache == NULL ||
	    (e = st->rcache[slot_of(message_id)]) == NULL ||
	    strcmp(e->m.message_id, message_id) != 0)
		return false;
	entry_read(e, row);
	return true;
}

void
store_rcache_drop(struct store_be *st, const char *message_id)
{
	size_t slot;

	if (st->rcache == NULL)
		return;
	slot = slot_of(message_id);
	if (st->rcache[slot] != NULL &&
	    strcmp(st->rcache[slot]->m.message_id, message_id) == 0) {
		free(st->rcache[slot]);
		st->rcache[slot] = NULL;
	}
}

void
store_rcache_clear(struct store_be *st)
{
	for (size_t i = 0; st->rcache != NULL && i < RCACHE_SLOTS; i++) {
		free(st->rcache[i]);
		st->rcache[i] = NULL;
	}
	for (size_t i = 0; st->dcache != NULL && i < DCACHE_SLOTS; i++) {
		free(st->dcache[i]);
		st->dcache[i] = NULL;
	}
}

void
store_rcache_free(struct store_be *st)
{
	store_rcache_clear(st);
	free(st->rcache);
	free(st->dcache);
	st->rcache = NULL;
	st->dcache = NULL;
}
