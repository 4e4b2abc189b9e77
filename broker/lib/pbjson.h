/*
 * pbjson.h — JSON <-> protobuf, generically from protobuf-c descriptors.
 *
 * One mapping for every message in nara.proto, no per-type code:
 *   - JSON object keys are the proto field names (snake_case);
 *   - only fields that are set are printed (proto3: non-default scalars,
 *     present sub-messages, the chosen oneof member, non-empty repeated);
 *   - enums are their value names ("REPORT_OF_CONCERN");
 *   - int64/uint64 are JSON numbers; bool true/false; bytes are base64
 *     (RFC 4648 with padding);
 *   - output is printed with 2-space indentation in field-number order and a
 *     trailing newline, so encode(decode(x)) is byte-identical for canonical x.
 * Unknown keys, wrong JSON types, unknown enum names, bad base64 and two
 * members of one oneof are refused with NR024 and the JSON path
 * ("envelope.attachments[0].data").
 */
#ifndef NARA_PBJSON_H
#define NARA_PBJSON_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "errors.h"

/* Parse JSON text into a new message of type desc. The result is freed with
 * protobuf_c_message_free_unpacked(msg, NULL). NULL on error (err filled). */
ProtobufCMessage *pbjson_parse(const ProtobufCMessageDescriptor *desc,
    const char *json, size_t len, struct nara_err *err);

/* Print msg as canonical JSON; returns a malloc'd NUL-terminated string that
 * the caller frees, or NULL on allocation failure. */
char *pbjson_print(const ProtobufCMessage *msg);

/* s as a JSON string (jansson's json_t): a text is never dropped for not
 * being UTF-8 (a decoded binary message, a log line); each byte that is
 * not part of a well-formed sequence becomes U+FFFD. NULL only out of
 * memory. */
struct json_t;
struct json_t *pbjson_text(const char *s);

#endif
