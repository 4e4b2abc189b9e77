/*
 * pgserver.h — a real PostgreSQL server for a test: initdb into a
 * temporary directory, listening on 127.0.0.1 at a free port (its unix
 * socket inside that directory), run as an unprivileged user (nobody)
 * when the test runs as root. A second server can be made a streaming
 * standby of the first (pg_basebackup -R, synchronous_standby_names on
 * the primary) and promoted. Readiness is waited for by connecting with a
 * deadline, never by sleeping.
 *
 * The server binaries are found in PGBIN, else in
 * /usr/lib/postgresql/15/bin (Debian postgresql-15).
 */
#ifndef NARA_TEST_PGSERVER_H
#define NARA_TEST_PGSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pgserver {
	char dir[128];            /* temporary directory, removed at cleanup */
	char data[160];           /* dir/data: the cluster */
	char log[160];            /* dir/server.log */
	int port;
	pid_t pid;                /* the postmaster, 0 when not running */
	char conninfo[256];       /* to the database made by pgserver_start */
	char dbname[64];
};

/* initdb, start and create database dbname; 0, or -1 with the reason on
 * stderr (the test then fails). */
int pgserver_start(struct pgserver *s, const char *dbname);
/* Start the (stopped) server again on its data directory; 0 or -1. */
int pgserver_restart(struct pgserver *s);
/* Fast shutdown (SIGINT) and wait; 0 or -1. */
int pgserver_stop(struct pgserver *s);
/* kill -9 the server: the postmaster's children (backends, walsenders)
 * and the postmaster, by pid. */
void pgserver_kill(struct pgserver *s);
/* SIGSTOP (frozen) or SIGCONT the server, postmaster and backends: a
 * host that stops answering but keeps its connections open. */
void pgserver_freeze(struct pgserver *s, bool frozen);
/* Make standby a streaming replica of primary (pg_basebackup -R into a
 * directory of its own, started on its own port) and name it in the
 * primary's synchronous_standby_names; 0 or -1. */
int pgserver_standby(struct pgserver *primary, struct pgserver *standby);
/* The same on the given port (0: a free one), e.g. the port of a primary
 * that died, so that a conninfo naming both ports finds it again. */
int pgserver_standby_at(struct pgserver *primary, struct pgserver *standby,
    int port);
/* pg_ctl promote on a standby and wait until it accepts writes; 0 or -1. */
int pgserver_promote(struct pgserver *s);
/* Stop (kill -9 if need be) and remove the directory. */
void pgserver_cleanup(struct pgserver *s);

/* Run sql on conninfo: the first column of the first row as a number in
 * *out (may be NULL), 0; -1 with the error on stderr. */
int pgserver_sql(const char *conninfo, const char *sql, long long *out);
/* The same with the first value as text into buf ("" for none). */
int pgserver_sql_text(const char *conninfo, const char *sql, char *buf,
    size_t len);
/* A new empty database on the server; its conninfo into buf. 0 or -1. */
int pgserver_create_db(const struct pgserver *s, const char *name, char *buf,
    size_t len);

#endif
