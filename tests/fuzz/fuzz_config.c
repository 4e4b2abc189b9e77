/*
 * fuzz_config.c — libFuzzer entry point for nara.conf loading: the inih
 * line reader, the table-driven key engine (conftab) and config.c's
 * section and cross-section checks, through both entry points (a memory
 * stream read like a file, and a NUL-terminated string).
 *
 * Checks beyond memory safety: a refused file always has at least one
 * "name:line: text" message and an accepted one none; both entry points
 * agree on the verdict when the input holds no NUL byte; an accepted
 * config answers lookups for its own nodes and addresses.
 * Seeds are in tests/fuzz/corpus/config/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What an accepted config promises about itself. */
static void
check_config(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_nodes; i++) {
		const struct config_node *n = &cfg->nodes[i];

		if (config_node_find(cfg, n->id) != n)
			abort();
		for (size_t a = 0; a < n->n_addresses; a++)
			if (config_route(cfg, n->addresses[a]) != n ||
			    !config_node_serves(n, n->addresses[a]))
				abort();
	}
	for (size_t i = 0; i < cfg->n_rules; i++)
		if (cfg->rules[i].name == NULL)
			abort();
}

static void
check_diag(const struct config *cfg, const struct config_diag *diag)
{
	if (cfg == NULL && diag->n == 0)
		abort();
	if (cfg != NULL && diag->n != 0)
		abort();
	for (size_t i = 0; i < diag->n; i++)
		if (strncmp(diag->msgs[i], "fuzz.conf:", 10) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_diag d1 = { 0 }, d2 = { 0 };
	struct config *c1, *c2;
	char *text;

	if (size > 256 * 1024)
		return 0;
	c1 = config_load_buffer(data, size, "fuzz.conf", &d1);
	check_diag(c1, &d1);
	if (c1 != NULL)
		check_config(c1);
	if (memchr(data, '\0', size) == NULL) {
		if ((text = malloc(size + 1)) == NULL)
			abort();
		memcpy(text, data, size);
		text[size] = '\0';
		c2 = config_parse_string(text, "fuzz.conf", &d2);
		check_diag(c2, &d2);
		if ((c1 == NULL) != (c2 == NULL))
			abort();
		config_free(&c2);
		free(text);
	}
	config_free(&c1);
	config_diag_free(&d2);
	config_diag_free(&d1);
	return 0;
}
