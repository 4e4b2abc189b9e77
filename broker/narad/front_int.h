/*
 * front_int.h — what the parts of narad's TLS front share; nothing outside
 * front*.c includes it (front.h is the interface).
 *
 *   front.c         the listener, admission (connection and handshake
 *                   budgets), reload and the status API
 *   front_conn.c    one connection: TLS, ZMTP checks, relay, takeover, close
 *   front_report.c  refusals and log lines about one peer, collapsed per
 *                   interval so that a misbehaving peer floods neither the
 *                   log nor the audit trail
 */
#ifndef NARA_FRONT_INT_H
#define NARA_FRONT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/un.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "errors.h"
#include "front.h"
#include "log.h"
#include "relay.h"
#include "zmtp.h"

/* Bytes a frame may carry beyond max_message_bytes: the Frame wrapper
 * around an envelope. The broker's frame_decode and the ROUTER's
 * ZMQ_MAXMSGSIZE use the same margin. */
#define FRONT_FRAME_OVERHEAD 4096
/* Seconds a closing connection may take to flush, and then the ROUTER to
 * close its end of the relay. */
#define CLOSE_FLUSH_SECONDS 5
/* Frames a connection may hold towards its node beyond its credit window
 * before narad decides that the node does not read (as the ROUTER's
 * SNDHWM = max_credit + this). */
#define FRONT_ANSWER_BACKLOG 4096

/*
 * A connection's states:
 *   CONN_TLS     TLS handshake running; counts against max_handshakes
 *   CONN_WAIT    certificate accepted, but an older connection of the same
 *                node still has its relay open: waits until that is closed
 *   CONN_ZMTP    ipc relay connected; the node's greeting is forwarded as far
 *                as it is valid, its READY held until checked
 *   CONN_RELAY   READY forwarded; relay both ways, the node's bytes checked
 *                frame by frame against the size limit
 *   CONN_CLOSING reads stopped, flushing what is buffered
 *   CONN_DRAIN   node side closed; the relay's write side is shut and the
 *                front waits until the ROUTER has closed its end; when the
 *                front speaks ZMTP itself, until the broker has taken the
 *                whole frames the node sent before it closed
 *
 * With [tls] zmtp = front there is no relay: CONN_ZMTP answers the node's
 * greeting and READY itself, and CONN_RELAY hands the node's frames to
 * the broker and writes the broker's frames (front_zmtp.c).
 */
enum conn_state {
	CONN_TLS, CONN_WAIT, CONN_ZMTP, CONN_RELAY, CONN_CLOSING, CONN_DRAIN
};

/* A connection's two sides in its relay. */
enum { SIDE_NODE, SIDE_ROUTER };

/*
 * The relay (relay.h) owns both bufferevents, the timer (handshake timeout,
 * close limit) and the place in f->conns; tls and relay are its sides,
 * borrowed. The TLS side counts as flushed once shut (takeover, refusal).
 */
struct conn {
	struct relay r;                /* first: a relay is its conn */
	struct front *f;
	TAILQ_ENTRY(conn) hs_link;     /* in f->handshakes while CONN_TLS */
	int64_t accepted_ms;           /* monotonic, when accepted */
	struct bufferevent *tls;       /* node side; owns the SSL and fd */
	struct bufferevent *relay;     /* ipc side, NULL until CONN_ZMTP */
	enum conn_state state;
	bool relaying;                 /* READY went through, connected hook */
	bool relay_gone;               /* the ROUTER closed its end */
	struct conn *waits_for;        /* CONN_WAIT: the older connection */
	struct conn *successor;        /* a CONN_WAIT connection waiting */
	size_t forwarded;              /* greeting bytes sent to the ROUTER */
	bool broker_ready;             /* the ROUTER's READY went to the node */
	size_t broker_seen;            /* ROUTER bytes relayed until then */
	uint8_t broker_head[ZMTP_READY_HEAD]; /* and the first ones */
	struct zmtp_frames frames;     /* node -> ROUTER, from CONN_RELAY on */
	int days_left;                 /* certificate, valid from CONN_ZMTP */
	char addr[64];                 /* peer address without the port */
	char peer[80];                 /* "address:port" */
	char node[TLS_IDENTITY_MAX + 1]; /* configured node, once known */
	char identity[TLS_IDENTITY_MAX + 1]; /* what the certificate names */
	char subject[256];             /* certificate subject, RFC 2253 */
	uint64_t gen;                  /* its number, set when relaying starts */
	int64_t since;                 /* epoch seconds relaying started */
	int64_t not_after;             /* certificate notAfter, 0 = unknown */
	int64_t node_read_ms;          /* last read from the node (libevent's
	                                * cached time, ms) */
	char end_reason[160];          /* why the relay ended, for the
	                                * disconnected hook; "" = not known */
	/* [tls] zmtp = front (front_zmtp.c) */
	TAILQ_ENTRY(conn) ready_link;  /* in f->ready: a whole frame waits */
	TAILQ_ENTRY(conn) staged_link; /* in f->staged: out holds frames */
	bool on_ready, on_staged;
	bool multipart;                /* parts of a multi-part message read */
	bool refused;                  /* closed by conn_refuse: what the
	                                * node sent after is not taken */
	enum nara_code fault_code;     /* a frame the broker cannot take, */
	char fault[96];                /* refused from c's timer; "" = none */
	size_t checked;                /* TLS input bytes whose frame headers
	                                * were checked against the limit */
	struct evbuffer *out;          /* frames of the flush under way */
	struct zd_queue {              /* what waits to be written to the node */
		uint64_t *v;           /* a ring: the length of a piece while
		                        * in out, its end in the TLS output's
		                        * byte count once moved there */
		size_t head, n, cap;
		size_t staged;         /* the last staged entries are in out */
		uint64_t added;        /* bytes into the TLS output so far */
		uint64_t written;      /* bytes written out of it so far */
		bool counting;         /* the TLS output's callback is set */
	} q;
};

struct front_report;

struct front {
	struct event_base *base;
	const struct config *cfg;
	struct front_hooks hooks;
	SSL_CTX *ctx;
	struct evconnlistener *listener;
	struct sockaddr_un relay_addr;
	char listen[256];              /* the address bound at start */
	struct event *resume;          /* accepting again after EMFILE */
	struct relay_set conns;        /* every connection, live and dead */
	TAILQ_HEAD(conn_queue, conn) handshakes; /* oldest first */
	size_t n_handshakes;
	uint64_t refusals;
	uint64_t gens;                 /* connections that started relaying */
	bool direct;                   /* [tls] zmtp = front, read at start */
	struct conn_queue ready;       /* connections with a whole frame */
	struct conn_queue staged;      /* connections with frames to move */
	struct event *writer;          /* moves them, in the front's own turn */
	struct front_report *report;
};

/* ---- front_conn.c, front_tls.c */

/* The live connections, newest first; a conn is its relay. */
static inline struct conn *
conn_first(const struct front *f)
{
	return (struct conn *)LIST_FIRST(&f->conns.live);
}

static inline struct conn *
conn_next(const struct conn *c)
{
	return (struct conn *)LIST_NEXT(&c->r, link);
}

/* A connection for the accepted fd (taken over: closed on failure), with
 * its TLS handshake started and its handshake timer armed. NULL on
 * failure (logged). */
struct conn *conn_new(struct front *f, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen);
/* Close c without flushing (admission: an evicted handshake). Not from
 * c's own callbacks' callers that use c afterwards. */
void conn_drop(struct conn *c);
/* front_conn.c: make c a live relay of f->conns with its timer and TLS
 * callbacks, for conn_new. 0, or -1 with c not yet live. */
int conn_attach(struct conn *c);
/* The names in c's certificate (subject, identity) for reports. */
void conn_cert_names(struct conn *c, X509 *cert);
/* Why the TLS handshake of c failed (into buf); true, with no text, for a
 * connection closed before it sent anything (a port probe). */
bool conn_tls_failure(struct conn *c, short what, char *buf, size_t len);
/* Free everything of c at once; only for the relay set's reaper and
 * front_free, or conn_new before c went live. */
void conn_destroy(struct conn *c);
/* Refuse the peer: report (log + audit, collapsed), close without
 * flushing. event is "auth_failed" or "connection_refused". */
void conn_refuse(struct conn *c, const char *event, enum nara_code code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A live connection after a reload: certificate and node still accepted? */
void conn_recheck(struct conn *c);

/* ---- front_zmtp.c */

/* Write the front's greeting, and its READY, into c's TLS output; the
 * READY starts counting what waits to be written. */
void zd_greet(struct conn *c);
void zd_ready(struct conn *c);
/* The node's frame could not be taken (c->fault): refuse c. */
void zd_fault(struct conn *c);
/* Send c's node a PING (heartbeat). */
void zd_heartbeat(struct conn *c);
/* Does a whole frame wait in c's TLS input? */
bool zd_has_frame(struct conn *c);
/* New bytes from c's node were checked: when a whole frame waits, queue c
 * for the broker and tell it. */
void zd_notify(struct conn *c);
/* The writer event: staged frames and answers into the TLS outputs. */
void zd_write(evutil_socket_t fd, short what, void *arg);
/* c is buried: off the ready and staged lists, staged frames dropped. */
void zd_unlist(struct conn *c);

/* ---- front_report.c */

/* What one report is about; strings borrowed for the call. */
struct front_note {
	const char *event;     /* audit event, NULL = log line only */
	enum nara_code code;
	enum log_level level;  /* of the log line */
	const char *addr;      /* peer address without port: the key */
	const char *peer;      /* "address:port" of this occurrence */
	const char *node;      /* configured node or certificate identity */
	const char *subject;   /* certificate subject or "" */
	const char *what;      /* the reason, one line: the key as well */
	const char *text;      /* the log line of a first occurrence, NULL =
	                        * "refused PEER as NODE: WHAT" */
};

struct front_report *front_report_new(struct front *f);
void front_report_free(struct front_report **r);
/* Log (and audit when n->event) the first occurrence of (addr, node, event,
 * what) at once; count repeats and write them as one summary per
 * [tls] report_interval. */
void front_report(struct front *f, const struct front_note *n);
/* conn_refuse's report: count it by reason, remember it as the node's
 * last refusal (front_last_refusal), then front_report. */
void front_refusal_note(struct conn *c, const struct front_note *n);
/* Write every pending summary now (at shutdown). */
void front_report_flush(struct front *f);

#endif
