/*
 * hostile_helpers.h — raw clients for attacking narad's TLS front in tests:
 * a hand-driven ZMTP 3.1 DEALER over TLS (greeting, READY, frames, any
 * frame header it likes), idle and half-finished TLS connections from a
 * chosen loopback address, and probes of narad's health (alive, RSS).
 */
#ifndef NARA_TEST_HOSTILE_HELPERS_H
#define NARA_TEST_HOSTILE_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

struct zconn;

/* TLS to 127.0.0.1:port from source address src (NULL = 127.0.0.1) with
 * the node certificate <pki>/<stem>.pem. NULL when TCP or TLS fails. */
struct zconn *zconn_open(int port, const char *pki, const char *stem,
    const char *src);
/* The same, with TCP_CORK set (zconn_cork) before the TLS handshake: its
 * last flight stays held with what is written after it. */
struct zconn *zconn_open_cork(int port, const char *pki, const char *stem,
    const char *src, bool cork);
/* Send greeting and READY (DEALER, identity) in one write and read the
 * broker's greeting and READY. 0, or -1 when closed or timed out. */
int zconn_handshake(struct zconn *z, const char *identity, int timeout_ms);
/* The same greeting and READY, cut at cuts[0..n-2] into n TLS records
 * whose bytes go out chunk bytes per write (0 = all in one write); then
 * as zconn_handshake. */
int zconn_handshake_cut(struct zconn *z, const char *identity,
    const size_t *cuts, size_t n, size_t chunk, int timeout_ms);
/* Send greeting and READY only. 0, or -1 when the write fails. */
int zconn_opening(struct zconn *z, const char *identity);
/* Read the broker's greeting and READY; 0, or -1 (closed, timed out). */
int zconn_handshake_wait(struct zconn *z, int timeout_ms);
/* Send one message frame with body data. -1 when the write fails. */
int zconn_send(struct zconn *z, const void *data, size_t len);
/* Send raw bytes (a hand-made frame header, say). -1 when it fails. */
int zconn_send_raw(struct zconn *z, const void *data, size_t len);
/* hello as node; 0 when a Welcome arrives within timeout_ms. */
int zconn_hello(struct zconn *z, const char *node, int timeout_ms);
/* Send hello without waiting for the answer. */
int zconn_hello_nowait(struct zconn *z, const char *node);
/* 0 when a Welcome arrives within timeout_ms (other frames are dropped). */
int zconn_welcome(struct zconn *z, int timeout_ms);
/* The next frame from the broker within timeout_ms: its flags (0x04: a
 * command) and body, copied into body (at most cap bytes, *len the whole
 * size). 0, or -1 when closed or timed out. */
int zconn_next(struct zconn *z, int timeout_ms, uint8_t *flags,
    uint8_t *body, size_t cap, size_t *len);
/* Hold (on) or release what is written in the kernel (TCP_CORK): what
 * is written while held, and the close after, leave in one segment. */
void zconn_cork(struct zconn *z, bool on);
/* true when the broker closes the connection within timeout_ms (what
 * arrives meanwhile is read and dropped). */
bool zconn_closed(struct zconn *z, int timeout_ms);
void zconn_free(struct zconn **z);

/* A TCP connection from src to 127.0.0.1:port that sends nothing (-1 on
 * failure); with half_tls, a TLS ClientHello is sent and nothing more. */
int flood_connect(int port, const char *src, bool half_tls);

/* A plain connection to the ROUTER's ipc socket at path; -1 on failure. */
int ipc_connect(const char *path);
/* ZMTP greeting and READY (DEALER, identity) on a plain fd, and the
 * broker's greeting and READY read back. 0, or -1. */
int zmtp_plain_handshake(int fd, const char *identity, int timeout_ms);
/* true when the peer of fd closed within timeout_ms (input is dropped). */
bool fd_closed(int fd, int timeout_ms);

/* Wait up to timeout_ms until pid is traced (a tracer such as strace
 * attached: want) or no longer traced (!want); whether it happened. */
bool process_wait_traced(pid_t pid, bool want, int timeout_ms);
/* strace attached to pid, doing to every fsync and fdatasync what inject
 * says (its -e inject=fsync,fdatasync:INJECT, such as "error=EIO" or
 * "delay_enter=300000"); returns the tracer once pid is traced. */
pid_t fsync_inject(pid_t pid, const char *inject);
/* That tracer stopped: pid's fsyncs work as before. */
void fsync_inject_end(pid_t tracer, pid_t pid);
/* Is narad (h->pid) still running? Reaps it when it died. */
bool narad_alive(struct harness *h);
/* narad's resident set in KiB, -1 when it cannot be read. */
long narad_rss_kib(const struct harness *h);
/* A "kB" line of narad's /proc/PID/status (VmRSS, VmHWM: its peak), -1
 * when it cannot be read. */
long narad_status_kib(const struct harness *h, const char *field);

#endif
