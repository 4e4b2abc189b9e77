/*
 * tool.h — internals of nara-audit: the parsed command line, opening the
 * store and keys, and the output of audit rows as a table, JSON, CSV or
 * JSON lines.
 */
#ifndef NARA_AUDIT_TOOL_H
#define NARA_AUDIT_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "audit.h"
#include "audit_sign.h"
#include "store.h"

/* Exit codes: 0 fine, 1 verification failed or nothing found, 2 usage,
 * configuration or I/O error. */
enum { EXIT_OK = 0, EXIT_BAD = 1, EXIT_USAGE = 2 };

enum output_format { FMT_TABLE, FMT_JSON, FMT_CSV, FMT_JSONL };

/* Everything the command line may say; unset strings are NULL, unset
 * times are INT64_MIN / INT64_MAX. */
struct opts {
	const char *config;          /* -c nara.conf */
	const char *store;           /* --store */
	const char *key;             /* --key (pseudonym key) */
	const char *pubkeys[AUDIT_RING_MAX]; /* --pubkey, repeatable */
	size_t n_pubkeys;
	const char *sign_key;        /* --sign-key (private) */
	const char *party, *type, *event, *node;
	const char *reviewer, *conclusion;
	const char *format;          /* export --format */
	int64_t from_ms, to_ms;      /* [from, to) in epoch milliseconds */
	int64_t before;              /* prune: epoch seconds, 0 unset */
	int64_t n;                   /* sample size, -1 unset */
	uint64_t seed;
	bool has_seed;
	bool has_from, has_to;
	enum output_format out;
	char **args;                 /* positional arguments after the command */
	int n_args;
	/* resolved from the config or the options (owned by the tool) */
	char *store_path, *key_path, *sign_path;
	char *pub_paths[AUDIT_RING_MAX];
	size_t n_pub_paths;
};

/* The store, read-only unless write is set; needs_key loads the pseudonym
 * key too. NULL with a message on stderr. */
struct store *tool_open_store(struct opts *o, bool write, bool needs_key);
/* The public keys for verify into keys (*n of them, each to be freed with
 * audit_key_free): every --pubkey, else from the config signing_key.pub
 * (or the signing key itself) and every signing_key.pub.* file. *n is 0
 * when there is none. -1 with a message when one fails to load. Call
 * after opening. */
int tool_pubkeys(struct opts *o, struct audit_key *keys[AUDIT_RING_MAX],
    size_t *n);

/* Prints audit rows (store_audit_rows) in the chosen format. */
struct rows;
struct rows *rows_new(enum output_format fmt, FILE *out);
/* Add one row; hash is its 32-byte hash, NULL when malformed. */
int rows_add(struct rows *r, const struct audit_row *row, const uint8_t *hash);
/* Finish the output (table widths, closing bracket); the row count. */
int64_t rows_end(struct rows *r);
void rows_free(struct rows **r);

/* The rows f selects from st on stdout; their count, or -1 after saying
 * why on stderr. */
int64_t rows_print(struct store *st, const struct store_audit_filter *f,
    enum output_format fmt);

/* The personal or coordination number from arg or, for "-", one line of
 * stdin, in any spelling pnr.h takes, as its 12 digits in pn. -1 after
 * a coded message on stderr that does not repeat the number. */
int tool_subject_number(const char *arg, char pn[32]);

/* Subcommands, each returning an exit code. */
int cmd_verify(struct opts *o);
int cmd_trace(struct opts *o);
int cmd_query(struct opts *o);
int cmd_subject(struct opts *o);
int cmd_sample(struct opts *o);
int cmd_review(struct opts *o);
int cmd_export(struct opts *o);
int cmd_keygen(struct opts *o);
int cmd_prune(struct opts *o);

/* Messages on stderr, prefixed "nara-audit: ". */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
