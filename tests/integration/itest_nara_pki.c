/*
 * itest_nara_pki.c — the built nara-pki binary on a CA directory made at
 * test time: runs at the same time keep every certificate and revocation.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "harness.h"

static char tmp[64];            /* run logs */
static char ca[96];             /* the CA directory, inside tmp */
static char bin[300];

static void
setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/nara-pki-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(ca, sizeof(ca), "%s/ca", tmp);
	harness_bin("nara-pki", bin, sizeof(bin));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(nara_pki, .init = setup, .fini = teardown);

/* Start nara-pki with args (NULL-terminated, no shell in between, so a
 * name may hold any byte), stdout and stderr into tmp/log. */
static pid_t
pki_spawn(const char *log, const char *const *args)
{
	char path[128], *argv[16] = { bin };
	pid_t parent = getpid(), pid;

	snprintf(path, sizeof(path), "%s/%s", tmp, log);
	cr_assert((pid = fork()) >= 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		harness_child_bind(parent);
		/* execv wants char *: copies, in the child only */
		for (size_t i = 0; args[i] != NULL && i < 14; i++)
			if ((argv[i + 1] = strdup(args[i])) == NULL)
				_exit(127);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(bin, argv);
		_exit(127);
	}
	return pid;
}

/* What a run wrote, as a malloc'd string. */
static char *
pki_log(const char *log)
{
	char path[128], *buf;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", tmp, log);
	cr_assert_not_null(f = fopen(path, "r"), "%s", path);
	cr_assert_not_null(buf = calloc(1, 4096));
	n = fread(buf, 1, 4095, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Exit status of a run started by pki_spawn. */
static int
pki_wait(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "nara-pki killed");
	return WEXITSTATUS(status);
}

/* Run nara-pki with the arguments up to NULL; its exit status. */
static int __attribute__((sentinel))
pki(const char *log, ...)
{
	const char *args[15];
	size_t n = 0;
	va_list ap;

	va_start(ap, log);
	while (n < 14 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	return pki_wait(pki_spawn(log, args));
}

static void
pki_ok(const char *cmd, const char *name)
{
	int rc = pki("log", cmd, ca, name, NULL);
	char *out = rc == 0 ? NULL : pki_log("log");

	cr_assert_eq(rc, 0, "nara-pki %s %s %s: %s", cmd, ca, name, out);
	free(out);
}

/* Lines of index.txt naming name; *revoked = its revoked field (last one). */
static int
index_count(const char *name, long long *revoked)
{
	char path[128], line[1024];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/index.txt", ca);
	cr_assert_not_null(f = fopen(path, "r"), "%s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *field[7], *save = NULL;
		int k = 0;

		for (char *t = strtok_r(line, "\t\n", &save); t != NULL && k < 7;
		    t = strtok_r(NULL, "\t\n", &save))
			field[k++] = t;
		if (k == 7 && strcmp(field[2], name) == 0) {
			n++;
			if (revoked != NULL)
				*revoked = strtoll(field[5], NULL, 10);
		}
	}
	fclose(f);
	return n;
}

/* Whether DIR/crl.pem lists the serial of DIR/stem.pem. */
static bool
crl_lists(const char *stem)
{
	char path[160];
	X509_REVOKED *rev = NULL;
	X509_CRL *crl;
	X509 *x;
	FILE *f;
	bool found;

	snprintf(path, sizeof(path), "%s/%s.pem", ca, stem);
	cr_assert_not_null(f = fopen(path, "r"), "%s", path);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/crl.pem", ca);
	cr_assert_not_null(f = fopen(path, "r"), "%s", path);
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert(x != NULL && crl != NULL);
	found = X509_CRL_get0_by_serial(crl, &rev,
	    X509_get0_serialNumber(x)) == 1;
	X509_CRL_free(crl);
	X509_free(x);
	return found;
}

#define N_ISSUE 24
#define N_REVOKE 4

/* Issues and revokes started together, as a provisioning script and an
 * operator might: each rewrites the index from what it read, so without
 * the index lock a later rename drops an earlier certificate or a
 * revocation that was reported done. */
Test(nara_pki, parallel_runs_keep_every_certificate_and_revocation)
{
	pid_t pid[N_ISSUE + N_REVOKE];
	char name[N_ISSUE + N_REVOKE][16], log[N_ISSUE + N_REVOKE][16];
	size_t n = 0;

	cr_assert_eq(pki("log", "init-ca", ca, NULL), 0);
	for (int r = 0; r < N_REVOKE; r++) {
		snprintf(name[N_ISSUE + r], sizeof(name[0]), "r%d", r);
		pki_ok("node", name[N_ISSUE + r]);
	}
	for (int i = 0; i < N_ISSUE; i++) {
		snprintf(name[i], sizeof(name[0]), "n%02d", i);
		snprintf(log[n], sizeof(log[0]), "log.%zu", n);
		pid[n] = pki_spawn(log[n],
		    (const char *const[]){ "node", ca, name[i], NULL });
		n++;
		if (i % (N_ISSUE / N_REVOKE) == 2) {
			const char *r = name[N_ISSUE + i / (N_ISSUE / N_REVOKE)];
			snprintf(log[n], sizeof(log[0]), "log.%zu", n);
			pid[n] = pki_spawn(log[n],
			    (const char *const[]){ "revoke", ca, r, NULL });
			n++;
		}
	}
	cr_assert_eq(n, N_ISSUE + N_REVOKE);
	for (size_t i = 0; i < n; i++) {
		int rc = pki_wait(pid[i]);
		char *out = rc == 0 ? NULL : pki_log(log[i]);

		cr_expect_eq(rc, 0, "run %zu: %s", i, out);
		free(out);
	}
	for (int i = 0; i < N_ISSUE; i++)
		cr_expect_eq(index_count(name[i], NULL), 1,
		    "%s is not in index.txt exactly once", name[i]);
	for (int r = N_ISSUE; r < N_ISSUE + N_REVOKE; r++) {
		long long revoked = 0;

		cr_expect_eq(index_count(name[r], &revoked), 1);
		cr_expect_neq(revoked, 0, "%s lost its revocation", name[r]);
		cr_expect(crl_lists(name[r]), "%s is not in crl.pem", name[r]);
	}
	cr_expect_eq(pki("log", "list", ca, NULL), 0);
}

/* A refused run: exit 2, nothing made, and exactly this one line. */
static void
expect_refused(const char *want, const char *const *args)
{
	char *err;

	cr_expect_eq(pki_wait(pki_spawn("log", args)), 2, "%s", args[2]);
	err = pki_log("log");
	cr_expect_str_eq(err, want);
	free(err);
}

/* Names narad would refuse (docs/PROTOCOL.md section 9), or that split an
 * index line, are refused before anything is made; the index stays usable
 * for revoke, crl and list. */
Test(nara_pki, names_narad_would_refuse_are_refused)
{
	char long_id[66], max_id[65];

	memset(long_id, 'x', 65);
	long_id[65] = '\0';
	memset(max_id, 'y', 64);
	max_id[64] = '\0';
	cr_assert_eq(pki("log", "init-ca", ca, NULL), 0);
	expect_refused("nara-pki: node id \"kommun?1480\" refused: byte 0x0a "
	    "at offset 6 (printable ASCII 0x21-0x7e except ',')\n",
	    (const char *const[]){ "node", ca, "kommun\n1480", NULL });
	expect_refused("nara-pki: node id \"kommun 1480\" refused: byte 0x20 "
	    "at offset 6 (printable ASCII 0x21-0x7e except ',')\n",
	    (const char *const[]){ "node", ca, "kommun 1480", NULL });
	expect_refused("nara-pki: node id \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" refused: 65 bytes, not 1-64\n",
	    (const char *const[]){ "node", ca, long_id, NULL });
	expect_refused("nara-pki: broker name \"nara gbg\" refused: byte 0x20 "
	    "at offset 4 (printable ASCII 0x21-0x7e except ',')\n",
	    (const char *const[]){ "broker", ca, "nara gbg", NULL });
	expect_refused("nara-pki: --out \"a?b\" refused: byte 0x0a at offset 1 "
	    "(printable ASCII 0x21-0x7e except '/')\n",
	    (const char *const[]){ "node", ca, "kommun-1480", "--out", "a\nb",
	    NULL });
	expect_refused("nara-pki: --serial-number \"SE 1\" refused: byte 0x20 "
	    "at offset 2 (printable ASCII 0x21-0x7e only)\n",
	    (const char *const[]){ "node", ca, "kommun-1480", "--serial-number",
	    "SE 1", NULL });
	cr_expect_eq(index_count("kommun-1480", NULL), 0);

	pki_ok("node", max_id);
	pki_ok("node", "kommun-1480");
	pki_ok("revoke", "kommun-1480");
	cr_expect(crl_lists("kommun-1480"));
	cr_expect_eq(pki("log", "crl", ca, NULL), 0);
	cr_expect_eq(pki("log", "list", ca, NULL), 0);
	cr_expect_eq(index_count(max_id, NULL), 1);
}

/* The next update of DIR/crl.pem as list prints it. */
static void
crl_next_update(char *buf, size_t len)
{
	char path[160];
	X509_CRL *crl;
	struct tm tm;
	FILE *f;

	snprintf(path, sizeof(path), "%s/crl.pem", ca);
	cr_assert_not_null(f = fopen(path, "r"), "%s", path);
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert_not_null(crl);
	cr_assert_eq(ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl), &tm), 1);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	X509_CRL_free(crl);
}

/* Replace DIR/crl.pem by one signed with the CA key whose next update
 * passed 23 hours ago (list: -1 days, however slow the run), as a CRL
 * nobody renewed would be. */
static void
crl_write_expired(void)
{
	char path[160];
	time_t now = time(NULL);
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *last = ASN1_TIME_set(NULL, now - 31 * 86400);
	ASN1_TIME *next = ASN1_TIME_set(NULL, now - 23 * 3600);
	EVP_PKEY *key;
	X509 *cert;
	FILE *f;

	snprintf(path, sizeof(path), "%s/ca.pem", ca);
	cr_assert_not_null(f = fopen(path, "r"));
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", ca);
	cr_assert_not_null(f = fopen(path, "r"));
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert(crl && last && next && cert && key);
	cr_assert(X509_CRL_set_version(crl, 1) == 1 &&
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(cert)) == 1 &&
	    X509_CRL_set1_lastUpdate(crl, last) == 1 &&
	    X509_CRL_set1_nextUpdate(crl, next) == 1 &&
	    X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/crl.pem", ca);
	cr_assert_not_null(f = fopen(path, "w"));
	cr_assert_eq(PEM_write_X509_CRL(f, crl), 1);
	cr_assert_eq(fclose(f), 0);
	ASN1_TIME_free(next);
	ASN1_TIME_free(last);
	X509_CRL_free(crl);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* Run list and expect its output (stdout and stderr) to give the CRL's
 * next update when with days left (whole days, rounded towards the past:
 * days - 1 once a second has passed since a CRL made days ahead) and,
 * when not NULL, warning; no warning when warning is NULL. */
static void
expect_list(const char *when, int days, const char *warning)
{
	char want[2][200], *out;

	for (int i = 0; i < 2; i++)
		snprintf(want[i], sizeof(want[i]), "crl.pem next update %s, %d "
		    "days left\n", when, days - i);
	cr_assert_eq(pki("log", "list", ca, NULL), 0);
	out = pki_log("log");
	cr_expect(strstr(out, want[0]) != NULL || strstr(out, want[1]) != NULL,
	    "no \"%s\" in: %s", want[0], out);
	if (warning != NULL)
		cr_expect_not_null(strstr(out, warning), "no \"%s\" in: %s",
		    warning, out);
	else
		cr_expect_null(strstr(out, "warning"), "%s", out);
	free(out);
}

/* Once the CRL passes its next update narad refuses every certificate:
 * list shows when that is and warns a week ahead and after it. */
Test(nara_pki, list_shows_when_the_crl_must_be_renewed)
{
	char when[32], warning[400];

	cr_assert_eq(pki("log", "init-ca", ca, NULL), 0);
	crl_next_update(when, sizeof(when));
	expect_list(when, 30, NULL);

	cr_assert_eq(pki("log", "crl", ca, "--crl-days", "3", NULL), 0);
	crl_next_update(when, sizeof(when));
	snprintf(warning, sizeof(warning), "nara-pki: warning: %s/crl.pem "
	    "expires at %s: renew it before then (nara-pki crl %s)\n", ca, when,
	    ca);
	expect_list(when, 3, warning);

	/* 23 hours past: -1 whatever second it is */
	crl_write_expired();
	crl_next_update(when, sizeof(when));
	snprintf(warning, sizeof(warning), "nara-pki: warning: %s/crl.pem "
	    "expired at %s: narad refuses every certificate until it is "
	    "renewed (nara-pki crl %s)\n", ca, when, ca);
	expect_list(when, -1, warning);
}

/* Permission bits of DIR/name. */
static mode_t
file_mode(const char *name)
{
	char path[160];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", ca, name);
	cr_assert_eq(stat(path, &sb), 0, "%s", path);
	return sb.st_mode & 07777;
}

/* What every file of a CA made under umask mask must look like. */
static void
expect_modes(mode_t mask)
{
	static const char *const readable[] = { "ca.pem", "crl.pem",
	    "index.txt", "kommun-1480.pem" };
	static const char *const secret[] = { "ca.key", "kommun-1480.key" };
	mode_t old = umask(mask);

	cr_assert_eq(pki("log", "init-ca", ca, NULL), 0);
	pki_ok("node", "kommun-1480");
	pki_ok("revoke", "kommun-1480");
	umask(old);
	for (size_t i = 0; i < sizeof(readable) / sizeof(readable[0]); i++)
		cr_expect_eq(file_mode(readable[i]), 0644,
		    "umask %03o: %s is %04o, not 0644", (unsigned)mask,
		    readable[i], (unsigned)file_mode(readable[i]));
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		cr_expect_eq(file_mode(secret[i]), 0600,
		    "umask %03o: %s is %04o, not 0600", (unsigned)mask,
		    secret[i], (unsigned)file_mode(secret[i]));
}

/* Under umask 0 an index or CRL anyone may write lets anyone clear a
 * revocation before the next crl; under umask 077 a certificate or CRL
 * narad (another user) cannot read stops it. The modes are fixed. */
Test(nara_pki, files_have_their_modes_whatever_the_umask)
{
	char cmd[160];

	expect_modes(0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ca);
	cr_assert_eq(system(cmd), 0);
	expect_modes(077);
}
