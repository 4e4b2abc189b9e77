/*
 * adapter_config.h — the configuration file of nara-adapter (adapter.conf),
 * read with the table-driven engine of conftab.h. Only the adapter uses it.
 */
#ifndef NARA_ADAPTER_CONFIG_H
#define NARA_ADAPTER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum adapter_backend { BACKEND_SPOOL = 0, BACKEND_HTTP = 1 };

/* The adapter's configuration; every string is owned by the struct. */
struct adapter_config {
	char *path;                 /* file it was read from */
	/* [adapter] */
	char *node_id;
	char *broker;               /* ipc://, tcp:// (tls = no) or HOST:PORT */
	bool tls;
	char *ca, *cert, *key, *server_name;
	char **crl;                 /* CRL files checked against the broker */
	size_t n_crl;
	char *tunnel_dir;           /* 0700 directory for the tunnel socket */
	char *state;                /* SQLite file */
	int backend;                /* enum adapter_backend */
	int log_level;              /* enum log_level */
	uint64_t credit_window;
	uint64_t submit_window;
	uint64_t max_message_bytes;
	uint64_t retry_min, retry_max;
	uint64_t hello_timeout;
	uint64_t retention;         /* seconds settled rows are kept */
	/* [spool] */
	char *spool_dir;
	uint64_t scan_interval;
	/* [http] */
	char *listen;               /* 127.0.0.1:PORT, [::1]:PORT or unix:/path */
	char *webhook;              /* http://127.0.0.1:PORT/path */
	uint64_t webhook_timeout;
};

/* Load and check path; NULL when anything is wrong (each problem in diag as
 * "FILE:LINE: ..."). Free with adapter_config_free. */
struct adapter_config *adapter_config_load(const char *path,
    struct config_diag *diag);
void adapter_config_free(struct adapter_config **cfg);
/* Print every key with its default and help (for --help-config). */
void adapter_config_print(FILE *out);

#endif
