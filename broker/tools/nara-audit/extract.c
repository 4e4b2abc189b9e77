/*
 * extract.c — the two documents of nara-audit for people: the patient's
 * log extract ("loggutdrag": every message about one child, one line
 * each) and the report of the systematic log review for a period (the
 * sample, the reviewers' conclusions, what is still unreviewed).
 *
 * Making an extract is itself written to the audit log, before the
 * document is written: the row "log_extracted" names who asked (the
 * operator, as author and in the detail), when (its time) and for whom
 * (the child's pseudonym, in the subject column as on every row about
 * the child), so the patient's data leaves the log only with a trace.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "config.h"
#include "tool.h"
#include "validate.h"

/* Unit names from -c FILE; NULL (addresses only) without one. The
 * store's opening reports a bad config, so a failure here stays quiet. */
static struct config *
names_load(const struct opts *o)
{
	struct config_diag diag = { 0 };
	struct config *cfg;

	if (o->config == NULL)
		return NULL;
	cfg = config_load(o->config, &diag);
	config_diag_free(&diag);
	return cfg;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The format, its output file and the PDF printer checked before any
 * work (and before the audit row). */
static int
format_check(const struct opts *o, enum doc_format *f)
{
	if (doc_format_parse(o->format, f) != 0)
		return -1;
	if (*f == DOC_PDF && o->output == NULL) {
		tool_error("%s --format pdf needs --output FILE",
		    nara_code_id(NR_USAGE));
		return -1;
	}
	if (*f == DOC_PDF && doc_pdf_available() != 0)
		return -1;
	/* The document is in Swedish time wherever it is made. */
	sv_time_init();
	return 0;
}

/* The child's messages into lines and the row that says the extract was
 * made; -1 after saying why (then no document is written). */
static int
extract_gather(struct store *st, const char *subject, const char *operator,
    bool given, enum doc_format f, struct msg_lines *lines, int64_t made_ms)
{
	static const char *const fmt_names[] = { "html", "csv", "json", "pdf" };
	struct store_audit_filter flt = { .select = STORE_AUDIT_SUBJECT,
	    .subject = subject };
	struct nara_err err = { 0 };
	char detail[400], os_user[200] = "";

	if (store_audit_rows(st, &flt, lines_add_cb, lines, &err) < 0 ||
	    lines->oom) {
		tool_error("%s reading the audit log: %s",
		    nara_code_id(NR_STORE_FAILED), lines->oom ? "out of memory"
		    : err.text);
		return -1;
	}
	/* the pseudonym goes where every row keeps it, so that the child's
	 * rows (nara-audit subject, the next extract's query) include this */
	/* A name given with --operator is what the document shows; the row
	 * also keeps who ran the tool, which the caller cannot choose. */
	if (given)
		doc_os_user(os_user, sizeof(os_user));
	snprintf(detail, sizeof(detail), "log extract by %s%s%s%s: %zu "
	    "messages, %s", operator, given ? " (OS user " : "", os_user,
	    given ? ")" : "", lines->n, fmt_names[f]);
	if (store_audit_subject(st, "log_extracted", subject, operator, detail,
	    made_ms / 1000, &err) != 0) {
		tool_error("%s the extract could not be written to the audit "
		    "log; no extract made: %s", nara_code_id(NR_STORE_FAILED),
		    err.text);
		return -1;
	}
	return 0;
}

int
cmd_extract(struct opts *o)
{
	struct msg_lines lines = { 0 };
	struct doc d = { .made_ms = now_ms() };
	struct doc_out out = { 0 };
	struct config *cfg = NULL;
	struct store *st = NULL;
	enum doc_format f;
	char pn[32] = "", hex[65], operator[128];
	int rc = EXIT_USAGE;

	if (format_check(o, &f) != 0 || doc_operator(o, operator,
	    sizeof(operator)) != 0 || tool_subject_number(o->args[0], pn) != 0 ||
	    doc_out_open(&out, f, o->output) != 0)
		goto fail;
	if ((st = tool_open_store(o, true, true)) == NULL)
		goto fail;
	if (store_pseudonym(st, pn, hex) != 0) {
		tool_error("%s cannot compute the pseudonym",
		    nara_code_id(NR_CONFIG));
		goto fail;
	}
	OPENSSL_cleanse(pn, sizeof(pn));
	if (extract_gather(st, hex, operator, o->operator != NULL, f, &lines,
	    d.made_ms) != 0)
		goto fail;
	cfg = names_load(o);
	d.operator = operator;
	d.cfg = cfg;
	d.lines = &lines;
	if (doc_out_close(&out, &d) == 0)
		rc = EXIT_OK;
fail:
	if (out.fp != NULL)
		doc_out_close(&out, NULL);
	OPENSSL_cleanse(pn, sizeof(pn));
	lines_clear(&lines);
	config_free(&cfg);
	store_free(&st);
	return rc;
}

/* ---------------------------------------------------------------- review */

/* Fold every row of message id into a line of its own and add it to
 * lines; that line, NULL when the log has none or on error (said). With
 * known set, a line lines already has for id is returned as it is (the
 * sample's ids are distinct and skip that search). */
static struct msg_line *
message_line(struct store *st, const char *id, struct msg_lines *lines,
    bool known)
{
	struct store_audit_filter f = { .select = STORE_AUDIT_MESSAGE,
	    .message_id = id };
	struct nara_err err = { 0 };
	struct msg_lines one = { 0 };
	struct msg_line *m = NULL;
	size_t pick = 0;

	for (size_t i = 0; known && i < lines->n; i++)
		if (!lines->v[i].refusal && strcmp(lines->v[i].id, id) == 0)
			return &lines->v[i];
	if (store_audit_rows(st, &f, lines_add_cb, &one, &err) < 0 ||
	    one.oom) {
		tool_error("%s reading the audit log: %s",
		    nara_code_id(NR_STORE_FAILED), one.oom ? "out of memory"
		    : err.text);
		goto fail;
	}
	/* the stored message, not a refused submission that reused its id */
	while (pick + 1 < one.n && one.v[pick].refusal)
		pick++;
	if (one.n > 0 && (m = lines_push(lines, &one.v[pick])) == NULL)
		tool_error("%s out of memory", nara_code_id(NR_IO));
fail:
	lines_clear(&one);
	return m;
}

static int
id_of(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	(void)prev_hash;
	(void)hash;
	snprintf(arg, 64, "%s", r->message_id ? r->message_id : "");
	return 0;
}

/* The sampled messages, marked. */
static int
review_sampled(struct store *st, const int64_t *seqs, int64_t k,
    struct msg_lines *lines)
{
	struct store_audit_filter f = { .select = STORE_AUDIT_SEQ };
	struct nara_err err = { 0 };
	struct msg_line *m;
	char id[64];

	for (int64_t i = 0; i < k; i++) {
		id[0] = '\0';
		f.seq = seqs[i];
		if (store_audit_rows(st, &f, id_of, id, &err) < 0) {
			tool_error("%s %s", nara_code_id(NR_STORE_FAILED),
			    err.text);
			return -1;
		}
		if (id[0] == '\0')
			continue;
		if ((m = message_line(st, id, lines, false)) == NULL)
			return -1;
		m->sampled = true;
	}
	return 0;
}

/* The ids of every reviewed message (the "log_reviewed" rows). */
static int
reviewed_ids(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	struct msg_lines *ids = arg;
	struct audit_row only = { .seq = r->seq, .time_ms = r->time_ms,
	    .event = "received", .message_id = r->message_id };

	(void)prev_hash;
	(void)hash;
	return lines_add(ids, &only) != 0;
}

/* Messages received in the period that were reviewed though not sampled
 * (an earlier sample, another seed) are in the report too. */
static int
review_others(struct store *st, const struct opts *o, struct msg_lines *lines)
{
	struct store_audit_filter f = { .select = STORE_AUDIT_MATCH,
	    .from_ms = INT64_MIN, .to_ms = INT64_MAX, .event = "log_reviewed" };
	struct msg_lines ids = { 0 };
	struct nara_err err = { 0 };
	struct msg_line *m;
	int rc = -1;

	if (store_audit_rows(st, &f, reviewed_ids, &ids, &err) < 0 || ids.oom) {
		tool_error("%s reading the audit log: %s",
		    nara_code_id(NR_STORE_FAILED), ids.oom ? "out of memory"
		    : err.text);
		goto fail;
	}
	for (size_t i = 0; i < ids.n; i++) {
		size_t before = lines->n;

		if ((m = message_line(st, ids.v[i].id, lines, true)) == NULL)
			continue;
		if (lines->n > before && (m->received_ms < o->from_ms ||
		    m->received_ms >= o->to_ms))
			lines->n = before;    /* outside the period */
	}
	rc = lines->oom ? -1 : 0;
fail:
	lines_clear(&ids);
	return rc;
}

static int
cmp_line(const void *a, const void *b)
{
	const struct msg_line *x = a, *y = b;

	return (x->received_ms > y->received_ms) - (x->received_ms <
	    y->received_ms);
}

int
cmd_review_report(struct opts *o)
{
	struct msg_lines lines = { 0 };
	struct doc d = { .review = true, .made_ms = now_ms(),
	    .from_ms = o->from_ms, .to_ms = o->to_ms };
	struct doc_out out = { 0 };
	struct config *cfg = NULL;
	struct store *st = NULL;
	enum doc_format f;
	int64_t *seqs = NULL, k = 0;
	char operator[128];
	int rc = EXIT_USAGE;

	if (!o->has_from || !o->has_to || o->from_ms >= o->to_ms) {
		tool_error("%s review report needs --from before --to",
		    nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	if (format_check(o, &f) != 0 || doc_operator(o, operator,
	    sizeof(operator)) != 0 || doc_out_open(&out, f, o->output) != 0)
		return EXIT_USAGE;
	if ((st = tool_open_store(o, false, false)) == NULL)
		goto fail;
	d.has_sample = o->n > 0;
	d.seed = o->seed;
	if ((d.population = sample_draw(st, o, &seqs, &k)) < 0)
		goto fail;
	d.sampled = d.has_sample ? k : 0;
	if ((d.has_sample && review_sampled(st, seqs, k, &lines) != 0) ||
	    review_others(st, o, &lines) != 0)
		goto fail;
	if (lines.n > 0)
		qsort(lines.v, lines.n, sizeof(lines.v[0]), cmp_line);
	cfg = names_load(o);
	d.operator = operator;
	d.cfg = cfg;
	d.lines = &lines;
	if (doc_out_close(&out, &d) == 0)
		rc = EXIT_OK;
fail:
	if (out.fp != NULL)
		doc_out_close(&out, NULL);
	free(seqs);
	lines_clear(&lines);
	config_free(&cfg);
	store_free(&st);
	return rc;
}
