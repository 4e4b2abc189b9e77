/*
 * test_validate_envelope.c — every envelope rule of docs/PROTOCOL.md
 * section 5, one test per rule, each asserting the exact catalogue code and
 * field path; plus a valid envelope of every message type. Attachment, size
 * and text rules are in test_validate.c.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "envelope_fixture.h"
#include "validate.h"

static struct env_fixture fx;

#define REFERRAL       NARA__MESSAGE_TYPE__REFERRAL
#define REF_RESPONSE   NARA__MESSAGE_TYPE__REFERRAL_RESPONSE
#define CONS_REQUEST   NARA__MESSAGE_TYPE__CONSULTATION_REQUEST
#define CONS_RESPONSE  NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE
#define SIP_INVITATION NARA__MESSAGE_TYPE__SIP_INVITATION
#define SIP_RESPONSE   NARA__MESSAGE_TYPE__SIP_RESPONSE
#define CONCERN        NARA__MESSAGE_TYPE__REPORT_OF_CONCERN
#define BASIS(b)       NARA__LEGAL_BASIS__LEGAL_BASIS_##b

/* ---------------------------------------------------------------- valid */

Test(envelope_valid, referral) { fx_accepted(fx_envelope(&fx, REFERRAL)); }
Test(envelope_valid, referral_response) { fx_accepted(fx_envelope(&fx, REF_RESPONSE)); }
Test(envelope_valid, consultation_request) { fx_accepted(fx_envelope(&fx, CONS_REQUEST)); }
Test(envelope_valid, consultation_response) { fx_accepted(fx_envelope(&fx, CONS_RESPONSE)); }
Test(envelope_valid, sip_invitation) { fx_accepted(fx_envelope(&fx, SIP_INVITATION)); }
Test(envelope_valid, sip_response) { fx_accepted(fx_envelope(&fx, SIP_RESPONSE)); }
Test(envelope_valid, report_of_concern) { fx_accepted(fx_envelope(&fx, CONCERN)); }

Test(envelope_valid, identified_consultation_with_own_consent)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_REQUEST);

	e->legal_basis = BASIS(OWN_CONSENT);
	fx.subject.personal_number = pb_str("201902140621");
	e->subject = &fx.subject;
	fx_accepted(e);
}

Test(envelope_valid, optional_fields_may_be_empty)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_REQUEST);

	e->conversation_id = pb_str("");
	e->expires = pb_str("");
	e->child_participation = NULL;
	fx_accepted(e);
}

Test(envelope_valid, null_envelope_refused)
{
	fx_refused(NULL, NR_MISSING_FIELD, "envelope");
}

/* ---------------------------------------------------------------- ids */

Test(envelope_ids, message_id_missing)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->message_id = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.message_id");
}

Test(envelope_ids, message_id_not_uuid)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->message_id = pb_str("msg-1");
	fx_refused(e, NR_BAD_MESSAGE_ID, "envelope.message_id");
}

Test(envelope_ids, conversation_id_not_uuid)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->conversation_id = pb_str("3f1c2a7e5b8d4e219c430a6d2f1b8e57");
	fx_refused(e, NR_BAD_MESSAGE_ID, "envelope.conversation_id");
}

Test(envelope_ids, in_reply_to_not_uuid)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->in_reply_to = pb_str("yesterday's referral");
	fx_refused(e, NR_BAD_MESSAGE_ID, "envelope.in_reply_to");
}

/* ---------------------------------------------------------------- type and body */

Test(envelope_type, unspecified)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->type = NARA__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.type");
}

Test(envelope_type, unknown_value)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->type = (Nara__MessageType)42;
	fx_refused(e, NR_BAD_VALUE, "envelope.type");
}

Test(envelope_type, body_missing)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->body_case = NARA__ENVELOPE__BODY__NOT_SET;
	fx_refused(e, NR_MISSING_FIELD, "envelope.body");
}

Test(envelope_type, body_does_not_match_type)
{
	Nara__Envelope *e = fx_envelope(&fx, CONCERN);

	e->type = REFERRAL;
	e->legal_basis = BASIS(GUARDIAN_CONSENT);
	fx_refused(e, NR_TYPE_MISMATCH, "envelope.type");
}

/* ---------------------------------------------------------------- addresses */

Test(envelope_address, sender_missing)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->sender = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.sender");
}

Test(envelope_address, recipient_missing)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->recipient = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.recipient");
}

Test(envelope_address, sender_invalid)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->sender = pb_str("kommun:1480:kultur");
	fx_refused(e, NR_BAD_ADDRESS, "envelope.sender");
}

Test(envelope_address, recipient_invalid)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->recipient = pb_str("SE2321000131-");
	fx_refused(e, NR_BAD_ADDRESS, "envelope.recipient");
}

Test(envelope_address, sender_equals_recipient)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->recipient = pb_str(FX_SCHOOL);
	fx_refused(e, NR_BAD_ADDRESS, "envelope.recipient");
}

/* ---------------------------------------------------------------- author */

Test(envelope_author, missing)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->author = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.author");
}

Test(envelope_author, id_missing)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	fx.author.id = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.author.id");
}

Test(envelope_author, role_missing)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	fx.author.role = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.author.role");
}

/* ---------------------------------------------------------------- times */

Test(envelope_time, created_missing)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->created = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.created");
}

Test(envelope_time, created_invalid)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->created = pb_str("2026-02-30T08:00:00Z");
	fx_refused(e, NR_BAD_TIME, "envelope.created");
}

Test(envelope_time, expires_invalid)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->expires = pb_str("2026-12-21");
	fx_refused(e, NR_BAD_TIME, "envelope.expires");
}

Test(envelope_time, expires_not_after_created)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->expires = pb_str(FX_CREATED);
	fx_refused(e, NR_BAD_TIME, "envelope.expires");
	e->expires = pb_str("2026-11-23T07:59:59Z");
	fx_refused(e, NR_BAD_TIME, "envelope.expires");
}

Test(envelope_time, already_expired)
{
	struct validate_limits lim;
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);
	int64_t expires = 0;

	validate_limits_default(&lim);
	e->expires = pb_str("2026-11-23T20:00:00Z");
	fx_refused(e, NR_EXPIRED, "envelope.expires");
	/* exactly at the expiry second counts as expired */
	cr_assert_eq(validate_time("2026-11-23T20:00:00Z", &expires, NULL, NULL), 0);
	fx_refused_with(e, &lim, expires, NR_EXPIRED, "envelope.expires");
}

Test(envelope_time, no_clock_checks_when_now_is_zero)
{
	struct validate_limits lim;
	struct nara_err err = { 0 };
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	validate_limits_default(&lim);
	e->created = pb_str("2001-01-01T00:00:00Z");
	e->expires = pb_str("2001-01-02T00:00:00Z");
	cr_expect_eq(validate_envelope(e, &lim, 0, &err), 0, "%s", err.text);
}

Test(envelope_time, created_far_in_the_future)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	/* now is 2026-11-24T00:00Z: 23 h ahead is clock skew, 25 h is not */
	e->created = pb_str("2026-11-24T23:00:00Z");
	fx_accepted(e);
	e->created = pb_str("2026-11-25T01:00:00Z");
	fx_refused(e, NR_BAD_TIME, "envelope.created");
}

/* ---------------------------------------------------------------- priority */

Test(envelope_priority, unspecified)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->priority = NARA__PRIORITY__PRIORITY_UNSPECIFIED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.priority");
}

Test(envelope_priority, unknown_value)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->priority = (Nara__Priority)4;
	fx_refused(e, NR_BAD_VALUE, "envelope.priority");
}

/* ---------------------------------------------------------------- legal basis */

Test(legal_basis, unspecified)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->legal_basis = BASIS(UNSPECIFIED);
	fx_refused(e, NR_NO_LEGAL_BASIS, "envelope.legal_basis");
}

Test(legal_basis, unknown_value)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->legal_basis = (Nara__LegalBasis)5;
	fx_refused(e, NR_BAD_VALUE, "envelope.legal_basis");
}

Test(legal_basis, report_of_concern_needs_mandatory_report)
{
	Nara__Envelope *e = fx_envelope(&fx, CONCERN);

	e->legal_basis = BASIS(GUARDIAN_CONSENT);
	fx_refused(e, NR_LEGAL_BASIS_MISFIT, "envelope.legal_basis");
	e->legal_basis = BASIS(DEIDENTIFIED);
	fx_refused(e, NR_LEGAL_BASIS_MISFIT, "envelope.legal_basis");
}

Test(legal_basis, report_of_concern_needs_subject)
{
	Nara__Envelope *e = fx_envelope(&fx, CONCERN);

	e->subject = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.subject");
}

Test(legal_basis, referral_with_mandatory_report)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->legal_basis = BASIS(MANDATORY_REPORT);
	fx_refused(e, NR_LEGAL_BASIS_MISFIT, "envelope.legal_basis");
}

Test(legal_basis, referral_cannot_be_deidentified)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->legal_basis = BASIS(DEIDENTIFIED);
	e->subject = NULL;
	fx_refused(e, NR_LEGAL_BASIS_MISFIT, "envelope.legal_basis");
}

Test(legal_basis, referral_needs_subject)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->subject = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.subject");
}

Test(legal_basis, sip_invitation_cannot_be_deidentified)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	e->legal_basis = BASIS(DEIDENTIFIED);
	e->subject = NULL;
	fx_refused(e, NR_LEGAL_BASIS_MISFIT, "envelope.legal_basis");
	e->legal_basis = BASIS(MANDATORY_REPORT);
	fx_refused(e, NR_LEGAL_BASIS_MISFIT, "envelope.legal_basis");
}

Test(legal_basis, consultation_with_mandatory_report)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_REQUEST);

	e->legal_basis = BASIS(MANDATORY_REPORT);
	fx_refused(e, NR_LEGAL_BASIS_MISFIT, "envelope.legal_basis");
}

Test(legal_basis, deidentified_consultation_carries_subject)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_REQUEST);

	fx.subject.personal_number = pb_str(FX_PNR);
	e->subject = &fx.subject;
	fx_refused(e, NR_SUBJECT_NOT_ALLOWED, "envelope.subject");
}

Test(legal_basis, consented_consultation_without_subject)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_REQUEST);

	e->legal_basis = BASIS(GUARDIAN_CONSENT);
	fx_refused(e, NR_MISSING_FIELD, "envelope.subject");
}

Test(legal_basis, response_needs_in_reply_to)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_RESPONSE);

	e->in_reply_to = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.in_reply_to");
}

Test(legal_basis, deidentified_response_carries_subject)
{
	Nara__Envelope *e = fx_envelope(&fx, REF_RESPONSE);

	e->legal_basis = BASIS(DEIDENTIFIED);
	fx_refused(e, NR_SUBJECT_NOT_ALLOWED, "envelope.subject");
}

Test(legal_basis, deidentified_referral_response_accepted)
{
	Nara__Envelope *e = fx_envelope(&fx, REF_RESPONSE);

	e->legal_basis = BASIS(DEIDENTIFIED);
	e->subject = NULL;
	fx_accepted(e);
}

Test(legal_basis, consented_response_without_subject)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_RESPONSE);

	e->subject = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.subject");
}

Test(legal_basis, response_with_mandatory_report)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_RESPONSE);

	e->legal_basis = BASIS(MANDATORY_REPORT);
	fx_refused(e, NR_LEGAL_BASIS_MISFIT, "envelope.legal_basis");
}

Test(legal_basis, subject_personal_number_checked)
{
	Nara__Envelope *e = fx_envelope(&fx, CONCERN);

	fx.subject.personal_number = pb_str("201304172389");
	fx_refused(e, NR_BAD_PERSONAL_NUMBER, "envelope.subject.personal_number");
	fx.subject.personal_number = pb_str("");
	fx_refused(e, NR_BAD_PERSONAL_NUMBER, "envelope.subject.personal_number");
}

/* ---------------------------------------------------------------- participation */

Test(participation, required_on_referral)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	e->child_participation = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.child_participation");
}

Test(participation, required_on_sip_invitation)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	e->child_participation = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.child_participation");
}

Test(participation, required_on_report_of_concern)
{
	Nara__Envelope *e = fx_envelope(&fx, CONCERN);

	e->child_participation = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.child_participation");
}

Test(participation, value_must_be_set)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	fx.part.participation = NARA__PARTICIPATION__PARTICIPATION_UNSPECIFIED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.child_participation.participation");
}

Test(participation, value_must_be_known)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_RESPONSE);

	fx.part.participation = (Nara__Participation)9;
	fx_refused(e, NR_BAD_VALUE, "envelope.child_participation.participation");
}

Test(participation, optional_on_responses)
{
	Nara__Envelope *e = fx_envelope(&fx, REF_RESPONSE);

	e->child_participation = NULL;
	fx_accepted(e);
}

/* ---------------------------------------------------------------- bodies */

Test(body, referral_reason)
{
	Nara__Envelope *e = fx_envelope(&fx, REFERRAL);

	fx.referral.reason = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.referral.reason");
}

Test(body, referral_response_decision)
{
	Nara__Envelope *e = fx_envelope(&fx, REF_RESPONSE);

	fx.referral_response.decision = NARA__REFERRAL_DECISION__REFERRAL_DECISION_UNSPECIFIED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.referral_response.decision");
	fx.referral_response.decision = (Nara__ReferralDecision)5;
	fx_refused(e, NR_BAD_VALUE, "envelope.referral_response.decision");
}

Test(body, rejected_referral_needs_reason)
{
	Nara__Envelope *e = fx_envelope(&fx, REF_RESPONSE);

	fx.referral_response.decision = NARA__REFERRAL_DECISION__REFERRAL_REJECTED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.referral_response.reason");
	fx.referral_response.reason = pb_str("Tillhör vuxenpsykiatrin.");
	fx_accepted(e);
}

Test(body, forwarded_referral_needs_valid_address)
{
	Nara__Envelope *e = fx_envelope(&fx, REF_RESPONSE);

	fx.referral_response.decision = NARA__REFERRAL_DECISION__REFERRAL_FORWARDED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.referral_response.forwarded_to");
	fx.referral_response.forwarded_to = pb_str("BUP Borås");
	fx_refused(e, NR_BAD_ADDRESS, "envelope.referral_response.forwarded_to");
	fx.referral_response.forwarded_to = pb_str("SE2321000131-E000000000301");
	fx_accepted(e);
}

Test(body, referral_response_planned_date_is_a_time)
{
	Nara__Envelope *e = fx_envelope(&fx, REF_RESPONSE);

	fx.referral_response.planned_date = pb_str("next week");
	fx_refused(e, NR_BAD_TIME, "envelope.referral_response.planned_date");
}

Test(body, consultation_question)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_REQUEST);

	fx.consultation_request.question = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.consultation_request.question");
}

Test(body, consultation_answer)
{
	Nara__Envelope *e = fx_envelope(&fx, CONS_RESPONSE);

	fx.consultation_response.answer = NULL;
	fx_refused(e, NR_MISSING_FIELD, "envelope.consultation_response.answer");
}

Test(body, sip_invitation_needs_proposed_time)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	fx.sip.n_proposed_times = 0;
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_invitation.proposed_times");
}

Test(body, sip_invitation_proposed_times_are_times)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	fx.times[1] = pb_str("2026-12-08 09:00");
	fx_refused(e, NR_BAD_TIME, "envelope.sip_invitation.proposed_times[1]");
}

Test(body, sip_invitation_mode)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	fx.sip.mode = NARA__MEETING_MODE__MEETING_MODE_UNSPECIFIED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_invitation.mode");
	fx.sip.mode = (Nara__MeetingMode)4;
	fx_refused(e, NR_BAD_VALUE, "envelope.sip_invitation.mode");
	fx.sip.mode = NARA__MEETING_MODE__MEETING_PHONE;
	fx.sip.place = pb_str("");
	fx_accepted(e);
}

Test(body, sip_in_person_needs_place)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	fx.sip.place = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_invitation.place");
}

Test(body, sip_video_needs_link)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	fx.sip.mode = NARA__MEETING_MODE__MEETING_VIDEO;
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_invitation.video_link");
	fx.sip.video_link = pb_str("https://video.example.se/sip/1");
	fx_accepted(e);
}

Test(body, sip_invitation_needs_invited_party_with_name)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	fx.party.name = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_invitation.invited[0].name");
	fx.sip.n_invited = 0;
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_invitation.invited");
}

Test(body, sip_invited_party_address_checked)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_INVITATION);

	fx.party.address = pb_str("kommun:1490:fritid");
	fx_refused(e, NR_BAD_ADDRESS, "envelope.sip_invitation.invited[0].address");
	fx.party.address = pb_str("kommun:1490:elevhalsa");
	fx_accepted(e);
}

Test(body, sip_response_answer)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_RESPONSE);

	fx.sip_response.answer = NARA__SIP_ANSWER__SIP_ANSWER_UNSPECIFIED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_response.answer");
	fx.sip_response.answer = (Nara__SipAnswer)7;
	fx_refused(e, NR_BAD_VALUE, "envelope.sip_response.answer");
}

Test(body, sip_accept_needs_valid_time)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_RESPONSE);

	fx.sip_response.accepted_time = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_response.accepted_time");
	fx.sip_response.accepted_time = pb_str("2026-12-03T25:00:00Z");
	fx_refused(e, NR_BAD_TIME, "envelope.sip_response.accepted_time");
}

Test(body, sip_propose_needs_times)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_RESPONSE);

	fx.sip_response.answer = NARA__SIP_ANSWER__SIP_PROPOSE_OTHER_TIME;
	fx.sip_response.accepted_time = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_response.proposed_times");
	fx.times[0] = pb_str("2026-12-10T10:00:00Z");
	fx.times[1] = pb_str("tisdag");
	fx.sip_response.proposed_times = fx.times;
	fx.sip_response.n_proposed_times = 2;
	fx_refused(e, NR_BAD_TIME, "envelope.sip_response.proposed_times[1]");
	fx.sip_response.n_proposed_times = 1;
	fx_accepted(e);
}

Test(body, sip_decline_needs_reason)
{
	Nara__Envelope *e = fx_envelope(&fx, SIP_RESPONSE);

	fx.sip_response.answer = NARA__SIP_ANSWER__SIP_DECLINE;
	fx.sip_response.accepted_time = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.sip_response.reason");
	fx.sip_response.reason = pb_str("Vårdnadshavaren har återkallat samtycket.");
	fx_accepted(e);
}

Test(body, concern_observations)
{
	Nara__Envelope *e = fx_envelope(&fx, CONCERN);

	fx.concern.observations = pb_str("");
	fx_refused(e, NR_MISSING_FIELD, "envelope.report_of_concern.observations");
}

Test(body, concern_urgency)
{
	Nara__Envelope *e = fx_envelope(&fx, CONCERN);

	fx.concern.urgency = NARA__URGENCY__URGENCY_UNSPECIFIED;
	fx_refused(e, NR_MISSING_FIELD, "envelope.report_of_concern.urgency");
	fx.concern.urgency = (Nara__Urgency)3;
	fx_refused(e, NR_BAD_VALUE, "envelope.report_of_concern.urgency");
}

Test(body, concern_guardians_not_informed_needs_reason)
{
	Nara__Envelope *e = fx_envelope(&fx, CONCERN);

	fx.concern.guardians_informed = false;
	fx_refused(e, NR_MISSING_FIELD,
	    "envelope.report_of_concern.guardians_not_informed_reason");
	fx.concern.guardians_not_informed_reason = pb_str("Misstanke om våld i hemmet.");
	fx_accepted(e);
}
