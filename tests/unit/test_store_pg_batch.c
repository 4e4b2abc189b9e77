/*
 * test_store_pg_batch.c — the PostgreSQL store's batches on a real server
 * (store_fixture.h with FX_POSTGRESQL): what a batch costs in round trips,
 * and what happens when the store's cache of messages is wrong (another
 * writer changed a message; an id stored by an earlier run): the batch
 * fails whole, nothing of it is committed, the chain verifies, and the
 * next attempt reads the truth. See store_pg_batch.c, store_pg_fast.c.
 */
#include "pg_batch_fixture.h"

/* the sender node of fx_msg's messages, to which receipts go */
#define SND "kommun-1480"

Test(pgbatch, writes_of_a_batch_cost_two_round_trips)
{
	struct fx f;
	struct fx_msg x;
	struct rcpts rs = { 0 };
	struct nara_err err = { 0 };
	enum store_accept_result res;
	uint64_t rt;
	int queued = 0;

	fx_init(&f);
	rt = batch_open(&f);
	for (int i = 1; i <= N; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	cr_expect_eq(batch_close(&f, rt), 2, "accepts: begin and commit");
	cr_assert_eq(store_queue_load(f.st, BUP, 0, N, count_msg, &queued), N);
	rt = batch_open(&f);
	for (int i = 1; i <= N; i++)
		cr_assert_eq(store_delivering(f.st, i, 1, BUP, FX_NOW), 0);
	for (int i = 1; i <= N; i++) {
		bool was_new = false;
		cr_assert_eq(store_acked(f.st, fx_msg(&x, i, BUP)->message_id, BUP,
		    FX_NOW, &was_new), 0);
		cr_expect(was_new);
	}
	cr_expect_eq(batch_close(&f, rt), 2, "deliveries and acks");
	cr_assert_eq(store_receipts_load(f.st, "kommun-1480", 0, N,
	    take_receipt, &rs), N);
	rt = batch_open(&f);
	for (int i = 0; i < N; i++)
		cr_assert_eq(store_receipt_sent(f.st, rs.id[i], FX_NOW), 0);
	for (int i = 0; i < N; i++)
		cr_assert_eq(store_receipt_acked(f.st, "kommun-1480", rs.mid[i],
		    FX_NOW), 0);
	cr_expect_eq(batch_close(&f, rt), 2, "receipts sent and acked");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE state "
	    "= 1 AND attempts = 1 AND payload IS NULL"), N);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 0);
	/* received, delivered, acked (with purge and receipt queued),
	 * receipt_sent, receipt_acked */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 5 * N);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM messages"), N);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A delivery pass's reads for several nodes: one round trip for all of
 * them, the same rows as the reads one by one. */
Test(pgbatch, loads_of_several_nodes_cost_one_round_trip)
{
	static const char *const nodes[] = { "bup-ostra", "bup-molndal",
	    "kommun-1480" };
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	struct store_load v[3];
	int got[3] = { 0 };
	uint64_t rt;

	fx_init(&f);
	for (int i = 1; i <= 6; i++)
		fx_accept(&f, i, nodes[i % 2]);
	rt = batch_open(&f);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 7, nodes[0]), FX_NOW,
	    &(enum store_accept_result){ 0 }, &err), 0, "%s", err.text);
	for (int i = 0; i < 3; i++)
		v[i] = (struct store_load){ .node = nodes[i], .limit = 10,
		    .rfn = take_none, .mfn = count_msg, .arg = &got[i] };
	cr_assert_eq(store_loads(f.st, v, 3), 0);
	/* begin, the loads (with the accept's row sent before them), commit */
	cr_expect_eq(batch_close(&f, rt), 3);
	cr_expect_eq(v[0].msgs, 4, "three stored before, one in the batch");
	cr_expect_eq(v[1].msgs, 3);
	cr_expect_eq(v[2].msgs, 0);
	cr_expect_eq(got[0] + got[1] + got[2], 7);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(pgbatch, duplicate_from_an_earlier_run_fails_one_batch_then_is_found)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	new_run(&f, false);             /* its cache is empty */
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 1, BUP), FX_NOW, &res, &err),
	    0);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 2, BUP), FX_NOW, &res, &err),
	    0);
	cr_expect_eq(store_commit(f.st, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	fx_verify_ok(&f);
	/* the resend: looked up first now */
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 1, BUP), FX_NOW, &res, &err),
	    0, "%s", err.text);
	cr_expect_eq(res, STORE_DUPLICATE);
	/* the failed batch's seqs are a gap, as a rolled back serial's */
	cr_expect_gt(fx_accept(&f, 2, BUP), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'received'"), 2);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(pgbatch, stale_cache_fails_the_batch_and_the_next_reads)
{
	struct fx f;
	struct fx_msg x;
	struct store *other;
	struct nara_err err = { 0 };
	bool was_new = true;
	int queued = 0;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	cr_assert_eq(store_queue_load(f.st, BUP, 0, 10, count_msg, &queued), 1);
	cr_assert_eq(store_delivering(f.st, 1, 1, BUP, FX_NOW), 0);
	/* another writer dead-letters it behind this store's back */
	other = fx_open(&f, false);
	cr_assert_eq(store_dead_letter(other, fx_msg(&x, 1, BUP)->message_id,
	    "NR050", "operator", false, NULL, FX_NOW), 0);
	store_free(&other);
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_assert_eq(store_acked(f.st, x.id, BUP, FX_NOW, &was_new), 0);
	cr_expect_eq(store_commit(f.st, &err), -1, "the ack of a dead letter "
	    "must not commit");
	cr_expect_eq(err.code, NR_STORE_FAILED, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT state FROM messages"), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'acked'"), 0);
	fx_verify_ok(&f);
	/* again: read from the database, not queued, nothing written */
	cr_expect_eq(store_acked(f.st, x.id, BUP, FX_NOW, &was_new), 0);
	cr_expect(!was_new);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'acked'"), 0);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A receipt's row is not changed when it is sent, but the batch still
 * checks that it is there: sent after another writer deleted it (its
 * ack), the batch fails and no receipt_sent row is written. */
Test(pgbatch, receipt_sent_after_another_writer_acked_it_fails_the_batch)
{
	struct fx f;
	struct fx_msg x;
	struct fx_receipts rs = { 0 };
	struct store *other;
	struct nara_err err = { 0 };
	bool was_new;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_deliver(&f, 1, BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), 0);
	cr_assert_eq(store_receipts_load(f.st, "kommun-1480", 0, 10,
	    fx_on_receipt, &rs), 1);
	other = fx_open(&f, false);
	cr_assert_eq(store_receipt_acked(other, "kommun-1480", x.id, FX_NOW), 0);
	store_free(&other);
	cr_assert_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 0);
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_assert_eq(store_receipt_sent(f.st, rs.id[0], FX_NOW + 1), 0);
	cr_expect_eq(store_commit(f.st, &err), -1, "a receipt that is gone "
	    "was recorded as sent");
	cr_expect_eq(err.code, NR_STORE_FAILED, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'receipt_sent'"), 0);
	fx_receipts_free(&rs);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(pgbatch, two_deliveries_of_one_message_in_one_batch)
{
	struct fx f;
	struct nara_err err = { 0 };
	int queued = 0;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	cr_assert_eq(store_queue_load(f.st, BUP, 0, 10, count_msg, &queued), 1);
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_assert_eq(store_delivering(f.st, 1, 1, BUP, FX_NOW), 0);
	cr_assert_eq(store_delivering(f.st, 1, 2, BUP, FX_NOW + 1), 0);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT attempts FROM messages"), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'delivered'"), 2);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* Deliveries of seq 1 in the open batch until target statements wait for
 * their answers (each delivery of a message delivered before in the batch
 * sends the lanes: two statements). */
static void
pad_pending(struct fx *f, int target, int *attempt)
{
	while (f->st->be->pending < target)
		cr_assert_eq(store_delivering(f->st, 1, ++*attempt, BUP, FX_NOW),
		    0);
}

/* A read or COMMIT sent when the pipeline is full gets its own answer: the
 * answers read to make room are those sent before it. (When a statement
 * made the count reach PG_PIPE_MAX, its own answer was read and thrown
 * away with the others: a queue load found nothing, and a committed batch
 * was reported rolled back.) Every count up to the bound, both parities. */
Test(pgbatch, a_read_or_commit_at_the_pipeline_bound_gets_its_own_answer,
    .timeout = 120)
{
	struct fx f;
	struct nara_err err = { 0 };
	int n, attempt = 0, seq = 2;
	long long before;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_accept(&f, seq, "kommun-1480");
	for (int target = PG_PIPE_MAX - 6; target <= PG_PIPE_MAX; target++) {
		n = 0;
		cr_assert_eq(store_queue_load(f.st, BUP, 0, 10, count_msg, &n), 1);
		cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
		if (target % 2)         /* one more lane in the first send */
			fx_accept(&f, ++seq, "kommun-1480");
		pad_pending(&f, target - 2, &attempt);
		n = 0;
		cr_expect_eq(store_queue_load(f.st, "kommun-1480", 0, 100,
		    count_msg, &n), seq - 1, "pending %d before the read",
		    target - 2);
		cr_expect_eq(n, seq - 1);
		before = fx_sql_int(&f, "SELECT count(*) FROM audit");
		pad_pending(&f, target - 1, &attempt);
		cr_expect_eq(store_commit(f.st, &err), 0, "pending %d before "
		    "COMMIT: %s", target - 1, err.text);
		cr_expect_gt(fx_sql_int(&f, "SELECT count(*) FROM audit"), before);
	}
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* Receipts of node past after in a batch: how many, and the round trips
 * the batch took (begin and commit included). */
static int
receipts_in_batch(struct fx *f, const char *node, int64_t after,
    uint64_t *rts)
{
	struct rcpts rs = { 0 };
	uint64_t rt = batch_open(f);
	int n = store_receipts_load(f->st, node, after, N, take_receipt, &rs);

	*rts = batch_close(f, rt);
	return n;
}

Test(pgbatch, loads_known_empty_are_skipped_until_someone_writes)
{
	struct fx f;
	struct fx_msg x;
	struct store *other;
	uint64_t rts = 0;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_accept(&f, 2, BUP);
	cr_expect_eq(receipts_in_batch(&f, "kommun-1480", 0, &rts), 0);
	cr_expect_eq(rts, 3, "the first load reads");
	cr_expect_eq(receipts_in_batch(&f, "kommun-1480", 0, &rts), 0);
	cr_expect_eq(rts, 2, "known empty: no read");
	/* another writer queues a receipt: the head moved, this store reads */
	other = fx_open(&f, false);
	cr_assert_eq(store_dead_letter(other, fx_msg(&x, 1, BUP)->message_id,
	    "NR050", "operator", false, NULL, FX_NOW), 0);
	store_free(&other);
	cr_expect_eq(receipts_in_batch(&f, "kommun-1480", 0, &rts), 1);
	cr_expect_eq(rts, 3);
	cr_expect_eq(receipts_in_batch(&f, "kommun-1480", 0, &rts), 1);
	cr_expect_eq(rts, 3, "not empty: read again");
	/* this store queues one itself: read again */
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 2, BUP)->message_id,
	    "NR050", "operator", false, NULL, FX_NOW), 0);
	cr_expect_eq(receipts_in_batch(&f, "kommun-1480", 0, &rts), 2);
	cr_expect_eq(rts, 3);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* What a load gave, row by row, to compare memory with the database. */
struct seen {
	int n;
	char what[2 * N][400];
};

static int
see_msg(void *arg, const struct store_msg *m)
{
	struct seen *s = arg;
	char sha[2 * AUDIT_HASH_LEN + 1];

	cr_assert_lt(s->n, 2 * N);
	audit_hex(m->payload_sha256, AUDIT_HASH_LEN, sha);
	snprintf(s->what[s->n++], sizeof(s->what[0]), "msg %lld %s %s>%s %s "
	    "type %d prio %d basis %d author %s created %lld expires %lld "
	    "attempts %d state %d pn %s sha %s payload %.*s",
	    (long long)m->seq, m->message_id, m->sender_node,
	    m->recipient_node, m->conversation_id, m->type, m->priority,
	    m->legal_basis, m->author, (long long)m->created,
	    (long long)m->expires, m->attempts, m->state,
	    m->personal_number ? m->personal_number : "-", sha,
	    (int)m->payload_len, (const char *)m->payload);
	return 0;
}

static int
see_rcpt(void *arg, const struct store_receipt *r)
{
	struct seen *s = arg;
	char enc[2 * 300 + 1] = "";

	cr_assert_lt(s->n, 2 * N);
	cr_assert_lt(r->encoded_len, 300);
	audit_hex(r->encoded, r->encoded_len, enc);
	snprintf(s->what[s->n++], sizeof(s->what[0]), "rcpt %lld %s %s %d %s",
	    (long long)r->id, r->node, r->message_id, r->outcome, enc);
	return 0;
}

/* A delivery pass over node's receipts and queue (past rcpt_after and
 * msg_after) in the open batch. */
static void
pass(struct fx *f, const char *node, int64_t rcpt_after, int64_t msg_after,
    struct seen *s)
{
	struct store_load v = { .node = node, .limit = N,
	    .rcpt_after = rcpt_after, .msg_after = msg_after,
	    .rfn = see_rcpt, .mfn = see_msg, .arg = s };

	memset(s, 0, sizeof(*s));
	cr_assert_eq(store_loads(f->st, &v, 1), 0);
	cr_assert_eq(v.rcpts + v.msgs, s->n);
}

/* The same pass read from the database by another store. */
static void
pass_read(struct fx *f, const char *node, int64_t rcpt_after,
    int64_t msg_after, struct seen *s)
{
	struct store *other = fx_open(f, true);

	memset(s, 0, sizeof(*s));
	cr_assert_geq(store_receipts_load(other, node, rcpt_after, N, see_rcpt,
	    s), 0);
	cr_assert_geq(store_queue_load(other, node, msg_after, N, see_msg, s),
	    0);
	store_free(&other);
}

static void
expect_same(const struct seen *mem, const struct seen *db, const char *when)
{
	cr_expect_eq(mem->n, db->n, "%s: %d rows from memory, %d in the "
	    "database", when, mem->n, db->n);
	for (int i = 0; i < mem->n && i < db->n; i++)
		cr_expect_str_eq(mem->what[i], db->what[i], "%s, row %d", when, i);
}

/* What the store wrote itself in its batches (messages accepted, receipts
 * queued) is delivered without reading it back: a pass costs no round
 * trip, and gives row for row what the database gives after the commit.
 * Acked and dead-lettered messages and acked receipts leave the list; a
 * load behind the list (a session starting over) reads. */
Test(pgbatch, passes_over_rows_this_store_wrote_read_nothing)
{
	struct fx f;
	struct fx_msg x;
	struct seen mem, db;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	bool was_new = false;
	uint64_t rt;

	fx_init(&f);
	/* after its first commit the store knows it is the only writer */
	cr_expect_eq(batch_close(&f, batch_open(&f)), 2);
	/* the first passes read: both nodes have nothing */
	rt = batch_open(&f);
	pass(&f, BUP, 0, 0, &mem);
	pass(&f, SND, 0, 0, &mem);
	cr_expect_eq(batch_close(&f, rt), 4, "begin, two reads, commit");
	cr_expect_eq(mem.n, 0);

	/* three accepted in a batch, delivered by its own pass */
	rt = batch_open(&f);
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	pass(&f, BUP, 0, 0, &mem);
	cr_expect_eq(batch_close(&f, rt), 2, "the pass read nothing");
	pass_read(&f, BUP, 0, 0, &db);
	cr_expect_eq(db.n, 3);
	expect_same(&mem, &db, "accepted");

	/* delivered; message 1 acked (its receipt queued for the sender),
	 * 4 and 5 accepted, 4 dead-lettered (a receipt too) */
	rt = batch_open(&f);
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(store_delivering(f.st, i, 1, BUP, FX_NOW), 0);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), 0);
	cr_expect(was_new);
	for (int i = 4; i <= 5; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 4, BUP)->message_id,
	    "NR050", "operator", false, NULL, FX_NOW), 0);
	pass(&f, BUP, 0, 3, &mem);
	cr_expect_eq(mem.n, 1, "only message 5 is new and queued");
	pass(&f, SND, 0, 0, &mem);
	cr_expect_eq(mem.n, 2, "the receipts of 1 and 4");
	cr_expect_eq(batch_close(&f, rt), 2, "the passes read nothing");
	pass_read(&f, SND, 0, 0, &db);
	expect_same(&mem, &db, "receipts");
	pass_read(&f, BUP, 0, 3, &db);
	pass(&f, BUP, 0, 3, &mem);     /* outside a batch: a read */
	expect_same(&mem, &db, "queue past 3");

	/* the sender acks the receipt of 1: the list has only 4's */
	rt = batch_open(&f);
	cr_assert_eq(store_receipt_acked(f.st, SND, fx_msg(&x, 1,
	    BUP)->message_id, FX_NOW), 0);
	pass(&f, SND, 0, 0, &mem);
	cr_expect_eq(batch_close(&f, rt), 2);
	pass_read(&f, SND, 0, 0, &db);
	cr_expect_eq(db.n, 1);
	expect_same(&mem, &db, "receipt acked");

	/* the recipient starts over from its first unacked message: behind
	 * the list, so the queue is read (2, 3 delivered once, and 5) */
	rt = batch_open(&f);
	pass(&f, BUP, 0, 1, &mem);
	cr_expect_eq(batch_close(&f, rt), 3, "a load behind the list reads");
	pass_read(&f, BUP, 0, 1, &db);
	cr_expect_eq(db.n, 3);
	expect_same(&mem, &db, "started over");
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A receipt id past the batch's block comes from the sequence: more
 * receipts than the block holds in one batch are all stored, with ids
 * that grow, and the later batches' ids follow them. */
Test(pgbatch, receipts_past_the_id_block)
{
	enum { MANY = PG_BLOCK_MIN + 5 };
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	bool was_new = false;

	fx_init(&f);
	for (int i = 1; i <= MANY + 1; i++)
		fx_accept(&f, i, BUP);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	for (int i = 1; i <= MANY + 1; i++)
		cr_assert_eq(store_delivering(f.st, i, 1, BUP, FX_NOW), 0);
	for (int i = 1; i <= MANY; i++)
		cr_assert_eq(store_acked(f.st, fx_msg(&x, i, BUP)->message_id,
		    BUP, FX_NOW, &was_new), 0);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, MANY + 1, BUP)->message_id,
	    BUP, FX_NOW, &was_new), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), MANY + 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(DISTINCT id) FROM receipts"),
	    MANY + 1);
	/* ids in the order the receipts were queued */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts r JOIN "
	    "messages m USING (message_id) JOIN receipts r2 ON r2.id > r.id "
	    "JOIN messages m2 ON m2.message_id = r2.message_id WHERE m2.seq < "
	    "m.seq"), 0);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* Told that its batches take more frames than the blocks hold
 * (store_set_batch_frames: narad's batch_max), the store takes as many
 * seqs and receipt ids at each begin: a batch of that many submits costs
 * begin and commit, no round trip per message past the block, and that
 * many receipts are delivered from memory, not read back. */
Test(pgbatch, a_batch_takes_as_many_seqs_and_receipt_ids_as_it_takes_frames)
{
	enum { MANY = PG_BLOCK_MIN + 40 };
	struct fx f;
	struct fx_msg x;
	struct seen mem, db;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	bool was_new = false;
	uint64_t rt;

	fx_init(&f);
	store_set_batch_frames(f.st, MANY);
	/* after its first commit the store knows it is the only writer;
	 * the sender's first pass reads (it has nothing) */
	cr_expect_eq(batch_close(&f, batch_open(&f)), 2);
	rt = batch_open(&f);
	pass(&f, SND, 0, 0, &mem);
	cr_expect_eq(batch_close(&f, rt), 3);
	rt = batch_open(&f);
	for (int i = 1; i <= MANY; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	cr_expect_eq(batch_close(&f, rt), 2, "%d accepts: begin and commit",
	    MANY);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) - min(seq) + 1 FROM "
	    "messages"), MANY, "seqs dense");
	rt = batch_open(&f);
	for (int i = 1; i <= MANY; i++)
		cr_assert_eq(store_delivering(f.st, i, 1, BUP, FX_NOW), 0);
	cr_expect_eq(batch_close(&f, rt), 2);
	rt = batch_open(&f);
	for (int i = 1; i <= MANY; i++)
		cr_assert_eq(store_acked(f.st, fx_msg(&x, i, BUP)->message_id,
		    BUP, FX_NOW, &was_new), 0);
	cr_expect_eq(batch_close(&f, rt), 2);
	/* every receipt's id came with the block: the sender's pass reads
	 * nothing, and gives what the database gives */
	rt = batch_open(&f);
	pass(&f, SND, 0, 0, &mem);
	cr_expect_eq(batch_close(&f, rt), 2, "the receipts' pass read nothing");
	pass_read(&f, SND, 0, 0, &db);
	cr_expect_eq(db.n, N);
	expect_same(&mem, &db, "receipts");
	cr_expect_eq(fx_sql_int(&f, "SELECT max(id) - min(id) + 1 FROM "
	    "receipts"), MANY, "receipt ids dense");
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* messages keeps room in its pages for the delivery's UPDATE (a HOT
 * update: no new index entries), in a new store and, set at open, in one
 * made before the setting existed. */
Test(pgbatch, messages_pages_keep_room_for_updates)
{
	static const char *const q = "SELECT count(*) FROM pg_class WHERE "
	    "relname = 'messages' AND 'fillfactor=50' = ANY (reloptions)";
	struct fx f;

	fx_init(&f);
	cr_expect_eq(fx_sql_int(&f, q), 1);
	fx_sql_exec(&f, "ALTER TABLE messages RESET (fillfactor)");
	cr_assert_eq(fx_sql_int(&f, q), 0);
	new_run(&f, false);
	cr_expect_eq(fx_sql_int(&f, q), 1, "set again at open");
	fx_fini(&f);
}

/* A node's list is bounded (1,024 rows, store_pg_known.c): past it the
 * node's entry is forgotten and its next pass reads, with the same rows
 * as the database gives. */
Test(pgbatch, a_list_past_its_bound_is_forgotten_and_read)
{
	struct fx f;
	struct fx_msg x;
	struct seen mem, db;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	uint64_t rt;

	fx_init(&f);
	cr_expect_eq(batch_close(&f, batch_open(&f)), 2);
	rt = batch_open(&f);
	pass(&f, BUP, 0, 0, &mem);
	cr_expect_eq(batch_close(&f, rt), 3);
	rt = batch_open(&f);
	for (int i = 1; i <= 1025; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	rt = round_trips(&f);
	pass(&f, BUP, 0, 0, &mem);
	cr_expect_eq(round_trips(&f) - rt, 1, "the pass read");
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(mem.n, N);
	pass_read(&f, BUP, 0, 0, &db);
	expect_same(&mem, &db, "past the bound");
	fx_verify_ok(&f);
	fx_fini(&f);
}
