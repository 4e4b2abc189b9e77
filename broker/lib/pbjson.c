/*
 * pbjson.c — JSON <-> protobuf for any protobuf-c message, driven only by the
 * descriptors that protoc-c generates (see pbjson.h for the mapping).
 *
 * Parsing builds the message field by field with malloc, in the layout that
 * protobuf_c_message_free_unpacked() expects: sub-messages and repeated
 * arrays are linked into their parent before they are filled, oneof cases
 * are set before their member, so a failure anywhere can simply free the
 * whole tree. Strings that are not set keep the descriptor's default pointer
 * (protobuf_c_empty_string), which free_unpacked knows not to free.
 */
#include "pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "utf8.h"

/* The JSON path of the value being parsed, e.g. "envelope.attachments[0]". */
struct jpath {
	char buf[256];
	size_t len;
};

static void
path_grow(struct jpath *p, int n)
{
	if (n < 0)
		return;
	p->len += (size_t)n;
	if (p->len >= sizeof(p->buf))
		p->len = sizeof(p->buf) - 1;
}

static void
path_field(struct jpath *p, const char *name)
{
	path_grow(p, snprintf(p->buf + p->len, sizeof(p->buf) - p->len, ".%s",
	    name));
}

static void
path_index(struct jpath *p, size_t i)
{
	path_grow(p, snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]",
	    i));
}

static void
path_restore(struct jpath *p, size_t len)
{
	p->len = len;
	p->buf[len] = '\0';
}

/* Root of every path: the message name in snake case ("envelope", "frame"). */
static void
path_root(struct jpath *p, const ProtobufCMessageDescriptor *desc)
{
	const char *s = desc->short_name;

	p->len = 0;
	for (; *s != '\0' && p->len < sizeof(p->buf) - 2; s++) {
		if (*s >= 'A' && *s <= 'Z') {
			if (p->len > 0)
				p->buf[p->len++] = '_';
			p->buf[p->len++] = (char)(*s - 'A' + 'a');
		} else {
			p->buf[p->len++] = *s;
		}
	}
	p->buf[p->len] = '\0';
}

/* ---------------------------------------------------------------- base64 */

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
base64_encode(const uint8_t *data, size_t len)
{
	size_t out_len = (len + 2) / 3 * 4, o = 0;
	char *out;

	if (len > (SIZE_MAX - 3) / 4 * 3)
		return NULL;
	out = malloc(out_len + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)data[i + 1] << 8;
		if (left > 2)
			v |= data[i + 2];
		out[o++] = B64[(v >> 18) & 63];
		out[o++] = B64[(v >> 12) & 63];
		out[o++] = left > 1 ? B64[(v >> 6) & 63] : '=';
		out[o++] = left > 2 ? B64[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int
base64_value(char c)
{
	const char *p = c != '\0' ? strchr(B64, c) : NULL;

	return p != NULL ? (int)(p - B64) : -1;
}

/* Strict RFC 4648 decoding: standard alphabet, padding required, no
 * whitespace, unused bits zero (so every byte string has one spelling).
 * Returns 0 with *out malloc'd (NULL when empty), -1 when invalid. */
static int
base64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len)
{
	size_t pad = 0, len, o = 0;
	uint8_t *buf;

	*out = NULL;
	*out_len = 0;
	if (n % 4 != 0)
		return -1;
	if (n == 0)
		return 0;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	len = n / 4 * 3 - pad;
	buf = malloc(len);
	if (buf == NULL)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		size_t quad_pad = i + 4 == n ? pad : 0;

		for (size_t k = 0; k < 4; k++) {
			v[k] = k < 4 - quad_pad ? base64_value(s[i + k]) : 0;
			if (v[k] < 0)
				goto fail;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if ((quad_pad == 1 && (w & 0xff) != 0) ||
		    (quad_pad == 2 && (w & 0xffff) != 0))
			goto fail;
		buf[o++] = (uint8_t)(w >> 16);
		if (quad_pad < 2)
			buf[o++] = (uint8_t)(w >> 8);
		if (quad_pad < 1)
			buf[o++] = (uint8_t)w;
	}
	*out = buf;
	*out_len = len;
	return 0;
fail:
	free(buf);
	return -1;
}

/* ---------------------------------------------------------------- parsing */

static int parse_object(const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage *msg, json_t *obj, struct jpath *p, struct nara_err *err);

static int
bad(struct nara_err *err, const struct jpath *p, const char *what)
{
	return nara_err_set(err, NR_BAD_JSON, p->buf, "%s", what);
}

/* Storage size of one element of a field (for repeated arrays). */
static size_t
field_elem_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return sizeof(uint32_t);
	}
}

/* A JSON integer within [lo, hi]; 64-bit fields also take decimal strings
 * (needed for uint64 values above what a JSON number in jansson can hold). */
static int
parse_int(json_t *v, int64_t lo, uint64_t hi, bool allow_string, uint64_t *out,
    bool *negative, const char *tname, struct jpath *p, struct nara_err *err)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		*negative = i < 0;
		if ((i < 0 && i < lo) || (i >= 0 && (uint64_t)i > hi))
			return nara_err_set(err, NR_BAD_JSON, p->buf,
			    "value %" JSON_INTEGER_FORMAT " out of range for %s",
			    i, tname);
		*out = (uint64_t)i;
		return 0;
	}
	if (allow_string && json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;

		*negative = s[0] == '-';
		errno = 0;
		if (*negative)
			*out = (uint64_t)strtoll(s, &end, 10);
		else if (s[0] >= '0' && s[0] <= '9')
			*out = strtoull(s, &end, 10);
		if (end == NULL || end == s || *end != '\0')
			return bad(err, p, "expected integer");
		if (errno != 0 || (*negative && lo == 0) ||
		    (!*negative && *out > hi))
			return nara_err_set(err, NR_BAD_JSON, p->buf,
			    "value \"%.40s\" out of range for %s", s, tname);
		return 0;
	}
	return bad(err, p, "expected integer");
}

static int
parse_float(const ProtobufCFieldDescriptor *f, json_t *v, void *member,
    struct jpath *p, struct nara_err *err)
{
	double d;

	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (json_is_string(v) && strcmp(json_string_value(v), "NaN") == 0) {
		d = NAN;
	} else if (json_is_string(v) && strcmp(json_string_value(v), "Infinity") == 0) {
		d = INFINITY;
	} else if (json_is_string(v) && strcmp(json_string_value(v), "-Infinity") == 0) {
		d = -INFINITY;
	} else {
		return bad(err, p, "expected number");
	}
	if (f->type == PROTOBUF_C_TYPE_FLOAT)
		*(float *)member = (float)d;
	else
		*(double *)member = d;
	return 0;
}

static int
parse_enum(const ProtobufCFieldDescriptor *f, json_t *v, void *member,
    struct jpath *p, struct nara_err *err)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	const ProtobufCEnumValue *ev;

	if (json_is_integer(v)) {
		/* open enums: a number the schema does not name survives a
		 * decode/encode cycle through JSON */
		json_int_t i = json_integer_value(v);

		if (i < INT32_MIN || i > INT32_MAX)
			return nara_err_set(err, NR_BAD_JSON, p->buf,
			    "value %" JSON_INTEGER_FORMAT " out of range for %s",
			    i, ed->name);
		*(int *)member = (int)i;
		return 0;
	}
	if (!json_is_string(v))
		return bad(err, p, "expected string");
	ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
	if (ev == NULL)
		return nara_err_set(err, NR_BAD_JSON, p->buf,
		    "unknown enum value \"%.60s\" for %s", json_string_value(v),
		    ed->name);
	*(int *)member = ev->value;
	return 0;
}

static int
parse_string_like(const ProtobufCFieldDescriptor *f, json_t *v, void *member,
    struct jpath *p, struct nara_err *err)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return bad(err, p, "expected string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (f->type == PROTOBUF_C_TYPE_BYTES) {
		ProtobufCBinaryData *bd = member;

		if (base64_decode(s, n, &bd->data, &bd->len) != 0)
			return bad(err, p, "invalid base64");
		return 0;
	}
	char *copy = malloc(n + 1);
	if (copy == NULL)
		return bad(err, p, "out of memory");
	memcpy(copy, s, n + 1);
	*(char **)member = copy;
	return 0;
}

static int
parse_submessage(const ProtobufCFieldDescriptor *f, json_t *v, void *member,
    struct jpath *p, struct nara_err *err)
{
	const ProtobufCMessageDescriptor *sd = f->descriptor;
	ProtobufCMessage *sub;

	if (!json_is_object(v))
		return bad(err, p, "expected object");
	sub = malloc(sd->sizeof_message);
	if (sub == NULL)
		return bad(err, p, "out of memory");
	protobuf_c_message_init(sd, sub);
	/* linked first: the parent's free releases it on any later error */
	*(ProtobufCMessage **)member = sub;
	return parse_object(sd, sub, v, p, err);
}

/* Parse one value (a scalar field or one element of a repeated one). */
static int
parse_value(const ProtobufCFieldDescriptor *f, json_t *v, void *member,
    struct jpath *p, struct nara_err *err)
{
	uint64_t u = 0;
	bool neg = false;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (parse_int(v, INT32_MIN, INT32_MAX, false, &u, &neg, "int32", p, err))
			return -1;
		*(int32_t *)member = (int32_t)(int64_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		if (parse_int(v, 0, UINT32_MAX, false, &u, &neg, "uint32", p, err))
			return -1;
		*(uint32_t *)member = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (parse_int(v, INT64_MIN, INT64_MAX, true, &u, &neg, "int64", p, err))
			return -1;
		*(int64_t *)member = (int64_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		if (parse_int(v, 0, UINT64_MAX, true, &u, &neg, "uint64", p, err))
			return -1;
		*(uint64_t *)member = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE:
		return parse_float(f, v, member, p, err);
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return bad(err, p, "expected boolean");
		*(protobuf_c_boolean *)member = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return parse_enum(f, v, member, p, err);
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES:
		return parse_string_like(f, v, member, p, err);
	case PROTOBUF_C_TYPE_MESSAGE:
		return parse_submessage(f, v, member, p, err);
	}
	return bad(err, p, "unsupported field type");
}

static int
parse_repeated(const ProtobufCFieldDescriptor *f, json_t *arr, char *base,
    struct jpath *p, struct nara_err *err)
{
	size_t n, esize = field_elem_size(f->type), saved = p->len;
	char *elems;

	if (!json_is_array(arr))
		return bad(err, p, "expected array");
	n = json_array_size(arr);
	if (n == 0)
		return 0;
	elems = calloc(n, esize);
	if (elems == NULL)
		return bad(err, p, "out of memory");
	/* zeroed elements are safe for free_unpacked if parsing stops early */
	*(void **)(base + f->offset) = elems;
	*(size_t *)(base + f->quantifier_offset) = n;
	for (size_t i = 0; i < n; i++) {
		path_index(p, i);
		if (parse_value(f, json_array_get(arr, i), elems + i * esize, p,
		    err) != 0)
			return -1;
		path_restore(p, saved);
	}
	return 0;
}

/* Name of the oneof member already set in the same oneof as f. */
static const char *
oneof_current(const ProtobufCMessageDescriptor *desc, uint32_t id)
{
	const ProtobufCFieldDescriptor *g =
	    protobuf_c_message_descriptor_get_field(desc, (unsigned)id);

	return g != NULL ? g->name : "?";
}

static int
parse_field(const ProtobufCMessageDescriptor *desc,
    const ProtobufCFieldDescriptor *f, json_t *v, char *base, struct jpath *p,
    struct nara_err *err)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return parse_repeated(f, v, base, p, err);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *oneof_case = (uint32_t *)(base + f->quantifier_offset);

		if (*oneof_case != 0 && *oneof_case != f->id)
			return nara_err_set(err, NR_BAD_JSON, p->buf,
			    "two members of one oneof: \"%s\" and \"%s\"",
			    oneof_current(desc, *oneof_case), f->name);
		*oneof_case = f->id;
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
	    f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE) {
		*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	}
	return parse_value(f, v, base + f->offset, p, err);
}

static int
parse_object(const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
    json_t *obj, struct jpath *p, struct nara_err *err)
{
	const char *key;
	json_t *v;
	size_t saved = p->len;

	json_object_foreach(obj, key, v) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(desc, key);

		path_field(p, key);
		if (f == NULL)
			return nara_err_set(err, NR_BAD_JSON, p->buf,
			    "unknown field \"%.60s\"", key);
		/* null means "not set", as in the proto3 JSON mapping */
		if (!json_is_null(v) &&
		    parse_field(desc, f, v, (char *)msg, p, err) != 0)
			return -1;
		path_restore(p, saved);
	}
	return 0;
}

ProtobufCMessage *
pbjson_parse(const ProtobufCMessageDescriptor *desc, const char *json,
    size_t len, struct nara_err *err)
{
	json_error_t jerr;
	json_t *root;
	ProtobufCMessage *msg = NULL;
	struct jpath p;

	root = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    &jerr);
	if (root == NULL) {
		nara_err_set(err, NR_BAD_JSON, "", "line %d, column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	path_root(&p, desc);
	if (!json_is_object(root)) {
		bad(err, &p, "expected object");
		goto fail;
	}
	msg = malloc(desc->sizeof_message);
	if (msg == NULL) {
		bad(err, &p, "out of memory");
		goto fail;
	}
	protobuf_c_message_init(desc, msg);
	if (parse_object(desc, msg, root, &p, err) != 0)
		goto fail;
	json_decref(root);
	return msg;
fail:
	protobuf_c_message_free_unpacked(msg, NULL);
	json_decref(root);
	return NULL;
}

/* ---------------------------------------------------------------- printing */

static json_t *print_object(const ProtobufCMessage *msg);

json_t *
pbjson_text(const char *s)
{
	json_t *j = json_string(s);
	size_t n;
	char *fixed;

	if (j != NULL)
		return j;
	n = strlen(s);
	if (n > (SIZE_MAX - 1) / 3 || (fixed = malloc(n * 3 + 1)) == NULL)
		return NULL;
	j = json_stringn(fixed, utf8_repair(s, n, fixed, n * 3 + 1));
	free(fixed);
	return j;
}

static json_t *
print_bytes(const ProtobufCBinaryData *bd)
{
	char *b64 = base64_encode(bd->data, bd->len);
	json_t *j;

	if (b64 == NULL)
		return NULL;
	j = json_string(b64);
	free(b64);
	return j;
}

static json_t *
print_double(double d)
{
	if (isnan(d))
		return json_string("NaN");
	if (isinf(d))
		return json_string(d > 0 ? "Infinity" : "-Infinity");
	return json_real(d);
}

static json_t *
print_enum(const ProtobufCFieldDescriptor *f, int value)
{
	const ProtobufCEnumValue *ev =
	    protobuf_c_enum_descriptor_get_value(f->descriptor, value);

	/* a number the schema does not name is printed as a number */
	if (ev == NULL)
		return json_integer(value);
	return json_string(ev->name);
}

static json_t *
print_uint64(uint64_t u)
{
	char buf[24];

	if (u <= (uint64_t)LLONG_MAX)
		return json_integer((json_int_t)u);
	snprintf(buf, sizeof(buf), "%" PRIu64, u);
	return json_string(buf);
}

/* One value (a scalar field or one element of a repeated one). */
static json_t *
print_value(const ProtobufCFieldDescriptor *f, const void *member)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)member);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)member);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)member);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return print_uint64(*(const uint64_t *)member);
	case PROTOBUF_C_TYPE_FLOAT:
		return print_double(*(const float *)member);
	case PROTOBUF_C_TYPE_DOUBLE:
		return print_double(*(const double *)member);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)member);
	case PROTOBUF_C_TYPE_ENUM:
		return print_enum(f, *(const int *)member);
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)member;
		return pbjson_text(s != NULL ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES:
		return print_bytes(member);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
		return sub != NULL ? print_object(sub) : json_object();
	}
	}
	return NULL;
}

/* Whether a non-repeated field holds a value the binary encoding would
 * carry: the proto3 rule (non-default) unless a has_ flag says otherwise. */
static bool
field_is_set(const ProtobufCFieldDescriptor *f, const char *base)
{
	const void *m = base + f->offset;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
	    f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)m;
		return s != NULL && s[0] != '\0';
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)m != NULL;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)m)->len > 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)m != 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)m != 0;
	default: {
		size_t size = field_elem_size(f->type);
		static const uint8_t zero[8];
		return memcmp(m, zero, size) != 0;
	}
	}
}

static json_t *
print_repeated(const ProtobufCFieldDescriptor *f, const char *base)
{
	size_t n = *(const size_t *)(base + f->quantifier_offset);
	size_t esize = field_elem_size(f->type);
	const char *elems = *(char *const *)(base + f->offset);
	json_t *arr = json_array();

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(arr, print_value(f, elems + i * esize)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *
print_object(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	const char *base = (const char *)msg;
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	/* protoc-c sorts desc->fields by number: the printed key order */
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		json_t *v;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (*(const size_t *)(base + f->quantifier_offset) == 0)
				continue;
			v = print_repeated(f, base);
		} else {
			if (!field_is_set(f, base))
				continue;
			v = print_value(f, base + f->offset);
		}
		if (json_object_set_new(obj, f->name, v) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

char *
pbjson_print(const ProtobufCMessage *msg)
{
	json_t *root = print_object(msg);
	char *text, *out = NULL;
	size_t n;

	if (root == NULL)
		return NULL;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	out = malloc(n + 2);
	if (out != NULL) {
		memcpy(out, text, n);
		out[n] = '\n';
		out[n + 1] = '\0';
	}
	free(text);
	return out;
}
