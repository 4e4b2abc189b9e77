/*
 * control.h — narad's control socket: a ZeroMQ ROUTER socket on an ipc://
 * endpoint inside the event loop, answering naractl's REQ socket. One JSON
 * request, one JSON reply (protocol in docs/OPERATIONS.md); a reply its
 * peer has no room for is dropped and logged, never waited for.
 *
 * Who may use it is decided by the file system: the socket file is created
 * 0660, so the daemon's user and group may connect. A second, read-only
 * socket ([broker] control_readonly) may be opened 0666 for monitoring; it
 * refuses the commands that change state (retry, reload). Changing commands
 * are logged and audited.
 */
#ifndef NARA_CONTROL_H
#define NARA_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "errors.h"
#include "status.h"

struct control_hooks {
	/* Reload the configuration as SIGHUP does; 0 when the new one is in
	 * use, -1 when it was refused (the running one stays). */
	int (*reload)(void *arg);
	/* naractl step-down by operator: 0 when the handover has begun, -1
	 * with err when this narad is not the active one; NULL without [ha]. */
	int (*step_down)(void *arg, const char *operator, struct nara_err *err);
	void *arg;
};

struct control;

/* Bind endpoint (ipc://PATH) and serve it from base. view and hooks are
 * copied; the broker and front they point to must outlive the control.
 * NULL on failure, with the reason logged. */
struct control *control_new(struct event_base *base, const struct ops_view *view,
    const char *endpoint, bool read_only, const struct control_hooks *hooks);
/* Close the socket and remove its file. Accepts NULL; sets *c to NULL. */
void control_free(struct control **c);

/* Answer one request (len bytes of JSON): a reply object {"ok": true,
 * "command", "result"} or {"ok": false, "code", "error"}, a refused
 * reload's with "problems": the loader's "FILE:LINE: reason" lines. On the
 * socket, status and nodes return NULL: their reply goes to the peer when
 * the store's counts are read off the loop (counts.h), so a peer that
 * sends several requests without waiting for each reply may get those
 * two after replies to later requests; each reply names its command. */
json_t *control_handle(struct control *c, const char *req, size_t len);

/* Every dead letter of node whose content is kept back to its queue, at
 * most 200 per call, each a broker_retry whose "retried" row names
 * operator (borrowed): {"node", "retried": [ids], "failed": [{"message_id",
 * "code", "error"}], "more"} ("more": call again). NULL with err (NR004 not
 * a node, NR041 store). For naractl retry --node NODE --all and the
 * console. */
json_t *control_retry_all(const struct ops_view *v, const char *node,
    const char *operator, struct nara_err *err);

/* The metadata of message id (a UUID, borrowed) as naractl show gives it:
 * never the payload or the subject. NULL with err (NR019 no such message,
 * NR041 store). For naractl show and the console's message lookup. */
json_t *control_show(const struct ops_view *v, const char *id,
    struct nara_err *err);

/* The operator named in audit rows and log lines for a request whose
 * libzmq "Peer-Address" is peer_address ("localhost:UID:GID:PID" for an
 * ipc peer): "name (uid N, pid P)", or "unknown peer". */
void control_operator_name(const char *peer_address, char *out, size_t len);

#endif
