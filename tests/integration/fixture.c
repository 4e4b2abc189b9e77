/*
 * fixture.c — valid envelopes of every message type (fixture.h): the one
 * builder, and the fresh-id, current-time form for tests that talk to a
 * running narad.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "fixture.h"
#include "pbstr.h"
#include "validate.h"

static void
fill_sip(struct env_fixture *fx, const struct fixture_spec *sp)
{
	fx->party.name = pb_str("Amira Ali");
	fx->party.role = pb_str("vårdnadshavare");
	fx->parties[0] = &fx->party;
	fx->times[0] = pb_str(sp->meeting);
	fx->times[1] = pb_str(sp->meeting2);
	fx->sip.n_proposed_times = 2;
	fx->sip.proposed_times = fx->times;
	fx->sip.mode = NARA__MEETING_MODE__MEETING_IN_PERSON;
	fx->sip.place = pb_str("Socialtjänsten, mötesrum Ekbacken");
	fx->sip.n_invited = 1;
	fx->sip.invited = fx->parties;
	fx->env.body_case = NARA__ENVELOPE__BODY_SIP_INVITATION;
	fx->env.sip_invitation = &fx->sip;
}

static void
fill_body(struct env_fixture *fx, Nara__MessageType type,
    const struct fixture_spec *sp)
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
		fx->referral_response.planned_date = pb_str(sp->meeting);
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
		fill_sip(fx, sp);
		break;
	case NARA__MESSAGE_TYPE__SIP_RESPONSE:
		fx->sip_response.answer = NARA__SIP_ANSWER__SIP_ACCEPT;
		fx->sip_response.accepted_time = pb_str(sp->meeting);
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

static bool
is_response(Nara__MessageType type)
{
	return type == NARA__MESSAGE_TYPE__REFERRAL_RESPONSE ||
	    type == NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE ||
	    type == NARA__MESSAGE_TYPE__SIP_RESPONSE;
}

/* Legal basis per type (see fixture_spec.identified_responses). */
static void
fill_basis(struct env_fixture *fx, Nara__MessageType type,
    const struct fixture_spec *sp)
{
	Nara__Envelope *e = &fx->env;

	if (type == NARA__MESSAGE_TYPE__CONSULTATION_REQUEST ||
	    (is_response(type) && (!sp->identified_responses ||
	    type == NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE))) {
		e->legal_basis = NARA__LEGAL_BASIS__LEGAL_BASIS_DEIDENTIFIED;
		return;
	}
	e->legal_basis = type == NARA__MESSAGE_TYPE__REPORT_OF_CONCERN
	    ? NARA__LEGAL_BASIS__LEGAL_BASIS_MANDATORY_REPORT
	    : NARA__LEGAL_BASIS__LEGAL_BASIS_GUARDIAN_CONSENT;
	fx->subject.personal_number = pb_str(sp->personal_number);
	fx->subject.name = pb_str("Elsa Karlsson");
	e->subject = &fx->subject;
}

static void
init_parts(struct env_fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	nara__envelope__init(&fx->env);
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
}

Nara__Envelope *
fixture_fill(struct env_fixture *fx, Nara__MessageType type,
    const struct fixture_spec *sp)
{
	Nara__Envelope *e = &fx->env;

	init_parts(fx);
	e->message_id = pb_str(sp->id);
	e->conversation_id = pb_str(sp->conversation);
	if (is_response(type))
		e->in_reply_to = pb_str(sp->reply);
	e->type = type;
	e->sender = pb_str(sp->sender);
	e->recipient = pb_str(sp->recipient);
	fx->author.id = pb_str(sp->author_id);
	fx->author.name = pb_str("Anna Lindqvist");
	fx->author.role = pb_str("skolsköterska");
	e->author = &fx->author;
	e->created = pb_str(sp->created);
	e->expires = pb_str(sp->expires);
	e->priority = NARA__PRIORITY__PRIORITY_ROUTINE;
	fx->part.participation = NARA__PARTICIPATION__PARTICIPATION_HEARD;
	fx->part.text = pb_str("Eleven har fått berätta själv.");
	e->child_participation = &fx->part;
	fill_basis(fx, type, sp);
	fill_body(fx, type, sp);
	return e;
}

/* ---------------------------------------------------------------- fresh */

struct fixture {
	struct env_fixture parts;
	char id[37], conv[37], reply[37], created[32], expires[32];
	char meeting[32], meeting2[32], pnr[13];
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

Nara__Envelope *
fixture_envelope(struct fixture *fx, Nara__MessageType type, const char *sender,
    const char *recipient)
{
	time_t now = time(NULL);
	struct fixture_spec sp = {
		.id = fx->id, .conversation = fx->conv, .reply = fx->reply,
		.sender = sender, .recipient = recipient,
		.author_id = "SE2321000131-P000000012345",
		.created = fx->created, .expires = fx->expires,
		.meeting = fx->meeting, .meeting2 = fx->meeting2,
		.personal_number = fx->pnr, .identified_responses = false,
	};

	fixture_new_id(fx->id);
	fixture_new_id(fx->conv);
	fixture_new_id(fx->reply);
	time_format(now, fx->created, sizeof(fx->created));
	time_format(now + 30 * 86400, fx->expires, sizeof(fx->expires));
	time_format(now + 14 * 86400, fx->meeting, sizeof(fx->meeting));
	time_format(now + 15 * 86400, fx->meeting2, sizeof(fx->meeting2));
	return fixture_fill(&fx->parts, type, &sp);
}
