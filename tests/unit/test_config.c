/*
 * test_config.c — nara.conf as the parser reads it: the values of every
 * section, every refusal of a bad value or section with its exact
 * "file:line: ..." text, and the policy's validity dates and deny rules.
 * The shipped file and its default policy are tested in
 * test_config_shipped.c; the engine's own behaviour (line handling,
 * syntax, the type parsers on their own) in test_conftab.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "config_fixture.h"
#include "log.h"

/* ---------------------------------------------------------------- values */

Test(values, empty_file_gives_every_default)
{
	struct config *cfg = load_ok("");
	const struct config_broker *b = &cfg->broker;
	const struct config_tls *t = &cfg->tls;

	cr_expect_str_eq(cfg->path, "t.conf");
	cr_expect_str_eq(b->id, "narad");
	cr_expect_str_eq(b->router, "ipc:///run/nara/router.sock");
	cr_expect_str_eq(b->listen_tcp, "");
	cr_expect_str_eq(b->store, "/var/lib/nara/nara.db");
	cr_expect_str_eq(b->pseudonym_key, "/etc/nara/pseudonym.key");
	cr_expect_str_eq(b->signing_key, "");
	cr_expect_str_eq(b->control, "ipc:///run/nara/control.sock");
	cr_expect_str_eq(b->http_listen, "127.0.0.1:9464");
	cr_expect_eq(b->synchronous, CONFIG_SYNC_FULL);
	cr_expect_eq(b->log_level, LOG_LVL_INFO);
	cr_expect_eq(b->max_message_bytes, 16 * MIB);
	cr_expect_eq(b->max_attachments, 20);
	cr_expect_eq(b->max_attachment_bytes, 10 * MIB);
	cr_expect_eq(b->max_text_bytes, 64 * 1024);
	cr_expect_eq(b->store_max_bytes, 0);
	cr_expect_eq(b->ack_timeout, 60);
	cr_expect_eq(b->default_credit, 64);
	cr_expect_eq(b->max_credit, 1000);
	cr_expect_eq(b->batch_max, 1024);
	cr_expect_eq(b->batch_max_bytes, 32 * MIB);
	cr_expect_eq(b->checkpoint_interval, 60);
	cr_expect_eq(b->audit_retention_days, 1825);
	cr_expect_str_eq(t->listen, "");
	cr_expect_str_eq(t->cert, "");
	cr_expect_str_eq(t->key, "");
	cr_expect_str_eq(t->ca, "");
	cr_expect_eq(t->n_crl, 0);
	cr_expect_str_eq(t->min_version, "1.3");
	cr_expect_eq(t->identity, CONFIG_ID_SAN_URI);
	cr_expect_str_eq(t->runtime_dir, "/run/nara");
	cr_expect_eq(t->handshake_timeout, 10);
	cr_expect_eq(t->max_connections, 1000);
	cr_expect_eq(t->expiry_warn_days, 30);
	cr_expect_eq(cfg->n_nodes, 0);
	cr_expect_eq(cfg->n_rules, 0);
	cr_expect_null(config_route(cfg, "kommun:1480:elevhalsa"));
	config_free(&cfg);
	cr_expect_null(cfg);
	config_free(&cfg);          /* NULL is fine */
}

Test(values, nodes_identity_and_lookups)
{
	struct config *cfg = load_ok(
	    NODE_A
	    "[node " BUP "]\nname = BUP\nkind = region\naddresses = " BUP "\n"
	    "identity = bup.vgregion.se\n");
	const struct config_node *a = config_node_find(cfg, "a");
	const struct config_node *bup = config_node_find(cfg, BUP);

	cr_assert_not_null(a);
	cr_assert_not_null(bup);
	cr_expect_str_eq(a->name, "A");
	cr_expect_str_eq(a->kind, "municipality");
	cr_expect_str_eq(a->identity, "a");
	cr_expect_eq(a->line, 1);
	cr_expect_str_eq(bup->kind, "region");
	cr_expect_eq(bup->line, 4);
	cr_expect_eq(config_node_by_identity(cfg, "bup.vgregion.se"), bup);
	cr_expect_null(config_node_by_identity(cfg, BUP));
	cr_expect_eq(config_node_by_identity(cfg, "a"), a);
	cr_expect_null(config_node_find(cfg, "b"));
	cr_expect_eq(config_route(cfg, "kommun:1480:elevhalsa"), a);
	cr_expect(config_node_serves(a, "kommun:1480:elevhalsa"));
	cr_expect(!config_node_serves(a, BUP));
	cr_expect(!config_node_serves(NULL, BUP));
	config_free(&cfg);
}

/* Lists may go on on indented lines, with a trailing comma or not and
 * with inline comments; each line is checked on its own. */
Test(values, multiline_list_continuation)
{
	struct config *cfg = load_ok(
	    "[node kommun-1480]\n"
	    "name = Göteborg\n"
	    "addresses =\n"
	    "    kommun:1480:socialtjanst,\n"
	    "\tkommun:1480:elevhalsa ; school health\n"
	    "    kommun:1480:forskola\n"
	    "[tls]\n"
	    "crl = /etc/a.pem, /etc/b.pem,\n"
	    "  /etc/c.pem\n"
	    "[rule r]\n"
	    "senders = kommun:*\n"
	    "recipients = SE2321000131-*\n"
	    "types = referral,\n"
	    "  sip_invitation\n");
	const struct config_node *n = config_node_find(cfg, "kommun-1480");

	cr_assert_not_null(n);
	cr_expect_str_eq(n->name, "Göteborg");
	cr_assert_eq(n->n_addresses, 3);
	cr_expect_str_eq(n->addresses[0], "kommun:1480:socialtjanst");
	cr_expect_str_eq(n->addresses[1], "kommun:1480:elevhalsa");
	cr_expect_str_eq(n->addresses[2], "kommun:1480:forskola");
	cr_assert_eq(cfg->tls.n_crl, 3);
	cr_expect_str_eq(cfg->tls.crl[2], "/etc/c.pem");
	cr_expect_eq(cfg->rules[0].types, (1u << REF) | (1u << SIP));
	config_free(&cfg);
}

Test(values, rule_fields)
{
	struct config *cfg = load_ok(
	    "[rule r1]\nsenders = kommun:*:elevhalsa, SE2321000131-?\n"
	    "recipients = *\n"
	    "[rule r2]\nsenders = a\nrecipients = b\ntypes = *\neffect = deny\n"
	    "valid_from = 2024-03-01\nvalid_until = 2024-03-01\n"
	    "description = one day\n");
	const struct config_rule *r1 = &cfg->rules[0], *r2 = &cfg->rules[1];
	uint32_t all = 0;

	for (int t = 1; t <= 7; t++)
		all |= 1u << t;
	cr_assert_eq(cfg->n_rules, 2);
	cr_expect_str_eq(r1->name, "r1");
	cr_expect_eq(r1->line, 1);
	cr_assert_eq(r1->n_senders, 2);
	cr_expect_str_eq(r1->senders[1], "SE2321000131-?");
	cr_expect_eq(r1->types, all);
	cr_expect(!r1->deny);
	cr_expect_eq(r1->valid_from, INT64_MIN);
	cr_expect_eq(r1->valid_until, INT64_MAX);
	cr_expect_str_eq(r1->description, "");
	cr_expect(r2->deny);
	cr_expect_eq(r2->types, all);
	cr_expect_eq(r2->valid_from, utc(2024, 3, 1, 0, 0, 0));
	cr_expect_eq(r2->valid_until, utc(2024, 3, 1, 23, 59, 59));
	config_free(&cfg);
}

Test(values, load_from_file)
{
	char dir[] = "/tmp/nara-config-XXXXXX", path[64], want[128];
	struct config_diag diag = { 0 };
	struct config *cfg;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nara.conf", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(NODE_A "[broker]\nbatch_max = 7\n", f);
	fclose(f);
	cfg = config_load(path, &diag);
	cr_assert_not_null(cfg);
	cr_expect_str_eq(cfg->path, path);
	cr_expect_eq(cfg->broker.batch_max, 7);
	config_free(&cfg);

	cr_assert_not_null(f = fopen(path, "w"));
	fputs("[broker]\nbatch_max = 0\n", f);
	fclose(f);
	cr_expect_null(config_load(path, &diag));
	cr_assert_eq(diag.n, 1);
	snprintf(want, sizeof(want), "%s:2: [broker] batch_max: \"0\" is out of "
	    "range 1..100000", path);
	cr_expect_str_eq(diag.msgs[0], want);
	config_diag_free(&diag);
	unlink(path);
	rmdir(dir);

	cr_expect_null(config_load(path, &diag));
	cr_assert_eq(diag.n, 1);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	cr_expect_str_eq(diag.msgs[0], want);
	config_diag_free(&diag);
}

/* ---------------------------------------------------------------- errors */

Test(errors, unknown_section_kind)
{
	EXPECT("[broker]\n\n[bogus]\nx = 1\n",
	    "t.conf:3: unknown section kind \"bogus\" (expected broker, tls, "
	    "store, ha, node or rule)");
}

#define PG_STORE "[store]\nbackend = postgresql\npostgresql = host=db1 " \
	"dbname=nara\n"

Test(values, ha_section)
{
	struct config *cfg = load_ok("");

	cr_expect_not(cfg->ha.enabled, "no [ha] section, yet HA is on");
	config_free(&cfg);
	cfg = load_ok(PG_STORE "[ha]\ninstance = nara-gbg-1\n");
	cr_expect(cfg->ha.enabled);
	cr_expect_str_eq(cfg->ha.instance, "nara-gbg-1");
	cr_expect_eq(cfg->ha.lease, 3);
	config_free(&cfg);
	cfg = load_ok(PG_STORE "[ha]\ninstance = b\nlease = 10s\n");
	cr_expect_eq(cfg->ha.lease, 10);
	config_free(&cfg);
}

Test(errors, ha_section)
{
	EXPECT(PG_STORE "[ha]\nlease = 5\n",
	    "t.conf:4: [ha] instance: missing required key");
	EXPECT(PG_STORE "[ha]\ninstance = narad 1\nlease = 2m\n",
	    "t.conf:5: [ha] instance: bad instance name \"narad 1\": 1-48 "
	    "letters, digits, '-', '_' or '.'",
	    "t.conf:6: [ha] lease: \"2m\" is out of range 1s..1m");
	EXPECT("[ha]\ninstance = a\n",
	    "t.conf:1: [ha] needs [store] backend = postgresql: only a "
	    "database server can be shared by several narads");
}

Test(errors, unknown_key)
{
	EXPECT("[broker]\ncolour = blue\n[node a]\nname = A\naddresses = kommun:1480:elevhalsa\n"
	    "adresses = x\n",
	    "t.conf:2: [broker] colour: unknown key",
	    "t.conf:6: [node a] adresses: unknown key");
}

Test(errors, bad_int)
{
	EXPECT("[broker]\nbatch_max = 12x\nmax_credit = -1\ndefault_credit = \n"
	    "max_attachments = 1.5\n",
	    "t.conf:2: [broker] batch_max: \"12x\" is not a whole number",
	    "t.conf:3: [broker] max_credit: \"-1\" is not a whole number",
	    "t.conf:4: [broker] default_credit: \"\" is not a whole number",
	    "t.conf:5: [broker] max_attachments: \"1.5\" is not a whole number");
}

Test(errors, bad_size)
{
	EXPECT("[broker]\nmax_message_bytes = 16Q\nmax_text_bytes = K\n"
	    "store_max_bytes = 1KB\n",
	    "t.conf:2: [broker] max_message_bytes: \"16Q\" is not a size (a number "
	    "with an optional K, M or G suffix)",
	    "t.conf:3: [broker] max_text_bytes: \"K\" is not a size (a number with "
	    "an optional K, M or G suffix)",
	    "t.conf:4: [broker] store_max_bytes: \"1KB\" is not a size (a number "
	    "with an optional K, M or G suffix)");
}

Test(errors, bad_duration)
{
	EXPECT("[broker]\nack_timeout = 5x\n[tls]\nhandshake_timeout = 1M\n",
	    "t.conf:2: [broker] ack_timeout: \"5x\" is not a duration (seconds, or "
	    "a number with an s, m, h or d suffix)",
	    "t.conf:4: [tls] handshake_timeout: \"1M\" is not a duration (seconds, "
	    "or a number with an s, m, h or d suffix)");
}

Test(errors, bad_enum)
{
	EXPECT("[broker]\nsynchronous = fast\nlog_level = Debug\n[tls]\n"
	    "identity = dn\nmin_version = 1.4\n" NODE_A "kind = county\n"
	    "[rule r]\nsenders = a\nrecipients = b\neffect = maybe\n",
	    "t.conf:2: [broker] synchronous: \"fast\" is not one of full, normal",
	    "t.conf:3: [broker] log_level: \"Debug\" is not one of error, warning, "
	    "info, debug",
	    "t.conf:5: [tls] identity: \"dn\" is not one of san-uri, cn, serial",
	    "t.conf:6: [tls] min_version: \"1.4\" is not one of 1.2, 1.3",
	    "t.conf:10: [node a] kind: \"county\" is not one of municipality, region",
	    "t.conf:14: [rule r] effect: \"maybe\" is not one of allow, deny");
}

Test(errors, bad_date)
{
	EXPECT("[rule r]\nsenders = a\nrecipients = b\nvalid_from = 2024-02-30\n"
	    "valid_until = 2024-3-01\n"
	    "[rule s]\nsenders = a\nrecipients = b\nvalid_from = 1969-12-31\n"
	    "valid_until = 2024-13-01\n",
	    "t.conf:4: [rule r] valid_from: \"2024-02-30\" is not a date (YYYY-MM-DD)",
	    "t.conf:5: [rule r] valid_until: \"2024-3-01\" is not a date (YYYY-MM-DD)",
	    "t.conf:9: [rule s] valid_from: \"1969-12-31\" is not a date (YYYY-MM-DD)",
	    "t.conf:10: [rule s] valid_until: \"2024-13-01\" is not a date (YYYY-MM-DD)");
}

Test(errors, bad_endpoint_and_path)
{
	char text[512], want[512];
	char longpath[120];

	memset(longpath, 'p', 108);
	longpath[108] = '\0';
	snprintf(text, sizeof(text), "[broker]\nrouter = 127.0.0.1:5555\n"
	    "http_listen = ipc:///run/x.sock\ncontrol = nonsense\n"
	    "store = nara.db\nlisten_tcp = ipc:///%s\n[tls]\nlisten = 0.0.0.0:99999\n"
	    "crl = /a.pem, crl.pem\n", longpath);
	snprintf(want, sizeof(want), "t.conf:6: [broker] listen_tcp: \"ipc:///%s\" "
	    "is not a ZeroMQ endpoint (ipc://PATH of at most 107 bytes, "
	    "tcp://HOST:PORT or inproc://NAME)", longpath);
	EXPECT(text,
	    "t.conf:2: [broker] router: \"127.0.0.1:5555\" is not a ZeroMQ endpoint "
	    "(ipc://PATH of at most 107 bytes, tcp://HOST:PORT or inproc://NAME)",
	    "t.conf:3: [broker] http_listen: \"ipc:///run/x.sock\" is not HOST:PORT",
	    "t.conf:4: [broker] control: \"nonsense\" is not an endpoint (ipc://PATH, "
	    "tcp://HOST:PORT or HOST:PORT)",
	    "t.conf:5: [broker] store: \"nara.db\" is not an absolute path",
	    want,
	    "t.conf:8: [tls] listen: \"0.0.0.0:99999\" is not an endpoint (ipc://PATH, "
	    "tcp://HOST:PORT or HOST:PORT)",
	    "t.conf:9: [tls] crl: \"crl.pem\" is not an absolute path");
}

Test(errors, out_of_bounds_below)
{
	EXPECT("[broker]\nmax_message_bytes = 512\nack_timeout = 0\nbatch_max = 0\n"
	    "max_attachment_bytes = 0\nbatch_max_bytes = 63K\n[tls]\n"
	    "expiry_warn_days = 0\n",
	    "t.conf:2: [broker] max_message_bytes: \"512\" is out of range 1K..64M",
	    "t.conf:3: [broker] ack_timeout: \"0\" is out of range 1s..1d",
	    "t.conf:4: [broker] batch_max: \"0\" is out of range 1..100000",
	    "t.conf:5: [broker] max_attachment_bytes: \"0\" is out of range 1..64M",
	    "t.conf:6: [broker] batch_max_bytes: \"63K\" is out of range 64K..1G",
	    "t.conf:8: [tls] expiry_warn_days: \"0\" is out of range 1..365");
}

Test(errors, out_of_bounds_above)
{
	EXPECT("[broker]\nmax_message_bytes = 65M\nack_timeout = 2d\n"
	    "max_credit = 100001\nmax_attachments = 1001\nmax_text_bytes = 2M\n"
	    "store_max_bytes = 99999999999999999999\nbatch_max_bytes = 2G\n"
	    "[tls]\nhandshake_timeout = 301\n",
	    "t.conf:2: [broker] max_message_bytes: \"65M\" is out of range 1K..64M",
	    "t.conf:3: [broker] ack_timeout: \"2d\" is out of range 1s..1d",
	    "t.conf:4: [broker] max_credit: \"100001\" is out of range 1..100000",
	    "t.conf:5: [broker] max_attachments: \"1001\" is out of range 0..1000",
	    "t.conf:6: [broker] max_text_bytes: \"2M\" is out of range 1K..1M",
	    "t.conf:7: [broker] store_max_bytes: \"99999999999999999999\" is too large",
	    "t.conf:8: [broker] batch_max_bytes: \"2G\" is out of range 64K..1G",
	    "t.conf:10: [tls] handshake_timeout: \"301\" is out of range 1s..5m");
}

Test(errors, missing_required)
{
	EXPECT("[node a]\nkind = region\n\n[rule r]\ntypes = referral\n",
	    "t.conf:1: [node a] name: missing required key",
	    "t.conf:1: [node a] addresses: missing required key",
	    "t.conf:4: [rule r] senders: missing required key",
	    "t.conf:4: [rule r] recipients: missing required key");
}

Test(errors, duplicate_section)
{
	EXPECT("[broker]\n" NODE_A "[broker]\nid = x\n[node a]\nname = again\n"
	    "[rule r]\nsenders = a\nrecipients = b\n[rule r]\n",
	    "t.conf:5: duplicate section [broker] (first on line 1)",
	    "t.conf:7: duplicate section [node a] (first on line 2)",
	    "t.conf:12: duplicate section [rule r] (first on line 9)");
}

Test(errors, duplicate_address_across_nodes)
{
	EXPECT(NODE_A "[node b]\nname = B\naddresses = kommun:1480:socialtjanst,\n"
	    "  kommun:1480:elevhalsa\n[node c]\nname = C\n"
	    "addresses = kommun:1480:forskola, kommun:1480:forskola\n",
	    "t.conf:6: [node b] addresses: kommun:1480:elevhalsa is already served "
	    "by node a (line 3)",
	    "t.conf:10: [node c] addresses: kommun:1480:forskola is listed twice");
}

Test(errors, duplicate_identity)
{
	EXPECT(NODE_A "[node b]\nname = B\naddresses = kommun:1480:forskola\n"
	    "identity = a\n",
	    "t.conf:7: [node b] identity: \"a\" is already the identity of node a "
	    "(line 1)");
}

Test(errors, bad_address)
{
	EXPECT("[node a]\nname = A\naddresses = kommun:14800:elevhalsa\n"
	    "[node b]\nname = B\naddresses = kommun:1480:bibliotek\n"
	    "[node c]\nname = C\naddresses = kommun:1480:skola,\n   SE2321000131-\n"
	    "[node d]\nname = D\naddresses = elevhalsa@1480\n",
	    "t.conf:3: [node a] addresses: bad address \"kommun:14800:elevhalsa\": "
	    "municipality code must be four digits",
	    "t.conf:6: [node b] addresses: bad address \"kommun:1480:bibliotek\": "
	    "unknown municipal service \"bibliotek\"",
	    "t.conf:10: [node c] addresses: bad address \"SE2321000131-\": HSA unit "
	    "id must be 1-31 letters and digits",
	    "t.conf:13: [node d] addresses: bad address \"elevhalsa@1480\": "
	    "\"elevhalsa@1480\" is not a nara address");
}

Test(errors, bad_pattern_and_empty_item)
{
	EXPECT("[rule r]\nsenders = kommun:[12]*\nrecipients = kommun:*, ,x\n"
	    "[rule s]\nsenders = kommun 1480\nrecipients = a_b\n",
	    "t.conf:2: [rule r] senders: bad pattern \"kommun:[12]*\": only letters, "
	    "digits, ':', '-', '*' and '?' are allowed",
	    "t.conf:3: [rule r] recipients: empty item in list",
	    "t.conf:5: [rule s] senders: bad pattern \"kommun 1480\": only letters, "
	    "digits, ':', '-', '*' and '?' are allowed",
	    "t.conf:6: [rule s] recipients: bad pattern \"a_b\": only letters, "
	    "digits, ':', '-', '*' and '?' are allowed");
}

Test(errors, bad_type_name)
{
	EXPECT("[rule r]\nsenders = a\nrecipients = b\ntypes = referral, referal\n",
	    "t.conf:4: [rule r] types: unknown message type \"referal\" (expected "
	    "referral, referral_response, consultation_request, "
	    "consultation_response, sip_invitation, sip_response, "
	    "report_of_concern or *)");
}

Test(errors, until_before_from)
{
	EXPECT("[rule r]\nsenders = a\nrecipients = b\nvalid_until = 2024-01-31\n"
	    "valid_from = 2024-02-01\n",
	    "t.conf:4: [rule r] valid_until: 2024-01-31 is before valid_from "
	    "2024-02-01");
}

Test(errors, tls_listen_needs_cert_key_ca)
{
	struct config *cfg;

	EXPECT("[broker]\n\n[tls]\nlisten = 0.0.0.0:7443\nkey = /k.pem\n",
	    "t.conf:3: [tls] cert: required when listen is set",
	    "t.conf:3: [tls] ca: required when listen is set");
	cfg = load_ok("[tls]\nlisten = [::1]:7443\ncert = /c\nkey = /k\nca = /ca\n");
	cr_expect_str_eq(cfg->tls.listen, "[::1]:7443");
	config_free(&cfg);
}

Test(errors, default_credit_above_max)
{
	EXPECT("[broker]\nmax_credit = 10\ndefault_credit = 20\n",
	    "t.conf:3: [broker] default_credit: 20 is above max_credit 10");
}

Test(errors, syntax_errors)
{
	EXPECT("[broker]\nid = a\njust words\n[node a\nname = x\n",
	    "t.conf:3: syntax error: expected [section], key = value or a comment",
	    "t.conf:4: syntax error: section header without a closing ']'",
	    "t.conf:5: [broker] name: unknown key");
}

/* One file, three unrelated mistakes: all three are reported, in line
 * order (the duplicate address is found last but sits on line 2). */
Test(errors, all_errors_collected_in_line_order)
{
	EXPECT("[node b]\nname = B\naddresses = kommun:1480:elevhalsa\n"
	    "[broker]\nbatch_max = none\n" NODE_A "[colour]\n",
	    "t.conf:5: [broker] batch_max: \"none\" is not a whole number",
	    "t.conf:8: [node a] addresses: kommun:1480:elevhalsa is already served "
	    "by node b (line 3)",
	    "t.conf:9: unknown section kind \"colour\" (expected broker, tls, "
	    "store, ha, node or rule)");
}

/* ---------------------------------------------------------------- policy */

#define ONE_RULE(extra) \
	"[rule march]\nsenders = kommun:*:elevhalsa\nrecipients = SE2321000131-*\n" \
	"types = referral\n" extra

Test(policy, validity_window_is_whole_utc_days)
{
	struct config *cfg = load_ok(ONE_RULE("valid_from = 2024-03-01\n"
	    "valid_until = 2024-03-31\n"));
	const char *eh = "kommun:1480:elevhalsa";

	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(2024, 2, 29, 23, 59, 59)),
	    NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(2024, 3, 1, 0, 0, 0)),
	    NR_OK);
	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(2024, 3, 15, 12, 0, 0)),
	    NR_OK);
	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(2024, 3, 31, 23, 59, 59)),
	    NR_OK);
	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(2024, 4, 1, 0, 0, 0)),
	    NR_POLICY_DENIED);
	config_free(&cfg);
}

Test(policy, open_ended_windows)
{
	struct config *from = load_ok(ONE_RULE("valid_from = 2024-03-01\n"));
	struct config *until = load_ok(ONE_RULE("valid_until = 2024-03-01\n"));
	const char *eh = "kommun:1480:elevhalsa";

	cr_expect_eq(config_authorize(from, eh, BUP, REF, utc(2024, 2, 29, 0, 0, 0)),
	    NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(from, eh, BUP, REF, utc(2099, 1, 1, 0, 0, 0)),
	    NR_OK);
	cr_expect_eq(config_authorize(until, eh, BUP, REF, utc(2000, 1, 1, 0, 0, 0)),
	    NR_OK);
	cr_expect_eq(config_authorize(until, eh, BUP, REF, utc(2024, 3, 2, 0, 0, 0)),
	    NR_POLICY_DENIED);
	config_free(&from);
	config_free(&until);
}

/* 1970-01-01 is epoch 0 and still a date: a rule that ends that day has
 * ended, it does not run forever. */
Test(policy, first_day_of_the_epoch_is_a_date)
{
	struct config *cfg = load_ok(ONE_RULE("valid_until = 1970-01-01\n"));
	const char *eh = "kommun:1480:elevhalsa";

	cr_expect_eq(cfg->rules[0].valid_from, INT64_MIN);
	cr_expect_eq(cfg->rules[0].valid_until, utc(1970, 1, 1, 23, 59, 59));
	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(2024, 3, 2, 0, 0, 0)),
	    NR_POLICY_DENIED);
	config_free(&cfg);
	/* A one-day window on that day: on through it, off after it. */
	cfg = load_ok(ONE_RULE("valid_from = 1970-01-01\n"
	    "valid_until = 1970-01-01\n"));
	cr_expect_eq(cfg->rules[0].valid_from, 0);
	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(1970, 1, 1, 12, 0, 0)),
	    NR_OK);
	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(1970, 1, 2, 0, 0, 0)),
	    NR_POLICY_DENIED);
	config_free(&cfg);
}

/* A matching deny rule wins whether it comes before or after the allow. */
Test(policy, deny_overrides_allow)
{
	const char *deny = "[rule no-bup]\nsenders = kommun:1480:*\n"
	    "recipients = " BUP "\ntypes = referral\neffect = deny\n";
	char text[1024];
	int64_t now = utc(2025, 1, 1, 0, 0, 0);

	for (int order = 0; order < 2; order++) {
		struct config *cfg;

		snprintf(text, sizeof(text), "%s%s", order ? deny : ONE_RULE(""),
		    order ? ONE_RULE("") : deny);
		cfg = load_ok(text);
		cr_expect_eq(config_authorize(cfg, "kommun:1480:elevhalsa", BUP, REF,
		    now), NR_POLICY_DENIED, "order %d", order);
		cr_expect_eq(config_authorize(cfg, "kommun:1401:elevhalsa", BUP, REF,
		    now), NR_OK, "order %d", order);
		cr_expect_eq(config_authorize(cfg, "kommun:1480:elevhalsa", PED, REF,
		    now), NR_OK, "order %d", order);
		config_free(&cfg);
	}
}

Test(policy, deny_rule_outside_its_window_does_not_apply)
{
	struct config *cfg = load_ok(ONE_RULE("") "[rule freeze]\nsenders = *\n"
	    "recipients = *\neffect = deny\nvalid_from = 2024-12-24\n"
	    "valid_until = 2024-12-26\n");
	const char *eh = "kommun:1480:elevhalsa";

	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(2024, 12, 25, 10, 0, 0)),
	    NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(cfg, eh, BUP, REF, utc(2024, 12, 27, 0, 0, 0)),
	    NR_OK);
	config_free(&cfg);
}

Test(policy, types_and_patterns)
{
	struct config *cfg = load_ok("[rule r]\nsenders = kommun:14?0:elevhalsa\n"
	    "recipients = SE2321000131-E*\ntypes = *\n");
	int64_t now = utc(2025, 1, 1, 0, 0, 0);

	for (int t = 1; t <= 7; t++)
		cr_expect_eq(config_authorize(cfg, "kommun:1480:elevhalsa", BUP,
		    (Nara__MessageType)t, now), NR_OK, "type %d", t);
	cr_expect_eq(config_authorize(cfg, "kommun:1480:elevhalsa", BUP,
	    NARA__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED, now), NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(cfg, "kommun:1480:elevhalsa", BUP,
	    (Nara__MessageType)40, now), NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(cfg, "kommun:1481:elevhalsa", BUP, REF, now),
	    NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(cfg, "kommun:1400:elevhalsa", BUP, REF, now),
	    NR_OK);
	cr_expect_eq(config_authorize(cfg, "kommun:1480:elevhalsa",
	    "SE2321000131-X1", REF, now), NR_POLICY_DENIED);
	cr_expect_eq(config_authorize(cfg, NULL, BUP, REF, now), NR_POLICY_DENIED);
	config_free(&cfg);
}

Test(policy, no_rules_denies_everything)
{
	struct config *cfg = load_ok(NODE_A);

	cr_expect_eq(config_authorize(cfg, "kommun:1480:elevhalsa", BUP, REF, 0),
	    NR_POLICY_DENIED);
	config_free(&cfg);
	cr_expect_eq(config_authorize(NULL, "a", "b", REF, 0), NR_POLICY_DENIED);
}

