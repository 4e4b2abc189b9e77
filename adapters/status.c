/*
 * status.c — `nara-adapter status -c FILE [--json]`: what is true now, read
 * without disturbing the running adapter: whether the adapter runs (it
 * holds a lock on STATE.lock while it does, which the kernel drops however
 * it ends, kill -9 included), the link as the running adapter last saw it
 * (down when no adapter runs, whatever the state file says), a fault of
 * the local system (webhook answers), what waits for the local system, and
 * the counts from the state file. Also the running adapter's own GET
 * /metrics on its HTTP API (status_serve_metrics), from the same state.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "adapter.h"
#include "http_int.h"
#include "version.h"
#include "log.h"
#include "validate.h"

/* What status finds beside the state file. */
struct live {
	long pid;                  /* the running adapter, 0 = none */
	char link[64];             /* the link now */
	long waiting_messages;     /* not yet taken by the local system */
	long waiting_receipts;
};

/* The pid of the adapter holding STATE.lock, 0 when none does. */
static long
running_pid(const struct adapter_config *cfg)
{
	char path[1100], buf[32] = "";
	long pid = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s.lock", cfg->state);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
		if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0)
			buf[n] = '\0';
		pid = strtol(buf, NULL, 10);
		if (pid <= 0)
			pid = -1;   /* running, pid unknown */
	}
	close(fd);
	return pid;
}

/* Files the local system has not taken from spool/sub yet. */
static long
count_files(const struct adapter_config *cfg, const char *sub)
{
	char path[1100];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", cfg->spool_dir, sub);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
live_read(const struct adapter_config *cfg, const struct outbox_status *s,
    struct live *l)
{
	memset(l, 0, sizeof(*l));
	l->pid = running_pid(cfg);
	if (l->pid != 0)
		snprintf(l->link, sizeof(l->link), "%s", s->link);
	else
		snprintf(l->link, sizeof(l->link), "down (adapter not running)");
	if (cfg->backend == BACKEND_SPOOL) {
		l->waiting_messages = count_files(cfg, "inbox");
		l->waiting_receipts = count_files(cfg, "receipts");
	} else {
		l->waiting_messages = s->intents;
	}
}

static void
print_text(const struct adapter_config *cfg, const struct outbox_status *s,
    const struct live *l)
{
	char oldest[32] = "none";

	if (s->oldest_unsent > 0)
		time_format(s->oldest_unsent, oldest, sizeof(oldest));
	printf("node:           %s\n", cfg->node_id);
	if (l->pid != 0)
		printf("adapter:        running (pid %ld)\n", l->pid);
	else
		printf("adapter:        not running\n");
	printf("link:           %s%s%s\n", l->link, l->pid && s->link_since[0] ?
	    " since " : "", l->pid ? s->link_since : "");
	printf("broker:         %s\n", s->broker_id[0] ? s->broker_id : "-");
	if (s->local_error[0])
		printf("local system:   error since %s: %s\n",
		    s->local_error_since, s->local_error);
	else
		printf("local system:   ok\n");
	if (cfg->backend == BACKEND_SPOOL)
		printf("waiting:        %ld messages in inbox/, %ld receipts in "
		    "receipts/ not taken by the local system\n",
		    l->waiting_messages, l->waiting_receipts);
	else
		printf("waiting:        %ld hand-offs the webhook has not taken\n",
		    l->waiting_messages);
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
print_json(const struct adapter_config *cfg, const struct outbox_status *s,
    const struct live *l)
{
	char oldest[32] = "";
	json_t *o, *counts;
	char *js;

	if (s->oldest_unsent > 0)
		time_format(s->oldest_unsent, oldest, sizeof(oldest));
	o = json_pack("{s:s, s:b, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, "
	    "s:I, s:s}", "node", cfg->node_id, "running", l->pid != 0, "pid",
	    (json_int_t)(l->pid > 0 ? l->pid : 0), "link", l->pid ? s->link :
	    "down", "link_since", l->pid ? s->link_since : "", "broker",
	    s->broker_id, "local_system", s->local_error[0] ? "error" : "ok",
	    "local_error", s->local_error, "local_error_since",
	    s->local_error_since, "waiting_messages",
	    (json_int_t)l->waiting_messages, "waiting_receipts",
	    (json_int_t)l->waiting_receipts, "outbox_depth",
	    (json_int_t)s->queued, "oldest_unsent", oldest);
	counts = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
	    "accepted", (json_int_t)s->accepted,
	    "rejected", (json_int_t)s->rejected,
	    "delivered", (json_int_t)s->delivered,
	    "failed", (json_int_t)s->failed,
	    "handed_messages", (json_int_t)s->handed,
	    "handed_receipts", (json_int_t)s->receipts,
	    "last_receipt", s->last_receipt,
	    "last_receipt_id", s->last_receipt_id);
	if (o != NULL && (counts == NULL || json_object_update(o, counts) != 0)) {
		json_decref(o);
		o = NULL;
	}
	json_decref(counts);
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
	struct live live;
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
	live_read(cfg, &st, &live);
	rc = json ? print_json(cfg, &st, &live) :
	    (print_text(cfg, &st, &live), 0);
	outbox_free(&ob);
	adapter_config_free(&cfg);
	return rc == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- metrics */

static void
metric(struct evbuffer *o, const char *name, const char *type,
    const char *help, long long v)
{
	evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name,
	    help, name, type, name, v);
}

/* The Prometheus text of the running adapter: its state file as the
 * status command reads it, and the webhook's failed attempts. */
static void
metrics_text(struct http *h, const struct outbox_status *s,
    struct evbuffer *o)
{
	int64_t now = (int64_t)time(NULL);

	evbuffer_add_printf(o, "# HELP nara_adapter_info Node and version of "
	    "this nara-adapter.\n# TYPE nara_adapter_info gauge\n"
	    "nara_adapter_info{node=\"%s\",version=\"%s\"} 1\n",
	    adapter_cfg(h->a)->node_id, NARA_VERSION);
	metric(o, "process_start_time_seconds", "gauge", "Start time of the "
	    "adapter since the Unix epoch in seconds.", h->started);
	metric(o, "nara_adapter_link_up", "gauge", "1 while the link to narad "
	    "is up (hello answered), else 0.", strcmp(s->link, "up") == 0);
	metric(o, "nara_adapter_outbox_depth", "gauge", "Messages of the local "
	    "system not yet accepted by narad.", s->queued);
	metric(o, "nara_adapter_oldest_unsent_age_seconds", "gauge", "Age of "
	    "the oldest message not yet accepted by narad (0 when none).",
	    s->oldest_unsent > 0 && now > s->oldest_unsent ?
	    now - s->oldest_unsent : 0);
	metric(o, "nara_adapter_inbox_waiting", "gauge", "Messages and "
	    "receipts handed to the webhook and not yet taken by the local "
	    "system.", s->intents);
	metric(o, "nara_adapter_local_system_error", "gauge", "1 while the "
	    "local system's last webhook answer was a failure.",
	    s->local_error[0] != '\0');
	evbuffer_add_printf(o, "# HELP nara_adapter_webhook_failures_total "
	    "Webhook attempts that failed and are retried, by reason.\n"
	    "# TYPE nara_adapter_webhook_failures_total counter\n"
	    "nara_adapter_webhook_failures_total{reason=\"busy\"} %llu\n"
	    "nara_adapter_webhook_failures_total{reason=\"fault\"} %llu\n",
	    (unsigned long long)h->hook_busy, (unsigned long long)h->hook_fault);
	metric(o, "nara_adapter_messages_accepted_total", "counter", "Messages "
	    "narad accepted (from the state file: since it was made).",
	    s->accepted);
	metric(o, "nara_adapter_messages_rejected_total", "counter", "Messages "
	    "narad refused.", s->rejected);
	metric(o, "nara_adapter_handed_off_total", "counter", "Messages handed "
	    "to the local system.", s->handed);
}

void
status_serve_metrics(struct http *h, struct evhttp_request *req)
{
	struct evbuffer *o = evbuffer_new();
	struct outbox_status st;
	int code = 200;

	if (o == NULL)
		return;
	if (outbox_status(adapter_outbox(h->a), &st) != 0) {
		evbuffer_add_printf(o, "state not readable\n");
		code = 503;
	} else {
		metrics_text(h, &st, o);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", code == 200 ? "text/plain; version=0.0.4" :
	    "text/plain");
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Service Unavailable",
	    o);
	evbuffer_free(o);
}
