/*
 * ops_helpers.h — shared by the operator tests: start narad with /metrics
 * on a free port, run naractl, check JSON fields, GET over HTTP, parse
 * Prometheus text.
 */
#ifndef NARA_TEST_OPS_HELPERS_H
#define NARA_TEST_OPS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "harness.h"

extern struct harness ops_h;  /* the narad of the running test */
extern int ops_http_port;     /* its http_listen port */
extern bool ops_by_socket;    /* naractl --socket instead of -c */

/* Replace the first `from` in hh's config by `to`. */
void ops_conf_replace(const struct harness *hh, const char *from, const char *to);
/* narad with extra [broker] keys (and [tls] when tls), /metrics on a free
 * port, control socket up. */
void ops_start_tls(const char *extra, bool tls);
void ops_start(const char *extra);
/* naractl ARGS: stdout into out, stderr into err (may be NULL); status. */
int ops_ctl(char *out, size_t out_len, char *err, size_t err_len,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* naractl --json ARGS: must exit 0 and print one JSON object. */
json_t *ops_ctl_json(const char *args);
/* naractl check ARGS: exit status; the line into out. */
int ops_check(char *out, size_t len, const char *args);
/* "key:t key:t ...": every field present with its type (s i b o a, t an
 * RFC 3339 UTC time; I, S and T also allow null). */
void ops_expect_fields(json_t *o, const char *spec);
json_int_t ops_jint(json_t *o, const char *key);
json_t *ops_node_of(json_t *nodes_result, const char *id);
/* n accepted referrals Göteborg school health -> BUP; ids may be NULL. */
void ops_submit_to_bup(struct tclient *c, struct fixture *fx, int n,
    char (*ids)[37]);
void ops_send_nack(struct tclient *c, const char *message_id);
/* Wait until the first value of sql is want. */
void ops_wait_sql(const char *sql, long want);
/* METHOD path from the HTTP listener: status code, body into body; the
 * test fails without a status line. */
int ops_http_get(const char *method, const char *path, char *body, size_t len);
/* The same, 0 without a status line (connection refused or closed
 * unanswered), for tests that wait until narad answers. */
int ops_http_try(const char *method, const char *path, char *body, size_t len);

struct sample {
	char name[128];
	char labels[256];          /* as written between the braces */
	double value;
};

struct prom {
	struct sample v[512];
	size_t n;
	char typed[64][128];       /* metric families with a TYPE line */
	char type[64][32];
	size_t ntyped;
};


/* Parse text (modified) as Prometheus text format, asserting HELP/TYPE
 * lines, names, labels and numeric values. */
void ops_prom_parse(char *text, struct prom *pr);
/* The value of name{labels}; asserts that the sample exists. */
double ops_prom_value(const struct prom *pr, const char *name, const char *labels);
/* GET /metrics and parse it. */
void ops_scrape(struct prom *pr);

#endif
