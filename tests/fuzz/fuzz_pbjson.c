/*
 * fuzz_pbjson.c — libFuzzer entry point for the JSON mapping (pbjson.h):
 * arbitrary text parsed as a nara.Frame and as a nara.Envelope.
 *
 * Checks beyond memory safety: a refusal carries NR024 and a text; whatever
 * parses prints as canonical JSON that parses back to the same protobuf
 * bytes and prints byte-identically a second time.
 * Seeds are in tests/fuzz/corpus/pbjson/ (the JSON files of config/examples).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "nara.pb-c.h"
#include "pbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf = malloc(protobuf_c_message_get_packed_size(m) + 1);

	if (buf == NULL)
		abort();
	*len = protobuf_c_message_pack(m, buf);
	return buf;
}

static void
round_trip(const ProtobufCMessageDescriptor *desc, const char *text, size_t len)
{
	struct nara_err err = { 0 };
	ProtobufCMessage *m = pbjson_parse(desc, text, len, &err), *back;
	char *json, *json2;
	uint8_t *enc, *enc2;
	size_t enc_len, enc2_len;

	if (m == NULL) {
		if (err.code != NR_BAD_JSON || err.text[0] == '\0')
			abort();
		return;
	}
	json = pbjson_print(m);
	if (json == NULL)
		abort();
	back = pbjson_parse(desc, json, strlen(json), &err);
	if (back == NULL)
		abort();
	enc = pack(m, &enc_len);
	enc2 = pack(back, &enc2_len);
	if (enc_len != enc2_len || memcmp(enc, enc2, enc_len) != 0)
		abort();
	json2 = pbjson_print(back);
	if (json2 == NULL || strcmp(json, json2) != 0)
		abort();
	free(json2);
	free(enc2);
	free(enc);
	free(json);
	protobuf_c_message_free_unpacked(back, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	round_trip(&nara__frame__descriptor, (const char *)data, size);
	round_trip(&nara__envelope__descriptor, (const char *)data, size);
	return 0;
}
