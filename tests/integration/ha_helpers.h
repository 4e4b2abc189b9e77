/*
 * ha_helpers.h — two narads with [ha] on one PostgreSQL store for the
 * integration tests (itest_ha.c, itest_soak_ha.c): their configurations
 * (own TLS port and directory, the shared store, one pseudonym key),
 * starting them, asking naractl for a role, adapters that know both.
 */
#ifndef NARA_TEST_HA_HELPERS_H
#define NARA_TEST_HA_HELPERS_H

#include <stddef.h>

#include "adapter_helpers.h"
#include "harness.h"

struct hapair {
	struct harness n[2];       /* narad-a, narad-b */
	int port[2];               /* their TLS ports */
	char pki[64];              /* from tls_pki_make */
	char conninfo[400];        /* the store, as both name it */
};

/* Configure both narads (instances narad-a and narad-b, lease_s) on
 * p->conninfo with the PKI in p->pki; b gets a's pseudonym key. */
void hapair_configure(struct hapair *p, int lease_s);
/* Start narad h (a standby binds no router: wait for its log). */
void ha_launch(struct harness *h);
/* naractl -c h's config ARGS; its output into out, the exit status. */
int ha_naractl(const struct harness *h, char *out, size_t len,
    const char *args);
/* "active", "standby", or "" when h does not answer. */
const char *ha_role(const struct harness *h);
/* A TLS adapter for node that knows both narads' addresses. */
void ha_adapter(struct tadapter *a, const struct hapair *p, const char *node);
/* nara-audit verify -c h's config says intact. */
void ha_expect_audit_intact(const struct harness *h);

#endif
