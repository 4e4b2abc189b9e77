/*
 * store_stats_sql.h — the statements behind status, /metrics and the
 * dashboard, shared by both backends (and by the test that checks their
 * plans, test_store.c).
 *
 * They run for every naractl status (on narad's event loop) and, on the
 * thread of narad's counts reader (counts.c), for every scrape, dashboard
 * refresh and history sample, so none may read the delivered history or
 * the audit log row by row: a store keeps both for the whole retention
 * period (years of rows), and a count over them held the loop for seconds
 * (3.2 s with 1,000,000 delivered messages and 5,000,000 audit rows). Each
 * count below reads a partial index whose size is what waits now (queued
 * messages, dead letters) or a small table (receipts not yet acked); the
 * audit log's size is the span of its seqs, which are dense from the
 * oldest kept row to the head (retention deletes a prefix, and
 * nara-audit verify reports a gap as damage): two look-ups in its key.
 */
#ifndef NARA_STORE_STATS_SQL_H
#define NARA_STORE_STATS_SQL_H

/* Dead letters by time of death: the count and naractl dead. Created in a
 * new store and, if missing, at the first read-write open of an older one
 * (an index is no schema change: older programs keep it up to date). */
#define STORE_SQL_DEAD_INDEX \
	"CREATE INDEX IF NOT EXISTS messages_dead" \
	"  ON messages(done_at, seq) WHERE state = 2;"

/* queued, dead, receipts, audit rows */
#define STORE_SQL_TOTALS \
	"SELECT (SELECT count(*) FROM messages WHERE state = 0), " \
	"(SELECT count(*) FROM messages WHERE state = 2), " \
	"(SELECT count(*) FROM receipts), " \
	"coalesce((SELECT max(seq) FROM audit) - (SELECT min(seq) FROM audit) " \
	"+ 1, 0)"

/* node, queued, oldest queued accepted_at, receipts waiting */
#define STORE_SQL_NODE_STATS \
	"SELECT node, sum(q), min(oldest), sum(r) FROM (" \
	"SELECT recipient_node AS node, count(*) AS q, min(accepted_at) AS " \
	"oldest, 0 AS r FROM messages WHERE state = 0 GROUP BY " \
	"recipient_node UNION ALL SELECT node, 0, NULL, count(*) FROM " \
	"receipts GROUP BY node) AS n GROUP BY node ORDER BY node"

#endif
