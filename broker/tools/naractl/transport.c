/*
 * transport.c — naractl's way to narad: which control socket a command
 * uses, a look at an ipc:// socket before ZeroMQ (which would retry in
 * silence until the timeout), one request on a REQ socket (narad's ROUTER
 * answers in REQ's envelope) with the timeout, and the reply unwrapped
 * into its result or narad's refusal, with the exit status each outcome
 * means: an action that got no reply may have been done (exit 4).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <zmq.h>

#include "naractl.h"

/* Before ZeroMQ, which retries an ipc connect in silence until the
 * timeout: is the socket there, may this user connect, does anyone listen?
 * 0 when a connection was accepted, else -1 with the reason on stderr. */
static int
ipc_probe(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc, e;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errorf("control socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		errorf("cannot create a socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	if (rc == 0)
		return 0;
	if (e == EACCES || e == EPERM)
		errorf("permission denied on %s: this user may not use narad's "
		    "control socket (see OPERATIONS.md, \"Who may do what\")",
		    path);
	else if (e == ENOENT)
		errorf("narad is not running: no control socket %s", path);
	else if (e == ECONNREFUSED)
		errorf("cannot reach narad at ipc://%s: nobody listens on the "
		    "socket (%s); narad is not running", path, strerror(e));
	else
		errorf("cannot reach narad at ipc://%s: %s", path, strerror(e));
	return -1;
}

/* How to find out whether the unanswered action req was carried out. */
static void
outcome_hint(json_t *req, char *buf, size_t len)
{
	const char *cmd = str(req, "command");

	if (strcmp(cmd, "retry") == 0 && json_object_get(req, "node") != NULL)
		snprintf(buf, len, "naractl dead %s lists what is still dead; "
		    "nara-audit query --event retried shows what was queued again",
		    str(req, "node"));
	else if (strcmp(cmd, "retry") == 0)
		snprintf(buf, len, "naractl show %s says its state (queued again "
		    "or still dead); nara-audit query --event retried",
		    str(req, "message_id"));
	else if (strcmp(cmd, "reload") == 0)
		snprintf(buf, len, "nara-audit query --event config_reloaded "
		    "(or config_refused) and narad's log say whether the file was "
		    "taken; naractl status, once it answers again");
	else
		snprintf(buf, len, "naractl status shows this narad's role and "
		    "who holds the lease; nara-audit query --event ha_step_down");
}

/* No reply within the timeout. A query is simply unanswered; an action
 * may have been done (the request went out), so say so and how to look. */
static void
report_unanswered(const struct opts *o, const char *endpoint, json_t *req,
    bool changes, int e)
{
	char hint[400];

	if (!changes) {
		errorf("narad is not answering on %s within %d ms (%s); is it "
		    "running, and may this user use the socket?", endpoint,
		    o->timeout_ms, zmq_strerror(e));
		return;
	}
	outcome_hint(req, hint, sizeof(hint));
	errorf("no reply from narad on %s within %d ms (%s): the %s was sent "
	    "and may have been carried out; its outcome is unknown. Check "
	    "before repeating it: %s", endpoint, o->timeout_ms, zmq_strerror(e),
	    str(req, "command"), hint);
}

/* Send one request and wait for the reply; NULL (with the reason on
 * stderr) when narad is not running or does not answer, *unanswered true
 * when the request went out and no reply came. */
static json_t *
request(const struct opts *o, const char *endpoint, json_t *req,
    bool changes, bool *unanswered)
{
	void *ctx = zmq_ctx_new(), *s = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
	char *text = json_dumps(req, JSON_COMPACT);
	int linger = 0, rc;
	json_t *reply = NULL;
	zmq_msg_t msg;

	if (strncmp(endpoint, "ipc://", 6) == 0 && ipc_probe(endpoint + 6) != 0)
		goto done;
	if (s == NULL || text == NULL) {
		errorf("cannot create a socket: %s", zmq_strerror(errno));
		goto done;
	}
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &o->timeout_ms, sizeof(o->timeout_ms));
	zmq_setsockopt(s, ZMQ_SNDTIMEO, &o->timeout_ms, sizeof(o->timeout_ms));
	if (zmq_connect(s, endpoint) != 0 ||
	    zmq_send(s, text, strlen(text), 0) < 0) {
		errorf("cannot reach narad at %s: %s", endpoint, zmq_strerror(errno));
		goto done;
	}
	zmq_msg_init(&msg);
	rc = zmq_msg_recv(&msg, s, 0);
	if (rc < 0) {
		*unanswered = true;
		report_unanswered(o, endpoint, req, changes, errno);
	} else if ((reply = json_loadb(zmq_msg_data(&msg), zmq_msg_size(&msg), 0,
	    NULL)) == NULL || !json_is_object(reply)) {
		errorf("narad sent a reply that is not a JSON object");
		json_decref(reply);
		reply = NULL;
	}
	zmq_msg_close(&msg);
done:
	free(text);
	if (s != NULL)
		zmq_close(s);
	if (ctx != NULL)
		zmq_ctx_term(ctx);
	return reply;
}

/* The endpoint for command: --socket, else the config's control socket;
 * read-only commands fall back to control_readonly when this user cannot
 * write the control socket. */
const char *
endpoint_for(const struct opts *o, bool changes)
{
	const char *ep = o->socket;

	if (!changes && o->ro_socket != NULL && o->ro_socket[0] != '\0' &&
	    strncmp(ep, "ipc://", 6) == 0 && access(ep + 6, W_OK) != 0 &&
	    errno == EACCES)
		return o->ro_socket;
	return ep;
}

/* A refused reload's "FILE:LINE: reason" lines, one a line at the start
 * of the line, as compilers write them, for editors to jump to. */
static void
print_problems(json_t *reply)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(reply, "problems"), i, p)
		if (json_is_string(p))
			fprintf(stderr, "%s\n", json_string_value(p));
}

/* Ask and unwrap: the result object, or NULL after printing narad's
 * refusal ("NR019 message_id: ..."). *exit_code says which. */
json_t *
call(const struct opts *o, json_t *req, bool changes, int *exit_code)
{
	bool unanswered = false;
	json_t *reply = request(o, endpoint_for(o, changes), req, changes,
	    &unanswered), *result;

	json_decref(req);
	*exit_code = unanswered && changes ? EXIT_OUTCOME_UNKNOWN : EXIT_FAIL;
	if (reply == NULL)
		return NULL;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (o->json) {
			json_dumpf(reply, stdout, JSON_INDENT(2));
			putchar('\n');
		}
		errorf("%s %s%s", str(reply, "code"), str(reply, "error"),
		    json_is_array(json_object_get(reply, "problems")) ? ":" : "");
		print_problems(reply);
		/* a name narad does not know is an error in the command line */
		if (strcmp(str(reply, "code"), "NR032") == 0 ||
		    strcmp(str(reply, "code"), "NR004") == 0 ||
		    strcmp(str(reply, "code"), "NR072") == 0)
			*exit_code = EXIT_USAGE;
		json_decref(reply);
		return NULL;
	}
	result = json_incref(json_object_get(reply, "result"));
	json_decref(reply);
	*exit_code = EXIT_OK;
	return result;
}
