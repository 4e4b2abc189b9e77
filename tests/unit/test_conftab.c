/*
 * test_conftab.c — the table engine behind nara.conf: numbers with their
 * suffixes and bounds, booleans, comments, BOM and CRLF, section headers,
 * duplicate and misplaced keys, continuation lines, overlong lines, message
 * order, a table of its own (as an adapter's file would have) and the
 * printed key reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config.h"
#include "config_fixture.h"
#include "conftab.h"
#include "log.h"

/* ---------------------------------------------------------------- types */

Test(types, sizes_durations_and_enums)
{
	struct config *cfg = load_ok(
	    "[broker]\n"
	    "max_message_bytes = 2M\n"
	    "max_text_bytes = 1k\n"
	    "max_attachment_bytes = 1\n"
	    "store_max_bytes = 3G\n"
	    "ack_timeout = 2m\n"
	    "checkpoint_interval = 1h\n"
	    "log_level = debug\n"
	    "synchronous = normal\n"
	    "max_attachments = 0\n"
	    "[tls]\n"
	    "handshake_timeout = 5m\n"
	    "identity = serial\n"
	    "min_version = 1.2\n");

	cr_expect_eq(cfg->broker.max_message_bytes, 2 * MIB);
	cr_expect_eq(cfg->broker.max_text_bytes, 1024);
	cr_expect_eq(cfg->broker.max_attachment_bytes, 1);
	cr_expect_eq(cfg->broker.store_max_bytes, 3ull << 30);
	cr_expect_eq(cfg->broker.ack_timeout, 120);
	cr_expect_eq(cfg->broker.checkpoint_interval, 3600);
	cr_expect_eq(cfg->broker.log_level, LOG_LVL_DEBUG);
	cr_expect_eq(cfg->broker.synchronous, CONFIG_SYNC_NORMAL);
	cr_expect_eq(cfg->broker.max_attachments, 0);
	cr_expect_eq(cfg->tls.handshake_timeout, 300);
	cr_expect_eq(cfg->tls.identity, CONFIG_ID_SERIAL);
	cr_expect_str_eq(cfg->tls.min_version, "1.2");
	config_free(&cfg);
}

Test(types, bounds_are_inclusive)
{
	struct config *cfg = load_ok(
	    "[broker]\nmax_message_bytes = 64M\nmax_text_bytes = 1K\n"
	    "ack_timeout = 1d\nmax_credit = 100000\ndefault_credit = 1\n"
	    "audit_retention_days = 36500\n[tls]\nexpiry_warn_days = 365\n"
	    "handshake_timeout = 1\n");

	cr_expect_eq(cfg->broker.max_message_bytes, 64 * MIB);
	cr_expect_eq(cfg->broker.max_text_bytes, 1024);
	cr_expect_eq(cfg->broker.ack_timeout, 86400);
	cr_expect_eq(cfg->broker.max_credit, 100000);
	cr_expect_eq(cfg->broker.default_credit, 1);
	cr_expect_eq(cfg->broker.audit_retention_days, 36500);
	cr_expect_eq(cfg->tls.expiry_warn_days, 365);
	cr_expect_eq(cfg->tls.handshake_timeout, 1);
	config_free(&cfg);
}

Test(types, size_suffix_overflow)
{
	EXPECT("[broker]\nstore_max_bytes = 99999999999G\n",
	    "t.conf:2: [broker] store_max_bytes: \"99999999999G\" is too large");
}

/* ---------------------------------------------------------------- syntax */

Test(syntax, comments_colons_crlf_and_bom)
{
	struct config *cfg = load_ok(
	    "\xEF\xBB\xBF# comment\r\n"
	    "; another\r\n"
	    "[ broker ]\r\n"
	    "id: narad-2 ; inline comment\r\n"
	    "[node  a]\r\n"
	    "name = A #1\r\n"
	    "addresses = kommun:1480:elevhalsa\r\n");

	cr_expect_str_eq(cfg->broker.id, "narad-2");
	cr_assert_eq(cfg->n_nodes, 1);
	cr_expect_str_eq(cfg->nodes[0].id, "a");
	cr_expect_str_eq(cfg->nodes[0].name, "A #1");
	config_free(&cfg);
}

Test(syntax, section_names)
{
	char id64[65], id65[66], text[512], want[256];
	struct config *cfg;

	memset(id64, 'n', 64);
	id64[64] = '\0';
	memset(id65, 'n', 65);
	id65[65] = '\0';
	snprintf(text, sizeof(text), "[node]\nname = x\n[broker main]\nid = x\n"
	    "[node a b]\n[rule]\n[rule r!]\n[node %s]\n", id65);
	snprintf(want, sizeof(want), "t.conf:8: bad node id \"%s\": 1-64 letters, "
	    "digits, '.', '_' or '-'", id65);
	EXPECT(text,
	    "t.conf:1: section [node] needs a name: [node ID]",
	    "t.conf:3: section [broker] takes no name",
	    "t.conf:5: bad node id \"a b\": 1-64 letters, digits, '.', '_' or '-'",
	    "t.conf:6: section [rule] needs a name: [rule NAME]",
	    "t.conf:7: bad rule name \"r!\": 1-64 letters, digits, '.', '_' or '-'",
	    want);
	snprintf(text, sizeof(text), "[node %s]\nname = x\naddresses = "
	    "kommun:1480:skola\n", id64);
	cfg = load_ok(text);
	cr_expect_not_null(config_node_find(cfg, id64));
	config_free(&cfg);
}

Test(syntax, key_outside_section)
{
	EXPECT("id = narad\n[broker]\n",
	    "t.conf:1: key \"id\" outside of any section");
}

Test(syntax, empty_values)
{
	EXPECT("[node a]\nname =\naddresses =\n[rule r]\nsenders = a\n"
	    "recipients = b\ntypes =\n[broker]\nid =\nstore =\n",
	    "t.conf:2: [node a] name: must not be empty",
	    "t.conf:3: [node a] addresses: must not be empty",
	    "t.conf:7: [rule r] types: must not be empty",
	    "t.conf:9: [broker] id: must not be empty",
	    "t.conf:10: [broker] store: must not be empty");
}

Test(syntax, duplicate_key)
{
	EXPECT("[broker]\nid = a\nbatch_max = 5\nid = b\n" NODE_A "name = B\n",
	    "t.conf:4: [broker] id: duplicate key (first set on line 2)",
	    "t.conf:8: [node a] name: duplicate key (first set on line 6)");
}

Test(syntax, continuation_of_a_single_value)
{
	EXPECT("[broker]\nbatch_max = 5\n  6\nstore = /a\n  /b\n"
	    "[rule r]\nsenders = a\nrecipients = b\ndescription = first\n"
	    "  second\n",
	    "t.conf:3: [broker] batch_max: only lists may continue on an "
	    "indented line",
	    "t.conf:5: [broker] store: only lists may continue on an "
	    "indented line",
	    "t.conf:10: [rule r] description: only lists may continue on an "
	    "indented line");
}

/* The rule under each text loaded as an allow rule: the indented lines
 * went into the description. */
#define RULE_BLOCK "[rule block]\nsenders = SE2321000131-*\n" \
	"recipients = kommun:1480:*\ndescription = temporarily blocked\n"

Test(syntax, indented_key_is_refused)
{
	EXPECT(NODE_A RULE_BLOCK "    effect = deny\n",
	    "t.conf:8: indented key \"effect\": a key must start at the "
	    "beginning of its line (only a list goes on on indented lines)");
	/* A key of another section kind reads as a key just as well. */
	EXPECT(NODE_A RULE_BLOCK "\tname: x\n",
	    "t.conf:8: indented key \"name\": a key must start at the "
	    "beginning of its line (only a list goes on on indented lines)");
}

Test(syntax, indented_line_after_blank_is_refused)
{
	EXPECT(NODE_A RULE_BLOCK "\n   effect = deny\n",
	    "t.conf:9: indented key \"effect\": a key must start at the "
	    "beginning of its line (only a list goes on on indented lines)");
	EXPECT(NODE_A "[rule r]\nsenders = kommun:1480:*,\n  kommun:1481:*\n"
	    "\n  kommun:1482:*\nrecipients = *\n",
	    "t.conf:8: indented line after a blank line: a list goes on only "
	    "on the lines right after it");
}

Test(syntax, indented_section_is_refused)
{
	EXPECT(NODE_A "[rule all]\nsenders = *\nrecipients = *\n"
	    "description = everything\n"
	    "  [rule block]\n"
	    "  senders = SE2321000131-*\n"
	    "\n"
	    "  effect = deny\n",
	    "t.conf:8: indented section header: a header must start at the "
	    "beginning of its line",
	    "t.conf:9: indented key \"senders\": a key must start at the "
	    "beginning of its line (only a list goes on on indented lines)",
	    "t.conf:11: indented key \"effect\": a key must start at the "
	    "beginning of its line (only a list goes on on indented lines)");
}

/* Indented lines that are no continuation: a key right after a header
 * continues nothing, and a comment does not end a list. */
Test(syntax, indented_lines_that_stay_allowed)
{
	struct config *cfg = load_ok(
	    "[node a]\n"
	    "  name = A\n"
	    "addresses = kommun:1480:elevhalsa,\n"
	    "# the school nurses\n"
	    "  kommun:1480:skola ; since 2025\n");

	cr_assert_eq(cfg->n_nodes, 1);
	cr_expect_str_eq(cfg->nodes[0].name, "A");
	cr_assert_eq(cfg->nodes[0].n_addresses, 2);
	cr_expect_str_eq(cfg->nodes[0].addresses[1], "kommun:1480:skola");
	config_free(&cfg);
}

Test(syntax, line_too_long)
{
	char text[600];

	snprintf(text, sizeof(text), "[node a]\nname = %0199d\n"
	    "addresses = kommun:1480:elevhalsa\n", 0);
	EXPECT(text,
	    "t.conf:1: [node a] name: missing required key",
	    "t.conf:2: line longer than 198 characters (continue lists on "
	    "indented lines)");
}

Test(syntax, diag_may_be_null)
{
	cr_expect_null(config_parse_string("[x]\n", "t.conf", NULL));
	cr_expect_null(config_load("/nonexistent/nara.conf", NULL));
}

/* ---------------------------------------------------------------- engine */

struct sample {
	bool flag;
	uint32_t count;
	char *mode;
};

static const struct config_key sample_keys[] = {
	{ "flag", CT_BOOL, offsetof(struct sample, flag), sizeof(bool),
	  .def = "no", .help = "a switch" },
	{ "count", CT_INT, offsetof(struct sample, count), sizeof(uint32_t),
	  .def = "3", .min = 1, .max = 9, .help = "a small number" },
	{ "mode", CT_ENUM, offsetof(struct sample, mode), sizeof(char *),
	  .def = "fast", .choices = "fast|safe", .flags = CONFTAB_ENUM_TEXT,
	  .help = "a word" },
};

Test(engine, bool_spellings)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES", "On" };
	static const char *const no[] = { "no", "false", "off", "0", "No", "FALSE" };
	struct sample s = { 0 };
	char why[256];

	for (size_t i = 0; i < 6; i++) {
		cr_expect_eq(conftab_set(&sample_keys[0], &s, yes[i], false, why,
		    sizeof(why)), 0, "%s", yes[i]);
		cr_expect(s.flag, "%s", yes[i]);
		cr_expect_eq(conftab_set(&sample_keys[0], &s, no[i], false, why,
		    sizeof(why)), 0, "%s", no[i]);
		cr_expect(!s.flag, "%s", no[i]);
	}
	cr_expect_eq(conftab_set(&sample_keys[0], &s, "maybe", false, why,
	    sizeof(why)), -1);
	cr_expect_str_eq(why, "\"maybe\" is not a boolean (yes/no, true/false, "
	    "on/off, 1/0)");
	cr_expect_eq(conftab_set(&sample_keys[0], &s, "yes", true, why,
	    sizeof(why)), -1);
	cr_expect_str_eq(why, "only lists may continue on an indented line");
}

/* A table of its own goes through the same engine: another file kind
 * (an adapter's configuration) reuses it unchanged. */
static void *
sample_open(struct conftab_parser *p, const char *arg)
{
	struct sample *s = p->user;

	conftab_defaults(p, sample_keys, 3, s, p->line);
	return s;
}

Test(engine, own_table_and_file_kind)
{
	static const struct conftab_kind kinds[] = {
		{ "adapter", NULL, sample_keys, 3, "sample", sample_open, NULL },
	};
	struct sample s = { 0 };
	struct conftab_parser p = { .file = "a.conf", .kinds = kinds,
		.n_kinds = 1, .user = &s };
	struct config_diag diag = { 0 };

	conftab_parse_string(&p, "[adapter]\nflag = on\nmode = safe\ncount = 10\n"
	    "[broker]\n");
	cr_expect_eq(conftab_finish(&p, &diag), 2);
	cr_assert_eq(diag.n, 2);
	cr_expect_str_eq(diag.msgs[0], "a.conf:4: [adapter] count: \"10\" is out "
	    "of range 1..9");
	cr_expect_str_eq(diag.msgs[1], "a.conf:5: unknown section kind \"broker\" "
	    "(expected adapter)");
	cr_expect(s.flag);
	cr_expect_eq(s.count, 3);
	cr_expect_str_eq(s.mode, "safe");
	conftab_free(sample_keys, 3, &s);
	cr_expect_null(s.mode);
	config_diag_free(&diag);
}

Test(engine, print_keys_lists_every_key)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	config_print_keys(f);
	fclose(f);
	cr_expect_not_null(strstr(text, "[broker]  daemon settings\n"));
	cr_expect_not_null(strstr(text, "[node ID]"));
	cr_expect_not_null(strstr(text, "[rule NAME]"));
	cr_expect_not_null(strstr(text, "  max_message_bytes     size      16M  "));
	cr_expect_not_null(strstr(text, "1K..64M"));
	cr_expect_not_null(strstr(text, "error|warning|info|debug"));
	cr_expect_not_null(strstr(text, "  addresses             list      (required)"));
	cr_expect_not_null(strstr(text, "  ack_timeout           duration  60 "));
	cr_expect_not_null(strstr(text, "1s..1d"));
	free(text);
}
