/*
 * test_wire.c — frames on the wire: the rules of each frame kind
 * (validate_frame), frame_encode/frame_decode round trips, refusal of
 * oversize and undecodable input, and the message type names.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "envelope_fixture.h"
#include "validate.h"
#include "wire.h"

#define MID "9d0b5c63-f1e8-4a27-b6d4-08a2e7c91f35"

static struct env_fixture fx;

static void
frame_refused(const Nara__Frame *f, enum nara_code code, const char *path)
{
	struct validate_limits lim;
	struct nara_err err = { 0 };

	validate_limits_default(&lim);
	cr_assert_eq(validate_frame(f, &lim, fx_now(), &err), -1,
	    "accepted, expected %s", nara_code_id(code));
	cr_expect_eq(err.code, code, "got %s %s: %s", nara_code_id(err.code),
	    err.path, err.text);
	cr_expect_str_eq(err.path, path);
}

static void
frame_accepted(const Nara__Frame *f)
{
	struct validate_limits lim;
	struct nara_err err = { 0 };

	validate_limits_default(&lim);
	cr_expect_eq(validate_frame(f, &lim, fx_now(), &err), 0,
	    "refused: %s %s: %s", nara_code_id(err.code), err.path, err.text);
}

/* ---------------------------------------------------------------- kinds */

Test(frame, no_kind)
{
	Nara__Frame f = NARA__FRAME__INIT;

	frame_refused(&f, NR_MALFORMED_FRAME, "");
	frame_refused(NULL, NR_MALFORMED_FRAME, "");
	/* a kind without its message, as a careless in-memory builder makes */
	f.kind_case = NARA__FRAME__KIND_ACK;
	frame_refused(&f, NR_MALFORMED_FRAME, "");
}

Test(frame, hello)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Hello h = NARA__HELLO__INIT;

	f.kind_case = NARA__FRAME__KIND_HELLO;
	f.hello = &h;
	h.node_id = pb_str("kommun-1480");
	h.protocol_version = NARA_PROTOCOL_VERSION;
	frame_accepted(&f);
	h.protocol_version = 2;
	frame_refused(&f, NR_PROTOCOL_VERSION, "hello.protocol_version");
	h.protocol_version = 0;
	frame_refused(&f, NR_PROTOCOL_VERSION, "hello.protocol_version");
	h.node_id = pb_str("");
	frame_refused(&f, NR_MISSING_FIELD, "hello.node_id");
}

Test(frame, welcome)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Welcome w = NARA__WELCOME__INIT;

	f.kind_case = NARA__FRAME__KIND_WELCOME;
	f.welcome = &w;
	w.protocol_version = NARA_PROTOCOL_VERSION;
	w.server_time = pb_str("2026-11-23T08:00:00Z");
	frame_accepted(&f);
	w.server_time = pb_str("igår");
	frame_refused(&f, NR_BAD_TIME, "welcome.server_time");
	w.protocol_version = 3;
	frame_refused(&f, NR_PROTOCOL_VERSION, "welcome.protocol_version");
}

Test(frame, submit)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit s = NARA__SUBMIT__INIT;

	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &s;
	frame_refused(&f, NR_MISSING_FIELD, "submit.envelope");
	s.envelope = fx_envelope(&fx, NARA__MESSAGE_TYPE__REFERRAL);
	frame_accepted(&f);
	fx.subject.personal_number = pb_str("201304172380");
	frame_refused(&f, NR_BAD_PERSONAL_NUMBER, "envelope.subject.personal_number");
}

Test(frame, submit_checks_expiry_against_now)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit s = NARA__SUBMIT__INIT;

	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &s;
	s.envelope = fx_envelope(&fx, NARA__MESSAGE_TYPE__CONSULTATION_REQUEST);
	fx.env.expires = pb_str("2026-11-23T23:59:59Z");
	frame_refused(&f, NR_EXPIRED, "envelope.expires");
}

Test(frame, deliver)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Deliver d = NARA__DELIVER__INIT;

	f.kind_case = NARA__FRAME__KIND_DELIVER;
	f.deliver = &d;
	d.attempt = 1;
	frame_refused(&f, NR_MISSING_FIELD, "deliver.envelope");
	d.envelope = fx_envelope(&fx, NARA__MESSAGE_TYPE__SIP_INVITATION);
	frame_accepted(&f);
	d.attempt = 0;
	frame_refused(&f, NR_BAD_VALUE, "deliver.attempt");
}

Test(frame, ack)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Ack a = NARA__ACK__INIT;

	f.kind_case = NARA__FRAME__KIND_ACK;
	f.ack = &a;
	frame_refused(&f, NR_MISSING_FIELD, "ack.message_id");
	a.message_id = pb_str("9d0b5c63");
	frame_refused(&f, NR_BAD_MESSAGE_ID, "ack.message_id");
	a.message_id = pb_str(MID);
	a.receipt = true;
	frame_accepted(&f);
}

Test(frame, nack)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Nack n = NARA__NACK__INIT;

	f.kind_case = NARA__FRAME__KIND_NACK;
	f.nack = &n;
	n.message_id = pb_str("not-an-id");
	n.code = pb_str("NR052");
	frame_refused(&f, NR_BAD_MESSAGE_ID, "nack.message_id");
	n.message_id = pb_str(MID);
	frame_accepted(&f);
	n.code = pb_str("");
	frame_refused(&f, NR_MISSING_FIELD, "nack.code");
	n.code = pb_str("NR999");
	frame_refused(&f, NR_BAD_VALUE, "nack.code");
	n.code = pb_str("NR000");
	frame_refused(&f, NR_BAD_VALUE, "nack.code");
	n.code = pb_str("nr052");
	frame_refused(&f, NR_BAD_VALUE, "nack.code");
}

Test(frame, receipt)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Receipt r = NARA__RECEIPT__INIT;

	f.kind_case = NARA__FRAME__KIND_RECEIPT;
	f.receipt = &r;
	r.message_id = pb_str(MID);
	r.outcome = NARA__OUTCOME__OUTCOME_FAILED;
	r.time = pb_str("2026-11-23T08:00:00Z");
	r.code = pb_str("NR052");
	frame_accepted(&f);
	r.code = pb_str("NR7");
	frame_refused(&f, NR_BAD_VALUE, "receipt.code");
	r.code = pb_str("");
	r.time = pb_str("2026-11-23T08:00:00");
	frame_refused(&f, NR_BAD_TIME, "receipt.time");
	r.time = pb_str("");
	frame_refused(&f, NR_MISSING_FIELD, "receipt.time");
}

Test(frame, receipt_outcome_and_id)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Receipt r = NARA__RECEIPT__INIT;

	f.kind_case = NARA__FRAME__KIND_RECEIPT;
	f.receipt = &r;
	r.message_id = pb_str(MID);
	r.time = pb_str("2026-11-23T08:00:00Z");
	frame_refused(&f, NR_MISSING_FIELD, "receipt.outcome");
	r.outcome = (Nara__Outcome)4;
	frame_refused(&f, NR_BAD_VALUE, "receipt.outcome");
	r.outcome = NARA__OUTCOME__OUTCOME_DELIVERED;
	frame_accepted(&f);
	r.message_id = pb_str(MID "0");
	frame_refused(&f, NR_BAD_MESSAGE_ID, "receipt.message_id");
}

Test(frame, credit)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Credit c = NARA__CREDIT__INIT;

	f.kind_case = NARA__FRAME__KIND_CREDIT;
	f.credit = &c;
	frame_refused(&f, NR_BAD_VALUE, "credit.credits");
	c.credits = 1;
	frame_accepted(&f);
}

Test(frame, accepted)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Accepted a = NARA__ACCEPTED__INIT;

	f.kind_case = NARA__FRAME__KIND_ACCEPTED;
	f.accepted = &a;
	frame_accepted(&f);
	a.message_id = pb_str("x");
	frame_refused(&f, NR_BAD_MESSAGE_ID, "accepted.message_id");
	a.message_id = pb_str(MID);
	a.accepted_at = pb_str("2026-11-23T08:00:00+01:00");
	frame_accepted(&f);
}

Test(frame, rejected)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Rejected r = NARA__REJECTED__INIT;

	f.kind_case = NARA__FRAME__KIND_REJECTED;
	f.rejected = &r;
	r.code = pb_str("NR031");
	frame_accepted(&f);
	r.code = pb_str("NR031x");
	frame_refused(&f, NR_BAD_VALUE, "rejected.code");
	r.code = pb_str("NR003");
	r.message_id = pb_str("123");
	frame_refused(&f, NR_BAD_MESSAGE_ID, "rejected.message_id");
}

/* ---------------------------------------------------------------- codec */

Test(codec, encode_decode_round_trip)
{
	Nara__Frame f = NARA__FRAME__INIT, *back;
	Nara__Submit s = NARA__SUBMIT__INIT;
	struct nara_err err = { 0 };
	size_t len = 0;
	uint8_t *buf;

	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &s;
	s.envelope = fx_envelope(&fx, NARA__MESSAGE_TYPE__REFERRAL);
	fx_attach(&fx, "a.pdf", "%PDF", 4);
	cr_assert_not_null(buf = frame_encode(&f, &len));
	cr_expect_eq(len, nara__frame__get_packed_size(&f));
	back = frame_decode(buf, len, len, &err);
	cr_assert_not_null(back, "%s", err.text);
	cr_assert_eq(back->kind_case, NARA__FRAME__KIND_SUBMIT);
	cr_expect_str_eq(back->submit->envelope->message_id, FX_ID);
	cr_expect_str_eq(back->submit->envelope->subject->personal_number, FX_PNR);
	cr_assert_eq(back->submit->envelope->n_attachments, 1);
	cr_expect_eq(back->submit->envelope->attachments[0]->data.len, 4);
	cr_expect_eq(validate_frame(back, NULL, fx_now(), &err), 0, "%s", err.text);
	frame_free(&back);
	cr_expect_null(back);
	free(buf);
}

Test(codec, oversize_refused_before_decoding)
{
	struct nara_err err = { 0 };
	uint8_t buf[64] = { 0 };

	/* bytes that would not even decode: the size is checked first */
	memset(buf, 0xff, sizeof(buf));
	cr_expect_null(frame_decode(buf, sizeof(buf), sizeof(buf) - 1, &err));
	cr_expect_eq(err.code, NR_TOO_LARGE);
}

Test(codec, garbage_refused)
{
	static const uint8_t garbage[][4] = {
		{ 0xff, 0xff, 0xff, 0xff },     /* truncated varint tag */
		{ 0x1a, 0x7f, 0x00, 0x00 },     /* submit longer than the buffer */
		{ 0x0f, 0x00, 0x00, 0x00 },     /* wire type 7 does not exist */
	};
	struct nara_err err = { 0 };

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		nara_err_clear(&err);
		cr_expect_null(frame_decode(garbage[i], 4, 1024, &err), "case %zu", i);
		cr_expect_eq(err.code, NR_MALFORMED_FRAME, "case %zu: %s", i, err.text);
	}
	cr_expect_null(frame_decode(NULL, 4, 1024, &err));
	cr_expect_eq(err.code, NR_MALFORMED_FRAME);
}

Test(codec, empty_input_decodes_to_a_frame_without_kind)
{
	struct nara_err err = { 0 };
	Nara__Frame *f = frame_decode("", 0, 1024, &err);

	cr_assert_not_null(f, "%s", err.text);
	cr_expect_eq(f->kind_case, NARA__FRAME__KIND__NOT_SET);
	cr_expect_eq(validate_frame(f, NULL, 0, &err), -1);
	cr_expect_eq(err.code, NR_MALFORMED_FRAME);
	frame_free(&f);
}

/* A small frame of many empty attachments would expand to far more memory
 * than its size; the decoder refuses it with NR020 instead. */
Test(codec, decode_memory_is_bounded)
{
	size_t n = 1u << 20, body = 2 * n;
	uint8_t *buf = malloc(body + 16), *p = buf;
	struct nara_err err = { 0 };

	cr_assert_not_null(buf);
	*p++ = 0x1a;                               /* Frame.submit */
	for (size_t v = body + 5; ; v >>= 7) {     /* its length: tag + len + body */
		*p++ = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		if (v < 0x80)
			break;
	}
	*p++ = 0x0a;                               /* Submit.envelope */
	for (size_t v = body; ; v >>= 7) {
		*p++ = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		if (v < 0x80)
			break;
	}
	for (size_t i = 0; i < n; i++) {           /* Envelope.attachments = {} */
		*p++ = 0x72;
		*p++ = 0x00;
	}
	cr_expect_null(frame_decode(buf, (size_t)(p - buf), 16u << 20, &err));
	cr_expect_eq(err.code, NR_TOO_LARGE, "%s", err.text);
	free(buf);
}

Test(codec, large_attachment_decodes)
{
	Nara__Frame f = NARA__FRAME__INIT, *back;
	Nara__Submit s = NARA__SUBMIT__INIT;
	struct nara_err err = { 0 };
	size_t size = 3u << 20, len = 0;
	uint8_t *data = calloc(1, size), *buf;

	cr_assert_not_null(data);
	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &s;
	s.envelope = fx_envelope(&fx, NARA__MESSAGE_TYPE__REFERRAL);
	fx_attach(&fx, "rontgen.dcm", data, size);
	cr_assert_not_null(buf = frame_encode(&f, &len));
	back = frame_decode(buf, len, 16u << 20, &err);
	cr_assert_not_null(back, "%s %s", nara_code_id(err.code), err.text);
	cr_expect_eq(validate_frame(back, NULL, fx_now(), &err), 0, "%s", err.text);
	frame_free(&back);
	free(buf);
	free(data);
}

Test(codec, free_and_encode_accept_null)
{
	Nara__Frame *f = NULL;
	size_t len = 7;

	frame_free(&f);
	frame_free(NULL);
	cr_expect_null(f);
	cr_expect_null(frame_encode(NULL, &len));
	cr_expect_eq(len, 7);
}

Test(codec, limits_default)
{
	struct validate_limits lim;

	validate_limits_default(&lim);
	cr_expect_eq(lim.max_message_bytes, 16u * 1024 * 1024);
	cr_expect_eq(lim.max_attachments, 20);
	cr_expect_eq(lim.max_attachment_bytes, 10u * 1024 * 1024);
	cr_expect_eq(lim.max_text_bytes, 64u * 1024);
}

/* ---------------------------------------------------------------- type names */

Test(message_type, names_round_trip)
{
	static const char *const names[] = {
		NULL, "referral", "referral_response", "consultation_request",
		"consultation_response", "sip_invitation", "sip_response",
		"report_of_concern",
	};

	for (int t = 1; t <= 7; t++) {
		Nara__MessageType back = NARA__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED;

		cr_expect_str_eq(message_type_name((Nara__MessageType)t), names[t]);
		cr_assert_eq(message_type_parse(names[t], &back), 0);
		cr_expect_eq(back, t);
	}
}

Test(message_type, unknown_names_and_values)
{
	Nara__MessageType t = NARA__MESSAGE_TYPE__REFERRAL;

	cr_expect_eq(message_type_parse("REFERRAL", &t), -1);
	cr_expect_eq(message_type_parse("", &t), -1);
	cr_expect_eq(message_type_parse("unspecified", &t), -1);
	cr_expect_eq(message_type_parse(NULL, &t), -1);
	cr_expect_eq(t, NARA__MESSAGE_TYPE__REFERRAL);
	cr_expect_str_eq(message_type_name(NARA__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED),
	    "unspecified");
	cr_expect_str_eq(message_type_name((Nara__MessageType)8), "unknown");
	cr_expect_str_eq(message_type_name((Nara__MessageType)-1), "unknown");
}

/* frame_wrap builds, around stored bytes, the frame the encoder would. */
static void
expect_wrapped_equals_encoded(const Nara__Frame *f, Nara__Frame__KindCase kind,
    bool envelope, const uint8_t *inner, size_t inner_len, unsigned attempt)
{
	size_t want_len, got_len;
	uint8_t *want = frame_encode(f, &want_len);
	uint8_t *got = frame_wrap(kind, envelope, inner, inner_len, attempt,
	    &got_len);

	cr_assert(want != NULL && got != NULL);
	cr_expect_eq(got_len, want_len);
	cr_expect(got_len == want_len && memcmp(got, want, got_len) == 0,
	    "wrapped bytes differ from the encoded frame");
	free(want);
	free(got);
}

Test(frame, wrap_matches_encoder)
{
	Nara__Envelope *e = fx_envelope(&fx, NARA__MESSAGE_TYPE__REFERRAL);
	size_t env_len = nara__envelope__get_packed_size(e);
	uint8_t *env = malloc(env_len);
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Submit s = NARA__SUBMIT__INIT;
	Nara__Deliver d = NARA__DELIVER__INIT;
	Nara__Receipt r = NARA__RECEIPT__INIT;
	uint8_t rbuf[256];
	size_t rlen;

	cr_assert(env != NULL);
	nara__envelope__pack(e, env);
	s.envelope = e;
	f.kind_case = NARA__FRAME__KIND_SUBMIT;
	f.submit = &s;
	expect_wrapped_equals_encoded(&f, NARA__FRAME__KIND_SUBMIT, true, env,
	    env_len, 0);
	d.envelope = e;
	f.kind_case = NARA__FRAME__KIND_DELIVER;
	f.deliver = &d;
	for (unsigned attempt = 1; attempt < 100000; attempt *= 300) {
		d.attempt = attempt;
		expect_wrapped_equals_encoded(&f, NARA__FRAME__KIND_DELIVER, true,
		    env, env_len, attempt);
	}
	r.message_id = pb_str(MID);
	r.outcome = NARA__OUTCOME__OUTCOME_DELIVERED;
	r.time = pb_str("2026-11-23T08:00:00Z");
	rlen = nara__receipt__pack(&r, rbuf);
	f.kind_case = NARA__FRAME__KIND_RECEIPT;
	f.receipt = &r;
	expect_wrapped_equals_encoded(&f, NARA__FRAME__KIND_RECEIPT, false, rbuf,
	    rlen, 0);
	free(env);
}
