/*
 * adapter_helpers.c — nara-adapter processes, spool files, a webhook server
 * and an HTTP client for the adapter's integration tests.
 */
#include "adapter_helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pbjson.h"

static void
write_all(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

void
tadapter_init(struct tadapter *a, const char *node, const char *broker,
    const char *extra)
{
	char *conf = NULL;
	size_t len;
	FILE *f;

	memset(a, 0, sizeof(*a));
	snprintf(a->node, sizeof(a->node), "%s", node);
	snprintf(a->dir, sizeof(a->dir), "/tmp/nara-ad-XXXXXX");
	cr_assert(mkdtemp(a->dir) != NULL);
	snprintf(a->conf, sizeof(a->conf), "%s/adapter.conf", a->dir);
	snprintf(a->spool, sizeof(a->spool), "%s/spool", a->dir);
	snprintf(a->state, sizeof(a->state), "%s/adapter.db", a->dir);
	snprintf(a->log, sizeof(a->log), "%s/adapter.log", a->dir);
	f = open_memstream(&conf, &len);
	fprintf(f, "[adapter]\nnode_id = %s\nbroker = %s\ntls = %s\n"
	    "state = %s\nlog_level = debug\nretry_min = 1\nretry_max = 2\n"
	    "hello_timeout = 2\n%s\n[spool]\ndir = %s\n",
	    node, broker, strstr(broker, "://") ? "no" : "yes", a->state,
	    extra ? extra : "", a->spool);
	fclose(f);
	write_all(a->conf, conf, len);
	free(conf);
}

void
tadapter_start(struct tadapter *a)
{
	char bin[300];
	pid_t parent = getpid();

	harness_bin("nara-adapter", bin, sizeof(bin));
	a->pid = fork();
	cr_assert(a->pid >= 0);
	if (a->pid == 0) {
		int fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		harness_child_bind(parent);
		execl(bin, "nara-adapter", "-c", a->conf, (char *)NULL);
		_exit(127);
	}
}

int
tadapter_stop(struct tadapter *a, int sig)
{
	int status = 0;

	if (a->pid <= 0)
		return 0;
	kill(a->pid, sig);
	waitpid(a->pid, &status, 0);
	a->pid = 0;
	return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

void
tadapter_cleanup(struct tadapter *a)
{
	char cmd[400];

	tadapter_stop(a, SIGKILL);
	if (a->dir[0] != '\0' && getenv("NARA_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", a->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", a->dir);
	}
}

static int
not_dot(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

int
tadapter_open_fds(const struct tadapter *a)
{
	char dir[64];
	struct dirent **list;
	int n;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)a->pid);
	if ((n = scandir(dir, &list, not_dot, NULL)) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return n;
}

int
tadapter_log_count(const struct tadapter *a, const char *needle)
{
	return harness_file_count(a->log, needle);
}

struct tadapter_log_wait {
	const struct tadapter *a;
	const char *needle;
	int n;
};

static bool
tadapter_log_has(void *arg)
{
	struct tadapter_log_wait *w = arg;

	return tadapter_log_count(w->a, w->needle) >= w->n;
}

bool
tadapter_wait_log(const struct tadapter *a, const char *needle, int n,
    int timeout_ms)
{
	struct tadapter_log_wait w = { a, needle, n };

	return harness_wait(tadapter_log_has, &w, timeout_ms);
}

void
spool_put(const struct tadapter *a, const char *name, const void *data,
    size_t len)
{
	char tmp[600], path[600], dir[400];

	snprintf(dir, sizeof(dir), "%s/outbox", a->spool);
	mkdir(a->spool, 0750);
	mkdir(dir, 0750);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_all(tmp, data, len);
	cr_assert_eq(rename(tmp, path), 0);
}

void
spool_put_envelope(const struct tadapter *a, const char *name,
    const Nara__Envelope *env)
{
	char *js = pbjson_print(&env->base);

	cr_assert(js != NULL);
	spool_put(a, name, js, strlen(js));
	free(js);
}

bool
spool_wait(const struct tadapter *a, const char *sub, const char *name,
    int timeout_ms)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", a->spool, sub, name);
	for (int i = 0; i < timeout_ms / 20; i++) {
		if (stat(path, &st) == 0)
			return true;
		usleep(20000);
	}
	return stat(path, &st) == 0;
}

int
spool_count(const struct tadapter *a, const char *sub, const char *suffix)
{
	char path[600];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", a->spool, sub);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), s = strlen(suffix);
		if (e->d_name[0] == '.')
			continue;
		if (l >= s && strcmp(e->d_name + l - s, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

char *
file_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0;

	if (f == NULL)
		return NULL;
	FILE *m = open_memstream(&buf, &n);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	if (len != NULL)
		*len = n;
	return buf;
}

int
adapter_run(char *out, size_t len, const char *fmt, ...)
{
	char args[1500], bin[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	harness_bin("nara-adapter", bin, sizeof(bin));
	return harness_run(out, len, "%s %s", bin, args);
}

/* ---------------------------------------------------------------- webhook */

/* Read one request: headers, then Content-Length bytes of body. */
static char *
read_request(int fd, size_t *hdr_len)
{
	size_t cap = 1 << 16, n = 0, want = 0;
	char *buf = malloc(cap + 1), *end;

	while (buf != NULL) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 5000) <= 0)
			break;
		if (n == cap && (buf = realloc(buf, (cap *= 2) + 1)) == NULL)
			break;
		ssize_t r = read(fd, buf + n, cap - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
		if (want == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			char *cl = strcasestr(buf, "Content-Length:");
			*hdr_len = (size_t)(end + 4 - buf);
			want = *hdr_len + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (want > 0 && n >= want)
			return buf;
	}
	free(buf);
	return NULL;
}

static void
header(const char *req, const char *name, char *out, size_t len)
{
	const char *p = strcasestr(req, name);

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen(name);
	while (*p == ' ' || *p == ':')
		p++;
	snprintf(out, len, "%.*s", (int)strcspn(p, "\r\n"), p);
}

static void
serve_one(struct webhook *w, int c)
{
	size_t hdr = 0;
	char *req = read_request(c, &hdr);
	struct webhook_hit *hit;
	int status, seq;
	char resp[200];

	if (req == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	seq = w->n_hits;
	hit = w->n_hits < 512 ? &w->hits[w->n_hits++] : NULL;
	status = seq < w->fail_first ? 500 :
	    seq < w->fail_first + w->hang_first ? 0 : w->status;
	if (hit != NULL) {
		header(req, "\r\nNara-Kind", hit->kind, sizeof(hit->kind));
		header(req, "\r\nIdempotency-Key", hit->key, sizeof(hit->key));
		header(req, "\r\nHost", w->host, sizeof(w->host));
		hit->body = strdup(req + hdr);
		hit->answered = status;
	}
	pthread_mutex_unlock(&w->lock);
	free(req);
	if (status == 0) {
		usleep((useconds_t)w->hang_ms * 1000);
		return;
	}
	snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n"
	    "%sConnection: close\r\n\r\n", status, w->refuse_header &&
	    status >= 400 && status < 500 ? "Nara-Refused: not for us\r\n" : "");
	if (write(c, resp, strlen(resp)) < 0)
		return;
}

static void *
webhook_main(void *arg)
{
	struct webhook *w = arg;

	while (!w->stop) {
		struct pollfd p = { w->fd, POLLIN, 0 };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_one(w, c);
		close(c);
	}
	return NULL;
}

void
webhook_start(struct webhook *w)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr *sa = w->ipv6 ? (struct sockaddr *)&sin6 :
	    (struct sockaddr *)&sin;
	socklen_t len = w->ipv6 ? sizeof(sin6) : sizeof(sin);
	int one = 1;

	pthread_mutex_init(&w->lock, NULL);
	w->stop = false;
	w->n_hits = 0;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)w->port);   /* 0: any free port */
	sin6.sin6_addr = in6addr_loopback;
	sin6.sin6_port = sin.sin_port;
	/* CLOEXEC: adapters forked later must not hold the listener */
	w->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(w->fd >= 0);
	setsockopt(w->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(w->fd, sa, len), 0, "bind %s:%d: %s", w->ipv6 ?
	    "[::1]" : "127.0.0.1", w->port, strerror(errno));
	cr_assert_eq(listen(w->fd, 64), 0);
	cr_assert_eq(getsockname(w->fd, sa, &len), 0);
	w->port = ntohs(w->ipv6 ? sin6.sin6_port : sin.sin_port);
	if (w->status == 0)
		w->status = 200;
	cr_assert_eq(pthread_create(&w->thread, NULL, webhook_main, w), 0);
	w->running = true;
}

void
webhook_stop(struct webhook *w)
{
	if (!w->running)
		return;
	w->running = false;
	w->stop = true;
	pthread_join(w->thread, NULL);
	close(w->fd);
	for (int i = 0; i < w->n_hits; i++)
		free(w->hits[i].body);
	pthread_mutex_destroy(&w->lock);
}

int
webhook_count(struct webhook *w, const char *key, int answered)
{
	int n = 0;

	pthread_mutex_lock(&w->lock);
	for (int i = 0; i < w->n_hits; i++)
		if ((key == NULL || strcmp(w->hits[i].key, key) == 0) &&
		    (answered < 0 || w->hits[i].answered == answered))
			n++;
	pthread_mutex_unlock(&w->lock);
	return n;
}

/* ---------------------------------------------------------------- client */

char http_last_status_line[128];

/* Send one request on a connected socket and read the answer. */
static int
http_exchange(int fd, const char *method, const char *path, const char *json,
    char **body)
{
	char head[512], *resp = NULL, *sep;
	size_t n = 0;
	int status = -1;
	FILE *m;

	if (body != NULL)
		*body = NULL;
	snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", method, path, json ? strlen(json) : 0);
	if (write(fd, head, strlen(head)) < 0 ||
	    (json && write(fd, json, strlen(json)) < 0)) {
		close(fd);
		return -1;
	}
	m = open_memstream(&resp, &n);
	for (;;) {
		char buf[4096];
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 10000) <= 0)
			break;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		fwrite(buf, 1, (size_t)r, m);
	}
	fclose(m);
	close(fd);
	http_last_status_line[0] = '\0';
	if (resp != NULL)
		snprintf(http_last_status_line, sizeof(http_last_status_line),
		    "%.*s", (int)strcspn(resp, "\r\n"), resp);
	if (resp != NULL && sscanf(resp, "HTTP/1.%*d %d", &status) == 1 &&
	    body != NULL && (sep = strstr(resp, "\r\n\r\n")) != NULL)
		*body = strdup(sep + 4);
	free(resp);
	return status;
}

int
http_request(int port, const char *method, const char *path,
    const char *json, char **body)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	return http_exchange(fd, method, path, json, body);
}

int
http_request_unix(const char *sock, const char *method, const char *path,
    const char *json, char **body)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -1;
	}
	return http_exchange(fd, method, path, json, body);
}
