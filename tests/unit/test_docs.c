/*
 * test_docs.c — docs/PROTOCOL.md's error catalogue table must list every
 * code of errors.c with the same text and retry flag, and nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "errors.h"

static FILE *
open_protocol_doc(void)
{
	const char *top = getenv("NARA_TOP");
	char path[512];

	snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", top ? top : ".");
	return fopen(path, "r");
}

Test(docs, catalogue_table_matches_code)
{
	size_t n;
	const struct nara_code_info *tab = nara_code_table(&n);
	bool seen[NR_CODE_COUNT] = { false };
	char line[512], id[16], text[256], retry[16];
	int rows = 0;
	FILE *f = open_protocol_doc();

	cr_assert(f != NULL, "docs/PROTOCOL.md not found (set NARA_TOP)");
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "| %15[NR0-9] | %255[^|]| %15[a-z] |", id, text,
		    retry) != 3 || strlen(id) != 5)
			continue;
		text[strcspn(text, "|")] = '\0';
		size_t tl = strlen(text);
		while (tl > 0 && text[tl - 1] == ' ')
			text[--tl] = '\0';
		enum nara_code code;
		cr_assert_eq(nara_code_parse(id, &code), 0,
		    "PROTOCOL.md lists %s, which the code does not know", id);
		cr_expect_str_eq(text, tab[code].text, "%s text differs", id);
		cr_expect_eq(strcmp(retry, "yes") == 0, tab[code].retryable,
		    "%s retry flag differs", id);
		cr_expect(!seen[code], "%s listed twice", id);
		seen[code] = true;
		rows++;
	}
	fclose(f);
	for (size_t i = 1; i < n; i++)
		cr_expect(seen[i], "%s missing from PROTOCOL.md", tab[i].id);
	cr_expect_eq(rows, (int)n - 1);
}
