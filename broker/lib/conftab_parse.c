/*
 * conftab_parse.c — reading an INI file through inih with line numbers,
 * sections and the collected problem messages.
 *
 * Debian's inih calls the handler without a line number and only for
 * key = value lines, so the engine hands inih its lines itself: the reader
 * counts them, recognises section headers (inih also cuts section names at
 * 49 bytes, too short for node ids) and notes whether a line continues the
 * previous key. inih calls the handler right after reading a line, so the
 * counter is always the line of the key being handled. The classification
 * mirrors inih's own rules (comments first, then indented continuation
 * lines, then headers, then key lines) so both agree on every line; an
 * indented line it refuses reaches inih as a blank line.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "conftab.h"

struct conftab_msg {
	int line;
	size_t seq;                 /* keeps messages of one line in order */
	char *text;
};

/* ---------------------------------------------------------------- messages */

static void
add_msg(struct conftab_parser *p, int line, char *text)
{
	p->n_errors++;
	if (text == NULL)
		return;
	if (p->n_msgs == p->cap_msgs) {
		size_t cap = p->cap_msgs ? p->cap_msgs * 2 : 16;
		struct conftab_msg *grown = reallocarray(p->msgs, cap,
		    sizeof(*grown));

		if (grown == NULL) {
			free(text);
			return;
		}
		p->msgs = grown;
		p->cap_msgs = cap;
	}
	p->msgs[p->n_msgs].line = line;
	p->msgs[p->n_msgs].seq = p->n_msgs;
	p->msgs[p->n_msgs++].text = text;
}

static void
vreport(struct conftab_parser *p, int line, const char *label, const char *key,
    const char *fmt, va_list ap)
{
	char *what = NULL, *text = NULL;

	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	if (what != NULL && asprintf(&text, "%s:%d: %s%s%s%s%s", p->file, line,
	    label ? label : "", label ? " " : "", key ? key : "",
	    key ? ": " : "", what) < 0)
		text = NULL;
	free(what);
	add_msg(p, line, text);
}

/* A problem in any section, or of the file when label is NULL. */
void
conftab_report(struct conftab_parser *p, int line, const char *label,
    const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, line, label, key, fmt, ap);
	va_end(ap);
}

/* A problem in the current section; key NULL for the section itself. */
void
conftab_error(struct conftab_parser *p, int line, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, line, key ? p->label : NULL, key, fmt, ap);
	va_end(ap);
}

static void
syntax_error(struct conftab_parser *p, const char *what)
{
	p->n_syntax++;
	conftab_report(p, p->line, NULL, NULL, "syntax error: %s", what);
}

/* Line of a key in the current section; 0 when unset. */
int
conftab_key_line(const struct conftab_parser *p, const char *key)
{
	if (p->kind == NULL || p->key_lines == NULL)
		return 0;
	for (size_t i = 0; i < p->kind->n_keys; i++)
		if (strcmp(p->kind->keys[i].name, key) == 0)
			return p->key_lines[i];
	return 0;
}

/* ---------------------------------------------------------------- sections */

static bool
field_empty(const struct config_key *key, void *base)
{
	void *field = (char *)base + key->offset;

	if (key->type == CT_LIST)
		return *(size_t *)(void *)((char *)base + key->count_offset) == 0;
	if (key->type == CT_STRING || key->type == CT_PATH ||
	    key->type == CT_ENDPOINT) {
		char *s = *(char **)field;

		return s == NULL || s[0] == '\0';
	}
	return false;
}

/* Required keys, empty values, then the kind's own checks. */
static void
section_end(struct conftab_parser *p)
{
	if (p->kind != NULL && p->base != NULL) {
		for (size_t i = 0; i < p->kind->n_keys; i++) {
			const struct config_key *key = &p->kind->keys[i];

			if (p->key_lines[i] == 0 && (key->flags & CONFTAB_REQUIRED))
				conftab_error(p, p->header_line, key->name,
				    "missing required key");
			else if (p->key_lines[i] != 0 && !p->key_bad[i] &&
			    (key->flags & CONFTAB_NONEMPTY) && field_empty(key, p->base))
				conftab_error(p, p->key_lines[i], key->name,
				    "must not be empty");
		}
		if (p->kind->close != NULL)
			p->kind->close(p, p->base);
	}
	free(p->key_lines);
	free(p->key_bad);
	p->key_lines = NULL;
	p->key_bad = NULL;
	p->kind = NULL;
	p->base = NULL;
	p->prev_key = -1;
}

static const struct conftab_kind *
kind_find(const struct conftab_parser *p, const char *name, size_t n)
{
	for (size_t i = 0; i < p->n_kinds; i++)
		if (strlen(p->kinds[i].name) == n &&
		    strncmp(p->kinds[i].name, name, n) == 0)
			return &p->kinds[i];
	return NULL;
}

static void
unknown_kind(struct conftab_parser *p, const char *name, size_t n)
{
	char expected[200] = "";
	size_t o = 0;

	for (size_t i = 0; i < p->n_kinds && o < sizeof(expected); i++)
		o += (size_t)snprintf(expected + o, sizeof(expected) - o, "%s%s",
		    i == 0 ? "" : i + 1 == p->n_kinds ? " or " : ", ",
		    p->kinds[i].name);
	conftab_report(p, p->line, NULL, NULL, "unknown section kind \"%.*s\" "
	    "(expected %s)", (int)n, name, expected);
}

/* Remember label; -1 (and a message) when it was seen before. */
static int
section_seen(struct conftab_parser *p)
{
	for (size_t i = 0; i < p->n_seen; i++) {
		if (strcmp(p->seen[i], p->label) == 0) {
			conftab_report(p, p->line, NULL, NULL, "duplicate section "
			    "%s (first on line %d)", p->label, p->seen_line[i]);
			return -1;
		}
	}
	if (p->n_seen == p->cap_seen) {
		size_t cap = p->cap_seen ? p->cap_seen * 2 : 64;
		char **seen = reallocarray(p->seen, cap, sizeof(*seen));
		int *lines = seen ? reallocarray(p->seen_line, cap,
		    sizeof(*lines)) : NULL;

		if (seen != NULL)
			p->seen = seen;
		if (lines == NULL)
			return 0;
		p->seen_line = lines;
		p->cap_seen = cap;
	}
	if ((p->seen[p->n_seen] = strdup(p->label)) != NULL)
		p->seen_line[p->n_seen++] = p->line;
	return 0;
}

/* "[ node  kommun-1480 ]" starts section kind "node", argument
 * "kommun-1480"; the label in messages is "[node kommun-1480]". */
static void
section_begin(struct conftab_parser *p, const char *text, size_t len)
{
	const struct conftab_kind *kind;
	size_t b = 0, k, a, e = len;

	section_end(p);
	p->in_section = true;
	p->header_line = p->line;
	while (b < e && isspace((unsigned char)text[b]))
		b++;
	while (e > b && isspace((unsigned char)text[e - 1]))
		e--;
	for (k = b; k < e && !isspace((unsigned char)text[k]); k++)
		;
	for (a = k; a < e && isspace((unsigned char)text[a]); a++)
		;
	if ((kind = kind_find(p, text + b, k - b)) == NULL) {
		unknown_kind(p, text + b, k - b);
		return;
	}
	if (kind->arg != NULL && a == e) {
		conftab_report(p, p->line, NULL, NULL, "section [%s] needs a name: "
		    "[%s %s]", kind->name, kind->name, kind->arg);
		return;
	}
	if (kind->arg == NULL && a < e) {
		conftab_report(p, p->line, NULL, NULL, "section [%s] takes no name",
		    kind->name);
		return;
	}
	snprintf(p->label, sizeof(p->label), "[%s%s%.*s]", kind->name,
	    a < e ? " " : "", (int)(e - a), text + a);
	if (section_seen(p) != 0)
		return;
	p->key_lines = calloc(kind->n_keys + 1, sizeof(int));
	p->key_bad = calloc(kind->n_keys + 1, sizeof(bool));
	if (p->key_lines == NULL || p->key_bad == NULL) {
		conftab_report(p, p->line, NULL, NULL, "out of memory");
		return;
	}
	char arg[128];

	snprintf(arg, sizeof(arg), "%.*s", (int)(e - a), text + a);
	p->kind = kind;
	if ((p->base = kind->open(p, arg)) == NULL)
		p->kind = NULL;
}

/* ---------------------------------------------------------------- lines */

/* inih's rule for the end of a name or section name: one of chars, or an
 * inline ';' comment (a ';' after whitespace), or the end of the line. */
static const char *
find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	    !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* True when name (n bytes) is a key of any section kind. */
static bool
known_key(const struct conftab_parser *p, const char *name, size_t n)
{
	for (size_t k = 0; k < p->n_kinds; k++)
		for (size_t i = 0; i < p->kinds[k].n_keys; i++)
			if (strlen(p->kinds[k].keys[i].name) == n &&
			    strncmp(p->kinds[k].keys[i].name, name, n) == 0)
				return true;
	return false;
}

/*
 * inih hands every indented line to the previous key, even across blank
 * lines and even when the line reads as a header or a key of its own: an
 * indented "effect = deny" under a description became part of the
 * description and the rule stayed an allow rule. A file must mean what it
 * looks like, so such a line is refused here and inih never sees it.
 * Whether the previous key may go on at all (only lists may) is
 * conftab_set's decision.
 */
static bool
continuation_ok(struct conftab_parser *p, const char *start)
{
	const char *end = find_chars_or_comment(start, "=:");
	size_t n = (size_t)(end - start);

	while (n > 0 && isspace((unsigned char)start[n - 1]))
		n--;
	if (*start == '[') {
		conftab_report(p, p->line, NULL, NULL, "indented section header: "
		    "a header must start at the beginning of its line");
		return false;
	}
	if ((*end == '=' || *end == ':') && known_key(p, start, n)) {
		conftab_report(p, p->line, NULL, NULL, "indented key \"%.*s\": a "
		    "key must start at the beginning of its line (only a list "
		    "goes on on indented lines)", (int)n, start);
		return false;
	}
	if (p->blank_after_key) {
		conftab_report(p, p->line, NULL, NULL, "indented line after a "
		    "blank line: a list goes on only on the lines right after it");
		return false;
	}
	return true;
}

/* Decide what the line is before inih sees it; false when the line is
 * refused and must reach inih as a blank line. */
static bool
classify(struct conftab_parser *p, const char *line)
{
	const char *start = line, *end;

	if (p->line == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	while (isspace((unsigned char)*start))
		start++;
	p->continuation = false;
	if (*start == ';' || *start == '#')
		return true;
	if (*start == '\0') {
		p->blank_after_key = true;
		return true;
	}
	if (p->prev_key_line && start > line) {
		if (!continuation_ok(p, start))
			return false;
		p->continuation = true;
		return true;
	}
	if (*start == '[') {
		end = find_chars_or_comment(start + 1, "]");
		if (*end != ']') {
			syntax_error(p, "section header without a closing ']'");
			return true;
		}
		p->prev_key_line = false;
		section_begin(p, start + 1, (size_t)(end - start - 1));
		return true;
	}
	end = find_chars_or_comment(start, "=:");
	if (*end != '=' && *end != ':') {
		syntax_error(p, "expected [section], key = value or a comment");
		return true;
	}
	/* inih only continues a key with a name. */
	p->prev_key_line = end > start;
	p->blank_after_key = false;
	return true;
}

/* The next physical line into p->buf without its newline; -1 at the end. */
static ssize_t
next_line(struct conftab_parser *p)
{
	ssize_t n;

	if (p->in != NULL) {
		n = getline(&p->buf, &p->buf_cap, p->in);
		if (n < 0)
			return -1;
	} else {
		size_t len;

		if (p->text == NULL || *p->text == '\0')
			return -1;
		len = strcspn(p->text, "\n");
		if (len + 2 > p->buf_cap) {
			char *grown = realloc(p->buf, len + 2);

			if (grown == NULL)
				return -1;
			p->buf = grown;
			p->buf_cap = len + 2;
		}
		memcpy(p->buf, p->text, len);
		p->buf[len] = p->text[len];
		p->buf[len + (p->text[len] != '\0')] = '\0';
		p->text += len + (p->text[len] != '\0');
		n = (ssize_t)(len + (p->buf[len] == '\n'));
	}
	if (n > 0 && p->buf[n - 1] == '\n')
		p->buf[--n] = '\0';
	return n;
}

/* inih's fgets-style reader: one physical line per call. Lines inih could
 * not hold whole are refused here and passed on as blank lines. */
static char *
read_line(char *str, int num, void *stream)
{
	struct conftab_parser *p = stream;
	ssize_t n = next_line(p);

	if (n < 0 || num < 3)
		return NULL;
	p->line++;
	if (memchr(p->buf, '\0', (size_t)n) != NULL) {
		conftab_report(p, p->line, NULL, NULL, "line contains a NUL byte");
		p->continuation = false;
		strcpy(str, "\n");
		return str;
	}
	if (n > num - 2) {
		conftab_report(p, p->line, NULL, NULL, "line longer than %d "
		    "characters (continue lists on indented lines)", num - 2);
		p->continuation = false;
		strcpy(str, "\n");
		return str;
	}
	memcpy(str, p->buf, (size_t)n);
	str[n] = '\n';
	str[n + 1] = '\0';
	if (!classify(p, p->buf))
		strcpy(str, "\n");
	return str;
}

/* ---------------------------------------------------------------- keys */

static void
set_value(struct conftab_parser *p, size_t i, const char *value, bool append)
{
	const struct config_key *key = &p->kind->keys[i];
	char why[512];

	if (conftab_set(key, p->base, value, append, why, sizeof(why)) != 0) {
		conftab_error(p, p->line, key->name, "%s", why);
		p->key_bad[i] = true;
	}
}

/* Called by inih for each key line and continuation line; the section it
 * passes is ignored in favour of the reader's own. Always returns 1 so that
 * inih's return value means a syntax error only. */
static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct conftab_parser *p = user;
	size_t i;

	(void)section;
	if (p->continuation) {
		/* inih keeps inline comments on continuation lines; cut them
		 * as it does on key lines. */
		char *text = strdup(value);
		char *end;

		if (text == NULL) {
			conftab_report(p, p->line, NULL, NULL, "out of memory");
			return 1;
		}
		end = text + (find_chars_or_comment(text, NULL) - text);
		while (end > text && isspace((unsigned char)end[-1]))
			end--;
		*end = '\0';
		if (p->kind != NULL && p->prev_key >= 0)
			set_value(p, (size_t)p->prev_key, text, true);
		free(text);
		return 1;
	}
	p->prev_key = -1;
	if (!p->in_section) {
		conftab_report(p, p->line, NULL, NULL, "key \"%s\" outside of any "
		    "section", name);
		return 1;
	}
	if (p->kind == NULL)
		return 1;
	if (name[0] == '\0') {
		conftab_report(p, p->line, NULL, NULL, "key name missing before "
		    "the '='");
		return 1;
	}
	for (i = 0; i < p->kind->n_keys; i++)
		if (strcmp(p->kind->keys[i].name, name) == 0)
			break;
	if (i == p->kind->n_keys) {
		conftab_error(p, p->line, name, "unknown key");
		return 1;
	}
	if (p->key_lines[i] != 0) {
		conftab_error(p, p->line, name, "duplicate key (first set on "
		    "line %d)", p->key_lines[i]);
		return 1;
	}
	p->key_lines[i] = p->line;
	p->prev_key = (int)i;
	set_value(p, i, value, false);
	return 1;
}

static void
parse(struct conftab_parser *p)
{
	int rc;

	p->prev_key = -1;
	rc = ini_parse_stream(read_line, p, on_key, p);
	section_end(p);
	if (rc > 0 && p->n_syntax == 0)
		conftab_report(p, rc, NULL, NULL, "syntax error");
	else if (rc < 0)
		conftab_report(p, p->line, NULL, NULL, "cannot parse (error %d)", rc);
}

/* Parse an open file; the caller closes it. */
void
conftab_parse_file(struct conftab_parser *p, FILE *in)
{
	p->in = in;
	p->text = NULL;
	parse(p);
}

/* Parse text held in memory. */
void
conftab_parse_string(struct conftab_parser *p, const char *text)
{
	p->in = NULL;
	p->text = text;
	parse(p);
}

/* ---------------------------------------------------------------- peek */

/* The one key conftab_peek asks for, in a section kind of its own. */
struct peek {
	char *value;
	const char *key;
	int line;                   /* where the key was set, 0 = not set */
};

static void *
peek_open(struct conftab_parser *p, const char *arg)
{
	return p->user;
}

static void
peek_close(struct conftab_parser *p, void *base)
{
	struct peek *pk = base;

	pk->line = conftab_key_line(p, pk->key);
}

/* A table of one text key: the file goes through the same reader (BOM,
 * CRLF, comments, continuation lines, "") as a whole load, and every line
 * that is not that key is left unchecked. */
int
conftab_peek(FILE *in, const char *file, const char *section, const char *key,
    char *out, size_t len, char *why, size_t why_len)
{
	const struct config_key keys[] = {
		{ key, CT_STRING, offsetof(struct peek, value), sizeof(char *),
		  .help = "" },
	};
	const struct conftab_kind kind = { section, NULL, keys, 1, "",
		peek_open, peek_close };
	struct peek pk = { .key = key };
	struct conftab_parser p = { .file = file, .kinds = &kind, .n_kinds = 1,
		.user = &pk };
	int rc = 0;

	conftab_parse_file(&p, in);
	conftab_finish(&p, NULL);
	if (pk.value != NULL && strlen(pk.value) < len) {
		memcpy(out, pk.value, strlen(pk.value) + 1);
		rc = 1;
	} else if (pk.value != NULL) {
		snprintf(why, why_len, "%s:%d: [%s] %s: longer than %zu bytes",
		    file, pk.line, section, key, len - 1);
		rc = -1;
	} else if (pk.line != 0) {
		snprintf(why, why_len, "%s:%d: [%s] %s: not valid text (narad -n "
		    "-c %s says why)", file, pk.line, section, key, file);
		rc = -1;
	}
	free(pk.value);
	return rc;
}

static int
msg_order(const void *a, const void *b)
{
	const struct conftab_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hand the messages over in line order and release the parser's state. */
size_t
conftab_finish(struct conftab_parser *p, struct config_diag *diag)
{
	size_t n = p->n_errors;

	if (p->n_msgs > 1)
		qsort(p->msgs, p->n_msgs, sizeof(*p->msgs), msg_order);
	for (size_t i = 0; i < p->n_msgs; i++) {
		char **grown = diag ? reallocarray(diag->msgs, (diag->n + 1),
		    sizeof(*grown)) : NULL;

		if (grown == NULL) {
			free(p->msgs[i].text);
			continue;
		}
		diag->msgs = grown;
		diag->msgs[diag->n++] = p->msgs[i].text;
	}
	free(p->msgs);
	for (size_t i = 0; i < p->n_seen; i++)
		free(p->seen[i]);
	free(p->seen);
	free(p->seen_line);
	free(p->key_lines);
	free(p->key_bad);
	free(p->buf);
	p->msgs = NULL;
	p->seen = NULL;
	p->seen_line = NULL;
	p->key_lines = NULL;
	p->buf = NULL;
	p->n_msgs = p->cap_msgs = p->n_seen = p->cap_seen = p->buf_cap = 0;
	return n;
}
