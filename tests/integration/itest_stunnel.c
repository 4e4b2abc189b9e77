/*
 * itest_stunnel.c — a node that is not nara-adapter: a plain libzmq DEALER
 * behind a real stunnel client, configured with the stunnel block of
 * docs/PROTOCOL.md (section 8) after replacing its example paths, host and
 * ports with this test's. hello → welcome and submit → accepted must work
 * through it, and a broker name stunnel does not expect must be refused.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zmq.h>

#include "harness.h"
#include "tls_helpers.h"
#include "validate.h"

static struct harness h;
static char pki[64];
static int tls_port;
static pid_t stunnel_pid;

static void
setup(void)
{
	char extra[2048];

	tls_pki_make(pki, (const char *const[]){ T_GBG, NULL });
	tls_port = tls_free_port();
	snprintf(extra, sizeof(extra),
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\nidentity = san-uri\n"
	    "runtime_dir = @RUNTIME_DIR@\n", tls_port, pki, pki, pki);
	harness_init(&h, extra);
	tls_conf_runtime_dir(&h);
	harness_start(&h);
}

static void
teardown(void)
{
	char cmd[200];

	if (stunnel_pid > 0) {
		kill(stunnel_pid, SIGTERM);
		waitpid(stunnel_pid, NULL, 0);
		stunnel_pid = 0;
	}
	harness_cleanup(&h);
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(stunnel, .init = setup, .fini = teardown, .timeout = 60);

/* The stunnel block of docs/PROTOCOL.md: the first ```ini fence. */
static char *
doc_snippet(void)
{
	const char *top = getenv("NARA_TOP");
	char path[512], *text = NULL, *start, *end;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", top ? top : ".");
	cr_assert_not_null(f = fopen(path, "r"), "%s: %s", path, strerror(errno));
	cr_assert_geq(getdelim(&text, &len, '\0', f), 0);
	fclose(f);
	start = strstr(text, "```ini\n");
	cr_assert_not_null(start, "no ```ini block in %s", path);
	start += strlen("```ini\n");
	end = strstr(start, "```");
	cr_assert_not_null(end);
	*end = '\0';
	memmove(text, start, strlen(start) + 1);
	return text;
}

/* Write to f the text with every from[i] replaced by to[i]. */
static void
put_replaced(FILE *f, const char *text, const char **from, const char **to,
    size_t n)
{
	while (*text != '\0') {
		size_t i;
		for (i = 0; i < n; i++)
			if (strncmp(text, from[i], strlen(from[i])) == 0)
				break;
		if (i < n) {
			fputs(to[i], f);
			text += strlen(from[i]);
		} else {
			fputc(*text++, f);
		}
	}
}

static const char *
stunnel_path(void)
{
	static const char *cand[] = { "/usr/bin/stunnel4", "/usr/bin/stunnel",
	    "/usr/local/bin/stunnel" };

	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
		if (access(cand[i], X_OK) == 0)
			return cand[i];
	return NULL;
}

/* Start stunnel with the documented block; the broker name it checks is
 * check_host. Returns the local port the DEALER connects to. */
static int
stunnel_start(const char *check_host)
{
	const char *bin = stunnel_path();
	char conf[400], log[400], connect[64], accept[64], host[128];
	char cert[128], key[128], ca[128];
	const char *from[] = { "broker.example.org:7443", "127.0.0.1:7400",
	    "checkHost = broker.example.org", "/etc/nara/tls/node.pem",
	    "/etc/nara/tls/node.key", "/etc/nara/tls/ca.pem" };
	const char *to[] = { connect, accept, host, cert, key, ca };
	char *snippet = doc_snippet();
	int port = tls_free_port();
	FILE *f;

	cr_assert_not_null(bin, "stunnel is not installed: the Debian package "
	    "stunnel4 is in DEB_PACKAGES; run `make deps`");
	snprintf(connect, sizeof(connect), "127.0.0.1:%d", tls_port);
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
	snprintf(host, sizeof(host), "checkHost = %s", check_host);
	snprintf(cert, sizeof(cert), "%s/%s.pem", pki, T_GBG);
	snprintf(key, sizeof(key), "%s/%s.key", pki, T_GBG);
	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	snprintf(conf, sizeof(conf), "%s/stunnel.conf", h.dir);
	snprintf(log, sizeof(log), "%s/stunnel.log", h.dir);
	cr_assert_not_null(f = fopen(conf, "w"));
	fprintf(f, "foreground = quiet\npid =\noutput = %s\ndebug = info\n\n", log);
	put_replaced(f, snippet, from, to, sizeof(from) / sizeof(from[0]));
	fclose(f);
	free(snippet);
	cr_assert_gt(stunnel_pid = fork(), -1);
	if (stunnel_pid == 0) {
		execl(bin, "stunnel", conf, (char *)NULL);
		_exit(127);
	}
	return port;
}

static void
via_stunnel(struct harness *via, int port)
{
	*via = h;
	snprintf(via->router, sizeof(via->router), "tcp://127.0.0.1:%d", port);
}

Test(stunnel, hello_and_submit_through_stunnel)
{
	struct harness via;
	struct tclient c;
	struct fixture *fx = fixture_new();
	Nara__Frame *r;

	via_stunnel(&via, stunnel_start("localhost"));
	tclient_open(&c, &via, T_GBG, 4);   /* asserts the welcome */
	r = tclient_submit(&c, fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    T_GBG_EH, T_BUP));
	cr_assert_not_null(r, "submit through stunnel not answered; see %s", h.log);
	cr_expect_eq(r->kind_case, NARA__FRAME__KIND_ACCEPTED, "kind %d (%s)",
	    r->kind_case, r->kind_case == NARA__FRAME__KIND_REJECTED ?
	    r->rejected->text : "");
	frame_free(&r);
	tclient_close(&c);
	fixture_free(&fx);
	cr_expect_eq(harness_log_count(&h, "node " T_GBG " connected from"), 1);
	cr_expect_eq(harness_sql_long(&h, "select count(*) from messages"), 1);
}

Test(stunnel, wrong_broker_name_refused_by_stunnel)
{
	struct harness via;
	struct tclient c;
	Nara__Frame *f;

	via_stunnel(&via, stunnel_start("other.example.org"));
	tclient_open_raw(&c, &via, T_GBG);
	tclient_send_raw(&c, "\x0a\x00", 2);  /* anything; must not arrive */
	f = tclient_recv(&c, 3000);
	cr_expect_null(f, "an answer came through a refused broker");
	if (f != NULL)
		frame_free(&f);
	tclient_close(&c);
	cr_expect_eq(harness_log_count(&h, "connected from"), 0);
	/* stunnel itself says why: the name check failed. */
	via = h;
	snprintf(via.log, sizeof(via.log), "%s/stunnel.log", h.dir);
	cr_expect_geq(harness_log_count(&via, "CERT: Subject checks failed"), 1,
	    "stunnel did not refuse the broker's name; see %s", via.log);
}
