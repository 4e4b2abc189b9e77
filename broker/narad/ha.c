/*
 * ha.c — the lease timer of an active/standby narad (see ha.h).
 */
#include "ha.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"

struct ha {
	struct store *st;
	struct ha_hooks hooks;
	char instance[64];
	int64_t ttl_ms;
	struct event *timer;
	struct store_lease seen;    /* the last answer */
	int64_t held_epoch;         /* 0 while standby */
	int64_t last_ok_ms;         /* monotonic: when the last renewal that
	                             * succeeded was sent */
	int64_t since;
	uint64_t failovers;
	char last_error[256];
	bool stepping;              /* inside a hook: no nested steps */
	int64_t yield_until_ms;     /* monotonic: only look at the lease
	                             * before then (after a hand-over) */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why the lease came to us, for the log and the takeover's audit row. */
static void
takeover_why(const struct ha *h, const struct store_lease *l, char *out,
    size_t len)
{
	if (l->prev_holder[0] == '\0')
		snprintf(out, len, "instance %s epoch %" PRId64 ": first holder "
		    "of the lease", h->instance, l->epoch);
	else if (strcmp(l->prev_holder, h->instance) == 0)
		snprintf(out, len, "instance %s epoch %" PRId64 ": this instance "
		    "restarted (epoch %" PRId64 " was its own)", h->instance,
		    l->epoch, l->prev_epoch);
	else
		snprintf(out, len, "instance %s epoch %" PRId64 ": lease of %s "
		    "(epoch %" PRId64 ") not renewed for %" PRId64 " ms",
		    h->instance, l->epoch, l->prev_holder, l->prev_epoch,
		    l->prev_age_ms);
}

static void
become_standby(struct ha *h, const char *why)
{
	h->held_epoch = 0;
	h->since = (int64_t)time(NULL);
	log_error("ha: stepping down, not serving: %s", why);
	h->stepping = true;
	h->hooks.lost(h->hooks.arg, why);
	h->stepping = false;
}

static void
become_active(struct ha *h, const struct store_lease *l, int64_t sent)
{
	char why[400];
	struct nara_err err = { 0 };

	takeover_why(h, l, why, sizeof(why));
	h->held_epoch = l->epoch;
	h->last_ok_ms = sent;
	h->since = (int64_t)time(NULL);
	if (l->prev_holder[0] != '\0' && strcmp(l->prev_holder, h->instance))
		h->failovers++;
	log_info("ha: active: %s", why);
	h->stepping = true;
	if (h->hooks.active(h->hooks.arg, l, why) != 0) {
		h->stepping = false;
		if (store_lease_release(h->st, h->instance, &err) != 0)
			log_error("ha: cannot give the lease back: %s", err.text);
		become_standby(h, "start-up as the active narad failed");
		return;
	}
	h->stepping = false;
}

/* One step: renew or try to take the lease, and act on the answer. */
static void
ha_step(struct ha *h)
{
	struct store_lease l = { .epoch = h->held_epoch };
	struct nara_err err = { 0 };
	int64_t sent = mono_ms();
	char why[400];

	if (h->held_epoch == 0 && sent < h->yield_until_ms)
		l.epoch = -1;           /* just handed over: look, do not take */

	if (store_lease(h->st, h->instance, h->ttl_ms, &l, &err) != 0) {
		snprintf(h->last_error, sizeof(h->last_error), "%s", err.text);
		log_warn("ha: lease step failed: %s", err.text);
		/* Renewals go out every third of the term: after two thirds
		 * without one, the lease may expire before we could know. */
		if (h->held_epoch != 0 && sent - h->last_ok_ms >= h->ttl_ms * 2 / 3) {
			snprintf(why, sizeof(why), "lease not renewed for %" PRId64
			    " ms: %s", sent - h->last_ok_ms, err.text);
			become_standby(h, why);
		}
		return;
	}
	h->last_error[0] = '\0';
	h->seen = l;
	if (h->held_epoch != 0 && l.active && l.epoch == h->held_epoch) {
		h->last_ok_ms = sent;
	} else if (h->held_epoch != 0) {
		/* A new epoch is a new take, even if it is ours: serving on
		 * would keep the old epoch's state and skip the takeover's
		 * audit row. Stop, and take it at a step as a standby. */
		if (l.active)
			snprintf(why, sizeof(why), "lease of epoch %" PRId64
			    " lost, held again as epoch %" PRId64,
			    h->held_epoch, l.epoch);
		else
			snprintf(why, sizeof(why), "lease taken over by %s "
			    "(epoch %" PRId64 ")", l.holder, l.epoch);
		become_standby(h, why);
	} else if (l.active) {
		become_active(h, &l, sent);
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ha *h = arg;

	if (!h->stepping)
		ha_step(h);
}

int
ha_hand_over(struct ha *h, struct nara_err *err)
{
	if (h == NULL || h->held_epoch == 0)
		return nara_err_set(err, NR_USAGE, "ha", "this narad is not the "
		    "active one");
	if (store_lease_release(h->st, h->instance, err) != 0)
		return -1;
	log_info("ha: lease of epoch %" PRId64 " handed over", h->held_epoch);
	h->held_epoch = 0;
	h->since = (int64_t)time(NULL);
	event_del(h->timer);
	return 0;
}

void
ha_yield(struct ha *h)
{
	h->yield_until_ms = mono_ms() + h->ttl_ms;
}

struct ha *
ha_new(struct event_base *base, struct store *st, const struct config_ha *cfg,
    const struct ha_hooks *hooks, struct nara_err *err)
{
	struct ha *h = calloc(1, sizeof(*h));
	struct timeval tv;

	if (h == NULL || (h->timer = event_new(base, -1, EV_PERSIST, on_timer,
	    h)) == NULL) {
		free(h);
		nara_err_set(err, NR_IO, "ha", "out of memory");
		return NULL;
	}
	h->st = st;
	h->hooks = *hooks;
	snprintf(h->instance, sizeof(h->instance), "%s", cfg->instance);
	h->ttl_ms = (int64_t)cfg->lease * 1000;
	h->since = (int64_t)time(NULL);
	h->seen.age_ms = -1;
	tv.tv_sec = h->ttl_ms / 3 / 1000;
	tv.tv_usec = (h->ttl_ms / 3 % 1000) * 1000;
	event_add(h->timer, &tv);
	event_active(h->timer, EV_TIMEOUT, 0);
	return h;
}

void
ha_free(struct ha **hp)
{
	struct ha *h = hp ? *hp : NULL;

	if (h == NULL)
		return;
	event_free(h->timer);
	free(h);
	*hp = NULL;
}

void
ha_view(const struct ha *h, struct ha_view *out)
{
	memset(out, 0, sizeof(*out));
	out->lease_age_ms = -1;
	if (h == NULL)
		return;
	out->enabled = true;
	out->active = h->held_epoch != 0;
	out->instance = h->instance;
	out->epoch = h->seen.epoch;
	snprintf(out->holder, sizeof(out->holder), "%s", h->seen.holder);
	out->lease_age_ms = out->active ? mono_ms() - h->last_ok_ms :
	    h->seen.age_ms;
	out->ttl_ms = h->ttl_ms;
	out->since = h->since;
	out->failovers = h->failovers;
	snprintf(out->last_error, sizeof(out->last_error), "%s", h->last_error);
}

void
ha_release(struct ha *h)
{
	struct nara_err err = { 0 };

	if (h == NULL || h->held_epoch == 0)
		return;
	if (store_lease_release(h->st, h->instance, &err) != 0)
		log_warn("ha: cannot hand the lease over at stop: %s; a standby "
		    "takes over when it expires", err.text);
	else
		log_info("ha: lease handed over (epoch %" PRId64 ")",
		    h->held_epoch);
	h->held_epoch = 0;
}
