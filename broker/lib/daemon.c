/*
 * daemon.c — TERM/INT/HUP handling and the systemd watchdog for the
 * project's daemons, on their libevent loop.
 */
#include "daemon.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"

struct daemon_signals {
	struct event_base *base;
	const char *stop_text;
	int (*reload)(void *arg);
	void *arg;
	struct event *ev_term, *ev_int, *ev_hup, *ev_watchdog;
};

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_signals *ds = arg;

	log_info("signal %d: %s", (int)sig, ds->stop_text);
	sd_notify(0, "STOPPING=1");
	event_base_loopexit(ds->base, NULL);
}

int
daemon_reload(struct daemon_signals *ds)
{
	struct timespec ts;
	int rc;

	/* systemd wants the monotonic time of the reload start. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	rc = ds->reload(ds->arg);
	sd_notify(0, "READY=1");
	return rc;
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)daemon_reload(arg);   /* the reload logs and audits its outcome */
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

static int
add_signal(struct daemon_signals *ds, struct event **ev, int sig,
    event_callback_fn fn)
{
	*ev = evsignal_new(ds->base, sig, fn, ds);
	return *ev == NULL || evsignal_add(*ev, NULL) != 0 ? -1 : 0;
}

struct daemon_signals *
daemon_signals_new(struct event_base *base, const char *stop_text,
    int (*reload)(void *arg), void *arg)
{
	struct daemon_signals *ds = calloc(1, sizeof(*ds));
	uint64_t wd_usec = 0;

	if (ds == NULL)
		return NULL;
	ds->base = base;
	ds->stop_text = stop_text;
	ds->reload = reload;
	ds->arg = arg;
	signal(SIGPIPE, SIG_IGN);
	if (add_signal(ds, &ds->ev_term, SIGTERM, on_stop) != 0 ||
	    add_signal(ds, &ds->ev_int, SIGINT, on_stop) != 0 ||
	    add_signal(ds, &ds->ev_hup, SIGHUP, on_hup) != 0)
		goto fail;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		struct timeval tv = { (time_t)(wd_usec / 2000000),
		    (suseconds_t)((wd_usec / 2) % 1000000) };
		ds->ev_watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, ds);
		if (ds->ev_watchdog == NULL || event_add(ds->ev_watchdog, &tv) != 0)
			goto fail;
	}
	return ds;
fail:
	daemon_signals_free(&ds);
	return NULL;
}

void
daemon_signals_free(struct daemon_signals **ds)
{
	if (ds == NULL || *ds == NULL)
		return;
	if ((*ds)->ev_term != NULL)
		event_free((*ds)->ev_term);
	if ((*ds)->ev_int != NULL)
		event_free((*ds)->ev_int);
	if ((*ds)->ev_hup != NULL)
		event_free((*ds)->ev_hup);
	if ((*ds)->ev_watchdog != NULL)
		event_free((*ds)->ev_watchdog);
	free(*ds);
	*ds = NULL;
}
