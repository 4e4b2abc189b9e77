/*
 * store_sqlite_guard.c — what narad trusts when it opens its store.
 *
 * A store is created only where no file exists: it is built complete under
 * a temporary name and linked into place, so a crash leaves either no store
 * or a whole one. A file that is there (a 0-byte file included) must be a
 * nara store that passes SQLite's quick check; anything else is refused
 * with NR041 and never initialised over, because queues and the audit
 * history would be gone without a trace.
 *
 * The head file: narad (store_options.head_file) also writes the newest
 * audit chain head it recorded (seq, hash, time and, with a signing key,
 * the Ed25519 signature of that checkpoint) to <store>.head beside the
 * store, at every checkpoint and at a clean stop; tools only read it. At the next start a store whose chain ends before that seq,
 * or holds another hash there, is refused: it was emptied, replaced or
 * rolled back to an older copy. Writing is atomic: a temporary file, fsync,
 * rename, fsync of the directory.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define MARK_SUFFIX ".head"
#define MARK_TAG "nara-audit-head 1"

/* ---------------------------------------------------------------- files */

static int
dir_sync(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (copy == NULL)
		return -1;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

/* 1 when the file is there and not empty, 0 when absent or empty. */
static int
file_nonempty(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && sb.st_size > 0;
}

/* No file at st->path: create the store, unless a head file says there
 * was one. */
static int
store_create(struct store_be *st, struct nara_err *err)
{
	struct store_mark m;
	char tmp[4096];
	int fd;

	if (store_mark_read(st->mark_path, &m, err) != 0)
		return -1;
	if (m.seq > 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is missing "
		    "but %s records an audit chain up to seq %lld: the store was "
		    "removed or moved; restore it, or remove %s to start a new "
		    "store deliberately", st->path, st->mark_path,
		    (long long)m.seq, st->mark_path);
	snprintf(tmp, sizeof(tmp), "%s.init-%ld", st->path, (long)getpid());
	unlink(tmp);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return nara_err_set(err, errno == ENOSPC ? NR_STORE_FULL :
		    NR_STORE_FAILED, "store", "cannot create %s: %s", tmp,
		    strerror(errno));
	close(fd);
	if (store_schema_create(tmp, err) != 0)
		goto fail;
	/* link, not rename: a store another process created meanwhile wins */
	if (link(tmp, st->path) != 0) {
		nara_err_set(err, NR_STORE_FAILED, "store", "cannot create %s: %s",
		    st->path, strerror(errno));
		goto fail;
	}
	unlink(tmp);
	if (dir_sync(st->path) != 0)
		log_warn("store %s: fsync of its directory: %s", st->path,
		    strerror(errno));
	log_info("store %s: created a new store", st->path);
	st->created = true;
	return 0;
fail:
	unlink(tmp);
	return -1;
}

/* What is at path: 1 nothing (a store may be created), 0 a file that
 * looks like SQLite, -1 with err for anything else. */
static int
file_check(const char *path, struct nara_err *err)
{
	static const char magic[16] = "SQLite format 3";
	char head[16], wal[4200];
	struct stat sb;
	ssize_t n;
	int fd;

	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 1;
		return nara_err_set(err, NR_STORE_FAILED, "store", "cannot open "
		    "%s: %s", path, strerror(errno));
	}
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (sb.st_size == 0) {
		if (file_nonempty(wal))
			return 0;   /* everything still in the WAL: SQLite reads it */
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is empty "
		    "(0 bytes): a store is created only where no file exists; "
		    "restore the store from a backup, or remove the file to start "
		    "a new one", path);
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "cannot open "
		    "%s: %s", path, strerror(errno));
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(magic)) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is not a "
		    "SQLite database (damaged or another file): refusing to use "
		    "it; restore the store from a backup", path);
	return 0;
}

int
store_guard_path(struct store_be *st, struct nara_err *err)
{
	int rc = file_check(st->path, err);

	return rc == 1 ? store_create(st, err) : rc;
}

/* ---------------------------------------------------------------- check */

int
store_guard_quick_check(sqlite3 *db, const char *path, struct nara_err *err)
{
	sqlite3_stmt *s = NULL;
	const char *text;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		nara_err_set(err, NR_STORE_FAILED, "store", "%s failed the "
		    "integrity check: %s", path, sqlite3_errmsg(db));
		sqlite3_finalize(s);
		return -1;
	}
	text = (const char *)sqlite3_column_text(s, 0);
	if (text == NULL || strcmp(text, "ok") != 0) {
		nara_err_set(err, NR_STORE_FAILED, "store", "%s failed the "
		    "integrity check: %s", path, text != NULL ? text : "?");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

int
store_guard_check(struct store_be *st, struct nara_err *err)
{
	return store_guard_quick_check(st->db, st->path, err);
}

/* ---------------------------------------------------------------- head file */

static void
hex_put(FILE *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

static int
hex_get(const char *s, uint8_t *b, size_t n)
{
	unsigned v;

	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		b[i] = (uint8_t)v;
	}
	return 0;
}

/* One "key value" line into m; -1 on a malformed value. */
static int
mark_line(struct store_mark *m, const char *key, const char *val)
{
	char *end;

	if (strcmp(key, "seq") == 0) {
		m->seq = strtoll(val, &end, 10);
		return *end == '\0' && m->seq > 0 ? 0 : -1;
	}
	if (strcmp(key, "hash") == 0)
		return hex_get(val, m->hash, AUDIT_HASH_LEN);
	if (strcmp(key, "time_ms") == 0) {
		m->time_ms = strtoll(val, &end, 10);
		return *end == '\0' ? 0 : -1;
	}
	if (strcmp(key, "signature") == 0 && strcmp(val, "-") != 0) {
		m->is_signed = true;
		return hex_get(val, m->sig, AUDIT_SIG_LEN);
	}
	if (strcmp(key, "clean") == 0) {
		unsigned long long dev, ino;
		long long size, mtime;
		if (sscanf(val, "%llu:%llu:%lld:%lld", &dev, &ino, &size,
		    &mtime) != 4)
			return -1;
		m->clean = true;
		m->clean_dev = dev;
		m->clean_ino = ino;
		m->clean_size = size;
		m->clean_mtime_ns = mtime;
		return 0;
	}
	if (strcmp(key, "key") == 0 && strlen(val) == AUDIT_FPR_LEN)
		memcpy(m->fingerprint, val, AUDIT_FPR_LEN + 1);
	return 0;
}

/* A file that cannot be read or parsed is an error: it is narad's own
 * record. */
int
store_mark_read(const char *path, struct store_mark *m, struct nara_err *err)
{
	char line[512], key[32], val[300];
	FILE *f;
	bool tag = false, bad = false, hash = false;

	memset(m, 0, sizeof(*m));
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		return nara_err_set(err, NR_STORE_FAILED, "store", "cannot read "
		    "%s: %s", path, strerror(errno));
	}
	while (!bad && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, MARK_TAG) == 0)
			tag = true;
		else if (line[0] != '#' && line[0] != '\0' &&
		    (sscanf(line, "%31s %299s", key, val) != 2 ||
		    mark_line(m, key, val) != 0))
			bad = true;
		else if (strncmp(line, "hash ", 5) == 0)
			hash = true;
	}
	fclose(f);
	if (!tag || bad || m->seq <= 0 || !hash)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is damaged: "
		    "it must hold the audit chain head narad recorded; restore "
		    "it, or remove it to accept the store as it is", path);
	return 0;
}

/* The hash of audit row seq: 1 found, 0 not in the log, -1 error. */
static int
row_hash(struct store_be *st, int64_t seq, uint8_t hash[AUDIT_HASH_LEN])
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, "SELECT hash FROM audit WHERE seq "
	    "= ?1", -1, &s, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, seq);
		rc = sqlite3_step(s);
	}
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == AUDIT_HASH_LEN)
		memcpy(hash, sqlite3_column_blob(s, 0), AUDIT_HASH_LEN);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Does the store's chain hold the marked row (or prune it behind a cut)? */
static int
mark_compare(struct store_be *st, const struct store_mark *m,
    struct nara_err *err)
{
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t cut;
	int found;

	if (st->head_seq < m->seq)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s is behind "
		    "its head file: its audit chain ends at seq %lld, %s records "
		    "seq %lld; the store was emptied or rolled back to an older "
		    "copy", st->path, (long long)st->head_seq, st->mark_path,
		    (long long)m->seq);
	if ((found = row_hash(st, m->seq, hash)) < 0)
		return store_fail(st, sqlite3_errcode(st->db), "reading the "
		    "audit log", err);
	if (!found) {
		if (store_cut_load(st, &cut, hash) != 0)
			return store_fail(st, SQLITE_ERROR, "reading the retention "
			    "cut", err);
		if (cut < m->seq) {
			/* rows deleted inside a chain that reaches past the
			 * mark: nara-audit verify names the gap */
			log_warn("store %s has no audit row %lld, which %s records; "
			    "run nara-audit verify", st->path, (long long)m->seq,
			    st->mark_path);
			return 0;
		}
		if (cut > m->seq)
			return 0;   /* pruned since, behind a signed cut */
	}
	if (memcmp(hash, m->hash, AUDIT_HASH_LEN) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "store", "%s holds "
		    "another audit chain than %s records at seq %lld: the store "
		    "was replaced", st->path, st->mark_path, (long long)m->seq);
	return 0;
}

int
store_guard_head(struct store_be *st, struct nara_err *err)
{
	struct store_mark m;

	if (store_mark_read(st->mark_path, &m, err) != 0)
		return -1;
	if (m.seq == 0) {
		if (st->mark_keep && st->head_seq > 0)
			log_warn("store %s: its audit chain reaches seq %lld but %s "
			    "is missing (first start of this version, or the file "
			    "was removed): the store cannot be compared; a new head "
			    "file is written at the next checkpoint", st->path,
			    (long long)st->head_seq, st->mark_path);
		return 0;
	}
	if (mark_compare(st, &m, err) != 0)
		return -1;
	st->mark = m;
	if (st->mark_keep && m.clean) {
		/* from here on the store changes: a crash must leave no stamp */
		st->mark.clean = false;
		store_mark_write(st);
	}
	return 0;
}

int
store_sqlite_head_file_check(struct store_be *st, struct nara_err *err)
{
	return store_guard_head(st, err);
}

void
store_mark_set(struct store_be *st, const struct audit_checkpoint *c)
{
	struct store_mark *m = &st->mark;

	if (!st->mark_keep)
		return;
	memset(m, 0, sizeof(*m));
	m->seq = st->head_seq;
	memcpy(m->hash, st->head_hash, AUDIT_HASH_LEN);
	m->time_ms = (int64_t)time(NULL) * 1000;
	if (c != NULL) {
		m->seq = c->seq;
		memcpy(m->hash, c->hash, AUDIT_HASH_LEN);
		m->time_ms = c->time_ms;
		m->is_signed = true;
		memcpy(m->sig, c->sig, AUDIT_SIG_LEN);
		snprintf(m->fingerprint, sizeof(m->fingerprint), "%s",
		    c->fingerprint);
	}
	st->mark_due = m->seq > 0;
}

static int
mark_print(FILE *f, const struct store_mark *m)
{
	fprintf(f, "%s\n# the newest audit chain head narad recorded for the "
	    "store beside it\nseq %" PRId64 "\nhash ", MARK_TAG, m->seq);
	hex_put(f, m->hash, AUDIT_HASH_LEN);
	fprintf(f, "\ntime_ms %" PRId64 "\nsignature ", m->time_ms);
	if (m->is_signed)
		hex_put(f, m->sig, AUDIT_SIG_LEN);
	else
		fputs("-", f);
	fprintf(f, "\nkey %s\n", m->is_signed ? m->fingerprint : "-");
	if (m->clean)
		fprintf(f, "# the store file as narad left it at its last stop "
		    "(device:inode:size:mtime_ns)\nclean %" PRIu64 ":%" PRIu64
		    ":%" PRId64 ":%" PRId64 "\n", m->clean_dev, m->clean_ino,
		    m->clean_size, m->clean_mtime_ns);
	return ferror(f) ? -1 : 0;
}

void
store_mark_write(struct store_be *st)
{
	char tmp[4200];
	FILE *f = NULL;
	int fd;

	st->mark_due = false;
	if (!st->mark_keep)
		return;
	/* 0644: seq, hash and signature only, for auditors who verify */
	snprintf(tmp, sizeof(tmp), "%s.tmp", st->mark_path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL)
		goto fail;
	fd = -1;
	if (mark_print(f, &st->mark) != 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0)
		goto fail;
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, st->mark_path) != 0 || dir_sync(st->mark_path) != 0)
		goto fail;
	return;
fail:
	log_error("store %s: cannot write %s: %s", st->path, st->mark_path,
	    strerror(errno));
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
}

/* ---------------------------------------------------------------- narad -n */

/* The head as narad would load it: the recorded head or the last row. */
static int
check_head(struct store_be *st)
{
	static const char *const sql[] = {
		"SELECT value FROM meta WHERE key = 'audit_head_seq'",
		"SELECT max(seq) FROM audit",
	};

	st->head_seq = 0;
	for (size_t i = 0; i < 2; i++) {
		sqlite3_stmt *s = NULL;
		int rc = sqlite3_prepare_v2(st->db, sql[i], -1, &s, NULL);

		if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW &&
		    sqlite3_column_int64(s, 0) > st->head_seq)
			st->head_seq = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

int
store_check(const char *path, bool *absent, struct nara_err *err)
{
	struct store_be st = { .path = (char *)(uintptr_t)path };
	struct store_mark m;
	int rc = -1;

	*absent = false;
	if (asprintf(&st.mark_path, "%s.head", path) < 0) {
		st.mark_path = NULL;
		return nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
	}
	if ((rc = file_check(path, err)) == 1) {
		*absent = true;
		rc = store_mark_read(st.mark_path, &m, err);
		if (rc == 0 && m.seq > 0)
			rc = nara_err_set(err, NR_STORE_FAILED, "store", "%s is "
			    "missing but %s records an audit chain up to seq %lld",
			    path, st.mark_path, (long long)m.seq);
		goto done;
	}
	if (rc != 0)
		goto done;
	if (sqlite3_open_v2(path, &st.db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		rc = nara_err_set(err, NR_STORE_FAILED, "store", "cannot open "
		    "%s: %s", path, sqlite3_errmsg(st.db));
		goto done;
	}
	sqlite3_busy_timeout(st.db, 5000);
	if ((rc = store_guard_check(&st, err)) != 0)
		goto done;
	if (check_head(&st) != 0)
		rc = nara_err_set(err, NR_STORE_FAILED, "store", "%s is not a "
		    "nara store: %s", path, sqlite3_errmsg(st.db));
	else
		rc = store_guard_head(&st, err);
done:
	sqlite3_close(st.db);
	free(st.mark_path);
	return rc;
}
