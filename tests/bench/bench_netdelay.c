/*
 * bench_netdelay.c — a TCP relay on 127.0.0.1 that holds every chunk of
 * bytes for a fixed time before passing it on, in both directions: a
 * network between narad and its PostgreSQL server on one machine, to
 * measure what each round trip of a batch costs (docs/PERFORMANCE.md,
 * "A begin behind every commit").
 *
 * usage: bench_netdelay -l PORT -t PORT [-d MICROSECONDS]
 *   listens on 127.0.0.1:PORT (-l), connects each client to
 *   127.0.0.1:PORT (-t) and delays each direction by -d µs (default 250:
 *   a round trip of 0.5 ms). Runs until killed.
 *
 * One thread, ppoll with a nanosecond timeout: bytes read at time t are
 * written at t + delay, in order; a peer that closes its side is closed
 * on the other once what it sent went out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define CHUNK 65536

struct chunk {
	struct chunk *next;
	int64_t due_ns;
	size_t len, off;
	char data[];
};

struct dir {
	int from, to;
	struct chunk *head, *tail;
	bool eof;                /* from closed: shut to down when drained */
	bool done;
};

struct conn {
	bool used;
	struct dir d[2];
};

static struct conn conns[MAX_CONNS];
static int64_t delay_ns = 250000;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
nonblock(int fd)
{
	int one = 1;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 16) != 0) {
		perror("bench_netdelay: listen");
		exit(1);
	}
	return fd;
}

static int
connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void
conn_close(struct conn *c)
{
	for (int i = 0; i < 2; i++) {
		struct chunk *k = c->d[i].head, *n;
		for (; k != NULL; k = n) {
			n = k->next;
			free(k);
		}
	}
	close(c->d[0].from);
	close(c->d[0].to);
	memset(c, 0, sizeof(*c));
}

/* Read what is there into a chunk due after the delay; false on error. */
static bool
dir_read(struct dir *d)
{
	struct chunk *k = malloc(sizeof(*k) + CHUNK);
	ssize_t n;

	if (k == NULL)
		return false;
	n = read(d->from, k->data, CHUNK);
	if (n <= 0) {
		free(k);
		if (n == 0) {
			d->eof = true;
			return true;
		}
		return errno == EAGAIN || errno == EINTR;
	}
	k->next = NULL;
	k->len = (size_t)n;
	k->off = 0;
	k->due_ns = now_ns() + delay_ns;
	if (d->tail != NULL)
		d->tail->next = k;
	else
		d->head = k;
	d->tail = k;
	return true;
}

/* Write every chunk that is due; false on error. *blocked when the peer
 * takes no more now. */
static bool
dir_write(struct dir *d, int64_t now, bool *blocked)
{
	*blocked = false;
	while (d->head != NULL && d->head->due_ns <= now) {
		struct chunk *k = d->head;
		ssize_t n = write(d->to, k->data + k->off, k->len - k->off);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				*blocked = true;
				return true;
			}
			return false;
		}
		k->off += (size_t)n;
		if (k->off < k->len)
			continue;
		d->head = k->next;
		if (d->head == NULL)
			d->tail = NULL;
		free(k);
	}
	if (d->eof && d->head == NULL && !d->done) {
		shutdown(d->to, SHUT_WR);
		d->done = true;
	}
	return true;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_netdelay -l PORT -t PORT [-d MICROSECONDS]\n"
	    "A TCP relay on 127.0.0.1 from -l to -t that delays each direction\n"
	    "by -d microseconds (default 250).\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int lport = 0, tport = 0, opt, lfd;

	while ((opt = getopt(argc, argv, "l:t:d:h")) != -1) {
		switch (opt) {
		case 'l': lport = atoi(optarg); break;
		case 't': tport = atoi(optarg); break;
		case 'd': delay_ns = atoll(optarg) * 1000; break;
		default: usage();
		}
	}
	if (lport <= 0 || tport <= 0 || delay_ns < 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(lport);
	fprintf(stderr, "bench_netdelay: 127.0.0.1:%d -> 127.0.0.1:%d, %lld us "
	    "each way\n", lport, tport, (long long)(delay_ns / 1000));
	for (;;) {
		struct pollfd pfd[1 + 2 * MAX_CONNS];
		struct conn *owner[1 + 2 * MAX_CONNS];
		int n = 0;
		int64_t now = now_ns(), next = -1;
		struct timespec ts, *tsp = NULL;

		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		owner[n++] = NULL;
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];
			bool blocked[2] = { false, false };
			if (!c->used)
				continue;
			if (!dir_write(&c->d[0], now, &blocked[0]) ||
			    !dir_write(&c->d[1], now, &blocked[1]) ||
			    (c->d[0].done && c->d[1].done)) {
				conn_close(c);
				continue;
			}
			for (int k = 0; k < 2; k++) {
				struct dir *d = &c->d[k];
				short ev = 0;
				if (!d->eof)
					ev |= POLLIN;
				pfd[n].fd = d->from;
				pfd[n].events = ev;
				/* the other direction writes to this fd */
				if (blocked[1 - k])
					pfd[n].events |= POLLOUT;
				owner[n++] = c;
				if (d->head != NULL && !blocked[k] &&
				    (next < 0 || d->head->due_ns < next))
					next = d->head->due_ns;
			}
		}
		if (next >= 0) {
			int64_t wait = next - now;
			if (wait < 0)
				wait = 0;
			ts.tv_sec = wait / 1000000000;
			ts.tv_nsec = wait % 1000000000;
			tsp = &ts;
		}
		if (ppoll(pfd, (nfds_t)n, tsp, NULL) < 0 && errno != EINTR) {
			perror("bench_netdelay: ppoll");
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			int a = accept(lfd, NULL, NULL), b;
			int slot = -1;
			for (int i = 0; i < MAX_CONNS && slot < 0; i++)
				if (!conns[i].used)
					slot = i;
			if (a >= 0 && (slot < 0 || (b = connect_to(tport)) < 0)) {
				close(a);
			} else if (a >= 0) {
				struct conn *c = &conns[slot];
				nonblock(a);
				nonblock(b);
				c->used = true;
				c->d[0].from = a;
				c->d[0].to = b;
				c->d[1].from = b;
				c->d[1].to = a;
			}
		}
		for (int i = 1; i < n; i++) {
			struct conn *c = owner[i];
			if (!c->used || !(pfd[i].revents & (POLLIN | POLLHUP |
			    POLLERR)))
				continue;
			struct dir *d = c->d[0].from == pfd[i].fd ? &c->d[0] :
			    &c->d[1];
			if (!d->eof && !dir_read(d))
				conn_close(c);
		}
	}
}
