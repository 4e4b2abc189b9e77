/*
 * output.c — audit rows as an aligned table (for people), a JSON array,
 * CSV with a header line, or JSON lines (one object per row, for a SIEM).
 * The fields of JSON and CSV are the columns of the audit table, with time
 * as RFC 3339 UTC with milliseconds and hash as hex: seq, time, event, node,
 * message_id, type, sender, recipient, author, legal_basis, payload_sha256,
 * payload_size, subject, code, detail, hash. Absent values are null in
 * JSON and empty in CSV. A CSV cell that starts with = + - @ TAB or CR is
 * written as text ('=...), never as a formula.
 *
 * Fields hold what peers sent (a refused envelope's addresses and ids are
 * logged as they came): the table writes every byte a terminal would act
 * on as \xNN (AUDIT.md, "Follow one message, search"), and JSON keeps
 * every field, a byte that is not UTF-8 made U+FFFD.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pbjson.h"
#include "tool.h"
#include "utf8.h"
#include "validate.h"

#define N_FIELDS 16
static const char *const field_names[N_FIELDS] = { "seq", "time", "event",
    "node", "message_id", "type", "sender", "recipient", "author",
    "legal_basis", "payload_sha256", "payload_size", "subject", "code",
    "detail", "hash" };

/* Columns of the human table, by field index, and their headings. */
static const int table_fields[] = { 0, 1, 2, 3, 4, 5, 6, 7, 13, 14 };
#define N_TABLE (sizeof(table_fields) / sizeof(table_fields[0]))

struct rows {
	enum output_format fmt;
	FILE *out;
	int64_t count;
	char **cells;                /* table: N_TABLE per row, owned */
	size_t n_cells, cap_cells;
	bool oom;
};

struct rows *
rows_new(enum output_format fmt, FILE *out)
{
	struct rows *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->fmt = fmt;
	r->out = out;
	if (fmt == FMT_JSON)
		fputs("[", out);
	if (fmt == FMT_CSV) {
		for (int i = 0; i < N_FIELDS; i++)
			fprintf(out, "%s%s", i ? "," : "", field_names[i]);
		fputs("\n", out);
	}
	return r;
}

void
rows_free(struct rows **r)
{
	if (r == NULL || *r == NULL)
		return;
	for (size_t i = 0; i < (*r)->n_cells; i++)
		free((*r)->cells[i]);
	free((*r)->cells);
	free(*r);
	*r = NULL;
}

/* The text field i of r (2..10, 12..14). */
static const char *
field_string(const struct audit_row *r, int i)
{
	const char *const v[N_FIELDS] = { NULL, NULL, r->event, r->node,
	    r->message_id, r->type, r->sender, r->recipient, r->author,
	    r->legal_basis, r->payload_sha256, NULL, r->subject, r->code,
	    r->detail, NULL };

	return v[i];
}

/* The formatted field i (seq, time, payload_size, hash) of the row as
 * text into buf; NULL when absent or a text field. */
static const char *
field_text(const struct audit_row *r, const uint8_t *hash, int i, char *buf,
    size_t len)
{
	switch (i) {
	case 0:
		snprintf(buf, len, "%lld", (long long)r->seq);
		return buf;
	case 1:
		/* Stored in milliseconds, recorded in whole seconds: written
		 * as narad writes every time, without a made-up fraction. */
		time_format(r->time_ms / 1000, buf, len);
		return buf;
	case 11:
		if (r->payload_size < 0)
			return NULL;
		snprintf(buf, len, "%lld", (long long)r->payload_size);
		return buf;
	case N_FIELDS - 1:
		if (hash == NULL)
			return NULL;
		audit_hex(hash, AUDIT_HASH_LEN, buf);
		return buf;
	}
	return NULL;
}

/* Field i as text: the row's own string for text fields (whole, as
 * stored), else formatted into buf; NULL when absent. */
static const char *
field_value(const struct audit_row *r, const uint8_t *hash, int i, char *buf,
    size_t len)
{
	const char *t = field_string(r, i);

	return t != NULL ? t : field_text(r, hash, i, buf, len);
}

/* A code point a terminal acts on or that reorders what is shown: C0,
 * DEL, C1, and the bidirectional marks, embeddings, overrides and
 * isolates (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069). */
static bool
unshowable(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

/* t for a terminal (malloc'd, NULL out of memory): each byte of an
 * unshowable character and each byte that is not UTF-8 as \xNN, and a
 * backslash as \\, so the cell shows what the row holds and cannot be
 * mistaken for it. */
static char *
cell_shown(const char *t)
{
	const unsigned char *s = (const unsigned char *)t;
	size_t o = 0, k, n = strlen(t);
	char *out = malloc(4 * n + 1);
	unsigned cp;
	bool bad;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += k) {
		bad = (k = utf8_seq(s + i, n - i, &cp)) == 0 || unshowable(cp);
		if (k == 0)
			k = 1;
		for (size_t b = 0; bad && b < k; b++)
			o += (size_t)sprintf(out + o, "\\x%02x", s[i + b]);
		if (bad)
			continue;
		if (cp == '\\')
			out[o++] = '\\';
		memcpy(out + o, s + i, k);
		o += k;
	}
	out[o] = '\0';
	return out;
}

/* The row as a JSON object with every field; NULL out of memory. */
static json_t *
row_json(const struct audit_row *r, const uint8_t *hash)
{
	json_t *o = json_object();
	char buf[128];

	for (int i = 0; o != NULL && i < N_FIELDS; i++) {
		const char *t = field_value(r, hash, i, buf, sizeof(buf));
		json_t *v;

		if (t == NULL)
			v = json_null();
		else if (i == 0 || i == 11)
			v = json_integer(i == 0 ? r->seq : r->payload_size);
		else
			v = pbjson_text(t);
		if (json_object_set_new(o, field_names[i], v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* A cell a spreadsheet would run as a formula (=HYPERLINK(...) in a
 * reviewer's conclusion or an author id) gets a leading ' and quotes, so
 * it is shown as text; see AUDIT.md. */
static bool
csv_formula(const char *t)
{
	return t[0] != '\0' && strchr("=+-@\t\r", t[0]) != NULL;
}

void
tool_csv_cell(FILE *out, const char *t)
{
	if (t == NULL)
		return;
	if (!csv_formula(t) && strpbrk(t, ",\"\r\n") == NULL) {
		fputs(t, out);
		return;
	}
	fputc('"', out);
	if (csv_formula(t))
		fputc('\'', out);
	for (; *t != '\0'; t++) {
		if (*t == '"')
			fputc('"', out);
		fputc(*t, out);
	}
	fputc('"', out);
}

static int
table_add(struct rows *r, const struct audit_row *row, const uint8_t *hash)
{
	char buf[128];

	if (r->n_cells + N_TABLE > r->cap_cells) {
		size_t cap = r->cap_cells ? r->cap_cells * 2 : 64 * N_TABLE;
		char **v = reallocarray(r->cells, cap, sizeof(*v));
		if (v == NULL)
			return -1;
		r->cells = v;
		r->cap_cells = cap;
	}
	for (size_t i = 0; i < N_TABLE; i++) {
		const char *t = field_value(row, hash, table_fields[i], buf,
		    sizeof(buf));
		if ((r->cells[r->n_cells++] = cell_shown(t ? t : "-")) == NULL)
			return -1;
	}
	return 0;
}

int
rows_add(struct rows *r, const struct audit_row *row, const uint8_t *hash)
{
	char buf[128];
	json_t *o;

	r->count++;
	switch (r->fmt) {
	case FMT_TABLE:
		return table_add(r, row, hash);
	case FMT_CSV:
		for (int i = 0; i < N_FIELDS; i++) {
			if (i > 0)
				fputc(',', r->out);
			tool_csv_cell(r->out, field_value(row, hash, i, buf,
			    sizeof(buf)));
		}
		fputc('\n', r->out);
		return 0;
	case FMT_JSON:
	case FMT_JSONL:
		if ((o = row_json(row, hash)) == NULL)
			return -1;
		if (r->fmt == FMT_JSON)
			fputs(r->count > 1 ? ",\n " : "\n ", r->out);
		json_dumpf(o, r->out, JSON_COMPACT | JSON_ENSURE_ASCII);
		if (r->fmt == FMT_JSONL)
			fputc('\n', r->out);
		json_decref(o);
		return 0;
	}
	return -1;
}

/* The buffered table, each column as wide as its widest cell. */
static void
table_print(struct rows *r)
{
	size_t width[N_TABLE], n_rows = r->n_cells / N_TABLE;

	for (size_t c = 0; c < N_TABLE; c++)
		width[c] = strlen(field_names[table_fields[c]]);
	for (size_t i = 0; i < r->n_cells; i++) {
		size_t w = strlen(r->cells[i]);
		if (w > width[i % N_TABLE])
			width[i % N_TABLE] = w;
	}
	for (size_t c = 0; c < N_TABLE; c++)
		fprintf(r->out, "%-*s%s", c + 1 < N_TABLE ? (int)width[c] : 0,
		    field_names[table_fields[c]], c + 1 < N_TABLE ? "  " : "\n");
	for (size_t row = 0; row < n_rows; row++)
		for (size_t c = 0; c < N_TABLE; c++)
			fprintf(r->out, "%-*s%s", c + 1 < N_TABLE ? (int)width[c]
			    : 0, r->cells[row * N_TABLE + c], c + 1 < N_TABLE
			    ? "  " : "\n");
}

int64_t
rows_end(struct rows *r)
{
	if (r->fmt == FMT_TABLE)
		table_print(r);
	if (r->fmt == FMT_JSON)
		fputs(r->count > 0 ? "\n]\n" : "]\n", r->out);
	fflush(r->out);
	return r->count;
}

/* Each row into the output; a row that cannot be added stops the walk. */
static int
rows_one(void *arg, const struct audit_row *row, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	struct rows *r = arg;

	(void)prev_hash;
	if (rows_add(r, row, hash) != 0) {
		r->oom = true;
		return 1;
	}
	return 0;
}

int64_t
rows_print(struct store *st, const struct store_audit_filter *f,
    enum output_format fmt)
{
	struct nara_err err = { 0 };
	struct rows *r = rows_new(fmt, stdout);
	int64_t n = -1;

	if (r == NULL)
		return -1;
	if (store_audit_rows(st, f, rows_one, r, &err) < 0)
		tool_error("%s reading the audit log: %s",
		    nara_code_id(NR_STORE_FAILED), err.text);
	else if (r->oom)
		tool_error("%s reading the audit log: out of memory",
		    nara_code_id(NR_STORE_FAILED));
	else
		n = rows_end(r);
	rows_free(&r);
	return n;
}
