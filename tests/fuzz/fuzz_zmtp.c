/*
 * fuzz_zmtp.c — libFuzzer entry point for the TLS front's ZMTP parser.
 *
 * Besides memory safety (ASan/UBSan) it checks the parser's promises: sizes
 * it reports lie inside the input, a result never changes once reached
 * (an error on a prefix stays an error, an OK stays the same OK), and every
 * shorter prefix of an accepted handshake asks for more bytes.
 * Build with `make fuzz`; seeds are in tests/fuzz/corpus/zmtp/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zmtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_invariants(const struct zmtp_hello *h, enum zmtp_status st, size_t size)
{
	if (h->greeting_ok > size || h->greeting_ok > ZMTP_GREETING_LEN)
		abort();
	if (h->greeted && h->greeting_ok != ZMTP_GREETING_LEN)
		abort();
	if (st == ZMTP_OK && !h->greeted)
		abort();
	if (st == ZMTP_ERROR && (h->error == ZMTP_E_NONE || h->reason[0] == '\0'))
		abort();
	if (st != ZMTP_OK)
		return;
	if (h->consumed > size || h->consumed < ZMTP_GREETING_LEN + 2 ||
	    h->consumed > ZMTP_GREETING_LEN + ZMTP_READY_MAX)
		abort();
	if (h->identity_len > ZMTP_IDENTITY_MAX ||
	    strlen(h->socket_type) > ZMTP_SOCKET_TYPE_MAX ||
	    h->identity[h->identity_len] != '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zmtp_hello full, part;
	enum zmtp_status st = zmtp_parse(data, size, &full), pst;
	size_t cut = size / 2;

	check_invariants(&full, st, size);
	/* A prefix: its verdict, when final, must be the full input's. */
	pst = zmtp_parse(data, cut, &part);
	check_invariants(&part, pst, cut);
	if (pst == ZMTP_ERROR && (st != ZMTP_ERROR || part.error != full.error))
		abort();
	if (pst == ZMTP_OK && (st != ZMTP_OK || part.consumed != full.consumed))
		abort();
	if (st == ZMTP_OK) {
		/* Exactly the consumed bytes are enough, one fewer is not. */
		if (zmtp_parse(data, full.consumed, &part) != ZMTP_OK ||
		    part.consumed != full.consumed ||
		    zmtp_parse(data, full.consumed - 1, &part) != ZMTP_NEED_MORE)
			abort();
	}
	return 0;
}
