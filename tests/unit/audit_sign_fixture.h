/*
 * audit_sign_fixture.h — helpers shared by test_audit_sign.c and
 * test_audit_prune.c (and so by their _pg twins, store_fixture.h): an
 * Ed25519 key pair in the fixture's directory, a populated store with a
 * signed head, full verification on a read-only connection as nara-audit
 * does it, and a tampering that verify must catch.
 */
#ifndef NARA_TEST_AUDIT_SIGN_FIXTURE_H
#define NARA_TEST_AUDIT_SIGN_FIXTURE_H

#include "audit_sign.h"
#include "store_fixture.h"

/* A key pair; sign and check are the loaded halves, freed by keys_free. */
struct keys {
	char priv[160], pub[160];
	struct audit_key *sign, *check;
};

/* A key pair name.pem, name.pem.pub in the fixture's directory. */
static inline void
keys_make_named(struct fx *f, struct keys *k, const char *name)
{
	struct nara_err err = { 0 };

	snprintf(k->priv, sizeof(k->priv), "%s/%s.pem", f->dir, name);
	snprintf(k->pub, sizeof(k->pub), "%s/%s.pem.pub", f->dir, name);
	cr_assert_eq(audit_key_generate(k->priv, k->pub, &err), 0, "%s", err.text);
	k->sign = audit_key_load_private(k->priv, &err);
	cr_assert_not_null(k->sign, "%s", err.text);
	k->check = audit_key_load_public(k->pub, &err);
	cr_assert_not_null(k->check, "%s", err.text);
}

static inline void
keys_make(struct fx *f, struct keys *k)
{
	keys_make_named(f, k, "sign");
}

static inline void
keys_free(struct keys *k)
{
	audit_key_free(&k->sign);
	audit_key_free(&k->check);
}

/* Full verification on a read-only connection, as nara-audit does it. */
static inline int
verify_full(struct fx *f, const struct audit_key *pub, struct audit_report *rep,
    struct nara_err *err)
{
	struct audit_hasher *h = audit_hasher_new();
	struct store *ro = fx_open(f, true);
	int rc = audit_verify_full(ro, h, pub, rep, err);

	store_free(&ro);
	audit_hasher_free(&h);
	return rc;
}

/* A populated store (9 rows) with a signed head at seq 9, closed. */
static inline void
signed_store(struct fx *f, struct keys *k)
{
	struct nara_err err = { 0 };

	fx_init(f);
	keys_make(f, k);
	fx_populate(f);
	cr_assert_eq(store_checkpoint(f->st, k->sign, FX_NOW + 10, &err), 0,
	    "%s", err.text);
	store_free(&f->st);
}

/* Run sql on the closed store f: verify must fail with a reason that
 * contains why; returns the seq it names. */
static inline int64_t
tampered(struct fx *f, struct keys *k, const char *sql, const char *why)
{
	struct audit_report rep;
	struct nara_err err = { 0 };

	fx_sql_exec(f, sql);
	cr_assert_eq(verify_full(f, k->check, &rep, &err), -1,
	    "not detected: %s", sql);
	cr_expect_eq(err.code, NR_STORE_FAILED);
	cr_expect(strstr(err.text, why) != NULL, "reason \"%s\" lacks \"%s\"",
	    err.text, why);
	return rep.bad_seq;
}

#endif
