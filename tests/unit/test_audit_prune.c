/*
 * test_audit_prune.c — what the store writes to a signed audit log after
 * the fact: the retention prune behind a signed cut (and what it keeps),
 * the reviewer's conclusions appended to the chain, and the store's
 * periodic upkeep (a checkpoint when due and at close, free pages given
 * back). Keys, signed heads and verification are in test_audit_sign.c.
 * test_audit_prune_pg.c runs it on PostgreSQL, less the tests of SQLite's
 * own tables.
 */
#include "audit_sign_fixture.h"

/* ---------------------------------------------------------------- prune */

static void
pruned_store(struct fx *f, struct keys *k, int64_t *cut)
{
	struct nara_err err = { 0 };
	struct store_totals t;
	int64_t deleted;

	signed_store(f, k);
	/* rows 1-4 at FX_NOW, the rest later: prune what is before FX_NOW+1 */
	f->st = fx_open(f, false);
	cr_assert_eq(store_audit_prune(f->st, k->sign, FX_NOW + 1, 0,
	    FX_NOW + 20, NULL, cut, &deleted, &err), 0, "%s", err.text);
	cr_expect_gt(*cut, 0);
	cr_expect_eq(deleted, *cut);
	cr_expect_eq(fx_sql_int(f, "SELECT min(seq) FROM audit"), *cut + 1);
	cr_expect_eq(fx_sql_int(f, "SELECT event = 'audit_pruned' FROM audit "
	    "ORDER BY seq DESC LIMIT 1"), 1);
	/* the count status shows, from the span of seqs, after the cut */
	cr_assert_eq(store_totals(f->st, &t), 0);
	cr_expect_eq(t.audit_rows, fx_sql_int(f, "SELECT count(*) FROM audit"));
	store_free(&f->st);
}

Test(audit_sign, prune_keeps_verify_passing)
{
	struct fx f;
	struct keys k;
	struct audit_report rep;
	struct nara_err err = { 0 };
	int64_t cut;

	pruned_store(&f, &k, &cut);
	cr_assert_eq(verify_full(&f, k.check, &rep, &err), 0, "%s", err.text);
	cr_expect_eq(rep.cut_seq, cut);
	cr_expect_eq(rep.first_seq, cut + 1);
	cr_expect_eq(rep.last_seq, 10);
	/* the store's own verify also starts at the cut */
	f.st = fx_open(&f, true);
	fx_verify_ok(&f);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, prune_then_tamper_fails)
{
	struct fx f;
	struct keys k;
	int64_t cut;

	pruned_store(&f, &k, &cut);
	cr_expect_eq(tampered(&f, &k, "UPDATE audit SET detail = 'x' WHERE "
	    "seq = (SELECT max(seq) FROM audit)", "mismatch"), 10);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, prune_then_delete_first_kept_row_fails)
{
	struct fx f;
	struct keys k;
	int64_t cut;

	pruned_store(&f, &k, &cut);
	cr_expect_eq(tampered(&f, &k, "DELETE FROM audit WHERE seq = (SELECT "
	    "min(seq) FROM audit)", "rows deleted at the start"), cut + 1);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, prune_then_moved_cut_fails)
{
	struct fx f;
	struct keys k;
	int64_t cut;

	pruned_store(&f, &k, &cut);
	cr_expect_eq(tampered(&f, &k, "DELETE FROM audit WHERE seq = (SELECT "
	    "min(seq) FROM audit); UPDATE checkpoints SET seq = seq + 1 WHERE "
	    "kind = 'cut'", "retention cut"), cut + 2);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, prune_needs_a_private_key)
{
	struct fx f;
	struct keys k;
	struct nara_err err = { 0 };
	int64_t cut, deleted;

	fx_init(&f);
	keys_make(&f, &k);
	fx_populate(&f);
	cr_expect_eq(store_audit_prune(f.st, k.check, FX_NOW + 1, 0, FX_NOW,
	    NULL, &cut, &deleted, &err), -1);
	cr_expect_eq(err.code, NR_CONFIG);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 9);
	keys_free(&k);
	fx_fini(&f);
}

/* The cut follows the chain: it stops before the first row not yet old,
 * even when rows after that one are older (a clock stepped back), so no
 * row is deleted before its time. Finished messages done before the date
 * go with it; a queued one, and one finished after the date, stay. */
Test(audit_sign, prune_stops_at_the_first_row_not_yet_old)
{
	struct fx f;
	struct keys k;
	struct fx_msg x;
	struct nara_err err = { 0 };
	int64_t cut, deleted;
	char sql[200];

	fx_init(&f);
	keys_make(&f, &k);
	fx_populate(&f);
	snprintf(sql, sizeof(sql), "UPDATE audit SET time = %lld WHERE seq = 3",
	    (FX_NOW + 100) * 1000);
	fx_sql_exec(&f, sql);
	/* rows 1-5 at FX_NOW (row 3 now later), 6 the ack at FX_NOW + 1 */
	cr_assert_eq(store_audit_prune(f.st, k.sign, FX_NOW + 2, 0, FX_NOW + 20,
	    "revisor (uid 1000)", &cut, &deleted, &err), 0, "%s", err.text);
	cr_expect_eq(cut, 2);
	cr_expect_eq(deleted, 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT min(seq) FROM audit"), 3);
	/* who pruned is on record; narad's own retention names no one */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'audit_pruned' AND detail LIKE '%, by revisor (uid 1000)'"), 1);
	/* message 1 acked at FX_NOW + 1: gone; 2 dead at FX_NOW + 2 and 3
	 * queued: kept */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE "
	    "message_id = '%s'", fx_msg(&x, 1, FX_BUP)->message_id);
	cr_expect_eq(fx_sql_int(&f, sql), 0);
	/* the row in the way aged, but it is message 3's, still queued: no
	 * cut goes past the first row of a queued message, whatever the date */
	cr_assert_eq(store_audit_prune(f.st, k.sign, FX_NOW + 101, 0, FX_NOW +
	    200, NULL, &cut, &deleted, &err), 0, "%s", err.text);
	cr_expect_eq(cut, 0, "cut past a queued message's received row");
	cr_expect_eq(fx_sql_int(&f, "SELECT min(seq) FROM audit"), 3);
	/* message 3 ends (an operator's dead letter, later): the next prune
	 * goes past it, to the end of what is old by then */
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 3, FX_BUP)->message_id,
	    "NR050", "operator", false, NULL, FX_NOW + 150), 0);
	cr_assert_eq(store_audit_prune(f.st, k.sign, FX_NOW + 101, 0, FX_NOW +
	    200, NULL, &cut, &deleted, &err), 0, "%s", err.text);
	cr_expect_gt(cut, 9);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	keys_free(&k);
	fx_fini(&f);
}

/* A prune that takes the newest messages does not give their seqs again:
 * a session reading its queue past a seq it saw (narad's cursor, kept
 * while the prune runs) would never see a new message that reused it. Also
 * after the store was closed and opened again. */
Test(audit_sign, prune_of_the_newest_messages_never_gives_their_seq_again)
{
	struct fx f;
	struct keys k;
	struct fx_msg x;
	struct nara_err err = { 0 };
	int64_t cut, deleted, top;

	fx_init(&f);
	keys_make(&f, &k);
	fx_populate(&f);
	top = fx_sql_int(&f, "SELECT max(seq) FROM messages");
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 3, FX_BUP)->message_id,
	    "NR050", "operator", false, NULL, FX_NOW + 3), 0);
	cr_assert_eq(store_seq_high(f.st) < 0 || store_seq_high(f.st) >= top,
	    1, "store_seq_high below a seq given");
	cr_assert_eq(store_audit_prune(f.st, k.sign, FX_NOW + 101, 0, FX_NOW +
	    200, NULL, &cut, &deleted, &err), 0, "%s", err.text);
	cr_assert_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 0,
	    "the prune left messages: the test proves nothing");
	store_free(&f.st);
	f.st = fx_open(&f, false);
	fx_accept(&f, 5, FX_BUP);
	cr_expect_gt(fx_sql_int(&f, "SELECT max(seq) FROM messages"), top,
	    "a pruned message's seq was given again");
	cr_expect(store_seq_high(f.st) < 0 ||
	    store_seq_high(f.st) == fx_sql_int(&f, "SELECT max(seq) FROM "
	    "messages"));
	keys_free(&k);
	fx_fini(&f);
}

/* A receipt its sender has not acked outlives the prune of its message:
 * the same id and bytes after the prune, then acked as any other. */
Test(audit_sign, prune_keeps_the_receipts_of_the_messages_it_deletes)
{
	struct fx f;
	struct keys k;
	struct fx_msg x;
	struct fx_receipts before = { 0 }, after = { 0 };
	struct nara_err err = { 0 };
	int64_t cut, deleted;

	fx_init(&f);
	keys_make(&f, &k);
	fx_populate(&f);   /* 1 acked (DELIVERED), 2 dead (FAILED), 3 queued */
	cr_assert_eq(store_receipts_load(f.st, "kommun-1480", 0, 10,
	    fx_on_receipt, &before), 2);
	cr_assert_eq(store_audit_prune(f.st, k.sign, FX_NOW + 101, 0, FX_NOW +
	    200, NULL, &cut, &deleted, &err), 0, "%s", err.text);
	cr_assert_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1,
	    "messages 1 and 2 not pruned: the test proves nothing");
	cr_assert_eq(store_receipts_load(f.st, "kommun-1480", 0, 10,
	    fx_on_receipt, &after), 2);
	for (int i = 0; i < 2; i++) {
		size_t n = nara__receipt__get_packed_size(before.r[i]);
		uint8_t a[512], b[512];

		cr_assert_lt(n, sizeof(a));
		cr_expect_eq(after.id[i], before.id[i]);
		cr_assert_eq(nara__receipt__get_packed_size(after.r[i]), n);
		nara__receipt__pack(before.r[i], a);
		nara__receipt__pack(after.r[i], b);
		cr_expect_arr_eq(a, b, n, "receipt %d changed in the prune", i);
	}
	cr_expect_eq(store_receipt_sent(f.st, after.id[0], FX_NOW + 201), 0);
	cr_expect_eq(store_receipt_acked(f.st, "kommun-1480", fx_msg(&x, 1,
	    FX_BUP)->message_id, FX_NOW + 202), 0);
	fx_receipts_free(&after);
	cr_assert_eq(store_receipts_load(f.st, "kommun-1480", 0, 10,
	    fx_on_receipt, &after), 1);
	cr_expect_eq(after.id[0], before.id[1]);
	/* their rows name the message by id alone: it is no longer stored */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event IN "
	    "('receipt_sent', 'receipt_acked') AND message_id = '00000000-0000-"
	    "4000-8000-000000000001'"), 2);
	fx_receipts_free(&before);
	fx_receipts_free(&after);
	keys_free(&k);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- review */

Test(audit_sign, review_appends_to_the_chain)
{
	struct fx f;
	struct keys k;
	struct fx_msg x;
	struct nara_err err = { 0 };
	struct audit_report rep;

	signed_store(&f, &k);
	f.st = fx_open(&f, false);
	cr_assert_eq(store_audit_review(f.st, fx_msg(&x, 1, FX_BUP)->message_id,
	    "granskare-1", "access justified; child " FX_PN " was treated",
	    FX_NOW + 30, &err), 0, "%s", err.text);
	cr_expect_eq(store_audit_review(f.st, "00000000-0000-4000-8000-"
	    "999999999999", "granskare-1", "x", FX_NOW + 30, &err), -1);
	cr_expect_eq(err.code, NR_BAD_MESSAGE_ID);
	store_free(&f.st);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'log_reviewed' AND author = 'granskare-1' AND message_id = "
	    "'00000000-0000-4000-8000-000000000001'"), 1);
	/* the clear personal number never reaches the log */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE detail "
	    "LIKE '%" FX_PN "%'"), 0);
	cr_assert_eq(verify_full(&f, k.check, &rep, &err), 0, "%s", err.text);
	cr_expect_eq(rep.last_seq, 10);
	cr_expect_eq(rep.signed_seq, 9);
	keys_free(&k);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- upkeep */

Test(audit_sign, maintain_signs_when_due_and_at_close)
{
	struct fx f;
	struct keys k;
	struct nara_err err = { 0 };

	fx_init(&f);
	keys_make(&f, &k);
	store_set_signer(f.st, k.sign, 60, 0);
	fx_accept(&f, 1, FX_BUP);
	cr_assert_eq(store_maintain(f.st, FX_NOW, &err), 0, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM checkpoints"), 1);
	fx_accept(&f, 2, FX_BUP);
	cr_assert_eq(store_maintain(f.st, FX_NOW + 30, &err), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM checkpoints"), 1);
	cr_assert_eq(store_maintain(f.st, FX_NOW + 61, &err), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM checkpoints"), 2);
	/* nothing new: no new checkpoint */
	cr_assert_eq(store_maintain(f.st, FX_NOW + 200, &err), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM checkpoints"), 2);
	fx_accept(&f, 3, FX_BUP);
	store_free(&f.st);   /* clean shutdown signs the head */
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM checkpoints"), 3);
	keys_free(&k);
	fx_fini(&f);
}

#ifndef FX_POSTGRESQL   /* SQLite's own tables and functions */
Test(audit_sign, maintain_gives_free_pages_back)
{
	struct fx f;
	struct nara_err err = { 0 };
	bool was_new;
	struct fx_msg x;
	long long before, after;

	fx_init(&f);
	cr_expect_eq(fx_sql_int(&f, "PRAGMA auto_vacuum"), 2);
	for (int i = 1; i <= 40; i++) {
		fx_msg(&x, i, FX_BUP);
		char big[8192];
		memset(big, 'A' + i % 26, sizeof(big));
		x.m.payload = (const uint8_t *)big;
		x.m.payload_len = sizeof(big);
		enum store_accept_result res;
		cr_assert_eq(store_accept(f.st, &x.m, FX_NOW, &res, &err), 0);
		fx_deliver(&f, i, FX_BUP);
		cr_assert_eq(store_acked(f.st, x.id, FX_BUP, FX_NOW, &was_new), 0);
	}
	before = fx_sql_int(&f, "PRAGMA freelist_count");
	cr_assert_gt(before, 0, "purged payloads should leave free pages");
	for (int i = 0; i < 20; i++)
		cr_assert_eq(store_maintain(f.st, FX_NOW, &err), 0, "%s", err.text);
	after = fx_sql_int(&f, "PRAGMA freelist_count");
	cr_expect_lt(after, before);
	fx_verify_ok(&f);
	fx_fini(&f);
}
#endif
