/*
 * uuid.c — UUIDs for message and conversation ids: random (version 4)
 * and time-ordered (version 7, RFC 9562), from OpenSSL's RAND_bytes.
 */
#include "uuid.h"

#include <stdint.h>
#include <time.h>

#include <openssl/rand.h>

static void
format(const uint8_t b[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	int o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}

int
uuid_random(char out[37])
{
	uint8_t b[16];

	out[0] = '\0';
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	format(b, out);
	return 0;
}

/* The last id of this thread: its millisecond and 12-bit counter, so that
 * ids made within one millisecond (or after the clock stepped back) still
 * grow. */
static _Thread_local uint64_t last_ms;
static _Thread_local unsigned last_seq;

int
uuid_time_ordered(char out[37])
{
	struct timespec ts;
	uint64_t ms;
	unsigned seq;
	uint8_t b[16];

	out[0] = '\0';
	if (RAND_bytes(b, sizeof(b)) != 1 ||
	    clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	/* a fresh millisecond starts the counter at a random value below
	 * 2048, which leaves room for at least 2048 more ids in it */
	seq = ((unsigned)b[6] << 8 | b[7]) & 0x7ff;
	if (ms <= last_ms) {
		ms = last_ms;
		seq = last_seq + 1;
		if (seq > 0xfff) {     /* the counter ran out: the next ms */
			ms++;
			seq &= 0x7ff;
		}
	}
	last_ms = ms;
	last_seq = seq;
	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)(0x70 | (seq >> 8));     /* version 7, counter */
	b[7] = (uint8_t)(seq & 0xff);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	format(b, out);
	return 0;
}
