/*
 * itest_adapter_http_parse.c — how the adapter's HTTP API reads a
 * request's framing. Content-Length is 1*DIGIT (RFC 9112 section 6.3):
 * a value with a sign or anything else, or two that differ, is refused
 * with 400 and NR072, nothing is stored, and the connection is closed,
 * since two parsers that read such a value differently disagree on where
 * the body ends (request smuggling). Valid spellings (leading zeros,
 * blanks around the value, a repeated equal value) are taken.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "adapter_helpers.h"
#include "harness.h"
#include "pbjson.h"
#include "tls_helpers.h"

static struct harness h;
static struct tadapter gbg;
static struct webhook hook;
static int port;
static struct fixture *fx;

static bool
api_answers(void *arg)
{
	return http_request(port, "GET", "/", NULL, NULL) > 0;
}

static void
setup(void)
{
	char extra[512];

	harness_init(&h, "");
	harness_start(&h);
	webhook_start(&hook);
	fx = fixture_new();
	port = tls_free_port();
	snprintf(extra, sizeof(extra), "backend = http\n\n[http]\n"
	    "listen = 127.0.0.1:%d\nwebhook = http://127.0.0.1:%d/nara/in\n",
	    port, hook.port);
	tadapter_init(&gbg, T_GBG, h.router, extra);
	tadapter_start(&gbg);
	cr_assert(harness_wait(api_answers, NULL, 10000),
	    "the adapter's HTTP API never came up; see %s", gbg.log);
}

static void
teardown(void)
{
	fixture_free(&fx);
	tadapter_cleanup(&gbg);
	webhook_stop(&hook);
	harness_cleanup(&h);
}

TestSuite(adapter_http_parse, .init = setup, .fini = teardown, .timeout = 60);

struct answer {
	int status;
	char text[4096];
	bool closed;            /* the adapter closed the connection */
};

/* Send the request line and headers head (each line ending in CRLF, the
 * Content-Length lines included), the empty line and body; read the
 * answer until the adapter closes or 5 s pass without a byte. */
static void
raw_request(const char *head, const char *body, struct answer *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { 5, 0 };
	char req[16384];
	size_t n = 0;
	ssize_t r = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->status = -1;
	snprintf(req, sizeof(req), "%s\r\n%s", head, body);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	cr_assert(fd >= 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (n < sizeof(a->text) - 1 && (r = read(fd, a->text + n,
	    sizeof(a->text) - 1 - n)) > 0)
		n += (size_t)r;
	a->text[n] = '\0';
	a->closed = r == 0;
	close(fd);
	sscanf(a->text, "HTTP/1.1 %d", &a->status);
}

#define POST_HEAD "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n" \
	"Content-Type: application/json\r\n"

/* A fresh envelope's JSON (malloc'd) and its id (into id, 40 bytes). */
static char *
fresh_json(char id[40])
{
	Nara__Envelope *env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);

	snprintf(id, 40, "%s", env->message_id);
	return pbjson_print(&env->base);
}

/* GET /v1/messages/id: 200 when the adapter stored it, 404 if not. */
static int
stored_status(const char *id)
{
	char path[80];

	snprintf(path, sizeof(path), "/v1/messages/%s", id);
	return http_request(port, "GET", path, NULL, NULL);
}

/* tpl with every '#' replaced by len, into out. */
static void
fill(const char *tpl, size_t len, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *tpl != '\0' && n + 24 < outlen; tpl++) {
		if (*tpl == '#')
			n += (size_t)snprintf(out + n, outlen - n, "%zu", len);
		else
			out[n++] = *tpl;
	}
	out[n] = '\0';
}

/* Each template (# for the body's length) as the Content-Length header
 * lines of a POST of a valid message: want_status, and for a refusal the
 * code, the reason and a closed connection. */
static void
expect_lengths(const char *const *tpls, int want_status)
{
	for (size_t i = 0; tpls[i] != NULL; i++) {
		char id[40], lines[256], head[1024];
		char *js = fresh_json(id);
		struct answer a;

		fill(tpls[i], strlen(js), lines, sizeof(lines));
		/* a refused request's connection must close by itself */
		snprintf(head, sizeof(head), "%s%s%s", POST_HEAD, lines,
		    want_status == 202 ? "Connection: close\r\n" : "");
		raw_request(head, js, &a);
		free(js);
		cr_expect_eq(a.status, want_status, "Content-Length lines "
		    "\"%s\": %s", lines, a.text);
		if (want_status == 202) {
			cr_expect_eq(stored_status(id), 200, "\"%s\"", lines);
			continue;
		}
		cr_expect(strstr(a.text, "HTTP/1.1 400 Bad Request\r\n") == a.text,
		    "%s", a.text);
		cr_expect(strstr(a.text, "\"NR072\"") != NULL, "%s", a.text);
		cr_expect(strstr(a.text, "Content-Length must be decimal digits")
		    != NULL, "%s", a.text);
		cr_expect(a.closed, "\"%s\": connection kept after a refused "
		    "length", lines);
		cr_expect_eq(stored_status(id), 404, "\"%s\": a message with a "
		    "refused Content-Length was stored", lines);
	}
}

/* (A "+N" was taken as N: the front read no body, evhttp read N bytes and
 * stored the message.) */
Test(adapter_http_parse, content_length_not_digits_refused)
{
	static const char *const bad[] = {
		"Content-Length: +#\r\n",
		"Content-Length: -#\r\n",
		"Content-Length: #x\r\n",
		"Content-Length: 0x#\r\n",
		"Content-Length: #;q=1\r\n",
		"Content-Length: #, #\r\n",
		"Content-Length: # 1\r\n",
		"Content-Length:\r\n",
		"Content-Length: #\r\n 1\r\n",
		"Content-Length: #\r\nContent-Length: 1#\r\n",
		NULL,
	};

	expect_lengths(bad, 400);
}

Test(adapter_http_parse, content_length_valid_spellings_taken)
{
	static const char *const good[] = {
		"Content-Length: #\r\n",
		"content-length:#\r\n",
		"Content-Length: 000# \t\r\n",
		"Content-Length: #\r\nContent-Length: #\r\n",
		NULL,
	};

	expect_lengths(good, 202);
}

/* A smuggling attempt: "+0" with a second request hidden in what follows
 * is one refused request; the hidden one is never served. */
Test(adapter_http_parse, hidden_request_after_signed_length_not_served)
{
	char id[40], head[1024], hidden[8192];
	char *js = fresh_json(id);
	struct answer a;

	snprintf(hidden, sizeof(hidden), "%sContent-Length: %zu\r\n\r\n%s",
	    POST_HEAD, strlen(js), js);
	free(js);
	snprintf(head, sizeof(head), "%sContent-Length: +%zu\r\n", POST_HEAD,
	    (size_t)0);
	raw_request(head, hidden, &a);
	cr_expect_eq(a.status, 400, "%s", a.text);
	cr_expect(strstr(a.text, "HTTP/1.1 202") == NULL, "the hidden request "
	    "was served: %s", a.text);
	cr_expect(a.closed);
	cr_expect_eq(stored_status(id), 404, "the hidden request's message "
	    "was stored");
}

/* evhttp ends a header line at a bare LF, the front's checks did not: a
 * "+N" length behind one reached evhttp unchecked and the message was
 * stored. A header block not framed in CRLF lines is refused. */
Test(adapter_http_parse, header_line_not_ended_by_crlf_refused)
{
	static const char *const bad[] = {
		"X-A: b\nContent-Length: +#\r\n",     /* bare LF hides a length */
		"X-A: b\rContent-Length: #\r\n",      /* bare CR */
		"Content-Length: #\r\nX-A: b\r\n c\r\n", /* folded line */
		NULL,
	};

	for (size_t i = 0; bad[i] != NULL; i++) {
		char id[40], lines[256], head[1024];
		char *js = fresh_json(id);
		struct answer a;

		fill(bad[i], strlen(js), lines, sizeof(lines));
		snprintf(head, sizeof(head), "%s%s", POST_HEAD, lines);
		raw_request(head, js, &a);
		free(js);
		cr_expect_eq(a.status, 400, "\"%s\": %s", lines, a.text);
		cr_expect(strstr(a.text, "\"NR072\"") != NULL, "%s", a.text);
		cr_expect(strstr(a.text, "must end in CRLF") != NULL, "%s",
		    a.text);
		cr_expect(a.closed, "\"%s\": connection kept", lines);
		cr_expect_eq(stored_status(id), 404, "\"%s\": stored", lines);
	}
}
