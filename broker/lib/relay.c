/*
 * relay.c — the lifecycle of one relayed connection (see relay.h).
 *
 * Every bufferevent callback of a relay comes through here: reads go to the
 * owner (or straight across), writes resume a side that back-pressure
 * stopped, or finish a flushing close; events go to the owner. Burial only
 * unhooks and lists; the reaper, an event made active at burial, frees the
 * dead list once the callback that buried has returned.
 */
#include "relay.h"

#include <event2/buffer.h>

static int
relay_side(const struct relay *r, const struct bufferevent *bev)
{
	return bev == r->bev[0] ? 0 : 1;
}

static void
relay_done(struct relay *r)
{
	r->done = true;
	if (r->ops->done != NULL)
		r->ops->done(r);
	else
		relay_bury(r);
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct relay_set *s = arg;
	struct relay *r;

	(void)fd;
	(void)what;
	while ((r = LIST_FIRST(&s->dead)) != NULL) {
		LIST_REMOVE(r, link);
		r->ops->destroy(r);
	}
}

int
relay_set_init(struct relay_set *s, struct event_base *base,
    unsigned flush_seconds)
{
	LIST_INIT(&s->live);
	LIST_INIT(&s->dead);
	s->n_live = 0;
	s->flush_seconds = flush_seconds;
	s->reaper = event_new(base, -1, 0, on_reap, s);
	return s->reaper != NULL ? 0 : -1;
}

void
relay_set_free(struct relay_set *s)
{
	struct relay *r;

	while ((r = LIST_FIRST(&s->live)) != NULL) {
		LIST_REMOVE(r, link);
		s->n_live--;
		r->ops->destroy(r);
	}
	on_reap(-1, 0, s);
	if (s->reaper != NULL)
		event_free(s->reaper);
	s->reaper = NULL;
}

/* ---------------------------------------------------------------- events */

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	if (r->ops->read != NULL)
		r->ops->read(r, relay_side(r, bev));
	else if (!r->closing)
		relay_forward(r, relay_side(r, bev));
}

/* bev's output drained below its low watermark. */
static void
on_write(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	struct bufferevent *other = r->bev[!relay_side(r, bev)];

	if (r->closing) {
		if (!r->done && relay_flushed(r))
			relay_done(r);
		return;
	}
	if (other != NULL && !(bufferevent_get_enabled(other) & EV_READ)) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bufferevent_enable(other, EV_READ);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;

	if (r->ops->event != NULL)
		r->ops->event(r, relay_side(r, bev), what);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;

	(void)fd;
	(void)what;
	if (r->closing && !r->done)
		relay_done(r);           /* the flush limit */
	else if (r->ops->timer != NULL)
		r->ops->timer(r);
}

/* ---------------------------------------------------------------- lifetime */

int
relay_init(struct relay *r, struct relay_set *s, const struct relay_ops *ops)
{
	r->set = s;
	r->ops = ops;
	r->timer = evtimer_new(event_get_base(s->reaper), on_timer, r);
	if (r->timer == NULL)
		return -1;
	LIST_INSERT_HEAD(&s->live, r, link);
	s->n_live++;
	return 0;
}

void
relay_attach(struct relay *r, int side, struct bufferevent *bev)
{
	r->bev[side] = bev;
	bufferevent_setcb(bev, on_read, on_write, on_event, r);
}

void
relay_release(struct relay *r)
{
	for (int i = 0; i < 2; i++) {
		if (r->bev[i] != NULL)
			bufferevent_free(r->bev[i]);  /* closes its fd, SSL */
		r->bev[i] = NULL;
	}
	if (r->timer != NULL)
		event_free(r->timer);
	r->timer = NULL;
}

void
relay_bury(struct relay *r)
{
	struct relay_set *s = r->set;

	if (r->buried)
		return;
	r->buried = true;
	if (r->ops->bury != NULL)
		r->ops->bury(r);
	for (int i = 0; i < 2; i++) {
		if (r->bev[i] == NULL)
			continue;
		bufferevent_setcb(r->bev[i], NULL, NULL, NULL, NULL);
		bufferevent_disable(r->bev[i], EV_READ | EV_WRITE);
	}
	event_del(r->timer);
	LIST_REMOVE(r, link);
	s->n_live--;
	LIST_INSERT_HEAD(&s->dead, r, link);
	event_active(s->reaper, EV_TIMEOUT, 0);
}

/* ---------------------------------------------------------------- relay */

void
relay_forward(struct relay *r, int side)
{
	struct bufferevent *from = r->bev[side], *to = r->bev[!side];
	struct evbuffer *out = bufferevent_get_output(to);

	evbuffer_add_buffer(out, bufferevent_get_input(from));
	if (evbuffer_get_length(out) >= RELAY_HIGH_WATER) {
		bufferevent_disable(from, EV_READ);
		bufferevent_setwatermark(to, EV_WRITE, RELAY_HIGH_WATER / 2,
		    RELAY_HIGH_WATER);
	}
}

void
relay_arm(struct relay *r, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	event_del(r->timer);
	event_add(r->timer, &tv);
}

bool
relay_flushed(const struct relay *r)
{
	for (int i = 0; i < 2; i++)
		if (r->bev[i] != NULL && !r->unflushed[i] &&
		    evbuffer_get_length(bufferevent_get_output(r->bev[i])) != 0)
			return false;
	return true;
}

void
relay_close(struct relay *r, bool flush)
{
	if (r->buried || r->done || (r->closing && flush))
		return;
	r->closing = true;
	if (!flush || relay_flushed(r)) {
		relay_done(r);
		return;
	}
	for (int i = 0; i < 2; i++) {
		if (r->bev[i] == NULL)
			continue;
		bufferevent_disable(r->bev[i], EV_READ);
		bufferevent_setwatermark(r->bev[i], EV_WRITE, 0, 0);
	}
	relay_arm(r, r->set->flush_seconds);   /* then on_timer: done */
}
