/*
 * files.c — nara-pki's CA directory: new files created with exactly their
 * mode, PEM keys and certificates, the CA read back, index.txt (one line
 * per issued certificate) and the lock and replace-by-rename that keep
 * index.txt and crl.pem whole when several runs work on one directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "pki.h"
#include "tls.h"

#define INDEX_FILE "index.txt"
#define LOCK_FILE "index.lock"

int
pki_err(const char *fmt, ...)
{
	char ssl[200];
	va_list ap;

	fputs("nara-pki: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	tls_error_text(ssl, sizeof(ssl));
	if (ssl[0] != '\0')
		fprintf(stderr, " (%s)", ssl);
	fputc('\n', stderr);
	return -1;
}

/* ---------------------------------------------------------------- files */

void
dir_path(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Create a new file (never overwrite one) with exactly the given mode:
 * certificates must be readable by narad, which may run as another user,
 * whatever umask the operator has, and a key never more than 0600. */
static FILE *
create_file(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0600);
	FILE *f;

	if (fd < 0 || fchmod(fd, mode) != 0 || (f = fdopen(fd, "w")) == NULL) {
		pki_err("%s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return NULL;
	}
	return f;
}

/* A new PEM file with either a private key (0600) or a certificate. */
int
write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	FILE *f = create_file(path, key != NULL ? 0600 : 0644);
	int ok;

	if (f == NULL)
		return -1;
	ok = key != NULL ?
	    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1 :
	    PEM_write_X509(f, cert) == 1;
	if (fclose(f) != 0 || !ok)
		return pki_err("cannot write %s", path);
	return 0;
}

X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL) {
		pki_err("%s: %s", path, strerror(errno));
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		pki_err("%s: not a PEM certificate", path);
	return x;
}

int
load_ca(const char *dir, X509 **ca, EVP_PKEY **key)
{
	char path[4096];
	FILE *f;

	dir_path(path, sizeof(path), dir, "ca.pem");
	if ((*ca = read_cert(path)) == NULL)
		return -1;
	dir_path(path, sizeof(path), dir, "ca.key");
	if ((f = fopen(path, "r")) == NULL)
		return pki_err("%s: %s", path, strerror(errno));
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*key == NULL)
		return pki_err("%s: not a PEM private key", path);
	return 0;
}

/*
 * index.txt and crl.pem are rewritten whole from what a run read. Two runs
 * at once (issues from a provisioning script, a revoke beside them) would
 * each write back their own view, and the later rename would drop the
 * other's certificate or revocation. Every command that reads or writes
 * them therefore holds DIR/index.lock from its read to its rename:
 * exclusive to change, shared to list. Returns the descriptor whose close
 * releases the lock, NO_LOCK for a reader that may not create the lock
 * file (renames keep each read whole), -1 on error.
 */
#define NO_LOCK (-2)
int
index_lock(const char *dir, int how)
{
	char path[4096];
	int fd;

	dir_path(path, sizeof(path), dir, LOCK_FILE);
	if ((fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		if (how == LOCK_SH && (errno == EACCES || errno == EROFS))
			return NO_LOCK;
		return pki_err("%s: %s", path, strerror(errno));
	}
	while (flock(fd, how) != 0) {
		if (errno != EINTR) {
			pki_err("%s: cannot lock: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

void
index_unlock(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A new file beside DIR/name to be renamed over it by replace_commit. Its
 * name is unique, so no other run's half-written file is reused; it is
 * readable by all (narad reads the CRL as another user). tmp receives its
 * path. */
FILE *
replace_open(const char *dir, const char *name, char *tmp, size_t len)
{
	FILE *f;
	int fd;

	snprintf(tmp, len, "%s/.%s.XXXXXX", dir, name);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		pki_err("%s: %s", tmp, strerror(errno));
		return NULL;
	}
	if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL) {
		pki_err("%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return NULL;
	}
	return f;
}

/* Close f (the file tmp), put it in place of DIR/name. The data reaches
 * the disk before the rename and the rename before success is reported:
 * after a crash the old or the new file is there, never an empty one, and
 * a revocation that was reported done stays done. */
int
replace_commit(FILE *f, const char *tmp, const char *dir, const char *name)
{
	char path[4096];
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	int fd;

	ok = fclose(f) == 0 && ok;
	dir_path(path, sizeof(path), dir, name);
	if (!ok || rename(tmp, path) != 0) {
		pki_err("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) != 0) {
		pki_err("%s written, but %s not synced: %s", path, dir,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* ---------------------------------------------------------------- index */

static int
index_parse(char *line, struct issued *e)
{
	char *f[7], *save = NULL;
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	if (line[0] == '#' || line[0] == '\0')
		return 1;
	for (char *t = strtok_r(line, "\t", &save); t && n < 7;
	    t = strtok_r(NULL, "\t", &save))
		f[n++] = t;
	if (n != 7)
		return -1;
	memset(e, 0, sizeof(*e));
	snprintf(e->serial, sizeof(e->serial), "%s", f[0]);
	snprintf(e->kind, sizeof(e->kind), "%s", f[1]);
	snprintf(e->name, sizeof(e->name), "%s", f[2]);
	e->not_before = strtoll(f[3], NULL, 10);
	e->not_after = strtoll(f[4], NULL, 10);
	e->revoked = strtoll(f[5], NULL, 10);
	snprintf(e->file, sizeof(e->file), "%s", f[6]);
	return 0;
}

/* Read the whole index; *v is malloc'd (free it). */
int
index_load(const char *dir, struct issued **v, size_t *n)
{
	char path[4096], line[1024];
	size_t cap = 0;
	FILE *f;
	int rc;

	*v = NULL;
	*n = 0;
	dir_path(path, sizeof(path), dir, INDEX_FILE);
	if ((f = fopen(path, "r")) == NULL)
		return pki_err("%s: %s (run init-ca first)", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (*n == cap) {
			struct issued *nv = reallocarray(*v,
			    (cap = cap ? 2 * cap : 16), sizeof(**v));
			if (nv == NULL)
				break;
			*v = nv;
		}
		if ((rc = index_parse(line, &(*v)[*n])) < 0) {
			fclose(f);
			return pki_err("%s: malformed line", path);
		}
		*n += rc == 0;
	}
	fclose(f);
	return 0;
}

static void
index_line(FILE *f, const struct issued *e)
{
	fprintf(f, "%s\t%s\t%s\t%lld\t%lld\t%lld\t%s\n", e->serial, e->kind,
	    e->name, e->not_before, e->not_after, e->revoked, e->file);
}

/* Rewrite the whole index through a temporary file and rename; the
 * caller holds the index lock. */
int
index_store(const char *dir, const struct issued *v, size_t n)
{
	char tmp[4200];
	FILE *f;

	if ((f = replace_open(dir, INDEX_FILE, tmp, sizeof(tmp))) == NULL)
		return -1;
	fprintf(f, "# serial\tkind\tname\tnot_before\tnot_after\trevoked\tfile\n");
	for (size_t i = 0; i < n; i++)
		index_line(f, &v[i]);
	return replace_commit(f, tmp, dir, INDEX_FILE);
}

/* Append one certificate to the index under the index lock. */
int
index_add(const char *dir, const struct issued *e)
{
	struct issued *v = NULL, *nv;
	size_t n = 0;
	int lock, rc = -1;

	if ((lock = index_lock(dir, LOCK_EX)) < 0)
		return -1;
	if (index_load(dir, &v, &n) == 0 &&
	    (nv = reallocarray(v, (n + 1), sizeof(*v))) != NULL) {
		v = nv;
		v[n++] = *e;
		rc = index_store(dir, v, n);
	}
	free(v);
	index_unlock(&lock);
	return rc;
}
