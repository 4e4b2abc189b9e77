/*
 * zmtp.c — checks the greeting and READY command a ZMTP 3.x client sends.
 *
 * Layout (ZMTP 3.0/3.1, rfc.zeromq.org 23 and 37):
 *   greeting  0xFF, 8 padding bytes, 0x7F, major, minor,
 *             20-byte mechanism ("NULL" zero-padded), as-server, 31 filler
 *   command   flags 0x04 (short: 1-byte size) or 0x06 (long: 8-byte size),
 *             body = name-len(1) name, then properties
 *   property  name-len(1) name, value-len(4, big-endian) value
 */
#include "zmtp.h"

#include <string.h>
#include <strings.h>

#define SIG_FIRST 0xFF
#define SIG_LAST 0x7F
#define OFF_SIG_LAST 9
#define OFF_MAJOR 10
#define OFF_MINOR 11
#define OFF_MECH 12
#define MECH_LEN 20
#define OFF_AS_SERVER 32

#define FLAG_MORE 0x01
#define FLAG_LONG 0x02
#define FLAG_COMMAND 0x04

static const char *const error_texts[] = {
	[ZMTP_E_NONE] = "",
	[ZMTP_E_SIGNATURE] = "not a ZMTP 3 greeting (bad signature)",
	[ZMTP_E_VERSION] = "ZMTP version below 3",
	[ZMTP_E_MECHANISM] = "security mechanism is not NULL",
	[ZMTP_E_AS_SERVER] = "bad as-server field in greeting",
	[ZMTP_E_NOT_COMMAND] = "first frame after the greeting is not a command",
	[ZMTP_E_NOT_READY] = "first command is not READY",
	[ZMTP_E_OVERSIZE] = "READY command too large",
	[ZMTP_E_PROPERTY] = "malformed READY property",
	[ZMTP_E_NO_SOCKET_TYPE] = "READY without Socket-Type",
};

const char *
zmtp_error_text(enum zmtp_error error)
{
	if ((size_t)error >= sizeof(error_texts) / sizeof(error_texts[0]))
		return "unknown ZMTP error";
	return error_texts[error];
}

static enum zmtp_status
fail(struct zmtp_hello *out, enum zmtp_error error)
{
	out->error = error;
	out->reason = zmtp_error_text(error);
	return ZMTP_ERROR;
}

/* Check byte i of the greeting; the mechanism is compared byte by byte so
 * that "PLAIN" is refused as soon as its first letter arrives. */
static enum zmtp_error
greeting_byte(const uint8_t *g, size_t i)
{
	static const char mech_null[MECH_LEN] = "NULL";

	if (i == 0)
		return g[0] == SIG_FIRST ? ZMTP_E_NONE : ZMTP_E_SIGNATURE;
	if (i < OFF_SIG_LAST)
		return ZMTP_E_NONE;
	if (i == OFF_SIG_LAST)
		return g[i] == SIG_LAST ? ZMTP_E_NONE : ZMTP_E_SIGNATURE;
	if (i == OFF_MAJOR)
		return g[i] >= 3 ? ZMTP_E_NONE : ZMTP_E_VERSION;
	if (i >= OFF_MECH && i < OFF_MECH + MECH_LEN)
		return g[i] == (uint8_t)mech_null[i - OFF_MECH] ?
		    ZMTP_E_NONE : ZMTP_E_MECHANISM;
	if (i == OFF_AS_SERVER)
		return g[i] <= 1 ? ZMTP_E_NONE : ZMTP_E_AS_SERVER;
	return ZMTP_E_NONE;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static bool
name_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp((const char *)name, want, len) == 0;
}

/* One property at body[*pos]; advances *pos. */
static enum zmtp_error
ready_property(const uint8_t *body, size_t body_len, size_t *pos,
    struct zmtp_hello *out, bool *have_type)
{
	size_t p = *pos, name_len = body[p++];
	const uint8_t *name = body + p, *value;
	uint32_t value_len;

	if (name_len == 0 || body_len - p < name_len + 4)
		return ZMTP_E_PROPERTY;
	p += name_len;
	value_len = be32(body + p);
	p += 4;
	if (value_len > body_len - p)
		return ZMTP_E_PROPERTY;
	value = body + p;
	*pos = p + value_len;
	if (name_is(name, name_len, "Socket-Type")) {
		if (*have_type || value_len == 0 ||
		    value_len > ZMTP_SOCKET_TYPE_MAX ||
		    memchr(value, 0, value_len) != NULL)
			return ZMTP_E_PROPERTY;
		memcpy(out->socket_type, value, value_len);
		out->socket_type[value_len] = '\0';
		*have_type = true;
	} else if (name_is(name, name_len, "Identity")) {
		if (out->has_identity || value_len > ZMTP_IDENTITY_MAX)
			return ZMTP_E_PROPERTY;
		memcpy(out->identity, value, value_len);
		out->identity[value_len] = '\0';
		out->identity_len = value_len;
		out->has_identity = true;
	}
	return ZMTP_E_NONE;
}

/* The READY body: name-len, "READY", properties up to the end. */
static enum zmtp_error
ready_body(const uint8_t *body, size_t body_len, struct zmtp_hello *out)
{
	bool have_type = false;
	size_t pos;
	enum zmtp_error e;

	if (body_len < 1 || body[0] != 5 || body_len < 6 ||
	    memcmp(body + 1, "READY", 5) != 0)
		return ZMTP_E_NOT_READY;
	pos = 6;
	while (pos < body_len)
		if ((e = ready_property(body, body_len, &pos, out,
		    &have_type)) != ZMTP_E_NONE)
			return e;
	return have_type ? ZMTP_E_NONE : ZMTP_E_NO_SOCKET_TYPE;
}

/* The frame header of the READY command: flags and size. Sets *hdr to the
 * header length and *body_len to the body size; *hdr stays 0 while more
 * bytes are needed. */
static enum zmtp_error
ready_header(const uint8_t *f, size_t len, size_t *hdr, size_t *body_len)
{
	uint8_t flags = f[0];

	*hdr = 0;
	if ((flags & ~FLAG_LONG) != FLAG_COMMAND)
		return ZMTP_E_NOT_COMMAND;
	if (!(flags & FLAG_LONG)) {
		if (len >= 2) {
			*hdr = 2;
			*body_len = f[1];
		}
		return ZMTP_E_NONE;
	}
	/* Long size: any non-zero high byte is already too much. */
	for (size_t i = 1; i < len && i < 9; i++)
		if (i < 7 && f[i] != 0)
			return ZMTP_E_OVERSIZE;
	if (len < 9)
		return ZMTP_E_NONE;
	*body_len = (size_t)f[7] << 8 | f[8];
	if (*body_len > ZMTP_READY_MAX - 9)
		return ZMTP_E_OVERSIZE;
	*hdr = 9;
	return ZMTP_E_NONE;
}

enum zmtp_status
zmtp_parse(const uint8_t *data, size_t len, struct zmtp_hello *out)
{
	size_t glen = len < ZMTP_GREETING_LEN ? len : ZMTP_GREETING_LEN;
	size_t hdr, body_len = 0;
	enum zmtp_error e;

	memset(out, 0, sizeof(*out));
	out->reason = "";
	for (size_t i = 0; i < glen; i++) {
		if ((e = greeting_byte(data, i)) != ZMTP_E_NONE)
			return fail(out, e);
		out->greeting_ok = i + 1;
	}
	if (glen > OFF_MINOR) {
		out->major = data[OFF_MAJOR];
		out->minor = data[OFF_MINOR];
	}
	if (len < ZMTP_GREETING_LEN)
		return ZMTP_NEED_MORE;
	out->greeted = true;
	out->as_server = data[OFF_AS_SERVER] == 1;
	data += ZMTP_GREETING_LEN;
	len -= ZMTP_GREETING_LEN;
	if (len == 0)
		return ZMTP_NEED_MORE;
	if ((e = ready_header(data, len, &hdr, &body_len)) != ZMTP_E_NONE)
		return fail(out, e);
	if (hdr == 0 || len - hdr < body_len)
		return ZMTP_NEED_MORE;
	if ((e = ready_body(data + hdr, body_len, out)) != ZMTP_E_NONE)
		return fail(out, e);
	out->consumed = ZMTP_GREETING_LEN + hdr + body_len;
	return ZMTP_OK;
}

/* ---------------------------------------------------------------- frames */

void
zmtp_frames_init(struct zmtp_frames *t, uint64_t max_body)
{
	memset(t, 0, sizeof(*t));
	t->max_body = max_body;
}

/* Take header bytes from data until the header is complete; returns how
 * many were taken. *done is set once flags and size are all there. */
static size_t
frames_header(struct zmtp_frames *t, const uint8_t *data, size_t len,
    bool *done)
{
	size_t need, take;

	if (t->hdr_have == 0) {
		t->hdr[0] = data[0];
		t->hdr_have = 1;
		data++;
		len--;
		take = 1;
	} else
		take = 0;
	need = (t->hdr[0] & FLAG_LONG) ? 9 : 2;
	if (len > need - t->hdr_have)
		len = need - t->hdr_have;
	memcpy(t->hdr + t->hdr_have, data, len);
	t->hdr_have += len;
	*done = t->hdr_have == need;
	return take + len;
}

enum zmtp_status
zmtp_frames_feed(struct zmtp_frames *t, const uint8_t *data, size_t len,
    size_t *ok_len)
{
	size_t pos = 0, start;
	uint64_t size;
	bool done;

	*ok_len = 0;
	if (t->failed)
		return ZMTP_ERROR;
	while (pos < len) {
		if (t->left > 0 && t->hdr_have == 0) {
			size = len - pos < t->left ? len - pos : t->left;
			t->left -= size;
			pos += (size_t)size;
			continue;
		}
		start = t->hdr_have == 0 ? pos : 0;
		pos += frames_header(t, data + pos, len - pos, &done);
		if (!done)
			break;
		size = 0;
		for (size_t i = 1; i < t->hdr_have; i++)
			size = size << 8 | t->hdr[i];
		t->hdr_have = 0;
		if (size > t->max_body) {
			t->failed = true;
			t->announced = size;
			*ok_len = start;
			return ZMTP_ERROR;
		}
		t->frames++;
		t->left = size;
	}
	*ok_len = len;
	return ZMTP_OK;
}

enum zmtp_status
zmtp_server_ready(const uint8_t *head, uint64_t seen)
{
	const uint8_t *cmd = head + ZMTP_GREETING_LEN;
	uint64_t size = 0;
	size_t hdr;

	if (seen <= ZMTP_GREETING_LEN)
		return ZMTP_NEED_MORE;
	if (!(cmd[0] & 0x04))
		return ZMTP_ERROR;            /* a message before READY */
	hdr = (cmd[0] & 0x02) ? 9 : 2;
	if (seen < ZMTP_GREETING_LEN + hdr + 6)
		return ZMTP_NEED_MORE;
	for (size_t i = 1; i < hdr; i++)
		size = size << 8 | cmd[i];
	if (size < 6 || size > ZMTP_READY_MAX ||
	    memcmp(cmd + hdr, "\x05READY", 6) != 0)
		return ZMTP_ERROR;
	return seen >= ZMTP_GREETING_LEN + hdr + size ? ZMTP_OK :
	    ZMTP_NEED_MORE;
}
