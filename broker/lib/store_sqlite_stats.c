/*
 * store_sqlite_stats.c — read-only queries for operators: the metadata of
 * the messages queued for an address, of the dead letters and of one
 * message by id. Nothing here returns clinical content: the payload and
 * the subject pseudonym are never read, only whether the payload is still
 * kept.
 *
 * These run a few times a minute at most (naractl, the dashboard), so they
 * prepare their statement per call instead of holding one open.
 */
#include "store_int.h"

#include <string.h>

/* MSG_COLS first (read by store_row_read), then the operator columns. */
#define META_SELECT "SELECT " MSG_COLS ", accepted_at, done_at, dead_code, " \
	"dead_text, " STORE_SQL_PAYLOAD_KEPT " FROM messages "

enum { MX_ACCEPTED = MC_PAYLOAD, MX_DONE, MX_DEAD_CODE, MX_DEAD_TEXT, MX_KEPT };

static void
meta_read(sqlite3_stmt *s, struct store_msg_meta *mm)
{
	struct msg_row row;

	store_row_read(s, false, &row);
	memset(mm, 0, sizeof(*mm));
	mm->m = row.m;
	mm->m.personal_number = NULL;
	mm->has_subject = row.subject != NULL && row.subject[0] != '\0';
	mm->accepted_at = sqlite3_column_int64(s, MX_ACCEPTED);
	mm->done_at = sqlite3_column_int64(s, MX_DONE);
	mm->dead_code = (const char *)sqlite3_column_text(s, MX_DEAD_CODE);
	mm->dead_text = (const char *)sqlite3_column_text(s, MX_DEAD_TEXT);
	mm->payload_kept = sqlite3_column_int(s, MX_KEPT) != 0;
}

/* Step through a prepared statement, calling fn per row; the number of rows
 * seen, or -1. */
static int
meta_walk(struct store_be *st, sqlite3_stmt *s, store_meta_fn fn, void *arg,
    const char *what)
{
	struct store_msg_meta mm;
	int rc, n = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		meta_read(s, &mm);
		n++;
		if (fn(arg, &mm) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, rc, what, NULL);
	return n;
}

int
store_sqlite_queue_list(struct store_be *st, const char *address, int limit,
    store_meta_fn fn, void *arg)
{
	static const char sql[] = META_SELECT "WHERE state = 0 AND "
	    "(recipient = ?1 OR recipient_node = ?1) ORDER BY seq LIMIT ?2";
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK)
		return store_fail(st, rc, "listing a queue", NULL);
	sqlite3_bind_text(s, 1, address, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, limit);
	return meta_walk(st, s, fn, arg, "listing a queue");
}

int
store_sqlite_dead_list(struct store_be *st, int limit, store_meta_fn fn,
    void *arg)
{
	static const char sql[] = META_SELECT "WHERE state = 2 "
	    "ORDER BY done_at DESC, seq DESC LIMIT ?1";
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK)
		return store_fail(st, rc, "listing dead letters", NULL);
	sqlite3_bind_int(s, 1, limit);
	return meta_walk(st, s, fn, arg, "listing dead letters");
}

int
store_sqlite_msg_meta(struct store_be *st, const char *message_id,
    store_meta_fn fn, void *arg)
{
	static const char sql[] = META_SELECT "WHERE message_id = ?1";
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK)
		return store_fail(st, rc, "reading a message", NULL);
	sqlite3_bind_text(s, 1, message_id, -1, SQLITE_STATIC);
	return meta_walk(st, s, fn, arg, "reading a message");
}

const char *
store_state_name(int state)
{
	switch (state) {
	case STORE_QUEUED: return "queued";
	case STORE_DELIVERED: return "delivered";
	case STORE_DEAD: return "dead";
	default: return "unknown";
	}
}
