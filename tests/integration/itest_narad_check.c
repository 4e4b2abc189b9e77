/*
 * itest_narad_check.c — narad -n runs every check start-up runs, short of
 * binding sockets: key files, the TLS front's files (CRLs included), where
 * the router may be under [tls], the store, names that are not UTF-8. For
 * each case -n and a real start must agree, and -n must create nothing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "tls_helpers.h"

static struct harness h;
static char pki[64];

static void
teardown(void)
{
	char out[256];

	harness_cleanup(&h);
	if (pki[0] != '\0')
		harness_run(out, sizeof(out), "rm -rf '%s'", pki);
	pki[0] = '\0';
}

TestSuite(narad_check, .fini = teardown, .timeout = 120);

/* narad -n: its exit status, output into out. */
static int
check_config(char *out, size_t len)
{
	char bin[300];

	return harness_run(out, len, "%s -n -c %s",
	    harness_bin("narad", bin, sizeof(bin)), h.conf);
}

/* narad -n refuses with reason, and so does a real start. */
static void
expect_both_refuse(const char *reason)
{
	char out[8192], bin[300];
	struct stat sb;
	bool had_store = stat(h.store, &sb) == 0;
	int rc = check_config(out, sizeof(out));

	cr_expect_eq(rc, 1, "narad -n exited %d:\n%s", rc, out);
	cr_expect(strstr(out, reason) != NULL, "-n: no \"%s\" in:\n%s", reason,
	    out);
	cr_expect(strstr(out, "configuration ok") == NULL, "%s", out);
	cr_expect_eq(stat(h.store, &sb) == 0, had_store, "-n changed the store");
	rc = harness_run(out, sizeof(out), "timeout 30 %s -c %s",
	    harness_bin("narad", bin, sizeof(bin)), h.conf);
	cr_expect_eq(rc, 1, "narad start exited %d:\n%s", rc, out);
	cr_expect(strstr(out, reason) != NULL, "start: no \"%s\" in:\n%s",
	    reason, out);
}

/* A [tls] section with pki's files; extra goes into it. */
static void
init_tls(const char *router, const char *extra)
{
	static const char *const nodes[] = { T_GBG, NULL };
	char conf[2048];

	tls_pki_make(pki, nodes);
	snprintf(conf, sizeof(conf), "\n[tls]\nlisten = 127.0.0.1:%d\n"
	    "cert = %s/narad.pem\nkey = %s/narad.key\nca = %s/ca.pem\n"
	    "runtime_dir = @RUNTIME_DIR@\n%s\n", tls_free_port(), pki, pki, pki,
	    extra);
	harness_init(&h, conf);
	tls_conf_runtime_dir(&h);
	if (router != NULL) {
		char text[1 << 14], *p;
		FILE *f = fopen(h.conf, "r");
		size_t n = fread(text, 1, sizeof(text) - 1, f);

		fclose(f);
		text[n] = '\0';
		cr_assert((p = strstr(text, "router = ")) != NULL);
		f = fopen(h.conf, "w");
		fwrite(text, 1, (size_t)(p - text), f);
		fprintf(f, "router = %s%s", router, strchr(p, '\n'));
		fclose(f);
	}
}

Test(narad_check, good_config_creates_nothing)
{
	char out[4096];
	struct stat sb;

	harness_init(&h, NULL);
	cr_expect_eq(check_config(out, sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "configuration ok (4 nodes") != NULL, "%s", out);
	cr_expect(strstr(out, "narad creates it at start") != NULL, "%s", out);
	cr_expect_neq(stat(h.store, &sb), 0, "-n created the store");
	/* and on the store narad made */
	harness_start(&h);
	harness_stop(&h, SIGTERM);
	cr_expect_eq(check_config(out, sizeof(out)), 0, "%s", out);
}

Test(narad_check, missing_pseudonym_key)
{
	char path[400];

	harness_init(&h, NULL);
	snprintf(path, sizeof(path), "%s/pseudonym.key", h.dir);
	cr_assert_eq(unlink(path), 0);
	expect_both_refuse("pseudonym.key");
}

Test(narad_check, missing_signing_key)
{
	harness_init(&h, "signing_key = /nonexistent/audit-sign.pem\n");
	expect_both_refuse("/nonexistent/audit-sign.pem");
}

Test(narad_check, missing_tls_file)
{
	init_tls(NULL, "");
	cr_assert_eq(unlink(strcat(strcpy((char[128]){ 0 }, pki),
	    "/narad.key")), 0);
	expect_both_refuse("narad.key");
}

Test(narad_check, missing_crl_file)
{
	init_tls(NULL, "crl = /nonexistent/nodes.crl\n");
	expect_both_refuse("/nonexistent/nodes.crl");
}

Test(narad_check, router_outside_runtime_dir)
{
	init_tls("ipc:///tmp/nara-elsewhere-router.sock", "");
	expect_both_refuse("inside [tls] runtime_dir");
}

Test(narad_check, tls_config_passes)
{
	char out[4096];

	init_tls(NULL, "");
	cr_expect_eq(check_config(out, sizeof(out)), 0, "%s", out);
}

Test(narad_check, empty_store_file)
{
	FILE *f;

	harness_init(&h, NULL);
	f = fopen(h.store, "w");
	cr_assert_not_null(f);
	fclose(f);
	expect_both_refuse("is empty (0 bytes)");
}

Test(narad_check, node_name_not_utf8)
{
	FILE *f;

	harness_init(&h, NULL);
	f = fopen(h.conf, "a");
	fputs("\n[node kommun-1499]\nname = Tr\xf6llh\xe4ttan\n"
	    "addresses = kommun:1499:socialtjanst\n", f);
	fclose(f);
	expect_both_refuse("name: is not valid UTF-8");
}

/* With [ha], a database that does not answer is what a host sees while
 * the database fails over: narad -n warns and passes (narad itself waits
 * for the database at start, so systemd's ExecStartPre must not fail the
 * unit), while a single narad on the same database is refused. */
Test(narad_check, ha_database_unreachable_is_a_warning)
{
	char out[8192], extra[512];
	int port = tls_free_port(), rc;

	snprintf(extra, sizeof(extra), "[store]\nbackend = postgresql\n"
	    "postgresql = host=127.0.0.1 port=%d user=nara dbname=nara "
	    "connect_timeout=2\n[ha]\ninstance = narad-a\n", port);
	init_tls(NULL, extra);
	rc = check_config(out, sizeof(out));
	cr_expect_eq(rc, 0, "narad -n exited %d:\n%s", rc, out);
	cr_expect(strstr(out, "narad waits for it at start") != NULL, "%s", out);
	cr_expect(strstr(out, "cannot connect to PostgreSQL") != NULL, "%s", out);
	teardown();
	snprintf(extra, sizeof(extra), "[store]\nbackend = postgresql\n"
	    "postgresql = host=127.0.0.1 port=%d user=nara dbname=nara "
	    "connect_timeout=2\n", port);
	init_tls(NULL, extra);
	rc = check_config(out, sizeof(out));
	cr_expect_eq(rc, 1, "narad -n exited %d:\n%s", rc, out);
	cr_expect(strstr(out, "cannot connect to PostgreSQL") != NULL, "%s", out);
}
