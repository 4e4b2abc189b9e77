/*
 * test_opscheck.c — the overall state of a running narad (opscheck.h) as
 * naractl check and the dashboard's banner compute it, for the [ha]
 * problems: a database without a synchronous standby, a lease older than
 * its term, and nothing of either without [ha]; dead letters waiting for
 * an operator.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "opscheck.h"

static const struct opscheck_thresholds TH = { 3600, 14400, 30, 7, 0 };

/* A status view with ha (taken; may be JSON null) and no nodes: the
 * result of opscheck_eval. */
static json_t *
eval_with_ha(json_t *ha)
{
	json_t *st = json_pack("{s:s, s:i, s:i, s:o}", "broker_id", "nara",
	    "nodes_connected", 0, "nodes_configured", 0, "ha", ha);
	json_t *nodes = json_pack("{s:[]}", "nodes");
	json_t *r;

	cr_assert_not_null(st);
	r = opscheck_eval(st, nodes, &TH);
	cr_assert_not_null(r);
	json_decref(st);
	json_decref(nodes);
	return r;
}

static json_t *
ha_view(json_int_t sync, json_int_t age_ms, json_int_t lease_ms)
{
	return json_pack("{s:s, s:s, s:i, s:I, s:I, s:I}", "role", "active",
	    "instance", "narad-a", "epoch", 3, "sync_standbys", sync,
	    "lease_age_ms", age_ms, "lease_ms", lease_ms);
}

static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

Test(opscheck, ha_with_a_synchronous_standby_and_a_fresh_lease_is_ok)
{
	json_t *r = eval_with_ha(ha_view(1, 900, 10000));

	cr_expect_str_eq(str(r, "status"), "OK");
	cr_expect_eq(json_array_size(json_object_get(r, "problems")), 0);
	json_decref(r);
}

Test(opscheck, no_synchronous_standby_warns)
{
	json_t *r = eval_with_ha(ha_view(0, 900, 10000));
	json_t *p = json_array_get(json_object_get(r, "problems"), 0);

	cr_expect_str_eq(str(r, "status"), "WARNING");
	cr_expect_str_eq(str(r, "message"), "narad-a synchronous standbys 0");
	cr_expect_str_eq(str(p, "node"), "narad-a");
	cr_expect_str_eq(str(p, "what"), "synchronous standbys");
	cr_expect_eq(json_integer_value(json_object_get(p, "threshold")), 1);
	json_decref(r);
}

Test(opscheck, lease_older_than_its_term_is_critical_and_first)
{
	json_t *r = eval_with_ha(ha_view(0, 12500, 10000));
	json_t *p = json_object_get(r, "problems");

	cr_expect_str_eq(str(r, "status"), "CRITICAL");
	cr_assert_eq(json_array_size(p), 2);
	cr_expect_str_eq(str(json_array_get(p, 0), "what"), "lease age ms");
	cr_expect_str_eq(str(json_array_get(p, 0), "level"), "CRITICAL");
	cr_expect_str_eq(str(json_array_get(p, 1), "level"), "WARNING");
	cr_expect(strstr(str(r, "message"), "narad-a lease age ms 12500")
	    != NULL, "%s", str(r, "message"));
	json_decref(r);
}

Test(opscheck, unknown_replication_and_no_ha_add_nothing)
{
	json_t *ha = ha_view(0, 900, 10000), *r;

	json_object_set_new(ha, "sync_standbys", json_null());
	r = eval_with_ha(ha);
	cr_expect_str_eq(str(r, "status"), "OK");
	json_decref(r);
	r = eval_with_ha(json_null());
	cr_expect_str_eq(str(r, "status"), "OK");
	cr_expect_str_eq(str(r, "message"), "0 of 0 nodes connected, no "
	    "backlog, dead letter, certificate or disconnection over thresholds");
	json_decref(r);
}

/* A dead letter waits for an operator: WARNING naming how many, and the
 * state is OK again once none is left. */
Test(opscheck, dead_letters_warn)
{
	json_t *nodes = json_pack("{s:[]}", "nodes");
	json_t *st = json_pack("{s:s, s:i, s:i, s:i}", "broker_id", "nara",
	    "nodes_connected", 0, "nodes_configured", 0, "dead_letters", 2);
	json_t *r, *p;

	cr_assert(nodes != NULL && st != NULL);
	r = opscheck_eval(st, nodes, &TH);
	p = json_array_get(json_object_get(r, "problems"), 0);
	cr_expect_str_eq(str(r, "status"), "WARNING");
	cr_expect_str_eq(str(p, "what"), "dead letters");
	cr_expect_eq(json_integer_value(json_object_get(p, "value")), 2);
	cr_expect(strstr(str(r, "message"), "nara dead letters 2") != NULL,
	    "%s", str(r, "message"));
	json_decref(r);
	json_object_set_new(st, "dead_letters", json_integer(0));
	r = opscheck_eval(st, nodes, &TH);
	cr_expect_str_eq(str(r, "status"), "OK");
	json_decref(r);
	json_decref(st);
	json_decref(nodes);
}
