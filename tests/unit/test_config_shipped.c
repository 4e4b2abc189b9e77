/*
 * test_config_shipped.c — the nara.conf we ship (config/nara.conf): it
 * loads without a message, holds the 49 municipalities and the regional
 * units with their routes and the production settings, its default policy
 * allows and denies what the exchange says, and it is what
 * config/gen-config.sh makes from config/municipalities.tsv (which refuses
 * a bad list). The parser's values and refusals are in test_config.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <criterion/criterion.h>

#include "config.h"
#include "config_fixture.h"

/* ---------------------------------------------------------------- shipped */

static struct config *shipped;

static void
shipped_load(void)
{
	struct config_diag diag = { 0 };
	char path[512];

	shipped = config_load(top_path("config/nara.conf", path, sizeof(path)), &diag);
	for (size_t i = 0; i < diag.n; i++)
		cr_log_error("%s", diag.msgs[i]);
	cr_assert_not_null(shipped, "config/nara.conf does not load (NARA_TOP?)");
	cr_assert_eq(diag.n, 0);
	config_diag_free(&diag);
}

static void
shipped_free(void)
{
	config_free(&shipped);
}

TestSuite(shipped, .init = shipped_load, .fini = shipped_free);

Test(shipped, has_49_municipalities_and_regional_units)
{
	size_t municipal = 0, regional = 0;

	for (size_t i = 0; i < shipped->n_nodes; i++) {
		const struct config_node *n = &shipped->nodes[i];

		if (strcmp(n->kind, "municipality") == 0) {
			municipal++;
			cr_expect(strncmp(n->id, "kommun-", 7) == 0, "%s", n->id);
			cr_expect_eq(n->n_addresses, 3, "%s", n->id);
		} else {
			cr_expect_str_eq(n->kind, "region");
			cr_expect(strncmp(n->id, "SE2321000131-", 13) == 0, "%s", n->id);
			regional++;
		}
		cr_expect_str_eq(n->identity, n->id);
	}
	cr_expect_eq(municipal, 49);
	cr_expect_geq(regional, 4);
	cr_expect_geq(shipped->n_rules, 7);
}

/* Every municipality of the list is routed by its three addresses. */
Test(shipped, routes_every_municipality_address)
{
	static const char *const services[] = { "socialtjanst", "elevhalsa", "forskola" };
	char path[512], line[256], addr[320], id[300];
	FILE *f = fopen(top_path("config/municipalities.tsv", path, sizeof(path)), "r");
	int rows = 0;

	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));   /* header */
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tab = strchr(line, '\t');

		if (tab == NULL)
			continue;
		*tab = '\0';
		tab[1 + strcspn(tab + 1, "\r\n")] = '\0';
		snprintf(id, sizeof(id), "kommun-%s", line);
		for (size_t s = 0; s < 3; s++) {
			const struct config_node *n;

			snprintf(addr, sizeof(addr), "kommun:%s:%s", line, services[s]);
			n = config_route(shipped, addr);
			cr_assert_not_null(n, "no route for %s", addr);
			cr_expect_str_eq(n->id, id);
			cr_expect_str_eq(n->name, tab + 1);
			cr_expect(config_node_serves(n, addr));
		}
		rows++;
	}
	fclose(f);
	cr_expect_eq(rows, 49);
	cr_expect_eq(shipped->n_routes, 49 * 3 + 4);
}

Test(shipped, routes_regional_units)
{
	const char *const units[] = { BUP, BHV, HAB, PED };

	for (size_t i = 0; i < 4; i++) {
		const struct config_node *n = config_route(shipped, units[i]);

		cr_assert_not_null(n, "%s", units[i]);
		cr_expect_str_eq(n->id, units[i]);
		cr_expect_str_eq(n->kind, "region");
		cr_expect_eq(config_node_by_identity(shipped, units[i]), n);
	}
	cr_expect_null(config_route(shipped, "SE2321000131-E999"));
	cr_expect_null(config_route(shipped, "kommun:9999:elevhalsa"));
}

Test(shipped, production_settings)
{
	cr_expect_str_eq(shipped->tls.listen, "0.0.0.0:7443");
	cr_expect_str_eq(shipped->tls.cert, "/etc/nara/tls/narad.pem");
	cr_expect_str_eq(shipped->tls.key, "/etc/nara/tls/narad.key");
	cr_expect_str_eq(shipped->tls.ca, "/etc/nara/tls/ca.pem");
	cr_expect_eq(shipped->tls.n_crl, 1);
	cr_expect_str_eq(shipped->tls.min_version, "1.3");
	cr_expect_eq(shipped->tls.identity, CONFIG_ID_SAN_URI);
	cr_expect_eq(shipped->broker.synchronous, CONFIG_SYNC_FULL);
	cr_expect_eq(shipped->broker.ack_timeout, 60);
	cr_expect_eq(shipped->broker.checkpoint_interval, 60);
	cr_expect_str_eq(shipped->broker.http_listen, "127.0.0.1:9464");
}

Test(shipped, report_of_concern_from_region_to_social_services)
{
	const char *const units[] = { BUP, BHV, HAB, PED };
	int64_t now = utc(2025, 6, 1, 12, 0, 0);

	for (size_t i = 0; i < 4; i++) {
		cr_expect_eq(config_authorize(shipped, units[i],
		    "kommun:1480:socialtjanst", ROC, now), NR_OK, "%s", units[i]);
		cr_expect_eq(config_authorize(shipped, units[i],
		    "kommun:1480:elevhalsa", ROC, now), NR_POLICY_DENIED);
	}
	cr_expect_eq(config_authorize(shipped, "kommun:1480:elevhalsa", BUP, ROC,
	    now), NR_POLICY_DENIED);
}

Test(shipped, municipality_to_municipality_denied)
{
	int64_t now = utc(2025, 6, 1, 12, 0, 0);

	for (int t = 1; t <= 7; t++) {
		cr_expect_eq(config_authorize(shipped, "kommun:1480:elevhalsa",
		    "kommun:1401:socialtjanst", (Nara__MessageType)t, now),
		    NR_POLICY_DENIED, "type %d", t);
		cr_expect_eq(config_authorize(shipped, "kommun:1480:socialtjanst",
		    "kommun:1480:elevhalsa", (Nara__MessageType)t, now),
		    NR_POLICY_DENIED, "type %d", t);
	}
}

Test(shipped, school_health_to_region)
{
	int64_t now = utc(2025, 6, 1, 12, 0, 0);
	const char *eh = "kommun:1415:elevhalsa";

	cr_expect_eq(config_authorize(shipped, eh, BUP, REF, now), NR_OK);
	cr_expect_eq(config_authorize(shipped, eh, BHV, CONS, now), NR_OK);
	cr_expect_eq(config_authorize(shipped, eh, HAB, SIP, now), NR_OK);
	cr_expect_eq(config_authorize(shipped, eh, BUP, ROC, now), NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(shipped, "kommun:1415:forskola", BUP, REF,
	    now), NR_POLICY_DENIED);
}

Test(shipped, region_to_municipal_services_and_responses)
{
	int64_t now = utc(2025, 6, 1, 12, 0, 0);
	const char *soc = "kommun:1490:socialtjanst", *eh = "kommun:1490:elevhalsa";

	cr_expect_eq(config_authorize(shipped, PED, eh, REF, now), NR_OK);
	cr_expect_eq(config_authorize(shipped, PED, soc, CONS, now), NR_OK);
	cr_expect_eq(config_authorize(shipped, BUP, soc, SIP, now), NR_OK);
	cr_expect_eq(config_authorize(shipped, BUP, "kommun:1490:forskola", REF,
	    now), NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(shipped, soc, BUP, SIP, now), NR_OK);
	for (int t = REF_RESP; t <= SIP_RESP; t += 2) {
		cr_expect_eq(config_authorize(shipped, eh, BUP, (Nara__MessageType)t,
		    now), NR_OK, "type %d", t);
		cr_expect_eq(config_authorize(shipped, soc, HAB, (Nara__MessageType)t,
		    now), NR_OK, "type %d", t);
		cr_expect_eq(config_authorize(shipped, BUP, eh, (Nara__MessageType)t,
		    now), NR_OK, "type %d", t);
		cr_expect_eq(config_authorize(shipped, BHV, soc, (Nara__MessageType)t,
		    now), NR_OK, "type %d", t);
	}
	/* region to region is not part of the exchange */
	cr_expect_eq(config_authorize(shipped, BUP, PED, REF, now), NR_POLICY_DENIED);
}

/* config/nara.conf is what `make config` makes from the list today. */
Test(shipped, matches_its_generator)
{
	const char *top = getenv("NARA_TOP");
	char cmd[1024], path[512], *want = NULL, *got = NULL;
	size_t want_len = 0, got_len = 0, n;
	char chunk[4096];
	FILE *gen, *file, *w, *g;

	snprintf(cmd, sizeof(cmd), "cd '%s' && sh config/gen-config.sh "
	    "config/municipalities.tsv", top ? top : ".");
	cr_assert_not_null(gen = popen(cmd, "r"));
	cr_assert_not_null(file = fopen(top_path("config/nara.conf", path,
	    sizeof(path)), "r"));
	w = open_memstream(&want, &want_len);
	g = open_memstream(&got, &got_len);
	while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0)
		fwrite(chunk, 1, n, w);
	while ((n = fread(chunk, 1, sizeof(chunk), gen)) > 0)
		fwrite(chunk, 1, n, g);
	fclose(w);
	fclose(g);
	fclose(file);
	cr_expect_eq(pclose(gen), 0);
	cr_expect_gt(got_len, 1000);
	cr_expect(got_len == want_len && memcmp(got, want, got_len) == 0,
	    "config/nara.conf is stale: run make config");
	free(want);
	free(got);
}

/* A list with a bad row makes the generator fail instead of printing a
 * file with a hole in it. */
Test(shipped, generator_refuses_a_bad_list)
{
	const char *top = getenv("NARA_TOP");
	char dir[] = "/tmp/nara-gen-XXXXXX", tsv[64], cmd[1024];
	FILE *f;
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(tsv, sizeof(tsv), "%s/list.tsv", dir);
	cr_assert_not_null(f = fopen(tsv, "w"));
	fputs("code\tname\n1480\tGöteborg\n14x0\tNowhere\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh '%s/config/gen-config.sh' '%s' "
	    ">/dev/null 2>%s/err", top ? top : ".", tsv, dir);
	rc = system(cmd);
	cr_expect(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "status %d", rc);
	snprintf(cmd, sizeof(cmd), "grep -q '%s:3: expected CODE<TAB>NAME' %s/err",
	    tsv, dir);
	cr_expect_eq(system(cmd), 0, "no message naming line 3");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}
