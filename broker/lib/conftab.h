/*
 * conftab.h — the table-driven engine behind nara.conf (config.c) and any
 * other INI file of the project (e.g. an adapter's own configuration).
 *
 * A file is a list of sections; each section kind has a table of keys
 * (struct config_key) describing where in a C struct the value lands, its
 * type, default, bounds and help. The engine reads lines through inih,
 * tracks line numbers itself (Debian's inih does not pass them), applies the
 * table to the struct and reports every problem, sorted by line, as
 * "FILE:LINE: [section] key: what is wrong".
 *
 * Internal to libnara: only configuration modules include it.
 */
#ifndef NARA_CONFTAB_H
#define NARA_CONFTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum conftab_type {
	CT_STRING,      /* any text without control characters (char *) */
	CT_PATH,        /* absolute file name or "" (char *) */
	CT_ENDPOINT,    /* ipc://, tcp://, inproc:// or HOST:PORT, or "" (char *) */
	CT_INT,         /* decimal whole number (unsigned integer field) */
	CT_SIZE,        /* bytes, optional K/M/G suffix, binary (integer field) */
	CT_DURATION,    /* seconds, optional s/m/h/d suffix (integer field) */
	CT_BOOL,        /* yes/no, true/false, on/off, 1/0 (bool field) */
	CT_ENUM,        /* one of choices: its index (integer field) or text */
	CT_LIST,        /* comma-separated items (char ** + size_t count) */
	CT_DATE,        /* YYYY-MM-DD as epoch seconds at 00:00 UTC (int64_t) */
	CT_CUSTOM,      /* parsed by the key's custom() */
};

/* A CT_DATE written as "": no date. 1970-01-01 is epoch 0, so 0 cannot
 * mean unset; no accepted date is negative. */
#define CONFTAB_DATE_UNSET ((int64_t)-1)

#define CONFTAB_REQUIRED  0x1u  /* must appear in the section */
#define CONFTAB_ENUM_TEXT 0x2u  /* CT_ENUM kept as its text (char *) */
#define CONFTAB_NONEMPTY  0x4u  /* "" or an empty list is refused */

/* One key of a section kind. offset/size locate the field in the section's
 * struct; bounds apply to CT_INT, CT_SIZE and CT_DURATION (max 0 = none). */
struct config_key {
	const char *name;
	enum conftab_type type;
	size_t offset;
	size_t size;                /* sizeof the field */
	size_t count_offset;        /* CT_LIST: the size_t item count */
	const char *def;            /* default as text; NULL = no default */
	uint64_t min, max;
	const char *choices;        /* CT_ENUM: "full|normal" */
	unsigned flags;
	/* Extra check of a text value or of each list item: 0, or -1 with the
	 * reason in why. */
	int (*check)(const char *item, char *why, size_t len);
	/* CT_CUSTOM: parse value into field; append is true for continuation
	 * lines. 0, or -1 with the reason in why. */
	int (*custom)(void *field, const char *value, bool append, char *why,
	    size_t len);
	const char *help;
};

struct conftab_parser;

/* One kind of section: [name] or [name ARG]. */
struct conftab_kind {
	const char *name;           /* "broker", "node" */
	const char *arg;            /* "ID" when the section is [node ID]; NULL: none */
	const struct config_key *keys;
	size_t n_keys;
	const char *help;           /* one line for config_print_keys */
	/* A new section (the engine has refused duplicates): return the
	 * struct its keys fill, with defaults applied (conftab_defaults), or
	 * NULL after reporting why; the section's keys are then skipped. */
	void *(*open)(struct conftab_parser *p, const char *arg);
	/* The section ended and its required keys were checked; cross-key
	 * checks report through conftab_error. May be NULL. */
	void (*close)(struct conftab_parser *p, void *base);
};

struct conftab_msg;

/* Parser state. Fill the first four fields, then call conftab_parse_*. */
struct conftab_parser {
	const char *file;           /* name used in messages (borrowed) */
	const struct conftab_kind *kinds;
	size_t n_kinds;
	void *user;                 /* the caller's load state */
	/* private */
	size_t n_errors;
	struct conftab_msg *msgs;
	size_t n_msgs, cap_msgs;
	int line;                   /* line being handled */
	bool continuation;          /* it continues the previous key's value */
	bool prev_key_line;         /* a key line came earlier in this section */
	bool blank_after_key;       /* a blank line followed the last key line */
	bool in_section;            /* some header (even a bad one) was seen */
	const struct conftab_kind *kind; /* current section, NULL = skipped */
	void *base;
	char label[128];            /* "[node kommun-1480]" */
	int header_line;
	int *key_lines;             /* per key of kind: line set on, 0 = unset */
	bool *key_bad;              /* per key: a value was refused */
	int prev_key;               /* key index of the last key line, -1 = none */
	char **seen;                /* labels of all sections so far */
	int *seen_line;
	size_t n_seen, cap_seen;
	int n_syntax;
	char *buf;                  /* current physical line */
	size_t buf_cap;
	FILE *in;
	const char *text;
};

/* Parse a file or a string into the sections' structs; problems are kept
 * in p until conftab_finish. Call once per parser. */
void conftab_parse_file(struct conftab_parser *p, FILE *in);
void conftab_parse_string(struct conftab_parser *p, const char *text);
/* End a parse after any checks across sections: move the messages, sorted
 * by line, into diag (which may be NULL), free p's private state and return
 * the number of problems found. */
size_t conftab_finish(struct conftab_parser *p, struct config_diag *diag);

/* Report a problem at line in the current section: "[label] key: ..."
 * (key NULL: about the section itself, "FILE:LINE: ..."). */
void conftab_error(struct conftab_parser *p, int line, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Same for any section (label "[node x]" or NULL for a file-level text). */
void conftab_report(struct conftab_parser *p, int line, const char *label,
    const char *key, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Line of a key in the current section, 0 when it was not set. */
int conftab_key_line(const struct conftab_parser *p, const char *key);

/* Apply every default of the table to base (fields must start zeroed).
 * A default that does not parse is a table bug: reported at line, -1. */
int conftab_defaults(struct conftab_parser *p, const struct config_key *keys,
    size_t n, void *base, int line);
/* Parse value into key's field of base; append for continuation lines.
 * 0, or -1 with the reason in why. */
int conftab_set(const struct config_key *key, void *base, const char *value,
    bool append, char *why, size_t len);
/* Free the strings and lists of base that the table describes (the
 * struct itself stays the caller's); pointers become NULL. */
void conftab_free(const struct config_key *keys, size_t n, void *base);
/* Checks for config_key.check: a ZeroMQ endpoint (ipc://, tcp://,
 * inproc://), a plain HOST:PORT socket address, an absolute path. */
int conftab_check_zmq(const char *item, char *why, size_t len);
int conftab_check_hostport(const char *item, char *why, size_t len);
int conftab_check_path(const char *item, char *why, size_t len);
/* The value of one key of [section] in the open file in (named file in
 * messages), read by the same rules as a whole file; the rest of the file
 * is not checked. 1 with the value in out, 0 when the key is not set, -1
 * with the reason in why when its value is refused or does not fit. */
int conftab_peek(FILE *in, const char *file, const char *section,
    const char *key, char *out, size_t len, char *why, size_t why_len);
/* Print a section kind's keys: name, type, default, bounds, help. */
void conftab_print(FILE *out, const struct conftab_kind *kind);

#endif
