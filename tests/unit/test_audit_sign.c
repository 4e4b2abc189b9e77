/*
 * test_audit_sign.c — Ed25519 checkpoint keys, signed chain heads, the full
 * verification against tampering and a log signed by a rotated key checked
 * against a key ring. The retention prune behind a signed cut, the
 * reviewer's conclusions and the store's periodic upkeep are in
 * test_audit_prune.c. test_audit_sign_pg.c runs it on PostgreSQL, less the
 * tests of SQLite's own tables.
 */
#include <sys/stat.h>

#include <fcntl.h>

#include "audit_sign_fixture.h"

/* ---------------------------------------------------------------- keys */

Test(audit_sign, keys_round_trip_and_fingerprints)
{
	struct fx f;
	struct keys k;
	struct nara_err err = { 0 };
	struct audit_key *again;

	fx_init(&f);
	keys_make(&f, &k);
	cr_expect_eq(strlen(audit_key_fingerprint(k.sign)), AUDIT_FPR_LEN);
	cr_expect_str_eq(audit_key_fingerprint(k.sign),
	    audit_key_fingerprint(k.check));
	cr_expect(audit_key_can_sign(k.sign));
	cr_expect_not(audit_key_can_sign(k.check));
	/* The private key file also serves where a public key is asked for. */
	again = audit_key_load_public(k.priv, &err);
	cr_assert_not_null(again, "%s", err.text);
	cr_expect_str_eq(audit_key_fingerprint(again),
	    audit_key_fingerprint(k.check));
	audit_key_free(&again);
	/* keygen never overwrites */
	cr_expect_eq(audit_key_generate(k.priv, k.pub, &err), -1);
	cr_expect_eq(err.code, NR_IO);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, bad_key_files_are_refused_with_codes)
{
	struct fx f;
	struct keys k;
	struct nara_err err = { 0 };
	char path[200];
	FILE *fp;

	fx_init(&f);
	keys_make(&f, &k);
	chmod(k.priv, 0644);
	cr_expect_null(audit_key_load_private(k.priv, &err));
	cr_expect_eq(err.code, NR_CONFIG);
	cr_expect(strstr(err.text, "chmod 600") != NULL, "%s", err.text);
	snprintf(path, sizeof(path), "%s/junk.pem", f.dir);
	fp = fopen(path, "w");
	fputs("not a key\n", fp);
	fclose(fp);
	chmod(path, 0600);
	cr_expect_null(audit_key_load_public(path, &err));
	cr_expect_eq(err.code, NR_CONFIG);
	cr_expect_null(audit_key_load_private("/nonexistent/key.pem", &err));
	cr_expect_eq(err.code, NR_CONFIG);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, checkpoint_signature_covers_every_field)
{
	struct fx f;
	struct keys k, other;
	struct nara_err err = { 0 };
	struct audit_checkpoint c = { .kind = "head", .seq = 42,
	    .time_ms = 1000 }, d;

	fx_init(&f);
	keys_make(&f, &k);
	memset(c.hash, 7, sizeof(c.hash));
	cr_assert_eq(audit_checkpoint_sign(k.sign, &c, &err), 0, "%s", err.text);
	cr_expect_eq(audit_checkpoint_check(k.check, &c), 0);
	d = c; d.seq = 43;
	cr_expect_eq(audit_checkpoint_check(k.check, &d), -1);
	d = c; d.hash[31] ^= 1;
	cr_expect_eq(audit_checkpoint_check(k.check, &d), -1);
	d = c; d.time_ms++;
	cr_expect_eq(audit_checkpoint_check(k.check, &d), -1);
	d = c; d.kind = "cut";
	cr_expect_eq(audit_checkpoint_check(k.check, &d), -1);
	/* a public key cannot sign */
	cr_expect_eq(audit_checkpoint_sign(k.check, &d, &err), -1);
	/* another key pair does not accept it */
	snprintf(other.priv, sizeof(other.priv), "%s/o.pem", f.dir);
	snprintf(other.pub, sizeof(other.pub), "%s/o.pub", f.dir);
	cr_assert_eq(audit_key_generate(other.priv, other.pub, &err), 0);
	other.check = audit_key_load_public(other.pub, &err);
	cr_assert_not_null(other.check);
	cr_expect_eq(audit_checkpoint_check(other.check, &c), -1);
	audit_key_free(&other.check);
	keys_free(&k);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- verify */

Test(audit_sign, untouched_signed_store_verifies)
{
	struct fx f;
	struct keys k;
	struct audit_report rep;
	struct nara_err err = { 0 };

	signed_store(&f, &k);
	cr_assert_eq(verify_full(&f, k.check, &rep, &err), 0, "%s", err.text);
	cr_expect_eq(rep.rows, 9);
	cr_expect_eq(rep.first_seq, 1);
	cr_expect_eq(rep.last_seq, 9);
	cr_expect_eq(rep.checkpoints, 1);
	cr_expect_eq(rep.signed_seq, 9);
	cr_expect(rep.signatures_checked);
	cr_expect_eq(rep.bad_seq, 0);
	/* without a key the chain is still checked, signatures are not */
	cr_assert_eq(verify_full(&f, NULL, &rep, &err), 0, "%s", err.text);
	cr_expect_not(rep.signatures_checked);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, edited_field_is_named)
{
	struct fx f;
	struct keys k;

	signed_store(&f, &k);
	cr_expect_eq(tampered(&f, &k, "UPDATE audit SET recipient = "
	    "'kommun:1490:socialtjanst' WHERE seq = 5", "hash mismatch"), 5);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, deleted_middle_row_is_named)
{
	struct fx f;
	struct keys k;

	signed_store(&f, &k);
	cr_expect_eq(tampered(&f, &k, "DELETE FROM audit WHERE seq = 6",
	    "gap"), 6);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, reordered_rows_are_named)
{
	struct fx f;
	struct keys k;

	signed_store(&f, &k);
	cr_expect_eq(tampered(&f, &k, "UPDATE audit SET seq = -3 WHERE seq = 3;"
	    "UPDATE audit SET seq = 3 WHERE seq = 4;"
	    "UPDATE audit SET seq = 4 WHERE seq = -3", "previous hash"), 3);
	keys_free(&k);
	fx_fini(&f);
}

Test(audit_sign, truncated_log_is_named)
{
	struct fx f;
	struct keys k;

	signed_store(&f, &k);
	cr_expect_eq(tampered(&f, &k, "DELETE FROM audit WHERE seq >= 7",
	    "deleted at the end"), 7);
	keys_free(&k);
	fx_fini(&f);
}

#ifndef FX_POSTGRESQL   /* SQLite's own tables and functions */
/* Deleting the newest rows and rewriting the recorded head to match is
 * caught only by the signed checkpoint. */
Test(audit_sign, newest_rows_deleted_with_head_rewritten_are_named)
{
	struct fx f;
	struct keys k;

	signed_store(&f, &k);
	cr_expect_eq(tampered(&f, &k, "DELETE FROM audit WHERE seq >= 8;"
	    "UPDATE meta SET value = 7 WHERE key = 'audit_head_seq';"
	    "UPDATE meta SET value = (SELECT hash FROM audit WHERE seq = 7) "
	    "WHERE key = 'audit_head_hash'", "signed checkpoint covers"), 8);
	keys_free(&k);
	fx_fini(&f);
}
#endif

#ifndef FX_POSTGRESQL   /* PostgreSQL's columns are typed, its text has no NUL */
/* A value stored in another form than the store writes keeps the row's
 * hash (the hash covers the value as read), but SQL no longer finds the
 * row by it: a subject as BLOB misses "subject = ?" (the extract), a time
 * as BLOB misses "time >= ?" (query, export), a text with a NUL and more
 * bytes misses "event = ?". Each is an edited row. */
Test(audit_sign, value_stored_in_another_form_is_named)
{
	static const struct {
		const char *sql, *column;
		int64_t seq;
	} edits[] = {
		{ "UPDATE audit SET subject = CAST(subject AS BLOB) WHERE seq = 5",
		    "subject", 5 },
		{ "UPDATE audit SET time = CAST(CAST(time AS TEXT) AS BLOB) "
		    "WHERE seq = 4", "time", 4 },
		{ "UPDATE audit SET event = event || CAST(X'0078' AS TEXT) "
		    "WHERE seq = 7", "event", 7 },
		{ "UPDATE audit SET payload_size = CAST(CAST(payload_size AS "
		    "TEXT) AS BLOB) WHERE seq = 1", "payload_size", 1 },
	};
	char why[80];

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		struct fx f;
		struct keys k;

		signed_store(&f, &k);
		snprintf(why, sizeof(why), "row %lld: %s stored as another "
		    "type or with a NUL inside", (long long)edits[i].seq,
		    edits[i].column);
		cr_expect_eq(tampered(&f, &k, edits[i].sql, why), edits[i].seq,
		    "%s", edits[i].sql);
		keys_free(&k);
		fx_fini(&f);
	}
}
#endif

/* msg_seq, outside the hashed row, is how trace and review record find a
 * stored message's rows: pointed at another message (or at none) it hides
 * the row from its own message's trace, or shows it under another. The
 * rows of a message pruned since keep their msg_seq and still verify. */
Test(audit_sign, moved_lookup_column_is_named)
{
	static const struct {
		const char *sql;
		int64_t seq;
	} edits[] = {
		/* message 1's delivery under message 3 */
		{ "UPDATE audit SET msg_seq = (SELECT seq FROM messages WHERE "
		    "message_id = '00000000-0000-4000-8000-000000000003') WHERE "
		    "seq = 5", 5 },
		/* message 1's first row under no message */
		{ "UPDATE audit SET msg_seq = 999 WHERE seq = 1", 1 },
	};

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		struct fx f;
		struct keys k;

		signed_store(&f, &k);
		cr_expect_eq(tampered(&f, &k, edits[i].sql, "msg_seq leads the "
		    "look-ups to another message than its message_id (row "
		    "edited)"), edits[i].seq, "%s", edits[i].sql);
		keys_free(&k);
		fx_fini(&f);
	}
}

Test(audit_sign, rows_of_a_pruned_message_keep_verifying)
{
	struct fx f;

	fx_init(&f);
	fx_populate(&f);
	fx_sql_exec(&f, "DELETE FROM messages WHERE message_id = "
	    "'00000000-0000-4000-8000-000000000001'");
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(audit_sign, forged_or_deleted_checkpoint_is_caught)
{
	struct fx f;
	struct keys k;

	signed_store(&f, &k);
	cr_expect_eq(tampered(&f, &k, "UPDATE checkpoints SET time = time + 1",
	    "signature"), 9);
	fx_sql_exec(&f, "DELETE FROM checkpoints");
	cr_expect_eq(tampered(&f, &k, "SELECT 1", "no signed checkpoint"), 1);
	keys_free(&k);
	fx_fini(&f);
}

#ifndef FX_POSTGRESQL   /* SQLite's own file */
/* Write a zero over the page type of the last leaf page of table (in key
 * order) of the closed store f: SQLite then reads the rows before it and
 * fails on that page with SQLITE_CORRUPT. */
static void
damage_last_leaf(struct fx *f, const char *table)
{
	static const uint8_t zero;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t page = 0, size = 0;
	int fd;

	cr_assert_eq(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
	    NULL, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT pageno, (SELECT page_size "
	    "FROM pragma_page_size) FROM dbstat WHERE name = ?1 AND pagetype "
	    "= 'leaf' ORDER BY path DESC LIMIT 1", -1, &s, NULL), SQLITE_OK,
	    "%s (SQLite without dbstat?)", sqlite3_errmsg(db));
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		page = sqlite3_column_int64(s, 0);
		size = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	cr_assert_gt(page, 1, "no leaf page of %s beyond the first", table);
	cr_assert_geq(fd = open(f->path, O_WRONLY), 0);
	cr_assert_eq(pwrite(fd, &zero, 1, (off_t)((page - 1) * size)), 1);
	close(fd);
}

/* A checkpoints table damaged after its first pages cannot be read whole
 * (the walk sorts by seq, so it may read none). That is no intact log,
 * with a public key or without one: verify fails without naming a row
 * (nara-audit's exit 2, the store could not be read), as for a damaged
 * audit table. */
Test(audit_sign, damaged_checkpoints_page_is_not_intact)
{
	struct fx f;
	struct keys k;
	struct audit_report rep;
	struct nara_err err = { 0 };

	fx_init(&f);
	keys_make(&f, &k);
	fx_populate(&f);
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(store_audit_event(f.st, "node_connected", FX_BUP,
		    "nara-adapter 0.1", FX_NOW + i), 0);
		cr_assert_eq(store_checkpoint(f.st, k.sign, FX_NOW + i, &err),
		    0, "%s", err.text);
	}
	store_free(&f.st);
	cr_assert_eq(verify_full(&f, k.check, &rep, &err), 0, "%s", err.text);
	cr_assert_eq(rep.checkpoints, 200);
	damage_last_leaf(&f, "checkpoints");
	for (int with_key = 0; with_key < 2; with_key++) {
		memset(&err, 0, sizeof(err));
		cr_expect_eq(verify_full(&f, with_key ? k.check : NULL, &rep,
		    &err), -1, "verified with %lld of 200 checkpoints read",
		    (long long)rep.checkpoints);
		cr_expect_eq(rep.bad_seq, 0, "%s", err.text);
		cr_expect_eq(err.code, NR_STORE_FAILED);
		cr_expect(strstr(err.text, "reading checkpoints") != NULL, "%s",
		    err.text);
	}
	keys_free(&k);
	fx_fini(&f);
}
#endif

/* ---------------------------------------------------------------- ring */

/* Full verification against a key ring, on a read-only connection. */
static int
verify_ring(struct fx *f, const struct audit_key *const *keys, size_t n,
    struct audit_report *rep, struct nara_err *err)
{
	struct audit_hasher *h = audit_hasher_new();
	struct store *ro = fx_open(f, true);
	int rc = audit_verify_ring(ro, h, keys, n, rep, err);

	store_free(&ro);
	audit_hasher_free(&h);
	return rc;
}

/* The signing key rotated: the old key signed the head at seq 9, two
 * more rows came, the new key signed the head at seq 11. */
static void
rotated_store(struct fx *f, struct keys *old, struct keys *new)
{
	struct nara_err err = { 0 };

	signed_store(f, old);
	keys_make_named(f, new, "sign-2");
	f->st = fx_open(f, false);
	fx_accept(f, 20, FX_BUP);
	fx_accept(f, 21, FX_BUP);
	cr_assert_eq(store_checkpoint(f->st, new->sign, FX_NOW + 40, &err), 0,
	    "%s", err.text);
	store_free(&f->st);
	cr_assert_eq(fx_sql_int(f, "SELECT max(seq) FROM audit"), 11);
}

/* The reason text verify gives for a checkpoint by a key not in the ring. */
static void
foreign_text(const struct audit_key *k, char *buf, size_t len)
{
	snprintf(buf, len, "signed by key %s, not among the --pubkey keys",
	    audit_key_fingerprint(k));
}

Test(audit_sign, ring_verifies_a_log_signed_by_two_keys_in_turn)
{
	struct fx f;
	struct keys a, b;
	struct audit_report rep;
	struct nara_err err = { 0 };

	rotated_store(&f, &a, &b);
	const struct audit_key *ring[] = { a.check, b.check };
	const struct audit_key *reversed[] = { b.check, a.check };
	cr_assert_eq(verify_ring(&f, ring, 2, &rep, &err), 0, "%s", err.text);
	cr_expect_eq(rep.rows, 11);
	cr_expect_eq(rep.checkpoints, 2);
	cr_expect_eq(rep.signed_seq, 11);
	cr_expect_eq(rep.n_keys, 2);
	cr_assert_eq(rep.n_signers, 2);
	cr_expect_str_eq(rep.signers[0].fingerprint,
	    audit_key_fingerprint(a.check));
	cr_expect_eq(rep.signers[0].checkpoints, 1);
	cr_expect_str_eq(rep.signers[1].fingerprint,
	    audit_key_fingerprint(b.check));
	cr_expect_eq(rep.signers[1].checkpoints, 1);
	/* the order of the ring does not matter */
	cr_assert_eq(verify_ring(&f, reversed, 2, &rep, &err), 0, "%s",
	    err.text);
	keys_free(&a);
	keys_free(&b);
	fx_fini(&f);
}

Test(audit_sign, ring_with_only_one_key_names_the_other_fingerprint)
{
	struct fx f;
	struct keys a, b;
	struct audit_report rep;
	struct nara_err err = { 0 };
	char want[200];

	rotated_store(&f, &a, &b);
	/* only the new key: the old key's checkpoint at seq 9 is named */
	cr_assert_eq(verify_ring(&f, (const struct audit_key *const[]){
	    b.check }, 1, &rep, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect_eq(rep.bad_seq, 9);
	foreign_text(a.check, want, sizeof(want));
	cr_expect(strstr(err.text, want) != NULL, "%s", err.text);
	/* only the old key: the new key's checkpoint at seq 11 is named */
	cr_assert_eq(verify_full(&f, a.check, &rep, &err), -1);
	cr_expect_eq(rep.bad_seq, 11);
	foreign_text(b.check, want, sizeof(want));
	cr_expect(strstr(err.text, want) != NULL, "%s", err.text);
	keys_free(&a);
	keys_free(&b);
	fx_fini(&f);
}

/* A checkpoint made with a key of someone else's is named by its
 * fingerprint even though the rows it covers are right. */
Test(audit_sign, ring_refuses_a_checkpoint_by_an_unknown_key)
{
	struct fx f;
	struct keys a, b, intruder;
	struct audit_report rep;
	struct nara_err err = { 0 };
	struct audit_checkpoint c = { .kind = "head", .seq = 10,
	    .time_ms = (FX_NOW + 50) * 1000 };
	char want[200], hash[96], sig[160], sql[640];

	rotated_store(&f, &a, &b);
	keys_make_named(&f, &intruder, "intruder");
	fx_sql_bytes(&f, "SELECT " FX_SQL_HEX("hash") " FROM audit WHERE seq = "
	    "10", c.hash, AUDIT_HASH_LEN);
	cr_assert_eq(audit_checkpoint_sign(intruder.sign, &c, &err), 0);
	snprintf(sql, sizeof(sql), "INSERT INTO checkpoints(kind, seq, hash, "
	    "time, signature, key_fingerprint) VALUES ('%s', %lld, %s, %lld, "
	    "%s, '%s')", c.kind, (long long)c.seq, fx_sql_bytes_literal(hash,
	    sizeof(hash), c.hash, AUDIT_HASH_LEN), (long long)c.time_ms,
	    fx_sql_bytes_literal(sig, sizeof(sig), c.sig, AUDIT_SIG_LEN),
	    c.fingerprint);
	fx_sql_exec(&f, sql);
	cr_assert_eq(verify_ring(&f, (const struct audit_key *const[]){
	    a.check, b.check }, 2, &rep, &err), -1);
	cr_expect_eq(rep.bad_seq, 10);
	foreign_text(intruder.check, want, sizeof(want));
	cr_expect(strstr(err.text, want) != NULL, "%s", err.text);
	keys_free(&intruder);
	keys_free(&a);
	keys_free(&b);
	fx_fini(&f);
}

Test(audit_sign, ring_still_fails_on_a_bad_signature)
{
	struct fx f;
	struct keys a, b;
	struct audit_report rep;
	struct nara_err err = { 0 };

	rotated_store(&f, &a, &b);
	fx_sql_exec(&f, "UPDATE checkpoints SET time = time + 1 WHERE seq = 11");
	cr_assert_eq(verify_ring(&f, (const struct audit_key *const[]){
	    a.check, b.check }, 2, &rep, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect_eq(rep.bad_seq, 11);
	cr_expect(strstr(err.text, "bad signature") != NULL, "%s", err.text);
	cr_expect(strstr(err.text, audit_key_fingerprint(b.check)) != NULL,
	    "%s", err.text);
	/* a fingerprint rewritten to the other key's does not help either */
	fx_sql_exec(&f, "UPDATE checkpoints SET time = time - 1 WHERE seq = 11;"
	    "UPDATE checkpoints SET key_fingerprint = (SELECT key_fingerprint "
	    "FROM checkpoints WHERE seq = 9) WHERE seq = 11");
	cr_assert_eq(verify_ring(&f, (const struct audit_key *const[]){
	    a.check, b.check }, 2, &rep, &err), -1);
	cr_expect_eq(rep.bad_seq, 11);
	cr_expect(strstr(err.text, "bad signature") != NULL, "%s", err.text);
	keys_free(&a);
	keys_free(&b);
	fx_fini(&f);
}

/* A prune after the rotation signs its cut with the new key; the old key
 * alone then fails on the cut. */
Test(audit_sign, ring_checks_the_retention_cut_by_its_key)
{
	struct fx f;
	struct keys a, b;
	struct audit_report rep;
	struct nara_err err = { 0 };
	int64_t cut, deleted;
	char want[200];

	rotated_store(&f, &a, &b);
	f.st = fx_open(&f, false);
	/* at most five rows, so the old key's head at seq 9 stays; message
	 * 3 is still queued, so the cut stops before its received row */
	cr_assert_eq(store_audit_prune(f.st, b.sign, FX_NOW + 1, 5, FX_NOW + 60,
	    NULL, &cut, &deleted, &err), 0, "%s", err.text);
	store_free(&f.st);
	cr_assert_eq(cut, 2);
	cr_assert_eq(verify_ring(&f, (const struct audit_key *const[]){
	    a.check, b.check }, 2, &rep, &err), 0, "%s", err.text);
	cr_expect_eq(rep.cut_seq, cut);
	cr_assert_eq(rep.n_signers, 2);
	/* the cut is read first: the new key, with its cut and its head */
	cr_expect_str_eq(rep.signers[0].fingerprint,
	    audit_key_fingerprint(b.check));
	cr_expect_eq(rep.signers[0].checkpoints, 2);
	cr_expect_eq(rep.signers[1].checkpoints, 1);
	cr_assert_eq(verify_full(&f, a.check, &rep, &err), -1);
	cr_expect_eq(rep.bad_seq, cut + 1);
	foreign_text(b.check, want, sizeof(want));
	cr_expect(strstr(err.text, "retention cut") != NULL, "%s", err.text);
	cr_expect(strstr(err.text, want) != NULL, "%s", err.text);
	keys_free(&a);
	keys_free(&b);
	fx_fini(&f);
}

/* Without keys the signers are still listed (unchecked); past
 * AUDIT_RING_MAX distinct keys the rest is only counted. */
Test(audit_sign, ring_without_keys_lists_and_caps_the_signers)
{
	struct fx f;
	struct keys a, b;
	struct audit_report rep;
	struct nara_err err = { 0 };

	rotated_store(&f, &a, &b);
	fx_sql_exec(&f, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	    "FROM n WHERE i < 20) INSERT INTO checkpoints(kind, seq, hash, time, "
	    "signature, key_fingerprint) SELECT 'head', 10, (SELECT hash FROM "
	    "audit WHERE seq = 10), 0, " FX_SQL_ZERO_SIG ", " FX_SQL_HEX64("i")
	    " FROM n");
	cr_assert_eq(verify_ring(&f, NULL, 0, &rep, &err), 0, "%s", err.text);
	cr_expect_not(rep.signatures_checked);
	cr_expect_eq(rep.checkpoints, 22);
	cr_expect_eq(rep.n_signers, AUDIT_RING_MAX);
	cr_expect_eq(rep.other_signed, 22 - AUDIT_RING_MAX);
	cr_expect_str_eq(rep.signers[0].fingerprint,
	    audit_key_fingerprint(a.check));
	keys_free(&a);
	keys_free(&b);
	fx_fini(&f);
}

Test(audit_sign, ring_larger_than_the_maximum_is_refused)
{
	struct fx f;
	struct keys a;
	struct audit_report rep;
	struct nara_err err = { 0 };
	const struct audit_key *ring[AUDIT_RING_MAX + 1];

	signed_store(&f, &a);
	for (size_t i = 0; i <= AUDIT_RING_MAX; i++)
		ring[i] = a.check;
	cr_assert_eq(verify_ring(&f, ring, AUDIT_RING_MAX, &rep, &err), 0, "%s",
	    err.text);
	cr_assert_eq(verify_ring(&f, ring, AUDIT_RING_MAX + 1, &rep, &err), -1);
	cr_expect_eq(err.code, NR_USAGE);
	cr_expect_eq(rep.bad_seq, 0);
	keys_free(&a);
	fx_fini(&f);
}
