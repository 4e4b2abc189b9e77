/*
 * wire.h — nara frames as bytes: decode (with a size limit and a memory
 * budget), encode, wrap already encoded bytes into a frame, and the names
 * of the message types. Validation of what a frame says is validate.h's.
 */
#ifndef NARA_WIRE_H
#define NARA_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "nara.pb-c.h"

/* Decode bytes into a Frame, refusing oversize input before allocating
 * (NR020) and undecodable input (NR001). Free with frame_free(). */
Nara__Frame *frame_decode(const void *buf, size_t len, size_t max_bytes,
    struct nara_err *err);
void frame_free(Nara__Frame **frame);
/* Encode a frame into a new malloc'd buffer; *len receives its size. */
uint8_t *frame_encode(const Nara__Frame *frame, size_t *len);
/* A Frame whose one field `kind` (a Nara__Frame__KindCase, i.e. the field
 * number: SUBMIT, DELIVER, RECEIPT) holds already encoded bytes, built
 * without decoding them again. With envelope true the bytes go one level
 * deeper, as field 1 (`envelope`) of the submit or deliver, and a non-zero
 * attempt is added as field 2 (Deliver.attempt); otherwise the bytes are
 * the kind's message itself (an encoded Receipt). NULL when out of memory. */
uint8_t *frame_wrap(Nara__Frame__KindCase kind, bool envelope,
    const uint8_t *bytes, size_t len, unsigned attempt, size_t *out_len);

/* Names used in config and logs: "referral", "report_of_concern", ... */
const char *message_type_name(Nara__MessageType type);
int message_type_parse(const char *name, Nara__MessageType *out);

#endif
