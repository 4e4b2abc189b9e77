/*
 * fuzz_frame.c — libFuzzer entry point for what narad does first with every
 * frame a node sends: frame_decode (protobuf-c unpack of nara.Frame under a
 * size budget) and validate_frame.
 *
 * Checks beyond memory safety: a refusal always carries a catalogue code and
 * a text; a decoded frame re-encodes, decodes again and gets the same
 * verdict (and code) from validation; and an
 * accepted frame survives the JSON mapping (print, parse, print).
 * Seeds are in tests/fuzz/corpus/frame/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "pbjson.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed "now" so that a verdict never depends on the wall clock. */
#define FUZZ_NOW 1795478400 /* 2026-11-24, inside the seeds' validity */

static void
check_refusal(const struct nara_err *err)
{
	if (err->code == NR_OK || err->text[0] == '\0')
		abort();
}

/* An accepted frame printed as JSON parses back to a frame that prints
 * the same. (Bytes may differ: protobuf-c keeps unknown fields, which the
 * JSON form does not carry.) */
static void
check_json(const Nara__Frame *frame)
{
	struct nara_err err = { 0 };
	char *json = pbjson_print(&frame->base), *again;
	ProtobufCMessage *back;

	if (json == NULL)
		abort();
	back = pbjson_parse(&nara__frame__descriptor, json, strlen(json), &err);
	if (back == NULL)
		abort();
	again = pbjson_print(back);
	if (again == NULL || strcmp(again, json) != 0)
		abort();
	free(again);
	protobuf_c_message_free_unpacked(back, NULL);
	free(json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct validate_limits lim;
	struct nara_err err = { 0 }, err2 = { 0 };
	Nara__Frame *frame, *again;
	uint8_t *enc;
	size_t enc_len = 0;
	int verdict;

	validate_limits_default(&lim);
	frame = frame_decode(data, size, lim.max_message_bytes, &err);
	if (frame == NULL) {
		check_refusal(&err);
		return 0;
	}
	verdict = validate_frame(frame, &lim, FUZZ_NOW, &err);
	if (verdict != 0)
		check_refusal(&err);
	enc = frame_encode(frame, &enc_len);
	if (enc == NULL)
		abort();
	again = frame_decode(enc, enc_len, SIZE_MAX, &err2);
	if (again == NULL || validate_frame(again, &lim, FUZZ_NOW, &err2) != verdict)
		abort();
	if (verdict != 0 && err2.code != err.code)
		abort();
	if (verdict == 0)
		check_json(again);
	frame_free(&again);
	free(enc);
	frame_free(&frame);
	return 0;
}
