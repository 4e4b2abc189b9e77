/*
 * test_store_pg_ahead.c — the PostgreSQL store's commits on a real server
 * (pg_batch_fixture.h): a commit that also begins the next batch in its
 * round trip, a commit sent and taken later (by its owner or by the next
 * call), plans made on empty tables, lanes that carry every value
 * unchanged, rows sent before COMMIT, and a server that stops answering
 * while a commit is out or stops reading while rows go out early.
 * See store_pg_batch.c, store_pg_pipe.c and store_pg_lanes.c.
 */
#include "pg_batch_fixture.h"
#include "harness.h"

#include <poll.h>

/* ---------------------------------------------------------------- ahead */

/* A count read with sql, once it is want, or as it is after 10 s. */
struct sql_count {
	const struct fx *f;
	const char *sql;
	long long want, n;
};

static bool
sql_count_is(void *arg)
{
	struct sql_count *c = arg;

	c->n = fx_sql_int(c->f, c->sql);
	return c->n == c->want;
}

static long long
sql_count_when(const struct fx *f, const char *sql, long long want)
{
	struct sql_count c = { f, sql, want, -1 };

	harness_wait(sql_count_is, &c, 10000);
	return c.n;
}

/* Other sessions of the test's database inside a transaction (a begin
 * sent ahead has no sync yet, so its session shows as active, not idle
 * in transaction). */
#define OPEN_TXNS "SELECT count(*) FROM pg_stat_activity WHERE datname = " \
	"current_database() AND xact_start IS NOT NULL AND pid <> " \
	"pg_backend_pid()"

/* Their count once it is want (the server runs a begin sent ahead right
 * after COMMIT, so the count may trail the commit's answer by a moment),
 * or as it is after 10 s. */
static long long
open_transactions(const struct fx *f, long long want)
{
	return sql_count_when(f, OPEN_TXNS, want);
}

/* A commit sends the next batch's begin in its own round trip: the next
 * begin waits for nothing, a batch costs one round trip; until a batch
 * takes it, a transaction holds the head's lock, which store_settle and
 * any other use of the store end (committed empty: the seqs stay dense). */
Test(pgbatch, a_commit_begins_the_next_batch_in_its_round_trip)
{
	struct fx f;
	struct fx_msg x;
	struct store_totals t;
	struct store_costs c;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	uint64_t rt;

	fx_init(&f);
	new_run(&f, true);
	cr_expect(!store_ahead(f.st));
	rt = batch_open(&f);
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	cr_expect_eq(batch_close(&f, rt), 2, "the first batch begins alone");
	cr_expect(store_ahead(f.st));
	cr_expect_eq(open_transactions(&f, 1), 1, "the next batch is open");

	rt = round_trips(&f);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(round_trips(&f) - rt, 0, "its begin was answered with "
	    "the commit");
	for (int i = 4; i <= 6; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	cr_expect_eq(x.m.seq, 6);
	cr_expect_eq(batch_close(&f, rt), 1, "a batch: one round trip");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 6);
	store_costs(f.st, &c);
	cr_expect_eq(c.begun_ahead, 1);
	cr_expect_eq(c.settled, 0);

	/* settled: no transaction left, the blocks given back */
	cr_assert_eq(store_settle(f.st, &err), 0, "%s", err.text);
	cr_expect(!store_ahead(f.st));
	cr_expect_eq(open_transactions(&f, 0), 0);
	cr_expect_eq(store_settle(f.st, &err), 0, "nothing to settle");
	store_costs(f.st, &c);
	cr_expect_eq(c.begun_ahead, 1, "a settle is no batch begun ahead");
	cr_expect_eq(c.settled, 1);
	cr_expect_eq(fx_accept(&f, 7, BUP), 7, "seqs stay dense");

	/* a read outside a batch ends the open one first */
	rt = batch_open(&f);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 8, BUP), FX_NOW, &res,
	    &err), 0, "%s", err.text);
	batch_close(&f, rt);
	cr_expect(store_ahead(f.st));
	cr_assert_eq(store_totals(f.st, &t), 0);
	cr_expect(!store_ahead(f.st));
	cr_expect_eq(open_transactions(&f, 0), 0);
	store_costs(f.st, &c);
	cr_expect_eq(c.settled, 2, "the read settled it");
	cr_expect_eq(fx_accept(&f, 9, BUP), 9);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* The batch size changed (a reload) while a begin is out: the batch
 * begun takes the block its begin asked for, the next one the new size;
 * both store all their messages without a round trip of their own, with
 * seqs dense from one to the next. */
Test(pgbatch, a_block_size_changed_while_a_begin_is_out)
{
	enum { FIRST = 600, SECOND = 1500 };
	struct fx f;
	uint64_t rt;
	int64_t seq;
	int id = 0;

	fx_init(&f);
	new_run(&f, true);
	store_set_batch_frames(f.st, FIRST);
	rt = batch_open(&f);
	batch_accept_upto(&f, &id, 1);
	cr_expect_eq(batch_close(&f, rt), 2);
	cr_assert(store_ahead(f.st), "a begin of %d is out", FIRST);
	store_set_batch_frames(f.st, SECOND);
	rt = batch_open(&f);
	seq = batch_accept_upto(&f, &id, id + FIRST);
	cr_expect_eq(seq, id);
	cr_expect_eq(batch_close(&f, rt), 1, "%d accepts in the block the "
	    "begin asked for", FIRST);
	rt = batch_open(&f);
	seq = batch_accept_upto(&f, &id, id + SECOND);
	cr_expect_eq(seq, id);
	cr_expect_eq(batch_close(&f, rt), 1, "%d accepts in the new block",
	    SECOND);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), id);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM messages"), id,
	    "seqs dense");
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* Begin a batch bound to fail at its commit: message 1, stored by an
 * earlier run and unknown to this one's cache, then message `next`. */
static void
batch_doomed(struct fx *f, int next)
{
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	cr_assert_eq(store_begin(f->st, &err), 0, "%s", err.text);
	cr_assert_eq(store_accept(f->st, fx_msg(&x, 1, BUP), FX_NOW, &res,
	    &err), 0);
	cr_assert_eq(store_accept(f->st, fx_msg(&x, next, BUP), FX_NOW, &res,
	    &err), 0);
}

/* After its commit failed with err: nothing of it kept (messages rows
 * left), nothing begun, no transaction open. */
static void
expect_doomed_gone(struct fx *f, const struct nara_err *err, long messages)
{
	cr_expect_eq(err->code, NR_STORE_FAILED, "%s", err->text);
	cr_expect(!store_ahead(f->st), "a failed commit begins nothing");
	cr_expect_eq(open_transactions(f, 0), 0);
	cr_expect_eq(fx_sql_int(f, "SELECT count(*) FROM messages"), messages);
}

/* A batch that fails on top of a begin sent ahead is rolled back whole,
 * leaves no transaction open, and the next one works. */
Test(pgbatch, a_failed_batch_begun_ahead_leaves_nothing_open)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	new_run(&f, true);              /* its cache is empty */
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 2, BUP), FX_NOW, &res,
	    &err), 0, "%s", err.text);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	cr_assert(store_ahead(f.st));
	batch_doomed(&f, 3);
	cr_expect_eq(store_commit(f.st, &err), -1);
	expect_doomed_gone(&f, &err, 2);
	cr_expect_gt(fx_accept(&f, 3, BUP), 2);
	fx_verify_ok(&f);
	fx_fini(&f);
}

static void
count_taken(void *arg)
{
	++*(int *)arg;
}

/* True once fd is readable (the answer to a commit sent has come). */
static bool
fd_readable(void *arg)
{
	struct pollfd p = { .fd = *(int *)arg, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* A commit sent without waiting (narad's loop goes on meanwhile): its
 * answer comes to store_commit_fd and store_commit_take reads it; a call
 * on the store before that takes the answer itself, keeps it for the
 * owner's take and tells the owner (on_taken) once. */
Test(pgbatch, a_commit_sent_is_taken_by_its_owner_or_by_the_next_call)
{
	struct fx f;
	struct fx_msg x;
	struct store_totals t;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	int fd, taken = 0;

	fx_init(&f);
	new_run(&f, true);
	store_on_taken(f.st, count_taken, &taken);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	cr_assert_eq(store_commit_send(f.st, &err), 1, "%s", err.text);
	cr_assert_geq(fd = store_commit_fd(f.st), 0);
	cr_assert(harness_wait(fd_readable, &fd, 10000), "no answer came");
	cr_assert_eq(store_commit_take(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(taken, 0, "the owner took it");
	cr_expect(store_ahead(f.st), "the next batch was begun with it");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 3);

	/* a batch on the begin sent ahead; a read before its take */
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 4, BUP), FX_NOW, &res,
	    &err), 0, "%s", err.text);
	cr_expect_eq(x.m.seq, 4);
	cr_assert_eq(store_commit_send(f.st, &err), 1, "%s", err.text);
	cr_assert_eq(store_totals(f.st, &t), 0);
	cr_expect_eq(t.queued, 4, "the read came after the commit");
	cr_expect_eq(taken, 1, "the owner was told");
	cr_expect_eq(store_commit_fd(f.st), -1, "nothing is due any more");
	cr_expect_eq(store_commit_take(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(taken, 1);
	cr_expect_eq(fx_accept(&f, 5, BUP), 5, "seqs stay dense");
	cr_expect_eq(open_transactions(&f, 0), 0);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A commit sent that the server refuses: the take reports it, nothing of
 * the batch is kept, no transaction stays open. */
Test(pgbatch, a_commit_sent_that_fails_is_reported_by_its_take)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	new_run(&f, true);              /* its cache is empty */
	batch_doomed(&f, 2);
	cr_assert_eq(store_commit_send(f.st, &err), 1, "%s", err.text);
	cr_expect_eq(store_commit_take(f.st, &err), -1);
	expect_doomed_gone(&f, &err, 1);
	cr_expect_gt(fx_accept(&f, 2, BUP), 1, "stored on the next try");
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* The plan of lane statement `lane` as this store's session would run
 * it, the arguments args: its lines, one after the other. */
static void
lane_plan(struct fx *f, int lane, const char *args, char *out, size_t len)
{
	struct nara_err err = { 0 };
	char name[16], sql[128];
	PGresult *r = NULL;
	size_t used = 0;

	pg_lane_stmt(lane, name);
	snprintf(sql, sizeof(sql), "EXPLAIN EXECUTE %s(%s)", name, args);
	cr_assert_eq(pg_run_sql(f->st->be, sql, NULL, &r, "explaining", &err),
	    0, "%s: %s", sql, err.text);
	out[0] = '\0';
	for (int i = 0; i < PQntuples(r) && used + 1 < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s\n",
		    PQgetvalue(r, i, 0));
	PQclear(r);
}

/* A prepared statement's plan is made once, when its tables may still be
 * empty, and kept while they grow. Those that change rows by key must
 * still probe the key when the tables are large: not read the whole queue
 * (its partial index), not scan or hash a table. */
Test(pgbatch, plans_made_on_empty_tables_still_probe_by_key)
{
	static const struct {
		int lane;
		const char *args, *key;
	} lanes[] = {
		{ L_DELIVERING, "'{1}', '{1}', 1", "messages_pkey" },
		{ L_ACKED, "'{1}', '{1}', 1", "messages_pkey" },
		{ L_RCPT_SENT, "'{1}', 1", "receipts_pkey" },
		{ L_RCPT_ACKED, "'{1}', 1", "receipts_pkey" },
	};
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	char plan[4096];

	fx_init(&f);
	/* plans made on first use and kept: what PostgreSQL does after five
	 * executions of a statement whose generic plan looks no worse */
	cr_assert_eq(pg_run_sql(f.st->be, "SET plan_cache_mode = "
	    "force_generic_plan", NULL, NULL, "test", &err), 0, "%s", err.text);
	for (int round = 0; round < 3; round++) {
		struct rcpts rs = { 0 };
		int queued = 0, id = 10 * round;
		int64_t seq[3];

		for (int i = 1; i <= 2; i++)
			seq[i] = fx_accept(&f, id + i, BUP);
		cr_assert_eq(store_queue_load(f.st, BUP, 0, N, count_msg,
		    &queued), 2);
		batch_open(&f);
		for (int i = 1; i <= 2; i++) {
			bool was_new = false;
			cr_assert_eq(store_delivering(f.st, seq[i], 1, BUP,
			    FX_NOW), 0);
			cr_assert_eq(store_acked(f.st, fx_msg(&x, id + i,
			    BUP)->message_id, BUP, FX_NOW, &was_new), 0);
		}
		batch_close(&f, 0);
		cr_assert_eq(store_receipts_load(f.st, "kommun-1480", 0, N,
		    take_receipt, &rs), 2);
		batch_open(&f);
		for (int i = 0; i < rs.n; i++) {
			cr_assert_eq(store_receipt_sent(f.st, rs.id[i], FX_NOW),
			    0);
			cr_assert_eq(store_receipt_acked(f.st, "kommun-1480",
			    rs.mid[i], FX_NOW), 0);
		}
		batch_close(&f, 0);
	}
	/* the tables grow behind the plans: a long queue, many receipts */
	fx_sql_exec(&f, "INSERT INTO messages(seq, message_id, type, priority, "
	    "legal_basis, sender, sender_node, recipient, recipient_node, "
	    "created, accepted_at, payload_sha256, payload_size) SELECT "
	    "1000000 + g, 'grown-' || g, 1, 0, 0, 's', 's', 'r', 'bup-ostra', "
	    "0, 0, '\\x00', 0 FROM generate_series(1, 20000) AS g");
	fx_sql_exec(&f, "INSERT INTO receipts(id, node, message_id, outcome, "
	    "encoded) SELECT 1000000 + g, 'kommun-1480', 'grown-' || g, 0, "
	    "'\\x00' FROM generate_series(1, 20000) AS g");
	for (size_t i = 0; i < sizeof(lanes) / sizeof(lanes[0]); i++) {
		lane_plan(&f, lanes[i].lane, lanes[i].args, plan, sizeof(plan));
		cr_expect(strstr(plan, lanes[i].key) != NULL, "lane %d: %s",
		    lanes[i].lane, plan);
		cr_expect(strstr(plan, "Seq Scan") == NULL &&
		    strstr(plan, "Bitmap") == NULL &&
		    strstr(plan, "Hash") == NULL &&
		    strstr(plan, "messages_queue") == NULL &&
		    strstr(plan, "receipts_node") == NULL, "lane %d: %s",
		    lanes[i].lane, plan);
	}
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* The lanes travel as binary arrays: every value arrives as it was given,
 * whatever its characters, bytes or range, NULL stays NULL, an empty
 * string or bytea is not NULL, and a value out of its column's range
 * fails the batch before anything is sent. */
Test(pgbatch, lanes_carry_every_value_unchanged)
{
	static const char *const odd = "odd \"{x},\\ 'y' NULL \xc3\xa5";
	static const uint8_t bytes[] = { 0x00, 0xff, 0x10, '\\', 'x' };
	struct pg_val v[18] = { pg_v_int(INT64_MAX - 7), pg_v_text(odd),
	    pg_v_text(""), pg_v_int(INT32_MIN), pg_v_int(INT32_MAX),
	    pg_v_int(0), pg_v_text("a\\b"), pg_v_text("s"), pg_v_text("r"),
	    pg_v_text(BUP), pg_v_text(NULL), pg_v_null(), pg_v_int(-1),
	    pg_v_int(INT64_MIN), pg_v_int(1), pg_v_bytes(bytes, sizeof(bytes)),
	    pg_v_bytes(bytes, 0), pg_v_int(3) };
	struct fx f;
	struct nara_err err = { 0 };
	PGresult *r = NULL;

	fx_init(&f);
	batch_open(&f);
	cr_assert_eq(pg_lane_add(f.st->be, L_MSG_INSERT, v, &err), 0, "%s",
	    err.text);
	cr_assert_eq(pg_run_sql(f.st->be, "SELECT seq, message_id, "
	    "conversation_id, type, priority, sender, author IS NULL, "
	    "subject_pseudonym IS NULL, created, encode(payload, 'hex'), "
	    "length(payload_sha256), payload_size, expires, "
	    "payload_sha256 IS NULL FROM messages", NULL, &r, "reading back",
	    &err), 0, "%s", err.text);
	cr_assert_eq(PQntuples(r), 1);
	cr_expect_str_eq(PQgetvalue(r, 0, 0), "9223372036854775800");
	cr_expect_str_eq(PQgetvalue(r, 0, 1), odd);
	cr_expect_str_eq(PQgetvalue(r, 0, 2), "");
	cr_expect(!PQgetisnull(r, 0, 2), "an empty string is not NULL");
	cr_expect_str_eq(PQgetvalue(r, 0, 3), "-2147483648");
	cr_expect_str_eq(PQgetvalue(r, 0, 4), "2147483647");
	cr_expect_str_eq(PQgetvalue(r, 0, 5), "a\\b");
	cr_expect_str_eq(PQgetvalue(r, 0, 6), "t");
	cr_expect_str_eq(PQgetvalue(r, 0, 7), "t");
	cr_expect_str_eq(PQgetvalue(r, 0, 8), "-1");
	cr_expect_str_eq(PQgetvalue(r, 0, 9), "00ff105c78");
	cr_expect_str_eq(PQgetvalue(r, 0, 10), "0");
	cr_expect_str_eq(PQgetvalue(r, 0, 11), "3");
	cr_expect_str_eq(PQgetvalue(r, 0, 12), "-9223372036854775808");
	cr_expect_str_eq(PQgetvalue(r, 0, 13), "f", "an empty bytea is not "
	    "NULL");
	PQclear(r);
	store_rollback(f.st);

	batch_open(&f);
	v[0] = pg_v_int(12);
	v[3] = pg_v_int((int64_t)INT32_MAX + 1);      /* past integer */
	cr_expect_eq(pg_lane_add(f.st->be, L_MSG_INSERT, v, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED, "%s", err.text);
	cr_expect(strstr(err.text, "storing messages") != NULL, "%s", err.text);
	v[3] = pg_v_int(1);
	v[4] = pg_v_int((int64_t)INT32_MIN - 1);
	cr_expect_eq(pg_lane_add(f.st->be, L_MSG_INSERT, v, &err), -1);
	v[4] = pg_v_int(1);
	v[1] = pg_v_int(5);                             /* an integer as text */
	cr_expect_eq(pg_lane_add(f.st->be, L_MSG_INSERT, v, &err), -1);
	cr_expect(strstr(err.text, "not of its column's type") != NULL, "%s",
	    err.text);
	v[1] = pg_v_text(odd);
	v[0] = pg_v_text("12");                         /* text as an integer */
	cr_expect_eq(pg_lane_add(f.st->be, L_MSG_INSERT, v, &err), -1);
	cr_expect_eq(store_commit(f.st, &err), -1, "the batch is broken");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 0);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* ----------------------------------------------------------- rows early */

/* Other sessions that hold a lock for writing messages: their INSERT has
 * run on the server. */
#define MSG_WRITERS "SELECT count(*) FROM pg_locks WHERE pid <> " \
	"pg_backend_pid() AND relation = 'messages'::regclass AND mode = " \
	"'RowExclusiveLock'"

/* A large batch's rows go to the server while the batch is still being
 * made (256 of them buffered), so the server executes them meanwhile; a
 * few rows wait for COMMIT. Sent early, they cost no round trip, and
 * the batch commits whole or not at all as before. */
Test(pgbatch, a_large_batch_sends_its_rows_before_its_commit)
{
	struct fx f;
	uint64_t rt;
	int id = 0;

	fx_init(&f);
	new_run(&f, true);
	rt = batch_open(&f);
	batch_accept_upto(&f, &id, 1);
	cr_expect_eq(fx_sql_int(&f, MSG_WRITERS), 0, "one message's rows wait "
	    "for the commit");
	batch_accept_upto(&f, &id, 200);
	cr_expect_eq(sql_count_when(&f, MSG_WRITERS, 1), 1, "200 messages and "
	    "their audit rows are not on the server before the commit");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 0,
	    "not visible before the commit");
	cr_expect_eq(batch_close(&f, rt), 2, "the first batch begins alone; "
	    "rows sent early add no round trip");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 200);

	/* rolled back after rows went early: none of them stays */
	batch_open(&f);
	batch_accept_upto(&f, &id, 400);
	cr_expect_eq(sql_count_when(&f, MSG_WRITERS, 1), 1);
	store_rollback(f.st);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 200);
	cr_expect_gt(fx_accept(&f, 401, BUP), 200, "a message after the "
	    "rollback is stored (its block is a gap, as a rolled back serial)");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 201);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- frozen */

/* The store on a server of its own, named name (a frozen one would hold
 * up the tests running beside it), opened as a new run opens it. */
static void
own_server_open(struct fx *f, struct pgserver *own, const char *name)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/nara-store-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	cr_assert_eq(pgserver_start(own, name), 0, "a server of its own");
	cr_assert_lt(strlen(own->conninfo), sizeof(f->path));
	memcpy(f->path, own->conninfo, strlen(own->conninfo) + 1);
	for (size_t i = 0; i < sizeof(f->key); i++)
		f->key[i] = (uint8_t)(i * 7 + 1);
	new_run(f, true);
}

/* The chain verified, the store closed, the server and directory gone. */
static void
own_server_close(struct fx *f, struct pgserver *own)
{
	fx_verify_ok(f);
	store_free(&f->st);
	pgserver_cleanup(own);
	nftw(f->dir, fx_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* A server that stops answering while a batch's commit is out: after its
 * deadline (15 s) the store drops the connection and the take reports the
 * commit failed (the take once counted its queue below zero there and
 * narad aborted). Whether the old session still committed is not known to
 * the store, as with any commit whose answer was lost; the sender's
 * retry then finds its messages stored or stores them, once each, and
 * the chain verifies. A server of its own: a frozen one would hold up
 * the tests running beside this one. */
Test(pgbatch, a_server_that_stops_answering_fails_the_commit_sent)
{
	struct pgserver own;
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	int rc;

	own_server_open(&f, &own, "frozen");
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	for (int i = 1; i <= 3; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	pgserver_freeze(&own, true);
	rc = store_commit_send(f.st, &err);
	if (rc == 1)
		rc = store_commit_take(f.st, &err);
	pgserver_freeze(&own, false);
	cr_expect_eq(rc, -1, "an answer came from a frozen server");
	cr_expect_eq(err.code, NR_STORE_FAILED, "%s", err.text);
	cr_expect_eq(f.st->be->pending, 0, "answers still awaited");
	cr_expect_eq(open_transactions(&f, 0), 0, "the old session ended");

	cr_assert_eq(store_begin(f.st, &err), 0, "connected again: %s",
	    err.text);
	for (int i = 1; i <= 3; i++) {
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
		cr_expect(res == STORE_NEW || res == STORE_DUPLICATE);
	}
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 3);
	own_server_close(&f, &own);
}

/* A server that stops reading while a large batch's rows go out early:
 * the sends fill the socket and wait, and the connection's TCP user
 * timeout (10 s) ends the wait: the batch fails with the store's coded
 * error instead of holding narad's loop for ever, and the next batch
 * connects again and stores everything once. */
Test(pgbatch, a_server_that_stops_reading_fails_the_rows_sent_early,
    .timeout = 120)
{
	enum { ROW = 1 << 20, ROWS = 96 };
	struct pgserver own;
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	static uint8_t big[ROW];
	int rc = 0, i;
	int64_t t0;

	own_server_open(&f, &own, "deaf");
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	pgserver_freeze(&own, true);
	t0 = harness_ms_now();
	for (i = 0; i < ROWS && rc == 0; i++) {
		const struct pg_val v[18] = { pg_v_int(i + 1), pg_v_text("m"),
		    pg_v_text("c"), pg_v_int(1), pg_v_int(0), pg_v_int(0),
		    pg_v_text("s"), pg_v_text(BUP), pg_v_text("r"),
		    pg_v_text(BUP), pg_v_null(), pg_v_null(), pg_v_int(0),
		    pg_v_int(0), pg_v_int(0), pg_v_bytes(big, sizeof(big)),
		    pg_v_bytes(big, 32), pg_v_int(ROW) };
		rc = pg_lane_add(f.st->be, L_MSG_INSERT, v, &err);
	}
	pgserver_freeze(&own, false);
	cr_expect_eq(rc, -1, "%d MiB sent to a server that reads nothing", i);
	cr_expect_eq(err.code, NR_STORE_FAILED, "%s", err.text);
	cr_expect_lt(harness_ms_now() - t0, 60000, "the wait lasted %lld ms",
	    (long long)(harness_ms_now() - t0));
	cr_expect_eq(store_commit(f.st, &err), -1, "the batch is broken");

	cr_assert_eq(store_begin(f.st, &err), 0, "connected again: %s",
	    err.text);
	for (i = 1; i <= 3; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW, &res,
		    &err), 0, "%s", err.text);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 3);
	own_server_close(&f, &own);
}
