/*
 * itest_fault.c — narad under faults it cannot prevent:
 *   - the store's disk fills up (a small tmpfs when the test may mount one,
 *     otherwise the store_max_bytes limit; the output names the mode);
 *   - fsync of the store fails with EIO (strace fault injection);
 *   - TLS links are cut in the middle of a transfer (a relay between the
 *     client tunnel and narad's TLS front that the test severs).
 * In every case senders get retryable refusals or lose their link, never a
 * false Accepted: after the fault every accepted message is handed off to
 * the recipient exactly once (its inbox is kept by message id, as the
 * adapter keeps it), the refused ones are accepted when resubmitted, and
 * the audit chain and the SQLite file verify. A recipient connected
 * during the fault gets none of the refused messages.
 * NARA_SOAK=1 (make soak) runs more messages and more link cuts.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "fault_helpers.h"
#include "hostile_helpers.h"
#include "harness.h"
#include "store.h"
#include "tls_helpers.h"
#include "tunnel.h"
#include "validate.h"

#define ANSWER_MS 15000

/* An environment switch: set, not empty and not "0". */
static bool
env_set(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static bool
soak(void)
{
	return env_set("NARA_SOAK");
}

/* ---------------------------------------------------------------- book */

/* Every message sent, as the sender keeps it: its encoded Submit frame
 * (resubmitted byte for byte after a refusal or a cut), and what became
 * of it. */
struct sent {
	char id[37];
	uint8_t *frame;
	size_t len;
	bool answered, accepted, refused, handed_off, receipt;
};

struct book {
	struct sent *v;
	int n, cap;
	int n_accepted, n_refused, n_handed_off, n_receipts, redeliveries;
	int n_nr040, n_nr041;       /* refusals seen, by code */
	int bad_refusals;           /* refusals with an unexpected code */
	char bad_code[16];
};

static int
book_add(struct book *bk, struct fixture *fx)
{
	Nara__Envelope *e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit s = NARA__SUBMIT__INIT;
	struct sent *m;

	if (bk->n == bk->cap) {
		bk->cap = bk->cap ? bk->cap * 2 : 256;
		bk->v = realloc(bk->v, (size_t)bk->cap * sizeof(*bk->v));
		cr_assert_not_null(bk->v);
	}
	m = &bk->v[bk->n];
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", e->message_id);
	s.envelope = e;
	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &s;
	m->frame = frame_encode(&f, &m->len);
	cr_assert_not_null(m->frame);
	return bk->n++;
}

static int
book_find(const struct book *bk, const char *id)
{
	for (int i = bk->n - 1; i >= 0; i--)
		if (strcmp(bk->v[i].id, id) == 0)
			return i;
	return -1;
}

static void
book_free(struct book *bk)
{
	for (int i = 0; i < bk->n; i++)
		free(bk->v[i].frame);
	free(bk->v);
	memset(bk, 0, sizeof(*bk));
}

static void
book_submit(struct tclient *c, struct book *bk, int i)
{
	bk->v[i].answered = false;
	tclient_send_raw(c, bk->v[i].frame, bk->v[i].len);
}

/* A refusal must be retryable and one of the store codes (want NULL: NR040
 * or NR041). */
static void
book_refused(struct book *bk, const Nara__Rejected *r, const char *want)
{
	int i = book_find(bk, r->message_id);
	bool code_ok = want ? strcmp(r->code, want) == 0 :
	    strcmp(r->code, "NR040") == 0 || strcmp(r->code, "NR041") == 0;

	cr_assert(i >= 0, "refused an id never sent: %s", r->message_id);
	bk->n_nr040 += strcmp(r->code, "NR040") == 0;
	bk->n_nr041 += strcmp(r->code, "NR041") == 0;
	if (!code_ok || !r->retryable) {
		bk->bad_refusals++;
		snprintf(bk->bad_code, sizeof(bk->bad_code), "%s%s", r->code,
		    r->retryable ? "" : "/final");
	}
	bk->v[i].answered = true;
	if (!bk->v[i].refused && !bk->v[i].accepted)
		bk->n_refused++;
	bk->v[i].refused = true;
}

/* Handle what the sender got: answers and receipts (acked). */
static void
pump_sender(struct tclient *c, struct book *bk, const char *want_code,
    int wait_ms)
{
	Nara__Frame *f;

	while ((f = tclient_recv(c, wait_ms)) != NULL) {
		wait_ms = 0;
		if (f->kind_case == NARA__FRAME__KIND_ACCEPTED) {
			int i = book_find(bk, f->accepted->message_id);
			cr_assert(i >= 0, "accepted an id never sent");
			bk->v[i].answered = true;
			if (!bk->v[i].accepted)
				bk->n_accepted++;
			if (bk->v[i].refused)
				bk->n_refused--;
			bk->v[i].accepted = true;
			bk->v[i].refused = false;
		} else if (f->kind_case == NARA__FRAME__KIND_REJECTED) {
			book_refused(bk, f->rejected, want_code);
		} else if (f->kind_case == NARA__FRAME__KIND_RECEIPT) {
			int i = book_find(bk, f->receipt->message_id);
			if (i >= 0 && !bk->v[i].receipt) {
				bk->v[i].receipt = true;
				bk->n_receipts++;
			}
			tclient_ack(c, f->receipt->message_id, true);
		}
		frame_free(&f);
	}
}

/* Handle what the recipient got: each delivery lands in the inbox (once
 * per id) and is acked. */
static void
pump_recipient(struct tclient *c, struct book *bk, int wait_ms)
{
	Nara__Frame *f;

	while ((f = tclient_recv(c, wait_ms)) != NULL) {
		wait_ms = 0;
		if (f->kind_case == NARA__FRAME__KIND_DELIVER) {
			const char *id = f->deliver->envelope->message_id;
			int i = book_find(bk, id);
			cr_assert(i >= 0, "delivered an id never sent: %s", id);
			if (bk->v[i].handed_off)
				bk->redeliveries++;
			else
				bk->n_handed_off++;
			bk->v[i].handed_off = true;
			tclient_ack(c, id, false);
		}
		frame_free(&f);
	}
}

/* Wait until each of the n messages idx[] is answered. */
static void
await_answers(struct tclient *c, struct book *bk, const int *idx, int n,
    const char *want_code)
{
	int64_t until = harness_ms_now() + ANSWER_MS;
	int open;

	do {
		pump_sender(c, bk, want_code, 20);
		open = 0;
		for (int k = 0; k < n; k++)
			open += !bk->v[idx[k]].answered;
	} while (open > 0 && harness_ms_now() < until);
	cr_assert_eq(open, 0, "%d submits never answered", open);
}

/* Send n new messages and wait until each is answered. */
static void
submit_new(struct tclient *c, struct book *bk, struct fixture *fx, int n,
    const char *want_code)
{
	int idx[64];

	cr_assert_leq(n, 64);
	for (int k = 0; k < n; k++) {
		idx[k] = book_add(bk, fx);
		book_submit(c, bk, idx[k]);
	}
	await_answers(c, bk, idx, n, want_code);
}

/* Resubmit every refused message, 32 at a time, until all are accepted. */
static void
resubmit_refused(struct tclient *c, struct book *bk, const char *want_code)
{
	for (int round = 0; round < 5 && bk->n_refused > 0; round++) {
		int idx[32], n = 0;

		for (int i = 0; i <= bk->n; i++) {
			if (i < bk->n && bk->v[i].refused) {
				idx[n++] = i;
				book_submit(c, bk, i);
			}
			if (n == 32 || (i == bk->n && n > 0)) {
				await_answers(c, bk, idx, n, want_code);
				n = 0;
			}
		}
	}
	cr_assert_eq(bk->n_refused, 0, "%d refused messages still refused after "
	    "the fault ended", bk->n_refused);
}

/* Drain: every accepted message handed off, and its receipt back at the
 * sender (so the ack is durable). */
static void
drain(struct tclient *snd, struct tclient *rcv, struct book *bk, int timeout_ms)
{
	int64_t until = harness_ms_now() + timeout_ms;

	while ((bk->n_handed_off < bk->n_accepted ||
	    bk->n_receipts < bk->n_accepted) && harness_ms_now() < until) {
		pump_recipient(rcv, bk, 50);
		pump_sender(snd, bk, NULL, 0);
	}
	cr_expect_eq(bk->n_handed_off, bk->n_accepted, "%d accepted messages "
	    "never handed off", bk->n_accepted - bk->n_handed_off);
	cr_expect_eq(bk->n_receipts, bk->n_accepted, "%d delivery receipts "
	    "missing", bk->n_accepted - bk->n_receipts);
	for (int i = 0; i < bk->n; i++)
		cr_expect(!bk->v[i].handed_off || bk->v[i].accepted,
		    "%s handed off but never accepted", bk->v[i].id);
}

/* ---------------------------------------------------------------- checks */

/* After narad stopped: chain intact, SQLite file sound, every accepted
 * message delivered in the store's own counts. */
static void
verify_store(const struct harness *h, const struct book *bk)
{
	struct nara_err err = { 0 };
	struct store_options opt = { .read_only = true };
	struct store *st = store_open(h->store, &opt, &err);
	struct store_totals t = { 0 };
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int64_t bad = 0;

	cr_assert_not_null(st, "%s", err.text);
	cr_expect_eq(store_audit_verify(st, &bad, &err), 0,
	    "audit chain broken at %lld: %s", (long long)bad, err.text);
	cr_assert_eq(store_totals(st, &t), 0);
	cr_expect_eq(t.queued, 0, "%lld messages still queued", (long long)t.queued);
	store_free(&st);
	cr_assert_eq(sqlite3_open_v2(h->store, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM messages "
	    "WHERE state = 1", -1, &q, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	cr_expect_eq(sqlite3_column_int64(q, 0), bk->n_accepted, "store has "
	    "%lld delivered, %d were accepted", (long long)sqlite3_column_int64(q,
	    0), bk->n_accepted);
	sqlite3_finalize(q);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q,
	    NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	cr_expect_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

/* The end of a run with one sender and one recipient: both close, narad
 * stops cleanly, the store verifies (verify_store), all is freed. */
static void
finish(struct harness *h, struct tclient *snd, struct tclient *rcv,
    struct book *bk, struct fixture **fx)
{
	tclient_close(snd);
	tclient_close(rcv);
	cr_assert_eq(harness_stop(h, SIGTERM), 0);
	verify_store(h, bk);
	book_free(bk);
	fixture_free(fx);
	harness_cleanup(h);
}

/* Replace the config line starting with key (e.g. "store =") by line. */
static void
conf_set(const struct harness *h, const char *key, const char *line)
{
	char *text = NULL, *at, *end;
	size_t len = 0;
	FILE *f = fopen(h->conf, "r");

	cr_assert_not_null(f, "%s", h->conf);
	cr_assert_geq(getdelim(&text, &len, '\0', f), 0);
	fclose(f);
	for (at = text; at != NULL && strncmp(at, key, strlen(key)) != 0;
	    at = (at = strchr(at, '\n')) ? at + 1 : NULL)
		;
	cr_assert_not_null(at, "no \"%s\" line in %s", key, h->conf);
	end = strchr(at, '\n');
	cr_assert_not_null(f = fopen(h->conf, "w"));
	fwrite(text, 1, (size_t)(at - text), f);
	fprintf(f, "%s%s", line, end ? end : "\n");
	fclose(f);
	free(text);
}

/* ---------------------------------------------------------------- disk full */

#define STORE_FS_KIB 2048         /* the small disk the store fills */
#define STORE_LIMIT_KIB 512       /* store_max_bytes when no tmpfs */
#define STORE_SOAK_FILLS 4
#define FILL_MAX 30000

/* Submit until at least 40 messages were refused. */
static void
fill_store(struct harness *h, struct tclient *snd, struct book *bk,
    struct fixture *fx, const char *want)
{
	while (bk->n_refused < 40 && bk->n < FILL_MAX)
		submit_new(snd, bk, fx, 32, want);
	cr_assert_gt(bk->n_refused, 0, "the store never filled: %d messages "
	    "accepted", bk->n_accepted);
	cr_assert_gt(bk->n_accepted, 0, "nothing accepted before the store "
	    "was full");
	cr_expect_eq(bk->bad_refusals, 0, "a refusal was %s, not a retryable %s",
	    bk->bad_code, want ? want : "NR040/NR041");
	cr_assert(narad_alive(h), "narad died on a full store; see %s", h->log);
	cr_expect_gt(harness_log_count(h, "NR040") + harness_log_count(h, "NR041"),
	    0, "no log line names the store refusal; see %s", h->log);
}

/* Put the store on a small tmpfs when this process may mount one; else
 * fall back to the store_max_bytes limit, refused with NR040 only (*want).
 * Says which mode runs. */
static bool
small_disk(struct harness *h, const char *fs, const char **want)
{
	char why[200], line[400];
	bool tmpfs;

	if (env_set("NARA_FAULT_NO_TMPFS"))
		snprintf(why, sizeof(why), "NARA_FAULT_NO_TMPFS is set");
	tmpfs = !env_set("NARA_FAULT_NO_TMPFS") &&
	    fault_tmpfs_mount(fs, STORE_FS_KIB, why, sizeof(why)) == 0;
	if (tmpfs) {
		snprintf(h->store, sizeof(h->store), "%s/nara.db", fs);
		snprintf(line, sizeof(line), "store = %s", h->store);
		conf_set(h, "store =", line);
		fprintf(stderr, "fault: disk-full mode: store on a %d KiB tmpfs "
		    "that fills up (real ENOSPC)\n", STORE_FS_KIB);
	} else {
		*want = "NR040";
		snprintf(line, sizeof(line), "store_max_bytes = %dK",
		    STORE_LIMIT_KIB);
		conf_set(h, "store_max_bytes =", line);
		fprintf(stderr, "fault: disk-full mode: store_max_bytes = %d KiB "
		    "limit only, NOT a full disk (%s)\n", STORE_LIMIT_KIB, why);
	}
	return tmpfs;
}

/* Give the store more room: step times the first size, or (step 0) room
 * for everything. The tmpfs grows in place; the limit needs a restart. */
static void
make_room(struct harness *h, struct tclient *snd, const char *fs, bool tmpfs,
    int step)
{
	char line[100];

	if (tmpfs) {
		cr_assert_eq(fault_tmpfs_resize(fs, step ? (unsigned)step *
		    STORE_FS_KIB : 64 * 1024), 0, "%s", strerror(errno));
		return;
	}
	snprintf(line, sizeof(line), "store_max_bytes = %dK",
	    step * STORE_LIMIT_KIB);       /* step 0: "0K", no limit */
	tclient_close(snd);
	cr_assert_eq(harness_stop(h, SIGTERM), 0);
	conf_set(h, "store_max_bytes =", line);
	harness_start(h);
	tclient_open(snd, h, T_GBG, 64);
}

Test(fault, store_full_refuses_then_resumes, .timeout = 600)
{
	struct harness h;
	struct book bk = { 0 };
	struct fixture *fx = fixture_new();
	struct tclient snd, rcv;
	char fs[300];
	const char *want = NULL;
	bool tmpfs;
	int peak = 0;

	harness_init(&h, "store_max_bytes = 0\n");
	snprintf(fs, sizeof(fs), "%s/fs", h.dir);
	tmpfs = small_disk(&h, fs, &want);
	harness_start(&h);
	tclient_open(&snd, &h, T_GBG, 64);
	/* Fill, make room, resubmit: once, or STORE_SOAK_FILLS times with a
	 * little more room each time, then room for everything. */
	for (int c = 0, fills = soak() ? STORE_SOAK_FILLS : 1; c < fills; c++) {
		fill_store(&h, &snd, &bk, fx, want);
		peak += bk.n_refused;
		make_room(&h, &snd, fs, tmpfs, c + 1 < fills ? c + 2 : 0);
		resubmit_refused(&snd, &bk, want);
	}
	submit_new(&snd, &bk, fx, 32, want);
	cr_expect_eq(bk.n_refused, 0, "new submits still refused");

	tclient_open(&rcv, &h, T_BUP, 256);
	drain(&snd, &rcv, &bk, 180000);
	tclient_close(&snd);
	tclient_close(&rcv);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	verify_store(&h, &bk);
	fprintf(stderr, "fault: disk full (%s): %d sent, %d refused while full "
	    "(refusals: %d NR040, %d NR041), all %d accepted in the end, %d "
	    "handed off, %d redeliveries absorbed\n", tmpfs ? "tmpfs" :
	    "store_max_bytes", bk.n, peak, bk.n_nr040, bk.n_nr041,
	    bk.n_accepted, bk.n_handed_off, bk.redeliveries);
	if (tmpfs)
		fault_tmpfs_umount(fs);
	book_free(&bk);
	fixture_free(&fx);
	harness_cleanup(&h);
}

/* ---------------------------------------------------------------- fsync EIO */

/* narad started for a test that injects fsync errors (skipped without
 * strace). */
static void
start_for_fsync_faults(struct harness *h)
{
	if (system("command -v strace >/dev/null 2>&1") != 0)
		cr_skip_test("strace is not installed: fsync errors not injected");
	harness_init(h, NULL);
	harness_start(h);
}

Test(fault, fsync_eio_refuses_then_resumes, .timeout = 300)
{
	struct harness h;
	struct book bk = { 0 };
	struct fixture *fx = fixture_new();
	struct tclient snd, rcv;
	int before, faulted;
	pid_t tracer;

	start_for_fsync_faults(&h);
	tclient_open(&snd, &h, T_GBG, 64);
	submit_new(&snd, &bk, fx, 32, "NR041");
	cr_assert_eq(bk.n_refused, 0, "refusals before any fault");

	tracer = fsync_inject(h.pid, "error=EIO");
	before = bk.n_accepted;
	for (int r = 0; r < (soak() ? 20 : 3); r++)
		submit_new(&snd, &bk, fx, 32, "NR041");
	faulted = bk.n - before;
	cr_expect_eq(bk.n_accepted, before, "%d messages accepted while every "
	    "fsync failed", bk.n_accepted - before);
	cr_expect_eq(bk.n_refused, faulted);
	cr_expect_eq(bk.bad_refusals, 0, "a refusal was %s, not a retryable "
	    "NR041", bk.bad_code);
	cr_assert(narad_alive(&h), "narad died on fsync errors; see %s", h.log);
	cr_expect_gt(harness_log_count(&h, "NR041"), 0, "no log line names "
	    "the store failure; see %s", h.log);
	fsync_inject_end(tracer, h.pid);

	resubmit_refused(&snd, &bk, "NR041");
	submit_new(&snd, &bk, fx, 32, "NR041");
	cr_expect_eq(bk.n_refused, 0, "new submits still refused");
	tclient_open(&rcv, &h, T_BUP, 256);
	drain(&snd, &rcv, &bk, 120000);
	fprintf(stderr, "fault: fsync EIO: %d submits refused with NR041 while "
	    "failing, all %d accepted on resubmit, %d handed off\n", faulted,
	    bk.n_accepted, bk.n_handed_off);
	finish(&h, &snd, &rcv, &bk, &fx);
}

/* A message reaches its recipient only after the batch that accepted it
 * committed. With every fsync failing, the recipient is connected all
 * along and narad reads its queue in each failing batch, yet it gets none
 * of the refused messages: the first delivery it sees is the first
 * message accepted after the fault (a node gets its frames in the order
 * narad hands them over). */
Test(fault, refused_messages_never_reach_a_connected_recipient,
    .timeout = 300)
{
	struct harness h;
	struct book bk = { 0 };
	struct fixture *fx = fixture_new();
	struct tclient snd, rcv;
	int64_t until;
	int first;
	pid_t tracer;

	start_for_fsync_faults(&h);
	tclient_open(&rcv, &h, T_BUP, 256);
	tclient_open(&snd, &h, T_GBG, 64);
	tracer = fsync_inject(h.pid, "error=EIO");
	for (int r = 0; r < 3; r++)
		submit_new(&snd, &bk, fx, 32, "NR041");
	cr_expect_eq(bk.n_accepted, 0, "%d messages accepted while every "
	    "fsync failed", bk.n_accepted);
	fsync_inject_end(tracer, h.pid);
	first = bk.n;
	submit_new(&snd, &bk, fx, 1, "NR041");
	cr_assert(bk.v[first].accepted, "the first submit after the fault was "
	    "not accepted");
	until = harness_ms_now() + ANSWER_MS;
	while (!bk.v[first].handed_off && harness_ms_now() < until)
		pump_recipient(&rcv, &bk, 100);
	cr_assert(bk.v[first].handed_off, "the message accepted after the "
	    "fault was never delivered");
	/* anything delivered before it came from a batch that failed */
	for (int i = 0; i < first; i++)
		cr_assert_not(bk.v[i].handed_off, "%s was delivered although its "
		    "batch never committed (its sender was told NR041)",
		    bk.v[i].id);
	resubmit_refused(&snd, &bk, "NR041");
	drain(&snd, &rcv, &bk, 120000);
	finish(&h, &snd, &rcv, &bk, &fx);
}

/* Acks the disk refused: the recipient's local system has the messages,
 * but the batch that recorded the acks did not commit, so they are queued
 * again although nothing of them is in flight any more. narad reads where
 * each queue starts from the store again: they are delivered once more
 * (the inbox absorbs the repeat), acked, and their receipts reach the
 * sender. */
Test(fault, acks_refused_by_the_disk_are_delivered_again, .timeout = 300)
{
	struct harness h;
	struct book bk = { 0 };
	struct fixture *fx = fixture_new();
	struct tclient snd, rcv;
	int failed;
	pid_t tracer;

	start_for_fsync_faults(&h);
	tclient_open(&snd, &h, T_GBG, 64);
	tclient_open(&rcv, &h, T_BUP, 64);
	submit_new(&snd, &bk, fx, 32, "NR041");
	cr_assert_eq(bk.n_accepted, 32);
	/* handed to the recipient's connection and on record, not read yet */
	cr_assert(harness_wait_sql(&h, "SELECT count(*) FROM audit WHERE "
	    "event = 'delivered'", 32, 20000), "the deliveries were not made");

	failed = harness_log_count(&h, "batch not committed");
	tracer = fsync_inject(h.pid, "error=EIO");
	pump_recipient(&rcv, &bk, 5000);
	cr_assert_eq(bk.n_handed_off, 32);
	cr_assert(harness_wait_log(&h, "batch not committed", failed + 1,
	    20000), "the acks' batch committed; see %s", h.log);
	fsync_inject_end(tracer, h.pid);

	drain(&snd, &rcv, &bk, 120000);
	cr_expect_gt(bk.redeliveries, 0, "nothing delivered again after the "
	    "acks were refused");
	finish(&h, &snd, &rcv, &bk, &fx);
}

/* ---------------------------------------------------------------- TLS cuts */

struct tls_rig {
	char pki[64];
	int tls_port;
	struct cutproxy *px_snd, *px_rcv;       /* the links the test severs */
	struct nara_tunnel *tu_snd, *tu_rcv;
	struct harness via_snd, via_rcv;        /* router = the tunnel */
};

static struct nara_tunnel *
rig_tunnel(struct tls_rig *rig, struct cutproxy *px, const char *node,
    struct harness *via, const struct harness *h)
{
	char ca[128], cert[128], key[128];
	struct nara_tunnel *t;

	snprintf(ca, sizeof(ca), "%s/ca.pem", rig->pki);
	snprintf(cert, sizeof(cert), "%s/%s.pem", rig->pki, node);
	snprintf(key, sizeof(key), "%s/%s.key", rig->pki, node);
	t = tls_tunnel_start(cutproxy_port(px), NULL, ca, cert, key);
	*via = *h;
	snprintf(via->router, sizeof(via->router), "%s", tunnel_endpoint(t));
	return t;
}

/* Certificates, narad with a TLS front, a severable relay and a client
 * tunnel for each of the two nodes. */
static void
rig_start(struct tls_rig *rig, struct harness *h)
{
	char extra[2048];

	tls_pki_make(rig->pki, (const char *const[]){ T_GBG, T_BUP, NULL });
	rig->tls_port = tls_free_port();
	snprintf(extra, sizeof(extra), "ack_timeout = 5\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\ncrl = %s/crl.pem\n"
	    "identity = san-uri\nhandshake_timeout = 5\nmax_connections = 64\n"
	    "runtime_dir = @RUNTIME_DIR@\n", rig->tls_port, rig->pki, rig->pki,
	    rig->pki, rig->pki);
	harness_init(h, extra);
	tls_conf_runtime_dir(h);
	harness_start(h);
	tls_wait_listening(rig->tls_port, h->log);
	rig->px_snd = cutproxy_start(rig->tls_port);
	rig->px_rcv = cutproxy_start(rig->tls_port);
	rig->tu_snd = rig_tunnel(rig, rig->px_snd, T_GBG, &rig->via_snd, h);
	rig->tu_rcv = rig_tunnel(rig, rig->px_rcv, T_BUP, &rig->via_rcv, h);
}

static void
rig_stop(struct tls_rig *rig)
{
	char cmd[128];

	tls_tunnel_stop(&rig->tu_snd);
	tls_tunnel_stop(&rig->tu_rcv);
	cutproxy_stop(&rig->px_snd);
	cutproxy_stop(&rig->px_rcv);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rig->pki);
		cr_expect_eq(system(cmd), 0);
	}
}

/* Resubmit, without waiting, whatever was sent but not accepted (lost with
 * a cut link or refused); the sender does this after every reconnect. */
static int
resubmit_pending(struct tclient *c, struct book *bk)
{
	int n = 0;

	for (int i = 0; i < bk->n; i++)
		if (!bk->v[i].accepted) {
			book_submit(c, bk, i);
			if (++n % 32 == 0)
				pump_sender(c, bk, NULL, 5);
		}
	return n;
}

/* One round: both nodes connect, messages stream for a random while, then
 * one link (or both) is reset with frames in flight. */
static void
cut_round(struct tls_rig *rig, struct book *bk, struct fixture *fx, int round,
    unsigned *seed, int *cuts)
{
	struct tclient snd, rcv;
	int64_t cut_at = harness_ms_now() + 100 + rand_r(seed) % 300;
	struct cutproxy *watch = round % 3 == 1 ? rig->px_rcv : rig->px_snd;
	long long before, after;
	int handed;

	tclient_open(&snd, &rig->via_snd, T_GBG, 64);
	tclient_open(&rcv, &rig->via_rcv, T_BUP, 64);
	resubmit_pending(&snd, bk);
	cutproxy_counts(watch, &before, NULL);
	handed = bk->n_handed_off;
	/* Stream until the cut time, and at least until the link to be cut
	 * carried bytes (and, for the recipient, a delivery) this round. */
	do {
		for (int k = 0; k < 16 && bk->n - bk->n_accepted < 512; k++)
			book_submit(&snd, bk, book_add(bk, fx));
		pump_sender(&snd, bk, NULL, 0);
		pump_recipient(&rcv, bk, 5);
		cutproxy_counts(watch, &after, NULL);
	} while (harness_ms_now() < cut_at || ((after == before ||
	    (watch == rig->px_rcv && bk->n_handed_off == handed)) &&
	    harness_ms_now() < cut_at + 10000));
	cr_assert_gt(after, before, "round %d: no traffic on the link before "
	    "the cut", round);
	if (round % 3 != 1)
		*cuts += cutproxy_cut(rig->px_snd);
	if (round % 3 != 0)
		*cuts += cutproxy_cut(rig->px_rcv);
	pump_sender(&snd, bk, NULL, 50);
	pump_recipient(&rcv, bk, 50);
	tclient_close(&snd);
	tclient_close(&rcv);
	/* narad has noticed both links are gone: each node's newest
	 * connection audit row says disconnected */
	cr_assert(harness_wait_sql(&rig->via_snd, "SELECT count(*) FROM audit a "
	    "WHERE a.event = 'node_disconnected' AND a.node IN ('" T_GBG "', '"
	    T_BUP "') AND a.seq = (SELECT max(seq) FROM audit b WHERE b.node = "
	    "a.node AND b.event IN ('node_connected', 'node_disconnected'))", 2,
	    30000), "round %d: narad did not notice the closed links", round);
}

Test(fault, tls_cut_mid_transfer, .timeout = 600)
{
	struct harness h;
	struct tls_rig rig = { 0 };
	struct book bk = { 0 };
	struct fixture *fx = fixture_new();
	struct tclient snd, rcv;
	struct tunnel_stats ts_snd, ts_rcv;
	unsigned seed = (unsigned)time(NULL);
	int rounds = soak() ? 30 : 4, cuts = 0;
	int64_t until;

	/* Like nara-adapter: a write on a link the relay has reset must come
	 * back as EPIPE, not kill the process that hosts the tunnel. */
	signal(SIGPIPE, SIG_IGN);
	rig_start(&rig, &h);
	for (int r = 0; r < rounds; r++)
		cut_round(&rig, &bk, fx, r, &seed, &cuts);

	/* Final link: everything sent gets accepted, everything accepted is
	 * handed off once. */
	tclient_open(&snd, &rig.via_snd, T_GBG, 64);
	tclient_open(&rcv, &rig.via_rcv, T_BUP, 256);
	until = harness_ms_now() + 120000;
	while (bk.n_accepted < bk.n && harness_ms_now() < until) {
		resubmit_pending(&snd, &bk);
		for (int64_t t = harness_ms_now() + 2000; harness_ms_now() < t &&
		    bk.n_accepted < bk.n;)
			pump_sender(&snd, &bk, NULL, 20);
		pump_recipient(&rcv, &bk, 0);
	}
	cr_expect_eq(bk.n_accepted, bk.n, "%d messages never accepted",
	    bk.n - bk.n_accepted);
	cr_expect_eq(bk.n_refused, 0, "refusals on a healthy store");
	drain(&snd, &rcv, &bk, 120000);
	tclient_close(&snd);
	tclient_close(&rcv);
	cr_assert(narad_alive(&h), "narad died; see %s", h.log);
	tunnel_stats(rig.tu_snd, &ts_snd);
	tunnel_stats(rig.tu_rcv, &ts_rcv);
	rig_stop(&rig);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	verify_store(&h, &bk);
	fprintf(stderr, "fault: TLS cuts: %d rounds, %d connections reset, "
	    "%lu+%lu TLS handshakes, %d sent, %d accepted, %d handed off once, "
	    "%d redeliveries absorbed by the inbox\n", rounds, cuts,
	    ts_snd.handshakes_ok, ts_rcv.handshakes_ok, bk.n, bk.n_accepted,
	    bk.n_handed_off, bk.redeliveries);
	cr_expect_geq(cuts, rounds, "fewer connections cut than rounds");
	cr_expect_geq(ts_snd.handshakes_ok + ts_rcv.handshakes_ok,
	    (unsigned long)(2 * rounds + 2), "links were not re-established");
	book_free(&bk);
	fixture_free(&fx);
	harness_cleanup(&h);
}
