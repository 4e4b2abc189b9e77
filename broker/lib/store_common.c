/*
 * store_common.c — the parts of a store that do not depend on its
 * database (store_common.h): audit rows about messages, pseudonyms and
 * receipts.
 *
 * What reaches the audit log is metadata only: the child's personal number
 * becomes its HMAC, free texts are cut to STORE_DETAIL_MAX and scrubbed of
 * the personal number in case a caller's message quoted it.
 */
#include "store_common.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "nara.pb-c.h"
#include "pbstr.h"
#include "pnr.h"
#include "validate.h"

#define REDACTED "[personal number]"

/* ---------------------------------------------------------------- texts */

/* Length of pn as written at s: exactly, or for a 12-digit number also as
 * YYYYMMDD-NNNN, YYMMDDNNNN and YYMMDD-NNNN ('+' too); 0 if absent. */
static size_t
pn_match(const char *s, const char *pn, size_t pn_len, bool digits12)
{
	/* every form begins with the number's first digit or, without the
	 * century, its third: most places of a text are passed here */
	if (*s != pn[0] && (!digits12 || *s != pn[2]))
		return 0;
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

	if (*in < '0' || *in > '9' || (in != start && id_char(in[-1])))
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


void
store_audit_fill(struct audit_row *r, struct store_audit_text *t,
    const char *event, const char *node, const struct store_msg *m,
    const char *subject, const char *code, const char *detail)
{
	const char *pn = m ? m->personal_number : NULL;

	memset(r, 0, sizeof(*r));
	r->event = event;
	r->node = node;
	r->payload_size = -1;
	r->subject = subject;
	/* A refused message's fields were never validated: cut them to size
	 * and take out the child's number should it sit in the wrong field. */
	if (m != NULL) {
		r->message_id = clean_text(m->message_id, pn, false, t->field[0],
		    STORE_FIELD_MAX);
		r->type = m->type > 0 ? message_type_name(m->type) : NULL;
		r->sender = clean_text(m->sender, pn, false, t->field[1],
		    STORE_FIELD_MAX);
		r->recipient = clean_text(m->recipient, pn, false, t->field[2],
		    STORE_FIELD_MAX);
		r->author = clean_text(m->author, pn, false, t->field[3],
		    STORE_FIELD_MAX);
		r->legal_basis = audit_legal_basis_name(m->legal_basis);
		if (!all_zero(m->payload_sha256, sizeof(m->payload_sha256))) {
			audit_hex(m->payload_sha256, AUDIT_HASH_LEN, t->sha);
			r->payload_sha256 = t->sha;
			r->payload_size = (int64_t)m->payload_len;
		}
	}
	r->code = clean_text(code, pn, true, t->code, sizeof(t->code));
	r->detail = clean_text(detail, pn, true, t->detail, sizeof(t->detail));
}

void
store_audit_fill_acked(struct audit_row *r, struct store_audit_text *t,
    const char *node, const struct store_msg *m, const char *subject)
{
	store_audit_fill(r, t, "acked", node, m, subject, NULL, NULL);
	/* A node name is at most 255 bytes (a ZMTP identity): it fits. */
	snprintf(t->detail, sizeof(t->detail), "%s%s", AUDIT_ACKED_FOLD,
	    m->sender_node != NULL ? m->sender_node : "");
	r->detail = t->detail;
}

/* ---------------------------------------------------------------- keys */

int
store_hmac_hex(const uint8_t *key, size_t key_len, const char *personal_number,
    char hex[65])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	hex[0] = '\0';
	if (key == NULL || personal_number == NULL || key_len > (size_t)INT32_MAX)
		return -1;
	if (HMAC(EVP_sha256(), key, (int)key_len,
	    (const unsigned char *)personal_number, strlen(personal_number),
	    mac, &len) == NULL || len != AUDIT_HASH_LEN)
		return -1;
	audit_hex(mac, len, hex);
	return 0;
}

/* A context keyed once with key: each number starts from the key's inner
 * state again (EVP_MAC_init without a key keeps the one set). */
static EVP_MAC_CTX *
key_mac_new(const uint8_t *key, size_t len)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		    (char *)(uintptr_t)"SHA256", 0),
		OSSL_PARAM_construct_end()
	};
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;

	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return NULL;
	ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	if (ctx != NULL && EVP_MAC_init(ctx, key, len, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int
store_key_set(struct store_key *k, const uint8_t *key, size_t len,
    struct nara_err *err)
{
	memset(k, 0, sizeof(*k));
	if (key == NULL || len == 0)
		return 0;
	if ((k->bytes = malloc(len)) == NULL)
		return nara_err_set(err, NR_STORE_FAILED, "store", "out of memory");
	memcpy(k->bytes, key, len);
	k->len = len;
	if ((k->mac = key_mac_new(key, len)) == NULL) {
		store_key_free(k);
		return nara_err_set(err, NR_STORE_FAILED, "pseudonym_key",
		    "cannot set up HMAC-SHA-256 with the key");
	}
	return 0;
}

void
store_key_free(struct store_key *k)
{
	if (k->bytes != NULL)
		OPENSSL_cleanse(k->bytes, k->len);
	free(k->bytes);
	EVP_MAC_CTX_free(k->mac);
	memset(k, 0, sizeof(*k));
}

int
store_key_pseudonym(const struct store_key *k, const char *personal_number,
    char hex[65])
{
	uint8_t mac[AUDIT_HASH_LEN];
	size_t len = 0;

	hex[0] = '\0';
	if (k->mac == NULL || personal_number == NULL)
		return -1;
	if (EVP_MAC_init(k->mac, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(k->mac, (const unsigned char *)personal_number,
	    strlen(personal_number)) != 1 ||
	    EVP_MAC_final(k->mac, mac, &len, sizeof(mac)) != 1 ||
	    len != AUDIT_HASH_LEN)
		return -1;
	audit_hex(mac, len, hex);
	return 0;
}

int
store_rejected_number(const char *personal_number, int64_t now,
    char out[13])
{
	time_t t = (time_t)now;
	int today = 99991231;
	struct tm tm;

	out[0] = '\0';
	if (personal_number == NULL || personal_number[0] == '\0')
		return -1;
	if (gmtime_r(&t, &tm) != NULL)
		today = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
		    tm.tm_mday;
	return pnr_normalise_at(personal_number, today, out, NULL);
}

/* What the store keeps to know its pseudonym key again (the first 16 hex
 * digits of the key's HMAC of a fixed text; the key cannot be found from
 * it). A store opened with another key would give every child new
 * pseudonyms that no earlier row carries. */
#define KEY_CHECK_TEXT "nara pseudonym key check"

int
store_key_check_value(const uint8_t *key, size_t key_len, char out[17])
{
	char hex[65];

	out[0] = '\0';
	if (store_hmac_hex(key, key_len, KEY_CHECK_TEXT, hex) != 0)
		return -1;
	snprintf(out, 17, "%.16s", hex);
	return 0;
}

int
store_key_check_compare(const char *label, const char *kept,
    const char *mine, struct nara_err *err)
{
	if (kept == NULL || kept[0] == '\0' || strcmp(kept, mine) == 0)
		return 0;
	return nara_err_set(err, NR_CONFIG, "pseudonym_key", "%s was written "
	    "with another pseudonym key (check value %s, this key's %s): with "
	    "this key no child's earlier rows would be found, and new rows "
	    "could not be linked to them; use the store's own key", label,
	    kept, mine);
}

/* ---------------------------------------------------------------- receipts */

const char *
store_outcome_name(int outcome)
{
	switch (outcome) {
	case NARA__OUTCOME__OUTCOME_DELIVERED: return "delivered";
	case NARA__OUTCOME__OUTCOME_FAILED: return "failed";
	case NARA__OUTCOME__OUTCOME_EXPIRED: return "expired";
	default: return "unspecified";
	}
}

size_t
store_receipt_pack(uint8_t **buf, size_t *cap, const struct store_msg *m,
    int outcome, const char *receiving_node, const char *code,
    const char *text, int64_t now)
{
	Nara__Receipt r = NARA__RECEIPT__INIT;
	char when[32];
	size_t need;
	uint8_t *p;

	r.message_id = pb_str(m->message_id);
	r.outcome = (Nara__Outcome)outcome;
	r.time = pb_str(time_format(now, when, sizeof(when)));
	r.receiving_node = pb_str(receiving_node);
	r.recipient = pb_str(m->recipient);
	r.code = pb_str(code);
	r.text = pb_str(text);
	r.conversation_id = pb_str(m->conversation_id);
	need = protobuf_c_message_get_packed_size(&r.base);
	if (need > *cap) {
		if ((p = realloc(*buf, need)) == NULL)
			return 0;
		*buf = p;
		*cap = need;
	}
	return protobuf_c_message_pack(&r.base, *buf);
}

const char *
store_text_put(char **at, const char *s)
{
	char *d = *at;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(d, s, n);
	*at += n;
	return d;
}

size_t
store_text_size(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

size_t
store_msg_text_size(const struct store_msg *m, const char *subject)
{
	return store_text_size(m->message_id) +
	    store_text_size(m->conversation_id) + store_text_size(m->sender) +
	    store_text_size(m->sender_node) + store_text_size(m->recipient) +
	    store_text_size(m->recipient_node) + store_text_size(m->author) +
	    store_text_size(subject);
}

const char *
store_msg_text_put(char **at, struct store_msg *d, const struct store_msg *m,
    const char *subject)
{
	d->message_id = store_text_put(at, m->message_id);
	d->conversation_id = store_text_put(at, m->conversation_id);
	d->sender = store_text_put(at, m->sender);
	d->sender_node = store_text_put(at, m->sender_node);
	d->recipient = store_text_put(at, m->recipient);
	d->recipient_node = store_text_put(at, m->recipient_node);
	d->author = store_text_put(at, m->author);
	return store_text_put(at, subject);
}
