/*
 * front_report.c — what the TLS front says about one peer, at a bounded
 * rate, and what it tells status tools about its connections.
 *
 * A misconfigured node that reconnects every 50 ms, or anyone hammering
 * the port, would otherwise write a log line and an audit row (kept for
 * years) per attempt. Each distinct (address, node, event, reason) is a
 * key: its first occurrence is logged and audited at once; repeats within
 * [tls] report_interval are only counted, and when the interval ends one
 * summary line and one summary row say how many there were, from when to
 * when. A key quiet for a whole interval is forgotten. The table is fixed
 * in size; when it is full the oldest key is summarised and replaced.
 *
 * For operators every refusal is also counted by reason and remembered as
 * the last refusal of the node it named (a fixed table of the newest
 * LAST_SLOTS nodes), and the details of each relaying connection (TLS
 * version, cipher, certificate) are read from its SSL on demand.
 */
#include "front_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/x509.h>

#define REPORT_SLOTS 256
#define LAST_SLOTS 256
/* Keys of audited refusals one address may hold before its further
 * refusals of other content (another claimed node, another ZMTP Identity:
 * the peer's choice) are counted under one key of their own: one line and
 * one audit row each per report_interval, whatever the peer varies. */
#define ADDR_KEYS 4
#define ADDR_OTHERS "further refusals of other content from this address " \
	"(another claimed node or identity each time)"

struct report_entry {
	bool used;
	bool audit;                    /* event set: summaries are audited */
	enum nara_code code;
	enum log_level level;
	char event[24];
	char addr[64];
	char node[TLS_IDENTITY_MAX + 1];
	char subject[256];
	char what[320];
	char last_peer[80];
	int64_t window_ms;             /* monotonic start of this interval */
	time_t first_repeat, last_repeat;  /* wall clock, for the summary */
	uint64_t repeats;
};

/* The certificate as a row shows it: "none" when the peer had none; the
 * catch-all key of an address keeps none of its refusals' certificates,
 * which "none" would misstate. */
static const char *
subject_shown(const struct report_entry *e)
{
	if (strcmp(e->what, ADDR_OTHERS) == 0)
		return "not recorded";
	return e->subject[0] ? e->subject : "none";
}

struct last_entry {
	char node[TLS_IDENTITY_MAX + 1]; /* "" = free */
	struct front_last_refusal r;
};

struct front_report {
	struct event *tick;            /* armed while any key is known */
	size_t used;
	struct report_entry slot[REPORT_SLOTS];
	uint64_t by_reason[FRONT_REASONS];
	struct last_entry last[LAST_SLOTS];
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
log_at(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
log_at(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	switch (level) {
	case LOG_LVL_ERROR: log_error("%s", line); break;
	case LOG_LVL_WARNING: log_warn("%s", line); break;
	case LOG_LVL_INFO: log_info("%s", line); break;
	default: log_debug("%s", line); break;
	}
}

/* Hand one audit row to the broker. */
static void
audit(struct front *f, const char *event, enum nara_code code,
    const char *node, const char *detail)
{
	struct front_refusal r = { .event = event, .code = nara_code_id(code),
	    .node = node[0] ? node : NULL, .detail = detail };

	if (f->hooks.refused != NULL)
		f->hooks.refused(f->hooks.arg, &r);
}

static void
rfc3339(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The repeats of e since its window began, as one line and one row. */
static void
entry_summarise(struct front *f, struct report_entry *e)
{
	char detail[1024], from[32], to[32];
	unsigned long long secs = (unsigned long long)f->cfg->tls.report_interval;

	if (e->repeats == 0)
		return;
	rfc3339(e->first_repeat, from);
	rfc3339(e->last_repeat, to);
	log_at(e->level, "tls front: %s%s%s: %s: %llu more times in the last "
	    "%llu s (last from %s)", e->addr, e->node[0] ? " as " : "",
	    e->node, e->what, (unsigned long long)e->repeats, secs,
	    e->last_peer);
	if (e->audit) {
		snprintf(detail, sizeof(detail), "peer %s; certificate %s; %s; "
		    "repeated %llu times from %s to %s", e->addr,
		    subject_shown(e), e->what, (unsigned long long)e->repeats,
		    from, to);
		audit(f, e->event, e->code, e->node, detail);
	}
	e->repeats = 0;
}

static bool
entry_is(const struct report_entry *e, const struct front_note *n)
{
	return e->used && strcmp(e->addr, n->addr) == 0 &&
	    strcmp(e->node, n->node ? n->node : "") == 0 &&
	    strcmp(e->event, n->event ? n->event : "") == 0 &&
	    strcmp(e->what, n->what) == 0;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct front *f = arg;
	struct front_report *r = f->report;
	int64_t now = mono_ms();
	int64_t interval = (int64_t)f->cfg->tls.report_interval * 1000;
	struct timeval second = { 1, 0 };

	for (size_t i = 0; i < REPORT_SLOTS; i++) {
		struct report_entry *e = &r->slot[i];

		if (!e->used || now - e->window_ms < interval)
			continue;
		if (e->repeats == 0) {     /* quiet for a whole interval */
			e->used = false;
			r->used--;
			continue;
		}
		entry_summarise(f, e);
		e->window_ms = now;
	}
	if (r->used > 0)
		event_add(r->tick, &second);
}

/* A slot for a new key: a free one, else the one whose window is oldest,
 * summarised first. */
static struct report_entry *
entry_take(struct front *f)
{
	struct front_report *r = f->report;
	struct report_entry *oldest = NULL;
	struct timeval second = { 1, 0 };

	for (size_t i = 0; i < REPORT_SLOTS; i++) {
		if (!r->slot[i].used) {
			if (r->used++ == 0)
				event_add(r->tick, &second);
			return &r->slot[i];
		}
		if (oldest == NULL || r->slot[i].window_ms < oldest->window_ms)
			oldest = &r->slot[i];
	}
	entry_summarise(f, oldest);
	return oldest;
}

static void
entry_fill(struct report_entry *e, const struct front_note *n, int64_t now)
{
	memset(e, 0, sizeof(*e));
	e->used = true;
	e->audit = n->event != NULL;
	e->code = n->code;
	e->level = n->level;
	snprintf(e->event, sizeof(e->event), "%s", n->event ? n->event : "");
	snprintf(e->addr, sizeof(e->addr), "%s", n->addr);
	snprintf(e->node, sizeof(e->node), "%s", n->node ? n->node : "");
	snprintf(e->subject, sizeof(e->subject), "%s",
	    n->subject ? n->subject : "");
	snprintf(e->what, sizeof(e->what), "%s", n->what);
	e->window_ms = now;
}

/* The entry of n's key, NULL when it has none. */
static struct report_entry *
entry_find(struct front_report *r, const struct front_note *n)
{
	for (size_t i = 0; i < REPORT_SLOTS; i++)
		if (entry_is(&r->slot[i], n))
			return &r->slot[i];
	return NULL;
}

/* The keys of audited refusals addr holds now. */
static size_t
addr_keys(const struct front_report *r, const char *addr)
{
	size_t n = 0;

	for (size_t i = 0; i < REPORT_SLOTS; i++)
		n += r->slot[i].used && r->slot[i].audit &&
		    strcmp(r->slot[i].addr, addr) == 0;
	return n;
}

void
front_report(struct front *f, const struct front_note *n)
{
	struct report_entry *e = entry_find(f->report, n);
	int64_t now = mono_ms();
	char detail[1024];
	struct front_note other;

	if (e == NULL && n->event != NULL &&
	    addr_keys(f->report, n->addr) >= ADDR_KEYS) {
		other = *n;
		other.node = "";
		other.subject = "";
		other.text = NULL;
		other.what = ADDR_OTHERS;
		n = &other;
		e = entry_find(f->report, n);
	}
	if (e != NULL) {
		if (e->repeats++ == 0)
			e->first_repeat = time(NULL);
		e->last_repeat = time(NULL);
		snprintf(e->last_peer, sizeof(e->last_peer), "%s", n->peer);
		return;
	}
	entry_fill(e = entry_take(f), n, now);
	if (n->text != NULL)
		log_at(n->level, "tls front: %s", n->text);
	else
		log_at(n->level, "tls front: refused %s%s%s: %s", n->peer,
		    e->node[0] ? " as " : "", e->node, n->what);
	if (n->event != NULL) {
		snprintf(detail, sizeof(detail), "peer %s; certificate %s; %s",
		    n->peer, subject_shown(e), n->what);
		audit(f, n->event, n->code, e->node, detail);
	}
}

void
front_report_flush(struct front *f)
{
	for (size_t i = 0; f->report != NULL && i < REPORT_SLOTS; i++)
		if (f->report->slot[i].used)
			entry_summarise(f, &f->report->slot[i]);
}

struct front_report *
front_report_new(struct front *f)
{
	struct front_report *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->tick = evtimer_new(f->base, on_tick, f)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
front_report_free(struct front_report **rp)
{
	struct front_report *r = rp ? *rp : NULL;

	if (r == NULL)
		return;
	event_free(r->tick);
	free(r);
	*rp = NULL;
}

/* ---------------------------------------------------------------- status */

static const char *const reason_names[FRONT_REASONS] = {
	"certificate", "tls", "identity", "zmtp", "frame_too_large",
	"takeover", "reload", "admission",
};

const char *
front_reason_name(enum front_reason r)
{
	return r < FRONT_REASONS ? reason_names[r] : "unknown";
}

/* Which reason a refusal of c with code is, from the state it was in. */
static enum front_reason
refusal_reason(struct conn *c, enum nara_code code)
{
	SSL *ssl = c->tls ? bufferevent_openssl_get_ssl(c->tls) : NULL;

	if (code == NR_TOO_LARGE)
		return FRONT_R_FRAME;
	if (code == NR_UNAVAILABLE)
		return FRONT_R_TAKEOVER;
	switch (c->state) {
	case CONN_TLS:
		return ssl != NULL && SSL_get_verify_result(ssl) != X509_V_OK
		    ? FRONT_R_CERTIFICATE : FRONT_R_TLS;
	case CONN_WAIT:
		return FRONT_R_IDENTITY;
	case CONN_RELAY:
		return FRONT_R_RELOAD;
	default:
		return FRONT_R_ZMTP;
	}
}

/* The slot of node: its own, a free one, or the one refused longest ago. */
static struct last_entry *
last_slot(struct front_report *r, const char *node)
{
	struct last_entry *free_one = NULL, *oldest = NULL;

	for (size_t i = 0; i < LAST_SLOTS; i++) {
		struct last_entry *e = &r->last[i];
		if (e->node[0] == '\0') {
			if (free_one == NULL)
				free_one = e;
		} else if (strcmp(e->node, node) == 0) {
			return e;
		} else if (oldest == NULL || e->r.at < oldest->r.at) {
			oldest = e;
		}
	}
	return free_one ? free_one : oldest;
}

void
front_refusal_note(struct conn *c, const struct front_note *n)
{
	struct front *f = c->f;
	enum front_reason why = refusal_reason(c, n->code);
	struct last_entry *e;
	uint64_t count;

	f->refusals++;
	f->report->by_reason[why]++;
	if (n->node != NULL && n->node[0] != '\0') {
		e = last_slot(f->report, n->node);
		count = strcmp(e->node, n->node) == 0 ? e->r.count : 0;
		memset(e, 0, sizeof(*e));
		snprintf(e->node, sizeof(e->node), "%s", n->node);
		e->r.at = (int64_t)time(NULL);
		snprintf(e->r.event, sizeof(e->r.event), "%s",
		    n->event ? n->event : "");
		snprintf(e->r.code, sizeof(e->r.code), "%s",
		    nara_code_id(n->code));
		e->r.reason = why;
		snprintf(e->r.what, sizeof(e->r.what), "%s", n->what);
		snprintf(e->r.peer, sizeof(e->r.peer), "%s", n->peer);
		snprintf(e->r.subject, sizeof(e->r.subject), "%s",
		    n->subject ? n->subject : "");
		e->r.count = count + 1;
	}
	front_report(f, n);
}

void
front_refusal_counts(const struct front *f, uint64_t out[FRONT_REASONS])
{
	uint64_t known = 0;

	memset(out, 0, sizeof(uint64_t) * FRONT_REASONS);
	if (f == NULL || f->report == NULL)
		return;
	for (int i = 0; i < FRONT_REASONS; i++)
		known += out[i] = f->report->by_reason[i];
	/* admission refusals are counted by front.c only in the total */
	out[FRONT_R_ADMISSION] += f->refusals > known ? f->refusals - known : 0;
}

int
front_last_refusal(const struct front *f, const char *node,
    struct front_last_refusal *out)
{
	for (size_t i = 0; f != NULL && f->report != NULL && i < LAST_SLOTS; i++)
		if (f->report->last[i].node[0] != '\0' &&
		    strcmp(f->report->last[i].node, node) == 0) {
			*out = f->report->last[i].r;
			return 0;
		}
	return -1;
}

static void
conn_info(const struct conn *c, struct front_conn_info *o)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->tls);
	const SSL_CIPHER *cipher = ssl ? SSL_get_current_cipher(ssl) : NULL;

	memset(o, 0, sizeof(*o));
	snprintf(o->node, sizeof(o->node), "%s", c->node);
	snprintf(o->peer, sizeof(o->peer), "%s", c->peer);
	snprintf(o->tls_version, sizeof(o->tls_version), "%s",
	    ssl ? SSL_get_version(ssl) : "");
	snprintf(o->cipher, sizeof(o->cipher), "%s",
	    cipher ? SSL_CIPHER_get_name(cipher) : "");
	snprintf(o->subject, sizeof(o->subject), "%s", c->subject);
	o->not_after = c->not_after;
	o->since = c->since;
	o->gen = c->gen;
}

int
front_conn_of(const struct front *f, const char *node,
    struct front_conn_info *out)
{
	for (const struct conn *c = f ? conn_first(f) : NULL; c != NULL;
	    c = conn_next(c))
		if (c->state == CONN_RELAY && strcmp(c->node, node) == 0) {
			conn_info(c, out);
			return 0;
		}
	return -1;
}

int
front_own_not_after(const struct front *f, int64_t *not_after)
{
	X509 *cert = f && f->ctx ? SSL_CTX_get0_certificate(f->ctx) : NULL;
	struct tm tm;

	if (cert == NULL || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return -1;
	*not_after = (int64_t)timegm(&tm);
	return 0;
}
