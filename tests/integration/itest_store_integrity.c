/*
 * itest_store_integrity.c — narad refuses a store it cannot trust (empty,
 * not SQLite, damaged pages, truncated, rolled back behind its head file,
 * removed) with NR041 and a log line naming the reason, creates one only
 * where no file exists, and gets purged clinical content out of the WAL
 * within the bound docs/AUDIT.md states.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "validate.h"

static struct harness h;

static void
setup(void)
{
	harness_init(&h, NULL);
}

static void
teardown(void)
{
	harness_cleanup(&h);
}

TestSuite(store_integrity, .init = setup, .fini = teardown, .timeout = 90);

static char refused[8192];   /* what the last expect_refused printed */

/* narad on h's config must exit 1 at start with NR041 and reason. */
static void
expect_refused(const char *reason)
{
	char bin[300];
	int rc;

	harness_bin("narad", bin, sizeof(bin));
	rc = harness_run(refused, sizeof(refused), "timeout 30 %s -c %s", bin,
	    h.conf);
	cr_assert_eq(rc, 1, "narad exited %d, not 1:\n%s", rc, refused);
	cr_expect(strstr(refused, "NR041") != NULL, "no NR041 in:\n%s", refused);
	cr_expect(strstr(refused, reason) != NULL, "no \"%s\" in:\n%s", reason,
	    refused);
}

static void
write_bytes(const char *path, off_t at, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(pwrite(fd, data, len, at), (ssize_t)len);
	close(fd);
}

/* A store with many pages: narad creates it, sqlite3 adds filler rows. */
static void
make_store(void)
{
	char out[2048];

	harness_start(&h);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	cr_assert_eq(harness_run(out, sizeof(out), "sqlite3 %s \"WITH RECURSIVE "
	    "n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
	    "INSERT INTO meta(key, value) SELECT 'filler-' || i, "
	    "hex(randomblob(200)) FROM n\"", h.store), 0, "%s", out);
}

static void
copy_file(const char *from, const char *to)
{
	char out[1024];

	cr_assert_eq(harness_run(out, sizeof(out), "cp %s %s", from, to), 0,
	    "%s", out);
}

Test(store_integrity, fresh_directory_creates_a_store)
{
	char head[400];
	struct stat sb;

	harness_start(&h);
	cr_assert_eq(stat(h.store, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0600);
	cr_expect_eq(harness_log_count(&h, "created a new store"), 1);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	/* the clean stop recorded the chain head beside the store */
	snprintf(head, sizeof(head), "%s.head", h.store);
	cr_expect_eq(harness_file_count(head, "nara-audit-head 1"), 1);
	/* and the next start accepts its own store */
	harness_start(&h);
	cr_expect_eq(harness_log_count(&h, "created a new store"), 1);
}

Test(store_integrity, empty_file_is_refused)
{
	write_bytes(h.store, 0, "", 0);
	expect_refused("is empty (0 bytes)");
	cr_expect_eq(harness_file_count(h.store, "SQLite"), 0,
	    "the empty file was initialised");
}

Test(store_integrity, emptied_store_is_refused)
{
	make_store();
	cr_assert_eq(truncate(h.store, 0), 0);
	expect_refused("is empty (0 bytes)");
}

Test(store_integrity, garbage_file_is_refused)
{
	char junk[8192];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	write_bytes(h.store, 0, junk, sizeof(junk));
	expect_refused("is not a SQLite database");
}

Test(store_integrity, corrupted_pages_are_refused)
{
	char junk[4096 * 8];

	make_store();
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 37 + 11);
	/* bytes 20 KiB to 52 KiB: inside the b-trees, the header left
	 * intact */
	write_bytes(h.store, 4096 * 5, junk, sizeof(junk));
	expect_refused("failed the integrity check");
}

/* After kill -9 the check runs while narad serves; a damaged store still
 * ends narad with NR041 (exit 1), and the head file gets no clean stamp. */
Test(store_integrity, damage_after_unclean_stop_is_refused)
{
	char junk[4096 * 8], sql[2048];
	struct stat sb;

	harness_start(&h);
	cr_assert_eq(harness_stop(&h, SIGKILL), -SIGKILL);
	/* a table narad never reads: its pages, the file's last, are found
	 * damaged by the full check alone */
	cr_assert_eq(harness_run(sql, sizeof(sql), "sqlite3 %s \"CREATE TABLE "
	    "filler(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
	    "FROM n WHERE i < 2000) INSERT INTO filler SELECT "
	    "hex(randomblob(200)) FROM n\"", h.store), 0, "%s", sql);
	cr_assert_eq(stat(h.store, &sb), 0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 37 + 11);
	write_bytes(h.store, sb.st_size - (off_t)sizeof(junk), junk,
	    sizeof(junk));
	expect_refused("failed the integrity check");
	cr_expect(strstr(refused, "checking it while serving") != NULL,
	    "the check did not run in the background:\n%s", refused);
	expect_refused("failed the integrity check");
}

/* A clean stop stamps the head file; the next start skips the full check
 * and removes the stamp before it writes; kill -9 leaves none behind. */
Test(store_integrity, clean_stop_skips_the_full_check)
{
	char head[400];

	snprintf(head, sizeof(head), "%s.head", h.store);
	harness_start(&h);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	cr_expect_eq(harness_file_count(head, "clean "), 1);
	harness_start(&h);
	cr_expect_eq(harness_log_count(&h, "the full check is not needed"), 1);
	cr_expect_eq(harness_file_count(head, "clean "), 0,
	    "the stamp is still there while narad runs");
	cr_assert_eq(harness_stop(&h, SIGKILL), -SIGKILL);
	harness_start(&h);
	cr_expect_eq(harness_log_count(&h, "the full check is not needed"), 1);
	cr_expect(harness_wait_log(&h, "integrity check passed", 1, 10000));
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
}

Test(store_integrity, truncated_store_is_refused)
{
	struct stat sb;

	make_store();
	cr_assert_eq(stat(h.store, &sb), 0);
	cr_assert(sb.st_size > 40 * 4096, "store only %lld bytes",
	    (long long)sb.st_size);
	cr_assert_eq(truncate(h.store, sb.st_size / 2), 0);
	expect_refused("failed the integrity check");
}

Test(store_integrity, rolled_back_copy_is_refused)
{
	char old[400], bin[300];

	snprintf(old, sizeof(old), "%s/old.db", h.dir);
	harness_start(&h);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	copy_file(h.store, old);
	harness_start(&h);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	copy_file(old, h.store);
	expect_refused("is behind its head file");
	/* the refusal left the head file alone: refused again */
	expect_refused("is behind its head file");
	/* and the auditor's verify does not call it intact */
	cr_expect_eq(harness_run(refused, sizeof(refused), "%s verify --store "
	    "%s", harness_bin("nara-audit", bin, sizeof(bin)), h.store), 1, "%s",
	    refused);
	cr_expect(strstr(refused, "FAILED") && strstr(refused, "is behind its "
	    "head file"), "%s", refused);
}

Test(store_integrity, removed_store_is_refused)
{
	harness_start(&h);
	cr_assert_eq(harness_stop(&h, SIGTERM), 0);
	cr_assert_eq(unlink(h.store), 0);
	expect_refused("is missing but");
}

/* ---------------------------------------------------------------- WAL */

/* Occurrences of needle in the file at path (0 when it is missing). */
static int
bytes_count(const char *path, const char *needle)
{
	size_t len = strlen(needle), n;
	char *buf = NULL, *p;
	int count = 0;
	FILE *f = fopen(path, "rb");
	struct stat sb;

	if (f == NULL)
		return 0;
	cr_assert_eq(fstat(fileno(f), &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	cr_assert_not_null(buf);
	n = fread(buf, 1, (size_t)sb.st_size, f);
	fclose(f);
	for (p = buf; p + len <= buf + n; p++) {
		p = memmem(p, (size_t)(buf + n - p), needle, len);
		if (p == NULL)
			break;
		count++;
	}
	free(buf);
	return count;
}

/* The bound of docs/AUDIT.md: purged content leaves the WAL within 15 s. */
#define WAL_BOUND_MS 15000


struct purge_wait {
	const char *wal, *pnr;
};

/* The personal number is in neither the WAL nor the database file. */
static bool
purged_everywhere(void *arg)
{
	struct purge_wait *w = arg;

	return bytes_count(w->wal, w->pnr) == 0 &&
	    bytes_count(h.store, w->pnr) == 0;
}
Test(store_integrity, purged_content_leaves_the_wal)
{
	struct fixture *fx = fixture_new();
	struct tclient bup, soc;
	char pnr[40], id[37], wal[400];
	Nara__Frame *d, *r;
	int in_wal = -1, in_db = -1;

	snprintf(wal, sizeof(wal), "%s-wal", h.store);
	harness_start(&h);
	tclient_open(&bup, &h, T_BUP, 16);
	tclient_open(&soc, &h, T_GBG, 16);
	Nara__Envelope *e = fixture_envelope(fx,
	    NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP, T_GBG_SOC);
	cr_assert(e->subject != NULL && e->subject->personal_number != NULL);
	snprintf(pnr, sizeof(pnr), "%s", e->subject->personal_number);
	snprintf(id, sizeof(id), "%s", e->message_id);
	r = tclient_submit(&bup, e);
	cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED);
	frame_free(&r);
	cr_assert_gt(bytes_count(wal, pnr), 0, "the test looks in the wrong "
	    "file: the accepted message is not in the WAL");
	d = tclient_expect(&soc, NARA__FRAME__KIND_DELIVER, 5000);
	cr_assert_not_null(d, "no delivery");
	frame_free(&d);
	tclient_ack(&soc, id, false);
	r = tclient_expect(&bup, NARA__FRAME__KIND_RECEIPT, 5000);
	cr_assert_not_null(r, "no receipt");
	frame_free(&r);
	harness_wait(purged_everywhere, &(struct purge_wait){ wal, pnr },
	    WAL_BOUND_MS);
	in_wal = bytes_count(wal, pnr);
	in_db = bytes_count(h.store, pnr);
	cr_expect_eq(in_wal, 0, "personal number still in %s after %d ms",
	    wal, WAL_BOUND_MS);
	cr_expect_eq(in_db, 0, "personal number in %s", h.store);
	tclient_close(&soc);
	tclient_close(&bup);
	fixture_free(&fx);
}
