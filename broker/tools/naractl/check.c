/*
 * check.c — naractl check: one Nagios-style line from narad's status and
 * nodes, against the thresholds of narad's configuration (or the flags):
 * backlog age, certificate days left and nodes that are not connected.
 * Whatever happens, exactly one line is printed (UNKNOWN, exit 3, when
 * narad cannot be asked), so a monitoring system never shows "no output".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "naractl.h"

static const char *const LEVEL[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

struct check {
	long long warn_age, crit_age, warn_days, crit_days, disconnected_warn;
	long long disconnected;     /* configured nodes not connected */
	char down[256];             /* their ids, cut to fit */
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

/* A configured node that is not connected: counted, and named while the
 * list fits. */
static void
note_down(struct check *c, const char *id)
{
	size_t len = strlen(c->down);

	c->disconnected++;
	if (len + strlen(id) + 6 < sizeof(c->down))
		snprintf(c->down + len, sizeof(c->down) - len, "%s%s",
		    len ? ", " : "", id);
	else if (len + 5 < sizeof(c->down) && strstr(c->down, "...") == NULL)
		snprintf(c->down + len, sizeof(c->down) - len, ", ...");
}

/* A backlog at least as old as a threshold, or a certificate with at most
 * that many days left, crosses it; a node that is down is counted for
 * check_disconnected. */
static void
check_node(struct check *c, json_t *n)
{
	json_t *age = json_object_get(n, "oldest_age_seconds");
	json_t *days = json_object_get(n, "cert_days_left");
	const char *id = str(n, "id");

	if (!json_is_true(json_object_get(n, "connected")))
		note_down(c, id);
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

/* Nodes that should be connected and are not: WARNING from
 * disconnected_warn of them on (0 = not checked). */
static void
check_disconnected(struct check *c, size_t configured)
{
	if (c->disconnected_warn <= 0 || c->disconnected < c->disconnected_warn)
		return;
	if (c->level < 1)
		c->level = 1;
	json_array_append_new(c->problems, json_pack("{s:s, s:s, s:I, s:I, "
	    "s:s}", "node", c->down, "what", "nodes disconnected", "value",
	    (json_int_t)c->disconnected, "threshold",
	    (json_int_t)c->disconnected_warn, "level", LEVEL[1]));
	if (c->len < sizeof(c->text))
		c->len += (size_t)snprintf(c->text + c->len, sizeof(c->text) -
		    c->len, "%s%lld of %zu nodes disconnected (%s)", c->len ? "; "
		    : "", c->disconnected, configured, c->down);
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
		    "no backlog, certificate or disconnection over thresholds",
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
		json_object_set_new(json_object_get(j, "thresholds"),
		    "disconnected_warn", json_integer(c->disconnected_warn));
		print_json(j);
		json_decref(j);
	} else {
		printf("NARA %s - %s | %s\n", LEVEL[c->level], c->text, perf);
	}
	return c->level;
}

int
check_run(const struct opts *o)
{
	struct check c = { .problems = json_array() };
	json_t *st, *nv = NULL, *th, *n;
	int rc;
	size_t i;

	if ((st = call(o, json_pack("{s:s}", "command", "status"), false,
	    &rc)) == NULL || (nv = call(o, json_pack("{s:s}", "command",
	    "nodes"), false, &rc)) == NULL) {
		json_decref(st);
		json_decref(c.problems);
		return check_unknown(o, "narad not answering");
	}
	th = json_object_get(st, "thresholds");
	c.warn_age = threshold(o->warn_age, th, "warn_age_seconds");
	c.crit_age = threshold(o->crit_age, th, "crit_age_seconds");
	c.warn_days = threshold(o->warn_days, th, "warn_days");
	c.crit_days = threshold(o->crit_days, th, "crit_days");
	c.disconnected_warn = threshold(o->disconnected_warn, th,
	    "disconnected_warn");
	json_array_foreach(json_object_get(nv, "nodes"), i, n)
		check_node(&c, n);
	check_disconnected(&c, json_array_size(json_object_get(nv, "nodes")));
	rc = check_report(o, &c, st);
	json_decref(c.problems);
	json_decref(st);
	json_decref(nv);
	return rc;
}


int
check_unknown(const struct opts *o, const char *why)
{
	const char *ep = o->socket != NULL ? endpoint_for(o, false) : NULL;

	if (o->json) {
		json_t *j = json_pack("{s:s, s:i, s:s, s:[]}", "status", "UNKNOWN",
		    "exit_code", EXIT_UNKNOWN, "message", why, "problems");
		if (ep != NULL)
			json_object_set_new(j, "endpoint", json_string(ep));
		print_json(j);
		json_decref(j);
	} else if (ep != NULL) {
		printf("NARA UNKNOWN - %s on %s\n", why, ep);
	} else {
		printf("NARA UNKNOWN - %s\n", why);
	}
	return EXIT_UNKNOWN;
}
