/*
 * itest_http_limits.c — slow clients on narad's HTTP listener: connections
 * beyond http_max_connections_per_address or http_max_connections (at most
 * an eighth of narad's descriptor limit) are closed at once, a request
 * dripped a header line at a time is cut off after its deadline, and with
 * the descriptor limit lowered (prlimit) a crowd of them neither makes
 * narad spin on accept(2) nor takes the descriptors naractl's connection
 * needs.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "log.h"
#include "ops_helpers.h"

TestSuite(http_limits, .timeout = 120);

/* The start of a request, never finished. */
static const char slow_start[] = "GET /healthz HTTP/1.1\r\nHost: narad\r\n";

/* A connection to the HTTP listener from source address from (all of
 * 127.0.0.0/8 is loopback on Linux), with slow_start sent. */
static int
slow_open(const char *from)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)ops_http_port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	inet_pton(AF_INET, from, &src.sin_addr);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0,
	    "bind %s: %s", from, strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0,
	    "connect from %s: %s", from, strerror(errno));
	send(fd, slow_start, strlen(slow_start), MSG_NOSIGNAL);
	return fd;
}

/* Has narad closed fd (EOF or reset)? What it sent is dropped. */
static bool
peer_closed(int fd)
{
	char buf[512];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Slow clients, each sending a header line a second so that no idle
 * timer ever fires. */
struct crowd {
	int fd[128];
	bool closed[128];
	size_t n;
	size_t want_closed;            /* for crowd_closed */
	int64_t dripped_ms;
};

static size_t
crowd_count_closed(struct crowd *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (!c->closed[i])
			c->closed[i] = peer_closed(c->fd[i]);
		n += c->closed[i];
	}
	return n;
}

/* harness_wait: at least want_closed closed; drips meanwhile. */
static bool
crowd_closed(void *arg)
{
	struct crowd *c = arg;
	int64_t now = harness_ms_now();

	if (now - c->dripped_ms >= 1000) {
		for (size_t i = 0; i < c->n; i++)
			if (!c->closed[i])
				send(c->fd[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);
		c->dripped_ms = now;
	}
	return crowd_count_closed(c) >= c->want_closed;
}

static void
crowd_free(struct crowd *c)
{
	for (size_t i = 0; i < c->n; i++)
		close(c->fd[i]);
	c->n = 0;
}

static bool
closed_fd(void *arg)
{
	return peer_closed(*(int *)arg);
}

/* Descriptors narad has open now. */
static int
narad_fds(void)
{
	char path[64];
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)ops_h.pid);
	cr_assert_not_null(d = opendir(path));
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n - 2;
}

/* The lowest descriptor number narad has free: with RLIMIT_NOFILE at it,
 * its next descriptor cannot be made (a limit at the count of open ones
 * leaves any hole below it free). */
static int
narad_lowest_free_fd(void)
{
	char path[64];
	int fd = 0;

	for (;; fd++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)ops_h.pid, fd);
		if (access(path, F_OK) != 0)
			return fd;
	}
}

static bool
narad_alive(void)
{
	return waitpid(ops_h.pid, NULL, WNOHANG) == 0;
}

/* One address gets http_max_connections_per_address connections, no
 * more; another address is still served. */
Test(http_limits, per_address_cap)
{
	struct crowd c = { .n = 0 };
	char body[4096];
	int extra;

	ops_start("http_max_connections_per_address = 4\n");
	for (c.n = 0; c.n < 4; c.n++)
		c.fd[c.n] = slow_open("127.0.0.2");
	extra = slow_open("127.0.0.2");
	cr_expect(harness_wait(closed_fd, &extra, 3000), "a fifth connection "
	    "from 127.0.0.2 was not closed");
	cr_expect_eq(crowd_count_closed(&c), 0, "admitted connections closed");
	cr_expect_eq(ops_http_get("GET", "/healthz", body, sizeof(body)), 200);
	cr_expect(harness_wait_log(&ops_h, "closed a new connection from "
	    "127.0.0.2: 4 connections open from it", 1, 3000), "see %s",
	    ops_h.log);
	close(extra);
	crowd_free(&c);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

/* With narad's descriptor limit lowered under a crowd of slow clients
 * from several addresses, the listener holds at most an eighth of the
 * limit and closes the rest at once; naractl still gets through, accept
 * never fails, the dripped requests are cut off after their deadline and
 * then /healthz answers. */
Test(http_limits, slow_crowd_under_a_low_descriptor_limit)
{
	struct crowd c = { .n = 0 };
	struct rlimit lim;
	char from[16], out[8192], err[4096], body[4096];
	int limit, cap, late;

	ops_start(NULL);
	limit = narad_fds() + 48;
	cap = limit / 8;
	cr_assert_eq(prlimit(ops_h.pid, RLIMIT_NOFILE, NULL, &lim), 0);
	lim.rlim_cur = (rlim_t)limit;
	cr_assert_eq(prlimit(ops_h.pid, RLIMIT_NOFILE, &lim, NULL), 0,
	    "prlimit: %s", strerror(errno));
	/* 96 connections from six addresses, 16 each */
	for (int a = 2; a < 8; a++) {
		snprintf(from, sizeof(from), "127.0.0.%d", a);
		for (int k = 0; k < 16; k++)
			c.fd[c.n++] = slow_open(from);
	}
	c.want_closed = c.n - (size_t)cap;
	cr_expect(harness_wait(crowd_closed, &c, 5000), "%zu of %zu connections "
	    "closed, want %zu (cap %d of %d descriptors)", crowd_count_closed(&c),
	    c.n, c.want_closed, cap, limit);
	late = slow_open("127.0.0.1");
	cr_expect(harness_wait(closed_fd, &late, 3000), "a connection beyond "
	    "the cap was not closed");
	close(late);
	cr_expect_eq(ops_ctl(out, sizeof(out), err, sizeof(err), "status"), 0,
	    "naractl status: %s%s", out, err);
	cr_assert(narad_alive(), "narad died; see %s", ops_h.log);
	/* dripping keeps idle timers quiet; the request deadline ends them */
	c.want_closed = c.n;
	cr_expect(harness_wait(crowd_closed, &c, 20000), "%zu of %zu dripping "
	    "connections still open", c.n - crowd_count_closed(&c), c.n);
	cr_expect_eq(ops_http_get("GET", "/healthz", body, sizeof(body)), 200);
	cr_expect_eq(harness_log_count(&ops_h, "Too many open files"), 0,
	    "accept failed; see %s", ops_h.log);
	/* the log limiter's burst in each of at most two windows; one line
	 * per refusal would be over 80 */
	cr_expect_leq(harness_log_count(&ops_h, "closed a new connection"),
	    2 * LOG_LIMIT_BURST, "refusals flood the log; see %s", ops_h.log);
	crowd_free(&c);
	cr_expect(narad_alive());
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}

#define ACCEPT_EMFILE "accept: Too many open files"

/* Out of descriptors, the listener pauses accepting (one log line, not
 * a spinning accept(2)); with descriptors again it serves. */
Test(http_limits, accept_pauses_without_descriptors)
{
	struct rlimit lim, low;
	char body[4096], from[32];
	int fd[40], n = 0;

	ops_start(NULL);
	cr_assert_eq(prlimit(ops_h.pid, RLIMIT_NOFILE, NULL, &lim), 0);
	low = lim;
	low.rlim_cur = (rlim_t)narad_lowest_free_fd();
	cr_assert_eq(prlimit(ops_h.pid, RLIMIT_NOFILE, &low, NULL), 0,
	    "prlimit: %s", strerror(errno));
	/* a descriptor narad closes meanwhile (a connection of its start-up
	 * checks ending) is one more it may take: connect, each from an
	 * address of its own, until an accept fails */
	while (n < 40 && !harness_wait_log(&ops_h, ACCEPT_EMFILE, 1,
	    n == 0 ? 1000 : 200)) {
		snprintf(from, sizeof(from), "127.0.0.%d", n + 2);
		fd[n++] = slow_open(from);
	}
	cr_expect(harness_wait_log(&ops_h, ACCEPT_EMFILE, 1, 5000),
	    "accept did not fail after %d connections; see %s", n, ops_h.log);
	/* paused for a second after each, at most three lines in 2 s;
	 * spinning, it would log thousands (other lines about the limit,
	 * such as a commit thread that could not start, are not counted) */
	cr_expect_not(harness_wait_log(&ops_h, ACCEPT_EMFILE, 5, 2000),
	    "%d lines about accept; see %s", harness_log_count(&ops_h,
	    ACCEPT_EMFILE), ops_h.log);
	cr_assert_eq(prlimit(ops_h.pid, RLIMIT_NOFILE, &lim, NULL), 0);
	cr_expect_eq(ops_http_get("GET", "/healthz", body, sizeof(body)), 200);
	cr_expect(narad_alive());
	while (n > 0)
		close(fd[--n]);
	harness_stop(&ops_h, SIGTERM);
	harness_cleanup(&ops_h);
}
