/*
 * store_fixture.h — helpers shared by test_store.c and test_audit.c: a
 * temporary directory with a store in it, a filled-in message, and direct
 * SQL on the store to look at (or tamper with) what the store wrote.
 *
 * One suite, two backends: a test file compiled with FX_POSTGRESQL defined
 * (test_store_pg.c includes test_store.c so) runs the same test bodies
 * against the PostgreSQL backend. The runner then starts one real server
 * (pgserver.h) before the tests and stops it after them; each test gets a
 * database of its own on it, whose conninfo is f->path. FX_SQL_* are the
 * few statements whose SQL differs between the two.
 */
#ifndef NARA_TEST_STORE_FIXTURE_H
#define NARA_TEST_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <jansson.h>
#include <sqlite3.h>

#include "nara.pb-c.h"
#include "pgserver.h"
#include "store.h"

#ifdef FX_POSTGRESQL
#define FX_BACKEND "postgresql"
#define FX_SQL_SIZE "SELECT pg_database_size(current_database())"
#define FX_SQL_AGG "string_agg"
#define FX_SQL_OCTETS(col) "octet_length(" col ")"
#define FX_SQL_ZERO_HASH "decode(repeat('00', 32), 'hex')"
#define FX_SQL_ZERO_SIG "decode(repeat('00', 64), 'hex')"
#define FX_SQL_SET_HEAD_SEQ(n) "UPDATE head SET seq = " n
#define FX_SQL_PAYLOAD_KEPT "payload IS NOT NULL"
#define FX_SQL_HEX(col) "encode(" col ", 'hex')"
#define FX_SQL_BYTES_OPEN "decode('"    /* hex digits between, as bytes */
#define FX_SQL_BYTES_CLOSE "', 'hex')"
#define FX_SQL_HEX64(col) "lpad(to_hex(" col "), 64, '0')"
#else
#define FX_BACKEND "sqlite"
#define FX_SQL_SIZE "SELECT page_count * page_size FROM pragma_page_count, " \
	"pragma_page_size"
#define FX_SQL_AGG "group_concat"
#define FX_SQL_OCTETS(col) "length(CAST(" col " AS BLOB))"
#define FX_SQL_ZERO_HASH "zeroblob(32)"
#define FX_SQL_ZERO_SIG "zeroblob(64)"
#define FX_SQL_SET_HEAD_SEQ(n) "UPDATE meta SET value = " n " WHERE key = " \
	"'audit_head_seq'"
/* a message's content is still stored (apart from its row since schema
 * version 3) */
#define FX_SQL_PAYLOAD_KEPT "(payload IS NOT NULL OR EXISTS (SELECT 1 " \
	"FROM payloads p WHERE p.seq = messages.seq))"
#define FX_SQL_HEX(col) "lower(hex(" col "))"
#define FX_SQL_BYTES_OPEN "X'"
#define FX_SQL_BYTES_CLOSE "'"
#define FX_SQL_HEX64(col) "printf('%064x', " col ")"
#endif

/* A valid personnummer (Luhn) used as the child in every test message. */
#define FX_PN "191212121212"
#define FX_MARKER "CLINICAL-MARKER-7f3a"
#define FX_NOW 1795000000LL
#define FX_BUP "bup-ostra"

struct fx {
	char dir[64];
	char path[128];            /* the file, or the conninfo */
	char db[64];               /* PostgreSQL: the database of this test */
	uint8_t key[32];
	struct store *st;
};

/* One test message; the strings live in the struct. */
struct fx_msg {
	struct store_msg m;
	char id[40];
	char payload[128];
};

static inline int
fx_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static inline struct store *
fx_open(struct fx *f, bool read_only)
{
	struct nara_err err = { 0 };
	struct store_options opt = { .sync_full = true, .backend = FX_BACKEND,
	    .pseudonym_key = f->key, .pseudonym_key_len = sizeof(f->key),
	    .read_only = read_only, .head_file = true };
	struct store *st = store_open(f->path, &opt, &err);

	cr_assert_not_null(st, "store_open %s: %s", f->path, err.text);
	return st;
}

#ifdef FX_POSTGRESQL
/* The server of this run, started by the runner before any test. */
static struct pgserver fx_pg;

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char port[16];

	(void)set;
	if (pgserver_start(&fx_pg, "nara") != 0)
		return;      /* fx_init then fails every test, saying why */
	snprintf(port, sizeof(port), "%d", fx_pg.port);
	setenv("NARA_TEST_PG_PORT", port, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	pgserver_cleanup(&fx_pg);
}

static inline const char *
fx_pg_port(void)
{
	const char *port = getenv("NARA_TEST_PG_PORT");

	cr_assert_not_null(port, "the PostgreSQL server did not start");
	return port;
}

/* A database of its own for this test (f->db), its conninfo in f->path. */
static inline void
fx_location(struct fx *f)
{
	static int n;
	char admin[160], sql[120];

	snprintf(f->db, sizeof(f->db), "t%d_%d", (int)getpid(), n++);
	snprintf(admin, sizeof(admin), "host=127.0.0.1 port=%s user=nara "
	    "dbname=postgres", fx_pg_port());
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
	cr_assert_eq(pgserver_sql(admin, sql, NULL), 0, "%s", sql);
	snprintf(f->path, sizeof(f->path), "host=127.0.0.1 port=%s user=nara "
	    "dbname=%s", fx_pg_port(), f->db);
}

static inline void
fx_location_drop(struct fx *f)
{
	char admin[160], sql[120];

	snprintf(admin, sizeof(admin), "host=127.0.0.1 port=%s user=nara "
	    "dbname=postgres", fx_pg_port());
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	    f->db);
	pgserver_sql(admin, sql, NULL);
}
#else
static inline void
fx_location(struct fx *f)
{
	snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
}

static inline void
fx_location_drop(struct fx *f)
{
	(void)f;
}
#endif

static inline void
fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/nara-store-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	fx_location(f);
	for (size_t i = 0; i < sizeof(f->key); i++)
		f->key[i] = (uint8_t)(i * 7 + 1);
	f->st = fx_open(f, false);
}

static inline void
fx_fini(struct fx *f)
{
#ifdef FX_POSTGRESQL
	/* SQLite given the conninfo as a path makes an empty file of that
	 * name in the working directory: that part of the test never reached
	 * PostgreSQL */
	bool stray = access(f->path, F_OK) == 0;

	if (stray)
		unlink(f->path);
	cr_expect_not(stray, "a file named after the conninfo was made in the "
	    "working directory: the conninfo was opened as a SQLite file");
#endif
	store_free(&f->st);
	fx_location_drop(f);
	nftw(f->dir, fx_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* Message n from kommun-1480 to node, naming FX_PN, payload with marker. */
static inline struct store_msg *
fx_msg(struct fx_msg *x, int n, const char *node)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->id, sizeof(x->id), "00000000-0000-4000-8000-%012d", n);
	snprintf(x->payload, sizeof(x->payload), "payload %d " FX_MARKER, n);
	x->m.message_id = x->id;
	x->m.conversation_id = "11111111-1111-4111-8111-111111111111";
	x->m.type = 1;               /* referral */
	x->m.priority = 1;
	x->m.legal_basis = 1;        /* guardian consent */
	x->m.sender = "kommun:1480:elevhalsa";
	x->m.sender_node = "kommun-1480";
	x->m.recipient = "SE2321000131-E000000000101";
	x->m.recipient_node = node;
	x->m.author = "SE2321000131-P000000000042";
	x->m.personal_number = FX_PN;
	x->m.created = FX_NOW - 60;
	x->m.payload = (const uint8_t *)x->payload;
	x->m.payload_len = strlen(x->payload);
	SHA256(x->m.payload, x->m.payload_len, x->m.payload_sha256);
	return &x->m;
}

/* Accept message n for node outside any batch; returns its seq. */
static inline int64_t
fx_accept(struct fx *f, int n, const char *node)
{
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res = STORE_CONFLICT;

	cr_assert_eq(store_accept(f->st, fx_msg(&x, n, node), FX_NOW, &res,
	    &err), 0, "accept %d: %s", n, err.text);
	cr_assert_eq(res, STORE_NEW);
	return x.m.seq;
}

/* Message n to node handed to node's live connection (attempt 1 at
 * FX_NOW, with its "delivered" row): a node's ack counts only after that.
 * Outside a batch (the look-up of its seq reads committed rows). */
static inline void fx_deliver(struct fx *f, int n, const char *node);

/* First column of the first row of sql on the store, as an integer. */
static inline long long
fx_sql_int(const struct fx *f, const char *sql)
{
#ifdef FX_POSTGRESQL
	long long v = -1;

	cr_assert_eq(pgserver_sql(f->path, sql, &v), 0, "%s", sql);
	return v;
#else
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;

	cr_assert_eq(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
#endif
}

/* The bytes of the first value of sql on the store, which selects it as
 * FX_SQL_HEX(column); exactly len of them. */
static inline void
fx_sql_bytes(const struct fx *f, const char *sql, uint8_t *out, size_t len)
{
	char hex[256] = "";
#ifdef FX_POSTGRESQL
	cr_assert_eq(pgserver_sql_text(f->path, sql, hex, sizeof(hex)), 0,
	    "%s", sql);
#else
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	cr_assert_eq(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		snprintf(hex, sizeof(hex), "%s", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
#endif
	cr_assert_eq(strlen(hex), 2 * len, "%s: \"%s\"", sql, hex);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

/* Bytes as an SQL literal of the store's blob type, into buf. */
static inline const char *
fx_sql_bytes_literal(char *buf, size_t size, const uint8_t *b, size_t len)
{
	size_t n = strlen(FX_SQL_BYTES_OPEN);

	cr_assert_lt(n + 2 * len + strlen(FX_SQL_BYTES_CLOSE), size);
	memcpy(buf, FX_SQL_BYTES_OPEN, n);
	for (size_t i = 0; i < len; i++)
		n += (size_t)snprintf(buf + n, size - n, "%02x", b[i]);
	snprintf(buf + n, size - n, "%s", FX_SQL_BYTES_CLOSE);
	return buf;
}

/* Run statements on the store (tampering, checks). */
static inline void
fx_sql_exec(const struct fx *f, const char *sql)
{
#ifdef FX_POSTGRESQL
	cr_assert_eq(pgserver_sql(f->path, sql, NULL), 0, "%s", sql);
#else
	sqlite3 *db = NULL;
	char *msg = NULL;

	cr_assert_eq(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK,
	    "%s: %s", sql, msg ? msg : "");
	sqlite3_close(db);
#endif
}

/* Every read of a table in the plan of sql on the store is bounded by what
 * waits now: messages only through the partial indexes of queued messages
 * and dead letters, audit only as a key look-up (min or max), never a scan
 * of the delivered history or the audit log (store_stats_sql.h). */
#ifdef FX_POSTGRESQL
static inline void
fx_plan_walk(json_t *node, const char *parent, const char *sql)
{
	const char *rel = json_string_value(json_object_get(node, "Relation Name"));
	const char *type = json_string_value(json_object_get(node, "Node Type"));
	const char *index = json_string_value(json_object_get(node, "Index Name"));
	json_t *kids = json_object_get(node, "Plans"), *kid;
	size_t i;

	cr_assert_not_null(type, "%s: a plan node without a type", sql);
	if (rel != NULL && strcmp(rel, "messages") == 0)
		cr_expect(index != NULL && (strcmp(index, "messages_queue") == 0 ||
		    strcmp(index, "messages_dead") == 0), "%s: %s on messages "
		    "(index %s)", sql, type, index ? index : "none");
	if (rel != NULL && strcmp(rel, "audit") == 0)
		cr_expect(index != NULL && strcmp(index, "audit_pkey") == 0 &&
		    strcmp(parent, "Limit") == 0, "%s: %s on audit (index %s, "
		    "under %s): not a look-up", sql, type, index ? index : "none",
		    parent);
	json_array_foreach(kids, i, kid)
		fx_plan_walk(kid, type, sql);
}

static inline void
fx_expect_bounded_reads(const struct fx *f, const char *sql)
{
	char q[4096], *plan = malloc(1 << 16);
	json_t *doc;
	json_error_t jerr;

	cr_assert_not_null(plan);
	/* on tables of a few rows a scan is cheapest: ask for the plan the
	 * indexes allow, as the planner picks it on a full store */
	snprintf(q, sizeof(q), "SET enable_seqscan = off; SET "
	    "enable_bitmapscan = off; EXPLAIN (FORMAT JSON) %s", sql);
	cr_assert_eq(pgserver_sql_text(f->path, q, plan, 1 << 16), 0, "%s", q);
	doc = json_loads(plan, 0, &jerr);
	cr_assert_not_null(doc, "plan of %s: %s", sql, jerr.text);
	fx_plan_walk(json_object_get(json_array_get(doc, 0), "Plan"), "", sql);
	json_decref(doc);
	free(plan);
}
#else
static inline void
fx_expect_bounded_reads(const struct fx *f, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char q[4096];
	int lines = 0;

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	cr_assert_eq(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK,
	    "%s: %s", q, sqlite3_errmsg(db));
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(s, 3);

		lines++;
		if (d == NULL)
			continue;
		if (strstr(d, " messages") != NULL)
			cr_expect(strstr(d, "messages_queue") != NULL ||
			    strstr(d, "messages_dead") != NULL, "%s: %s", sql, d);
		if (strstr(d, " audit") != NULL)
			cr_expect(strncmp(d, "SEARCH ", 7) == 0, "%s: %s", sql, d);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	cr_assert_gt(lines, 0, "no plan for %s", sql);
}
#endif

static inline void
fx_deliver(struct fx *f, int n, const char *node)
{
	struct fx_msg x;
	char sql[200];
	long long seq;

	snprintf(sql, sizeof(sql), "SELECT seq FROM messages WHERE message_id "
	    "= '%s'", fx_msg(&x, n, node)->message_id);
	cr_assert_gt(seq = fx_sql_int(f, sql), 0, "message %d not stored", n);
	cr_assert_eq(store_delivering(f->st, seq, 1, node, FX_NOW), 0);
}

static inline void
fx_verify_ok(struct fx *f)
{
	struct nara_err err = { 0 };
	int64_t bad = -1;

	cr_assert_eq(store_audit_verify(f->st, &bad, &err), 0,
	    "verify: %s (seq %lld)", err.text, (long long)bad);
	cr_expect_eq(bad, 0);
}

/* Nine audit rows of a normal day (all committed):
 *  1-3 received, 4 node_connected, 5 delivered, 6 acked (with the payload
 *  purged and the receipt queued: audit.h, AUDIT_ACKED_FOLD),
 *  7 dead_lettered, 8 receipt_queued, 9 rejected. */
static inline void
fx_populate(struct fx *f)
{
	struct fx_msg x;
	bool was_new;

	for (int i = 1; i <= 3; i++)
		fx_accept(f, i, FX_BUP);
	cr_assert_eq(store_audit_event(f->st, "node_connected", FX_BUP,
	    "nara-adapter 0.1", FX_NOW), 0);
	cr_assert_eq(store_delivering(f->st, 1, 1, FX_BUP, FX_NOW), 0);
	cr_assert_eq(store_acked(f->st, fx_msg(&x, 1, FX_BUP)->message_id,
	    FX_BUP, FX_NOW + 1, &was_new), 0);
	cr_assert_eq(store_dead_letter(f->st, fx_msg(&x, 2, FX_BUP)->message_id,
	    "NR052", "refused", false, FX_BUP, FX_NOW + 2), 0);
	cr_assert_eq(store_audit_rejected(f->st, fx_msg(&x, 4, FX_BUP),
	    "kommun-1480", "NR031", "no rule allows it", FX_NOW + 3), 0);
	cr_assert_eq(fx_sql_int(f, "SELECT count(*) FROM audit"), 9);
}

/* Collectors for the store's loads: the messages of a queue load (stop_after:
 * ask the store to stop after that many), the receipts of a receipt load,
 * decoded. */
struct fx_seen {
	int64_t seq[64];
	char id[64][40];
	int attempts[64];
	size_t payload_len[64];
	int n;
	int stop_after;
};

static inline int
fx_on_msg(void *arg, const struct store_msg *m)
{
	struct fx_seen *s = arg;

	if (s->stop_after > 0 && s->n == s->stop_after)
		return 1;
	cr_assert_lt(s->n, 64);
	s->seq[s->n] = m->seq;
	snprintf(s->id[s->n], sizeof(s->id[0]), "%s", m->message_id);
	s->attempts[s->n] = m->attempts;
	s->payload_len[s->n] = m->payload_len;
	s->n++;
	return 0;
}

struct fx_receipts {
	int64_t id[16];
	Nara__Receipt *r[16];
	char node[16][40];
	int n;
};

static inline int
fx_on_receipt(void *arg, const struct store_receipt *r)
{
	struct fx_receipts *rs = arg;

	cr_assert_lt(rs->n, 16);
	rs->id[rs->n] = r->id;
	snprintf(rs->node[rs->n], sizeof(rs->node[0]), "%s", r->node);
	rs->r[rs->n] = nara__receipt__unpack(NULL, r->encoded_len, r->encoded);
	cr_assert_not_null(rs->r[rs->n], "receipt does not decode");
	cr_assert_eq((int)rs->r[rs->n]->outcome, r->outcome);
	rs->n++;
	return 0;
}

static inline void
fx_receipts_free(struct fx_receipts *rs)
{
	for (int i = 0; i < rs->n; i++)
		nara__receipt__free_unpacked(rs->r[i], NULL);
	rs->n = 0;
}

#endif
