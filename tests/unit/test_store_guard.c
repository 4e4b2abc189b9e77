/*
 * test_store_guard.c — what store_open trusts (store_sqlite_guard.c): a
 * store is created only where no file exists, an empty or foreign file is
 * refused, the head file beside the store is written at a clean close and
 * a store behind it is refused; store_check (narad -n) agrees and writes
 * nothing; store_open picks the backend by name and gives the SQLite
 * backend no conninfo.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "store_fixture.h"

static struct store *
try_open(struct fx *f, struct nara_err *err)
{
	struct store_options opt = { .sync_full = true,
	    .pseudonym_key = f->key, .pseudonym_key_len = sizeof(f->key),
	    .head_file = true };

	return store_open(f->path, &opt, err);
}

static void
write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

Test(guard, empty_file_is_refused_not_initialised)
{
	struct nara_err err = { 0 };
	struct fx f;
	struct stat sb;
	bool absent = true;

	fx_init(&f);
	fx_fini(&f);
	cr_assert_eq(mkdir(f.dir, 0700), 0);
	write_file(f.path, "", 0);
	cr_expect_null(try_open(&f, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, "is empty (0 bytes)") != NULL, "%s", err.text);
	cr_expect_eq(stat(f.path, &sb), 0);
	cr_expect_eq(sb.st_size, 0, "the empty file was written to");
	cr_expect_eq(store_check(f.path, &absent, &err), -1);
	cr_expect(!absent);
	fx_fini(&f);
}

Test(guard, foreign_file_is_refused)
{
	struct nara_err err = { 0 };
	struct fx f;

	fx_init(&f);
	fx_fini(&f);
	cr_assert_eq(mkdir(f.dir, 0700), 0);
	write_file(f.path, "not a database, just some text that is long", 43);
	cr_expect_null(try_open(&f, &err));
	cr_expect(strstr(err.text, "is not a SQLite database") != NULL, "%s",
	    err.text);
	fx_fini(&f);
}

Test(guard, head_file_written_and_checked)
{
	char head[200], old[200], cmd[600];
	struct nara_err err = { 0 };
	bool absent = true;
	struct fx f;

	fx_init(&f);
	snprintf(head, sizeof(head), "%s.head", f.path);
	snprintf(old, sizeof(old), "%s/old.db", f.dir);
	cr_assert_eq(store_audit_event(f.st, "broker_started", NULL, NULL,
	    FX_NOW), 0);
	store_free(&f.st);
	cr_expect_eq(access(head, R_OK), 0, "no head file after a clean close");
	snprintf(cmd, sizeof(cmd), "cp %s %s", f.path, old);
	cr_assert_eq(system(cmd), 0);
	f.st = fx_open(&f, false);
	cr_assert_eq(store_audit_event(f.st, "broker_stopped", NULL, NULL,
	    FX_NOW), 0);
	store_free(&f.st);
	cr_expect_eq(store_check(f.path, &absent, &err), 0, "%s", err.text);
	cr_expect(!absent);
	snprintf(cmd, sizeof(cmd), "cp %s %s", old, f.path);
	cr_assert_eq(system(cmd), 0);
	cr_expect_null(try_open(&f, &err));
	cr_expect(strstr(err.text, "is behind its head file") != NULL, "%s",
	    err.text);
	cr_expect_eq(store_check(f.path, &absent, &err), -1);
	/* a refused open did not move the head file back */
	cr_expect_null(try_open(&f, &err));
	unlink(f.path);
	cr_expect_null(try_open(&f, &err));
	cr_expect(strstr(err.text, "is missing but") != NULL, "%s", err.text);
	/* removing the head file is the deliberate way to start anew */
	unlink(head);
	cr_expect_eq(store_check(f.path, &absent, &err), 0);
	cr_expect(absent);
	cr_expect_neq(access(f.path, F_OK), 0, "store_check created the store");
	f.st = fx_open(&f, false);
	fx_fini(&f);
}

/* A head recorded by upkeep inside a batch that is rolled back was never
 * the chain's head. The next batch writes as many rows (other content) and
 * commits; the clean stop records that head, and the store opens again.
 * (The rolled-back head stayed recorded: since the seq matched, nothing
 * newer was taken, the clean stop wrote the rolled-back hash to the head
 * file, and the next start refused the store as another chain.) */
Test(guard, a_head_recorded_in_a_rolled_back_batch_is_forgotten)
{
	struct nara_err err = { 0 };
	struct fx f;

	fx_init(&f);
	cr_assert_eq(store_audit_event(f.st, "node_connected", "a", "one",
	    FX_NOW), 0);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_audit_event(f.st, "node_connected", "a", "two",
	    FX_NOW + 100), 0);
	cr_assert_eq(store_maintain(f.st, FX_NOW + 100, &err), 0, "%s",
	    err.text);
	store_rollback(f.st);
	cr_assert_eq(store_begin(f.st, &err), 0, "%s", err.text);
	cr_assert_eq(store_audit_event(f.st, "node_connected", "a", "three",
	    FX_NOW + 101), 0);
	cr_assert_eq(store_maintain(f.st, FX_NOW + 101, &err), 0, "%s",
	    err.text);
	cr_assert_eq(store_commit(f.st, &err), 0, "%s", err.text);
	store_free(&f.st);
	f.st = try_open(&f, &err);
	cr_expect_not_null(f.st, "%s", err.text);
	if (f.st != NULL)
		fx_verify_ok(&f);
	fx_fini(&f);
}

/* A tool that writes (nara-audit review, prune) checks the head file but
 * leaves it to narad: only narad's record counts. */
Test(guard, tools_do_not_write_the_head_file)
{
	struct store_options opt = { .sync_full = true };
	struct nara_err err = { 0 };
	struct store *st;
	char head[200];
	struct fx f;

	fx_init(&f);
	snprintf(head, sizeof(head), "%s.head", f.path);
	store_free(&f.st);
	cr_expect_neq(access(head, F_OK), 0, "empty chain: no head yet");
	st = store_open(f.path, &opt, &err);
	cr_assert_not_null(st, "%s", err.text);
	cr_assert_eq(store_audit_event(st, "broker_started", NULL, NULL,
	    FX_NOW), 0);
	store_free(&st);
	cr_expect_neq(access(head, F_OK), 0, "a tool wrote the head file");
	fx_fini(&f);
}

/* The backend is picked by name: "sqlite" (and no name) opens the SQLite
 * store; a name no backend answers to is refused before any file is made. */
Test(guard, backend_is_picked_by_name)
{
	struct fx f;
	struct nara_err err = { 0 };
	struct store_options opt = { .backend = "sqlite", .sync_full = true,
	    .pseudonym_key = NULL, .head_file = true };
	struct store *st;
	char other[300];

	fx_init(&f);
	store_free(&f.st);
	st = store_open(f.path, &opt, &err);
	cr_assert_not_null(st, "%s", err.text);
	cr_expect_eq(store_audit_event(st, "broker_started", NULL, NULL, FX_NOW),
	    0);
	store_free(&st);
	snprintf(other, sizeof(other), "%s/other.db", f.dir);
	opt.backend = "oracle";
	cr_expect_null(store_open(other, &opt, &err));
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, "unknown store backend \"oracle\"") != NULL,
	    "%s", err.text);
	cr_expect_neq(access(other, F_OK), 0, "no file for an unknown backend");
	fx_fini(&f);
}

/* A conninfo given to the SQLite backend (backend unset or "sqlite") is
 * refused before any file is made: SQLite would create an empty file named
 * after it in the working directory. narad -n says the same. */
Test(guard, conninfo_is_not_a_sqlite_path)
{
	const char *conninfo[] = { "host=127.0.0.1 port=5432 user=nara "
	    "dbname=nara", "postgresql://nara@127.0.0.1/nara", "dbname=nara" };
	const char *backend[] = { NULL, "sqlite" };
	struct store_options opt = { .sync_full = true };
	struct nara_err err = { 0 };
	struct fx f;
	bool absent = true;

	fx_init(&f);
	cr_assert_eq(chdir(f.dir), 0);
	for (size_t i = 0; i < sizeof(conninfo) / sizeof(conninfo[0]); i++)
		for (size_t j = 0; j < 2; j++) {
			opt.backend = backend[j];
			cr_expect_null(store_open(conninfo[i], &opt, &err), "%s",
			    conninfo[i]);
			cr_expect_eq(err.code, NR_STORE_FAILED);
			cr_expect_str_eq(err.text, "the store path is a PostgreSQL "
			    "conninfo, not a SQLite file (backend = postgresql)");
			cr_expect_eq(store_check_backend(backend[j], conninfo[i],
			    &absent, &err), -1, "%s", conninfo[i]);
			cr_expect_not(absent);
			cr_expect_neq(access(conninfo[i], F_OK), 0, "%s made",
			    conninfo[i]);
		}
	/* a file name with = or : in it is still a file name */
	opt.backend = NULL;
	store_free(&f.st);
	cr_assert_not_null(f.st = store_open("a=b:c.db", &opt, &err), "%s",
	    err.text);
	fx_fini(&f);
}
