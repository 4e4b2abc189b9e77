/*
 * config.h — nara.conf: broker settings, nodes, and the policy table.
 *
 * INI syntax (parsed with inih), table-driven: every key has a type, a
 * default, bounds and a help text in config.c's key tables. Sections:
 *   [broker]         daemon settings
 *   [tls]            the TLS front of narad
 *   [store]          the store backend: sqlite (default) or postgresql
 *   [ha]             active/standby narads on one PostgreSQL store
 *   [node NODE-ID]   one adapter: display name, addresses it serves,
 *                    certificate identity
 *   [rule NAME]      one policy rule: sender patterns x recipient patterns x
 *                    message types, effect allow|deny, optional validity dates
 * Loading either yields a complete, validated struct config or NULL with every
 * problem reported as "file:line: what is wrong"; nothing half-loaded is used.
 */
#ifndef NARA_CONFIG_H
#define NARA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"
#include "nara.pb-c.h"

#define CONFIG_NODE_ID_MAX 64       /* longest node id or rule name */

enum config_sync { CONFIG_SYNC_FULL, CONFIG_SYNC_NORMAL };
enum config_identity { CONFIG_ID_SAN_URI, CONFIG_ID_CN, CONFIG_ID_SERIAL };
enum config_store_backend { CONFIG_STORE_SQLITE, CONFIG_STORE_POSTGRESQL };
enum config_zmtp { CONFIG_ZMTP_FRONT, CONFIG_ZMTP_ROUTER };

struct config_broker {
	char *id;                   /* broker name in Welcome, default "narad" */
	char *router;               /* ZMQ ROUTER endpoint (ipc://...) */
	char *listen_tcp;           /* extra plain endpoint for tests, "" = none */
	char *store;                /* SQLite file */
	char *pseudonym_key;        /* file with the HMAC key for personal numbers */
	char *signing_key;          /* Ed25519 PEM for audit checkpoints, "" = none */
	char *control;              /* naractl endpoint (ipc://...) */
	char *control_readonly;     /* read-only naractl endpoint, "" = none */
	char *http_listen;          /* metrics/dashboard "127.0.0.1:9464", "" = off */
	uint64_t history_interval;   /* seconds between history samples */
	char *console_listen;       /* operators' HTTPS console, "" = off */
	char *console_ca;           /* CA bundle of operator certificates */
	uint64_t http_max_connections; /* open per HTTP listener */
	uint64_t http_max_connections_per_address; /* of those, from one address */
	enum config_sync synchronous;
	int log_level;              /* enum log_level */
	uint64_t max_message_bytes;
	uint64_t max_attachments;
	uint64_t max_attachment_bytes;
	uint64_t max_text_bytes;
	uint64_t store_max_bytes;   /* 0 = unlimited; above it submits get NR040 */
	uint64_t ack_timeout;       /* seconds before an unacked delivery is retried */
	uint64_t default_credit;    /* window when hello announces 0 */
	uint64_t max_credit;
	uint64_t batch_max;         /* frames per group commit */
	uint64_t batch_max_bytes;   /* ... and their bytes (the frame that
	                             * passes it is the batch's last) */
	uint64_t checkpoint_interval; /* seconds between signed chain heads */
	uint64_t audit_retention_days;
	uint64_t check_warn_age;    /* naractl check: backlog age (s) for WARNING */
	uint64_t check_crit_age;    /* ... for CRITICAL */
	uint64_t check_warn_days;   /* certificate days left for WARNING */
	uint64_t check_crit_days;   /* ... for CRITICAL */
	uint64_t check_disconnected_warn; /* nodes not connected for WARNING,
	                               * 0 = not checked */
};

struct config_tls {
	char *listen;               /* "0.0.0.0:7443", "" = no TLS front */
	char *cert;
	char *key;
	char *ca;
	char **crl;                 /* CRL files */
	size_t n_crl;
	char *min_version;          /* "1.3" (default) or "1.2" */
	enum config_identity identity;
	char *runtime_dir;          /* 0700 directory for the relay ipc socket */
	uint64_t handshake_timeout; /* seconds */
	uint64_t max_connections;
	uint64_t max_handshakes;    /* connections before TLS completes */
	uint64_t max_handshakes_per_address;
	uint64_t report_interval;   /* seconds: repeated refusals summarised */
	uint64_t expiry_warn_days;
	enum config_zmtp zmtp;      /* who speaks ZMTP with the nodes */
};

/* [store]: which backend keeps the durable state. sqlite uses
 * [broker] store (a file); postgresql uses the libpq conninfo. */
struct config_store {
	enum config_store_backend backend;
	char *postgresql;           /* libpq conninfo, "" unless postgresql */
};

/* [ha]: this narad is one of several on a shared PostgreSQL store; the
 * one holding the store's lease serves, the others wait (docs/HA.md). */
struct config_ha {
	bool enabled;               /* an [ha] section is present */
	char *instance;             /* this narad's name in the lease */
	uint64_t lease;             /* seconds a renewal holds */
};

struct config_node {
	char *id;                   /* "kommun-1480", "SE2321000131-E000000000101" */
	char *name;                 /* "Göteborg" */
	char *kind;                 /* "municipality" or "region" */
	char **addresses;           /* addresses this node serves */
	size_t n_addresses;
	char *identity;             /* certificate identity; default = id */
	int line;                   /* line of the section header */
};

struct config_rule {
	char *name;
	char **senders;             /* fnmatch(3) patterns on addresses */
	size_t n_senders;
	char **recipients;
	size_t n_recipients;
	uint32_t types;             /* bit (1u << Nara__MessageType) per allowed type */
	bool deny;                  /* effect = deny: overrides allow rules */
	int64_t valid_from;         /* epoch seconds, INT64_MIN = always */
	int64_t valid_until;        /* epoch seconds of the end of that day,
	                             * INT64_MAX = never ends */
	char *description;
	int line;
};

struct config {
	char *path;
	struct config_broker broker;
	struct config_tls tls;
	struct config_store store;
	struct config_ha ha;
	struct config_node *nodes;
	size_t n_nodes;
	struct config_rule *rules;
	size_t n_rules;
	/* private: address -> node index, sorted for bsearch */
	struct config_route *routes;
	size_t n_routes;
};

/* The store_options backend name and the location store_open takes for
 * cfg's [store]: the SQLite file or the PostgreSQL conninfo. */
const char *config_store_backend(const struct config *cfg);
const char *config_store_location(const struct config *cfg);

/* Every problem found while loading, as "file:line: text" strings. */
struct config_diag {
	char **msgs;
	size_t n;
};
void config_diag_free(struct config_diag *diag);

/* Load and validate a file. NULL when anything is wrong (diag lists it all). */
struct config *config_load(const char *path, struct config_diag *diag);
/* Same from a string; name is used in the messages ("test.conf"). */
struct config *config_parse_string(const char *text, const char *name,
    struct config_diag *diag);
/* Same from a buffer of len bytes read like a file (any bytes, NULs
 * included); for tools that hold a config in memory and for the fuzzer. */
struct config *config_load_buffer(const void *buf, size_t len, const char *name,
    struct config_diag *diag);
void config_free(struct config **cfg);

/* Node by id, by certificate identity, or serving an address; NULL if none. */
const struct config_node *config_node_find(const struct config *cfg, const char *id);
const struct config_node *config_node_by_identity(const struct config *cfg,
    const char *identity);
const struct config_node *config_route(const struct config *cfg, const char *address);
bool config_node_serves(const struct config_node *node, const char *address);

/* Policy: NR_OK when some rule valid at `now` allows sender -> recipient for
 * type and no valid deny rule matches; NR_POLICY_DENIED otherwise. */
enum nara_code config_authorize(const struct config *cfg, const char *sender,
    const char *recipient, Nara__MessageType type, int64_t now);

/* Print the key tables (name, type, default, bounds, help) for --help-config
 * and the nara.conf(5) man page. */
void config_print_keys(FILE *out);

/* One [section] key's raw value from the file at path, without checking
 * the rest of the file: for naractl, which needs the control socket only
 * and must work while another part of the file has a typo. 1 with the
 * value in out ("" spelled \"\" reads as empty), 0 when the key is not
 * set, -1 with the reason in why when the file cannot be read or the
 * value is refused. The file is read by the loader's rules. */
int config_peek(const char *path, const char *section, const char *key,
    char *out, size_t len, char *why, size_t why_len);

#endif
