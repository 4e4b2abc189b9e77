/*
 * tunnel.h — the client side of nara's wire: an in-process TLS tunnel that
 * lets an ordinary libzmq DEALER reach narad's TLS front.
 *
 * libzmq 4.3 has no TLS transport. The tunnel listens on a private local
 * endpoint (an ipc socket in a 0700 directory, or 127.0.0.1 on an ephemeral
 * port) and carries every local connection inside one TLS 1.3 connection to
 * the broker, presenting the node's certificate and verifying the broker's
 * certificate against the CA bundle and the expected name. libzmq's own
 * reconnect and heartbeats govern the link; the tunnel only relays bytes.
 * It runs its own libevent loop in one thread, so the caller's zmq socket
 * stays on the caller's thread.
 */
#ifndef NARA_TUNNEL_H
#define NARA_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

/* Addresses a broker list may name. */
#define TUNNEL_MAX_BROKERS 8

struct tunnel_opts {
	const char *broker;       /* "host:port" of narad's TLS front, or a
	                           * comma-separated list of them (active and
	                           * standby narads): each new connection tries
	                           * the address the last one reached, and the
	                           * next in the list after a failure */
	const char *server_name;  /* name every broker certificate must carry;
	                           * NULL = the host part of each address */
	const char *ca;           /* PEM bundle that signs the broker */
	const char *cert;         /* this node's certificate (PEM); NULL with
	                           * key NULL = none (the broker will refuse) */
	const char *key;          /* its private key (PEM) */
	char *const *crl;         /* CRL files (PEM) of the CAs in ca; with
	                           * any, every certificate of the broker's
	                           * chain must be covered by a current CRL and
	                           * not revoked (as narad checks nodes) */
	size_t n_crl;             /* 0 = no revocation check */
	const char *local_dir;    /* 0700 directory for the ipc endpoint
	                           * (made when missing; refused when group or
	                           * others may enter it or another uid owns it);
	                           * NULL = listen on 127.0.0.1, ephemeral port,
	                           * reachable by every local user */
	unsigned handshake_timeout; /* seconds; 0 = 10 */
};

struct tunnel_stats {
	unsigned long handshakes_ok;
	unsigned long handshakes_failed;
	unsigned long connections_open;
	int broker_cert_days_left;  /* -1 until the first handshake */
	char broker[280];           /* host:port of the last handshake, "" none */
	char last_error[256];       /* "host:port: why" of the last TLS or
	                             * connect failure, "" if none */
};

/* Start the tunnel thread. The options' strings are copied. NULL with err
 * set (NR070-range transport codes) when the certificate files cannot be
 * loaded or the local endpoint cannot be made. Free with tunnel_stop(). */
struct nara_tunnel *tunnel_start(const struct tunnel_opts *opts,
    struct nara_err *err);

/* 0 when list is a valid broker list for tunnel_opts.broker (one to
 * TUNNEL_MAX_BROKERS host:port, comma-separated); -1 with err (NR_CONFIG)
 * saying which address is wrong. For configuration checks. */
int tunnel_brokers_check(const char *list, struct nara_err *err);

/* Re-read the CA bundle, certificate, key and CRLs of o (the other
 * fields are ignored) for every new connection, and close established
 * connections whose broker certificate the new CRLs no longer accept.
 * For SIGHUP. -1 with err (NR_CONFIG) when a file cannot be loaded; the
 * tunnel then keeps what it had. Caller's thread. */
int tunnel_reload(struct nara_tunnel *t, const struct tunnel_opts *o,
    struct nara_err *err);

/* The endpoint a DEALER connects to: "ipc:///dir/tunnel.sock" or
 * "tcp://127.0.0.1:PORT". Owned by the tunnel. */
const char *tunnel_endpoint(const struct nara_tunnel *t);

/* A consistent copy of the counters (thread-safe). A refused client
 * certificate counts as handshakes_ok: in TLS 1.3 the broker checks it
 * after the client's handshake has finished, and then closes. */
void tunnel_stats(struct nara_tunnel *t, struct tunnel_stats *out);

/* Stop the thread, close every connection, remove the ipc socket, free;
 * accepts NULL; *t becomes NULL. */
void tunnel_stop(struct nara_tunnel **t);

/*
 * Open a DEALER whose routing id (the ZMTP Identity) is node_id, connected to
 * endpoint, with heartbeats (ZMQ_HEARTBEAT_IVL/TIMEOUT) and a reconnect
 * interval with random jitter, so that many adapters do not reconnect in the
 * same instant after a broker restart. ZMQ_IMMEDIATE keeps messages off
 * a link whose handshake has not completed, and ZMQ_LINGER 0 drops unsent
 * messages at close (nara resubmits; the broker deduplicates). The caller
 * owns the socket (zmq_close). NULL with err set on failure.
 */
void *tunnel_dealer_open(void *zmq_ctx, const char *node_id,
    const char *endpoint, struct nara_err *err);

#endif
