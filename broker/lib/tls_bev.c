/*
 * tls_bev.c — error reading for OpenSSL bufferevents (tls_bev.h).
 */
#include "tls_bev.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

unsigned long
tls_bev_error(struct bufferevent *bev, bool *only_eof)
{
	unsigned long e, newest = 0;

	*only_eof = true;
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (ERR_GET_LIB(e) == 0)
			continue;                /* an SSL_get_error() value */
		if (newest == 0)
			newest = e;
		if (ERR_GET_REASON(e) != SSL_R_UNEXPECTED_EOF_WHILE_READING)
			*only_eof = false;
	}
	return newest;
}
