/*
 * status_store.c — the store's replication as operators see it: whether
 * a commit narad answered Accepted for survives the loss of the database
 * host. PostgreSQL: the synchronous standbys the backend last counted
 * (store_replication, read at start and every 10 s); without one a commit
 * may be lost with the primary, and naractl status, /api/status and
 * /metrics say so. SQLite: one local file, replication not applicable.
 * /metrics also counts the PostgreSQL store's batches and the round trips
 * they waited for (store_costs).
 */
#include "status.h"

#include <string.h>

#include <event2/buffer.h>

#include "broker.h"
#include "config.h"
#include "store.h"

/* The standbys as last seen: -1 unknown or not applicable. */
static int
sync_standbys(const struct broker *b)
{
	int n = -1;

	if (b == NULL || store_replication(broker_store(b), &n) != 0)
		return -1;
	return n;
}

static bool
is_pg(const struct broker *b)
{
	return b != NULL && strcmp(config_store_backend(broker_config(b)),
	    "postgresql") == 0;
}

json_t *
status_store_json(const struct broker *b)
{
	int n = sync_standbys(b);
	const char *warning = NULL;

	if (!is_pg(b))
		return json_pack("{s:s, s:n, s:n}", "backend", "sqlite",
		    "sync_standbys", "warning");
	if (n == 0)
		warning = "no synchronous standby: a commit may be lost with "
		    "the primary";
	else if (n < 0)
		warning = "replication not known yet (the database has not "
		    "answered)";
	return json_pack("{s:s, s:o, s:s?}", "backend", "postgresql",
	    "sync_standbys", n >= 0 ? json_integer(n) : json_null(),
	    "warning", warning);
}

void
status_store_metrics(struct evbuffer *o, const struct broker *b)
{
	struct store_costs c;
	struct broker_stats s;
	int n = sync_standbys(b);

	broker_stats(b, &s);
	evbuffer_add_printf(o, "# HELP nara_store_commits_unwaited_total "
	    "Batches whose COMMIT narad did not wait for (PostgreSQL: sent to "
	    "the server; SQLite: run on the commit thread): its loop went on "
	    "relaying the TLS front and sent the batch's replies once the "
	    "commit had returned.\n"
	    "# TYPE nara_store_commits_unwaited_total counter\n"
	    "nara_store_commits_unwaited_total %llu\n",
	    (unsigned long long)s.commits_unwaited);
	if (!is_pg(b))
		return;
	store_costs(broker_store(b), &c);
	evbuffer_add_printf(o, "# HELP nara_store_batches_total Batches the "
	    "PostgreSQL store committed since narad started.\n"
	    "# TYPE nara_store_batches_total counter\n"
	    "nara_store_batches_total %llu\n", (unsigned long long)c.batches);
	evbuffer_add_printf(o, "# HELP nara_store_round_trips_total Answers "
	    "of the PostgreSQL server narad waited for since it started (one "
	    "per batch whose begin came with the last commit, two for one "
	    "that began alone, one more when a batch must read).\n"
	    "# TYPE nara_store_round_trips_total counter\n"
	    "nara_store_round_trips_total %llu\n",
	    (unsigned long long)c.round_trips);
	evbuffer_add_printf(o, "# HELP nara_store_batches_begun_ahead_total "
	    "Batches whose begin was sent with the commit before them and came "
	    "back with it.\n"
	    "# TYPE nara_store_batches_begun_ahead_total counter\n"
	    "nara_store_batches_begun_ahead_total %llu\n"
	    "# HELP nara_store_begins_settled_total Begins sent with a commit "
	    "that no batch took within %d ms, committed empty (counted in "
	    "nara_store_batches_total too).\n"
	    "# TYPE nara_store_begins_settled_total counter\n"
	    "nara_store_begins_settled_total %llu\n",
	    (unsigned long long)c.begun_ahead, BROKER_SETTLE_MS,
	    (unsigned long long)c.settled);
	if (n < 0)
		return;
	evbuffer_add_printf(o, "# HELP nara_store_sync_standbys Synchronous "
	    "standbys confirming every commit of the PostgreSQL store, as last "
	    "read (every 10 s).\n# TYPE nara_store_sync_standbys gauge\n"
	    "nara_store_sync_standbys %d\n", n);
	evbuffer_add_printf(o, "# HELP nara_store_replication_ok 1 when at "
	    "least one synchronous standby confirms every commit; 0: a commit "
	    "may be lost with the primary.\n"
	    "# TYPE nara_store_replication_ok gauge\n"
	    "nara_store_replication_ok %d\n", n > 0 ? 1 : 0);
}
