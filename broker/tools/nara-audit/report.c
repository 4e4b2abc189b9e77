/*
 * report.c — the reading commands of nara-audit: verify, trace, query,
 * subject and export.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "pnr.h"
#include "tool.h"
#include "validate.h"

/* ---------------------------------------------------------------- verify */

/* The keys that signed checkpoints, with their counts, as JSON. */
static json_t *
signers_json(const struct audit_report *rep)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < rep->n_signers; i++)
		json_array_append_new(a, json_pack("{s:s, s:I}", "fingerprint",
		    rep->signers[i].fingerprint, "checkpoints",
		    (json_int_t)rep->signers[i].checkpoints));
	return a;
}

static void
signers_print(const struct audit_report *rep)
{
	for (size_t i = 0; i < rep->n_signers; i++)
		printf("signed by key %s: %lld checkpoints\n",
		    rep->signers[i].fingerprint,
		    (long long)rep->signers[i].checkpoints);
	if (rep->other_signed > 0)
		printf("signed by further keys: %lld checkpoints\n",
		    (long long)rep->other_signed);
}

/* What verify knows of the head file narad keeps beside a SQLite store
 * (<store>.head, store_sqlite_guard.c): "present", "missing" (with a
 * warning when the chain has rows), "unreadable" (with a warning), or
 * "not_kept" (PostgreSQL records the head in the database). */
struct head_state {
	const char *state;
	char warning[4800];
};

/* A missing head file is a warning, not a failure: nothing shows a row
 * is gone (narad writes the file at its first checkpoint, and a store
 * from before the file or copied without it has none), but a store
 * rolled back together with its checkpoints would pass unseen. */
static void
head_look(const struct opts *o, const struct audit_report *rep,
    struct head_state *hs)
{
	char path[4200];
	struct stat sb;

	hs->warning[0] = '\0';
	hs->state = "not_kept";
	if (o->store_backend != NULL && strcmp(o->store_backend, "sqlite") != 0)
		return;
	snprintf(path, sizeof(path), "%s.head", o->store_path);
	hs->state = "present";
	if (stat(path, &sb) == 0)
		return;
	if (errno != ENOENT) {
		hs->state = "unreadable";
		snprintf(hs->warning, sizeof(hs->warning), "%s cannot look for "
		    "the head file %s: %s", nara_code_id(NR_STORE_FAILED), path,
		    strerror(errno));
		return;
	}
	hs->state = "missing";
	if (rep->rows > 0 || rep->bad_seq > 0)
		snprintf(hs->warning, sizeof(hs->warning), "%s the head file %s "
		    "is missing: the chain could not be compared with the head "
		    "narad recorded beside the store, so a store emptied, "
		    "replaced or rolled back to an older copy with its "
		    "checkpoints would not show (narad writes it at its "
		    "checkpoints and at a clean stop)",
		    nara_code_id(NR_STORE_FAILED), path);
}

static void
verify_print(const struct audit_report *rep, const struct nara_err *err,
    bool ok, bool json, const struct head_state *hs)
{
	char when[32] = "-";
	json_t *o;

	if (rep->signed_seq > 0)
		time_format(rep->signed_time_ms / 1000, when, sizeof(when));
	if (!json) {
		printf("%s: %lld rows (seq %lld..%lld), %lld signed checkpoints, "
		    "newest covers seq %lld (%s)%s\n", ok ? "intact" : "FAILED",
		    (long long)rep->rows, (long long)rep->first_seq,
		    (long long)rep->last_seq, (long long)rep->checkpoints,
		    (long long)rep->signed_seq, when, rep->signatures_checked
		    ? "" : "; signatures NOT checked (no public key)");
		if (rep->signatures_checked)
			printf("public keys given: %zu\n", rep->n_keys);
		signers_print(rep);
		if (rep->cut_seq > 0)
			printf("pruned: rows up to seq %lld removed behind a signed "
			    "cut\n", (long long)rep->cut_seq);
		if (!ok)
			printf("first bad row: seq %lld: %s\n",
			    (long long)rep->bad_seq, err->text);
		if (hs->warning[0] != '\0')
			printf("warning: %s\n", hs->warning);
		return;
	}
	o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:b, s:I, s:o, "
	    "s:I, s:I, s:s?}", "ok", ok, "rows", (json_int_t)rep->rows, "first_seq",
	    (json_int_t)rep->first_seq, "last_seq", (json_int_t)rep->last_seq,
	    "cut_seq", (json_int_t)rep->cut_seq, "checkpoints",
	    (json_int_t)rep->checkpoints, "signed_seq",
	    (json_int_t)rep->signed_seq, "signed_time", rep->signed_seq > 0
	    ? when : NULL, "signatures_checked", rep->signatures_checked,
	    "keys", (json_int_t)rep->n_keys, "signers", signers_json(rep),
	    "other_signed", (json_int_t)rep->other_signed, "bad_seq", (json_int_t)rep->bad_seq, "error", ok ? NULL : err->text);
	json_object_set_new(o, "head_file", json_string(hs->state));
	json_object_set_new(o, "warnings", hs->warning[0] != '\0' ?
	    json_pack("[s]", hs->warning) : json_array());
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
}

int
cmd_verify(struct opts *o)
{
	struct store *st = tool_open_store(o, false, false);
	struct audit_hasher *h = audit_hasher_new();
	struct audit_key *keys[AUDIT_RING_MAX];
	struct audit_report rep;
	struct head_state hs;
	struct nara_err err = { 0 };
	size_t n = 0;
	int rc = EXIT_USAGE;

	if (st == NULL || h == NULL || tool_pubkeys(o, keys, &n) != 0)
		goto done;
	if (audit_verify_ring(st, h,
	    (const struct audit_key *const *)keys, n, &rep, &err) == 0) {
		rc = EXIT_OK;
		/* rows cut from the end together with every checkpoint naming
		 * them: the head narad kept beside the store still knows */
		if (store_head_file_check(st, &err) != 0) {
			rep.bad_seq = rep.last_seq + 1;
			rc = EXIT_BAD;
		}
	} else if (rep.bad_seq > 0) {
		rc = EXIT_BAD;
	} else {
		tool_error("%s %s", nara_code_id(err.code), err.text);
		goto done;
	}
	head_look(o, &rep, &hs);
	verify_print(&rep, &err, rc == EXIT_OK, o->out == FMT_JSON, &hs);
done:
	while (n > 0)
		audit_key_free(&keys[--n]);
	audit_hasher_free(&h);
	store_free(&st);
	return rc;
}

/* ---------------------------------------------------------------- rows */

/* Print the rows f selects and map the outcome to an exit code; empty
 * results are exit 1 when empty_is_bad. */
static int
run_rows(struct store *st, const struct store_audit_filter *f,
    enum output_format fmt, bool empty_is_bad)
{
	int64_t n = rows_print(st, f, fmt);

	if (n < 0)
		return EXIT_USAGE;
	return n == 0 && empty_is_bad ? EXIT_BAD : EXIT_OK;
}

int
cmd_trace(struct opts *o)
{
	struct store *st = tool_open_store(o, false, false);
	struct store_audit_filter f = { .select = STORE_AUDIT_MESSAGE,
	    .message_id = o->args[0] };
	int rc = EXIT_USAGE;

	if (st == NULL)
		return rc;
	rc = run_rows(st, &f, o->out, true);
	if (rc == EXIT_BAD)
		tool_error("no audit rows for message %s", o->args[0]);
	store_free(&st);
	return rc;
}

/* The events narad and the tools write (AUDIT.md, "What is logged"). */
static const char *const EVENTS[] = {
	"received", "rejected", "delivered", "acked", "payload_purged",
	"receipt_queued", "receipt_sent", "receipt_acked", "dead_lettered",
	"retried", "log_reviewed", "log_extracted", "audit_pruned",
	"node_connected", "node_disconnected", "auth_failed", "hello_refused",
	"broker_started",
	"broker_stopped", "config_reloaded", "config_refused", "control_reload",
	"signing_key_changed", "signing_key_refused",
};

static int
found_one(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	(void)arg;
	(void)r;
	(void)prev_hash;
	(void)hash;
	return 1;
}

/* 1 when some row has this event (or, with is_type, this type), 0, or -1
 * after saying why. */
static int
in_log(struct store *st, bool is_type, const char *value)
{
	struct store_audit_filter f = { .select = STORE_AUDIT_MATCH,
	    .from_ms = INT64_MIN, .to_ms = INT64_MAX };
	struct nara_err err = { 0 };
	int64_t n;

	if (is_type)
		f.type = value;
	else
		f.event = value;
	if ((n = store_audit_rows(st, &f, found_one, NULL, &err)) < 0)
		tool_error("%s %s", nara_code_id(NR_STORE_FAILED), err.text);
	return n > 0 ? 1 : (int)n;
}

/* A filter naming an event or type nara does not know (and the log does
 * not hold, should a newer narad have written it) is a typo: an empty
 * answer would read as "nothing happened". 0, or -1 after saying so. */
static int
filters_known(struct store *st, const struct opts *o)
{
	Nara__MessageType t;
	bool known = false;

	for (size_t i = 0; o->event != NULL && i < sizeof(EVENTS) /
	    sizeof(EVENTS[0]); i++)
		known = known || strcmp(o->event, EVENTS[i]) == 0;
	if (o->event != NULL && !known && in_log(st, false, o->event) != 1) {
		tool_error("%s --event: unknown event \"%s\" (see AUDIT.md, "
		    "\"What is logged\")", nara_code_id(NR_USAGE), o->event);
		return -1;
	}
	if (o->type != NULL && message_type_parse(o->type, &t) != 0 &&
	    in_log(st, true, o->type) != 1) {
		tool_error("%s --type: unknown message type \"%s\"",
		    nara_code_id(NR_USAGE), o->type);
		return -1;
	}
	return 0;
}

/* Rows in [from, to) with the optional filters of query and export. */
static int
filtered(struct opts *o, enum output_format fmt)
{
	struct store *st = tool_open_store(o, false, false);
	struct store_audit_filter f = { .select = STORE_AUDIT_MATCH,
	    .from_ms = o->from_ms, .to_ms = o->to_ms, .party = o->party,
	    .type = o->type, .event = o->event, .node = o->node };
	int rc = EXIT_USAGE;

	if (st == NULL)
		return rc;
	if (filters_known(st, o) == 0)
		rc = run_rows(st, &f, fmt, false);
	store_free(&st);
	return rc;
}

int
cmd_query(struct opts *o)
{
	if (o->has_from && o->has_to && o->from_ms >= o->to_ms) {
		tool_error("%s --from must be before --to",
		    nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	return filtered(o, o->out);
}

int
cmd_export(struct opts *o)
{
	if (o->format == NULL || strcmp(o->format, "jsonl") != 0) {
		tool_error("%s export needs --format jsonl",
		    nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	return filtered(o, FMT_JSONL);
}

/* ---------------------------------------------------------------- subject */

int
tool_subject_number(const char *arg, char pn[32])
{
	struct nara_err err = { 0 };
	char line[32];
	size_t n;

	pn[0] = '\0';
	if (strcmp(arg, "-") != 0) {
		snprintf(line, sizeof(line), "%s", arg);
	} else if (fgets(line, sizeof(line), stdin) == NULL) {
		tool_error("%s no personal number on standard input",
		    nara_code_id(NR_USAGE));
		return -1;
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	/* Checked first, and never echoed: the text of err has no digits. */
	if (pnr_normalise(line, pn, &err) != 0) {
		tool_error("%s personal number: %s", nara_code_id(err.code),
		    err.text);
		OPENSSL_cleanse(line, sizeof(line));
		return -1;
	}
	OPENSSL_cleanse(line, sizeof(line));
	return 0;
}

int
cmd_subject(struct opts *o)
{
	struct store *st = NULL;
	struct store_audit_filter f = { .select = STORE_AUDIT_SUBJECT };
	char pn[32], hex[65];
	int rc = EXIT_USAGE;

	if (tool_subject_number(o->args[0], pn) != 0)
		goto done;
	if ((st = tool_open_store(o, false, true)) == NULL)
		goto done;
	if (store_pseudonym(st, pn, hex) != 0) {
		tool_error("%s cannot compute the pseudonym",
		    nara_code_id(NR_CONFIG));
		goto done;
	}
	f.subject = hex;
	rc = run_rows(st, &f, o->out, false);
done:
	OPENSSL_cleanse(pn, sizeof(pn));
	store_free(&st);
	return rc;
}
