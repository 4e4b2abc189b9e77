/*
 * test_control_manpages.c — the operators' manual pages stay true:
 * nara.conf(5) documents every key of config.c's tables, in the right
 * section, with the default the code uses, and nothing else; and every page
 * formats without a groff warning.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config.h"

static __attribute__((noinline)) char *
read_doc(const char *rel)
{
	const char *top = getenv("NARA_TOP");
	char path[512], *text = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", top ? top : ".", rel);
	f = fopen(path, "r");
	cr_assert(f != NULL, "%s not found (set NARA_TOP)", path);
	cr_assert(getdelim(&text, &len, '\0', f) > 0);
	fclose(f);
	return text;
}

/* The page's part for one section: from its .SS heading to the next
 * .SS or .SH (a new string). */
static __attribute__((noinline)) char *
page_section(const char *page, const char *section)
{
	char head[64];
	const char *found, *a, *b;
	size_t start, end;

	snprintf(head, sizeof(head), "\n.SS \"%s\"\n", section);
	found = strstr(page, head);
	cr_assert(found != NULL, "nara.conf.5 has no section %s", section);
	start = (size_t)(found - page) + strlen(head);
	a = strstr(page + start, "\n.SS");
	b = strstr(page + start, "\n.SH");
	if (a != NULL && (b == NULL || a < b))
		end = (size_t)(a - page);
	else if (b != NULL)
		end = (size_t)(b - page);
	else
		end = strlen(page);
	return strndup(page + start, end - start);
}

/* One key line of config_print_keys: name, type and default. */
static void
check_key(const char *seg, const char *section, const char *line)
{
	char name[64], type[32], def[128], want[256];
	const char *at, *next;

	cr_assert_eq(sscanf(line, " %63s %31s %127s", name, type, def), 3,
	    "unparsed key line: %s", line);
	snprintf(want, sizeof(want), "\n.B %s\n", name);
	at = strstr(seg, want);
	if (at == NULL && strncmp(seg, want + 1, strlen(want) - 1) == 0)
		at = seg - 1;
	cr_assert(at != NULL, "nara.conf.5 does not document %s %s", section,
	    name);
	at += strlen(want);
	next = strchr(at, '\n');
	cr_assert(next != NULL);
	if (strcmp(def, "(required)") == 0)
		snprintf(want, sizeof(want), "%s, (required)", type);
	else
		snprintf(want, sizeof(want), "%s, default \\fB%s\\fR", type, def);
	cr_expect(strncmp(at, want, strlen(want)) == 0,
	    "%s %s: page says \"%.*s\", code says \"%s\"", section, name,
	    (int)(next - at), at, want);
}

static int
count_keys(const char *seg)
{
	int n = 0;

	for (const char *p = seg; (p = strstr(p, ".TP\n.B ")) != NULL; p++)
		n++;
	return n;
}

Test(manpages, nara_conf_documents_every_key)
{
	char *table = NULL, *page = read_doc("docs/man/nara.conf.5");
	char *seg = NULL, section[64] = "";
	size_t len = 0;
	int keys = 0, sections = 0;
	FILE *f = open_memstream(&table, &len);

	config_print_keys(f);
	fclose(f);
	for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '[') {
			if (seg != NULL)
				cr_expect_eq(count_keys(seg), keys, "%s: the page "
				    "documents %d keys, the code has %d", section,
				    count_keys(seg), keys);
			free(seg);
			snprintf(section, sizeof(section), "%.*s",
			    (int)(strchr(line, ']') - line + 1), line);
			seg = page_section(page, section);
			keys = 0;
			sections++;
		} else if (line[0] == ' ' && seg != NULL) {
			check_key(seg, section, line);
			keys++;
		}
	}
	cr_assert(seg != NULL);
	cr_expect_eq(count_keys(seg), keys, "%s: the page documents %d keys, "
	    "the code has %d", section, count_keys(seg), keys);
	cr_expect_eq(sections, 6);   /* broker, tls, store, ha, node, rule */
	free(seg);
	free(table);
	free(page);
}

/* Every page under docs/man, so a new page is checked without being listed. */
Test(manpages, pages_format_without_warnings)
{
	const char *top = getenv("NARA_TOP");
	char dir[1024], cmd[2048], out[4096];
	struct dirent *de;
	int pages = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/docs/man", top ? top : ".");
	cr_assert((d = opendir(dir)) != NULL, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		const char *dot = strrchr(de->d_name, '.');

		if (de->d_name[0] == '.' || dot == NULL || dot[1] < '1' ||
		    dot[1] > '8' || dot[2] != '\0')
			continue;
		snprintf(cmd, sizeof(cmd), "groff -man -Tutf8 -ww -z "
		    "'%s/%s' 2>&1", dir, de->d_name);
		FILE *p = popen(cmd, "r");
		cr_assert(p != NULL);
		size_t n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		int rc = pclose(p);
		cr_expect_eq(rc, 0, "%s: groff failed (is groff-base installed?)",
		    de->d_name);
		cr_expect_eq(n, 0, "%s: %s", de->d_name, out);
		pages++;
	}
	closedir(d);
	/* narad.8 naractl.8 nara-adapter.8 nara-msg.1 nara-pki.1 nara-audit.1
	 * nara.conf.5 at least. */
	cr_expect_geq(pages, 7, "only %d man pages found in %s", pages, dir);
}
