/*
 * tls_helpers.h — TLS for integration tests: certificates made with nara-pki
 * at test time, a TLS tunnel that lets a plain libzmq DEALER reach narad's
 * TLS front (libzmq has no TLS), and a raw TLS client for sending hand-made
 * ZMTP bytes.
 */
#ifndef NARA_TEST_TLS_HELPERS_H
#define NARA_TEST_TLS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

/* Run `nara-pki ARGS` (printf-style); asserts exit status 0 unless the
 * caller checks the returned status with want_ok = false. */
int pki_run(bool want_ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A free TCP port on 127.0.0.1 (bound and released; good enough for tests). */
int tls_free_port(void);

struct tunnel;

/* Listen on 127.0.0.1 (tunnel_port) and carry every accepted plain
 * connection to 127.0.0.1:tls_port inside TLS, presenting cert/key (both
 * NULL: no client certificate) and verifying the broker against ca.
 * A refused handshake closes the plain side. */
struct tunnel *tunnel_start(int tls_port, const char *ca, const char *cert,
    const char *key);
int tunnel_port(const struct tunnel *t);
/* Connections whose TLS handshake succeeded / failed so far. */
int tunnel_handshakes(const struct tunnel *t, int *failed);
void tunnel_stop(struct tunnel **t);

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
