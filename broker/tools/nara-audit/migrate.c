/*
 * migrate.c — nara-audit migrate: move a stopped narad's SQLite store into
 * an empty PostgreSQL database (store_migrate.h), then check the copy.
 *
 * Every table is copied as it is (queues with their in-flight attempts,
 * delivered history, dead letters, receipts, the audit chain with its
 * hashes, signed checkpoints and retention cuts), in one transaction on
 * the target, so that a failure leaves it empty. Before the commit the
 * row count of each table is compared with the source's; after it the
 * chain is verified on the target (with the config's public keys, as
 * verify does). The check value of the store's pseudonym key goes along,
 * so narad on the target, too, is refused with another key (NR070). The
 * SQLite store is held exclusively throughout and left as it was: it
 * stays the fallback until narad runs on PostgreSQL.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_migrate.h"
#include "tool.h"

/* The tables in the order they are copied, with the columns both stores
 * give them. */
static const struct store_table tables[] = {
	{ "messages", "seq, message_id, conversation_id, type, priority, "
	  "legal_basis, sender, sender_node, recipient, recipient_node, author, "
	  "subject_pseudonym, created, expires, accepted_at, state, attempts, "
	  "payload, payload_sha256, payload_size, dead_code, dead_text, done_at",
	  "ittiiittttttiiiiibbitti", "seq", "seq", "message_seq_high" },
	{ "receipts", "id, node, message_id, outcome, encoded, sent",
	  "ittibi", "id", "id", "receipt_id_high" },
	{ "audit", "seq, time, event, node, message_id, type, sender, "
	  "recipient, author, legal_basis, payload_sha256, payload_size, "
	  "subject, code, detail, prev_hash, hash, msg_seq",
	  "iitttttttttitttbbi", "seq", NULL, NULL },
	{ "checkpoints", "id, kind, seq, hash, time, signature, "
	  "key_fingerprint", "itibibt", "id", "id", NULL },
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))
#define PROGRESS_S 2               /* seconds between progress lines */

struct copy {
	struct store_dst *dst;
	const struct store_table *t;
	int64_t done, total;
	time_t said;
	struct nara_err *err;
};

/* One row to the target; progress on stderr now and then. */
static int
copy_row(void *arg, const struct store_cell *row, int ncols)
{
	struct copy *c = arg;
	time_t now;

	if (store_dst_row(c->dst, row, ncols, c->err) != 0)
		return -1;
	if ((++c->done & 1023) == 0 && (now = time(NULL)) >= c->said +
	    PROGRESS_S) {
		fprintf(stderr, "nara-audit: migrate: %s: %lld of %lld rows\n",
		    c->t->name, (long long)c->done, (long long)c->total);
		c->said = now;
	}
	return 0;
}

/* One table: its rows, the count compared, its id counter. */
static int
copy_table(struct store_src *src, struct store_dst *dst,
    const struct store_table *t, int64_t *moved, struct nara_err *err)
{
	struct copy c = { .dst = dst, .t = t, .said = time(NULL), .err = err };
	int64_t last, got;

	if ((c.total = store_src_count(src, t, err)) < 0 ||
	    store_dst_begin_table(dst, t, err) != 0)
		return -1;
	if (store_src_rows(src, t, copy_row, &c, err) != 0) {
		store_dst_end_table(dst, NULL);
		return -1;
	}
	if (store_dst_end_table(dst, err) != 0 ||
	    (got = store_dst_count(dst, t, err)) < 0)
		return -1;
	if (got != c.total || c.done != c.total)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s: %lld "
		    "rows in the SQLite store, %lld read, %lld in PostgreSQL; "
		    "nothing was kept", t->name, (long long)c.total,
		    (long long)c.done, (long long)got);
	if (store_src_counter(src, t, &last, err) != 0 ||
	    store_dst_counter(dst, t, last, err) != 0)
		return -1;
	fprintf(stderr, "nara-audit: migrate: %s: %lld rows\n", t->name,
	    (long long)got);
	*moved = got;
	return 0;
}

/* The whole move; the rows of each table into moved. */
static int
move_store(const char *path, const char *conninfo, int64_t moved[N_TABLES],
    int64_t *head, struct nara_err *err)
{
	struct store_src *src = NULL;
	struct store_dst *dst = NULL;
	char check[17];
	uint8_t hash[32];
	int rc = -1;

	if ((src = store_src_open(path, err)) == NULL ||
	    (dst = store_dst_open(conninfo, err)) == NULL ||
	    store_src_key_check(src, check, err) != 0 ||
	    store_dst_key_check(dst, check, err) != 0)
		goto fail;
	for (size_t i = 0; i < N_TABLES; i++)
		if (copy_table(src, dst, &tables[i], &moved[i], err) != 0)
			goto fail;
	if (store_src_head(src, head, hash, err) != 0 ||
	    store_dst_commit(dst, *head, hash, err) != 0)
		goto fail;
	rc = 0;
fail:
	store_dst_close(&dst);
	store_src_close(&src);
	return rc;
}

/* The chain on the target, as verify checks it. */
static int
verify_target(struct opts *o, const char *conninfo)
{
	struct store_options opt = { .backend = "postgresql", .read_only = true,
	    .sync_full = true };
	struct audit_key *keys[AUDIT_RING_MAX];
	struct audit_hasher *h = audit_hasher_new();
	struct nara_err err = { 0 };
	struct audit_report rep;
	struct store *st = NULL;
	size_t n = 0;
	int rc = -1;

	if (h == NULL || tool_pubkeys(o, keys, &n) != 0)
		goto done;
	if ((st = store_open(conninfo, &opt, &err)) == NULL ||
	    audit_verify_ring(st, h, (const struct audit_key *const *)keys, n,
	    &rep, &err) != 0) {
		tool_error("%s the moved chain does not verify: %s",
		    nara_code_id(err.code ? err.code : NR_STORE_FAILED), err.text);
		goto done;
	}
	printf("audit chain intact on the target: %lld rows, %lld checkpoints "
	    "(signatures %s)\n", (long long)rep.rows, (long long)rep.checkpoints,
	    rep.signatures_checked ? "checked" : "not checked: no public key");
	rc = 0;
done:
	while (n > 0)
		audit_key_free(&keys[--n]);
	store_free(&st);
	audit_hasher_free(&h);
	return rc;
}

/* The store is the one narad last wrote: its chain reaches the head
 * narad recorded beside it (<store>.head). An older copy (restored from a
 * backup, rolled back) is refused as narad and verify refuse it; moved,
 * its lost tail could no longer be seen, PostgreSQL keeps no such file. */
static int
source_is_current(const char *path, struct nara_err *err)
{
	struct store_options opt = { .backend = "sqlite", .read_only = true,
	    .sync_full = true, .head_file = true };
	struct store *st = store_open(path, &opt, err);
	int rc;

	if (st == NULL)
		return -1;
	rc = store_head_file_check(st, err);
	store_free(&st);
	return rc;
}

int
cmd_migrate(struct opts *o)
{
	struct nara_err err = { 0 };
	int64_t moved[N_TABLES] = { 0 }, head = 0;
	char why[256];

	if (o->target == NULL) {
		tool_error("%s migrate needs --to CONNINFO (the PostgreSQL "
		    "database to move the store into)", nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	if (store_conninfo_check(o->target, why, sizeof(why)) != 0) {
		tool_error("%s --to: %s", nara_code_id(NR_CONFIG), why);
		return EXIT_USAGE;
	}
	if (tool_resolve(o) != 0)
		return EXIT_USAGE;
	if (o->store_backend != NULL && strcmp(o->store_backend, "sqlite")
	    != 0) {
		tool_error("%s the config's store is %s already; migrate moves a "
		    "SQLite store (give --store PATH)", nara_code_id(NR_USAGE),
		    o->store_backend);
		return EXIT_USAGE;
	}
	if (source_is_current(o->store_path, &err) != 0 ||
	    move_store(o->store_path, o->target, moved, &head, &err) != 0) {
		tool_error("%s %s", nara_code_id(err.code), err.text);
		/* another key's check value in the target: configuration */
		return err.code == NR_CONFIG ? EXIT_USAGE : EXIT_BAD;
	}
	printf("moved %s into PostgreSQL: %lld messages, %lld receipts, "
	    "%lld audit rows (head seq %lld), %lld checkpoints\n",
	    o->store_path, (long long)moved[0], (long long)moved[1],
	    (long long)moved[2], (long long)head, (long long)moved[3]);
	return verify_target(o, o->target) == 0 ? EXIT_OK : EXIT_BAD;
}
