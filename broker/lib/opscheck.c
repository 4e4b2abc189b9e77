/*
 * opscheck.c — the overall state of a running narad (opscheck.h).
 */
#include "opscheck.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const LEVEL[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

struct eval {
	const struct opscheck_thresholds *th;
	long long disconnected;     /* configured nodes not connected */
	char down[256];             /* their ids, cut to fit */
	int level;                  /* worst so far, 0..2 */
	json_t *problems;           /* [{node, what, value, threshold, level}] */
	char text[1024];            /* "kommun-1480 backlog 2 h; ..." */
	size_t len;
};

const char *
opscheck_level_name(int level)
{
	return level >= 0 && level <= OPSCHECK_UNKNOWN ? LEVEL[level] : "UNKNOWN";
}

const char *
opscheck_age_text(long long s, char *buf, size_t len)
{
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

/* Append "; " (after the first) and the words a, b and c, as
 * "a b c", or "a b (c)" with parenthesised set. */
static void
text_add(struct eval *e, const char *a, const char *b, const char *c,
    bool parenthesised)
{
	if (e->len < sizeof(e->text))
		e->len += (size_t)snprintf(e->text + e->len, sizeof(e->text) -
		    e->len, parenthesised ? "%s%s %s (%s)" : "%s%s %s %s",
		    e->len ? "; " : "", a, b, c);
	if (e->len > sizeof(e->text))
		e->len = sizeof(e->text);
}

static void
problem_add(struct eval *e, const char *node, const char *what,
    long long value, long long threshold, int level)
{
	char buf[24];

	if (level > e->level)
		e->level = level;
	json_array_append_new(e->problems, json_pack("{s:s, s:s, s:I, s:I, s:s}",
	    "node", node, "what", what, "value", (json_int_t)value,
	    "threshold", (json_int_t)threshold, "level", LEVEL[level]));
	if (strcmp(what, "backlog") == 0)
		opscheck_age_text(value, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%lld", value);
	text_add(e, node, what, buf, false);
}

static void
note_down(struct eval *e, const char *id)
{
	size_t len = strlen(e->down);

	e->disconnected++;
	if (len + strlen(id) + 6 < sizeof(e->down))
		snprintf(e->down + len, sizeof(e->down) - len, "%s%s",
		    len ? ", " : "", id);
	else if (len + 5 < sizeof(e->down) && strstr(e->down, "...") == NULL)
		snprintf(e->down + len, sizeof(e->down) - len, ", ...");
}

/* A certificate (of node id, or narad's own) with at most a threshold's
 * days left crosses it. */
static void
eval_days(struct eval *e, const char *id, json_t *days)
{
	const struct opscheck_thresholds *th = e->th;
	long long d;

	if (!json_is_integer(days))
		return;
	d = json_integer_value(days);
	if (d <= th->crit_days)
		problem_add(e, id, "certificate days left", d, th->crit_days, 2);
	else if (d <= th->warn_days)
		problem_add(e, id, "certificate days left", d, th->warn_days, 1);
}

/* A backlog at least as old as a threshold crosses it. */
static void
eval_node(struct eval *e, json_t *n)
{
	const struct opscheck_thresholds *th = e->th;
	json_t *age = json_object_get(n, "oldest_age_seconds");
	const char *id = json_string_value(json_object_get(n, "id"));

	if (id == NULL)
		id = "-";
	if (!json_is_true(json_object_get(n, "connected")))
		note_down(e, id);
	if (json_is_integer(age)) {
		long long a = json_integer_value(age);
		if (a >= th->crit_age)
			problem_add(e, id, "backlog", a, th->crit_age, 2);
		else if (a >= th->warn_age)
			problem_add(e, id, "backlog", a, th->warn_age, 1);
	}
	eval_days(e, id, json_object_get(n, "cert_days_left"));
}

/* Nodes that should be connected and are not: WARNING from
 * disconnected_warn of them on (0 = not checked). */
static void
eval_disconnected(struct eval *e, size_t configured)
{
	char count[64];

	if (e->th->disconnected_warn <= 0 ||
	    e->disconnected < e->th->disconnected_warn)
		return;
	if (e->level < 1)
		e->level = 1;
	json_array_append_new(e->problems, json_pack("{s:s, s:s, s:I, s:I, "
	    "s:s}", "node", e->down, "what", "nodes disconnected", "value",
	    (json_int_t)e->disconnected, "threshold",
	    (json_int_t)e->th->disconnected_warn, "level", LEVEL[1]));
	snprintf(count, sizeof(count), "%lld of %zu", e->disconnected,
	    configured);
	text_add(e, count, "nodes disconnected", e->down, true);
}

/* With [ha] (status "ha"): an active narad whose database has no
 * synchronous standby confirming commits (a commit may be lost with the
 * primary: WARNING), or whose lease is older than its term (another
 * instance may take it over: CRITICAL). */
static void
eval_ha(struct eval *e, json_t *ha)
{
	const char *id = json_string_value(json_object_get(ha, "instance"));
	json_t *sync = json_object_get(ha, "sync_standbys");
	json_t *age = json_object_get(ha, "lease_age_ms");
	long long term = json_integer_value(json_object_get(ha, "lease_ms"));

	if (!json_is_object(ha) || id == NULL)
		return;
	if (json_is_integer(sync) && json_integer_value(sync) < 1)
		problem_add(e, id, "synchronous standbys",
		    json_integer_value(sync), 1, 1);
	if (json_is_integer(age) && term > 0 && json_integer_value(age) > term)
		problem_add(e, id, "lease age ms", json_integer_value(age), term,
		    2);
}

/* Dead letters wait for an operator (naractl dead, retry): WARNING while
 * there are any. */
static void
eval_dead(struct eval *e, json_t *status, const char *id)
{
	json_t *n = json_object_get(status, "dead_letters");

	if (json_is_integer(n) && json_integer_value(n) > 0)
		problem_add(e, id, "dead letters", json_integer_value(n), 1, 1);
}

static int
level_rank(json_t *p)
{
	const char *l = json_string_value(json_object_get(p, "level"));

	return l != NULL && strcmp(l, "CRITICAL") == 0 ? 0 : 1;
}

/* Worst first, keeping the order of equals (a stable insertion sort:
 * the list is a handful of entries). */
static json_t *
worst_first(json_t *problems)
{
	json_t *sorted = json_array();
	size_t i;
	json_t *p;

	for (int rank = 0; rank < 2; rank++)
		json_array_foreach(problems, i, p)
			if (level_rank(p) == rank)
				json_array_append(sorted, p);
	json_decref(problems);
	return sorted;
}

void
opscheck_thresholds_of(json_t *status, struct opscheck_thresholds *th)
{
	json_t *t = json_object_get(status, "thresholds");

	th->warn_age = json_integer_value(json_object_get(t, "warn_age_seconds"));
	th->crit_age = json_integer_value(json_object_get(t, "crit_age_seconds"));
	th->warn_days = json_integer_value(json_object_get(t, "warn_days"));
	th->crit_days = json_integer_value(json_object_get(t, "crit_days"));
	th->disconnected_warn = json_integer_value(json_object_get(t,
	    "disconnected_warn"));
}

json_t *
opscheck_eval(json_t *status, json_t *nodes, const struct opscheck_thresholds *th)
{
	struct eval e = { .th = th, .problems = json_array() };
	json_t *list = json_object_get(nodes, "nodes"), *n;
	const char *self = json_string_value(json_object_get(status,
	    "broker_id"));
	size_t i;

	if (e.problems == NULL)
		return NULL;
	if (self == NULL)
		self = "narad";
	eval_days(&e, self, json_object_get(status, "broker_cert_days_left"));
	eval_dead(&e, status, self);
	eval_ha(&e, json_object_get(status, "ha"));
	json_array_foreach(list, i, n)
		eval_node(&e, n);
	eval_disconnected(&e, json_array_size(list));
	if (e.len == 0)
		snprintf(e.text, sizeof(e.text), "%lld of %lld nodes connected, "
		    "no backlog, dead letter, certificate or disconnection over "
		    "thresholds",
		    (long long)json_integer_value(json_object_get(status,
		    "nodes_connected")),
		    (long long)json_integer_value(json_object_get(status,
		    "nodes_configured")));
	return json_pack("{s:s, s:i, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I}}",
	    "status", LEVEL[e.level], "exit_code", e.level, "message", e.text,
	    "problems", worst_first(e.problems), "thresholds",
	    "warn_age_seconds", (json_int_t)th->warn_age,
	    "crit_age_seconds", (json_int_t)th->crit_age,
	    "warn_days", (json_int_t)th->warn_days,
	    "crit_days", (json_int_t)th->crit_days,
	    "disconnected_warn", (json_int_t)th->disconnected_warn);
}
