/*
 * validate.c — the building blocks of edge validation (UUIDs, addresses,
 * personal identity numbers, RFC 3339 times) and the per-kind frame rules.
 * The envelope rules are in validate_envelope.c, the frame codec in
 * wire.c.
 *
 * Everything here runs once per message at the broker's full rate, so the
 * checks never allocate; error texts never echo a personal number, and any
 * echoed peer bytes are cut to printable ASCII.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rfc3339.h"
#include "validate.h"
#include "validate_int.h"

#define HSA_PREFIX    "SE2321000131-"
#define HSA_UNIT_MAX  31

static const char *const municipal_services[] = {
	"socialtjanst", "elevhalsa", "forskola", "skola", "hemsjukvard",
};

/* The documented defaults; the broker overrides them from its config. */
void
validate_limits_default(struct validate_limits *lim)
{
	lim->max_message_bytes = 16u * 1024 * 1024;
	lim->max_attachments = 20;
	lim->max_attachment_bytes = 10u * 1024 * 1024;
	lim->max_text_bytes = 64u * 1024;
}

/* ---------------------------------------------------------------- helpers */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Lower-case hex only: ids are compared byte for byte (the idempotency
 * key, acks, the store), so one UUID in two cases would be two messages. */
static bool
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

/* Value of n decimal digits at s, or -1. Stops at the first non-digit, so
 * it never reads past the string's end. */
static int
digits_value(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* s cut to printable ASCII for an error text: peer bytes need not be UTF-8,
 * and error texts travel back to the peer inside a proto3 string. */
static const char *
shown(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s != NULL && s[i] != '\0' && i + 1 < len; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* ---------------------------------------------------------------- primitives */

/* 8-4-4-4-12 hex digits in either case; version bits are not checked, so
 * ids from other UUID generators are accepted too. */
int
validate_uuid(const char *s, struct nara_err *err, const char *path)
{
	char show[40];

	if (s == NULL)
		s = "";
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_hex(s[i]))
			goto fail;
	}
	if (s[36] == '\0')
		return 0;
fail:
	return nara_err_set(err, NR_BAD_MESSAGE_ID, path, "\"%s\" is not a UUID "
	    "in lower case", shown(s, show, sizeof(show)));
}

/* ADDRESS_MUNICIPAL or ADDRESS_REGIONAL; -1 with NR012. */
int
validate_address(const char *s, struct nara_err *err, const char *path)
{
	char show[48];

	if (s == NULL)
		s = "";
	if (strncmp(s, "kommun:", 7) == 0) {
		const char *code = s + 7;
		int n = digits_value(code, 4);

		if (n < 0 || code[4] != ':')
			return nara_err_set(err, NR_BAD_ADDRESS, path,
			    "municipality code must be four digits");
		if (n == 0)
			return nara_err_set(err, NR_BAD_ADDRESS, path,
			    "municipality code 0000 does not exist");
		for (size_t i = 0; i < sizeof(municipal_services) /
		    sizeof(municipal_services[0]); i++)
			if (strcmp(code + 5, municipal_services[i]) == 0)
				return ADDRESS_MUNICIPAL;
		return nara_err_set(err, NR_BAD_ADDRESS, path,
		    "unknown municipal service \"%s\"",
		    shown(code + 5, show, sizeof(show)));
	}
	if (strncmp(s, HSA_PREFIX, sizeof(HSA_PREFIX) - 1) == 0) {
		const char *unit = s + sizeof(HSA_PREFIX) - 1;
		size_t n = 0;

		while (n <= HSA_UNIT_MAX && is_alnum(unit[n]))
			n++;
		if (n >= 1 && n <= HSA_UNIT_MAX && unit[n] == '\0')
			return ADDRESS_REGIONAL;
		return nara_err_set(err, NR_BAD_ADDRESS, path,
		    "HSA unit id must be 1-%d letters and digits", HSA_UNIT_MAX);
	}
	return nara_err_set(err, NR_BAD_ADDRESS, path,
	    "\"%s\" is not a nara address", shown(s, show, sizeof(show)));
}

/* The municipality a municipal address belongs to, for routing. */
int
address_municipality(const char *s, char code[5])
{
	if (validate_address(s, NULL, NULL) != ADDRESS_MUNICIPAL)
		return -1;
	memcpy(code, s + 7, 4);
	code[4] = '\0';
	return 0;
}

static int
current_year(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL)
		return 9999;
	return tm.tm_year + 1900;
}

/* Date (day + 60 for samordningsnummer), birth year 1890..this year, Luhn
 * check digit; NR013 otherwise. The number never appears in the text. */
int
validate_personal_number(const char *s, struct nara_err *err, const char *path)
{
	int year, month, day, sum = 0;

	if (s == NULL || strnlen(s, 13) != 12)
		return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, path,
		    "must be 12 digits YYYYMMDDNNNC");
	for (int i = 0; i < 12; i++)
		if (!is_digit(s[i]))
			return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, path,
			    "must contain digits only");
	year = digits_value(s, 4);
	month = digits_value(s + 4, 2);
	day = digits_value(s + 6, 2);
	if (day > 60)
		day -= 60;    /* samordningsnummer: day of birth + 60 */
	if (day < 1 || day > rfc3339_month_days(year, month))
		return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, path,
		    "not a real date of birth");
	if (year < 1890 || year > current_year())
		return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, path,
		    "year of birth out of range");
	/* Luhn over YYMMDDNNN: weights 2,1,2,... and digit sums. */
	for (int i = 0; i < 9; i++) {
		int d = (s[2 + i] - '0') * (i % 2 == 0 ? 2 : 1);

		sum += d > 9 ? d - 9 : d;
	}
	if ((10 - sum % 10) % 10 != s[11] - '0')
		return nara_err_set(err, NR_BAD_PERSONAL_NUMBER, path,
		    "check digit does not match");
	return 0;
}

/* Strict RFC 3339 (rfc3339.h). NR015 otherwise; epoch may be NULL. */
int
validate_time(const char *s, int64_t *epoch, struct nara_err *err, const char *path)
{
	char show[40];

	if (rfc3339_parse(s, epoch) == 0)
		return 0;
	return nara_err_set(err, NR_BAD_TIME, path,
	    "\"%s\" is not an RFC 3339 time", shown(s != NULL ? s : "", show,
	    sizeof(show)));
}

/* Year, month (1-12) and day of the day that is days after 1970-01-01,
 * in the proleptic Gregorian calendar: the days are counted in eras of
 * 400 years (146,097 days) that begin on a 1 March, so that the leap day
 * is the last day of a year of the era. */
static void
civil_day(int64_t days, int64_t *year, int *month, int *day)
{
	int64_t z = days + 719468;   /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                          /* 0..146096 */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);   /* from 1 Mar */
	int64_t mp = (5 * doy + 2) / 153;                        /* March = 0 */

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = yoe + era * 400 + (*month <= 2);
}

static char *
two_digits(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

/* The canonical UTC form every nara time is written in; "" on failure.
 * Every reply and receipt carries one, so years 0-9999 are written here
 * digit by digit; other years as gmtime and printf write them. */
const char *
time_format(int64_t epoch, char *buf, size_t len)
{
	int64_t days, secs, year;
	int month, day;
	time_t t = (time_t)epoch;
	struct tm tm;
	char *p;

	if (buf == NULL || len == 0)
		return "";
	days = epoch / 86400;
	secs = epoch % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_day(days, &year, &month, &day);
	if (year >= 0 && year <= 9999 && len > 20) {
		p = two_digits(buf, (int)(year / 100));
		p = two_digits(p, (int)(year % 100));
		*p++ = '-';
		p = two_digits(p, month);
		*p++ = '-';
		p = two_digits(p, day);
		*p++ = 'T';
		p = two_digits(p, (int)(secs / 3600));
		*p++ = ':';
		p = two_digits(p, (int)(secs / 60 % 60));
		*p++ = ':';
		p = two_digits(p, (int)(secs % 60));
		*p++ = 'Z';
		*p = '\0';
		return buf;
	}
	if (gmtime_r(&t, &tm) == NULL) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
	    (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

/* ---------------------------------------------------------------- frames */

/* A catalogue code other than NR000. */
static bool
code_known(const char *id)
{
	enum nara_code code;

	return nara_code_parse(id, &code) == 0 && code != NR_OK;
}

/* A required message id (NR010 when empty, NR011 when not a UUID). */
static int
require_uuid(const char *s, struct nara_err *err, const char *path)
{
	if (is_empty(s))
		return missing(err, path);
	return validate_uuid(s, err, path);
}

static int
require_code(const char *s, struct nara_err *err, const char *path)
{
	char show[16];

	if (is_empty(s))
		return missing(err, path);
	if (!code_known(s))
		return nara_err_set(err, NR_BAD_VALUE, path,
		    "\"%s\" is not a catalogue code", shown(s, show, sizeof(show)));
	return 0;
}

static int
frame_hello(const Nara__Hello *h, struct nara_err *err)
{
	if (is_empty(h->node_id))
		return missing(err, "hello.node_id");
	if (h->protocol_version != NARA_PROTOCOL_VERSION)
		return nara_err_set(err, NR_PROTOCOL_VERSION, "hello.protocol_version",
		    "version %u, this broker speaks %d", h->protocol_version,
		    NARA_PROTOCOL_VERSION);
	return 0;
}

static int
frame_welcome(const Nara__Welcome *w, struct nara_err *err)
{
	if (w->protocol_version != NARA_PROTOCOL_VERSION)
		return nara_err_set(err, NR_PROTOCOL_VERSION,
		    "welcome.protocol_version", "version %u, expected %d",
		    w->protocol_version, NARA_PROTOCOL_VERSION);
	if (!is_empty(w->server_time))
		return validate_time(w->server_time, NULL, err, "welcome.server_time");
	return 0;
}

static int
frame_receipt(const Nara__Receipt *r, struct nara_err *err)
{
	if (require_uuid(r->message_id, err, "receipt.message_id") != 0 ||
	    require_enum(&nara__outcome__descriptor, (int)r->outcome, err,
	    "receipt.outcome") != 0)
		return -1;
	if (is_empty(r->time))
		return missing(err, "receipt.time");
	if (validate_time(r->time, NULL, err, "receipt.time") != 0)
		return -1;
	if (!is_empty(r->code) && require_code(r->code, err, "receipt.code") != 0)
		return -1;
	if (!is_empty(r->conversation_id) && validate_uuid(r->conversation_id,
	    err, "receipt.conversation_id") != 0)
		return -1;
	return 0;
}

static int
frame_envelope(const Nara__Envelope *env, const struct validate_limits *lim,
    int64_t now, struct nara_err *err, const char *path)
{
	if (env == NULL)
		return missing(err, path);
	return validate_envelope(env, lim, now, err);
}

/* Field name of the chosen kind ("hello"), for error paths. */
static const char *
frame_kind_name(const Nara__Frame *f)
{
	const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(
	    &nara__frame__descriptor, (unsigned)f->kind_case);

	return fd != NULL ? fd->name : "frame";
}

/* The sub-message of the chosen kind, NULL when none. */
static const void *
frame_kind(const Nara__Frame *f)
{
	switch (f->kind_case) {
	case NARA__FRAME__KIND_HELLO: return f->hello;
	case NARA__FRAME__KIND_WELCOME: return f->welcome;
	case NARA__FRAME__KIND_SUBMIT: return f->submit;
	case NARA__FRAME__KIND_ACCEPTED: return f->accepted;
	case NARA__FRAME__KIND_REJECTED: return f->rejected;
	case NARA__FRAME__KIND_DELIVER: return f->deliver;
	case NARA__FRAME__KIND_ACK: return f->ack;
	case NARA__FRAME__KIND_NACK: return f->nack;
	case NARA__FRAME__KIND_RECEIPT: return f->receipt;
	case NARA__FRAME__KIND_CREDIT: return f->credit;
	default: return NULL;
	}
}

/* Checks the fields each kind needs; paths are "<kind>.<field>" and the
 * envelope inside submit/deliver gets the "envelope." paths. */
int
validate_frame(const Nara__Frame *f, const struct validate_limits *lim,
    int64_t now, struct nara_err *err)
{
	if (f == NULL || frame_kind(f) == NULL)
		return nara_err_set(err, NR_MALFORMED_FRAME, NULL,
		    "frame carries no kind");
	/* Envelopes get these checks from validate_envelope. */
	if (f->kind_case != NARA__FRAME__KIND_SUBMIT &&
	    f->kind_case != NARA__FRAME__KIND_DELIVER &&
	    validate_texts(frame_kind(f), frame_kind_name(f), lim, err) != 0)
		return -1;
	switch (f->kind_case) {
	case NARA__FRAME__KIND_HELLO:
		return frame_hello(f->hello, err);
	case NARA__FRAME__KIND_WELCOME:
		return frame_welcome(f->welcome, err);
	case NARA__FRAME__KIND_SUBMIT:
		return frame_envelope(f->submit->envelope, lim, now, err,
		    "submit.envelope");
	case NARA__FRAME__KIND_DELIVER:
		if (f->deliver->envelope != NULL && f->deliver->attempt < 1)
			return nara_err_set(err, NR_BAD_VALUE, "deliver.attempt",
			    "attempt must be at least 1");
		return frame_envelope(f->deliver->envelope, lim, now, err,
		    "deliver.envelope");
	case NARA__FRAME__KIND_ACCEPTED:
		if (!is_empty(f->accepted->message_id) && validate_uuid(
		    f->accepted->message_id, err, "accepted.message_id") != 0)
			return -1;
		if (!is_empty(f->accepted->accepted_at))
			return validate_time(f->accepted->accepted_at, NULL, err,
			    "accepted.accepted_at");
		return 0;
	case NARA__FRAME__KIND_REJECTED:
		if (!is_empty(f->rejected->message_id) && validate_uuid(
		    f->rejected->message_id, err, "rejected.message_id") != 0)
			return -1;
		return require_code(f->rejected->code, err, "rejected.code");
	case NARA__FRAME__KIND_ACK:
		return require_uuid(f->ack->message_id, err, "ack.message_id");
	case NARA__FRAME__KIND_NACK:
		if (require_uuid(f->nack->message_id, err, "nack.message_id") != 0)
			return -1;
		return require_code(f->nack->code, err, "nack.code");
	case NARA__FRAME__KIND_RECEIPT:
		return frame_receipt(f->receipt, err);
	case NARA__FRAME__KIND_CREDIT:
		if (f->credit->credits < 1)
			return nara_err_set(err, NR_BAD_VALUE, "credit.credits",
			    "credits must be at least 1");
		return 0;
	default:
		return nara_err_set(err, NR_MALFORMED_FRAME, NULL,
		    "unknown frame kind %d", (int)f->kind_case);
	}
}
