/*
 * ha.h — active/standby narads on one shared store: the lease timer.
 *
 * With an [ha] section, narad starts as a standby: it keeps its
 * configuration and certificates loaded, answers naractl and /alive, and
 * asks the store for the lease every third of its term. When it gets the
 * lease it becomes active (the hooks start the broker and the TLS front);
 * from then on it renews the lease on the same timer. The moment it can no
 * longer be sure it holds the lease (taken over, or not renewed for two
 * thirds of the term, e.g. the database is gone) the lost hook stops it
 * serving. The store's fence makes sure that a narad which lost the lease
 * commits nothing, whether or not it noticed yet (docs/HA.md).
 */
#ifndef NARA_HA_H
#define NARA_HA_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"
#include "store.h"

struct event_base;
struct ha;

struct ha_hooks {
	/* The lease is ours: start serving. why says from whom and why
	 * ("first holder", "lease of narad-a (epoch 4) expired 3.2 s ago").
	 * Returns 0, or -1 to give the lease back (start-up failed). */
	int (*active)(void *arg, const struct store_lease *l, const char *why);
	/* The lease is not (certainly) ours any more: stop serving now. */
	void (*lost)(void *arg, const char *why);
	void *arg;
};

/* What naractl status, /metrics and the dashboard show. */
struct ha_view {
	bool enabled;
	bool active;
	const char *instance;
	int64_t epoch;              /* of the lease as last seen */
	char holder[64];            /* who holds it as last seen */
	int64_t lease_age_ms;       /* since the holder's last renewal, as last
	                             * seen (-1 unknown) */
	int64_t ttl_ms;
	int64_t since;              /* epoch seconds of the last role change */
	uint64_t failovers;         /* takeovers of this process */
	char last_error[256];       /* why the last step failed, "" if it did not */
};

/* The timer on base for the store st (borrowed; both outlive the ha), the
 * [ha] settings copied. The first step runs at once. NULL with err. */
struct ha *ha_new(struct event_base *base, struct store *st,
    const struct config_ha *cfg, const struct ha_hooks *hooks,
    struct nara_err *err);
void ha_free(struct ha **h);

/* The present role and lease, for status views. h may be NULL (no HA). */
void ha_view(const struct ha *h, struct ha_view *out);

/* naractl step-down: give the lease up now (the store commits nothing
 * more, a standby takes it at its next step) and stop the timer; the
 * caller then stops serving. 0, or -1 with err when this narad is not
 * active or the store could not be told. */
int ha_hand_over(struct ha *h, struct nara_err *err);

/* This narad just handed the lease over (and restarted): for one lease
 * term it only looks at the lease, so that a standby gets it. */
void ha_yield(struct ha *h);

/* A clean stop: give the lease up (if held) without the lost hook, so
 * that a standby takes over at its next step. Accepts NULL. */
void ha_release(struct ha *h);

#endif
