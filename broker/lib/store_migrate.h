/*
 * store_migrate.h — moving a store from SQLite to PostgreSQL
 * (nara-audit migrate): the SQLite backend reads its tables row by row
 * (store_sqlite_export.c) and the PostgreSQL backend writes them into an
 * empty database in one transaction (store_pg_import.c). The rows are
 * copied as they are, value for value, so the audit chain, its hashes and
 * the signed checkpoints verify on the new store as on the old; receipt
 * and checkpoint ids and message seqs keep their numbers, and the id
 * counters continue after them. The check value of the pseudonym key
 * goes along, so the moved store too is opened only with its own key.
 *
 * The caller (broker/tools/nara-audit/migrate.c) names the tables and
 * their columns (struct store_table) and passes every row from one side
 * to the other; neither side calls the other. Strings and blobs in a row
 * are owned by the side that read them and valid during the call only.
 */
#ifndef NARA_STORE_MIGRATE_H
#define NARA_STORE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum store_cell_kind { CELL_NULL, CELL_INT, CELL_TEXT, CELL_BLOB };

/* One value of a row. */
struct store_cell {
	enum store_cell_kind kind;
	int64_t i;                 /* CELL_INT */
	const void *p;             /* CELL_TEXT (not NUL-terminated), CELL_BLOB */
	size_t len;
};

#define STORE_TABLE_MAX_COLS 32

/* A table as both stores have it. */
struct store_table {
	const char *name;          /* "messages" */
	const char *cols;          /* "seq, message_id, ..." */
	const char *kinds;         /* one letter a column: i(nteger), t(ext),
	                            * b(lob) */
	const char *key;           /* the column rows are copied in order of */
	const char *counter;       /* the column whose id counter continues
	                            * after the copy, NULL for none */
	const char *meta_high;     /* the SQLite store's meta key with the
	                            * highest id given when the newest rows
	                            * may be gone, NULL for none */
};

/* fn is called for each row (ncols cells); nonzero stops the walk. */
typedef int (*store_row_fn)(void *arg, const struct store_cell *row,
    int ncols);

/* ---------------------------------------------------------------- SQLite */
struct store_src;
/* Open the SQLite store at path for the move and hold it exclusively
 * until store_src_close: narad running on it (or starting) is refused
 * with NR042, a file that is not a current nara store with NR041. NULL
 * with err. */
struct store_src *store_src_open(const char *path, struct nara_err *err);
void store_src_close(struct store_src **src);
/* The rows of t in key order. 0, or -1 with err. */
int store_src_rows(struct store_src *src, const struct store_table *t,
    store_row_fn fn, void *arg, struct nara_err *err);
/* The number of rows of t. -1 with err. */
int64_t store_src_count(struct store_src *src, const struct store_table *t,
    struct nara_err *err);
/* The last value t's counter handed out (the largest key, or SQLite's
 * AUTOINCREMENT record or t->meta_high in meta when further; 0 for none).
 * 0, or -1 with err. */
int store_src_counter(struct store_src *src, const struct store_table *t,
    int64_t *last, struct nara_err *err);
/* The audit chain head the store recorded (seq 0 when none). */
int store_src_head(struct store_src *src, int64_t *seq, uint8_t hash[32],
    struct nara_err *err);
/* The check value of the pseudonym key the store was written with (16 hex
 * digits, store_key_check_value), "" when it keeps none. 0, or -1 with
 * err (NR041 for a value that is not one). */
int store_src_key_check(struct store_src *src, char check[17],
    struct nara_err *err);

/* ---------------------------------------------------------------- PostgreSQL */
struct store_dst;
/* Connect to conninfo, create the tables when the database has none, and
 * open the transaction the whole move runs in, holding the chain head's
 * lock: a database whose nara tables hold any row is refused with NR041
 * ("not empty"), an unreachable one with NR041. NULL with err. */
struct store_dst *store_dst_open(const char *conninfo, struct nara_err *err);
/* The moved store's key check value (store_src_key_check; "" keeps the
 * target's) recorded in the target, so that narad opened on it with
 * another key is refused as on the SQLite store: a target that keeps the
 * value of another key (narad opened it with that key before the move)
 * is refused with NR070. 0, or -1 with err. */
int store_dst_key_check(struct store_dst *dst, const char *check,
    struct nara_err *err);
/* Rows of t, one store_dst_row each between begin and end (COPY). */
int store_dst_begin_table(struct store_dst *dst, const struct store_table *t,
    struct nara_err *err);
int store_dst_row(struct store_dst *dst, const struct store_cell *row,
    int ncols, struct nara_err *err);
int store_dst_end_table(struct store_dst *dst, struct nara_err *err);
/* Rows of t now in the transaction. -1 with err. */
int64_t store_dst_count(struct store_dst *dst, const struct store_table *t,
    struct nara_err *err);
/* t's counter continues after last. */
int store_dst_counter(struct store_dst *dst, const struct store_table *t,
    int64_t last, struct nara_err *err);
/* Record the chain head and commit; after a failure nothing of the move
 * is kept. 0, or -1 with err. */
int store_dst_commit(struct store_dst *dst, int64_t head_seq,
    const uint8_t head_hash[32], struct nara_err *err);
/* Roll back what is not committed and disconnect. */
void store_dst_close(struct store_dst **dst);

#endif
