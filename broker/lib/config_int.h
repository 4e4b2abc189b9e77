/*
 * config_int.h — internals of nara.conf shared by config.c (key tables,
 * sections, loading) and config_lookup.c (the route table and the lookups
 * made per message). Nothing outside the config*.c files includes this
 * header.
 */
#ifndef NARA_CONFIG_INT_H
#define NARA_CONFIG_INT_H

#include "config.h"

struct conftab_parser;

/* Build cfg->routes from the nodes' addresses once every section is read;
 * an address served twice is reported through p at addr_line[node] (the
 * line of that node's addresses key). The table belongs to cfg and goes
 * with config_free(). 0, or -1 when out of memory. */
int config_build_routes(struct conftab_parser *p, struct config *cfg,
    const int *addr_line);

#endif
