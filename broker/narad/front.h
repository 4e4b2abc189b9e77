/*
 * front.h — narad's TLS front: terminates mutual TLS from the nodes and
 * speaks ZMTP with them itself ([tls] zmtp = front: front_zmtp.c, the
 * broker takes their frames with front_pull and sends with front_send), or
 * relays their plain ZMTP streams to the broker's ROUTER over ipc ([tls]
 * zmtp = router, described below).
 *
 * libzmq 4.3 has no TLS, so narad accepts TCP itself (cfg->tls.listen),
 * runs the TLS handshake with a client certificate required, maps the
 * certificate to a configured node (config_node_by_identity), and only then
 * connects to the ROUTER's ipc socket. The node's ZMTP greeting is checked
 * byte by byte as it is forwarded (ZMTP 3, mechanism NULL), and its READY
 * command is held until it says Socket-Type DEALER and Identity = the
 * certificate's node id; after that bytes flow both ways untouched, with
 * back-pressure, while the front follows the node's frame headers and
 * closes a connection that announces a frame above max_message_bytes
 * (+ 4 KiB) before any of it reaches the ROUTER. Any failure closes both
 * sides and is reported through the refused hook (narad writes an audit
 * row), collapsed per peer and reason (front_report.c).
 *
 * One node, one relay: libzmq 4.3 aborts ("!_io_error",
 * stream_engine_base.cpp) when a ROUTER_HANDOVER takeover stops the input
 * of a still-open older connection of the same routing id and that
 * connection then hangs up before its heartbeat timer fires. So a new
 * connection of a node that is already connected takes over, but the front
 * serialises the takeover: it closes the older connection's relay (write
 * side first) and connects the new relay only after the ROUTER has closed
 * its end of the old one, i.e. after libzmq destroyed that engine.
 *
 * Admission: at most [tls] max_connections connections, of which at most
 * max_handshakes (max_handshakes_per_address from one address) may still
 * be in the TLS handshake; a new handshake beyond the budget replaces the
 * oldest unfinished one of the address holding the most, so connections of
 * authenticated nodes always have room and neither an idle flood nor a
 * churn from one address can lock them out.
 *
 * The ROUTER admits only this relay: its ipc socket lives in the 0700
 * [tls] runtime_dir and libzmq checks the peer's pid at accept (zap.h).
 */
#ifndef NARA_FRONT_H
#define NARA_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "tls.h"

/* A refused or closed connection, for the audit log. Borrowed strings. */
struct front_refusal {
	const char *event;   /* "auth_failed" (TLS, certificate, ZMTP checks) or
	                      * "connection_refused" (after authentication:
	                      * oversize frame) */
	const char *code;    /* catalogue code, "NR060" */
	const char *node;    /* the node the certificate names (also one that
	                      * failed verification), NULL if none */
	const char *detail;  /* peer, certificate subject, reason and, in a
	                      * summary, how often it repeated from when to when */
};

/* Callbacks into the broker; any may be NULL. Strings are borrowed for the
 * duration of the call. */
struct front_hooks {
	void (*refused)(void *arg, const struct front_refusal *r);
	/* node: configured node id; gen: the connection's number, counting
	 * up from 1 and never reused. connected: its READY was forwarded to
	 * the ROUTER; disconnected: that connection ended (once, and maybe
	 * after a newer connection of the node was reported connected), and
	 * why, in a few words for the audit log ("the node closed the
	 * connection", "closed by the broker: ..."). link: the connection
	 * for front_send, with [tls] zmtp = front (NULL otherwise); valid
	 * until its disconnected hook returns. */
	void (*connected)(void *arg, const char *node, uint64_t gen,
	    void *link);
	void (*disconnected)(void *arg, const char *node, uint64_t gen,
	    const char *reason);
	/* [tls] zmtp = front: whole frames from nodes wait for front_pull
	 * (called once when the first one arrives after a pull). */
	void (*frames)(void *arg);
	void *arg;
};

struct front;

/* Listen on cfg->tls.listen and relay to the ROUTER's ipc socket at
 * relay_endpoint_path (a file system path, not "ipc://..."). base and cfg are
 * borrowed: cfg must stay valid until the next front_reload or front_free.
 * hooks is copied. NULL on failure, with the reason logged. */
struct front *front_new(struct event_base *base, const struct config *cfg,
    const char *relay_endpoint_path, struct front_hooks *hooks);

/* Take a new config (borrowed, as in front_new) and re-read certificate, key,
 * CA bundle and CRLs. Live connections whose certificate no longer verifies
 * (revoked, expired, other CA) or whose node left the config are dropped and
 * reported as auth_failed. When the new TLS files cannot be loaded the old
 * context stays in use and -1 is returned; the config pointer is replaced in
 * every case. A changed listen address takes effect at the next restart. */
int front_reload(struct front *f, const struct config *cfg);

/* Close every connection and the listener. Accepts NULL; sets *f to NULL. */
void front_free(struct front **f);

/* Close the connection gen of node (a node that does not read what narad
 * sends it); the disconnected hook reports it. -1 when it is not open. */
int front_close_node(struct front *f, const char *node, uint64_t gen);

/*
 * With [tls] zmtp = front the front speaks ZMTP with the nodes itself and
 * the broker's loop takes their frames from it, instead of from a ROUTER
 * the front relays to.
 */
/* A frame of node (borrowed for the call): data and len its body; a
 * multi-part message comes as one call with multipart set and no data. */
typedef void (*front_frame_fn)(void *arg, const char *node,
    const uint8_t *data, size_t len, bool multipart);
/* Do whole frames wait for front_pull? */
bool front_pending(const struct front *f);
/* Hand up to max waiting frames to fn, a few per connection in turn,
 * until their bodies add up to max_bytes or more (the frame that gets
 * there is handed too); returns how many. fn must not call back into the
 * front. */
size_t front_pull(struct front *f, size_t max, size_t max_bytes,
    front_frame_fn fn, void *arg);
/* Queue a frame for the connection link (from the connected hook): 0, or
 * EHOSTUNREACH (the connection is closing or gone), EAGAIN (its node does
 * not read: more than its credit window of the largest messages waits),
 * ENOMEM. The frames queued in one turn of the loop are written after it,
 * each connection's in one piece. */
int front_send(struct front *f, void *link, const uint8_t *data, size_t len);

/* Connections currently open (handshaking or relaying). */
size_t front_connections(const struct front *f);

/* Connections refused so far (TLS, identity or ZMTP checks failed, frame
 * too large, admission limits), each repeat counted. */
uint64_t front_refusals(const struct front *f);

/* Whole days until the certificate of node's live connection expires.
 * 0 and *days set when node is connected through the front, -1 otherwise. */
int front_cert_days(const struct front *f, const char *node, int *days);

/* One node relaying through the front, for status tools. */
struct front_cert {
	char node[TLS_IDENTITY_MAX + 1]; /* configured node id */
	char peer[80];                 /* "address:port" */
	int days_left;                 /* until its certificate's notAfter;
	                                * negative once expired */
};

/* Fill out (up to max entries, caller-owned) with every node whose READY
 * went through, newest connection first; returns how many there are, which
 * may exceed max. A node connected twice (libzmq handover) appears twice.
 * expiry_warn_days in [tls] says when narad warns in its log. */
size_t front_cert_list(const struct front *f, struct front_cert *out,
    size_t max);

/*
 * Connection details for status tools (front_report.c): what each relaying
 * connection negotiated and presented, why the front last refused each
 * node, and refusals counted by reason.
 */
struct front_conn_info {
	char node[TLS_IDENTITY_MAX + 1]; /* configured node id */
	char peer[80];                 /* "address:port" */
	char tls_version[16];          /* "TLSv1.3", as OpenSSL names it */
	char cipher[64];               /* "TLS_AES_256_GCM_SHA384" */
	char subject[256];             /* certificate subject, RFC 2253 */
	int64_t not_after;             /* certificate notAfter, epoch seconds;
	                                * 0 when unreadable */
	int64_t since;                 /* epoch seconds its READY went through */
	uint64_t gen;                  /* the connection's number */
};

/* The newest relaying connection of node into out: 0, or -1 when node
 * has none (or there is no front). */
int front_conn_of(const struct front *f, const char *node,
    struct front_conn_info *out);

/* Why the front refused connections, for counters. FRONT_R_ADMISSION is
 * every refusal before TLS started (connection and handshake budgets). */
enum front_reason {
	FRONT_R_CERTIFICATE,   /* the certificate did not verify */
	FRONT_R_TLS,           /* other TLS handshake failures, timeouts */
	FRONT_R_IDENTITY,      /* no certificate, no identity, unknown node */
	FRONT_R_ZMTP,          /* greeting or READY wrong, or not in time */
	FRONT_R_FRAME,         /* frame above the size limit announced */
	FRONT_R_TAKEOVER,      /* the node's older connection did not close */
	FRONT_R_RELOAD,        /* certificate or node no longer accepted */
	FRONT_R_ADMISSION,
	FRONT_REASONS
};
/* "certificate", "tls", ..., "admission": the label values of /metrics. */
const char *front_reason_name(enum front_reason r);
/* Refusals so far per reason into out (all zero without a front). */
void front_refusal_counts(const struct front *f, uint64_t out[FRONT_REASONS]);

/* The newest refusal of a connection that named a node. */
struct front_last_refusal {
	int64_t at;                    /* epoch seconds of the newest one */
	char event[24];                /* "auth_failed", "connection_refused" */
	char code[8];                  /* "NR060" */
	enum front_reason reason;
	char what[320];                /* the reason in words */
	char peer[80];
	char subject[256];             /* "" when no certificate was seen */
	uint64_t count;                /* refusals of the node since start */
};
/* 0 and *out filled when a connection naming node was refused since narad
 * started (the newest 256 nodes are remembered), -1 otherwise. */
int front_last_refusal(const struct front *f, const char *node,
    struct front_last_refusal *out);
/* notAfter (epoch seconds) of narad's own certificate: 0, or -1 without a
 * front. */
int front_own_not_after(const struct front *f, int64_t *not_after);

#endif
