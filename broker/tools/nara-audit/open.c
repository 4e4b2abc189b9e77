/*
 * open.c — where nara-audit finds things: the store, the pseudonym key and
 * the signing keys, from nara.conf (-c) or from the options, and opening
 * the store read-only (or read-write for review and prune).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tool.h"

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

/* The paths from the options, the config filling what they leave open. */
static int
resolve(struct opts *o)
{
	struct config_diag diag = { 0 };
	struct config *cfg = NULL;
	char pub[4200];

	if (o->store_path != NULL)
		return 0;
	if (o->config != NULL) {
		if ((cfg = config_load(o->config, &diag)) == NULL) {
			for (size_t i = 0; i < diag.n; i++)
				fprintf(stderr, "%s\n", diag.msgs[i]);
			config_diag_free(&diag);
			tool_error("%s %s: configuration invalid",
			    nara_code_id(NR_CONFIG), o->config);
			return -1;
		}
		config_diag_free(&diag);
	}
	o->store_path = dup_or_null(o->store ? o->store
	    : cfg ? cfg->broker.store : NULL);
	o->key_path = dup_or_null(o->key ? o->key
	    : cfg ? cfg->broker.pseudonym_key : NULL);
	o->sign_path = dup_or_null(o->sign_key ? o->sign_key
	    : cfg ? cfg->broker.signing_key : NULL);
	if (o->pubkey != NULL) {
		o->pub_path = strdup(o->pubkey);
	} else if (o->sign_path != NULL) {
		/* keygen writes the public key beside the private one */
		snprintf(pub, sizeof(pub), "%s.pub", o->sign_path);
		o->pub_path = strdup(access(pub, R_OK) == 0 ? pub : o->sign_path);
	}
	config_free(&cfg);
	if (o->store_path == NULL) {
		tool_error("%s no store: give -c nara.conf or --store PATH",
		    nara_code_id(NR_USAGE));
		return -1;
	}
	return 0;
}

struct store *
tool_open_store(struct opts *o, bool write, bool needs_key)
{
	struct store_options opt = { .sync_full = true, .read_only = !write };
	struct nara_err err = { 0 };
	struct store *st = NULL;
	uint8_t *key = NULL;
	size_t len = 0;

	if (resolve(o) != 0)
		return NULL;
	if (needs_key) {
		if (o->key_path == NULL) {
			tool_error("%s no pseudonym key: give -c nara.conf or --key "
			    "FILE", nara_code_id(NR_USAGE));
			return NULL;
		}
		if (store_read_key_file(o->key_path, &key, &len, &err) != 0) {
			tool_error("%s %s", nara_code_id(err.code), err.text);
			return NULL;
		}
		opt.pseudonym_key = key;
		opt.pseudonym_key_len = len;
	}
	if (access(o->store_path, write ? R_OK | W_OK : R_OK) != 0) {
		tool_error("%s cannot %s %s", nara_code_id(NR_IO), write ? "write"
		    : "read", o->store_path);
	} else if ((st = store_open(o->store_path, &opt, &err)) == NULL) {
		tool_error("%s %s", nara_code_id(err.code), err.text);
	}
	if (key != NULL) {
		memset(key, 0, len);
		free(key);
	}
	return st;
}

struct audit_key *
tool_pubkey(struct opts *o, bool *failed)
{
	struct nara_err err = { 0 };
	struct audit_key *k;

	*failed = false;
	if (o->pub_path == NULL)
		return NULL;
	if ((k = audit_key_load_public(o->pub_path, &err)) == NULL) {
		tool_error("%s %s", nara_code_id(err.code), err.text);
		*failed = true;
	}
	return k;
}
