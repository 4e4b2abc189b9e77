/*
 * store_sqlite_audit.c — audit rows about messages and events, the chain
 * verification, the pseudonym of personal numbers and its key file.
 *
 * What reaches the audit table is metadata only; the rows are built by
 * store_common.c, which every backend shares.
 */
#include "store_common.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "validate.h"

#define KEY_MIN 32
#define KEY_MAX 4096

/* ---------------------------------------------------------------- rows */

int
store_audit_msg(struct store_be *st, const char *event, const char *node,
    const struct store_msg *m, const char *subject, const char *code,
    const char *detail, int64_t now, struct nara_err *err)
{
	struct store_audit_text t;
	struct audit_row r;

	store_audit_fill(&r, &t, event, node, m, subject, code, detail);
	return store_audit_append(st, &r, m != NULL ? m->seq : 0, now, err);
}

/* ---------------------------------------------------------------- events */

int
store_sqlite_audit_rejected(struct store_be *st, const struct store_msg *m,
    const char *node, const char *code, const char *text, int64_t now)
{
	struct nara_err err = { 0 };
	char subject[65];
	const char *pn = m ? m->personal_number : NULL;
	char number[13];
	bool named;
	int rc;

	if (store_enter(st, &err) != 0)
		return -1;
	/* the pseudonym of the number as accepted messages carry it, or
	 * none when the number names no one (store_rejected_number) */
	named = store_rejected_number(pn, now, number) == 0;
	if (named && store_sqlite_pseudonym(st, number, subject) != 0)
		snprintf(subject, sizeof(subject), "%s", "unavailable");
	rc = store_audit_msg(st, "rejected", node, m, named ? subject : NULL,
	    code, text, now, &err);
	return store_leave(st, rc, &err);
}

int
store_sqlite_audit_event(struct store_be *st, const char *event,
    const char *node, const char *detail, int64_t now)
{
	struct nara_err err = { 0 };
	int rc;

	if (store_enter(st, &err) != 0)
		return -1;
	rc = store_audit_msg(st, event, node, NULL, NULL, NULL, detail, now,
	    &err);
	return store_leave(st, rc, &err);
}

int
store_sqlite_audit_event_coded(struct store_be *st, const char *event,
    const char *node, const char *code, const char *detail, int64_t now)
{
	struct nara_err err = { 0 };
	int rc;

	if (store_enter(st, &err) != 0)
		return -1;
	rc = store_audit_msg(st, event, node, NULL, NULL, code, detail, now,
	    &err);
	return store_leave(st, rc, &err);
}

/* ---------------------------------------------------------------- verify */

/* The head recorded at the last commit, read in the same transaction as
 * the rows so a concurrent writer cannot make the two disagree. */
static int
head_recorded(struct store_be *st, int64_t *seq, uint8_t hash[AUDIT_HASH_LEN])
{
	sqlite3_stmt *s = st->stmt[S_HEAD_LOAD];
	int rc = sqlite3_step(s);

	*seq = -1;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*seq = sqlite3_column_int64(s, 0);
		if (sqlite3_column_bytes(s, 1) == AUDIT_HASH_LEN)
			memcpy(hash, sqlite3_column_blob(s, 1), AUDIT_HASH_LEN);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int
store_sqlite_audit_verify(struct store_be *st, int64_t *bad_seq,
    struct nara_err *err)
{
	uint8_t hash[AUDIT_HASH_LEN], cut_hash[AUDIT_HASH_LEN];
	int64_t head, dummy, cut;
	bool own_txn = false;
	int rc;

	if (bad_seq == NULL)
		bad_seq = &dummy;
	*bad_seq = 0;
	if (st->in_batch) {
		head = st->head_seq;   /* includes this batch's rows */
		memcpy(hash, st->head_hash, AUDIT_HASH_LEN);
	} else {
		if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
			return store_fail(st, SQLITE_ERROR, "verify", err);
		own_txn = true;
		if (head_recorded(st, &head, hash) != 0) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return store_fail(st, SQLITE_ERROR, "verify", err);
		}
	}
	/* A retention prune moved the start of the chain to a signed cut;
	 * its signature is checked by nara-audit verify with the public key. */
	if (store_cut_load(st, &cut, cut_hash) != 0) {
		if (own_txn)
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return store_fail(st, SQLITE_ERROR, "verify", err);
	}
	rc = audit_verify_from(st->outer, st->hasher, cut, cut_hash, head, hash,
	    NULL, bad_seq, err);
	if (own_txn)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* ---------------------------------------------------------------- keys */

int
store_sqlite_pseudonym(const struct store_be *st, const char *personal_number,
    char hex[65])
{
	return store_key_pseudonym(&st->key, personal_number, hex);
}

/* Read all of fd (size bytes) into a new buffer. */
static int
read_all(int fd, const char *path, size_t size, uint8_t **out,
    struct nara_err *err)
{
	uint8_t *buf = malloc(size);
	size_t got = 0;
	ssize_t n;

	if (buf == NULL)
		return nara_err_set(err, NR_IO, "pseudonym_key", "out of memory");
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			nara_err_set(err, NR_IO, "pseudonym_key", "cannot read "
			    "pseudonym key %s: %s", path, n < 0 ? strerror(errno)
			    : "file shrank while reading");
			free(buf);
			return -1;
		}
		got += (size_t)n;
	}
	*out = buf;
	return 0;
}

int
store_read_key_file(const char *path, uint8_t **key, size_t *len,
    struct nara_err *err)
{
	struct stat sb;
	int fd, rc = -1;

	*key = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return nara_err_set(err, NR_CONFIG, "pseudonym_key", "cannot open "
		    "pseudonym key %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		nara_err_set(err, NR_CONFIG, "pseudonym_key", "pseudonym key %s "
		    "is not a regular file", path);
		goto fail;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		nara_err_set(err, NR_CONFIG, "pseudonym_key", "pseudonym key %s "
		    "has mode %04o and may be read by group or others; run "
		    "chmod 600 %s", path, (unsigned)(sb.st_mode & 07777), path);
		goto fail;
	}
	if (sb.st_size < KEY_MIN || sb.st_size > KEY_MAX) {
		nara_err_set(err, NR_CONFIG, "pseudonym_key", "pseudonym key %s "
		    "is %lld bytes; %s", path, (long long)sb.st_size,
		    sb.st_size < KEY_MIN ? "at least 32 needed (make one with: "
		    "openssl rand -out FILE 32)" : "at most 4096 allowed");
		goto fail;
	}
	if (read_all(fd, path, (size_t)sb.st_size, key, err) != 0)
		goto fail;
	*len = (size_t)sb.st_size;
	rc = 0;
fail:
	close(fd);
	return rc;
}
