/*
 * tool.h — internals of nara-audit: the parsed command line, opening the
 * store and keys, the output of audit rows as a table, JSON, CSV or JSON
 * lines, and the documents for people (the patient's log extract, the
 * review report) built from messages folded into one line each.
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
	const char *format;          /* export, extract, review report --format */
	const char *output;          /* --output FILE */
	const char *operator;        /* --operator NAME */
	const char *target;          /* migrate --to CONNINFO */
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
	char *store_backend;         /* [store] backend of -c, NULL = sqlite */
	char *pub_paths[AUDIT_RING_MAX];
	size_t n_pub_paths;
};

/* The paths from the options, the config filling what they leave open
 * (store, its backend, keys); 0, or -1 after saying why. */
int tool_resolve(struct opts *o);
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

/* A CSV cell: quoted when needed, never a spreadsheet formula. */
void tool_csv_cell(FILE *out, const char *t);

/* ---------------------------------------------------------------- fold.c
 * One line per message folded from its audit rows (extract, review
 * report). Strings are copies, cut to size. */
struct msg_line {
	char id[64];
	char type[32], sender[80], recipient[80], basis[32];
	bool refusal;                /* a "rejected" row: never stored */
	int64_t received_ms;         /* accepted (or refused) at */
	int64_t delivered_ms;        /* the recipient acked, 0 = not yet */
	int64_t receipt_ms;          /* the sender acked the receipt */
	int64_t dead_ms, rejected_ms;
	char code[8], reason[200];   /* why refused or dead-lettered */
	int64_t reviewed_ms;         /* newest log_reviewed row, 0 = none */
	char reviewer[80], conclusion[1024];
	bool sampled;                /* review report: drawn in the sample */
};
struct msg_lines {
	struct msg_line *v;
	size_t n, cap;
	bool oom;
};
/* Fold one row into its message's line (a new one for a new message or
 * a refusal); rows without a message are skipped. -1 out of memory. */
int lines_add(struct msg_lines *l, const struct audit_row *r);
/* A copy of m as the new last line; NULL out of memory. */
struct msg_line *lines_push(struct msg_lines *l, const struct msg_line *m);
/* lines_add as a store_audit_fn (arg is the struct msg_lines). */
int lines_add_cb(void *arg, const struct audit_row *r,
    const uint8_t *prev_hash, const uint8_t *hash);
void lines_clear(struct msg_lines *l);
/* The Swedish words: message type, legal basis, a time in Swedish time
 * ("2026-12-03 18:57", "-" for 0), the status key (levererat, kvitterat,
 * avvisat, ej_levererat, vantar) and the outcome as a sentence. */
const char *sv_type(const char *type);
const char *sv_basis(const char *basis);
const char *sv_time(int64_t ms, char *buf, size_t len);
/* Set the process's zone for sv_time: Europe/Stockholm, or UTC when the
 * system has no tzdata; sv_time_note says which, for the document. */
void sv_time_init(void);
const char *sv_time_note(void);
const char *line_status(const struct msg_line *m);
const char *line_outcome(const struct msg_line *m, char *buf, size_t len);
/* The unit behind an address by its name in cfg (NULL: none loaded):
 * "Göteborg, socialtjänst", "Barn- och ungdomspsykiatri (BUP)",
 * "Okänd enhet" when the config does not know it. */
struct config;
const char *unit_name(const struct config *cfg, const char *address,
    char *buf, size_t len);

/* ---------------------------------------------------------------- doc.c
 * The two documents for people: the patient's log extract and the report
 * of the systematic log review, as printable HTML (html.c), CSV, JSON or
 * PDF (the HTML printed by headless Chromium). */
enum doc_format { DOC_HTML, DOC_CSV, DOC_JSON, DOC_PDF };
struct doc {
	bool review;                 /* review report (else log extract) */
	const char *operator;        /* who made it */
	int64_t made_ms;
	const struct config *cfg;    /* unit names; NULL when none given */
	const struct msg_lines *lines;
	/* review report: the period and the sample */
	int64_t from_ms, to_ms;
	bool has_sample;
	uint64_t seed;
	int64_t population, sampled;
};
/* "html", "csv", "json" or "pdf" (NULL: html) into *f; -1 after saying
 * why. */
int doc_format_parse(const char *s, enum doc_format *f);
/* Write d in f (not PDF) to out; -1 on a write error. */
int doc_write(const struct doc *d, enum doc_format f, FILE *out);
/* Write d as HTML to out. */
int doc_html(const struct doc *d, FILE *out);
/* Print d as PDF with headless Chromium and write it to out; -1 after
 * saying why (no chromium: install the Debian package chromium). */
int doc_pdf(const struct doc *d, FILE *out);
/* 0 when a chromium for doc_pdf is installed, -1 after saying so. */
int doc_pdf_available(void);
/* Who makes a document: --operator, else the OS user as "name (uid N)". */
int doc_operator(const struct opts *o, char *out, size_t len);
/* The Unix user running the tool: "NAME (uid N)", or "uid N". */
void doc_os_user(char *out, size_t len);
/* Where a document goes: --output (opened before any work, so that a
 * path that cannot be written stops the command before the audit row)
 * or stdout. A new file is made 0600 whatever the umask (it holds a
 * child's log); a file that is there keeps its mode, and its content
 * until the document is written. */
struct doc_out {
	enum doc_format f;
	const char *path;            /* --output, borrowed; NULL: stdout */
	FILE *fp;
	bool created;                /* path was made by doc_out_open */
};
/* 0, or -1 after saying why. */
int doc_out_open(struct doc_out *o, enum doc_format f, const char *output);
/* Write d (NULL: nothing) and close; when no document was written a file
 * doc_out_open made is removed (one that was there is left). 0, or -1
 * after saying why. */
int doc_out_close(struct doc_out *o, const struct doc *d);

/* review.c: the reproducible sample of sample and review report: the
 * seqs of the "received" rows drawn (k of them, in seq order) into *out
 * (malloc'd); none without --n; a seed is drawn (and said on stderr)
 * for --n without --seed. The population size, or -1 after saying why. */
int64_t sample_draw(struct store *st, struct opts *o, int64_t **out,
    int64_t *k);

/* Subcommands, each returning an exit code. */
int cmd_verify(struct opts *o);
int cmd_trace(struct opts *o);
int cmd_query(struct opts *o);
int cmd_subject(struct opts *o);
int cmd_sample(struct opts *o);
int cmd_review(struct opts *o);
int cmd_review_report(struct opts *o);
int cmd_extract(struct opts *o);
int cmd_export(struct opts *o);
int cmd_keygen(struct opts *o);
int cmd_prune(struct opts *o);
int cmd_migrate(struct opts *o);

/* Messages on stderr, prefixed "nara-audit: ". */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
