/*
 * itest_console.c — the operator console's history and dead letters
 * against a real narad: /api/history's documented fields and samples that
 * follow the traffic (history_interval = 1 keeps it fast), /api/dead
 * listing exactly the dead letters with code and reason and nothing of
 * the clinical content, and the dashboard in headless Chromium drawing the
 * SVG charts and the dead-letter list (its screenshot is kept in
 * build/tests/artefacts/). The console stays read-only.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"
#include "ops_helpers.h"
#include "tls_helpers.h"
#include "validate.h"

TestSuite(console, .timeout = 240);

#define BODY_MAX (1 << 20)

/* GET path as JSON; asserts 200 and a parseable object. */
static json_t *
get_json(const char *path)
{
	char *body = malloc(BODY_MAX);
	json_error_t je;
	json_t *j;
	int code;

	cr_assert(body != NULL);
	code = ops_http_get("GET", path, body, BODY_MAX);
	cr_assert_eq(code, 200, "GET %s: %d %s", path, code, body);
	j = json_loads(body, 0, &je);
	cr_assert(j != NULL, "GET %s: %s in %.300s", path, je.text, body);
	free(body);
	return j;
}

/* The last element of array key of o, as a number (-1 when empty). */
static double
last_of(json_t *o, const char *key)
{
	json_t *a = json_object_get(o, key);
	size_t n = json_array_size(a);

	return n == 0 ? -1 : json_number_value(json_array_get(a, n - 1));
}

/* The sum of array key of o. */
static double
sum_of(json_t *o, const char *key)
{
	json_t *a = json_object_get(o, key), *v;
	double s = 0;
	size_t i;

	json_array_foreach(a, i, v)
		s += json_number_value(v);
	return s;
}

struct want_history {
	double submitted;           /* at least this sum of submitted_per_minute */
	long queued;                /* newest total queue depth */
	long bup_queued;            /* newest per-node sample of BUP */
	size_t samples;             /* at least this many samples */
};

/* The condition: the history shows what want says. */
static bool
history_shows(void *arg)
{
	const struct want_history *w = arg;
	json_t *j = get_json("/api/history");
	json_t *s = json_object_get(j, "samples");
	json_t *bup = json_object_get(json_object_get(json_object_get(j,
	    "nodes"), "queued"), T_BUP);
	size_t nb = json_array_size(bup);
	bool ok = sum_of(s, "submitted_per_minute") >= w->submitted &&
	    (long)last_of(s, "queued") == w->queued && nb > 0 &&
	    json_integer_value(json_array_get(bup, nb - 1)) == w->bup_queued &&
	    json_array_size(json_object_get(s, "at")) >= w->samples;

	json_decref(j);
	return ok;
}

/* Samples of the total queue depth from the first that shows queued on:
 * done once there are at least after of them; ok when every one shows
 * queued (the depth did not change meanwhile). The samples between two
 * per-node ones take the total from another read of the store than those
 * that also record each node. */
struct want_steady {
	long queued;
	size_t after;
	bool ok;
	char seen[160];
};

static bool
history_steady(void *arg)
{
	struct want_steady *w = arg;
	json_t *j = get_json("/api/history");
	json_t *q = json_object_get(json_object_get(j, "samples"), "queued");
	size_t n = json_array_size(q), first = n, len = 0;

	for (size_t i = 0; i < n; i++)
		if (json_integer_value(json_array_get(q, i)) == w->queued) {
			first = i;
			break;
		}
	if (first == n || n - first < w->after) {
		json_decref(j);
		return false;
	}
	w->ok = true;
	for (size_t i = first; i < n; i++) {
		long v = (long)json_integer_value(json_array_get(q, i));

		if (v != w->queued)
			w->ok = false;
		if (len < sizeof(w->seen) - 12)
			len += (size_t)snprintf(w->seen + len, sizeof(w->seen) -
			    len, "%ld ", v);
	}
	json_decref(j);
	return true;
}

/* Every documented field with its type, every column the same length. */
static void
expect_history_fields(json_t *j)
{
	json_t *s = json_object_get(j, "samples"), *n = json_object_get(j, "nodes");
	json_t *t;
	static const char *const cols[] = { "submitted_per_minute",
	    "accepted_per_minute", "delivered_per_minute", "refused_per_minute",
	    "queued" };
	size_t len = json_array_size(json_object_get(s, "at"));

	ops_expect_fields(j, "now:t interval_seconds:i slots:i samples:o "
	    "node_interval_seconds:i node_slots:i nodes:o");
	cr_expect_eq(ops_jint(j, "interval_seconds"), 1);
	cr_expect_eq(ops_jint(j, "slots"), 2160);
	cr_expect_eq(ops_jint(j, "node_interval_seconds"), 6);
	cr_expect_eq(ops_jint(j, "node_slots"), 360);
	ops_expect_fields(s, "at:a submitted_per_minute:a accepted_per_minute:a "
	    "delivered_per_minute:a refused_per_minute:a queued:a");
	ops_expect_fields(n, "at:a queued:o");
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		cr_expect_eq(json_array_size(json_object_get(s, cols[i])), len,
		    "%s", cols[i]);
	cr_expect(len >= 1, "no sample taken at start");
	/* times as every view writes them */
	t = json_pack("{s:O}", "t", json_array_get(json_object_get(s, "at"), 0));
	ops_expect_fields(t, "t:t");
	json_decref(t);
	/* every configured node has a ring, also one never queued for */
	cr_expect(json_object_size(json_object_get(n, "queued")) == 4,
	    "nodes: %zu", json_object_size(json_object_get(n, "queued")));
}

Test(console, history_follows_traffic)
{
	struct fixture *fx = fixture_new();
	struct want_history w = { 0, 0, 0, 1 };
	struct want_steady ws = { .queued = 3, .after = 8 };
	struct tclient gbg;
	json_t *j;

	ops_start("history_interval = 1\n");
	/* the first sample is taken once the count of the queues, read off
	 * the loop, comes back: a request before it finds none yet */
	cr_assert(harness_wait(history_shows, &w, 30000), "no sample taken at "
	    "start, with nothing queued");
	j = get_json("/api/history");
	expect_history_fields(j);
	cr_expect_eq(sum_of(json_object_get(j, "samples"),
	    "submitted_per_minute"), 0);
	json_decref(j);
	tclient_open(&gbg, &ops_h, T_GBG, 8);
	ops_submit_to_bup(&gbg, fx, 3, NULL);
	/* 3 submits in a 1 s sample: 180 per minute; BUP is offline */
	w = (struct want_history){ 180, 3, 3, 3 };
	cr_expect(harness_wait(history_shows, &w, 30000), "the history does "
	    "not show 3 submits and 3 queued for BUP");
	/* more than a per-node interval (6 samples) of the same depth */
	cr_expect(harness_wait(history_steady, &ws, 30000), "fewer than 8 "
	    "samples after the first that showed 3 queued");
	cr_expect(ws.ok, "the total queue depth changed while nothing moved: "
	    "%s", ws.seen);
	j = get_json("/api/history");
	expect_history_fields(j);
	cr_expect_eq(sum_of(json_object_get(j, "samples"),
	    "accepted_per_minute"), 180);
	cr_expect_eq(sum_of(json_object_get(j, "samples"),
	    "refused_per_minute"), 0);
	json_decref(j);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* Two messages for BUP, the first nacked into a dead letter (NR052, as
 * itest_naractl's retry test makes one); the second stays delivered but
 * unacked. ids[0] is the dead one. Texts the envelope carries go into
 * clinical[] to show that no view repeats them. */
static void
make_dead_letter(struct fixture *fx, struct tclient *gbg, struct tclient *bup,
    char ids[2][37], char clinical[3][80])
{
	char sql[256];
	Nara__Frame *d;

	tclient_open(gbg, &ops_h, T_GBG, 8);
	for (int i = 0; i < 2; i++) {
		Nara__Envelope *e = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
		Nara__Frame *r;
		snprintf(ids[i], 37, "%s", e->message_id);
		cr_assert(e->subject != NULL);
		snprintf(clinical[0], 80, "%s", e->subject->personal_number);
		snprintf(clinical[1], 80, "%s", e->subject->name);
		snprintf(clinical[2], 80, "%s", e->conversation_id);
		r = tclient_submit(gbg, e);
		cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED);
		frame_free(&r);
	}
	tclient_open(bup, &ops_h, T_BUP, 1);
	d = tclient_expect(bup, NARA__FRAME__KIND_DELIVER, 10000);
	cr_assert(d != NULL);
	cr_assert_str_eq(d->deliver->envelope->message_id, ids[0]);
	frame_free(&d);
	ops_send_nack(bup, ids[0]);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages WHERE "
	    "message_id = '%s' AND state = 2", ids[0]);
	ops_wait_sql(sql, 1);
}

Test(console, dead_letters_metadata_only)
{
	struct fixture *fx = fixture_new();
	char ids[2][37], clinical[3][80], *body = malloc(BODY_MAX);
	struct tclient gbg, bup;
	json_t *j, *list, *m;

	ops_start(NULL);
	j = get_json("/api/dead");
	ops_expect_fields(j, "now:t total:i limit:i dead_letters:a");
	cr_expect_eq(ops_jint(j, "total"), 0);
	cr_expect_eq(json_array_size(json_object_get(j, "dead_letters")), 0);
	json_decref(j);
	make_dead_letter(fx, &gbg, &bup, ids, clinical);

	cr_assert_eq(ops_http_get("GET", "/api/dead", body, BODY_MAX), 200);
	for (int i = 0; i < 3; i++)
		cr_expect(strstr(body, clinical[i]) == NULL, "/api/dead shows "
		    "\"%s\": %s", clinical[i], body);
	j = json_loads(body, 0, NULL);
	cr_assert(j != NULL, "%s", body);
	cr_expect_eq(ops_jint(j, "total"), 1);
	list = json_object_get(j, "dead_letters");
	cr_assert_eq(json_array_size(list), 1, "%s", body);
	m = json_array_get(list, 0);
	ops_expect_fields(m, "message_id:s type:s sender_node:s recipient_node:s "
	    "recipient:s code:s reason:s attempts:i accepted_at:t dead_at:t "
	    "payload_kept:b");
	cr_expect_str_eq(json_string_value(json_object_get(m, "message_id")),
	    ids[0]);
	cr_expect_str_eq(json_string_value(json_object_get(m, "recipient_node")),
	    T_BUP);
	cr_expect_str_eq(json_string_value(json_object_get(m, "code")), "NR052");
	cr_expect_str_eq(json_string_value(json_object_get(m, "reason")),
	    "local system refused it");
	cr_expect_eq(ops_jint(m, "attempts"), 1);
	cr_expect(json_is_true(json_object_get(m, "payload_kept")));
	/* metadata only: exactly these keys, nothing of the content */
	cr_expect_eq(json_object_size(m), 11, "%s", body);
	cr_expect(strstr(body, ids[1]) == NULL, "a message that is not dead "
	    "is listed: %s", body);
	/* read-only: no write method on the listener */
	cr_expect_eq(ops_http_get("POST", "/api/dead", body, BODY_MAX), 405);
	json_decref(j);
	free(body);
	tclient_close(&bup);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* The dashboard after its script ran, from headless Chromium. */
static char *
dump_dom(void)
{
	char cmd[2048], path[400], *dom = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	rc = system("command -v chromium >/dev/null 2>&1");
	cr_assert_eq(rc, 0, "chromium is not installed: the console test needs "
	    "it (Debian package chromium, listed in DEB_PACKAGES; run make deps)");
	snprintf(path, sizeof(path), "%s/dom.html", ops_h.dir);
	snprintf(cmd, sizeof(cmd), "timeout 120 chromium --headless --no-sandbox "
	    "--disable-gpu --no-first-run --user-data-dir=%s/chromium "
	    "--virtual-time-budget=4000 --dump-dom http://127.0.0.1:%d/ "
	    ">%s 2>%s/chromium.log", ops_h.dir, ops_http_port, path, ops_h.dir);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "chromium failed (%d); see %s/chromium.log", rc,
	    ops_h.dir);
	cr_assert((f = fopen(path, "r")) != NULL);
	cr_assert(getdelim(&dom, &len, '\0', f) > 0);
	fclose(f);
	return dom;
}

/* A screenshot of the dashboard kept as a test artefact in
 * build/tests/artefacts/console.png under NARA_TOP, for a person to look
 * at; the test asserts on the DOM, not on the picture. */
static void
keep_screenshot(void)
{
	const char *top = getenv("NARA_TOP");
	char dir[400], cmd[2048];
	struct stat st;
	int rc;

	snprintf(dir, sizeof(dir), "%s/build/tests/artefacts", top ? top : ".");
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && timeout 120 chromium "
	    "--headless --no-sandbox --disable-gpu --no-first-run "
	    "--user-data-dir=%s/chromium --virtual-time-budget=4000 "
	    "--window-size=1280,1100 --screenshot=%s/console.png "
	    "http://127.0.0.1:%d/ >/dev/null 2>>%s/chromium.log", dir, ops_h.dir,
	    dir, ops_http_port, ops_h.dir);
	rc = system(cmd);
	cr_expect_eq(rc, 0, "chromium --screenshot failed (%d)", rc);
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/console.png");
	cr_expect(stat(dir, &st) == 0 && st.st_size > 0, "no screenshot %s",
	    dir);
}

/* The polyline of series in the chart svg id, with its number of points. */
static int
chart_points(const char *dom, const char *svg_id, const char *series)
{
	char want[200];
	const char *svg, *end, *line, *pts;

	snprintf(want, sizeof(want), "<svg id=\"%s\"", svg_id);
	if ((svg = strstr(dom, want)) == NULL || (end = strstr(svg, "</svg>"))
	    == NULL)
		return -1;
	snprintf(want, sizeof(want), "data-series=\"%s\"", series);
	if ((line = strstr(svg, want)) == NULL || line > end ||
	    (pts = strstr(line, "data-points=\"")) == NULL || pts > end)
		return -1;
	return atoi(pts + strlen("data-points=\""));
}

/* The text of the row that starts with want (empty when none); true
 * when it comes before the first node row. */
static bool __attribute__((noinline))
dead_row(const char *dom, const char *want, char *out, size_t len)
{
	const char *row = strstr(dom, want), *node = strstr(dom, "<tr id=\"node-");

	snprintf(out, len, "%.1000s", row != NULL ? row : "");
	return row != NULL && node != NULL && row < node;
}

Test(console, dashboard_charts_and_dead_letters)
{
	struct fixture *fx = fixture_new();
	char ids[2][37], clinical[3][80], want[300], row_text[1100], *dom;
	struct want_history w = { 120, 1, 1, 3 };
	bool before;
	struct tclient gbg, bup;

	ops_start("history_interval = 1\n");
	make_dead_letter(fx, &gbg, &bup, ids, clinical);
	/* one dead, one delivered and waiting for its ack (still queued) */
	cr_assert(harness_wait(history_shows, &w, 30000), "no history of the "
	    "2 submits");
	dom = dump_dom();
	cr_expect(strstr(dom, "<div id=\"error\"></div>") != NULL,
	    "the page reports an error: %s", dom);
	cr_expect(chart_points(dom, "chart-rates-svg", "submitted") >= 3,
	    "no rates chart with data: %s", dom);
	cr_expect(chart_points(dom, "chart-rates-svg", "refused") >= 3);
	cr_expect(chart_points(dom, "chart-queue-svg", "queued") >= 3,
	    "no queue chart with data");
	cr_expect(strstr(dom, "<svg id=\"chart-nodes-svg\"") != NULL);
	/* the dead-letter section is shown, above the nodes, with the row */
	cr_expect(strstr(dom, "<section id=\"dead-section\">") != NULL,
	    "dead letters hidden: %s", dom);
	snprintf(want, sizeof(want), "<tr id=\"dead-%s\" class=\"dead\">",
	    ids[0]);
	before = dead_row(dom, want, row_text, sizeof(row_text));
	cr_assert(row_text[0] != '\0', "no dead-letter row %s in %s", want, dom);
	cr_expect(before, "dead letters not before the nodes");
	cr_expect(strstr(row_text, "<td class=\"code\">NR052</td><td class=\"reason\">"
	    "local system refused it</td>") != NULL, "%s", row_text);
	cr_expect(strstr(row_text, "<td class=\"node\">" T_BUP "</td>") != NULL);
	snprintf(want, sizeof(want), "<tr id=\"dead-%s\"", ids[1]);
	cr_expect(strstr(dom, want) == NULL, "a live message listed as dead");
	for (int i = 0; i < 3; i++)
		cr_expect(strstr(dom, clinical[i]) == NULL, "the page shows "
		    "\"%s\"", clinical[i]);
	free(dom);
	keep_screenshot();
	tclient_close(&bup);
	tclient_close(&gbg);
	fixture_free(&fx);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}
