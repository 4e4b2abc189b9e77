/*
 * adapter_http_suite.h — the suite that itest_adapter_http.c and
 * itest_adapter_http_api.c share: a real narad, the two nara-adapters
 * with the HTTP backend (Göteborg and BUP) each with its in-test webhook,
 * started for a test by start_both, and the API's POST and GET of a
 * message. Each test file includes it once and gets its own narad (h),
 * adapters, webhooks and fixture (fx).
 */
#ifndef NARA_TEST_ADAPTER_HTTP_SUITE_H
#define NARA_TEST_ADAPTER_HTTP_SUITE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "adapter_helpers.h"
#include "harness.h"
#include "pbjson.h"
#include "tls_helpers.h"

static struct harness h;
static struct tadapter gbg, bup;
static struct webhook hook_gbg, hook_bup;
static int port_gbg, port_bup;
static struct fixture *fx;

/* Adapter a for node with the HTTP backend: its API on a free port (into
 * *port), its hand-offs to webhook w. */
static inline void
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

/* Before each test: narad and Göteborg's webhook; BUP's webhook is left
 * for the test to set up (start_both starts it). */
static inline void
setup(void)
{
	harness_init(&h, "ack_timeout = 30\n");
	harness_start(&h);
	webhook_start(&hook_gbg);
	memset(&hook_bup, 0, sizeof(hook_bup));
	fx = fixture_new();
}

/* After each test: whatever setup and the test started. */
static inline void
teardown(void)
{
	fixture_free(&fx);
	tadapter_cleanup(&gbg);
	tadapter_cleanup(&bup);
	webhook_stop(&hook_gbg);
	webhook_stop(&hook_bup);
	harness_cleanup(&h);
}

static inline bool
both_apis_answer(void *arg)
{
	(void)arg;
	return http_request(port_gbg, "GET", "/", NULL, NULL) > 0 &&
	    http_request(port_bup, "GET", "/", NULL, NULL) > 0;
}

/* Start both adapters (bup's webhook configured by the test first). */
static inline void
start_both(void)
{
	webhook_start(&hook_bup);   /* on hook_bup.port if the test set one */
	http_adapter(&gbg, T_GBG, &port_gbg, &hook_gbg);
	http_adapter(&bup, T_BUP, &port_bup, &hook_bup);
	tadapter_start(&gbg);
	tadapter_start(&bup);
	cr_assert(harness_wait(both_apis_answer, NULL, 10000), "adapters' HTTP "
	    "API never came up; see %s", gbg.log);
}

/* POST env to port; returns the HTTP status, body into *body. */
static inline int
post(int port, const Nara__Envelope *env, char **body)
{
	char *js = pbjson_print(&env->base);
	int status = http_request(port, "POST", "/v1/messages", js, body);

	free(js);
	return status;
}

/* GET /v1/messages/id and return member key of the answer ("" if none). */
static inline const char *
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

struct state_wait {
	int port;
	const char *id, *state;
};

static inline bool
state_reached(void *arg)
{
	const struct state_wait *w = arg;

	return strcmp(get_field(w->port, w->id, "state"), w->state) == 0;
}

/* Wait up to timeout_ms for GET to give the message the state state. */
static inline bool
wait_state(int port, const char *id, const char *state, int timeout_ms)
{
	struct state_wait w = { port, id, state };

	return harness_wait(state_reached, &w, timeout_ms);
}

#endif
