/*
 * control.c — the control socket's transport: a ROUTER bound to an ipc://
 * file whose mode says who may connect, requests read off it in REQ's
 * envelope (routing id, empty delimiter, one JSON part) a few per turn of
 * the loop, the operator named from the peer's kernel credentials, and
 * the reply sent back in the same envelope without ever waiting for a
 * peer. What a request asks is answered by control_handle (control_cmd.c).
 */
#include "control.h"

#include <errno.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "control_int.h"
#include "evzmq.h"
#include "log.h"

/* Requests are a command name and an id or address: 4 KiB is plenty. It
 * is libzmq's ZMQ_MAXMSGSIZE on both sockets, so a larger frame closes its
 * connection when its header arrives, before libzmq buffers any of it: the
 * read-only socket is open to every local user. */
#define CONTROL_MAX_REQUEST 4096
/*
 * Requests libzmq queues per connection before it stops reading from it:
 * naractl has one in flight, and a peer pipelining more waits in its own
 * memory, not narad's.
 *
 * Neither bound covers a message of endless parts, each under the size
 * bound: libzmq counts a message against the HWM only when its last part
 * has arrived, and keeps the parts out of zmq_msg_recv's reach until then,
 * so narad can neither see nor refuse them. Only a reader of the raw
 * connection (as the TLS front reads ZMTP) could; until there is one, the
 * read-only socket should stay off where local users are not trusted.
 */
#define CONTROL_RCVHWM 4
/*
 * Replies libzmq queues for a peer that does not read them. naractl reads
 * its one reply at once; a peer that sends and never reads (the read-only
 * socket is open to every local user) would otherwise have narad keep a
 * thousand replies of up to a node list each. A reply that finds the queue
 * full is dropped with a log line (ZMQ_ROUTER_MANDATORY and ZMQ_DONTWAIT):
 * sending never waits, so such a peer cannot hold the loop either.
 */
#define CONTROL_SNDHWM 16
/* Requests answered per turn of the event loop: peers pipelining requests
 * on the read-only socket must not keep the loop from the nodes' traffic,
 * the other socket and the HTTP listener. */
#define CONTROL_BATCH 4

/* ---------------------------------------------------------------- requests */

/*
 * The operator behind a request, from libzmq's "Peer-Address" property,
 * which for an ipc peer is "localhost:UID:GID:PID" taken from the kernel
 * (SO_PEERCRED): the peer cannot choose it. The user name is looked up;
 * "unknown peer" when the property is missing or has another form.
 */
void
control_operator_name(const char *peer_address, char *out, size_t len)
{
	unsigned long uid, gid, pid;
	const char *p = peer_address ? strrchr(peer_address, ':') : NULL;
	struct passwd pw, *res = NULL;
	char buf[1024];
	int fields = 0;

	/* Step back over ":PID", ":GID" and ":UID" to the first of the three. */
	for (int i = 0; p != NULL && i < 2; i++) {
		const char *q = p;
		while (q > peer_address && q[-1] != ':')
			q--;
		p = q > peer_address ? q - 1 : NULL;
	}
	if (p != NULL)
		fields = sscanf(p, ":%lu:%lu:%lu", &uid, &gid, &pid);
	if (fields != 3) {
		snprintf(out, len, "unknown peer");
		return;
	}
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 &&
	    res != NULL)
		snprintf(out, len, "%s (uid %lu, pid %lu)", pw.pw_name, uid, pid);
	else
		snprintf(out, len, "uid %lu (pid %lu)", uid, pid);
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;

	evzmq_hold(c->watch, false);
}

/* What request_recv found. */
enum request_shape {
	REQUEST_NONE,               /* nothing waiting */
	REQUEST_ONE,                /* [routing id][""][one JSON part] */
	REQUEST_PARTS,              /* a body of several parts: answered NR024 */
	REQUEST_MALFORMED           /* no empty delimiter: not a REQ peer */
};

/*
 * One request off the ROUTER: the peer's routing id into id, the first
 * body part into body, the rest read and dropped. A REQ socket (naractl)
 * puts an empty delimiter before the body; the reply goes back with it.
 * A message without one came from a DEALER speaking another protocol and
 * gets no reply, as a REP socket would give none.
 */
static enum request_shape
request_recv(void *router, zmq_msg_t *id, zmq_msg_t *body)
{
	enum request_shape shape = REQUEST_MALFORMED;
	zmq_msg_t rest;
	bool more;

	/* nothing of the last request may pass for this one's */
	zmq_msg_close(body);
	zmq_msg_init(body);
	if (zmq_msg_recv(id, router, ZMQ_DONTWAIT) < 0)
		return REQUEST_NONE;
	/* a ROUTER's message has all its parts once the first is read */
	more = zmq_msg_more(id);
	if (more && zmq_msg_recv(body, router, 0) >= 0) {
		more = zmq_msg_more(body);
		if (zmq_msg_size(body) == 0 && more &&
		    zmq_msg_recv(body, router, 0) >= 0) {
			more = zmq_msg_more(body);
			shape = more ? REQUEST_PARTS : REQUEST_ONE;
		}
	}
	zmq_msg_init(&rest);
	while (more && zmq_msg_recv(&rest, router, 0) >= 0)
		more = zmq_msg_more(&rest);
	zmq_msg_close(&rest);
	return shape;
}

/* The reply to the peer id, or a log line saying why it was dropped:
 * never a wait (see CONTROL_SNDHWM). */
void
control_send(struct control *c, const void *id, size_t id_len,
    const char *operator, json_t *reply)
{
	char *out = reply != NULL ? json_dumps(reply, JSON_COMPACT) : NULL;
	int e;

	if (out != NULL && zmq_send(c->router, id, id_len, ZMQ_SNDMORE |
	    ZMQ_DONTWAIT) >= 0 &&
	    zmq_send(c->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
	    zmq_send(c->router, out, strlen(out), ZMQ_DONTWAIT) >= 0) {
		free(out);
		return;
	}
	e = out != NULL ? errno : ENOMEM;
	free(out);
	c->dropped++;
	log_limited(&c->drop_log, LOG_LVL_WARNING, "control: reply to %s on "
	    "%s dropped: %s (%lu dropped since narad started)", operator,
	    c->endpoint, e == EAGAIN ? "the peer does not read its replies "
	    "(queue full)" : e == EHOSTUNREACH ? "the peer has gone" :
	    zmq_strerror(e), c->dropped);
}

/* Strictly one reply per well-formed request; at most CONTROL_BATCH per
 * turn of the loop, then c->resume. The socket is held after any round
 * that answered something, not only after a full one: requests arriving
 * while a round runs make evzmq activate it again within the same turn
 * (libevent runs events activated during a turn in that turn), so a
 * short round followed by more would exceed the bound. */
static void
on_request(void *router, void *arg)
{
	static const struct timeval now = { 0, 0 };
	struct control *c = arg;
	enum request_shape shape;
	zmq_msg_t id, body;
	json_t *reply;
	int n;

	zmq_msg_init(&id);
	zmq_msg_init(&body);
	for (n = 0; n < CONTROL_BATCH &&
	    (shape = request_recv(router, &id, &body)) != REQUEST_NONE; n++) {
		const char *peer = zmq_msg_gets(&body, "Peer-Address");

		control_operator_name(peer != NULL ? peer : zmq_msg_gets(&id,
		    "Peer-Address"), c->operator, sizeof(c->operator));
		if (shape == REQUEST_MALFORMED) {
			log_limited(&c->malformed_log, LOG_LVL_INFO, "control: "
			    "request by %s on %s dropped: no empty delimiter part "
			    "(not a REQ socket)", c->operator, c->endpoint);
			continue;
		}
		c->id = zmq_msg_data(&id);
		c->id_len = zmq_msg_size(&id);
		reply = control_handle(c, shape == REQUEST_ONE ?
		    zmq_msg_data(&body) : "", shape == REQUEST_ONE ?
		    zmq_msg_size(&body) : 0);
		c->id = NULL;
		if (reply == NULL)
			continue;       /* answered when the counts are read */
		control_send(c, zmq_msg_data(&id), zmq_msg_size(&id),
		    c->operator, reply);
		json_decref(reply);
	}
	zmq_msg_close(&body);
	zmq_msg_close(&id);
	if (n > 0 && evtimer_add(c->resume, &now) == 0)
		evzmq_hold(c->watch, true);
}

/* ---------------------------------------------------------------- life */

/* Bind with the socket file created 0660 (0666 for the read-only one). */
static int
control_bind(struct control *c)
{
	const char *path = c->endpoint + 6;
	mode_t mode = c->read_only ? 0666 : 0660, old;
	int64_t max_request = CONTROL_MAX_REQUEST;
	int linger = 0, hwm = CONTROL_RCVHWM, sndhwm = CONTROL_SNDHWM, one = 1;
	int rc;

	if (strncmp(c->endpoint, "ipc://", 6) != 0 || path[0] == '\0') {
		log_error("control endpoint %s: only ipc:// is allowed (file "
		    "permissions decide who may use it)", c->endpoint);
		return -1;
	}
	zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof(linger));
	/* Set before the bind: a connection takes the options of its socket
	 * when it is accepted. */
	if (zmq_setsockopt(c->router, ZMQ_MAXMSGSIZE, &max_request,
	    sizeof(max_request)) != 0 || zmq_setsockopt(c->router, ZMQ_RCVHWM,
	    &hwm, sizeof(hwm)) != 0 || zmq_setsockopt(c->router, ZMQ_SNDHWM,
	    &sndhwm, sizeof(sndhwm)) != 0 || zmq_setsockopt(c->router,
	    ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0) {
		log_error("control socket %s: request bounds not set: %s",
		    c->endpoint, zmq_strerror(errno));
		return -1;
	}
	/* libzmq creates the socket file during zmq_bind in this thread: the
	 * umask gives it the right mode from the start, chmod makes sure. */
	old = umask(~mode & 0777);
	rc = zmq_bind(c->router, c->endpoint);
	umask(old);
	if (rc != 0) {
		log_error("cannot bind control socket %s: %s", c->endpoint,
		    zmq_strerror(errno));
		return -1;
	}
	c->bound = true;
	if (chmod(path, mode) != 0)
		log_warn("control socket %s: chmod: %s", path, strerror(errno));
	return 0;
}

struct control *
control_new(struct event_base *base, const struct ops_view *view,
    const char *endpoint, bool read_only, const struct control_hooks *hooks)
{
	struct control *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->view = *view;
	if (hooks != NULL)
		c->hooks = *hooks;
	c->read_only = read_only;
	TAILQ_INIT(&c->waits);
	snprintf(c->operator, sizeof(c->operator), "unknown peer");
	if ((c->endpoint = strdup(endpoint)) == NULL ||
	    (c->zctx = zmq_ctx_new()) == NULL ||
	    (c->router = zmq_socket(c->zctx, ZMQ_ROUTER)) == NULL ||
	    control_bind(c) != 0 ||
	    (c->resume = evtimer_new(base, on_resume, c)) == NULL ||
	    (c->watch = evzmq_new(base, c->router, on_request, c)) == NULL)
		goto fail;
	log_info("control socket %s%s", endpoint, read_only ? " (read-only)" : "");
	return c;
fail:
	control_free(&c);
	return NULL;
}

void
control_free(struct control **cp)
{
	struct control *c = *cp;

	if (c == NULL)
		return;
	control_waits_drop(c);
	evzmq_free(&c->watch);
	if (c->resume != NULL)
		event_free(c->resume);
	if (c->router != NULL)
		zmq_close(c->router);
	if (c->zctx != NULL)
		zmq_ctx_term(c->zctx);
	if (c->bound)
		unlink(c->endpoint + 6);
	free(c->endpoint);
	free(c);
	*cp = NULL;
}
