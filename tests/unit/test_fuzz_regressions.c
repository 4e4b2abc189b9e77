/*
 * test_fuzz_regressions.c — each input the fuzzers (tests/fuzz/) found
 * breaking a promise, read from tests/fuzz/regressions/ and fed to the
 * module that was fixed, with the exact outcome it must now have; and the
 * config fuzzer's entry point, config_load_buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config.h"
#include "pbstr.h"
#include "validate.h"

/* Whole file under $NARA_TOP/tests/fuzz/regressions/, malloc'd. */
static uint8_t *
regression_read(const char *name, size_t *len)
{
	const char *top = getenv("NARA_TOP");
	char path[1024];
	uint8_t *buf;
	long n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fuzz/regressions/%s",
	    top ? top : ".", name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s not found (set NARA_TOP)", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_geq(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* A hello whose software string is not UTF-8 ("n\xe1ra-adapter") used to
 * pass validate_frame: only envelope strings were checked, so the bytes
 * could reach logs, the audit and other nodes. Now NR019 with the path. */
Test(fuzz_regressions, hello_software_not_utf8)
{
	struct validate_limits lim;
	struct nara_err err = { 0 };
	size_t len;
	uint8_t *buf = regression_read("frame/hello-software-not-utf8.bin", &len);
	Nara__Frame *f = frame_decode(buf, len, 1u << 20, &err);

	cr_assert_not_null(f, "%s", err.text);
	cr_assert_eq(f->kind_case, NARA__FRAME__KIND_HELLO);
	cr_assert_not_null(strstr(f->hello->software, "\xe1ra-adapter"));
	validate_limits_default(&lim);
	cr_assert_eq(validate_frame(f, &lim, 0, &err), -1);
	cr_expect_eq(err.code, NR_BAD_VALUE, "got %s", nara_code_id(err.code));
	cr_expect_str_eq(err.path, "hello.software");
	cr_expect_str_eq(err.text, "text is not valid UTF-8");
	/* The same hello with a clean string passes, so the refusal is about
	 * the bytes and nothing else. */
	char *bad = f->hello->software;
	f->hello->software = pb_str("nara-adapter 0.1.0");
	cr_expect_eq(validate_frame(f, &lim, 0, &err), 0, "%s", err.text);
	f->hello->software = bad;
	frame_free(&f);
	free(buf);
}

/* Strings of the other frame kinds follow the same rule (nack text goes
 * into the sender's receipt). */
Test(fuzz_regressions, nack_text_not_utf8)
{
	Nara__Frame f = NARA__FRAME__INIT;
	Nara__Nack nack = NARA__NACK__INIT;
	struct nara_err err = { 0 };
	char text[] = "ok \xc3\x28 broken";

	nack.message_id = pb_str("9d0b5c63-f1e8-4a27-b6d4-08a2e7c91f35");
	nack.code = pb_str("NR050");
	nack.text = text;
	f.kind_case = NARA__FRAME__KIND_NACK;
	f.nack = &nack;
	cr_assert_eq(validate_frame(&f, NULL, 0, &err), -1);
	cr_expect_eq(err.code, NR_BAD_VALUE);
	cr_expect_str_eq(err.path, "nack.text");
}

/* protobuf-c read the non-minimal tag 80 00 as an unknown field number 0
 * and kept it; re-encoded (00) it no longer decodes. A submit carrying one
 * inside its envelope passed validation, and narad stores the re-encoded
 * envelope: a message nobody could ever decode. Now NR001 at decode. */
static void
expect_field_zero_refused(const char *name)
{
	struct nara_err err = { 0 };
	size_t len;
	uint8_t *buf = regression_read(name, &len);
	Nara__Frame *f = frame_decode(buf, len, 1u << 20, &err);

	cr_expect_null(f, "%s decoded", name);
	cr_expect_eq(err.code, NR_MALFORMED_FRAME, "got %s", nara_code_id(err.code));
	cr_expect_not_null(strstr(err.text, "field number 0"), "%s", err.text);
	frame_free(&f);
	free(buf);
}

Test(fuzz_regressions, credit_field_number_0)
{
	expect_field_zero_refused("frame/credit-field-number-0.bin");
}

Test(fuzz_regressions, envelope_field_number_0)
{
	expect_field_zero_refused("frame/envelope-field-number-0.bin");
}

/* Unknown fields with a valid number still pass (a newer peer may send
 * them) and survive a re-encoding. */
Test(fuzz_regressions, unknown_field_kept)
{
	static const uint8_t hello[] = { 0x0a, 0x11, 0x0a, 0x0b, 'k', 'o', 'm',
		'm', 'u', 'n', '-', '1', '4', '8', '0', 0x10, 0x01, 0x78, 0x01 };
	struct nara_err err = { 0 };
	Nara__Frame *f = frame_decode(hello, sizeof(hello), 1u << 20, &err), *g;
	uint8_t *enc;
	size_t len = 0;

	cr_assert_not_null(f, "%s", err.text);
	cr_expect_eq(f->base.n_unknown_fields, 0);
	cr_assert_eq(f->kind_case, NARA__FRAME__KIND_HELLO);
	cr_expect_eq(f->hello->base.n_unknown_fields, 1);
	enc = frame_encode(f, &len);
	cr_assert_not_null(enc);
	g = frame_decode(enc, len, 1u << 20, &err);
	cr_expect_not_null(g, "re-encoded frame refused: %s", err.text);
	frame_free(&g);
	frame_free(&f);
	free(enc);
}

/* config_load_buffer, the entry point of the config fuzzer: it reads a
 * buffer exactly like a file, so a NUL byte is a reported problem (with
 * its line), not the end of the text. */
Test(fuzz_regressions, config_buffer_reads_like_a_file)
{
	static const char bad[] = "[node a]\nname = A\0B\n"
	    "addresses = kommun:1480:elevhalsa\n";
	static const char good[] = "[node a]\nname = A\n"
	    "addresses = kommun:1480:elevhalsa\n";
	struct config_diag diag = { 0 };
	struct config *cfg;

	cfg = config_load_buffer(bad, sizeof(bad) - 1, "mem.conf", &diag);
	cr_expect_null(cfg);
	cr_assert_eq(diag.n, 2, "got %zu messages", diag.n);
	cr_expect_str_eq(diag.msgs[0], "mem.conf:1: [node a] name: missing "
	    "required key");
	cr_expect_str_eq(diag.msgs[1], "mem.conf:2: line contains a NUL byte");
	config_diag_free(&diag);
	cfg = config_load_buffer(good, sizeof(good) - 1, "mem.conf", &diag);
	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_eq(diag.n, 0);
	cr_expect_str_eq(cfg->nodes[0].name, "A");
	cr_expect_eq(config_route(cfg, "kommun:1480:elevhalsa"), &cfg->nodes[0]);
	config_free(&cfg);
}
