/*
 * fault_helpers.c — a severable TCP relay and tmpfs mounts for the fault
 * tests (itest_fault.c).
 *
 * The relay runs one poll loop in its own thread; relayed sockets are
 * blocking, which is fine for test traffic whose both ends keep reading.
 * A cut is asked for through a pipe, so that every socket is only touched
 * by the relay thread.
 */
#include "fault_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#define CUTPROXY_MAX_PAIRS 32

struct cutproxy {
	int listen_fd, port, target_port;
	int wake[2];                /* cut requests, 'c' = cut, 'q' = quit */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int cuts_done;              /* cut requests handled */
	int last_cut;               /* connections reset by the last cut */
	long long bytes;
	int connections;
	struct { int a, b; } pair[CUTPROXY_MAX_PAIRS];
	int n_pairs;
};

static int
connect_local(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Close with RST rather than FIN: what a dropped link looks like. */
static void
close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void
pair_drop(struct cutproxy *p, int i, bool reset)
{
	if (reset) {
		close_reset(p->pair[i].a);
		close_reset(p->pair[i].b);
	} else {
		close(p->pair[i].a);
		close(p->pair[i].b);
	}
	p->pair[i] = p->pair[--p->n_pairs];
}

static void
proxy_accept(struct cutproxy *p)
{
	int a = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC), b;

	if (a < 0)
		return;
	if (p->n_pairs == CUTPROXY_MAX_PAIRS ||
	    (b = connect_local(p->target_port)) < 0) {
		close_reset(a);
		return;
	}
	p->pair[p->n_pairs].a = a;
	p->pair[p->n_pairs].b = b;
	p->n_pairs++;
	pthread_mutex_lock(&p->mu);
	p->connections++;
	pthread_mutex_unlock(&p->mu);
}

/* Move what is readable on from to to; false when the pair is over. */
static bool
proxy_relay(struct cutproxy *p, int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf)), off = 0;

	if (n <= 0)
		return false;
	while (off < n) {
		ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		off += w;
	}
	pthread_mutex_lock(&p->mu);
	p->bytes += n;
	pthread_mutex_unlock(&p->mu);
	return true;
}

/* A wake-up byte: 'c' resets every pair, 'q' ends the thread. */
static bool
proxy_command(struct cutproxy *p)
{
	char c = 'q';
	int n;

	if (read(p->wake[0], &c, 1) != 1 || c == 'q')
		return false;
	n = p->n_pairs;
	while (p->n_pairs > 0)
		pair_drop(p, 0, true);
	pthread_mutex_lock(&p->mu);
	p->last_cut = n;
	p->cuts_done++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
	return true;
}

static void *
proxy_loop(void *arg)
{
	struct cutproxy *p = arg;
	struct pollfd pfd[2 + 2 * CUTPROXY_MAX_PAIRS];

	for (;;) {
		int n = p->n_pairs;

		pfd[0] = (struct pollfd){ .fd = p->wake[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = p->listen_fd, .events = POLLIN };
		for (int i = 0; i < n; i++) {
			pfd[2 + 2 * i] = (struct pollfd){ .fd = p->pair[i].a, .events = POLLIN };
			pfd[3 + 2 * i] = (struct pollfd){ .fd = p->pair[i].b, .events = POLLIN };
		}
		if (poll(pfd, (nfds_t)(2 + 2 * n), -1) < 0 && errno != EINTR)
			break;
		if ((pfd[0].revents & POLLIN) && !proxy_command(p))
			break;
		if (pfd[0].revents & POLLIN)
			continue;       /* the pairs polled are gone */
		for (int i = n - 1; i >= 0; i--) {
			bool ok = true;
			if (pfd[2 + 2 * i].revents)
				ok = proxy_relay(p, p->pair[i].a, p->pair[i].b);
			if (ok && pfd[3 + 2 * i].revents)
				ok = proxy_relay(p, p->pair[i].b, p->pair[i].a);
			if (!ok)
				pair_drop(p, i, false);
		}
		if (pfd[1].revents & POLLIN)
			proxy_accept(p);
	}
	while (p->n_pairs > 0)
		pair_drop(p, 0, false);
	return NULL;
}

struct cutproxy *
cutproxy_start(int target_port)
{
	struct cutproxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	cr_assert_not_null(p);
	p->target_port = target_port;
	p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(p->listen_fd >= 0);
	cr_assert_eq(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(p->listen_fd, 16), 0);
	cr_assert_eq(getsockname(p->listen_fd, (struct sockaddr *)&sa, &len), 0);
	p->port = ntohs(sa.sin_port);
	cr_assert_eq(pipe2(p->wake, O_CLOEXEC), 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
	cr_assert_eq(pthread_create(&p->thread, NULL, proxy_loop, p), 0);
	return p;
}

int
cutproxy_port(const struct cutproxy *p)
{
	return p->port;
}

int
cutproxy_cut(struct cutproxy *p)
{
	int before, n;

	pthread_mutex_lock(&p->mu);
	before = p->cuts_done;
	pthread_mutex_unlock(&p->mu);
	cr_assert_eq(write(p->wake[1], "c", 1), 1);
	pthread_mutex_lock(&p->mu);
	while (p->cuts_done == before)
		pthread_cond_wait(&p->cond, &p->mu);
	n = p->last_cut;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void
cutproxy_counts(struct cutproxy *p, long long *bytes, int *connections)
{
	pthread_mutex_lock(&p->mu);
	if (bytes != NULL)
		*bytes = p->bytes;
	if (connections != NULL)
		*connections = p->connections;
	pthread_mutex_unlock(&p->mu);
}

void
cutproxy_stop(struct cutproxy **pp)
{
	struct cutproxy *p = pp ? *pp : NULL;

	if (p == NULL)
		return;
	if (write(p->wake[1], "q", 1) != 1)
		fprintf(stderr, "cutproxy: cannot wake the relay thread\n");
	pthread_join(p->thread, NULL);
	close(p->listen_fd);
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
	free(p);
	*pp = NULL;
}

/* ---------------------------------------------------------------- tmpfs */

int
fault_tmpfs_mount(const char *dir, unsigned size_kib, char *why, size_t why_len)
{
	char opts[64];

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, why_len, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (geteuid() != 0) {
		snprintf(why, why_len, "not running as root");
		return -1;
	}
	snprintf(opts, sizeof(opts), "size=%uk,mode=0700", size_kib);
	if (mount("nara-fault", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
		snprintf(why, why_len, "mount tmpfs refused: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
fault_tmpfs_resize(const char *dir, unsigned size_kib)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "size=%uk,mode=0700", size_kib);
	return mount("nara-fault", dir, "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV,
	    opts);
}

void
fault_tmpfs_umount(const char *dir)
{
	if (umount2(dir, MNT_DETACH) != 0)
		fprintf(stderr, "umount %s: %s\n", dir, strerror(errno));
}
