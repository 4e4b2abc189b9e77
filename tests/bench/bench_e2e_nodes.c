/*
 * bench_e2e_nodes.c — the nodes of bench_e2e: one thread per sender (closed
 * or open loop submits, acks the receipts narad returns) and one per
 * recipient (stores every delivered id in its own SQLite inbox, commits,
 * and only then acks, as nara-adapter must), the counters the parts wait
 * on, and the exactly-once check over the recipients' inboxes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <zmq.h>

#include "bench_common.h"
#include "bench_e2e.h"
#include "fixture.h"
#include "pbstr.h"
#include "tunnel.h"
#include "validate.h"

#define STALL_NS (60LL * 1000000000)   /* no progress this long = failure */

/* ---------------------------------------------------------------- recipients */

static sqlite3 *
inbox_open(struct part *p, int n)
{
	char path[400], sql[300];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/inbox-%s.db", p->dir,
	    e2e.recipient_codes[n]);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=WAL; PRAGMA synchronous="
	    "%s; CREATE TABLE IF NOT EXISTS received (id TEXT PRIMARY KEY, "
	    "at INTEGER NOT NULL)", e2e.inbox_sync);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		bench_die(PROG, "cannot open a recipient's inbox");
	return db;
}

/* Read every Deliver waiting (the first blocking up to 100 ms); the ids go
 * to ids[], at most max. Returns how many. */
static int
inbox_read(void *s, char (*ids)[37], int max, long *redelivered)
{
	int n = 0;

	for (int flags = 0; n < max; flags = ZMQ_DONTWAIT) {
		zmq_msg_t m;
		Nara__Frame *f;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, s, flags) < 0) {
			zmq_msg_close(&m);
			break;
		}
		f = frame_decode(zmq_msg_data(&m), zmq_msg_size(&m), 1 << 20, NULL);
		zmq_msg_close(&m);
		if (f != NULL && f->kind_case == NARA__FRAME__KIND_DELIVER &&
		    f->deliver->envelope != NULL) {
			snprintf(ids[n++], 37, "%s", f->deliver->envelope->message_id);
			if (f->deliver->attempt > 1)
				(*redelivered)++;
		}
		frame_free(&f);
	}
	return n;
}

/* Store a batch of ids in one transaction (one fsync); marks the first
 * arrival of each as durable. */
static void
inbox_commit(struct part *p, sqlite3 *db, sqlite3_stmt *ins, char (*ids)[37],
    int n)
{
	bool fresh[n];
	int64_t now;
	long added = 0;

	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		bench_die(PROG, sqlite3_errmsg(db));
	for (int i = 0; i < n; i++) {
		sqlite3_bind_text(ins, 1, ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, bench_now_ns());
		if (sqlite3_step(ins) != SQLITE_DONE)
			bench_die(PROG, sqlite3_errmsg(db));
		fresh[i] = sqlite3_changes(db) == 1;
		sqlite3_reset(ins);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		bench_die(PROG, sqlite3_errmsg(db));
	now = bench_now_ns();
	for (int i = 0; i < n; i++) {
		long idx = bench_index_of(ids[i]);
		if (fresh[i] && idx >= 0 && idx < p->total) {
			p->durable[idx] = now;
			added++;
		}
	}
	atomic_fetch_add(&p->n_durable, added);
	atomic_fetch_add(&p->n_already_stored, n - added);
	atomic_fetch_add(&p->n_commits, 1);
}

static void *
recipient_run(void *arg)
{
	struct recipient *r = arg;
	struct part *p = r->p;
	sqlite3 *db = inbox_open(p, r->n);
	sqlite3_stmt *ins;
	char (*ids)[37] = calloc((size_t)e2e.credit, 37);
	int timeout = 100;
	long redelivered = 0;
	void *s;

	if (ids == NULL || sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO received "
	    "(id, at) VALUES (?1, ?2)", -1, &ins, NULL) != SQLITE_OK)
		bench_die(PROG, "cannot prepare the inbox");
	s = bench_node_open(p->ctx, e2e.nodes[N_SENDERS + r->n],
	    tunnel_endpoint(p->tunnels[N_SENDERS + r->n]), (unsigned)e2e.credit);
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	atomic_fetch_add(&p->n_ready, 1);
	while (!atomic_load(&p->stop_recipients)) {
		int n = inbox_read(s, ids, e2e.credit, &redelivered);
		/* --lose: the first recipient acks without storing, as a
		 * broken adapter would; the exactly-once check must fail. */
		while (r->n == 0 && n > 0 && atomic_load(&p->n_lost) < e2e.lose) {
			bench_send_ack(s, ids[--n], false);
			atomic_fetch_add(&p->n_lost, 1);
		}
		if (n == 0)
			continue;
		inbox_commit(p, db, ins, ids, n);
		for (int i = 0; i < n; i++)      /* acked only once durable */
			bench_send_ack(s, ids[i], false);
	}
	atomic_fetch_add(&p->n_redelivered, redelivered);
	zmq_close(s);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	free(ids);
	return NULL;
}

/* ---------------------------------------------------------------- senders */

static void
submit(struct part *p, void *s, struct fixture *fx, int n, long idx)
{
	char recipient[32];
	Nara__Envelope *e;

	snprintf(recipient, sizeof(recipient), "kommun:%s:elevhalsa",
	    e2e.recipient_codes[idx % e2e.n_recipients]);
	e = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, e2e.nodes[n],
	    recipient);
	e->referral->reason = e2e.body;
	bench_send_submit(s, PROG, e, idx, &p->sent[idx]);
}

/* Everything narad has sent this sender; returns the submits answered. */
static long
sender_answers(struct part *p, void *s)
{
	long answered = 0;
	zmq_msg_t m;

	zmq_msg_init(&m);
	while (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) >= 0) {
		Nara__Frame *f = frame_decode(zmq_msg_data(&m), zmq_msg_size(&m),
		    1 << 20, NULL);
		long idx;
		if (f == NULL)
			bench_die(PROG, "undecodable frame from narad");
		switch (f->kind_case) {
		case NARA__FRAME__KIND_ACCEPTED:
			idx = bench_index_of(f->accepted->message_id);
			if (idx >= 0 && idx < p->total && p->accepted[idx] == 0) {
				p->accepted[idx] = bench_now_ns();
				atomic_fetch_add(&p->n_accepted, 1);
			} else {
				atomic_fetch_add(&p->n_duplicate_accept, 1);
			}
			answered++;
			break;
		case NARA__FRAME__KIND_REJECTED:
			fprintf(stderr, "rejected %s: %s %s\n",
			    f->rejected->message_id, f->rejected->code,
			    f->rejected->text);
			atomic_fetch_add(&p->n_rejected, 1);
			answered++;
			break;
		case NARA__FRAME__KIND_RECEIPT:
			bench_send_ack(s, f->receipt->message_id, true);
			atomic_fetch_add(&p->n_receipts, 1);
			break;
		default:
			break;
		}
		frame_free(&f);
	}
	zmq_msg_close(&m);
	return answered;
}

/* Wait for answers until `due` (absolute ns; 0 = up to 100 ms). Below a
 * millisecond zmq_poll cannot wait, so sleep to the exact time instead. */
static void
sender_wait(void *s, int64_t due)
{
	zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };
	int64_t left = due > 0 ? due - bench_now_ns() : 100000000;

	if (left <= 0)
		return;
	if (left >= 1000000) {
		zmq_poll(&it, 1, (long)(left / 1000000));
	} else {
		struct timespec ts = { (time_t)(due / 1000000000),
		    (long)(due % 1000000000) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

/* Closed loop: at most e2e.window unanswered. Open loop: message k is due
 * at t0 + k * gap (gap = senders / rate, senders staggered), sent when due
 * however many are unanswered; its latency counts from that time. */
static void *
sender_run(void *arg)
{
	struct sender *sd = arg;
	struct part *p = sd->p;
	struct fixture *fx = fixture_new();
	void *s = bench_node_open(p->ctx, e2e.nodes[sd->n],
	    tunnel_endpoint(p->tunnels[sd->n]), 1000);
	int64_t gap = sd->open_loop ? 1000000000LL * N_SENDERS / p->rate : 0;
	int64_t offset = gap * sd->n / N_SENDERS;
	long sent = 0, answered = 0;

	atomic_fetch_add(&p->n_ready, 1);
	while (!atomic_load(&p->go))
		usleep(1000);
	while (!atomic_load(&p->stop_senders)) {
		int64_t due = 0;
		if (sd->open_loop) {
			while (sent < sd->count && bench_now_ns() >=
			    (due = p->t0 + offset + sent * gap)) {
				p->intended[sd->first + sent] = due;
				submit(p, s, fx, sd->n, sd->first + sent++);
			}
			if (sent == sd->count)
				due = 0;
		} else {
			while (sent < sd->count && sent - answered < e2e.window) {
				p->intended[sd->first + sent] = bench_now_ns();
				submit(p, s, fx, sd->n, sd->first + sent++);
			}
		}
		answered += sender_answers(p, s);
		sender_wait(s, due);
	}
	zmq_close(s);
	fixture_free(&fx);
	return NULL;
}

/* ---------------------------------------------------------------- running */

static void
wait_ready(struct part *p, long n)
{
	while (atomic_load(&p->n_ready) < n)
		usleep(10000);
}

void
e2e_start_senders(struct part *p, struct sender *sd, bool open_loop)
{
	long share = p->total / N_SENDERS;

	atomic_store(&p->n_ready, 0);
	for (int i = 0; i < N_SENDERS; i++) {
		sd[i] = (struct sender){ p, i, share * i, i == N_SENDERS - 1 ?
		    p->total - share * i : share, open_loop, 0 };
		pthread_create(&sd[i].thread, NULL, sender_run, &sd[i]);
	}
	wait_ready(p, N_SENDERS);
}

void
e2e_start_recipients(struct part *p, struct recipient *r)
{
	atomic_store(&p->n_ready, 0);
	for (int i = 0; i < e2e.n_recipients; i++) {
		r[i] = (struct recipient){ p, i, 0 };
		pthread_create(&r[i].thread, NULL, recipient_run, &r[i]);
	}
	wait_ready(p, e2e.n_recipients);
}

/* Until counter reaches p->total, or it stalls for STALL_NS: 0 or -1. */
int
e2e_wait_for(struct part *p, atomic_long *counter, const char *what)
{
	long last = -1;
	int64_t since = bench_now_ns();

	for (;;) {
		long now = atomic_load(counter);
		if (now >= p->total - atomic_load(&p->n_rejected) -
		    (counter == &p->n_durable ? atomic_load(&p->n_lost) : 0))
			return 0;
		if (now != last) {
			last = now;
			since = bench_now_ns();
		} else if (bench_now_ns() - since > STALL_NS) {
			fprintf(stderr, "%s: %s stalled at %ld of %ld\n", PROG,
			    what, now, p->total);
			return -1;
		}
		usleep(2000);
	}
}

void
e2e_stop_all(struct part *p, struct sender *sd, struct recipient *r,
    bool have_r)
{
	/* Give receipts a moment so narad's work per message is complete. */
	for (int i = 0; i < 500 && atomic_load(&p->n_receipts) < p->total; i++)
		usleep(10000);
	atomic_store(&p->stop_senders, true);
	atomic_store(&p->stop_recipients, true);
	for (int i = 0; i < N_SENDERS; i++)
		pthread_join(sd[i].thread, NULL);
	for (int i = 0; have_r && i < e2e.n_recipients; i++)
		pthread_join(r[i].thread, NULL);
}

/* Every id once, at the recipient it was addressed to (see bench_e2e.h). */
int
e2e_check_exactly_once(struct part *p, FILE *out, json_t *j)
{
	uint8_t *seen = calloc((size_t)p->total, 1);
	long distinct = 0, dup = 0, misrouted = 0, foreign = 0, missing;
	long rejected = atomic_load(&p->n_rejected);
	bool ok;

	if (seen == NULL)
		bench_die(PROG, "out of memory");
	for (int n = 0; n < e2e.n_recipients; n++) {
		sqlite3 *db = inbox_open(p, n);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, "SELECT id FROM received", -1, &st,
		    NULL) != SQLITE_OK)
			bench_die(PROG, sqlite3_errmsg(db));
		while (sqlite3_step(st) == SQLITE_ROW) {
			long idx = bench_index_of((const char *)sqlite3_column_text(st, 0));
			if (idx < 0 || idx >= p->total) {
				foreign++;
				continue;
			}
			if (idx % e2e.n_recipients != n)
				misrouted++;
			if (seen[idx]++ == 0)
				distinct++;
			else
				dup++;
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	free(seen);
	missing = p->total - distinct;
	ok = missing == 0 && dup == 0 && misrouted == 0 && foreign == 0 &&
	    rejected == 0;
	fprintf(out, "  exactly once: %ld sent, %ld distinct ids durable at the "
	    "recipients, %ld duplicates, %ld at a wrong recipient, %ld unknown, "
	    "%ld missing, %ld rejected: %s\n", p->total, distinct, dup,
	    misrouted, foreign, missing, rejected, ok ? "OK" : "FAILED");
	fprintf(out, "  redeliveries seen %ld (already stored, ignored: %ld), "
	    "duplicate Accepted %ld, receipts acked %ld\n",
	    atomic_load(&p->n_redelivered), atomic_load(&p->n_already_stored),
	    atomic_load(&p->n_duplicate_accept), atomic_load(&p->n_receipts));
	json_object_set_new(j, "exactly_once", json_boolean(ok));
	json_object_set_new(j, "distinct", json_integer(distinct));
	json_object_set_new(j, "duplicates", json_integer(dup));
	json_object_set_new(j, "missing", json_integer(missing));
	return ok ? 0 : -1;
}
