/*
 * harness.h — integration-test helpers: a temporary directory with a nara
 * config, a pseudonym key and a store, a narad process started from the
 * built binary, and a small synchronous DEALER client speaking nara frames.
 */
#ifndef NARA_TEST_HARNESS_H
#define NARA_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nara.pb-c.h"

/* Node ids and addresses of the test config. */
#define T_GBG "kommun-1480"
#define T_GBG_SOC "kommun:1480:socialtjanst"
#define T_GBG_EH "kommun:1480:elevhalsa"
#define T_BORAS "kommun-1490"
#define T_BORAS_SOC "kommun:1490:socialtjanst"
#define T_BORAS_EH "kommun:1490:elevhalsa"
#define T_BUP "SE2321000131-E000000000101"
#define T_PED "SE2321000131-E000000000401"

struct harness {
	char dir[256];
	char conf[320];
	char router[340];      /* ipc:// endpoint */
	char store[320];
	char log[320];
	pid_t pid;
};

/* Make the directory, key and config; extra is appended to [broker]. */
void harness_init(struct harness *h, const char *broker_extra);
/* Start narad and wait until its socket exists. */
void harness_start(struct harness *h);
/* Send sig and wait for the process; returns its exit status or -signal. */
int harness_stop(struct harness *h, int sig);
/* Replace the first from in narad's config with to (asserts that from is
 * there); a change takes effect at the next start or SIGHUP. */
void harness_conf_replace(const struct harness *h, const char *from,
    const char *to);
void harness_cleanup(struct harness *h);
/* Path of a built binary: $NARA_BIN/name or build/bin/name. */
const char *harness_bin(const char *name, char *buf, size_t len);
/* In a child just forked by parent, before exec: it is killed when the
 * test process ends, even by an assertion or a timeout (no narad or adapter
 * of a failed test stays behind holding ports and pipes). */
void harness_child_bind(pid_t parent);
/* Run a command, capture stdout+stderr into out; returns exit status. */
int harness_run(char *out, size_t out_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Count lines of the narad log containing needle. */
int harness_log_count(const struct harness *h, const char *needle);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t harness_ms_now(void);
/* Lines of the file at path that contain needle; 0 when it is missing. */
int harness_file_count(const char *path, const char *needle);
/* Run `sqlite3 store "sql"` and return the first value as an integer. */
long harness_sql_long(const struct harness *h, const char *sql);
/* Run sql on the store, beside narad when it runs (narad sees schema
 * changes at its next statement); fails the test when it fails. */
void harness_sql_exec(const struct harness *h, const char *sql);

/*
 * The one way tests wait: poll cond(arg) every 10 ms until it returns true
 * or timeout_ms has passed; returns whether it held. Never sleep for a
 * fixed time and hope: wait for the log line, row or file that shows it.
 */
bool harness_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);
/* Wait until the narad log has at least n lines containing needle. */
bool harness_wait_log(const struct harness *h, const char *needle, int n,
    int timeout_ms);
/* Wait until the first value of sql on the store is at least want. */
bool harness_wait_sql(const struct harness *h, const char *sql, long want,
    int timeout_ms);
/* Wait until it is at most most (a count going down, e.g. to 0). */
bool harness_wait_sql_at_most(const struct harness *h, const char *sql,
    long most, int timeout_ms);

struct tclient {
	void *ctx;
	void *sock;
	char node[80];
};

/* Connect as node with the given credit window and complete hello/welcome. */
void tclient_open(struct tclient *c, const struct harness *h, const char *node,
    unsigned window);
/* Connect without hello (for refusal tests). */
void tclient_open_raw(struct tclient *c, const struct harness *h, const char *node);
/* Send the hello of node with a credit window (0: the broker's default). */
void tclient_hello(struct tclient *c, const char *node, unsigned window);
void tclient_close(struct tclient *c);
void tclient_send(struct tclient *c, const Nara__Frame *f);
void tclient_send_raw(struct tclient *c, const void *data, size_t len);
/* Next frame within timeout_ms, NULL on timeout. Free with frame_free(). */
Nara__Frame *tclient_recv(struct tclient *c, int timeout_ms);
/* Next frame of the given kind, skipping (and freeing) others; NULL on timeout. */
Nara__Frame *tclient_expect(struct tclient *c, Nara__Frame__KindCase kind,
    int timeout_ms);
/* Submit and return the Accepted/Rejected answer (other frames skipped). */
Nara__Frame *tclient_submit(struct tclient *c, const Nara__Envelope *env);
/* The submit alone; its answer comes with the other frames. */
void tclient_submit_nowait(struct tclient *c, const Nara__Envelope *env);
void tclient_ack(struct tclient *c, const char *message_id, bool receipt);

#include "fixture.h"

#endif
