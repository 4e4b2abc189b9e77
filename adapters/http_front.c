/*
 * http_front.c — an input filter in front of the API's evhttp, so that a
 * body over max_message_bytes gets the documented JSON 413 (NR020) however
 * large it is announced, without the adapter holding it in memory.
 *
 * libevent 2.1 reads a body up to its max body size and answers anything
 * larger with its own HTML page; it has no hook between the headers and
 * the body on the server side. So every API connection gets a filtering
 * bufferevent (evhttp_set_bevcb) that holds a request's header block until
 * it is complete and reads its Content-Length:
 *
 *   within the limit   header and body pass on;
 *   over the limit     the body is read and dropped as it comes, and only
 *                      then a request with the same request line, no body
 *                      and the header "Nara-Front: 413 N" goes on, which
 *                      on_request answers with JSON (the client has
 *                      finished sending, so it reads the answer);
 *   chunked            "Nara-Front: 411": refused with JSON, Content-Length
 *                      is required (bodies are small JSON documents);
 *   bad framing        "Nara-Front: 400 framing": a line of the header
 *                      block that does not end in CRLF (a bare LF or CR),
 *                      a NUL, or a folded line (starting with a blank);
 *                      evhttp ends a line at a bare LF where the checks
 *                      here do not, so a header behind one (a "+5"
 *                      Content-Length, a Transfer-Encoding) would reach
 *                      evhttp unchecked; refused and closed as below;
 *   bad length         "Nara-Front: 400": a Content-Length that is not
 *                      1*DIGIT ("+5", "5x", "-0", "") or two that differ;
 *                      refused with JSON and the connection closed, since
 *                      parsers that read such a value differently (evhttp
 *                      takes "+5") disagree on where the body ends, the
 *                      stuff of request smuggling (RFC 9112 section 6.3);
 *   header block over  "Nara-Front: 431": refused with JSON and everything
 *   HTTP_MAX_HEAD      after it dropped as it comes, so that no one holds
 *                      more of it than that in memory (evhttp 2.1 itself
 *                      reads headers without limit).
 *
 * The front also holds each connection to the limits in http_int.h: one
 * over HTTP_MAX_CONNS, or whose request is not whole by its deadline, is
 * shut down, and evhttp closes it on the end of input that follows (it
 * has no way to refuse a connection before serving it).
 *
 * Two things evhttp does not expect of a filter are handled here. It
 * queues an answer while writing is disabled, which a filter only passes
 * on at its next write event: a queued answer is flushed on the next loop
 * turn. And it takes an answer as sent once the filter has passed it on,
 * so a connection it closed after the answer would lose it: every request
 * goes on as keep-alive, and the front closes the sending side itself
 * (shutdown) once the answer has left the socket's buffer, when the client
 * asked for close (or spoke HTTP/1.0) and after a refused body.
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

enum front_phase { HEAD, BODY, DISCARD, DROP_ALL, PASS_ALL };

struct front {
	struct http *h;
	struct bufferevent *sock;       /* the socket side; we hold a ref */
	struct bufferevent *filt;       /* evhttp's side */
	struct evbuffer_cb_entry *sent_cb;
	struct event *kick;             /* flushes a queued answer */
	struct event *deadline;         /* the request is late: shut down */
	bool over_cap;                  /* one connection too many */
	bool close_after;               /* shut the answer's connection */
	bool answered;                  /* something went out */
	enum front_phase phase;
	uint64_t left;                  /* body bytes still to pass or drop */
	uint64_t announced;             /* Content-Length over the limit */
	char request_line[256];
};

/* Value of header name in the header block head (NUL-terminated), or
 * NULL; a name matches only at the start of a line. */
static const char *
head_value(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p != NULL;
	    p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			p += 3 + n;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	}
	return NULL;
}

/* The body length the header block head announces into *len (0 when it
 * has no Content-Length): 0, or -1 when a value is not 1*DIGIT between
 * optional blanks, is continued on the next line, or differs from an
 * earlier one. A value beyond 64 bits counts as UINT64_MAX (over any
 * limit). */
static int
content_length(const char *head, uint64_t *len)
{
	static const char name[] = "Content-Length";
	const size_t n = sizeof(name) - 1;
	bool seen = false;

	*len = 0;
	for (const char *p = strstr(head, "\r\n"); p != NULL;
	    p = strstr(p + 2, "\r\n")) {
		const char *v = p + 2;
		uint64_t x = 0;
		size_t digits;

		if (strncasecmp(v, name, n) != 0 || v[n] != ':')
			continue;
		v += n + 1;
		v += strspn(v, " \t");
		if ((digits = strspn(v, "0123456789")) == 0)
			return -1;
		for (size_t i = 0; i < digits; i++)
			x = x > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
			    x * 10 + (uint64_t)(v[i] - '0');
		v += digits;
		v += strspn(v, " \t");
		if (strncmp(v, "\r\n", 2) != 0 || v[2] == ' ' || v[2] == '\t')
			return -1;
		if (seen && x != *len)
			return -1;
		seen = true;
		*len = x;
	}
	return 0;
}

/* A request the front refuses as it is: the request line with the header
 * "Nara-Front: status" goes on for on_request to answer, everything after
 * it is dropped, and the connection closed once the answer is out. */
static void
front_refuse_head(struct front *f, struct evbuffer *dst, const char *status)
{
	evbuffer_add_printf(dst, "%s\r\nNara-Front: %s\r\n"
	    "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	    f->request_line, status);
	f->phase = DROP_ALL;
	f->close_after = true;
}

/* Pass the header block head (NUL-terminated, ends with an empty line) on
 * as keep-alive, noting whether the client wanted the connection closed. */
static void
forward_head(struct front *f, const char *head, struct evbuffer *dst)
{
	const char *conn = head_value(head, "Connection");
	size_t rl = strlen(f->request_line);
	bool http10 = rl >= 8 && strcmp(f->request_line + rl - 8, "HTTP/1.0") == 0;

	if (conn != NULL ? strncasecmp(conn, "close", 5) == 0 : http10)
		f->close_after = true;
	for (const char *p = head; *p != '\0'; ) {
		size_t n = strcspn(p, "\n") + 1;

		if (p[0] == '\r' || p[0] == '\n')
			break;   /* the empty line */
		if (strncasecmp(p, "Connection:", 11) != 0)
			evbuffer_add(dst, p, n);
		p += n;
	}
	evbuffer_add_printf(dst, "Connection: keep-alive\r\n\r\n");
}

/* The header block head (hlen bytes, ending in the empty line) is framed
 * as this front reads it: every line ends in CRLF, no NUL, and no line
 * after the request line starts with a blank (an obsolete fold). */
static bool
head_framed(const char *head, size_t hlen)
{
	if (strlen(head) != hlen)
		return false;           /* a NUL inside */
	for (size_t i = 0; i < hlen; i++) {
		if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r'))
			return false;
		if (head[i] == '\r' && (i + 1 == hlen || head[i + 1] != '\n'))
			return false;
		if (head[i] == '\n' && i + 1 < hlen &&
		    (head[i + 1] == ' ' || head[i + 1] == '\t'))
			return false;
	}
	return true;
}

/* A complete header block of hlen bytes is at the start of src: decide. */
static void
front_head(struct front *f, struct evbuffer *src, struct evbuffer *dst,
    size_t hlen)
{
	uint64_t limit = adapter_cfg(f->h->a)->max_message_bytes;
	char *head = malloc(hlen + 1);
	const char *te;
	bool bad_length, framed;

	if (head == NULL) {
		/* unchecked, nothing of it may reach evhttp: drop and close */
		log_error("HTTP API: out of memory reading a request; closing "
		    "its connection");
		f->phase = DROP_ALL;
		shutdown(bufferevent_getfd(f->sock), SHUT_RDWR);
		return;
	}
	evbuffer_copyout(src, head, hlen);
	head[hlen] = '\0';
	evbuffer_drain(src, hlen);
	snprintf(f->request_line, sizeof(f->request_line), "%.*s",
	    (int)strcspn(head, "\r\n"), head);
	te = head_value(head, "Transfer-Encoding");
	framed = head_framed(head, hlen);
	if ((bad_length = content_length(head, &f->left) != 0) || !framed)
		f->left = 0;
	if (te != NULL && strncasecmp(te, "identity", 8) != 0)
		f->left = 0;              /* answered as it is */
	if (f->left == 0)
		event_del(f->deadline);   /* whole, or answered as it is */
	if (te != NULL && strncasecmp(te, "identity", 8) != 0)
		front_refuse_head(f, dst, "411");
	else if (bad_length)
		front_refuse_head(f, dst, "400");
	else if (!framed)
		front_refuse_head(f, dst, "400 framing");
	else if (f->left > limit) {
		f->announced = f->left;
		f->phase = DISCARD;
		f->close_after = true;
	} else {
		forward_head(f, head, dst);
		f->phase = BODY;
	}
	free(head);
}

/* The header block does not end within HTTP_MAX_HEAD: the request is
 * refused; its bytes and whatever follows are dropped, and the connection
 * is closed once the answer is out. */
static void
front_head_too_large(struct front *f, struct evbuffer *src,
    struct evbuffer *dst)
{
	evbuffer_drain(src, evbuffer_get_length(src));
	event_del(f->deadline);
	evbuffer_add_printf(dst, "GET / HTTP/1.1\r\nNara-Front: 431\r\n"
	    "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n");
	f->phase = DROP_ALL;
	f->close_after = true;
}

/* Pass or drop body bytes of the current request. */
static void
front_body(struct front *f, struct evbuffer *src, struct evbuffer *dst)
{
	size_t len = evbuffer_get_length(src);
	size_t n = len < f->left ? len : (size_t)f->left;

	if (f->phase == BODY)
		evbuffer_remove_buffer(src, dst, n);
	else
		evbuffer_drain(src, n);
	f->left -= n;
	if (f->left > 0)
		return;
	event_del(f->deadline);
	if (f->phase == DISCARD)
		evbuffer_add_printf(dst, "%s\r\nNara-Front: 413 %llu\r\n"
		    "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		    f->request_line, (unsigned long long)f->announced);
	f->phase = f->phase == BODY ? HEAD : DROP_ALL;
}

/* The filter: BEV_OK when it put something into dst. */
static enum bufferevent_filter_result
front_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct front *f = arg;
	size_t before = evbuffer_get_length(dst);
	struct evbuffer_ptr end;

	while (evbuffer_get_length(src) > 0) {
		switch (f->phase) {
		case HEAD:
			end = evbuffer_search(src, "\r\n\r\n", 4, NULL);
			if (end.pos < 0 && evbuffer_get_length(src) <=
			    HTTP_MAX_HEAD && mode != BEV_FINISHED)
				goto out;
			if (end.pos < 0 && mode == BEV_FINISHED)
				f->phase = PASS_ALL;   /* evhttp sees the end */
			else if (end.pos < 0 || end.pos + 4 > HTTP_MAX_HEAD)
				front_head_too_large(f, src, dst);
			else
				front_head(f, src, dst, (size_t)end.pos + 4);
			break;
		case BODY:
		case DISCARD:
			if (f->left == 0)
				f->phase = f->phase == BODY ? HEAD : DROP_ALL;
			else
				front_body(f, src, dst);
			break;
		case DROP_ALL:
			evbuffer_drain(src, evbuffer_get_length(src));
			break;
		case PASS_ALL:
			evbuffer_add_buffer(dst, src);
			break;
		}
	}
out:
	(void)lim;
	return evbuffer_get_length(dst) > before ? BEV_OK : BEV_NEED_MORE;
}

/* The socket's output changed: once an answer has left it on a connection
 * to close, close the sending side (the client sees the end). */
static void
on_sent(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct front *f = arg;

	struct timeval deadline = { HTTP_REQUEST_DEADLINE, 0 };

	if (info->n_added > 0)
		f->answered = true;
	if (info->n_deleted == 0 || evbuffer_get_length(buf) > 0 ||
	    !f->answered)
		return;
	/* the answer is out: the next request has a deadline of its own
	 * (and a client that goes on sending after a refusal one too) */
	evtimer_add(f->deadline, &deadline);
	if (f->close_after)
		shutdown(bufferevent_getfd(f->sock), SHUT_WR);
}

/* Late, or over the cap: shut the socket down both ways; evhttp reads
 * the end and frees the connection (and with it this front). */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;
	evutil_socket_t s = bufferevent_getfd(f->sock);

	if (s < 0)
		return;
	if (f->over_cap)
		log_limited(&f->h->api_log, LOG_LVL_WARNING, "HTTP API: closed a "
		    "new connection: %u open, at most %u", f->h->api_conns - 1,
		    http_front_cap());
	else
		log_debug("HTTP API: closed a connection: no whole request in "
		    "%d s", HTTP_REQUEST_DEADLINE);
	shutdown(s, SHUT_RDWR);
}

unsigned
http_front_cap(void)
{
	struct rlimit rl;
	unsigned cap = HTTP_MAX_CONNS;

	/* a quarter of the descriptors at most: the state file, the link,
	 * the tunnel and the webhook's connections need the rest */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < cap)
		cap = (unsigned)(rl.rlim_cur / 4);
	return cap > 0 ? cap : 1;
}

/* evhttp queued (part of) an answer: pass it on at the next loop turn,
 * when evhttp has enabled writing. */
static void
on_queued(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct front *f = arg;

	if (info->n_added > 0)
		event_active(f->kick, 0, 0);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;

	/* only what is still queued: a flush of nothing would tell evhttp
	 * once more that its answer went out */
	if (evbuffer_get_length(bufferevent_get_output(f->filt)) > 0)
		bufferevent_flush(f->filt, EV_WRITE, BEV_FLUSH);
}

static void
front_free(void *arg)
{
	struct front *f = arg;

	if (f->kick != NULL)
		event_free(f->kick);
	if (f->deadline != NULL)
		event_free(f->deadline);
	f->h->api_conns--;
	if (f->sent_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(f->sock),
		    f->sent_cb);
	bufferevent_decref(f->sock);
	free(f);
}

/* A new connection's first deadline; one over the cap gets its deadline
 * at once (the next loop turn: evhttp sets its socket only after this). */
static int
start_deadline(struct front *f)
{
	struct timeval tv = { HTTP_REQUEST_DEADLINE, 0 };

	if (f->h->api_conns > http_front_cap()) {
		f->over_cap = true;
		tv.tv_sec = 0;
	}
	return evtimer_add(f->deadline, &tv);
}

struct bufferevent *
http_front_bev(struct event_base *base, void *arg)
{
	struct front *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->h = arg;
	if ((f->sock = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(f);
		return NULL;
	}
	bufferevent_incref(f->sock);
	f->filt = bufferevent_filter_new(f->sock, front_in, NULL,
	    BEV_OPT_CLOSE_ON_FREE, front_free, f);
	if (f->filt == NULL) {
		bufferevent_decref(f->sock);
		bufferevent_free(f->sock);
		free(f);
		return NULL;
	}
	/* from here on front_free (with the filter) releases f */
	f->h->api_conns++;
	if ((f->deadline = evtimer_new(base, on_deadline, f)) == NULL ||
	    start_deadline(f) != 0 ||
	    (f->kick = event_new(base, -1, 0, on_kick, f)) == NULL ||
	    (f->sent_cb = evbuffer_add_cb(bufferevent_get_output(f->sock),
	    on_sent, f)) == NULL ||
	    evbuffer_add_cb(bufferevent_get_output(f->filt), on_queued,
	    f) == NULL) {
		bufferevent_free(f->filt);
		return NULL;
	}
	return f->filt;
}
