/*
 * test_fold.c — nara-audit's fold of audit rows into one line per message
 * (fold.c): every outcome a message can have, a retried dead letter that
 * was then delivered, a refusal that reuses an accepted message's id kept
 * apart, reviews, and unit names with and without a config.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "config.h"
#include "tool.h"

#define ID_A "0d9c6c1e-5f0e-4d0b-9a3e-2b7d1c0a9f11"
#define ID_B "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static struct msg_lines lines;

static void
row(const char *event, const char *id, int64_t ms, const char *code,
    const char *detail)
{
	struct audit_row r = { .seq = (int64_t)lines.n + 1, .time_ms = ms,
	    .event = event, .message_id = id, .type = "referral",
	    .sender = "kommun:1480:elevhalsa",
	    .recipient = "SE2321000131-E000000000101",
	    .legal_basis = "guardian_consent", .code = code, .detail = detail,
	    .author = strcmp(event, "log_reviewed") == 0 ? "granskare-1" : NULL,
	    .payload_size = -1 };

	cr_assert_eq(lines_add(&lines, &r), 0);
}

static void
fini(void)
{
	lines_clear(&lines);
}

TestSuite(fold, .fini = fini);

static const char *
outcome(size_t i)
{
	static char buf[400];

	return line_outcome(&lines.v[i], buf, sizeof(buf));
}

Test(fold, waiting_delivered_receipted)
{
	setenv("TZ", "UTC", 1);
	tzset();
	row("received", ID_A, 1772366400000, NULL, NULL);
	row("delivered", ID_A, 1772366401000, NULL, "attempt 1");
	cr_assert_eq(lines.n, 1);
	cr_expect_str_eq(line_status(&lines.v[0]), "vantar");
	cr_expect_str_eq(outcome(0), "Väntar fortfarande på att mottagaren "
	    "hämtar meddelandet");
	row("acked", ID_A, 1772366460000, NULL, NULL);
	cr_expect_str_eq(line_status(&lines.v[0]), "levererat");
	cr_expect_str_eq(outcome(0), "Levererat 2026-03-01 12:01");
	row("receipt_acked", ID_A, 1772366520000, NULL, NULL);
	cr_expect_str_eq(line_status(&lines.v[0]), "kvitterat");
	cr_expect_str_eq(outcome(0), "Levererat 2026-03-01 12:01; kvittens "
	    "till avsändaren 2026-03-01 12:02");
	cr_expect_eq(lines.n, 1);
	cr_expect_str_eq(lines.v[0].type, "referral");
	cr_expect_eq(lines.v[0].received_ms, 1772366400000);
}

Test(fold, dead_letter_then_retried_and_delivered)
{
	setenv("TZ", "UTC", 1);
	tzset();
	row("received", ID_A, 1772366400000, NULL, NULL);
	row("dead_lettered", ID_A, 1772370000000, "NR051", "expired");
	cr_expect_str_eq(line_status(&lines.v[0]), "ej_levererat");
	cr_expect_str_eq(outcome(0), "Kunde inte levereras, 2026-03-01 13:00: "
	    "giltighetstiden gick ut innan mottagaren hämtade det (kod NR051)");
	row("retried", ID_A, 1772370060000, NULL, "by alice");
	cr_expect_str_eq(line_status(&lines.v[0]), "vantar");
	row("acked", ID_A, 1772370120000, NULL, NULL);
	cr_expect_str_eq(line_status(&lines.v[0]), "levererat");
}

Test(fold, refusal_is_its_own_line_even_with_a_known_id)
{
	setenv("TZ", "UTC", 1);
	tzset();
	row("received", ID_A, 1772366400000, NULL, NULL);
	row("rejected", ID_A, 1772366410000, "NR033", "id reused");
	row("rejected", NULL, 1772366420000, "NR031", "denied");
	row("acked", ID_A, 1772366460000, NULL, NULL);
	cr_assert_eq(lines.n, 3);
	cr_expect_str_eq(line_status(&lines.v[0]), "levererat");
	cr_expect_str_eq(line_status(&lines.v[1]), "avvisat");
	cr_expect_str_eq(outcome(1), "Avvisat 2026-03-01 12:00: meddelandets "
	    "id användes redan för ett annat meddelande (kod NR033)");
	cr_expect_str_eq(line_status(&lines.v[2]), "avvisat");
	cr_expect_str_eq(lines.v[2].code, "NR031");
}

Test(fold, review_and_rows_without_message)
{
	row("node_connected", NULL, 1, NULL, NULL);
	cr_expect_eq(lines.n, 0);
	row("received", ID_B, 1772366400000, NULL, NULL);
	row("log_reviewed", ID_B, 1772452800000, NULL, "befogad");
	cr_assert_eq(lines.n, 1);
	cr_expect_eq(lines.v[0].reviewed_ms, 1772452800000);
	cr_expect_str_eq(lines.v[0].reviewer, "granskare-1");
	cr_expect_str_eq(lines.v[0].conclusion, "befogad");
}

Test(fold, words_and_unit_names)
{
	struct config_diag diag = { 0 };
	struct config *cfg = config_parse_string("[broker]\nrouter = "
	    "ipc:///tmp/x.sock\n[node kommun-1480]\nname = Göteborg\n"
	    "addresses = kommun:1480:socialtjanst\n"
	    "[node SE2321000131-E000000000101]\nname = BUP <Göteborg>\n"
	    "kind = region\naddresses = SE2321000131-E000000000101\n",
	    "t.conf", &diag);
	char buf[200];

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_str_eq(unit_name(cfg, "kommun:1480:socialtjanst", buf,
	    sizeof(buf)), "Göteborg, socialtjänst");
	cr_expect_str_eq(unit_name(cfg, "SE2321000131-E000000000101", buf,
	    sizeof(buf)), "BUP <Göteborg>");
	cr_expect_str_eq(unit_name(cfg, "SE2321000131-E000000000999", buf,
	    sizeof(buf)), "Okänd enhet");
	cr_expect_str_eq(unit_name(NULL, "kommun:1490:elevhalsa", buf,
	    sizeof(buf)), "Kommun 1490, elevhälsa");
	cr_expect_str_eq(unit_name(cfg, NULL, buf, sizeof(buf)), "Okänd enhet");
	cr_expect_str_eq(sv_type("report_of_concern"), "Orosanmälan");
	cr_expect_str_eq(sv_type("sip_invitation"), "Kallelse till SIP-möte");
	cr_expect_str_eq(sv_type(NULL), "Okänd meddelandetyp");
	cr_expect_str_eq(sv_basis("own_consent"), "Den unges eget samtycke");
	cr_expect_str_eq(sv_basis(NULL), "Ej angiven");
	config_free(&cfg);
	config_diag_free(&diag);
}
