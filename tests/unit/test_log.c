/*
 * test_log.c — log_limited: at most LOG_LIMIT_BURST lines about one subject
 * per LOG_LIMIT_SECONDS, and the next line written says how many were left
 * out; every call writes one line, whatever control characters its values
 * hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "log.h"

static FILE *out;
static int saved = -1;

/* stderr into a temporary file for the test. */
static void
capture(void)
{
	out = tmpfile();
	cr_assert_not_null(out);
	fflush(stderr);
	saved = dup(2);
	cr_assert(saved >= 0 && dup2(fileno(out), 2) == 2);
	log_init("test", LOG_LVL_INFO, false);
}

static void
release(void)
{
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fclose(out);
}

TestSuite(log_limited, .init = capture, .fini = release);
TestSuite(log_lines, .init = capture, .fini = release);

/* Lines of the captured output holding needle. */
static int
lines_with(const char *needle)
{
	char line[1200];
	int n = 0;

	fflush(stderr);
	rewind(out);
	while (fgets(line, sizeof(line), out) != NULL)
		n += strstr(line, needle) != NULL;
	return n;
}

Test(log_limited, burst_then_count_of_left_out_lines)
{
	struct log_ratelimit rl = { 0 };

	for (int i = 0; i < LOG_LIMIT_BURST + 15; i++)
		log_limited(&rl, LOG_LVL_WARNING, "frame %d from peer", i);
	cr_expect_eq(lines_with("from peer"), LOG_LIMIT_BURST);
	cr_expect_eq(rl.dropped, 15);
	/* The window has passed: the next line carries the count. */
	rl.start -= LOG_LIMIT_SECONDS;
	log_limited(&rl, LOG_LVL_WARNING, "frame again from peer");
	cr_expect_eq(lines_with("frame again from peer (15 similar lines "
	    "left out)"), 1);
	cr_expect_eq(rl.dropped, 0);
}

Test(log_limited, lines_below_the_level_do_not_count)
{
	struct log_ratelimit rl = { 0 };

	for (int i = 0; i < 100; i++)
		log_limited(&rl, LOG_LVL_DEBUG, "debug about peer");
	cr_expect_eq(lines_with("debug about peer"), 0);
	log_limited(&rl, LOG_LVL_WARNING, "warning about peer");
	cr_expect_eq(lines_with("warning about peer"), 1);
	cr_expect_eq(rl.dropped, 0);
}

Test(log_limited, subjects_are_limited_apart)
{
	struct log_ratelimit a = { 0 }, b = { 0 };

	for (int i = 0; i < 3 * LOG_LIMIT_BURST; i++) {
		log_limited(&a, LOG_LVL_INFO, "about peer a");
		log_limited(&b, LOG_LVL_INFO, "about peer b");
	}
	cr_expect_eq(lines_with("about peer a"), LOG_LIMIT_BURST);
	cr_expect_eq(lines_with("about peer b"), LOG_LIMIT_BURST);
}

/* A command name a peer sent with a newline: one line, the newline shown
 * as \n, no line of its own that reads as narad's. */
Test(log_lines, newline_in_a_value_cannot_start_a_line)
{
	log_info("control: refused %s: NR072", "x\ntest[1]: info: control: "
	    "retry requested by alice");
	cr_expect_eq(lines_with(""), 1);
	cr_expect_eq(lines_with("refused x\\ntest[1]: info: control: retry "
	    "requested by alice: NR072"), 1);
}

Test(log_lines, control_characters_escaped_text_kept)
{
	log_warn("a\rb\tc\x1b[2Jd\x7f" "e\x01" "f G\xc3\xb6teborg \\n");
	cr_expect_eq(lines_with(""), 1);
	cr_expect_eq(lines_with("a\\rb\\tc\\x1b[2Jd\\x7fe\\x01f G\xc3\xb6teborg "
	    "\\n"), 1);
}

/* A long value is cut, never an escape in the middle. */
Test(log_lines, long_text_cut_between_escapes)
{
	char text[2000], line[1200];
	size_t n;

	memset(text, '\n', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	log_error("%s", text);
	fflush(stderr);
	rewind(out);
	cr_assert_not_null(fgets(line, sizeof(line), out));
	n = strlen(line);
	cr_assert(n > 2 && line[n - 1] == '\n', "%s", line);
	cr_expect_eq(line[n - 2], 'n');
	cr_expect_eq(line[n - 3], '\\');
	cr_expect_eq(lines_with(""), 1);
}
