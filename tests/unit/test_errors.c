/*
 * test_errors.c — the error catalogue: every code has one unique "NRnnn"
 * id that parses back to it, exactly the broker-state and I/O codes are
 * retryable, and the nara_err helpers fill, clear and format as documented.
 * (test_docs.c checks the catalogue against docs/PROTOCOL.md.)
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "errors.h"

Test(catalogue, rows_are_indexed_by_code)
{
	size_t n = 0;
	const struct nara_code_info *tab = nara_code_table(&n);

	cr_assert_eq(n, NR_CODE_COUNT);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(tab[i].code, (enum nara_code)i, "row %zu", i);
		cr_expect_eq(nara_code_info((enum nara_code)i), &tab[i]);
	}
}

Test(catalogue, ids_have_the_form_nrnnn)
{
	size_t n = 0;
	const struct nara_code_info *tab = nara_code_table(&n);

	for (size_t i = 0; i < n; i++) {
		const char *id = tab[i].id;

		cr_assert_not_null(id, "row %zu", i);
		cr_expect_eq(strlen(id), 5, "%s", id);
		cr_expect(strncmp(id, "NR", 2) == 0 && id[2] >= '0' && id[2] <= '9' &&
		    id[3] >= '0' && id[3] <= '9' && id[4] >= '0' && id[4] <= '9',
		    "%s", id);
	}
	cr_expect_str_eq(nara_code_id(NR_OK), "NR000");
	cr_expect_str_eq(nara_code_id(NR_MALFORMED_FRAME), "NR001");
	cr_expect_str_eq(nara_code_id(NR_MISSING_FIELD), "NR010");
	cr_expect_str_eq(nara_code_id(NR_BAD_JSON), "NR024");
	cr_expect_str_eq(nara_code_id(NR_POLICY_DENIED), "NR031");
	cr_expect_str_eq(nara_code_id(NR_LOCAL_SYSTEM_REFUSED), "NR052");
	cr_expect_str_eq(nara_code_id(NR_USAGE), "NR072");
}

Test(catalogue, ids_are_unique_and_ascending)
{
	size_t n = 0;
	const struct nara_code_info *tab = nara_code_table(&n);

	for (size_t i = 1; i < n; i++)
		cr_expect_gt(strcmp(tab[i].id, tab[i - 1].id), 0, "%s after %s",
		    tab[i].id, tab[i - 1].id);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			cr_expect_str_neq(tab[i].id, tab[j].id);
}

Test(catalogue, every_code_has_a_text)
{
	size_t n = 0;
	const struct nara_code_info *tab = nara_code_table(&n);

	for (size_t i = 0; i < n; i++) {
		cr_assert_not_null(tab[i].text, "%s", tab[i].id);
		cr_expect_gt(strlen(tab[i].text), 1, "%s", tab[i].id);
		cr_expect_null(strchr(tab[i].text, '|'), "%s", tab[i].id);
	}
}

Test(catalogue, parse_round_trip)
{
	size_t n = 0;
	const struct nara_code_info *tab = nara_code_table(&n);

	for (size_t i = 0; i < n; i++) {
		enum nara_code code = NR_CODE_COUNT;

		cr_assert_eq(nara_code_parse(tab[i].id, &code), 0, "%s", tab[i].id);
		cr_expect_eq(code, (enum nara_code)i, "%s", tab[i].id);
	}
}

Test(catalogue, parse_refuses_unknown_ids)
{
	static const char *const bad[] = {
		"NR999", "NR03", "NR0311", "nr031", "", " NR031", "NR031 ", "31",
	};
	enum nara_code code = NR_POLICY_DENIED;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(nara_code_parse(bad[i], &code), -1, "\"%s\"", bad[i]);
	cr_expect_eq(nara_code_parse(NULL, &code), -1);
	cr_expect_eq(code, NR_POLICY_DENIED);
}

Test(catalogue, retryable_exactly_store_broker_and_io)
{
	size_t n = 0;
	const struct nara_code_info *tab = nara_code_table(&n);

	for (size_t i = 0; i < n; i++) {
		bool want = i == NR_STORE_FULL || i == NR_STORE_FAILED ||
		    i == NR_UNAVAILABLE || i == NR_IO;

		cr_expect_eq(tab[i].retryable, want, "%s", tab[i].id);
		cr_expect_eq(nara_code_retryable((enum nara_code)i), want, "%s",
		    tab[i].id);
	}
	cr_expect_str_eq(nara_code_id(NR_STORE_FULL), "NR040");
	cr_expect_str_eq(nara_code_id(NR_STORE_FAILED), "NR041");
	cr_expect_str_eq(nara_code_id(NR_UNAVAILABLE), "NR042");
	cr_expect_str_eq(nara_code_id(NR_IO), "NR071");
}

Test(catalogue, unknown_code_maps_to_ok_row)
{
	cr_expect_str_eq(nara_code_info(NR_CODE_COUNT)->id, "NR000");
	cr_expect_str_eq(nara_code_info((enum nara_code)-1)->id, "NR000");
	cr_expect_str_eq(nara_code_id((enum nara_code)1000), "NR000");
	cr_expect_eq(nara_code_retryable((enum nara_code)1000), false);
}

Test(err, set_fills_code_path_and_text)
{
	struct nara_err err = { 0 };

	cr_expect_eq(nara_err_set(&err, NR_BAD_ADDRESS, "envelope.sender",
	    "\"%s\" is not a nara address", "kommun:x"), -1);
	cr_expect_eq(err.code, NR_BAD_ADDRESS);
	cr_expect_str_eq(err.path, "envelope.sender");
	cr_expect_str_eq(err.text, "\"kommun:x\" is not a nara address");
}

Test(err, set_without_err_or_path)
{
	struct nara_err err = { 0 };

	cr_expect_eq(nara_err_set(NULL, NR_IO, "x", "ignored"), -1);
	strcpy(err.path, "stale");
	cr_expect_eq(nara_err_set(&err, NR_NO_HELLO, NULL, "send hello first"), -1);
	cr_expect_str_eq(err.path, "");
	cr_expect_eq(err.code, NR_NO_HELLO);
}

Test(err, long_path_and_text_truncated)
{
	struct nara_err err = { 0 };
	char path[300], text[600];

	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	memset(text, 't', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	nara_err_set(&err, NR_TOO_LARGE, path, "%s", text);
	cr_expect_eq(strlen(err.path), sizeof(err.path) - 1);
	cr_expect_eq(strlen(err.text), sizeof(err.text) - 1);
}

Test(err, clear_resets_everything)
{
	struct nara_err err = { 0 };

	nara_err_set(&err, NR_STORE_FAILED, "store", "disk I/O error");
	nara_err_clear(&err);
	cr_expect_eq(err.code, NR_OK);
	cr_expect_str_eq(err.path, "");
	cr_expect_str_eq(err.text, "");
	nara_err_clear(NULL);
}

Test(err, format_with_and_without_path)
{
	struct nara_err err = { 0 };
	char buf[512], small[10];

	nara_err_set(&err, NR_BAD_ADDRESS, "envelope.sender", "not a nara address");
	cr_expect_str_eq(nara_err_format(&err, buf, sizeof(buf)),
	    "NR012 envelope.sender: not a nara address");
	nara_err_set(&err, NR_UNAVAILABLE, NULL, "shutting down");
	cr_expect_str_eq(nara_err_format(&err, buf, sizeof(buf)),
	    "NR042 shutting down");
	cr_expect_str_eq(nara_err_format(&err, small, sizeof(small)), "NR042 shu");
}
