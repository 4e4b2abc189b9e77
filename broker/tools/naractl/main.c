/*
 * naractl — the operators' tool: ask a running narad over its control
 * socket how it is doing (status, nodes, queues, one message, connections
 * and dead letters: ops.c), put dead letters back in their queue, reload
 * the configuration, and give monitoring systems one Nagios-style status
 * line.
 *
 * One JSON request, one JSON reply over the control socket (transport.c,
 * docs/OPERATIONS.md). Output is an aligned table for people, or the
 * reply's JSON with --json.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "conftab.h"
#include "naractl.h"
#include "opscheck.h"
#include "version.h"

static const char USAGE[] =
    "usage: " PROG " [-c FILE | --socket ENDPOINT] [--json] [--timeout S]\n"
    "               COMMAND [ARGS]\n"
    "\n"
    "Ask the running narad over its control socket.\n"
    "\n"
    "commands:\n"
    "  status            version, uptime, nodes, queues, dead letters, store\n"
    "                    size, its replication and commit latency (p50/p99,\n"
    "                    last minute)\n"
    "  nodes             every configured node: connection, last seen,\n"
    "                    certificate days left, queue depth, oldest message\n"
    "  queue ADDRESS     metadata of the messages queued for an address or\n"
    "                    node id (no clinical content); --limit N (1..1000)\n"
    "  show MESSAGE-ID   metadata of one message\n"
    "  conns [NODE]      each node's connection: peer, TLS version and\n"
    "                    cipher, certificate subject and expiry, client\n"
    "                    software, connected since, last refusal and why\n"
    "  dead [NODE]       dead letters (of NODE): code and reason, metadata\n"
    "                    only; --limit N (1..1000, default 100)\n"
    "  retry MESSAGE-ID  put a dead letter back in its queue (audited)\n"
    "  retry --node NODE --all\n"
    "                    every dead letter of NODE whose content is kept\n"
    "                    (each audited)\n"
    "  reload            reload the configuration, as SIGHUP (audited)\n"
    "  step-down         [ha] hand the active role to a standby narad now\n"
    "                    (audited); this narad restarts as a standby\n"
    "  check             one status line for monitoring; thresholds from the\n"
    "                    configuration unless given:\n"
    "                    --warn-age T --crit-age T  oldest queued message\n"
    "                    --warn-days N --crit-days N  certificate days left\n"
    "                    --disconnected-warn N  nodes not connected (0 = off)\n"
    "                    (T: seconds or with s, m, h, d)\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     read [broker] control from FILE (default "
    DEFAULT_CONFIG ")\n"
    "  -s, --socket ENDPOINT control endpoint, e.g. " DEFAULT_SOCKET "\n"
    "  -j, --json            print the reply as JSON\n"
    "  -t, --timeout S       seconds to wait for narad (default 5)\n"
    "  -V, --version         print the version\n"
    "  -h, --help            this text\n"
    "\n"
    "exit status: 0 success, 1 narad refused the command or is not\n"
    "running, 2 usage error, 4 retry, reload or step-down sent but not\n"
    "answered in time: it may have been done (check before repeating it).\n"
    "check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also when narad is not\n"
    "running).\n";


/* ---------------------------------------------------------------- helpers */

void __attribute__((format(printf, 1, 2)))
errorf(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* "90", "90s", "15m", "2h", "1d" into seconds; -1 when malformed. */
long long
parse_duration(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': v *= 60; break;
	case 'h': v *= 3600; break;
	case 'd': v *= 86400; break;
	default: return -1;
	}
	return end[0] != '\0' && end[1] != '\0' ? -1 : v;
}

long long
parse_count(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || v < 0 ? -1 : v;
}

/* "42 s", "5 min", "3 h", "2 d": an age for a table cell. */
const char *
fmt_age(json_t *v, char *buf, size_t len)
{
	if (!json_is_integer(v))
		return "-";
	return opscheck_age_text(json_integer_value(v), buf, len);
}

/* A time as narad gives it (RFC 3339 in UTC, e.g. 2026-12-03T09:15:00Z),
 * printed as it is so that every tool shows the same text; "-" for none. */
const char *
fmt_time(json_t *v, char *buf, size_t len)
{
	if (!json_is_string(v))
		return "-";
	snprintf(buf, len, "%s", json_string_value(v));
	return buf;
}

const char *
fmt_int(json_t *v, char *buf, size_t len)
{
	if (!json_is_integer(v))
		return "-";
	snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	return buf;
}

const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

/* ---------------------------------------------------------------- tables */

/* Columns are as wide as their widest cell in characters, not bytes. */
static size_t
utf8_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

void
table_add(struct table *t, const char *const *row)
{
	char **cells = reallocarray(t->cells, (t->nrows + 1) * t->ncols,
	    sizeof(*cells));

	if (cells == NULL) {
		errorf("out of memory");
		exit(EXIT_FAIL);
	}
	t->cells = cells;
	for (size_t c = 0; c < t->ncols; c++) {
		char *s = strdup(row[c] ? row[c] : "-");
		cells[t->nrows * t->ncols + c] = s;
		if (s != NULL && utf8_width(s) > t->width[c])
			t->width[c] = utf8_width(s);
	}
	t->nrows++;
}

void
table_print(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			bool last = c + 1 == t->ncols;
			fputs(s ? s : "", stdout);
			if (!last)
				printf("%*s", (int)(t->width[c] - utf8_width(s ? s
				    : "") + 2), "");
			free(t->cells[r * t->ncols + c]);
		}
		putchar('\n');
	}
	free(t->cells);
	t->cells = NULL;
}

void
print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
}

/* ---------------------------------------------------------------- commands */

static void
human_size(long long bytes, char *buf, size_t len)
{
	if (bytes >= 1LL << 30)
		snprintf(buf, len, "%.1f GiB", (double)bytes / (1LL << 30));
	else if (bytes >= 1LL << 20)
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1LL << 20));
	else
		snprintf(buf, len, "%.1f KiB", (double)bytes / 1024.0);
}

static void print_status_active(json_t *r);

/* The store's backend and whether a commit survives the database host. */
static void
print_replication(json_t *s)
{
	json_t *n = json_object_get(s, "sync_standbys");

	if (!json_is_object(s))
		return;
	if (json_is_string(json_object_get(s, "warning")))
		printf("replication   %s: %s\n", str(s, "backend"),
		    str(s, "warning"));
	else if (json_is_integer(n))
		printf("replication   %s: %lld synchronous standby(s) confirm "
		    "every commit\n", str(s, "backend"),
		    (long long)json_integer_value(n));
	else
		printf("replication   %s: one local file (none)\n",
		    str(s, "backend"));
}

/* [ha]: the role and the lease, as status shows them. */
static void
print_ha(json_t *ha)
{
	char since[32], age[48];
	json_t *a = json_object_get(ha, "lease_age_ms");

	if (!json_is_object(ha))
		return;
	if (json_is_integer(a))
		snprintf(age, sizeof(age), "%.1f s", (double)json_integer_value(a)
		    / 1000.0);
	else
		snprintf(age, sizeof(age), "-");
	printf("role          %s, instance %s, since %s\n", str(ha, "role"),
	    str(ha, "instance"), fmt_time(json_object_get(ha, "since"), since,
	    sizeof(since)));
	printf("lease         held by %s, epoch %lld, renewed %s ago (term "
	    "%.0f s), %lld takeovers\n",
	    str(ha, "holder")[0] != '\0' ? str(ha, "holder") : "nobody",
	    (long long)json_integer_value(json_object_get(ha, "epoch")), age,
	    (double)json_integer_value(json_object_get(ha, "lease_ms")) / 1000.0,
	    (long long)json_integer_value(json_object_get(ha, "failovers")));
	if (json_is_string(json_object_get(ha, "last_error")))
		printf("lease error   %s\n", str(ha, "last_error"));
}

static void
print_status(json_t *r)
{
	if (strcmp(str(r, "role"), "standby") == 0) {
		printf("broker        standby, narad %s: does not serve until it "
		    "holds the lease\n", str(r, "version"));
		print_ha(json_object_get(r, "ha"));
		return;
	}
	print_status_active(r);
	print_ha(json_object_get(r, "ha"));
}

static void
print_status_active(json_t *r)
{
	json_t *lat = json_object_get(r, "commit_latency");
	long long commits = (long long)json_integer_value(json_object_get(lat,
	    "commits")), samples = (long long)json_integer_value(
	    json_object_get(lat, "samples"));
	char a[32], b[32], size[32];

	human_size((long long)json_integer_value(json_object_get(r,
	    "store_bytes")), size, sizeof(size));
	printf("broker        %s %s, up %s\n", str(r, "broker_id"),
	    str(r, "version"), fmt_age(json_object_get(r, "uptime_seconds"), a,
	    sizeof(a)));
	printf("nodes         %s of %s connected\n",
	    fmt_int(json_object_get(r, "nodes_connected"), a, sizeof(a)),
	    fmt_int(json_object_get(r, "nodes_configured"), b, sizeof(b)));
	printf("queued        %s, in flight %lld, oldest %s\n",
	    fmt_int(json_object_get(r, "queued"), a, sizeof(a)),
	    (long long)json_integer_value(json_object_get(r, "in_flight")),
	    fmt_age(json_object_get(r, "oldest_queued_age_seconds"), b,
	    sizeof(b)));
	printf("dead letters  %lld\n",
	    (long long)json_integer_value(json_object_get(r, "dead_letters")));
	printf("store         %s, %lld audit rows\n", size,
	    (long long)json_integer_value(json_object_get(r, "audit_rows")));
	print_replication(json_object_get(r, "store"));
	printf("commit        p50 %.2f ms, p99 %.2f ms (%lld commits in %lld s",
	    (double)json_integer_value(json_object_get(lat, "p50_us")) / 1000.0,
	    (double)json_integer_value(json_object_get(lat, "p99_us")) / 1000.0,
	    commits, (long long)json_integer_value(json_object_get(lat,
	    "window_seconds")));
	if (samples < commits)
		printf("; percentiles of the newest %lld", samples);
	printf(")\n");
}

static void
print_nodes(json_t *r)
{
	static const char *const head[] = { "NODE", "NAME", "KIND", "STATE",
	    "CONNECTED SINCE", "LAST SEEN", "CERT DAYS", "QUEUED", "OLDEST" };
	struct table t = { .ncols = 9 };
	size_t i;
	json_t *n;

	table_add(&t, head);
	json_array_foreach(json_object_get(r, "nodes"), i, n) {
		char since[32], seen[32], days[24], queued[24], oldest[24];
		const char *row[] = { str(n, "id"), str(n, "name"), str(n, "kind"),
		    json_is_true(json_object_get(n, "connected")) ? "connected"
		    : "down",
		    fmt_time(json_object_get(n, "connected_since"), since,
		    sizeof(since)),
		    fmt_time(json_object_get(n, "last_seen"), seen, sizeof(seen)),
		    fmt_int(json_object_get(n, "cert_days_left"), days,
		    sizeof(days)),
		    fmt_int(json_object_get(n, "queued"), queued, sizeof(queued)),
		    fmt_age(json_object_get(n, "oldest_age_seconds"), oldest,
		    sizeof(oldest)) };
		table_add(&t, row);
	}
	table_print(&t);
}

static void
print_queue(json_t *r)
{
	static const char *const head[] = { "MESSAGE-ID", "TYPE", "SENDER",
	    "RECIPIENT", "ACCEPTED", "ATTEMPTS", "BYTES" };
	struct table t = { .ncols = 7 };
	size_t i;
	json_t *m;

	table_add(&t, head);
	json_array_foreach(json_object_get(r, "messages"), i, m) {
		char acc[32], att[24], size[24];
		const char *row[] = { str(m, "message_id"), str(m, "type"),
		    str(m, "sender"), str(m, "recipient"),
		    fmt_time(json_object_get(m, "accepted_at"), acc, sizeof(acc)),
		    fmt_int(json_object_get(m, "attempts"), att, sizeof(att)),
		    fmt_int(json_object_get(m, "size"), size, sizeof(size)) };
		table_add(&t, row);
	}
	table_print(&t);
	printf("%lld message(s) queued for %s%s\n",
	    (long long)json_integer_value(json_object_get(r, "count")),
	    str(r, "address"), json_is_true(json_object_get(r, "truncated"))
	    ? " (more not shown; --limit)" : "");
}

static bool
is_time_key(const char *key)
{
	return strcmp(key, "created") == 0 || strcmp(key, "accepted_at") == 0 ||
	    strcmp(key, "expires") == 0 || strcmp(key, "done_at") == 0;
}

/* show: one "key  value" line per field, in a fixed order. */
static void
print_message(json_t *m)
{
	static const char *const keys[] = { "message_id", "conversation_id",
	    "type", "priority", "state", "sender", "sender_node", "recipient",
	    "recipient_node", "created", "accepted_at", "expires", "done_at",
	    "attempts", "size", "payload_sha256", "payload_kept",
	    "identifies_child", "dead_code", "dead_text" };
	char buf[64];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(m, keys[i]);
		const char *s = "-";
		if (is_time_key(keys[i]))
			s = fmt_time(v, buf, sizeof(buf));
		else if (json_is_string(v))
			s = json_string_value(v);
		else if (json_is_boolean(v))
			s = json_is_true(v) ? "yes" : "no";
		else
			s = fmt_int(v, buf, sizeof(buf));
		printf("%-17s %s\n", keys[i], s);
	}
}

/* status, nodes, queue, show, retry, reload: ask and print. */
static int
run_simple(const struct opts *o, const char *cmd, const char *arg)
{
	bool changes = strcmp(cmd, "retry") == 0 ||
	    strcmp(cmd, "reload") == 0 || strcmp(cmd, "step-down") == 0;
	json_t *req = json_pack("{s:s}", "command", cmd), *r;
	int rc;

	if (strcmp(cmd, "queue") == 0) {
		json_object_set_new(req, "address", json_string(arg));
		if (o->limit > 0)
			json_object_set_new(req, "limit", json_integer(o->limit));
	} else if (arg != NULL) {
		json_object_set_new(req, "message_id", json_string(arg));
	}
	if ((r = call(o, req, changes, &rc)) == NULL)
		return rc;
	if (o->json)
		print_json(r);
	else if (strcmp(cmd, "status") == 0)
		print_status(r);
	else if (strcmp(cmd, "step-down") == 0)
		printf("stepped down; a standby takes the lease over (by %s)\n",
		    str(r, "operator"));
	else if (strcmp(cmd, "nodes") == 0)
		print_nodes(r);
	else if (strcmp(cmd, "queue") == 0)
		print_queue(r);
	else if (strcmp(cmd, "show") == 0)
		print_message(r);
	else if (strcmp(cmd, "retry") == 0)
		printf("%s queued again for %s\n", str(r, "message_id"),
		    str(r, "recipient_node"));
	else
		printf("configuration reloaded: %lld nodes\n",
		    (long long)json_integer_value(json_object_get(r, "nodes")));
	json_decref(r);
	return EXIT_OK;
}

/* ---------------------------------------------------------------- main */

/* Endpoints from the config file (-c, or the default one if readable):
 * only [broker] control and control_readonly are read, so a mistake
 * elsewhere in the file does not lock operators out; narad -n checks the
 * whole file. 0, or -1 with the reason in why. */
static int
load_endpoints(struct opts *o, char *why, size_t len)
{
	const char *path = o->config ? o->config : DEFAULT_CONFIG;
	char check[256];
	int rc;

	if (o->socket != NULL)
		return 0;
	if (o->config == NULL && access(path, R_OK) != 0) {
		o->socket = DEFAULT_SOCKET;
		return 0;
	}
	if ((rc = config_peek(path, "broker", "control", o->socket_buf,
	    sizeof(o->socket_buf), why, len)) < 0)
		return -1;
	o->socket = rc == 1 ? o->socket_buf : DEFAULT_SOCKET;
	if (conftab_check_zmq(o->socket, check, sizeof(check)) != 0) {
		snprintf(why, len, "%s: [broker] control: %s", path, check);
		return -1;
	}
	if (config_peek(path, "broker", "control_readonly", o->ro_buf,
	    sizeof(o->ro_buf), why, len) == 1 && o->ro_buf[0] != '\0' &&
	    conftab_check_zmq(o->ro_buf, check, sizeof(check)) == 0)
		o->ro_socket = o->ro_buf;
	return 0;
}

static const struct option LONGOPTS[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "limit", required_argument, NULL, 'l' },
	{ "node", required_argument, NULL, 'n' },
	{ "all", no_argument, NULL, 'L' },
	{ "warn-age", required_argument, NULL, 'a' },
	{ "crit-age", required_argument, NULL, 'A' },
	{ "warn-days", required_argument, NULL, 'd' },
	{ "crit-days", required_argument, NULL, 'D' },
	{ "disconnected-warn", required_argument, NULL, 'N' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* One option; -1 after a usage message when its value is bad. */
static int
set_option(struct opts *o, int ch, const char *arg)
{
	long long v = 0;

	switch (ch) {
	case 'c': o->config = arg; return 0;
	case 's': o->socket = arg; return 0;
	case 'j': o->json = true; return 0;
	case 'n': o->node = arg; return 0;
	case 'L': o->all = true; return 0;
	case 't': v = parse_duration(arg);
		  o->timeout_ms = (int)(v * 1000);
		  return v >= 1 && v <= 3600 ? 0 : (errorf("bad --timeout %s", arg), -1);
	case 'l': v = parse_count(arg); o->limit = (long)v;
		  return v >= 1 && v <= 1000 ? 0 : (errorf("bad --limit %s "
		      "(1..1000)", arg), -1);
	case 'a': case 'A':
		  if ((v = parse_duration(arg)) < 0)
			  return errorf("bad age %s (seconds, or with s, m, h, d)",
			      arg), -1;
		  *(ch == 'a' ? &o->warn_age : &o->crit_age) = v;
		  return 0;
	case 'd': case 'D':
		  if ((v = parse_count(arg)) < 0)
			  return errorf("bad day count %s", arg), -1;
		  *(ch == 'd' ? &o->warn_days : &o->crit_days) = v;
		  return 0;
	case 'N': if ((v = parse_count(arg)) < 0)
			  return errorf("bad node count %s", arg), -1;
		  o->disconnected_warn = v;
		  return 0;
	default: return -1;
	}
}

/* Command name -> number of arguments it takes (conns and dead: 0 or 1,
 * reported as 1 with *optional set); -1 when unknown. */
static int
command_args(const char *cmd, bool *optional)
{
	static const char *const zero[] = { "status", "nodes", "reload", "check",
	    "step-down" };
	static const char *const one[] = { "queue", "show", "retry", "conns",
	    "dead" };

	*optional = strcmp(cmd, "conns") == 0 || strcmp(cmd, "dead") == 0;
	for (size_t i = 0; i < 5; i++)
		if (strcmp(cmd, zero[i]) == 0)
			return 0;
	for (size_t i = 0; i < 5; i++)
		if (strcmp(cmd, one[i]) == 0)
			return 1;
	return -1;
}

/* Does the command line give cmd the arguments it takes? retry takes a
 * message id, or none with --node NODE --all; --node and --all belong to
 * retry only. */
static bool
args_fit(const struct opts *o, const char *cmd, int nargs, int given,
    bool optional)
{
	bool whole_node = o->node != NULL || o->all;

	if (strcmp(cmd, "retry") == 0 && whole_node)
		return given == 0 && o->node != NULL && o->all;
	if (whole_node)
		return false;
	return given == nargs || (optional && given == 0);
}

/* A usage error: a check still prints its one line (Nagios plugins
 * report bad arguments as UNKNOWN), other commands print the usage. */
static int
usage_error(const struct opts *o, bool is_check)
{
	if (is_check)
		return check_unknown(o, "bad command line (see naractl --help)");
	fputs(USAGE, stderr);
	return EXIT_USAGE;
}

static bool
wants_check(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "check") == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	struct opts o = { .timeout_ms = 5000, .warn_age = -1, .crit_age = -1,
	    .warn_days = -1, .crit_days = -1, .disconnected_warn = -1 };
	bool is_check = wants_check(argc, argv);
	const char *cmd, *arg;
	char why[600];
	int ch, nargs;
	bool optional;

	while ((ch = getopt_long(argc, argv, "c:s:jt:Vh", LONGOPTS, NULL)) != -1) {
		if (ch == 'h') {
			fputs(USAGE, stdout);
			return EXIT_OK;
		}
		if (ch == 'V') {
			printf(PROG " %s\n", NARA_VERSION);
			return EXIT_OK;
		}
		if (set_option(&o, ch, optarg) != 0)
			return usage_error(&o, is_check);
	}
	if (optind >= argc || (nargs = command_args(argv[optind], &optional)) < 0
	    || !args_fit(&o, argv[optind], nargs, argc - optind - 1, optional)) {
		if (optind < argc && command_args(argv[optind], &optional) < 0)
			errorf("unknown command \"%s\"", argv[optind]);
		else
			errorf("wrong number of arguments");
		return usage_error(&o, is_check);
	}
	cmd = argv[optind];
	is_check = strcmp(cmd, "check") == 0;
	if (o.config != NULL && o.socket != NULL) {
		errorf("-c and --socket exclude each other");
		return usage_error(&o, is_check);
	}
	if (load_endpoints(&o, why, sizeof(why)) != 0) {
		errorf("%s", why);
		return is_check ? check_unknown(&o, why) : EXIT_FAIL;
	}
	arg = argc - optind > 1 ? argv[optind + 1] : NULL;
	if (is_check)
		return check_run(&o);
	if (strcmp(cmd, "conns") == 0)
		return ops_conns(&o, arg);
	if (strcmp(cmd, "dead") == 0)
		return ops_dead(&o, arg);
	if (strcmp(cmd, "retry") == 0 && o.all)
		return ops_retry_all(&o, o.node);
	return run_simple(&o, cmd, arg);
}
