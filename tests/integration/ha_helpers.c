/*
 * ha_helpers.c — two narads with [ha] for the integration tests (see
 * ha_helpers.h).
 */
#include "ha_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tls_helpers.h"

static void
configure_one(struct hapair *p, int i, const char *instance, int lease_s)
{
	char extra[2048];

	snprintf(extra, sizeof(extra),
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\ncrl = %s/crl.pem\n"
	    "identity = san-uri\nhandshake_timeout = 2\n"
	    "runtime_dir = @RUNTIME_DIR@\n"
	    "[store]\nbackend = postgresql\npostgresql = %s\n"
	    "[ha]\ninstance = %s\nlease = %d\n", p->port[i], p->pki, p->pki,
	    p->pki, p->pki, p->conninfo, instance, lease_s);
	harness_init(&p->n[i], extra);
	tls_conf_runtime_dir(&p->n[i]);
}

void
hapair_configure(struct hapair *p, int lease_s)
{
	char cmd[4096];

	p->port[0] = tls_free_port();
	p->port[1] = tls_free_port();
	configure_one(p, 0, "narad-a", lease_s);
	configure_one(p, 1, "narad-b", lease_s);
	/* both must pseudonymise alike */
	snprintf(cmd, sizeof(cmd), "cp '%s/pseudonym.key' '%s/pseudonym.key'",
	    p->n[0].dir, p->n[1].dir);
	cr_assert_eq(system(cmd), 0);
}

void
ha_launch(struct harness *h)
{
	char bin[300];
	pid_t parent = getpid();

	harness_bin("narad", bin, sizeof(bin));
	h->pid = fork();
	cr_assert(h->pid >= 0);
	if (h->pid == 0) {
		if (freopen(h->log, "a", stderr) == NULL)
			_exit(126);
		harness_child_bind(parent);
		execl(bin, "narad", "-c", h->conf, (char *)NULL);
		_exit(127);
	}
}

int
ha_naractl(const struct harness *h, char *out, size_t len, const char *args)
{
	char tool[300];

	harness_bin("naractl", tool, sizeof(tool));
	return harness_run(out, len, "%s -c %s %s", tool, h->conf, args);
}

const char *
ha_role(const struct harness *h)
{
	char out[4096];

	if (ha_naractl(h, out, sizeof(out), "status") != 0)
		return "";
	return strstr(out, "role          active") != NULL ? "active" :
	    strstr(out, "role          standby") != NULL ? "standby" : "";
}

void
ha_adapter(struct tadapter *a, const struct hapair *p, const char *node)
{
	char extra[1024], brokers[64];

	snprintf(brokers, sizeof(brokers), "127.0.0.1:%d,127.0.0.1:%d",
	    p->port[0], p->port[1]);
	snprintf(extra, sizeof(extra), "ca = %s/ca.pem\ncert = %s/%s.pem\n"
	    "key = %s/%s.key\n", p->pki, p->pki, node, p->pki, node);
	tadapter_init(a, node, brokers, extra);
}

void
ha_expect_audit_intact(const struct harness *h)
{
	char out[4096], tool[300];

	harness_bin("nara-audit", tool, sizeof(tool));
	cr_expect_eq(harness_run(out, sizeof(out), "%s verify -c %s", tool,
	    h->conf), 0, "nara-audit verify: %s", out);
	cr_expect(strstr(out, "intact") != NULL, "%s", out);
}
