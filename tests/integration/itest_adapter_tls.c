/*
 * itest_adapter_tls.c — the production path: two nara-adapters with
 * certificates made by nara-pki reach narad's TLS front through the
 * library tunnel, exchange a message each way with receipts, and an adapter
 * presenting another node's certificate gets nowhere.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "adapter_helpers.h"
#include "harness.h"
#include "tls_helpers.h"

static struct harness h;
static struct tadapter gbg, bup;
static struct fixture *fx;
static char pki[64];
static int tls_port;

static void
tls_adapter(struct tadapter *a, const char *node, const char *cert_stem)
{
	char extra[1024], broker[64];

	snprintf(broker, sizeof(broker), "127.0.0.1:%d", tls_port);
	snprintf(extra, sizeof(extra), "ca = %s/ca.pem\ncert = %s/%s.pem\n"
	    "key = %s/%s.key\n", pki, pki, cert_stem, pki, cert_stem);
	tadapter_init(a, node, broker, extra);
}

static void
setup(void)
{
	char extra[2048];

	tls_pki_make(pki, (const char *const[]){ T_GBG, T_BUP, NULL });
	tls_port = tls_free_port();
	snprintf(extra, sizeof(extra),
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\ncrl = %s/crl.pem\n"
	    "identity = san-uri\nhandshake_timeout = 2\n"
	    "runtime_dir = @RUNTIME_DIR@\n", tls_port, pki, pki, pki, pki);
	harness_init(&h, extra);
	tls_conf_runtime_dir(&h);
	harness_start(&h);
	tls_wait_listening(tls_port, h.log);
	fx = fixture_new();
}

static void
teardown(void)
{
	char cmd[200];

	fixture_free(&fx);
	tadapter_cleanup(&gbg);
	tadapter_cleanup(&bup);
	harness_cleanup(&h);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(adapter_tls, .init = setup, .fini = teardown, .timeout = 120);

static void
send_and_check(struct tadapter *from, struct tadapter *to,
    Nara__MessageType type, const char *sender, const char *recipient)
{
	Nara__Envelope *env = fixture_envelope(fx, type, sender, recipient);
	char name[64];

	snprintf(name, sizeof(name), "%.36s.json", env->message_id);
	spool_put_envelope(from, "out.json", env);
	cr_assert(spool_wait(to, "inbox", name, 30000), "%s never arrived "
	    "through TLS; see %s and %s", env->message_id, from->log, h.log);
	cr_assert(spool_wait(from, "receipts", name, 30000), "no receipt");
	cr_assert(spool_wait(from, "sent", "out.json", 10000));
}

Test(adapter_tls, round_trip_through_tls_front)
{
	tls_adapter(&gbg, T_GBG, T_GBG);
	tls_adapter(&bup, T_BUP, T_BUP);
	tadapter_start(&gbg);
	tadapter_start(&bup);
	send_and_check(&gbg, &bup, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	send_and_check(&bup, &gbg, NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP,
	    T_GBG_SOC);
	cr_expect_geq(harness_log_count(&h, "node " T_GBG " connected"), 1);
	cr_expect_geq(harness_log_count(&h, "node " T_BUP " connected"), 1);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
}

Test(adapter_tls, wrong_certificate_gets_nowhere)
{
	Nara__Envelope *env;
	char out[4096];

	/* Göteborg's adapter presenting BUP's certificate */
	tls_adapter(&gbg, T_GBG, T_BUP);
	tadapter_start(&gbg);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	spool_put_envelope(&gbg, "out.json", env);
	/* narad has refused the adapter's connection (audited at once) */
	cr_expect(harness_wait_sql(&h, "select count(*) from audit where "
	    "event = 'auth_failed'", 1, 30000), "no refusal audited; see %s",
	    h.log);
	cr_expect_eq(spool_count(&gbg, "sent", ""), 0, "sent through a "
	    "refused connection");
	cr_assert_eq(adapter_run(out, sizeof(out), "status -c %s --json",
	    gbg.conf), 0, "%s", out);
	cr_expect(strstr(out, "\"outbox_depth\": 1") != NULL, "%s", out);
	cr_expect(strstr(out, "\"link\": \"up\"") == NULL, "%s", out);
	cr_expect_geq(harness_sql_long(&h, "select count(*) from audit where "
	    "event='auth_failed'"), 1);
}
