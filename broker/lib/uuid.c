/*
 * uuid.c — random UUIDs from OpenSSL's RAND_bytes.
 */
#include "uuid.h"

#include <stdint.h>

#include <openssl/rand.h>

int
uuid_random(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	int o = 0;

	out[0] = '\0';
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
	return 0;
}
