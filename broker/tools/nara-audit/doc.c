/*
 * doc.c — the patient's log extract and the review report as CSV and
 * JSON, the choice of format, the operator who makes a document and the
 * PDF printed from the HTML (html.c) by headless Chromium.
 *
 * CSV and JSON carry the same line per message as the HTML: times as
 * RFC 3339 UTC, the Swedish words of the document beside the codes they
 * come from. Never the pseudonym, never clinical content.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "pbjson.h"
#include "tool.h"
#include "validate.h"

#define OPERATOR_MAX 64

int
doc_format_parse(const char *s, enum doc_format *f)
{
	static const char *const names[] = { "html", "csv", "json", "pdf" };

	if (s == NULL) {
		*f = DOC_HTML;
		return 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*f = (enum doc_format)i;
			return 0;
		}
	tool_error("%s --format: \"%s\" is not html, csv, json or pdf",
	    nara_code_id(NR_USAGE), s);
	return -1;
}

int
doc_operator(const struct opts *o, char *out, size_t len)
{
	size_t n;

	if (o->operator != NULL) {
		n = strlen(o->operator);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)o->operator[i] < 0x20 ||
			    o->operator[i] == 0x7f)
				n = 0;
		if (n == 0 || n > OPERATOR_MAX) {
			tool_error("%s --operator: 1..%d characters without "
			    "control characters", nara_code_id(NR_BAD_VALUE),
			    OPERATOR_MAX);
			return -1;
		}
		snprintf(out, len, "%s", o->operator);
		return 0;
	}
	doc_os_user(out, len);
	return 0;
}

void
doc_os_user(char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 &&
	    res != NULL)
		snprintf(out, len, "%s (uid %lu)", pw.pw_name,
		    (unsigned long)getuid());
	else
		snprintf(out, len, "uid %lu", (unsigned long)getuid());
}

/* ---------------------------------------------------------------- CSV */

static const char *
utc(int64_t ms, char *buf, size_t len)
{
	return ms > 0 ? time_format(ms / 1000, buf, len) : "";
}

static void
csv_line(FILE *out, const struct doc *d, const struct msg_line *m)
{
	char from[200], to[200], outcome[400], t[4][32];
	const char *cells[] = { utc(m->received_ms, t[0], sizeof(t[0])),
	    sv_type(m->type), unit_name(d->cfg, m->sender, from, sizeof(from)),
	    m->sender, unit_name(d->cfg, m->recipient, to, sizeof(to)),
	    m->recipient, sv_basis(m->basis), line_status(m),
	    utc(m->delivered_ms, t[1], sizeof(t[1])), utc(m->receipt_ms, t[2],
	    sizeof(t[2])), m->code, line_outcome(m, outcome, sizeof(outcome)),
	    m->id, m->sampled ? "ja" : "nej", utc(m->reviewed_ms, t[3],
	    sizeof(t[3])), m->reviewer, m->conclusion };
	size_t n = sizeof(cells) / sizeof(cells[0]) - (d->review ? 0 : 4);

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', out);
		tool_csv_cell(out, cells[i]);
	}
	fputc('\n', out);
}

static void
doc_csv(const struct doc *d, FILE *out)
{
	fputs("tid,typ,fran_enhet,fran_adress,till_enhet,till_adress,"
	    "rattslig_grund,status,levererat,kvitterat,kod,utfall,"
	    "meddelande_id", out);
	if (d->review)
		fputs(",i_urvalet,granskad,granskare,slutsats", out);
	fputc('\n', out);
	for (size_t i = 0; i < d->lines->n; i++)
		csv_line(out, d, &d->lines->v[i]);
}

/* ---------------------------------------------------------------- JSON */

static json_t *
jtime(int64_t ms)
{
	char buf[32];

	return ms > 0 ? json_string(time_format(ms / 1000, buf, sizeof(buf)))
	    : json_null();
}

/* s as a JSON string, null when empty. Text from the log or the config
 * that is not valid UTF-8 keeps its line, each stray byte as U+FFFD. */
static json_t *
jstr(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return json_null();
	return pbjson_text(s);
}

static json_t *
json_unit(const struct doc *d, const char *address)
{
	char name[200];

	return json_pack("{s:o, s:o}", "namn", jstr(unit_name(d->cfg, address,
	    name, sizeof(name))), "adress", jstr(address));
}

static json_t *
json_line(const struct doc *d, const struct msg_line *m)
{
	char outcome[400];
	json_t *j = json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:s, s:o, s:s, "
	    "s:o, s:o, s:o, s:o}", "meddelande_id", jstr(m->id), "tid",
	    jtime(m->received_ms), "typ", sv_type(m->type), "typ_kod",
	    jstr(m->type), "fran", json_unit(d, m->sender), "till",
	    json_unit(d, m->recipient), "rattslig_grund", sv_basis(m->basis),
	    "rattslig_grund_kod", jstr(m->basis), "status", line_status(m),
	    "levererat", jtime(m->delivered_ms), "kvitterat",
	    jtime(m->receipt_ms), "kod", jstr(m->code), "utfall",
	    jstr(line_outcome(m, outcome, sizeof(outcome))));

	if (j != NULL && d->review)
		json_object_update_new(j, json_pack("{s:b, s:o, s:o, s:o}",
		    "i_urvalet", m->sampled, "granskad", jtime(m->reviewed_ms),
		    "granskare", jstr(m->reviewer), "slutsats",
		    jstr(m->conclusion)));
	return j;
}

static int
doc_json(const struct doc *d, FILE *out)
{
	json_t *a = json_array(), *j;
	int rc;

	/* a line that cannot be built fails the document: an extract
	 * never leaves a message out silently */
	for (size_t i = 0; a != NULL && i < d->lines->n; i++)
		if (json_array_append_new(a, json_line(d, &d->lines->v[i])) != 0) {
			json_decref(a);
			return -1;
		}
	j = json_pack("{s:s, s:o, s:o, s:I, s:o}", "dokument", d->review
	    ? "logguppfoljning" : "loggutdrag", "skapat", jtime(d->made_ms),
	    "skapat_av", jstr(d->operator), "antal_meddelanden",
	    (json_int_t)d->lines->n, "meddelanden", a);
	if (j != NULL && d->review)
		json_object_update_new(j, json_pack("{s:o, s:o, s:o, s:I, s:I}",
		    "period_fran", jtime(d->from_ms), "period_till",
		    jtime(d->to_ms), "seed", d->has_sample
		    ? json_integer((json_int_t)d->seed) : json_null(),
		    "population", (json_int_t)d->population,
		    "urval", (json_int_t)d->sampled));
	if (j == NULL)
		return -1;
	rc = json_dumpf(j, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(j);
	return rc;
}

int
doc_write(const struct doc *d, enum doc_format f, FILE *out)
{
	int rc = 0;

	if (f == DOC_CSV)
		doc_csv(d, out);
	else if (f == DOC_JSON)
		rc = doc_json(d, out);
	else
		rc = doc_html(d, out);
	if (fflush(out) != 0 || ferror(out))
		rc = -1;
	return rc;
}

/* ---------------------------------------------------------------- PDF */

int
doc_pdf_available(void)
{
	if (system("command -v chromium >/dev/null 2>&1") == 0)
		return 0;
	tool_error("%s --format pdf needs headless Chromium, which is not "
	    "installed (Debian: apt-get install chromium); use --format html "
	    "and print it from a browser", nara_code_id(NR_USAGE));
	return -1;
}

/* A signal came while the extract was in the private directory. */
static volatile sig_atomic_t pdf_stop;

static void
pdf_stop_set(int sig)
{
	(void)sig;
	pdf_stop = 1;
}

/* chromium --headless --print-to-pdf=pdf file://html, with its own
 * profile directory; its output goes to dir/chromium.log. */
static int
run_chromium(const char *dir, const char *html, const char *pdf)
{
	char arg_pdf[4300], arg_profile[200], url[200], log[200];
	pid_t pid;
	int status;

	snprintf(arg_pdf, sizeof(arg_pdf), "--print-to-pdf=%s", pdf);
	snprintf(arg_profile, sizeof(arg_profile), "--user-data-dir=%s/profile",
	    dir);
	snprintf(url, sizeof(url), "file://%s", html);
	snprintf(log, sizeof(log), "%s/chromium.log", dir);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (freopen(log, "w", stdout) == NULL ||
		    freopen(log, "a", stderr) == NULL)
			_exit(127);
		execlp("chromium", "chromium", "--headless", "--no-sandbox",
		    "--disable-gpu", "--no-first-run", "--no-pdf-header-footer",
		    arg_profile, arg_pdf, url, (char *)NULL);
		_exit(127);
	}
	/* a signal for the tool is passed on to chromium, so that the
	 * private directory is removed after it ends (pdf_signals) */
	while (waitpid(pid, &status, 0) != pid) {
		if (errno != EINTR)
			return -1;
		if (pdf_stop)
			kill(pid, SIGTERM);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || pdf_stop)
		return -1;
	return access(pdf, R_OK);
}

/* The end of what chromium wrote to dir/chromium.log, on stderr: the
 * directory with the log is removed with the extract. */
static void
chromium_said(const char *dir)
{
	char log[200], buf[2048];
	FILE *f;
	size_t n;

	snprintf(log, sizeof(log), "%s/chromium.log", dir);
	if ((f = fopen(log, "re")) == NULL)
		return;
	if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END) != 0)
		rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (n > 0)
		fprintf(stderr, "nara-audit: chromium said:\n%s%s", buf,
		    buf[n - 1] == '\n' ? "" : "\n");
}

static int
remove_one(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The private directory and all in it (the HTML of the extract, the
 * PDF, chromium's profile and log). */
static void
dir_remove(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	if (access(dir, F_OK) == 0)
		tool_error("%s could not remove %s", nara_code_id(NR_IO), dir);
}

/* While the extract is in the private directory, INT, TERM, HUP and QUIT
 * only set pdf_stop (on = false: as they were), so that doc_pdf still
 * removes it and fails (exit 2). Caught, not ignored: chromium gets the
 * default back at exec, and a terminal's ^C reaches it too. */
static void
pdf_signals(bool on)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	static struct sigaction old[4];
	struct sigaction sa = { .sa_handler = pdf_stop_set };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], on ? &sa : &old[i], on ? &old[i] : NULL);
}

/* The file at path appended to out; -1 on a read or write error. */
static int
file_copy(const char *path, FILE *out)
{
	char buf[8192];
	FILE *in = fopen(path, "rbe");
	size_t n;
	int rc = 0;

	if (in == NULL)
		return -1;
	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	if (ferror(in))
		rc = -1;
	fclose(in);
	return rc;
}

/* d as HTML into the new file path, 0600; -1 after saying why. */
static int
html_write(const struct doc *d, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc;
	FILE *f;

	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		tool_error("%s cannot write %s", nara_code_id(NR_IO), path);
		return -1;
	}
	rc = doc_html(d, f);
	if (fclose(f) != 0 || rc != 0) {
		tool_error("%s cannot write %s", nara_code_id(NR_IO), path);
		return -1;
	}
	return 0;
}

int
doc_pdf(const struct doc *d, FILE *out)
{
	char dir[] = "/tmp/nara-audit-pdf.XXXXXX", html[64], pdf[64];
	int rc = -1;

	/* the HTML is the child's extract: it lives only in a 0700
	 * directory (mkdtemp), which is removed on every path */
	pdf_stop = 0;
	pdf_signals(true);
	if (mkdtemp(dir) == NULL) {
		tool_error("%s cannot make a temporary directory",
		    nara_code_id(NR_IO));
		pdf_signals(false);
		return -1;
	}
	snprintf(html, sizeof(html), "%s/doc.html", dir);
	snprintf(pdf, sizeof(pdf), "%s/doc.pdf", dir);
	if (html_write(d, html) != 0 || pdf_stop)
		goto done;
	if (run_chromium(dir, html, pdf) != 0) {
		tool_error("%s chromium could not print the document%s",
		    nara_code_id(NR_IO), pdf_stop ? ": interrupted" : "");
		chromium_said(dir);
		goto done;
	}
	/* chromium writes where it is told with the umask's mode: the PDF
	 * is made in the private directory and copied into the file
	 * doc_out_open made 0600 */
	if (file_copy(pdf, out) != 0) {
		tool_error("%s cannot copy the PDF chromium printed",
		    nara_code_id(NR_IO));
		goto done;
	}
	rc = 0;
done:
	dir_remove(dir);
	pdf_signals(false);
	return rc;
}

/* The --output file: made 0600 (O_EXCL, so an existing file or link is
 * never taken for a new one), or opened as it is when it is there. */
static int
out_file(struct doc_out *o)
{
	int fd = open(o->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0) {
		o->created = true;
		/* the umask may have taken the owner's bits */
		if (fchmod(fd, 0600) != 0)
			goto fail;
	} else if (errno == EEXIST) {
		fd = open(o->path, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0 || (o->fp = fdopen(fd, "w")) == NULL)
		goto fail;
	return 0;
fail:
	tool_error("%s cannot write %s: %s", nara_code_id(NR_IO), o->path,
	    strerror(errno));
	if (fd >= 0)
		close(fd);
	if (o->created)
		unlink(o->path);
	o->created = false;
	o->fp = NULL;
	return -1;
}

int
doc_out_open(struct doc_out *o, enum doc_format f, const char *output)
{
	o->f = f;
	o->path = output;
	o->fp = stdout;
	o->created = false;
	return output == NULL ? 0 : out_file(o);
}

/* A file that was there loses its old content only now, when the
 * document is written (not a device or pipe: those cannot be cut). */
static int
out_truncate(struct doc_out *o)
{
	struct stat sb;

	if (o->fp == stdout || o->created || fstat(fileno(o->fp), &sb) != 0 ||
	    !S_ISREG(sb.st_mode) || ftruncate(fileno(o->fp), 0) == 0)
		return 0;
	tool_error("%s cannot write %s: %s", nara_code_id(NR_IO), o->path,
	    strerror(errno));
	return -1;
}

/* d into the opened output; -1 after saying why. */
static int
out_write(struct doc_out *o, const struct doc *d)
{
	if (out_truncate(o) != 0)
		return -1;
	if (o->f == DOC_PDF)
		return doc_pdf(d, o->fp);
	if (doc_write(d, o->f, o->fp) == 0)
		return 0;
	tool_error("%s writing the document failed", nara_code_id(NR_IO));
	return -1;
}

int
doc_out_close(struct doc_out *o, const struct doc *d)
{
	int rc = 0;

	if (o->fp == NULL)
		return -1;
	if (d != NULL)
		rc = out_write(o, d);
	if (o->fp != stdout && fclose(o->fp) != 0 && rc == 0) {
		tool_error("%s writing %s failed", nara_code_id(NR_IO), o->path);
		rc = -1;
	}
	/* no document: no file left behind under its name, unless it was
	 * there before */
	if ((d == NULL || rc != 0) && o->created)
		unlink(o->path);
	o->fp = NULL;
	return rc;
}
