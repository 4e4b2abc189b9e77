/*
 * zap.c — who may connect to the ROUTER (zap.h): libzmq's ipc pid filter
 * with a monitor that reports refusals, the ZAP handler used where libzmq
 * has no such filter, and the runtime directory check.
 *
 * libzmq sends one ZAP request per new connection to the REP socket bound
 * at inproc://zeromq.zap.01 in the same context, and holds the connection
 * until the reply. The handler runs in narad's libevent loop like the
 * ROUTER, so it needs no locking; a request is answered at once.
 */
#include "zap.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "evzmq.h"
#include "log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* version, request id, domain, address, identity, mechanism, credentials */
#define ZAP_FRAMES_MAX 8
#define ZAP_FIELD_MAX 256

struct zap {
	void *sock;                   /* ZAP REP socket, or the monitor's PAIR */
	struct evzmq *watch;
	zap_refused_cb cb;
	void *arg;
	uint64_t refusals;
};

/* "localhost:UID:GID:PID" (libzmq 4.3 for an ipc peer with SO_PEERCRED):
 * the last three colon-separated fields. */
static int
peer_creds(const char *address, unsigned long *uid, unsigned long *pid)
{
	const char *p[3];
	const char *s = address + strlen(address);
	char *end;
	unsigned long gid;

	for (int i = 2; i >= 0; i--) {
		while (s > address && s[-1] != ':')
			s--;
		if (s == address)
			return -1;
		p[i] = s;
		s--;                         /* step over the ':' */
	}
	errno = 0;
	*uid = strtoul(p[0], &end, 10);
	if (end == p[0] || *end != ':')
		return -1;
	gid = strtoul(p[1], &end, 10);
	if (end == p[1] || *end != ':' || gid == ULONG_MAX)
		return -1;
	*pid = strtoul(p[2], &end, 10);
	if (end == p[2] || *end != '\0' || errno != 0)
		return -1;
	return 0;
}

int
zap_admit(const char *domain, const char *address, const char *mechanism,
    uid_t uid, pid_t pid, char *why, size_t why_len)
{
	unsigned long peer_uid, peer_pid;

	if (strcmp(domain, ZAP_DOMAIN) != 0)
		snprintf(why, why_len, "ZAP domain \"%s\" is not " ZAP_DOMAIN,
		    domain);
	else if (strcmp(mechanism, "NULL") != 0)
		snprintf(why, why_len, "mechanism %s, not NULL", mechanism);
	else if (peer_creds(address, &peer_uid, &peer_pid) != 0)
		snprintf(why, why_len, "peer %s has no ipc credentials "
		    "(not a local ipc connection)", address);
	else if (peer_uid != (unsigned long)uid || peer_pid != (unsigned long)pid)
		snprintf(why, why_len, "ipc peer pid %lu uid %lu is not narad's "
		    "TLS front (pid %lu uid %lu)", peer_pid, peer_uid,
		    (unsigned long)pid, (unsigned long)uid);
	else
		return 0;
	return -1;
}

/* One ZAP request into fields (each NUL-terminated, cut at
 * ZAP_FIELD_MAX - 1; printable ASCII kept, anything else '?'). */
static int
request_read(void *sock, char f[ZAP_FRAMES_MAX][ZAP_FIELD_MAX], size_t *n)
{
	int more = 1;

	*n = 0;
	while (more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return *n == 0 ? -1 : 0;
		}
		more = zmq_msg_more(&m);
		if (*n < ZAP_FRAMES_MAX) {
			const char *d = zmq_msg_data(&m);
			size_t len = zmq_msg_size(&m), i;
			for (i = 0; i < len && i + 1 < ZAP_FIELD_MAX; i++)
				f[*n][i] = d[i] >= 0x20 && d[i] < 0x7f ? d[i] : '?';
			f[*n][i] = '\0';
			(*n)++;
		}
		zmq_msg_close(&m);
	}
	return 0;
}

static void
reply_send(void *sock, const char *request_id, bool ok, const char *text)
{
	zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(sock, request_id, strlen(request_id), ZMQ_SNDMORE);
	zmq_send(sock, ok ? "200" : "400", 3, ZMQ_SNDMORE);
	zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(sock, "", 0, ZMQ_SNDMORE);      /* user id */
	zmq_send(sock, "", 0, 0);                /* metadata */
}

static void
on_request(void *sock, void *arg)
{
	struct zap *z = arg;
	char f[ZAP_FRAMES_MAX][ZAP_FIELD_MAX], why[512];
	size_t n;

	while (request_read(sock, f, &n) == 0) {
		if (n < 6 || strcmp(f[0], "1.0") != 0) {
			/* Not from libzmq's ZAP client; REP still owes a reply. */
			log_error("zap: malformed request (%zu frames)", n);
			reply_send(sock, n > 1 ? f[1] : "", false, "malformed");
			continue;
		}
		if (zap_admit(f[2], f[3], f[5], geteuid(), getpid(), why,
		    sizeof(why)) == 0) {
			reply_send(sock, f[1], true, "OK");
			continue;
		}
		z->refusals++;
		log_warn("router: refused a connection: %s", why);
		reply_send(sock, f[1], false, "not the TLS front");
		if (z->cb != NULL)
			z->cb(z->arg, f[3], why);
	}
}

struct zap *
zap_new(struct event_base *base, void *zctx, zap_refused_cb cb, void *arg)
{
	struct zap *z = calloc(1, sizeof(*z));
	int linger = 0;

	if (z == NULL)
		return NULL;
	z->cb = cb;
	z->arg = arg;
	if ((z->sock = zmq_socket(zctx, ZMQ_REP)) == NULL)
		goto fail;
	zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(z->sock, ZAP_ENDPOINT) != 0)
		goto fail;
	if ((z->watch = evzmq_new(base, z->sock, on_request, z)) == NULL)
		goto fail;
	return z;
fail:
	log_error("cannot start the ZAP handler: %s", zmq_strerror(errno));
	zap_free(&z);
	return NULL;
}

void
zap_free(struct zap **zp)
{
	struct zap *z = zp ? *zp : NULL;

	if (z == NULL)
		return;
	evzmq_free(&z->watch);
	if (z->sock != NULL)
		zmq_close(z->sock);
	free(z);
	*zp = NULL;
}

/* Monitor events of the ROUTER: the first frame is the event (16 bits)
 * and its value (32 bits), the second the endpoint. With the pid filter on,
 * a refused peer is an accept that "failed": libzmq closed it. An accept
 * that fails for another reason (the peer gone before it) looks the same;
 * libzmq's errno for the event does not tell them apart. */
static void
on_monitor(void *sock, void *arg)
{
	struct zap *z = arg;
	char why[256];

	for (;;) {
		uint8_t ev[6];
		uint16_t event;
		int more = 0;
		size_t more_len = sizeof(more);
		int n = zmq_recv(sock, ev, sizeof(ev), ZMQ_DONTWAIT);

		if (n < 0)
			return;
		zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len);
		while (more) {                /* the endpoint: not needed */
			char skip[64];
			if (zmq_recv(sock, skip, sizeof(skip), ZMQ_DONTWAIT) < 0)
				break;
			zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len);
		}
		memcpy(&event, ev, sizeof(event));
		if (n != (int)sizeof(ev) || event != ZMQ_EVENT_ACCEPT_FAILED)
			continue;
		z->refusals++;
		snprintf(why, sizeof(why), "the connecting process is not "
		    "narad's TLS front (the kernel's peer credentials name "
		    "another pid than %ld)", (long)getpid());
		log_warn("router: refused an ipc connection: %s", why);
		if (z->cb != NULL)
			z->cb(z->arg, "", why);
	}
}

/* The monitor on router, watched from base. */
static int
monitor_start(struct zap *z, struct event_base *base, void *zctx,
    void *router)
{
	char ep[64];
	int linger = 0;

	snprintf(ep, sizeof(ep), "inproc://nara-router-monitor-%p", router);
	if (zmq_socket_monitor(router, ep, ZMQ_EVENT_ACCEPT_FAILED) != 0 ||
	    (z->sock = zmq_socket(zctx, ZMQ_PAIR)) == NULL)
		return -1;
	zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(z->sock, ep) != 0 ||
	    (z->watch = evzmq_new(base, z->sock, on_monitor, z)) == NULL)
		return -1;
	return 0;
}

struct zap *
zap_guard(struct event_base *base, void *zctx, void *router,
    zap_refused_cb cb, void *arg)
{
	pid_t me = getpid();
	struct zap *z;

	if (zmq_setsockopt(router, ZMQ_IPC_FILTER_PID, &me, sizeof(me)) != 0) {
		log_info("router: libzmq has no ipc pid filter (%s); a ZAP "
		    "handler checks each connection instead",
		    zmq_strerror(errno));
		if ((z = zap_new(base, zctx, cb, arg)) != NULL)
			zmq_setsockopt(router, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN,
			    strlen(ZAP_DOMAIN));
		return z;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return NULL;
	z->cb = cb;
	z->arg = arg;
	if (monitor_start(z, base, zctx, router) != 0) {
		log_error("cannot watch the ROUTER's refusals: %s",
		    zmq_strerror(errno));
		zmq_socket_monitor(router, NULL, 0);
		zap_free(&z);
		return NULL;
	}
	return z;
}

uint64_t
zap_refusals(const struct zap *z)
{
	return z ? z->refusals : 0;
}

int
zap_check_runtime_path(const char *dir, const char *router, char *why,
    size_t why_len)
{
	size_t dlen = strlen(dir);
	const char *file;

	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;                      /* "/run/nara/" names /run/nara */
	file = router + 6 + dlen + 1;

	if (strncmp(router, "ipc://", 6) != 0 || dlen == 0 ||
	    strlen(router) < 6 + dlen + 1 ||
	    strncmp(router + 6, dir, dlen) != 0 || router[6 + dlen] != '/' ||
	    *file == '\0' || strchr(file, '/') != NULL) {
		snprintf(why, why_len, "with [tls] on, [broker] router must be "
		    "ipc://%s/<file> (inside [tls] runtime_dir), not %s", dir,
		    router);
		return -1;
	}
	return 0;
}

int
zap_check_runtime_dir(const char *dir, const char *router, char *why,
    size_t why_len)
{
	struct stat st;

	if (zap_check_runtime_path(dir, router, why, why_len) != 0)
		return -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, why_len, "cannot create runtime_dir %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, why_len, "runtime_dir %s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(why, why_len, "runtime_dir %s must be owned by uid %u "
		    "with mode 0700 (has uid %u, mode %04o)", dir,
		    (unsigned)geteuid(), (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}
