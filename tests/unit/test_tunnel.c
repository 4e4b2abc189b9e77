/*
 * test_tunnel.c — the client tunnel's refusals of bad options (each with
 * its code and text), its local endpoints, what tunnel_dealer_open sets on
 * the DEALER, and a broker that cannot be reached. The TLS paths against a
 * real narad are in tests/integration/itest_tls.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zmq.h>

#include "harness.h"
#include "tunnel.h"

static char dir[64], ca[128];

/* A self-signed CA certificate to trust; the tunnel never needs its key. */
static void
write_ca(const char *path)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	FILE *f;

	cr_assert(key != NULL && x != NULL);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"tunnel test CA", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
	cr_assert_not_null(f = fopen(path, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/nara-tunnel-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	write_ca(ca);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(tunnel, .init = setup, .fini = teardown, .timeout = 30);

/* tunnel_start must refuse o with code and a text containing text. */
static void
refused(const struct tunnel_opts *o, const char *path, const char *text)
{
	struct nara_err err = { 0 };
	struct nara_tunnel *t = tunnel_start(o, &err);

	cr_assert_null(t, "tunnel started although it should not");
	cr_expect_eq(err.code, NR_CONFIG, "code %s", nara_code_id(err.code));
	cr_expect_str_eq(err.path, path);
	cr_expect_not_null(strstr(err.text, text), "\"%s\" lacks \"%s\"",
	    err.text, text);
}

Test(tunnel, broker_not_host_port)
{
	struct tunnel_opts o = { .broker = "broker.example.org", .ca = ca };

	refused(&o, "broker",
	    "broker address \"broker.example.org\" is not host:port");
	o.broker = "broker.example.org:74x3";
	refused(&o, "broker", "is not host:port");
	o.broker = "[::1:7443";
	refused(&o, "broker", "unterminated [address]");
	o.broker = NULL;
	refused(&o, "broker", "is not host:port");
	o.broker = "a.example:7443,b.example";
	refused(&o, "broker", "broker address \"b.example\" is not host:port");
	o.broker = "a.example:7443,";
	refused(&o, "broker", "broker address \"\" is not host:port");
	o.broker = "a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1";
	refused(&o, "broker", "more than 8 broker addresses");
}

Test(tunnel, missing_ca_or_key)
{
	char missing[160];
	struct tunnel_opts o = { .broker = "127.0.0.1:7443", .ca = NULL };

	refused(&o, "tunnel", "a CA bundle is required");
	o.ca = ca;
	o.cert = ca;
	refused(&o, "tunnel", "a certificate needs its key");
	snprintf(missing, sizeof(missing), "%s/none.pem", dir);
	o.cert = NULL;
	o.ca = missing;
	refused(&o, "tls", "cannot load CA bundle");
}

/* A CRL file that cannot be read stops the start: the tunnel never runs
 * without the revocation check it was told to make. */
Test(tunnel, unreadable_crl)
{
	char missing[160];
	char *crl[] = { missing };
	struct tunnel_opts o = { .broker = "127.0.0.1:7443", .ca = ca,
		.crl = crl, .n_crl = 1 };

	snprintf(missing, sizeof(missing), "%s/none-crl.pem", dir);
	refused(&o, "tls", "cannot load CRL");
	o.crl = (char *[]){ ca };   /* a PEM, but no CRL in it */
	refused(&o, "tls", "cannot load CRL");
}

Test(tunnel, local_dir_open_to_others)
{
	char local[256];
	FILE *f;
	struct tunnel_opts o = { .broker = "127.0.0.1:7443", .ca = ca };

	snprintf(local, sizeof(local), "%s/open", dir);
	cr_assert_eq(mkdir(local, 0700), 0);
	cr_assert_eq(chmod(local, 0755), 0);
	o.local_dir = local;
	refused(&o, "local_dir", "mode 0700 (has uid");
	snprintf(local, sizeof(local), "%s/file", dir);
	cr_assert_not_null(f = fopen(local, "w"));
	fclose(f);
	refused(&o, "local_dir", "is not a directory");
	snprintf(local, sizeof(local), "%s/%0120d", dir, 0);
	refused(&o, "local_dir", "path too long for an ipc socket");
}

Test(tunnel, ipc_endpoint_made_and_removed)
{
	char local[160], want[200];
	struct tunnel_opts o = { .broker = "localhost:7443", .ca = ca };
	struct nara_err err = { 0 };
	struct tunnel_stats st;
	struct nara_tunnel *t;
	struct stat sb;

	snprintf(local, sizeof(local), "%s/run", dir);
	o.local_dir = local;
	cr_assert_not_null(t = tunnel_start(&o, &err), "%s", err.text);
	snprintf(want, sizeof(want), "ipc://%s/tunnel.sock", local);
	cr_expect_str_eq(tunnel_endpoint(t), want);
	cr_assert_eq(stat(local, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0700, "mode %o", sb.st_mode & 0777);
	cr_expect_eq(stat(want + 6, &sb), 0);
	cr_expect(S_ISSOCK(sb.st_mode));
	tunnel_stats(t, &st);
	cr_expect_eq(st.handshakes_ok + st.handshakes_failed, 0);
	cr_expect_eq(st.broker_cert_days_left, -1);
	cr_expect_str_empty(st.last_error);
	tunnel_stop(&t);
	cr_expect_null(t);
	cr_expect_neq(stat(want + 6, &sb), 0, "socket left behind");
	tunnel_stop(&t);                 /* NULL is fine */
}

/* A TCP port on 127.0.0.1 that nothing listens on. */
static int
closed_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

Test(tunnel, unreachable_broker_counted)
{
	char broker[64], want[128];
	struct tunnel_opts o = { .broker = broker, .ca = ca };
	struct nara_err err = { 0 };
	struct tunnel_stats st = { 0 };
	struct nara_tunnel *t;
	void *ctx = zmq_ctx_new(), *s;

	snprintf(broker, sizeof(broker), "127.0.0.1:%d", closed_port());
	cr_assert_not_null(t = tunnel_start(&o, &err), "%s", err.text);
	cr_expect_eq(strncmp(tunnel_endpoint(t), "tcp://127.0.0.1:", 16), 0,
	    "%s", tunnel_endpoint(t));
	s = tunnel_dealer_open(ctx, "kommun-1480", tunnel_endpoint(t), &err);
	cr_assert_not_null(s, "%s", err.text);
	for (int i = 0; i < 100 && st.handshakes_failed == 0; i++) {
		usleep(50000);
		tunnel_stats(t, &st);
	}
	cr_expect_geq(st.handshakes_failed, 1);
	cr_expect_eq(st.handshakes_ok, 0);
	snprintf(want, sizeof(want), "%s: connect: Connection refused", broker);
	cr_expect_str_eq(st.last_error, want);
	zmq_close(s);
	zmq_ctx_term(ctx);
	tunnel_stop(&t);
}

/* Whether the tunnel's failures have named both addresses yet. */
struct seen_both {
	struct nara_tunnel *t;
	const char *first, *second;
	bool seen_first, seen_second;
	struct tunnel_stats st;
};

static bool
failed_at_both(void *arg)
{
	struct seen_both *w = arg;

	tunnel_stats(w->t, &w->st);
	w->seen_first |= strncmp(w->st.last_error, w->first,
	    strlen(w->first)) == 0;
	w->seen_second |= strncmp(w->st.last_error, w->second,
	    strlen(w->second)) == 0;
	return w->seen_first && w->seen_second;
}

/* Two addresses, neither reachable: the connections alternate between
 * them, and each failure names its own address. */
Test(tunnel, broker_list_tried_in_turn)
{
	char broker[128], first[64], second[64];
	struct tunnel_opts o = { .broker = broker, .ca = ca };
	struct nara_err err = { 0 };
	struct tunnel_stats st = { 0 };
	struct seen_both w;
	struct nara_tunnel *t;
	void *ctx = zmq_ctx_new(), *s;

	snprintf(first, sizeof(first), "127.0.0.1:%d", closed_port());
	snprintf(second, sizeof(second), "127.0.0.1:%d", closed_port());
	snprintf(broker, sizeof(broker), "%s,%s", first, second);
	cr_assert_not_null(t = tunnel_start(&o, &err), "%s", err.text);
	s = tunnel_dealer_open(ctx, "kommun-1480", tunnel_endpoint(t), &err);
	cr_assert_not_null(s, "%s", err.text);
	w = (struct seen_both){ .t = t, .first = first, .second = second };
	harness_wait(failed_at_both, &w, 10000);
	st = w.st;
	cr_expect(w.seen_first, "no failure named %s", first);
	cr_expect(w.seen_second, "no failure named %s (last: %s)", second,
	    st.last_error);
	cr_expect_eq(st.handshakes_ok, 0);
	zmq_close(s);
	zmq_ctx_term(ctx);
	tunnel_stop(&t);
}

Test(tunnel, dealer_options)
{
	void *ctx = zmq_ctx_new(), *s;
	struct nara_err err = { 0 };
	char id[64];
	int v;
	size_t len = sizeof(id);

	s = tunnel_dealer_open(ctx, "kommun-1480", "tcp://127.0.0.1:1", &err);
	cr_assert_not_null(s, "%s", err.text);
	cr_assert_eq(zmq_getsockopt(s, ZMQ_ROUTING_ID, id, &len), 0);
	cr_expect_eq(len, strlen("kommun-1480"));
	cr_expect_eq(memcmp(id, "kommun-1480", len), 0);
	len = sizeof(v);
	zmq_getsockopt(s, ZMQ_TYPE, &v, &len);
	cr_expect_eq(v, ZMQ_DEALER);
	zmq_getsockopt(s, ZMQ_IMMEDIATE, &v, &len);
	cr_expect_eq(v, 1);
	zmq_getsockopt(s, ZMQ_LINGER, &v, &len);
	cr_expect_eq(v, 0);
	zmq_getsockopt(s, ZMQ_RECONNECT_IVL, &v, &len);
	cr_expect(v >= 100 && v <= 1000, "reconnect_ivl %d", v);
	zmq_getsockopt(s, ZMQ_RECONNECT_IVL_MAX, &v, &len);
	cr_expect_eq(v, 10000);
	zmq_getsockopt(s, ZMQ_HEARTBEAT_IVL, &v, &len);
	cr_expect_eq(v, 5000);
	zmq_close(s);
	zmq_ctx_term(ctx);
}

Test(tunnel, dealer_refusals)
{
	void *ctx = zmq_ctx_new();
	struct nara_err err = { 0 };
	char long_id[300];

	cr_expect_null(tunnel_dealer_open(ctx, "", "tcp://127.0.0.1:1", &err));
	cr_expect_eq(err.code, NR_CONFIG);
	cr_expect_str_eq(err.path, "node_id");
	cr_expect_str_eq(err.text, "routing id \"\" is not 1 to 255 bytes");
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	cr_expect_null(tunnel_dealer_open(ctx, long_id, "tcp://127.0.0.1:1", &err));
	cr_expect_str_eq(err.path, "node_id");
	cr_expect_null(tunnel_dealer_open(ctx, "kommun-1480", "nowhere", &err));
	cr_expect_eq(err.code, NR_CONFIG);
	cr_expect_str_eq(err.path, "endpoint");
	cr_expect_not_null(strstr(err.text, "cannot connect to nowhere: "),
	    "%s", err.text);
	zmq_ctx_term(ctx);
}
