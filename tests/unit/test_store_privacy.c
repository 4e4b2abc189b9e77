/*
 * test_store_privacy.c — what the store keeps about a child: no personal
 * number (in any of its written forms) and no clinical content in any audit
 * column, no payload bytes left in the file or its WAL after an ack (and
 * the log's word when a reader holds the WAL's wipe off), and the keyed
 * pseudonym with the checks on its key file.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>

#include "store_common.h"
#include "store_fixture.h"
#include "store_int.h"
#include "harness.h"

#define BUP FX_BUP

/* ---------------------------------------------------------------- privacy */

/* Every audit column, blobs as hex, concatenated per row. */
#ifdef FX_POSTGRESQL
#define ALL_COLUMNS "coalesce(event,'')||coalesce(node,'')||" \
	"coalesce(message_id,'')||coalesce(type,'')||coalesce(sender,'')||" \
	"coalesce(recipient,'')||coalesce(author,'')||coalesce(legal_basis,'')||" \
	"coalesce(payload_sha256,'')||coalesce(payload_size::text,'')||" \
	"coalesce(subject,'')||coalesce(code,'')||coalesce(detail,'')||" \
	"encode(prev_hash,'hex')||encode(hash,'hex')||time||seq"
#define INSTR "strpos"
#define PAYLOAD_HAS(s) "position('" s "'::bytea in payload) > 0"
#else
#define INSTR "instr"
/* the content is kept apart from the row (schema version 3) */
#define PAYLOAD_HAS(s) "instr(CAST((SELECT p.payload FROM payloads p WHERE " \
	"p.seq = messages.seq) AS TEXT), '" s "') > 0"
#define ALL_COLUMNS "coalesce(event,'')||coalesce(node,'')||" \
	"coalesce(message_id,'')||coalesce(type,'')||coalesce(sender,'')||" \
	"coalesce(recipient,'')||coalesce(author,'')||coalesce(legal_basis,'')||" \
	"coalesce(payload_sha256,'')||coalesce(payload_size,'')||" \
	"coalesce(subject,'')||coalesce(code,'')||coalesce(detail,'')||" \
	"hex(prev_hash)||hex(hash)||time||seq"
#endif

static long long
audit_rows_containing(const struct fx *f, const char *needle)
{
	char sql[1024];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE " INSTR "("
	    ALL_COLUMNS ", '%s') > 0", needle);
	return fx_sql_int(f, sql);
}

Test(privacy, no_personal_number_or_payload_in_any_audit_column)
{
	struct fx f;
	struct fx_msg x;
	bool was_new;

	fx_init(&f);
	fx_populate(&f);
	fx_accept(&f, 9, BUP);
	fx_msg(&x, 9, BUP);
	cr_assert_eq(store_audit_rejected(f.st, &x.m, "kommun-1480", "NR013",
	    "personal number " FX_PN " has a bad check digit", FX_NOW), 0);
	cr_assert_eq(store_audit_rejected(f.st, &x.m, "kommun-1480", "NR013",
	    "written 19121212-1212, 121212-1212, 1212121212 and 121212+1212",
	    FX_NOW), 0);
	cr_assert_eq(store_dead_letter(f.st, x.id, "NR052", "no patient "
	    "201212121212 known; child 19121212-1212", false, BUP, FX_NOW), 0);
	fx_deliver(&f, 3, BUP);
	cr_assert_eq(store_acked(f.st, "00000000-0000-4000-8000-000000000003",
	    BUP, FX_NOW, &was_new), 0);
	cr_assert_eq(store_audit_event(f.st, "auth_failed", NULL, "cert for "
	    "19121212-1212 refused", FX_NOW), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 17);
	cr_expect_eq(audit_rows_containing(&f, FX_PN), 0);
	cr_expect_eq(audit_rows_containing(&f, "1212121212"), 0);
	cr_expect_eq(audit_rows_containing(&f, "121212-1212"), 0);
	cr_expect_eq(audit_rows_containing(&f, "121212+1212"), 0);
	cr_expect_eq(audit_rows_containing(&f, "201212121212"), 0);
	cr_expect_eq(audit_rows_containing(&f, "payload 1"), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE detail "
	    "LIKE '%[personal number]%'"), 4);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    INSTR "(message_id||conversation_id||sender||recipient||author||"
	    "subject_pseudonym, '" FX_PN "') > 0"), 0);
	fx_fini(&f);
}

Test(privacy, clinical_marker_never_reaches_the_audit)
{
	struct fx f;

	fx_init(&f);
	fx_populate(&f);
	cr_expect_eq(audit_rows_containing(&f, FX_MARKER), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    PAYLOAD_HAS(FX_MARKER)), 2);
	fx_fini(&f);
}

#ifndef FX_POSTGRESQL
/* Whether the file at path (missing = empty) holds needle. */
static bool
file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	char *data;
	size_t len;
	bool has;

	if (fp == NULL)
		return false;
	data = malloc(16 << 20);
	cr_assert_not_null(data);
	len = fread(data, 1, 16 << 20, fp);
	fclose(fp);
	has = memmem(data, len, needle, strlen(needle)) != NULL;
	free(data);
	return has;
}

/* The whole file (after the WAL is checkpointed away) has no trace of
 * an acked message's payload, small (in the row) or large (overflow pages).
 * SQLite only: PostgreSQL keeps a purged row's old version in its files
 * until vacuum reuses the space (docs/OPERATIONS.md). */
Test(privacy, purged_payload_leaves_no_bytes_in_the_file)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	static char big[40000];
	bool was_new;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	for (size_t i = 0; i + 1 < sizeof(big); i++)
		big[i] = FX_MARKER[i % (sizeof(FX_MARKER) - 1)];
	fx_msg(&x, 2, BUP);
	x.m.payload = (const uint8_t *)big;
	x.m.payload_len = strlen(big);
	SHA256(x.m.payload, x.m.payload_len, x.m.payload_sha256);
	cr_assert_eq(store_accept(f.st, &x.m, FX_NOW, &res, &err), 0);
	for (int i = 1; i <= 2; i++) {
		fx_deliver(&f, i, BUP);
		cr_assert_eq(store_acked(f.st, fx_msg(&x, i, BUP)->message_id, BUP,
		    FX_NOW, &was_new), 0);
	}
	store_free(&f.st);
	cr_expect_not(file_has(f.path, FX_MARKER), "clinical content left in "
	    "the store file");
	cr_expect(file_has(f.path, "bup-ostra"));
	fx_fini(&f);
}

/* The writer goes on committing one message per batch while a reader
 * holds its snapshot: each call commits one batch, done once the wipe
 * was put off twice; slowest is the longest batch. */
struct writes {
	struct fx *f;
	int n;                       /* the next message */
	int64_t slowest;             /* ms */
	uint64_t put_off;            /* done when the count reaches it */
};

static bool
batch_until_put_off(void *arg)
{
	struct writes *w = arg;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	int64_t t0 = harness_ms_now();
	uint64_t done, off;

	cr_assert_eq(store_begin(w->f->st, &err), 0, "%s", err.text);
	cr_assert_eq(store_accept(w->f->st, fx_msg(&x, w->n++, BUP), FX_NOW,
	    &res, &err), 0, "%s", err.text);
	cr_assert_eq(store_commit(w->f->st, &err), 0, "%s", err.text);
	if (harness_ms_now() - t0 > w->slowest)
		w->slowest = harness_ms_now() - t0;
	store_sqlite_wipe_counts(&done, &off);
	return off >= w->put_off;
}

/* A wipe was done since the count in *arg. */
static bool
wiped_since(void *arg)
{
	uint64_t done, off;

	store_sqlite_wipe_counts(&done, &off);
	return done > *(const uint64_t *)arg;
}

/*
 * While the store stays open, an acked message's content leaves the WAL
 * too (the wipe, store_sqlite_wal.c, some seconds after the purge). A
 * reader on an older snapshot (narad's count of the queues, nara-audit, a
 * backup) holds the wipe off while it reads, but never the writer: every
 * batch meanwhile commits at once, not after the wipe's busy timeout
 * (STORE_BUSY_TIMEOUT_MS, 5 s). Once the reader is gone the wipe happens.
 */
Test(privacy, purged_payload_leaves_the_wal_and_readers_never_hold_the_writer,
    .timeout = 120)
{
	static const char gone[] = "payload 1 " FX_MARKER;
	struct fx f;
	struct fx_msg x;
	struct writes w = { .f = &f, .n = 2 };
	char wal[600];
	sqlite3 *rd;
	uint64_t done0, off0;
	bool was_new;

	fx_init(&f);
	snprintf(wal, sizeof(wal), "%s-wal", f.path);
	store_sqlite_wipe_counts(&done0, &off0);
	fx_accept(&f, 1, BUP);
	fx_deliver(&f, 1, BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), 0);
	cr_assert(file_has(wal, gone), "the accept's frames are in the WAL");

	/* a reader begins, and the writer commits after it */
	cr_assert_eq(sqlite3_open_v2(f.path, &rd, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_exec(rd, "BEGIN; SELECT count(*) FROM messages;",
	    NULL, NULL, NULL), SQLITE_OK);
	/* batches until the wipe was put off twice for it */
	w.put_off = off0 + 2;
	cr_assert(harness_wait(batch_until_put_off, &w, 60000), "the wipe was "
	    "never tried");
	cr_expect_lt(w.slowest, STORE_BUSY_TIMEOUT_MS / 2, "a batch waited "
	    "%lld ms for the wipe", (long long)w.slowest);
	cr_expect(file_has(wal, gone), "wiped with a reader in the way?");

	/* the reader ends: the next try wipes */
	cr_assert_eq(sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(rd);
	cr_assert(harness_wait(wiped_since, &done0, 30000), "no wipe after the "
	    "reader");
	cr_expect_not(file_has(wal, gone), "acked content left in the WAL");
	cr_expect_not(file_has(f.path, gone), "acked content in the file");
	cr_expect(file_has(f.path, "payload 2 " FX_MARKER),
	    "a queued message's content is in the file");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), w.n - 1);
	fx_fini(&f);
}

/* The log (this test's standard error, kept in a file) says needle. */
struct log_file {
	const char *path;
	const char *needle;
};

static bool
log_says(void *arg)
{
	const struct log_file *l = arg;

	fflush(stderr);
	return file_has(l->path, l->needle);
}

/*
 * A wipe a reader puts off for a minute is logged once as a warning, with
 * what is in the way, and its end after the reader is gone as well: an
 * operator whose backup or export holds purged content in the WAL sees
 * it in the log, and sees that it ended.
 */
Test(privacy, wipe_put_off_for_a_minute_is_logged_and_so_is_its_end,
    .timeout = 180)
{
	struct fx f;
	struct fx_msg x;
	char log[600];
	struct log_file warned = { log, "purged content stays in the WAL for "
	    "now: readers have been in the way for 60 s" },
	    ended = { log, "purged content wiped out of the WAL after " };
	sqlite3 *rd;
	uint64_t done0, off0;
	bool was_new;
	int fd, saved;

	fx_init(&f);
	snprintf(log, sizeof(log), "%s.log", f.path);
	cr_assert_geq(fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600), 0);
	fflush(stderr);
	cr_assert_geq(saved = dup(2), 0);
	cr_assert_eq(dup2(fd, 2), 2);
	close(fd);
	store_sqlite_wipe_counts(&done0, &off0);
	fx_accept(&f, 1, BUP);
	fx_deliver(&f, 1, BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), 0);
	cr_assert_eq(sqlite3_open_v2(f.path, &rd, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_exec(rd, "BEGIN; SELECT count(*) FROM messages;",
	    NULL, NULL, NULL), SQLITE_OK);
	/* the wipe is due 10 s after the purge, then put off each second */
	cr_assert(harness_wait(log_says, &warned, 120000), "no warning after "
	    "a minute of a reader in the way");
	cr_expect(!log_says(&ended), "the end logged while the reader stays");
	cr_assert_eq(sqlite3_exec(rd, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(rd);
	cr_assert(harness_wait(log_says, &ended, 30000), "the wipe's end after "
	    "the warning was not logged");
	cr_expect(harness_wait(wiped_since, &done0, 1000));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fx_fini(&f);
}
#endif

Test(privacy, ordinary_numbers_are_left_alone)
{
	struct fx f;

	fx_init(&f);
	cr_assert_eq(store_audit_event(f.st, "auth_failed", "SE2321000131-"
	    "E000000000101", "serial 000000000101, 20261118 phone 123456789012 "
	    "id 19121212-1212-4121-8121-191212121212 unit SE191212121212",
	    FX_NOW), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT detail = 'serial 000000000101, "
	    "20261118 phone 123456789012 id 19121212-1212-4121-8121-"
	    "191212121212 unit SE191212121212' FROM audit"), 1);
	fx_fini(&f);
}

/* A refused message with the child's number in the wrong field and an
 * oversized address: the audit keeps neither. */
Test(privacy, refused_fields_are_cut_and_scrubbed)
{
	struct fx f;
	static char huge[5000];
	struct store_msg m = { .message_id = "x", .author = FX_PN,
	    .sender = huge, .personal_number = FX_PN };

	memset(huge, 'k', sizeof(huge) - 1);
	fx_init(&f);
	cr_assert_eq(store_audit_rejected(f.st, &m, "kommun-1480", "NR012",
	    "bad address", FX_NOW), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE author = "
	    "'[personal number]' AND length(sender) = 255"), 1);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(privacy, rejected_row_with_little_known)
{
	struct fx f;
	struct store_msg m = { .message_id = "not-a-uuid",
	    .personal_number = "1234567" };

	fx_init(&f);
	cr_assert_eq(store_audit_rejected(f.st, &m, "kommun-1480", "NR013",
	    "bad personal number 1234567", FX_NOW), 0);
	cr_assert_eq(store_audit_rejected(f.st, NULL, NULL, "NR001", "malformed",
	    FX_NOW), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'rejected' AND message_id = 'not-a-uuid' AND type IS NULL AND "
	    "legal_basis IS NULL AND payload_sha256 IS NULL AND payload_size IS "
	    "NULL AND subject IS NULL AND code = 'NR013' AND detail = "
	    "'bad personal number [personal number]'"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE seq = 2 "
	    "AND node IS NULL AND message_id IS NULL AND subject IS NULL AND "
	    "code = 'NR001'"), 1);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* The refused rows a search by the child's pseudonym finds: their codes
 * in seq order, comma-separated. */
static int
collect_refusal(void *arg, const struct audit_row *r, const uint8_t *prev,
    const uint8_t *hash)
{
	char *codes = arg;
	size_t n = strlen(codes);

	if (strcmp(r->event, "rejected") == 0)
		snprintf(codes + n, 256 - n, "%s%s", n ? "," : "",
		    r->code ? r->code : "-");
	return 0;
}

/* A refused message's row names the child as an accepted one does: by
 * the pseudonym of the number in its 12-digit form, however the sender
 * wrote it, so the patient's extract and `subject` (which search by that
 * pseudonym) list the refusal. A number that is none (a wrong check
 * digit, no such date, another shape) names no one: no pseudonym, never
 * an HMAC of the sender's text. (The row carried the HMAC of the raw
 * text: a spelling such as 19121212-1212 was missed by the child's
 * extract, and garbage got a pseudonym.) */
Test(privacy, refused_number_is_pseudonymised_in_its_12_digit_form)
{
	static const struct { const char *pn, *code; bool named; } sent[] = {
		{ FX_PN, "NR032", true },              /* valid, no route */
		{ "19121212-1212", "NR013", true },    /* another spelling */
		{ "121212+1212", "NR013", true },      /* 100 or more: 1912 */
		{ " 191212121212\n", "NR013", true },  /* blanks around */
		{ "191212121213", "NR013", false },    /* wrong check digit */
		{ "191213321212", "NR013", false },    /* no such date */
		{ "1212121212X", "NR013", false },     /* another shape */
		{ "<script>", "NR013", false },
	};
	struct store_audit_filter q = { .select = STORE_AUDIT_SUBJECT };
	struct nara_err err = { 0 };
	char hex[65], codes[256] = "", raw[65];
	struct fx f;

	fx_init(&f);
	for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
		struct store_msg m = { .message_id = "refused",
		    .personal_number = sent[i].pn };
		cr_assert_eq(store_audit_rejected(f.st, &m, "kommun-1480",
		    sent[i].code, "refused", FX_NOW), 0);
	}
	cr_assert_eq(store_pseudonym(f.st, FX_PN, hex), 0);
	q.subject = hex;
	cr_expect_eq(store_audit_rows(f.st, &q, collect_refusal, codes, &err),
	    4, "%s", err.text);
	cr_expect_str_eq(codes, "NR032,NR013,NR013,NR013");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'rejected' AND subject IS NULL"), 4, "a pseudonym of no number");
	/* the HMAC of what was sent is on no row */
	for (size_t i = 1; i < sizeof(sent) / sizeof(sent[0]); i++) {
		char sql[200];
		cr_assert_eq(store_pseudonym(f.st, sent[i].pn, raw), 0);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE "
		    "subject = '%s'", raw);
		cr_expect_eq(fx_sql_int(&f, sql), 0, "HMAC of \"%s\" stored",
		    sent[i].pn);
	}
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(privacy, long_detail_is_cut_on_a_character_boundary)
{
	struct fx f;
	char detail[3000];
	size_t n = 0;

	fx_init(&f);
	while (n + 2 < sizeof(detail)) {
		detail[n++] = (char)0xc3;      /* å */
		detail[n++] = (char)0xa5;
	}
	detail[n] = '\0';
	cr_assert_eq(store_audit_event(f.st, "config_refused", NULL, detail,
	    FX_NOW), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT " FX_SQL_OCTETS("detail") " FROM "
	    "audit"), 1022);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- keys */

Test(keys, pseudonym_is_hmac_sha256_hex)
{
	struct fx f;
	char hex[65], want[65];
	uint8_t mac[32];
	unsigned int len = 0;

	fx_init(&f);
	cr_assert_eq(store_pseudonym(f.st, FX_PN, hex), 0);
	HMAC(EVP_sha256(), f.key, sizeof(f.key), (const uint8_t *)FX_PN,
	    strlen(FX_PN), mac, &len);
	cr_assert_eq(len, 32);
	for (int i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", mac[i]);
	cr_expect_str_eq(hex, want);
	cr_expect_eq(fx_sql_int(&f, "SELECT 1"), 1);
	fx_fini(&f);
}

Test(keys, pseudonym_is_deterministic_and_key_dependent)
{
	struct fx f;
	uint8_t other[sizeof(f.key)];
	char a[65], b[65], c[65], d[65];

	fx_init(&f);
	memcpy(other, f.key, sizeof(other));
	other[0] ^= 1;
	cr_assert_eq(store_pseudonym(f.st, FX_PN, a), 0);
	cr_assert_eq(store_pseudonym(f.st, FX_PN, b), 0);
	cr_assert_eq(store_hmac_hex(other, sizeof(other), FX_PN, c), 0);
	cr_assert_eq(store_pseudonym(f.st, "191212121213", d), 0);
	cr_expect_str_eq(a, b);
	cr_expect_str_neq(a, c);
	cr_expect_str_neq(a, d);
	cr_expect_eq(strlen(a), 64);
	fx_fini(&f);
}

/* The keyed context gives what the one-shot HMAC gives, for keys shorter
 * than, as long as and longer than SHA-256's block (hashed first), and for
 * numbers one after another on the same context, any length: no state of
 * one number carries into the next. */
Test(keys, keyed_context_gives_the_one_shot_hmac)
{
	static const size_t key_lens[] = { 1, 16, 32, 64, 65, 200 };
	static const char *const numbers[] = { "", "1", FX_PN, "191212121213",
	    "19121212121219121212121219121212121219121212121219121212121212",
	    FX_PN };
	uint8_t key[200];
	char got[65], want[65];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 37 + 11);
	for (size_t k = 0; k < sizeof(key_lens) / sizeof(key_lens[0]); k++) {
		struct store_key sk;

		cr_assert_eq(store_key_set(&sk, key, key_lens[k], NULL), 0);
		for (int round = 0; round < 2; round++)
			for (size_t n = 0; n < sizeof(numbers) /
			    sizeof(numbers[0]); n++) {
				cr_assert_eq(store_key_pseudonym(&sk, numbers[n],
				    got), 0);
				cr_assert_eq(store_hmac_hex(key, key_lens[k],
				    numbers[n], want), 0);
				cr_expect_str_eq(got, want, "key of %zu bytes, "
				    "number \"%s\"", key_lens[k], numbers[n]);
			}
		store_key_free(&sk);
		cr_expect_null(sk.bytes);
		cr_expect_null(sk.mac);
		cr_expect_eq(store_key_pseudonym(&sk, FX_PN, got), -1);
		cr_expect_str_eq(got, "");
	}
	{
		struct store_key none;

		cr_assert_eq(store_key_set(&none, NULL, 0, NULL), 0);
		cr_expect_eq(store_key_pseudonym(&none, FX_PN, got), -1);
		store_key_free(&none);
	}
}

/* Without an OpenSSL provider that has HMAC (only the null provider
 * loaded, so the default one is never loaded on demand), a key cannot be
 * taken: a coded refusal naming the key, and nothing kept of it. */
Test(keys, no_hmac_no_key)
{
	OSSL_PROVIDER *none = OSSL_PROVIDER_load(NULL, "null");
	uint8_t key[32] = { 1, 2, 3 };
	struct nara_err err = { 0 };
	struct store_key k;

	cr_assert_not_null(none);
	cr_assert_eq(store_key_set(&k, key, sizeof(key), &err), -1);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect_str_eq(err.path, "pseudonym_key");
	cr_expect(strstr(err.text, "HMAC-SHA-256") != NULL, "%s", err.text);
	cr_expect_null(k.bytes);
	cr_expect_null(k.mac);
	OSSL_PROVIDER_unload(none);
}

/* A store is opened only with its own pseudonym key, writing or reading:
 * with another one no child's earlier rows would be found (an extract
 * empty, exit 0) and new rows would carry pseudonyms nothing links to
 * them. (Any key was taken.) A store opened without a key checks
 * nothing. */
Test(keys, store_opened_with_another_key_is_refused)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_options opt = { .sync_full = true, .backend = FX_BACKEND,
	    .head_file = true };
	struct store *st;

	fx_init(&f);
	store_free(&f.st);
	f.key[0] ^= 1;
	opt.pseudonym_key = f.key;
	opt.pseudonym_key_len = sizeof(f.key);
	for (int ro = 0; ro <= 1; ro++) {
		opt.read_only = ro;
		st = store_open(f.path, &opt, &err);
		cr_expect_null(st, "opened with another key (read_only %d)", ro);
		store_free(&st);
		cr_expect_eq(err.code, NR_CONFIG);
		cr_expect(strstr(err.text, "another pseudonym key") != NULL, "%s",
		    err.text);
	}
	opt.pseudonym_key = NULL;
	opt.pseudonym_key_len = 0;
	cr_assert_not_null(st = store_open(f.path, &opt, &err), "%s", err.text);
	store_free(&st);
	f.key[0] ^= 1;
	f.st = fx_open(&f, false);
	fx_fini(&f);
}

Test(keys, message_naming_a_child_needs_a_key)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_options opt = { .sync_full = true, .backend = FX_BACKEND };
	struct fx_msg x;
	enum store_accept_result res;
	struct store *st;
	char hex[65];

	fx_init(&f);
	store_free(&f.st);
	st = store_open(f.path, &opt, &err);
	cr_assert_not_null(st);
	cr_expect_eq(store_pseudonym(st, FX_PN, hex), -1);
	cr_expect_eq(store_accept(st, fx_msg(&x, 1, BUP), FX_NOW, &res, &err),
	    -1);
	cr_expect_eq(err.code, NR_CONFIG);
	x.m.personal_number = NULL;
	cr_expect_eq(store_accept(st, &x.m, FX_NOW, &res, &err), 0);
	cr_expect_eq(res, STORE_NEW);
	store_free(&st);
	fx_fini(&f);
}

static void
write_key(const char *path, size_t len, mode_t mode)
{
	uint8_t buf[64];
	int fd;

	memset(buf, 0x5a, sizeof(buf));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

Test(keys, key_file_is_read_whole)
{
	struct fx f;
	struct nara_err err = { 0 };
	char path[160];
	uint8_t *key = NULL;
	size_t len = 0;

	fx_init(&f);
	snprintf(path, sizeof(path), "%s/pseudonym.key", f.dir);
	write_key(path, 48, 0600);
	cr_assert_eq(store_read_key_file(path, &key, &len, &err), 0, "%s",
	    err.text);
	cr_expect_eq(len, 48);
	cr_expect_eq(key[0], 0x5a);
	cr_expect_eq(key[47], 0x5a);
	free(key);
	write_key(path, 32, 0400);
	cr_assert_eq(store_read_key_file(path, &key, &len, &err), 0);
	cr_expect_eq(len, 32);
	free(key);
	fx_fini(&f);
}

Test(keys, key_file_too_short_is_refused)
{
	struct fx f;
	struct nara_err err = { 0 };
	char path[160], want[512];
	uint8_t *key = (uint8_t *)"x";
	size_t len = 7;

	fx_init(&f);
	snprintf(path, sizeof(path), "%s/short.key", f.dir);
	write_key(path, 16, 0600);
	cr_assert_eq(store_read_key_file(path, &key, &len, &err), -1);
	cr_expect_null(key);
	cr_expect_eq(len, 0);
	cr_expect_eq(err.code, NR_CONFIG);
	snprintf(want, sizeof(want), "pseudonym key %s is 16 bytes; at least 32 "
	    "needed (make one with: openssl rand -out FILE 32)", path);
	cr_expect_str_eq(err.text, want);
	fx_fini(&f);
}

Test(keys, key_file_readable_by_others_is_refused)
{
	struct fx f;
	struct nara_err err = { 0 };
	char path[160], want[512];
	uint8_t *key = NULL;
	size_t len = 0;

	fx_init(&f);
	snprintf(path, sizeof(path), "%s/open.key", f.dir);
	write_key(path, 32, 0644);
	cr_assert_eq(store_read_key_file(path, &key, &len, &err), -1);
	cr_expect_eq(err.code, NR_CONFIG);
	cr_expect_str_eq(err.path, "pseudonym_key");
	snprintf(want, sizeof(want), "pseudonym key %s has mode 0644 and may be "
	    "read by group or others; run chmod 600 %s", path, path);
	cr_expect_str_eq(err.text, want);
	write_key(path, 32, 0640);
	cr_expect_eq(store_read_key_file(path, &key, &len, &err), -1);
	cr_expect(strstr(err.text, "chmod 600") != NULL);
	cr_expect_null(key);
	fx_fini(&f);
}

Test(keys, key_file_missing_is_a_config_error)
{
	struct nara_err err = { 0 };
	uint8_t *key = NULL;
	size_t len = 0;

	cr_assert_eq(store_read_key_file("/nonexistent/pseudonym.key", &key,
	    &len, &err), -1);
	cr_expect_eq(err.code, NR_CONFIG);
	cr_expect_str_eq(err.text, "cannot open pseudonym key "
	    "/nonexistent/pseudonym.key: No such file or directory");
}
