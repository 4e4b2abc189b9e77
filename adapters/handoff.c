/*
 * handoff.c — messages, receipts and refusals handed to the local system
 * exactly once, across a crash at any instruction:
 *
 *   offer     already handed off? ack : backend prepares it unseen
 *             (spool: .tmp-ID.json written and fsynced);
 *   intents   once per loop turn: the backend syncs, then the intents of
 *             every prepared hand-off (kind, id, final name) are committed
 *             in one transaction, then each is shown (spool: renamed into
 *             inbox/; HTTP: POSTed with Idempotency-Key);
 *   outcomes  once per loop turn: the backend syncs, the outcomes are
 *             committed in one transaction, then acked (or nacked).
 *
 * A kill before the intent commit leaves nothing shown (the temporary file
 * is removed at start); a kill after it leaves an intent that the backend
 * settles at start without needing the shown file (the local system may
 * have taken it already): a temporary file still there means the rename
 * did not happen, no temporary file means it did. A redelivery of a
 * settled hand-off is acked without a second one.
 */
#include "adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ID_LEN 40

struct handoff_item {
	enum handoff_kind kind;
	enum handoff_result res;
	char id[ID_LEN];
	char name[80];
	char text[200];
	char *json;         /* receipts: the JSON offered (pending) */
	char *newer;        /* receipts: a newer outcome offered meanwhile */
};

struct item_list {
	struct handoff_item *v;
	size_t n, cap;
};

struct handoffs {
	struct outbox *ob;                  /* borrowed */
	struct link *link;                  /* borrowed */
	const struct backend_ops *ops;
	void *be;                           /* borrowed */
	struct item_list pending;           /* offered, not settled */
	struct item_list staged;            /* prepared, intent not recorded */
	struct item_list done;              /* shown, outcome not recorded */
	struct item_list again;             /* superseded: offered anew */
	struct event *flush;                /* records after this loop turn */
	unsigned failed_tries;              /* outcome records failed in a row */
};

const char *
handoff_kind_name(enum handoff_kind kind)
{
	return kind == HK_RECEIPT ? "receipt" : kind == HK_REFUSAL ? "refusal" :
	    "message";
}

static struct handoff_item *
list_add(struct item_list *l, enum handoff_kind kind, const char *id)
{
	struct handoff_item *it;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct handoff_item *v = reallocarray(l->v, cap, sizeof(*v));

		if (v == NULL)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	it = &l->v[l->n++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	snprintf(it->id, sizeof(it->id), "%s", id);
	return it;
}

static int
list_find(const struct item_list *l, enum handoff_kind kind, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].kind == kind && strcmp(l->v[i].id, id) == 0)
			return (int)i;
	return -1;
}

static void
pending_remove(struct handoffs *hs, enum handoff_kind kind, const char *id)
{
	int i = list_find(&hs->pending, kind, id);

	if (i < 0)
		return;
	free(hs->pending.v[i].json);
	free(hs->pending.v[i].newer);
	memmove(&hs->pending.v[i], &hs->pending.v[i + 1],
	    (hs->pending.n - (size_t)i - 1) * sizeof(hs->pending.v[0]));
	hs->pending.n--;
}

/* Ack (or nack) a settled hand-off; a refusal push has no one to tell. */
static void
answer(struct handoffs *hs, const struct handoff_item *it)
{
	if (it->kind == HK_REFUSAL) {
		log_info("refusal of %s %s the local system", it->id,
		    it->res == HANDOFF_DONE ? "handed to" : "not taken by");
		return;
	}
	if (it->res == HANDOFF_REFUSED && it->kind == HK_MESSAGE) {
		log_warn("local system refused %s: %s; nack %s", it->id,
		    it->text, nara_code_id(NR_LOCAL_SYSTEM_REFUSED));
		link_nack(hs->link, it->id, NR_LOCAL_SYSTEM_REFUSED, it->text);
		return;
	}
	log_info("%s %s handed to the local system",
	    handoff_kind_name(it->kind), it->id);
	link_ack(hs->link, it->id, it->kind == HK_RECEIPT);
}

/* Commit the intents of what was prepared, then show it. When the commit
 * fails nothing is shown: narad delivers it again. */
static void
record_intents(struct handoffs *hs)
{
	int64_t now = adapter_now();
	bool ok;

	if (hs->staged.n == 0)
		return;
	ok = hs->ops->sync(hs->be) == 0 && outbox_begin(hs->ob) == 0;
	for (size_t i = 0; ok && i < hs->staged.n; i++)
		ok = outbox_handed_intent(hs->ob,
		    handoff_kind_name(hs->staged.v[i].kind), hs->staged.v[i].id,
		    hs->staged.v[i].name, now) == 0;
	if (ok)
		ok = outbox_commit(hs->ob) == 0;
	if (!ok) {
		outbox_rollback(hs->ob);
		log_error("cannot record %zu hand-offs; narad will deliver them "
		    "again", hs->staged.n);
	} else {
		adapter_test_stop("intent");
	}
	for (size_t i = 0; i < hs->staged.n; i++) {
		struct handoff_item *it = &hs->staged.v[i];

		if (ok) {
			hs->ops->show(hs->be, it->kind, it->id);
		} else {
			hs->ops->abandon(hs->be, it->kind, it->id);
			pending_remove(hs, it->kind, it->id);
		}
	}
	hs->staged.n = 0;
}

static struct handoff_item *
pending_item(struct handoffs *hs, enum handoff_kind kind, const char *id)
{
	int i = list_find(&hs->pending, kind, id);

	return i < 0 ? NULL : &hs->pending.v[i];
}

/* Inside the outcome transaction. A hand-off superseded by a newer
 * receipt leaves no row: should the adapter stop before the newer one is
 * shown, narad delivers that receipt again and it is offered afresh. */
static int
record_one(struct handoffs *hs, const struct handoff_item *it, int64_t now)
{
	const struct handoff_item *p = pending_item(hs, it->kind, it->id);

	if (p != NULL && p->newer != NULL)
		return outbox_handed_reset(hs->ob, handoff_kind_name(it->kind),
		    it->id);
	return outbox_handed_add(hs->ob, handoff_kind_name(it->kind), it->id,
	    it->res == HANDOFF_REFUSED ? "refused" : "handed", now);
}

/*
 * A receipt the local system took (or refused) while a newer outcome
 * waited: the newer one is offered once this turn's outcomes are settled.
 * Each is acked after its own hand-off: narad keeps one row per receipt
 * and an ack settles the oldest, so the newer receipt stays with narad
 * until the local system has it.
 */
static void
supersede(struct handoffs *hs, const struct handoff_item *it)
{
	struct handoff_item *p = pending_item(hs, it->kind, it->id);
	struct handoff_item *a;

	if (p == NULL || p->newer == NULL)
		return;
	if ((a = list_add(&hs->again, it->kind, it->id)) == NULL) {
		/* no hand-off, no ack: narad delivers the newer one again */
		log_error("out of memory offering the newer receipt for %s", it->id);
		return;
	}
	a->json = p->newer;
	p->newer = NULL;
	log_info("%s %s settled with an older outcome; offering the newer "
	    "one", handoff_kind_name(it->kind), it->id);
}

static void
offer_again(struct handoffs *hs)
{
	struct item_list again = hs->again;

	memset(&hs->again, 0, sizeof(hs->again));
	for (size_t i = 0; i < again.n; i++) {
		handoffs_offer(hs, again.v[i].kind, again.v[i].id,
		    again.v[i].json);
		free(again.v[i].json);
	}
	free(again.v);
}

/*
 * Commit the outcomes of what was shown, then ack or nack. When the commit
 * fails the hand-offs stay pending and the commit is tried again every
 * second: a redelivery meanwhile waits for it. (Given up, the open intent
 * would have a redelivery shown a second time, and the local system may
 * have taken the first file already.) Until then nothing is acked; a stop
 * leaves the intents to the next start.
 */
static void
record_outcomes(struct handoffs *hs)
{
	static const struct timeval again = { 1, 0 };
	int64_t now = adapter_now();
	bool ok;

	if (hs->done.n == 0)
		return;
	ok = hs->ops->sync(hs->be) == 0 && outbox_begin(hs->ob) == 0;
	for (size_t i = 0; ok && i < hs->done.n; i++)
		ok = record_one(hs, &hs->done.v[i], now) == 0;
	if (ok)
		ok = outbox_commit(hs->ob) == 0;
	if (!ok) {
		outbox_rollback(hs->ob);
		if (hs->failed_tries++ % 60 == 0)
			log_error("cannot record %zu hand-offs; trying again "
			    "every second, nothing is acked until then",
			    hs->done.n);
		event_add(hs->flush, &again);
		return;
	}
	if (hs->failed_tries > 0)
		log_info("recorded %zu hand-offs after %u failed tries",
		    hs->done.n, hs->failed_tries);
	hs->failed_tries = 0;
	for (size_t i = 0; i < hs->done.n; i++) {
		supersede(hs, &hs->done.v[i]);
		answer(hs, &hs->done.v[i]);
		pending_remove(hs, hs->done.v[i].kind, hs->done.v[i].id);
	}
	hs->done.n = 0;
	offer_again(hs);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct handoffs *hs = arg;

	record_intents(hs);
	record_outcomes(hs);
}

/* Log why a hand-off is offered (again) when the state file knows it. */
static void
log_offer_again(enum handoff_kind kind, const char *id, int state)
{
	if (state == HANDED_REFUSED)
		log_info("%s %s was refused by the local system before and is "
		    "delivered again (retried); offering it again",
		    handoff_kind_name(kind), id);
	else if (state == HANDED_INTENT)
		log_info("%s %s may have been handed off before a stop; offering "
		    "it again under the same name", handoff_kind_name(kind), id);
}

/*
 * A receipt offered while one for the same message is under way: an
 * operator retried a failed message and it was delivered while the local
 * system had not yet taken the FAILED receipt. The newest outcome is kept
 * and handed off after the one under way; a redelivery of what is already
 * under way changes nothing.
 */
static void
keep_newer(struct handoff_item *p, const char *json)
{
	const char *last = p->newer != NULL ? p->newer : p->json;
	char *copy;

	if (last != NULL && strcmp(last, json) == 0)
		return;
	if ((copy = strdup(json)) == NULL) {
		log_error("out of memory keeping the newer receipt for %s", p->id);
		return;
	}
	free(p->newer);
	p->newer = copy;
	log_info("receipt for %s changed while the older one is under way; "
	    "the newer one follows it", p->id);
}

void
handoffs_offer(struct handoffs *hs, enum handoff_kind kind, const char *id,
    const char *json)
{
	struct handoff_item *it;
	char name[80] = "", why[200] = "";
	int state, rc;

	if ((it = pending_item(hs, kind, id)) != NULL) {
		/* under way; acked when it completes */
		if (kind == HK_RECEIPT)
			keep_newer(it, json);
		return;
	}
	if ((state = outbox_handed_get(hs->ob, handoff_kind_name(kind), id)) < 0)
		return;   /* state unusable: no ack, narad delivers again */
	if (state == HANDED_DONE) {
		if (kind != HK_REFUSAL) {
			log_info("%s %s was handed off before; acking",
			    handoff_kind_name(kind), id);
			link_ack(hs->link, id, kind == HK_RECEIPT);
		}
		return;
	}
	log_offer_again(kind, id, state);
	if ((rc = hs->ops->prepare(hs->be, kind, id, json, name, sizeof(name),
	    why, sizeof(why))) < 0)
		return;
	if ((it = list_add(&hs->pending, kind, id)) == NULL ||
	    (kind == HK_RECEIPT && (it->json = strdup(json)) == NULL)) {
		log_error("out of memory handing off %s", id);
		if (it != NULL)
			pending_remove(hs, kind, id);
		if (rc == 0)
			hs->ops->abandon(hs->be, kind, id);
		return;
	}
	if (rc > 0) {
		handoffs_done(hs, kind, id, HANDOFF_REFUSED, why);
		return;
	}
	if ((it = list_add(&hs->staged, kind, id)) == NULL) {
		log_error("out of memory handing off %s", id);
		hs->ops->abandon(hs->be, kind, id);
		pending_remove(hs, kind, id);
		return;
	}
	snprintf(it->name, sizeof(it->name), "%s", name);
	event_active(hs->flush, 0, 0);
}

void
handoffs_done(struct handoffs *hs, enum handoff_kind kind, const char *id,
    enum handoff_result res, const char *text)
{
	struct handoff_item *it;

	if (res == HANDOFF_RETRY) {
		/* not shown: the intent is void, a redelivery starts again */
		outbox_handed_forget(hs->ob, handoff_kind_name(kind), id);
		pending_remove(hs, kind, id);
		return;
	}
	/* Stays pending until recorded: a redelivery meanwhile waits. */
	if ((it = list_add(&hs->done, kind, id)) == NULL) {
		/* it stays pending too: shown already, a redelivery must not
		 * show it again; the next start settles its intent */
		log_error("out of memory recording %s; it is settled at the "
		    "next start", id);
		return;
	}
	it->res = res;
	snprintf(it->text, sizeof(it->text), "%s", text ? text : "");
	event_active(hs->flush, 0, 0);
}

struct handoffs *
handoffs_new(struct event_base *base, struct outbox *ob, struct link *link,
    const struct backend_ops *ops, void *be, struct nara_err *err)
{
	struct handoffs *hs = calloc(1, sizeof(*hs));

	if (hs == NULL || (hs->flush = event_new(base, -1, 0, on_flush,
	    hs)) == NULL) {
		free(hs);
		nara_err_set(err, NR_IO, "", "out of memory");
		return NULL;
	}
	hs->ob = ob;
	hs->link = link;
	hs->ops = ops;
	hs->be = be;
	return hs;
}

void
handoffs_free(struct handoffs **hsp)
{
	struct handoffs *hs;

	if (hsp == NULL || (hs = *hsp) == NULL)
		return;
	on_flush(-1, 0, hs);
	event_free(hs->flush);
	while (hs->pending.n > 0)
		pending_remove(hs, hs->pending.v[0].kind, hs->pending.v[0].id);
	free(hs->pending.v);
	free(hs->staged.v);
	free(hs->done.v);
	free(hs);
	*hsp = NULL;
}
