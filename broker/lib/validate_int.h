/*
 * validate_int.h — helpers shared by validate.c (primitives, frames, codec)
 * and validate_envelope.c (envelope rules); not part of libnara's API.
 */
#ifndef NARA_VALIDATE_INT_H
#define NARA_VALIDATE_INT_H

#include <stdbool.h>

#include "validate.h"

static inline bool
is_empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

static inline int
missing(struct nara_err *err, const char *path)
{
	return nara_err_set(err, NR_MISSING_FIELD, path, "required field missing");
}

static inline bool
enum_known(const ProtobufCEnumDescriptor *desc, int value)
{
	return protobuf_c_enum_descriptor_get_value(desc, value) != NULL;
}

/* An enum field that must be set (NR010) to a known value (NR019). */
static inline int
require_enum(const ProtobufCEnumDescriptor *desc, int value,
    struct nara_err *err, const char *path)
{
	if (value == 0)
		return missing(err, path);
	if (!enum_known(desc, value))
		return nara_err_set(err, NR_BAD_VALUE, path, "unknown value %d",
		    value);
	return 0;
}

/* Every string of msg within max_text_bytes (NR020) and valid UTF-8
 * (NR019); paths start with root ("hello.software"). lim NULL: defaults. */
int validate_texts(const ProtobufCMessage *msg, const char *root,
    const struct validate_limits *lim, struct nara_err *err);

#endif
