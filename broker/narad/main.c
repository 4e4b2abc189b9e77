/*
 * main.c — narad, the nara broker daemon.
 *
 * Runs in the foreground (systemd style): parse options, load and check the
 * config, open the store and the ROUTER, then serve until SIGTERM/SIGINT.
 * SIGHUP reloads the config (parse, validate, swap; a bad file keeps the
 * running config) and re-reads the audit signing key. Under systemd it reports READY/RELOADING/STOPPING and
 * feeds the watchdog.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <systemd/sd-daemon.h>

#include "audit_sign.h"
#include "broker.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "front.h"
#include "ha.h"
#include "http.h"
#include "log.h"
#include "store.h"
#include "tls.h"
#include "version.h"
#include "zap.h"

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
	struct ha *ha;              /* [ha]: the lease timer, NULL without */
	struct config *standby_cfg; /* [ha]: the config while standby; the
	                             * broker owns it once active */
	char **argv;                /* for the restart as a standby */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: narad -c FILE [-n] [-d]\n"
	    "\n"
	    "The nara message broker. Runs in the foreground and logs to stderr.\n"
	    "\n"
	    "options:\n"
	    "  -c, --config FILE   configuration file (nara.conf(5))\n"
	    "  -n, --check         check the configuration, keys, TLS files and\n"
	    "                      store as start-up does, and exit\n"
	    "  -d, --debug         debug logging\n"
	    "  -V, --version       print the version\n"
	    "  -h, --help          this text\n"
	    "\n"
	    "Signals: TERM/INT stop after the current batch, HUP reloads the\n"
	    "configuration.\n"
	    "\n"
	    "exit status: 0 stopped cleanly or configuration valid, 1 failed at\n"
	    "start or configuration invalid, 2 usage error.\n");
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

/* Reload while standby: the new file replaces the one the broker will
 * start with; [ha] itself changes at the next restart. */
static int
reload_standby(struct narad *d)
{
	struct config *cfg;

	log_info("reloading %s (standby)", d->config_path);
	if ((cfg = load_config(d->config_path)) == NULL) {
		log_error("reload refused: %s has errors; keeping the running "
		    "configuration", d->config_path);
		return -1;
	}
	config_free(&d->standby_cfg);
	d->standby_cfg = cfg;
	if (d->http != NULL)
		http_reload(d->http, cfg);
	if (!d->debug)
		log_set_level((enum log_level)cfg->broker.log_level);
	log_info("configuration reloaded (standby): %zu nodes, %zu rules",
	    cfg->n_nodes, cfg->n_rules);
	return 0;
}

/*
 * SIGHUP or naractl reload (daemon_reload wraps it): load and validate the
 * new config; refused, it is freed here and the running one stays. Taken,
 * the broker swaps it in and hands back the old one, the front is told,
 * and only then is the old config freed, so nothing ever points into a
 * freed config. 0 when taken, -1 when refused.
 */
static int
reload(void *arg)
{
	struct narad *d = arg;
	const struct config *cur;
	struct config *cfg, *old = NULL;
	char detail[256];

	if (d->broker == NULL)
		return reload_standby(d);
	cur = broker_config(d->broker);
	log_info("reloading %s", d->config_path);
	if ((cfg = load_config(d->config_path)) == NULL) {
		log_error("reload refused: %s has errors; keeping the running "
		    "configuration", d->config_path);
		broker_audit_event(d->broker, "config_refused", d->config_path);
		return -1;
	}
	if (strcmp(cfg->broker.store, cur->broker.store) != 0 ||
	    strcmp(cfg->broker.router, cur->broker.router) != 0)
		log_warn("reload: store and router changes take effect at the "
		    "next restart");
	snprintf(detail, sizeof(detail), "%s: %zu nodes, %zu rules",
	    d->config_path, cfg->n_nodes, cfg->n_rules);
	if (broker_reload(d->broker, cfg, &old) != 0) {
		config_free(&cfg);
		broker_audit_event(d->broker, "config_refused", "out of memory");
		return -1;
	}
	if (!d->debug)
		log_set_level((enum log_level)cfg->broker.log_level);
	/* TLS front: new config pointer, certificates and CRLs re-read. */
	if (d->front != NULL)
		front_reload(d->front, cfg);
	/* the console's certificates and CRLs, the connection limits */
	if (d->http != NULL)
		http_reload(d->http, cfg);
	config_free(&old);
	broker_audit_event(d->broker, "config_reloaded", detail);
	log_info("configuration reloaded: %s", detail);
	reload_signer(d);
	return 0;
}

/* The store as logs name it: the SQLite file, or "postgresql" (never the
 * conninfo). */
static const char *
store_label(const struct config *cfg)
{
	return cfg->store.backend == CONFIG_STORE_POSTGRESQL ? "postgresql"
	    : cfg->broker.store;
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
	opt.head_file = true;
	opt.ahead = true;
	opt.max_bytes = cfg->broker.store_max_bytes;
	opt.pseudonym_key = key;
	opt.pseudonym_key_len = key_len;
	opt.backend = config_store_backend(cfg);
	st = store_open(config_store_location(cfg), &opt, &err);
	if (st == NULL)
		log_error("cannot open store %s: %s %s", store_label(cfg),
		    nara_code_id(err.code), err.text);
	free(key);
	return st;
}

/*
 * The store; with [ha] a database that cannot be opened (its failover
 * under way, or this narad restarted after losing it) is tried again with
 * back-off (0.5 s doubling to 5 s) until it opens or narad is stopped: a
 * standby that gave up would leave the region with one narad fewer. Each
 * attempt logs its reason (open_store), so a database that will never do
 * (a newer schema, say) shows in the log; systemd's start timeout ends
 * the wait, since READY comes only after it.
 */
static struct store *
open_store_waiting(const struct config *cfg)
{
	unsigned delay_ms = 500;
	struct store *st;

	while ((st = open_store(cfg)) == NULL && cfg->ha.enabled &&
	    cfg->store.backend == CONFIG_STORE_POSTGRESQL) {
		log_warn("standby: the store cannot be opened yet; trying again "
		    "in %u ms", delay_ms);
		sd_notifyf(0, "STATUS=waiting for the database");
		usleep(delay_ms * 1000);
		delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
	}
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

/* The front tells the broker which connection of a node is the newest
 * and when one ends; the broker asks it to close a node that does not
 * read. */
static void
on_node_up(void *arg, const char *node, uint64_t gen, void *link)
{
	broker_node_up(((struct narad *)arg)->broker, node, gen, link);
}

static void
on_node_down(void *arg, const char *node, uint64_t gen, const char *reason)
{
	broker_node_down(((struct narad *)arg)->broker, node, gen, reason);
}

static void
drop_node(void *arg, const char *node, uint64_t gen)
{
	front_close_node(((struct narad *)arg)->front, node, gen);
}

/* [tls] zmtp = front: the broker takes the nodes' frames from the front
 * and sends through it. */
static void
on_front_frames(void *arg)
{
	broker_link_ready(((struct narad *)arg)->broker);
}

static bool
link_pending(void *arg)
{
	return front_pending(arg);
}

static size_t
link_pull(void *arg, size_t max, size_t max_bytes, broker_frame_fn fn,
    void *fn_arg)
{
	return front_pull(arg, max, max_bytes, fn, fn_arg);
}

static int
link_send(void *arg, void *link, const uint8_t *data, size_t len)
{
	return front_send(arg, link, data, len);
}


/* Start the TLS front when [tls] listen is set; it relays to the ROUTER's
 * ipc socket. */
static int
start_front(struct narad *d)
{
	const struct config *cfg = broker_config(d->broker);
	struct front_hooks hooks = { .refused = on_front_refused,
	    .connected = on_node_up, .disconnected = on_node_down,
	    .frames = on_front_frames, .arg = d };
	struct broker_link link = { link_pending, link_pull, link_send, NULL };

	if (cfg->tls.listen[0] == '\0')
		return 0;
	if (strncmp(cfg->broker.router, "ipc://", 6) != 0) {
		log_error("[tls] needs an ipc:// router endpoint, not %s",
		    cfg->broker.router);
		return -1;
	}
	d->front = front_new(d->base, cfg, cfg->broker.router + 6, &hooks);
	if (d->front == NULL)
		return -1;
	broker_set_drop(d->broker, drop_node, d);
	if (cfg->tls.zmtp == CONFIG_ZMTP_FRONT) {
		link.arg = d->front;
		broker_set_link(d->broker, &link);
	}
	return 0;
}

/* ---- end of TLS front wiring ---- */

/* ---- narad -n: every start-up check short of binding sockets ---- */

/* The key files narad reads at start. */
static int
check_keys(const struct config *cfg)
{
	struct nara_err err = { 0 };
	struct audit_key *k;
	uint8_t *key = NULL;
	size_t len = 0;
	int rc = 0;

	if (store_read_key_file(cfg->broker.pseudonym_key, &key, &len,
	    &err) != 0) {
		log_error("%s %s", nara_code_id(err.code), err.text);
		rc = -1;
	}
	if (key != NULL)
		OPENSSL_cleanse(key, len);
	free(key);
	if (cfg->broker.signing_key[0] != '\0') {
		if ((k = audit_key_load_private(cfg->broker.signing_key, &err)) ==
		    NULL) {
			log_error("%s %s", nara_code_id(err.code), err.text);
			rc = -1;
		}
		audit_key_free(&k);
	}
	return rc;
}

/* The TLS front: its files (certificate, key, CA, CRLs) and where the
 * router may be. runtime_dir is checked as start-up does when it exists
 * (owner and mode, as the user running -n); a missing one is created 0700
 * at start, so only the router's place in it is checked. */
static int
check_tls(const struct config *cfg)
{
	struct nara_err err = { 0 };
	struct stat sb;
	SSL_CTX *ctx;
	char why[512];
	int rc = 0;

	if (cfg->tls.listen[0] == '\0')
		return 0;
	if ((ctx = tls_server_ctx_new(&cfg->tls, &err)) == NULL) {
		log_error("tls front: %s", err.text);
		rc = -1;
	}
	SSL_CTX_free(ctx);
	if (cfg->broker.listen_tcp[0] != '\0') {
		log_error("[broker] listen_tcp = %s cannot be used with [tls]: "
		    "nodes connect through the TLS front only",
		    cfg->broker.listen_tcp);
		rc = -1;
	}
	if ((stat(cfg->tls.runtime_dir, &sb) == 0 ? zap_check_runtime_dir(
	    cfg->tls.runtime_dir, cfg->broker.router, why, sizeof(why)) :
	    zap_check_runtime_path(cfg->tls.runtime_dir, cfg->broker.router,
	    why, sizeof(why))) != 0) {
		log_error("%s", why);
		rc = -1;
	}
	return rc;
}

/* The store as start-up would take it, read-only; nothing is created. */
static int
check_store(const struct config *cfg)
{
	struct nara_err err = { 0 };
	bool absent;

	if (store_check_backend(config_store_backend(cfg),
	    config_store_location(cfg), &absent, &err) != 0) {
		/* with [ha] narad waits for its database at start, so a host
		 * booting during a database failover must not fail here */
		if (cfg->ha.enabled && strstr(err.text, "cannot connect") != NULL) {
			log_warn("store %s: %s %s; narad waits for it at start",
			    store_label(cfg), nara_code_id(err.code), err.text);
			return 0;
		}
		log_error("store %s: %s %s", store_label(cfg),
		    nara_code_id(err.code), err.text);
		return -1;
	}
	if (absent)
		log_info("store %s does not exist yet; narad creates it at start",
		    store_label(cfg));
	return 0;
}

static int
check_only(const char *path, struct config *cfg)
{
	int rc = check_keys(cfg);

	rc |= check_tls(cfg);
	rc |= console_check(cfg);
	rc |= check_store(cfg);
	if (rc != 0) {
		log_error("%s: configuration invalid: narad would not start",
		    path);
		config_free(&cfg);
		return 1;
	}
	printf("%s: configuration ok (%zu nodes, %zu rules)\n", path,
	    cfg->n_nodes, cfg->n_rules);
	config_free(&cfg);
	return 0;
}

/* ---- operator interfaces: control sockets, metrics and dashboard ---- */

/* naractl reload: the SIGHUP path, with its outcome. */
static int
ops_reload(void *arg)
{
	struct narad *d = arg;

	return daemon_reload(d->signals);
}

static int ops_step_down(void *arg, const char *operator,
    struct nara_err *err);

/* The control sockets and the HTTP listeners for cfg; a standby ([ha],
 * no broker yet) gets them too, answering only status and health. */
static int
start_ops(struct narad *d, const struct config *cfg)
{
	const struct config_broker *cb = &cfg->broker;
	struct ops_view view = { d->broker, d->front, d->ha };
	struct control_hooks hooks = { ops_reload,
	    d->ha != NULL ? ops_step_down : NULL, d };

	if ((d->control = control_new(d->base, &view, cb->control, false,
	    &hooks)) == NULL)
		return -1;
	if (cb->control_readonly[0] != '\0' && (d->control_ro = control_new(
	    d->base, &view, cb->control_readonly, true, NULL)) == NULL)
		return -1;
	if ((cb->http_listen[0] != '\0' || (d->broker != NULL &&
	    cb->console_listen[0] != '\0')) &&
	    (d->http = http_new(d->base, &view, cb->http_listen, cfg)) == NULL)
		return -1;
	return 0;
}

static void
stop_ops(struct narad *d)
{
	http_free(&d->http);
	control_free(&d->control_ro);
	control_free(&d->control);
}

/* ---- end of operator interfaces ---- */

/* Serve: the broker (which owns cfg from here on, also when it fails),
 * the TLS front and the operator interfaces. takeover: why this narad
 * became the active one ([ha]), NULL without HA. */
static int
start_serving(struct narad *d, struct config *cfg, const char *takeover)
{
	if ((d->broker = broker_new(d->base, cfg, d->store)) == NULL)
		return -1;
	if (start_front(d) != 0 || start_ops(d, cfg) != 0)
		return -1;
	broker_audit_event(d->broker, "broker_started", NARA_VERSION);
	if (takeover != NULL)
		broker_audit_event(d->broker, "ha_takeover", takeover);
	log_info("narad %s ready: %zu nodes, router %s", NARA_VERSION,
	    broker_config(d->broker)->n_nodes,
	    broker_config(d->broker)->broker.router);
	return 0;
}

/* ---- [ha]: standby until the lease is ours ---- */

/* Set across the restart after a step-down (see ha_yield). */
#define HANDED_OVER_ENV "NARA_HA_HANDED_OVER"

/*
 * Stop serving at once and start again as a standby: every descriptor
 * (TLS front, client connections, ROUTER, control and HTTP sockets, the
 * database session) is closed by the exec itself, so nothing of the
 * active narad survives into the standby and no thread runs on a closed
 * descriptor meanwhile. Same pid, so systemd keeps tracking it.
 */
static void
restart_as_standby(struct narad *d, const char *why)
{
	sigset_t none;

	sd_notifyf(0, "STATUS=standby: %s", why);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
		log_warn("close_range: %s; descriptors may outlive the restart",
		    strerror(errno));
	execv("/proc/self/exe", d->argv);
	log_error("cannot restart as a standby: %s; exiting", strerror(errno));
	_exit(1);
}

/* After a step-down: the answer to naractl is on its way; restart. */
static void
step_down_done(evutil_socket_t fd, short what, void *arg)
{
	restart_as_standby(arg, "stepped down");
}

/*
 * naractl step-down: an audit row naming the operator, the lease handed
 * over (nothing more commits here: every batch is refused with NR042),
 * and once the answer to naractl went out the restart as a standby, which
 * closes the TLS front so that nodes move to the narad taking over.
 * Once the lease is released this narad can write no row (the fence), so
 * the row goes first and says what was asked; a hand-over that then fails
 * leaves the lease here and gets an ha_step_down_failed row, and without
 * the first row nothing is handed over.
 */
static int
ops_step_down(void *arg, const char *operator, struct nara_err *err)
{
	struct narad *d = arg;
	struct ha_view v;
	char detail[300], failed[600];
	struct timeval flush = { 0, 200000 };

	ha_view(d->ha, &v);
	if (d->broker == NULL || !v.active)
		return nara_err_set(err, NR_USAGE, "ha", "this narad is not "
		    "the active one");
	snprintf(detail, sizeof(detail), "instance %s epoch %lld: hand-over "
	    "to a standby asked by %s", v.instance, (long long)v.epoch,
	    operator);
	if (broker_audit_event(d->broker, "ha_step_down", detail) != 0)
		return nara_err_set(err, NR_STORE_FAILED, "ha", "the step-down "
		    "could not be audited; the lease stays here");
	if (ha_hand_over(d->ha, err) != 0) {
		snprintf(failed, sizeof(failed), "%s: failed, still active: %s",
		    detail, err->text);
		log_error("ha: %s", failed);
		if (broker_audit_event(d->broker, "ha_step_down_failed",
		    failed) != 0)
			log_error("ha: the failed step-down could not be audited");
		return -1;
	}
	log_info("ha: stepped down (%s)", detail);
	/* The front stays until the exec closes it with everything else:
	 * the views hold pointers to it, and a batch can no longer commit. */
	setenv(HANDED_OVER_ENV, "1", 1);
	event_base_once(d->base, -1, EV_TIMEOUT, step_down_done, d, &flush);
	return 0;
}

static int
ha_on_active(void *arg, const struct store_lease *l, const char *why)
{
	struct narad *d = arg;
	struct config *cfg = d->standby_cfg;

	d->standby_cfg = NULL;
	stop_ops(d);
	sd_notify(0, "STATUS=active");
	return start_serving(d, cfg, why);
}

static void
ha_on_lost(void *arg, const char *why)
{
	restart_as_standby(arg, why);
}

/* Keep cfg, the certificates and the store open and wait for the lease. */
static int
start_standby(struct narad *d, struct config *cfg)
{
	struct ha_hooks hooks = { ha_on_active, ha_on_lost, d };
	struct nara_err err = { 0 };

	d->standby_cfg = cfg;
	if ((d->ha = ha_new(d->base, d->store, &cfg->ha, &hooks, &err)) == NULL) {
		log_error("%s", err.text);
		return -1;
	}
	/* restarted right after a step-down: leave the lease to a standby */
	if (getenv(HANDED_OVER_ENV) != NULL) {
		unsetenv(HANDED_OVER_ENV);
		ha_yield(d->ha);
	}
	if (start_ops(d, cfg) != 0)
		return -1;
	log_info("narad %s standby: instance %s waits for the lease",
	    NARA_VERSION, cfg->ha.instance);
	sd_notify(0, "STATUS=standby");
	return 0;
}

/* ---- end of [ha] ---- */

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
	/* A clean stop hands the lease over at once, not after its term. */
	ha_release(d->ha);
	ha_free(&d->ha);
	config_free(&d->standby_cfg);
	store_free(&d->store);
	audit_key_free(&d->signing_key);
	daemon_signals_free(&d->signals);
	if (d->base) event_base_free(d->base);
}

int
main(int argc, char **argv)
{
	struct narad d = { .argv = argv };
	struct config *cfg;
	bool check = false, damaged;
	int ch;

	log_init("narad", LOG_LVL_INFO, getenv("JOURNAL_STREAM") != NULL);
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "c:ndhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': d.config_path = optarg; break;
		case 'n': check = true; break;
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
	if (check)
		return check_only(d.config_path, cfg);
	log_set_level(d.debug ? LOG_LVL_DEBUG : (enum log_level)cfg->broker.log_level);
	if ((d.store = open_store_waiting(cfg)) == NULL || open_signer(&d, cfg) != 0 ||
	    (d.base = event_base_new()) == NULL || (d.signals = daemon_signals_new(d.base,
	    "stopping after the current batch", reload, &d)) == NULL) {
		config_free(&cfg);
		teardown(&d);
		log_error("startup failed");
		return 1;
	}
	if (cfg->ha.enabled) {
		if (start_standby(&d, cfg) != 0) {
			teardown(&d);
			log_error("startup failed");
			return 1;
		}
	} else if (start_serving(&d, cfg, NULL) != 0) {
		teardown(&d);
		log_error("startup failed");
		return 1;
	}
	sd_notify(0, "READY=1");
	event_base_dispatch(d.base);
	damaged = broker_store_damaged(d.broker);
	teardown(&d);
	log_info("stopped");
	return damaged ? 1 : 0;
}
