/*
 * replay.c — runs a fuzz harness without libFuzzer: each argument is a file
 * or a directory of files, and every file is fed once to
 * LLVMFuzzerTestOneInput. Built with gcc against each harness so that
 * `make check` replays the seed corpora and every recorded crash input
 * without clang; a harness that finds a broken promise aborts, which fails
 * the run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_BYTES (64u << 20)

/* Read a whole file into a malloc'd buffer; -1 with a message on failure. */
static int
read_input(const char *path, uint8_t **buf, size_t *len)
{
	FILE *in = fopen(path, "rb");
	struct stat sb;
	size_t n;

	if (in == NULL || fstat(fileno(in), &sb) != 0 ||
	    (uint64_t)sb.st_size > REPLAY_MAX_BYTES) {
		fprintf(stderr, "replay: %s: %s\n", path,
		    in == NULL ? strerror(errno) : "cannot size or too large");
		if (in != NULL)
			fclose(in);
		return -1;
	}
	n = (size_t)sb.st_size;
	*buf = malloc(n ? n : 1);
	if (*buf == NULL || fread(*buf, 1, n, in) != n) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(*buf);
		fclose(in);
		return -1;
	}
	fclose(in);
	*len = n;
	return 0;
}

static int
replay_file(const char *path, int *count)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (read_input(path, &buf, &len) != 0)
		return -1;
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	(*count)++;
	return 0;
}

static int
replay_path(const char *path, int *count)
{
	struct stat sb;
	struct dirent *de;
	DIR *dir;
	char child[4096];
	int rc = 0;

	if (stat(path, &sb) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode))
		return replay_file(path, count);
	if ((dir = opendir(path)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (replay_path(child, count) != 0)
			rc = -1;
	}
	closedir(dir);
	return rc;
}

int
main(int argc, char **argv)
{
	int count = 0, rc = 0;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fprintf(argc < 2 ? stderr : stdout,
		    "usage: %s FILE-OR-DIR...\n"
		    "Feed every file once to the fuzz harness linked into this "
		    "program; exits non-zero if a file cannot be read, and aborts "
		    "when the harness finds a broken promise.\n", argv[0]);
		return argc < 2 ? 2 : 0;
	}
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) != 0)
			rc = 1;
	printf("replay: %d inputs replayed%s\n", count, rc ? " (with read errors)" : "");
	return rc;
}
