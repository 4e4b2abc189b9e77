/*
 * itest_extract.c — the auditors' documents against a store written by a
 * real narad: the patient's log extract (one line per message, Swedish
 * words, units by name, outcome) checked cell by cell in CSV and JSON,
 * every spelling of the child's number finding the same messages, the
 * extract audited with operator and pseudonym, and both documents (the
 * extract and the review report) rendered by headless Chromium with their
 * DOM checked; the extract printed to PDF; the --output file made 0600
 * whatever the umask, and nothing of the extract left in /tmp when
 * chromium fails.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "harness.h"
#include "validate.h"

/* The child: born 2019-02-14, written as a guardian would write it. */
#define CHILD_SHORT "190214-0621"
static char child[] = "201902140621";
static char other_child[] = "191212121212";
#define UNSERVED "SE2321000131-E000000000999"
#define OUT_MAX 262144

static struct harness h;
static struct fixture *fx;
static char tool[300], out[OUT_MAX];

/* The messages of the scenario: A receipted, E delivered, B waiting, C
 * refused (all about the child), D about another child. */
static char id_a[37], id_e[37], id_b[37], id_c[37], id_d[37];

static int audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
audit(const char *fmt, ...)
{
	char args[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return harness_run(out, sizeof(out), "{ %s %s 2>/dev/null; }", tool, args);
}

static Nara__Envelope *
envelope(Nara__MessageType type, const char *from, const char *to, char *pn,
    char id[37])
{
	Nara__Envelope *e = fixture_envelope(fx, type, from, to);

	e->subject->personal_number = pn;
	strcpy(id, e->message_id);
	return e;
}

static void
submit(struct tclient *c, Nara__Envelope *e, Nara__Frame__KindCase want)
{
	Nara__Frame *r = tclient_submit(c, e);

	cr_assert_eq(r->kind_case, want, "answer kind %d", r->kind_case);
	frame_free(&r);
}

static void
deliver_ack(struct tclient *soc, const char *id)
{
	Nara__Frame *d = tclient_expect(soc, NARA__FRAME__KIND_DELIVER, 5000);

	cr_assert_not_null(d);
	cr_assert_str_eq(d->deliver->envelope->message_id, id);
	frame_free(&d);
	tclient_ack(soc, id, false);
}

static void
wait_event(const char *event, const char *id)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "select count(*) from audit where event = "
	    "'%s' and message_id = '%s'", event, id);
	cr_assert(harness_wait_sql(&h, sql, 1, 10000), "no %s row for %s; see "
	    "%s", event, id, h.log);
}

static void
traffic(void)
{
	struct tclient bup, soc, eh;
	Nara__Frame *r;

	tclient_open(&bup, &h, T_BUP, 16);
	tclient_open(&soc, &h, T_GBG, 16);
	submit(&bup, envelope(NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP,
	    T_GBG_SOC, child, id_a), NARA__FRAME__KIND_ACCEPTED);
	deliver_ack(&soc, id_a);
	r = tclient_expect(&bup, NARA__FRAME__KIND_RECEIPT, 5000);
	cr_assert_not_null(r);
	frame_free(&r);
	tclient_ack(&bup, id_a, true);
	wait_event("receipt_acked", id_a);
	submit(&bup, envelope(NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP,
	    T_GBG_SOC, child, id_e), NARA__FRAME__KIND_ACCEPTED);
	deliver_ack(&soc, id_e);
	wait_event("acked", id_e);
	submit(&bup, envelope(NARA__MESSAGE_TYPE__REFERRAL, T_BUP, T_BORAS_SOC,
	    child, id_b), NARA__FRAME__KIND_ACCEPTED);
	tclient_close(&soc);
	tclient_open(&eh, &h, T_GBG, 16);
	submit(&eh, envelope(NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, UNSERVED,
	    child, id_c), NARA__FRAME__KIND_REJECTED);
	submit(&bup, envelope(NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, T_BUP,
	    T_GBG_SOC, other_child, id_d), NARA__FRAME__KIND_ACCEPTED);
	wait_event("rejected", id_c);
	tclient_close(&eh);
	tclient_close(&bup);
}

static void
setup(void)
{
	harness_bin("nara-audit", tool, sizeof(tool));
	harness_init(&h, NULL);
	harness_start(&h);
	fx = fixture_new();
	traffic();
	/* The test reads times as the document writes them. */
	setenv("TZ", "Europe/Stockholm", 1);
	tzset();
}

static void
teardown(void)
{
	fixture_free(&fx);
	harness_cleanup(&h);
}

TestSuite(extract, .init = setup, .fini = teardown, .timeout = 180);

/* The time of the first row event of message id, in epoch ms. */
static long
row_ms(const char *event, const char *id)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "select min(time) from audit where event = "
	    "'%s' and message_id = '%s'", event, id);
	return harness_sql_long(&h, sql);
}

static const char *
utc(long ms, char *buf)
{
	return time_format(ms / 1000, buf, 32);
}

static const char *
swe(long ms, char *buf)
{
	time_t t = ms / 1000;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%d %H:%M", &tm);
	return buf;
}

/* The CSV the extract must be, from the times in the store. */
static void
expected_csv(char *buf, size_t len)
{
	char t[12][32];

	snprintf(buf, len,
	    "tid,typ,fran_enhet,fran_adress,till_enhet,till_adress,"
	    "rattslig_grund,status,levererat,kvitterat,kod,utfall,meddelande_id\n"
	    "%s,Orosanmälan,BUP Göteborg," T_BUP ",\"Göteborg, socialtjänst\","
	    T_GBG_SOC ",Anmälningsskyldighet,kvitterat,%s,%s,,Levererat %s; "
	    "kvittens till avsändaren %s,%s\n"
	    "%s,Orosanmälan,BUP Göteborg," T_BUP ",\"Göteborg, socialtjänst\","
	    T_GBG_SOC ",Anmälningsskyldighet,levererat,%s,,,Levererat %s,%s\n"
	    "%s,Remiss,BUP Göteborg," T_BUP ",\"Borås, socialtjänst\","
	    T_BORAS_SOC ",Vårdnadshavares samtycke,vantar,,,,Väntar fortfarande "
	    "på att mottagaren hämtar meddelandet,%s\n"
	    "%s,Remiss,\"Göteborg, elevhälsa\"," T_GBG_EH ",Okänd enhet,"
	    UNSERVED ",Vårdnadshavares samtycke,avvisat,,,NR032,Avvisat %s: det "
	    "finns ingen mottagare med den adressen (kod NR032),%s\n",
	    utc(row_ms("received", id_a), t[0]), utc(row_ms("acked", id_a), t[1]),
	    utc(row_ms("receipt_acked", id_a), t[2]), swe(row_ms("acked", id_a),
	    t[3]), swe(row_ms("receipt_acked", id_a), t[4]), id_a,
	    utc(row_ms("received", id_e), t[5]), utc(row_ms("acked", id_e), t[6]),
	    swe(row_ms("acked", id_e), t[7]), id_e,
	    utc(row_ms("received", id_b), t[8]), id_b,
	    utc(row_ms("rejected", id_c), t[9]), swe(row_ms("rejected", id_c),
	    t[10]), id_c);
}

Test(extract, csv_is_one_exact_line_per_message)
{
	char want[4096];

	expected_csv(want, sizeof(want));
	cr_assert_eq(audit("extract %s -c %s --format csv --operator revisor",
	    CHILD_SHORT, h.conf), 0, "%s", out);
	cr_expect_str_eq(out, want);
	cr_expect(strstr(out, id_d) == NULL, "another child's message");
}

static const char *
jget(json_t *o, const char *path)
{
	char key[64];
	const char *dot = strchr(path, '.');

	if (dot != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		return jget(json_object_get(o, key), dot + 1);
	}
	o = json_object_get(o, path);
	return json_is_string(o) ? json_string_value(o) : json_is_null(o)
	    ? "null" : "?";
}

/* Each line's fields: exact words, units, codes and times. */
Test(extract, json_fields_exact)
{
	json_error_t jerr;
	json_t *j, *m, *c;
	char t[3][32];

	cr_assert_eq(audit("extract %s -c %s --format json --operator revisor",
	    child, h.conf), 0, "%s", out);
	cr_assert_not_null(j = json_loads(out, 0, &jerr), "%s", out);
	cr_expect_str_eq(jget(j, "dokument"), "loggutdrag");
	cr_expect_str_eq(jget(j, "skapat_av"), "revisor");
	cr_expect_eq(json_integer_value(json_object_get(j,
	    "antal_meddelanden")), 4);
	m = json_object_get(j, "meddelanden");
	cr_assert_eq(json_array_size(m), 4);
	c = json_array_get(m, 0);
	cr_expect_str_eq(jget(c, "meddelande_id"), id_a);
	cr_expect_str_eq(jget(c, "tid"), utc(row_ms("received", id_a), t[0]));
	cr_expect_str_eq(jget(c, "typ"), "Orosanmälan");
	cr_expect_str_eq(jget(c, "typ_kod"), "report_of_concern");
	cr_expect_str_eq(jget(c, "fran.namn"), "BUP Göteborg");
	cr_expect_str_eq(jget(c, "fran.adress"), T_BUP);
	cr_expect_str_eq(jget(c, "till.namn"), "Göteborg, socialtjänst");
	cr_expect_str_eq(jget(c, "till.adress"), T_GBG_SOC);
	cr_expect_str_eq(jget(c, "rattslig_grund"), "Anmälningsskyldighet");
	cr_expect_str_eq(jget(c, "rattslig_grund_kod"), "mandatory_report");
	cr_expect_str_eq(jget(c, "status"), "kvitterat");
	cr_expect_str_eq(jget(c, "levererat"), utc(row_ms("acked", id_a), t[1]));
	cr_expect_str_eq(jget(c, "kvitterat"), utc(row_ms("receipt_acked",
	    id_a), t[2]));
	cr_expect_str_eq(jget(c, "kod"), "null");
	c = json_array_get(m, 2);
	cr_expect_str_eq(jget(c, "meddelande_id"), id_b);
	cr_expect_str_eq(jget(c, "status"), "vantar");
	cr_expect_str_eq(jget(c, "levererat"), "null");
	cr_expect_str_eq(jget(c, "rattslig_grund"), "Vårdnadshavares samtycke");
	c = json_array_get(m, 3);
	cr_expect_str_eq(jget(c, "meddelande_id"), id_c);
	cr_expect_str_eq(jget(c, "status"), "avvisat");
	cr_expect_str_eq(jget(c, "kod"), "NR032");
	cr_expect_str_eq(jget(c, "till.namn"), "Okänd enhet");
	json_decref(j);
}

/* Every spelling finds the same four messages; wrong ones are exit 2
 * with NR013 and never echoed. */
Test(extract, every_spelling_same_child)
{
	static const char *const spellings[] = { "201902140621",
	    "20190214-0621", "190214-0621", "1902140621" };
	static const char *const wrong[] = { "190214-0622", "20190214+0621",
	    "190214", "1902140621x" };
	char first[OUT_MAX];

	cr_assert_eq(audit("extract %s -c %s --format csv --operator x",
	    spellings[0], h.conf), 0, "%s", out);
	strcpy(first, out);
	cr_expect(strstr(first, id_c) != NULL);
	for (size_t i = 1; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		cr_expect_eq(audit("extract %s -c %s --format csv --operator x",
		    spellings[i], h.conf), 0, "%s", out);
		cr_expect_str_eq(out, first, "%s differs", spellings[i]);
	}
	cr_expect_eq(harness_run(out, sizeof(out), "echo %s | %s extract - -c "
	    "%s --format csv --operator x 2>/dev/null", spellings[2], tool,
	    h.conf), 0);
	cr_expect_str_eq(out, first, "from standard input");
	cr_expect_eq(audit("subject %s -c %s --csv", spellings[3], h.conf), 0);
	cr_expect(strstr(out, id_a) != NULL && strstr(out, id_d) == NULL);
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		cr_expect_eq(harness_run(out, sizeof(out), "%s extract %s -c %s",
		    tool, wrong[i], h.conf), 2, "%s accepted", wrong[i]);
		cr_expect(strstr(out, "NR013") != NULL, "%s: %s", wrong[i], out);
		cr_expect(strstr(out, wrong[i]) == NULL, "echoed: %s", out);
	}
}

/* A submission refused for its number's spelling is the child's: its
 * row carries the pseudonym of the 12 digits, so the extract lists it; a
 * number that is none (a wrong check digit) gives a row without any
 * pseudonym. (The rows carried the HMAC of the text as sent: the extract
 * missed the first.) */
Test(extract, refused_spelling_is_the_childs_refusal)
{
	static char spelled[] = "20190214-0621", bad[] = "201902140622";
	char id_spelled[37], id_bad[37], sql[200];
	struct tclient eh;

	tclient_open(&eh, &h, T_GBG, 16);
	submit(&eh, envelope(NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP,
	    spelled, id_spelled), NARA__FRAME__KIND_REJECTED);
	submit(&eh, envelope(NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP,
	    bad, id_bad), NARA__FRAME__KIND_REJECTED);
	wait_event("rejected", id_bad);
	tclient_close(&eh);
	cr_assert_eq(audit("extract %s -c %s --format csv --operator x",
	    CHILD_SHORT, h.conf), 0, "%s", out);
	cr_expect(strstr(out, id_spelled) != NULL && strstr(out, "NR013")
	    != NULL, "the refusal is not in the child's extract: %s", out);
	cr_expect(strstr(out, id_bad) == NULL, "%s", out);
	snprintf(sql, sizeof(sql), "select count(*) from audit where event = "
	    "'rejected' and message_id = '%s' and subject is null", id_bad);
	cr_expect_eq(harness_sql_long(&h, sql), 1, "a pseudonym of no number");
}

/* Making an extract is a row naming operator and pseudonym; the
 * document never shows the pseudonym. */
Test(extract, extract_is_audited)
{
	char sql[800], subject[80] = "";
	FILE *p;

	snprintf(sql, sizeof(sql), "sqlite3 %s \"select subject from audit "
	    "where event = 'received' and message_id = '%s'\"", h.store, id_a);
	cr_assert_not_null(p = popen(sql, "r"));
	cr_assert_not_null(fgets(subject, sizeof(subject), p));
	pclose(p);
	subject[strcspn(subject, "\n")] = '\0';
	cr_assert_eq(strlen(subject), 64);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'log_extracted'"), 0);
	cr_assert_eq(audit("extract %s -c %s --format json --operator "
	    "'Revisor Rut'", CHILD_SHORT, h.conf), 0, "%s", out);
	cr_expect(strstr(out, subject) == NULL, "pseudonym in the document");
	cr_expect(strstr(out, child) == NULL, "number in the document");
	/* the pseudonym in the subject column, as on every row about the
	 * child; the operator as author and in the detail */
	snprintf(sql, sizeof(sql), "select count(*) from audit where event = "
	    "'log_extracted' and subject = '%s' and author = 'Revisor Rut' and "
	    "message_id is null and detail like 'log extract by Revisor Rut "
	    "(OS user %% (uid %%)): 4 messages, json'", subject);
	cr_expect_eq(harness_sql_long(&h, sql), 1);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "detail like '%log extract%' and detail like '%' || subject || "
	    "'%'"), 0, "pseudonym in the detail");
	/* queries by subject find it; the next extract does not count it
	 * as a message */
	cr_assert_eq(audit("subject %s -c %s --csv", CHILD_SHORT, h.conf), 0);
	cr_expect(strstr(out, "log_extracted") != NULL, "subject does not "
	    "list the extract: %s", out);
	cr_assert_eq(audit("extract %s -c %s --format csv", CHILD_SHORT,
	    h.conf), 0);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'log_extracted' and detail like '% by % (uid %: 4 "
	    "messages, csv'"), 1, "the OS user is the operator by default");
	cr_expect_eq(audit("verify -c %s", h.conf), 0, "%s", out);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "detail like '%201902140621%'"), 0);
}

/* chromium --dump-dom of a local file; the DOM (malloc'd). */
static char *
dump_dom(const char *html)
{
	char cmd[2048], path[400], *dom = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	cr_assert_eq(system("command -v chromium >/dev/null 2>&1"), 0,
	    "chromium is not installed (Debian package chromium, listed in "
	    "DEB_PACKAGES; run make deps)");
	snprintf(path, sizeof(path), "%s/dom.html", h.dir);
	snprintf(cmd, sizeof(cmd), "timeout 120 chromium --headless --no-sandbox "
	    "--disable-gpu --no-first-run --user-data-dir=%s/chromium "
	    "--dump-dom file://%s >%s 2>%s/chromium.log", h.dir, html, path,
	    h.dir);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "chromium failed (%d); see %s/chromium.log", rc,
	    h.dir);
	cr_assert_not_null(f = fopen(path, "r"));
	cr_assert_gt(getdelim(&dom, &len, '\0', f), 0);
	fclose(f);
	return dom;
}

/* A screenshot of the document kept as a test artefact in
 * build/tests/artefacts/NAME under NARA_TOP, for a person to look at;
 * the tests assert on the DOM, not on the picture. */
static void
keep_screenshot(const char *html, const char *name)
{
	const char *top = getenv("NARA_TOP");
	char dir[400], cmd[2048];
	int rc;

	snprintf(dir, sizeof(dir), "%s/build/tests/artefacts", top ? top : ".");
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && timeout 120 chromium "
	    "--headless --no-sandbox --disable-gpu --no-first-run "
	    "--user-data-dir=%s/chromium --window-size=1200,800 "
	    "--screenshot=%s/%s file://%s >/dev/null 2>>%s/chromium.log", dir,
	    h.dir, dir, name, html, h.dir);
	rc = system(cmd);
	cr_expect_eq(rc, 0, "chromium --screenshot failed (%d)", rc);
}

/* The text of the <tr> whose data-id is id, from "<tr", or "". */
static const char *
dom_row(const char *dom, const char *id, char *buf, size_t len)
{
	char want[100];
	const char *p, *end;

	snprintf(want, sizeof(want), "data-id=\"%s\"", id);
	buf[0] = '\0';
	if ((p = strstr(dom, want)) == NULL || (end = strstr(p, "</tr>"))
	    == NULL)
		return buf;
	while (p > dom && strncmp(p, "<tr", 3) != 0)
		p--;
	snprintf(buf, len, "%.*s", (int)(end - p), p);
	return buf;
}

Test(extract, html_rendered_by_chromium)
{
	char html[400], row[4096], pdf[400];
	char *dom;
	FILE *f;

	snprintf(html, sizeof(html), "%s/extract.html", h.dir);
	cr_assert_eq(audit("extract %s -c %s --output %s --operator revisor",
	    CHILD_SHORT, h.conf, html), 0, "%s", out);
	dom = dump_dom(html);
	cr_expect(strstr(dom, "<h1>Loggutdrag</h1>") != NULL);
	cr_expect(strstr(dom, "<dd id=\"count\">4</dd>") != NULL);
	cr_expect(strstr(dom, "<dd id=\"operator\">revisor</dd>") != NULL);
	cr_expect(strstr(dom, "Tider i svensk tid.") != NULL, "tzdata "
	    "(Debian package tzdata) is installed, so times are Swedish");
	dom_row(dom, id_a, row, sizeof(row));
	cr_expect(strstr(row, "data-status=\"kvitterat\"") != NULL, "%s", row);
	cr_expect(strstr(row, "Orosanmälan") != NULL, "%s", row);
	cr_expect(strstr(row, "BUP Göteborg<span class=\"id\">HSA-id: " T_BUP)
	    != NULL, "%s", row);
	cr_expect(strstr(row, "Göteborg, socialtjänst") != NULL, "%s", row);
	cr_expect(strstr(row, "kvittens till avsändaren") != NULL, "%s", row);
	dom_row(dom, id_b, row, sizeof(row));
	cr_expect(strstr(row, "Väntar fortfarande") != NULL, "%s", row);
	dom_row(dom, id_c, row, sizeof(row));
	cr_expect(strstr(row, "det finns ingen mottagare") != NULL, "%s", row);
	cr_expect(strstr(dom, id_d) == NULL);
	cr_expect(strstr(dom, "http") == NULL, "an external reference");
	free(dom);
	keep_screenshot(html, "extract.png");
	snprintf(pdf, sizeof(pdf), "%s/extract.pdf", h.dir);
	cr_assert_eq(harness_run(out, sizeof(out), "%s extract %s -c %s "
	    "--format pdf --output %s --operator revisor", tool, CHILD_SHORT,
	    h.conf, pdf), 0, "%s", out);
	cr_assert_not_null(f = fopen(pdf, "rb"));
	cr_assert_not_null(fgets(row, 8, f));
	fclose(f);
	cr_expect_eq(strncmp(row, "%PDF-", 5), 0);
	cr_expect_eq(audit("extract %s -c %s --format pdf", CHILD_SHORT, h.conf),
	    2, "pdf without --output");
}

/* Without chromium the PDF is refused up front: exit 2, a message that
 * names the package, no file and no log_extracted row. */
Test(extract, pdf_without_chromium_is_a_clear_error)
{
	char pdf[400];
	struct stat sb;

	snprintf(pdf, sizeof(pdf), "%s/none.pdf", h.dir);
	cr_assert_eq(harness_run(out, sizeof(out), "env PATH=%s/empty %s "
	    "extract %s -c %s --format pdf --output %s", h.dir, tool,
	    CHILD_SHORT, h.conf, pdf), 2, "%s", out);
	cr_expect(strstr(out, "NR072") != NULL && strstr(out, "apt-get "
	    "install chromium") != NULL, "%s", out);
	cr_expect_neq(stat(pdf, &sb), 0, "a PDF was written");
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'log_extracted'"), 0);
}

/* An --output that cannot be written stops the extract before its audit
 * row: no row claims an extract nobody received. */
Test(extract, unwritable_output_is_refused_before_the_audit_row)
{
	cr_expect_eq(harness_run(out, sizeof(out), "%s extract %s -c %s "
	    "--output %s/no/such/dir/x.html", tool, CHILD_SHORT, h.conf, h.dir),
	    2, "%s", out);
	cr_expect(strstr(out, "NR071") != NULL, "%s", out);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'log_extracted'"), 0);
}

/* With a pseudonym key other than the store's, the extract is refused
 * (it found nothing and said so with exit 0: a patient told that no
 * message about them exists), and no row says one was made. */
Test(extract, another_pseudonym_key_is_refused)
{
	char conf[400];

	snprintf(conf, sizeof(conf), "%s/other.conf", h.dir);
	cr_assert_eq(harness_run(out, sizeof(out), "head -c 32 /dev/urandom > "
	    "%s/other.key && chmod 600 %s/other.key && sed 's|^pseudonym_key "
	    "= .*|pseudonym_key = %s/other.key|' %s > %s", h.dir, h.dir, h.dir,
	    h.conf, conf), 0, "%s", out);
	cr_expect_eq(harness_run(out, sizeof(out), "%s extract %s -c %s "
	    "--format csv", tool, CHILD_SHORT, conf), 2, "%s", out);
	cr_expect(strstr(out, "another pseudonym key") != NULL, "%s", out);
	cr_expect(strstr(out, "NR070") != NULL, "%s", out);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from audit where "
	    "event = 'log_extracted'"), 0);
}

Test(extract, review_report_rendered_by_chromium)
{
	char html[400], row[4096], day[16];
	time_t now = time(NULL);
	struct tm tm;
	char *dom;

	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	cr_assert_eq(audit("review record %s -c %s --reviewer rut "
	    "--conclusion 'Befogad: anmälningsplikt.'", id_a, h.conf), 0,
	    "%s", out);
	snprintf(html, sizeof(html), "%s/review.html", h.dir);
	cr_assert_eq(audit("review report --from %s --to %s --n 4 --seed 1 "
	    "-c %s --output %s --operator revisor", day, day, h.conf, html), 0,
	    "%s", out);
	dom = dump_dom(html);
	cr_expect(strstr(dom, "Rapport från systematisk logguppföljning")
	    != NULL);
	cr_expect(strstr(dom, "<dd id=\"population\">4 meddelanden</dd>")
	    != NULL, "%s", dom);
	cr_expect(strstr(dom, "<dd id=\"reviewed\">1</dd>") != NULL);
	cr_expect(strstr(dom, "<dd id=\"unreviewed\">3</dd>") != NULL);
	dom_row(dom, id_a, row, sizeof(row));
	cr_expect(strstr(row, "Befogad: anmälningsplikt.") != NULL, "%s", row);
	cr_expect(strstr(row, "rut") != NULL, "%s", row);
	dom_row(dom, id_d, row, sizeof(row));
	cr_expect(strstr(row, "Ej granskad") != NULL, "%s", row);
	cr_expect(strstr(row, "<td class=\"sampled\">Ja</td>") != NULL, "%s",
	    row);
	free(dom);
	keep_screenshot(html, "review.png");
	/* without a sample: the reviewed message only */
	cr_assert_eq(audit("review report --from %s --to %s -c %s --format "
	    "json", day, day, h.conf), 0, "%s", out);
	cr_expect(strstr(out, id_a) != NULL && strstr(out, id_d) == NULL,
	    "%s", out);
	cr_expect(strstr(out, "\"slutsats\": \"Befogad: anmälningsplikt.\"")
	    != NULL, "%s", out);
	/* options of the other action are usage errors, not ignored */
	cr_expect_eq(audit("review record %s -c %s --reviewer rut --conclusion "
	    "x --n 3", id_a, h.conf), 2);
	cr_expect_eq(audit("review report --from %s --to %s -c %s --reviewer "
	    "rut", day, day, h.conf), 2);
	cr_expect_eq(audit("review report -c %s", h.conf), 2);
}

/* ---------------------------------------------------------------- docs */

/* The file at NARA_TOP/path (malloc'd). */
static char *
read_doc(const char *path)
{
	const char *top = getenv("NARA_TOP");
	char full[600], *text = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(full, sizeof(full), "%s/%s", top ? top : ".", path);
	cr_assert_not_null(f = fopen(full, "r"), "%s", full);
	cr_assert_gt(getdelim(&text, &len, '\0', f), 0);
	fclose(f);
	return text;
}

/* Run one documented command line as written, with the test's config
 * for /etc/nara/nara.conf and the built tool for nara-audit; 1 when it
 * is an extract or review report command (and was run). */
static int
run_doc_line(const char *line)
{
	char cmd[1600], *p;
	const char *at;
	size_t o = 0;

	if (strstr(line, "nara-audit extract") == NULL &&
	    strstr(line, "nara-audit review report") == NULL)
		return 0;
	o = (size_t)snprintf(cmd, sizeof(cmd), "cd %s && ", h.dir);
	for (at = line; *at != '\0' && o + 400 < sizeof(cmd); ) {
		if (strncmp(at, "/etc/nara/nara.conf", 19) == 0) {
			o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "%s",
			    h.conf);
			at += 19;
		} else if (strncmp(at, "nara-audit ", 11) == 0) {
			o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "%s ",
			    tool);
			at += 11;
		} else {
			cmd[o++] = *at++;
		}
	}
	cmd[o] = '\0';
	while ((p = strstr(cmd, "\\e")) != NULL)   /* man: \e is \ */
		memmove(p + 1, p + 2, strlen(p + 2) + 1);
	cr_expect_eq(harness_run(out, sizeof(out), "%s", cmd), 0,
	    "documented command failed: %s\n%s", line, out);
	return 1;
}

/* The lines of text between the markers, continuation lines (ending in
 * cont) joined, each passed to run_doc_line; how many ran. */
static int
run_doc_block(char *text, const char *from, const char *to, const char *cont)
{
	char *start = strstr(text, from), *end, *line, *next, joined[1200];
	size_t j = 0, cl = strlen(cont);
	int n = 0;

	cr_assert_not_null(start, "no \"%s\"", from);
	cr_assert_not_null(end = strstr(start, to), "no \"%s\"", to);
	*end = '\0';
	for (line = start; line != NULL; line = next) {
		size_t len;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		len = strlen(line);
		if (len >= cl && strcmp(line + len - cl, cont) == 0) {
			j += (size_t)snprintf(joined + j, sizeof(joined) - j,
			    "%.*s", (int)(len - cl), line);
			continue;
		}
		snprintf(joined + j, sizeof(joined) - j, "%s", line);
		n += run_doc_line(joined);
		j = 0;
	}
	return n;
}

/* The extract and review report examples of AUDIT.md and nara-audit(1)
 * run as written against this store and exit 0. */
Test(extract, documented_examples_run_as_written)
{
	char *md = read_doc("docs/AUDIT.md"), *man;

	cr_expect_geq(run_doc_block(md, "## The patient's log extract",
	    "## SIEM", "\\"), 5);
	free(md);
	man = read_doc("docs/man/nara-audit.1");
	cr_expect_geq(run_doc_block(man, ".SH EXAMPLES", ".SH FILES", "\\e"),
	    4);
	free(man);
}

/* ---------------------------------------------------------------- files */

/* The permission bits of path, -1 when it is not there. */
static int
file_mode(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

/* An --output file holds the child's log extract: it is made 0600 in
 * every format, whatever the umask. A file that was there keeps its
 * mode and, when no document is made, its content; one the extract made
 * is removed then. */
Test(extract, output_file_is_private_whatever_the_umask)
{
	static const char *const formats[] = { "html", "csv", "json", "pdf" };
	char path[400], text[16] = "";
	FILE *f;

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		snprintf(path, sizeof(path), "%s/umask.%s", h.dir, formats[i]);
		cr_assert_eq(harness_run(out, sizeof(out), "umask 000 && %s "
		    "extract %s -c %s --format %s --output %s", tool, CHILD_SHORT,
		    h.conf, formats[i], path), 0, "%s", out);
		cr_expect_eq(file_mode(path), 0600, "%s: mode %o", formats[i],
		    (unsigned)file_mode(path));
	}
	/* no document (the store cannot be read): the file that was there is
	 * left as it was, the one the extract made is gone */
	snprintf(path, sizeof(path), "%s/kept.html", h.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("kept\n", f);
	fclose(f);
	cr_assert_eq(chmod(path, 0640), 0);
	cr_expect_eq(harness_run(out, sizeof(out), "%s extract %s -c %s --store "
	    "%s/nope.db --output %s", tool, CHILD_SHORT, h.conf, h.dir, path), 2,
	    "%s", out);
	cr_expect_eq(file_mode(path), 0640);
	cr_assert_not_null(f = fopen(path, "r"), "an existing file was removed");
	cr_expect_not_null(fgets(text, sizeof(text), f));
	fclose(f);
	cr_expect_str_eq(text, "kept\n");
	snprintf(path, sizeof(path), "%s/made.html", h.dir);
	cr_expect_eq(harness_run(out, sizeof(out), "%s extract %s -c %s --store "
	    "%s/nope.db --output %s", tool, CHILD_SHORT, h.conf, h.dir, path), 2,
	    "%s", out);
	cr_expect_eq(file_mode(path), -1, "an empty %s was left", path);
}

/* When chromium fails, the HTML it was given (the child's extract) is
 * not left behind: it was written 0600 in a 0700 directory, and both are
 * removed; chromium's complaint is shown; no PDF file is left. */
Test(extract, failed_pdf_print_leaves_no_copy_of_the_extract)
{
	char bin[300], given[400], html[400] = "", pdf[400], modes[32] = "",
	    *dir;
	FILE *f;

	snprintf(bin, sizeof(bin), "%s/fakebin", h.dir);
	snprintf(given, sizeof(given), "%s/given", h.dir);
	cr_assert_eq(mkdir(bin, 0755), 0);
	snprintf(pdf, sizeof(pdf), "%s/chromium", bin);
	cr_assert_not_null(f = fopen(pdf, "w"));
	/* a chromium that notes the page it was given and fails */
	fprintf(f, "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in file://*)\n"
	    "  p=\"${a#file://}\"; echo \"$p\" > %s\n"
	    "  stat -c %%a \"${p%%/*}\" \"$p\" >> %s;;\nesac; done\n"
	    "echo chromium cannot print here >&2\nexit 21\n", given, given);
	fclose(f);
	cr_assert_eq(chmod(pdf, 0755), 0);
	snprintf(pdf, sizeof(pdf), "%s/failed.pdf", h.dir);
	cr_expect_eq(harness_run(out, sizeof(out), "PATH=%s:$PATH %s extract %s "
	    "-c %s --format pdf --output %s", bin, tool, CHILD_SHORT, h.conf,
	    pdf), 2, "%s", out);
	cr_expect(strstr(out, "chromium cannot print here") != NULL, "%s", out);
	cr_assert_not_null(f = fopen(given, "r"), "chromium was not run: %s",
	    out);
	cr_assert_not_null(fgets(html, sizeof(html), f));
	html[strcspn(html, "\n")] = '\0';
	cr_expect_not_null(fgets(modes, sizeof(modes), f));
	cr_expect_not_null(fgets(modes + strlen(modes), sizeof(modes) -
	    strlen(modes), f));
	fclose(f);
	cr_expect_str_eq(modes, "700\n600\n", "directory and HTML modes");
	cr_expect_eq(file_mode(html), -1, "%s was left", html);
	cr_assert_not_null(dir = strrchr(html, '/'));
	*dir = '\0';
	cr_expect_eq(file_mode(html), -1, "the directory %s was left", html);
	cr_expect_eq(file_mode(pdf), -1, "%s was left", pdf);
}
