/*
 * config_lookup.c — the lookups the broker makes per message: node by id
 * or certificate identity, the route table (address -> node, built once
 * at load and searched with bsearch), and the policy check over the rules.
 *
 * Only this file knows the layout of the route table; config.c calls
 * config_build_routes() once the sections are read.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "conftab.h"

/* address -> node, sorted by address for bsearch. */
struct config_route {
	const char *address;        /* borrowed from the node */
	size_t node;
};

/* ---------------------------------------------------------------- route table */

static int
route_order(const void *a, const void *b)
{
	const struct config_route *x = a, *y = b;
	int c = strcmp(x->address, y->address);

	if (c != 0)
		return c;
	return x->node < y->node ? -1 : x->node > y->node;
}

/* The route table (see config_int.h); an address served twice is
 * reported at the second node's addresses line, naming the first. */
int
config_build_routes(struct conftab_parser *p, struct config *cfg,
    const int *addr_line)
{
	size_t n = 0;
	char label[CONFIG_NODE_ID_MAX + 16];

	for (size_t i = 0; i < cfg->n_nodes; i++)
		n += cfg->nodes[i].n_addresses;
	if ((cfg->routes = calloc(n + 1, sizeof(*cfg->routes))) == NULL)
		return -1;
	for (size_t i = 0; i < cfg->n_nodes; i++)
		for (size_t j = 0; j < cfg->nodes[i].n_addresses; j++)
			cfg->routes[cfg->n_routes++] = (struct config_route) {
				cfg->nodes[i].addresses[j], i };
	qsort(cfg->routes, cfg->n_routes, sizeof(*cfg->routes), route_order);
	for (size_t r = 1; r < cfg->n_routes; r++) {
		const struct config_route *first = &cfg->routes[r - 1];
		const struct config_route *again = &cfg->routes[r];

		if (strcmp(first->address, again->address) != 0)
			continue;
		snprintf(label, sizeof(label), "[node %s]", cfg->nodes[again->node].id);
		if (first->node == again->node)
			conftab_report(p, addr_line[again->node], label,
			    "addresses", "%s is listed twice", again->address);
		else
			conftab_report(p, addr_line[again->node], label,
			    "addresses", "%s is already served by node %s (line %d)",
			    again->address, cfg->nodes[first->node].id,
			    addr_line[first->node]);
	}
	return 0;
}

/* ---------------------------------------------------------------- lookups */

/* Node by its id; nodes are few, a scan is enough. */
const struct config_node *
config_node_find(const struct config *cfg, const char *id)
{
	for (size_t i = 0; cfg != NULL && id != NULL && i < cfg->n_nodes; i++)
		if (strcmp(cfg->nodes[i].id, id) == 0)
			return &cfg->nodes[i];
	return NULL;
}

/* Node whose certificate carries identity (unique, checked at load). */
const struct config_node *
config_node_by_identity(const struct config *cfg, const char *identity)
{
	for (size_t i = 0; cfg != NULL && identity != NULL && i < cfg->n_nodes; i++)
		if (strcmp(cfg->nodes[i].identity, identity) == 0)
			return &cfg->nodes[i];
	return NULL;
}

static int
route_find(const void *key, const void *elem)
{
	return strcmp(key, ((const struct config_route *)elem)->address);
}

/* The node an address is delivered to; per message, hence bsearch. */
const struct config_node *
config_route(const struct config *cfg, const char *address)
{
	const struct config_route *r;

	if (cfg == NULL || address == NULL || cfg->n_routes == 0)
		return NULL;
	r = bsearch(address, cfg->routes, cfg->n_routes, sizeof(*r), route_find);
	return r ? &cfg->nodes[r->node] : NULL;
}

/* Whether node may send as address (the NR030 check). */
bool
config_node_serves(const struct config_node *node, const char *address)
{
	for (size_t i = 0; node != NULL && address != NULL &&
	    i < node->n_addresses; i++)
		if (strcmp(node->addresses[i], address) == 0)
			return true;
	return false;
}

static bool
any_match(char *const *patterns, size_t n, const char *address)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(patterns[i], address, 0) == 0)
			return true;
	return false;
}

/* Default deny: some rule in force must allow, and no deny rule in force
 * may match. Dates are whole UTC days (close_rule). */
enum nara_code
config_authorize(const struct config *cfg, const char *sender,
    const char *recipient, Nara__MessageType type, int64_t now)
{
	bool allowed = false;

	if (cfg == NULL || sender == NULL || recipient == NULL ||
	    (int)type <= 0 || (int)type >= 32)
		return NR_POLICY_DENIED;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];

		if (!(r->types & (1u << type)) ||
		    now < r->valid_from || now > r->valid_until ||
		    !any_match(r->senders, r->n_senders, sender) ||
		    !any_match(r->recipients, r->n_recipients, recipient))
			continue;
		if (r->deny)
			return NR_POLICY_DENIED;
		allowed = true;
	}
	return allowed ? NR_OK : NR_POLICY_DENIED;
}
