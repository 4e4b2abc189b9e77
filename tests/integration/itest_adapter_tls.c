/*
 * itest_adapter_tls.c — the production path: two nara-adapters with
 * certificates made by nara-pki reach narad's TLS front through the
 * library tunnel, exchange a message each way with receipts, and an adapter
 * presenting another node's certificate gets nowhere. An adapter with the
 * CA's CRL refuses a broker whose certificate nara-pki revoked, at the
 * handshake and, after a reload, on the connection it had.
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

/* An adapter of node presenting cert_stem's certificate; with_crl: also
 * checking the broker against the CA's crl.pem. */
static void
tls_adapter_crl(struct tadapter *a, const char *node, const char *cert_stem,
    bool with_crl)
{
	char extra[1024], broker[64], crl[128] = "";

	snprintf(broker, sizeof(broker), "127.0.0.1:%d", tls_port);
	if (with_crl)
		snprintf(crl, sizeof(crl), "crl = %s/crl.pem\n", pki);
	snprintf(extra, sizeof(extra), "ca = %s/ca.pem\ncert = %s/%s.pem\n"
	    "key = %s/%s.key\n%s", pki, pki, cert_stem, pki, cert_stem, crl);
	tadapter_init(a, node, broker, extra);
}

static void
tls_adapter(struct tadapter *a, const char *node, const char *cert_stem)
{
	tls_adapter_crl(a, node, cert_stem, false);
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

/* ---------------------------------------------------------------- CRL */

#define REVOKED_REFUSED "NR060 broker certificate refused: certificate revoked"
#define REVOKED_DROPPED "NR060 broker certificate no longer accepted: " \
	"certificate revoked; connection closed"

/* BUP (no CRL) sends a message for Göteborg and narad accepts it; then gbg
 * must have refused the broker at least twice more without getting it,
 * and its own message must still wait in its outbox. The inbox file name
 * of BUP's message into name. */
static void
nothing_over_revoked(char name[64])
{
	Nara__Envelope *env;
	int seen;

	/* the fixture's envelope is overwritten by the next one */
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	spool_put_envelope(&gbg, "out.json", env);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP,
	    T_GBG_SOC);
	snprintf(name, 64, "%.36s.json", env->message_id);
	spool_put_envelope(&bup, "to-gbg.json", env);
	cr_assert(spool_wait(&bup, "sent", "to-gbg.json", 30000), "narad never "
	    "accepted BUP's message; see %s and %s", bup.log, h.log);
	seen = tadapter_log_count(&gbg, REVOKED_REFUSED);
	cr_assert(tadapter_wait_log(&gbg, REVOKED_REFUSED, seen + 2, 60000),
	    "the adapter did not go on refusing the revoked broker; see %s",
	    gbg.log);
	cr_expect_eq(spool_count(&gbg, "inbox", ".json"), 0, "delivered over "
	    "a connection to a revoked broker");
	cr_expect_eq(spool_count(&gbg, "sent", ""), 0, "submitted over a "
	    "connection to a revoked broker");
	cr_expect_eq(spool_count(&gbg, "outbox", ".json"), 1);
}

/* With the CA's CRL, an adapter refuses a broker whose certificate is
 * revoked, with NR060 in its log, and takes and sends nothing; dropping
 * the CRL setting (a reload) lets it connect, and what waited goes both
 * ways. (Without a CRL check it connected to the revoked broker.) */
Test(adapter_tls, revoked_broker_refused_with_crl)
{
	char cmd[512], out[1024], name[64];

	pki_run(true, "revoke %s %s/narad.pem", pki, pki);
	tls_adapter_crl(&gbg, T_GBG, T_GBG, true);
	tls_adapter(&bup, T_BUP, T_BUP);
	tadapter_start(&bup);
	tadapter_start(&gbg);
	cr_assert(tadapter_wait_log(&gbg, REVOKED_REFUSED, 1, 30000),
	    "no NR060 refusal of the revoked broker; see %s", gbg.log);
	nothing_over_revoked(name);
	cr_expect_eq(tadapter_log_count(&gbg, "link to narad up"), 0);
	cr_expect_eq(harness_log_count(&h, "node " T_GBG " connected"), 0);

	/* the same adapter without the CRL setting connects */
	snprintf(cmd, sizeof(cmd), "sed -i '/^crl = /d' %s", gbg.conf);
	cr_assert_eq(harness_run(out, sizeof(out), "%s", cmd), 0, "%s", out);
	cr_assert_eq(kill(gbg.pid, SIGHUP), 0);
	cr_assert(tadapter_wait_log(&gbg, "link to narad up", 1, 30000),
	    "no link without the CRL; see %s", gbg.log);
	cr_expect(spool_wait(&gbg, "inbox", name, 30000), "see %s", gbg.log);
	cr_expect(spool_wait(&gbg, "sent", "out.json", 30000), "see %s",
	    gbg.log);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
}

/* The CRL is re-read on SIGHUP: an adapter linked to the broker before
 * the revocation drops that connection at the reload, with NR060, and
 * reconnects to nothing. */
Test(adapter_tls, crl_reload_drops_revoked_broker)
{
	char name[64];

	tls_adapter_crl(&gbg, T_GBG, T_GBG, true);
	tls_adapter(&bup, T_BUP, T_BUP);
	tadapter_start(&bup);
	tadapter_start(&gbg);
	cr_assert(tadapter_wait_log(&gbg, "link to narad up", 1, 30000),
	    "no link with the CA's (empty) CRL; see %s", gbg.log);
	pki_run(true, "revoke %s %s/narad.pem", pki, pki);
	cr_assert_eq(kill(gbg.pid, SIGHUP), 0);
	cr_assert(tadapter_wait_log(&gbg, REVOKED_DROPPED, 1, 30000),
	    "the connection to the revoked broker was kept; see %s", gbg.log);
	cr_assert(tadapter_wait_log(&gbg, REVOKED_REFUSED, 1, 30000),
	    "no NR060 refusal at the reconnect; see %s", gbg.log);
	cr_assert(tadapter_wait_log(&gbg, "link to narad down", 1, 30000),
	    "see %s", gbg.log);
	nothing_over_revoked(name);
	cr_expect_eq(tadapter_log_count(&gbg, "link to narad up"), 1);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
}
