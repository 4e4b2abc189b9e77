/*
 * bench_store.c — the store's own cost per message on the message path,
 * without TLS, sessions or a broker: what a change inside a backend saves
 * or costs, measured with less noise than end to end (bench_e2e), where
 * the load generator shares the machine.
 *
 * Messages go through the calls narad makes for each, in batches of -b
 * messages, as in narad's steady state: a batch accepts its messages,
 * hands out those of the batch before (store_delivering), takes the acks
 * of those two batches back (store_acked_seq, which queues a receipt),
 * sends the receipts of the batch before that (store_receipt_sent) and
 * takes their acks one batch later (store_receipt_acked). Every batch
 * commits with fsync (synchronous = FULL) as narad's do: sent to the
 * store's commit thread (store_commit_send), its answer taken at once.
 * The WAL's checkpoints run on the store's own thread, as in narad.
 *
 * usage: bench_store [-n MESSAGES] [-b BATCH] [-d DIR] [-P CONNINFO]
 * Prints CPU (user + system, all threads) and wall time per message, and
 * for SQLite the bytes written to storage per message. The instructions
 * per message, free of the machine's noise, come from running it under
 * valgrind --tool=cachegrind (docs/PERFORMANCE.md).
 * Compare two builds by running each alternately (both bench_store
 * binaries built from their commits): only ratios from one run hold.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "bench_common.h"
#include "store.h"

#define N_SENDERS 4
#define N_RECIPIENTS 49
#define PAYLOAD_BYTES 1024
#define NOW 1767225600     /* 2026-01-01, any fixed time */

struct msg {
	char id[48];             /* 36 used */
	char sender_node[16], recipient_node[16];
	int64_t seq;
	struct store_msg m;
};

static uint8_t payload[PAYLOAD_BYTES];

static void
usage(FILE *to)
{
	fprintf(to, "usage: bench_store [-n MESSAGES] [-b BATCH] [-d DIR] "
	    "[-P CONNINFO]\n"
	    "The store's CPU and wall time per message for narad's calls on "
	    "the message\npath (accept, delivering, acked, receipt sent, "
	    "receipt acked), in batches.\n"
	    "-n  messages (default 50000)\n"
	    "-b  messages per batch (default 64)\n"
	    "-d  an empty directory for the SQLite store (default a new one in "
	    "/tmp,\n    removed after)\n"
	    "-P  the store in PostgreSQL instead: libpq conninfo of an empty "
	    "database\n    (every run stores the same message ids; the CPU "
	    "is this process's only)\n");
}

/* Bytes this process had written to storage (/proc/self/io), -1 when
 * unknown. */
static long long
written_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	long long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "write_bytes: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void
msg_make(struct msg *x, long n)
{
	memset(x, 0, sizeof(*x));
	/* time-ordered ids, as nara-msg new-id makes them */
	snprintf(x->id, sizeof(x->id), "%08x-%04x-7000-8000-%012lx",
	    (unsigned)(NOW / 65536), (unsigned)(NOW % 65536), n);
	snprintf(x->sender_node, sizeof(x->sender_node), "sender-%ld",
	    n % N_SENDERS);
	snprintf(x->recipient_node, sizeof(x->recipient_node), "kommun-%ld",
	    n % N_RECIPIENTS);
	x->m.message_id = x->id;
	x->m.conversation_id = "11111111-1111-4111-8111-111111111111";
	x->m.type = 1;
	x->m.priority = 1;
	x->m.legal_basis = 1;
	x->m.sender = "SE2321000131-E000000000001";
	x->m.sender_node = x->sender_node;
	x->m.recipient = "kommun:1480:socialtjanst";
	x->m.recipient_node = x->recipient_node;
	x->m.author = "SE2321000131-P000000000042";
	x->m.personal_number = "191212121212";
	x->m.created = NOW - 60;
	x->m.payload = payload;
	x->m.payload_len = sizeof(payload);
	SHA256(payload, sizeof(payload), x->m.payload_sha256);
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* The ids of the receipts the acks queued, group after group (within a
 * group in any order). */
struct rcpt_ids {
	int64_t *id;
	long n, cap;
};

static int
on_receipt(void *arg, const struct store_receipt *r)
{
	struct rcpt_ids *ids = arg;

	if (ids->n < ids->cap)
		ids->id[ids->n++] = r->id;
	return 0;
}

static void
die_store(const char *what, long n, const struct nara_err *err)
{
	fprintf(stderr, "bench_store: %s (message %ld): %s\n", what, n,
	    err != NULL ? err->text : "failed");
	exit(1);
}

int
main(int argc, char **argv)
{
	long total = 50000, batch = 64;
	const char *dir = NULL, *conninfo = NULL;
	char tmp[] = "/tmp/nara-bench-store-XXXXXX", path[4096];
	static const struct option longs[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	struct store_options opt = { .sync_full = true };
	uint8_t key[32];
	struct nara_err err = { 0 };
	struct store *st;
	struct msg *msgs;
	struct rcpt_ids rid;
	int64_t last_rid[N_SENDERS] = { 0 };
	long groups;
	double c0, w0, cpu, wall;
	long long b0, bytes;
	int c, rc;

	while ((c = getopt_long(argc, argv, "n:b:d:P:h", longs, NULL)) != -1) {
		switch (c) {
		case 'n': total = strtol(optarg, NULL, 10); break;
		case 'b': batch = strtol(optarg, NULL, 10); break;
		case 'd': dir = optarg; break;
		case 'P': conninfo = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || total < 1 || batch < 1 || batch > total) {
		usage(stderr);
		return 2;
	}
	groups = total / batch;
	total = groups * batch;
	memset(key, 0x5a, sizeof(key));
	memset(payload, 'x', sizeof(payload));
	opt.pseudonym_key = key;
	opt.pseudonym_key_len = sizeof(key);
	if (conninfo != NULL) {
		opt.backend = "postgresql";
		snprintf(path, sizeof(path), "%s", conninfo);
	} else {
		if (dir == NULL && (dir = mkdtemp(tmp)) == NULL) {
			perror("bench_store: mkdtemp");
			return 1;
		}
		snprintf(path, sizeof(path), "%s/store.db", dir);
	}
	if ((st = store_open(path, &opt, &err)) == NULL)
		die_store("store_open", 0, &err);
	if ((msgs = calloc((size_t)total, sizeof(*msgs))) == NULL ||
	    (rid.id = calloc((size_t)total, sizeof(*rid.id))) == NULL) {
		fprintf(stderr, "bench_store: out of memory\n");
		return 1;
	}
	rid.n = 0;
	rid.cap = total;
	for (long i = 0; i < total; i++)
		msg_make(&msgs[i], i);
	fprintf(stderr, "bench_store: %ld messages in batches of %ld, %s\n",
	    total, batch, conninfo != NULL ? "PostgreSQL" : path);

	b0 = written_bytes();
	c0 = bench_proc_cpu(getpid());
	w0 = (double)bench_now_ns() / 1e9;
	/* batch g: accept group g, deliver g-1, ack g-2, send the receipts
	 * of g-3, take their acks at g-4 */
	for (long g = 0; g < groups + 4; g++) {
		enum store_accept_result res;
		bool was_new;

		if (store_begin(st, &err) != 0)
			die_store("begin", g * batch, &err);
		for (long k = 0; k < batch; k++) {
			long i = g * batch + k;
			struct msg *x;

			if (g < groups) {
				x = &msgs[i];
				if (store_accept(st, &x->m, NOW, &res, &err) != 0)
					die_store("accept", i, &err);
				if (res != STORE_NEW)
					die_store("accept: stored already (the "
					    "store is not empty)", i, NULL);
				x->seq = x->m.seq;
			}
			if (g >= 1 && g - 1 < groups) {
				x = &msgs[i - batch];
				if (store_delivering(st, x->seq, 1,
				    x->recipient_node, NOW) != 0)
					die_store("delivering", i - batch, NULL);
			}
			if (g >= 2 && g - 2 < groups) {
				x = &msgs[i - 2 * batch];
				if (store_acked_seq(st, x->seq, x->id,
				    x->recipient_node, NOW, &was_new) != 0 ||
				    !was_new)
					die_store("acked", i - 2 * batch, NULL);
			}
			if (g >= 3 && g - 3 < groups) {
				long j = i - 3 * batch;

				/* the receipt of one message of group g-3 */
				if (store_receipt_sent(st, rid.id[j], NOW) != 0)
					die_store("receipt sent", j, NULL);
			}
			if (g >= 4 && g - 4 < groups) {
				x = &msgs[i - 4 * batch];
				if (store_receipt_acked(st, x->sender_node, x->id,
				    NOW) != 0)
					die_store("receipt acked", i - 4 * batch,
					    NULL);
			}
		}
		/* as narad commits: on the store's commit thread (SQLite),
		 * the answer taken at once */
		if ((rc = store_commit_send(st, &err)) == 1)
			rc = store_commit_take(st, &err);
		if (rc != 0)
			die_store("commit", g * batch, &err);
		/* the receipts the acks of this batch queued: group g-2's
		 * ids are rid.id[(g-2) * batch ...] (in any order) */
		if (g >= 2 && g - 2 < groups) {
			long before = rid.n;

			for (int s = 0; s < N_SENDERS; s++) {
				char node[16];

				snprintf(node, sizeof(node), "sender-%d", s);
				if (store_receipts_load(st, node, last_rid[s],
				    (int)batch, on_receipt, &rid) < 0)
					die_store("receipts", rid.n, NULL);
				for (long j = before; j < rid.n; j++)
					if (rid.id[j] > last_rid[s])
						last_rid[s] = rid.id[j];
				before = rid.n;
			}
			if (rid.n != (g - 1) * batch)
				die_store("receipts queued", rid.n, NULL);
		}
	}
	cpu = bench_proc_cpu(getpid()) - c0;
	wall = (double)bench_now_ns() / 1e9 - w0;
	bytes = written_bytes();
	printf("store: %ld messages, %ld per batch: %.1f us CPU and %.1f us "
	    "wall per message (%.2f s CPU, %.2f s wall)", total, batch,
	    cpu * 1e6 / (double)total, wall * 1e6 / (double)total, cpu, wall);
	if (conninfo == NULL && b0 >= 0 && bytes >= b0)
		printf(", %.0f bytes written per message",
		    (double)(bytes - b0) / (double)total);
	printf("\n");
	store_free(&st);
	free(msgs);
	free(rid.id);
	if (conninfo == NULL && dir == tmp)
		nftw(tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}
