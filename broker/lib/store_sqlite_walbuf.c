/*
 * store_sqlite_walbuf.c — a VFS over SQLite's own ("unix") that gathers
 * the writes of a commit to the write-ahead log into one.
 *
 * SQLite appends a commit to the WAL as two pwrite calls per page (the
 * frame's 24-byte header, then the page), about 30 system calls for a
 * batch of a few messages, then one fdatasync. On a virtual machine every
 * system call is dear. This VFS keeps the frames of the WAL file in a
 * buffer while they follow each other and hands them to the file as one
 * write when SQLite syncs it (synchronous = FULL syncs the WAL at every
 * commit, before the commit becomes visible to any other connection in
 * the WAL index), before it reads, truncates, asks the size of or closes
 * it, and when a write does not follow the buffer or would overflow it.
 * What reaches the disk, and when it is synced, is unchanged; a write
 * error (disk full, I/O error) is reported by the sync of the commit,
 * which then fails as it would have.
 *
 * A transaction larger than the page cache spills: SQLite writes some of
 * its pages to the WAL before the commit, without a sync. When such a
 * transaction is rolled back, its last frames are still here as SQLite
 * gives up the WAL's write lock; written later, they would land on what
 * another connection commits at the same place meanwhile. So when the
 * database file's WAL write lock is released (xShmLock), whatever its WAL
 * still holds here is dropped: with synchronous = FULL every commit has
 * synced (and so written out) its frames before it releases the lock, so
 * what is left never belonged to a commit (test_store_walbuf.c). The WAL
 * finds its database file by name (the WAL is "<database>-wal"); when that
 * is ambiguous it buffers nothing.
 *
 * Only the writer connection of a store opened with synchronous = FULL
 * uses it (store_sqlite.c): with NORMAL a commit is not synced and the
 * frames would stay here while the WAL index already shows them. Every
 * other file (the database, the WAL index, journals) and every call but
 * those above go straight to the VFS below.
 */
#include "store_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define WALBUF_VFS "nara-walbuf"
/* Under 128 KiB: SQLite's unix VFS writes at most 0x1ffff bytes per call
 * and takes a longer write for a full disk. 15 frames of 8 KiB pages
 * (a new store), 31 of 4 KiB. */
#define WALBUF_CAP (127u << 10)

struct wfile {
	sqlite3_file base;
	sqlite3_file *real;           /* the file of the VFS below */
	unsigned char *buf;           /* WAL files only */
	sqlite3_int64 off;            /* file offset of buf[0] */
	size_t len;
	const char *name;             /* database files: the name opened */
	struct wfile *wal;            /* database files: their open WAL */
	struct wfile *db;             /* WAL files: their database file */
	struct wfile *next;           /* the list of open database files */
};

/* Open database files of this VFS, for their WAL files to find them. */
static pthread_mutex_t files_mu = PTHREAD_MUTEX_INITIALIZER;
static struct wfile *dbs;

static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *below;
static atomic_uint_fast64_t writes_in, writes_out;   /* WAL files only */

#define REAL(f) (((struct wfile *)(f))->real)

static int
flush(struct wfile *w)
{
	int rc;

	if (w->len == 0)
		return SQLITE_OK;
	atomic_fetch_add(&writes_out, 1);
	rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
	w->len = 0;
	return rc;
}

/* Link a WAL file to its database file: the one open database file of
 * that name without a WAL yet. When there is none, or more than one (two
 * connections of this VFS on one store, their WAL files not yet open),
 * which is whose is not known: that WAL file buffers nothing. */
static void
files_link(struct wfile *w, const char *wal_name)
{
	size_t n = strlen(wal_name);
	struct wfile *found = NULL;
	int count = 0;

	n = n > 4 && strcmp(wal_name + n - 4, "-wal") == 0 ? n - 4 : 0;
	pthread_mutex_lock(&files_mu);
	for (struct wfile *d = dbs; d != NULL && n > 0; d = d->next)
		if (d->wal == NULL && strlen(d->name) == n &&
		    memcmp(d->name, wal_name, n) == 0) {
			found = d;
			count++;
		}
	if (count == 1) {
		found->wal = w;
		w->db = found;
	}
	pthread_mutex_unlock(&files_mu);
	if (count != 1) {
		free(w->buf);
		w->buf = NULL;
	}
}

/* Take a file out of the list and its links. */
static void
files_unlink(struct wfile *w)
{
	pthread_mutex_lock(&files_mu);
	if (w->db != NULL)
		w->db->wal = NULL;
	if (w->wal != NULL)
		w->wal->db = NULL;
	for (struct wfile **p = &dbs; *p != NULL; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&files_mu);
}

static int
w_close(sqlite3_file *f)
{
	struct wfile *w = (struct wfile *)f;
	int rc, rc2;

	files_unlink(w);
	rc = flush(w);
	rc2 = w->real->pMethods->xClose(w->real);

	free(w->buf);
	w->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
w_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, p, n,
	    off);
}

static int
w_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	struct wfile *w = (struct wfile *)f;
	int rc;

	if (w->buf != NULL)
		atomic_fetch_add(&writes_in, 1);
	if (w->buf != NULL && w->len > 0 && off == w->off + (sqlite3_int64)w->len &&
	    w->len + (size_t)n <= WALBUF_CAP) {
		memcpy(w->buf + w->len, p, (size_t)n);
		w->len += (size_t)n;
		return SQLITE_OK;
	}
	if ((rc = flush(w)) != SQLITE_OK)
		return rc;
	if (w->buf == NULL || (size_t)n > WALBUF_CAP) {
		if (w->buf != NULL)
			atomic_fetch_add(&writes_out, 1);
		return w->real->pMethods->xWrite(w->real, p, n, off);
	}
	memcpy(w->buf, p, (size_t)n);
	w->off = off;
	w->len = (size_t)n;
	return SQLITE_OK;
}

static int
w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real,
	    size);
}

static int
w_sync(sqlite3_file *f, int flags)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int
w_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real,
	    size);
}

/* The rest go to the file below as they are. */
static int
w_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int
w_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int
w_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
w_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
w_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
w_caps(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
w_shm_map(sqlite3_file *f, int pg, int size, int extend, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, size, extend, p);
}

/* SQLite's WAL write lock is the WAL index's lock 0. Released with frames
 * still buffered for the WAL: a rolled-back transaction's spill (above),
 * dropped before another connection may write there. */
static int
w_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	struct wfile *w = (struct wfile *)f;

	if ((flags & SQLITE_SHM_UNLOCK) && (flags & SQLITE_SHM_EXCLUSIVE) &&
	    off == 0 && n > 0 && w->wal != NULL)
		w->wal->len = 0;
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
w_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
w_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
w_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
	struct wfile *w = (struct wfile *)f;
	int rc = flush(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFetch(w->real, off,
	    n, p);
}

static int
w_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods wfile_methods = {
	.iVersion = 3,
	.xClose = w_close, .xRead = w_read, .xWrite = w_write,
	.xTruncate = w_truncate, .xSync = w_sync, .xFileSize = w_size,
	.xLock = w_lock, .xUnlock = w_unlock, .xCheckReservedLock = w_reserved,
	.xFileControl = w_control, .xSectorSize = w_sector,
	.xDeviceCharacteristics = w_caps, .xShmMap = w_shm_map,
	.xShmLock = w_shm_lock, .xShmBarrier = w_shm_barrier,
	.xShmUnmap = w_shm_unmap, .xFetch = w_fetch, .xUnfetch = w_unfetch,
};

/* Every file opens below; a WAL file comes back wrapped, any other as the
 * file below itself would answer (its own methods, our struct around). */
static int
w_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
    int *out_flags)
{
	struct wfile *w = (struct wfile *)f;
	int rc;

	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	rc = below->xOpen(below, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK || w->real->pMethods == NULL) {
		f->pMethods = NULL;
		return rc;
	}
	/* our methods are version 3: they pass the WAL index (xShm*) and
	 * memory maps (xFetch) on, which the file below must have */
	if (w->real->pMethods->iVersion < 3) {
		w->real->pMethods->xClose(w->real);
		f->pMethods = NULL;
		return SQLITE_CANTOPEN;
	}
	if ((flags & SQLITE_OPEN_WAL) &&
	    (w->buf = malloc(WALBUF_CAP)) == NULL) {
		w->real->pMethods->xClose(w->real);
		f->pMethods = NULL;
		return SQLITE_NOMEM;
	}
	/* any other file: the same methods, passing every call on */
	f->pMethods = &wfile_methods;
	if ((flags & SQLITE_OPEN_MAIN_DB) && name != NULL) {
		w->name = name;    /* valid until xClose (SQLite's promise) */
		pthread_mutex_lock(&files_mu);
		w->next = dbs;
		dbs = w;
		pthread_mutex_unlock(&files_mu);
	}
	if (w->buf != NULL && name != NULL)
		files_link(w, name);
	return SQLITE_OK;
}

static int
v_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
	return below->xDelete(below, name, sync);
}

static int
v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return below->xAccess(below, name, flags, out);
}

static int
v_fullname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return below->xFullPathname(below, name, n, out);
}

static int
v_random(sqlite3_vfs *vfs, int n, char *out)
{
	return below->xRandomness(below, n, out);
}

static int
v_sleep(sqlite3_vfs *vfs, int us)
{
	return below->xSleep(below, us);
}

static int
v_time(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return below->xCurrentTimeInt64(below, out);
}

static int
v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return below->xGetLastError(below, n, out);
}

const char *
store_sqlite_walbuf_register(void)
{
	below = sqlite3_vfs_find(NULL);
	if (below == NULL || below->iVersion < 2 ||
	    below->xCurrentTimeInt64 == NULL)
		return NULL;
	walbuf_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct wfile) + below->szOsFile,
		.mxPathname = below->mxPathname,
		.zName = WALBUF_VFS,
		.xOpen = w_open, .xDelete = v_delete, .xAccess = v_access,
		.xFullPathname = v_fullname, .xRandomness = v_random,
		.xSleep = v_sleep, .xCurrentTimeInt64 = v_time,
		.xGetLastError = v_last_error,
	};
	if (sqlite3_vfs_register(&walbuf_vfs, 0) != SQLITE_OK)
		return NULL;
	return WALBUF_VFS;
}

void
store_sqlite_walbuf_counts(uint64_t *in, uint64_t *out)
{
	*in = atomic_load(&writes_in);
	*out = atomic_load(&writes_out);
}
