/*
 * test_store_schema.c — the store's schema versions: a version 1 store is
 * migrated at its first read-write open (audit rows keyed by their
 * message's seq, receipt ids never given again, the chain intact), so
 * is a version 2 store (content kept apart from the message's row, the
 * content of rows written before still read and deleted) and a version 3
 * store (the ack's trigger replaced by narad's own delete) and a version 4
 * store (receipt ids given by narad instead of AUTOINCREMENT, never
 * twice), a read-only
 * open of an older store is refused with what to do, a newer store is
 * refused by every open, the content apart follows its message (retry,
 * ack, deletion), a queue index by node is rebuilt in seq order, and the
 * audit look-ups
 * by message keep finding every row (retries, refused submissions). Also
 * that the WAL starts over under steady writing instead of growing.
 */
#include <sys/stat.h>

#include "store_fixture.h"

/* a value of meta */
#define META(key) "SELECT value FROM meta WHERE key = '" key "'"

/* Turn a store written by this version back into the version 4 layout:
 * receipts with AUTOINCREMENT, whose counter is 7 (ids up to 7 given, a
 * receipt acked since), and no receipt_id_high in meta. */
#define DOWNGRADE_5_4_SQL \
	"ALTER TABLE receipts RENAME TO receipts_v5;" \
	"DROP INDEX receipts_node; DROP INDEX receipts_message;" \
	"CREATE TABLE receipts (id INTEGER PRIMARY KEY AUTOINCREMENT," \
	"  node TEXT NOT NULL, message_id TEXT NOT NULL," \
	"  outcome INTEGER NOT NULL, encoded BLOB NOT NULL, sent INTEGER);" \
	"CREATE INDEX receipts_node ON receipts(node);" \
	"CREATE INDEX receipts_message ON receipts(message_id);" \
	"INSERT INTO receipts SELECT * FROM receipts_v5;" \
	"DROP TABLE receipts_v5;" \
	"UPDATE sqlite_sequence SET seq = 7 WHERE name = 'receipts';" \
	"DELETE FROM meta WHERE key = 'receipt_id_high';" \
	"UPDATE meta SET value = 4 WHERE key = 'schema_version';"

/* ... and into the version 3 layout: the ack's trigger deletes the
 * content. */
#define DOWNGRADE_4_3_SQL DOWNGRADE_5_4_SQL \
	"CREATE TRIGGER payload_purged AFTER UPDATE OF state ON messages" \
	"  WHEN new.state = 1 BEGIN" \
	"  DELETE FROM payloads WHERE seq = new.seq; END;" \
	"UPDATE meta SET value = 3 WHERE key = 'schema_version';"

/* ... and into the version 2 layout: the content of each message in its
 * row, no payloads table. */
#define DOWNGRADE_3_2_SQL DOWNGRADE_4_3_SQL \
	"UPDATE messages SET payload = (SELECT p.payload FROM payloads p" \
	"  WHERE p.seq = messages.seq) WHERE payload IS NULL;" \
	"DROP TRIGGER payload_moves; DROP TRIGGER payload_purged;" \
	"DROP TRIGGER payload_deleted; DROP TABLE payloads;" \
	"UPDATE meta SET value = 2 WHERE key = 'schema_version';"

/* ... and into the version 1 layout: no msg_seq, the old message_id
 * index, receipts without AUTOINCREMENT. */
static const char DOWNGRADE_SQL[] = DOWNGRADE_3_2_SQL
	"DROP INDEX audit_msg; DROP INDEX audit_message;"
	"ALTER TABLE audit DROP COLUMN msg_seq;"
	"CREATE INDEX audit_message ON audit(message_id)"
	"  WHERE message_id IS NOT NULL;"
	"CREATE TABLE receipts_old (id INTEGER PRIMARY KEY, node TEXT NOT NULL,"
	"  message_id TEXT NOT NULL, outcome INTEGER NOT NULL,"
	"  encoded BLOB NOT NULL, sent INTEGER);"
	"INSERT INTO receipts_old SELECT id, node, message_id, outcome, encoded,"
	"  sent FROM receipts;"
	"DROP TABLE receipts; ALTER TABLE receipts_old RENAME TO receipts;"
	"CREATE INDEX receipts_node ON receipts(node);"
	"CREATE INDEX receipts_message ON receipts(message_id);"
	"UPDATE meta SET value = 1 WHERE key = 'schema_version';";

/* A version 2 store with the nine rows of fx_populate, closed. */
static void
make_v2_store(struct fx *f)
{
	fx_init(f);
	fx_populate(f);
	store_free(&f->st);
	fx_sql_exec(f, DOWNGRADE_3_2_SQL);
}

/* A version 1 store with the nine rows of fx_populate, closed. */
static void
make_v1_store(struct fx *f)
{
	fx_init(f);
	fx_populate(f);
	store_free(&f->st);
	fx_sql_exec(f, DOWNGRADE_SQL);
	cr_assert_eq(fx_sql_int(f, "SELECT count(*) FROM pragma_table_info("
	    "'audit') WHERE name = 'msg_seq'"), 0);
	cr_assert_eq(fx_sql_int(f, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'receipts' AND sql LIKE '%AUTOINCREMENT%'"), 0);
}

Test(store_schema, version_1_store_is_migrated_at_open)
{
	struct fx f;
	long long receipts;

	make_v1_store(&f);
	receipts = fx_sql_int(&f, "SELECT count(*) FROM receipts");
	cr_assert_eq(receipts, 2);
	f.st = fx_open(&f, false);
	cr_expect_eq(fx_sql_int(&f, META("schema_version")), 5);
	/* the old rows are not rewritten: all stay in the message_id index */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE msg_seq "
	    "IS NOT NULL"), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit INDEXED BY "
	    "audit_message WHERE msg_seq IS NULL AND message_id = "
	    "'00000000-0000-4000-8000-000000000001'"), 3);
	/* receipt ids given by narad from the highest given (version 5) */
	cr_expect_eq(fx_sql_int(&f, META("receipt_id_high")), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), receipts);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM sqlite_master WHERE "
	    "name IN ('audit_msg', 'audit_message', 'receipts_node', "
	    "'receipts_message')"), 4);
	fx_verify_ok(&f);
	/* and it goes on working: a new message gets its rows keyed, an
	 * old one is found through both indexes by the review */
	int64_t seq = fx_accept(&f, 5, FX_BUP);
	cr_expect_eq(seq, 4);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE msg_seq = "
	    "4 AND event = 'received'"), 1);
	struct nara_err err = { 0 };
	cr_expect_eq(store_audit_review(f.st, "00000000-0000-4000-8000-"
	    "000000000003", "granskare", "ok", FX_NOW + 9, &err), 0, "%s",
	    err.text);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(store_schema, migration_keeps_receipt_ids_and_never_reuses_them)
{
	struct fx f;
	struct fx_msg x;
	bool was_new;

	make_v1_store(&f);
	f.st = fx_open(&f, false);
	long long top = fx_sql_int(&f, "SELECT max(id) FROM receipts");
	cr_assert_eq(top, 2);
	cr_assert_eq(store_receipt_acked(f.st, "kommun-1480", fx_msg(&x, 2,
	    FX_BUP)->message_id, FX_NOW + 5), 0);
	cr_assert_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts WHERE id = "
	    "2"), 0);
	fx_accept(&f, 6, FX_BUP);
	fx_deliver(&f, 6, FX_BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 6, FX_BUP)->message_id,
	    FX_BUP, FX_NOW + 6, &was_new), 0);
	cr_assert(was_new);
	/* id 2 was deleted; the highest id given is kept: 3, not 2 again */
	cr_expect_eq(fx_sql_int(&f, "SELECT max(id) FROM receipts"), 3);
	fx_fini(&f);
}

/* A read-only open of f's store, of schema version `version`, is refused
 * with what to do, and changes nothing. */
static void
expect_read_only_refusal(struct fx *f, int version)
{
	struct nara_err err = { 0 };
	struct store_options opt = { .read_only = true };
	char want[300];

	cr_assert_null(store_open(f->path, &opt, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	snprintf(want, sizeof(want), "%s has schema version %d; start narad on "
	    "it once to migrate it to version 5, then run this again", f->path,
	    version);
	cr_expect_str_eq(err.text, want);
	cr_expect_eq(fx_sql_int(f, META("schema_version")), version);
}

Test(store_schema, read_only_open_of_version_1_says_what_to_do)
{
	struct fx f;

	make_v1_store(&f);
	expect_read_only_refusal(&f, 1);
	fx_fini(&f);
}

Test(store_schema, newer_store_is_refused_read_only_and_read_write)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_options ro = { .read_only = true }, rw = { 0 };
	char want[300];

	fx_init(&f);
	fx_populate(&f);
	store_free(&f.st);
	fx_sql_exec(&f, "UPDATE meta SET value = 9 WHERE key = 'schema_version'");
	snprintf(want, sizeof(want), "%s has schema version 9; this program "
	    "reads version 5", f.path);
	cr_assert_null(store_open(f.path, &ro, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect_str_eq(err.text, want);
	memset(&err, 0, sizeof(err));
	cr_assert_null(store_open(f.path, &rw, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect_str_eq(err.text, want);
	cr_expect_eq(fx_sql_int(&f, META("schema_version")), 9);
	fx_fini(&f);
}

/* store_msg_fn: the content of each message loaded, as text. */
struct loaded {
	int n;
	int64_t seq[8];
	char payload[8][128];
};

static int
on_loaded(void *arg, const struct store_msg *m)
{
	struct loaded *l = arg;

	cr_assert_lt(l->n, 8);
	l->seq[l->n] = m->seq;
	cr_assert_lt(m->payload_len, sizeof(l->payload[0]));
	memcpy(l->payload[l->n], m->payload, m->payload_len);
	l->payload[l->n][m->payload_len] = '\0';
	l->n++;
	return 0;
}

#define PAYLOAD_ROWS "SELECT count(*) FROM messages WHERE payload IS NOT NULL"
#define PAYLOADS_APART "SELECT count(*) FROM payloads"
#define TRIGGERS_PURGED "SELECT count(*) FROM sqlite_master WHERE type = " \
	"'trigger' AND name = 'payload_purged'"

Test(store_schema, version_2_store_is_migrated_and_keeps_its_content)
{
	struct fx f;
	struct fx_msg x;
	struct loaded l = { 0 };
	struct nara_err err = { 0 };
	bool was_new;

	/* fx_populate: 1 acked, 2 dead, 3 queued; in version 2 the content
	 * of 2 and 3 is in their rows */
	make_v2_store(&f);
	cr_assert_eq(fx_sql_int(&f, PAYLOAD_ROWS), 2);
	f.st = fx_open(&f, false);
	cr_expect_eq(fx_sql_int(&f, META("schema_version")), 5);
	cr_expect_eq(fx_sql_int(&f, PAYLOADS_APART), 0, "rows were rewritten");
	/* a message stored before is delivered with its content */
	cr_assert_eq(store_queue_load(f.st, FX_BUP, 0, 8, on_loaded, &l), 1);
	cr_expect_str_eq(l.payload[0], "payload 3 " FX_MARKER);
	/* its ack deletes the content from its row */
	fx_deliver(&f, 3, FX_BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 3, FX_BUP)->message_id,
	    FX_BUP, FX_NOW + 5, &was_new), 0);
	cr_expect(was_new);
	cr_expect_eq(fx_sql_int(&f, PAYLOAD_ROWS), 1);   /* the dead letter */
	/* the dead letter stored before can be retried and is delivered
	 * with its content */
	cr_assert_eq(store_retry(f.st, fx_msg(&x, 2, FX_BUP)->message_id, NULL,
	    FX_NOW + 6, &err), 0, "%s", err.text);
	memset(&l, 0, sizeof(l));
	cr_assert_eq(store_queue_load(f.st, FX_BUP, 0, 8, on_loaded, &l), 1);
	cr_expect_str_eq(l.payload[0], "payload 2 " FX_MARKER);
	/* a new message keeps its content apart, never in its row */
	fx_accept(&f, 5, FX_BUP);
	cr_expect_eq(fx_sql_int(&f, PAYLOADS_APART), 1);
	cr_expect_eq(fx_sql_int(&f, PAYLOAD_ROWS), 1);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(store_schema, read_only_open_of_version_2_says_what_to_do)
{
	struct fx f;

	make_v2_store(&f);
	expect_read_only_refusal(&f, 2);
	fx_fini(&f);
}

/* the ids as one number: 1 and 2 read 12 */
#define RECEIPT_IDS "SELECT group_concat(id, '') FROM (SELECT id FROM " \
	"receipts ORDER BY id)"

/* A message acked (its receipt queued) in a batch of its own: the
 * receipt's id. */
static long long
ack_one(struct fx *f, int n)
{
	struct fx_msg x;
	bool was_new = false;
	char sql[160];

	fx_accept(f, n, FX_BUP);
	fx_deliver(f, n, FX_BUP);
	cr_assert_eq(store_acked(f->st, fx_msg(&x, n, FX_BUP)->message_id,
	    FX_BUP, FX_NOW + n, &was_new), 0);
	cr_assert(was_new);
	snprintf(sql, sizeof(sql), "SELECT id FROM receipts WHERE message_id = "
	    "'%s'", x.id);
	return fx_sql_int(f, sql);
}

/* A version 4 store (receipt ids by AUTOINCREMENT, up to 7 given) keeps
 * its receipts and their ids, and the next id is 8: the highest id
 * AUTOINCREMENT gave is carried into meta. */
Test(store_schema, version_4_store_is_migrated_and_keeps_receipt_ids)
{
	struct fx f;

	fx_init(&f);
	fx_populate(&f);
	store_free(&f.st);
	fx_sql_exec(&f, DOWNGRADE_5_4_SQL);
	cr_assert_eq(fx_sql_int(&f, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'receipts' AND sql LIKE '%AUTOINCREMENT%'"), 1);
	cr_assert_eq(fx_sql_int(&f, RECEIPT_IDS), 12);
	f.st = fx_open(&f, false);
	cr_expect_eq(fx_sql_int(&f, META("schema_version")), 5);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'receipts' AND sql LIKE '%AUTOINCREMENT%'"), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM sqlite_master WHERE "
	    "name IN ('receipts_node', 'receipts_message')"), 2);
	cr_expect_eq(fx_sql_int(&f, META("receipt_id_high")), 7);
	cr_expect_eq(ack_one(&f, 5), 8);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts WHERE id IN "
	    "(1, 2) AND node = 'kommun-1480'"), 2, "the old receipts kept");
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A receipt id is never given twice: not after the newest receipts were
 * acked and deleted in this run, not after a reopen, and not after a batch
 * that gave one was rolled back. */
Test(store_schema, receipt_ids_are_never_given_twice)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	bool was_new;

	fx_init(&f);
	cr_expect_eq(ack_one(&f, 1), 1);
	cr_expect_eq(ack_one(&f, 2), 2);
	/* the sender acks both: the table is empty */
	for (int i = 1; i <= 2; i++)
		cr_assert_eq(store_receipt_acked(f.st, "kommun-1480",
		    fx_msg(&x, i, FX_BUP)->message_id, FX_NOW + 9), 0);
	cr_assert_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 0);
	cr_expect_eq(ack_one(&f, 3), 3, "in this run");
	cr_assert_eq(store_receipt_acked(f.st, "kommun-1480", fx_msg(&x, 3,
	    FX_BUP)->message_id, FX_NOW + 9), 0);
	store_free(&f.st);
	f.st = fx_open(&f, false);
	cr_expect_eq(ack_one(&f, 4), 4, "after a reopen");
	/* a batch that gave 5 and rolled back: 5 is not given again */
	cr_assert_eq(fx_accept(&f, 5, FX_BUP), 5);
	fx_deliver(&f, 5, FX_BUP);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 5, FX_BUP)->message_id,
	    FX_BUP, FX_NOW + 5, &was_new), 0);
	store_rollback(f.st);
	cr_assert_eq(store_acked(f.st, x.id, FX_BUP, FX_NOW + 6, &was_new), 0);
	cr_expect_eq(fx_sql_int(&f, RECEIPT_IDS), 46, "4 and 6");
	/* a receipt another writer stored with a higher id: the next is above
	 * it */
	store_free(&f.st);
	fx_sql_exec(&f, "INSERT INTO receipts(id, node, message_id, outcome, "
	    "encoded) VALUES (50, 'kommun-1480', 'elsewhere', 1, x'00')");
	f.st = fx_open(&f, false);
	cr_expect_eq(ack_one(&f, 7), 51, "above another writer's");
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A version 3 store (the ack's trigger deleting the content) with the
 * rows of fx_populate and one more queued message, closed. */
static void
make_v3_store(struct fx *f)
{
	fx_init(f);
	fx_populate(f);
	cr_assert_eq(fx_accept(f, 5, FX_BUP), 4);
	store_free(&f->st);
	fx_sql_exec(f, DOWNGRADE_4_3_SQL);
	cr_assert_eq(fx_sql_int(f, TRIGGERS_PURGED), 1);
}

Test(store_schema, version_3_store_is_migrated_and_its_acks_purge)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	bool was_new;

	/* fx_populate: 1 acked, 2 dead, 3 queued; 4 queued */
	make_v3_store(&f);
	cr_assert_eq(fx_sql_int(&f, PAYLOADS_APART), 3);
	f.st = fx_open(&f, false);
	cr_expect_eq(fx_sql_int(&f, META("schema_version")), 5);
	cr_expect_eq(fx_sql_int(&f, TRIGGERS_PURGED), 0, "the trigger went");
	cr_expect_eq(fx_sql_int(&f, PAYLOADS_APART), 3, "nothing else changed");
	/* an ack deletes the content without it, in the ack's transaction */
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	fx_deliver(&f, 5, FX_BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 5, FX_BUP)->message_id,
	    FX_BUP, FX_NOW + 5, &was_new), 0);
	cr_expect(was_new);
	store_rollback(f.st);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM payloads WHERE seq = "
	    "4"), 1, "rolled back with the ack");
	fx_deliver(&f, 5, FX_BUP);
	cr_assert_eq(store_acked(f.st, x.id, FX_BUP, FX_NOW + 6, &was_new), 0);
	cr_expect(was_new);
	cr_expect_eq(fx_sql_int(&f, "SELECT group_concat(seq, ',') FROM (SELECT "
	    "seq FROM payloads ORDER BY seq)"), 2, "only the dead letter's "
	    "content is left");
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(store_schema, read_only_open_of_version_3_says_what_to_do)
{
	struct fx f;

	make_v3_store(&f);
	expect_read_only_refusal(&f, 3);
	fx_fini(&f);
}

/* The content apart is written once, moves with a retried message's new
 * seq, is kept by a dead letter and goes with the ack or the row. */
Test(store_schema, content_apart_follows_its_message)
{
	struct fx f;
	struct fx_msg x;
	struct loaded l = { 0 };
	struct nara_err err = { 0 };
	bool was_new;

	fx_init(&f);
	cr_assert_eq(fx_accept(&f, 1, FX_BUP), 1);
	cr_assert_eq(fx_accept(&f, 2, FX_BUP), 2);
	cr_expect_eq(fx_sql_int(&f, PAYLOAD_ROWS), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM payloads WHERE seq IN "
	    "(1, 2) AND CAST(payload AS TEXT) LIKE 'payload _ " FX_MARKER "'"),
	    2);
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 1, FX_BUP)->message_id,
	    "NR052", "refused", false, FX_BUP, FX_NOW + 1), 0);
	cr_expect_eq(fx_sql_int(&f, PAYLOADS_APART), 2, "a dead letter keeps it");
	cr_assert_eq(store_retry(f.st, x.id, NULL, FX_NOW + 2, &err), 0, "%s",
	    err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT group_concat(seq, '') FROM (SELECT "
	    "seq FROM payloads ORDER BY seq)"), 23, "the content did not move "
	    "to the new seq 3");
	cr_assert_eq(store_queue_load(f.st, FX_BUP, 0, 8, on_loaded, &l), 2);
	cr_expect_eq(l.seq[1], 3);
	cr_expect_str_eq(l.payload[1], "payload 1 " FX_MARKER);
	fx_deliver(&f, 1, FX_BUP);
	cr_assert_eq(store_acked(f.st, x.id, FX_BUP, FX_NOW + 3, &was_new), 0);
	cr_expect(was_new);
	cr_expect_eq(fx_sql_int(&f, "SELECT seq FROM payloads"), 2,
	    "the ack left the content");
	/* a row deleted (retention of a dead letter) takes its content */
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 2, FX_BUP)->message_id,
	    "NR052", "refused", false, FX_BUP, FX_NOW + 4), 0);
	store_free(&f.st);
	fx_sql_exec(&f, "DELETE FROM messages WHERE seq = 2");
	cr_expect_eq(fx_sql_int(&f, PAYLOADS_APART), 0);
	fx_fini(&f);
}

/* A store made when the queue index was by node gets it in seq order at
 * its next read-write open; its queues read as before. */
Test(store_schema, queue_index_by_node_is_rebuilt_in_seq_order)
{
	struct fx f;
	struct loaded l = { 0 };

	fx_init(&f);
	fx_populate(&f);
	store_free(&f.st);
	fx_sql_exec(&f, "DROP INDEX messages_queue; CREATE INDEX messages_queue"
	    " ON messages(recipient_node, seq) WHERE state = 0;");
	f.st = fx_open(&f, false);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM sqlite_master WHERE "
	    "name = 'messages_queue' AND sql LIKE '%(seq, recipient_node)%'"),
	    1, "the queue index was not rebuilt");
	cr_assert_eq(store_queue_load(f.st, FX_BUP, 0, 8, on_loaded, &l), 1);
	cr_expect_str_eq(l.payload[0], "payload 3 " FX_MARKER);
	fx_verify_ok(&f);
	fx_fini(&f);
}

struct walked {
	char node[8][32];
	int64_t seq[8];
	int n, stop_after;
};

static int
on_walked(void *arg, const char *node, int64_t seq)
{
	struct walked *w = arg;

	cr_assert_lt(w->n, 8);
	snprintf(w->node[w->n], sizeof(w->node[0]), "%s", node);
	w->seq[w->n++] = seq;
	return w->n == w->stop_after;
}

/* The walk over the queue index that narad uses to find where each queue
 * starts: queued messages only (not a delivered one), in seq order for all
 * nodes, within (after, upto], at most max, stopped by its callback; and
 * the highest seq given is at least every seq stored. */
Test(store_schema, queue_walk_is_in_seq_order_for_all_nodes)
{
	struct fx f;
	struct fx_msg x;
	struct walked w = { .n = 0 };
	int64_t seq[7];
	bool was_new;

	fx_init(&f);
	for (int i = 1; i <= 6; i++)
		seq[i] = fx_accept(&f, i, i % 2 ? FX_BUP : "kommun-1480");
	fx_deliver(&f, 1, FX_BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, FX_BUP)->message_id,
	    FX_BUP, FX_NOW + 1, &was_new), 0);
	cr_assert(was_new);
	cr_expect_geq(store_seq_high(f.st), seq[6]);
	cr_assert_eq(store_queue_walk(f.st, 0, seq[6], 100, on_walked, &w), 5);
	for (int i = 0; i < 5; i++) {
		cr_expect_eq(w.seq[i], seq[i + 2], "the acked message walked");
		cr_expect_str_eq(w.node[i], (i + 2) % 2 ? FX_BUP : "kommun-1480");
	}
	memset(&w, 0, sizeof(w));
	cr_expect_eq(store_queue_walk(f.st, seq[2], seq[5], 2, on_walked, &w),
	    2, "more than max walked");
	cr_expect_eq(w.seq[0], seq[3]);
	cr_expect_eq(w.seq[1], seq[4]);
	memset(&w, 0, sizeof(w));
	w.stop_after = 1;
	cr_expect_eq(store_queue_walk(f.st, 0, seq[6], 100, on_walked, &w), 1);
	memset(&w, 0, sizeof(w));
	cr_expect_eq(store_queue_walk(f.st, seq[5], seq[5], 100, on_walked, &w),
	    0, "walked past upto");
	fx_fini(&f);
}

static int
on_by_seq(void *arg, const struct store_msg *m)
{
	struct walked *w = arg;

	if (w->n == w->stop_after)
		return 1;
	snprintf(w->node[w->n], sizeof(w->node[0]), "%s", m->recipient_node);
	w->seq[w->n++] = m->seq;
	return 0;
}

/* Messages read by key, as narad reads what it knows was queued for a
 * node: another node's message, an acked one and a seq never given are
 * passed over; the count says where the reader stopped. */
Test(store_schema, queue_read_by_seq_passes_over_what_is_not_queued)
{
	struct fx f;
	struct fx_msg x;
	struct walked w = { .stop_after = -1 };
	int64_t seq[5], ask[5];
	bool was_new;

	fx_init(&f);
	for (int i = 1; i <= 4; i++)
		seq[i] = fx_accept(&f, i, i == 2 ? "kommun-1480" : FX_BUP);
	fx_deliver(&f, 1, FX_BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, FX_BUP)->message_id,
	    FX_BUP, FX_NOW + 1, &was_new), 0);
	ask[0] = seq[1];
	ask[1] = seq[2];
	ask[2] = seq[3];
	ask[3] = seq[4];
	ask[4] = seq[4] + 100;
	cr_assert_eq(store_queue_seqs(f.st, FX_BUP, ask, 5, on_by_seq, &w), 5);
	cr_assert_eq(w.n, 2);
	cr_expect_eq(w.seq[0], seq[3]);
	cr_expect_eq(w.seq[1], seq[4]);
	memset(&w, 0, sizeof(w));
	w.stop_after = 1;
	cr_expect_eq(store_queue_seqs(f.st, FX_BUP, ask, 5, on_by_seq, &w), 3,
	    "the count is not where the reader stopped");
	fx_fini(&f);
}

Test(store_schema, read_only_open_of_an_empty_file_is_refused)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_options opt = { .read_only = true };
	char path[160], want[300];
	FILE *fp;

	fx_init(&f);
	snprintf(path, sizeof(path), "%s/empty.db", f.dir);
	cr_assert_not_null(fp = fopen(path, "w"));
	fclose(fp);
	cr_assert_null(store_open(path, &opt, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	snprintf(want, sizeof(want), "%s is not a nara store: it has no tables",
	    path);
	cr_expect_str_eq(err.text, want);
	fx_fini(&f);
}

Test(store_schema, retried_message_keeps_its_audit_rows_together)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_accept(&f, 1, FX_BUP);
	fx_accept(&f, 2, FX_BUP);
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 1, FX_BUP)->message_id,
	    "NR052", "refused", false, FX_BUP, FX_NOW + 1), 0);
	cr_assert_eq(store_retry(f.st, x.id, NULL, FX_NOW + 2, &err), 0, "%s",
	    err.text);
	/* the message moved to seq 3; its received, dead_lettered,
	 * receipt_queued and retried rows all point there */
	cr_expect_eq(fx_sql_int(&f, "SELECT seq FROM messages WHERE message_id "
	    "= '00000000-0000-4000-8000-000000000001'"), 3);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE msg_seq = "
	    "3"), 4);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE msg_seq = "
	    "1"), 0);
	cr_expect_eq(store_audit_review(f.st, x.id, "granskare", "ok",
	    FX_NOW + 3, &err), 0, "%s", err.text);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(store_schema, review_finds_rows_of_refused_and_pruned_messages)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };

	fx_init(&f);
	cr_assert_eq(store_audit_rejected(f.st, fx_msg(&x, 7, FX_BUP),
	    "kommun-1480", "NR031", "no rule allows it", FX_NOW), 0);
	cr_expect_eq(store_audit_review(f.st, x.id, "granskare", "refused "
	    "correctly", FX_NOW + 1, &err), 0, "%s", err.text);
	/* a row keyed to a message whose row is gone (pruned) */
	fx_accept(&f, 8, FX_BUP);
	store_free(&f.st);
	fx_sql_exec(&f, "DELETE FROM messages WHERE message_id = "
	    "'00000000-0000-4000-8000-000000000008'");
	f.st = fx_open(&f, false);
	cr_expect_eq(store_audit_review(f.st, fx_msg(&x, 8, FX_BUP)->message_id,
	    "granskare", "ok", FX_NOW + 2, &err), 0, "%s", err.text);
	cr_expect_eq(store_audit_review(f.st, "00000000-0000-4000-8000-"
	    "000000000099", "granskare", "ok", FX_NOW + 3, &err), -1);
	cr_expect_eq(err.code, NR_BAD_MESSAGE_ID);
	fx_fini(&f);
}

/* Many small commits, as under steady load: the writer lets the WAL start
 * over once it passes 4,096 frames (16 MiB) and the checkpoint thread has
 * caught up, or at the latest at twice that (a little later when the
 * thread holds the checkpoint at that moment), so it stays well below
 * 64 MiB instead of growing with everything written (about 260 MiB). */
Test(store_schema, wal_starts_over_under_steady_writing, .timeout = 120)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	struct store_options opt = { .sync_full = false,
	    .pseudonym_key = NULL };
	enum store_accept_result res;
	static uint8_t payload[6000];
	char path[160];
	struct stat sb;
	off_t max_wal = 0;

	fx_init(&f);
	store_free(&f.st);
	opt.pseudonym_key = f.key;
	opt.pseudonym_key_len = sizeof(f.key);
	cr_assert_not_null(f.st = store_open(f.path, &opt, &err), "%s",
	    err.text);
	snprintf(path, sizeof(path), "%s-wal", f.path);
	memset(payload, 'p', sizeof(payload));
	/* 6,000 commits of about 10 pages each */
	for (int i = 1; i <= 6000; i++) {
		fx_msg(&x, i, FX_BUP);
		x.m.payload = payload;
		x.m.payload_len = sizeof(payload);
		cr_assert_eq(store_accept(f.st, &x.m, FX_NOW, &res, &err), 0,
		    "%s", err.text);
		if (stat(path, &sb) == 0 && sb.st_size > max_wal)
			max_wal = sb.st_size;
	}
	cr_expect_lt(max_wal, 64 << 20, "WAL grew to %lld bytes",
	    (long long)max_wal);
	fx_fini(&f);
}
