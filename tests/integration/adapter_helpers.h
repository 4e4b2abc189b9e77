/*
 * adapter_helpers.h — nara-adapter processes for integration tests: a
 * config in a temporary directory pointing at a harness narad, start/stop
 * (including SIGKILL), spool files, a tiny webhook server and a plain HTTP
 * client for the adapter's API.
 */
#ifndef NARA_TEST_ADAPTER_HELPERS_H
#define NARA_TEST_ADAPTER_HELPERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

struct tadapter {
	char dir[256];
	char conf[320];
	char spool[320];       /* spool directory (spool backend) */
	char state[320];
	char log[320];
	char node[80];
	pid_t pid;
};

/* A config for node in a fresh directory. broker is "ipc://..." or
 * "tcp://..." (tls = no) or HOST:PORT (tls = yes: pass the TLS keys in
 * extra). extra is appended to [adapter]; sections (e.g. "[http]\n...")
 * may follow it. */
void tadapter_init(struct tadapter *a, const char *node, const char *broker,
    const char *extra);
void tadapter_start(struct tadapter *a);
/* Send sig, wait; returns the exit status or -signal. */
int tadapter_stop(struct tadapter *a, int sig);
void tadapter_cleanup(struct tadapter *a);
/* Descriptors the running adapter has open, or -1. */
int tadapter_open_fds(const struct tadapter *a);
/* Lines of the adapter's log containing needle. */
int tadapter_log_count(const struct tadapter *a, const char *needle);
/* Wait until the adapter's log has needle at least n times. */
bool tadapter_wait_log(const struct tadapter *a, const char *needle, int n,
    int timeout_ms);

/* Write data as spool/outbox/name via a temporary name and rename. */
void spool_put(const struct tadapter *a, const char *name, const void *data,
    size_t len);
/* The envelope as nara-msg JSON into outbox/name. */
void spool_put_envelope(const struct tadapter *a, const char *name,
    const Nara__Envelope *env);
/* spool/sub/name exists (waits up to timeout_ms). */
bool spool_wait(const struct tadapter *a, const char *sub, const char *name,
    int timeout_ms);
/* Regular files in spool/sub whose name ends with suffix ("" = all but
 * dot files). */
int spool_count(const struct tadapter *a, const char *sub, const char *suffix);
/* Whole file (NUL-terminated, malloc'd) or NULL. */
char *file_slurp(const char *path, size_t *len);
/* Run `nara-adapter ARGS` and capture its output; returns exit status. */
int adapter_run(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A webhook: answers every POST with status (or hangs for hang_ms when
 * status is 0) after fail_first requests answered with 500. */
struct webhook_hit {
	char kind[16];
	char key[64];
	char *body;
	int answered;          /* status sent, 0 = hung up */
};

struct webhook {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop, running;
	int fail_first;        /* answer 500 this many times */
	int hang_first;        /* then hang this many times */
	int hang_ms;
	int status;            /* afterwards */
	bool refuse_header;    /* 4xx answers carry Nara-Refused */
	bool ipv6;             /* listen on [::1], not 127.0.0.1 */
	char host[80];         /* the Host header of the last request */
	struct webhook_hit hits[512];
	int n_hits;
};

/* Listen on w->port (0: a free port, stored in w->port) and serve. */
void webhook_start(struct webhook *w);
void webhook_stop(struct webhook *w);
/* Hits whose key matches (NULL = all). */
int webhook_count(struct webhook *w, const char *key, int answered);

/* One HTTP/1.1 request to 127.0.0.1:port; returns the status code and the
 * body in body (malloc'd, may be NULL). */
int http_request(int port, const char *method, const char *path,
    const char *json, char **body);
/* The status line of the last answer ("HTTP/1.1 202 Accepted"). */
extern char http_last_status_line[128];
/* The same over a unix socket. */
int http_request_unix(const char *sock, const char *method, const char *path,
    const char *json, char **body);

#endif
