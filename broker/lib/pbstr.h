/*
 * pbstr.h — protobuf-c's generated structs hold strings as `char *` even
 * when a message is only built to be packed. pb_str() lends a const string
 * to such a field without a qualifier-dropping cast at every call site; the
 * message must then never be freed with protobuf_c_message_free_unpacked.
 */
#ifndef NARA_PBSTR_H
#define NARA_PBSTR_H

#include <stdint.h>

static inline char *
pb_str(const char *s)
{
	return (char *)(uintptr_t)(s ? s : "");
}

#endif
