/*
 * test_log.c — log_limited: at most LOG_LIMIT_BURST lines about one subject
 * per LOG_LIMIT_SECONDS, and the next line written says how many were left
 * out.
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
