/*
 * tls_helpers.h — TLS for integration tests: certificates made with nara-pki
 * at test time, the library's TLS tunnel (tunnel.h) set up for a test, so
 * that a plain libzmq DEALER reaches narad's TLS front, and a raw TLS client for sending hand-made
 * ZMTP bytes.
 */
#ifndef NARA_TEST_TLS_HELPERS_H
#define NARA_TEST_TLS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

/* Run `nara-pki ARGS` (printf-style); asserts exit status 0 unless the
 * caller checks the returned status with want_ok = false. */
int pki_run(bool want_ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A free TCP port on 127.0.0.1 (bound and released; good enough for tests). */
int tls_free_port(void);

/* A fresh directory /tmp/nara-pki-XXXXXX (into dir, 64 bytes) holding a CA,
 * narad's certificate (127.0.0.1 and localhost) and one certificate per
 * node id of the NULL-terminated list nodes. */
void tls_pki_make(char dir[64], const char *const *nodes);

/* Wait until something (narad's TLS front or its HTTP listener) accepts
 * TCP on 127.0.0.1:port; fails the test, pointing at log, after 5 s. */
void tls_wait_listening(int port, const char *log);

struct nara_tunnel;

/* The library tunnel (tunnel.h) to 127.0.0.1:tls_port, listening on an ipc
 * socket in a fresh 0700 directory, presenting cert/key (both NULL: no
 * client certificate) and verifying the broker against ca and server_name
 * (NULL = "127.0.0.1"). Asserts that it starts. */
struct nara_tunnel *tls_tunnel_start(int tls_port, const char *server_name,
    const char *ca, const char *cert, const char *key);
/* Stop it and remove its directory. */
struct tclient;

/* A DEALER made by tunnel_dealer_open on the tunnel t, as a tclient (no
 * hello yet). */
void tls_tunnel_client(struct tclient *c, struct nara_tunnel *t,
    const char *node);
/* Send hello without blocking (ZMQ_IMMEDIATE holds messages while no link
 * is up) and wait for the welcome, within timeout_ms in all. */
bool tls_hello_welcomed(struct tclient *c, const char *node, int timeout_ms);
/* Both, asserting the welcome. */
void tls_tunnel_client_hello(struct tclient *c, struct nara_tunnel *t,
    const char *node);

/* The same for a broker list (tunnel_opts.broker: "host:port,..."). */
struct nara_tunnel *tls_tunnel_start_list(const char *brokers,
    const char *server_name, const char *ca, const char *cert,
    const char *key);

void tls_tunnel_stop(struct nara_tunnel **t);

/* With [tls] on, narad wants its ROUTER socket inside the 0700 [tls]
 * runtime_dir. Replace every "@RUNTIME_DIR@" in h's config (written by
 * harness_init) with h->dir, the directory that holds the router socket. */
void tls_conf_runtime_dir(const struct harness *h);

struct tls_conn;

/* A blocking TLS connection to 127.0.0.1:port. NULL when the connection or
 * handshake fails. With TLS 1.3 a refused client certificate shows up only
 * at the first read, so callers use tls_conn_closed() afterwards. */
struct tls_conn *tls_conn_open(int port, const char *ca, const char *cert,
    const char *key);
void tls_conn_send(struct tls_conn *c, const void *data, size_t len);
/* Read what arrives within timeout_ms into buf (may be NULL); returns true
 * when the server closed the connection (EOF or error) in that time. */
bool tls_conn_closed(struct tls_conn *c, int timeout_ms, size_t *received);
void tls_conn_free(struct tls_conn **c);

/* A plain TCP connection to 127.0.0.1:port; -1 on failure. */
int tcp_connect_local(int port);

#endif
