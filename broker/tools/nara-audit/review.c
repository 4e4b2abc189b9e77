/*
 * review.c — the systematic log review (sample, review record) and the key
 * and retention commands (keygen, prune) of nara-audit.
 *
 * The sample is drawn with splitmix64 seeded by --seed: a partial
 * Fisher-Yates shuffle over the messages received in the period, in seq
 * order, so the same seed over the same period gives the same messages on
 * any machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "tool.h"
#include "validate.h"

#define REVIEWER_MAX 64
#define CONCLUSION_MAX 1000

/* ---------------------------------------------------------------- sample */

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, bound) without modulo bias. */
static uint64_t
uniform(uint64_t *state, uint64_t bound)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound, x;

	do
		x = splitmix64(state);
	while (x >= limit);
	return x % bound;
}

static int
cmp_seq(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The seqs gathered by population. */
struct seqs {
	int64_t *v, n, cap;
	bool oom;
};

static int
seq_add(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	struct seqs *q = arg;
	int64_t *nv;

	(void)prev_hash;
	(void)hash;
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 1024;
		if ((nv = reallocarray(q->v, (size_t)q->cap, sizeof(*nv))) == NULL) {
			q->oom = true;
			return 1;
		}
		q->v = nv;
	}
	q->v[q->n++] = r->seq;
	return 0;
}

/* Seqs of the "received" rows in [from, to), in seq order. */
static int64_t
population(struct store *st, const struct opts *o, int64_t **out)
{
	struct store_audit_filter f = { .select = STORE_AUDIT_MATCH,
	    .from_ms = o->from_ms, .to_ms = o->to_ms, .event = "received" };
	struct nara_err err = { 0 };
	struct seqs q = { 0 };

	if (store_audit_rows(st, &f, seq_add, &q, &err) < 0 || q.oom) {
		tool_error("%s reading the audit log: %s",
		    nara_code_id(NR_STORE_FAILED), q.oom ? "out of memory"
		    : err.text);
		free(q.v);
		return -1;
	}
	*out = q.v;
	return q.n;
}

static int
row_add(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	(void)prev_hash;
	rows_add(arg, r, hash);
	return 0;
}

static int
sample_print(struct store *st, const struct opts *o, const int64_t *pick,
    int64_t k, int64_t total)
{
	struct store_audit_filter f = { .select = STORE_AUDIT_SEQ };
	struct nara_err err = { 0 };
	struct rows *r;

	if (o->out == FMT_JSON)
		printf("{\"seed\":%llu,\"population\":%lld,\"n\":%lld,"
		    "\"rows\":", (unsigned long long)o->seed, (long long)total,
		    (long long)k);
	else if (o->out == FMT_TABLE)
		printf("seed %llu: %lld of %lld messages received in the period\n",
		    (unsigned long long)o->seed, (long long)k, (long long)total);
	if ((r = rows_new(o->out, stdout)) == NULL)
		return -1;
	for (int64_t i = 0; i < k; i++) {
		f.seq = pick[i];
		store_audit_rows(st, &f, row_add, r, &err);
	}
	rows_end(r);
	rows_free(&r);
	if (o->out == FMT_JSON)
		puts("}");
	return 0;
}

int64_t
sample_draw(struct store *st, struct opts *o, int64_t **out, int64_t *k)
{
	int64_t *v = NULL, total;
	uint64_t state;

	*out = NULL;
	*k = 0;
	if (o->n > 0 && !o->has_seed) {
		if (getrandom(&o->seed, sizeof(o->seed), 0) != sizeof(o->seed))
			o->seed = (uint64_t)time(NULL);
		o->has_seed = true;
		fprintf(stderr, "nara-audit: sample seed %llu\n",
		    (unsigned long long)o->seed);
	}
	if ((total = population(st, o, &v)) < 0)
		return -1;
	*k = o->n > 0 ? (o->n < total ? o->n : total) : 0;
	state = o->seed;
	for (int64_t i = 0; i < *k; i++) {
		int64_t j = i + (int64_t)uniform(&state, (uint64_t)(total - i));
		int64_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
	if (*k > 0)
		qsort(v, (size_t)*k, sizeof(*v), cmp_seq);
	*out = v;
	return total;
}

int
cmd_sample(struct opts *o)
{
	struct store *st;
	int64_t *v = NULL, total, k;
	int rc = EXIT_USAGE;

	if (o->n < 0 || !o->has_from || !o->has_to || o->from_ms >= o->to_ms) {
		tool_error("%s sample needs --n N and --from before --to",
		    nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	if (o->has_seed)
		fprintf(stderr, "nara-audit: sample seed %llu\n",
		    (unsigned long long)o->seed);
	if ((st = tool_open_store(o, false, false)) == NULL)
		return rc;
	if ((total = sample_draw(st, o, &v, &k)) < 0)
		goto done;
	if (sample_print(st, o, v, k, total) == 0)
		rc = k > 0 ? EXIT_OK : EXIT_BAD;
done:
	free(v);
	store_free(&st);
	return rc;
}

/* ---------------------------------------------------------------- review */

static bool
reviewer_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._@-");

	return n >= 1 && n <= REVIEWER_MAX && s[n] == '\0';
}

static bool
conclusion_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONCLUSION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int
review_check(const struct opts *o)
{
	struct nara_err err = { 0 };

	if (strcmp(o->args[0], "record") != 0) {
		tool_error("%s unknown review action \"%s\" (expected record "
		    "or report)", nara_code_id(NR_USAGE), o->args[0]);
		return -1;
	}
	if (validate_uuid(o->args[1], &err, "message_id") != 0) {
		tool_error("%s %s: %s", nara_code_id(err.code), err.path,
		    err.text);
		return -1;
	}
	if (o->reviewer == NULL || !reviewer_ok(o->reviewer)) {
		tool_error("%s --reviewer: 1..%d of letters, digits, . _ @ -",
		    nara_code_id(NR_BAD_VALUE), REVIEWER_MAX);
		return -1;
	}
	if (o->conclusion == NULL || !conclusion_ok(o->conclusion)) {
		tool_error("%s --conclusion: 1..%d bytes of text without control "
		    "characters", nara_code_id(NR_BAD_VALUE), CONCLUSION_MAX);
		return -1;
	}
	return 0;
}

int
cmd_review(struct opts *o)
{
	bool report_opts = o->has_from || o->has_to || o->n >= 0 ||
	    o->has_seed || o->format || o->output || o->operator;
	struct nara_err err = { 0 };
	struct store *st;
	int rc;

	if (strcmp(o->args[0], "report") == 0 && o->n_args == 1) {
		if (o->reviewer == NULL && o->conclusion == NULL)
			return cmd_review_report(o);
		tool_error("%s review report takes no --reviewer or "
		    "--conclusion", nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	if (strcmp(o->args[0], "record") == 0 && o->n_args != 2) {
		tool_error("%s review record needs MESSAGE-ID",
		    nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	if (review_check(o) != 0)
		return EXIT_USAGE;
	if (report_opts) {
		tool_error("%s review record takes --reviewer and --conclusion "
		    "only", nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	if ((st = tool_open_store(o, true, false)) == NULL)
		return EXIT_USAGE;
	rc = store_audit_review(st, o->args[1], o->reviewer, o->conclusion,
	    (int64_t)time(NULL), &err);
	if (rc == 0)
		printf("review of %s recorded\n", o->args[1]);
	else
		tool_error("%s %s", nara_code_id(err.code), err.text);
	store_free(&st);
	if (rc == 0)
		return EXIT_OK;
	return err.code == NR_BAD_MESSAGE_ID ? EXIT_BAD : EXIT_USAGE;
}

/* ---------------------------------------------------------------- keys */

int
cmd_keygen(struct opts *o)
{
	struct nara_err err = { 0 };
	char pub[4200];

	if (o->n_args > 1)
		snprintf(pub, sizeof(pub), "%s", o->args[1]);
	else
		snprintf(pub, sizeof(pub), "%s.pub", o->args[0]);
	if (audit_key_generate(o->args[0], pub, &err) != 0) {
		tool_error("%s %s", nara_code_id(err.code), err.text);
		return EXIT_USAGE;
	}
	printf("private key %s (keep it 0600, for narad's signing_key)\n"
	    "public key  %s (for nara-audit verify --pubkey)\n", o->args[0], pub);
	return EXIT_OK;
}

int
cmd_prune(struct opts *o)
{
	struct nara_err err = { 0 };
	struct audit_key *key = NULL;
	struct store *st;
	int64_t cut, deleted, now = (int64_t)time(NULL);
	char day[32], by[200];
	int rc = EXIT_USAGE;

	if (o->before == 0 || o->before > now) {
		tool_error("%s prune needs --before DATE, not in the future",
		    nara_code_id(NR_USAGE));
		return EXIT_USAGE;
	}
	if ((st = tool_open_store(o, true, false)) == NULL)
		return rc;
	doc_os_user(by, sizeof(by));   /* named in the audit_pruned row */
	if (o->sign_path == NULL) {
		tool_error("%s prune needs the signing key (--sign-key FILE or "
		    "signing_key in the config)", nara_code_id(NR_USAGE));
	} else if ((key = audit_key_load_private(o->sign_path, &err)) == NULL ||
	    store_audit_prune(st, key, o->before, 0, now, by, &cut, &deleted,
	    &err) != 0) {
		tool_error("%s %s", nara_code_id(err.code), err.text);
	} else {
		if (cut > 0)
			printf("pruned %lld audit rows up to seq %lld\n",
			    (long long)deleted, (long long)cut);
		else
			printf("no audit rows older than %s\n",
			    time_format(o->before, day, sizeof(day)));
		rc = EXIT_OK;
	}
	audit_key_free(&key);
	store_free(&st);
	return rc;
}
