/*
 * cdp.c — the DevTools protocol over Chromium's --remote-debugging-pipe for
 * the console tests (cdp.h): one page, commands sent on its flat session,
 * events read and dropped while a reply is awaited.
 */
#include "cdp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "harness.h"

/* A reply larger than this is not one a test needs (screenshots of a
 * 1280x1100 page are well under it). */
#define CDP_MAX_MESSAGE (64 << 20)

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
cdp_client_cert(const char *dir, const char *ca_pem, const char *cert_pem,
    const char *key_pem, const char *origin)
{
	char out[4096], path[400], key[600];
	json_t *prefs;
	int rc;

	cr_assert_eq(system("command -v certutil >/dev/null 2>&1 && command -v "
	    "pk12util >/dev/null 2>&1"), 0, "certutil/pk12util missing "
	    "(Debian libnss3-tools, in DEB_PACKAGES; run make deps)");
	rc = harness_run(out, sizeof(out), "set -e; mkdir -p %s/home/.pki/nssdb "
	    "%s/profile/Default; certutil -N -d sql:%s/home/.pki/nssdb "
	    "--empty-password; openssl pkcs12 -export -in %s -inkey %s -out "
	    "%s/operator.p12 -passout pass: -name operator; pk12util -i "
	    "%s/operator.p12 -d sql:%s/home/.pki/nssdb -W ''; certutil -A -d "
	    "sql:%s/home/.pki/nssdb -n nara-ca -t CT,, -i %s", dir, dir, dir,
	    cert_pem, key_pem, dir, dir, dir, dir, ca_pem);
	cr_assert_eq(rc, 0, "NSS database not made:\n%s", out);
	/* the content setting AutoSelectCertificateForUrls fills when set
	 * by policy; an empty filter matches the one certificate there is */
	snprintf(key, sizeof(key), "%s,*", origin);
	prefs = json_pack("{s:{s:{s:{s:{s:{s:{s:[{}]}}}}}}}", "profile",
	    "content_settings", "exceptions", "auto_select_certificate", key,
	    "setting", "filters");
	cr_assert_not_null(prefs);
	snprintf(path, sizeof(path), "%s/profile/Default/Preferences", dir);
	cr_assert_eq(json_dump_file(prefs, path, 0), 0, "cannot write %s", path);
	json_decref(prefs);
}

/* The child: fd 3 reads commands, fd 4 writes replies. */
static void
exec_chromium(const char *dir, int cmd_in, int reply_out)
{
	char home[400], profile[420], log[400];
	int fd;

	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(profile, sizeof(profile), "--user-data-dir=%s/profile", dir);
	snprintf(log, sizeof(log), "%s/chromium.log", dir);
	setpgid(0, 0);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (dup2(cmd_in, 3) < 0 || dup2(reply_out, 4) < 0)
		_exit(126);
	mkdir(home, 0700);
	setenv("HOME", home, 1);
	execlp("chromium", "chromium", "--headless", "--no-sandbox",
	    "--disable-gpu", "--no-first-run", "--no-default-browser-check",
	    "--remote-debugging-pipe", "--window-size=1280,1100", profile,
	    "about:blank", (char *)NULL);
	_exit(127);
}

/* Send one command (params taken); its id, or -1 when the browser is
 * gone. */
static int
send_command(struct cdp *c, const char *method, json_t *params,
    const char *session)
{
	json_t *m = json_pack("{s:i, s:s}", "id", ++c->next_id, "method",
	    method);
	char *text;
	size_t len, off = 0;
	ssize_t n;

	json_object_set_new(m, "params", params ? params : json_object());
	if (session != NULL && session[0] != '\0')
		json_object_set_new(m, "sessionId", json_string(session));
	text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	cr_assert_not_null(text);
	len = strlen(text) + 1;     /* the NUL ends the message */
	while (off < len) {
		n = write(c->to_browser, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "cdp: %s: chromium closed its command "
			    "pipe\n", method);
			free(text);
			return -1;
		}
		off += (size_t)n;
	}
	free(text);
	return c->next_id;
}

/* The next whole message, read until deadline; NULL on timeout or EOF. */
static json_t *
read_message(struct cdp *c, long long deadline)
{
	char *end;
	json_t *m;
	ssize_t n;
	struct pollfd p = { .fd = c->from_browser, .events = POLLIN };

	while ((end = c->len ? memchr(c->buf, '\0', c->len) : NULL) == NULL) {
		long long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return NULL;
		if (c->cap - c->len < 65536) {
			cr_assert_lt(c->cap, CDP_MAX_MESSAGE, "reply too large");
			c->cap = c->cap ? c->cap * 2 : 1 << 20;
			cr_assert_not_null(c->buf = realloc(c->buf, c->cap));
		}
		n = read(c->from_browser, c->buf + c->len, c->cap - c->len);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
	m = json_loadb(c->buf, (size_t)(end - c->buf), 0, NULL);
	c->len -= (size_t)(end + 1 - c->buf);
	memmove(c->buf, end + 1, c->len);
	cr_assert_not_null(m, "chromium sent a message that is not JSON");
	return m;
}

/* Wait for the reply to id: its result (owned by the caller) or NULL. */
static json_t *
await_reply(struct cdp *c, int id, const char *method, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	json_t *m, *r = NULL;
	char *e;

	while (id > 0 && (m = read_message(c, deadline)) != NULL) {
		if (json_integer_value(json_object_get(m, "id")) != id) {
			json_decref(m);     /* an event or an older reply */
			continue;
		}
		if ((r = json_object_get(m, "result")) != NULL)
			json_incref(r);
		else if ((e = json_dumps(json_object_get(m, "error"),
		    JSON_COMPACT)) != NULL) {
			fprintf(stderr, "cdp: %s: %s\n", method, e);
			free(e);
		}
		json_decref(m);
		return r;
	}
	fprintf(stderr, "cdp: %s: no reply in %d ms\n", method, timeout_ms);
	return NULL;
}

void
cdp_start(struct cdp *c, const char *dir)
{
	int cmd[2], reply[2];
	json_t *r;

	memset(c, 0, sizeof(*c));
	c->to_browser = c->from_browser = -1;
	cr_assert_eq(system("command -v chromium >/dev/null 2>&1"), 0,
	    "chromium is not installed (Debian chromium; run make deps)");
	cr_assert_eq(pipe2(cmd, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(reply, O_CLOEXEC), 0);
	cr_assert_gt(c->pid = fork(), -1);
	if (c->pid == 0)
		exec_chromium(dir, cmd[0], reply[1]);   /* dup2 clears CLOEXEC */
	close(cmd[0]);
	close(reply[1]);
	c->to_browser = cmd[1];
	c->from_browser = reply[0];
	signal(SIGPIPE, SIG_IGN);
	r = await_reply(c, send_command(c, "Target.createTarget",
	    json_pack("{s:s}", "url", "about:blank"), NULL),
	    "Target.createTarget", 60000);
	cr_assert_not_null(r, "chromium does not answer; see %s/chromium.log",
	    dir);
	r = await_reply(c, send_command(c, "Target.attachToTarget",
	    json_pack("{s:O, s:b}", "targetId", json_object_get(r, "targetId"),
	    "flatten", 1), NULL), "Target.attachToTarget", 30000);
	cr_assert_not_null(r);
	snprintf(c->session, sizeof(c->session), "%s",
	    json_string_value(json_object_get(r, "sessionId")));
	json_decref(r);
	cr_assert(c->session[0] != '\0', "no session for the page");
}

json_t *
cdp_call(struct cdp *c, const char *method, json_t *params, int timeout_ms)
{
	return await_reply(c, send_command(c, method, params, c->session),
	    method, timeout_ms);
}

json_t *
cdp_eval(struct cdp *c, const char *expr, int timeout_ms)
{
	json_t *r = cdp_call(c, "Runtime.evaluate", json_pack("{s:s, s:b, s:b}",
	    "expression", expr, "returnByValue", 1, "awaitPromise", 1),
	    timeout_ms);
	json_t *v = NULL;

	if (r != NULL && json_object_get(r, "exceptionDetails") == NULL &&
	    (v = json_object_get(json_object_get(r, "result"), "value")) != NULL)
		json_incref(v);
	json_decref(r);
	return v;
}

bool
cdp_wait_true(struct cdp *c, const char *expr, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	json_t *v;
	bool ok;

	do {
		v = cdp_eval(c, expr, 10000);
		ok = json_is_true(v);
		json_decref(v);
		if (ok)
			return true;
		usleep(50000);          /* the page's next fetch or render */
	} while (now_ms() < deadline);
	return false;
}

int
cdp_navigate(struct cdp *c, const char *url, int timeout_ms)
{
	json_t *r = cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", url),
	    timeout_ms);
	const char *e = json_string_value(json_object_get(r, "errorText"));
	int rc = r != NULL && e == NULL ? 0 : -1;

	if (e != NULL)
		fprintf(stderr, "cdp: Page.navigate %s: %s\n", url, e);
	json_decref(r);
	return rc;
}

int
cdp_screenshot(struct cdp *c, const char *path, int timeout_ms)
{
	json_t *r = cdp_call(c, "Page.captureScreenshot", json_pack("{s:s}",
	    "format", "png"), timeout_ms);
	const char *b64 = json_string_value(json_object_get(r, "data"));
	size_t len = b64 ? strlen(b64) : 0;
	unsigned char *png = malloc(len / 4 * 3 + 3);
	int n = -1, rc = -1;
	FILE *f;

	if (png != NULL && len > 0 && len % 4 == 0)
		n = EVP_DecodeBlock(png, (const unsigned char *)b64, (int)len);
	if (n > 0) {                /* EVP_DecodeBlock counts the padding */
		n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
		if ((f = fopen(path, "w")) != NULL) {
			rc = fwrite(png, 1, (size_t)n, f) == (size_t)n ? 0 : -1;
			rc = fclose(f) == 0 ? rc : -1;
		}
	}
	free(png);
	json_decref(r);
	return rc;
}

void
cdp_stop(struct cdp *c)
{
	long long deadline = now_ms() + 10000;
	int status;

	if (c->pid > 0) {
		json_decref(await_reply(c, send_command(c, "Browser.close", NULL,
		    NULL), "Browser.close", 5000));
		close(c->to_browser);
		close(c->from_browser);
		while (waitpid(c->pid, &status, WNOHANG) == 0 &&
		    now_ms() < deadline)
			usleep(20000);
		kill(-c->pid, SIGKILL);   /* helpers it left behind */
		waitpid(c->pid, &status, 0);
	}
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->to_browser = c->from_browser = -1;
}
