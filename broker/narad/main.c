/*
 * main.c — narad, the nara broker daemon.
 *
 * Runs in the foreground (systemd style): parse options, load and check the
 * config, open the store and the ROUTER, then serve until SIGTERM/SIGINT.
 * SIGHUP reloads the config (parse, validate, swap; a bad file keeps the
 * running config) and re-reads the audit signing key. Under systemd it reports READY/RELOADING/STOPPING and
 * feeds the watchdog.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "audit_sign.h"
#include "broker.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "front.h"
#include "http.h"
#include "log.h"
#include "store.h"
#include "version.h"

struct narad {
	const char *config_path;
	bool debug;
	struct event_base *base;
	struct broker *broker;
	struct front *front;        /* TLS front, NULL without [tls] listen */
	struct control *control, *control_ro; /* naractl sockets */
	struct http *http;          /* metrics and dashboard, NULL when off */
	struct store *store;
	struct audit_key *signing_key; /* [broker] signing_key, NULL = none */
	struct daemon_signals *signals; /* TERM/INT/HUP, watchdog */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: narad -c FILE [-n] [-d]\n"
	    "\n"
	    "The nara message broker. Runs in the foreground and logs to stderr.\n"
	    "\n"
	    "  -c FILE   configuration file (nara.conf(5))\n"
	    "  -n        check the configuration and exit: 0 valid, 1 invalid\n"
	    "  -d        debug logging\n"
	    "  -V        print the version and exit\n"
	    "  -h        this help\n"
	    "\n"
	    "Signals: TERM/INT stop after the current batch, HUP reloads the\n"
	    "configuration.\n");
}

static struct config *
load_config(const char *path)
{
	struct config_diag diag = { 0 };
	struct config *cfg = config_load(path, &diag);

	for (size_t i = 0; i < diag.n; i++)
		log_error("%s", diag.msgs[i]);
	config_diag_free(&diag);
	return cfg;
}

static void reload_signer(struct narad *d);

/* SIGHUP or naractl reload: parse, validate, swap (daemon_reload wraps it). */
static void
reload(void *arg)
{
	struct narad *d = arg;
	const struct config *cur = broker_config(d->broker);
	struct config *cfg;
	char detail[256];

	log_info("reloading %s", d->config_path);
	if ((cfg = load_config(d->config_path)) == NULL) {
		log_error("reload refused: %s has errors; keeping the running "
		    "configuration", d->config_path);
		broker_audit_event(d->broker, "config_refused", d->config_path);
		return;
	}
	if (strcmp(cfg->broker.store, cur->broker.store) != 0 ||
	    strcmp(cfg->broker.router, cur->broker.router) != 0)
		log_warn("reload: store and router changes take effect at the "
		    "next restart");
	snprintf(detail, sizeof(detail), "%s: %zu nodes, %zu rules",
	    d->config_path, cfg->n_nodes, cfg->n_rules);
	if (!d->debug)
		log_set_level((enum log_level)cfg->broker.log_level);
	broker_reload(d->broker, cfg);
	/* TLS front: new config pointer, certificates and CRLs re-read. */
	if (d->front != NULL)
		front_reload(d->front, broker_config(d->broker));
	broker_audit_event(d->broker, "config_reloaded", detail);
	log_info("configuration reloaded: %s", detail);
	reload_signer(d);
}

static struct store *
open_store(const struct config *cfg)
{
	struct store_options opt = { 0 };
	struct nara_err err = { 0 };
	struct store *st = NULL;
	uint8_t *key = NULL;
	size_t key_len = 0;

	if (store_read_key_file(cfg->broker.pseudonym_key, &key, &key_len,
	    &err) != 0) {
		log_error("%s", err.text);
		return NULL;
	}
	opt.sync_full = cfg->broker.synchronous == CONFIG_SYNC_FULL;
	opt.max_bytes = cfg->broker.store_max_bytes;
	opt.pseudonym_key = key;
	opt.pseudonym_key_len = key_len;
	st = store_open(cfg->broker.store, &opt, &err);
	if (st == NULL)
		log_error("cannot open store %s: %s %s", cfg->broker.store,
		    nara_code_id(err.code), err.text);
	free(key);
	return st;
}

/* The audit signing key, when configured: the store signs the chain head
 * with it every checkpoint_interval and prunes behind a signed cut. */
static int
open_signer(struct narad *d, const struct config *cfg)
{
	struct nara_err err = { 0 };

	if (cfg->broker.signing_key[0] == '\0') {
		log_warn("no signing_key: audit chain heads are not signed");
		return 0;
	}
	d->signing_key = audit_key_load_private(cfg->broker.signing_key, &err);
	if (d->signing_key == NULL) {
		log_error("%s %s", nara_code_id(err.code), err.text);
		return -1;
	}
	store_set_signer(d->store, d->signing_key,
	    (int64_t)cfg->broker.checkpoint_interval,
	    (int64_t)cfg->broker.audit_retention_days * 86400);
	return 0;
}

/* Reload: re-read [broker] signing_key. A new key (another fingerprint)
 * signs from the next checkpoint on; the old one first signs the head,
 * which by then holds the signing_key_changed row naming both keys, so
 * every row up to the switch is covered by the old key. A key that fails
 * to load leaves the running one in place. */
static void
reload_signer(struct narad *d)
{
	const struct config_broker *cb = &broker_config(d->broker)->broker;
	struct nara_err err = { 0 };
	struct audit_key *k;
	char detail[400];

	if (cb->signing_key[0] == '\0') {
		if (d->signing_key != NULL)
			log_warn("reload: signing_key removed; checkpoints stay "
			    "signed with the running key until the next restart");
		return;
	}
	if ((k = audit_key_load_private(cb->signing_key, &err)) == NULL) {
		log_error("%s reload: %s; keeping the running signing key",
		    nara_code_id(err.code), err.text);
		broker_audit_event(d->broker, "signing_key_refused", err.text);
		return;
	}
	if (d->signing_key != NULL && strcmp(audit_key_fingerprint(k),
	    audit_key_fingerprint(d->signing_key)) == 0) {
		audit_key_free(&k);
		return;
	}
	snprintf(detail, sizeof(detail), "%s -> %s (%s)", d->signing_key != NULL
	    ? audit_key_fingerprint(d->signing_key) : "none",
	    audit_key_fingerprint(k), cb->signing_key);
	broker_audit_event(d->broker, "signing_key_changed", detail);
	if (d->signing_key != NULL && store_checkpoint(d->store, d->signing_key,
	    (int64_t)time(NULL), &err) != 0)
		log_error("%s signing the audit head with the old key before the "
		    "switch: %s", nara_code_id(err.code), err.text);
	store_set_signer(d->store, k, (int64_t)cb->checkpoint_interval,
	    (int64_t)cb->audit_retention_days * 86400);
	audit_key_free(&d->signing_key);
	d->signing_key = k;
	log_info("audit signing key changed: %s", detail);
}

/* ---- TLS front wiring ---- */

/* A connection the front refused: an audit row with its code and node. */
static void
on_front_refused(void *arg, const struct front_refusal *r)
{
	struct narad *d = arg;

	broker_audit_coded(d->broker, r->event, r->node, r->code, r->detail);
}

/* Start the TLS front when [tls] listen is set; it relays to the ROUTER's
 * ipc socket. */
static int
start_front(struct narad *d)
{
	const struct config *cfg = broker_config(d->broker);
	struct front_hooks hooks = { .refused = on_front_refused, .arg = d };

	if (cfg->tls.listen[0] == '\0')
		return 0;
	if (strncmp(cfg->broker.router, "ipc://", 6) != 0) {
		log_error("[tls] needs an ipc:// router endpoint, not %s",
		    cfg->broker.router);
		return -1;
	}
	d->front = front_new(d->base, cfg, cfg->broker.router + 6, &hooks);
	return d->front != NULL ? 0 : -1;
}

/* ---- end of TLS front wiring ---- */

/* ---- operator interfaces: control sockets, metrics and dashboard ---- */

/* naractl reload: the SIGHUP path; the broker's config pointer changes
 * only when the new file was valid and swapped in. */
static int
ops_reload(void *arg)
{
	struct narad *d = arg;
	const struct config *before = broker_config(d->broker);

	daemon_reload(d->signals);
	return broker_config(d->broker) != before ? 0 : -1;
}

static int
start_ops(struct narad *d)
{
	const struct config_broker *cb = &broker_config(d->broker)->broker;
	struct ops_view view = { d->broker, d->front };
	struct control_hooks hooks = { ops_reload, d };

	if ((d->control = control_new(d->base, &view, cb->control, false,
	    &hooks)) == NULL)
		return -1;
	if (cb->control_readonly[0] != '\0' && (d->control_ro = control_new(
	    d->base, &view, cb->control_readonly, true, NULL)) == NULL)
		return -1;
	if (cb->http_listen[0] != '\0' &&
	    (d->http = http_new(d->base, &view, cb->http_listen)) == NULL)
		return -1;
	return 0;
}

/* ---- end of operator interfaces ---- */

static void
teardown(struct narad *d)
{
	if (d->broker != NULL)
		broker_audit_event(d->broker, "broker_stopped", NULL);
	http_free(&d->http);
	control_free(&d->control_ro);
	control_free(&d->control);
	front_free(&d->front);
	broker_free(&d->broker);
	store_free(&d->store);
	audit_key_free(&d->signing_key);
	daemon_signals_free(&d->signals);
	if (d->base) event_base_free(d->base);
}

int
main(int argc, char **argv)
{
	struct narad d = { 0 };
	struct config *cfg;
	bool check_only = false;
	int ch;

	log_init("narad", LOG_LVL_INFO, getenv("JOURNAL_STREAM") != NULL);
	while ((ch = getopt(argc, argv, "c:ndhV")) != -1) {
		switch (ch) {
		case 'c': d.config_path = optarg; break;
		case 'n': check_only = true; break;
		case 'd': d.debug = true; break;
		case 'V': printf("narad %s\n", NARA_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (d.config_path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((cfg = load_config(d.config_path)) == NULL) {
		log_error("%s: configuration invalid", d.config_path);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration ok (%zu nodes, %zu rules)\n",
		    d.config_path, cfg->n_nodes, cfg->n_rules);
		config_free(&cfg);
		return 0;
	}
	log_set_level(d.debug ? LOG_LVL_DEBUG : (enum log_level)cfg->broker.log_level);
	if ((d.store = open_store(cfg)) == NULL || open_signer(&d, cfg) != 0 ||
	    (d.base = event_base_new()) == NULL || (d.signals = daemon_signals_new(d.base,
	    "stopping after the current batch", reload, &d)) == NULL) {
		config_free(&cfg);
		teardown(&d);
		log_error("startup failed");
		return 1;
	}
	/* broker_new owns cfg from here on, also when it fails. */
	if ((d.broker = broker_new(d.base, cfg, d.store)) == NULL) {
		teardown(&d);
		log_error("startup failed");
		return 1;
	}
	if (start_front(&d) != 0 || start_ops(&d) != 0) {
		teardown(&d);
		log_error("startup failed");
		return 1;
	}
	broker_audit_event(d.broker, "broker_started", NARA_VERSION);
	log_info("narad %s ready: %zu nodes, router %s", NARA_VERSION,
	    broker_config(d.broker)->n_nodes, broker_config(d.broker)->broker.router);
	sd_notify(0, "READY=1");
	event_base_dispatch(d.base);
	teardown(&d);
	log_info("stopped");
	return 0;
}
