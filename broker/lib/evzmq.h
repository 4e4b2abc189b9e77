/*
 * evzmq.h — a ZeroMQ socket inside a libevent loop.
 *
 * ZMQ_FD signals edge-triggered: it becomes readable when the socket's
 * ZMQ_EVENTS may have changed, not while a message is waiting. So after every
 * callback, and after every zmq_send/zmq_recv done elsewhere, the watcher must
 * re-read ZMQ_EVENTS and run the callback again if input remains; evzmq_poke()
 * does that. All calls on one socket stay in the loop's thread.
 */
#ifndef NARA_EVZMQ_H
#define NARA_EVZMQ_H

#include <event2/event.h>
#include <stdbool.h>

struct evzmq;

/* Called when the socket has at least one message to read. The callback
 * reads as many as it wants; evzmq re-arms itself if more remain. */
typedef void (*evzmq_cb)(void *zsock, void *arg);

/* Watch zsock (borrowed; the caller closes it after evzmq_free). */
struct evzmq *evzmq_new(struct event_base *base, void *zsock, evzmq_cb cb, void *arg);
void evzmq_free(struct evzmq **ez);
/* Re-check ZMQ_EVENTS after sends/receives done outside the callback
 * (while held: at the release). */
void evzmq_poke(struct evzmq *ez);
/* Held: no callback (messages wait in the socket) until released; the
 * release looks at the socket again when it signalled meanwhile. */
void evzmq_hold(struct evzmq *ez, bool held);

#endif
