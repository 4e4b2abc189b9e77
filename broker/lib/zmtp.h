/*
 * zmtp.h — the client half of a ZMTP 3.x handshake, as the TLS front sees it.
 *
 * narad terminates TLS itself and relays the plain ZMTP stream to its ROUTER.
 * Before it forwards a node's bytes it checks what the node announces: the
 * 64-byte greeting (signature, version >= 3, mechanism NULL) and then the
 * READY command with its Socket-Type and Identity properties, so that the
 * front can compare the announced identity with the certificate.
 *
 * Pure functions, no I/O and no allocation: zmtp_parse() is called again with
 * the whole prefix received so far each time more bytes arrive (at most
 * ZMTP_GREETING_LEN + ZMTP_READY_MAX bytes are ever needed). Every size in the
 * input is peer-controlled and checked before it is used.
 */
#ifndef NARA_ZMTP_H
#define NARA_ZMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZMTP_GREETING_LEN 64
/* Largest READY command frame accepted (flags + size + body). */
#define ZMTP_READY_MAX 4096
/* libzmq limits routing ids to 255 bytes. */
#define ZMTP_IDENTITY_MAX 255
#define ZMTP_SOCKET_TYPE_MAX 15
/* narad's ROUTER heartbeat (ZMQ_HEARTBEAT_IVL, ZMQ_HEARTBEAT_TIMEOUT): a
 * PING every 5 s, and a peer that sends nothing for 15 s after one is
 * dropped. The TLS front uses the timeout to say why a node's connection
 * was closed by the broker. */
#define ZMTP_HEARTBEAT_IVL_MS 5000
#define ZMTP_HEARTBEAT_TIMEOUT_MS 15000

enum zmtp_status {
	ZMTP_NEED_MORE,   /* everything so far is plausible; read more */
	ZMTP_OK,          /* greeting and READY complete and well-formed */
	ZMTP_ERROR        /* refuse the peer; see error and reason */
};

enum zmtp_error {
	ZMTP_E_NONE,
	ZMTP_E_SIGNATURE,     /* not 0xFF ... 0x7F: plaintext, HTTP, ZMTP 1.0 */
	ZMTP_E_VERSION,       /* major version below 3 */
	ZMTP_E_MECHANISM,     /* mechanism other than NULL (PLAIN, CURVE) */
	ZMTP_E_AS_SERVER,     /* as-server byte not 0 or 1 */
	ZMTP_E_NOT_COMMAND,   /* first frame after the greeting is not a command */
	ZMTP_E_NOT_READY,     /* a command, but not READY */
	ZMTP_E_OVERSIZE,      /* READY larger than ZMTP_READY_MAX */
	ZMTP_E_PROPERTY,      /* malformed, duplicate or oversized property */
	ZMTP_E_NO_SOCKET_TYPE /* READY without a Socket-Type property */
};

/* What the client announced. Strings are NUL-terminated copies. */
struct zmtp_hello {
	enum zmtp_error error;
	const char *reason;        /* static English text, "" when no error */
	unsigned major, minor;     /* greeting version (valid once greeted) */
	bool as_server;
	bool greeted;              /* the 64-byte greeting is complete and valid */
	size_t greeting_ok;        /* leading bytes known to be a valid greeting
	                            * prefix (<= ZMTP_GREETING_LEN) */
	char socket_type[ZMTP_SOCKET_TYPE_MAX + 1];
	char identity[ZMTP_IDENTITY_MAX + 1];
	size_t identity_len;       /* 0 when absent or empty */
	bool has_identity;         /* an Identity property was present */
	size_t consumed;           /* greeting + READY frame length, on ZMTP_OK */
};

/* Parse the client's first bytes (data: everything received so far, from
 * the very first byte; borrowed). Fills *out on every call. Bytes after the
 * READY frame are not looked at. */
enum zmtp_status zmtp_parse(const uint8_t *data, size_t len,
    struct zmtp_hello *out);

/* Text for an error code ("mechanism is not NULL"); never NULL. */
const char *zmtp_error_text(enum zmtp_error error);

/*
 * The server's side of the handshake as the front relays it to the node:
 * the ROUTER's greeting and READY are passed on unchanged (its greeting is
 * trusted, so it is not checked), but the node's bytes are held until the
 * READY has gone by. ZMTP_READY_HEAD leading bytes are enough to recognise
 * the READY; its remaining bytes are only counted.
 */
#define ZMTP_READY_HEAD (ZMTP_GREETING_LEN + 9 + 6)

/* Has the server sent its greeting and all of its READY? head holds the
 * first min(seen, ZMTP_READY_HEAD) bytes it sent, seen counts all of them.
 * ZMTP_OK: both complete. ZMTP_NEED_MORE: not yet. ZMTP_ERROR: its first
 * command is no READY (an ERROR when ZAP refused), or its first frame is no
 * command; that never changes with more bytes. */
enum zmtp_status zmtp_server_ready(const uint8_t *head, uint64_t seen);

/*
 * After the handshake the front relays the node's bytes untouched, but it
 * still follows the frame headers in that stream so that a frame announced
 * larger than the broker accepts is refused before a single byte of it is
 * relayed (libzmq would otherwise allocate the announced size). The tracker
 * is fed the stream in arbitrary pieces; it keeps at most one partial
 * 9-byte header and never buffers data.
 */
struct zmtp_frames {
	uint64_t max_body;     /* largest frame body accepted */
	uint64_t left;         /* body bytes of the current frame still to come */
	uint8_t hdr[9];        /* a frame header split across feeds */
	size_t hdr_have;       /* its bytes so far; 0 between frames */
	uint64_t frames;       /* complete headers seen */
	uint64_t announced;    /* size of the refused frame, on ZMTP_ERROR */
	bool failed;           /* a frame was refused; every later feed fails */
};

/* Start tracking at a frame boundary (right after the READY command). */
void zmtp_frames_init(struct zmtp_frames *t, uint64_t max_body);

/* Feed the next len bytes of the stream (data borrowed). ZMTP_OK: all of
 * them may be relayed (*ok_len = len). ZMTP_ERROR: a frame header announces
 * more than max_body (t->announced says how much); only the first *ok_len
 * bytes belong to earlier, acceptable frames. Never ZMTP_NEED_MORE. */
enum zmtp_status zmtp_frames_feed(struct zmtp_frames *t, const uint8_t *data,
    size_t len, size_t *ok_len);

#endif
