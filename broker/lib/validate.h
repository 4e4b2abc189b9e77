/*
 * validate.h — edge validation of frames, envelopes and their parts.
 *
 * Every binary checks what it receives with these functions before acting on
 * it; each failure fills a struct nara_err with a catalogue code and the path
 * of the offending field (e.g. "envelope.subject.personal_number").
 */
#ifndef NARA_VALIDATE_H
#define NARA_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "nara.pb-c.h"
#include "wire.h"

#define NARA_PROTOCOL_VERSION 1

/* Size limits; the broker reads them from config, tools use the defaults. */
struct validate_limits {
	size_t max_message_bytes;    /* encoded envelope; default 16 MiB */
	size_t max_attachments;      /* default 20 */
	size_t max_attachment_bytes; /* each; default 10 MiB */
	size_t max_text_bytes;       /* any single string field; default 64 KiB */
};

/* Fill lim with the documented defaults. */
void validate_limits_default(struct validate_limits *lim);

/* Lower-case RFC 4122 textual UUID, 36 characters (upper case refused:
 * ids are compared byte for byte). */
int validate_uuid(const char *s, struct nara_err *err, const char *path);

/* Kinds of address; validate_address returns one or -1. */
enum address_kind { ADDRESS_MUNICIPAL = 1, ADDRESS_REGIONAL = 2 };
/* "kommun:<4 digits>:<service>" (service in socialtjanst, elevhalsa,
 * forskola, ...) or "SE2321000131-<unit id>" (HSA-id, unit id 1..31
 * characters of [A-Za-z0-9]). */
int validate_address(const char *s, struct nara_err *err, const char *path);
/* Municipality code of a municipal address into code[5]; -1 if not one. */
int address_municipality(const char *s, char code[5]);

/* 12-digit personnummer (YYYYMMDDNNNC) or samordningsnummer (day + 60):
 * digits only, real calendar date, Luhn check digit over the last 10. */
int validate_personal_number(const char *s, struct nara_err *err, const char *path);

/* RFC 3339 time "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" into
 * seconds since the epoch (UTC). */
int validate_time(const char *s, int64_t *epoch, struct nara_err *err, const char *path);
/* Format epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
const char *time_format(int64_t epoch, char *buf, size_t len);

/* in as text any frame may carry: well-formed UTF-8 without control
 * characters but tab, line feed and carriage return; every byte that is
 * not, '?'. Cut at a character's end to fit cap (with its NUL); the
 * length written. For text that comes from outside (a local system's
 * answer) before it goes into a frame. */
size_t text_made_valid(const char *in, char *out, size_t cap);

/* Whole envelope: required fields per type, body matches type, legal basis
 * fits type, subject rules, times (created parses, expires after created and
 * after now when now > 0), attachment count/size/SHA-256, encoded size. */
int validate_envelope(const Nara__Envelope *env, const struct validate_limits *lim,
    int64_t now, struct nara_err *err);

/* Frame: exactly one kind set and the fields that kind requires (an envelope
 * inside submit/deliver is checked with validate_envelope). */
int validate_frame(const Nara__Frame *frame, const struct validate_limits *lim,
    int64_t now, struct nara_err *err);

#endif
