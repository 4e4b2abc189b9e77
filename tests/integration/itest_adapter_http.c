/*
 * itest_adapter_http.c — two nara-adapters with the HTTP backend through a
 * real narad: messages POSTed to the API, handed to an in-test webhook with
 * an Idempotency-Key, receipts both to the webhook and in GET; refusals
 * with their codes; a webhook that fails or hangs is retried and the
 * message is not acked meanwhile; the adapter's own /metrics.
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
#include "harness.h"
#include "ops_helpers.h"
#include "pbjson.h"
#include "tls_helpers.h"

static struct harness h;
static struct tadapter gbg, bup;
static struct webhook hook_gbg, hook_bup;
static int port_gbg, port_bup;
static struct fixture *fx;

static void
http_adapter(struct tadapter *a, const char *node, int *port,
    struct webhook *w)
{
	char extra[512];

	*port = tls_free_port();
	snprintf(extra, sizeof(extra), "backend = http\nmax_message_bytes = 64K\n"
	    "\n[http]\nlisten = 127.0.0.1:%d\nwebhook = http://127.0.0.1:%d/nara/in\n"
	    "webhook_timeout = 1\n", *port, w->port);
	tadapter_init(a, node, h.router, extra);
}

static void
setup(void)
{
	harness_init(&h, "ack_timeout = 30\n");
	harness_start(&h);
	webhook_start(&hook_gbg);
	memset(&hook_bup, 0, sizeof(hook_bup));
	fx = fixture_new();
}

static void
teardown(void)
{
	fixture_free(&fx);
	tadapter_cleanup(&gbg);
	tadapter_cleanup(&bup);
	webhook_stop(&hook_gbg);
	webhook_stop(&hook_bup);
	harness_cleanup(&h);
}

TestSuite(adapter_http, .init = setup, .fini = teardown, .timeout = 180);

/* Start both adapters (bup's webhook configured by the test first). */
static void
start_both(void)
{
	webhook_start(&hook_bup);   /* on hook_bup.port if the test set one */
	http_adapter(&gbg, T_GBG, &port_gbg, &hook_gbg);
	http_adapter(&bup, T_BUP, &port_bup, &hook_bup);
	tadapter_start(&gbg);
	tadapter_start(&bup);
	for (int i = 0; i < 500; i++) {
		if (http_request(port_gbg, "GET", "/", NULL, NULL) > 0 &&
		    http_request(port_bup, "GET", "/", NULL, NULL) > 0)
			return;
		usleep(20000);
	}
	cr_assert_fail("adapters' HTTP API never came up; see %s", gbg.log);
}

/* The API on port (an int) answers at all; /metrics answers 200. */
static bool
api_answers(void *port)
{
	return http_request(*(int *)port, "GET", "/", NULL, NULL) > 0;
}

static bool
metrics_answer(void *port)
{
	return http_request(*(int *)port, "GET", "/metrics", NULL, NULL) == 200;
}

/* POST env to port; returns the HTTP status, body into *body. */
static int
post(int port, const Nara__Envelope *env, char **body)
{
	char *js = pbjson_print(&env->base);
	int status = http_request(port, "POST", "/v1/messages", js, body);

	free(js);
	return status;
}

/* GET /v1/messages/id and return member key of the answer ("" if none). */
static const char *
get_field(int port, const char *id, const char *key)
{
	static char out[256];
	char path[128], *body = NULL;
	json_t *o, *v;

	snprintf(path, sizeof(path), "/v1/messages/%s", id);
	out[0] = '\0';
	if (http_request(port, "GET", path, NULL, &body) != 200 || body == NULL) {
		free(body);
		return out;
	}
	o = json_loads(body, 0, NULL);
	if ((v = json_object_get(o, key)) != NULL && json_is_string(v))
		snprintf(out, sizeof(out), "%s", json_string_value(v));
	else if (v != NULL && json_is_object(v))
		snprintf(out, sizeof(out), "%s", json_string_value(json_object_get(v,
		    "outcome")));
	json_decref(o);
	free(body);
	return out;
}

static bool
wait_state(int port, const char *id, const char *state, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 50; i++) {
		if (strcmp(get_field(port, id, "state"), state) == 0)
			return true;
		usleep(50000);
	}
	return false;
}

static bool
wait_hits(struct webhook *w, const char *key, int answered, int min,
    int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 50; i++) {
		if (webhook_count(w, key, answered) >= min)
			return true;
		usleep(50000);
	}
	return false;
}

Test(adapter_http, every_type_round_trip_with_receipts)
{
	static const struct {
		Nara__MessageType type;
		bool from_gbg;
		const char *sender, *recipient;
	} cases[] = {
		{ NARA__MESSAGE_TYPE__REFERRAL, true, T_GBG_EH, T_BUP },
		{ NARA__MESSAGE_TYPE__CONSULTATION_REQUEST, true, T_GBG_EH, T_BUP },
		{ NARA__MESSAGE_TYPE__SIP_INVITATION, true, T_GBG_EH, T_BUP },
		{ NARA__MESSAGE_TYPE__REFERRAL_RESPONSE, true, T_GBG_SOC, T_BUP },
		{ NARA__MESSAGE_TYPE__REPORT_OF_CONCERN, false, T_BUP, T_GBG_SOC },
		{ NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE, false, T_BUP, T_GBG_EH },
		{ NARA__MESSAGE_TYPE__SIP_RESPONSE, false, T_BUP, T_GBG_EH },
	};

	start_both();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Nara__Envelope *env = fixture_envelope(fx, cases[i].type,
		    cases[i].sender, cases[i].recipient);
		struct webhook *to = cases[i].from_gbg ? &hook_bup : &hook_gbg;
		struct webhook *back = cases[i].from_gbg ? &hook_gbg : &hook_bup;
		int port = cases[i].from_gbg ? port_gbg : port_bup;
		char id[37], rkey[64], *body = NULL;

		snprintf(id, sizeof(id), "%s", env->message_id);
		snprintf(rkey, sizeof(rkey), "receipt-%s", id);
		cr_assert_eq(post(port, env, &body), 202, "%s", body);
		cr_expect(strstr(body, id) != NULL, "%s", body);
		free(body);
		cr_assert(wait_hits(to, id, 200, 1, 20000), "%s never reached the "
		    "webhook", id);
		cr_assert(wait_hits(back, rkey, 200, 1, 20000), "no receipt "
		    "for %s at the sender's webhook", id);
		cr_assert(wait_state(port, id, "delivered", 10000));
		cr_expect_str_eq(get_field(port, id, "receipt"), "OUTCOME_DELIVERED");
		cr_expect_eq(webhook_count(to, id, -1), 1, "posted twice");
	}
	pthread_mutex_lock(&hook_bup.lock);
	cr_expect_str_eq(hook_bup.hits[0].kind, "message");
	cr_expect(strstr(hook_bup.hits[0].body, "\"type\": \"REFERRAL\"") != NULL,
	    "%s", hook_bup.hits[0].body);
	pthread_mutex_unlock(&hook_bup.lock);
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
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

Test(adapter_http, webhook_failures_retried_not_acked)
{
	Nara__Envelope *env;
	char id[37];

	hook_bup.fail_first = 3;
	hook_bup.hang_first = 1;
	hook_bup.hang_ms = 2500;
	start_both();
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_hits(&hook_bup, id, 500, 3, 20000), "500s not retried");
	/* while the local system fails, narad has no ack: no receipt yet */
	cr_expect_str_eq(get_field(port_gbg, id, "state"), "accepted");
	cr_expect_eq(harness_sql_long(&h, "select count(*) from receipts"), 0);
	cr_assert(wait_hits(&hook_bup, id, 0, 1, 20000), "no attempt after 500s");
	cr_expect_str_eq(get_field(port_gbg, id, "state"), "accepted");
	cr_assert(wait_hits(&hook_bup, id, 200, 1, 30000), "never retried "
	    "after the timeout");
	cr_assert(wait_state(port_gbg, id, "delivered", 20000));
	cr_expect_eq(webhook_count(&hook_bup, id, 200), 1);
	cr_expect_eq(webhook_count(&hook_bup, id, -1), 5);
	cr_expect_geq(tadapter_log_count(&bup, "webhook did not take"), 4);
}

Test(adapter_http, local_refusal_becomes_nack)
{
	Nara__Envelope *env;
	char id[37];

	hook_bup.status = 422;
	start_both();
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_state(port_gbg, id, "failed", 20000));
	cr_expect_str_eq(get_field(port_gbg, id, "code"), "NR052");
	cr_expect_str_eq(get_field(port_gbg, id, "receipt"), "OUTCOME_FAILED");
	cr_expect_eq(webhook_count(&hook_bup, id, 422), 1);
}

Test(adapter_http, webhook_down_then_back)
{
	Nara__Envelope *env;
	char id[37];
	int port;

	/* A port below the ephemeral range: a connection to a closed ephemeral
	 * port on loopback can end up connected to itself. */
	port = 20000 + (int)(getpid() % 10000);
	hook_bup.port = port;
	start_both();
	/* the local system is not running at all: connections refused */
	webhook_stop(&hook_bup);
	memset(&hook_bup, 0, sizeof(hook_bup));
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	for (int i = 0; i < 200 && tadapter_log_count(&bup,
	    "webhook did not take") < 2; i++)
		usleep(50000);
	cr_assert_geq(tadapter_log_count(&bup, "webhook did not take"), 2);
	cr_expect_str_eq(get_field(port_gbg, id, "state"), "accepted");
	hook_bup.port = port;
	webhook_start(&hook_bup);
	cr_assert(wait_hits(&hook_bup, id, 200, 1, 20000), "not retried once "
	    "the webhook was back");
	cr_assert(wait_state(port_gbg, id, "delivered", 20000));
	cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
}

/* true when this machine has the IPv6 loopback address. */
static bool
have_ipv6_loopback(void)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	sin6.sin6_addr = in6addr_loopback;
	ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A webhook at http://[::1]:PORT/ takes messages; its Host header keeps
 * the brackets. */
Test(adapter_http, webhook_on_ipv6_loopback)
{
	Nara__Envelope *env;
	char extra[512], want[32];

	if (!have_ipv6_loopback())
		cr_skip_test("no IPv6 loopback (::1) on this machine: the "
		    "[::1] webhook is not tried");
	hook_bup.ipv6 = true;
	webhook_start(&hook_bup);
	http_adapter(&gbg, T_GBG, &port_gbg, &hook_gbg);
	port_bup = tls_free_port();
	snprintf(extra, sizeof(extra), "backend = http\n\n[http]\n"
	    "listen = 127.0.0.1:%d\nwebhook = http://[::1]:%d/nara/in\n"
	    "webhook_timeout = 1\n", port_bup, hook_bup.port);
	tadapter_init(&bup, T_BUP, h.router, extra);
	tadapter_start(&gbg);
	tadapter_start(&bup);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	cr_assert(harness_wait(api_answers, &port_gbg, 10000), "the API never "
	    "came up; see %s", gbg.log);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_hits(&hook_bup, env->message_id, 200, 1, 20000),
	    "never reached the [::1] webhook; see %s", bup.log);
	snprintf(want, sizeof(want), "[::1]:%d", hook_bup.port);
	pthread_mutex_lock(&hook_bup.lock);
	cr_expect_str_eq(hook_bup.host, want);
	pthread_mutex_unlock(&hook_bup.lock);
	cr_expect(wait_state(port_gbg, env->message_id, "delivered", 20000));
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
	for (int i = 0; i < 300 && st != 202; i++) {
		st = http_request_unix(sock, "POST", "/v1/messages", js, &body);
		free(body);
		body = NULL;
		if (st != 202)
			usleep(20000);
	}
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

/* Set what the webhook answers from now on. */
static void
hook_answer(struct webhook *w, int status)
{
	pthread_mutex_lock(&w->lock);
	w->status = status;
	pthread_mutex_unlock(&w->lock);
}

/* The local system was failing when the adapter stopped; after a restart
 * the webhook takes the message, and status and /metrics say ok again. */
Test(adapter_http, local_error_cleared_after_restart)
{
	Nara__Envelope *env;
	char id[37], out[4096], *body = NULL;

	hook_bup.status = 503;
	start_both();
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_hits(&hook_bup, id, 503, 1, 20000));
	cr_assert_eq(tadapter_stop(&bup, SIGTERM), 0);
	adapter_run(out, sizeof(out), "status -c %s", bup.conf);
	cr_assert(strstr(out, "local system:   error") != NULL, "%s", out);
	hook_answer(&hook_bup, 200);
	tadapter_start(&bup);
	cr_assert(wait_hits(&hook_bup, id, 200, 1, 30000), "see %s", bup.log);
	cr_assert(wait_state(port_gbg, id, "delivered", 20000));
	adapter_run(out, sizeof(out), "status -c %s", bup.conf);
	cr_expect(strstr(out, "local system:   ok") != NULL, "%s", out);
	cr_assert_eq(http_request(port_bup, "GET", "/metrics", NULL, &body), 200);
	cr_expect(strstr(body, "nara_adapter_local_system_error 0") != NULL,
	    "%s", body);
	free(body);
}

Test(adapter_http, retried_dead_letter_offered_again)
{
	Nara__Envelope *env;
	char id[37], out[2048];
	int rc;

	hook_bup.status = 422;
	start_both();
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_state(port_gbg, id, "failed", 20000));
	cr_expect_str_eq(get_field(port_gbg, id, "code"), "NR052");
	/* the local system is fixed; the operator retries the dead letter */
	hook_answer(&hook_bup, 200);
	rc = harness_run(out, sizeof(out), "%s -c %s retry %s",
	    harness_bin("naractl", (char[300]){ 0 }, 300), h.conf, id);
	cr_assert_eq(rc, 0, "naractl retry: %s", out);
	cr_assert(wait_hits(&hook_bup, id, 200, 1, 20000), "the retried message "
	    "was never offered to the local system again; see %s", bup.log);
	cr_expect_eq(webhook_count(&hook_bup, id, 422), 1);
	cr_expect_eq(tadapter_log_count(&bup, "refused by the local system "
	    "before"), 1);
	cr_assert(wait_state(port_gbg, id, "delivered", 20000));
}

/* Hits for key answered with status whose body contains text. */
static int
hits_with(struct webhook *w, const char *key, int answered, const char *text)
{
	int n = 0;

	pthread_mutex_lock(&w->lock);
	for (int i = 0; i < w->n_hits; i++)
		if (strcmp(w->hits[i].key, key) == 0 &&
		    w->hits[i].answered == answered &&
		    strstr(w->hits[i].body, text) != NULL)
			n++;
	pthread_mutex_unlock(&w->lock);
	return n;
}

static bool
delivered_taken(void *key)
{
	return hits_with(&hook_gbg, key, 200, "OUTCOME_DELIVERED") > 0;
}

static bool
no_receipts_left(void *arg)
{
	return harness_sql_long(&h, "select count(*) from receipts") == 0;
}

/*
 * The sender's local system is down while its FAILED receipt waits at the
 * webhook; an operator retries the message and it is delivered. The
 * DELIVERED receipt must follow the FAILED one; once the first is taken,
 * the row already says delivered, so a redelivery would be acked unseen.
 */
Test(adapter_http, newer_receipt_follows_one_under_way)
{
	Nara__Envelope *env;
	char id[37], rkey[64], out[2048];
	int rc;

	hook_bup.status = 422;
	start_both();
	hook_answer(&hook_gbg, 503);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	snprintf(rkey, sizeof(rkey), "receipt-%s", id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_hits(&hook_gbg, rkey, 503, 1, 20000), "the FAILED "
	    "receipt never reached the webhook");
	hook_answer(&hook_bup, 200);
	rc = harness_run(out, sizeof(out), "%s -c %s retry %s",
	    harness_bin("naractl", (char[300]){ 0 }, 300), h.conf, id);
	cr_assert_eq(rc, 0, "naractl retry: %s", out);
	cr_assert(wait_state(port_gbg, id, "delivered", 20000));
	hook_answer(&hook_gbg, 200);
	harness_wait(delivered_taken, rkey, 20000);
	cr_expect_eq(hits_with(&hook_gbg, rkey, 200, "OUTCOME_FAILED"), 1);
	cr_assert_eq(hits_with(&hook_gbg, rkey, 200, "OUTCOME_DELIVERED"), 1,
	    "the DELIVERED receipt never reached the local system; see %s",
	    gbg.log);
	/* each receipt acked after its own hand-off: narad keeps none */
	harness_wait(no_receipts_left, NULL, 10000);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from receipts"), 0);
}

Test(adapter_http, webhook_configuration_faults_retried_not_refused)
{
	static const int faults[] = { 401, 403, 404, 405 };
	char out[4096];

	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		Nara__Envelope *env;
		char id[37];

		memset(&hook_bup, 0, sizeof(hook_bup));
		hook_bup.status = faults[i];
		start_both();
		env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH,
		    T_BUP);
		snprintf(id, sizeof(id), "%s", env->message_id);
		cr_assert_eq(post(port_gbg, env, NULL), 202);
		cr_assert(wait_hits(&hook_bup, id, faults[i], 2, 20000),
		    "HTTP %d not retried", faults[i]);
		cr_expect_str_eq(get_field(port_gbg, id, "state"), "accepted",
		    "HTTP %d taken as a refusal", faults[i]);
		cr_expect_geq(tadapter_log_count(&bup, "webhook is misconfigured"),
		    2);
		adapter_run(out, sizeof(out), "status -c %s", bup.conf);
		cr_expect(strstr(out, "local system:   error since") != NULL &&
		    strstr(out, "configuration fault") != NULL, "%s", out);
		hook_answer(&hook_bup, 200);
		cr_assert(wait_state(port_gbg, id, "delivered", 20000));
		adapter_run(out, sizeof(out), "status -c %s", bup.conf);
		cr_expect(strstr(out, "local system:   ok") != NULL, "%s", out);
		cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
		cr_expect_eq(tadapter_stop(&bup, SIGTERM), 0);
		tadapter_cleanup(&gbg);
		tadapter_cleanup(&bup);
		webhook_stop(&hook_bup);
	}
}

Test(adapter_http, explicit_refusal_header_refuses_for_good)
{
	Nara__Envelope *env;
	char id[37];

	hook_bup.status = 409;
	hook_bup.refuse_header = true;
	start_both();
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_state(port_gbg, id, "failed", 20000));
	cr_expect_str_eq(get_field(port_gbg, id, "code"), "NR052");
	cr_expect_eq(webhook_count(&hook_bup, id, 409), 1);
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

Test(adapter_http, broker_refusal_pushed_to_webhook)
{
	Nara__Envelope *env;
	char id[37], key[64];
	json_t *o;

	start_both();
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_BORAS_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	snprintf(key, sizeof(key), "refusal-%s", id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_hits(&hook_gbg, key, 200, 1, 20000), "narad's refusal "
	    "never reached the webhook; see %s", gbg.log);
	pthread_mutex_lock(&hook_gbg.lock);
	for (int i = 0; i < hook_gbg.n_hits; i++) {
		if (strcmp(hook_gbg.hits[i].key, key) != 0)
			continue;
		cr_expect_str_eq(hook_gbg.hits[i].kind, "refusal");
		o = json_loads(hook_gbg.hits[i].body, 0, NULL);
		cr_expect_str_eq(json_string_value(json_object_get(o, "code")),
		    "NR030");
		cr_expect_str_eq(json_string_value(json_object_get(o, "state")),
		    "rejected");
		json_decref(o);
	}
	pthread_mutex_unlock(&hook_gbg.lock);
	/* pushed once, also across a restart */
	cr_expect_eq(tadapter_stop(&gbg, SIGTERM), 0);
	tadapter_start(&gbg);
	cr_assert(wait_state(port_gbg, id, "rejected", 10000));
	cr_expect_eq(webhook_count(&hook_gbg, key, -1), 1);
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

struct fd_watch {
	int peak;
	int rejected;              /* narad's refusals the log must show */
};

/* Note the peak of open descriptors until narad has refused them all. */
static bool
all_refused(void *arg)
{
	struct fd_watch *w = arg;
	int n = tadapter_open_fds(&gbg);

	if (n > w->peak)
		w->peak = n;
	return tadapter_log_count(&gbg, "narad rejected") >= w->rejected;
}

static bool
refusals_taken(void *arg)
{
	return webhook_count(&hook_gbg, NULL, 200) >= *(int *)arg;
}

/*
 * 300 refusals pushed to a webhook that accepts connections and never
 * answers (a listener nobody serves): the adapter keeps at most 64 of them
 * open and the descriptors it holds stay bounded; once the webhook
 * serves, every refusal reaches it.
 */
Test(adapter_http, refusal_pushes_bounded_while_webhook_hangs)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct fd_watch w = { .rejected = 300 };
	int lfd, base, one = 1;
	char extra[512];

	cr_assert_geq(lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(lfd, 1024), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	webhook_stop(&hook_gbg);
	hook_gbg.port = ntohs(sin.sin_port);
	port_gbg = tls_free_port();
	snprintf(extra, sizeof(extra), "backend = http\n"
	    "\n[http]\nlisten = 127.0.0.1:%d\n"
	    "webhook = http://127.0.0.1:%d/nara/in\nwebhook_timeout = 60\n",
	    port_gbg, hook_gbg.port);
	tadapter_init(&gbg, T_GBG, h.router, extra);
	tadapter_start(&gbg);
	cr_assert(harness_wait(api_answers, &port_gbg, 10000), "the API never "
	    "came up; see %s", gbg.log);
	base = tadapter_open_fds(&gbg);
	for (int i = 0; i < w.rejected; i++) {
		/* a sender that is not this node's: narad refuses it */
		Nara__Envelope *env = fixture_envelope(fx,
		    NARA__MESSAGE_TYPE__REFERRAL, T_BORAS_EH, T_BUP);

		char *body = NULL;

		cr_assert_eq(post(port_gbg, env, &body), 202, "%s", body);
		free(body);
		all_refused(&w);
	}
	cr_assert(harness_wait(all_refused, &w, 60000), "narad refused only "
	    "%d; see %s", tadapter_log_count(&gbg, "narad rejected"), gbg.log);
	cr_expect_leq(w.peak - base, 64 + 8, "%d descriptors open, %d at start",
	    w.peak, base);
	cr_expect_eq(tadapter_log_count(&gbg, "Too many open files"), 0);
	/* the webhook serves: what hung is retried, the queue drains */
	close(lfd);
	webhook_start(&hook_gbg);
	cr_assert(harness_wait(refusals_taken, &w.rejected, 60000), "%d of %d "
	    "refusals reached the webhook; see %s", webhook_count(&hook_gbg,
	    NULL, 200), w.rejected, gbg.log);
}

/* GET /metrics of the adapter on port, parsed (pr is overwritten); the
 * text is also checked with promtool when keep is not NULL. */
static void
adapter_scrape(int port, struct prom *pr, const char *keep)
{
	char *body = NULL, out[4096], cmd[600];
	FILE *f;

	memset(pr, 0, sizeof(*pr));
	cr_assert_eq(http_request(port, "GET", "/metrics", NULL, &body), 200);
	cr_assert_not_null(body);
	if (keep != NULL) {
		cr_assert_not_null(f = fopen(keep, "w"));
		fputs(body, f);
		fclose(f);
		cr_assert_eq(system("command -v promtool >/dev/null 2>&1"), 0,
		    "promtool is not installed (Debian package prometheus, in "
		    "DEB_PACKAGES; run make deps)");
		snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", keep);
		cr_expect_eq(harness_run(out, sizeof(out), "%s", cmd), 0,
		    "promtool: %s", out);
	}
	ops_prom_parse(body, pr);
	free(body);
}

/* One scrape of an adapter's /metrics and the value it waits for. */
struct scrape_wait {
	int port;
	const char *metric;
	double want;
	bool at_least;             /* value >= want, else == want */
	struct prom pr;            /* the last scrape */
};

static bool
scrape_holds(void *arg)
{
	struct scrape_wait *w = arg;
	double v;

	adapter_scrape(w->port, &w->pr, NULL);
	v = ops_prom_value(&w->pr, w->metric, "");
	return w->at_least ? v >= w->want : v == w->want;
}

static bool
link_is(int port, double up)
{
	static struct scrape_wait w;

	w = (struct scrape_wait){ .port = port, .metric =
	    "nara_adapter_link_up", .want = up };
	return harness_wait(scrape_holds, &w, 20000);
}

/* The adapter's /metrics says what happened: the link up and then down
 * when narad stops, a message POSTed meanwhile waiting in the outbox with
 * its age, a hand-off the local system keeps failing (503) waiting with
 * every failed attempt counted. */
Test(adapter_http, adapter_metrics_follow_what_happened)
{
	static struct prom pr;
	static struct scrape_wait age;
	Nara__Envelope *env;
	char id[37], keep[400];
	int before, after, failed;
	int64_t posted, scraped;

	hook_bup.status = 503;
	start_both();
	cr_assert(link_is(port_gbg, 1), "link never up; see %s", gbg.log);
	cr_assert(link_is(port_bup, 1), "link never up; see %s", bup.log);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	snprintf(id, sizeof(id), "%s", env->message_id);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	cr_assert(wait_hits(&hook_bup, id, 503, 2, 20000), "503s not retried");
	before = webhook_count(&hook_bup, id, 503);
	snprintf(keep, sizeof(keep), "%s/bup-metrics.txt", h.dir);
	adapter_scrape(port_bup, &pr, keep);
	after = webhook_count(&hook_bup, id, 503);
	failed = (int)ops_prom_value(&pr, "nara_adapter_webhook_failures_total",
	    "reason=\"busy\"");
	cr_expect(failed >= before - 1 && failed <= after, "failures %d, "
	    "webhook answered 503 %d..%d times", failed, before, after);
	cr_expect_eq(ops_prom_value(&pr, "nara_adapter_webhook_failures_total",
	    "reason=\"fault\""), 0);
	cr_expect_eq(ops_prom_value(&pr, "nara_adapter_inbox_waiting", ""), 1);
	cr_expect_eq(ops_prom_value(&pr, "nara_adapter_local_system_error", ""), 1);
	cr_expect_eq(ops_prom_value(&pr, "nara_adapter_outbox_depth", ""), 0);
	snprintf(keep, sizeof(keep), "%s/gbg-metrics.txt", h.dir);
	adapter_scrape(port_gbg, &pr, keep);
	cr_expect_eq(ops_prom_value(&pr, "nara_adapter_outbox_depth", ""), 0);
	cr_expect_eq(ops_prom_value(&pr, "nara_adapter_messages_accepted_total",
	    ""), 1);
	cr_expect_eq(ops_prom_value(&pr,
	    "nara_adapter_oldest_unsent_age_seconds", ""), 0);

	/* narad gone: the link goes down, a new message waits unsent */
	cr_expect_eq(harness_stop(&h, SIGTERM), 0);
	cr_assert(link_is(port_gbg, 0), "link still up; see %s", gbg.log);
	/* the age counts from when the adapter took the message: it grows
	 * while narad is away, and never beyond the time since the POST */
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL, T_GBG_EH, T_BUP);
	posted = (int64_t)time(NULL);
	cr_assert_eq(post(port_gbg, env, NULL), 202);
	age = (struct scrape_wait){ .port = port_gbg, .metric =
	    "nara_adapter_oldest_unsent_age_seconds", .want = 2,
	    .at_least = true };
	harness_wait(scrape_holds, &age, 10000);
	pr = age.pr;
	scraped = (int64_t)time(NULL);
	cr_expect_eq(ops_prom_value(&pr, "nara_adapter_outbox_depth", ""), 1);
	cr_expect_geq(ops_prom_value(&pr,
	    "nara_adapter_oldest_unsent_age_seconds", ""), 2, "age never grew");
	cr_expect_leq(ops_prom_value(&pr,
	    "nara_adapter_oldest_unsent_age_seconds", ""), scraped - posted);
	cr_expect_eq(ops_prom_value(&pr, "nara_adapter_messages_accepted_total",
	    ""), 1);
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
