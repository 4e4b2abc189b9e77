/*
 * nara-msg — the integrators' tool: convert nara messages between their JSON
 * form and the protobuf wire form, check them against the broker's
 * validation rules before sending, and make fresh message ids.
 *
 * Everything the broker would say about a message is said here with the same
 * catalogue code and field path, so an integrator can fix a message before
 * the broker ever sees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "nara.pb-c.h"
#include "pbjson.h"
#include "uuid.h"
#include "validate.h"
#include "version.h"

#define PROG "nara-msg"

/* Exit codes, as documented in --help. */
enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_USAGE = 2 };

/* Largest input read: a maximal envelope (16 MiB) as base64 JSON fits. */
#define MAX_INPUT_BYTES ((size_t)64 << 20)

static const char USAGE_MAIN[] =
    "usage: " PROG " COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Convert and check nara messages (nara.Envelope, or nara.Frame with\n"
    "--frame) between their JSON form and the protobuf wire form.\n"
    "\n"
    "commands:\n"
    "  encode    JSON -> protobuf bytes\n"
    "  decode    protobuf bytes -> canonical JSON\n"
    "  validate  check messages against the broker's validation rules\n"
    "  new-id    print a new UUID for message_id / conversation_id\n"
    "\n"
    "`" PROG " COMMAND --help` describes each command. --version prints the\n"
    "release.\n"
    "\n"
    "Errors go to stderr as \"" PROG ": NR024 envelope.priority: <text>\": the\n"
    "catalogue code (docs/PROTOCOL.md), the JSON path, what is wrong.\n"
    "\n"
    "exit status: 0 success (all messages valid), 1 a message is invalid\n"
    "(bad JSON, undecodable bytes, a validation failure), 2 usage or\n"
    "input/output error.\n";

static const char USAGE_ENCODE[] =
    "usage: " PROG " encode [--frame] [-o OUT] [FILE|-]\n"
    "\n"
    "Read a JSON nara.Envelope (nara.Frame with --frame) from FILE or stdin\n"
    "and write its protobuf encoding to OUT or stdout. Unknown fields, wrong\n"
    "JSON types, unknown enum names and bad base64 are refused with NR024.\n"
    "The message is not validated; use `" PROG " validate` for that.\n"
    "\n"
    "  -f, --frame      the input is a Frame, not an Envelope\n"
    "  -o, --output F   write to F instead of stdout\n"
    "  -h, --help       this text\n"
    "\n"
    "exit status: 0 encoded, 1 invalid JSON (NR024), 2 usage or I/O error.\n";

static const char USAGE_DECODE[] =
    "usage: " PROG " decode [--frame] [-o OUT] [FILE|-]\n"
    "\n"
    "Read a protobuf nara.Envelope (nara.Frame with --frame) from FILE or\n"
    "stdin and print it as canonical JSON: fields in field-number order, only\n"
    "fields that are set, 2-space indentation. `encode | decode` gives back a\n"
    "canonical file byte for byte.\n"
    "\n"
    "  -f, --frame      the input is a Frame, not an Envelope\n"
    "  -o, --output F   write to F instead of stdout\n"
    "  -h, --help       this text\n"
    "\n"
    "exit status: 0 decoded, 1 undecodable input (NR001), 2 usage or I/O\n"
    "error.\n";

static const char USAGE_VALIDATE[] =
    "usage: " PROG " validate [--frame] [--now TIME | --no-expiry-check]\n"
    "                         [FILE...]\n"
    "\n"
    "Check each FILE (stdin when none or \"-\") with the broker's validation\n"
    "rules and default size limits. Files ending in .pb are read as protobuf,\n"
    "all others as JSON. Prints one line per file on stdout:\n"
    "  FILE: ok\n"
    "  FILE: NR013 envelope.subject.personal_number: <text>\n"
    "\n"
    "  -f, --frame            the files hold Frames, not Envelopes\n"
    "  -t, --now TIME         judge expiry at this RFC 3339 time, not the clock\n"
    "  -n, --no-expiry-check  do not compare expires with the current time\n"
    "  -h, --help             this text\n"
    "\n"
    "exit status: 0 all valid, 1 any invalid, 2 usage or I/O error.\n";

static const char USAGE_NEW_ID[] =
    "usage: " PROG " new-id [-n COUNT] [-r|--random]\n"
    "\n"
    "Print COUNT (default 1, at most 1000) new UUIDs, one a line, for\n"
    "message_id and conversation_id: time-ordered (version 7, RFC 9562), each\n"
    "larger than the one before, which the broker stores most cheaply; with\n"
    "-r, --random: random (version 4).\n"
    "\n"
    "exit status: 0 printed, 2 usage error or no randomness available.\n";

/* "nara-msg: NR071 text" on stderr; returns EXIT_USAGE for the callers. */
static int __attribute__((format(printf, 2, 3)))
complain(enum nara_code code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": %s ", nara_code_id(code));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static void
complain_err(const struct nara_err *err)
{
	char buf[512];

	fprintf(stderr, PROG ": %s\n", nara_err_format(err, buf, sizeof(buf)));
}

static int
usage_error(const char *usage, const char *what)
{
	fprintf(stderr, PROG ": %s %s\n%s", nara_code_id(NR_USAGE), what, usage);
	return EXIT_USAGE;
}

/* getopt_long found an unknown option (c == '?') or one missing its
 * argument (c == ':'); getopt's own messages are off (opterr = 0). */
static int
option_error(const char *usage, int c, char **argv)
{
	char what[160];

	snprintf(what, sizeof(what), "%s \"%.100s\"",
	    c == ':' ? "option needs an argument:" : "unknown option",
	    argv[optind - 1]);
	return usage_error(usage, what);
}

/* Read all of path ("-" = stdin) into a new malloc'd buffer (NUL-terminated
 * for convenience, the NUL is not counted in *len). */
static int
input_read(const char *path, char **buf, size_t *len, struct nara_err *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 65536, n = 0;
	char *data = NULL;

	*buf = NULL;
	if (f == NULL)
		return nara_err_set(err, NR_IO, path, "cannot open: %s",
		    strerror(errno));
	if ((data = malloc(cap + 1)) == NULL)
		goto nomem;
	for (;;) {
		size_t got = fread(data + n, 1, cap - n, f);

		n += got;
		if (n < cap) {
			if (ferror(f)) {
				nara_err_set(err, NR_IO, path, "cannot read: %s",
				    strerror(errno));
				goto fail;
			}
			break;
		}
		if (cap >= MAX_INPUT_BYTES) {
			nara_err_set(err, NR_TOO_LARGE, path,
			    "input larger than %zu bytes", MAX_INPUT_BYTES);
			goto fail;
		}
		cap *= 2;
		char *bigger = realloc(data, cap + 1);
		if (bigger == NULL)
			goto nomem;
		data = bigger;
	}
	data[n] = '\0';
	if (f != stdin)
		fclose(f);
	*buf = data;
	*len = n;
	return 0;
nomem:
	nara_err_set(err, NR_IO, path, "out of memory");
fail:
	free(data);
	if (f != stdin)
		fclose(f);
	return -1;
}

/* Write all of buf to f, then close it (or only flush it: stdout). */
static int
stream_write(FILE *f, bool close_it, const char *name, const void *buf,
    size_t len, struct nara_err *err)
{
	bool ok = fwrite(buf, 1, len, f) == len;

	ok = fflush(f) == 0 && ok;
	if (close_it)
		ok = fclose(f) == 0 && ok;
	if (!ok)
		return nara_err_set(err, NR_IO, name, "cannot write: %s",
		    strerror(errno));
	return 0;
}

/*
 * Put buf at target, a regular file (old: its status) or a new name,
 * through a new file beside it that is renamed over it only once all of
 * buf is written: a failed write leaves what was there, and the only file
 * removed is the one this run made. The result keeps the old file's mode,
 * or takes the umask's like any new file.
 */
static int
output_replace(const char *path, const char *target, const struct stat *old,
    const void *buf, size_t len, struct nara_err *err)
{
	char tmp[4096], *dcopy = strdup(target), *bcopy = strdup(target);
	mode_t mask = umask(0);
	FILE *f = NULL;
	int fd = -1, rc = -1;

	umask(mask);
	if (dcopy == NULL || bcopy == NULL) {
		nara_err_set(err, NR_IO, path, "out of memory");
		goto done;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dcopy),
	    basename(bcopy)) >= sizeof(tmp)) {
		nara_err_set(err, NR_IO, path, "path too long");
		goto done;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0 ||
	    fchmod(fd, old != NULL ? old->st_mode & 07777 : 0666 & ~mask) != 0 ||
	    (f = fdopen(fd, "wb")) == NULL) {
		nara_err_set(err, NR_IO, path, "cannot create: %s",
		    strerror(errno));
		goto done;
	}
	fd = -1;
	rc = stream_write(f, false, path, buf, len, err);
	if (rc == 0 && fsync(fileno(f)) != 0)
		rc = nara_err_set(err, NR_IO, path, "cannot write: %s",
		    strerror(errno));
	if (fclose(f) != 0 && rc == 0)
		rc = nara_err_set(err, NR_IO, path, "cannot write: %s",
		    strerror(errno));
	if (rc == 0 && rename(tmp, target) != 0)
		rc = nara_err_set(err, NR_IO, path, "cannot replace: %s",
		    strerror(errno));
done:
	if (rc != 0 && (f != NULL || fd >= 0))
		unlink(tmp);
	if (fd >= 0)
		close(fd);
	free(bcopy);
	free(dcopy);
	return rc;
}

/*
 * Write buf to path (NULL = stdout). Something at path that is not a
 * regular file (a device, a FIFO, /dev/stdout) is written where it is and
 * never removed, whatever happens: it is not this run's to delete. A
 * regular file is replaced (through a symbolic link, its target).
 */
static int
output_write(const char *path, const void *buf, size_t len, struct nara_err *err)
{
	struct stat sb;
	char *target;
	FILE *f;
	int fd, rc;

	if (path == NULL)
		return stream_write(stdout, false, "stdout", buf, len, err);
	if (stat(path, &sb) != 0)
		return output_replace(path, path, NULL, buf, len, err);
	if (S_ISREG(sb.st_mode)) {
		if ((target = realpath(path, NULL)) == NULL)
			return nara_err_set(err, NR_IO, path, "cannot resolve: %s",
			    strerror(errno));
		rc = output_replace(path, target, &sb, buf, len, err);
		free(target);
		return rc;
	}
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0 ||
	    (f = fdopen(fd, "wb")) == NULL) {
		rc = nara_err_set(err, NR_IO, path, "cannot open: %s",
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return stream_write(f, true, path, buf, len, err);
}

/* Decode protobuf bytes; NR001 when they are not a message of this type. */
static ProtobufCMessage *
binary_parse(const ProtobufCMessageDescriptor *desc, const char *buf,
    size_t len, struct nara_err *err)
{
	ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len,
	    (const uint8_t *)buf);

	if (msg == NULL)
		nara_err_set(err, NR_MALFORMED_FRAME, "",
		    "input is not a protobuf %s", desc->name);
	return msg;
}

/* Options shared by encode and decode. */
struct convert_opts {
	const ProtobufCMessageDescriptor *desc;
	const char *output;
	const char *input;
};

static int
convert_getopt(int argc, char **argv, const char *usage, struct convert_opts *o)
{
	static const struct option longopts[] = {
		{ "frame", no_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->desc = &nara__envelope__descriptor;
	o->output = NULL;
	o->input = "-";
	optind = 1;
	while ((c = getopt_long(argc, argv, ":fo:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->desc = &nara__frame__descriptor;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return option_error(usage, c, argv);
		}
	}
	if (argc - optind > 1)
		return usage_error(usage, "at most one input file");
	if (argc - optind == 1)
		o->input = argv[optind];
	return 0;
}

static int
cmd_encode(int argc, char **argv)
{
	struct convert_opts o;
	struct nara_err err = { 0 };
	ProtobufCMessage *msg = NULL;
	uint8_t *out = NULL;
	char *json = NULL;
	size_t len, n;
	int rc = convert_getopt(argc, argv, USAGE_ENCODE, &o);

	if (rc != 0)
		return rc < 0 ? EXIT_VALID : rc;
	rc = EXIT_USAGE;
	if (o.output == NULL && isatty(STDOUT_FILENO)) {
		nara_err_set(&err, NR_USAGE, "", "refusing to write protobuf "
		    "bytes to a terminal; use -o FILE or a pipe");
		goto fail;
	}
	if (input_read(o.input, &json, &len, &err) != 0)
		goto fail;
	if ((msg = pbjson_parse(o.desc, json, len, &err)) == NULL) {
		rc = err.code == NR_BAD_JSON ? EXIT_INVALID : EXIT_USAGE;
		goto fail;
	}
	n = protobuf_c_message_get_packed_size(msg);
	if ((out = malloc(n > 0 ? n : 1)) == NULL) {
		nara_err_set(&err, NR_IO, "", "out of memory");
		goto fail;
	}
	protobuf_c_message_pack(msg, out);
	if (output_write(o.output, out, n, &err) != 0)
		goto fail;
	rc = EXIT_VALID;
fail:
	if (rc != EXIT_VALID)
		complain_err(&err);
	free(out);
	protobuf_c_message_free_unpacked(msg, NULL);
	free(json);
	return rc;
}

static int
cmd_decode(int argc, char **argv)
{
	struct convert_opts o;
	struct nara_err err = { 0 };
	ProtobufCMessage *msg = NULL;
	char *bin = NULL, *json = NULL;
	size_t len;
	int rc = convert_getopt(argc, argv, USAGE_DECODE, &o);

	if (rc != 0)
		return rc < 0 ? EXIT_VALID : rc;
	rc = EXIT_USAGE;
	if (input_read(o.input, &bin, &len, &err) != 0)
		goto fail;
	if ((msg = binary_parse(o.desc, bin, len, &err)) == NULL) {
		rc = EXIT_INVALID;
		goto fail;
	}
	if ((json = pbjson_print(msg)) == NULL) {
		nara_err_set(&err, NR_IO, "", "out of memory");
		goto fail;
	}
	if (output_write(o.output, json, strlen(json), &err) != 0)
		goto fail;
	rc = EXIT_VALID;
fail:
	if (rc != EXIT_VALID)
		complain_err(&err);
	free(json);
	protobuf_c_message_free_unpacked(msg, NULL);
	free(bin);
	return rc;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Check one file; prints its result line. EXIT_* for this file. */
static int
validate_file(const char *path, const ProtobufCMessageDescriptor *desc,
    int64_t now)
{
	struct validate_limits lim;
	struct nara_err err = { 0 };
	ProtobufCMessage *msg = NULL;
	char *buf = NULL, line[512];
	size_t len;
	int rc = EXIT_INVALID, v;

	validate_limits_default(&lim);
	if (input_read(path, &buf, &len, &err) != 0) {
		complain_err(&err);
		return EXIT_USAGE;
	}
	if (ends_with(path, ".pb"))
		msg = binary_parse(desc, buf, len, &err);
	else
		msg = pbjson_parse(desc, buf, len, &err);
	if (msg == NULL)
		goto done;
	if (desc == &nara__frame__descriptor)
		v = validate_frame((const Nara__Frame *)msg, &lim, now, &err);
	else
		v = validate_envelope((const Nara__Envelope *)msg, &lim, now, &err);
	if (v == 0)
		rc = EXIT_VALID;
done:
	if (rc == EXIT_VALID)
		printf("%s: ok\n", path);
	else
		printf("%s: %s\n", path, nara_err_format(&err, line, sizeof(line)));
	protobuf_c_message_free_unpacked(msg, NULL);
	free(buf);
	return rc;
}

static int
cmd_validate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "frame", no_argument, NULL, 'f' },
		{ "now", required_argument, NULL, 't' },
		{ "no-expiry-check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const ProtobufCMessageDescriptor *desc = &nara__envelope__descriptor;
	const char *now_text = NULL;
	bool no_expiry = false;
	struct nara_err err = { 0 };
	int64_t now = (int64_t)time(NULL);
	int c, rc = EXIT_VALID;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":ft:nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			desc = &nara__frame__descriptor;
			break;
		case 't':
			now_text = optarg;
			break;
		case 'n':
			no_expiry = true;
			break;
		case 'h':
			fputs(USAGE_VALIDATE, stdout);
			return EXIT_VALID;
		default:
			return option_error(USAGE_VALIDATE, c, argv);
		}
	}
	if (now_text != NULL && no_expiry)
		return usage_error(USAGE_VALIDATE,
		    "--now and --no-expiry-check exclude each other");
	if (now_text != NULL && validate_time(now_text, &now, &err, "--now") != 0) {
		complain_err(&err);
		return EXIT_USAGE;
	}
	if (no_expiry)
		now = 0;
	if (optind == argc)
		return validate_file("-", desc, now);
	for (int i = optind; i < argc; i++) {
		int r = validate_file(argv[i], desc, now);

		if (r > rc)
			rc = r;
	}
	return rc;
}

static int
cmd_new_id(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "random", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int (*make)(char out[37]) = uuid_time_ordered;
	long count = 1;
	char *end, id[37];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":n:rh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			make = uuid_random;
			break;
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || count < 1 || count > 1000)
				return usage_error(USAGE_NEW_ID,
				    "COUNT must be 1..1000");
			break;
		case 'h':
			fputs(USAGE_NEW_ID, stdout);
			return EXIT_VALID;
		default:
			return option_error(USAGE_NEW_ID, c, argv);
		}
	}
	if (optind != argc)
		return usage_error(USAGE_NEW_ID, "no arguments expected");
	for (long i = 0; i < count; i++) {
		if (make(id) != 0)
			return complain(NR_IO, "no random bytes available");
		printf("%s\n", id);
	}
	return fflush(stdout) == 0 ? EXIT_VALID : EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} commands[] = {
		{ "encode", cmd_encode },
		{ "decode", cmd_decode },
		{ "validate", cmd_validate },
		{ "new-id", cmd_new_id },
	};

	opterr = 0;
	if (argc < 2)
		return usage_error(USAGE_MAIN, "command missing");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(USAGE_MAIN, stdout);
		return EXIT_VALID;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf(PROG " %s\n", NARA_VERSION);
		return EXIT_VALID;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, PROG ": %s unknown command \"%s\"\n%s",
	    nara_code_id(NR_USAGE), argv[1], USAGE_MAIN);
	return EXIT_USAGE;
}
