/*
 * pgserver.c — real PostgreSQL servers for tests (pgserver.h).
 */
#include "pgserver.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define PG_USER "nara"
#define READY_MS 60000

static const char *
pg_bindir(void)
{
	const char *d = getenv("PGBIN");

	return d != NULL && d[0] != '\0' ? d : "/usr/lib/postgresql/15/bin";
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* The server runs as nobody when we are root (postgres refuses root). */
static int
user_ids(uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam("nobody")) == NULL) {
		fprintf(stderr, "pgserver: no user nobody\n");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 1;
}

/* In the child: output to log, the unprivileged user, then argv. */
static void
child_exec(char *const argv[], const char *log, pid_t parent)
{
	uid_t uid;
	gid_t gid;
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int who = user_ids(&uid, &gid);

	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	setsid();
	if (who < 0 || (who == 1 && (setgroups(0, NULL) != 0 ||
	    setgid(gid) != 0 || setuid(uid) != 0)))
		_exit(126);
	/* A test killed at its timeout takes its server with it (set after
	 * the change of user, which clears it). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(125);
	execv(argv[0], argv);
	_exit(127);
}

static pid_t
spawn(char *const argv[], const char *log)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0)
		child_exec(argv, log, parent);
	return pid;
}

/* Run a server program to its end: 0 when it exited 0. */
static int
run(char *const argv[], const char *log)
{
	pid_t pid = spawn(argv, log);
	int status = 0;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fprintf(stderr, "pgserver: %s failed (status %d), see %s\n", argv[0],
	    status, log);
	return -1;
}

static void
prog(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", pg_bindir(), name);
}

static int
make_dir(struct pgserver *s)
{
	uid_t uid;
	gid_t gid;
	int who = user_ids(&uid, &gid);

	snprintf(s->dir, sizeof(s->dir), "/tmp/nara-pg-XXXXXX");
	if (who < 0 || mkdtemp(s->dir) == NULL)
		return -1;
	snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
	if (who == 1 && chown(s->dir, uid, gid) != 0)
		return -1;
	return 0;
}

static void
conninfo_db(const struct pgserver *s, const char *db, char *buf, size_t len)
{
	snprintf(buf, len, "host=127.0.0.1 port=%d user=" PG_USER " dbname=%s "
	    "connect_timeout=5", s->port, db);
}

/* Wait until the server answers a connection, or it died, or the
 * deadline passed. */
static int
wait_ready(struct pgserver *s)
{
	char ci[256];
	long long end = mono_ms() + READY_MS;
	int status;

	conninfo_db(s, "postgres", ci, sizeof(ci));
	while (mono_ms() < end) {
		if (PQping(ci) == PQPING_OK)
			return 0;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			fprintf(stderr, "pgserver: server exited, see %s\n", s->log);
			return -1;
		}
		nap_ms(20);
	}
	fprintf(stderr, "pgserver: not ready after %d ms, see %s\n", READY_MS,
	    s->log);
	return -1;
}

/* Whether the server's log has needle after byte from. */
static bool
log_has(const struct pgserver *s, long from, const char *needle)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(s->log, "r");

	if (f == NULL)
		return false;
	if (fseek(f, from, SEEK_SET) == 0)
		while (!found && fgets(line, sizeof(line), f) != NULL)
			found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The end of the server's log on stderr: its directory goes with the
 * test, and a failed start should say why where the test's output is. */
static void
log_show(const struct pgserver *s, long from)
{
	char line[512];
	int n = 0;
	FILE *f = fopen(s->log, "r");

	if (f == NULL)
		return;
	if (fseek(f, from, SEEK_SET) == 0)
		while (n++ < 30 && fgets(line, sizeof(line), f) != NULL)
			fprintf(stderr, "pgserver: | %s", line);
	fclose(f);
}

static long
log_size(const struct pgserver *s)
{
	struct stat st;

	return stat(s->log, &st) == 0 ? (long)st.st_size : 0;
}

/* Start the postmaster on s->port. A new server (may_move) whose port was
 * taken between free_port and its bind (another test's server or narad,
 * when suites run side by side) tries another port, up to three times. */
static int
launch(struct pgserver *s, bool may_move)
{
	char bin[256], port[16];
	char *argv[] = { bin, "-D", s->data, "-p", port, "-k", s->dir,
	    "-c", "listen_addresses=127.0.0.1", "-c", "shared_buffers=16MB",
	    "-c", "max_connections=60", "-c", "max_wal_senders=4", NULL };

	prog(bin, sizeof(bin), "postgres");
	for (int attempt = 1;; attempt++) {
		long from = log_size(s);

		snprintf(port, sizeof(port), "%d", s->port);
		if ((s->pid = spawn(argv, s->log)) < 0) {
			s->pid = 0;
			return -1;
		}
		if (wait_ready(s) == 0)
			return 0;
		if (!may_move || attempt == 3 || s->pid != 0 ||
		    !log_has(s, from, "could not bind") ||
		    (s->port = free_port()) < 0) {
			log_show(s, from);
			return -1;
		}
		fprintf(stderr, "pgserver: port taken meanwhile; trying %d\n",
		    s->port);
	}
}

int
pgserver_restart(struct pgserver *s)
{
	return s->pid != 0 ? 0 : launch(s, false);
}

int
pgserver_create_db(const struct pgserver *s, const char *name, char *buf,
    size_t len)
{
	char ci[256], sql[160];

	conninfo_db(s, "postgres", ci, sizeof(ci));
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
	if (pgserver_sql(ci, sql, NULL) != 0)
		return -1;
	conninfo_db(s, name, buf, len);
	return 0;
}

int
pgserver_start(struct pgserver *s, const char *dbname)
{
	char bin[256];
	char *argv[] = { bin, "-D", s->data, "-U", PG_USER, "--auth=trust",
	    "-E", "UTF8", "--locale=C", "--no-sync", NULL };

	memset(s, 0, sizeof(*s));
	if (make_dir(s) != 0 || (s->port = free_port()) < 0) {
		fprintf(stderr, "pgserver: temporary directory: %s\n",
		    strerror(errno));
		return -1;
	}
	prog(bin, sizeof(bin), "initdb");
	if (run(argv, s->log) != 0 || launch(s, true) != 0)
		return -1;
	snprintf(s->dbname, sizeof(s->dbname), "%s", dbname);
	return pgserver_create_db(s, dbname, s->conninfo, sizeof(s->conninfo));
}

/* Wait for the postmaster to end, up to ms; true when it did. */
static bool
reap(struct pgserver *s, int ms)
{
	long long end = mono_ms() + ms;
	int status;

	while (mono_ms() < end) {
		pid_t r = waitpid(s->pid, &status, WNOHANG);
		if (r == s->pid || (r < 0 && errno == ECHILD)) {
			s->pid = 0;
			return true;
		}
		nap_ms(10);
	}
	return false;
}

int
pgserver_stop(struct pgserver *s)
{
	if (s->pid == 0)
		return 0;
	kill(s->pid, SIGINT);
	if (reap(s, 30000))
		return 0;
	pgserver_kill(s);
	return -1;
}

/* The parent pid of process pid from /proc/pid/stat, -1 when gone. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')'))
	    != NULL && sscanf(p + 1, " %*c %d", &ppid) != 1)
		ppid = -1;
	fclose(f);
	return (pid_t)ppid;
}

/* sig to every child of the postmaster, by pid. */
static void
signal_children(pid_t postmaster, int sig)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid > 0 && parent_of(pid) == postmaster)
			kill(pid, sig);
	}
	closedir(d);
}

void
pgserver_freeze(struct pgserver *s, bool frozen)
{
	if (s->pid == 0)
		return;
	if (frozen) {
		kill(s->pid, SIGSTOP);
		signal_children(s->pid, SIGSTOP);
	} else {
		signal_children(s->pid, SIGCONT);
		kill(s->pid, SIGCONT);
	}
}

void
pgserver_kill(struct pgserver *s)
{
	if (s->pid == 0)
		return;
	/* the server crashes whole: backends first, while they are still
	 * the postmaster's children, then the postmaster */
	signal_children(s->pid, SIGKILL);
	kill(-s->pid, SIGKILL);
	kill(s->pid, SIGKILL);
	reap(s, 30000);
}

int
pgserver_standby(struct pgserver *primary, struct pgserver *standby)
{
	return pgserver_standby_at(primary, standby, 0);
}

int
pgserver_standby_at(struct pgserver *primary, struct pgserver *standby,
    int at)
{
	char bin[256], port[16], ci[256];
	char *argv[] = { bin, "-h", "127.0.0.1", "-p", port, "-U", PG_USER,
	    "-D", standby->data, "-R", "-X", "stream", "-c", "fast", "--no-sync", NULL };

	memset(standby, 0, sizeof(*standby));
	if (make_dir(standby) != 0 ||
	    (standby->port = at > 0 ? at : free_port()) < 0)
		return -1;
	snprintf(port, sizeof(port), "%d", primary->port);
	prog(bin, sizeof(bin), "pg_basebackup");
	if (run(argv, standby->log) != 0 || launch(standby, at == 0) != 0)
		return -1;
	snprintf(standby->dbname, sizeof(standby->dbname), "%s",
	    primary->dbname);
	conninfo_db(standby, standby->dbname, standby->conninfo,
	    sizeof(standby->conninfo));
	conninfo_db(primary, "postgres", ci, sizeof(ci));
	if (pgserver_sql(ci, "ALTER SYSTEM SET synchronous_standby_names = '*'",
	    NULL) != 0 || pgserver_sql(ci, "SELECT pg_reload_conf()::int",
	    NULL) != 0)
		return -1;
	return 0;
}

int
pgserver_promote(struct pgserver *s)
{
	char bin[256], ci[256];
	char *argv[] = { bin, "promote", "-D", s->data, "-w", "-t", "60", NULL };
	long long end = mono_ms() + READY_MS, in_recovery = 1;

	prog(bin, sizeof(bin), "pg_ctl");
	if (run(argv, s->log) != 0)
		return -1;
	conninfo_db(s, "postgres", ci, sizeof(ci));
	while (mono_ms() < end) {
		if (pgserver_sql(ci, "SELECT pg_is_in_recovery()::int",
		    &in_recovery) == 0 && in_recovery == 0)
			return 0;
		nap_ms(20);
	}
	return -1;
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

void
pgserver_cleanup(struct pgserver *s)
{
	if (s->pid != 0 && pgserver_stop(s) != 0)
		pgserver_kill(s);
	if (s->dir[0] != '\0')
		nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	s->dir[0] = '\0';
}

int
pgserver_sql(const char *conninfo, const char *sql, long long *out)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r = NULL;
	int rc = -1;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgserver: connect: %s", PQerrorMessage(c));
		goto fail;
	}
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "pgserver: %s: %s", sql, PQerrorMessage(c));
		goto fail;
	}
	/* a boolean is 1 or 0, as SQLite answers a comparison */
	if (out != NULL)
		*out = PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) == 0 ||
		    PQgetisnull(r, 0, 0) ? -1 : strcmp(PQgetvalue(r, 0, 0), "t")
		    == 0 ? 1 : atoll(PQgetvalue(r, 0, 0));
	rc = 0;
fail:
	PQclear(r);
	PQfinish(c);
	return rc;
}

int
pgserver_sql_text(const char *conninfo, const char *sql, char *buf,
    size_t len)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r = NULL;
	int rc = -1;

	buf[0] = '\0';
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgserver: connect: %s", PQerrorMessage(c));
		goto fail;
	}
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "pgserver: %s: %s", sql, PQerrorMessage(c));
		goto fail;
	}
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
	rc = 0;
fail:
	PQclear(r);
	PQfinish(c);
	return rc;
}
