/*
 * test_store_stats.c — the store, on SQLite (and, compiled from
 * test_store_stats_pg.c, on PostgreSQL: store_fixture.h): receipts paged
 * per node and deleted by their ack, per-node statistics and totals (with
 * the plans status may use on a store of years), replication status,
 * batches that commit or roll back whole, and read-only opens. The rest of
 * the store's suite is test_store.c.
 */
#include "audit.h"
#include "audit_sign.h"
#include "store_fixture.h"
#include "store_stats_sql.h"
#include "validate.h"

#define BUP "bup-ostra"
#define PED "ped-nal"
#define GBG "kommun-1480"

/* ---------------------------------------------------------------- receipts */

Test(store, receipts_load_pages_per_node_and_acks_delete)
{
	struct fx f;
	struct fx_msg x;
	struct fx_receipts all = { 0 }, rest = { 0 }, other = { 0 };
	bool was_new;

	fx_init(&f);
	for (int i = 1; i <= 3; i++) {
		fx_accept(&f, i, BUP);
		fx_deliver(&f, i, BUP);
		cr_assert_eq(store_acked(f.st, fx_msg(&x, i, BUP)->message_id,
		    BUP, FX_NOW, &was_new), 0);
	}
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 2, fx_on_receipt, &all), 2);
	cr_assert_eq(store_receipts_load(f.st, GBG, all.id[1], 10, fx_on_receipt,
	    &rest), 1);
	cr_expect_gt(rest.id[0], all.id[1]);
	cr_expect_str_eq(rest.r[0]->message_id, "00000000-0000-4000-8000-"
	    "000000000003");
	cr_expect_eq(store_receipts_load(f.st, BUP, 0, 10, fx_on_receipt, &other),
	    0);
	cr_assert_eq(store_receipt_sent(f.st, all.id[0], FX_NOW + 1), 0);
	/* its audit row has the time; the receipt's row is left as it is */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'receipt_sent' AND node = 'kommun-1480' AND time = 1795000001000 "
	    "AND message_id = '00000000-0000-4000-8000-000000000001'"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts WHERE sent "
	    "IS NOT NULL"), 0);
	cr_expect_eq(store_receipt_sent(f.st, 9999, FX_NOW), -1);
	cr_assert_eq(store_receipt_acked(f.st, GBG, all.r[0]->message_id,
	    FX_NOW + 2), 0);
	cr_expect_eq(store_receipt_acked(f.st, GBG, "unknown", FX_NOW), 0);
	cr_expect_eq(store_receipt_acked(f.st, BUP, all.r[1]->message_id,
	    FX_NOW), 0, "another node's ack is harmless");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 2);
	fx_receipts_free(&all);
	fx_receipts_free(&rest);
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &all), 2);
	fx_receipts_free(&all);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event IN "
	    "('receipt_sent', 'receipt_acked') AND node = 'kommun-1480' AND "
	    "type = 'referral' AND length(subject) = 64"), 2);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* Receipt r: about message n, with outcome, sent from node at time. */
static void
expect_receipt(const Nara__Receipt *r, int n, int outcome, const char *node,
    int64_t time)
{
	struct fx_msg x;
	char when[32];

	fx_msg(&x, n, node);
	cr_expect_str_eq(r->message_id, x.id);
	cr_expect_eq((int)r->outcome, outcome, "receipt of %d", n);
	cr_expect_str_eq(r->time, time_format(time, when, sizeof(when)));
	cr_expect_str_eq(r->receiving_node, node);
	cr_expect_str_eq(r->recipient, x.m.recipient);
	cr_expect_str_eq(r->conversation_id, x.m.conversation_id);
}

/* The receipts of acks and of dead letters come in one id order, each
 * as it was queued, a page at a time; a message retried after its FAILED
 * receipt has both, and the older goes first at the sender's ack. */
Test(store, receipts_of_acks_and_dead_letters_come_in_id_order)
{
	struct fx f;
	struct fx_msg x;
	struct fx_receipts rs = { 0 }, page = { 0 };
	struct nara_err err = { 0 };
	bool was_new;

	fx_init(&f);
	for (int i = 1; i <= 3; i++)
		fx_accept(&f, i, BUP);
	fx_deliver(&f, 1, BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW + 1, &was_new), 0);
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 2, BUP)->message_id,
	    "NR052", "refused", false, BUP, FX_NOW + 2), 0);
	fx_deliver(&f, 3, BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 3, BUP)->message_id, BUP,
	    FX_NOW + 3, &was_new), 0);
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &rs),
	    3);
	cr_expect(rs.id[0] < rs.id[1] && rs.id[1] < rs.id[2]);
	expect_receipt(rs.r[0], 1, NARA__OUTCOME__OUTCOME_DELIVERED, BUP,
	    FX_NOW + 1);
	expect_receipt(rs.r[1], 2, NARA__OUTCOME__OUTCOME_FAILED, BUP,
	    FX_NOW + 2);
	cr_expect_str_eq(rs.r[1]->code, "NR052");
	expect_receipt(rs.r[2], 3, NARA__OUTCOME__OUTCOME_DELIVERED, BUP,
	    FX_NOW + 3);
	/* a page at a time, from either kind */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(store_receipts_load(f.st, GBG, i ? rs.id[i - 1] : 0, 1,
		    fx_on_receipt, &page), 1);
		cr_expect_eq(page.id[0], rs.id[i]);
		fx_receipts_free(&page);
	}
	for (int i = 0; i < 3; i++)
		cr_expect_eq(store_receipt_sent(f.st, rs.id[i], FX_NOW + 4),
		    0, "receipt %d", i + 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'receipt_sent' AND node = 'kommun-1480' AND time = 1795000004000 "
	    "AND type = 'referral' AND length(subject) = 64"), 3);
	fx_receipts_free(&rs);

	/* message 2 retried, delivered and acked: a DELIVERED receipt beside
	 * its FAILED one */
	cr_assert_eq(store_retry(f.st, fx_msg(&x, 2, BUP)->message_id, NULL,
	    FX_NOW + 5, &err), 0, "%s", err.text);
	fx_deliver(&f, 2, BUP);
	cr_assert_eq(store_acked(f.st, x.id, BUP, FX_NOW + 6, &was_new), 0);
	cr_assert(was_new);
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &rs),
	    4);
	cr_expect_eq((int)rs.r[3]->outcome, NARA__OUTCOME__OUTCOME_DELIVERED);
	cr_expect_str_eq(rs.r[3]->message_id, x.id);
	fx_receipts_free(&rs);
	cr_assert_eq(store_receipt_acked(f.st, GBG, x.id, FX_NOW + 7), 0);
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &rs),
	    3);
	cr_expect_eq((int)rs.r[1]->outcome, NARA__OUTCOME__OUTCOME_DELIVERED,
	    "the FAILED receipt (the older) was not the one acked");
	cr_expect_str_eq(rs.r[2]->message_id, x.id);
	fx_receipts_free(&rs);
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(store_receipt_acked(f.st, GBG, fx_msg(&x, i,
		    BUP)->message_id, FX_NOW + 8), 0);
	cr_expect_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &rs),
	    0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'receipt_acked' AND node = 'kommun-1480' AND type = 'referral'"),
	    4);
	fx_verify_ok(&f);
	fx_fini(&f);
}

#define SAME "IS NOT DISTINCT FROM"

/* Rows of the receipts of message n whose message fields are not those
 * the message has now (its "received" row's, and its seq now). */
static long long
receipt_rows_off(const struct fx *f, int n)
{
	char sql[1200];
	struct fx_msg x;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit a, audit r, "
	    "messages m WHERE a.event IN ('receipt_queued', 'receipt_sent', "
	    "'receipt_acked') AND a.message_id = '%s' AND r.event = 'received' "
	    "AND r.message_id = a.message_id AND m.message_id = a.message_id "
	    "AND NOT (a.type " SAME " r.type AND a.sender " SAME " r.sender AND "
	    "a.recipient " SAME " r.recipient AND a.author " SAME " r.author AND "
	    "a.legal_basis " SAME " r.legal_basis AND a.payload_sha256 " SAME
	    " r.payload_sha256 AND a.payload_size " SAME " r.payload_size AND "
	    "a.subject " SAME " r.subject AND a.msg_seq " SAME " m.seq)",
	    fx_msg(&x, n, BUP)->message_id);
	return fx_sql_int(f, sql);
}

/* A receipt's audit rows carry its message as it is when they are written:
 * the same fields whether the store kept them since the receipt was queued
 * or reads them (a store opened again), and the message's seq after a
 * retry, also when a retry and a second dead letter were rolled back. */
Test(store, receipt_rows_carry_the_message_as_it_is)
{
	struct fx f;
	struct fx_msg x;
	struct fx_receipts rs = { 0 };
	struct nara_err err = { 0 };
	bool was_new;

	fx_init(&f);
	for (int i = 1; i <= 2; i++) {
		fx_accept(&f, i, BUP);
		fx_deliver(&f, i, BUP);
		cr_assert_eq(store_acked(f.st, fx_msg(&x, i, BUP)->message_id,
		    BUP, FX_NOW, &was_new), 0);
	}
	for (int i = 3; i <= 4; i++) {
		fx_accept(&f, i, BUP);
		cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, i, BUP)->message_id,
		    "NR030", "failed", false, BUP, FX_NOW), 0);
	}
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &rs),
	    4);
	/* 1 as this store queued it */
	cr_assert_eq(store_receipt_sent(f.st, rs.id[0], FX_NOW + 1), 0);
	cr_assert_eq(store_receipt_acked(f.st, GBG, rs.r[0]->message_id,
	    FX_NOW + 2), 0);
	/* 3: retried, its failure receipt sent and acked after that */
	cr_assert_eq(store_retry(f.st, fx_msg(&x, 3, BUP)->message_id, "op",
	    FX_NOW, &err), 0, "%s", err.text);
	cr_assert_eq(store_receipt_sent(f.st, rs.id[2], FX_NOW + 1), 0);
	cr_assert_eq(store_receipt_acked(f.st, GBG, rs.r[2]->message_id,
	    FX_NOW + 2), 0);
	/* 4: a retry and a second dead letter rolled back */
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_retry(f.st, fx_msg(&x, 4, BUP)->message_id, "op",
	    FX_NOW, &err), 0, "%s", err.text);
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 4, BUP)->message_id,
	    "NR030", "failed again", false, BUP, FX_NOW), 0);
	store_rollback(f.st);
	cr_assert_eq(store_receipt_sent(f.st, rs.id[3], FX_NOW + 1), 0);
	cr_assert_eq(store_receipt_acked(f.st, GBG, rs.r[3]->message_id,
	    FX_NOW + 2), 0);
	/* 2 after the store was opened again */
	store_free(&f.st);
	f.st = fx_open(&f, false);
	cr_assert_eq(store_receipt_sent(f.st, rs.id[1], FX_NOW + 1), 0);
	cr_assert_eq(store_receipt_acked(f.st, GBG, rs.r[1]->message_id,
	    FX_NOW + 2), 0);
	for (int i = 1; i <= 4; i++)
		cr_expect_eq(receipt_rows_off(&f, i), 0, "message %d: receipt "
		    "rows unlike the message", i);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event IN "
	    "('receipt_sent', 'receipt_acked')"), 8);
	fx_receipts_free(&rs);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- stats */

struct stats_seen {
	char node[4][40];
	int64_t queued[4], oldest[4], receipts[4];
	int n;
};

static int
on_stats(void *arg, const struct store_node_stats *ns)
{
	struct stats_seen *s = arg;

	cr_assert_lt(s->n, 4);
	snprintf(s->node[s->n], sizeof(s->node[0]), "%s", ns->node);
	s->queued[s->n] = ns->queued;
	s->oldest[s->n] = ns->oldest_created;
	s->receipts[s->n] = ns->receipts;
	s->n++;
	return 0;
}

Test(store, node_stats_and_totals)
{
	struct fx f;
	struct fx_msg x;
	struct stats_seen s = { 0 };
	struct store_totals t;
	bool was_new;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_accept(&f, 2, BUP);
	fx_accept(&f, 3, PED);
	fx_accept(&f, 4, PED);
	fx_deliver(&f, 3, PED);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 3, PED)->message_id, PED,
	    FX_NOW, &was_new), 0);
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 4, PED)->message_id,
	    "NR050", "no", false, PED, FX_NOW), 0);
	cr_assert_eq(store_node_stats(f.st, on_stats, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_expect_str_eq(s.node[0], BUP);
	cr_expect_eq(s.queued[0], 2);
	cr_expect_eq(s.oldest[0], FX_NOW);
	cr_expect_eq(s.receipts[0], 0);
	cr_expect_str_eq(s.node[1], GBG);
	cr_expect_eq(s.queued[1], 0);
	cr_expect_eq(s.oldest[1], 0);
	cr_expect_eq(s.receipts[1], 2);
	cr_assert_eq(store_totals(f.st, &t), 0);
	cr_expect_eq(t.queued, 2);
	cr_expect_eq(t.dead, 1);
	cr_expect_eq(t.receipts, 2);
	cr_expect_eq(t.audit_rows, fx_sql_int(&f, "SELECT count(*) FROM audit"));
	cr_expect_eq(t.bytes, fx_sql_int(&f, FX_SQL_SIZE));
	fx_fini(&f);
}

/* Status, /metrics and the dashboard ask for these at every request, on
 * narad's loop: on a store with years of delivered messages and audit rows
 * no plan may read those row by row. With a store whose dead letter index
 * is missing (older stores), the first read-write open adds it. */
Test(store, status_counts_read_only_what_waits)
{
	struct fx f;
	struct store_totals t;

	fx_init(&f);
	fx_populate(&f);
	fx_expect_bounded_reads(&f, STORE_SQL_TOTALS);
	fx_expect_bounded_reads(&f, STORE_SQL_NODE_STATS);
	store_free(&f.st);
	fx_sql_exec(&f, "DROP INDEX messages_dead");
	f.st = fx_open(&f, false);
#ifdef FX_POSTGRESQL
	/* There, an index built while old versions of HOT-updated rows are
	 * still visible to some transaction of the server (in any database:
	 * tests run beside each other) is left out of plans until those end
	 * (pg_index.indcheckxmin); whether the planner takes it yet is not
	 * the store's doing. That the open built it, valid, is. */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM pg_index i JOIN "
	    "pg_class c ON c.oid = i.indexrelid WHERE c.relname = "
	    "'messages_dead' AND i.indisvalid AND i.indisready"), 1);
#else
	fx_expect_bounded_reads(&f, STORE_SQL_TOTALS);
#endif
	cr_assert_eq(store_totals(f.st, &t), 0);
	cr_expect_eq(t.dead, 1);
	cr_expect_eq(t.queued, 1);
	cr_expect_eq(t.audit_rows, 9);
	fx_fini(&f);
}

/* SQLite replicates nothing (-1); PostgreSQL reports the synchronous
 * standbys it read at open: none on the test server. */
Test(store, replication_status)
{
	struct fx f;
	int n = 7;

	fx_init(&f);
	cr_assert_eq(store_replication(f.st, &n), 0);
#ifdef FX_POSTGRESQL
	cr_expect_eq(n, 0);
#else
	cr_expect_eq(n, -1);
#endif
	fx_fini(&f);
}

/* ---------------------------------------------------------------- batches */

Test(store, committed_batch_survives_reopen_and_verifies)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct fx_seen s = { 0 };
	struct fx_msg x;
	enum store_accept_result res;

	fx_init(&f);
	cr_assert_eq(store_begin(f.st, &err), 0);
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0);
	cr_assert_eq(store_audit_event(f.st, "node_connected", BUP, "adapter",
	    FX_NOW), 0);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	store_free(&f.st);
	cr_assert_null(f.st);
	f.st = fx_open(&f, false);
	cr_expect_eq(store_queue_load(f.st, BUP, 0, 10, fx_on_msg, &s), 3);
	fx_verify_ok(&f);
	cr_assert_eq(store_audit_event(f.st, "broker_started", NULL, NULL,
	    FX_NOW + 1), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM audit"), 5);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(store, rollback_leaves_nothing_and_restores_chain_head)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct fx_msg x;
	enum store_accept_result res;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 2, BUP), FX_NOW, &res,
	    &err), 0);
	cr_assert_eq(store_audit_event(f.st, "config_reloaded", NULL, "x",
	    FX_NOW), 0);
	store_rollback(f.st);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 1);
	cr_assert_eq(store_begin(f.st, &err), 0, "a new batch after rollback");
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 3, BUP), FX_NOW, &res,
	    &err), 0);
	cr_assert_eq(store_commit(f.st, &err), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM audit"), 2);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(store, batch_misuse_is_refused)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	cr_expect_eq(store_commit(f.st, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect_str_eq(err.text, "no batch is open");
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_expect_eq(store_begin(f.st, &err), -1);
	cr_expect_str_eq(err.text, "a batch is already open");
	cr_expect_eq(store_commit(f.st, &err), 0);
	store_rollback(f.st);    /* nothing open: no effect */
	fx_fini(&f);
}

Test(store, large_batch_commits_once)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_totals t;
	struct fx_msg x;
	enum store_accept_result res;

	fx_init(&f);
	cr_assert_eq(store_begin(f.st, &err), 0);
	for (int i = 1; i <= 2000; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, i % 2 ? BUP : PED),
		    FX_NOW, &res, &err), 0);
	cr_assert_eq(store_commit(f.st, &err), 0);
	cr_assert_eq(store_totals(f.st, &t), 0);
	cr_expect_eq(t.queued, 2000);
	cr_expect_eq(t.audit_rows, 2000);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A head signed inside a batch that is rolled back was never signed: when
 * the next batch commits as many rows, the clean stop signs that head, and
 * the log verifies with the key. (The rolled-back signature was taken for
 * the seq, so the committed head went unsigned.) */
Test(store, a_head_signed_in_a_rolled_back_batch_is_signed_again)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct audit_key *sign, *check;
	struct audit_hasher *h = audit_hasher_new();
	struct audit_report rep;
	char priv[300], pub[300];

	fx_init(&f);
	snprintf(priv, sizeof(priv), "%s/sign.pem", f.dir);
	snprintf(pub, sizeof(pub), "%s/sign.pem.pub", f.dir);
	cr_assert_eq(audit_key_generate(priv, pub, &err), 0, "%s", err.text);
	cr_assert_not_null(sign = audit_key_load_private(priv, &err));
	cr_assert_not_null(check = audit_key_load_public(pub, &err));
	store_set_signer(f.st, sign, 60, 0);
	fx_accept(&f, 1, BUP);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	fx_accept(&f, 2, BUP);
	cr_assert_eq(store_maintain(f.st, FX_NOW, &err), 0, "%s", err.text);
	store_rollback(f.st);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	fx_accept(&f, 3, BUP);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	store_free(&f.st);      /* a clean stop signs the head once more */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM checkpoints WHERE "
	    "kind = 'head' AND seq = 2"), 1);
	f.st = fx_open(&f, true);
	cr_expect_eq(audit_verify_full(f.st, h, check, &rep, &err), 0, "%s",
	    err.text);
	store_free(&f.st);
	audit_hasher_free(&h);
	audit_key_free(&sign);
	audit_key_free(&check);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- read-only */

Test(store, read_only_open_reads_but_cannot_write)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct fx_seen s = { 0 };
	struct fx_msg x;
	enum store_accept_result res;
	struct store *ro;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	store_free(&f.st);
	ro = fx_open(&f, true);
	cr_expect_eq(store_queue_load(ro, BUP, 0, 10, fx_on_msg, &s), 1);
	cr_expect_eq(store_begin(ro, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, "read-only") != NULL, "%s", err.text);
	cr_expect_eq(store_accept(ro, fx_msg(&x, 2, BUP), FX_NOW, &res, &err),
	    -1);
	cr_expect_eq(store_audit_event(ro, "broker_started", NULL, NULL, FX_NOW),
	    -1);
	cr_expect_eq(store_audit_verify(ro, NULL, &err), 0, "%s", err.text);
	store_free(&ro);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 1);
	fx_fini(&f);
}

#ifndef FX_POSTGRESQL
/* SQLite only: a path (the PostgreSQL case is the test after it). */
Test(store, read_only_open_of_missing_file_fails)
{
	struct nara_err err = { 0 };
	struct store_options opt = { .read_only = true };

	cr_assert_null(store_open("/nonexistent/nara/store.db", &opt, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, "/nonexistent/nara/store.db") != NULL);
}
#else
Test(store, read_only_open_of_empty_database_fails)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_options opt = { .read_only = true, .backend = FX_BACKEND };

	fx_init(&f);
	store_free(&f.st);
	fx_sql_exec(&f, "DROP TABLE schema_version");
	cr_assert_null(store_open(f.path, &opt, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, "holds no nara store") != NULL, "%s",
	    err.text);
	fx_fini(&f);
}
#endif
