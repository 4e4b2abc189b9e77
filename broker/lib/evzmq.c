/*
 * evzmq.c — edge-triggered ZMQ_FD integration with libevent.
 */
#include "evzmq.h"

#include <stdbool.h>
#include <stdlib.h>

#include <zmq.h>

#include "log.h"

struct evzmq {
	void *zsock;
	struct event *ev;
	evzmq_cb cb;
	void *arg;
	bool held;               /* evzmq_hold: no callback until released */
	bool missed;             /* the socket signalled while held */
};

static int
zsock_readable(void *zsock)
{
	int events = 0;
	size_t len = sizeof(events);

	if (zmq_getsockopt(zsock, ZMQ_EVENTS, &events, &len) != 0)
		return 0;
	return (events & ZMQ_POLLIN) != 0;
}

static void
evzmq_on_fd(evutil_socket_t fd, short what, void *arg)
{
	struct evzmq *ez = arg;

	if (ez->held) {
		/* ZMQ_EVENTS reads the socket's commands, which clears ZMQ_FD
		 * (else the loop would wake for it again and again); the
		 * release looks at the socket again */
		(void)zsock_readable(ez->zsock);
		ez->missed = true;
		return;
	}
	/* One callback round per event; if input remains, schedule another
	 * round rather than looping here, so timers and signals still run. */
	if (zsock_readable(ez->zsock))
		ez->cb(ez->zsock, ez->arg);
	if (zsock_readable(ez->zsock))
		event_active(ez->ev, EV_READ, 0);
}

struct evzmq *
evzmq_new(struct event_base *base, void *zsock, evzmq_cb cb, void *arg)
{
	struct evzmq *ez;
	int fd;
	size_t len = sizeof(fd);

	if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &len) != 0) {
		log_error("evzmq: ZMQ_FD: %s", zmq_strerror(zmq_errno()));
		return NULL;
	}
	if ((ez = calloc(1, sizeof(*ez))) == NULL)
		return NULL;
	ez->zsock = zsock;
	ez->cb = cb;
	ez->arg = arg;
	ez->ev = event_new(base, fd, EV_READ | EV_PERSIST, evzmq_on_fd, ez);
	if (ez->ev == NULL || event_add(ez->ev, NULL) != 0) {
		evzmq_free(&ez);
		return NULL;
	}
	/* Messages may already be waiting: the edge happened before we watched. */
	event_active(ez->ev, EV_READ, 0);
	return ez;
}

void
evzmq_free(struct evzmq **ezp)
{
	if (ezp == NULL || *ezp == NULL)
		return;
	if ((*ezp)->ev != NULL)
		event_free((*ezp)->ev);
	free(*ezp);
	*ezp = NULL;
}

/* A release looks at the socket again only when it signalled meanwhile:
 * input that was there before the hold has an event queued already (see
 * evzmq_on_fd), and every look costs libzmq's command check (a poll and a
 * getpid) even on a socket nobody talks to. */
void
evzmq_hold(struct evzmq *ez, bool held)
{
	if (ez == NULL)
		return;
	ez->held = held;
	if (!held && ez->missed) {
		ez->missed = false;
		evzmq_poke(ez);
	}
}

void
evzmq_poke(struct evzmq *ez)
{
	if (ez == NULL)
		return;
	if (ez->held)
		ez->missed = true;      /* the release looks at the socket */
	else if (zsock_readable(ez->zsock))
		event_active(ez->ev, EV_READ, 0);
}
