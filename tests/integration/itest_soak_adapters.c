/*
 * itest_soak_adapters.c — the whole production path under fire: narad with
 * its TLS front and ten real nara-adapters (four sending municipalities,
 * six receiving regional units, spool backend, mutual TLS) while the test
 * keeps dropping files into the senders' outboxes. A chaos loop kills -9
 * narad or a random adapter at random moments and restarts it after a
 * short random delay. At the end everything runs again, the test waits
 * for the queues to drain and checks that every file dropped was accepted
 * (reached sent/), sits in exactly one inbox (its recipient's) exactly
 * once, has its receipt back at the sender, that nothing was rejected, and
 * that `nara-audit verify` accepts the audit chain.
 *
 * The schedule is seeded; the seed is printed and NARA_SEED=N replays it.
 * NARA_SOAK=1 (make soak) runs SOAK_CYCLES instead of CYCLES.
 */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "adapter_helpers.h"
#include "harness.h"
#include "version.h"
#include "tls_helpers.h"

#define CYCLES 30
#define SOAK_CYCLES 300
#define MAX_MSGS 60000
#define N_SEND 4
#define N_RECV 6
#define N_ADAPTERS (N_SEND + N_RECV)
#define LOAD_EVERY_MS 25       /* one file into some outbox this often */
#define LIST_MAX 12            /* ids named per kind of failure */

static const char *const send_node[N_SEND] = {
	T_GBG, T_BORAS, "kommun-1401", "kommun-1402",
};
static const char *const send_addr[N_SEND] = {
	T_GBG_EH, T_BORAS_EH, "kommun:1401:elevhalsa", "kommun:1402:elevhalsa",
};
static const char *const recv_node[N_RECV] = {
	T_BUP, T_PED, "SE2321000131-E000000000201", "SE2321000131-E000000000301",
	"SE2321000131-E000000000501", "SE2321000131-E000000000601",
};

/* Nodes the harness policy does not have; the rules it has cover them. */
static const char extra_nodes[] =
    "\n[node kommun-1401]\nname = Härryda\nkind = municipality\n"
    "addresses = kommun:1401:socialtjanst, kommun:1401:elevhalsa\n"
    "\n[node kommun-1402]\nname = Partille\nkind = municipality\n"
    "addresses = kommun:1402:socialtjanst, kommun:1402:elevhalsa\n"
    "\n[node SE2321000131-E000000000201]\nname = Barnhälsovård\n"
    "kind = region\naddresses = SE2321000131-E000000000201\n"
    "\n[node SE2321000131-E000000000301]\nname = Habilitering\n"
    "kind = region\naddresses = SE2321000131-E000000000301\n"
    "\n[node SE2321000131-E000000000501]\nname = Logopedi\n"
    "kind = region\naddresses = SE2321000131-E000000000501\n"
    "\n[node SE2321000131-E000000000601]\nname = Barnkirurgi\n"
    "kind = region\naddresses = SE2321000131-E000000000601\n";

struct soak_msg {
	char id[37];
	unsigned char from, to;   /* index into send_node / recv_node */
	unsigned char handed;     /* "handed to the local system" log lines */
};

static struct harness h;
static struct tadapter ad[N_ADAPTERS];   /* senders first */
/* "ready" lines in each adapter's log before its latest start: the stop
 * at the end waits for one more, so that its SIGTERM does not come while
 * a just restarted adapter is still starting (before its handler is set,
 * the signal would end it as killed). */
static int ready_before[N_ADAPTERS];
#define ADAPTER_READY "nara-adapter " NARA_VERSION " ready"
static struct fixture *fx;
static char pki[64];
static int tls_port;

static struct soak_msg *msgs;
static int n_msgs;
static unsigned seed;            /* the schedule's state */
static unsigned seed0;           /* as given: printed for replays */
static int kills_narad, kills_adapter;

static bool
soak_mode(void)
{
	const char *v = getenv("NARA_SOAK");

	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static unsigned
pick(unsigned n)
{
	return (unsigned)rand_r(&seed) % n;
}

static const char *
ad_name(int i)
{
	return i < N_SEND ? send_node[i] : recv_node[i - N_SEND];
}

static void
setup(void)
{
	char extra[4096], broker[64], akeys[1024];
	const char *nodes[N_ADAPTERS + 1];
	const char *s = getenv("NARA_SEED");

	seed0 = s != NULL ? (unsigned)strtoul(s, NULL, 10)
	    : (unsigned)time(NULL) ^ (unsigned)getpid();
	seed = seed0;
	fprintf(stderr, "soak_adapters: seed %u (replay with NARA_SEED=%u), "
	    "%d cycles\n", seed0, seed0, soak_mode() ? SOAK_CYCLES : CYCLES);
	for (int i = 0; i < N_ADAPTERS; i++)
		nodes[i] = ad_name(i);
	nodes[N_ADAPTERS] = NULL;
	tls_pki_make(pki, nodes);
	tls_port = tls_free_port();
	snprintf(extra, sizeof(extra), "ack_timeout = 5\n"
	    "\n[tls]\nlisten = 127.0.0.1:%d\ncert = %s/narad.pem\n"
	    "key = %s/narad.key\nca = %s/ca.pem\ncrl = %s/crl.pem\n"
	    "identity = san-uri\nhandshake_timeout = 2\n"
	    "runtime_dir = @RUNTIME_DIR@\n%s", tls_port, pki, pki, pki, pki,
	    extra_nodes);
	harness_init(&h, extra);
	tls_conf_runtime_dir(&h);
	harness_start(&h);
	snprintf(broker, sizeof(broker), "127.0.0.1:%d", tls_port);
	for (int i = 0; i < N_ADAPTERS; i++) {
		snprintf(akeys, sizeof(akeys), "ca = %s/ca.pem\ncert = %s/%s.pem\n"
		    "key = %s/%s.key\n", pki, pki, ad_name(i), pki, ad_name(i));
		tadapter_init(&ad[i], ad_name(i), broker, akeys);
		ready_before[i] = 0;
		tadapter_start(&ad[i]);
	}
	msgs = calloc(MAX_MSGS, sizeof(*msgs));
	cr_assert_not_null(msgs);
	fx = fixture_new();
}

static void
teardown(void)
{
	char cmd[200];

	fixture_free(&fx);
	for (int i = 0; i < N_ADAPTERS; i++)
		tadapter_cleanup(&ad[i]);
	harness_cleanup(&h);
	free(msgs);
	msgs = NULL;
	if (getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pki);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(soak_adapters, .init = setup, .fini = teardown, .timeout = 1800);

/* One referral from a random sender to a random recipient, named by its
 * message id so that sent/, inbox/ and receipts/ share the name. */
static void
drop_file(void)
{
	struct soak_msg *m;
	Nara__Envelope *env;
	char name[64];

	if (n_msgs >= MAX_MSGS)
		return;
	m = &msgs[n_msgs];
	m->from = (unsigned char)pick(N_SEND);
	m->to = (unsigned char)pick(N_RECV);
	env = fixture_envelope(fx, NARA__MESSAGE_TYPE__REFERRAL,
	    send_addr[m->from], recv_node[m->to]);
	snprintf(m->id, sizeof(m->id), "%s", env->message_id);
	snprintf(name, sizeof(name), "%s.json", m->id);
	spool_put_envelope(&ad[m->from], name, env);
	n_msgs++;
}

/* Keep the load going for ms milliseconds. */
static void
load_for(unsigned ms)
{
	int64_t until = harness_ms_now() + ms;

	while (harness_ms_now() < until) {
		drop_file();
		usleep(LOAD_EVERY_MS * 1000);
	}
}

/* Kill narad (3 times in 13, and at least once per run) or one of the ten
 * adapters, keep loading while it is down, start it again. */
static void
chaos_cycle(int cycle, bool last)
{
	unsigned target = pick(N_ADAPTERS + 3);

	if (last && kills_narad == 0)
		target = 0;

	load_for(150 + pick(850));
	if (target < 3) {
		cr_assert_eq(harness_stop(&h, SIGKILL), -SIGKILL,
		    "narad died on its own before cycle %d (seed %u); see %s",
		    cycle, seed0, h.log);
		kills_narad++;
		load_for(50 + pick(450));
		harness_start(&h);
		return;
	}
	struct tadapter *a = &ad[target - 3];
	cr_assert_eq(tadapter_stop(a, SIGKILL), -SIGKILL,
	    "adapter %s died on its own before cycle %d (seed %u); see %s",
	    a->node, cycle, seed0, a->log);
	kills_adapter++;
	load_for(50 + pick(450));
	ready_before[target - 3] = tadapter_log_count(a, ADAPTER_READY);
	tadapter_start(a);
}

static bool
spool_has(const struct tadapter *a, const char *sub, const char *id)
{
	char path[700];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s.json", a->spool, sub, id);
	return stat(path, &st) == 0;
}

static bool
msg_done(const struct soak_msg *m)
{
	return spool_has(&ad[m->from], "sent", m->id) &&
	    spool_has(&ad[N_SEND + m->to], "inbox", m->id) &&
	    spool_has(&ad[m->from], "receipts", m->id);
}

/* Wait until every message went all the way; returns how many did not. */
static int
drain(int timeout_ms)
{
	int64_t until = harness_ms_now() + timeout_ms;
	int done = 0;

	/* messages finish roughly in order: skip the finished prefix */
	for (;;) {
		while (done < n_msgs && msg_done(&msgs[done]))
			done++;
		int missing = 0;
		for (int i = done; i < n_msgs; i++)
			missing += !msg_done(&msgs[i]);
		if (missing == 0 || harness_ms_now() >= until)
			return missing;
		usleep(200000);
	}
}

static const char *
where_is(const struct soak_msg *m)
{
	const struct tadapter *s = &ad[m->from];

	if (spool_has(s, "rejected", m->id))
		return "in rejected/";
	if (spool_has(s, "outbox", m->id))
		return "still in outbox/";
	if (!spool_has(s, "sent", m->id))
		return "in no spool directory of its sender";
	if (!spool_has(&ad[N_SEND + m->to], "inbox", m->id))
		return "sent but not in its recipient's inbox";
	if (!spool_has(s, "receipts", m->id))
		return "delivered, but no receipt";
	return "sent, in its recipient's inbox, receipt back";
}

static int
msg_find(const char *id)
{
	for (int i = n_msgs - 1; i >= 0; i--)
		if (strcmp(msgs[i].id, id) == 0)
			return i;
	return -1;
}

/* Name up to LIST_MAX offenders on stderr; returns how many there were. */
struct offenders {
	const char *what;
	int n;
};

static void
offend(struct offenders *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
offend(struct offenders *o, const char *fmt, ...)
{
	va_list ap;

	if (o->n++ >= LIST_MAX)
		return;
	fprintf(stderr, "soak_adapters (seed %u): %s: ", seed0, o->what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Every inbox file is an expected message, in its recipient's inbox, whole;
 * every message is in exactly one inbox. */
static void
check_inboxes(void)
{
	struct offenders strangers = { "stray file in an inbox", 0 };
	struct offenders wrong = { "message in the wrong inbox", 0 };
	struct offenders torn = { "inbox file torn or naming another id", 0 };
	struct offenders count = { "message not in exactly one inbox", 0 };
	int *seen = calloc((size_t)n_msgs + 1, sizeof(int));
	char path[800], id[64];

	cr_assert_not_null(seen);
	for (int r = 0; r < N_RECV; r++) {
		const struct tadapter *a = &ad[N_SEND + r];
		DIR *d;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/inbox", a->spool);
		cr_assert_not_null(d = opendir(path), "%s", path);
		while ((e = readdir(d)) != NULL) {
			size_t l = strlen(e->d_name);
			int i;
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(id, sizeof(id), "%.36s", e->d_name);
			if (l != 36 + 5 || strcmp(e->d_name + 36, ".json") != 0 ||
			    (i = msg_find(id)) < 0) {
				offend(&strangers, "%s/%s", path, e->d_name);
				continue;
			}
			seen[i]++;
			if (msgs[i].to != r)
				offend(&wrong, "%s for %s found in %s's inbox", id,
				    recv_node[msgs[i].to], a->node);
			snprintf(path, sizeof(path), "%s/inbox/%s", a->spool, e->d_name);
			json_t *o = json_load_file(path, 0, NULL);
			const char *mid = json_string_value(json_object_get(o,
			    "message_id"));
			if (mid == NULL || strcmp(mid, id) != 0)
				offend(&torn, "%s", path);
			json_decref(o);
			snprintf(path, sizeof(path), "%s/inbox", a->spool);
		}
		closedir(d);
	}
	for (int i = 0; i < n_msgs; i++)
		if (seen[i] != 1)
			offend(&count, "%s from %s to %s: in %d inboxes (%s)",
			    msgs[i].id, send_node[msgs[i].from], recv_node[msgs[i].to],
			    seen[i], where_is(&msgs[i]));
	free(seen);
	cr_expect_eq(strangers.n, 0, "%d stray files in inboxes (seed %u)",
	    strangers.n, seed0);
	cr_expect_eq(wrong.n, 0, "%d messages in a wrong inbox (seed %u)",
	    wrong.n, seed0);
	cr_expect_eq(torn.n, 0, "%d torn inbox files (seed %u)", torn.n, seed0);
	cr_expect_eq(count.n, 0, "%d of %d messages not in exactly one inbox "
	    "(seed %u; ids on stderr)", count.n, n_msgs, seed0);
}

/* Senders: every file accepted (sent/), its receipt back, nothing rejected
 * or left behind. */
static void
check_senders(void)
{
	struct offenders unsent = { "file never accepted", 0 };
	struct offenders noreceipt = { "no receipt", 0 };
	int rejected = 0, left = 0;

	for (int i = 0; i < n_msgs; i++) {
		const struct soak_msg *m = &msgs[i];
		if (!spool_has(&ad[m->from], "sent", m->id))
			offend(&unsent, "%s in %s: %s", m->id, send_node[m->from],
			    where_is(m));
		else if (!spool_has(&ad[m->from], "receipts", m->id))
			offend(&noreceipt, "%s from %s to %s: %s", m->id,
			    send_node[m->from], recv_node[m->to], where_is(m));
	}
	for (int s = 0; s < N_SEND; s++) {
		rejected += spool_count(&ad[s], "rejected", "");
		left += spool_count(&ad[s], "outbox", "");
	}
	cr_expect_eq(unsent.n, 0, "%d of %d files never reached sent/ (seed %u; "
	    "ids on stderr)", unsent.n, n_msgs, seed0);
	cr_expect_eq(noreceipt.n, 0, "%d sent messages without a receipt "
	    "(seed %u; ids on stderr)", noreceipt.n, seed0);
	cr_expect_eq(rejected, 0, "%d files in rejected/ (seed %u)", rejected,
	    seed0);
	cr_expect_eq(left, 0, "%d files left in outboxes (seed %u)", left, seed0);
}

/* The adapter logs "message ID handed to the local system" once it has
 * recorded a hand-off; a second such line for one id is a second hand-off
 * of a message already handed off: a duplicate for the local system. */
static void
count_handoffs(int r, struct offenders *strangers)
{
	static const char tail[] = " handed to the local system";
	char line[2048], id[37];
	FILE *f = fopen(ad[N_SEND + r].log, "r");

	cr_assert_not_null(f, "%s", ad[N_SEND + r].log);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = strstr(line, tail);
		int i;
		if (p == NULL || p - line < 36 + 8 ||
		    strncmp(p - 36 - 8, "message ", 8) != 0)
			continue;
		snprintf(id, sizeof(id), "%.36s", p - 36);
		if ((i = msg_find(id)) < 0 || msgs[i].to != r)
			offend(strangers, "%s handed off by %s", id,
			    recv_node[r]);
		else
			msgs[i].handed++;
	}
	fclose(f);
}

static void
check_handoffs(void)
{
	struct offenders strangers = { "hand-off of a message not for it", 0 };
	struct offenders twice = { "handed to the local system twice", 0 };
	struct harness db = { 0 };
	int want[N_RECV] = { 0 };

	for (int r = 0; r < N_RECV; r++)
		count_handoffs(r, &strangers);
	for (int i = 0; i < n_msgs; i++) {
		want[msgs[i].to]++;
		if (msgs[i].handed > 1)
			offend(&twice, "%s by %s: %d times", msgs[i].id,
			    recv_node[msgs[i].to], msgs[i].handed);
	}
	/* and the adapter's own record: one handed row per message */
	for (int r = 0; r < N_RECV; r++) {
		snprintf(db.store, sizeof(db.store), "%s", ad[N_SEND + r].state);
		long rows = harness_sql_long(&db, "select count(*) from handed "
		    "where kind='message' and outcome='handed'");
		cr_expect_eq(rows, want[r], "%s recorded %ld hand-offs for %d "
		    "messages (seed %u)", recv_node[r], rows, want[r], seed0);
	}
	cr_expect_eq(strangers.n, 0, "%d hand-offs of foreign messages (seed %u)",
	    strangers.n, seed0);
	cr_expect_eq(twice.n, 0, "%d messages handed off twice (seed %u; ids on "
	    "stderr)", twice.n, seed0);
}

Test(soak_adapters, kill9_narad_and_adapters_under_load)
{
	int cycles = soak_mode() ? SOAK_CYCLES : CYCLES, missing;
	int64_t t0 = harness_ms_now(), t_drain;
	char bin[300], out[4096];

	for (int c = 0; c < cycles; c++)
		chaos_cycle(c, c == cycles - 1);
	t_drain = harness_ms_now();
	missing = drain(soak_mode() ? 600000 : 120000);
	fprintf(stderr, "soak_adapters: seed %u, %d cycles (%d narad kills, "
	    "%d adapter kills), %d files dropped, chaos %.1f s, drain %.1f s, "
	    "%d messages incomplete\n", seed0, cycles, kills_narad, kills_adapter,
	    n_msgs, (double)(t_drain - t0) / 1000,
	    (double)(harness_ms_now() - t_drain) / 1000, missing);
	for (int i = 0; i < N_ADAPTERS; i++) {
		cr_expect(tadapter_wait_log(&ad[i], ADAPTER_READY,
		    ready_before[i] + 1, 30000), "adapter %s never ready; see %s",
		    ad[i].node, ad[i].log);
		cr_expect_eq(tadapter_stop(&ad[i], SIGTERM), 0, "adapter %s did "
		    "not stop cleanly; see %s", ad[i].node, ad[i].log);
	}
	cr_expect_eq(harness_stop(&h, SIGTERM), 0, "narad did not stop "
	    "cleanly; see %s", h.log);

	cr_expect_gt(n_msgs, cycles * 10, "too little traffic to test");
	check_senders();
	check_inboxes();
	check_handoffs();
	int rc = harness_run(out, sizeof(out), "%s verify --store %s",
	    harness_bin("nara-audit", bin, sizeof(bin)), h.store);
	cr_expect_eq(rc, 0, "nara-audit verify exit %d (seed %u): %s", rc, seed0,
	    out);
	cr_expect_eq(missing, 0, "%d of %d messages did not go all the way "
	    "(seed %u; NARA_KEEP_TMP=1 keeps the logs)", missing, n_msgs, seed0);
}
