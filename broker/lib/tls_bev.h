/*
 * tls_bev.h — what a libevent OpenSSL bufferevent says when it fails.
 *
 * Shared by narad's TLS front and the client tunnel. libevent keeps the
 * OpenSSL error codes of a connection, newest first, mixed with
 * SSL_get_error() values (small numbers without a library), and libevent
 * 2.1.12 reports a peer that closes without close_notify as an error
 * (SSL_R_UNEXPECTED_EOF_WHILE_READING), which nara treats as a plain EOF.
 */
#ifndef NARA_TLS_BEV_H
#define NARA_TLS_BEV_H

#include <stdbool.h>

#include <event2/bufferevent.h>

/* The newest real OpenSSL error of bev, 0 when none; the queue is emptied.
 * *only_eof is true when every error was an unexpected EOF (or none). */
unsigned long tls_bev_error(struct bufferevent *bev, bool *only_eof);

#endif
