/*
 * store_pg_audit.c — audit rows about messages and events, the chain
 * verification and the pseudonym in the PostgreSQL store, and the
 * operators' read-only views of messages (queue, dead letters, one
 * message). The rows are built by store_common.c, as in the SQLite store,
 * and hashed by audit.c, so a chain verifies alike on both.
 */
#include "store_common.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nara.pb-c.h"

int
pg_audit_msg(struct store_be *st, const char *event, const char *node,
    const struct store_msg *m, const char *subject, const char *code,
    const char *detail, int64_t now, struct nara_err *err)
{
	struct store_audit_text t;
	struct audit_row r;

	store_audit_fill(&r, &t, event, node, m, subject, code, detail);
	return pg_audit_append(st, &r, m != NULL ? m->seq : 0, now, err);
}

int
pg_acked_rest(struct store_be *st, const struct store_msg *m,
    const char *subject, const char *node, int64_t now, struct nara_err *err)
{
	struct store_audit_text t;
	struct audit_row r;

	if (pg_receipt_queue(st, m, subject, NARA__OUTCOME__OUTCOME_DELIVERED,
	    node, NULL, NULL, false, now, err) != 0)
		return -1;
	store_audit_fill_acked(&r, &t, node, m, subject);
	return pg_audit_append(st, &r, m->seq, now, err);
}

int
store_pg_audit_rejected(struct store_be *st, const struct store_msg *m,
    const char *node, const char *code, const char *text, int64_t now)
{
	struct nara_err err = { 0 };
	const char *pn = m ? m->personal_number : NULL;
	char subject[65];
	char number[13];
	bool named;
	int rc;

	if (pg_enter(st, &err) != 0)
		return -1;
	/* the pseudonym of the number as accepted messages carry it, or
	 * none when the number names no one (store_rejected_number) */
	named = store_rejected_number(pn, now, number) == 0;
	if (named && store_pg_pseudonym(st, number, subject) != 0)
		snprintf(subject, sizeof(subject), "%s", "unavailable");
	rc = pg_audit_msg(st, "rejected", node, m, named ? subject : NULL,
	    code, text, now, &err);
	return pg_leave(st, rc, &err);
}

int
store_pg_audit_event(struct store_be *st, const char *event, const char *node,
    const char *detail, int64_t now)
{
	return store_pg_audit_event_coded(st, event, node, NULL, detail, now);
}

int
store_pg_audit_event_coded(struct store_be *st, const char *event,
    const char *node, const char *code, const char *detail, int64_t now)
{
	struct nara_err err = { 0 };
	int rc;

	if (pg_enter(st, &err) != 0)
		return -1;
	rc = pg_audit_msg(st, event, node, NULL, NULL, code, detail, now, &err);
	return pg_leave(st, rc, &err);
}

int
store_pg_audit_verify(struct store_be *st, int64_t *bad_seq,
    struct nara_err *err)
{
	uint8_t hash[AUDIT_HASH_LEN], cut_hash[AUDIT_HASH_LEN];
	int64_t head, dummy, cut;
	bool own = false;
	int rc = -1;

	if (bad_seq == NULL)
		bad_seq = &dummy;
	*bad_seq = 0;
	if (st->in_batch) {
		head = st->head_seq;   /* includes this batch's rows */
		memcpy(hash, st->head_hash, AUDIT_HASH_LEN);
	} else {
		/* one snapshot for the head and the rows */
		if (store_pg_read_begin(st, &own, err) != 0)
			return -1;
		if (store_pg_audit_head(st, &head, hash, err) != 0)
			goto done;
	}
	if (pg_cut_load(st, &cut, cut_hash, err) != 0)
		goto done;
	rc = audit_verify_from(st->outer, st->hasher, cut, cut_hash, head, hash,
	    NULL, bad_seq, err);
done:
	store_pg_read_end(st, own);
	return rc;
}

int
store_pg_pseudonym(const struct store_be *st, const char *personal_number,
    char hex[65])
{
	return store_key_pseudonym(&st->key, personal_number, hex);
}

/* ---------------------------------------------------------------- operator */

#define META_SELECT "SELECT " PG_MSG_COLS ", accepted_at, done_at, " \
	"dead_code, dead_text, payload IS NOT NULL FROM messages "
enum { MX_ACCEPTED = PC_PAYLOAD, MX_DONE, MX_DEAD_CODE, MX_DEAD_TEXT, MX_KEPT };

static void
meta_read(const PGresult *r, int i, struct store_msg_meta *mm)
{
	const char *subject = pg_text(r, i, PC_SUBJECT);

	memset(mm, 0, sizeof(*mm));
	mm->m.seq = pg_int(r, i, PC_SEQ);
	mm->m.message_id = pg_text(r, i, PC_MESSAGE_ID);
	mm->m.conversation_id = pg_text(r, i, PC_CONVERSATION_ID);
	mm->m.type = (int)pg_int(r, i, PC_TYPE);
	mm->m.priority = (int)pg_int(r, i, PC_PRIORITY);
	mm->m.legal_basis = (int)pg_int(r, i, PC_LEGAL_BASIS);
	mm->m.sender = pg_text(r, i, PC_SENDER);
	mm->m.sender_node = pg_text(r, i, PC_SENDER_NODE);
	mm->m.recipient = pg_text(r, i, PC_RECIPIENT);
	mm->m.recipient_node = pg_text(r, i, PC_RECIPIENT_NODE);
	mm->m.author = pg_text(r, i, PC_AUTHOR);
	mm->m.created = pg_int(r, i, PC_CREATED);
	mm->m.expires = pg_int(r, i, PC_EXPIRES);
	pg_bytes(r, i, PC_SHA256, mm->m.payload_sha256, AUDIT_HASH_LEN);
	mm->m.payload_len = (size_t)pg_int(r, i, PC_SIZE);
	mm->m.attempts = (int)pg_int(r, i, PC_ATTEMPTS);
	mm->m.state = (int)pg_int(r, i, PC_STATE);
	mm->has_subject = subject != NULL && subject[0] != '\0';
	mm->accepted_at = pg_int(r, i, MX_ACCEPTED);
	mm->done_at = pg_int(r, i, MX_DONE);
	mm->dead_code = pg_text(r, i, MX_DEAD_CODE);
	mm->dead_text = pg_text(r, i, MX_DEAD_TEXT);
	mm->payload_kept = strcmp(PQgetvalue(r, i, MX_KEPT), "t") == 0;
}

/* A negative limit is none, as SQLite reads it (LIMIT NULL). */
static void
limit_param(struct pg_params *p, int limit)
{
	if (limit < 0)
		pg_param_text(p, NULL);
	else
		pg_param_int(p, limit);
}

static int
meta_walk(struct store_be *st, const char *sql, const struct pg_params *p,
    store_meta_fn fn, void *arg, const char *what)
{
	struct store_msg_meta mm;
	PGresult *r;
	int n = 0;

	if (pg_run_sql(st, sql, p, &r, what, NULL) != 0)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		meta_read(r, i, &mm);
		n++;
		if (fn(arg, &mm) != 0)
			break;
	}
	PQclear(r);
	return n;
}

int
store_pg_queue_list(struct store_be *st, const char *address, int limit,
    store_meta_fn fn, void *arg)
{
	struct pg_params p;

	pg_params_init(&p);
	pg_param_text(&p, address);
	limit_param(&p, limit);
	return meta_walk(st, META_SELECT "WHERE state = 0 AND (recipient = $1 "
	    "OR recipient_node = $1) ORDER BY seq LIMIT $2::bigint", &p, fn,
	    arg, "listing a queue");
}

int
store_pg_dead_list(struct store_be *st, int limit, store_meta_fn fn, void *arg)
{
	struct pg_params p;

	pg_params_init(&p);
	limit_param(&p, limit);
	return meta_walk(st, META_SELECT "WHERE state = 2 ORDER BY done_at "
	    "DESC, seq DESC LIMIT $1::bigint", &p, fn, arg,
	    "listing dead letters");
}

int
store_pg_msg_meta(struct store_be *st, const char *message_id,
    store_meta_fn fn, void *arg)
{
	struct pg_params p;

	pg_params_init(&p);
	pg_param_text(&p, message_id);
	return meta_walk(st, META_SELECT "WHERE message_id = $1", &p, fn, arg,
	    "reading a message");
}
