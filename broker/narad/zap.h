/*
 * zap.h — who may connect to the broker's ROUTER when the TLS front is on.
 *
 * The front is the only way in: nodes are authenticated by their TLS
 * certificate there, and the front relays to the ROUTER over an ipc socket.
 * The ROUTER must therefore admit only narad's own relay connections, never
 * another local process that can reach the socket file. Two guards do that:
 * the socket lives in a 0700 runtime directory owned by narad's user, and
 * libzmq's ipc pid filter (ZMQ_IPC_FILTER_PID) accepts a connection only
 * when the kernel's peer credentials (SO_PEERCRED) name narad's own
 * process; it closes any other at accept, before a byte is read. A monitor
 * on the ROUTER reports those refusals. Where libzmq lacks the filter, a
 * ZAP handler (RFC 27) makes the same check on the credentials libzmq puts
 * into the ZAP request's address field ("localhost:UID:GID:PID"); it costs
 * two more pipes per connection (about 10 KiB each), so the filter is
 * preferred.
 */
#ifndef NARA_ZAP_H
#define NARA_ZAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

/* The ZAP domain set on the ROUTER (ZMQ_ZAP_DOMAIN). */
#define ZAP_DOMAIN "nara-relay"

/* Told about every refused connection; address and reason are borrowed. */
typedef void (*zap_refused_cb)(void *arg, const char *address,
    const char *reason);

struct zap;

/* Bind the ZAP handler (inproc://zeromq.zap.01) in zctx and serve it from
 * base. Must run before the ROUTER binds. NULL with the reason logged. */
struct zap *zap_new(struct event_base *base, void *zctx, zap_refused_cb cb,
    void *arg);
/* Guard router (before it binds): the pid filter and a monitor that calls
 * cb for each refused connection (address ""), or, when libzmq has no
 * filter, zap_new and the ZAP domain. NULL with the reason logged. */
struct zap *zap_guard(struct event_base *base, void *zctx, void *router,
    zap_refused_cb cb, void *arg);
/* Close the handler socket; accepts NULL; *z becomes NULL. */
void zap_free(struct zap **z);
/* Connections refused so far. */
uint64_t zap_refusals(const struct zap *z);

/* The admission rule: 0 when domain is ZAP_DOMAIN, mechanism is NULL and
 * address is an ipc peer with this uid and pid; else -1 and why (one line). */
int zap_admit(const char *domain, const char *address, const char *mechanism,
    uid_t uid, pid_t pid, char *why, size_t why_len);

/* The ROUTER endpoint under the TLS front: router must be
 * "ipc://<runtime_dir>/<file>", and runtime_dir a directory owned by this
 * uid with no group or other permissions (created 0700 when missing).
 * -1 with the reason in why otherwise. */
int zap_check_runtime_dir(const char *runtime_dir, const char *router,
    char *why, size_t why_len);
/* Only the endpoint's form, without touching the file system; with a
 * runtime_dir that exists narad -n checks that too. */
int zap_check_runtime_path(const char *runtime_dir, const char *router,
    char *why, size_t why_len);

#endif
