/*
 * spool.c — the spool directory backend, what small sites use:
 *
 *   outbox/    the local system writes *.json (nara-msg JSON) or *.pb (an
 *              encoded Envelope) by write-then-rename;
 *   sent/      a file moves here once narad accepted the message;
 *   rejected/  refused files, each with NAME.error.json (code, text, path,
 *              retryable) beside it;
 *   inbox/     delivered messages as MESSAGE_ID.json;
 *   receipts/  receipts for sent messages as MESSAGE_ID.json.
 *
 * outbox/ is watched with inotify, so a file renamed into it is taken at
 * once; a full scan every scan_interval catches what inotify cannot see
 * (network file systems, an overflowed event queue). The files of one scan
 * are stored in one transaction.
 *
 * Incoming files are written as .tmp-MESSAGE_ID.json, fsynced, and renamed
 * only after the adapter committed its intent to do so (handoff.c), so the
 * local system never sees half a file and never sees one twice: at start
 * every intent without an outcome is settled — a temporary file still
 * there is renamed now, a missing one was renamed before the stop (and may
 * already be taken by the local system). A bad outbox file is moved aside
 * and never blocks the others.
 */
#include "adapter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "pbjson.h"
#include "validate.h"

#define NAME_MAX_LEN 200

struct spool {
	struct adapter *a;
	struct event *scan;          /* every scan_interval, and on demand */
	struct event *watch;         /* the inotify descriptor is readable */
	int ifd;                     /* inotify on outbox/, -1 without */
	char outbox[512], sent[512], rejected[512], inbox[512], receipts[512];
	bool inbox_dirty, receipts_dirty;   /* entries not yet fsynced */
	char (*known)[NAME_MAX_LEN + 1];    /* files in outbox/ already queued */
	size_t n_known, cap_known;
};

static bool
known_has(const struct spool *s, const char *name)
{
	for (size_t i = 0; i < s->n_known; i++)
		if (strcmp(s->known[i], name) == 0)
			return true;
	return false;
}

static void
known_add(struct spool *s, const char *name)
{
	if (known_has(s, name))
		return;
	if (s->n_known == s->cap_known) {
		size_t cap = s->cap_known ? s->cap_known * 2 : 64;
		void *v = reallocarray(s->known, cap, sizeof(*s->known));
		if (v == NULL)
			return;   /* the next scan looks at the file again */
		s->known = v;
		s->cap_known = cap;
	}
	snprintf(s->known[s->n_known++], NAME_MAX_LEN + 1, "%s", name);
}

static void
known_remove(struct spool *s, const char *name)
{
	for (size_t i = 0; i < s->n_known; i++) {
		if (strcmp(s->known[i], name) == 0) {
			s->known[i][0] = '\0';
			memmove(&s->known[i], &s->known[i + 1],
			    (s->n_known - i - 1) * sizeof(*s->known));
			s->n_known--;
			return;
		}
	}
}

/* Move outbox/NAME to dir/NAME; a missing source is no error (moved
 * already, before a restart). */
static void
move_file(struct spool *s, const char *name, const char *dir)
{
	char from[1024], to[1024];

	snprintf(from, sizeof(from), "%s/%s", s->outbox, name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	if (rename(from, to) != 0 && errno != ENOENT)
		log_error("cannot move %s to %s: %s", from, dir, strerror(errno));
}

/* Refuse a file: NAME.error.json first, then the file itself, so a crash in
 * between leaves the file in outbox/ to be refused again. */
static void
spool_reject(struct spool *s, const char *name, const char *message_id,
    const char *code, const char *text, const char *path)
{
	enum nara_code c = NR_OK;
	struct nara_err err = { 0 };
	char ename[NAME_MAX_LEN + 16];
	json_t *o;
	char *js;

	nara_code_parse(code, &c);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "file", name,
	    "message_id", message_id ? message_id : "", "code", code,
	    "text", text ? text : "", "path", path ? path : "",
	    "retryable", nara_code_retryable(c));
	js = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	snprintf(ename, sizeof(ename), "%s.error.json", name);
	if (js == NULL || adapter_write_atomic(s->rejected, ename, js,
	    strlen(js), &err) != 0) {
		log_error("cannot write %s/%s: %s", s->rejected, ename, err.text);
		free(js);
		return;
	}
	free(js);
	move_file(s, name, s->rejected);
	known_remove(s, name);
	log_warn("outbox file %s rejected: %s %s%s%s", name, code, text,
	    path && path[0] ? " at " : "", path ? path : "");
}

static void
reject_err(struct spool *s, const char *name, const char *id,
    const struct nara_err *err)
{
	spool_reject(s, name, id, nara_code_id(err->code), err->text, err->path);
}

/* Read a whole file of at most max bytes; NULL with err (NR020 too big). */
static char *
read_file(const char *path, size_t max, size_t *len, struct nara_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, &st) != 0) {
		nara_err_set(err, NR_IO, "", "%s", strerror(errno));
		goto done;
	}
	if ((uint64_t)st.st_size > max) {
		nara_err_set(err, NR_TOO_LARGE, "", "file is %lld bytes; at most "
		    "%zu", (long long)st.st_size, max);
		goto done;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		nara_err_set(err, NR_IO, "", "out of memory");
		goto done;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n <= 0) {
			nara_err_set(err, NR_IO, "", "read: %s", strerror(errno));
			free(buf);
			buf = NULL;
			goto done;
		}
		off += (size_t)n;
	}
	buf[off] = '\0';
	*len = off;
done:
	if (fd >= 0)
		close(fd);
	return buf;
}

static Nara__Envelope *
parse_envelope(const char *name, const char *buf, size_t len,
    struct nara_err *err)
{
	Nara__Envelope *env;
	size_t n = strlen(name);

	if (n > 5 && strcmp(name + n - 5, ".json") == 0)
		return (Nara__Envelope *)pbjson_parse(&nara__envelope__descriptor,
		    buf, len, err);
	env = nara__envelope__unpack(NULL, len, (const uint8_t *)buf);
	if (env == NULL)
		nara_err_set(err, NR_MALFORMED_FRAME, "", "not an encoded "
		    "nara.Envelope");
	return env;
}

/* After a restart a file may belong to a message whose fate is known. */
static void
settle(struct spool *s, const char *name, const char *id, enum outbox_state st)
{
	struct outbox_row row;

	if (st == OUTBOX_QUEUED) {
		known_add(s, name);
	} else if (st == OUTBOX_REJECTED) {
		if (outbox_get(adapter_outbox(s->a), id, &row) == 1) {
			spool_reject(s, name, id, row.code, row.text, "");
			outbox_row_clear(&row);
		}
	} else {
		move_file(s, name, s->sent);
	}
}

static void
take_file(struct spool *s, const char *name)
{
	const struct adapter_config *cfg = adapter_cfg(s->a);
	struct nara_err err = { 0 };
	Nara__Envelope *env = NULL;
	enum outbox_state st;
	char path[1024];
	size_t len = 0;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s", s->outbox, name);
	if ((buf = read_file(path, (size_t)cfg->max_message_bytes, &len,
	    &err)) == NULL) {
		if (err.code == NR_TOO_LARGE)
			reject_err(s, name, "", &err);
		else if (errno != ENOENT)
			log_warn("outbox file %s: %s", name, err.text);
		return;
	}
	if ((env = parse_envelope(name, buf, len, &err)) == NULL) {
		reject_err(s, name, "", &err);
	} else if (adapter_store_local(s->a, env, name, &err, &st) != 0) {
		if (err.code == NR_IO)
			log_error("outbox file %s not stored (retrying): %s",
			    name, err.text);
		else
			reject_err(s, name, env->message_id, &err);
	} else {
		settle(s, name, env->message_id, st);
	}
	if (env != NULL)
		protobuf_c_message_free_unpacked(&env->base, NULL);
	free(buf);
}

static int
outbox_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	if (d->d_name[0] == '.' || n > NAME_MAX_LEN)
		return 0;
	return (n > 5 && strcmp(d->d_name + n - 5, ".json") == 0) ||
	    (n > 3 && strcmp(d->d_name + n - 3, ".pb") == 0);
}

/*
 * Look at outbox/ in name order; files already queued are skipped. The
 * files are stored in one transaction (one fsync) and submitted after it.
 * When that commit fails nothing of it counts: every file is read again by
 * the next scan (a file stored before answers "same" and is not sent twice).
 */
static void
on_scan(evutil_socket_t fd, short what, void *arg)
{
	struct spool *s = arg;
	struct dirent **list = NULL;
	int n = scandir(s->outbox, &list, outbox_filter, alphasort);
	bool batch;

	if (n < 0) {
		log_error("cannot read %s: %s", s->outbox, strerror(errno));
		return;
	}
	batch = adapter_batch_begin(s->a) == 0;
	for (int i = 0; i < n; i++) {
		if (!known_has(s, list[i]->d_name))
			take_file(s, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	if (batch && adapter_batch_end(s->a) != 0) {
		log_error("outbox files not stored (retrying at the next scan)");
		s->n_known = 0;
	}
}

/* Something was renamed or written into outbox/: scan once the events are
 * read (many files in a burst make one scan). */
static void
on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct spool *s = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	event_active(s->scan, EV_TIMEOUT, 0);
}

static void
spool_outcome(void *be, const struct outbox_row *row)
{
	struct spool *s = be;

	if (row->source == NULL || row->source[0] == '\0')
		return;
	known_remove(s, row->source);
	settle(s, row->source, row->message_id, row->state);
}

/* Names come from message ids: only UUID characters reach the disk. */
static bool
safe_id(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= 64 &&
	    strspn(id, "0123456789abcdefABCDEF-") == n;
}

static const char *
handoff_dir(struct spool *s, enum handoff_kind kind)
{
	return kind == HK_RECEIPT ? s->receipts : s->inbox;
}

static void
mark_dirty(struct spool *s, enum handoff_kind kind)
{
	if (kind == HK_RECEIPT)
		s->receipts_dirty = true;
	else
		s->inbox_dirty = true;
}

static int
spool_prepare(void *be, enum handoff_kind kind, const char *id,
    const char *json, char *name, size_t name_len, char *why, size_t why_len)
{
	struct spool *s = be;
	struct nara_err err = { 0 };

	if (!safe_id(id)) {
		snprintf(why, why_len, "message id is not a UUID");
		return 1;
	}
	if (kind == HK_REFUSAL)
		return -1;   /* refusals are in rejected/ already */
	snprintf(name, name_len, "%s.json", id);
	if (adapter_write_temp(handoff_dir(s, kind), name, json, strlen(json),
	    &err) != 0) {
		log_error("hand-off of %s failed (narad will deliver it again): "
		    "%s", id, err.text);
		adapter_local_error(s->a, err.text);
		return -1;
	}
	mark_dirty(s, kind);
	return 0;
}

static int
spool_sync(void *be)
{
	struct spool *s = be;

	if (s->inbox_dirty && adapter_fsync_dir(s->inbox) != 0) {
		log_error("fsync %s: %s", s->inbox, strerror(errno));
		return -1;
	}
	s->inbox_dirty = false;
	if (s->receipts_dirty && adapter_fsync_dir(s->receipts) != 0) {
		log_error("fsync %s: %s", s->receipts, strerror(errno));
		return -1;
	}
	s->receipts_dirty = false;
	return 0;
}

static void
temp_paths(struct spool *s, enum handoff_kind kind, const char *id,
    char *tmp, char *path, size_t len)
{
	snprintf(tmp, len, "%s/.tmp-%s.json", handoff_dir(s, kind), id);
	snprintf(path, len, "%s/%s.json", handoff_dir(s, kind), id);
}

/* The intent is on disk: the rename makes the file the local system's. */
static void
spool_show(void *be, enum handoff_kind kind, const char *id)
{
	struct spool *s = be;
	char tmp[1024], path[1024];

	temp_paths(s, kind, id, tmp, path, sizeof(tmp));
	if (rename(tmp, path) != 0) {
		/* The temporary file stays: removed while the intent is still
		 * recorded (kill -9 before the intent is forgotten, or the
		 * forget failing), it would be taken at the next start for a
		 * hand-off finished, and narad's redelivery acked unwritten. A
		 * redelivery writes it anew; the next start removes it. */
		log_error("hand-off of %s failed (narad will deliver it again): "
		    "rename %s: %s", id, tmp, strerror(errno));
		adapter_test_stop("rename_failed");
		adapter_handoff_done(s->a, kind, id, HANDOFF_RETRY, "rename");
		return;
	}
	mark_dirty(s, kind);
	adapter_local_error(s->a, NULL);
	adapter_test_stop("rename");
	adapter_handoff_done(s->a, kind, id, HANDOFF_DONE, "");
}

static void
spool_abandon(void *be, enum handoff_kind kind, const char *id)
{
	char tmp[1024], path[1024];

	temp_paths(be, kind, id, tmp, path, sizeof(tmp));
	unlink(tmp);
}

/* Intents without outcome found at start, settled together. */
struct intent_list {
	char (*ids)[40];
	size_t n, cap;
};

static int
collect_intent(void *arg, const char *id, const char *name)
{
	struct intent_list *l = arg;

	if (!safe_id(id))
		return 0;   /* never prepared: ids are checked first */
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *v = reallocarray(l->ids, cap, sizeof(*l->ids));

		if (v == NULL)
			return 1;
		l->ids = v;
		l->cap = cap;
	}
	snprintf(l->ids[l->n++], 40, "%s", id);
	return 0;
}

/*
 * Settle the hand-offs of kind a stop cut short. The temporary file is
 * the witness: still there, the rename did not happen and happens now;
 * gone, it happened (the local system may have taken the file since).
 * Either way the hand-off is done once the renames are durable.
 */
static int
settle_intents(struct spool *s, enum handoff_kind kind, struct nara_err *err)
{
	struct outbox *ob = adapter_outbox(s->a);
	const char *k = handoff_kind_name(kind);
	struct intent_list l = { 0 };
	char tmp[1024], path[1024];
	int rc = -1;

	if (outbox_intents(ob, k, collect_intent, &l) < 0)
		goto fail;
	for (size_t i = 0; i < l.n; i++) {
		temp_paths(s, kind, l.ids[i], tmp, path, sizeof(tmp));
		if (rename(tmp, path) == 0)
			log_info("%s %s handed to the local system (cut short by "
			    "a stop, completed at start)", k, l.ids[i]);
		else if (errno == ENOENT)
			log_info("%s %s handed to the local system before the "
			    "stop (recorded at start)", k, l.ids[i]);
		else
			goto fail;
	}
	if (l.n > 0 && adapter_fsync_dir(handoff_dir(s, kind)) != 0)
		goto fail;
	if (outbox_begin(ob) != 0)
		goto fail;
	for (size_t i = 0; i < l.n; i++)
		if (outbox_handed_add(ob, k, l.ids[i], "handed", adapter_now()) != 0) {
			outbox_rollback(ob);
			goto fail;
		}
	rc = outbox_commit(ob);
fail:
	if (rc != 0)
		nara_err_set(err, NR_IO, "", "cannot settle the %ss handed off "
		    "before the stop in %s: %s", k, handoff_dir(s, kind),
		    strerror(errno));
	free(l.ids);
	return rc;
}

/* Temporary files of a hand-off cut short by a crash. */
static void
remove_temporaries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, ".tmp-", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static int
make_dir(char *out, size_t len, const char *base, const char *sub,
    struct nara_err *err)
{
	snprintf(out, len, "%s%s%s", base, sub ? "/" : "", sub ? sub : "");
	if (mkdir(out, 0750) == 0) {
		/* shared with the local system through the group */
		if (sub != NULL && chmod(out, 0770) != 0)
			log_warn("chmod %s: %s", out, strerror(errno));
	} else if (errno != EEXIST) {
		return nara_err_set(err, NR_IO, "", "cannot create %s: %s", out,
		    strerror(errno));
	}
	return 0;
}

void *
spool_new(struct event_base *base, struct adapter *a, struct nara_err *err)
{
	const struct adapter_config *cfg = adapter_cfg(a);
	struct spool *s = calloc(1, sizeof(*s));
	struct timeval ivl = { (time_t)cfg->scan_interval, 0 };
	char top[512];

	if (s == NULL) {
		nara_err_set(err, NR_IO, "", "out of memory");
		return NULL;
	}
	s->a = a;
	s->ifd = -1;
	if (make_dir(top, sizeof(top), cfg->spool_dir, NULL, err) != 0 ||
	    make_dir(s->outbox, sizeof(s->outbox), top, "outbox", err) != 0 ||
	    make_dir(s->sent, sizeof(s->sent), top, "sent", err) != 0 ||
	    make_dir(s->rejected, sizeof(s->rejected), top, "rejected", err) != 0 ||
	    make_dir(s->inbox, sizeof(s->inbox), top, "inbox", err) != 0 ||
	    make_dir(s->receipts, sizeof(s->receipts), top, "receipts", err) != 0 ||
	    settle_intents(s, HK_MESSAGE, err) != 0 ||
	    settle_intents(s, HK_RECEIPT, err) != 0)
		goto fail;
	/* what is left was never promised to the local system */
	remove_temporaries(s->inbox);
	remove_temporaries(s->receipts);
	remove_temporaries(s->rejected);
	if ((s->scan = event_new(base, -1, EV_PERSIST, on_scan, s)) == NULL ||
	    event_add(s->scan, &ivl) != 0) {
		nara_err_set(err, NR_IO, "", "event loop setup failed");
		goto fail;
	}
	s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->ifd < 0 || inotify_add_watch(s->ifd, s->outbox, IN_MOVED_TO |
	    IN_CLOSE_WRITE) < 0 || (s->watch = event_new(base, s->ifd,
	    EV_READ | EV_PERSIST, on_watch, s)) == NULL ||
	    event_add(s->watch, NULL) != 0)
		log_warn("cannot watch %s (%s); looking at it every %llu s",
		    s->outbox, strerror(errno),
		    (unsigned long long)cfg->scan_interval);
	event_active(s->scan, EV_TIMEOUT, 0);   /* first scan at once */
	log_info("spool directory %s", top);
	return s;
fail:
	if (s->scan)
		event_free(s->scan);
	free(s);
	return NULL;
}

static void
spool_free(void **be)
{
	struct spool *s = *be;

	if (s == NULL)
		return;
	if (s->scan)
		event_free(s->scan);
	if (s->watch)
		event_free(s->watch);
	if (s->ifd >= 0)
		close(s->ifd);
	free(s->known);
	free(s);
	*be = NULL;
}

static void
spool_start(void *be)
{
}

const struct backend_ops spool_ops = {
	.prepare = spool_prepare,
	.sync = spool_sync,
	.show = spool_show,
	.abandon = spool_abandon,
	.start = spool_start,
	.outcome = spool_outcome,
	.free = spool_free,
};
