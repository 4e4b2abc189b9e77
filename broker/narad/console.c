/*
 * console.c — the operators' HTTPS console ([broker] console_listen): the
 * same pages and views as the plain HTTP listener, over TLS with narad's
 * [tls] certificate, to clients whose certificate console_ca signs (the
 * handshake refuses anyone else). There, and only there, the dashboard
 * may act: POST /api/retry {"message_id"} and POST /api/retry-node
 * {"node"}, each retried message an audit row naming the operator by the
 * certificate's subject. The plain listener stays read-only.
 *
 * A browser sends its client certificate with any request to the console,
 * also one another site's page makes it send: actions therefore need a
 * JSON body (a cross-site form cannot send one without the console's
 * consent, which it never gives) and, when the browser names an Origin,
 * the console's own.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "broker.h"
#include "control.h"
#include "log.h"
#include "tls.h"

/* Bodies of actions are a JSON object with one id. */
#define CONSOLE_MAX_BODY 4096

SSL_CTX *
console_tls_new(const struct config *cfg)
{
	struct config_tls t = cfg->tls;
	struct nara_err err = { 0 };
	SSL_CTX *ctx;

	if (cfg->broker.console_ca[0] == '\0' || t.cert == NULL ||
	    t.cert[0] == '\0' || t.key == NULL || t.key[0] == '\0') {
		log_error("console_listen needs console_ca and [tls] cert and "
		    "key");
		return NULL;
	}
	t.ca = cfg->broker.console_ca;
	if ((ctx = tls_server_ctx_new(&t, &err)) == NULL)
		log_error("console: %s", err.text);
	return ctx;
}

int
console_check(const struct config *cfg)
{
	SSL_CTX *ctx;

	if (cfg->broker.console_listen[0] == '\0')
		return 0;
	if ((ctx = console_tls_new(cfg)) == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

int
console_operator(struct evhttp_request *req, char *out, size_t len)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn)
	    : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	BIO *bio;
	char subject[256], *addr = NULL;
	ev_uint16_t port = 0;
	int n = 0;

	if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    (bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253) >= 0)
		n = BIO_read(bio, subject, (int)sizeof(subject) - 1);
	BIO_free(bio);
	subject[n > 0 ? n : 0] = '\0';
	evhttp_connection_get_peer(conn, &addr, &port);
	snprintf(out, len, "%s (https from %s)", subject, addr ? addr : "?");
	return 0;
}

/* The request's JSON object body, or NULL with *status and err set. */
static json_t *
action_body(struct evhttp_request *req, int *status, struct nara_err *err)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *type = evhttp_find_header(in, "Content-Type");
	const char *origin = evhttp_find_header(in, "Origin");
	const char *host = evhttp_find_header(in, "Host");
	struct evbuffer *b = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(b);
	char want[300];
	json_t *j;

	if (type == NULL || strncmp(type, "application/json", 16) != 0) {
		*status = 415;
		nara_err_set(err, NR_USAGE, NULL, "actions take a JSON body "
		    "(Content-Type: application/json)");
		return NULL;
	}
	snprintf(want, sizeof(want), "https://%s", host ? host : "");
	if (origin != NULL && strcmp(origin, want) != 0) {
		*status = 403;
		nara_err_set(err, NR_AUTH_FAILED, NULL, "request from another "
		    "site (Origin %s)", origin);
		return NULL;
	}
	j = len <= CONSOLE_MAX_BODY ? json_loadb((const char *)
	    evbuffer_pullup(b, -1), len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		*status = 400;
		nara_err_set(err, NR_BAD_JSON, NULL, "body is not a JSON object");
		return NULL;
	}
	return j;
}

json_t *
console_action(const struct ops_view *v, struct evhttp_request *req,
    const char *path, const char *operator, int *status)
{
	struct nara_err err = { 0 };
	json_t *body = action_body(req, status, &err), *r = NULL;
	const char *id = json_string_value(json_object_get(body, "message_id"));
	const char *node = json_string_value(json_object_get(body, "node"));
	char rnode[CONFIG_NODE_ID_MAX + 1];

	if (body != NULL && strcmp(path, "/api/retry") == 0) {
		if (id != NULL && broker_retry(v->broker, id, operator, rnode,
		    sizeof(rnode), &err) == 0)
			r = json_pack("{s:s, s:s, s:s}", "message_id", id,
			    "recipient_node", rnode, "state", "queued");
		else if (id == NULL)
			nara_err_set(&err, NR_USAGE, "message_id", "message_id "
			    "missing");
	} else if (body != NULL) {
		if (node != NULL)
			r = control_retry_all(v, node, operator, &err);
		else
			nara_err_set(&err, NR_USAGE, "node", "node missing");
	}
	if (r != NULL) {
		log_info("console: %s by %s", path, operator);
		*status = 200;
	} else {
		if (body != NULL)
			*status = err.code == NR_STORE_FAILED ? 503 : 400;
		log_info("console: refused %s by %s: %s %s", path, operator,
		    nara_code_id(err.code), err.text);
		r = json_pack("{s:s, s:s}", "code", nara_code_id(err.code),
		    "error", err.text);
	}
	json_decref(body);
	return r;
}
