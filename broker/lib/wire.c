/*
 * wire.c — the frame codec (wire.h): decoding under a memory budget,
 * encoding, frames wrapped around stored bytes, and message type names.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

/* Decoding may use this many bytes per input byte (plus a constant): far
 * above any real message, but it stops tiny repeated entries from turning
 * 16 MiB of input into gigabytes of structures. */
#define DECODE_FACTOR 8
#define DECODE_SLACK  (1024 * 1024)

static const char *const type_names[] = {
	[NARA__MESSAGE_TYPE__REFERRAL] = "referral",
	[NARA__MESSAGE_TYPE__REFERRAL_RESPONSE] = "referral_response",
	[NARA__MESSAGE_TYPE__CONSULTATION_REQUEST] = "consultation_request",
	[NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE] = "consultation_response",
	[NARA__MESSAGE_TYPE__SIP_INVITATION] = "sip_invitation",
	[NARA__MESSAGE_TYPE__SIP_RESPONSE] = "sip_response",
	[NARA__MESSAGE_TYPE__REPORT_OF_CONCERN] = "report_of_concern",
};
#define TYPE_MAX NARA__MESSAGE_TYPE__REPORT_OF_CONCERN

/* protobuf-c allocator that refuses to go past a budget, so a small frame
 * full of empty repeated entries cannot make the decoder allocate far more
 * than the frame's size. It uses malloc/free, so the result can be freed
 * with the default allocator. */
struct decode_budget {
	size_t left;
	bool exhausted;
};

static void *
budget_alloc(void *data, size_t size)
{
	struct decode_budget *b = data;

	if (size > b->left) {
		b->exhausted = true;
		return NULL;
	}
	b->left -= size;
	return malloc(size ? size : 1);
}

static void
budget_free(void *data, void *ptr)
{
	free(ptr);
}

/* protobuf-c's decoder takes a non-minimal varint tag such as 80 00 as an
 * unknown field number 0, keeps it, and writes it back as 00, which it then
 * refuses to decode. Field number 0 is never valid: a frame carrying one
 * is refused here, or an envelope stored with it could never be delivered. */
static bool
unknown_tags_ok(const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;

	if (depth > 16)
		return false;
	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return false;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const ProtobufCMessage *const *sub =
		    (const ProtobufCMessage *const *)(const void *)(base + f->offset);
		size_t n = 1;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(const void *)(base + f->quantifier_offset);
			sub = *(const ProtobufCMessage *const *const *)(const void *)sub;
		} else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id) {
			continue;
		}
		for (size_t k = 0; sub != NULL && k < n; k++)
			if (sub[k] != NULL && !unknown_tags_ok(sub[k], depth + 1))
				return false;
	}
	return true;
}

/* Size first (NR020), then an allocation budget while unpacking (NR020),
 * then NR001 for anything protobuf-c cannot decode. */
Nara__Frame *
frame_decode(const void *buf, size_t len, size_t max_bytes, struct nara_err *err)
{
	struct decode_budget budget = { .left = DECODE_SLACK };
	ProtobufCAllocator alloc = { budget_alloc, budget_free, &budget };
	Nara__Frame *frame;

	if (len > max_bytes) {
		nara_err_set(err, NR_TOO_LARGE, NULL,
		    "frame of %zu bytes, at most %zu allowed", len, max_bytes);
		return NULL;
	}
	if (buf == NULL && len > 0) {
		nara_err_set(err, NR_MALFORMED_FRAME, NULL, "no frame data");
		return NULL;
	}
	budget.left += len <= SIZE_MAX / DECODE_FACTOR ? len * DECODE_FACTOR : len;
	frame = nara__frame__unpack(&alloc, len, buf);
	if (frame == NULL) {
		if (budget.exhausted)
			nara_err_set(err, NR_TOO_LARGE, NULL,
			    "frame of %zu bytes decodes too large", len);
		else
			nara_err_set(err, NR_MALFORMED_FRAME, NULL,
			    "frame of %zu bytes is not a protobuf nara.Frame", len);
		return NULL;
	}
	if (!unknown_tags_ok(&frame->base, 0)) {
		nara_err_set(err, NR_MALFORMED_FRAME, NULL,
		    "frame of %zu bytes carries field number 0", len);
		frame_free(&frame);
		return NULL;
	}
	return frame;
}

/* Frees a frame from frame_decode and clears the pointer; NULL is fine. */
void
frame_free(Nara__Frame **frame)
{
	if (frame == NULL || *frame == NULL)
		return;
	nara__frame__free_unpacked(*frame, NULL);
	*frame = NULL;
}

/* NULL on allocation failure; the caller frees the buffer. */
uint8_t *
frame_encode(const Nara__Frame *frame, size_t *len)
{
	size_t size;
	uint8_t *buf;

	if (frame == NULL || len == NULL)
		return NULL;
	size = nara__frame__get_packed_size(frame);
	if ((buf = malloc(size ? size : 1)) == NULL)
		return NULL;
	*len = nara__frame__pack(frame, buf);
	return buf;
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

uint8_t *
frame_wrap(Nara__Frame__KindCase kind, bool envelope, const uint8_t *bytes,
    size_t len, unsigned attempt, size_t *out_len)
{
	uint8_t tmp[10];
	size_t inner = len;
	uint8_t *buf, *p;

	if (envelope) {
		inner = 1 + put_varint(tmp, len) + len;
		if (attempt > 0)
			inner += 1 + put_varint(tmp, attempt);
	}
	/* tag and length of the outer field: at most 5 + 10 bytes */
	if ((buf = p = malloc(inner + 16)) == NULL)
		return NULL;
	p += put_varint(p, (uint64_t)kind << 3 | 2);
	p += put_varint(p, inner);
	if (envelope) {
		*p++ = (1 << 3) | 2;
		p += put_varint(p, len);
	}
	memcpy(p, bytes, len);
	p += len;
	if (envelope && attempt > 0) {
		*p++ = (2 << 3) | 0;
		p += put_varint(p, attempt);
	}
	*out_len = (size_t)(p - buf);
	return buf;
}

/* Lower-case config/log name; "unspecified" or "unknown" otherwise. */
const char *
message_type_name(Nara__MessageType type)
{
	if (type == NARA__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED)
		return "unspecified";
	if ((int)type < 0 || type > TYPE_MAX)
		return "unknown";
	return type_names[type];
}

/* Inverse of message_type_name for the seven real types. */
int
message_type_parse(const char *name, Nara__MessageType *out)
{
	if (name == NULL)
		return -1;
	for (int t = 1; t <= TYPE_MAX; t++) {
		if (strcmp(name, type_names[t]) == 0) {
			*out = (Nara__MessageType)t;
			return 0;
		}
	}
	return -1;
}
