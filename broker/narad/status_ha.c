/*
 * status_ha.c — the views of an active/standby narad ([ha]): its role and
 * the lease as naractl status, /metrics and /alive show them, and what a
 * standby answers while it has no broker to ask.
 */
#include "status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "broker.h"
#include "ha.h"
#include "store.h"
#include "version.h"

json_t *
status_ha_json(const struct ha *h)
{
	struct ha_view v;

	ha_view(h, &v);
	if (!v.enabled)
		return json_null();
	return json_pack("{s:s, s:s, s:I, s:s, s:o, s:I, s:o, s:I, s:s?}",
	    "role", v.active ? "active" : "standby",
	    "instance", v.instance,
	    "epoch", (json_int_t)v.epoch,
	    "holder", v.holder,
	    "lease_age_ms", v.lease_age_ms >= 0 ?
	    json_integer(v.lease_age_ms) : json_null(),
	    "lease_ms", (json_int_t)v.ttl_ms,
	    "since", status_time_json(v.since),
	    "failovers", (json_int_t)v.failovers,
	    "last_error", v.last_error[0] != '\0' ? v.last_error : NULL);
}

json_t *
status_ha_active_json(const struct ops_view *v)
{
	json_t *ha = status_ha_json(v->ha);
	int n = -1;

	if (json_is_object(ha) && v->broker != NULL &&
	    store_replication(broker_store(v->broker), &n) == 0)
		json_object_set_new(ha, "sync_standbys", n >= 0 ?
		    json_integer(n) : json_null());
	return ha;
}

json_t *
status_standby_json(const struct ops_view *v)
{
	return json_pack("{s:s, s:s, s:o, s:o}", "version", NARA_VERSION,
	    "role", "standby", "now", status_time_json((int64_t)time(NULL)),
	    "ha", status_ha_json(v->ha));
}

void
status_ha_metrics(struct evbuffer *o, const struct ha *h)
{
	struct ha_view v;

	ha_view(h, &v);
	if (!v.enabled)
		return;
	evbuffer_add_printf(o, "# HELP nara_active 1 when this narad holds the "
	    "store's lease and serves, 0 while standby.\n"
	    "# TYPE nara_active gauge\nnara_active{instance=\"%s\"} %d\n",
	    v.instance, v.active ? 1 : 0);
	evbuffer_add_printf(o, "# HELP nara_failovers_total Takeovers of the "
	    "lease from another instance by this process.\n"
	    "# TYPE nara_failovers_total counter\nnara_failovers_total %llu\n",
	    (unsigned long long)v.failovers);
	evbuffer_add_printf(o, "# HELP nara_lease_epoch Fencing epoch of the "
	    "lease as last seen.\n# TYPE nara_lease_epoch gauge\n"
	    "nara_lease_epoch %lld\n", (long long)v.epoch);
	if (v.lease_age_ms >= 0)
		evbuffer_add_printf(o, "# HELP nara_lease_age_seconds Time since "
		    "the lease holder last renewed it.\n"
		    "# TYPE nara_lease_age_seconds gauge\n"
		    "nara_lease_age_seconds %.3f\n",
		    (double)v.lease_age_ms / 1000.0);
}
