/*
 * open.c — where nara-audit finds things: the store, the pseudonym key and
 * the signing keys, from nara.conf (-c) or from the options, and opening
 * the store read-only (or read-write for review and prune).
 *
 * The public keys verify checks against are every --pubkey given or, from
 * the config, signing_key.pub (the signing key itself when there is no
 * .pub) and every file named signing_key.pub.<anything>: the public keys
 * of signing keys rotated out, kept beside the current one.
 */
#include <glob.h>
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

/* in with glob's special characters escaped, then suffix; -1 if too long. */
static int
glob_pattern(const char *in, const char *suffix, char *out, size_t len)
{
	size_t o = 0;

	for (; *in != '\0'; in++) {
		if (o + 3 > len)
			return -1;
		if (strchr("*?[\\", *in) != NULL)
			out[o++] = '\\';
		out[o++] = *in;
	}
	if (o + strlen(suffix) >= len)
		return -1;
	strcpy(out + o, suffix);
	return 0;
}

/* One more public key path for verify (copied). */
static int
pub_add(struct opts *o, const char *path)
{
	if (o->n_pub_paths == AUDIT_RING_MAX) {
		tool_error("%s at most %d public keys", nara_code_id(NR_USAGE),
		    AUDIT_RING_MAX);
		return -1;
	}
	if ((o->pub_paths[o->n_pub_paths] = strdup(path)) == NULL) {
		tool_error("%s out of memory", nara_code_id(NR_IO));
		return -1;
	}
	o->n_pub_paths++;
	return 0;
}

/* The default ring: signing_key.pub (or the signing key itself), then
 * every signing_key.pub.* in name order. */
static int
default_pubkeys(struct opts *o)
{
	char pub[4200], pattern[8500];
	glob_t g;
	int rc;

	snprintf(pub, sizeof(pub), "%s.pub", o->sign_path);
	if (pub_add(o, access(pub, R_OK) == 0 ? pub : o->sign_path) != 0)
		return -1;
	if (glob_pattern(pub, ".*", pattern, sizeof(pattern)) != 0)
		return 0;
	if ((rc = glob(pattern, 0, NULL, &g)) == GLOB_NOMATCH)
		return 0;
	if (rc != 0 || g.gl_pathc > AUDIT_RING_MAX - 1) {
		tool_error("%s %s.*: %s", nara_code_id(rc != 0 ? NR_IO : NR_USAGE),
		    pub, rc != 0 ? "cannot list the retired public keys" : "more "
		    "than 15 retired public keys; give the ones needed with "
		    "--pubkey");
		if (rc == 0)
			globfree(&g);
		return -1;
	}
	rc = 0;
	for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)
		rc = pub_add(o, g.gl_pathv[i]);
	globfree(&g);
	return rc;
}

int
tool_resolve(struct opts *o)
{
	struct config_diag diag = { 0 };
	struct config *cfg = NULL;
	int rc = 0;

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
	/* --store is a SQLite file; -c names the backend ([store]) */
	o->store_path = dup_or_null(o->store ? o->store
	    : cfg ? config_store_location(cfg) : NULL);
	o->store_backend = dup_or_null(o->store == NULL && cfg != NULL ?
	    config_store_backend(cfg) : NULL);
	o->key_path = dup_or_null(o->key ? o->key
	    : cfg ? cfg->broker.pseudonym_key : NULL);
	o->sign_path = dup_or_null(o->sign_key ? o->sign_key
	    : cfg ? cfg->broker.signing_key : NULL);
	if (o->n_pubkeys > 0) {
		for (size_t i = 0; i < o->n_pubkeys && rc == 0; i++)
			rc = pub_add(o, o->pubkeys[i]);
	} else if (o->sign_path != NULL) {
		/* keygen writes the public key beside the private one */
		rc = default_pubkeys(o);
	}
	config_free(&cfg);
	if (rc != 0)
		return -1;
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
	bool file;
	struct nara_err err = { 0 };
	struct store *st = NULL;
	uint8_t *key = NULL;
	size_t len = 0;

	if (tool_resolve(o) != 0)
		return NULL;
	opt.backend = o->store_backend;
	file = o->store_backend == NULL || strcmp(o->store_backend, "sqlite")
	    == 0;
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
	if (file && access(o->store_path, write ? R_OK | W_OK : R_OK) != 0) {
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

int
tool_pubkeys(struct opts *o, struct audit_key *keys[AUDIT_RING_MAX],
    size_t *n)
{
	struct nara_err err = { 0 };

	for (*n = 0; *n < o->n_pub_paths; (*n)++) {
		keys[*n] = audit_key_load_public(o->pub_paths[*n], &err);
		if (keys[*n] == NULL) {
			tool_error("%s %s", nara_code_id(err.code), err.text);
			while (*n > 0)
				audit_key_free(&keys[--*n]);
			return -1;
		}
	}
	return 0;
}
