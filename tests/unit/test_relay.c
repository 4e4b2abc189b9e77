/*
 * test_relay.c — the relay lifecycle (relay.h) over socketpairs: bytes both
 * ways, back-pressure at the high watermark, a flushing close that delivers
 * what is buffered before it closes (and closes anyway after its time
 * limit), and a close from inside a callback that frees nothing until the
 * callback has returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "relay.h"

/* Each side: the test's end (user) and the relay's end of a socketpair. */
static struct event_base *base;
static struct relay_set set;
static struct relay *rel;
static int user[2] = { -1, -1 };
static int destroyed;
static bool read_closes;         /* on_read closes the relay, then reads on */
static bool seen_after_close;

static void
destroy(struct relay *r)
{
	relay_release(r);
	free(r);
	destroyed++;
}

/* Close from inside the callback, then keep using r: it must still be
 * there (buried, not freed). */
static void
read_and_close(struct relay *r, int side)
{
	if (!read_closes) {
		relay_forward(r, side);
		return;
	}
	relay_close(r, false);
	cr_assert(r->buried, "a close without flush buries at once");
	cr_assert_eq(destroyed, 0, "freed inside its own callback");
	evbuffer_drain(bufferevent_get_input(r->bev[side]), 1);
	seen_after_close = true;
}

static const struct relay_ops ops = { .read = read_and_close,
    .destroy = destroy };

static void
nonblock(int fd)
{
	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static void
setup(void)
{
	int sp[2];
	struct bufferevent *bev;

	destroyed = 0;
	read_closes = seen_after_close = false;
	cr_assert_not_null(base = event_base_new());
	cr_assert_eq(relay_set_init(&set, base, 5), 0);
	cr_assert_not_null(rel = calloc(1, sizeof(*rel)));
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
		nonblock(sp[0]);
		user[i] = sp[0];
		bev = bufferevent_socket_new(base, sp[1], BEV_OPT_CLOSE_ON_FREE);
		cr_assert_not_null(bev);
		relay_attach(rel, i, bev);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	}
	cr_assert_eq(relay_init(rel, &set, &ops), 0);
	cr_assert_eq(set.n_live, 1);
}

static void
teardown(void)
{
	relay_set_free(&set);
	event_base_free(base);
	for (int i = 0; i < 2; i++)
		if (user[i] >= 0)
			close(user[i]);
}

TestSuite(relay, .init = setup, .fini = teardown, .timeout = 30);

/* Run the loop once, waiting at most 10 ms for something to happen. */
static void
turn(void)
{
	struct timeval tv = { 0, 10000 };

	event_base_loopexit(base, &tv);
	event_base_loop(base, EVLOOP_ONCE);
}

/* Read from user[i] until want bytes (into buf) or 5 s; returns the count. */
static size_t
collect(int i, char *buf, size_t want)
{
	time_t end = time(NULL) + 5;
	size_t got = 0;
	ssize_t n;

	while (got < want && time(NULL) < end) {
		turn();
		while (got < want && (n = read(user[i], buf + got,
		    want - got)) > 0)
			got += (size_t)n;
	}
	return got;
}

static void
send_all(int i, const char *data, size_t len)
{
	cr_assert_eq(write(user[i], data, len), (ssize_t)len);
}

Test(relay, bytes_both_ways)
{
	char buf[64] = "";

	send_all(0, "to the broker", 13);
	cr_assert_eq(collect(1, buf, 13), 13);
	cr_assert_eq(memcmp(buf, "to the broker", 13), 0);
	send_all(1, "to the node", 11);
	cr_assert_eq(collect(0, buf, 11), 11);
	cr_assert_eq(memcmp(buf, "to the node", 11), 0);
	cr_assert_eq(destroyed, 0);
}

/* A side that does not read stops the other side from being read once the
 * high watermark is reached; reading resumes it and nothing is lost. */
Test(relay, watermark_back_pressure)
{
	size_t total = 4 * RELAY_HIGH_WATER, sent = 0, got = 0;
	static char chunk[16384], sink[65536];
	time_t end = time(NULL) + 10;
	ssize_t n;

	memset(chunk, 'x', sizeof(chunk));
	while (sent < total && time(NULL) < end) {
		while (sent < total && (n = write(user[0], chunk,
		    sizeof(chunk))) > 0)
			sent += (size_t)n;
		turn();
		if (!(bufferevent_get_enabled(rel->bev[0]) & EV_READ))
			break;
	}
	cr_assert_not(bufferevent_get_enabled(rel->bev[0]) & EV_READ,
	    "side 0 still read with %zu bytes waiting",
	    evbuffer_get_length(bufferevent_get_output(rel->bev[1])));
	cr_assert_geq(evbuffer_get_length(bufferevent_get_output(rel->bev[1])),
	    RELAY_HIGH_WATER);
	while (got < sent && time(NULL) < end) {
		turn();
		while ((n = read(user[1], sink, sizeof(sink))) > 0)
			got += (size_t)n;
		while (sent < total && (n = write(user[0], chunk,
		    sizeof(chunk))) > 0)
			sent += (size_t)n;
	}
	cr_assert_eq(sent, total, "side 0 was never read again");
	cr_assert_eq(got, total, "%zu of %zu bytes arrived", got, total);
	cr_assert(bufferevent_get_enabled(rel->bev[0]) & EV_READ);
}

/* A flushing close delivers what is buffered towards a side, then closes
 * both sides and frees the relay. */
Test(relay, flush_close_delivers_then_closes)
{
	static char big[3 * 65536], buf[sizeof(big)];
	time_t end = time(NULL) + 5;
	ssize_t n = 1;

	memset(big, 'y', sizeof(big));
	bufferevent_write(rel->bev[1], big, sizeof(big));
	relay_close(rel, true);
	cr_assert_not(rel->buried, "buried with bytes still buffered");
	cr_assert_eq(collect(1, buf, sizeof(buf)), sizeof(buf));
	while (destroyed == 0 && time(NULL) < end)
		turn();
	cr_assert_eq(destroyed, 1);
	cr_assert_eq(set.n_live, 0);
	while (time(NULL) < end && (n = read(user[1], buf, 1)) < 0 &&
	    errno == EAGAIN)
		turn();
	cr_assert_eq(n, 0, "side 1 not closed after the flush");
	cr_assert_eq(read(user[0], buf, 1), 0, "side 0 not closed");
}

/* Without flush, buffered bytes are dropped and the relay is buried at
 * once, but freed only by the reaper. */
Test(relay, close_without_flush_defers_free)
{
	bufferevent_write(rel->bev[1], "dropped", 7);
	relay_close(rel, false);
	cr_assert_eq(destroyed, 0);
	cr_assert_eq(set.n_live, 0);
	turn();
	cr_assert_eq(destroyed, 1);
}

/* The owner closes the relay from its own read callback and uses it
 * afterwards: the free waits until the callback has returned. */
Test(relay, close_inside_callback_is_deferred)
{
	time_t end = time(NULL) + 5;

	read_closes = true;
	send_all(0, "bye", 3);
	while (destroyed == 0 && time(NULL) < end)
		turn();
	cr_assert(seen_after_close);
	cr_assert_eq(destroyed, 1);
}

/* A side that never reads cannot hold a flushing close open: after the
 * set's flush limit the relay is closed with the bytes undelivered. */
Test(relay, flush_close_bounded_in_time)
{
	static char big[4 * 1024 * 1024];
	time_t start = time(NULL), end = start + 5;

	set.flush_seconds = 1;
	bufferevent_write(rel->bev[1], big, sizeof(big));
	relay_close(rel, true);
	while (destroyed == 0 && time(NULL) < end)
		turn();
	cr_assert_eq(destroyed, 1, "still open after %d s",
	    (int)(time(NULL) - start));
}
