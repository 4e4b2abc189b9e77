/*
 * check.c — naractl check: one Nagios-style line from narad's status and
 * nodes, against the thresholds of narad's configuration (or the flags):
 * backlog age, certificate days left and nodes that are not connected.
 * The evaluation is opscheck's, the same as the dashboard's banner.
 * Whatever happens, exactly one line is printed (UNKNOWN, exit 3, when
 * narad cannot be asked), so a monitoring system never shows "no output".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "naractl.h"
#include "opscheck.h"


static long long
threshold(long long given, long long configured)
{
	return given >= 0 ? given : configured;
}

/* The line (or --json object) of an evaluation; its level is the exit. */
static int
check_report(const struct opts *o, json_t *result, json_t *st)
{
	int level = (int)json_integer_value(json_object_get(result,
	    "exit_code"));

	if (o->json) {
		print_json(result);
		return level;
	}
	printf("NARA %s - %s | nodes=%lld connected=%lld queued=%lld dead=%lld\n",
	    opscheck_level_name(level),
	    json_string_value(json_object_get(result, "message")),
	    (long long)json_integer_value(json_object_get(st, "nodes_configured")),
	    (long long)json_integer_value(json_object_get(st, "nodes_connected")),
	    (long long)json_integer_value(json_object_get(st, "queued")),
	    (long long)json_integer_value(json_object_get(st, "dead_letters")));
	return level;
}

/* narad's status and nodes, evaluated by the same opscheck as the
 * dashboard's banner; flags replace the configured thresholds. */
int
check_run(const struct opts *o)
{
	struct opscheck_thresholds th;
	json_t *st, *nv = NULL, *result;
	int rc;

	if ((st = call(o, json_pack("{s:s}", "command", "status"), false,
	    &rc)) == NULL || (nv = call(o, json_pack("{s:s}", "command",
	    "nodes"), false, &rc)) == NULL) {
		json_decref(st);
		return check_unknown(o, "narad not answering");
	}
	opscheck_thresholds_of(st, &th);
	th.warn_age = threshold(o->warn_age, th.warn_age);
	th.crit_age = threshold(o->crit_age, th.crit_age);
	th.warn_days = threshold(o->warn_days, th.warn_days);
	th.crit_days = threshold(o->crit_days, th.crit_days);
	th.disconnected_warn = threshold(o->disconnected_warn,
	    th.disconnected_warn);
	if ((result = opscheck_eval(st, nv, &th)) == NULL)
		rc = check_unknown(o, "out of memory");
	else
		rc = check_report(o, result, st);
	json_decref(result);
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
