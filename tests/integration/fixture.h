/*
 * fixture.h — valid envelopes for tests and benchmarks.
 */
#ifndef NARA_TEST_FIXTURE_H
#define NARA_TEST_FIXTURE_H

#include "nara.pb-c.h"

/* A valid envelope of the given type from sender to recipient with a fresh
 * message id; owned by the fixture, valid until the next call on it. */
struct fixture;
struct fixture *fixture_new(void);
void fixture_free(struct fixture **fx);
Nara__Envelope *fixture_envelope(struct fixture *fx, Nara__MessageType type,
    const char *sender, const char *recipient);
void fixture_new_id(char out[37]);

#endif
