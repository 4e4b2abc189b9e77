/*
 * config_int.h — internals of nara.conf shared by config.c (key tables,
 * sections, loading), config_check.c (the checks of single values the
 * key tables point at) and config_lookup.c (the route table and the
 * lookups made per message). Nothing outside the config*.c files includes
 * this header.
 */
#ifndef NARA_CONFIG_INT_H
#define NARA_CONFIG_INT_H

#include "config.h"

struct conftab_parser;

/* The .check hooks of config.c's key tables (config_check.c): 0 when item
 * is a valid node address, rule pattern (an fnmatch glob over address
 * characters) or [ha] instance name; else -1 with the reason in why. */
int config_check_address(const char *item, char *why, size_t len);
int config_check_pattern(const char *item, char *why, size_t len);
int config_check_instance(const char *item, char *why, size_t len);
/* A node id or rule name: 1-CONFIG_NODE_ID_MAX letters, digits, '.', '_'
 * or '-'. */
bool config_id_ok(const char *s);
/* The .custom hook of a rule's types: the uint32_t mask at field gets a
 * bit per message type of value ("*" = all), added to it when append;
 * 0, or -1 with the reason in why (the field is then unchanged). */
int config_parse_types(void *field, const char *value, bool append,
    char *why, size_t len);

/* Build cfg->routes from the nodes' addresses once every section is read;
 * an address served twice is reported through p at addr_line[node] (the
 * line of that node's addresses key). The table belongs to cfg and goes
 * with config_free(). 0, or -1 when out of memory. */
int config_build_routes(struct conftab_parser *p, struct config *cfg,
    const int *addr_line);

#endif
