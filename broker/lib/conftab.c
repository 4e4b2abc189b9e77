/*
 * conftab.c — typed values of configuration keys: parsing one value into
 * its field, defaults, freeing and the printed key reference. The line
 * reader and section handling are in conftab_parse.c.
 *
 * Every refusal names what was written and what would be accepted (the
 * bounds or the choices), because the person reading it is an operator
 * editing a file, not a programmer.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conftab.h"
#include "utf8.h"

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define DAY ((uint64_t)86400)

static const char *const type_names[] = {
	[CT_STRING] = "string", [CT_PATH] = "path", [CT_ENDPOINT] = "endpoint",
	[CT_INT] = "int", [CT_SIZE] = "size", [CT_DURATION] = "duration",
	[CT_BOOL] = "bool", [CT_ENUM] = "enum", [CT_LIST] = "list",
	[CT_DATE] = "date", [CT_CUSTOM] = "list",
};

static void *
field_of(const struct config_key *key, void *base)
{
	return (char *)base + key->offset;
}

/* Store v into an unsigned integer, enum or bool field of key->size bytes. */
static void
store_uint(void *field, size_t size, uint64_t v)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (size) {
	case 1: memcpy(field, &v8, 1); break;
	case 2: memcpy(field, &v16, 2); break;
	case 4: memcpy(field, &v32, 4); break;
	default: memcpy(field, &v, sizeof(v)); break;
	}
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Well-formed UTF-8 (utf8.h). A name that is not would vanish from JSON
 * views. */
static bool
utf8_ok(const char *str)
{
	return utf8_valid((const unsigned char *)str, strlen(str));
}

/* ---------------------------------------------------------------- numbers */

/* Decimal digits at s into *out; *rest is the first byte after them.
 * -1: no digits, -2: more than 64 bits. */
static int
parse_digits(const char *s, uint64_t *out, const char **rest)
{
	uint64_t v = 0;
	bool overflow = false;

	*rest = s;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		v = v * 10 + d;
	}
	*out = v;
	*rest = s;
	return overflow ? -2 : 0;
}

/* The multiplier of a size or duration suffix, 0 when it is not one. */
static uint64_t
suffix_factor(enum conftab_type type, const char *suffix)
{
	if (suffix[0] == '\0')
		return 1;
	if (suffix[1] != '\0')
		return 0;
	if (type == CT_SIZE) {
		switch (toupper((unsigned char)suffix[0])) {
		case 'K': return KIB;
		case 'M': return MIB;
		case 'G': return GIB;
		}
		return 0;
	}
	switch (suffix[0]) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return DAY;
	}
	return 0;
}

/* A bound as an operator would write it: 64M, 1d, 1000. */
static const char *
format_number(enum conftab_type type, uint64_t v, char *buf, size_t len)
{
	static const struct { enum conftab_type type; uint64_t unit; char c; } units[] = {
		{ CT_SIZE, GIB, 'G' }, { CT_SIZE, MIB, 'M' }, { CT_SIZE, KIB, 'K' },
		{ CT_DURATION, DAY, 'd' }, { CT_DURATION, 3600, 'h' },
		{ CT_DURATION, 60, 'm' }, { CT_DURATION, 1, 's' },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (units[i].type == type && v != 0 && v % units[i].unit == 0) {
			snprintf(buf, len, "%llu%c",
			    (unsigned long long)(v / units[i].unit), units[i].c);
			return buf;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

static const char *
number_form(enum conftab_type type)
{
	switch (type) {
	case CT_SIZE:
		return "a size (a number with an optional K, M or G suffix)";
	case CT_DURATION:
		return "a duration (seconds, or a number with an s, m, h or d suffix)";
	default:
		return "a whole number";
	}
}

static int
set_number(const struct config_key *key, void *base, const char *value,
    char *why, size_t len)
{
	char lo[32], hi[32];
	const char *rest;
	uint64_t v, factor;
	int rc = parse_digits(value, &v, &rest);

	if (rc == -1 || (factor = key->type == CT_INT ? (*rest ? 0 : 1) :
	    suffix_factor(key->type, rest)) == 0) {
		snprintf(why, len, "\"%s\" is not %s", value, number_form(key->type));
		return -1;
	}
	if (rc == -2 || v > UINT64_MAX / factor) {
		snprintf(why, len, "\"%s\" is too large", value);
		return -1;
	}
	v *= factor;
	format_number(key->type, key->min, lo, sizeof(lo));
	format_number(key->type, key->max, hi, sizeof(hi));
	if (key->max != 0 && (v < key->min || v > key->max)) {
		snprintf(why, len, "\"%s\" is out of range %s..%s", value, lo, hi);
		return -1;
	}
	if (v < key->min) {
		snprintf(why, len, "\"%s\" is below the minimum %s", value, lo);
		return -1;
	}
	store_uint(field_of(key, base), key->size, v);
	return 0;
}

/* ---------------------------------------------------------------- words */

static int
set_bool(const struct config_key *key, void *base, const char *value,
    char *why, size_t len)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
			store_uint(field_of(key, base), key->size,
			    strcasecmp(value, yes[i]) == 0);
			return 0;
		}
	}
	snprintf(why, len, "\"%s\" is not a boolean (yes/no, true/false, "
	    "on/off, 1/0)", value);
	return -1;
}

/* choices "a|b|c" as "a, b, c" for messages. */
static const char *
choices_text(const char *choices, char *buf, size_t len)
{
	size_t o = 0;

	for (const char *c = choices; *c != '\0' && o + 3 < len; c++) {
		if (*c == '|') {
			buf[o++] = ',';
			buf[o++] = ' ';
		} else {
			buf[o++] = *c;
		}
	}
	buf[o] = '\0';
	return buf;
}

static int
set_enum(const struct config_key *key, void *base, const char *value,
    char *why, size_t len)
{
	const char *c = key->choices;
	size_t vlen = strlen(value);
	char list[256];

	for (uint64_t i = 0; *c != '\0'; i++) {
		size_t n = strcspn(c, "|");

		if (n == vlen && strncmp(c, value, n) == 0) {
			if (key->flags & CONFTAB_ENUM_TEXT) {
				char **field = field_of(key, base);
				char *copy = strdup(value);

				if (copy == NULL)
					goto oom;
				free(*field);
				*field = copy;
			} else {
				store_uint(field_of(key, base), key->size, i);
			}
			return 0;
		}
		c += n + (c[n] == '|');
	}
	snprintf(why, len, "\"%s\" is not one of %s", value,
	    choices_text(key->choices, list, sizeof(list)));
	return -1;
oom:
	snprintf(why, len, "out of memory");
	return -1;
}

/* YYYY-MM-DD, a real calendar date from 1970 on; "" means unset
 * (CONFTAB_DATE_UNSET). */
static int
set_date(const struct config_key *key, void *base, const char *value,
    char *why, size_t len)
{
	struct tm tm = { 0 };
	int64_t epoch = CONFTAB_DATE_UNSET;
	int y, m, d;

	if (value[0] != '\0') {
		if (strlen(value) != 10 || value[4] != '-' || value[7] != '-')
			goto bad;
		for (int i = 0; i < 10; i++)
			if (i != 4 && i != 7 && (value[i] < '0' || value[i] > '9'))
				goto bad;
		y = atoi(value);
		m = atoi(value + 5);
		d = atoi(value + 8);
		if (y < 1970)
			goto bad;
		tm.tm_year = y - 1900;
		tm.tm_mon = m - 1;
		tm.tm_mday = d;
		epoch = (int64_t)timegm(&tm);
		/* timegm normalises 2024-02-30 into March: refuse that. */
		if (m < 1 || m > 12 || tm.tm_mday != d || tm.tm_mon != m - 1)
			goto bad;
	}
	memcpy(field_of(key, base), &epoch, sizeof(epoch));
	return 0;
bad:
	snprintf(why, len, "\"%s\" is not a date (YYYY-MM-DD)", value);
	return -1;
}

/* ---------------------------------------------------------------- text */

/* HOST:PORT with a port of 1-5 digits up to 65535 ("*" for tcp://), the
 * host a name, an address, "*" or "[IPv6]". */
static bool
hostport_ok(const char *s, bool star_port)
{
	const char *colon = strrchr(s, ':');
	const char *port;
	size_t host_len, n;

	if (colon == NULL || colon == s)
		return false;
	host_len = (size_t)(colon - s);
	if (s[0] == '[' && s[host_len - 1] != ']')
		return false;
	if (s[0] != '[' && memchr(s, ':', host_len) != NULL)
		return false;
	for (size_t i = 0; i < host_len; i++)
		if (isspace((unsigned char)s[i]))
			return false;
	port = colon + 1;
	if (star_port && strcmp(port, "*") == 0)
		return true;
	n = strspn(port, "0123456789");
	return n >= 1 && n <= 5 && port[n] == '\0' && atoi(port) <= 65535;
}

/* ipc paths end up in sockaddr_un.sun_path: 107 bytes and a NUL. */
#define IPC_PATH_MAX 107

static bool
zmq_endpoint_ok(const char *s)
{
	if (strncmp(s, "ipc://", 6) == 0)
		return s[6] != '\0' && strlen(s + 6) <= IPC_PATH_MAX;
	if (strncmp(s, "tcp://", 6) == 0)
		return hostport_ok(s + 6, true);
	if (strncmp(s, "inproc://", 9) == 0)
		return s[9] != '\0';
	return false;
}

/* A ZeroMQ endpoint that narad binds or an adapter connects to. */
int
conftab_check_zmq(const char *item, char *why, size_t len)
{
	if (zmq_endpoint_ok(item))
		return 0;
	snprintf(why, len, "\"%s\" is not a ZeroMQ endpoint (ipc://PATH of at "
	    "most %d bytes, tcp://HOST:PORT or inproc://NAME)", item, IPC_PATH_MAX);
	return -1;
}

/* An absolute file name, for lists of files. */
int
conftab_check_path(const char *item, char *why, size_t len)
{
	if (item[0] == '/')
		return 0;
	snprintf(why, len, "\"%s\" is not an absolute path", item);
	return -1;
}

/* A plain socket address, e.g. "0.0.0.0:7443" or "[::1]:9464". */
int
conftab_check_hostport(const char *item, char *why, size_t len)
{
	if (hostport_ok(item, false))
		return 0;
	snprintf(why, len, "\"%s\" is not HOST:PORT", item);
	return -1;
}

static int
check_text(const struct config_key *key, const char *value, char *why, size_t len)
{
	if (has_control(value)) {
		snprintf(why, len, "contains a control character");
		return -1;
	}
	if (!utf8_ok(value)) {
		snprintf(why, len, "is not valid UTF-8");
		return -1;
	}
	if (key->type == CT_PATH && value[0] != '\0' &&
	    conftab_check_path(value, why, len) != 0)
		return -1;
	if (key->type == CT_ENDPOINT && value[0] != '\0') {
		if (strstr(value, "://") != NULL) {
			if (conftab_check_zmq(value, why, len) != 0)
				return -1;
		} else if (!hostport_ok(value, false)) {
			snprintf(why, len, "\"%s\" is not an endpoint (ipc://PATH, "
			    "tcp://HOST:PORT or HOST:PORT)", value);
			return -1;
		}
	}
	if (key->check != NULL && value[0] != '\0' && key->check(value, why, len) != 0)
		return -1;
	return 0;
}

static int
set_text(const struct config_key *key, void *base, const char *value,
    char *why, size_t len)
{
	char **field = field_of(key, base);
	char *copy;

	if (check_text(key, value, why, len) != 0)
		return -1;
	if ((copy = strdup(value)) == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	free(*field);
	*field = copy;
	return 0;
}

static void
list_clear(const struct config_key *key, void *base)
{
	char ***items = field_of(key, base);
	size_t *count = (size_t *)(void *)((char *)base + key->count_offset);

	for (size_t i = 0; i < *count; i++)
		free((*items)[i]);
	free(*items);
	*items = NULL;
	*count = 0;
}

static int
list_add(const struct config_key *key, void *base, const char *item, size_t n)
{
	char ***items = field_of(key, base);
	size_t *count = (size_t *)(void *)((char *)base + key->count_offset);
	char **grown = reallocarray(*items, (*count + 1), sizeof(**items));

	if (grown == NULL)
		return -1;
	*items = grown;
	if ((grown[*count] = strndup(item, n)) == NULL)
		return -1;
	(*count)++;
	return 0;
}

/* Comma-separated items, whitespace trimmed. A trailing comma is allowed
 * so a list can go on on the next (indented) line; other empty items are
 * refused. Every item is checked before any is added. */
static int
set_list(const struct config_key *key, void *base, const char *value,
    bool append, char *why, size_t len)
{
	const char *p = value;
	char item[256];

	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && !append)
			list_clear(key, base);
		for (p = value; *p != '\0';) {
			size_t n = strcspn(p, ","), b = 0, e = n;
			bool last = p[n] == '\0';

			while (b < e && isspace((unsigned char)p[b]))
				b++;
			while (e > b && isspace((unsigned char)p[e - 1]))
				e--;
			if (e == b && !(last && p != value)) {
				snprintf(why, len, "empty item in list");
				return -1;
			}
			if (e > b && pass == 0) {
				snprintf(item, sizeof(item), "%.*s", (int)(e - b), p + b);
				if (e - b >= sizeof(item)) {
					snprintf(why, len, "item \"%.40s...\" is too long", item);
					return -1;
				}
				if (check_text(key, item, why, len) != 0)
					return -1;
			}
			if (e > b && pass == 1 && list_add(key, base, p + b, e - b) != 0) {
				snprintf(why, len, "out of memory");
				return -1;
			}
			p += n + !last;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- engine */

/* Parse one value into its field; the per-type rules are above. */
int
conftab_set(const struct config_key *key, void *base, const char *value,
    bool append, char *why, size_t len)
{
	/* The documented spelling of an empty value, e.g. http_listen = "" */
	if (strcmp(value, "\"\"") == 0 && !append)
		value = "";
	/* Text does not go on either: an indented line under a description
	 * would hide whatever it says (a key of its own, say) in the text. */
	if (append && key->type != CT_LIST && key->type != CT_CUSTOM) {
		snprintf(why, len, "only lists may continue on an indented line");
		return -1;
	}
	switch (key->type) {
	case CT_STRING:
	case CT_PATH:
	case CT_ENDPOINT:
		return set_text(key, base, value, why, len);
	case CT_INT:
	case CT_SIZE:
	case CT_DURATION:
		return set_number(key, base, value, why, len);
	case CT_BOOL:
		return set_bool(key, base, value, why, len);
	case CT_ENUM:
		return set_enum(key, base, value, why, len);
	case CT_LIST:
		return set_list(key, base, value, append, why, len);
	case CT_DATE:
		return set_date(key, base, value, why, len);
	case CT_CUSTOM:
		return key->custom(field_of(key, base), value, append, why, len);
	}
	snprintf(why, len, "key has no type");
	return -1;
}

/* Defaults go through the same parser as the file, so a table whose
 * default breaks its own bounds shows up at the first load. */
int
conftab_defaults(struct conftab_parser *p, const struct config_key *keys,
    size_t n, void *base, int line)
{
	char why[512];
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		if (keys[i].def == NULL)
			continue;
		if (conftab_set(&keys[i], base, keys[i].def, false, why,
		    sizeof(why)) != 0) {
			conftab_error(p, line, keys[i].name, "bad default: %s", why);
			rc = -1;
		}
	}
	return rc;
}

/* Free what the table allocated inside base; the struct stays. */
void
conftab_free(const struct config_key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		const struct config_key *key = &keys[i];
		bool text = key->type == CT_STRING || key->type == CT_PATH ||
		    key->type == CT_ENDPOINT ||
		    (key->type == CT_ENUM && (key->flags & CONFTAB_ENUM_TEXT));

		if (text) {
			char **field = field_of(key, base);

			free(*field);
			*field = NULL;
		} else if (key->type == CT_LIST) {
			list_clear(key, base);
		}
	}
}

/* One line per key: name, type, default and bounds, help. */
void
conftab_print(FILE *out, const struct conftab_kind *kind)
{
	fprintf(out, "[%s%s%s]  %s\n", kind->name, kind->arg ? " " : "",
	    kind->arg ? kind->arg : "", kind->help);
	for (size_t i = 0; i < kind->n_keys; i++) {
		const struct config_key *k = &kind->keys[i];
		char def[64], range[80], lo[32], hi[32];

		if (k->flags & CONFTAB_REQUIRED)
			snprintf(def, sizeof(def), "(required)");
		else if (k->def == NULL || k->def[0] == '\0')
			snprintf(def, sizeof(def), "\"\"");
		else
			snprintf(def, sizeof(def), "%s", k->def);
		range[0] = '\0';
		if (k->type == CT_ENUM)
			snprintf(range, sizeof(range), "%s", k->choices);
		else if (k->max != 0)
			snprintf(range, sizeof(range), "%s..%s",
			    format_number(k->type, k->min, lo, sizeof(lo)),
			    format_number(k->type, k->max, hi, sizeof(hi)));
		fprintf(out, "  %-21s %-9s %-30s %-16s %s\n", k->name,
		    type_names[k->type], def, range, k->help);
	}
	fputc('\n', out);
}
