/*
 * itest_adapter_http.c — two nara-adapters with the HTTP backend through a
 * real narad (adapter_http_suite.h): messages POSTed to the API, handed
 * to an in-test webhook with an Idempotency-Key, receipts both to the
 * webhook and in GET; a webhook that fails, hangs, is down, is
 * misconfigured or refuses is retried or refused as it says and the
 * message is not acked meanwhile; a webhook on [::1]; narad's refusals
 * pushed to the webhook, bounded while it hangs; the adapter's own
 * /metrics. The API's own answers and limits are in
 * itest_adapter_http_api.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "adapter_helpers.h"
#include "adapter_http_suite.h"
#include "harness.h"
#include "ops_helpers.h"
#include "tls_helpers.h"

TestSuite(adapter_http, .init = setup, .fini = teardown, .timeout = 180);

/* The API on port (an int) answers at all. */
static bool
api_answers(void *port)
{
	return http_request(*(int *)port, "GET", "/", NULL, NULL) > 0;
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
