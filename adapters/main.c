/*
 * main.c — nara-adapter, the program every municipality and regional unit
 * runs between its local system and narad.
 *
 * Runs in the foreground (systemd style): options, config, `-n` check,
 * state file, link and backend, then the event loop until SIGTERM/SIGINT.
 * SIGHUP re-reads the config; log level, retry timing, the TLS
 * certificates and CRLs change at once, everything else at the next restart. Under systemd it reports
 * READY/RELOADING/STOPPING and feeds the watchdog.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "adapter.h"
#include "daemon.h"
#include "log.h"
#include "version.h"

struct daemon_state {
	const char *config_path;
	bool debug;
	struct event_base *base;
	struct adapter *adapter;
	struct daemon_signals *signals; /* TERM/INT/HUP, watchdog */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: nara-adapter -c FILE [-n] [-d]\n"
	    "       nara-adapter status -c FILE [--json]\n"
	    "       nara-adapter --help-config\n"
	    "\n"
	    "Connects this node's local system to the nara broker: messages\n"
	    "from the local system are kept in an outbox on disk until narad\n"
	    "has them; messages for this node are handed to the local system\n"
	    "exactly once. Runs in the foreground and logs to stderr.\n"
	    "\n"
	    "options:\n"
	    "  -c, --config FILE   adapter configuration (adapter.conf.example)\n"
	    "  -n, --check         check the configuration and exit: 0 valid,\n"
	    "                      1 invalid\n"
	    "  -d, --debug         debug logging\n"
	    "  -V, --version       print the version\n"
	    "  -h, --help          this text\n"
	    "      --help-config   every configuration key with default and meaning\n"
	    "\n"
	    "status prints the link state, outbox depth, oldest unsent message\n"
	    "and last receipt from the adapter's state file (read-only).\n"
	    "\n"
	    "Signals: TERM/INT stop, HUP reloads log level, retry timing,\n"
	    "certificates and CRLs.\n");
}

static struct adapter_config *
load_config(const char *path)
{
	struct config_diag diag = { 0 };
	struct adapter_config *cfg = adapter_config_load(path, &diag);

	for (size_t i = 0; i < diag.n; i++)
		log_error("%s", diag.msgs[i]);
	config_diag_free(&diag);
	return cfg;
}

/* SIGHUP: parse and validate a new config; the adapter copies what it can
 * change while running (adapter_reload), and the new config is freed here
 * in both cases. 0 when taken, -1 when refused (daemon_reload wraps it). */
static int
reload(void *arg)
{
	struct daemon_state *d = arg;
	struct adapter_config *cfg;

	log_info("reloading %s", d->config_path);
	if ((cfg = load_config(d->config_path)) == NULL) {
		log_error("reload refused: %s has errors; keeping the running "
		    "configuration", d->config_path);
		return -1;
	}
	adapter_reload(d->adapter, cfg);
	if (!d->debug)
		log_set_level((enum log_level)cfg->log_level);
	log_info("configuration reloaded (log level, retry timing, TLS files; "
	    "other changes take effect at the next restart)");
	adapter_config_free(&cfg);
	return 0;
}

static void
teardown(struct daemon_state *d)
{
	adapter_free(&d->adapter);
	daemon_signals_free(&d->signals);
	if (d->base) event_base_free(d->base);
}

static int
run(struct daemon_state *d, struct adapter_config *cfg)
{
	struct nara_err err = { 0 };

	log_set_level(d->debug ? LOG_LVL_DEBUG : (enum log_level)cfg->log_level);
	if ((d->base = event_base_new()) == NULL || (d->signals = daemon_signals_new(d->base, "stopping", reload, d)) == NULL) {
		adapter_config_free(&cfg);
		teardown(d);
		log_error("startup failed: event loop");
		return 1;
	}
	/* adapter_new owns cfg from here on, also when it fails. */
	if ((d->adapter = adapter_new(d->base, cfg, &err)) == NULL) {
		teardown(d);
		log_error("startup failed: %s %s", nara_code_id(err.code), err.text);
		return 1;
	}
	log_info("nara-adapter %s ready", NARA_VERSION);
	sd_notify(0, "READY=1");
	event_base_dispatch(d->base);
	teardown(d);
	log_info("stopped");
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "help-config", no_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_state d = { 0 };
	struct adapter_config *cfg;
	bool check_only = false;
	int ch;

	log_init("nara-adapter", LOG_LVL_INFO, getenv("JOURNAL_STREAM") != NULL);
	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "c:ndhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': d.config_path = optarg; break;
		case 'n': check_only = true; break;
		case 'd': d.debug = true; break;
		case 'V': printf("nara-adapter %s\n", NARA_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		case 'K': adapter_config_print(stdout); return 0;
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
		printf("%s: configuration ok (node %s, %s backend)\n",
		    d.config_path, cfg->node_id,
		    cfg->backend == BACKEND_HTTP ? "http" : "spool");
		adapter_config_free(&cfg);
		return 0;
	}
	return run(&d, cfg);
}
