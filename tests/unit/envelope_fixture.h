/*
 * envelope_fixture.h — valid envelopes of every message type for the unit
 * tests, with fixed ids and times so that results never depend on the
 * clock. Everything lives inside struct env_fixture (usually on the test's
 * stack); strings are borrowed literals, so never free_unpacked the result.
 * fx_refused()/fx_accepted() assert the outcome of validate_envelope.
 */
#ifndef NARA_TEST_ENVELOPE_FIXTURE_H
#define NARA_TEST_ENVELOPE_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

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
#define FX_MAX_ATT  4

struct env_fixture {
	Nara__Envelope env;
	Nara__Author author;
	Nara__Subject subject;
	Nara__ChildParticipation part;
	Nara__Referral referral;
	Nara__ReferralResponse referral_response;
	Nara__ConsultationRequest consultation_request;
	Nara__ConsultationResponse consultation_response;
	Nara__SipInvitation sip;
	Nara__InvitedParty party, *parties[1];
	char *times[2];
	Nara__SipResponse sip_response;
	Nara__ReportOfConcern concern;
	Nara__Attachment att[FX_MAX_ATT], *atts[FX_MAX_ATT];
	uint8_t sha[FX_MAX_ATT][32];
};

/* FX_NOW_TEXT as epoch seconds: a day after FX_CREATED, long before expiry. */
static inline int64_t
fx_now(void)
{
	int64_t t = 0;

	validate_time(FX_NOW_TEXT, &t, NULL, NULL);
	return t;
}

static inline void
fx_body(struct env_fixture *fx, Nara__MessageType type)
{
	Nara__Envelope *e = &fx->env;

	switch (type) {
	case NARA__MESSAGE_TYPE__REFERRAL:
		fx->referral.reason = pb_str("Långvarig oro och skolfrånvaro.");
		e->body_case = NARA__ENVELOPE__BODY_REFERRAL;
		e->referral = &fx->referral;
		break;
	case NARA__MESSAGE_TYPE__REFERRAL_RESPONSE:
		fx->referral_response.decision = NARA__REFERRAL_DECISION__REFERRAL_ACCEPTED;
		fx->referral_response.planned_date = pb_str(FX_MEETING);
		e->body_case = NARA__ENVELOPE__BODY_REFERRAL_RESPONSE;
		e->referral_response = &fx->referral_response;
		break;
	case NARA__MESSAGE_TYPE__CONSULTATION_REQUEST:
		fx->consultation_request.question = pb_str("Hur stöttar vi eleven?");
		e->body_case = NARA__ENVELOPE__BODY_CONSULTATION_REQUEST;
		e->consultation_request = &fx->consultation_request;
		break;
	case NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE:
		fx->consultation_response.answer = pb_str("Anpassa schemat.");
		e->body_case = NARA__ENVELOPE__BODY_CONSULTATION_RESPONSE;
		e->consultation_response = &fx->consultation_response;
		break;
	case NARA__MESSAGE_TYPE__SIP_INVITATION:
		fx->party.name = pb_str("Amira Ali");
		fx->party.role = pb_str("vårdnadshavare");
		fx->parties[0] = &fx->party;
		fx->times[0] = pb_str(FX_MEETING);
		fx->times[1] = pb_str("2026-12-08T09:00:00+01:00");
		fx->sip.n_proposed_times = 2;
		fx->sip.proposed_times = fx->times;
		fx->sip.mode = NARA__MEETING_MODE__MEETING_IN_PERSON;
		fx->sip.place = pb_str("Socialtjänsten, mötesrum Ekbacken");
		fx->sip.n_invited = 1;
		fx->sip.invited = fx->parties;
		e->body_case = NARA__ENVELOPE__BODY_SIP_INVITATION;
		e->sip_invitation = &fx->sip;
		break;
	case NARA__MESSAGE_TYPE__SIP_RESPONSE:
		fx->sip_response.answer = NARA__SIP_ANSWER__SIP_ACCEPT;
		fx->sip_response.accepted_time = pb_str(FX_MEETING);
		e->body_case = NARA__ENVELOPE__BODY_SIP_RESPONSE;
		e->sip_response = &fx->sip_response;
		break;
	default:
		fx->concern.observations = pb_str("Blåmärken i olika läkningsstadier.");
		fx->concern.urgency = NARA__URGENCY__URGENCY_URGENT;
		fx->concern.guardians_informed = true;
		e->body_case = NARA__ENVELOPE__BODY_REPORT_OF_CONCERN;
		e->report_of_concern = &fx->concern;
		break;
	}
}

/* Legal basis per type: consultations de-identified, reports of concern
 * mandatory, everything else with guardian consent and a subject. */
static inline void
fx_basis(struct env_fixture *fx, Nara__MessageType type)
{
	Nara__Envelope *e = &fx->env;

	if (type == NARA__MESSAGE_TYPE__CONSULTATION_REQUEST ||
	    type == NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE) {
		e->legal_basis = NARA__LEGAL_BASIS__LEGAL_BASIS_DEIDENTIFIED;
		return;
	}
	e->legal_basis = type == NARA__MESSAGE_TYPE__REPORT_OF_CONCERN
	    ? NARA__LEGAL_BASIS__LEGAL_BASIS_MANDATORY_REPORT
	    : NARA__LEGAL_BASIS__LEGAL_BASIS_GUARDIAN_CONSENT;
	fx->subject.personal_number = pb_str(FX_PNR);
	fx->subject.name = pb_str("Elsa Karlsson");
	e->subject = &fx->subject;
}

/* A valid envelope of the given type, school health -> child psychiatry. */
static inline Nara__Envelope *
fx_envelope(struct env_fixture *fx, Nara__MessageType type)
{
	Nara__Envelope *e = &fx->env;

	memset(fx, 0, sizeof(*fx));
	nara__envelope__init(e);
	nara__author__init(&fx->author);
	nara__subject__init(&fx->subject);
	nara__child_participation__init(&fx->part);
	nara__referral__init(&fx->referral);
	nara__referral_response__init(&fx->referral_response);
	nara__consultation_request__init(&fx->consultation_request);
	nara__consultation_response__init(&fx->consultation_response);
	nara__sip_invitation__init(&fx->sip);
	nara__invited_party__init(&fx->party);
	nara__sip_response__init(&fx->sip_response);
	nara__report_of_concern__init(&fx->concern);
	e->message_id = pb_str(FX_ID);
	e->conversation_id = pb_str(FX_CONV);
	if (type == NARA__MESSAGE_TYPE__REFERRAL_RESPONSE ||
	    type == NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE ||
	    type == NARA__MESSAGE_TYPE__SIP_RESPONSE)
		e->in_reply_to = pb_str(FX_REPLY);
	e->type = type;
	e->sender = pb_str(FX_SCHOOL);
	e->recipient = pb_str(FX_BUP);
	fx->author.id = pb_str("GBG-EH-4711");
	fx->author.name = pb_str("Anna Lindqvist");
	fx->author.role = pb_str("skolsköterska");
	e->author = &fx->author;
	e->created = pb_str(FX_CREATED);
	e->expires = pb_str(FX_EXPIRES);
	e->priority = NARA__PRIORITY__PRIORITY_ROUTINE;
	fx->part.participation = NARA__PARTICIPATION__PARTICIPATION_HEARD;
	fx->part.text = pb_str("Eleven har fått berätta själv.");
	e->child_participation = &fx->part;
	fx_basis(fx, type);
	fx_body(fx, type);
	return e;
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
