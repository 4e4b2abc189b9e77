/*
 * test_adapter_config.c — nara-adapter's configuration file: defaults, the
 * TLS and direct transports, each backend's settings, and every refusal
 * with its file:line message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "adapter_config.h"
#include "log.h"

static char path[64];
static struct config_diag diag;

static void
setup(void)
{
	int fd;

	log_init("test_adapter_config", LOG_LVL_ERROR, false);
	snprintf(path, sizeof(path), "/tmp/nara-adconf-XXXXXX");
	cr_assert((fd = mkstemp(path)) >= 0);
	close(fd);
	memset(&diag, 0, sizeof(diag));
}

static void
teardown(void)
{
	config_diag_free(&diag);
	unlink(path);
}

TestSuite(adapter_config, .init = setup, .fini = teardown);

static struct adapter_config *
load(const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	config_diag_free(&diag);
	return adapter_config_load(path, &diag);
}

/* Exactly one problem, at line, mentioning what. */
static void
expect_one_error(const char *text, int line, const char *what)
{
	struct adapter_config *cfg = load(text);
	char where[128];

	cr_expect_null(cfg);
	adapter_config_free(&cfg);
	cr_assert_eq(diag.n, 1, "want one error, got %zu (%s)", diag.n,
	    diag.n ? diag.msgs[0] : "");
	snprintf(where, sizeof(where), "%s:%d: ", path, line);
	cr_expect(strncmp(diag.msgs[0], where, strlen(where)) == 0,
	    "want %s..., got %s", where, diag.msgs[0]);
	cr_expect(strstr(diag.msgs[0], what) != NULL, "want \"%s\" in %s",
	    what, diag.msgs[0]);
}

Test(adapter_config, defaults_for_a_direct_spool_node)
{
	struct adapter_config *cfg = load("[adapter]\nnode_id = kommun-1480\n"
	    "broker = ipc:///run/nara/router.sock\ntls = no\n");

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_str_eq(cfg->node_id, "kommun-1480");
	cr_expect_eq(cfg->backend, BACKEND_SPOOL);
	cr_expect_eq(cfg->credit_window, 16);
	cr_expect_eq(cfg->submit_window, 32);
	cr_expect_eq(cfg->retry_min, 2);
	cr_expect_eq(cfg->retry_max, 300);
	cr_expect_eq(cfg->retention, 30 * 86400);
	cr_expect_eq(cfg->max_message_bytes, 16u * 1024 * 1024);
	cr_expect_str_eq(cfg->state, "/var/lib/nara/adapter.db");
	cr_expect_str_eq(cfg->spool_dir, "/var/spool/nara");
	cr_expect_str_eq(cfg->listen, "127.0.0.1:8780");
	adapter_config_free(&cfg);
	cr_expect_null(cfg);
}

Test(adapter_config, tls_http_node)
{
	struct adapter_config *cfg = load("[adapter]\nnode_id = SE2321000131-E1\n"
	    "broker = nara.vgregion.se:7443\nca = /etc/nara/ca.pem\n"
	    "cert = /etc/nara/node.pem\nkey = /etc/nara/node.key\n"
	    "backend = http\n[http]\nlisten = unix:/run/nara/api.sock\n"
	    "webhook = http://localhost:9000/nara\nwebhook_timeout = 1m\n");

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect(cfg->tls);
	cr_expect_eq(cfg->backend, BACKEND_HTTP);
	cr_expect_str_eq(cfg->listen, "unix:/run/nara/api.sock");
	cr_expect_eq(cfg->webhook_timeout, 60);
	cr_expect_eq(cfg->n_crl, 0);
	adapter_config_free(&cfg);
}

/* crl: a list of files, like narad's [tls] crl; useless (refused) without
 * TLS, since it checks the broker's certificate. */
Test(adapter_config, crl_list)
{
	struct adapter_config *cfg = load("[adapter]\nnode_id = a\n"
	    "broker = h:1\nca = /a\ncert = /b\nkey = /c\n"
	    "crl = /etc/nara/crl.pem, /etc/nara/sub-crl.pem\n");

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_assert_eq(cfg->n_crl, 2);
	cr_expect_str_eq(cfg->crl[0], "/etc/nara/crl.pem");
	cr_expect_str_eq(cfg->crl[1], "/etc/nara/sub-crl.pem");
	adapter_config_free(&cfg);
	expect_one_error("[adapter]\nnode_id = a\nbroker = tcp://h:1\ntls = no\n"
	    "crl = /etc/nara/crl.pem\n", 5, "a CRL needs tls = yes");
}

Test(adapter_config, transport_refusals)
{
	expect_one_error("[adapter]\nnode_id = a\nbroker = h:1\n", 1,
	    "tls = yes needs ca, cert and key");
	expect_one_error("[adapter]\nnode_id = a\nbroker = ipc:///x\n"
	    "ca = /a\ncert = /b\nkey = /c\n", 3, "HOST:PORT of narad's TLS front");
	expect_one_error("[adapter]\nnode_id = a\ntls = no\nbroker = h:1\n", 4,
	    "ipc:// or tcp:// endpoint");
	expect_one_error("[adapter]\nnode_id = a\nbroker = tcp://h:1\ntls = no\n"
	    "retry_min = 1h\nretry_max = 1m\n", 5, "above retry_max");
}

Test(adapter_config, broker_list)
{
	struct adapter_config *cfg = load("[adapter]\nnode_id = kommun-1480\n"
	    "broker = nara1.vgregion.se:7443, nara2.vgregion.se:7443\n"
	    "ca = /a\ncert = /b\nkey = /c\n");

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_str_eq(cfg->broker,
	    "nara1.vgregion.se:7443, nara2.vgregion.se:7443");
	adapter_config_free(&cfg);
	expect_one_error("[adapter]\nnode_id = a\nbroker = h:1,h2\n"
	    "ca = /a\ncert = /b\nkey = /c\n", 3,
	    "broker address \"h2\" is not host:port");
	expect_one_error("[adapter]\nnode_id = a\nbroker = h:1,,h:2\n"
	    "ca = /a\ncert = /b\nkey = /c\n", 3, "is not host:port");
	expect_one_error("[adapter]\nnode_id = a\n"
	    "broker = a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1\n"
	    "ca = /a\ncert = /b\nkey = /c\n", 3, "more than 8 broker addresses");
	/* no port: refused at its line, and nothing else checked on it */
	expect_one_error("[adapter]\nnode_id = a\nbroker = nara.example\n"
	    "ca = /a\ncert = /b\nkey = /c\n", 3,
	    "broker address \"nara.example\" is not host:port");
	expect_one_error("[adapter]\nnode_id = a\nbroker = ipc://\ntls = no\n",
	    3, "broker");
}

Test(adapter_config, node_and_required_keys)
{
	expect_one_error("[adapter]\nnode_id = kommun 1480\nbroker = tcp://h:1\n"
	    "tls = no\n", 2, "bad node id");
	expect_one_error("[adapter]\nbroker = tcp://h:1\ntls = no\n", 1,
	    "node_id");
	expect_one_error("[spool]\ndir = /x\n", 1, "no [adapter] section");
	expect_one_error("[adapter]\nnode_id = a\nbroker = tcp://h:1\ntls = no\n"
	    "colour = blue\n", 5, "colour");
	expect_one_error("[adapter]\nnode_id = a\nbroker = tcp://h:1\ntls = no\n"
	    "credit_window = 0\n", 5, "credit_window");
}

Test(adapter_config, http_backend_refusals)
{
	expect_one_error("[adapter]\nnode_id = a\nbroker = tcp://h:1\ntls = no\n"
	    "backend = http\n", 5, "needs [http] webhook");
	expect_one_error("[adapter]\nnode_id = a\nbroker = tcp://h:1\ntls = no\n"
	    "[http]\nlisten = 0.0.0.0:8080\n", 6, "loopback");
	expect_one_error("[adapter]\nnode_id = a\nbroker = tcp://h:1\ntls = no\n"
	    "[http]\nwebhook = http://example.org/x\n", 6, "webhook must be");
	expect_one_error("[adapter]\nnode_id = a\nbroker = tcp://h:1\ntls = no\n"
	    "backend = ftp\n", 5, "backend");
}

Test(adapter_config, missing_file)
{
	struct adapter_config *cfg = adapter_config_load("/nonexistent/a.conf",
	    &diag);

	cr_expect_null(cfg);
	cr_assert_eq(diag.n, 1);
	cr_expect(strstr(diag.msgs[0], "/nonexistent/a.conf") != NULL, "%s",
	    diag.msgs[0]);
	cr_expect(strstr(diag.msgs[0], "cannot open") != NULL, "%s", diag.msgs[0]);
}
