/*
 * store_pg_lanes.c — the rows of a PostgreSQL batch written with one
 * statement per kind instead of one per row. A lane holds rows of one
 * kind (new messages, deliveries, acks, dead letters, receipts queued,
 * sent and acked, audit rows), column by column, as PostgreSQL arrays in
 * their binary form (array_send's: a header, then each element's length
 * and bytes), so that the server copies elements instead of parsing array
 * literals (array_in was an eighth of its time at 1,000 msg/s);
 * pg_lanes_flush sends each lane that holds rows as one statement over
 * unnest(...) of its arrays.
 *
 * The lanes are flushed before anything that reads (pg_run, pg_run_sql),
 * before a retry's rekey and before COMMIT, and whenever LANE_EARLY rows
 * are buffered (sent at once, so the server works on them while the batch
 * goes on; their answers come with COMMIT's), so every statement still sees
 * the rows written before it, and always in the order of enum pg_lane:
 * the order in which a batch can touch one row (a message is stored, then
 * delivered, then acked or dead-lettered, then its receipt is queued, and
 * only a read gives the receipt's id to mark it sent or acked). A row that
 * would meet a row of the same key in its lane flushes the lanes first
 * (store_pg_fast.c). A statement that changes rows checks that it changed
 * as many as it was given, else the batch fails (as in store_pg_fast.c).
 * A rollback drops what is buffered.
 */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANE_ROWS 2000            /* rows per statement */
#define LANE_BYTES (8u << 20)     /* buffered bytes before a flush */
#define LANE_EARLY 256            /* rows of all lanes sent ahead of COMMIT */
#define MAX_COLS 18

/* "...) SELECT CASE WHEN count(*) = $N ..." after WITH u AS (the change
 * RETURNING 1): fails the transaction unless N rows changed. */
#define ALL_ROWS(n, what) " SELECT CASE WHEN count(*) = $" n " THEN 1 ELSE ('" \
	what " (' || count(*) || ' of ' || $" n " || ' rows changed; the " \
	"store''s cache was stale)')::int END FROM u"

/* A column's element type, as the statement casts it: b bigint,
 * i integer, t text, y bytea. */
static const struct lane_def {
	int cols;
	bool counted;                 /* the row count is the last parameter */
	const char *types;            /* one letter per column */
	const char *what;
	const char *sql;
} lane_defs[PG_LANE_COUNT] = {
	[L_MSG_INSERT] = { 18, false, "bttiiittttttbbbyyb", "storing messages",
	    "INSERT INTO messages(seq, message_id, conversation_id, type, "
	    "priority, legal_basis, sender, sender_node, recipient, "
	    "recipient_node, author, subject_pseudonym, created, expires, "
	    "accepted_at, payload, payload_sha256, payload_size) SELECT * FROM "
	    "unnest($1::bigint[], $2::text[], $3::text[], $4::integer[], "
	    "$5::integer[], $6::integer[], $7::text[], $8::text[], $9::text[], "
	    "$10::text[], $11::text[], $12::text[], $13::bigint[], "
	    "$14::bigint[], $15::bigint[], $16::bytea[], $17::bytea[], "
	    "$18::bigint[])" },
	[L_DELIVERING] = { 2, true, "bi", "recording deliveries",
	    "WITH u AS (UPDATE messages m SET attempts = v.a FROM "
	    "unnest($1::bigint[], $2::integer[]) AS v(seq, a) WHERE m.seq = "
	    "v.seq AND m.state + 0 = 0 RETURNING 1)" ALL_ROWS("3", "deliveries "
	    "of messages no longer queued") },
	[L_ACKED] = { 2, true, "bb", "recording acks",
	    "WITH u AS (UPDATE messages m SET state = 1, done_at = v.t, "
	    "payload = NULL FROM unnest($1::bigint[], $2::bigint[]) AS v(seq, "
	    "t) WHERE m.seq = v.seq AND m.state + 0 = 0 RETURNING 1)"
	    ALL_ROWS("3", "acks of messages no longer queued") },
	[L_DEAD] = { 4, true, "bttb", "dead-lettering messages",
	    "WITH u AS (UPDATE messages m SET state = 2, dead_code = v.c, "
	    "dead_text = v.x, done_at = v.t FROM unnest($1::bigint[], "
	    "$2::text[], $3::text[], $4::bigint[]) AS v(seq, c, x, t) WHERE "
	    "m.seq = v.seq AND m.state + 0 = 0 RETURNING 1)" ALL_ROWS("5",
	    "dead letters of messages no longer queued") },
	/* an id past the batch's block is the sequence's */
	[L_RCPT_INSERT] = { 5, false, "bttiy", "queueing receipts",
	    "INSERT INTO receipts(id, node, message_id, outcome, encoded) "
	    "SELECT COALESCE(i, nextval(pg_get_serial_sequence('receipts', "
	    "'id'))), n, m, o, e FROM unnest($1::bigint[], $2::text[], "
	    "$3::text[], $4::integer[], $5::bytea[]) AS v(i, n, m, o, e)" },
	/* only checked: the time a receipt was sent is its audit row's */
	[L_RCPT_SENT] = { 1, true, "b", "checking receipts sent",
	    "WITH u AS (SELECT 1 FROM receipts r JOIN unnest($1::bigint[]) AS "
	    "v(id) ON r.id = v.id)" ALL_ROWS("2", "receipts that are gone") },
	[L_RCPT_ACKED] = { 1, true, "b", "deleting receipts",
	    "WITH u AS (DELETE FROM receipts r USING unnest($1::bigint[]) AS "
	    "v(id) WHERE r.id = v.id RETURNING 1)" ALL_ROWS("2", "receipts "
	    "that are gone") },
	[L_AUDIT] = { 18, false, "bbtttttttttbtttyyb", "writing the audit log",
	    "INSERT INTO audit(seq, time, event, node, message_id, type, "
	    "sender, recipient, author, legal_basis, payload_sha256, "
	    "payload_size, subject, code, detail, prev_hash, hash, msg_seq) "
	    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], "
	    "$4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
	    "$9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], "
	    "$14::text[], $15::text[], $16::bytea[], $17::bytea[], "
	    "$18::bigint[])" },
};

struct lane {
	char *col[MAX_COLS];
	size_t len[MAX_COLS], cap[MAX_COLS];
	bool nulls[MAX_COLS];
	int n;
};

struct pg_lanes {
	struct lane l[PG_LANE_COUNT];
	size_t bytes;
	int rows;
	bool oom;
	bool bad;                     /* a value not of its column's type or
	                               * out of its range */
};

/* Room for n more bytes in column c; NULL when out of memory. */
static char *
room(struct pg_lanes *ls, struct lane *a, int c, size_t n)
{
	if (a->len[c] + n > a->cap[c]) {
		size_t cap = a->cap[c] ? a->cap[c] : 1024;
		char *p;

		while (a->len[c] + n > cap)
			cap *= 2;
		if ((p = realloc(a->col[c], cap)) == NULL) {
			ls->oom = true;
			return NULL;
		}
		a->col[c] = p;
		a->cap[c] = cap;
	}
	ls->bytes += n;
	a->len[c] += n;
	return a->col[c] + a->len[c] - n;
}

static void
put_u32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

/* An array's header (array_send): dimensions, null flag, element type,
 * length and lower bound of its one dimension. */
#define ARRAY_HEAD 20

static uint32_t
elem_oid(char type)
{
	switch (type) {
	case 'b': return 20;          /* int8 */
	case 'i': return 23;          /* int4 */
	case 'y': return 17;          /* bytea */
	default: return 25;           /* text */
	}
}

/* One element of column c, of type `type`, from v: its length, then its
 * bytes in the type's binary form (an integer big-endian, text and bytea
 * as they are). A value not of its column's kind, or an integer column's
 * value out of its range, marks the lanes bad. */
static void
put_elem(struct pg_lanes *ls, struct lane *a, int c, char type,
    const struct pg_val *v)
{
	char *p;

	if (a->n == 0 && room(ls, a, c, ARRAY_HEAD) == NULL)
		return;
	if (v->kind == PG_V_NULL) {
		a->nulls[c] = true;
		if ((p = room(ls, a, c, 4)) != NULL)
			put_u32(p, UINT32_MAX);
		return;
	}
	if (v->kind != ((type == 'b' || type == 'i') ? PG_V_INT : PG_V_BYTES)) {
		ls->bad = true;
		return;
	}
	switch (type) {
	case 'b':
		if ((p = room(ls, a, c, 12)) == NULL)
			return;
		put_u32(p, 8);
		put_u32(p + 4, (uint32_t)((uint64_t)v->i >> 32));
		put_u32(p + 8, (uint32_t)v->i);
		return;
	case 'i':
		if (v->i < INT32_MIN || v->i > INT32_MAX) {
			ls->bad = true;
			return;
		}
		if ((p = room(ls, a, c, 8)) == NULL)
			return;
		put_u32(p, 4);
		put_u32(p + 4, (uint32_t)v->i);
		return;
	default:
		if (v->len > INT32_MAX) {
			ls->bad = true;
			return;
		}
		if ((p = room(ls, a, c, 4 + v->len)) == NULL)
			return;
		put_u32(p, (uint32_t)v->len);
		if (v->len > 0)
			memcpy(p + 4, v->p, v->len);
		return;
	}
}

static int
oom(struct store_be *st, struct nara_err *err)
{
	pg_lanes_drop(st);
	nara_err_set(err, NR_STORE_FAILED, "store", "out of memory buffering "
	    "rows");
	return pg_break(st, err);
}

static int lanes_send_early(struct store_be *st, struct nara_err *err);

int
pg_lane_add(struct store_be *st, enum pg_lane lane, const struct pg_val *v,
    struct nara_err *err)
{
	struct pg_lanes *ls = st->lanes;
	const struct lane_def *d = &lane_defs[lane];
	struct lane *a;

	if (ls == NULL && (ls = st->lanes = calloc(1, sizeof(*ls))) == NULL)
		return oom(st, err);
	a = &ls->l[lane];
	for (int c = 0; c < d->cols; c++)
		put_elem(ls, a, c, d->types[c], &v[c]);
	a->n++;
	ls->rows++;
	if (ls->oom)
		return oom(st, err);
	if (ls->bad) {
		pg_lanes_drop(st);
		nara_err_set(err, NR_STORE_FAILED, "store", "%s: a value is "
		    "not of its column's type or out of its range", d->what);
		return pg_break(st, err);
	}
	if (a->n >= LANE_ROWS || ls->bytes >= LANE_BYTES)
		return pg_lanes_flush(st, err);
	if (ls->rows >= LANE_EARLY)
		return lanes_send_early(st, err);
	return 0;
}

void
pg_lanes_drop(struct store_be *st)
{
	struct pg_lanes *ls = st->lanes;

	st->lane_gen++;
	if (ls == NULL)
		return;
	for (int i = 0; i < PG_LANE_COUNT; i++) {
		for (int c = 0; c < MAX_COLS; c++) {
			ls->l[i].len[c] = 0;
			ls->l[i].nulls[c] = false;
		}
		ls->l[i].n = 0;
	}
	ls->bytes = 0;
	ls->rows = 0;
	ls->oom = false;
	ls->bad = false;
}

/* The name a lane's statement is prepared under ("l0" ...). */
static const char *
lane_name(char name[16], int lane)
{
	snprintf(name, 16, "l%d", lane);
	return name;
}

static int
lane_send(struct store_be *st, enum pg_lane lane, struct nara_err *err)
{
	const struct lane_def *d = &lane_defs[lane];
	struct lane *a = &st->lanes->l[lane];
	struct pg_params p;
	char name[16];

	pg_params_init(&p);
	for (int c = 0; c < d->cols; c++) {
		char *h = a->col[c];

		put_u32(h, 1);
		put_u32(h + 4, a->nulls[c]);
		put_u32(h + 8, elem_oid(d->types[c]));
		put_u32(h + 12, (uint32_t)a->n);
		put_u32(h + 16, 1);
		pg_param_blob(&p, h, a->len[c]);
	}
	if (d->counted)
		pg_param_int(&p, a->n);
	return pg_pipe_send(st, lane_name(name, lane), true, &p, d->what, err);
}

const char *
pg_lane_stmt(int lane, char name[16])
{
	lane_name(name, lane);
	return lane_defs[lane].sql;
}

int
pg_lanes_flush(struct store_be *st, struct nara_err *err)
{
	int rc = 0;

	if (st->lanes == NULL || st->lanes->rows == 0)
		return 0;
	for (int i = 0; i < PG_LANE_COUNT && rc == 0; i++)
		if (st->lanes->l[i].n > 0)
			rc = lane_send(st, (enum pg_lane)i, err);
	pg_lanes_drop(st);
	return rc;
}

/* LANE_EARLY rows are buffered while the batch goes on: send them now,
 * so that the server executes them while the rest of the batch is made
 * (its answers are read with COMMIT's, no round trip of their own). A
 * batch under load of PostgreSQL spent a third of its cycle in narad,
 * with the server idle, and then the server's time executing it all with
 * narad waiting: this overlaps the two. */
static int
lanes_send_early(struct store_be *st, struct nara_err *err)
{
	if (pg_lanes_flush(st, err) != 0)
		return -1;
	if (st->conn == NULL || PQflush(st->conn) < 0)
		return pg_fail(st, NULL, "sending rows ahead of the commit",
		    err);
	return 0;
}

void
pg_lanes_free(struct store_be *st)
{
	if (st->lanes == NULL)
		return;
	for (int i = 0; i < PG_LANE_COUNT; i++)
		for (int c = 0; c < MAX_COLS; c++)
			free(st->lanes->l[i].col[c]);
	free(st->lanes);
	st->lanes = NULL;
}
