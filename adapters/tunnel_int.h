/*
 * tunnel_int.h — what the tunnel's files (tunnel.c, tunnel_addr.c) share.
 */
#ifndef NARA_TUNNEL_INT_H
#define NARA_TUNNEL_INT_H

#include "tunnel.h"

/* One address of the broker list and the name its certificate must carry. */
struct broker_addr {
	char *host, *port, *name;
};

/* The comma-separated list into out[*n_out...] (out NULL: only checked);
 * at most TUNNEL_MAX_BROKERS. */
int tunnel_brokers_split(struct broker_addr *out, int *n_out,
    const char *list, const char *server_name, struct nara_err *err);
void tunnel_addr_free(struct broker_addr *a);

#endif
