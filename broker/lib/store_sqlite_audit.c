/*
 * store_sqlite_audit.c — audit rows about messages and events, the chain
 * verification, the pseudonym of personal numbers and its key file.
 *
 * What reaches the audit table is metadata only: the child's personal number
 * becomes its HMAC, free texts are cut to DETAIL_MAX and scrubbed of the
 * personal number in case a caller's message quoted it.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "validate.h"

#define DETAIL_MAX 1024
#define CODE_MAX 32
#define FIELD_MAX 256              /* ids and addresses of refused messages */
#define KEY_MIN 32
#define KEY_MAX 4096
#define REDACTED "[personal number]"

/* ---------------------------------------------------------------- texts */

/* Length of pn as written at s: exactly, or for a 12-digit number also as
 * YYYYMMDD-NNNN, YYMMDDNNNN and YYMMDD-NNNN ('+' too); 0 if absent. */
static size_t
pn_match(const char *s, const char *pn, size_t pn_len, bool digits12)
{
	if (strncmp(s, pn, pn_len) == 0)
		return pn_len;
	if (!digits12)
		return 0;
	for (size_t skip = 0; skip <= 2; skip += 2) {
		const char *d = pn + skip;
		size_t n = 0, i = 0;
		while (d[i] != '\0') {
			if (i == 8 - skip && (s[n] == '-' || s[n] == '+'))
				n++;
			if (s[n] != d[i])
				break;
			n++;
			i++;
		}
		if (d[i] == '\0')
			return n;
	}
	return 0;
}

static bool
is_12_digits(const char *s)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n == 12 && s[n] == '\0';
}

static size_t
digit_run(const char *s)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

/* Any valid personal number written at s (the start of a digit run) in
 * one of the usual forms: YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDDNNNC or
 * YYMMDD-NNNC. Its length, or 0. Over-matching (a phone number that
 * happens to pass the checks) only hides a little more. */
static size_t
any_pn_match(const char *s)
{
	char cand[13];
	size_t a = digit_run(s), len = a, digits = a;

	if ((a == 8 || a == 6) && (s[a] == '-' || s[a] == '+') &&
	    digit_run(s + a + 1) == 4) {
		len = a + 5;
		digits = a + 4;
	} else if (a != 12 && a != 10) {
		return 0;
	}
	for (int century = 0; century < 2; century++) {
		size_t o = 0;
		if (digits == 10) {
			memcpy(cand, century ? "19" : "20", 2);
			o = 2;
		} else if (century) {
			break;
		}
		memcpy(cand + o, s, a);
		memcpy(cand + o + a, s + len - (digits - a), digits - a);
		cand[o + digits] = '\0';
		if (validate_personal_number(cand, NULL, NULL) == 0)
			return len;
	}
	return 0;
}

/* Length of out[0..o) without a UTF-8 sequence cut short at its end. */
static size_t
utf8_cut(const char *out, size_t o)
{
	size_t k = o, need;
	unsigned char lead;

	while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80 && o - k < 3)
		k--;
	if (k == 0)
		return o;
	lead = (unsigned char)out[k - 1];
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	return o - (k - 1) < need ? k - 1 : o;
}

/* Part of an identifier: a personal-number look-alike next to one of these
 * is a piece of a UUID or an HSA-id, not a person. */
static bool
id_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c == '-';
}

/* any_pn_match at in, only where a free-standing number starts and ends. */
static size_t
free_pn_match(const char *start, const char *in)
{
	size_t m;

	if (in != start && id_char(in[-1]))
		return 0;
	m = any_pn_match(in);
	return m > 0 && !id_char(in[m]) ? m : 0;
}

/* in, cut to cap - 1 bytes on a UTF-8 boundary, with pn (the message's
 * own personal number, if any) and, when scan is set, any other valid
 * personal number replaced, into out; NULL when in is NULL. */
static const char *
clean_text(const char *in, const char *pn, bool scan, char *out, size_t cap)
{
	size_t pn_len = pn ? strlen(pn) : 0, o = 0, m;
	bool digits12 = pn_len > 0 && is_12_digits(pn);

	if (in == NULL)
		return NULL;
	for (const char *start = in; *in != '\0' && o + 1 < cap; ) {
		m = pn_len >= 4 ? pn_match(in, pn, pn_len, digits12) : 0;
		if (m == 0 && scan)
			m = free_pn_match(start, in);
		if (m > 0) {
			if (o + sizeof(REDACTED) > cap)
				break;
			memcpy(out + o, REDACTED, sizeof(REDACTED) - 1);
			o += sizeof(REDACTED) - 1;
			in += m;
			continue;
		}
		out[o++] = *in++;
	}
	if (*in != '\0')
		o = utf8_cut(out, o);
	out[o] = '\0';
	return out;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int
store_audit_msg(struct store_be *st, const char *event, const char *node,
    const struct store_msg *m, const char *subject, const char *code,
    const char *detail, int64_t now, struct nara_err *err)
{
	struct audit_row r = { .event = event, .node = node, .payload_size = -1,
	    .subject = subject };
	char sha[2 * AUDIT_HASH_LEN + 1], code_buf[CODE_MAX],
	    detail_buf[DETAIL_MAX], field[4][FIELD_MAX];
	const char *pn = m ? m->personal_number : NULL;

	/* A refused message's fields were never validated: cut them to size
	 * and take out the child's number should it sit in the wrong field. */
	if (m != NULL) {
		r.message_id = clean_text(m->message_id, pn, false, field[0],
		    FIELD_MAX);
		r.type = m->type > 0 ? message_type_name(m->type) : NULL;
		r.sender = clean_text(m->sender, pn, false, field[1], FIELD_MAX);
		r.recipient = clean_text(m->recipient, pn, false, field[2],
		    FIELD_MAX);
		r.author = clean_text(m->author, pn, false, field[3], FIELD_MAX);
		r.legal_basis = audit_legal_basis_name(m->legal_basis);
		if (!all_zero(m->payload_sha256, sizeof(m->payload_sha256))) {
			audit_hex(m->payload_sha256, AUDIT_HASH_LEN, sha);
			r.payload_sha256 = sha;
			r.payload_size = (int64_t)m->payload_len;
		}
	}
	r.code = clean_text(code, pn, true, code_buf, sizeof(code_buf));
	r.detail = clean_text(detail, pn, true, detail_buf, sizeof(detail_buf));
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
	int rc;

	if (store_enter(st, &err) != 0)
		return -1;
	if (pn != NULL && pn[0] != '\0' &&
	    store_sqlite_pseudonym(st, pn, subject) != 0)
		snprintf(subject, sizeof(subject), "%s", "unavailable");
	rc = store_audit_msg(st, "rejected", node, m, pn && pn[0] ? subject
	    : NULL, code, text, now, &err);
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
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	hex[0] = '\0';
	if (st->key == NULL || personal_number == NULL ||
	    st->key_len > (size_t)INT32_MAX)
		return -1;
	if (HMAC(EVP_sha256(), st->key, (int)st->key_len,
	    (const unsigned char *)personal_number, strlen(personal_number),
	    mac, &len) == NULL || len != AUDIT_HASH_LEN)
		return -1;
	audit_hex(mac, len, hex);
	return 0;
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
