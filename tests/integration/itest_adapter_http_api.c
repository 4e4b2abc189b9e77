/*
 * itest_adapter_http_api.c — the HTTP API of a nara-adapter with the HTTP
 * backend, through a real narad (adapter_http_suite.h): refusals with
 * their codes, a reused id that conflicts, every answer JSON with a code,
 * a chunked body refused and kept-alive requests answered, a header flood
 * refused in bounded memory, slow and surplus connections closed,
 * requests a web page could make refused, the API on a unix socket, and
 * the TLS tunnel's local socket private by default. Messages through to
 * the webhook and back are in itest_adapter_http.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "adapter_helpers.h"
#include "adapter_http_suite.h"
#include "harness.h"
#include "pbjson.h"
#include "tls_helpers.h"

TestSuite(adapter_http, .init = setup, .fini = teardown, .timeout = 180);

/* /metrics on port (an int) answers 200. */
static bool
metrics_answer(void *port)
{
	return http_request(*(int *)port, "GET", "/metrics", NULL, NULL) == 200;
}

static void
expect_refusal(int status, const char *body, int want_status,
    const char *code)
{
	cr_expect_eq(status, want_status, "%s", body ? body : "");
	cr_expect(body != NULL && strstr(body, code) != NULL, "want %s: %s",
	    code, body ? body : "");
}

Test(adapter_http, refusals_carry_codes)
{
	Nara__Envelope *env;
	char *body = NULL, big[80 * 1024];
	int st;

	start_both();
	st = http_request(port_gbg, "POST", "/v1/messages", "{ nope", &body);
	expect_refusal(st, body, 400, "NR024");
	free(body);
	st = http_request(port_gbg, "POST", "/v1/messages", "{}", &body);
	expect_refusal(st, body, 400, "NR010");
	free(body);
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	st = http_request(port_gbg, "POST", "/v1/messages", big, &body);
	expect_refusal(st, body, 413, "NR020");
	free(body);
	st = http_request(port_gbg, "GET", "/v1/messages/not-a-uuid", NULL, &body);
	expect_refusal(st, body, 400, "NR011");
	free(body);
	st = http_request(port_gbg, "GET",
	    "/v1/messages/6f1c1f43-8a41-4a5e-9a3c-0d2b1f9e7a10", NULL, &body);
	expect_refusal(st, body, 404, "NR011");
	free(body);
	/* the same id with other content */
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	env->referral->reason = (char *)"another reason";
	st = post(port_gbg, env, &body);
	expect_refusal(st, body, 409, "NR033");
	free(body);
	/* refused by narad: the state says so with the code */
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_BORAS_EH, T_BUP);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_state(port_gbg, env->message_id, "rejected", 10000));
	cr_expect_str_eq(get_field(port_gbg, env->message_id, "code"), "NR030");
}

static bool
path_exists(void *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* With tls = yes and no tunnel_dir, the tunnel's local socket is in a
 * 0700 directory beside the state file: on 127.0.0.1 any local user could
 * reach narad through it as this node. */
Test(adapter_http, tunnel_socket_private_by_default)
{
	char pki[64], broker[64], extra[512], dir[400], sock[420];
	struct stat st;

	tls_pki_make(pki, (const char *const[]){ T_GBG, NULL });
	/* no narad there: the tunnel listens all the same */
	snprintf(broker, sizeof(broker), "127.0.0.1:%d", tls_free_port());
	snprintf(extra, sizeof(extra), "ca = %s/ca.pem\ncert = %s/%s.pem\n"
	    "key = %s/%s.key\n", pki, pki, T_GBG, pki, T_GBG);
	unsetenv("RUNTIME_DIRECTORY");
	tadapter_init(&gbg, T_GBG, broker, extra);
	tadapter_start(&gbg);
	snprintf(dir, sizeof(dir), "%s.tunnel", gbg.state);
	snprintf(sock, sizeof(sock), "%s/tunnel.sock", dir);
	cr_assert(harness_wait(path_exists, sock, 10000), "no %s; see %s", sock,
	    gbg.log);
	cr_assert_eq(lstat(dir, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700, "%s has mode %o", dir,
	    (unsigned)(st.st_mode & 0777));
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
}

static bool
unix_api_answers(void *sock)
{
	return http_request_unix(sock, "GET", "/", NULL, NULL) > 0;
}

Test(adapter_http, unix_socket_api)
{
	char sdir[64], sock[128], extra[512], path[128], cmd[128], *body = NULL;
	Nara__Envelope *env;
	struct tadapter ux;
	int st = -1;
	char *js;

	snprintf(sdir, sizeof(sdir), "/tmp/nara-sock-XXXXXX");
	cr_assert_not_null(mkdtemp(sdir));
	snprintf(sock, sizeof(sock), "%s/api.sock", sdir);
	snprintf(extra, sizeof(extra), "backend = http\n\n[http]\n"
	    "listen = unix:%s\nwebhook = http://127.0.0.1:%d/x\n", sock,
	    hook_gbg.port);
	tadapter_init(&ux, T_GBG, h.router, extra);
	tadapter_start(&ux);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	js = pbjson_print(&env->base);
	cr_assert(harness_wait(unix_api_answers, sock, 6000), "no API on %s; "
	    "see %s", sock, ux.log);
	st = http_request_unix(sock, "POST", "/v1/messages", js, &body);
	free(body);
	body = NULL;
	free(js);
	cr_assert_eq(st, 202, "POST over %s answered %d; see %s", sock, st, ux.log);
	snprintf(path, sizeof(path), "/v1/messages/%s", env->message_id);
	cr_expect_eq(http_request_unix(sock, "GET", path, NULL, &body), 200);
	cr_expect(body != NULL && strstr(body, env->message_id) != NULL);
	free(body);
	cr_expect_eq(tadapter_stop(&ux, SIGTERM), 0);
	cr_expect_neq(access(sock, F_OK), 0, "socket left behind");
	tadapter_cleanup(&ux);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
	cr_expect_eq(system(cmd), 0);
}

Test(adapter_http, reused_id_after_acceptance_conflicts)
{
	Nara__Envelope *env;
	char *body = NULL;
	int st;

	start_both();
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_state(port_gbg, env->message_id, "delivered", 20000));
	cr_expect_eq(post(port_gbg, env, NULL), 202, "the same message again");
	env->referral->reason = (char *)"another reason";
	st = post(port_gbg, env, &body);
	expect_refusal(st, body, 409, "NR033");
	free(body);
}

Test(adapter_http, every_answer_is_json_with_a_code)
{
	static const struct {
		const char *method, *path;
		int status;
		const char *line;
	} cases[] = {
		{ "PUT", "/v1/messages", 405, "HTTP/1.1 405 Method Not Allowed" },
		{ "DELETE", "/v1/messages/6f1c1f43-8a41-4a5e-9a3c-0d2b1f9e7a10",
		    405, "HTTP/1.1 405 Method Not Allowed" },
		{ "GET", "/nowhere", 404, "HTTP/1.1 404 Not Found" },
		{ "GET", "/v1/messages/6f1c1f43-8a41-4a5e-9a3c-0d2b1f9e7a10", 404,
		    "HTTP/1.1 404 Not Found" },
	};
	Nara__Envelope *env;
	char *body = NULL;

	start_both();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = http_request(port_gbg, cases[i].method, cases[i].path,
		    NULL, &body);
		json_t *o = body ? json_loads(body, 0, NULL) : NULL;

		cr_expect_eq(st, cases[i].status, "%s %s", cases[i].method,
		    cases[i].path);
		cr_expect_str_eq(http_last_status_line, cases[i].line);
		cr_expect(o != NULL && json_is_string(json_object_get(o, "code")),
		    "%s %s: not JSON with a code: %s", cases[i].method,
		    cases[i].path, body ? body : "");
		json_decref(o);
		free(body);
		body = NULL;
	}
	/* far over max_message_bytes (64K): JSON, not libevent's HTML page */
	size_t big_len = 8u << 20;
	char *big = malloc(big_len + 1);
	json_t *o;

	cr_assert_not_null(big);
	memset(big, ' ', big_len);
	big[0] = '{';
	big[big_len - 1] = '}';
	big[big_len] = '\0';
	cr_expect_eq(http_request(port_gbg, "POST", "/v1/messages", big, &body),
	    413);
	free(big);
	cr_expect_str_eq(http_last_status_line, "HTTP/1.1 413 Payload Too Large");
	o = body ? json_loads(body, 0, NULL) : NULL;
	cr_expect_str_eq(json_string_value(json_object_get(o, "code")), "NR020",
	    "%s", body ? body : "");
	json_decref(o);
	free(body);
	body = NULL;
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_expect_str_eq(http_last_status_line, "HTTP/1.1 202 Accepted");
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
}

/* A chunked body is refused with JSON (Content-Length is required), and
 * two requests on one kept-alive connection are both answered. */
Test(adapter_http, chunked_refused_keepalive_answered)
{
	static const char chunked[] = "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
	static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	const char *reqs[] = { chunked, two };
	char resp[8192];

	start_both();
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		size_t n = 0;
		ssize_t r;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)port_gbg);
		cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		cr_assert_eq(write(fd, reqs[i], strlen(reqs[i])),
		    (ssize_t)strlen(reqs[i]));
		while (n < sizeof(resp) - 1 && (r = read(fd, resp + n,
		    sizeof(resp) - 1 - n)) > 0)
			n += (size_t)r;
		resp[n] = '\0';
		close(fd);
		if (i == 0) {
			cr_expect(strncmp(resp, "HTTP/1.1 411 Length Required", 28)
			    == 0, "%s", resp);
			cr_expect(strstr(resp, "\"NR072\"") != NULL, "%s", resp);
		} else {
			cr_expect(strstr(resp, "GET /a") != NULL &&
			    strstr(resp, "GET /b") != NULL, "%s", resp);
		}
	}
}

/* The peak resident memory (VmHWM) of pid in KiB, or -1. */
static long
peak_kb(pid_t pid)
{
	char path[64], *text, *hwm;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((text = file_slurp(path, NULL)) != NULL &&
	    (hwm = strstr(text, "VmHWM:")) != NULL)
		kb = atol(hwm + 6);
	free(text);
	return kb;
}

/* Read what the peer sends until it closes or is silent for timeout_ms. */
static size_t
read_answer(int fd, char *buf, size_t len, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, timeout_ms % 1000 * 1000 };
	size_t n = 0;
	ssize_t r;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

/* 8 MiB of header lines: refused with 431 once the block passes 16 KiB,
 * the rest dropped as it comes, and the adapter's memory stays where it
 * was (libevent alone would keep every line). */
Test(adapter_http, header_flood_refused_in_bounded_memory)
{
	static char line[1024];
	const char *start = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
	char resp[4096];
	long before, after;
	size_t sent = 0;
	int fd;

	/* built with AddressSanitizer, an adapter keeps freed memory in a
	 * quarantine, so its peak would grow with the bytes it read however
	 * few it keeps: these keep none (no effect on other builds) */
	setenv("ASAN_OPTIONS", "quarantine_size_mb=0", 0);
	start_both();
	before = peak_kb(gbg.pid);
	cr_assert_geq(fd = tcp_connect_local(port_gbg), 0);
	cr_assert_eq(write(fd, start, strlen(start)), (ssize_t)strlen(start));
	memset(line, 'a', sizeof(line));
	memcpy(line, "X-Pad: ", 7);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	while (sent < 8u << 20) {
		ssize_t r = send(fd, line, sizeof(line), MSG_NOSIGNAL);

		if (r <= 0)
			break;   /* closed by the adapter: also bounded */
		sent += (size_t)r;
	}
	read_answer(fd, resp, sizeof(resp), 10000);
	close(fd);
	after = peak_kb(gbg.pid);
	cr_expect(strncmp(resp, "HTTP/1.1 431 Request Header Fields Too "
	    "Large", 44) == 0, "after %zu bytes of headers: %s", sent, resp);
	cr_expect(strstr(resp, "\"NR072\"") != NULL, "%s", resp);
	cr_expect_lt(after - before, 2048, "peak memory grew by %ld KiB for "
	    "%zu bytes of headers", after - before, sent);
	cr_expect_eq(http_request(port_gbg, "GET", "/metrics", NULL, NULL), 200);
}

/* Seconds until the adapter closes fd while a byte of a request body is
 * sent every second; -1 if it is still open after limit_s. */
static int
closed_after(int fd, int limit_s)
{
	struct timespec t0, t1;
	char c;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };

		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > limit_s)
			return -1;
		/* the drip is the client under test, poll its clock */
		if (poll(&p, 1, 1000) == 1 && recv(fd, &c, 1, 0) <= 0)
			return (int)(t1.tv_sec - t0.tv_sec);
		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
			return (int)(t1.tv_sec - t0.tv_sec);
	}
}

/*
 * A body that drips in a byte a second is cut off 10 s after the
 * connection's start (evhttp's idle timer never fires on it), and a
 * connection beyond 64 open ones is closed at once; then the API serves
 * again.
 */
Test(adapter_http, slow_and_surplus_connections_closed)
{
	static const char head[] = "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1000\r\n\r\n";
	int fds[64], fd, n;
	char c;

	start_both();
	cr_assert_geq(fd = tcp_connect_local(port_gbg), 0);
	cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
	n = closed_after(fd, 20);
	close(fd);
	cr_expect(n >= 9 && n <= 13, "slow body closed after %d s (-1: "
	    "never)", n);
	for (int i = 0; i < 64; i++)
		cr_assert_geq(fds[i] = tcp_connect_local(port_gbg), 0);
	cr_assert_geq(fd = tcp_connect_local(port_gbg), 0);
	{
		struct pollfd p = { fd, POLLIN, 0 };

		cr_expect(poll(&p, 1, 3000) == 1 && recv(fd, &c, 1, 0) == 0,
		    "the 65th connection was not closed");
	}
	close(fd);
	for (int i = 0; i < 64; i++)
		close(fds[i]);
	cr_expect_geq(tadapter_log_count(&gbg, "closed a new connection"), 1);
	cr_expect(harness_wait(metrics_answer, &port_gbg, 2000), "the API "
	    "did not answer once the connections were gone");
}

/* One raw request to the gbg adapter's API; the answer's HTTP status. */
static int
raw_status(const char *head, const char *body)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char req[16384], resp[4096];
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = -1;

	snprintf(req, sizeof(req), "%sContent-Length: %zu\r\nConnection: "
	    "close\r\n\r\n%s", head, strlen(body), body);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port_gbg);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (n < sizeof(resp) - 1 && (r = read(fd, resp + n,
	    sizeof(resp) - 1 - n)) > 0)
		n += (size_t)r;
	resp[n] = '\0';
	close(fd);
	sscanf(resp, "HTTP/1.1 %d", &status);
	return status;
}

/* The API is for the local system's programs: a web page in a browser on
 * the host cannot submit as this node (a text/plain form post needs no
 * CORS preflight; a name rebound to 127.0.0.1 makes the page same-origin).
 * Requests with Origin, a Host that is not a loopback name, or a POST not
 * declared JSON are refused, and nothing of them is stored. (They were
 * taken.) */
Test(adapter_http, requests_a_web_page_could_make_are_refused)
{
	Nara__Envelope *env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP);
	char *js = pbjson_print(&env->base), path[80];

	start_both();
	cr_expect_eq(raw_status("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1"
	    "\r\nOrigin: http://evil.example\r\nContent-Type: application/json"
	    "\r\n", js), 403);
	cr_expect_eq(raw_status("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1"
	    "\r\nContent-Type: text/plain\r\n", js), 415);
	cr_expect_eq(raw_status("POST /v1/messages HTTP/1.1\r\nHost: "
	    "evil.example:8780\r\nContent-Type: application/json\r\n", js), 403);
	snprintf(path, sizeof(path), "/v1/messages/%s", env->message_id);
	cr_expect_eq(http_request(port_gbg, "GET", path, NULL, NULL), 404,
	    "a refused request was stored");
	cr_expect_eq(raw_status("POST /v1/messages HTTP/1.1\r\nHost: "
	    "localhost:1\r\nContent-Type: Application/JSON; charset=utf-8\r\n",
	    js), 202);
	free(js);
}
