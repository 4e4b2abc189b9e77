/*
 * bench_walpages.c — which b-trees the commits in a SQLite store's WAL
 * wrote, and how many pages each: what narad's commits cost in WAL (and
 * later in the checkpoint's copy), table by table, measured on a real
 * store rather than modelled (tests/bench/wal_pages.sh models it).
 *
 * The WAL (DB-wal) starts with a 32-byte header (page size, salts); each
 * frame is a 24-byte header (page number, the database's size in pages on
 * a commit's last frame and 0 on the others, the salts) and one page.
 * Frames whose salts differ from the header's are left from before the
 * WAL's last restart and end the list. The page numbers are mapped to
 * their table or index with SQLite's dbstat table on DB, read through the
 * same WAL. Take a copy of both files while narad is stopped
 * (tests/bench/walpages.sh does, during a bench_e2e run): reading the live
 * files could meet a commit half written.
 *
 * usage: bench_walpages [-c] DB
 * Prints the commits, frames per commit, and per b-tree the pages per
 * commit (min, mean, max); -c also one line per commit.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define MAX_TREES 64

struct tree {
	char name[64];
	long total, min, max, in_commit;
};

static struct tree trees[MAX_TREES];
static int n_trees;
static char **page_tree;     /* page number -> name, NULL when unknown */
static uint32_t n_pages;

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_walpages: %s\n", what);
	exit(1);
}

/* The name of every page's b-tree, from dbstat. */
static void
map_pages(const char *db)
{
	sqlite3 *h;
	sqlite3_stmt *s;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT pageno, name FROM dbstat", -1, &s,
	    NULL) != SQLITE_OK)
		die(sqlite3_errmsg(h));
	while (sqlite3_step(s) == SQLITE_ROW) {
		uint32_t pg = (uint32_t)sqlite3_column_int64(s, 0);
		const char *name = (const char *)sqlite3_column_text(s, 1);

		if (pg >= n_pages) {
			uint32_t n = pg * 2 + 1024;
			char **v = realloc(page_tree, n * sizeof(*v));
			if (v == NULL)
				die("out of memory");
			memset(v + n_pages, 0, (n - n_pages) * sizeof(*v));
			page_tree = v;
			n_pages = n;
		}
		if (page_tree[pg] == NULL)
			page_tree[pg] = strdup(name != NULL ? name : "?");
	}
	sqlite3_finalize(s);
	sqlite3_close(h);
}

static struct tree *
tree_of(uint32_t pg)
{
	const char *name = pg < n_pages && page_tree[pg] != NULL ?
	    page_tree[pg] : "(free, pointer map or gone)";

	for (int i = 0; i < n_trees; i++)
		if (strcmp(trees[i].name, name) == 0)
			return &trees[i];
	if (n_trees == MAX_TREES)
		die("too many b-trees");
	snprintf(trees[n_trees].name, sizeof(trees[n_trees].name), "%s", name);
	trees[n_trees].min = -1;
	return &trees[n_trees++];
}

/* A commit's last frame: fold its per-tree counts into the totals. */
static void
commit_end(long commits, long frames, bool each)
{
	if (each)
		printf("commit %ld: %ld pages:", commits, frames);
	for (int i = 0; i < n_trees; i++) {
		struct tree *t = &trees[i];
		long n = t->in_commit;

		if (each && n > 0)
			printf(" %s %ld", t->name, n);
		t->total += n;
		/* a tree first seen in this commit had none in the ones before */
		if (t->min < 0)
			t->min = commits > 1 ? 0 : n;
		if (n < t->min)
			t->min = n;
		if (n > t->max)
			t->max = n;
		t->in_commit = 0;
	}
	if (each)
		printf("\n");
}

static int
by_total(const void *a, const void *b)
{
	const struct tree *x = a, *y = b;

	return (y->total > x->total) - (y->total < x->total);
}

int
main(int argc, char **argv)
{
	unsigned char hdr[32], fh[24];
	uint32_t psize, salt1, salt2;
	long commits = 0, frames = 0, in_commit = 0;
	bool each = false;
	char wal[4096];
	unsigned char *page;
	FILE *f;
	int ch;

	while ((ch = getopt(argc, argv, "ch")) != -1) {
		switch (ch) {
		case 'c': each = true; break;
		default:
			fprintf(stderr, "usage: bench_walpages [-c] DB\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: bench_walpages [-c] DB\n");
		return 2;
	}
	snprintf(wal, sizeof(wal), "%s-wal", argv[optind]);
	if ((f = fopen(wal, "rb")) == NULL || fread(hdr, 1, 32, f) != 32)
		die("cannot read the WAL's header (DB-wal)");
	psize = be32(hdr + 8);
	salt1 = be32(hdr + 16);
	salt2 = be32(hdr + 20);
	if (psize < 512 || psize > 65536 || (page = malloc(psize)) == NULL)
		die("not a WAL header");
	map_pages(argv[optind]);
	while (fread(fh, 1, 24, f) == 24 && fread(page, 1, psize, f) == psize) {
		if (be32(fh + 8) != salt1 || be32(fh + 12) != salt2)
			break;
		tree_of(be32(fh))->in_commit++;
		in_commit++;
		if (be32(fh + 4) != 0) {
			commits++;
			frames += in_commit;
			commit_end(commits, in_commit, each);
			in_commit = 0;
		}
	}
	fclose(f);
	free(page);
	if (commits == 0) {
		printf("no commit in %s\n", wal);
		return 0;
	}
	qsort(trees, (size_t)n_trees, sizeof(trees[0]), by_total);
	printf("%ld commits, %ld frames, %.1f pages per commit\n", commits,
	    frames, (double)frames / (double)commits);
	for (int i = 0; i < n_trees; i++)
		if (trees[i].total > 0)
			printf("  %-32s %7.2f per commit (%ld-%ld)\n",
			    trees[i].name, (double)trees[i].total /
			    (double)commits, trees[i].min, trees[i].max);
	return 0;
}
