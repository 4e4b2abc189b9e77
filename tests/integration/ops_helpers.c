/*
 * ops_helpers.c — helpers for the operator tests (itest_naractl.c,
 * itest_metrics.c): a narad with its HTTP listener on a free port, naractl
 * runs with stdout and stderr apart, JSON field checks, a plain-socket HTTP
 * GET, and a line-by-line Prometheus text parser.
 */
#include "ops_helpers.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pbstr.h"
#include "tls_helpers.h"
#include "validate.h"

struct harness ops_h;
int ops_http_port;
bool ops_by_socket;

/* Replace the first `from` in h's config by `to`. */
void
ops_conf_replace(const struct harness *hh, const char *from, const char *to)
{
	char *text = NULL, *at;
	size_t len = 0;
	FILE *f = fopen(hh->conf, "r");

	cr_assert(f != NULL);
	cr_assert(getdelim(&text, &len, '\0', f) > 0);
	fclose(f);
	cr_assert((at = strstr(text, from)) != NULL, "%s not in config", from);
	f = fopen(hh->conf, "w");
	fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	fclose(f);
	free(text);
}

/* narad with extra [broker] keys, /metrics on a free port, and both the
 * control socket and the HTTP listener up. */
void
ops_start_tls(const char *extra, bool tls)
{
	char listen[64], sock[400];
	struct stat st;

	harness_init(&ops_h, extra);
	if (tls)
		tls_conf_runtime_dir(&ops_h);
	ops_http_port = tls_free_port();
	snprintf(listen, sizeof(listen), "http_listen = 127.0.0.1:%d\n",
	    ops_http_port);
	ops_conf_replace(&ops_h, "http_listen =\n", listen);
	harness_start(&ops_h);
	snprintf(sock, sizeof(sock), "%s/control.sock", ops_h.dir);
	for (int i = 0; i < 500 && stat(sock, &st) != 0; i++)
		usleep(10000);
	cr_assert_eq(stat(sock, &st), 0, "no control socket %s", sock);
	/* narad binds the HTTP listener after the control socket */
	tls_wait_listening(ops_http_port, ops_h.log);
}

void
ops_start(const char *extra)
{
	ops_start_tls(extra, false);
}

/* Run naractl -c CONF ARGS; stdout into out, stderr into err. */
int __attribute__((format(printf, 5, 6)))
ops_ctl(char *out, size_t out_len, char *err, size_t err_len, const char *fmt, ...)
{
	char bin[300], args[1024], errfile[400], how[420];
	va_list ap;
	int rc;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(errfile, sizeof(errfile), "%s/naractl.err", ops_h.dir);
	if (ops_by_socket)
		snprintf(how, sizeof(how), "--socket ipc://%s/control.sock", ops_h.dir);
	else
		snprintf(how, sizeof(how), "-c %s", ops_h.conf);
	rc = harness_run(out, out_len, "(%s %s %s 2>%s)",
	    harness_bin("naractl", bin, sizeof(bin)), how, args, errfile);
	if (err != NULL) {
		size_t n = 0;
		err[0] = '\0';
		if ((f = fopen(errfile, "r")) != NULL) {
			n = fread(err, 1, err_len - 1, f);
			err[n] = '\0';
			fclose(f);
		}
	}
	return rc;
}

/* naractl --json ARGS: must exit 0 and print one JSON object. */
json_t *
ops_ctl_json(const char *args)
{
	static char out[1 << 20];
	char err[2048];
	json_error_t jerr;
	json_t *j;
	int rc = ops_ctl(out, sizeof(out), err, sizeof(err), "--json %s", args);

	cr_assert_eq(rc, 0, "naractl --json %s: exit %d: %s", args, rc, err);
	j = json_loads(out, 0, &jerr);
	cr_assert(j != NULL && json_is_object(j), "naractl --json %s printed "
	    "no JSON object (%s): %s", args, jerr.text, out);
	return j;
}

/* A time as the views give it: RFC 3339 in UTC, ending in Z. */
static bool
is_utc_time(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && validate_time(s, NULL, NULL, NULL) == 0 &&
	    s[strlen(s) - 1] == 'Z';
}

/* Every documented field present with its JSON type ('s' string, 'i'
 * integer, 'b' boolean, 'o' object, 'a' array, 't' RFC 3339 UTC time,
 * 'I', 'S' and 'T' the same or null). */
void
ops_expect_fields(json_t *o, const char *spec)
{
	char key[64], type;
	int n;

	while (sscanf(spec, " %63[a-z0-9_]:%c%n", key, &type, &n) == 2) {
		json_t *v = json_object_get(o, key);
		bool ok;
		spec += n;
		switch (type) {
		case 's': ok = json_is_string(v); break;
		case 'i': ok = json_is_integer(v); break;
		case 'b': ok = json_is_boolean(v); break;
		case 'o': ok = json_is_object(v); break;
		case 'a': ok = json_is_array(v); break;
		case 'I': ok = json_is_integer(v) || json_is_null(v); break;
		case 'S': ok = json_is_string(v) || json_is_null(v); break;
		case 't': ok = is_utc_time(v); break;
		case 'T': ok = is_utc_time(v) || json_is_null(v); break;
		default: ok = false; break;
		}
		cr_assert(ok, "field %s missing or not of type %c", key, type);
	}
}

json_int_t
ops_jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

json_t *
ops_node_of(json_t *nodes_result, const char *id)
{
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(nodes_result, "nodes"), i, n)
		if (strcmp(json_string_value(json_object_get(n, "id")), id) == 0)
			return n;
	cr_assert_fail("node %s not listed", id);
	return NULL;
}

/* Submit n referrals Göteborg school health -> BUP; ids into ids. */
void
ops_submit_to_bup(struct tclient *c, struct fixture *fx, int n, char (*ids)[37])
{
	for (int i = 0; i < n; i++) {
		Nara__Envelope *e = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
		Nara__Frame *r;
		if (ids != NULL)
			snprintf(ids[i], 37, "%s", e->message_id);
		r = tclient_submit(c, e);
		cr_assert_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED);
		frame_free(&r);
	}
}

/* ---------------------------------------------------------------- http */

/* METHOD path from the metrics listener: status code and body into body,
 * or 0 when no status line came (not connected, or closed unanswered). */
int
ops_http_try(const char *method, const char *path, char *body, size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)ops_http_port) };
	char req[256], *buf = malloc(1 << 20);
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0), code = 0;

	cr_assert(fd >= 0 && buf != NULL);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
	    method, path);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    write(fd, req, strlen(req)) == (ssize_t)strlen(req))
		while (n < (1 << 20) - 1 &&
		    (r = read(fd, buf + n, (1 << 20) - 1 - n)) > 0)
			n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
		code = 0;
	char *b = strstr(buf, "\r\n\r\n");
	snprintf(body, len, "%s", b ? b + 4 : "");
	free(buf);
	return code;
}

int
ops_http_get(const char *method, const char *path, char *body, size_t len)
{
	int code = ops_http_try(method, path, body, len);

	cr_assert_neq(code, 0, "no status line from 127.0.0.1:%d for %s %s",
	    ops_http_port, method, path);
	return code;
}

/* ---------------------------------------------------------------- prometheus */


static bool
ops_name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	    (!first && isdigit((unsigned char)c));
}

/* name{label="value",...}: the label part is checked and copied. */
static const char *
ops_prom_labels(const char *p, char *out, size_t len)
{
	const char *ops_start = p;

	while (*p != '}') {
		cr_assert(ops_name_char(*p, true), "bad label name at %s", p);
		while (ops_name_char(*p, false))
			p++;
		cr_assert(p[0] == '=' && p[1] == '"', "label without =\" at %s", p);
		for (p += 2; *p != '"'; p++) {
			cr_assert(*p != '\0' && *p != '\n', "unterminated label value");
			if (*p == '\\')
				p++;
		}
		p++;
		if (*p == ',')
			p++;
	}
	snprintf(out, len, "%.*s", (int)(p - ops_start), ops_start);
	return p + 1;
}

static const char *
ops_prom_family(struct prom *pr, const char *name)
{
	for (size_t i = 0; i < pr->ntyped; i++) {
		size_t l = strlen(pr->typed[i]);
		if (strncmp(name, pr->typed[i], l) == 0 && (name[l] == '\0' ||
		    (strcmp(pr->type[i], "histogram") == 0 &&
		    (strcmp(name + l, "_bucket") == 0 || strcmp(name + l, "_sum")
		    == 0 || strcmp(name + l, "_count") == 0))))
			return pr->type[i];
	}
	return NULL;
}

static void
ops_prom_sample(struct prom *pr, const char *line)
{
	struct sample *s = &pr->v[pr->n++];
	const char *p = line;
	char *end;

	cr_assert(pr->n < 512, "too many samples");
	cr_assert(ops_name_char(*p, true), "bad metric name: %s", line);
	while (ops_name_char(*p, false))
		p++;
	snprintf(s->name, sizeof(s->name), "%.*s", (int)(p - line), line);
	s->labels[0] = '\0';
	if (*p == '{')
		p = ops_prom_labels(p + 1, s->labels, sizeof(s->labels));
	cr_assert_eq(*p, ' ', "no space before the value: %s", line);
	s->value = strtod(p + 1, &end);
	cr_assert(end != p + 1 && *end == '\0', "value not numeric: %s", line);
	cr_assert(ops_prom_family(pr, s->name) != NULL, "%s has no TYPE line",
	    s->name);
}

void
ops_prom_parse(char *text, struct prom *pr)
{
	char help[128] = "";

	memset(pr, 0, sizeof(*pr));
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char name[128], type[32];
		if (sscanf(line, "# HELP %127s", name) == 1) {
			cr_assert(strlen(line) > strlen(name) + 8, "HELP without text");
			snprintf(help, sizeof(help), "%s", name);
		} else if (sscanf(line, "# TYPE %127s %31s", name, type) == 2) {
			cr_assert_str_eq(help, name, "TYPE %s without HELP", name);
			cr_assert(strstr("counter gauge histogram summary untyped",
			    type) != NULL, "bad type %s", type);
			cr_assert(ops_prom_family(pr, name) == NULL, "%s typed twice", name);
			snprintf(pr->typed[pr->ntyped], 128, "%s", name);
			snprintf(pr->type[pr->ntyped++], 32, "%s", type);
		} else {
			cr_assert(line[0] != '#', "stray comment: %s", line);
			ops_prom_sample(pr, line);
		}
	}
}

/* The value of name{labels}; asserts that the sample exists. */
double
ops_prom_value(const struct prom *pr, const char *name, const char *labels)
{
	for (size_t i = 0; i < pr->n; i++)
		if (strcmp(pr->v[i].name, name) == 0 &&
		    strcmp(pr->v[i].labels, labels) == 0)
			return pr->v[i].value;
	cr_assert_fail("no sample %s{%s}", name, labels);
	return 0;
}

void
ops_scrape(struct prom *pr)
{
	static char body[1 << 20];

	cr_assert_eq(ops_http_get("GET", "/metrics", body, sizeof(body)), 200);
	ops_prom_parse(body, pr);
}

void
ops_send_nack(struct tclient *c, const char *message_id)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Nack nack = NARA__NACK__INIT;

	nack.message_id = pb_str(message_id);
	nack.code = pb_str("NR052");
	nack.text = pb_str("local system refused it");
	f.kind_case = NARA__FRAME__KIND_NACK;
	f.nack = &nack;
	tclient_send(c, &f);
}

/* Wait until the store says what sql counts reaches want. */
void
ops_wait_sql(const char *sql, long want)
{
	for (int i = 0; i < 1000 && harness_sql_long(&ops_h, sql) != want; i++)
		usleep(10000);
	cr_assert_eq(harness_sql_long(&ops_h, sql), want, "%s", sql);
}

int
ops_check(char *out, size_t len, const char *args)
{
	return ops_ctl(out, len, NULL, 0, "check %s", args);
}
