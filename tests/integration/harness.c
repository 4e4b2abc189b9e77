/*
 * harness.c — temporary broker instances for integration tests.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/rand.h>
#include <sqlite3.h>

static const char test_policy[] =
    "[node " T_GBG "]\n"
    "name = Göteborg\n"
    "addresses = " T_GBG_SOC ", " T_GBG_EH ", kommun:1480:forskola\n"
    "\n[node " T_BORAS "]\n"
    "name = Borås\n"
    "addresses = " T_BORAS_SOC ", " T_BORAS_EH "\n"
    "\n[node " T_BUP "]\n"
    "name = BUP Göteborg\nkind = region\n"
    "addresses = " T_BUP "\n"
    "\n[node " T_PED "]\n"
    "name = Barnmedicin\nkind = region\n"
    "addresses = " T_PED "\n"
    "\n[rule school-health-to-region]\n"
    "senders = kommun:*:elevhalsa\n"
    "recipients = SE2321000131-*\n"
    "types = referral, consultation_request, sip_invitation\n"
    "\n[rule region-concern]\n"
    "senders = SE2321000131-*\n"
    "recipients = kommun:*:socialtjanst\n"
    "types = report_of_concern, sip_invitation, referral\n"
    "\n[rule responses-to-municipalities]\n"
    "senders = SE2321000131-*\n"
    "recipients = kommun:*\n"
    "types = referral_response, consultation_response, sip_response\n"
    "\n[rule responses-to-region]\n"
    "senders = kommun:*\n"
    "recipients = SE2321000131-*\n"
    "types = referral_response, consultation_response, sip_response\n";

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

void
harness_init(struct harness *h, const char *broker_extra)
{
	char path[400], *conf = NULL;
	unsigned char key[32];
	size_t len;
	FILE *f;

	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "/tmp/nara-it-XXXXXX");
	cr_assert(mkdtemp(h->dir) != NULL);
	snprintf(path, sizeof(path), "%s/pseudonym.key", h->dir);
	cr_assert(RAND_bytes(key, sizeof(key)) == 1);
	write_file(path, key, sizeof(key), 0600);
	snprintf(h->router, sizeof(h->router), "ipc://%s/router.sock", h->dir);
	snprintf(h->store, sizeof(h->store), "%s/nara.db", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/narad.log", h->dir);
	snprintf(h->conf, sizeof(h->conf), "%s/nara.conf", h->dir);
	f = open_memstream(&conf, &len);
	fprintf(f, "[broker]\nid = narad-test\nrouter = %s\nstore = %s\n"
	    "pseudonym_key = %s\ncontrol = ipc://%s/control.sock\n"
	    "http_listen =\nlog_level = debug\n%s\n%s",
	    h->router, h->store, path, h->dir,
	    broker_extra ? broker_extra : "", test_policy);
	fclose(f);
	write_file(h->conf, conf, len, 0644);
	free(conf);
}

const char *
harness_bin(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("NARA_BIN");

	snprintf(buf, len, "%s/%s", dir ? dir : "build/bin", name);
	return buf;
}

void
harness_child_bind(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(125);
}

void
harness_start(struct harness *h)
{
	char bin[300], sock[360];
	pid_t parent = getpid();
	struct stat st;

	harness_bin("narad", bin, sizeof(bin));
	snprintf(sock, sizeof(sock), "%s/router.sock", h->dir);
	unlink(sock);
	h->pid = fork();
	cr_assert(h->pid >= 0);
	if (h->pid == 0) {
		int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		harness_child_bind(parent);
		execl(bin, "narad", "-c", h->conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (stat(sock, &st) == 0)
			return;
		int status;
		if (waitpid(h->pid, &status, WNOHANG) == h->pid)
			cr_assert_fail("narad exited at start (status %d); see %s",
			    status, h->log);
		usleep(10000);
	}
	cr_assert_fail("narad did not create %s", sock);
}

int
harness_stop(struct harness *h, int sig)
{
	int status = 0;

	if (h->pid <= 0)
		return 0;
	kill(h->pid, sig);
	waitpid(h->pid, &status, 0);
	h->pid = 0;
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

void
harness_conf_replace(const struct harness *h, const char *from,
    const char *to)
{
	char text[65536], *at;
	size_t len;
	FILE *f = fopen(h->conf, "r");

	cr_assert_not_null(f, "open %s: %s", h->conf, strerror(errno));
	len = fread(text, 1, sizeof(text) - 1, f);
	cr_assert(len < sizeof(text) - 1, "%s: too long", h->conf);
	fclose(f);
	text[len] = '\0';
	cr_assert_not_null(at = strstr(text, from), "%s has no \"%s\"",
	    h->conf, from);
	cr_assert_not_null(f = fopen(h->conf, "w"));
	fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	cr_assert_eq(fclose(f), 0);
}

void
harness_cleanup(struct harness *h)
{
	char cmd[400];

	harness_stop(h, SIGKILL);
	if (h->dir[0] != '\0' && getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", h->dir);
	}
}

int
harness_run(char *out, size_t out_len, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	size_t n = 0;
	FILE *p;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	p = popen(cmd, "r");
	cr_assert(p != NULL);
	if (out != NULL && out_len > 0) {
		n = fread(out, 1, out_len - 1, p);
		out[n] = '\0';
	}
	while (fgetc(p) != EOF)
		;
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
harness_log_count(const struct harness *h, const char *needle)
{
	return harness_file_count(h->log, needle);
}

int64_t
harness_ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
harness_file_count(const char *path, const char *needle)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

void
harness_sql_exec(const struct harness *h, const char *sql)
{
	sqlite3 *db = NULL;

	cr_assert_eq(sqlite3_open(h->store, &db), SQLITE_OK, "open %s: %s",
	    h->store, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 10000);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s",
	    sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

long
harness_sql_long(const struct harness *h, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long v = 0;
	int rc = sqlite3_open_v2(h->store, &db, SQLITE_OPEN_READONLY, NULL);

	cr_assert_eq(rc, SQLITE_OK, "open %s: %s", h->store, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	rc = sqlite3_step(st);
	cr_assert(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql,
	    sqlite3_errmsg(db));
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

bool
harness_wait(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	int64_t deadline = harness_ms_now() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (harness_ms_now() >= deadline)
			return false;
		usleep(10000);
	}
}

struct log_wait {
	const struct harness *h;
	const char *needle;
	int n;
};

static bool
log_has(void *arg)
{
	struct log_wait *w = arg;

	return harness_log_count(w->h, w->needle) >= w->n;
}

bool
harness_wait_log(const struct harness *h, const char *needle, int n,
    int timeout_ms)
{
	struct log_wait w = { h, needle, n };

	return harness_wait(log_has, &w, timeout_ms);
}

struct sql_wait {
	const struct harness *h;
	const char *sql;
	long want;
};

static bool
sql_reached(void *arg)
{
	struct sql_wait *w = arg;

	return harness_sql_long(w->h, w->sql) >= w->want;
}

static bool
sql_down_to(void *arg)
{
	struct sql_wait *w = arg;

	return harness_sql_long(w->h, w->sql) <= w->want;
}

bool
harness_wait_sql_at_most(const struct harness *h, const char *sql, long most,
    int timeout_ms)
{
	struct sql_wait w = { h, sql, most };

	return harness_wait(sql_down_to, &w, timeout_ms);
}

bool
harness_wait_sql(const struct harness *h, const char *sql, long want,
    int timeout_ms)
{
	struct sql_wait w = { h, sql, want };

	return harness_wait(sql_reached, &w, timeout_ms);
}
