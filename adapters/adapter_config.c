/*
 * adapter_config.c — the adapter's own INI file, read with the same
 * table-driven engine as nara.conf (conftab.h). This file only says which
 * keys exist and how they depend on each other.
 */
#include "adapter_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conftab.h"
#include "log.h"
#include "tunnel.h"

#define N_KEYS(t) (sizeof(t) / sizeof((t)[0]))
#define FIELD(f) .offset = offsetof(struct adapter_config, f), \
	.size = sizeof(((struct adapter_config *)0)->f)
#define LIST(f, n) FIELD(f), .count_offset = offsetof(struct adapter_config, n)
#define KIB 1024u
#define MIB (1024u * 1024u)
#define DAY 86400u

_Static_assert(BACKEND_SPOOL == 0 && BACKEND_HTTP == 1, "backend choices");
_Static_assert(LOG_LVL_ERROR == 0 && LOG_LVL_DEBUG == 3, "log_level choices");

/* Node ids as narad knows them: letters, digits, '-', '_', '.'. */
static int
check_node_id(const char *item, char *why, size_t len)
{
	size_t n = strlen(item);

	if (n == 0 || n > 64 || strspn(item, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n) {
		snprintf(why, len, "bad node id \"%s\": 1-64 letters, digits, "
		    "'-', '_' or '.'", item);
		return -1;
	}
	return 0;
}

/* The broker: a ZeroMQ endpoint (tls = no) or a list of HOST:PORT of
 * narads (tls = yes); which of the two fits tls is checked at the end of
 * the section. */
static int
check_broker(const char *item, char *why, size_t len)
{
	struct nara_err err = { 0 };

	if (strstr(item, "://") != NULL)
		return conftab_check_zmq(item, why, len);
	if (tunnel_brokers_check(item, &err) != 0) {
		snprintf(why, len, "%s", err.text);
		return -1;
	}
	return 0;
}

/* HTTP API address: loopback only, or a unix socket. */
static int
check_listen(const char *item, char *why, size_t len)
{
	if (item[0] == '\0')
		return 0;
	if (strncmp(item, "unix:/", 6) == 0)
		return 0;
	if (strncmp(item, "127.0.0.1:", 10) == 0 ||
	    strncmp(item, "localhost:", 10) == 0 ||
	    strncmp(item, "[::1]:", 6) == 0) {
		const char *port = strrchr(item, ':') + 1;
		char *end;
		long p = strtol(port, &end, 10);
		if (*port != '\0' && *end == '\0' && p > 0 && p < 65536)
			return 0;
	}
	snprintf(why, len, "\"%s\": the HTTP API listens on loopback only: "
	    "127.0.0.1:PORT, [::1]:PORT, localhost:PORT or unix:/path", item);
	return -1;
}

/* Webhook: plain http:// to this host (the local system runs beside us). */
static int
check_webhook(const char *item, char *why, size_t len)
{
	if (item[0] == '\0' || strncmp(item, "http://127.0.0.1:", 17) == 0 ||
	    strncmp(item, "http://localhost:", 17) == 0 ||
	    strncmp(item, "http://[::1]:", 13) == 0)
		return 0;
	snprintf(why, len, "\"%s\": the webhook must be http://127.0.0.1:PORT/..., "
	    "http://localhost:PORT/... or http://[::1]:PORT/...", item);
	return -1;
}

static const struct config_key adapter_keys[] = {
	{ "node_id", CT_STRING, FIELD(node_id), .flags = CONFTAB_REQUIRED |
	  CONFTAB_NONEMPTY, .check = check_node_id,
	  .help = "this node's id in nara.conf, e.g. kommun-1480" },
	{ "broker", CT_STRING, FIELD(broker), .flags = CONFTAB_REQUIRED |
	  CONFTAB_NONEMPTY, .check = check_broker, .help = "narad's TLS front HOST:PORT, or HOST:PORT,HOST:PORT,... "
	  "for active and standby narads (tls = yes), or ipc:// / tcp:// for "
	  "same-host setups (tls = no)" },
	{ "tls", CT_BOOL, FIELD(tls), .def = "yes",
	  .help = "reach narad through TLS with this node's certificate" },
	{ "ca", CT_PATH, FIELD(ca), .def = "", .check = conftab_check_path,
	  .help = "PEM bundle that signs the broker certificate" },
	{ "cert", CT_PATH, FIELD(cert), .def = "", .check = conftab_check_path,
	  .help = "this node's certificate (PEM)" },
	{ "key", CT_PATH, FIELD(key), .def = "", .check = conftab_check_path,
	  .help = "this node's private key (PEM)" },
	{ "crl", CT_LIST, LIST(crl, n_crl), .def = "",
	  .check = conftab_check_path,
	  .help = "CRL files (PEM), comma-separated, of the CAs in ca: the "
	  "broker's certificate chain must not be revoked (re-read on reload)" },
	{ "server_name", CT_STRING, FIELD(server_name), .def = "",
	  .help = "name every broker certificate must carry, \"\" = the host "
	  "of each broker address" },
	{ "tunnel_dir", CT_PATH, FIELD(tunnel_dir), .def = "",
	  .check = conftab_check_path,
	  .help = "0700 directory for the local TLS tunnel socket, \"\" = "
	  "$RUNTIME_DIRECTORY, else STATE.tunnel" },
	{ "state", CT_PATH, FIELD(state), .def = "/var/lib/nara/adapter.db",
	  .flags = CONFTAB_NONEMPTY, .check = conftab_check_path,
	  .help = "SQLite file: outbox, handed-off ids, receipts" },
	{ "backend", CT_ENUM, FIELD(backend), .def = "spool",
	  .choices = "spool|http", .help = "how the local system talks to us" },
	{ "log_level", CT_ENUM, FIELD(log_level), .def = "info",
	  .choices = "error|warning|info|debug", .help = "most verbose level logged" },
	{ "credit_window", CT_INT, FIELD(credit_window), .def = "16", .min = 1,
	  .max = 1024, .help = "deliveries and receipts in flight from narad" },
	{ "submit_window", CT_INT, FIELD(submit_window), .def = "32", .min = 1,
	  .max = 1024, .help = "submits sent before waiting for answers" },
	{ "max_message_bytes", CT_SIZE, FIELD(max_message_bytes), .def = "16M",
	  .min = KIB, .max = 64 * MIB,
	  .help = "largest message file or request body taken from the local system" },
	{ "retry_min", CT_DURATION, FIELD(retry_min), .def = "2", .min = 1,
	  .max = DAY, .help = "first retry delay (doubles each time)" },
	{ "retry_max", CT_DURATION, FIELD(retry_max), .def = "5m", .min = 1,
	  .max = DAY, .help = "longest retry delay" },
	{ "hello_timeout", CT_DURATION, FIELD(hello_timeout), .def = "10",
	  .min = 1, .max = 3600, .help = "say hello again when no welcome came" },
	{ "retention", CT_DURATION, FIELD(retention), .def = "30d", .min = DAY,
	  .max = 3650 * (uint64_t)DAY, .help = "how long ids and outcomes of "
	  "settled messages are remembered" },
};

static const struct config_key spool_keys[] = {
	{ "dir", CT_PATH, FIELD(spool_dir), .def = "/var/spool/nara",
	  .flags = CONFTAB_NONEMPTY, .check = conftab_check_path,
	  .help = "holds outbox/, sent/, rejected/, inbox/, receipts/" },
	{ "scan_interval", CT_DURATION, FIELD(scan_interval), .def = "1",
	  .min = 1, .max = 3600, .help = "how often outbox/ is scanned in "
	  "full (new files are seen at once through inotify)" },
};

static const struct config_key http_keys[] = {
	{ "listen", CT_STRING, FIELD(listen), .def = "127.0.0.1:8780",
	  .flags = CONFTAB_NONEMPTY, .check = check_listen,
	  .help = "HTTP API: 127.0.0.1:PORT, [::1]:PORT or unix:/path" },
	{ "webhook", CT_STRING, FIELD(webhook), .def = "", .check = check_webhook,
	  .help = "local URL that incoming messages and receipts are POSTed to" },
	{ "webhook_timeout", CT_DURATION, FIELD(webhook_timeout), .def = "10",
	  .min = 1, .max = 600, .help = "give up on one webhook attempt after this" },
};

/* Line of the backend key, for the check across sections. */
struct load {
	struct adapter_config *cfg;
	int backend_line, adapter_line;
	bool http_seen;
};

static void *
open_section(struct conftab_parser *p, const char *arg)
{
	struct load *ld = p->user;

	if (strcmp(p->kind->name, "http") == 0)
		ld->http_seen = true;
	return ld->cfg;
}

static void
close_adapter(struct conftab_parser *p, void *base)
{
	struct adapter_config *c = base;
	struct load *ld = p->user;
	int line = conftab_key_line(p, "broker");
	bool zmq;

	ld->backend_line = conftab_key_line(p, "backend");
	ld->adapter_line = p->header_line;
	/* a refused broker value was reported at its own line already */
	if (line == 0 || c->broker == NULL)
		return;
	zmq = strstr(c->broker, "://") != NULL;
	if (c->tls && zmq)
		conftab_error(p, line, "broker", "with tls = yes the broker is "
		    "HOST:PORT of narad's TLS front, not \"%s\"", c->broker);
	if (!c->tls && !zmq)
		conftab_error(p, line, "broker", "with tls = no the broker is an "
		    "ipc:// or tcp:// endpoint, not \"%s\"", c->broker);
	if (c->tls && (c->ca[0] == '\0' || c->cert[0] == '\0' ||
	    c->key[0] == '\0'))
		conftab_error(p, p->header_line, NULL, "[adapter]: tls = yes "
		    "needs ca, cert and key");
	if (!c->tls && c->n_crl > 0)
		conftab_error(p, conftab_key_line(p, "crl"), "crl", "a CRL "
		    "needs tls = yes (it checks the broker's certificate)");
	if (c->retry_min > c->retry_max)
		conftab_error(p, conftab_key_line(p, "retry_min") ?
		    conftab_key_line(p, "retry_min") : p->header_line,
		    "retry_min", "is above retry_max");
}

static const struct conftab_kind kinds[] = {
	{ "adapter", NULL, adapter_keys, N_KEYS(adapter_keys),
	  "this node and how it reaches narad", open_section, close_adapter },
	{ "spool", NULL, spool_keys, N_KEYS(spool_keys),
	  "the spool directory backend", open_section, NULL },
	{ "http", NULL, http_keys, N_KEYS(http_keys),
	  "the HTTP API backend", open_section, NULL },
};

/* Checks that need the whole file: the chosen backend's settings. */
static void
check_backend(struct conftab_parser *p, struct load *ld)
{
	struct adapter_config *c = ld->cfg;

	if (ld->adapter_line == 0) {
		conftab_report(p, 1, NULL, NULL, "no [adapter] section");
		return;
	}
	if (c->backend == BACKEND_HTTP && c->webhook[0] == '\0')
		conftab_report(p, ld->backend_line ? ld->backend_line :
		    ld->adapter_line, "[adapter]", "backend",
		    "backend = http needs [http] webhook");
}

struct adapter_config *
adapter_config_load(const char *path, struct config_diag *diag)
{
	struct adapter_config *cfg = calloc(1, sizeof(*cfg));
	struct load ld = { .cfg = cfg };
	struct conftab_parser p = { .file = path, .kinds = kinds,
		.n_kinds = N_KEYS(kinds), .user = &ld };
	FILE *in = NULL;
	size_t n;

	if (cfg == NULL || (cfg->path = strdup(path)) == NULL)
		goto fail;
	for (size_t i = 0; i < N_KEYS(kinds); i++)
		conftab_defaults(&p, kinds[i].keys, kinds[i].n_keys, cfg, 0);
	if ((in = fopen(path, "r")) == NULL) {
		conftab_report(&p, 0, NULL, NULL, "cannot open: %s",
		    strerror(errno));
	} else {
		conftab_parse_file(&p, in);
		fclose(in);
		check_backend(&p, &ld);
	}
	n = conftab_finish(&p, diag);
	if (n > 0)
		adapter_config_free(&cfg);
	return cfg;
fail:
	conftab_finish(&p, diag);
	adapter_config_free(&cfg);
	return NULL;
}

void
adapter_config_free(struct adapter_config **cfg)
{
	if (cfg == NULL || *cfg == NULL)
		return;
	for (size_t i = 0; i < N_KEYS(kinds); i++)
		conftab_free(kinds[i].keys, kinds[i].n_keys, *cfg);
	free((*cfg)->path);
	free(*cfg);
	*cfg = NULL;
}

void
adapter_config_print(FILE *out)
{
	for (size_t i = 0; i < N_KEYS(kinds); i++)
		conftab_print(out, &kinds[i]);
}
