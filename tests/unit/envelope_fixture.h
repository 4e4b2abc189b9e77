/*
 * envelope_fixture.h — valid envelopes of every message type for the unit
 * tests, with fixed ids and times so that results never depend on the
 * clock: the shared builder of tests/integration/fixture.h with fixed
 * values. Everything lives inside struct env_fixture (usually on the
 * test's stack); strings are borrowed literals, so never free_unpacked the
 * result. fx_refused()/fx_accepted() assert the outcome of
 * validate_envelope.
 */
#ifndef NARA_TEST_ENVELOPE_FIXTURE_H
#define NARA_TEST_ENVELOPE_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "fixture.h"
#include "nara.pb-c.h"
#include "pbstr.h"
#include "validate.h"

#define FX_ID       "3f1c2a7e-5b8d-4e21-9c43-0a6d2f1b8e57"
#define FX_CONV     "8a4e6c12-d3f7-4b09-a5e1-27c9b0f46d33"
#define FX_REPLY    "c6e81f25-7a49-4d3b-b0c2-91f4e6a2d708"
#define FX_SCHOOL   "kommun:1480:elevhalsa"
#define FX_BUP      "SE2321000131-E000000000101"
#define FX_CREATED  "2026-11-23T08:00:00Z"
#define FX_EXPIRES  "2026-12-21T08:00:00Z"
#define FX_MEETING  "2026-12-03T13:00:00+01:00"
#define FX_NOW_TEXT "2026-11-24T00:00:00Z"
#define FX_PNR      "201304172388"   /* fictitious, valid check digit */

/* FX_NOW_TEXT as epoch seconds: a day after FX_CREATED, long before expiry. */
static inline int64_t
fx_now(void)
{
	int64_t t = 0;

	validate_time(FX_NOW_TEXT, &t, NULL, NULL);
	return t;
}

/* A valid envelope of the given type, school health -> child psychiatry,
 * built by the shared fixture_fill with the fixed values above. Responses
 * carry the child with guardian consent; consultations are de-identified. */
static inline Nara__Envelope *
fx_envelope(struct env_fixture *fx, Nara__MessageType type)
{
	static const struct fixture_spec spec = {
		.id = FX_ID, .conversation = FX_CONV, .reply = FX_REPLY,
		.sender = FX_SCHOOL, .recipient = FX_BUP,
		.author_id = "GBG-EH-4711",
		.created = FX_CREATED, .expires = FX_EXPIRES,
		.meeting = FX_MEETING, .meeting2 = "2026-12-08T09:00:00+01:00",
		.personal_number = FX_PNR, .identified_responses = true,
	};

	return fixture_fill(fx, type, &spec);
}

/* Append an attachment with a correct SHA-256 of data (borrowed). */
static inline Nara__Attachment *
fx_attach(struct env_fixture *fx, const char *name, const void *data, size_t len)
{
	size_t i = fx->env.n_attachments;
	Nara__Attachment *a = &fx->att[i];
	unsigned int n = 0;

	nara__attachment__init(a);
	a->media_type = pb_str("application/pdf");
	a->file_name = pb_str(name);
	a->data.data = (uint8_t *)(uintptr_t)data;
	a->data.len = len;
	EVP_Digest(data, len, fx->sha[i], &n, EVP_sha256(), NULL);
	a->sha256.data = fx->sha[i];
	a->sha256.len = n;
	fx->atts[i] = a;
	fx->env.attachments = fx->atts;
	fx->env.n_attachments = i + 1;
	return a;
}

/* validate_envelope must fail with exactly this code and path. */
static inline void
fx_refused_with(const Nara__Envelope *e, const struct validate_limits *lim,
    int64_t now, enum nara_code code, const char *path)
{
	struct nara_err err = { 0 };

	cr_assert_eq(validate_envelope(e, lim, now, &err), -1,
	    "accepted, expected %s at %s", nara_code_id(code), path);
	cr_expect_eq(err.code, code, "got %s %s: %s", nara_code_id(err.code),
	    err.path, err.text);
	cr_expect_str_eq(err.path, path, "got %s %s: %s", nara_code_id(err.code),
	    err.path, err.text);
}

static inline void
fx_refused(const Nara__Envelope *e, enum nara_code code, const char *path)
{
	struct validate_limits lim;

	validate_limits_default(&lim);
	fx_refused_with(e, &lim, fx_now(), code, path);
}

static inline void
fx_accepted(const Nara__Envelope *e)
{
	struct validate_limits lim;
	struct nara_err err = { 0 };

	validate_limits_default(&lim);
	cr_expect_eq(validate_envelope(e, &lim, fx_now(), &err), 0,
	    "refused: %s %s: %s", nara_code_id(err.code), err.path, err.text);
}

#endif
