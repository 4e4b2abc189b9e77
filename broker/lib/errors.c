/*
 * errors.c — the error catalogue table and the nara_err helpers.
 */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct nara_code_info catalogue[NR_CODE_COUNT] = {
	[NR_OK] = { NR_OK, "NR000", "ok", false },
	[NR_MALFORMED_FRAME] = { NR_MALFORMED_FRAME, "NR001", "malformed frame", false },
	[NR_PROTOCOL_VERSION] = { NR_PROTOCOL_VERSION, "NR002", "unsupported protocol version", false },
	[NR_NO_HELLO] = { NR_NO_HELLO, "NR003", "hello required first", false },
	[NR_UNKNOWN_NODE] = { NR_UNKNOWN_NODE, "NR004", "unknown node", false },
	[NR_UNEXPECTED_FRAME] = { NR_UNEXPECTED_FRAME, "NR005", "frame not expected here", false },
	[NR_NOT_READING] = { NR_NOT_READING, "NR006", "node does not read what it is sent", false },
	[NR_MISSING_FIELD] = { NR_MISSING_FIELD, "NR010", "required field missing", false },
	[NR_BAD_MESSAGE_ID] = { NR_BAD_MESSAGE_ID, "NR011", "invalid message id", false },
	[NR_BAD_ADDRESS] = { NR_BAD_ADDRESS, "NR012", "invalid address", false },
	[NR_BAD_PERSONAL_NUMBER] = { NR_BAD_PERSONAL_NUMBER, "NR013", "invalid personal identity number", false },
	[NR_TYPE_MISMATCH] = { NR_TYPE_MISMATCH, "NR014", "message type does not match body", false },
	[NR_BAD_TIME] = { NR_BAD_TIME, "NR015", "invalid time", false },
	[NR_NO_LEGAL_BASIS] = { NR_NO_LEGAL_BASIS, "NR016", "legal basis missing", false },
	[NR_LEGAL_BASIS_MISFIT] = { NR_LEGAL_BASIS_MISFIT, "NR017", "legal basis does not fit message type", false },
	[NR_SUBJECT_NOT_ALLOWED] = { NR_SUBJECT_NOT_ALLOWED, "NR018", "de-identified message carries a subject", false },
	[NR_BAD_VALUE] = { NR_BAD_VALUE, "NR019", "invalid field value", false },
	[NR_TOO_LARGE] = { NR_TOO_LARGE, "NR020", "message too large", false },
	[NR_ATTACHMENT_LIMIT] = { NR_ATTACHMENT_LIMIT, "NR021", "attachment limit exceeded", false },
	[NR_ATTACHMENT_HASH] = { NR_ATTACHMENT_HASH, "NR022", "attachment checksum mismatch", false },
	[NR_EXPIRED] = { NR_EXPIRED, "NR023", "message already expired", false },
	[NR_BAD_JSON] = { NR_BAD_JSON, "NR024", "invalid JSON", false },
	[NR_SENDER_NOT_OWNED] = { NR_SENDER_NOT_OWNED, "NR030", "sender address not served by this node", false },
	[NR_POLICY_DENIED] = { NR_POLICY_DENIED, "NR031", "policy denies sender, recipient and type", false },
	[NR_NO_ROUTE] = { NR_NO_ROUTE, "NR032", "no route for recipient", false },
	[NR_DUPLICATE_CONFLICT] = { NR_DUPLICATE_CONFLICT, "NR033", "message id reused with different content", false },
	[NR_STORE_FULL] = { NR_STORE_FULL, "NR040", "store full", true },
	[NR_STORE_FAILED] = { NR_STORE_FAILED, "NR041", "store failure", true },
	[NR_UNAVAILABLE] = { NR_UNAVAILABLE, "NR042", "broker unavailable", true },
	[NR_RECIPIENT_REFUSED] = { NR_RECIPIENT_REFUSED, "NR050", "recipient refused the message", false },
	[NR_EXPIRED_UNDELIVERED] = { NR_EXPIRED_UNDELIVERED, "NR051", "expired before delivery", false },
	[NR_LOCAL_SYSTEM_REFUSED] = { NR_LOCAL_SYSTEM_REFUSED, "NR052", "local system refused the message", false },
	[NR_AUTH_FAILED] = { NR_AUTH_FAILED, "NR060", "authentication failed", false },
	[NR_CONFIG] = { NR_CONFIG, "NR070", "configuration error", false },
	[NR_IO] = { NR_IO, "NR071", "input/output error", true },
	[NR_USAGE] = { NR_USAGE, "NR072", "usage error", false },
};

const struct nara_code_info *
nara_code_info(enum nara_code code)
{
	if ((int)code < 0 || code >= NR_CODE_COUNT)
		return &catalogue[NR_OK];
	return &catalogue[code];
}

const char *
nara_code_id(enum nara_code code)
{
	return nara_code_info(code)->id;
}

bool
nara_code_retryable(enum nara_code code)
{
	return nara_code_info(code)->retryable;
}

int
nara_code_parse(const char *id, enum nara_code *out)
{
	if (id == NULL)
		return -1;
	for (int i = 0; i < NR_CODE_COUNT; i++) {
		if (strcmp(catalogue[i].id, id) == 0) {
			*out = (enum nara_code)i;
			return 0;
		}
	}
	return -1;
}

const struct nara_code_info *
nara_code_table(size_t *n)
{
	*n = NR_CODE_COUNT;
	return catalogue;
}

int
nara_err_set(struct nara_err *err, enum nara_code code, const char *path,
    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return -1;
}

void
nara_err_clear(struct nara_err *err)
{
	if (err != NULL)
		memset(err, 0, sizeof(*err));
}

const char *
nara_err_format(const struct nara_err *err, char *buf, size_t len)
{
	if (err->path[0] != '\0')
		snprintf(buf, len, "%s %s: %s", nara_code_id(err->code),
		    err->path, err->text);
	else
		snprintf(buf, len, "%s %s", nara_code_id(err->code), err->text);
	return buf;
}
