/*
 * test_pbjson.c — JSON <-> protobuf: canonical round trips of every example
 * in config/examples, every refusal with its exact path and text, base64 and
 * UTF-8 edge cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "nara.pb-c.h"
#include "pbjson.h"

#define ENV_DESC (&nara__envelope__descriptor)
#define FRAME_DESC (&nara__frame__descriptor)

static char *
read_example(const char *name, size_t *len)
{
	const char *top = getenv("NARA_TOP");
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/config/examples/%s", top ? top : ".", name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s (set NARA_TOP)", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_gt(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static ProtobufCMessage *
parse_ok(const ProtobufCMessageDescriptor *desc, const char *json)
{
	struct nara_err err = { 0 };
	ProtobufCMessage *m = pbjson_parse(desc, json, strlen(json), &err);

	cr_assert_not_null(m, "parse failed: %s: %s", err.path, err.text);
	return m;
}

/* Parse must fail with NR024 at path, with text. */
static void
parse_fails(const ProtobufCMessageDescriptor *desc, const char *json,
    const char *path, const char *text)
{
	struct nara_err err = { 0 };
	ProtobufCMessage *m = pbjson_parse(desc, json, strlen(json), &err);

	cr_assert_null(m, "parse of %s succeeded", json);
	cr_assert_eq(err.code, NR_BAD_JSON);
	cr_assert_str_eq(err.path, path);
	cr_assert_str_eq(err.text, text);
}

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len + 1);
	cr_assert_not_null(buf);
	protobuf_c_message_pack(m, buf);
	return buf;
}

/* JSON -> message -> bytes -> message -> JSON gives the same text. */
static void
check_json_roundtrip(const ProtobufCMessageDescriptor *desc, const char *json)
{
	ProtobufCMessage *m = parse_ok(desc, json), *back;
	size_t len;
	uint8_t *bin = pack(m, &len);
	char *out;

	back = protobuf_c_message_unpack(desc, NULL, len, bin);
	cr_assert_not_null(back);
	out = pbjson_print(back);
	cr_assert_not_null(out);
	cr_assert_str_eq(out, json);
	free(out);
	protobuf_c_message_free_unpacked(back, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	free(bin);
}

/* bytes -> JSON -> bytes gives the same bytes. */
static void
check_pb_roundtrip(const ProtobufCMessageDescriptor *desc, const char *json)
{
	ProtobufCMessage *m = parse_ok(desc, json), *again;
	size_t len, len2;
	uint8_t *bin = pack(m, &len), *bin2;
	ProtobufCMessage *dec = protobuf_c_message_unpack(desc, NULL, len, bin);
	char *text;

	cr_assert_not_null(dec);
	text = pbjson_print(dec);
	cr_assert_not_null(text);
	again = parse_ok(desc, text);
	bin2 = pack(again, &len2);
	cr_assert_eq(len2, len);
	cr_assert_eq(memcmp(bin, bin2, len), 0);
	free(bin2);
	protobuf_c_message_free_unpacked(again, NULL);
	free(text);
	protobuf_c_message_free_unpacked(dec, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	free(bin);
}

static void
check_example(const char *name, const ProtobufCMessageDescriptor *desc)
{
	size_t len;
	char *json = read_example(name, &len);

	cr_assert_eq(strlen(json), len, "%s contains a NUL byte", name);
	check_json_roundtrip(desc, json);
	check_pb_roundtrip(desc, json);
	free(json);
}

/* ---------------------------------------------------------------- examples */

Test(pbjson, example_referral) { check_example("referral.json", ENV_DESC); }
Test(pbjson, example_referral_response) { check_example("referral-response.json", ENV_DESC); }
Test(pbjson, example_consultation_deidentified) { check_example("consultation-request-deidentified.json", ENV_DESC); }
Test(pbjson, example_consultation_identified) { check_example("consultation-request-identified.json", ENV_DESC); }
Test(pbjson, example_consultation_response) { check_example("consultation-response.json", ENV_DESC); }
Test(pbjson, example_sip_invitation) { check_example("sip-invitation.json", ENV_DESC); }
Test(pbjson, example_sip_response) { check_example("sip-response.json", ENV_DESC); }
Test(pbjson, example_report_of_concern) { check_example("report-of-concern.json", ENV_DESC); }
Test(pbjson, example_frame_hello) { check_example("frames/hello.json", FRAME_DESC); }
Test(pbjson, example_frame_submit) { check_example("frames/submit.json", FRAME_DESC); }

Test(pbjson, example_values_reach_the_struct)
{
	size_t len;
	char *json = read_example("referral.json", &len);
	Nara__Envelope *e = (Nara__Envelope *)parse_ok(ENV_DESC, json);

	cr_assert_eq(e->type, NARA__MESSAGE_TYPE__REFERRAL);
	cr_assert_eq(e->priority, NARA__PRIORITY__PRIORITY_ROUTINE);
	cr_assert_eq(e->body_case, NARA__ENVELOPE__BODY_REFERRAL);
	cr_assert_str_eq(e->sender, "kommun:1480:elevhalsa");
	cr_assert_str_eq(e->author->role, "skolsköterska");
	cr_assert_eq(e->n_attachments, 1);
	cr_assert_eq(e->attachments[0]->sha256.len, 32);
	cr_assert_eq(e->referral->n_contacts, 3);
	cr_assert_str_eq(e->in_reply_to, "");
	cr_assert_not_null(e->child_participation);
	protobuf_c_message_free_unpacked(&e->base, NULL);
	free(json);
}

/* ---------------------------------------------------------------- refusals */

Test(pbjson, unknown_field_top)
{
	parse_fails(ENV_DESC, "{\"foo\": 1}", "envelope.foo", "unknown field \"foo\"");
}

Test(pbjson, unknown_field_nested)
{
	parse_fails(ENV_DESC, "{\"sender\": \"x\", \"author\": {\"id\": \"a\", \"rank\": \"b\"}}",
	    "envelope.author.rank", "unknown field \"rank\"");
}

Test(pbjson, wrong_type_string)
{
	parse_fails(ENV_DESC, "{\"sender\": 5}", "envelope.sender", "expected string");
}

Test(pbjson, wrong_type_object)
{
	parse_fails(ENV_DESC, "{\"author\": \"Anna\"}", "envelope.author", "expected object");
}

Test(pbjson, wrong_type_array)
{
	parse_fails(ENV_DESC, "{\"attachments\": {}}", "envelope.attachments", "expected array");
}

Test(pbjson, wrong_type_bool)
{
	parse_fails(ENV_DESC, "{\"report_of_concern\": {\"guardians_informed\": \"no\"}}",
	    "envelope.report_of_concern.guardians_informed", "expected boolean");
}

Test(pbjson, wrong_type_integer)
{
	parse_fails(FRAME_DESC, "{\"hello\": {\"protocol_version\": \"1\"}}",
	    "frame.hello.protocol_version", "expected integer");
	parse_fails(FRAME_DESC, "{\"hello\": {\"protocol_version\": 1.5}}",
	    "frame.hello.protocol_version", "expected integer");
}

Test(pbjson, wrong_type_enum)
{
	parse_fails(ENV_DESC, "{\"priority\": true}", "envelope.priority", "expected string");
}

Test(pbjson, unknown_enum_value)
{
	parse_fails(ENV_DESC, "{\"priority\": \"PRIO\"}", "envelope.priority",
	    "unknown enum value \"PRIO\" for nara.Priority");
	/* a value of another enum is not accepted either */
	parse_fails(ENV_DESC, "{\"type\": \"PRIORITY_URGENT\"}", "envelope.type",
	    "unknown enum value \"PRIORITY_URGENT\" for nara.MessageType");
}

Test(pbjson, bad_base64)
{
	static const char *const bad[] = { "abc", "ab!d", "a===", "QR==", "QUJ=QUJD",
	    " QUJD", "QUJD\\n", "QQ=A" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[128];

		snprintf(json, sizeof(json),
		    "{\"attachments\": [{\"file_name\": \"a\"}, {\"data\": \"%s\"}]}", bad[i]);
		parse_fails(ENV_DESC, json, "envelope.attachments[1].data", "invalid base64");
	}
}

Test(pbjson, bad_base64_type)
{
	parse_fails(ENV_DESC, "{\"attachments\": [{\"sha256\": [1, 2]}]}",
	    "envelope.attachments[0].sha256", "expected string");
}

Test(pbjson, two_oneof_members)
{
	parse_fails(ENV_DESC, "{\"referral\": {}, \"sip_response\": {\"answer\": \"SIP_ACCEPT\"}}",
	    "envelope.sip_response", "two members of one oneof: \"referral\" and \"sip_response\"");
	parse_fails(FRAME_DESC, "{\"hello\": {}, \"ack\": {}}",
	    "frame.ack", "two members of one oneof: \"hello\" and \"ack\"");
}

Test(pbjson, null_member_does_not_count_for_oneof)
{
	Nara__Envelope *e = (Nara__Envelope *)parse_ok(ENV_DESC,
	    "{\"referral\": null, \"sip_response\": {\"answer\": \"SIP_ACCEPT\"}}");

	cr_assert_eq(e->body_case, NARA__ENVELOPE__BODY_SIP_RESPONSE);
	cr_assert_eq(e->sip_response->answer, NARA__SIP_ANSWER__SIP_ACCEPT);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

Test(pbjson, uint32_overflow)
{
	parse_fails(FRAME_DESC, "{\"hello\": {\"credit_window\": 4294967296}}",
	    "frame.hello.credit_window", "value 4294967296 out of range for uint32");
	parse_fails(FRAME_DESC, "{\"credit\": {\"credits\": -1}}",
	    "frame.credit.credits", "value -1 out of range for uint32");
}

Test(pbjson, uint32_max_accepted)
{
	const char *json = "{\n  \"hello\": {\n    \"credit_window\": 4294967295\n  }\n}\n";
	Nara__Frame *f = (Nara__Frame *)parse_ok(FRAME_DESC, json);

	cr_assert_eq(f->hello->credit_window, 4294967295u);
	protobuf_c_message_free_unpacked(&f->base, NULL);
	check_json_roundtrip(FRAME_DESC, json);
}

Test(pbjson, uint64_beyond_json_numbers)
{
	const char *json =
	    "{\n  \"welcome\": {\n    \"max_message_bytes\": \"18446744073709551615\"\n  }\n}\n";
	Nara__Frame *f = (Nara__Frame *)parse_ok(FRAME_DESC, json);

	cr_assert_eq(f->welcome->max_message_bytes, UINT64_MAX);
	protobuf_c_message_free_unpacked(&f->base, NULL);
	check_json_roundtrip(FRAME_DESC, json);
	check_json_roundtrip(FRAME_DESC,
	    "{\n  \"welcome\": {\n    \"max_message_bytes\": 16777216\n  }\n}\n");
	parse_fails(FRAME_DESC, "{\"welcome\": {\"max_message_bytes\": \"-5\"}}",
	    "frame.welcome.max_message_bytes", "value \"-5\" out of range for uint64");
	parse_fails(FRAME_DESC, "{\"welcome\": {\"max_message_bytes\": \"12ab\"}}",
	    "frame.welcome.max_message_bytes", "expected integer");
}

Test(pbjson, nested_path_in_repeated_message)
{
	parse_fails(ENV_DESC,
	    "{\"sip_invitation\": {\"invited\": [{\"name\": \"A\"}, {\"name\": \"B\", \"role\": 5}]}}",
	    "envelope.sip_invitation.invited[1].role", "expected string");
}

Test(pbjson, nested_path_in_repeated_string)
{
	parse_fails(ENV_DESC, "{\"referral\": {\"contacts\": [\"a\", \"b\", 3]}}",
	    "envelope.referral.contacts[2]", "expected string");
	parse_fails(ENV_DESC, "{\"attachments\": [null]}", "envelope.attachments[0]",
	    "expected object");
}

Test(pbjson, non_object_top_level)
{
	parse_fails(ENV_DESC, "[]", "envelope", "expected object");
	parse_fails(ENV_DESC, "\"envelope\"", "envelope", "expected object");
	parse_fails(FRAME_DESC, "42", "frame", "expected object");
}

Test(pbjson, syntax_error_has_line_and_column)
{
	parse_fails(ENV_DESC, "{\n  \"sender\": \n}\n", "",
	    "line 3, column 1: unexpected token near '}'");
	parse_fails(ENV_DESC, "", "", "line 1, column 0: unexpected token near end of file");
}

Test(pbjson, duplicate_key_refused)
{
	parse_fails(ENV_DESC, "{\"sender\": \"a\", \"sender\": \"b\"}", "",
	    "line 1, column 24: duplicate object key near '\"sender\"'");
}

Test(pbjson, error_with_null_err_is_safe)
{
	cr_assert_null(pbjson_parse(ENV_DESC, "{\"x\": 1}", 8, NULL));
	cr_assert_null(pbjson_parse(ENV_DESC, "{", 1, NULL));
}

Test(pbjson, length_is_respected)
{
	/* only the first 2 bytes are the document */
	const char *json = "{}garbage";
	ProtobufCMessage *m = pbjson_parse(ENV_DESC, json, 2, NULL);

	cr_assert_not_null(m);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* ---------------------------------------------------------------- values */

Test(pbjson, bytes_lengths_zero_to_three)
{
	static const struct { const char *b64; size_t len; const char *bytes; } cases[] = {
		{ "", 0, "" }, { "QQ==", 1, "A" }, { "QUI=", 2, "AB" }, { "QUJD", 3, "ABC" },
		{ "QUJDRA==", 4, "ABCD" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[128];
		Nara__Envelope *e;

		snprintf(json, sizeof(json), "{\"attachments\": [{\"data\": \"%s\"}]}",
		    cases[i].b64);
		e = (Nara__Envelope *)parse_ok(ENV_DESC, json);
		cr_assert_eq(e->attachments[0]->data.len, cases[i].len);
		if (cases[i].len > 0)
			cr_assert_eq(memcmp(e->attachments[0]->data.data, cases[i].bytes,
			    cases[i].len), 0);
		protobuf_c_message_free_unpacked(&e->base, NULL);
		if (cases[i].len == 0)
			continue;
		snprintf(json, sizeof(json),
		    "{\n  \"attachments\": [\n    {\n      \"data\": \"%s\"\n    }\n  ]\n}\n",
		    cases[i].b64);
		check_json_roundtrip(ENV_DESC, json);
	}
}

Test(pbjson, empty_bytes_not_printed)
{
	ProtobufCMessage *m = parse_ok(ENV_DESC, "{\"attachments\": [{\"data\": \"\"}]}");
	char *out = pbjson_print(m);

	cr_assert_str_eq(out, "{\n  \"attachments\": [\n    {}\n  ]\n}\n");
	free(out);
	protobuf_c_message_free_unpacked(m, NULL);
}

Test(pbjson, all_byte_values_roundtrip)
{
	Nara__Attachment a = NARA__ATTACHMENT__INIT;
	uint8_t data[256];
	ProtobufCMessage *back;
	char *json;

	for (int i = 0; i < 256; i++)
		data[i] = (uint8_t)(255 - i);
	a.data.data = data;
	a.data.len = sizeof(data);
	json = pbjson_print(&a.base);
	cr_assert_not_null(json);
	back = parse_ok(&nara__attachment__descriptor, json);
	cr_assert_eq(((Nara__Attachment *)back)->data.len, 256);
	cr_assert_eq(memcmp(((Nara__Attachment *)back)->data.data, data, 256), 0);
	protobuf_c_message_free_unpacked(back, NULL);
	free(json);
}

Test(pbjson, unicode_strings)
{
	const char *json = "{\n  \"author\": {\n    \"name\": \"Åsa Öberg-Ämtö – 👧\",\n"
	    "    \"role\": \"skolsköterska\"\n  }\n}\n";
	Nara__Envelope *e = (Nara__Envelope *)parse_ok(ENV_DESC, json);

	cr_assert_str_eq(e->author->name, "Åsa Öberg-Ämtö – 👧");
	protobuf_c_message_free_unpacked(&e->base, NULL);
	check_json_roundtrip(ENV_DESC, json);
}

Test(pbjson, unicode_escapes_printed_as_utf8)
{
	ProtobufCMessage *m = parse_ok(ENV_DESC,
	    "{\"author\": {\"name\": \"\\u00c5sa \\ud83d\\udc67 \\\"q\\\"\"}}");
	char *out = pbjson_print(m);

	cr_assert_str_eq(out,
	    "{\n  \"author\": {\n    \"name\": \"Åsa 👧 \\\"q\\\"\"\n  }\n}\n");
	free(out);
	protobuf_c_message_free_unpacked(m, NULL);
}

Test(pbjson, invalid_utf8_from_binary_is_replaced)
{
	Nara__Author a = NARA__AUTHOR__INIT;
	char name[] = "A\xff" "B\xc3";
	char *out;

	a.name = name;
	out = pbjson_print(&a.base);
	cr_assert_not_null(out);
	cr_assert_str_eq(out, "{\n  \"name\": \"A\xef\xbf\xbd" "B\xef\xbf\xbd\"\n}\n");
	free(out);
}

Test(pbjson, nul_in_json_string_refused)
{
	struct nara_err err = { 0 };

	cr_assert_null(pbjson_parse(ENV_DESC, "{\"sender\": \"a\\u0000b\"}", 22, &err));
	cr_assert_eq(err.code, NR_BAD_JSON);
	cr_assert_str_eq(err.path, "");
	cr_assert(strncmp(err.text, "line 1, column", 14) == 0, "%s", err.text);
}

Test(pbjson, defaults_not_printed_and_order_by_number)
{
	ProtobufCMessage *m = parse_ok(ENV_DESC,
	    "{\"priority\": \"PRIORITY_UNSPECIFIED\", \"recipient\": \"r\", \"in_reply_to\": \"\","
	    " \"attachments\": [], \"sender\": \"s\", \"message_id\": \"m\", \"subject\": null}");
	char *out = pbjson_print(m);

	cr_assert_str_eq(out, "{\n  \"message_id\": \"m\",\n  \"sender\": \"s\",\n"
	    "  \"recipient\": \"r\"\n}\n");
	free(out);
	protobuf_c_message_free_unpacked(m, NULL);
}

Test(pbjson, empty_submessage_is_present)
{
	const char *json = "{\n  \"author\": {},\n  \"referral\": {}\n}\n";
	Nara__Envelope *e = (Nara__Envelope *)parse_ok(ENV_DESC, json);

	cr_assert_not_null(e->author);
	cr_assert_eq(e->body_case, NARA__ENVELOPE__BODY_REFERRAL);
	protobuf_c_message_free_unpacked(&e->base, NULL);
	check_json_roundtrip(ENV_DESC, json);
	check_json_roundtrip(ENV_DESC, "{}\n");
}

Test(pbjson, unnamed_enum_number_survives)
{
	const char *json = "{\n  \"type\": 99\n}\n";
	Nara__Envelope *e = (Nara__Envelope *)parse_ok(ENV_DESC, json);

	cr_assert_eq((int)e->type, 99);
	protobuf_c_message_free_unpacked(&e->base, NULL);
	check_json_roundtrip(ENV_DESC, json);
	parse_fails(ENV_DESC, "{\"type\": 4294967296}", "envelope.type",
	    "value 4294967296 out of range for nara.MessageType");
}

Test(pbjson, bool_and_enum_values)
{
	const char *json = "{\n  \"report_of_concern\": {\n    \"urgency\": \"URGENCY_URGENT\",\n"
	    "    \"guardians_informed\": true\n  }\n}\n";
	Nara__Envelope *e = (Nara__Envelope *)parse_ok(ENV_DESC, json);

	cr_assert_eq(e->report_of_concern->urgency, NARA__URGENCY__URGENCY_URGENT);
	cr_assert_eq(e->report_of_concern->guardians_informed, 1);
	protobuf_c_message_free_unpacked(&e->base, NULL);
	check_json_roundtrip(ENV_DESC, json);
}

Test(pbjson, error_late_in_document_frees_everything)
{
	/* built-up strings, arrays and sub-messages before the error must all
	 * be released (checked by the sanitizer build) */
	parse_fails(ENV_DESC,
	    "{\"sender\": \"s\", \"author\": {\"name\": \"n\"}, \"attachments\": "
	    "[{\"data\": \"QUJD\", \"file_name\": \"f\"}, {\"data\": \"QQ==\"}],"
	    " \"sip_invitation\": {\"proposed_times\": [\"a\", \"b\"], \"invited\": "
	    "[{\"name\": \"x\"}]}, \"expires\": 7}",
	    "envelope.expires", "expected string");
}
