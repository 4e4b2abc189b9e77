/*
 * fuzz_front.c — libFuzzer entry point for the TLS front's view of a
 * node's byte stream: the handshake check (zmtp_parse on the growing
 * prefix, as front_conn.c calls it) and then the frame-size tracker
 * (zmtp_frames_feed), fed in pieces whose sizes the input chooses.
 *
 * Input: byte 0 picks the piece size, byte 1 the frame limit, the rest is
 * the stream. Besides memory safety it checks that the tracker's verdict
 * does not depend on how the stream is cut: the pieces must give the same
 * result as one feed of everything and as a plain walk over the frames, a
 * refused stream stays refused, and nothing past a refused header's frame
 * is ever let through.
 * Build with `make fuzz`; seeds are in tests/fuzz/corpus/front/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zmtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: walk complete frames; the offset of the first header
 * announcing more than max (its size in *announced), or len if none. */
static size_t
walk(const uint8_t *p, size_t len, uint64_t max, uint64_t *announced)
{
	size_t pos = 0, hdr;
	uint64_t n;

	while (pos < len) {
		hdr = (p[pos] & 0x02) ? 9 : 2;
		if (len - pos < hdr)
			return len;
		n = 0;
		for (size_t i = 1; i < hdr; i++)
			n = n << 8 | p[pos + i];
		if (n > max) {
			*announced = n;
			return pos;
		}
		if (n > len - pos - hdr)
			return len;
		pos += hdr + (size_t)n;
	}
	return len;
}

static void
check_frames(const uint8_t *p, size_t len, size_t piece, uint64_t max)
{
	struct zmtp_frames whole, cut;
	enum zmtp_status st_whole, st = ZMTP_OK;
	size_t ok_whole, ok, passed = 0, bad;
	uint64_t announced = 0;

	zmtp_frames_init(&whole, max);
	st_whole = zmtp_frames_feed(&whole, p, len, &ok_whole);
	bad = walk(p, len, max, &announced);
	if ((st_whole == ZMTP_ERROR) != (bad < len) || ok_whole > len)
		abort();
	if (st_whole == ZMTP_ERROR && (ok_whole != bad ||
	    whole.announced != announced))
		abort();
	zmtp_frames_init(&cut, max);
	for (size_t i = 0; i < len && st == ZMTP_OK; i += piece) {
		size_t n = len - i < piece ? len - i : piece;
		st = zmtp_frames_feed(&cut, p + i, n, &ok);
		if (ok > n || (st == ZMTP_OK && ok != n))
			abort();
		passed += ok;
	}
	if (st != st_whole || (st == ZMTP_OK && cut.frames != whole.frames))
		abort();
	/* At most the refused header's own first bytes got through. */
	if (st == ZMTP_ERROR && (passed < bad || passed > bad + 8 ||
	    cut.announced != announced))
		abort();
	if (st == ZMTP_ERROR && (zmtp_frames_feed(&cut, p, len, &ok) !=
	    ZMTP_ERROR || ok != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zmtp_hello h;
	size_t piece, have;
	uint64_t max;

	if (size < 2)
		return 0;
	piece = 1 + data[0] % 64;
	max = data[1] < 128 ? data[1] : (uint64_t)data[1] << 24;
	data += 2;
	size -= 2;
	/* The handshake: the front re-parses the prefix as it grows. */
	for (have = piece < size ? piece : size; ; ) {
		enum zmtp_status st = zmtp_parse(data, have, &h);

		if (st == ZMTP_ERROR)
			return 0;
		if (st == ZMTP_OK)
			break;
		if (have == size)
			return 0;
		have = size - have < piece ? size : have + piece;
	}
	if (h.consumed > size)
		abort();
	check_frames(data + h.consumed, size - h.consumed, piece, max);
	return 0;
}
