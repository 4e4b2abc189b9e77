/*
 * itest_nara_msg.c — the built nara-msg binary as an integrator uses it:
 * encode/decode round trips of every example, validation results and exit
 * codes, error lines on stderr, usage and new-id.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

static char tmp[64];
static char bin[300];
static char top[256];

static const char *const envelope_examples[] = {
	"referral.json", "referral-response.json",
	"consultation-request-deidentified.json",
	"consultation-request-identified.json", "consultation-response.json",
	"sip-invitation.json", "sip-response.json", "report-of-concern.json",
};
#define N_ENVELOPES (sizeof(envelope_examples) / sizeof(envelope_examples[0]))
static const char *const frame_examples[] = { "frames/hello.json", "frames/submit.json" };

static void
setup(void)
{
	const char *t = getenv("NARA_TOP");

	snprintf(tmp, sizeof(tmp), "/tmp/nara-msg-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	harness_bin("nara-msg", bin, sizeof(bin));
	snprintf(top, sizeof(top), "%s", t ? t : ".");
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(nara_msg, .init = setup, .fini = teardown);

/* Run "nara-msg ARGS" through sh with stdout and stderr captured in
 * tmp/out and tmp/err; returns the exit status. */
static int __attribute__((format(printf, 1, 2)))
run(const char *fmt, ...)
{
	char args[2048], cmd[3072];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s >'%s/out' 2>'%s/err'",
	    tmp, bin, args, tmp, tmp);
	status = system(cmd);
	cr_assert(WIFEXITED(status), "%s: killed", cmd);
	return WEXITSTATUS(status);
}

/* Whole file as a malloc'd string. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *
captured(const char *which)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", tmp, which);
	return slurp(path);
}

static char *
example(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/config/examples/%s", top, name);
	return slurp(path);
}

/* Copy of an example with one substring replaced, written to tmp/name. */
static void
write_variant(const char *example_name, const char *from, const char *to,
    const char *name)
{
	char *text = example(example_name), path[128];
	char *at = strstr(text, from);
	FILE *f;

	cr_assert_not_null(at, "%s not in %s", from, example_name);
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fwrite(text, 1, (size_t)(at - text), f);
	fputs(to, f);
	fputs(at + strlen(from), f);
	cr_assert_eq(fclose(f), 0);
	free(text);
}

static void
expect_captured(const char *which, const char *want)
{
	char *got = captured(which);

	cr_expect_str_eq(got, want);
	free(got);
}

static void
roundtrip_file(const char *name, bool frame)
{
	const char *fl = frame ? "--frame" : "";
	char *orig = example(name), *back;

	cr_assert_eq(run("encode %s -o msg.pb '%s/config/examples/%s'", fl, top,
	    name), 0, "encode %s", name);
	cr_assert_eq(run("decode %s msg.pb", fl), 0, "decode %s", name);
	back = captured("out");
	cr_expect_str_eq(back, orig, "%s does not round-trip", name);
	free(back);
	free(orig);
}

Test(nara_msg, encode_decode_roundtrip_every_example)
{
	for (size_t i = 0; i < N_ENVELOPES; i++)
		roundtrip_file(envelope_examples[i], false);
	for (size_t i = 0; i < 2; i++)
		roundtrip_file(frame_examples[i], true);
}

Test(nara_msg, pipe_roundtrip_through_stdin_and_stdout)
{
	char *orig = example("sip-invitation.json"), *back;
	char args[700];

	snprintf(args, sizeof(args),
	    "encode - < '%s/config/examples/sip-invitation.json' | '%s' decode -o back.json",
	    top, bin);
	cr_assert_eq(run("%s", args), 0);
	back = captured("back.json");
	cr_expect_str_eq(back, orig);
	free(back);
	free(orig);
}

Test(nara_msg, validate_all_examples_ok)
{
	char args[2048] = "validate --no-expiry-check", want[2048] = "";
	size_t n = strlen(args);

	for (size_t i = 0; i < N_ENVELOPES; i++) {
		n += (size_t)snprintf(args + n, sizeof(args) - n,
		    " '%s/config/examples/%s'", top, envelope_examples[i]);
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
		    "%s/config/examples/%s: ok\n", top, envelope_examples[i]);
	}
	cr_assert_eq(run("%s", args), 0);
	expect_captured("out", want);
	expect_captured("err", "");
	cr_assert_eq(run("validate --frame --no-expiry-check '%s/config/examples/%s'"
	    " '%s/config/examples/%s'", top, frame_examples[0], top,
	    frame_examples[1]), 0);
}

Test(nara_msg, validate_binary_file)
{
	cr_assert_eq(run("encode -o r.pb '%s/config/examples/referral.json'", top), 0);
	cr_assert_eq(run("validate --no-expiry-check r.pb"), 0);
	expect_captured("out", "r.pb: ok\n");
	/* a .pb file that holds JSON, not protobuf */
	write_variant("referral.json", "{", "{", "j.pb");
	cr_assert_eq(run("validate --no-expiry-check j.pb"), 1);
	expect_captured("out", "j.pb: NR001 input is not a protobuf nara.Envelope\n");
}

Test(nara_msg, validate_bad_personal_number_exit_1)
{
	char *out;
	const char *want = "pnr.json: NR013 envelope.subject.personal_number: ";

	/* last digit changed: the Luhn check fails */
	write_variant("referral.json", "201304172388", "201304172389", "pnr.json");
	cr_assert_eq(run("validate --no-expiry-check pnr.json"), 1);
	out = captured("out");
	cr_expect(strncmp(out, want, strlen(want)) == 0, "got: %s", out);
	cr_expect_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
	free(out);
}

Test(nara_msg, validate_subject_on_deidentified_exit_1)
{
	char *out;

	write_variant("consultation-request-deidentified.json",
	    "  \"child_participation\"",
	    "  \"subject\": {\"personal_number\": \"201304172388\"},\n  \"child_participation\"",
	    "deid.json");
	cr_assert_eq(run("validate --no-expiry-check deid.json"), 1);
	out = captured("out");
	cr_expect(strncmp(out, "deid.json: NR018 ", 17) == 0, "got: %s", out);
	free(out);
}

Test(nara_msg, validate_expiry_against_now)
{
	const char *f = "config/examples/referral.json";

	cr_assert_eq(run("validate --now 2026-11-24T00:00:00Z '%s/%s'", top, f), 0);
	cr_assert_eq(run("validate --now 2027-06-01T00:00:00Z '%s/%s'", top, f), 1);
	char *out = captured("out");
	cr_expect(strstr(out, ": NR023 ") != NULL, "got: %s", out);
	free(out);
}

Test(nara_msg, validate_mixed_results_and_io_error)
{
	write_variant("referral.json", "PRIORITY_ROUTINE", "PRIO", "enum.json");
	cr_assert_eq(run("validate --no-expiry-check '%s/config/examples/sip-response.json'"
	    " enum.json", top), 1);
	char want[600];
	snprintf(want, sizeof(want), "%s/config/examples/sip-response.json: ok\n"
	    "enum.json: NR024 envelope.priority: unknown enum value \"PRIO\" for nara.Priority\n",
	    top);
	expect_captured("out", want);
	/* a missing file outranks an invalid one: exit 2, NR071 on stderr */
	cr_assert_eq(run("validate --no-expiry-check enum.json missing.json"), 2);
	char *err = captured("err");
	cr_expect(strncmp(err, "nara-msg: NR071 missing.json: cannot open: ", 43) == 0,
	    "got: %s", err);
	free(err);
}

Test(nara_msg, encode_errors_name_code_and_path)
{
	write_variant("referral.json", "PRIORITY_ROUTINE", "PRIO", "enum.json");
	cr_assert_eq(run("encode enum.json"), 1);
	expect_captured("err",
	    "nara-msg: NR024 envelope.priority: unknown enum value \"PRIO\" for nara.Priority\n");
	expect_captured("out", "");
	write_variant("referral.json", "\"data\": \"JVBER", "\"data\": \"!VBER", "b64.json");
	cr_assert_eq(run("encode -o x.pb b64.json"), 1);
	expect_captured("err", "nara-msg: NR024 envelope.attachments[0].data: invalid base64\n");
	cr_assert_eq(run("decode x.pb"), 2, "no output file after a failed encode");
}

/* Names in tmp starting with '.' other than . and ..: files a run left. */
static int
hidden_files(void)
{
	DIR *d = opendir(tmp);
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* -o to something that is not a regular file (here a link to /dev/full,
 * so that the test touches nothing in /dev) is written in place; a failed
 * write is an error and the path stays. Only a file the run made itself
 * may be removed. */
Test(nara_msg, failed_output_removes_nothing_it_did_not_make)
{
	char path[128];
	struct stat sb;

	if (stat("/dev/full", &sb) != 0 || !S_ISCHR(sb.st_mode))
		cr_skip_test("no /dev/full to run out of space on");
	snprintf(path, sizeof(path), "%s/full", tmp);
	cr_assert_eq(symlink("/dev/full", path), 0);
	cr_expect_eq(run("encode -o full '%s/config/examples/referral.json'",
	    top), 2);
	expect_captured("err",
	    "nara-msg: NR071 full: cannot write: No space left on device\n");
	cr_expect_eq(lstat(path, &sb), 0, "full was removed");
	cr_expect(S_ISLNK(sb.st_mode), "full is no longer the link");
	cr_expect_eq(stat("/dev/full", &sb), 0);
	cr_expect(S_ISCHR(sb.st_mode));
	cr_expect_eq(hidden_files(), 0);
}

/* A regular file is replaced whole and keeps its mode. */
Test(nara_msg, output_replaces_a_regular_file)
{
	char path[128];
	struct stat sb;
	FILE *f;

	snprintf(path, sizeof(path), "%s/r.pb", tmp);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("what was there before, longer than nothing", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, 0640), 0);
	cr_assert_eq(run("encode -o r.pb '%s/config/examples/referral.json'",
	    top), 0);
	cr_assert_eq(run("validate --no-expiry-check r.pb"), 0);
	expect_captured("out", "r.pb: ok\n");
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_eq(sb.st_mode & 07777, 0640);
	cr_expect_eq(hidden_files(), 0);
}

Test(nara_msg, decode_garbage_exit_1)
{
	cr_assert_eq(run("decode '%s/config/examples/frames/hello.json'", top), 1);
	expect_captured("err", "nara-msg: NR001 input is not a protobuf nara.Envelope\n");
}

Test(nara_msg, help_and_usage_errors)
{
	static const char *const cmds[] = { "encode", "decode", "validate", "new-id" };
	char *out;

	cr_assert_eq(run("--help"), 0);
	out = captured("out");
	cr_expect(strncmp(out, "usage: nara-msg COMMAND", 23) == 0);
	cr_expect(strstr(out, "exit status: 0") != NULL);
	free(out);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(run("%s --help", cmds[i]), 0, "%s --help", cmds[i]);
		out = captured("out");
		cr_expect(strstr(out, cmds[i]) != NULL && strstr(out, "exit status") != NULL);
		free(out);
	}
	cr_assert_eq(run("frobnicate"), 2);
	out = captured("err");
	cr_expect(strncmp(out, "nara-msg: NR072 unknown command \"frobnicate\"", 44) == 0);
	free(out);
	cr_assert_eq(run("%s", ""), 2);
	cr_assert_eq(run("encode --bogus"), 2);
	cr_assert_eq(run("encode a b"), 2);
	cr_assert_eq(run("validate --now 2026-11-24T00:00:00Z --no-expiry-check x"), 2);
	cr_assert_eq(run("encode missing.json"), 2);
	expect_captured("err", "nara-msg: NR071 missing.json: cannot open: "
	    "No such file or directory\n");
}

/* A lower-case UUID of version v with the RFC 4122 variant, then a newline. */
static bool
is_uuid(const char *s, char v)
{
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : strchr("0123456789abcdef", s[i]) == NULL || s[i] == '\0')
			return false;
	}
	return s[14] == v && strchr("89ab", s[19]) != NULL && s[36] == '\n';
}

/* Time-ordered by default: version 7, each id above the one before (a
 * thousand within a few milliseconds), the first 48 bits the time of the
 * call; version 4 with --random. */
Test(nara_msg, new_id_prints_time_ordered_or_random_uuids)
{
	char *out, ms_hex[13];
	long long before = (long long)time(NULL) * 1000, ms;

	cr_assert_eq(run("new-id -n 1000"), 0);
	out = captured("out");
	cr_assert_eq(strlen(out), 1000 * 37);
	for (int i = 0; i < 1000; i++) {
		cr_expect(is_uuid(out + 37 * i, '7'), "not a v7 uuid: %.36s",
		    out + 37 * i);
		if (i > 0)
			cr_expect(strncmp(out + 37 * (i - 1), out + 37 * i, 36) < 0,
			    "id %d not above the one before: %.36s, %.36s", i,
			    out + 37 * (i - 1), out + 37 * i);
	}
	snprintf(ms_hex, sizeof(ms_hex), "%.8s%.4s", out, out + 9);
	ms = strtoll(ms_hex, NULL, 16);
	cr_expect(ms >= before && ms <= (long long)time(NULL) * 1000 + 1000,
	    "time %lld ms in the id, %lld at the call", ms, before);
	free(out);
	cr_assert_eq(run("new-id -n 3 --random"), 0);
	out = captured("out");
	cr_assert_eq(strlen(out), 3 * 37);
	for (int i = 0; i < 3; i++)
		cr_expect(is_uuid(out + 37 * i, '4'), "not a v4 uuid: %.36s",
		    out + 37 * i);
	cr_expect(strncmp(out, out + 37, 36) != 0);
	free(out);
	cr_assert_eq(run("new-id -n 0"), 2);
	cr_assert_eq(run("new-id extra"), 2);
}
