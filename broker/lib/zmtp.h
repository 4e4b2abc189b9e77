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

#endif
