/*
 * test_zmtp.c — the ZMTP greeting/READY checks of the TLS front, fed byte by
 * byte the way a slow or hostile node would send them, and the ROUTER's
 * greeting and READY the front waits for before it releases a node's bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "zmtp.h"

struct wire {
	uint8_t b[8192];
	size_t n;
};

static void
put(struct wire *w, const void *p, size_t len)
{
	cr_assert_leq(w->n + len, sizeof(w->b));
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

static void
put_byte(struct wire *w, uint8_t v)
{
	put(w, &v, 1);
}

static void
put_greeting(struct wire *w, uint8_t major, uint8_t minor, const char *mech,
    uint8_t as_server)
{
	static const uint8_t sig[10] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F };
	uint8_t mechanism[20] = { 0 }, filler[31] = { 0 };

	put(w, sig, sizeof(sig));
	put_byte(w, major);
	put_byte(w, minor);
	memcpy(mechanism, mech, strlen(mech));
	put(w, mechanism, sizeof(mechanism));
	put_byte(w, as_server);
	put(w, filler, sizeof(filler));
}

/* A READY body into body (name + properties); returns its length. */
struct props {
	const char *name[4];
	const char *value[4];
	size_t n;
};

static size_t
ready_body(uint8_t *body, size_t cap, const char *cmd, const struct props *p)
{
	size_t n = 0, len;

	body[n++] = (uint8_t)strlen(cmd);
	memcpy(body + n, cmd, strlen(cmd));
	n += strlen(cmd);
	for (size_t i = 0; i < p->n; i++) {
		len = strlen(p->value[i]);
		cr_assert_lt(n + 5 + strlen(p->name[i]) + len, cap);
		body[n++] = (uint8_t)strlen(p->name[i]);
		memcpy(body + n, p->name[i], strlen(p->name[i]));
		n += strlen(p->name[i]);
		body[n++] = (uint8_t)(len >> 24);
		body[n++] = (uint8_t)(len >> 16);
		body[n++] = (uint8_t)(len >> 8);
		body[n++] = (uint8_t)len;
		memcpy(body + n, p->value[i], len);
		n += len;
	}
	return n;
}

static void
put_command(struct wire *w, const uint8_t *body, size_t len, bool long_frame)
{
	if (!long_frame) {
		cr_assert_leq(len, 255);
		put_byte(w, 0x04);
		put_byte(w, (uint8_t)len);
	} else {
		put_byte(w, 0x06);
		for (int i = 7; i >= 0; i--)
			put_byte(w, (uint8_t)((uint64_t)len >> (8 * i)));
	}
	put(w, body, len);
}

static void
put_ready(struct wire *w, const char *type, const char *identity, bool long_frame)
{
	struct props p = { .n = 0 };
	uint8_t body[4096];
	size_t len;

	if (type != NULL) {
		p.name[p.n] = "Socket-Type";
		p.value[p.n++] = type;
	}
	if (identity != NULL) {
		p.name[p.n] = "Identity";
		p.value[p.n++] = identity;
	}
	len = ready_body(body, sizeof(body), "READY", &p);
	put_command(w, body, len, long_frame);
}

/* Feed w one byte at a time: every shorter prefix must ask for more, the
 * whole must give want. Returns the last result in *out. */
static void
feed_expect(const struct wire *w, enum zmtp_status want, struct zmtp_hello *out)
{
	for (size_t i = 0; i < w->n; i++) {
		cr_assert_eq(zmtp_parse(w->b, i, out), ZMTP_NEED_MORE,
		    "prefix of %zu bytes: %s", i, out->reason);
		cr_assert_eq(out->greeting_ok, i < 64 ? i : 64);
	}
	cr_assert_eq(zmtp_parse(w->b, w->n, out), want, "reason: %s", out->reason);
}

/* Feed byte by byte and expect the error to appear at exactly byte `at`. */
static void
expect_error_at(const struct wire *w, size_t at, enum zmtp_error error)
{
	struct zmtp_hello h;

	for (size_t i = 0; i < at; i++)
		cr_assert_eq(zmtp_parse(w->b, i, &h), ZMTP_NEED_MORE,
		    "prefix %zu: %s", i, h.reason);
	cr_assert_eq(zmtp_parse(w->b, at, &h), ZMTP_ERROR,
	    "no error at byte %zu", at);
	cr_assert_eq(h.error, error, "got %d (%s)", h.error, h.reason);
	cr_assert_str_eq(h.reason, zmtp_error_text(error));
	/* More bytes do not make it acceptable. */
	cr_assert_eq(zmtp_parse(w->b, w->n, &h), ZMTP_ERROR);
	cr_assert_eq(h.error, error);
}

Test(zmtp, dealer_ready_short_frame)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;

	put_greeting(&w, 3, 1, "NULL", 0);
	put_ready(&w, "DEALER", "kommun-1480", false);
	feed_expect(&w, ZMTP_OK, &h);
	cr_assert_str_eq(h.socket_type, "DEALER");
	cr_assert(h.has_identity);
	cr_assert_str_eq(h.identity, "kommun-1480");
	cr_assert_eq(h.identity_len, 11);
	cr_assert_eq(h.consumed, w.n);
	cr_assert_eq(h.major, 3);
	cr_assert_eq(h.minor, 1);
	cr_assert_eq(h.error, ZMTP_E_NONE);
	cr_assert_str_eq(h.reason, "");
}

Test(zmtp, ready_long_frame)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;

	put_greeting(&w, 3, 0, "NULL", 0);
	put_ready(&w, "DEALER", "SE2321000131-E000000000101", true);
	feed_expect(&w, ZMTP_OK, &h);
	cr_assert_str_eq(h.identity, "SE2321000131-E000000000101");
	cr_assert_eq(h.consumed, w.n);
	cr_assert_eq(h.minor, 0);
}

Test(zmtp, trailing_bytes_not_consumed)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;
	size_t ready_end;

	put_greeting(&w, 3, 1, "NULL", 0);
	put_ready(&w, "DEALER", "kommun-1480", false);
	ready_end = w.n;
	put(&w, "\x00\x03" "abc", 5);         /* a first message frame */
	cr_assert_eq(zmtp_parse(w.b, w.n, &h), ZMTP_OK);
	cr_assert_eq(h.consumed, ready_end);
}

Test(zmtp, greeting_alone_needs_more)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;

	put_greeting(&w, 3, 1, "NULL", 0);
	cr_assert_eq(zmtp_parse(w.b, w.n, &h), ZMTP_NEED_MORE);
	cr_assert(h.greeted);
	cr_assert_eq(h.greeting_ok, 64);
	cr_assert_not(h.as_server);
}

Test(zmtp, partial_greeting_not_greeted)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;

	put_greeting(&w, 3, 1, "NULL", 0);
	cr_assert_eq(zmtp_parse(w.b, 63, &h), ZMTP_NEED_MORE);
	cr_assert_not(h.greeted);
	cr_assert_eq(h.greeting_ok, 63);
	cr_assert_eq(zmtp_parse(w.b, 0, &h), ZMTP_NEED_MORE);
	cr_assert_eq(h.greeting_ok, 0);
}

Test(zmtp, later_version_accepted)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;

	put_greeting(&w, 4, 0, "NULL", 0);
	put_ready(&w, "DEALER", "kommun-1480", false);
	cr_assert_eq(zmtp_parse(w.b, w.n, &h), ZMTP_OK);
	cr_assert_eq(h.major, 4);
}

Test(zmtp, zmtp2_refused_at_version_byte)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 1, 0, "NULL", 0);
	expect_error_at(&w, 11, ZMTP_E_VERSION);
}

Test(zmtp, plain_mechanism_refused)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "PLAIN", 0);
	put_ready(&w, "DEALER", "kommun-1480", false);
	expect_error_at(&w, 13, ZMTP_E_MECHANISM);
}

Test(zmtp, curve_mechanism_refused)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "CURVE", 0);
	expect_error_at(&w, 13, ZMTP_E_MECHANISM);
}

Test(zmtp, mechanism_with_suffix_refused)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULLX", 0);
	expect_error_at(&w, 17, ZMTP_E_MECHANISM);
}

Test(zmtp, http_request_refused_at_first_byte)
{
	struct wire w = { .n = 0 };

	put(&w, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	expect_error_at(&w, 1, ZMTP_E_SIGNATURE);
}

Test(zmtp, bad_signature_end_refused)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 0);
	w.b[9] = 0x00;
	expect_error_at(&w, 10, ZMTP_E_SIGNATURE);
}

Test(zmtp, as_server_out_of_range)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 2);
	expect_error_at(&w, 33, ZMTP_E_AS_SERVER);
}

Test(zmtp, message_frame_instead_of_command)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 0);
	put(&w, "\x00\x05hello", 7);
	expect_error_at(&w, 65, ZMTP_E_NOT_COMMAND);
}

Test(zmtp, command_with_more_flag_refused)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 0);
	put_byte(&w, 0x05);
	expect_error_at(&w, 65, ZMTP_E_NOT_COMMAND);
}

Test(zmtp, other_command_refused)
{
	struct wire w = { .n = 0 };
	struct props p = { .name = { "Socket-Type" }, .value = { "DEALER" }, .n = 1 };
	uint8_t body[256];
	size_t len = ready_body(body, sizeof(body), "HELLO", &p);

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, len, false);
	expect_error_at(&w, w.n, ZMTP_E_NOT_READY);
}

Test(zmtp, empty_command_refused)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 0);
	put(&w, "\x04\x00", 2);
	expect_error_at(&w, 66, ZMTP_E_NOT_READY);
}

Test(zmtp, oversize_long_ready_refused_at_size)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 0);
	/* 1 MiB announced: refused at the first non-zero high
	 * byte of the size, before the body. */
	put(&w, "\x06\x00\x00\x00\x00\x00\x10\x00\x00", 9);
	expect_error_at(&w, 71, ZMTP_E_OVERSIZE);
}

Test(zmtp, oversize_ready_just_above_cap)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;
	size_t body = ZMTP_READY_MAX - 9 + 1;

	put_greeting(&w, 3, 1, "NULL", 0);
	put_byte(&w, 0x06);
	for (int i = 7; i >= 0; i--)
		put_byte(&w, (uint8_t)((uint64_t)body >> (8 * i)));
	cr_assert_eq(zmtp_parse(w.b, w.n, &h), ZMTP_ERROR);
	cr_assert_eq(h.error, ZMTP_E_OVERSIZE);
}

Test(zmtp, ready_at_cap_accepted)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;
	char pad[4096];
	struct props p = { .name = { "Socket-Type", "Identity", "X-Pad" },
	    .value = { "DEALER", "kommun-1480", pad }, .n = 3 };
	uint8_t body[4096];
	size_t len;

	/* 6 (name) + 22 (type) + 24 (identity) + 10 (pad header) + pad = cap - 9 */
	memset(pad, 'x', sizeof(pad));
	pad[ZMTP_READY_MAX - 9 - 6 - 22 - 24 - 10] = '\0';
	len = ready_body(body, sizeof(body), "READY", &p);
	cr_assert_eq(len, ZMTP_READY_MAX - 9);
	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, len, true);
	cr_assert_eq(zmtp_parse(w.b, w.n, &h), ZMTP_OK, "%s", h.reason);
	cr_assert_eq(h.consumed, 64 + ZMTP_READY_MAX);
}

Test(zmtp, missing_identity_reported)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;

	put_greeting(&w, 3, 1, "NULL", 0);
	put_ready(&w, "DEALER", NULL, false);
	feed_expect(&w, ZMTP_OK, &h);
	cr_assert_not(h.has_identity);
	cr_assert_eq(h.identity_len, 0);
	cr_assert_str_eq(h.identity, "");
}

Test(zmtp, empty_identity_reported)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;

	put_greeting(&w, 3, 1, "NULL", 0);
	put_ready(&w, "DEALER", "", false);
	cr_assert_eq(zmtp_parse(w.b, w.n, &h), ZMTP_OK);
	cr_assert(h.has_identity);
	cr_assert_eq(h.identity_len, 0);
}

Test(zmtp, missing_socket_type_refused)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 0);
	put_ready(&w, NULL, "kommun-1480", false);
	expect_error_at(&w, w.n, ZMTP_E_NO_SOCKET_TYPE);
}

Test(zmtp, other_socket_type_passed_on)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;

	put_greeting(&w, 3, 1, "NULL", 0);
	put_ready(&w, "ROUTER", "kommun-1480", false);
	cr_assert_eq(zmtp_parse(w.b, w.n, &h), ZMTP_OK);
	cr_assert_str_eq(h.socket_type, "ROUTER");
}

Test(zmtp, duplicate_identity_refused)
{
	struct wire w = { .n = 0 };
	struct props p = { .name = { "Socket-Type", "Identity", "identity" },
	    .value = { "DEALER", "kommun-1480", "kommun-1481" }, .n = 3 };
	uint8_t body[256];
	size_t len = ready_body(body, sizeof(body), "READY", &p);

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, len, false);
	expect_error_at(&w, w.n, ZMTP_E_PROPERTY);
}

Test(zmtp, duplicate_socket_type_refused)
{
	struct wire w = { .n = 0 };
	struct props p = { .name = { "Socket-Type", "Socket-Type" },
	    .value = { "DEALER", "ROUTER" }, .n = 2 };
	uint8_t body[256];
	size_t len = ready_body(body, sizeof(body), "READY", &p);

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, len, false);
	expect_error_at(&w, w.n, ZMTP_E_PROPERTY);
}

Test(zmtp, property_value_overruns_body)
{
	struct wire w = { .n = 0 };
	uint8_t body[] = { 5, 'R', 'E', 'A', 'D', 'Y', 2, 'I', 'd',
	    0, 0, 0, 9, 'a', 'b' };

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, sizeof(body), false);
	expect_error_at(&w, w.n, ZMTP_E_PROPERTY);
}

Test(zmtp, property_huge_value_length)
{
	struct wire w = { .n = 0 };
	uint8_t body[] = { 5, 'R', 'E', 'A', 'D', 'Y', 1, 'X',
	    0xFF, 0xFF, 0xFF, 0xFF, 'a' };

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, sizeof(body), false);
	expect_error_at(&w, w.n, ZMTP_E_PROPERTY);
}

Test(zmtp, property_truncated_length_field)
{
	struct wire w = { .n = 0 };
	uint8_t body[] = { 5, 'R', 'E', 'A', 'D', 'Y', 3, 'a', 'b', 'c', 0, 0 };

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, sizeof(body), false);
	expect_error_at(&w, w.n, ZMTP_E_PROPERTY);
}

Test(zmtp, property_empty_name)
{
	struct wire w = { .n = 0 };
	uint8_t body[] = { 5, 'R', 'E', 'A', 'D', 'Y', 0, 0, 0, 0, 0 };

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, sizeof(body), false);
	expect_error_at(&w, w.n, ZMTP_E_PROPERTY);
}

Test(zmtp, identity_too_long)
{
	struct wire w = { .n = 0 };
	char id[300];

	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	put_greeting(&w, 3, 1, "NULL", 0);
	put_ready(&w, "DEALER", id, true);
	expect_error_at(&w, w.n, ZMTP_E_PROPERTY);
}

Test(zmtp, socket_type_with_nul_refused)
{
	struct wire w = { .n = 0 };
	uint8_t body[] = { 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k',
	    'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 3, 'D', 0, 'R' };

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, sizeof(body), false);
	expect_error_at(&w, w.n, ZMTP_E_PROPERTY);
}

Test(zmtp, binary_identity_kept_with_length)
{
	struct wire w = { .n = 0 };
	struct zmtp_hello h;
	uint8_t body[] = { 5, 'R', 'E', 'A', 'D', 'Y',
	    11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e',
	    0, 0, 0, 6, 'D', 'E', 'A', 'L', 'E', 'R',
	    8, 'I', 'd', 'e', 'n', 't', 'i', 't', 'y', 0, 0, 0, 3, 'a', 0, 'b' };

	put_greeting(&w, 3, 1, "NULL", 0);
	put_command(&w, body, sizeof(body), false);
	cr_assert_eq(zmtp_parse(w.b, w.n, &h), ZMTP_OK);
	cr_assert_eq(h.identity_len, 3);
	cr_assert_eq(memcmp(h.identity, "a\0b", 3), 0);
	/* A C-string comparison would see only "a". */
	cr_assert_neq(strlen(h.identity), h.identity_len);
}

Test(zmtp, error_text_total)
{
	cr_assert_str_eq(zmtp_error_text(ZMTP_E_MECHANISM),
	    "security mechanism is not NULL");
	cr_assert_str_eq(zmtp_error_text((enum zmtp_error)99), "unknown ZMTP error");
}

/* ---------------------------------------------------------------- frames */

/* A message frame header announcing size (long form when long_frame). */
static void
put_frame_header(struct wire *w, uint8_t flags, uint64_t size, bool long_frame)
{
	if (!long_frame) {
		put_byte(w, flags);
		put_byte(w, (uint8_t)size);
		return;
	}
	put_byte(w, flags | 0x02);
	for (int i = 7; i >= 0; i--)
		put_byte(w, (uint8_t)(size >> (8 * i)));
}

static void
put_frame(struct wire *w, uint8_t flags, size_t size, bool long_frame)
{
	uint8_t body[1024];

	memset(body, 'x', sizeof(body));
	cr_assert_leq(size, sizeof(body));
	put_frame_header(w, flags, size, long_frame);
	put(w, body, size);
}

/* Feed w in pieces of step bytes; returns the status of the last feed and
 * the total of bytes allowed through in *passed. */
static enum zmtp_status
frames_feed_steps(struct zmtp_frames *t, const struct wire *w, size_t step,
    size_t *passed)
{
	enum zmtp_status st = ZMTP_OK;
	size_t ok;

	*passed = 0;
	for (size_t i = 0; i < w->n && st == ZMTP_OK; i += step) {
		size_t n = w->n - i < step ? w->n - i : step;
		st = zmtp_frames_feed(t, w->b + i, n, &ok);
		cr_assert_leq(ok, n);
		*passed += ok;
	}
	return st;
}

Test(zmtp, frames_within_limit_pass_in_any_split)
{
	struct wire w = { .n = 0 };
	struct zmtp_frames t;
	size_t passed;

	put_frame(&w, 0x00, 10, false);
	put_frame(&w, 0x04, 5, false);          /* a command (PING) */
	put_frame(&w, 0x00, 1000, true);
	put_frame(&w, 0x01, 0, false);          /* empty part with MORE */
	put_frame(&w, 0x00, 255, false);
	for (size_t step = 1; step <= w.n; step++) {
		zmtp_frames_init(&t, 1000);
		cr_assert_eq(frames_feed_steps(&t, &w, step, &passed), ZMTP_OK,
		    "step %zu", step);
		cr_assert_eq(passed, w.n);
		cr_assert_eq(t.frames, 5, "step %zu: %llu frames", step,
		    (unsigned long long)t.frames);
		cr_assert_eq(t.left, 0);
		cr_assert_eq(t.hdr_have, 0);
	}
}

Test(zmtp, frames_oversize_refused_before_its_header_passes)
{
	struct wire w = { .n = 0 };
	struct zmtp_frames t;
	size_t passed, good;

	put_frame(&w, 0x00, 100, false);
	good = w.n;
	put_frame_header(&w, 0x00, 8ULL << 30, true);   /* 8 GiB announced */
	put(&w, "abc", 3);
	for (size_t step = 1; step <= w.n; step++) {
		zmtp_frames_init(&t, 16 << 20);
		cr_assert_eq(frames_feed_steps(&t, &w, step, &passed),
		    ZMTP_ERROR, "step %zu", step);
		cr_assert_eq(t.announced, 8ULL << 30);
		/* Nothing after the good frame goes through, except bytes of
		 * the bad header fed before it was complete. */
		cr_assert_geq(passed, step == 1 ? good : (good / step) * step);
		cr_assert_leq(passed, good + 8, "step %zu passed %zu", step,
		    passed);
		cr_assert_eq(zmtp_frames_feed(&t, w.b, 1, &passed), ZMTP_ERROR,
		    "a refused stream stays refused");
		cr_assert_eq(passed, 0);
	}
}

Test(zmtp, frames_limit_is_inclusive)
{
	struct wire w = { .n = 0 };
	struct zmtp_frames t;
	size_t ok;

	put_frame_header(&w, 0x00, 200, false);
	zmtp_frames_init(&t, 200);
	cr_assert_eq(zmtp_frames_feed(&t, w.b, w.n, &ok), ZMTP_OK);
	cr_assert_eq(t.left, 200);
	zmtp_frames_init(&t, 199);
	cr_assert_eq(zmtp_frames_feed(&t, w.b, w.n, &ok), ZMTP_ERROR);
	cr_assert_eq(ok, 0);
	cr_assert_eq(t.announced, 200);
}

Test(zmtp, frames_largest_announced_size)
{
	struct wire w = { .n = 0 };
	struct zmtp_frames t;
	size_t ok;

	put_frame_header(&w, 0x06, UINT64_MAX, true);   /* a long command */
	zmtp_frames_init(&t, UINT64_MAX - 1);
	cr_assert_eq(zmtp_frames_feed(&t, w.b, w.n, &ok), ZMTP_ERROR);
	cr_assert_eq(t.announced, UINT64_MAX);
}

/* ---------------------------------------------------------------- server */

/* Feed the server's stream as the front records it: the first
 * ZMTP_READY_HEAD bytes kept, every byte counted. */
static enum zmtp_status
server_after(const struct wire *w, size_t seen)
{
	uint8_t head[ZMTP_READY_HEAD] = { 0 };

	memcpy(head, w->b, seen < sizeof(head) ? seen : sizeof(head));
	return zmtp_server_ready(head, seen);
}

/* Every prefix of w shorter than complete needs more; complete is OK, and
 * so is everything after it. */
static void
server_expect_ready_at(const struct wire *w, size_t complete)
{
	for (size_t i = 0; i < complete; i++)
		cr_assert_eq(server_after(w, i), ZMTP_NEED_MORE,
		    "prefix of %zu bytes", i);
	for (size_t i = complete; i <= w->n; i++)
		cr_assert_eq(server_after(w, i), ZMTP_OK, "%zu bytes", i);
}

Test(zmtp, server_ready_short_frame)
{
	struct wire w = { .n = 0 };
	size_t complete;

	put_greeting(&w, 3, 1, "NULL", 1);
	put_ready(&w, "ROUTER", NULL, false);
	complete = w.n;
	put_command(&w, (const uint8_t *)"\x04PING", 5, false);
	server_expect_ready_at(&w, complete);
}

Test(zmtp, server_ready_long_frame)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 1);
	put_ready(&w, "ROUTER", NULL, true);
	server_expect_ready_at(&w, w.n);
}

/* ZAP refused the node: the ROUTER sends ERROR instead of READY, and the
 * node's bytes must never be released. */
Test(zmtp, server_error_command_never_ready)
{
	struct wire w = { .n = 0 };
	struct props p = { .n = 0 };
	uint8_t body[64];

	put_greeting(&w, 3, 1, "NULL", 1);
	put_command(&w, body, ready_body(body, sizeof(body), "ERROR", &p),
	    false);
	cr_assert_eq(server_after(&w, ZMTP_GREETING_LEN + 2), ZMTP_NEED_MORE);
	cr_assert_eq(server_after(&w, w.n), ZMTP_ERROR);
}

Test(zmtp, server_message_before_ready_refused)
{
	struct wire w = { .n = 0 };

	put_greeting(&w, 3, 1, "NULL", 1);
	put(&w, "\x00\x06READY!", 8);
	cr_assert_eq(server_after(&w, ZMTP_GREETING_LEN), ZMTP_NEED_MORE);
	cr_assert_eq(server_after(&w, ZMTP_GREETING_LEN + 1), ZMTP_ERROR);
	cr_assert_eq(server_after(&w, w.n), ZMTP_ERROR);
}

Test(zmtp, server_oversize_ready_refused)
{
	struct wire w = { .n = 0 };
	uint64_t len = ZMTP_READY_MAX + 1;

	put_greeting(&w, 3, 1, "NULL", 1);
	put_byte(&w, 0x06);
	for (int i = 7; i >= 0; i--)
		put_byte(&w, (uint8_t)(len >> (8 * i)));
	put(&w, "\x05READY", 6);
	cr_assert_eq(server_after(&w, w.n - 1), ZMTP_NEED_MORE);
	cr_assert_eq(server_after(&w, w.n), ZMTP_ERROR);
}
