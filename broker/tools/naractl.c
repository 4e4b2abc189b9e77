/*
 * naractl — the operators' tool: ask a running narad over its control
 * socket how it is doing (status, nodes, queues, one message), put a dead
 * letter back in its queue, reload the configuration, and give monitoring
 * systems one Nagios-style status line.
 *
 * One JSON request, one JSON reply over ZeroMQ REQ/REP (docs/OPERATIONS.md).
 * Output is an aligned table for people, or the reply's JSON with --json.
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
#include <zmq.h>

#include "config.h"
#include "version.h"

#define PROG "naractl"
#define DEFAULT_CONFIG "/etc/nara/nara.conf"
#define DEFAULT_SOCKET "ipc:///run/nara/control.sock"

/* Exit codes; check uses the Nagios ones (0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNKNOWN = 3 };

static const char USAGE[] =
    "usage: " PROG " [-c FILE | --socket ENDPOINT] [--json] [--timeout S]\n"
    "               COMMAND [ARGS]\n"
    "\n"
    "Ask the running narad over its control socket.\n"
    "\n"
    "commands:\n"
    "  status            version, uptime, nodes, queues, dead letters, store\n"
    "                    size and commit latency (p50/p99, last minute)\n"
    "  nodes             every configured node: connection, last seen,\n"
    "                    certificate days left, queue depth, oldest message\n"
    "  queue ADDRESS     metadata of the messages queued for an address or\n"
    "                    node id (no clinical content); --limit N (1..1000)\n"
    "  show MESSAGE-ID   metadata of one message\n"
    "  retry MESSAGE-ID  put a dead letter back in its queue (audited)\n"
    "  reload            reload the configuration, as SIGHUP (audited)\n"
    "  check             one status line for monitoring; thresholds from the\n"
    "                    configuration unless given:\n"
    "                    --warn-age T --crit-age T  oldest queued message\n"
    "                    --warn-days N --crit-days N  certificate days left\n"
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
    "running, 2 usage error. check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
    "(also when narad is not running).\n";

struct opts {
	const char *config;
	const char *socket;
	bool json;
	int timeout_ms;
	long limit;
	long long warn_age, crit_age, warn_days, crit_days; /* -1 = config */
	const char *ro_socket;      /* [broker] control_readonly, "" = none */
};

/* ---------------------------------------------------------------- helpers */

static void __attribute__((format(printf, 1, 2)))
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
static long long
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

static long long
parse_count(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || v < 0 ? -1 : v;
}

/* "42 s", "5 min", "3 h", "2 d": an age for a table cell. */
static const char *
fmt_age(json_t *v, char *buf, size_t len)
{
	long long s;

	if (!json_is_integer(v))
		return "-";
	s = json_integer_value(v);
	if (s < 120)
		snprintf(buf, len, "%lld s", s);
	else if (s < 7200)
		snprintf(buf, len, "%lld min", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%lld h", s / 3600);
	else
		snprintf(buf, len, "%lld d", s / 86400);
	return buf;
}

/* Epoch seconds as local "YYYY-MM-DD HH:MM:SS", or "-". */
static const char *
fmt_time(json_t *v, char *buf, size_t len)
{
	time_t t;
	struct tm tm;

	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return "-";
	t = (time_t)json_integer_value(v);
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static const char *
fmt_int(json_t *v, char *buf, size_t len)
{
	if (!json_is_integer(v))
		return "-";
	snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	return buf;
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

/* ---------------------------------------------------------------- tables */

#define TABLE_COLS 10

struct table {
	size_t ncols, nrows;
	char **cells;               /* nrows * ncols, row 0 = header */
	size_t width[TABLE_COLS];
};

/* Columns are as wide as their widest cell in characters, not bytes. */
static size_t
utf8_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static void
table_add(struct table *t, const char *const *row)
{
	char **cells = realloc(t->cells, (t->nrows + 1) * t->ncols *
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

static void
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

/* ---------------------------------------------------------------- transport */

/* Send one request and wait for the reply; NULL (with the reason on
 * stderr) when narad is not running or does not answer. */
static json_t *
request(const struct opts *o, const char *endpoint, json_t *req)
{
	void *ctx = zmq_ctx_new(), *s = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
	char *text = json_dumps(req, JSON_COMPACT);
	int linger = 0, rc;
	json_t *reply = NULL;
	zmq_msg_t msg;

	if (strncmp(endpoint, "ipc://", 6) == 0 && access(endpoint + 6, F_OK) != 0) {
		errorf("narad is not running: no control socket %s (%s)",
		    endpoint + 6, strerror(errno));
		goto done;
	}
	if (s == NULL || text == NULL) {
		errorf("cannot create a socket: %s", zmq_strerror(errno));
		goto done;
	}
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &o->timeout_ms, sizeof(o->timeout_ms));
	zmq_setsockopt(s, ZMQ_SNDTIMEO, &o->timeout_ms, sizeof(o->timeout_ms));
	if (zmq_connect(s, endpoint) != 0 ||
	    zmq_send(s, text, strlen(text), 0) < 0) {
		errorf("cannot reach narad at %s: %s", endpoint, zmq_strerror(errno));
		goto done;
	}
	zmq_msg_init(&msg);
	rc = zmq_msg_recv(&msg, s, 0);
	if (rc < 0)
		errorf("narad is not answering on %s within %d ms (%s); is it "
		    "running, and may this user use the socket?", endpoint,
		    o->timeout_ms, zmq_strerror(errno));
	else if ((reply = json_loadb(zmq_msg_data(&msg), zmq_msg_size(&msg), 0,
	    NULL)) == NULL || !json_is_object(reply)) {
		errorf("narad sent a reply that is not a JSON object");
		json_decref(reply);
		reply = NULL;
	}
	zmq_msg_close(&msg);
done:
	free(text);
	if (s != NULL)
		zmq_close(s);
	if (ctx != NULL)
		zmq_ctx_term(ctx);
	return reply;
}

/* The endpoint for command: --socket, else the config's control socket;
 * read-only commands fall back to control_readonly when this user cannot
 * write the control socket. */
static const char *
endpoint_for(const struct opts *o, bool changes)
{
	const char *ep = o->socket;

	if (!changes && o->ro_socket != NULL && o->ro_socket[0] != '\0' &&
	    strncmp(ep, "ipc://", 6) == 0 && access(ep + 6, W_OK) != 0 &&
	    errno == EACCES)
		return o->ro_socket;
	return ep;
}

/* Ask and unwrap: the result object, or NULL after printing narad's
 * refusal ("NR019 message_id: ..."). *exit_code says which. */
static json_t *
call(const struct opts *o, json_t *req, bool changes, int *exit_code)
{
	json_t *reply = request(o, endpoint_for(o, changes), req), *result;

	json_decref(req);
	*exit_code = EXIT_FAIL;
	if (reply == NULL)
		return NULL;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (o->json) {
			json_dumpf(reply, stdout, JSON_INDENT(2));
			putchar('\n');
		}
		errorf("%s %s", str(reply, "code"), str(reply, "error"));
		json_decref(reply);
		return NULL;
	}
	result = json_incref(json_object_get(reply, "result"));
	json_decref(reply);
	*exit_code = EXIT_OK;
	return result;
}

static void
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

static void
print_status(json_t *r)
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
		if (json_is_string(v))
			s = json_string_value(v);
		else if (json_is_boolean(v))
			s = json_is_true(v) ? "yes" : "no";
		else if (is_time_key(keys[i]))
			s = fmt_time(v, buf, sizeof(buf));
		else
			s = fmt_int(v, buf, sizeof(buf));
		printf("%-17s %s\n", keys[i], s);
	}
}

/* status, nodes, queue, show, retry, reload: ask and print. */
static int
run_simple(const struct opts *o, const char *cmd, const char *arg)
{
	bool changes = strcmp(cmd, "retry") == 0 || strcmp(cmd, "reload") == 0;
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

/* ---------------------------------------------------------------- check */

static const char *const LEVEL[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

struct check {
	long long warn_age, crit_age, warn_days, crit_days;
	int level;                  /* worst so far, 0..2 */
	json_t *problems;           /* [{node, what, value, threshold, level}] */
	char text[1024];            /* "kommun-1480 backlog 2 h; ..." */
	size_t len;
};

static void
check_add(struct check *c, const char *node, const char *what,
    long long value, long long threshold, int level)
{
	char buf[24];
	json_t *v = json_integer(value);

	if (level > c->level)
		c->level = level;
	json_array_append_new(c->problems, json_pack("{s:s, s:s, s:I, s:I, s:s}",
	    "node", node, "what", what, "value", (json_int_t)value,
	    "threshold", (json_int_t)threshold, "level", LEVEL[level]));
	if (c->len < sizeof(c->text))
		c->len += (size_t)snprintf(c->text + c->len, sizeof(c->text) -
		    c->len, "%s%s %s %s", c->len ? "; " : "", node, what,
		    strcmp(what, "backlog") == 0 ? fmt_age(v, buf, sizeof(buf))
		    : fmt_int(v, buf, sizeof(buf)));
	json_decref(v);
}

/* A backlog at least as old as a threshold, or a certificate with at most
 * that many days left, crosses it. */
static void
check_node(struct check *c, json_t *n)
{
	json_t *age = json_object_get(n, "oldest_age_seconds");
	json_t *days = json_object_get(n, "cert_days_left");
	const char *id = str(n, "id");

	if (json_is_integer(age)) {
		long long a = json_integer_value(age);
		if (a >= c->crit_age)
			check_add(c, id, "backlog", a, c->crit_age, 2);
		else if (a >= c->warn_age)
			check_add(c, id, "backlog", a, c->warn_age, 1);
	}
	if (json_is_integer(days)) {
		long long d = json_integer_value(days);
		if (d <= c->crit_days)
			check_add(c, id, "certificate days left", d, c->crit_days, 2);
		else if (d <= c->warn_days)
			check_add(c, id, "certificate days left", d, c->warn_days, 1);
	}
}

static long long
threshold(long long given, json_t *th, const char *key)
{
	return given >= 0 ? given : json_integer_value(json_object_get(th, key));
}

static int
check_report(const struct opts *o, struct check *c, json_t *st)
{
	char perf[256];

	snprintf(perf, sizeof(perf), "nodes=%lld connected=%lld queued=%lld "
	    "dead=%lld",
	    (long long)json_integer_value(json_object_get(st, "nodes_configured")),
	    (long long)json_integer_value(json_object_get(st, "nodes_connected")),
	    (long long)json_integer_value(json_object_get(st, "queued")),
	    (long long)json_integer_value(json_object_get(st, "dead_letters")));
	if (c->len == 0)
		snprintf(c->text, sizeof(c->text), "%lld of %lld nodes connected, "
		    "no backlog or certificate over thresholds",
		    (long long)json_integer_value(json_object_get(st,
		    "nodes_connected")),
		    (long long)json_integer_value(json_object_get(st,
		    "nodes_configured")));
	if (o->json) {
		json_t *j = json_pack("{s:s, s:i, s:s, s:O, s:{s:I, s:I, s:I, s:I}}",
		    "status", LEVEL[c->level], "exit_code", c->level,
		    "message", c->text, "problems", c->problems, "thresholds",
		    "warn_age_seconds", (json_int_t)c->warn_age,
		    "crit_age_seconds", (json_int_t)c->crit_age,
		    "warn_days", (json_int_t)c->warn_days,
		    "crit_days", (json_int_t)c->crit_days);
		print_json(j);
		json_decref(j);
	} else {
		printf("NARA %s - %s | %s\n", LEVEL[c->level], c->text, perf);
	}
	return c->level;
}

static int
run_check(const struct opts *o)
{
	struct check c = { .problems = json_array() };
	json_t *st, *nv = NULL, *th, *n;
	int rc;
	size_t i;

	if ((st = call(o, json_pack("{s:s}", "command", "status"), false,
	    &rc)) == NULL || (nv = call(o, json_pack("{s:s}", "command",
	    "nodes"), false, &rc)) == NULL) {
		printf("NARA UNKNOWN - narad not answering on %s\n",
		    endpoint_for(o, false));
		json_decref(st);
		json_decref(c.problems);
		return EXIT_UNKNOWN;
	}
	th = json_object_get(st, "thresholds");
	c.warn_age = threshold(o->warn_age, th, "warn_age_seconds");
	c.crit_age = threshold(o->crit_age, th, "crit_age_seconds");
	c.warn_days = threshold(o->warn_days, th, "warn_days");
	c.crit_days = threshold(o->crit_days, th, "crit_days");
	json_array_foreach(json_object_get(nv, "nodes"), i, n)
		check_node(&c, n);
	rc = check_report(o, &c, st);
	json_decref(c.problems);
	json_decref(st);
	json_decref(nv);
	return rc;
}

/* ---------------------------------------------------------------- main */

/* Endpoints from the config file (-c, or the default one if readable). */
static int
load_endpoints(struct opts *o, struct config **cfg)
{
	struct config_diag diag = { 0 };
	const char *path = o->config ? o->config : DEFAULT_CONFIG;

	if (o->socket != NULL)
		return 0;
	if (o->config == NULL && access(path, R_OK) != 0) {
		o->socket = DEFAULT_SOCKET;
		return 0;
	}
	*cfg = config_load(path, &diag);
	for (size_t i = 0; i < diag.n; i++)
		errorf("%s", diag.msgs[i]);
	config_diag_free(&diag);
	if (*cfg == NULL) {
		errorf("%s: configuration invalid", path);
		return -1;
	}
	o->socket = (*cfg)->broker.control;
	o->ro_socket = (*cfg)->broker.control_readonly;
	return 0;
}

static const struct option LONGOPTS[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "limit", required_argument, NULL, 'l' },
	{ "warn-age", required_argument, NULL, 'a' },
	{ "crit-age", required_argument, NULL, 'A' },
	{ "warn-days", required_argument, NULL, 'd' },
	{ "crit-days", required_argument, NULL, 'D' },
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
	default: return -1;
	}
}

/* Command name -> number of arguments it takes; -1 when unknown. */
static int
command_args(const char *cmd)
{
	static const char *const zero[] = { "status", "nodes", "reload", "check" };
	static const char *const one[] = { "queue", "show", "retry" };

	for (size_t i = 0; i < 4; i++)
		if (strcmp(cmd, zero[i]) == 0)
			return 0;
	for (size_t i = 0; i < 3; i++)
		if (strcmp(cmd, one[i]) == 0)
			return 1;
	return -1;
}

int
main(int argc, char **argv)
{
	struct opts o = { .timeout_ms = 5000, .warn_age = -1, .crit_age = -1,
	    .warn_days = -1, .crit_days = -1 };
	struct config *cfg = NULL;
	const char *cmd;
	int ch, nargs, rc;

	while ((ch = getopt_long(argc, argv, "c:s:jt:Vh", LONGOPTS, NULL)) != -1) {
		if (ch == 'h') {
			fputs(USAGE, stdout);
			return EXIT_OK;
		}
		if (ch == 'V') {
			printf(PROG " %s\n", NARA_VERSION);
			return EXIT_OK;
		}
		if (set_option(&o, ch, optarg) != 0) {
			fputs(USAGE, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc || (nargs = command_args(argv[optind])) < 0 ||
	    argc - optind - 1 != nargs) {
		if (optind < argc && command_args(argv[optind]) < 0)
			errorf("unknown command \"%s\"", argv[optind]);
		else
			errorf("wrong number of arguments");
		fputs(USAGE, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	if (o.config != NULL && o.socket != NULL) {
		errorf("-c and --socket exclude each other");
		return EXIT_USAGE;
	}
	if (load_endpoints(&o, &cfg) != 0)
		return strcmp(cmd, "check") == 0 ? EXIT_UNKNOWN : EXIT_FAIL;
	rc = strcmp(cmd, "check") == 0 ? run_check(&o)
	    : run_simple(&o, cmd, nargs ? argv[optind + 1] : NULL);
	config_free(&cfg);
	return rc;
}
