/*
 * fixture.c — valid envelopes of every message type for tests and
 * benchmarks (no test framework needed, so tests/bench links it too).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "fixture.h"
#include "pbstr.h"
#include "validate.h"

struct fixture {
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
	char *times[1];
	Nara__SipResponse sip_response;
	Nara__ReportOfConcern concern;
	char id[37], conv[37], reply[37], created[32], expires[32], meeting[32];
	char pnr[13];
};

void
fixture_new_id(char out[37])
{
	unsigned char r[16];

	RAND_bytes(r, sizeof(r));
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5],
	    r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* A fictitious child born 2014-03-12 with a valid check digit. */
static void
make_pnr(char out[13])
{
	const char *body = "140312238";   /* YYMMDD + serial, without century */
	int sum = 0;

	for (int i = 0; i < 9; i++) {
		int d = (body[i] - '0') * (i % 2 == 0 ? 2 : 1);
		sum += d > 9 ? d - 9 : d;
	}
	snprintf(out, 13, "20%s%d", body, (10 - sum % 10) % 10);
}

struct fixture *
fixture_new(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		abort();
	make_pnr(fx->pnr);
	return fx;
}

void
fixture_free(struct fixture **fx)
{
	free(*fx);
	*fx = NULL;
}

static void
fixture_body(struct fixture *fx, Nara__MessageType type)
{
	Nara__Envelope *e = &fx->env;

	switch (type) {
	case NARA__MESSAGE_TYPE__REFERRAL:
		nara__referral__init(&fx->referral);
		fx->referral.reason = pb_str("Oro för koncentration och sömn.");
		e->body_case = NARA__ENVELOPE__BODY_REFERRAL;
		e->referral = &fx->referral;
		break;
	case NARA__MESSAGE_TYPE__REFERRAL_RESPONSE:
		nara__referral_response__init(&fx->referral_response);
		fx->referral_response.decision = NARA__REFERRAL_DECISION__REFERRAL_ACCEPTED;
		e->body_case = NARA__ENVELOPE__BODY_REFERRAL_RESPONSE;
		e->referral_response = &fx->referral_response;
		break;
	case NARA__MESSAGE_TYPE__CONSULTATION_REQUEST:
		nara__consultation_request__init(&fx->consultation_request);
		fx->consultation_request.question = pb_str("Hur stöttar vi en elev med tics?");
		e->body_case = NARA__ENVELOPE__BODY_CONSULTATION_REQUEST;
		e->consultation_request = &fx->consultation_request;
		break;
	case NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE:
		nara__consultation_response__init(&fx->consultation_response);
		fx->consultation_response.answer = pb_str("Anpassa schemat.");
		e->body_case = NARA__ENVELOPE__BODY_CONSULTATION_RESPONSE;
		e->consultation_response = &fx->consultation_response;
		break;
	case NARA__MESSAGE_TYPE__SIP_INVITATION:
		nara__sip_invitation__init(&fx->sip);
		nara__invited_party__init(&fx->party);
		fx->party.name = pb_str("Vårdnadshavare");
		fx->party.role = pb_str("vårdnadshavare");
		fx->parties[0] = &fx->party;
		fx->times[0] = fx->meeting;
		fx->sip.n_proposed_times = 1;
		fx->sip.proposed_times = fx->times;
		fx->sip.mode = NARA__MEETING_MODE__MEETING_VIDEO;
		fx->sip.video_link = pb_str("https://video.example.se/sip/1");
		fx->sip.n_invited = 1;
		fx->sip.invited = fx->parties;
		e->body_case = NARA__ENVELOPE__BODY_SIP_INVITATION;
		e->sip_invitation = &fx->sip;
		break;
	case NARA__MESSAGE_TYPE__SIP_RESPONSE:
		nara__sip_response__init(&fx->sip_response);
		fx->sip_response.answer = NARA__SIP_ANSWER__SIP_ACCEPT;
		fx->sip_response.accepted_time = fx->meeting;
		e->body_case = NARA__ENVELOPE__BODY_SIP_RESPONSE;
		e->sip_response = &fx->sip_response;
		break;
	case NARA__MESSAGE_TYPE__REPORT_OF_CONCERN:
	default:
		nara__report_of_concern__init(&fx->concern);
		fx->concern.observations = pb_str("Upprepade blåmärken.");
		fx->concern.urgency = NARA__URGENCY__URGENCY_NORMAL;
		fx->concern.guardians_informed = true;
		e->body_case = NARA__ENVELOPE__BODY_REPORT_OF_CONCERN;
		e->report_of_concern = &fx->concern;
		break;
	}
}

Nara__Envelope *
fixture_envelope(struct fixture *fx, Nara__MessageType type, const char *sender,
    const char *recipient)
{
	Nara__Envelope *e = &fx->env;
	time_t now = time(NULL);
	bool response = type == NARA__MESSAGE_TYPE__REFERRAL_RESPONSE ||
	    type == NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE ||
	    type == NARA__MESSAGE_TYPE__SIP_RESPONSE;
	bool deidentified = response ||
	    type == NARA__MESSAGE_TYPE__CONSULTATION_REQUEST;

	nara__envelope__init(e);
	nara__author__init(&fx->author);
	nara__subject__init(&fx->subject);
	nara__child_participation__init(&fx->part);
	fixture_new_id(fx->id);
	fixture_new_id(fx->conv);
	fixture_new_id(fx->reply);
	time_format(now, fx->created, sizeof(fx->created));
	time_format(now + 30 * 86400, fx->expires, sizeof(fx->expires));
	time_format(now + 14 * 86400, fx->meeting, sizeof(fx->meeting));
	e->message_id = fx->id;
	e->conversation_id = fx->conv;
	if (response)
		e->in_reply_to = fx->reply;
	e->type = type;
	e->sender = pb_str(sender);
	e->recipient = pb_str(recipient);
	fx->author.id = pb_str("SE2321000131-P000000012345");
	fx->author.name = pb_str("Anna Testsson");
	fx->author.role = pb_str("skolsköterska");
	e->author = &fx->author;
	e->created = fx->created;
	e->expires = fx->expires;
	e->priority = NARA__PRIORITY__PRIORITY_ROUTINE;
	fx->part.participation = NARA__PARTICIPATION__PARTICIPATION_HEARD;
	fx->part.text = pb_str("Eleven har fått berätta själv.");
	e->child_participation = &fx->part;
	if (type == NARA__MESSAGE_TYPE__REPORT_OF_CONCERN)
		e->legal_basis = NARA__LEGAL_BASIS__LEGAL_BASIS_MANDATORY_REPORT;
	else if (deidentified)
		e->legal_basis = NARA__LEGAL_BASIS__LEGAL_BASIS_DEIDENTIFIED;
	else
		e->legal_basis = NARA__LEGAL_BASIS__LEGAL_BASIS_GUARDIAN_CONSENT;
	if (!deidentified) {
		fx->subject.personal_number = fx->pnr;
		e->subject = &fx->subject;
	}
	fixture_body(fx, type);
	return e;
}
