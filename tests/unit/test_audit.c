/*
 * test_audit.c — the hash-chained audit log and what may enter it (on
 * PostgreSQL too, compiled from test_audit_pg.c: store_fixture.h): the
 * canonical row hash, verification of intact chains and of every kind of
 * tampering (edited, deleted, swapped, renumbered, replaced and appended
 * rows), and that a change whose audit row cannot be written never
 * commits. What may enter the audit is tested in test_store_privacy.c.
 */
#include "audit.h"
#include "store_fixture.h"

#define BUP FX_BUP

/* Close the store, run sql on the file, and verify read-only: returns the
 * bad seq and leaves the reason in err. */
static int64_t
tamper_and_verify(struct fx *f, const char *sql, struct nara_err *err)
{
	struct store *ro;
	int64_t bad = -1;

	store_free(&f->st);
	fx_sql_exec(f, sql);
	ro = fx_open(f, true);
	cr_assert_eq(store_audit_verify(ro, &bad, err), -1,
	    "tampering not detected: %s", sql);
	cr_expect_eq(err->code, NR_STORE_FAILED);
	store_free(&ro);
	return bad;
}

/* ---------------------------------------------------------------- hashing */

static void
put_len(uint8_t *buf, size_t *n, const char *s)
{
	uint32_t v = s ? (uint32_t)strlen(s) : UINT32_MAX;

	buf[(*n)++] = (uint8_t)(v >> 24);
	buf[(*n)++] = (uint8_t)(v >> 16);
	buf[(*n)++] = (uint8_t)(v >> 8);
	buf[(*n)++] = (uint8_t)v;
	if (s != NULL) {
		memcpy(buf + *n, s, strlen(s));
		*n += strlen(s);
	}
}

static void
put_be64(uint8_t *buf, size_t *n, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		buf[(*n)++] = (uint8_t)(v >> (8 * i));
}

/* The documented canonical form, built by hand, gives the same hash. */
Test(audit, row_hash_follows_the_documented_canonical_form)
{
	struct audit_hasher *h = audit_hasher_new();
	struct audit_row r = { .seq = 7, .time_ms = 1795000000123LL,
	    .event = "acked", .node = "bup-ostra", .message_id = "m-1",
	    .type = "referral", .sender = NULL, .recipient = "",
	    .author = "a", .legal_basis = "own_consent",
	    .payload_sha256 = NULL, .payload_size = 42, .subject = "s",
	    .code = NULL, .detail = "d" };
	const char *text[] = { r.event, r.node, r.message_id, r.type, r.sender,
	    r.recipient, r.author, r.legal_basis, r.payload_sha256 };
	uint8_t prev[32], buf[512], want[32], got[32];
	size_t n = 0;

	cr_assert_not_null(h);
	memset(prev, 0xab, sizeof(prev));
	memcpy(buf, prev, 32);
	n = 32;
	memcpy(buf + n, "nara-audit-row-v1", 18);   /* with its NUL */
	n += 18;
	put_be64(buf, &n, 7);
	put_be64(buf, &n, 1795000000123ULL);
	for (int i = 0; i < 9; i++)
		put_len(buf, &n, text[i]);
	put_be64(buf, &n, 42);
	put_len(buf, &n, r.subject);
	put_len(buf, &n, r.code);
	put_len(buf, &n, r.detail);
	SHA256(buf, n, want);
	cr_assert_eq(audit_row_hash(h, prev, &r, got), 0);
	cr_expect_arr_eq(got, want, 32);
	audit_hasher_free(&h);
	cr_expect_null(h);
}

/* The canonical form of r by hand, as above, for rows of any size. */
static void
canonical_hash(const uint8_t prev[32], const struct audit_row *r,
    uint8_t want[32])
{
	const char *text[] = { r->event, r->node, r->message_id, r->type,
	    r->sender, r->recipient, r->author, r->legal_basis,
	    r->payload_sha256 };
	size_t n = 0, cap = 32 + 18 + 24 + 12 * 4;
	uint8_t *buf;

	for (int i = 0; i < 9; i++)
		cap += text[i] != NULL ? strlen(text[i]) : 0;
	cap += (r->subject ? strlen(r->subject) : 0) +
	    (r->code ? strlen(r->code) : 0) + (r->detail ? strlen(r->detail) : 0);
	cr_assert_not_null(buf = malloc(cap));
	memcpy(buf, prev, 32);
	n = 32;
	memcpy(buf + n, "nara-audit-row-v1", 18);
	n += 18;
	put_be64(buf, &n, (uint64_t)r->seq);
	put_be64(buf, &n, (uint64_t)r->time_ms);
	for (int i = 0; i < 9; i++)
		put_len(buf, &n, text[i]);
	put_be64(buf, &n, (uint64_t)r->payload_size);
	put_len(buf, &n, r->subject);
	put_len(buf, &n, r->code);
	put_len(buf, &n, r->detail);
	cr_assert_eq(n, cap);
	SHA256(buf, n, want);
	free(buf);
}

/* One hasher hashes rows of every size one after another: a long row
 * (more than any earlier one) and then short ones again each give the
 * canonical hash, nothing of the row before carried into the next. */
Test(audit, row_hash_of_rows_long_and_short_one_after_another)
{
	struct audit_hasher *h = audit_hasher_new();
	static char long_detail[5000], long_id[300];
	struct audit_row rows[] = {
		{ .seq = 1, .time_ms = 1, .event = "received", .node = "n",
		  .payload_size = -1 },
		{ .seq = 2, .time_ms = 2, .event = "acked", .node = "n",
		  .message_id = long_id, .detail = long_detail,
		  .subject = "s", .payload_size = 1 },
		{ .seq = 3, .time_ms = 3, .event = "e", .payload_size = 0 },
		{ .seq = 4, .time_ms = 4, .event = "delivered", .node = "bup",
		  .message_id = "m", .type = "t", .sender = "x", .recipient = "y",
		  .author = "a", .legal_basis = "own_consent",
		  .payload_sha256 = "00ff", .subject = "p", .code = "NR001",
		  .detail = "attempt 1", .payload_size = 1340 },
	};
	uint8_t prev[32] = { 9 }, want[32], got[32];

	memset(long_detail, 'd', sizeof(long_detail) - 1);
	memset(long_id, 'i', sizeof(long_id) - 1);
	cr_assert_not_null(h);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			canonical_hash(prev, &rows[i], want);
			cr_assert_eq(audit_row_hash(h, prev, &rows[i], got), 0);
			cr_expect_arr_eq(got, want, 32, "row %zu, round %d", i,
			    round);
			memcpy(prev, got, 32);
		}
	audit_hasher_free(&h);
}

Test(audit, row_hash_separates_fields_nulls_and_positions)
{
	struct audit_hasher *h = audit_hasher_new();
	uint8_t zero[32] = { 0 }, other[32] = { 1 }, a[32], b[32];
	struct audit_row r1 = { .seq = 1, .event = "ab", .node = "c",
	    .payload_size = -1 };
	struct audit_row r2 = r1;

	cr_assert_eq(audit_row_hash(h, zero, &r1, a), 0);
	cr_assert_eq(audit_row_hash(h, zero, &r1, b), 0);
	cr_expect_arr_eq(a, b, 32, "not deterministic");
	r2.event = "a";
	r2.node = "bc";
	cr_assert_eq(audit_row_hash(h, zero, &r2, b), 0);
	cr_expect_arr_neq(a, b, 32, "field boundary not in the hash");
	r2 = r1;
	r2.detail = "";
	cr_assert_eq(audit_row_hash(h, zero, &r2, b), 0);
	cr_expect_arr_neq(a, b, 32, "NULL and empty hash alike");
	r2 = r1;
	r2.payload_size = 0;
	cr_assert_eq(audit_row_hash(h, zero, &r2, b), 0);
	cr_expect_arr_neq(a, b, 32);
	r2 = r1;
	r2.seq = 2;
	cr_assert_eq(audit_row_hash(h, zero, &r2, b), 0);
	cr_expect_arr_neq(a, b, 32, "seq not in the hash");
	cr_assert_eq(audit_row_hash(h, other, &r1, b), 0);
	cr_expect_arr_neq(a, b, 32, "previous hash not in the hash");
	audit_hasher_free(&h);
}

Test(audit, names_and_hex)
{
	char hex[9];
	const uint8_t bytes[4] = { 0x00, 0x9f, 0xa0, 0xff };

	cr_expect_null(audit_legal_basis_name(0));
	cr_expect_str_eq(audit_legal_basis_name(1), "guardian_consent");
	cr_expect_str_eq(audit_legal_basis_name(2), "own_consent");
	cr_expect_str_eq(audit_legal_basis_name(3), "mandatory_report");
	cr_expect_str_eq(audit_legal_basis_name(4), "deidentified");
	cr_expect_null(audit_legal_basis_name(5));
	cr_expect_null(audit_legal_basis_name(-1));
	audit_hex(bytes, 4, hex);
	cr_expect_str_eq(hex, "009fa0ff");
}

/* ---------------------------------------------------------------- intact */

Test(audit, empty_and_populated_chains_verify)
{
	struct fx f;

	fx_init(&f);
	fx_verify_ok(&f);
	fx_populate(&f);
	fx_verify_ok(&f);
	cr_expect_eq(fx_sql_int(&f, "SELECT prev_hash = " FX_SQL_ZERO_HASH " FROM audit "
	    "WHERE seq = 1"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit a JOIN audit b "
	    "ON b.seq = a.seq + 1 WHERE b.prev_hash <> a.hash"), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE "
	    "length(hash) = 32"), 9);
	cr_expect_eq(fx_sql_int(&f, "SELECT time FROM audit WHERE seq = 9"),
	    (FX_NOW + 3) * 1000);
	fx_fini(&f);
}

Test(audit, chain_continues_across_reopen)
{
	struct fx f;

	fx_init(&f);
	fx_populate(&f);
	store_free(&f.st);
	f.st = fx_open(&f, false);
	cr_assert_eq(store_audit_event(f.st, "broker_started", NULL, NULL,
	    FX_NOW + 9), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM audit"), 10);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A tool writing to the store while the broker runs must not fork the
 * chain: each writer picks up the other's head at its next batch. */
Test(audit, two_writers_keep_one_chain)
{
	struct fx f;
	struct store *tool;

	fx_init(&f);
	fx_populate(&f);
	tool = fx_open(&f, false);
	cr_assert_eq(store_audit_event(tool, "config_reloaded", NULL, "tool",
	    FX_NOW), 0);
	cr_assert_eq(store_audit_event(f.st, "node_connected", BUP, NULL,
	    FX_NOW), 0);
	cr_assert_eq(store_audit_event(tool, "config_reloaded", NULL, "again",
	    FX_NOW), 0);
	cr_assert_eq(store_audit_event(f.st, "node_disconnected", BUP, NULL,
	    FX_NOW), 0);
	store_free(&tool);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM audit"), 13);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(audit, verify_inside_a_batch_sees_its_rows)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_assert_eq(store_audit_event(f.st, "config_reloaded", NULL, "ok",
	    FX_NOW), 0);
	fx_verify_ok(&f);
	store_rollback(f.st);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- tampered */

/* Write a row with a correctly computed hash, as someone who knows the
 * format could: replacing row seq, or appending it after the last one. */
#ifdef FX_POSTGRESQL
/* The hash of row seq (the prev_hash of it when replace, else the hash of
 * the row before it), read as hex. */
static void
forge_prev(struct fx *f, int64_t seq, bool replace, uint8_t prev[32])
{
	char sql[160], hex[80];

	snprintf(sql, sizeof(sql), replace ? "SELECT encode(prev_hash, 'hex') "
	    "FROM audit WHERE seq = %lld" : "SELECT encode(hash, 'hex') FROM "
	    "audit WHERE seq = %lld - 1", (long long)seq);
	cr_assert_eq(pgserver_sql_text(f->path, sql, hex, sizeof(hex)), 0);
	cr_assert_eq(strlen(hex), 64);
	for (int i = 0; i < 32; i++)
		cr_assert_eq(sscanf(hex + 2 * i, "%2hhx", &prev[i]), 1);
}

static void
forge_write(struct fx *f, int64_t seq, bool replace, const uint8_t prev[32],
    const uint8_t hash[32])
{
	char p[65], h[65], sql[1024];
	long long n = 0;

	audit_hex(prev, 32, p);
	audit_hex(hash, 32, h);
	if (replace)
		snprintf(sql, sizeof(sql), "WITH u AS (UPDATE audit SET time = 0, "
		    "event = 'forged', node = NULL, message_id = NULL, type = "
		    "NULL, sender = NULL, recipient = NULL, author = NULL, "
		    "legal_basis = NULL, payload_sha256 = NULL, payload_size = "
		    "NULL, subject = NULL, code = NULL, detail = NULL, hash = "
		    "decode('%s', 'hex') WHERE seq = %lld AND prev_hash = "
		    "decode('%s', 'hex') RETURNING 1) SELECT count(*) FROM u", h,
		    (long long)seq, p);
	else
		snprintf(sql, sizeof(sql), "WITH i AS (INSERT INTO audit(seq, "
		    "time, event, prev_hash, hash) VALUES (%lld, 0, 'forged', "
		    "decode('%s', 'hex'), decode('%s', 'hex')) RETURNING 1) "
		    "SELECT count(*) FROM i", (long long)seq, p, h);
	cr_assert_eq(pgserver_sql(f->path, sql, &n), 0);
	cr_assert_eq(n, 1);
}

/* Write a row with a correctly computed hash, as someone who knows the
 * format could: replacing row seq, or appending it after the last one. */
static void
forge_row(struct fx *f, int64_t seq, bool replace)
{
	struct audit_hasher *h = audit_hasher_new();
	struct audit_row r = { .seq = seq, .event = "forged",
	    .payload_size = -1 };
	uint8_t prev[32], hash[32];

	store_free(&f->st);
	forge_prev(f, seq, replace, prev);
	cr_assert_eq(audit_row_hash(h, prev, &r, hash), 0);
	forge_write(f, seq, replace, prev, hash);
	audit_hasher_free(&h);
}
#else
static void
forge_row(struct fx *f, int64_t seq, bool replace)
{
	struct audit_hasher *h = audit_hasher_new();
	struct audit_row r = { .seq = seq, .event = "forged",
	    .payload_size = -1 };
	uint8_t prev[32], hash[32];
	sqlite3 *db;
	sqlite3_stmt *s;

	store_free(&f->st);
	cr_assert_eq(sqlite3_open(f->path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, replace ? "SELECT prev_hash FROM "
	    "audit WHERE seq = ?1" : "SELECT hash FROM audit WHERE seq = ?1 - 1",
	    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_int64(s, 1, seq);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	memcpy(prev, sqlite3_column_blob(s, 0), 32);
	sqlite3_finalize(s);
	cr_assert_eq(audit_row_hash(h, prev, &r, hash), 0);
	cr_assert_eq(sqlite3_prepare_v2(db, replace ? "UPDATE audit SET "
	    "time = 0, event = 'forged', node = NULL, message_id = NULL, type = "
	    "NULL, sender = NULL, recipient = NULL, author = NULL, legal_basis = "
	    "NULL, payload_sha256 = NULL, payload_size = NULL, subject = NULL, "
	    "code = NULL, detail = NULL, hash = ?3 WHERE seq = ?1 AND "
	    "prev_hash = ?2" : "INSERT INTO audit(seq, time, event, prev_hash, "
	    "hash) VALUES (?1, 0, 'forged', ?2, ?3)", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_blob(s, 2, prev, 32, SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, hash, 32, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(s), SQLITE_DONE);
	cr_assert_eq(sqlite3_changes(db), 1);
	sqlite3_finalize(s);
	sqlite3_close(db);
	audit_hasher_free(&h);
}
#endif

Test(audit, edited_row_is_named)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(tamper_and_verify(&f, "UPDATE audit SET recipient = "
	    "'kommun:1401:socialtjanst' WHERE seq = 5", &err), 5);
	cr_expect_str_eq(err.text, "row 5: hash mismatch (row edited)");
	fx_fini(&f);
}

Test(audit, edited_time_is_named)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(tamper_and_verify(&f, "UPDATE audit SET time = time + 1 "
	    "WHERE seq = 9", &err), 9);
	cr_expect_str_eq(err.text, "row 9: hash mismatch (row edited)");
	fx_fini(&f);
}

Test(audit, deleted_middle_row_is_a_gap)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(tamper_and_verify(&f, "DELETE FROM audit WHERE seq = 6",
	    &err), 6);
	cr_expect_str_eq(err.text, "gap between seq 5 and 7 (rows deleted)");
	fx_fini(&f);
}

Test(audit, deleted_and_renumbered_rows_do_not_link)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(tamper_and_verify(&f, "DELETE FROM audit WHERE seq = 6;"
	    "UPDATE audit SET seq = seq - 1 WHERE seq > 6;"
	    FX_SQL_SET_HEAD_SEQ("10"), &err), 6);
	cr_expect_str_eq(err.text, "row 6: previous hash does not link (row "
	    "deleted or reordered)");
	fx_fini(&f);
}

Test(audit, swapped_rows_are_named)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(tamper_and_verify(&f, "UPDATE audit SET seq = -1 WHERE "
	    "seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4; UPDATE audit SET "
	    "seq = 4 WHERE seq = -1", &err), 3);
	cr_expect_str_eq(err.text, "row 3: previous hash does not link (row "
	    "deleted or reordered)");
	fx_fini(&f);
}

Test(audit, edited_previous_hash_is_named)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(tamper_and_verify(&f, "UPDATE audit SET prev_hash = "
	    FX_SQL_ZERO_HASH " WHERE seq = 2", &err), 2);
	cr_expect_str_eq(err.text, "row 2: previous hash does not link (row "
	    "deleted or reordered)");
	fx_fini(&f);
}

Test(audit, deleted_first_row_is_named)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(tamper_and_verify(&f, "DELETE FROM audit WHERE seq = 1",
	    &err), 1);
	cr_expect_str_eq(err.text, "row 1: missing, the chain starts at seq 2 "
	    "(rows deleted at the start)");
	fx_fini(&f);
}

Test(audit, deleted_last_rows_are_caught_by_the_head)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(tamper_and_verify(&f, "DELETE FROM audit WHERE seq >= 8",
	    &err), 8);
	cr_expect_str_eq(err.text, "the chain ends at seq 7 but the store "
	    "recorded 9 rows (rows deleted at the end)");
	fx_fini(&f);
}

Test(audit, appended_row_beyond_the_head_is_named)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	forge_row(&f, 10, false);
	cr_expect_eq(tamper_and_verify(&f, "SELECT 1", &err), 10);
	cr_expect_str_eq(err.text, "row 10: beyond the recorded chain head 9 "
	    "(rows added outside the store)");
	fx_fini(&f);
}

Test(audit, replaced_last_row_with_valid_hash_is_caught_by_the_head)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	forge_row(&f, 9, true);
	cr_expect_eq(tamper_and_verify(&f, "SELECT 1", &err), 9);
	cr_expect_str_eq(err.text, "row 9: hash differs from the recorded chain "
	    "head (last row replaced)");
	fx_fini(&f);
}

Test(audit, replaced_middle_row_with_valid_hash_breaks_the_next_link)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_populate(&f);
	forge_row(&f, 4, true);
	cr_expect_eq(tamper_and_verify(&f, "SELECT 1", &err), 5);
	cr_expect_str_eq(err.text, "row 5: previous hash does not link (row "
	    "deleted or reordered)");
	fx_fini(&f);
}

/* After rows were cut from the end, the broker goes on from the recorded
 * head, so the cut stays visible as a gap instead of being papered over. */
Test(audit, writer_never_reuses_a_deleted_seq)
{
	struct fx f;
	struct nara_err err = { 0 };
	int64_t bad = 0;

	fx_init(&f);
	fx_populate(&f);
	store_free(&f.st);
	fx_sql_exec(&f, "DELETE FROM audit WHERE seq = 9");
	f.st = fx_open(&f, false);
	cr_assert_eq(store_audit_event(f.st, "broker_started", NULL, NULL,
	    FX_NOW), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM audit"), 10);
	cr_assert_eq(store_audit_verify(f.st, &bad, &err), -1);
	cr_expect_eq(bad, 9);
	cr_expect_str_eq(err.text, "gap between seq 8 and 10 (rows deleted)");
	fx_fini(&f);
}


/* ---------------------------------------------------------------- atomicity */

#ifdef FX_POSTGRESQL
#define FAIL_ACK_ROW "CREATE FUNCTION fail_ack() RETURNS trigger " \
	"LANGUAGE plpgsql AS $$BEGIN IF NEW.event = 'acked' THEN " \
	"RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END$$; " \
	"CREATE TRIGGER fail_ack BEFORE INSERT ON audit FOR EACH ROW " \
	"EXECUTE FUNCTION fail_ack()"
#define DROP_FAIL_ACK "DROP TRIGGER fail_ack ON audit"
#else
#define FAIL_ACK_ROW "CREATE TRIGGER fail_ack BEFORE INSERT ON audit " \
	"WHEN NEW.event = 'acked' BEGIN SELECT RAISE(ABORT, " \
	"'injected failure'); END"
#define DROP_FAIL_ACK "DROP TRIGGER fail_ack"
#endif

/* A store where message 1 was delivered and its ack's audit row cannot be
 * written, and a batch open that accepted message 2. */
static void
lost_row_batch(struct fx *f)
{
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_init(f);
	fx_accept(f, 1, BUP);
	fx_deliver(f, 1, BUP);
	fx_sql_exec(f, FAIL_ACK_ROW);
	cr_assert_eq(store_begin(f->st, &err), 0);
	cr_assert_eq(store_accept(f->st, fx_msg(&x, 2, BUP), FX_NOW, &res,
	    &err), 0);
}

/* A commit as narad makes it: sent, its answer taken. */
static int
sent_commit(struct store *st, struct nara_err *err)
{
	int rc = store_commit_send(st, err);

	return rc == 1 ? store_commit_take(st, err) : rc;
}

Test(audit, batch_with_a_lost_audit_row_does_not_commit)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	bool was_new = true;

	lost_row_batch(&f);
#ifdef FX_POSTGRESQL
	/* The audit rows are sent ahead in the batch's pipeline: the failure
	 * is learnt at the next statement that reads, at the latest at the
	 * commit, which then keeps nothing (store.h, the batch contract). */
	store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP, FX_NOW,
	    &was_new);
	store_audit_event(f.st, "node_connected", BUP, NULL, FX_NOW);
#else
	cr_expect_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), -1);
	cr_expect_not(was_new);
	cr_expect_eq(store_audit_event(f.st, "node_connected", BUP, NULL,
	    FX_NOW), -1, "a broken batch accepted more work");
#endif
	cr_expect_eq(store_commit(f.st, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, "injected failure") != NULL, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    "state = 0 AND " FX_SQL_PAYLOAD_KEPT), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 0);
	fx_sql_exec(&f, DROP_FAIL_ACK);
	cr_assert_eq(store_acked(f.st, x.id, BUP, FX_NOW, &was_new), 0);
	cr_expect(was_new);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM audit"), 3);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(audit, call_outside_a_batch_is_all_or_nothing)
{
	struct fx f;
	struct fx_msg x;
	bool was_new = true;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_deliver(&f, 1, BUP);
	fx_sql_exec(&f, FAIL_ACK_ROW);
	cr_expect_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), -1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT state FROM messages"), 0);
	cr_assert_eq(store_audit_event(f.st, "node_connected", BUP, NULL,
	    FX_NOW), 0, "the store stays usable");
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM audit"), 3);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* narad's way to commit: the commit sent and its answer taken later (on
 * SQLite the COMMIT runs on the store's commit thread, on PostgreSQL the
 * batch's rows travel ahead in the pipeline). A row that cannot be
 * written fails the commit, names its cause, and keeps nothing of the
 * batch. */
Test(audit, sent_commit_with_a_lost_audit_row_keeps_nothing)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	bool was_new = false;

	lost_row_batch(&f);
	store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP, FX_NOW,
	    &was_new);
	cr_expect_eq(sent_commit(f.st, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, "injected failure") != NULL, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 2);
	fx_sql_exec(&f, DROP_FAIL_ACK);
	/* the store goes on, its chain whole */
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), 0);
	cr_assert_eq(sent_commit(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 3);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* Nothing to do with a row: store_audit_rows counts its calls. */
static int
any_row(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	(void)arg;
	(void)r;
	(void)prev_hash;
	(void)hash;
	return 0;
}

/* A batch's rows, whatever a backend keeps back of them until later
 * (store.h, the batch contract): read in the batch, they are all there;
 * committed, in the chain's order, by either way of committing. */
static void
batch_of_19(bool sent)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	struct store_audit_filter all = { .select = STORE_AUDIT_ALL,
	    .rows = true };
	struct store_audit_filter one = { .select = STORE_AUDIT_MESSAGE };
	int rc;

	fx_init(&f);
	cr_assert_eq(store_begin(f.st, &err), 0);
	for (int i = 1; i <= 19; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW,
		    &res, &err), 0, "%s", err.text);
	if (!sent) {
		cr_expect_eq(store_audit_rows(f.st, &all, any_row, NULL, &err),
		    19, "%s", err.text);
		one.message_id = fx_msg(&x, 19, BUP)->message_id;
		cr_expect_eq(store_audit_rows(f.st, &one, any_row, NULL, &err),
		    1, "%s", err.text);
		rc = store_commit(f.st, &err);
	} else {
		rc = sent_commit(f.st, &err);
	}
	cr_assert_eq(rc, 0, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 19);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) - min(seq) FROM audit"),
	    18);
	/* each row with its own message, in the order they were accepted */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit a JOIN "
	    "messages m ON m.seq = a.msg_seq AND m.message_id = a.message_id"),
	    19);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit a JOIN "
	    "audit b ON b.seq = a.seq + 1 JOIN messages ma ON ma.seq = "
	    "a.msg_seq JOIN messages mb ON mb.seq = b.msg_seq WHERE mb.seq < "
	    "ma.seq"), 0);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(audit, rows_of_an_open_batch_are_read_in_it_and_committed_in_order)
{
	batch_of_19(false);
}

Test(audit, rows_of_a_sent_commit_are_committed_in_order)
{
	batch_of_19(true);
}

/* A rollback drops the batch's rows with the rest: the next batch's row
 * follows the last committed one. */
Test(audit, rolled_back_batch_leaves_none_of_its_rows)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	cr_assert_eq(store_begin(f.st, &err), 0);
	for (int i = 2; i <= 12; i++)
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW,
		    &res, &err), 0, "%s", err.text);
	store_rollback(f.st);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 1);
	fx_accept(&f, 13, BUP);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT max(seq) FROM audit"), 2);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A message dead-lettered and retried in the batch that accepted it:
 * every row of it, those of this batch too, moves with it to its new
 * seq. */
Test(audit, retry_in_the_accepting_batch_moves_every_row)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_init(&f);
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 1, BUP), FX_NOW, &res,
	    &err), 0, "%s", err.text);
	cr_assert_eq(store_dead_letter(f.st, x.id, "NR050", "no", false, BUP,
	    FX_NOW), 0);
	cr_assert_eq(store_retry(f.st, x.id, NULL, FX_NOW, &err), 0, "%s",
	    err.text);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	/* received, dead_lettered, receipt_queued (failed), retried */
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 4);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE msg_seq = "
	    "(SELECT seq FROM messages)"), 4);
	fx_verify_ok(&f);
	fx_fini(&f);
}
