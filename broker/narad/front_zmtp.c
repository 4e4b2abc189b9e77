/*
 * front_zmtp.c — the front speaking ZMTP with the nodes itself ([tls] zmtp
 * = front): the server half of the handshake, frames read from the TLS
 * stream and handed to the broker when its loop takes a batch, frames from
 * the broker written into the TLS stream, and the heartbeat.
 *
 * A node's bytes stay in its TLS input until the broker pulls them
 * (front_pull): that buffer is the receive queue, its read watermark the
 * back-pressure. Frames the broker sends after a commit are staged per
 * connection and written by the writer event once the broker's turn is
 * over, so that a batch's frames to a node go out in as few TLS records as
 * fit: straight into TLS when nothing waits in the connection's output
 * (write_now), else through that output. The frame size limit is checked
 * as bytes arrive (front_conn.c), before anything waits for the broker.
 *
 * The broker calls front_pull inside its batch and front_send while it
 * sends a batch's replies: nothing there may call back into the broker.
 * So the front never writes into a TLS connection there (a failed write
 * closes a connection, which the hooks report): answers and frames are
 * staged and written by the front's own writer event, a node's protocol
 * error is refused from its connection's timer, and a closed connection
 * whose last frames were taken is buried there.
 *
 * What waits to be written to a node is counted per frame (struct
 * zd_queue), as libzmq's SNDHWM counted messages: a node with more than
 * max_credit + FRONT_ANSWER_BACKLOG frames waiting does not read.
 */
#include "front_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* The largest piece written straight into TLS: one record, so that when
 * the socket is full the bufferevent's retry of SSL_write, with the same
 * bytes first in its output, covers all OpenSSL holds of it. */
#define DIRECT_MAX 16384

/* ZMTP 3.1 frame flags. */
#define F_MORE    0x01u
#define F_LONG    0x02u
#define F_COMMAND 0x04u

/* Frames taken from one connection before the next gets its turn. */
#define PULL_QUOTA 64

/* 64 bytes: signature, version 3.1, mechanism NULL, as-server 0 (as
 * libzmq's ROUTER without a security mechanism sends it). */
static const uint8_t greeting[ZMTP_GREETING_LEN] = {
	0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1,
	'N', 'U', 'L', 'L',
};

/* READY with Socket-Type ROUTER, one command frame. */
static const uint8_t ready[] = {
	F_COMMAND, 28, 5, 'R', 'E', 'A', 'D', 'Y',
	11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e',
	0, 0, 0, 6, 'R', 'O', 'U', 'T', 'E', 'R',
};

void
zd_greet(struct conn *c)
{
	evbuffer_add(bufferevent_get_output(c->tls), greeting, sizeof(greeting));
}

/* The TLS output changed: count what went in and what was written. */
static void
on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	(void)buf;
	c->q.added += info->n_added;
	c->q.written += info->n_deleted;
}

void
zd_ready(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->tls);

	evbuffer_add(out, ready, sizeof(ready));
	c->q.added = evbuffer_get_length(out);
	c->q.counting = evbuffer_add_cb(out, on_output, c) != NULL;
}

/* Entries of c's queue whose bytes were all written leave it; how many
 * pieces still wait. */
static size_t
queue_waiting(struct conn *c)
{
	struct zd_queue *q = &c->q;

	while (q->n > q->staged && q->v[q->head] <= q->written) {
		q->head = (q->head + 1) % q->cap;
		q->n--;
	}
	return q->n;
}

/* A piece of len bytes put into c->out: -1 when the queue cannot grow. */
static int
queue_push(struct conn *c, size_t len)
{
	struct zd_queue *q = &c->q;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		uint64_t *v = malloc(cap * sizeof(*v));

		if (v == NULL)
			return -1;
		for (size_t i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->head = 0;
		q->cap = cap;
	}
	q->v[(q->head + q->n) % q->cap] = len;
	q->n++;
	q->staged++;
	return 0;
}

/* c->out is about to be moved to the TLS output: its pieces' lengths
 * become their ends in the output's byte count. */
static void
queue_moved(struct conn *c)
{
	struct zd_queue *q = &c->q;
	uint64_t end = q->added;

	for (size_t i = q->n - q->staged; i < q->n; i++) {
		uint64_t *e = &q->v[(q->head + i) % q->cap];
		end += *e;
		*e = end;
	}
	q->staged = 0;
}

/* A frame header for a body of len bytes into hdr; its length. */
static size_t
frame_header(uint8_t *hdr, uint8_t flags, size_t len)
{
	if (len <= 255) {
		hdr[0] = flags;
		hdr[1] = (uint8_t)len;
		return 2;
	}
	hdr[0] = flags | F_LONG;
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	return 9;
}

static void stage(struct conn *c);

/* A command frame (name, then body) as one piece: into the TLS output, or
 * staged for the writer while the broker pulls (staged). */
static void
send_command(struct conn *c, const char *name, const uint8_t *body,
    size_t len, bool staged)
{
	uint8_t buf[9 + 1 + 16 + 64];
	size_t nlen = strlen(name), hl;

	if (len > 64)
		len = 64;
	hl = frame_header(buf, F_COMMAND, 1 + nlen + len);
	buf[hl] = (uint8_t)nlen;
	memcpy(buf + hl + 1, name, nlen);
	memcpy(buf + hl + 1 + nlen, body, len);
	if (!staged) {
		evbuffer_add(bufferevent_get_output(c->tls), buf,
		    hl + 1 + nlen + len);
		return;
	}
	if ((c->out == NULL && (c->out = evbuffer_new()) == NULL) ||
	    queue_push(c, hl + 1 + nlen + len) != 0)
		return;                      /* a lost PONG: the node retries */
	evbuffer_add(c->out, buf, hl + 1 + nlen + len);
	stage(c);
}

void
zd_heartbeat(struct conn *c)
{
	static const uint8_t ttl[2] = { 0, 0 };   /* no TTL asked of the node */

	send_command(c, "PING", ttl, sizeof(ttl), false);
}

/* A command from the node (while the broker pulls): PING is answered
 * with PONG and its context; anything else (PONG, unknown names) only
 * shows the node is alive. */
static void
on_command(struct conn *c, const uint8_t *body, size_t len)
{
	if (len >= 7 && body[0] == 4 && memcmp(body + 1, "PING", 4) == 0)
		send_command(c, "PONG", body + 7, len - 7, true);
}

/* c sent a frame the broker cannot take: refused from c's timer, after
 * the broker's batch. Nothing more of c is taken. */
static void __attribute__((format(printf, 3, 4)))
fault(struct conn *c, enum nara_code code, const char *fmt, ...)
{
	va_list ap;

	c->fault_code = code;
	va_start(ap, fmt);
	vsnprintf(c->fault, sizeof(c->fault), fmt, ap);
	va_end(ap);
	relay_arm(&c->r, 0);
}

void
zd_fault(struct conn *c)
{
	conn_refuse(c, "connection_refused", c->fault_code, "%s", c->fault);
}

/* Is a whole frame at the start of in? Its header and body lengths. */
static bool
frame_complete(struct evbuffer *in, uint8_t *flags, size_t *hl, uint64_t *blen)
{
	size_t len = evbuffer_get_length(in);
	uint8_t h[9];

	if (len < 2)
		return false;
	evbuffer_copyout(in, h, len < 9 ? len : 9);
	*flags = h[0];
	if (h[0] & F_LONG) {
		if (len < 9)
			return false;
		*blen = 0;
		for (int i = 0; i < 8; i++)
			*blen = *blen << 8 | h[1 + i];
		*hl = 9;
	} else {
		*blen = h[1];
		*hl = 2;
	}
	return *blen <= len - *hl;
}

bool
zd_has_frame(struct conn *c)
{
	uint8_t flags;
	size_t hl;
	uint64_t blen;

	return c->tls != NULL && c->fault[0] == '\0' &&
	    frame_complete(bufferevent_get_input(c->tls), &flags, &hl, &blen);
}

/* Take one frame of c: 1 when the broker got one, 0 when a command or a
 * part of a multi-part message was taken, -1 when no whole frame is there
 * or c was refused. */
static int
take_frame(struct conn *c, front_frame_fn fn, void *arg, size_t *bytes)
{
	struct evbuffer *in = bufferevent_get_input(c->tls);
	uint8_t flags, *data;
	size_t hl;
	uint64_t blen;
	int got = 0;

	if (c->fault[0] != '\0' || !frame_complete(in, &flags, &hl, &blen))
		return -1;
	if ((flags & ~(F_MORE | F_LONG | F_COMMAND)) != 0 ||
	    (flags & (F_MORE | F_COMMAND)) == (F_MORE | F_COMMAND)) {
		fault(c, NR_MALFORMED_FRAME, "ZMTP frame with flags 0x%02x",
		    flags);
		return -1;
	}
	if ((data = evbuffer_pullup(in, (ev_ssize_t)(hl + blen))) == NULL) {
		fault(c, NR_TOO_LARGE, "no memory for a frame of %llu bytes",
		    (unsigned long long)blen);
		return -1;
	}
	data += hl;
	if (flags & F_COMMAND) {
		on_command(c, data, blen);
	} else if (flags & F_MORE) {
		c->multipart = true;         /* one frame per message: refused
		                              * with its last part */
	} else {
		fn(arg, c->node, c->multipart ? NULL : data, blen, c->multipart);
		c->multipart = false;
		got = 1;
		*bytes += (size_t)blen;
	}
	evbuffer_drain(in, hl + blen);
	c->checked -= c->checked < hl + blen ? c->checked : hl + blen;
	return got;
}

static void
ready_remove(struct conn *c)
{
	if (!c->on_ready)
		return;
	TAILQ_REMOVE(&c->f->ready, c, ready_link);
	c->on_ready = false;
}

void
zd_notify(struct conn *c)
{
	struct front *f = c->f;

	if (c->on_ready || !zd_has_frame(c))
		return;
	TAILQ_INSERT_TAIL(&f->ready, c, ready_link);
	c->on_ready = true;
	if (f->hooks.frames != NULL)
		f->hooks.frames(f->hooks.arg);
}

void
zd_unlist(struct conn *c)
{
	ready_remove(c);
	if (c->on_staged) {
		TAILQ_REMOVE(&c->f->staged, c, staged_link);
		c->on_staged = false;
	}
	if (c->out != NULL)
		evbuffer_free(c->out);
	c->out = NULL;
	free(c->q.v);
	memset(&c->q, 0, sizeof(c->q));
}

bool
front_pending(const struct front *f)
{
	return f != NULL && !TAILQ_EMPTY(&f->ready);
}

size_t
front_pull(struct front *f, size_t max, size_t max_bytes, front_frame_fn fn,
    void *arg)
{
	size_t n = 0, bytes = 0;
	struct conn *c;

	while (n < max && bytes < max_bytes &&
	    (c = TAILQ_FIRST(&f->ready)) != NULL) {
		int quota = PULL_QUOTA, r = 0;

		ready_remove(c);
		while (n < max && bytes < max_bytes && quota > 0 &&
		    (r = take_frame(c, fn, arg, &bytes)) >= 0) {
			n += (size_t)r;
			quota -= r;
		}
		if (zd_has_frame(c)) {
			TAILQ_INSERT_TAIL(&f->ready, c, ready_link);
			c->on_ready = true;
		} else if (c->state == CONN_DRAIN && c->relay == NULL) {
			relay_arm(&c->r, 0);  /* its last frames are taken */
		}
	}
	return n;
}

int
front_send(struct front *f, void *link, const uint8_t *data, size_t len)
{
	struct conn *c = link;
	uint8_t hdr[9];
	size_t hl;

	if (c == NULL || c->state != CONN_RELAY || c->r.closing)
		return EHOSTUNREACH;
	/* frames not yet written: its credit window and answers */
	if (!c->q.counting || queue_waiting(c) >= f->cfg->broker.max_credit +
	    FRONT_ANSWER_BACKLOG)
		return EAGAIN;
	if ((c->out == NULL && (c->out = evbuffer_new()) == NULL))
		return ENOMEM;
	hl = frame_header(hdr, 0, len);
	if (queue_push(c, hl + len) != 0)
		return ENOMEM;
	if (evbuffer_add(c->out, hdr, hl) != 0 ||
	    evbuffer_add(c->out, data, len) != 0)
		return ENOMEM;
	stage(c);
	return 0;
}

/* c has staged frames: the writer moves them after the current turn. */
static void
stage(struct conn *c)
{
	if (c->on_staged)
		return;
	TAILQ_INSERT_TAIL(&c->f->staged, c, staged_link);
	c->on_staged = true;
	event_active(c->f->writer, EV_WRITE, 0);
}

/*
 * c->out (len bytes, one piece) written into TLS at once when nothing waits
 * in c's TLS output. The bufferevent would only ask for EPOLLOUT and write
 * at the next turn of the loop, and drop EPOLLOUT again after: two
 * epoll_ctl calls and a turn per flush to each node. False when it did not
 * write all of it: then the caller hands the same bytes to the bufferevent,
 * which writes them, retries what OpenSSL holds of them (socket full), or
 * reports the connection's error through its event callback.
 */
static bool
write_now(struct conn *c, size_t len)
{
	struct evbuffer *tls_out = bufferevent_get_output(c->tls);
	uint8_t *data;
	int n;

	if (c->state != CONN_RELAY || !c->q.counting || len == 0 ||
	    len > DIRECT_MAX || evbuffer_get_length(tls_out) != 0 ||
	    (data = evbuffer_pullup(c->out, -1)) == NULL)
		return false;
	ERR_clear_error();
	n = SSL_write(bufferevent_openssl_get_ssl(c->tls), data, (int)len);
	ERR_clear_error();
	if (n != (int)len)
		return false;
	evbuffer_drain(c->out, len);
	c->q.added += len;      /* as the output's callback would count */
	c->q.written += len;
	return true;
}

void
zd_write(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	while ((c = TAILQ_FIRST(&f->staged)) != NULL) {
		size_t len = evbuffer_get_length(c->out);

		TAILQ_REMOVE(&f->staged, c, staged_link);
		c->on_staged = false;
		/* one piece: the TLS layer writes it with as few records
		 * as fit */
		if (len <= 65536)
			evbuffer_pullup(c->out, -1);
		queue_moved(c);
		if (!write_now(c, len))
			evbuffer_add_buffer(bufferevent_get_output(c->tls),
			    c->out);
	}
}
