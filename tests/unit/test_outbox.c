/*
 * test_outbox.c — nara-adapter's SQLite state: storing a message once,
 * the same id with other bytes, due rows in order of storage, retry times,
 * acceptance dropping the payload (its digest still telling other content
 * under the same id), rejection and receipts, handed-off ids with intents
 * recorded before a hand-off and settled after it, link facts for status,
 * a read-only open beside a writer, a state file of an older adapter, and
 * several calls grouped into one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "log.h"
#include "outbox.h"

static char dir[64], path[128];
static struct outbox *ob;

static void
setup(void)
{
	struct nara_err err = { 0 };

	log_init("test_outbox", LOG_LVL_ERROR, false);
	snprintf(dir, sizeof(dir), "/tmp/nara-outbox-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/adapter.db", dir);
	ob = outbox_open(path, false, &err);
	cr_assert_not_null(ob, "%s", err.text);
}

static void
teardown(void)
{
	char cmd[128];

	outbox_free(&ob);
	cr_expect_null(ob);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(outbox, .init = setup, .fini = teardown);

#define ID1 "11111111-1111-4111-8111-111111111111"
#define ID2 "22222222-2222-4222-8222-222222222222"
#define ID3 "33333333-3333-4333-8333-333333333333"

static int
put(const char *id, const char *bytes, int64_t now)
{
	struct nara_err err = { 0 };

	return outbox_put(ob, id, (const uint8_t *)bytes, strlen(bytes), "f.json",
	    now, &err);
}

struct seen {
	char ids[8][40];
	char bytes[8][16];
	int n, stop_after;
};

static int
collect(void *arg, int64_t seq, const char *id, const uint8_t *env, size_t len)
{
	struct seen *s = arg;

	snprintf(s->ids[s->n], 40, "%s", id);
	snprintf(s->bytes[s->n], 16, "%.*s", (int)len, env ? (const char *)env : "");
	s->n++;
	return s->stop_after > 0 && s->n >= s->stop_after;
}

Test(outbox, put_same_and_conflict)
{
	struct outbox_row row;

	cr_expect_eq(put(ID1, "aaa", 100), OUTBOX_NEW);
	cr_expect_eq(put(ID1, "aaa", 101), OUTBOX_SAME);
	cr_expect_eq(put(ID1, "bbb", 102), OUTBOX_CONFLICT);
	cr_assert_eq(outbox_get(ob, ID1, &row), 1);
	cr_expect_eq(row.state, OUTBOX_QUEUED);
	cr_expect_str_eq(row.source, "f.json");
	cr_expect_eq(row.created, 100);
	outbox_row_clear(&row);
	cr_expect_eq(outbox_get(ob, ID2, &row), 0);
}

Test(outbox, due_in_order_and_retry_later)
{
	struct seen s = { 0 };

	put(ID1, "one", 10);
	put(ID2, "two", 11);
	put(ID3, "three", 12);
	cr_expect_eq(outbox_retry(ob, ID1, "NR040", "store full", 500, 20), 0);
	cr_expect_eq(outbox_due(ob, 100, 0, 10, collect, &s), 2);
	cr_expect_str_eq(s.ids[0], ID2);
	cr_expect_str_eq(s.bytes[0], "two");
	cr_expect_str_eq(s.ids[1], ID3);
	cr_expect_eq(outbox_next_retry(ob), 0, "rows due now count as 0");
	memset(&s, 0, sizeof(s));
	cr_expect_eq(outbox_due(ob, 500, 0, 10, collect, &s), 3);
	cr_expect_str_eq(s.ids[0], ID1, "storage order, not retry order");
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	cr_expect_eq(outbox_due(ob, 500, 0, 10, collect, &s), 1);
}

Test(outbox, accepted_drops_payload_and_keeps_id)
{
	struct outbox_row row;
	struct seen s = { 0 };

	put(ID1, "secret", 10);
	cr_expect_eq(outbox_accepted(ob, ID1, 20), 0);
	cr_expect_eq(outbox_due(ob, 1000, 0, 10, collect, &s), 0);
	/* the digest decides: a resubmitted file is recognised, other content
	 * under the same id is not */
	cr_expect_eq(put(ID1, "secret", 30), OUTBOX_SAME);
	cr_expect_eq(put(ID1, "other", 31), OUTBOX_CONFLICT);
	cr_assert_eq(outbox_get(ob, ID1, &row), 1);
	cr_expect_eq(row.state, OUTBOX_ACCEPTED);
	cr_expect_eq(row.attempts, 1);
	outbox_row_clear(&row);
	/* and after the receipt */
	outbox_receipt(ob, ID1, OUTBOX_DELIVERED, "", "", "{}", 40);
	cr_expect_eq(put(ID1, "other", 41), OUTBOX_CONFLICT);
	cr_expect_eq(put(ID1, "secret", 42), OUTBOX_SAME);
}

Test(outbox, rejected_and_receipts)
{
	struct outbox_row row;

	put(ID1, "x", 1);
	put(ID2, "y", 1);
	cr_expect_eq(outbox_rejected(ob, ID1, "NR031", "policy denies", 5), 0);
	/* a final state is not left again by a late answer */
	cr_expect_eq(outbox_accepted(ob, ID1, 6), 0);
	cr_assert_eq(outbox_get(ob, ID1, &row), 1);
	cr_expect_eq(row.state, OUTBOX_REJECTED);
	cr_expect_str_eq(row.code, "NR031");
	cr_expect_str_eq(row.text, "policy denies");
	outbox_row_clear(&row);
	outbox_accepted(ob, ID2, 7);
	cr_expect_eq(outbox_receipt(ob, ID2, OUTBOX_FAILED, "NR052", "refused",
	    "{\"outcome\": \"OUTCOME_FAILED\"}", 8), 0);
	cr_assert_eq(outbox_get(ob, ID2, &row), 1);
	cr_expect_eq(row.state, OUTBOX_FAILED);
	cr_expect_str_eq(row.code, "NR052");
	cr_expect(strstr(row.receipt_json, "OUTCOME_FAILED") != NULL);
	outbox_row_clear(&row);
	cr_expect_str_eq(outbox_state_name(OUTBOX_DELIVERED), "delivered");
	cr_expect_str_eq(outbox_state_name((enum outbox_state)42), "unknown");
}

Test(outbox, handed_ids_are_remembered_per_kind)
{
	cr_expect_eq(outbox_handed_seen(ob, "message", ID1), 0);
	cr_expect_eq(outbox_handed_add(ob, "message", ID1, "handed", 1), 0);
	cr_expect_eq(outbox_handed_add(ob, "message", ID1, "handed", 2), 0,
	    "a second record of the same hand-off is harmless");
	cr_expect_eq(outbox_handed_seen(ob, "message", ID1), 1);
	cr_expect_eq(outbox_handed_seen(ob, "receipt", ID1), 0);
}

Test(outbox, status_read_only_beside_writer)
{
	struct nara_err err = { 0 };
	struct outbox_status st;
	struct outbox *ro;

	put(ID1, "a", 50);
	put(ID2, "b", 60);
	outbox_accepted(ob, ID1, 70);
	outbox_handed_add(ob, "message", ID3, "handed", 80);
	outbox_handed_add(ob, "receipt", ID1, "handed", 90);
	outbox_meta_set(ob, "link", "up");
	outbox_meta_set(ob, "last_receipt_id", ID1);
	ro = outbox_open(path, true, &err);
	cr_assert_not_null(ro, "%s", err.text);
	cr_assert_eq(outbox_status(ro, &st), 0);
	cr_expect_eq(st.queued, 1);
	cr_expect_eq(st.accepted, 1);
	cr_expect_eq(st.oldest_unsent, 60);
	cr_expect_eq(st.handed, 1);
	cr_expect_eq(st.receipts, 1);
	cr_expect_str_eq(st.link, "up");
	cr_expect_str_eq(st.last_receipt_id, ID1);
	/* read-only means read-only */
	cr_expect_eq(outbox_meta_set(ro, "link", "down"), -1);
	outbox_free(&ro);
}

Test(outbox, open_failures_are_coded)
{
	struct nara_err err = { 0 };
	struct outbox *bad = outbox_open("/nonexistent-dir/x/adapter.db", false,
	    &err);

	cr_expect_null(bad);
	cr_expect_eq(err.code, NR_IO);
	cr_expect(strstr(err.text, "/nonexistent-dir/x/adapter.db") != NULL,
	    "%s", err.text);
	nara_err_clear(&err);
	bad = outbox_open("/tmp/nara-no-such-state.db", true, &err);
	cr_expect_null(bad, "read-only open must not create the file");
	cr_expect_eq(err.code, NR_IO);
	cr_expect_neq(access("/tmp/nara-no-such-state.db", F_OK), 0);
}

Test(outbox, prune_forgets_only_settled_rows)
{
	struct outbox_row row;

	put(ID1, "a", 10);
	put(ID2, "b", 10);
	put(ID3, "c", 10);
	outbox_rejected(ob, ID1, "NR031", "no", 20);
	outbox_accepted(ob, ID2, 20);
	outbox_handed_add(ob, "message", ID1, "handed", 20);
	outbox_handed_add(ob, "message", ID2, "handed", 200);
	cr_expect_eq(outbox_prune(ob, 100), 2);
	cr_expect_eq(outbox_get(ob, ID1, &row), 0, "rejected row kept");
	cr_expect_eq(outbox_get(ob, ID2, &row), 1, "accepted row waits for its receipt");
	outbox_row_clear(&row);
	cr_expect_eq(outbox_get(ob, ID3, &row), 1, "queued row dropped");
	outbox_row_clear(&row);
	cr_expect_eq(outbox_handed_seen(ob, "message", ID1), 0);
	cr_expect_eq(outbox_handed_seen(ob, "message", ID2), 1);
}

Test(outbox, transaction_commits_together_or_not_at_all)
{
	struct outbox *other;
	struct nara_err err = { 0 };

	cr_assert_eq(outbox_begin(ob), 0);
	cr_assert_eq(outbox_handed_add(ob, "message", ID1, "inbox/a.json", 10), 0);
	cr_assert_eq(outbox_handed_add(ob, "message", ID2, "inbox/b.json", 10), 0);
	/* Not visible to another connection before the commit. */
	other = outbox_open(path, true, &err);
	cr_assert_not_null(other, "%s", err.text);
	cr_expect_eq(outbox_handed_seen(other, "message", ID1), 0);
	cr_assert_eq(outbox_commit(ob), 0);
	cr_expect_eq(outbox_handed_seen(other, "message", ID1), 1);
	cr_expect_eq(outbox_handed_seen(other, "message", ID2), 1);

	cr_assert_eq(outbox_begin(ob), 0);
	cr_assert_eq(outbox_handed_add(ob, "message", ID3, "inbox/c.json", 11), 0);
	outbox_rollback(ob);
	cr_expect_eq(outbox_handed_seen(ob, "message", ID3), 0);
	cr_expect_eq(outbox_handed_seen(other, "message", ID3), 0);
	outbox_rollback(ob);          /* outside a transaction: nothing */
	cr_expect_eq(outbox_begin(ob), 0);
	cr_expect_eq(outbox_commit(ob), 0);
	outbox_free(&other);
}

Test(outbox, many_calls_reuse_their_statements)
{
	struct outbox_status st;
	char id[40];

	/* More calls than the statement cache holds entries, all answered. */
	for (int i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "%08d-1111-4111-8111-111111111111", i);
		cr_assert_eq(put(id, "x", i), OUTBOX_NEW);
		cr_assert_eq(put(id, "x", i), OUTBOX_SAME);
		cr_assert_eq(outbox_accepted(ob, id, i + 1), 0);
		cr_assert_eq(outbox_handed_add(ob, "receipt", id, "r", i), 0);
	}
	cr_assert_eq(outbox_status(ob, &st), 0);
	cr_expect_eq(st.accepted, 200);
	cr_expect_eq(st.receipts, 200);
	cr_expect_eq(outbox_prune(ob, 1000), 200);
}

static int
collect_intent(void *arg, const char *id, const char *name)
{
	struct seen *s = arg;

	snprintf(s->ids[s->n], 40, "%s", id);
	snprintf(s->bytes[s->n], 16, "%.15s", name);
	s->n++;
	return 0;
}

Test(outbox, intent_then_outcome_and_retry_offers_again)
{
	struct outbox_status st;
	struct seen s = { 0 };

	cr_expect_eq(outbox_handed_get(ob, "message", ID1), HANDED_NONE);
	cr_assert_eq(outbox_handed_intent(ob, "message", ID1, "a.json", 10), 0);
	cr_assert_eq(outbox_handed_intent(ob, "receipt", ID2, "b.json", 10), 0);
	cr_expect_eq(outbox_handed_get(ob, "message", ID1), HANDED_INTENT);
	cr_expect_eq(outbox_handed_seen(ob, "message", ID1), 0,
	    "an intent is not a completed hand-off");
	cr_expect_eq(outbox_intents(ob, "message", collect_intent, &s), 1);
	cr_expect_str_eq(s.ids[0], ID1);
	cr_expect_str_eq(s.bytes[0], "a.json");
	cr_assert_eq(outbox_status(ob, &st), 0);
	cr_expect_eq(st.intents, 2);
	cr_expect_eq(st.handed, 0);
	/* refused, then offered again (retried), then handed */
	cr_assert_eq(outbox_handed_add(ob, "message", ID1, "refused", 11), 0);
	cr_expect_eq(outbox_handed_get(ob, "message", ID1), HANDED_REFUSED);
	cr_expect_eq(outbox_handed_seen(ob, "message", ID1), 0);
	cr_assert_eq(outbox_handed_intent(ob, "message", ID1, "a.json", 12), 0);
	cr_assert_eq(outbox_handed_add(ob, "message", ID1, "handed", 13), 0);
	cr_expect_eq(outbox_handed_get(ob, "message", ID1), HANDED_DONE);
	s.n = 0;
	cr_expect_eq(outbox_intents(ob, "message", collect_intent, &s), 0);
	/* forget drops an intent only, never an outcome */
	cr_expect_eq(outbox_handed_forget(ob, "message", ID1), 0);
	cr_expect_eq(outbox_handed_get(ob, "message", ID1), HANDED_DONE);
	cr_expect_eq(outbox_handed_forget(ob, "receipt", ID2), 0);
	cr_expect_eq(outbox_handed_get(ob, "receipt", ID2), HANDED_NONE);
	/* open intents survive the pruning of settled rows */
	cr_assert_eq(outbox_handed_intent(ob, "receipt", ID3, "c.json", 1), 0);
	outbox_prune(ob, 1000);
	cr_expect_eq(outbox_handed_get(ob, "receipt", ID3), HANDED_INTENT);
}

static int
collect_id(void *arg, const char *id)
{
	struct seen *s = arg;

	snprintf(s->ids[s->n++], 40, "%s", id);
	return 0;
}

Test(outbox, refusals_not_yet_pushed)
{
	struct seen s = { 0 };

	put(ID1, "a", 10);
	put(ID2, "b", 10);
	put(ID3, "c", 10);
	outbox_rejected(ob, ID1, "NR031", "no", 20);
	outbox_rejected(ob, ID2, "NR030", "no", 20);
	outbox_accepted(ob, ID3, 20);
	outbox_handed_add(ob, "refusal", ID2, "handed", 30);
	outbox_handed_intent(ob, "refusal", ID1, "", 30);
	cr_expect_eq(outbox_unpushed_refusals(ob, collect_id, &s), 1);
	cr_expect_str_eq(s.ids[0], ID1, "an intent alone is not pushed yet");
}

Test(outbox, state_of_an_older_adapter_gains_columns)
{
	struct nara_err err = { 0 };
	char cmd[1200];

	outbox_free(&ob);
	unlink(path);
	snprintf(cmd, sizeof(cmd), "sqlite3 %s \"CREATE TABLE outbox (seq "
	    "INTEGER PRIMARY KEY, message_id TEXT UNIQUE NOT NULL, envelope BLOB,"
	    " source TEXT NOT NULL DEFAULT '', state INTEGER NOT NULL DEFAULT 0,"
	    " code TEXT NOT NULL DEFAULT '', text TEXT NOT NULL DEFAULT '',"
	    " retryable INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL "
	    "DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0, created INTEGER NOT "
	    "NULL, updated INTEGER NOT NULL, receipt TEXT); CREATE TABLE handed "
	    "(seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL, "
	    "outcome TEXT NOT NULL, time INTEGER NOT NULL, UNIQUE(kind, id)); "
	    "INSERT INTO outbox (message_id, state, created, updated) VALUES "
	    "('%s', 1, 1, 1)\"", path, ID1);
	cr_assert_eq(system(cmd), 0);
	ob = outbox_open(path, false, &err);
	cr_assert_not_null(ob, "%s", err.text);
	/* no digest for the old row: the id decides, as it did */
	cr_expect_eq(put(ID1, "anything", 5), OUTBOX_SAME);
	cr_expect_eq(outbox_handed_intent(ob, "message", ID2, "x.json", 5), 0);
	cr_expect_eq(outbox_handed_get(ob, "message", ID2), HANDED_INTENT);
}
