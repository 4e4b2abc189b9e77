/*
 * store_common.h — what every store backend does alike, whatever database
 * is underneath: the audit row about a message (metadata only, texts cut
 * to size and cleaned of personal numbers), the pseudonym of a personal
 * number, and the encoded receipt a sender gets. The backends (store_sqlite*.c,
 * store_pg*.c) include this; nothing here touches a database.
 */
#ifndef NARA_STORE_COMMON_H
#define NARA_STORE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "store.h"

#define STORE_DETAIL_MAX 1024
#define STORE_CODE_MAX 32
#define STORE_FIELD_MAX 256        /* ids and addresses of refused messages */

/* The texts an audit row built by store_audit_fill points into. */
struct store_audit_text {
	char sha[2 * AUDIT_HASH_LEN + 1];
	char code[STORE_CODE_MAX];
	char detail[STORE_DETAIL_MAX];
	char field[4][STORE_FIELD_MAX];
};

/* Fill r (seq and time left to the backend) for an audit row about m (may
 * be NULL): its metadata, the subject pseudonym, and code/detail cut to
 * size with m's personal number, and any other, removed. r's strings
 * point into t, m and the arguments. */
void store_audit_fill(struct audit_row *r, struct store_audit_text *t,
    const char *event, const char *node, const struct store_msg *m,
    const char *subject, const char *code, const char *detail);

/* The same for the "acked" row of m, which records the ack by node, the
 * purge of the payload and the receipt queued for m's sender node at once
 * (audit.h, AUDIT_ACKED_FOLD): the detail names that node as the
 * configuration spells it, uncut. */
void store_audit_fill_acked(struct audit_row *r, struct store_audit_text *t,
    const char *node, const struct store_msg *m, const char *subject);

/* HMAC-SHA-256 of personal_number under key, lower-case hex; -1 when there
 * is no key or the MAC fails. */
int store_hmac_hex(const uint8_t *key, size_t key_len,
    const char *personal_number, char hex[65]);

/* A store's pseudonym key: its own copy, and a MAC context keyed with it
 * once (OpenSSL's one-shot HMAC fetches SHA-256 and sets the key again
 * for every number). The context changes with each number: one thread at
 * a time, as the store itself. */
struct store_key {
	uint8_t *bytes;               /* NULL: no key */
	size_t len;
	struct evp_mac_ctx_st *mac;   /* HMAC-SHA-256 keyed with it */
};
/* Copies key and keys the MAC (len 0 or NULL: no key); -1 and err when
 * out of memory or the MAC cannot be set up. */
int store_key_set(struct store_key *k, const uint8_t *key, size_t len,
    struct nara_err *err);
/* Wipes the copy and frees what k holds. */
void store_key_free(struct store_key *k);
/* store_hmac_hex of personal_number under k's key. */
int store_key_pseudonym(const struct store_key *k, const char *personal_number,
    char hex[65]);
/* The number a refused message's audit row names the child by: the one
 * the envelope carries, in the 12-digit form that accepted messages and
 * the patient's extract pseudonymise (pnr_normalise_at on now's day, so a
 * spelling such as YYMMDD-NNNC finds the same child). -1 when it names
 * no one: no number, or none that is real (another shape, no such date,
 * a wrong check digit): the row gets no pseudonym, never an HMAC of the
 * sender's text. */
int store_rejected_number(const char *personal_number, int64_t now,
    char out[13]);
/* The check value of a pseudonym key (16 hex digits), kept in the store
 * at its first open with a key; and the comparison at every later open:
 * 0 when kept is empty or the same, else NR_CONFIG naming label. */
int store_key_check_value(const uint8_t *key, size_t key_len, char out[17]);
int store_key_check_compare(const char *label, const char *kept,
    const char *mine, struct nara_err *err);

/* "delivered", "failed", "expired", "unspecified": a receipt's outcome as
 * the audit detail names it. */
const char *store_outcome_name(int outcome);

/* Copy s (NULL stays NULL) to *at, past which *at moves; the size it takes
 * there (store_text_size), for rows kept in one allocation. */
const char *store_text_put(char **at, const char *s);
size_t store_text_size(const char *s);
/* The same for a message's texts (ids, addresses, nodes, author) and its
 * subject pseudonym: the room they take, and their copy, d's texts set to
 * point there (the subject's copy returned). */
size_t store_msg_text_size(const struct store_msg *m, const char *subject);
const char *store_msg_text_put(char **at, struct store_msg *d,
    const struct store_msg *m, const char *subject);

/* The encoded Nara__Receipt about m into *buf (grown as needed, owned by
 * the caller); its length, or 0 when out of memory. */
size_t store_receipt_pack(uint8_t **buf, size_t *cap, const struct store_msg *m,
    int outcome, const char *receiving_node, const char *code,
    const char *text, int64_t now);

#endif
