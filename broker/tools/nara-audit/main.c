/*
 * nara-audit — the auditor's tool for the broker's audit log: verify the
 * hash chain and its signed checkpoints, follow one message, search by
 * time, party, type, event and node, give every row about one child, make
 * the patient's log extract (extract.c), draw a reproducible sample for the
 * systematic log review, record the reviewer's conclusion and report the
 * review of a period, export for a SIEM, make the signing key pair and
 * prune rows past the retention period, and move a stopped narad's SQLite
 * store into PostgreSQL (migrate.c).
 *
 * It reads the store with a read-only SQLite connection (WAL readers do not
 * block narad); only "review record", "extract" (its log_extracted row)
 * and "prune" write, each in one short transaction through the store's
 * own append path.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "rfc3339.h"
#include "tool.h"
#include "validate.h"
#include "version.h"

/* Option ids are single characters so that a command can list the ones
 * it takes as a string; only -c and -h exist as short options. */
enum opt_id {
	O_CONFIG = 'c', O_HELP = 'h', O_STORE = 'S', O_KEY = 'K', O_PUBKEY = 'P',
	O_SIGNKEY = 'G', O_JSON = 'j', O_CSV = 'v', O_FROM = 'f', O_TO = 't',
	O_PARTY = 'p', O_TYPE = 'y', O_EVENT = 'e', O_NODE = 'd', O_N = 'n',
	O_SEED = 's', O_REVIEWER = 'r', O_CONCLUSION = 'C', O_BEFORE = 'b',
	O_FORMAT = 'F', O_OUTPUT = 'o', O_OPERATOR = 'O'
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, O_CONFIG },
	{ "help", no_argument, NULL, O_HELP },
	{ "store", required_argument, NULL, O_STORE },
	{ "key", required_argument, NULL, O_KEY },
	{ "pubkey", required_argument, NULL, O_PUBKEY },
	{ "sign-key", required_argument, NULL, O_SIGNKEY },
	{ "json", no_argument, NULL, O_JSON },
	{ "csv", no_argument, NULL, O_CSV },
	{ "from", required_argument, NULL, O_FROM },
	{ "to", required_argument, NULL, O_TO },
	{ "party", required_argument, NULL, O_PARTY },
	{ "type", required_argument, NULL, O_TYPE },
	{ "event", required_argument, NULL, O_EVENT },
	{ "node", required_argument, NULL, O_NODE },
	{ "n", required_argument, NULL, O_N },
	{ "seed", required_argument, NULL, O_SEED },
	{ "reviewer", required_argument, NULL, O_REVIEWER },
	{ "conclusion", required_argument, NULL, O_CONCLUSION },
	{ "before", required_argument, NULL, O_BEFORE },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "output", required_argument, NULL, O_OUTPUT },
	{ "operator", required_argument, NULL, O_OPERATOR },
	{ NULL, 0, NULL, 0 }
};

#define STORE_OPTS "  -c FILE            nara.conf (store, pseudonym key, signing key)\n" \
	"  --store PATH       the store file instead of the config's\n"
#define OUT_OPTS "  --json | --csv     output format (default: an aligned table)\n"

struct command {
	const char *name;
	int (*fn)(struct opts *);
	const char *allowed;         /* option ids allowed, as a string */
	int min_args, max_args;
	const char *usage;
};

static const struct command commands[] = {
	{ "verify", cmd_verify, (const char[]){ O_CONFIG, O_STORE, O_PUBKEY,
	  O_JSON, 0 }, 0, 0,
	  "verify [-c FILE | --store PATH] [--pubkey FILE]... [--json]\n"
	  "  Walk the hash chain, the recorded head and every signed checkpoint.\n"
	  "  Exit 0 when intact, 1 naming the first bad row (seq), 2 on errors.\n"
	  STORE_OPTS
	  "  --pubkey FILE      Ed25519 public key; repeat it (up to 16) for the\n"
	  "                     keys a rotated log was signed with (default:\n"
	  "                     signing_key.pub and signing_key.pub.* of the\n"
	  "                     config); without one signatures are not checked\n"
	  "  --json             one JSON object\n" },
	{ "trace", cmd_trace, (const char[]){ O_CONFIG, O_STORE, O_JSON, O_CSV,
	  0 }, 1, 1,
	  "trace MESSAGE-ID [-c FILE | --store PATH] [--json | --csv]\n"
	  "  Every audit row of one message, in order. Exit 1 when none.\n"
	  STORE_OPTS OUT_OPTS },
	{ "query", cmd_query, (const char[]){ O_CONFIG, O_STORE, O_JSON, O_CSV,
	  O_FROM, O_TO, O_PARTY, O_TYPE, O_EVENT, O_NODE, 0 }, 0, 0,
	  "query [--from T] [--to T] [--party ADDR] [--type T] [--event E]\n"
	  "      [--node N] [-c FILE | --store PATH] [--json | --csv]\n"
	  "  Audit rows matching every filter given, in order.\n"
	  "  --from/--to        YYYY-MM-DD (UTC; --to includes that day) or RFC 3339\n"
	  "  --party ADDR       sender or recipient address\n"
	  STORE_OPTS OUT_OPTS },
	{ "subject", cmd_subject, (const char[]){ O_CONFIG, O_STORE, O_KEY,
	  O_JSON, O_CSV, 0 }, 1, 1,
	  "subject PERSONAL-NUMBER|- [-c FILE | --store PATH --key FILE]\n"
	  "        [--json | --csv]\n"
	  "  Every audit row about one child: the rows of every message whose\n"
	  "  subject is the keyed pseudonym of the number. \"-\" reads the\n"
	  "  number from standard input (keeps it out of the process list).\n"
	  "  The number itself is never written anywhere.\n"
	  STORE_OPTS
	  "  --key FILE         pseudonym key (default: the config's)\n" OUT_OPTS },
	{ "extract", cmd_extract, (const char[]){ O_CONFIG, O_STORE, O_KEY,
	  O_FORMAT, O_OUTPUT, O_OPERATOR, 0 }, 1, 1,
	  "extract PERSONAL-NUMBER|- [-c FILE | --store PATH --key FILE]\n"
	  "        [--format html|csv|json|pdf] [--output FILE] [--operator NAME]\n"
	  "  The patient's log extract (loggutdrag) in Swedish: one line per\n"
	  "  message about the child (when, type, from and to unit by name,\n"
	  "  legal basis, outcome). The number may be written YYYYMMDD-NNNN,\n"
	  "  YYMMDD-NNNN, with or without the dash, or YYMMDD+NNNN; \"-\" reads\n"
	  "  it from standard input. Making it is audited (log_extracted: who,\n"
	  "  when, the child's pseudonym) before the document is written.\n"
	  STORE_OPTS
	  "  --key FILE         pseudonym key (default: the config's)\n"
	  "  --format F         html (default, printable), csv, json, or pdf\n"
	  "                     (needs chromium and --output)\n"
	  "  --output FILE      write there instead of standard output\n"
	  "  --operator NAME    who asks (default: the OS user)\n" },
	{ "sample", cmd_sample, (const char[]){ O_CONFIG, O_STORE, O_N, O_FROM,
	  O_TO, O_SEED, O_JSON, O_CSV, 0 }, 0, 0,
	  "sample --n N --from T --to T [--seed S] [-c FILE | --store PATH]\n"
	  "       [--json | --csv]\n"
	  "  A random sample of N messages received in [from, to) for the\n"
	  "  systematic log review; the same seed gives the same sample. The\n"
	  "  seed is printed (drawn at random when not given).\n"
	  STORE_OPTS OUT_OPTS },
	{ "review", cmd_review, (const char[]){ O_CONFIG, O_STORE, O_REVIEWER,
	  O_CONCLUSION, O_FROM, O_TO, O_N, O_SEED, O_FORMAT, O_OUTPUT,
	  O_OPERATOR, 0 }, 1, 2,
	  "review record MESSAGE-ID --reviewer ID --conclusion TEXT\n"
	  "       [-c FILE | --store PATH]\n"
	  "  Store the reviewer's conclusion as the audit row \"log_reviewed\",\n"
	  "  appended to the chain (safe while narad runs).\n"
	  "review report --from T --to T [--n N [--seed S]] [--format F]\n"
	  "       [--output FILE] [--operator NAME] [-c FILE | --store PATH]\n"
	  "  The review report for messages received in [from, to), in Swedish:\n"
	  "  the sample (the same as sample --n N --seed S), each message's\n"
	  "  reviewer conclusion or \"Ej granskad\", and reviewed messages of\n"
	  "  the period outside the sample. Formats as for extract.\n"
	  STORE_OPTS },
	{ "export", cmd_export, (const char[]){ O_CONFIG, O_STORE, O_FORMAT,
	  O_FROM, O_TO, 0 }, 0, 0,
	  "export --format jsonl [--from T] [--to T] [-c FILE | --store PATH]\n"
	  "  Audit rows as JSON lines for a SIEM.\n" STORE_OPTS },
	{ "keygen", cmd_keygen, (const char[]){ 0 }, 1, 2,
	  "keygen PRIVATE.pem [PUBLIC.pem]\n"
	  "  Make the Ed25519 key pair narad signs checkpoints with. The private\n"
	  "  key is written 0600; the public key (default PRIVATE.pem.pub) is\n"
	  "  what verify needs. Neither file may exist.\n" },
	{ "prune", cmd_prune, (const char[]){ O_CONFIG, O_STORE, O_SIGNKEY,
	  O_BEFORE, 0 }, 0, 0,
	  "prune --before DATE [-c FILE | --store PATH] [--sign-key FILE]\n"
	  "  Delete audit rows older than DATE and finished messages done before\n"
	  "  it, behind a cut signed with the private key, so verify still\n"
	  "  passes. narad does this by itself for audit_retention_days.\n"
	  STORE_OPTS
	  "  --sign-key FILE    private signing key (default: the config's)\n" },
	{ "migrate", cmd_migrate, (const char[]){ O_CONFIG, O_STORE, O_TO,
	  O_PUBKEY, 0 }, 0, 0,
	  "migrate --to CONNINFO [-c FILE | --store PATH] [--pubkey FILE]...\n"
	  "  Move a stopped narad's SQLite store (queues, receipts, dead letters,\n"
	  "  the audit chain and its signed checkpoints) into an empty PostgreSQL\n"
	  "  database, in one transaction; row counts are compared before the\n"
	  "  commit and the chain is verified on the target after it. Refused\n"
	  "  while narad holds the store (NR042) or when the target holds rows\n"
	  "  (NR041). Progress on stderr. The SQLite store is left as it was.\n"
	  "  --to CONNINFO      libpq conninfo of the target (no password in it:\n"
	  "                     passfile= or PGPASSFILE)\n"
	  STORE_OPTS
	  "  --pubkey FILE      keys the moved checkpoints are checked with\n"
	  "                     (default: as for verify)\n" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

void
tool_error(const char *fmt, ...)
{
	va_list ap;

	fputs("nara-audit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: nara-audit COMMAND [OPTIONS]\n\n"
	    "Read, verify and report the nara audit log.\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %s", commands[i].usage);
	fprintf(out, "\nnara-audit COMMAND --help shows one command. "
	    "Exit: 0 ok, 1 failed/none found, 2 usage or I/O error.\n");
}

/* "YYYY-MM-DD" (UTC midnight; end of day when end is set) or RFC 3339,
 * into epoch seconds; an impossible date (2026-11-31) is refused, never
 * moved into the next month. */
static int
parse_when(const char *s, bool end, int64_t *out)
{
	bool date;

	if (rfc3339_parse_any(s, out, &date) == 0) {
		if (date && end)
			*out += 86400;
		return 0;
	}
	tool_error("%s time \"%s\": not a real date YYYY-MM-DD or an RFC 3339 "
	    "time (2026-03-01T12:00:00Z)", nara_code_id(NR_BAD_TIME), s);
	return -1;
}

static int
parse_number(const char *s, const char *what, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		tool_error("%s %s: \"%s\" is not a number",
		    nara_code_id(NR_USAGE), what, s);
		return -1;
	}
	return 0;
}

/* One option into o; -1 on a bad value. */
static int
set_option(struct opts *o, int id, const char *arg)
{
	uint64_t v;
	int64_t t;

	switch (id) {
	case O_CONFIG: o->config = arg; return 0;
	case O_STORE: o->store = arg; return 0;
	case O_KEY: o->key = arg; return 0;
	case O_PUBKEY:
		if (o->n_pubkeys == AUDIT_RING_MAX) {
			tool_error("%s at most %d --pubkey keys",
			    nara_code_id(NR_USAGE), AUDIT_RING_MAX);
			return -1;
		}
		o->pubkeys[o->n_pubkeys++] = arg;
		return 0;
	case O_SIGNKEY: o->sign_key = arg; return 0;
	case O_JSON: o->out = FMT_JSON; return 0;
	case O_CSV: o->out = FMT_CSV; return 0;
	case O_PARTY: o->party = arg; return 0;
	case O_TYPE: o->type = arg; return 0;
	case O_EVENT: o->event = arg; return 0;
	case O_NODE: o->node = arg; return 0;
	case O_REVIEWER: o->reviewer = arg; return 0;
	case O_CONCLUSION: o->conclusion = arg; return 0;
	case O_FORMAT: o->format = arg; return 0;
	case O_OUTPUT: o->output = arg; return 0;
	case O_OPERATOR: o->operator = arg; return 0;
	case O_FROM: case O_TO: case O_BEFORE:
		if (parse_when(arg, id == O_TO, &t) != 0)
			return -1;
		if (id == O_FROM) { o->from_ms = t * 1000; o->has_from = true; }
		if (id == O_TO) { o->to_ms = t * 1000; o->has_to = true; }
		if (id == O_BEFORE) o->before = t;
		return 0;
	case O_N:
		if (parse_number(arg, "--n", &v) != 0 || v == 0 || v > 1000000) {
			tool_error("%s --n must be 1..1000000", nara_code_id(NR_USAGE));
			return -1;
		}
		o->n = (int64_t)v;
		return 0;
	case O_SEED:
		if (parse_number(arg, "--seed", &v) != 0)
			return -1;
		o->seed = v;
		o->has_seed = true;
		return 0;
	}
	return -1;
}

static int
parse_options(const struct command *c, struct opts *o, int argc, char **argv)
{
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", long_opts, NULL)) != -1) {
		if (ch == O_HELP) {
			printf("usage: nara-audit %s", c->usage);
			exit(EXIT_OK);
		}
		if (ch == '?' || strchr(c->allowed, ch) == NULL) {
			if (ch != '?')
				tool_error("%s option %s is not used by %s",
				    nara_code_id(NR_USAGE), argv[optind - 1],
				    c->name);
			fprintf(stderr, "usage: nara-audit %s", c->usage);
			return -1;
		}
		/* migrate's --to is the target database, not a time */
		if (ch == O_TO && c->fn == cmd_migrate) {
			o->target = optarg;
			continue;
		}
		if (set_option(o, ch, optarg) != 0)
			return -1;
	}
	o->args = argv + optind;
	o->n_args = argc - optind;
	if (o->n_args < c->min_args || o->n_args > c->max_args) {
		tool_error("%s wrong number of arguments", nara_code_id(NR_USAGE));
		fprintf(stderr, "usage: nara-audit %s", c->usage);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = { .from_ms = INT64_MIN, .to_ms = INT64_MAX, .n = -1 };
	int rc;

	log_init("nara-audit", LOG_LVL_WARNING, false);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("nara-audit %s\n", NARA_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (parse_options(&commands[i], &o, argc - 1, argv + 1) != 0)
			return EXIT_USAGE;
		rc = commands[i].fn(&o);
		free(o.store_path);
		free(o.store_backend);
		free(o.key_path);
		for (size_t k = 0; k < o.n_pub_paths; k++)
			free(o.pub_paths[k]);
		free(o.sign_path);
		return rc;
	}
	tool_error("%s unknown command \"%s\"", nara_code_id(NR_USAGE), argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
