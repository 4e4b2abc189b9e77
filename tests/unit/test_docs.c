/*
 * test_docs.c — docs/PROTOCOL.md's error catalogue table must list every
 * code of errors.c with the same text and retry flag, and nothing else;
 * docs/ARCHITECTURE.md's source table must name every source file.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "errors.h"

static const char *
top_dir(void)
{
	const char *top = getenv("NARA_TOP");

	return top ? top : ".";
}

static FILE *
open_protocol_doc(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", top_dir());
	return fopen(path, "r");
}

/* The whole of a file under the top directory, NUL-terminated; caller frees. */
static char *
slurp(const char *rel)
{
	char path[512];
	FILE *f;
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	snprintf(path, sizeof(path), "%s/%s", top_dir(), rel);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			cr_assert(buf != NULL);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/*
 * Walks rel (a folder under the top directory) and checks that every .c
 * and .h file in it appears in doc as `path`. Returns the files seen.
 */
static int
expect_sources_named(const char *doc, const char *rel)
{
	char path[512], needle[600];
	struct dirent *e;
	DIR *d;
	int seen = 0;

	snprintf(path, sizeof(path), "%s/%s", top_dir(), rel);
	d = opendir(path);
	cr_assert(d != NULL, "cannot open %s", path);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		char sub[512];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", rel, e->d_name);
		if (e->d_type == DT_DIR) {
			seen += expect_sources_named(doc, sub);
			continue;
		}
		if (l < 3 || e->d_name[l - 2] != '.' ||
		    (e->d_name[l - 1] != 'c' && e->d_name[l - 1] != 'h'))
			continue;
		snprintf(needle, sizeof(needle), "`%s`", sub);
		cr_expect(strstr(doc, needle) != NULL,
		    "docs/ARCHITECTURE.md does not name %s in its source table", sub);
		seen++;
	}
	closedir(d);
	return seen;
}

Test(docs, architecture_names_every_source_file)
{
	char *doc = slurp("docs/ARCHITECTURE.md");
	int seen;

	cr_assert(doc != NULL, "docs/ARCHITECTURE.md not found (set NARA_TOP)");
	seen = expect_sources_named(doc, "broker") +
	    expect_sources_named(doc, "adapters");
	cr_expect_gt(seen, 50, "only %d source files found", seen);
	free(doc);
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
