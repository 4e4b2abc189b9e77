/*
 * test_store_report.c — the store's operations for reading the audit log
 * (store.h, "Reading the audit log"): rows by each selection with their
 * hashes, a row about a child found by its subject, a walk stopped by its
 * callback, checkpoints, a row's hash, the recorded head and the read
 * transaction.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "audit.h"
#include "audit_sign.h"
#include "store_fixture.h"

/* What a walk saw: the seqs in order and whether the chain linked. */
struct seen {
	int64_t seq[64];
	int n;
	int stop_after;              /* 0 = never stop */
	uint8_t last_hash[AUDIT_HASH_LEN];
	bool linked, hashed;
	char event[64][32];
};

static int
seen_add(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	struct seen *w = arg;

	if (w->n == 0)
		memset(w->last_hash, 0, sizeof(w->last_hash));
	if (prev_hash == NULL || memcmp(prev_hash, w->last_hash,
	    AUDIT_HASH_LEN) != 0)
		w->linked = false;
	if (hash == NULL)
		w->hashed = false;
	else
		memcpy(w->last_hash, hash, AUDIT_HASH_LEN);
	snprintf(w->event[w->n], sizeof(w->event[0]), "%s", r->event);
	w->seq[w->n++] = r->seq;
	return w->stop_after > 0 && w->n >= w->stop_after;
}

/* The seqs f selects, as "1,2,3". */
static int64_t
walk(struct fx *f, const struct store_audit_filter *flt, struct seen *w,
    char *out, size_t len)
{
	struct nara_err err = { 0 };
	int64_t n;
	size_t used = 0;

	w->n = 0;
	w->linked = w->hashed = true;
	n = store_audit_rows(f->st, flt, seen_add, w, &err);
	cr_assert_geq(n, 0, "%s", err.text);
	out[0] = '\0';
	for (int i = 0; i < w->n && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%lld",
		    i ? "," : "", (long long)w->seq[i]);
	return n;
}

Test(store_report, all_rows_in_seq_order_with_linked_hashes)
{
	struct fx f;
	struct store_audit_filter all = { .select = STORE_AUDIT_ALL,
	    .rows = true };
	struct seen w = { 0 };
	char got[256];

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(walk(&f, &all, &w, got, sizeof(got)), 9);
	cr_expect_str_eq(got, "1,2,3,4,5,6,7,8,9");
	cr_expect(w.linked, "each prev_hash is the hash of the row before");
	cr_expect(w.hashed);
	cr_expect_str_eq(w.event[3], "node_connected");
	cr_expect_str_eq(w.event[5], "acked");
	/* the facts: the ack's row records three, each with its seq */
	all.rows = false;
	cr_expect_eq(walk(&f, &all, &w, got, sizeof(got)), 11);
	cr_expect_str_eq(got, "1,2,3,4,5,6,6,6,7,8,9");
	cr_expect_str_eq(w.event[5], "acked");
	cr_expect_str_eq(w.event[6], "payload_purged");
	cr_expect_str_eq(w.event[7], "receipt_queued");
	cr_expect_str_eq(w.event[8], "dead_lettered");
	fx_fini(&f);
}

Test(store_report, match_filters_time_range_party_event_and_node)
{
	struct fx f;
	struct store_audit_filter m = { .select = STORE_AUDIT_MATCH,
	    .from_ms = INT64_MIN, .to_ms = INT64_MAX, .event = "received" };
	struct seen w = { 0 };
	char got[256];

	fx_init(&f);
	fx_populate(&f);
	walk(&f, &m, &w, got, sizeof(got));
	cr_expect_str_eq(got, "1,2,3");
	m.party = "kommun:0180:nobody";
	walk(&f, &m, &w, got, sizeof(got));
	cr_expect_str_eq(got, "");
	m = (struct store_audit_filter){ .select = STORE_AUDIT_MATCH,
	    .from_ms = (FX_NOW + 1) * 1000, .to_ms = (FX_NOW + 2) * 1000 };
	walk(&f, &m, &w, got, sizeof(got));
	cr_expect_str_eq(got, "6,6,6", "[from, to) holds the ack's facts only");
	m = (struct store_audit_filter){ .select = STORE_AUDIT_MATCH,
	    .from_ms = INT64_MIN, .to_ms = INT64_MAX, .event = "delivered",
	    .node = FX_BUP };
	walk(&f, &m, &w, got, sizeof(got));
	cr_expect_str_eq(got, "5");
	/* facts a folded row records, by their own event and node: the
	 * receipts queued for the sender (the ack's and the dead letter's) */
	m.event = "receipt_queued";
	m.node = "kommun-1480";
	walk(&f, &m, &w, got, sizeof(got));
	cr_expect_str_eq(got, "6,8");
	m.node = FX_BUP;
	cr_expect_eq(walk(&f, &m, &w, got, sizeof(got)), 0);
	m.event = "payload_purged";
	m.node = NULL;
	walk(&f, &m, &w, got, sizeof(got));
	cr_expect_str_eq(got, "6");
	m.event = "acked";
	m.node = FX_BUP;
	walk(&f, &m, &w, got, sizeof(got));
	cr_expect_str_eq(got, "6");
	fx_fini(&f);
}

#ifdef FX_POSTGRESQL
/* PostgreSQL: a time window of the audit log reads through its block range
 * index (rows are appended in time order), which adds no index entry per
 * appended row as a B-tree did. */
Test(store_report, time_window_reads_through_the_block_range_index)
{
	struct fx f;
	char plan[8192];

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM pg_class i JOIN pg_am "
	    "a ON a.oid = i.relam WHERE i.relname = 'audit_time' AND "
	    "a.amname = 'brin'"), 1);
	cr_assert_eq(pgserver_sql_text(f.path, "SET enable_seqscan = off; "
	    "EXPLAIN (FORMAT JSON) SELECT seq FROM audit WHERE time >= 1 AND "
	    "time < 2", plan, sizeof(plan)), 0);
	cr_expect(strstr(plan, "\"Node Type\": \"Bitmap Index Scan\"") != NULL &&
	    strstr(plan, "\"Index Name\": \"audit_time\"") != NULL, "%s", plan);
	fx_fini(&f);
}
#endif

Test(store_report, message_subject_and_seq_selections)
{
	struct fx f;
	struct fx_msg x;
	struct store_audit_filter s = { .select = STORE_AUDIT_MESSAGE };
	struct seen w = { 0 };
	char got[256], hex[65];

	fx_init(&f);
	fx_populate(&f);
	s.message_id = fx_msg(&x, 1, FX_BUP)->message_id;
	walk(&f, &s, &w, got, sizeof(got));
	cr_expect_str_eq(got, "1,5,6,6,6");
	s.message_id = fx_msg(&x, 4, FX_BUP)->message_id;  /* refused */
	walk(&f, &s, &w, got, sizeof(got));
	cr_expect_str_eq(got, "9");
	s.message_id = "00000000-0000-4000-8000-999999999999";
	cr_expect_eq(walk(&f, &s, &w, got, sizeof(got)), 0);
	cr_assert_eq(store_pseudonym(f.st, FX_PN, hex), 0);
	s = (struct store_audit_filter){ .select = STORE_AUDIT_SUBJECT,
	    .subject = hex };
	walk(&f, &s, &w, got, sizeof(got));
	cr_expect_str_eq(got, "1,2,3,5,6,6,6,7,8,9",
	    "every row of the messages naming the child, no event row");
	s = (struct store_audit_filter){ .select = STORE_AUDIT_SEQ, .seq = 4 };
	walk(&f, &s, &w, got, sizeof(got));
	cr_expect_str_eq(got, "4");
	s.seq = 99;
	cr_expect_eq(walk(&f, &s, &w, got, sizeof(got)), 0);
	fx_fini(&f);
}

/* A message's seq may be given again once the message was pruned (SQLite
 * takes max(seq) + 1): a trace of the new message shows its own rows, not
 * the pruned one's, which keep that seq as their look-up aid. */
Test(store_report, trace_after_a_seq_was_given_again_is_the_messages_own)
{
	struct fx f;
	struct fx_msg x;
	struct store_audit_filter s = { .select = STORE_AUDIT_MESSAGE };
	struct seen w = { 0 };
	char got[64];

	fx_init(&f);
	fx_accept(&f, 1, FX_BUP);
	fx_sql_exec(&f, "DELETE FROM messages");   /* as a prune does */
	fx_accept(&f, 2, FX_BUP);
	s.message_id = fx_msg(&x, 2, FX_BUP)->message_id;
	walk(&f, &s, &w, got, sizeof(got));
	cr_expect_str_eq(got, "2", "rows of another message in the trace");
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A second child, whose submission reuses the id of the first child's
 * delivered message 1 and is refused (NR033): the refusal is written with
 * that id and the second child's pseudonym. Neither child's rows may show
 * the other's: the id alone does not say whose a row is. The review of
 * message 1 (a row with its id and no subject) stays the first child's. */
Test(store_report, subject_rows_of_a_reused_id_stay_with_their_child)
{
	struct fx f;
	struct fx_msg x;
	struct store_audit_filter s = { .select = STORE_AUDIT_SUBJECT };
	struct nara_err err = { 0 };
	struct seen w = { 0 };
	char got[256], a[65], b[65];

	fx_init(&f);
	fx_populate(&f);
	fx_msg(&x, 1, FX_BUP)->personal_number = "201902140621";
	cr_assert_eq(store_audit_rejected(f.st, &x.m, "kommun-1480", "NR033",
	    "message_id already used", FX_NOW + 4), 0);
	cr_assert_eq(store_audit_review(f.st, x.m.message_id, "granskare-1",
	    "access justified", FX_NOW + 5, &err), 0, "%s", err.text);
	cr_assert_eq(store_pseudonym(f.st, FX_PN, a), 0);
	cr_assert_eq(store_pseudonym(f.st, "201902140621", b), 0);
	s.subject = b;
	walk(&f, &s, &w, got, sizeof(got));
	cr_expect_str_eq(got, "10", "the second child's refusal only");
	s.subject = a;
	walk(&f, &s, &w, got, sizeof(got));
	cr_expect_str_eq(got, "1,2,3,5,6,6,6,7,8,9,11", "the first child's "
	    "messages whole with the review, not the other child's refusal");
	cr_expect_str_eq(w.event[10], "log_reviewed");
	fx_fini(&f);
}

/* A row about the child (the log extract's): subject and author where
 * every row keeps them, no message; a selection by subject finds it, one
 * by message does not, and the chain still verifies. */
static int
keep_row(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	char *out = arg;

	(void)prev_hash;
	(void)hash;
	snprintf(out, 400, "%s|%s|%s|%s|%s", r->event, r->subject ? r->subject
	    : "-", r->author ? r->author : "-", r->message_id ? r->message_id :
	    "-", r->detail ? r->detail : "-");
	return 0;
}

Test(store_report, subject_row_found_by_subject)
{
	struct fx f;
	struct store_audit_filter s = { .select = STORE_AUDIT_SUBJECT };
	struct nara_err err = { 0 };
	struct seen w = { 0 };
	char got[256], hex[65], row[400] = "", want[400];
	int64_t bad = -1;

	fx_init(&f);
	fx_populate(&f);
	cr_assert_eq(store_pseudonym(f.st, FX_PN, hex), 0);
	cr_assert_eq(store_audit_subject(f.st, "log_extracted", hex,
	    "Revisor Rut", "log extract by Revisor Rut: 3 messages, html",
	    FX_NOW + 5, &err), 0, "%s", err.text);
	s.subject = hex;
	walk(&f, &s, &w, got, sizeof(got));
	cr_expect_str_eq(got, "1,2,3,5,6,6,6,7,8,9,10");
	cr_expect_str_eq(w.event[10], "log_extracted");
	s = (struct store_audit_filter){ .select = STORE_AUDIT_SEQ, .seq = 10 };
	cr_assert_eq(store_audit_rows(f.st, &s, keep_row, row, &err), 1);
	snprintf(want, sizeof(want), "log_extracted|%s|Revisor Rut|-|log "
	    "extract by Revisor Rut: 3 messages, html", hex);
	cr_expect_str_eq(row, want);
	cr_expect_eq(store_audit_verify(f.st, &bad, &err), 0, "%s", err.text);
	fx_fini(&f);
}

Test(store_report, a_callback_stops_the_walk)
{
	struct fx f;
	struct store_audit_filter all = { .select = STORE_AUDIT_ALL };
	struct seen w = { .stop_after = 2 };
	char got[256];

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(walk(&f, &all, &w, got, sizeof(got)), 2);
	cr_expect_str_eq(got, "1,2");
	fx_fini(&f);
}

/* The checkpoints of one kind, counted, with the last one kept. */
struct ckpts {
	const struct audit_key *key;
	int n, malformed, good_sig;
	struct audit_checkpoint last; /* its strings are gone after the call */
};

static int
ckpt_add(void *arg, const struct audit_checkpoint *c, bool well_formed)
{
	struct ckpts *k = arg;

	k->n++;
	k->malformed += !well_formed;
	k->good_sig += k->key != NULL && audit_checkpoint_check(k->key, c) == 0;
	k->last = *c;
	return 0;
}

Test(store_report, checkpoints_hash_and_head)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct audit_key *key;
	struct ckpts heads = { 0 }, cuts = { 0 };
	uint8_t hash[AUDIT_HASH_LEN], head_hash[AUDIT_HASH_LEN];
	char priv[300], pub[300];
	int64_t head_seq;

	fx_init(&f);
	fx_populate(&f);
	snprintf(priv, sizeof(priv), "%s/sign.key", f.dir);
	snprintf(pub, sizeof(pub), "%s/sign.pub", f.dir);
	cr_assert_eq(audit_key_generate(priv, pub, &err), 0, "%s", err.text);
	cr_assert_not_null(key = audit_key_load_private(priv, &err));
	heads.key = key;
	cr_assert_eq(store_checkpoint(f.st, key, FX_NOW + 10, &err), 0, "%s",
	    err.text);
	cr_assert_eq(store_audit_checkpoints(f.st, "head", ckpt_add, &heads,
	    &err), 0, "%s", err.text);
	cr_assert_eq(store_audit_checkpoints(f.st, "cut", ckpt_add, &cuts,
	    &err), 0, "%s", err.text);
	cr_expect_eq(heads.n, 1);
	cr_expect_eq(heads.malformed, 0);
	cr_expect_eq(cuts.n, 0);
	cr_expect_eq(heads.last.seq, 9);
	cr_expect_eq(heads.good_sig, 1, "signed by the key, kind and "
	    "fingerprint as stored");
	cr_assert_eq(store_audit_hash(f.st, 9, hash), 1);
	cr_expect_eq(memcmp(hash, heads.last.hash, AUDIT_HASH_LEN), 0);
	cr_expect_eq(store_audit_hash(f.st, 99, hash), 0);
	cr_assert_eq(store_audit_head(f.st, &head_seq, head_hash, &err), 0);
	cr_expect_eq(head_seq, 9);
	cr_expect_eq(memcmp(head_hash, hash, AUDIT_HASH_LEN), 0);
	audit_key_free(&key);
	fx_fini(&f);
}

Test(store_report, read_transaction_is_opened_once)
{
	struct fx f;
	struct nara_err err = { 0 };
	bool outer = false, inner = true;

	fx_init(&f);
	cr_assert_eq(store_read_begin(f.st, &outer, &err), 0, "%s", err.text);
	cr_expect(outer);
	cr_assert_eq(store_read_begin(f.st, &inner, &err), 0, "%s", err.text);
	cr_expect_not(inner, "a read inside one already open owns nothing");
	store_read_end(f.st, inner);
	store_read_end(f.st, outer);
	cr_expect_eq(store_audit_event(f.st, "broker_started", NULL, NULL,
	    FX_NOW), 0, "the store writes again after the read ended");
	fx_fini(&f);
}
