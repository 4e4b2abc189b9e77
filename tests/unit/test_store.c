/*
 * test_store.c — the store, on SQLite (and, compiled from test_store_pg.c,
 * on PostgreSQL: store_fixture.h): accept and duplicates, per-node queues,
 * deliveries, acks that purge the payload and queue a receipt, dead letters,
 * retries, expiry and the size limit (receipts, statistics, batches and
 * read-only opens are in test_store_stats.c; the audit chain, pseudonyms
 * and keys in test_audit.c). Every
 * test uses its own temporary directory and looks at the database file
 * directly where it matters.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "audit.h"
#include "nara.pb-c.h"
#include "store_fixture.h"
#ifndef FX_POSTGRESQL
#include "store_int.h"
#endif

#define BUP "bup-ostra"
#define PED "ped-nal"
#define GBG "kommun-1480"

static long long
audit_count(const struct fx *f, const char *event)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE event = "
	    "'%s'", event);
	return fx_sql_int(f, sql);
}

/* ---------------------------------------------------------------- open */

#ifndef FX_POSTGRESQL
/* SQLite only: the file itself (mode, WAL, auto_vacuum). */
Test(store, open_creates_schema_wal_and_private_file)
{
	struct fx f;
	struct stat sb;

	fx_init(&f);
	cr_assert_eq(stat(f.path, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0600);
	cr_expect_eq(fx_sql_int(&f, "SELECT value FROM meta WHERE key = "
	    "'schema_version'"), 5);
	cr_expect_eq(fx_sql_int(&f, "PRAGMA auto_vacuum"), 2);  /* incremental */
	cr_expect_eq(fx_sql_int(&f, "PRAGMA page_size"), 8192);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM pragma_journal_mode "
	    "WHERE journal_mode = 'wal'"), 1);
	fx_fini(&f);
}
#endif

Test(store, newer_schema_version_is_refused)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_options opt = { .sync_full = true, .backend = FX_BACKEND };

	fx_init(&f);
	store_free(&f.st);
#ifdef FX_POSTGRESQL
	fx_sql_exec(&f, "UPDATE schema_version SET version = 9");
#else
	fx_sql_exec(&f, "UPDATE meta SET value = 9 WHERE key = 'schema_version'");
#endif
	cr_assert_null(store_open(f.path, &opt, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, " has schema version 9; this program reads "
	    "version ") != NULL, "%s", err.text);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- accept */

Test(store, accept_assigns_seq_and_audits_received)
{
	struct fx f;

	fx_init(&f);
	int64_t a = fx_accept(&f, 1, BUP), b = fx_accept(&f, 2, BUP);
	cr_expect_eq(a, 1);
	cr_expect_eq(b, 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    "state = 0 AND attempts = 0 AND accepted_at = 1795000000"), 2);
	cr_expect_eq(audit_count(&f, "received"), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'received' AND node = 'kommun-1480' AND type = 'referral' AND "
	    "legal_basis = 'guardian_consent' AND length(subject) = 64 AND "
	    "length(payload_sha256) = 64 AND detail = 'routed to bup-ostra'"), 2);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A commit sent without waiting (PostgreSQL: sent to the server;
 * SQLite: stepped on the commit thread): its answer is taken once (a
 * second take finds none), the batch is durable after it, a commit
 * refused before it was sent reports at once, and the chain verifies. */
Test(store, a_commit_sent_is_taken_once)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_init(&f);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 1, BUP), FX_NOW, &res,
	    &err), 0, "%s", err.text);
	cr_assert_eq(store_commit_send(f.st, &err), 1, "sent, not waited for: "
	    "%s", err.text);
	cr_expect_geq(store_commit_fd(f.st), 0);
	cr_assert_eq(store_commit_take(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(store_commit_fd(f.st), -1, "nothing is due");
	cr_expect_eq(store_commit_take(f.st, &err), -1);
	cr_expect_str_eq(err.text, "no commit was sent");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	cr_expect_eq(store_commit_send(f.st, &err), -1, "no batch is open");
	cr_expect_eq(fx_accept(&f, 2, BUP), 2);
	fx_verify_ok(&f);
	fx_fini(&f);
}

#ifndef FX_POSTGRESQL
/* Out of descriptors when the first commit is sent, the commit thread
 * cannot start (its eventfd): the batch commits in the call, as before the
 * thread, and so do the batches after it (one warning, no retry at every
 * commit) until 1000 commits later the thread is tried again, and starts
 * now that descriptors are there. */
Test(store, without_a_commit_thread_commits_in_the_call)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	struct rlimit old, low;
	int fill[256], n = 0, rc, saved;

	fx_init(&f);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 1, BUP), FX_NOW, &res,
	    &err), 0, "%s", err.text);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 256 && (fill[n] = open("/dev/null", O_RDONLY | O_CLOEXEC))
	    >= 0)
		n++;
	saved = errno;
	rc = store_commit_send(f.st, &err);
	while (n > 0)
		close(fill[--n]);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_assert_eq(saved, EMFILE, "the descriptors ran out");
	cr_assert_eq(rc, 0, "committed in the call: %s", err.text);
	cr_expect_eq(store_commit_fd(f.st), -1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 2, BUP), FX_NOW, &res,
	    &err), 0, "%s", err.text);
	cr_expect_eq(store_commit_send(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 2);
	for (int i = 3; i <= 1001; i++) {
		cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
		cr_assert_eq(store_accept(f.st, fx_msg(&x, i, BUP), FX_NOW,
		    &res, &err), 0, "%s", err.text);
		rc = store_commit_send(f.st, &err);
		if (rc == 1)
			break;
		cr_assert_eq(rc, 0, "%s", err.text);
	}
	cr_expect_eq(rc, 1, "the commit thread was not tried again");
	if (rc == 1)
		cr_assert_eq(store_commit_take(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1001);
	fx_verify_ok(&f);
	fx_fini(&f);
}
#endif

#ifndef FX_POSTGRESQL
/* The WAL header's checkpoint sequence number, which grows by one each
 * time the WAL starts over; -1 when there is no WAL. */
static long
wal_restarts(const struct fx *f)
{
	char wal[160];
	unsigned char b[4];
	int fd;
	long n = -1;

	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	if ((fd = open(wal, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (pread(fd, b, 4, 12) == 4)
		n = (long)b[0] << 24 | (long)b[1] << 16 | (long)b[2] << 8 | b[3];
	close(fd);
	return n;
}

/* Under steady batches the WAL starts over again and again, and the
 * writer connection's part of it (the frames the checkpoint thread has not
 * copied, the database file's sync) runs on the commit thread after a
 * commit's answer: store_idle_fd hands out a descriptor meanwhile, which
 * becomes readable when that is done, and -1 after it. Every batch
 * commits; the chain verifies. */
Test(store, long_wal_starts_over_on_the_commit_thread, .timeout = 300)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	long first = -1, last = -1, now;
	int restarts = 0, waited = 0, n = 0, fd;

	fx_init(&f);
	while (restarts < 4 && n < 400000) {
		cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
		for (int i = 0; i < 200; i++)
			cr_assert_eq(store_accept(f.st, fx_msg(&x, ++n, BUP),
			    FX_NOW, &res, &err), 0, "%s", err.text);
		cr_assert_eq(store_commit_send(f.st, &err), 1, "%s", err.text);
		cr_assert_eq(store_commit_take(f.st, &err), 0, "%s", err.text);
		if ((fd = store_idle_fd(f.st)) >= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			cr_assert_eq(poll(&p, 1, 30000), 1, "the store stayed "
			    "busy after message %d", n);
			cr_assert_eq(store_idle_fd(f.st), -1, "readable, yet "
			    "not idle");
			waited++;
		}
		now = wal_restarts(&f);
		if (first < 0)
			first = last = now;
		else if (now != last) {
			restarts++;
			last = now;
		}
	}
	fprintf(stderr, "store: the WAL started over %d times in %d messages, "
	    "%d of them waited for after the answer\n", restarts, n, waited);
	cr_assert_geq(restarts, 4, "the WAL started over %d times in %d "
	    "messages", restarts, n);
	cr_expect_gt(waited, 0, "the WAL started over %d times, never on the "
	    "commit thread after an answer", restarts);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), n);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* The WAL's largest length so far in bytes of pages (its file is never
 * cut here: nothing is purged, so no wipe truncates it). */
static long
wal_bytes_max(const struct fx *f)
{
	long page = fx_sql_int(f, "PRAGMA page_size");
	char wal[160];
	struct stat sb;

	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	if (stat(wal, &sb) != 0 || sb.st_size < 32)
		return 0;
	return (long)((sb.st_size - 32) / (24 + page)) * page;
}

/* Batches of per accepts, committed as narad does, until the WAL started
 * over `restarts` more times; *n counts the messages. */
static void
commit_until_restarts(struct fx *f, int per, int restarts, int *n)
{
	struct nara_err err = { 0 };
	enum store_accept_result res;
	struct fx_msg x;
	long last = wal_restarts(f), now;
	int seen = 0, batches = 0;

	while (seen < restarts) {
		cr_assert_lt(++batches, 20000, "the WAL did not start over");
		cr_assert_eq(store_begin(f->st, &err), 0, "%s", err.text);
		for (int i = 0; i < per; i++)
			cr_assert_eq(store_accept(f->st, fx_msg(&x, ++*n, BUP),
			    FX_NOW, &res, &err), 0, "%s", err.text);
		cr_assert_eq(store_commit_send(f->st, &err), 1, "%s", err.text);
		cr_assert_eq(store_commit_take(f->st, &err), 0, "%s", err.text);
		if ((now = wal_restarts(f)) != last) {
			seen++;
			last = now;
		}
	}
}

/* How long the WAL grows before it starts over follows the commits: about
 * 4 MiB with small ones (the latency's tail at moderate rates), longer
 * with large ones (less copied back per message), never past 32 MiB
 * (twice that while the checkpoint thread lags), which bounds the time a
 * restart after a crash reads it. */
Test(store, wal_length_follows_the_commits, .timeout = 300)
{
	const long mib = 1 << 20;
	struct fx f;
	long small, large, page;
	int n = 0;

	fx_init(&f);
	page = fx_sql_int(&f, "PRAGMA page_size");
	commit_until_restarts(&f, 2, 3, &n);
	small = wal_bytes_max(&f);
	commit_until_restarts(&f, 500, 3, &n);
	large = wal_bytes_max(&f);
	fprintf(stderr, "store: WAL up to %ld KiB with commits of 2 messages, "
	    "%ld KiB with commits of 500 (pages of %ld bytes)\n", small / 1024,
	    large / 1024, page);
	cr_expect_geq(small, 4 * mib, "the WAL started over at %ld bytes",
	    small);
	cr_expect_leq(small, 8 * mib + 64 * page, "with small commits the WAL "
	    "grew to %ld bytes", small);
	cr_expect_gt(large, 8 * mib + 64 * page, "with commits of 500 messages "
	    "the WAL still started over by %ld bytes", large);
	cr_expect_leq(large, 64 * mib + 4 * 500 * page, "the WAL grew to %ld "
	    "bytes", large);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), n);
	fx_verify_ok(&f);
	fx_fini(&f);
}
#endif

Test(store, duplicate_same_content_writes_nothing)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	cr_assert_eq(store_accept(f.st, fx_msg(&x, 1, BUP), FX_NOW + 5, &res,
	    &err), 0);
	cr_expect_eq(res, STORE_DUPLICATE);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 1);
	fx_fini(&f);
}

Test(store, same_id_other_content_is_conflict)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_msg(&x, 1, BUP);
	x.m.payload_sha256[0] ^= 1;
	cr_assert_eq(store_accept(f.st, &x.m, FX_NOW, &res, &err), 0);
	cr_expect_eq(res, STORE_CONFLICT);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 1);
	fx_fini(&f);
}

Test(store, duplicate_detected_after_payload_purged)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;
	bool was_new = false;

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_deliver(&f, 1, BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), 0);
	cr_assert(was_new);
	cr_assert_eq(store_accept(f.st, &x.m, FX_NOW, &res, &err), 0);
	cr_expect_eq(res, STORE_DUPLICATE);
	x.m.payload_sha256[31] ^= 0x80;
	cr_assert_eq(store_accept(f.st, &x.m, FX_NOW, &res, &err), 0);
	cr_expect_eq(res, STORE_CONFLICT);
	fx_fini(&f);
}

Test(store, max_bytes_refuses_with_nr040)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	struct store_options opt = { .sync_full = true, .max_bytes = 4096,
	    .pseudonym_key = NULL, .backend = FX_BACKEND };
	enum store_accept_result res = STORE_NEW;
	struct store *st;
	long long bytes;
	char want[120];

	fx_init(&f);
	opt.pseudonym_key = f.key;
	opt.pseudonym_key_len = sizeof(f.key);
	store_free(&f.st);
	st = store_open(f.path, &opt, &err);
	cr_assert_not_null(st, "%s", err.text);
	bytes = fx_sql_int(&f, FX_SQL_SIZE);
	cr_assert_gt(bytes, 4096);
	cr_assert_eq(store_accept(st, fx_msg(&x, 1, BUP), FX_NOW, &res, &err), -1);
	cr_expect_eq(err.code, NR_STORE_FULL);
	snprintf(want, sizeof(want), "store is %lld bytes, limit 4096", bytes);
	cr_expect_str_eq(err.text, want);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages"), 0);
	store_free(&st);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- queues */

Test(store, queues_are_per_node_in_seq_order)
{
	struct fx f;
	struct fx_seen bup = { 0 }, ped = { 0 }, none = { 0 };

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_accept(&f, 2, PED);
	fx_accept(&f, 3, BUP);
	fx_accept(&f, 4, PED);
	fx_accept(&f, 5, BUP);
	cr_assert_eq(store_queue_load(f.st, BUP, 0, 10, fx_on_msg, &bup), 3);
	cr_expect_eq(bup.seq[0], 1);
	cr_expect_eq(bup.seq[1], 3);
	cr_expect_eq(bup.seq[2], 5);
	cr_expect_str_eq(bup.id[2], "00000000-0000-4000-8000-000000000005");
	cr_expect_eq(bup.payload_len[0], strlen("payload 1 " FX_MARKER));
	cr_assert_eq(store_queue_load(f.st, PED, 0, 10, fx_on_msg, &ped), 2);
	cr_expect_eq(ped.seq[0], 2);
	cr_expect_eq(ped.seq[1], 4);
	cr_expect_eq(store_queue_load(f.st, "nobody", 0, 10, fx_on_msg, &none), 0);
	cr_expect_eq(store_queue_load(f.st, BUP, 0, 0, fx_on_msg, &none), 0);
	cr_expect_eq(store_queue_load(f.st, BUP, 0, -1, fx_on_msg, &none), 0);
	cr_expect_eq(none.n, 0);
	fx_fini(&f);
}

Test(store, queue_load_pages_by_seq)
{
	struct fx f;
	struct fx_seen page1 = { 0 }, page2 = { 0 };

	fx_init(&f);
	for (int i = 1; i <= 5; i++)
		fx_accept(&f, i, BUP);
	cr_assert_eq(store_queue_load(f.st, BUP, 0, 2, fx_on_msg, &page1), 2);
	cr_expect_eq(page1.seq[1], 2);
	cr_assert_eq(store_queue_load(f.st, BUP, page1.seq[1], 10, fx_on_msg,
	    &page2), 3);
	cr_expect_eq(page2.seq[0], 3);
	cr_expect_eq(page2.seq[2], 5);
	fx_fini(&f);
}

Test(store, queue_load_stops_when_callback_says_so)
{
	struct fx f;
	struct fx_seen s = { .stop_after = 2 };

	fx_init(&f);
	for (int i = 1; i <= 4; i++)
		fx_accept(&f, i, BUP);
	cr_expect_eq(store_queue_load(f.st, BUP, 0, 10, fx_on_msg, &s), 2);
	cr_expect_eq(s.n, 2);
	fx_fini(&f);
}

Test(store, delivering_records_attempts_and_audits)
{
	struct fx f;
	struct fx_seen s = { 0 };

	fx_init(&f);
	int64_t seq = fx_accept(&f, 1, BUP);
	cr_assert_eq(store_delivering(f.st, seq, 1, BUP, FX_NOW), 0);
	cr_assert_eq(store_delivering(f.st, seq, 2, BUP, FX_NOW + 30), 0);
	cr_assert_eq(store_queue_load(f.st, BUP, 0, 10, fx_on_msg, &s), 1);
	cr_expect_eq(s.attempts[0], 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'delivered' AND node = 'bup-ostra' AND detail IN ('attempt 1', "
	    "'attempt 2')"), 2);
	cr_expect_eq(store_delivering(f.st, 999, 1, BUP, FX_NOW), -1);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* A delivery recorded after a delivery pass read its message (the SQLite
 * store keeps what the pass read) writes the same message fields as one
 * recorded after a reopen (read from the store): each delivered row
 * carries its received row's fields. A message dead-lettered after the
 * pass read it is recorded as no delivery. */
Test(store, delivery_rows_carry_the_message_as_stored)
{
	struct fx f;
	struct fx_msg x;
	struct fx_seen s = { 0 };
	int64_t seq[4];

	fx_init(&f);
	for (int i = 1; i <= 3; i++)
		seq[i] = fx_accept(&f, i, BUP);
	cr_assert_eq(store_queue_load(f.st, BUP, 0, 10, fx_on_msg, &s), 3);
	cr_assert_eq(store_delivering(f.st, seq[1], 1, BUP, FX_NOW), 0);
	cr_assert_eq(store_dead_letter(f.st, fx_msg(&x, 3, BUP)->message_id,
	    "NR050", "operator", false, NULL, FX_NOW + 1), 0);
	cr_expect_eq(store_delivering(f.st, seq[3], 1, BUP, FX_NOW + 2), -1,
	    "dead-lettered after the pass read it");
	store_free(&f.st);
	f.st = fx_open(&f, false);
	cr_assert_eq(store_delivering(f.st, seq[2], 1, BUP, FX_NOW + 3), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'delivered'"), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit d JOIN audit r "
	    "ON r.msg_seq = d.msg_seq AND r.event = 'received' WHERE d.event = "
	    "'delivered' AND d.payload_sha256 = r.payload_sha256 AND "
	    "d.payload_size = r.payload_size AND d.type = r.type AND d.sender = "
	    "r.sender AND d.recipient = r.recipient AND coalesce(d.author, '') = "
	    "coalesce(r.author, '') AND d.legal_basis = r.legal_basis AND "
	    "coalesce(d.subject, '') = coalesce(r.subject, '') AND "
	    "d.message_id = r.message_id"), 2);
	cr_expect_eq(fx_sql_int(&f, "SELECT attempts FROM messages WHERE seq = "
	    "3"), 0, "no attempt recorded for the dead letter");
	fx_verify_ok(&f);
	fx_fini(&f);
}

#ifndef FX_POSTGRESQL
/* SQLite: a pass by seq (the seqs a session knows are queued for its node)
 * keeps what it handed out for the delivery's row, as a pass over the
 * queue does, so that the row does not read the message again; what it
 * did not hand out is not kept, and the delivery's row takes the entry. */
Test(store, a_pass_by_seq_keeps_what_it_handed_out)
{
	struct fx f;
	struct fx_seen s = { .stop_after = 2 };
	struct msg_row row;
	int64_t seq[3];

	fx_init(&f);
	for (int i = 0; i < 3; i++)
		seq[i] = fx_accept(&f, i + 1, BUP);
	cr_assert_eq(store_queue_seqs(f.st, BUP, seq, 3, fx_on_msg, &s), 2);
	cr_assert(store_dcache_get(f.st->be, seq[0], &row));
	cr_expect_str_eq(row.m.message_id, s.id[0]);
	cr_expect(store_dcache_get(f.st->be, seq[1], &row));
	cr_expect_not(store_dcache_get(f.st->be, seq[2], &row),
	    "the pass stopped before it");
	cr_assert_eq(store_delivering(f.st, seq[0], 1, BUP, FX_NOW), 0);
	cr_expect_not(store_dcache_get(f.st->be, seq[0], &row),
	    "its delivery's row took it");
	cr_expect_eq(audit_count(&f, "delivered"), 1);
	fx_verify_ok(&f);
	fx_fini(&f);
}
#endif

/* ---------------------------------------------------------------- acks */

struct fact_text {
	char *buf;
	size_t len, used;
};

static int
fact_add(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	struct fact_text *t = arg;
	int n = snprintf(t->buf + t->used, t->len - t->used, "%lld %s %s %s|",
	    (long long)r->seq, r->event, r->node ? r->node : "-",
	    r->detail ? r->detail : "-");

	if (n > 0 && (size_t)n < t->len - t->used)
		t->used += (size_t)n;
	return 0;
}

/* The facts (not rows) with this event and node (NULL: any), as
 * "seq event node detail|" each; the number of facts. */
static int64_t
fact_list(struct store *st, const char *event, const char *node, char *buf,
    size_t len)
{
	struct store_audit_filter flt = { .select = STORE_AUDIT_MATCH,
	    .from_ms = INT64_MIN, .to_ms = INT64_MAX, .event = event,
	    .node = node };
	struct fact_text t = { .buf = buf, .len = len };
	struct nara_err err = { 0 };
	int64_t n;

	buf[0] = '\0';
	n = store_audit_rows(st, &flt, fact_add, &t, &err);
	cr_assert_geq(n, 0, "%s", err.text);
	return n;
}

Test(store, ack_purges_payload_and_queues_delivered_receipt)
{
	struct fx f;
	struct fx_msg x;
	struct fx_receipts rs = { 0 };
	struct fx_seen s = { 0 };
	bool was_new = false;
	char facts[512];

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_deliver(&f, 1, BUP);
	fx_msg(&x, 1, BUP);
	cr_assert_eq(store_acked(f.st, x.id, BUP, FX_NOW + 10, &was_new), 0);
	cr_expect(was_new);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    "NOT " FX_SQL_PAYLOAD_KEPT " AND state = 1 AND done_at = 1795000010 AND "
	    "length(payload_sha256) = 32"), 1);
	cr_expect_eq(store_queue_load(f.st, BUP, 0, 10, fx_on_msg, &s), 0);
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &rs), 1);
	cr_expect_str_eq(rs.node[0], GBG);
	cr_expect_str_eq(rs.r[0]->message_id, x.id);
	cr_expect_eq(rs.r[0]->outcome, NARA__OUTCOME__OUTCOME_DELIVERED);
	cr_expect_str_eq(rs.r[0]->time, "2026-11-18T11:06:50Z");
	cr_expect_str_eq(rs.r[0]->receiving_node, BUP);
	cr_expect_str_eq(rs.r[0]->recipient, "SE2321000131-E000000000101");
	cr_expect_str_eq(rs.r[0]->conversation_id,
	    "11111111-1111-4111-8111-111111111111");
	cr_expect_str_eq(rs.r[0]->code, "");
	fx_receipts_free(&rs);
	/* one row records the ack, the purge and the receipt (audit.h) */
	cr_expect_eq(fx_sql_int(&f, "SELECT " FX_SQL_AGG "(event, ',') = "
	    "'received,delivered,acked' FROM (SELECT event FROM audit ORDER BY "
	    "seq) AS e"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'acked' AND node = 'bup-ostra' AND time = 1795000010000 AND detail = "
	    "'payload purged; receipt queued for kommun-1480'"), 1);
	/* and readers see the three facts, each a row's fields as before */
	cr_assert_eq(fact_list(f.st, NULL, NULL, facts, sizeof(facts)), 5,
	    "%s", facts);
	cr_expect_str_eq(facts, "1 received kommun-1480 routed to bup-ostra|"
	    "2 delivered bup-ostra attempt 1|3 acked bup-ostra -|3 "
	    "payload_purged - clinical content deleted after delivery|3 "
	    "receipt_queued kommun-1480 delivered|");
	cr_assert_eq(fact_list(f.st, "receipt_queued", "kommun-1480", facts,
	    sizeof(facts)), 1);
	cr_expect_str_eq(facts, "3 receipt_queued kommun-1480 delivered|");
	cr_expect_eq(fact_list(f.st, "acked", "kommun-1480", facts,
	    sizeof(facts)), 0);
	fx_verify_ok(&f);
	fx_fini(&f);
}

/* An ack of a message never delivered to the node is ignored: taken, it
 * claimed the message arrived, deleted its content and told the sender
 * DELIVERED while the message still waited in the queue. */
Test(store, unknown_repeated_foreign_or_undelivered_ack_is_harmless)
{
	struct fx f;
	struct fx_msg x;
	bool was_new = true;
	long long seq;

	fx_init(&f);
	seq = fx_accept(&f, 1, BUP);
	fx_msg(&x, 1, BUP);
	cr_expect_eq(store_acked(f.st, "no-such-id", BUP, FX_NOW, &was_new), 0);
	cr_expect_not(was_new);
	was_new = true;
	cr_expect_eq(store_acked(f.st, x.id, PED, FX_NOW, &was_new), 0);
	cr_expect_not(was_new, "a node acked a message sent to another node");
	was_new = true;
	cr_expect_eq(store_acked(f.st, x.id, BUP, FX_NOW, &was_new), 0);
	cr_expect_not(was_new, "the recipient acked a message not delivered");
	was_new = true;
	cr_expect_eq(store_acked_seq(f.st, seq, x.id, BUP, FX_NOW, &was_new), 0);
	cr_expect_not(was_new, "the recipient acked a message not delivered, "
	    "found by its seq");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    FX_SQL_PAYLOAD_KEPT " AND state = 0"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 0);
	fx_deliver(&f, 1, BUP);
	cr_assert_eq(store_acked(f.st, x.id, BUP, FX_NOW, &was_new), 0);
	cr_expect(was_new);
	cr_assert_eq(store_acked(f.st, x.id, BUP, FX_NOW, &was_new), 0);
	cr_expect_not(was_new);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit"), 3);
	fx_fini(&f);
}

/* The seq given with an ack is only a hint for finding the row: the
 * message acked is the one with that id, queued for that node, whatever
 * seq comes with it. */
Test(store, seq_given_with_an_ack_never_acks_another_message)
{
	struct fx f;
	struct fx_msg x1, x2;
	bool was_new = true;
	long long seq1, seq2;

	fx_init(&f);
	seq1 = fx_accept(&f, 1, BUP);
	seq2 = fx_accept(&f, 2, BUP);
	fx_deliver(&f, 1, BUP);
	fx_deliver(&f, 2, BUP);
	fx_msg(&x1, 1, BUP);
	fx_msg(&x2, 2, BUP);
	cr_assert_eq(store_acked_seq(f.st, seq1, x1.id, PED, FX_NOW, &was_new),
	    0);
	cr_expect_not(was_new, "another node acked with the right seq");
	cr_assert_eq(store_acked_seq(f.st, seq2, x1.id, BUP, FX_NOW, &was_new),
	    0);
	cr_expect(was_new, "the ack of message 1 was lost to a wrong seq");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    "state = 0"), 1);
	cr_expect_eq(fx_sql_int(&f, "SELECT seq FROM messages WHERE state = 0"),
	    seq2, "message 2 was acked by an ack of message 1");
	cr_assert_eq(store_acked_seq(f.st, seq2, x2.id, BUP, FX_NOW, &was_new),
	    0);
	cr_expect(was_new);
	cr_assert_eq(store_acked_seq(f.st, seq1, x1.id, BUP, FX_NOW, &was_new),
	    0);
	cr_expect_not(was_new, "acked twice");
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts"), 2);
	fx_fini(&f);
}

/* store_loads: what the loads one by one give, for several nodes */
struct both {
	struct fx_seen s;
	struct fx_receipts r;
};

static int
both_msg(void *arg, const struct store_msg *m)
{
	return fx_on_msg(&((struct both *)arg)->s, m);
}

static int
both_receipt(void *arg, const struct store_receipt *r)
{
	return fx_on_receipt(&((struct both *)arg)->r, r);
}

Test(store, loads_of_several_nodes_as_one_by_one)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	struct both bup = { 0 }, gbg = { 0 }, again = { 0 };
	struct store_load v[2];
	bool was_new;

	fx_init(&f);
	for (int i = 1; i <= 3; i++)
		fx_accept(&f, i, BUP);
	fx_deliver(&f, 1, BUP);
	cr_assert_eq(store_acked(f.st, fx_msg(&x, 1, BUP)->message_id, BUP,
	    FX_NOW, &was_new), 0);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	v[0] = (struct store_load){ .node = BUP, .limit = 10,
	    .rfn = both_receipt, .mfn = both_msg, .arg = &bup };
	v[1] = (struct store_load){ .node = GBG, .limit = 10,
	    .rfn = both_receipt, .mfn = both_msg, .arg = &gbg };
	cr_assert_eq(store_loads(f.st, v, 2), 0);
	cr_expect_eq(v[0].rcpts, 0);
	cr_expect_eq(v[0].msgs, 2, "the two still queued");
	cr_expect_eq(bup.s.n, 2);
	cr_expect_eq(bup.s.payload_len[0], strlen(x.payload));
	cr_expect_eq(v[1].rcpts, 1, "the delivered receipt for the sender");
	cr_expect_eq(v[1].msgs, 0);
	cr_expect_str_eq(gbg.r.r[0]->message_id, x.id);
	/* from a cursor, with a page of one and a walk that stops */
	again.s.stop_after = 1;
	v[0] = (struct store_load){ .node = BUP, .msg_after = bup.s.seq[0],
	    .limit = 5, .rfn = both_receipt, .mfn = both_msg, .arg = &again };
	v[1].rcpt_after = gbg.r.id[0];
	cr_assert_eq(store_loads(f.st, v, 2), 0);
	cr_expect_eq(v[0].msgs, 1);
	cr_expect_eq(again.s.seq[0], bup.s.seq[1]);
	cr_expect_eq(v[1].rcpts, 0, "nothing after the cursor");
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	/* outside a batch (PostgreSQL then reads node by node): the same */
	memset(&again, 0, sizeof(again));
	v[0] = (struct store_load){ .node = BUP, .limit = 10,
	    .rfn = both_receipt, .mfn = both_msg, .arg = &again };
	v[1].rcpt_after = 0;
	cr_assert_eq(store_loads(f.st, v, 2), 0);
	cr_expect_eq(v[0].msgs, 2);
	cr_expect_eq(again.s.seq[1], bup.s.seq[1]);
	cr_expect_eq(v[1].rcpts, 1);
	fx_receipts_free(&gbg.r);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- dead */

Test(store, nack_dead_letters_with_failed_receipt)
{
	struct fx f;
	struct fx_msg x;
	struct fx_receipts rs = { 0 };

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_msg(&x, 1, BUP);
	cr_expect_eq(store_dead_letter(f.st, x.id, "NR052", "journal refused",
	    false, PED, FX_NOW), -1, "only the recipient node may refuse");
	cr_assert_eq(store_dead_letter(f.st, x.id, "NR052", "journal refused",
	    false, BUP, FX_NOW), 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    "state = 2 AND dead_code = 'NR052' AND dead_text = 'journal refused'"
	    " AND " FX_SQL_PAYLOAD_KEPT), 1);
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &rs), 1);
	cr_expect_eq(rs.r[0]->outcome, NARA__OUTCOME__OUTCOME_FAILED);
	cr_expect_str_eq(rs.r[0]->code, "NR052");
	cr_expect_str_eq(rs.r[0]->text, "journal refused");
	cr_expect_str_eq(rs.r[0]->receiving_node, BUP);
	fx_receipts_free(&rs);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'dead_lettered' AND code = 'NR052' AND node = 'bup-ostra'"), 1);
	cr_expect_eq(store_dead_letter(f.st, x.id, "NR052", "again", false, BUP,
	    FX_NOW), -1, "a dead letter cannot die twice");
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(store, expiry_dead_letters_with_expired_receipt)
{
	struct fx f;
	struct fx_msg x;
	struct fx_receipts rs = { 0 };

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_msg(&x, 1, BUP);
	cr_assert_eq(store_dead_letter(f.st, x.id, "NR051", "expired before "
	    "delivery", true, "", FX_NOW), 0);
	cr_assert_eq(store_receipts_load(f.st, GBG, 0, 10, fx_on_receipt, &rs), 1);
	cr_expect_eq(rs.r[0]->outcome, NARA__OUTCOME__OUTCOME_EXPIRED);
	cr_expect_str_eq(rs.r[0]->code, "NR051");
	cr_expect_str_eq(rs.r[0]->receiving_node, "");
	fx_receipts_free(&rs);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM audit WHERE event = "
	    "'dead_lettered' AND node IS NULL AND detail = 'expired before "
	    "delivery'"), 1);
	fx_fini(&f);
}

Test(store, retry_requeues_a_dead_letter_at_the_back)
{
	struct fx f;
	struct fx_msg x;
	struct nara_err err = { 0 };
	struct fx_seen s = { 0 };

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	fx_accept(&f, 2, BUP);
	fx_msg(&x, 1, BUP);
	cr_assert_eq(store_delivering(f.st, 1, 3, BUP, FX_NOW), 0);
	cr_assert_eq(store_dead_letter(f.st, x.id, "NR050", "no", false, BUP,
	    FX_NOW), 0);
	cr_assert_eq(store_retry(f.st, x.id, NULL, FX_NOW + 60, &err), 0, "%s",
	    err.text);
	cr_assert_eq(store_queue_load(f.st, BUP, 0, 10, fx_on_msg, &s), 2);
	cr_expect_eq(s.seq[0], 2);
	cr_expect_eq(s.seq[1], 3);
	cr_expect_str_eq(s.id[1], x.id);
	cr_expect_eq(s.attempts[1], 0);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    "dead_code IS NULL AND done_at IS NULL AND state = 0"), 2);
	cr_expect_eq(audit_count(&f, "retried"), 1);
	fx_verify_ok(&f);
	fx_fini(&f);
}

Test(store, retry_of_unknown_or_live_message_is_bad_value)
{
	struct fx f;
	struct nara_err err = { 0 };

	fx_init(&f);
	fx_accept(&f, 1, BUP);
	cr_assert_eq(store_retry(f.st, "nope", NULL, FX_NOW, &err), -1);
	cr_expect_eq(err.code, NR_BAD_VALUE);
	cr_expect_str_eq(err.path, "message_id");
	cr_expect_str_eq(err.text, "no dead letter with id nope");
	cr_assert_eq(store_retry(f.st, "00000000-0000-4000-8000-000000000001",
	    NULL, FX_NOW, &err), -1);
	cr_expect_eq(err.code, NR_BAD_VALUE);
	cr_expect_eq(audit_count(&f, "retried"), 0);
	fx_fini(&f);
}

/* ---------------------------------------------------------------- expiry */

static void
accept_expiring(struct fx *f, int n, int64_t expires)
{
	struct fx_msg x;
	struct nara_err err = { 0 };
	enum store_accept_result res;

	fx_msg(&x, n, BUP);
	x.m.expires = expires;
	cr_assert_eq(store_accept(f->st, &x.m, FX_NOW, &res, &err), 0);
}

Test(store, expired_load_returns_only_due_queued_messages)
{
	struct fx f;
	struct fx_seen s = { 0 };

	fx_init(&f);
	accept_expiring(&f, 1, FX_NOW + 100);
	accept_expiring(&f, 2, 0);               /* never expires */
	accept_expiring(&f, 3, FX_NOW + 50);
	accept_expiring(&f, 4, FX_NOW + 500);
	accept_expiring(&f, 5, FX_NOW + 10);
	cr_assert_eq(store_dead_letter(f.st, "00000000-0000-4000-8000-"
	    "000000000005", "NR050", "x", false, BUP, FX_NOW), 0);
	cr_assert_eq(store_expired_load(f.st, FX_NOW + 100, 10, fx_on_msg, &s), 2);
	cr_expect_eq(s.seq[0], 3);   /* earliest expiry first */
	cr_expect_eq(s.seq[1], 1);
	cr_expect_eq(s.payload_len[0], 0, "expired load carries no payload");
	fx_fini(&f);
}

struct expire_all {
	struct store *st;
	int n;
};

static int
on_expire(void *arg, const struct store_msg *m)
{
	struct expire_all *e = arg;

	cr_assert_eq(store_dead_letter(e->st, m->message_id, "NR051", "expired",
	    true, "", FX_NOW + 1000), 0);
	e->n++;
	return 0;
}

Test(store, expiry_callback_may_dead_letter_while_walking)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct expire_all e;

	fx_init(&f);
	e.st = f.st;
	e.n = 0;
	for (int i = 1; i <= 20; i++)
		accept_expiring(&f, i, FX_NOW + i);
	cr_assert_eq(store_begin(f.st, &err), 0);
	cr_expect_eq(store_expired_load(f.st, FX_NOW + 1000, 100, on_expire,
	    &e), 20);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	cr_expect_eq(e.n, 20);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM messages WHERE "
	    "state = 2"), 20);
	cr_expect_eq(fx_sql_int(&f, "SELECT count(*) FROM receipts WHERE "
	    "outcome = 3"), 20);
	fx_verify_ok(&f);
	fx_fini(&f);
}
