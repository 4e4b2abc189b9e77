/*
 * status.c — `nara-adapter status -c FILE [--json]`: what the adapter's
 * state file says, read-only, so it is safe beside the running adapter.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "adapter.h"
#include "log.h"
#include "validate.h"

static void
print_text(const struct adapter_config *cfg, const struct outbox_status *s)
{
	char oldest[32] = "none";

	if (s->oldest_unsent > 0)
		time_format(s->oldest_unsent, oldest, sizeof(oldest));
	printf("node:           %s\n", cfg->node_id);
	printf("link:           %s%s%s\n", s->link,
	    s->link_since[0] ? " since " : "", s->link_since);
	printf("broker:         %s\n", s->broker_id[0] ? s->broker_id : "-");
	printf("outbox depth:   %ld\n", s->queued);
	printf("oldest unsent:  %s\n", oldest);
	printf("accepted:       %ld\n", s->accepted);
	printf("rejected:       %ld\n", s->rejected);
	printf("delivered:      %ld\n", s->delivered);
	printf("failed:         %ld\n", s->failed);
	printf("handed off:     %ld messages, %ld receipts\n", s->handed,
	    s->receipts);
	printf("last receipt:   %s%s%s\n", s->last_receipt[0] ?
	    s->last_receipt : "none", s->last_receipt_id[0] ? " for " : "",
	    s->last_receipt_id);
}

static int
print_json(const struct adapter_config *cfg, const struct outbox_status *s)
{
	char oldest[32] = "";
	json_t *o;
	char *js;

	if (s->oldest_unsent > 0)
		time_format(s->oldest_unsent, oldest, sizeof(oldest));
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:s, s:s}", "node", cfg->node_id, "link", s->link,
	    "link_since", s->link_since, "broker", s->broker_id,
	    "outbox_depth", (json_int_t)s->queued, "oldest_unsent", oldest,
	    "accepted", (json_int_t)s->accepted,
	    "rejected", (json_int_t)s->rejected,
	    "delivered", (json_int_t)s->delivered,
	    "failed", (json_int_t)s->failed,
	    "handed_messages", (json_int_t)s->handed,
	    "handed_receipts", (json_int_t)s->receipts,
	    "last_receipt", s->last_receipt,
	    "last_receipt_id", s->last_receipt_id);
	if (o == NULL || (js = json_dumps(o, JSON_INDENT(2))) == NULL) {
		json_decref(o);
		return -1;
	}
	printf("%s\n", js);
	free(js);
	json_decref(o);
	return 0;
}

int
status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config_diag diag = { 0 };
	struct adapter_config *cfg;
	struct nara_err err = { 0 };
	struct outbox_status st;
	struct outbox *ob;
	const char *path = NULL;
	bool json = false;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: nara-adapter status -c FILE [--json]\n");
			return 0;
		default:
			fprintf(stderr, "usage: nara-adapter status -c FILE [--json]\n");
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		fprintf(stderr, "usage: nara-adapter status -c FILE [--json]\n");
		return 2;
	}
	cfg = adapter_config_load(path, &diag);
	for (size_t i = 0; i < diag.n; i++)
		log_error("%s", diag.msgs[i]);
	config_diag_free(&diag);
	if (cfg == NULL)
		return 1;
	if ((ob = outbox_open(cfg->state, true, &err)) == NULL ||
	    outbox_status(ob, &st) != 0) {
		log_error("%s %s: cannot read the adapter state (has the adapter "
		    "run yet?)", nara_code_id(NR_IO), cfg->state);
		outbox_free(&ob);
		adapter_config_free(&cfg);
		return 1;
	}
	rc = json ? print_json(cfg, &st) : (print_text(cfg, &st), 0);
	outbox_free(&ob);
	adapter_config_free(&cfg);
	return rc == 0 ? 0 : 1;
}
