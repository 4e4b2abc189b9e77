/*
 * itest_dashboard.c — narad's dashboard loaded in headless Chromium after
 * its script has fetched /api/nodes: a row per configured node with its
 * state and backlog, for the test config and for the shipped config with
 * all 49 municipalities, and with [ha] the active narad's role and lease
 * and a standby's banner. Chromium is a test dependency (DEB_PACKAGES): if it
 * is missing the test fails and says so.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "ha_helpers.h"
#include "harness.h"
#include "pgserver.h"
#include "tls_helpers.h"
#include "validate.h"

static struct harness h;
static int http_port;

TestSuite(dashboard, .timeout = 300);

static char *
read_all(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	cr_assert(f != NULL, "cannot read %s", path);
	cr_assert(getdelim(&text, &len, '\0', f) > 0);
	fclose(f);
	return text;
}

/* Replace the first `from` in text (a malloc'd string) by `to`. */
static char *
replace(char *text, const char *from, const char *to)
{
	char *at = strstr(text, from), *out = NULL;

	cr_assert(at != NULL, "\"%s\" not found in the config", from);
	cr_assert(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to,
	    at + strlen(from)) > 0);
	free(text);
	return out;
}

static void
write_conf_to(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void
write_conf(const char *text)
{
	write_conf_to(h.conf, text);
}

/* hh's config with http_listen on a free port; that port. */
static int
listen_http(const struct harness *hh)
{
	char listen[64], *conf;
	int port = tls_free_port();

	snprintf(listen, sizeof(listen), "http_listen = 127.0.0.1:%d\n", port);
	conf = replace(read_all(hh->conf), "http_listen =\n", listen);
	write_conf_to(hh->conf, conf);
	free(conf);
	return port;
}

/* The DOM of the dashboard on port after its script ran, from headless
 * Chromium (its files under dir). */
static char *
dump_dom_of(const char *dir, int port)
{
	char cmd[2048], path[400], *dom;
	int rc;

	rc = system("command -v chromium >/dev/null 2>&1");
	cr_assert_eq(rc, 0, "chromium is not installed: the dashboard test needs "
	    "it (Debian package chromium, listed in DEB_PACKAGES; run make "
	    "deps)");
	snprintf(path, sizeof(path), "%s/dom.html", dir);
	snprintf(cmd, sizeof(cmd), "timeout 120 chromium --headless --no-sandbox "
	    "--disable-gpu --no-first-run --user-data-dir=%s/chromium "
	    "--virtual-time-budget=4000 --dump-dom http://127.0.0.1:%d/ "
	    ">%s 2>%s/chromium.log", dir, port, path, dir);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "chromium failed (%d); see %s/chromium.log", rc, dir);
	dom = read_all(path);
	return dom;
}

static char *
dump_dom(void)
{
	return dump_dom_of(h.dir, http_port);
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
expect_row(const char *dom, const char *node, const char *state)
{
	char want[200];

	snprintf(want, sizeof(want), "<tr id=\"node-%s\" class=\"%s\" "
	    "data-state=\"%s\">", node, state, state);
	cr_expect(strstr(dom, want) != NULL, "no row %s", want);
}

/* The banner says what `naractl check` says: the same level and reasons. */
static void
expect_banner_as_check_of(const char *dom, const char *conf)
{
	char out[4096], bin[300], want[4200];
	json_t *j;
	int rc;

	rc = harness_run(out, sizeof(out), "%s -c %s check --json",
	    harness_bin("naractl", bin, sizeof(bin)), conf);
	j = json_loads(out, 0, NULL);
	cr_assert(j != NULL, "naractl check --json (exit %d): %s", rc, out);
	snprintf(want, sizeof(want), "<div id=\"banner\" class=\"%s\">NARA %s "
	    "\u2013 %s</div>", json_string_value(json_object_get(j, "status")),
	    json_string_value(json_object_get(j, "status")),
	    json_string_value(json_object_get(j, "message")));
	cr_expect(strstr(dom, want) != NULL, "no banner %s in %s", want, dom);
	json_decref(j);
}

static void
expect_banner_as_naractl_check(const char *dom)
{
	expect_banner_as_check_of(dom, h.conf);
}

Test(dashboard, test_config_nodes_and_states)
{
	struct fixture *fx = fixture_new();
	struct tclient gbg;
	char listen[64], *conf, *dom, *row;

	harness_init(&h, NULL);
	http_port = tls_free_port();
	snprintf(listen, sizeof(listen), "http_listen = 127.0.0.1:%d\n",
	    http_port);
	conf = replace(read_all(h.conf), "http_listen =\n", listen);
	write_conf(conf);
	free(conf);
	harness_start(&h);
	tls_wait_listening(http_port, h.log);
	tclient_open(&gbg, &h, T_GBG, 8);
	for (int i = 0; i < 2; i++) {
		Nara__Frame *r = tclient_submit(&gbg, fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP));
		cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED);
		frame_free(&r);
	}
	dom = dump_dom();
	cr_expect_eq(count(dom, "<tr id=\"node-"), 4, "%s", dom);
	expect_row(dom, T_GBG, "connected");
	expect_row(dom, T_BORAS, "disconnected");
	expect_row(dom, T_PED, "disconnected");
	expect_row(dom, T_BUP, "disconnected");
	/* BUP's backlog: queued cell 2 */
	row = strstr(dom, "<tr id=\"node-" T_BUP "\"");
	cr_assert(row != NULL);
	cr_expect(strncmp(strstr(row, "<td class=\"num queued\">"),
	    "<td class=\"num queued\">2</td>", 28) == 0, "%.400s", row);
	cr_expect(strstr(dom, "1 of 4 nodes connected") != NULL);
	cr_expect(strstr(dom, "Göteborg") != NULL);
	cr_expect(strstr(dom, "<div id=\"error\"></div>") != NULL,
	    "the page reports an error");
	expect_banner_as_naractl_check(dom);
	/* problems first: BUP's backlog waits for a node that is not there,
	 * then the connected node, then the idle disconnected ones */
	cr_expect(strstr(dom, "node-" T_BUP) < strstr(dom, "node-" T_GBG) &&
	    strstr(dom, "node-" T_GBG) < strstr(dom, "node-" T_BORAS),
	    "rows not problems first: %s", dom);
	free(dom);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&h, SIGTERM);
	harness_cleanup(&h);
}

/* The shipped config: every municipality and regional unit on one page. */
Test(dashboard, shipped_config_all_municipalities)
{
	const char *top = getenv("NARA_TOP");
	char path[400], val[400], *conf, *dom;
	int municipalities, regional;

	harness_init(&h, NULL);
	snprintf(path, sizeof(path), "%s/config/nara.conf", top ? top : ".");
	conf = read_all(path);
	municipalities = count(conf, "\n[node kommun-");
	regional = count(conf, "\n[node SE2321000131-");
	cr_assert_eq(municipalities, 49, "config/nara.conf lists %d "
	    "municipalities", municipalities);
	conf = replace(conf, "ipc:///run/nara/router.sock", h.router);
	snprintf(val, sizeof(val), "ipc://%s/control.sock", h.dir);
	conf = replace(conf, "ipc:///run/nara/control.sock", val);
	conf = replace(conf, "/var/lib/nara/nara.db", h.store);
	snprintf(val, sizeof(val), "%s/pseudonym.key", h.dir);
	conf = replace(conf, "/etc/nara/pseudonym.key", val);
	http_port = tls_free_port();
	snprintf(val, sizeof(val), "http_listen = 127.0.0.1:%d", http_port);
	conf = replace(conf, "http_listen = 127.0.0.1:9464", val);
	conf = replace(conf, "listen = 0.0.0.0:7443", "listen =");
	write_conf(conf);
	free(conf);
	harness_start(&h);
	tls_wait_listening(http_port, h.log);
	dom = dump_dom();
	cr_expect_eq(count(dom, "<tr id=\"node-kommun-"), 49);
	cr_expect_eq(count(dom, "<tr id=\"node-SE2321000131-"), regional);
	cr_expect_eq(count(dom, "data-state=\"disconnected\""), 49 + regional);
	snprintf(val, sizeof(val), "0 of %d nodes connected", 49 + regional);
	cr_expect(strstr(dom, val) != NULL, "summary \"%s\" missing", val);
	expect_row(dom, "kommun-1480", "disconnected");
	free(dom);
	harness_stop(&h, SIGTERM);
	harness_cleanup(&h);
}

/* GET /metrics of the narad on port (asserted to answer). */
static void
scrape(int port, char *out, size_t len)
{
	cr_assert_eq(harness_run(out, len, "curl -sS --max-time 10 "
	    "http://127.0.0.1:%d/metrics", port), 0, "%s", out);
}

/* docs/prometheus/nara-ha-rules.yml loads and passes its promtool unit
 * tests, and every nara_* metric its rules name is one metrics (an [ha]
 * narad's /metrics) declares. */
static void
ha_rules_check(const char *metrics)
{
	const char *top = getenv("NARA_TOP");
	char out[8192], path[400], name[128], want[160], *rules;
	int checked = 0;

	cr_assert_not_null(top, "NARA_TOP not set");
	cr_assert_eq(system("command -v promtool >/dev/null 2>&1"), 0,
	    "promtool is not installed (Debian prometheus, in DEB_PACKAGES)");
	cr_expect_eq(harness_run(out, sizeof(out), "promtool check rules "
	    "%s/docs/prometheus/nara-ha-rules.yml", top), 0, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "promtool test rules "
	    "%s/docs/prometheus/nara-ha-rules.test.yml", top), 0, "%s", out);
	snprintf(path, sizeof(path), "%s/docs/prometheus/nara-ha-rules.yml", top);
	rules = read_all(path);
	for (char *line = strtok(rules, "\n"); line != NULL;
	    line = strtok(NULL, "\n")) {
		if (strstr(line, "expr:") == NULL)
			continue;
		for (char *p = strstr(line, "nara_"); p != NULL;
		    p = strstr(p + 1, "nara_")) {
			size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			snprintf(want, sizeof(want), "# TYPE %s ", name);
			cr_expect(strstr(metrics, want) != NULL, "nara-ha-rules."
			    "yml names %s, which /metrics does not have", name);
			checked++;
		}
	}
	cr_expect_geq(checked, 4, "only %d metric names in the rules", checked);
	free(rules);
}

/* What the [ha] alert rules read, on the active and the standby narad. */
static void
ha_metrics_check(int active_port, int standby_port)
{
	static char metrics[1 << 17];

	scrape(standby_port, metrics, sizeof(metrics));
	cr_expect(strstr(metrics, "\nnara_active{instance=\"narad-b\"} 0\n")
	    != NULL, "%s", metrics);
	scrape(active_port, metrics, sizeof(metrics));
	cr_expect(strstr(metrics, "\nnara_active{instance=\"narad-a\"} 1\n")
	    != NULL, "%s", metrics);
	cr_expect(strstr(metrics, "\nnara_store_sync_standbys 0\n") != NULL,
	    "%s", metrics);
	ha_rules_check(metrics);
}

/* Two narads with [ha] on one PostgreSQL without a synchronous standby:
 * the active one's page names its role, instance, epoch and lease and,
 * as naractl check does, warns that no database standby confirms
 * commits; the standby's page says in its banner that it does not serve
 * and who holds the lease. Their /metrics have what the [ha] alert rules
 * read, and those rules pass their promtool tests. */
Test(dashboard, ha_role_lease_and_standby_banner)
{
	struct pgserver pg = { 0 };
	struct hapair p = { 0 };
	char want[300], *dom, *at;
	int port[2];

	cr_assert_eq(pgserver_start(&pg, "nara"), 0, "no PostgreSQL server");
	snprintf(p.conninfo, sizeof(p.conninfo), "%s", pg.conninfo);
	tls_pki_make(p.pki, (const char *const[]){ T_GBG, T_BUP, NULL });
	hapair_configure(&p, 3);
	for (int i = 0; i < 2; i++)
		port[i] = listen_http(&p.n[i]);
	ha_launch(&p.n[0]);
	cr_assert(harness_wait_log(&p.n[0], "ha: active", 1, 20000), "narad-a "
	    "did not become active; see %s", p.n[0].log);
	tls_wait_listening(port[0], p.n[0].log);
	ha_launch(&p.n[1]);
	cr_assert(harness_wait_log(&p.n[1], "waits for the lease", 1, 20000),
	    "narad-b is not a standby; see %s", p.n[1].log);
	tls_wait_listening(port[1], p.n[1].log);

	dom = dump_dom_of(p.n[0].dir, port[0]);
	at = strstr(dom, "<span id=\"sum-ha\">HA active: instance narad-a, "
	    "epoch 1, lease renewed ");
	cr_expect(at != NULL, "no HA role in the summary: %s", dom);
	cr_expect(at != NULL && strstr(at, " s ago (term 3 s), 0 synchronous "
	    "database standby(s)</span>") != NULL, "%.300s", at ? at : "");
	cr_expect(strstr(dom, "<div id=\"banner\" class=\"WARNING\">") != NULL
	    && strstr(dom, "narad-a synchronous standbys 0") != NULL,
	    "no warning about the database standby: %s", dom);
	expect_banner_as_check_of(dom, p.n[0].conf);
	free(dom);

	dom = dump_dom_of(p.n[1].dir, port[1]);
	snprintf(want, sizeof(want), "<div id=\"banner\" class=\"WARNING\">NARA "
	    "STANDBY \u2013 narad-b does not serve; the lease is held by "
	    "narad-a</div>");
	cr_expect(strstr(dom, want) != NULL, "no standby banner: %s", dom);
	cr_expect(strstr(dom, "<li class=\"WARNING\">WARNING: narad-b is not "
	    "the active narad") != NULL, "%s", dom);
	cr_expect(strstr(dom, "<span id=\"sum-ha\">HA standby: instance "
	    "narad-b, epoch 1, ") != NULL, "%s", dom);
	cr_expect(strstr(dom, "held by narad-a") != NULL);
	cr_expect(strstr(dom, "<div id=\"error\"></div>") != NULL, "%s", dom);
	free(dom);
	ha_metrics_check(port[0], port[1]);
	harness_stop(&p.n[1], SIGTERM);
	harness_stop(&p.n[0], SIGTERM);
	harness_cleanup(&p.n[1]);
	harness_cleanup(&p.n[0]);
	pgserver_cleanup(&pg);
	snprintf(want, sizeof(want), "rm -rf '%s'", p.pki);
	cr_expect_eq(system(want), 0);
}
