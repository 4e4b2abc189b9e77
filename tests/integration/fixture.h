/*
 * fixture.h — valid envelopes of every message type for the unit tests,
 * the integration tests and the benchmarks: one builder (fixture_fill)
 * that fills a struct env_fixture, used with fixed ids and times by the
 * unit tests (tests/unit/envelope_fixture.h) and with fresh ids and the
 * current time by everything that talks to a running narad (fixture_new,
 * fixture_envelope). No test framework is needed, so benchmarks link it.
 */
#ifndef NARA_TEST_FIXTURE_H
#define NARA_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nara.pb-c.h"

#define FX_MAX_ATT 4

/* Every part of one envelope, so a test can change any field in place.
 * Strings are borrowed (literals or the caller's buffers): never
 * free_unpacked the envelope. */
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

/* What differs between uses; every string borrowed and required except
 * reply (used for the three response types). */
struct fixture_spec {
	const char *id, *conversation, *reply;
	const char *sender, *recipient, *author_id;
	const char *created, *expires;
	const char *meeting, *meeting2;     /* SIP times, planned date */
	const char *personal_number;
	/* Responses carry the child with guardian consent (true) or are
	 * de-identified (false); consultation requests are always
	 * de-identified, reports of concern a mandatory report. */
	bool identified_responses;
};

/* Fill fx (zeroed first) with a valid envelope of type; returns &fx->env. */
Nara__Envelope *fixture_fill(struct env_fixture *fx, Nara__MessageType type,
    const struct fixture_spec *spec);

/* A valid envelope of the given type from sender to recipient with a fresh
 * message id and the current time; owned by the fixture, valid until the
 * next call on it. */
struct fixture;
struct fixture *fixture_new(void);
void fixture_free(struct fixture **fx);
Nara__Envelope *fixture_envelope(struct fixture *fx, Nara__MessageType type,
    const char *sender, const char *recipient);
void fixture_new_id(char out[37]);

#endif
