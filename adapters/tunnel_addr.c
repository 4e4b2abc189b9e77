/*
 * tunnel_addr.c — the tunnel's list of broker addresses ("host:port" or
 * "[v6]:port", comma-separated) and the name each certificate must carry.
 */
#include "tunnel_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One "host:port" or "[v6]:port" of the list (len bytes at s) into a;
 * its certificate name is server_name or, NULL, its host. */
static int
addr_parse(struct broker_addr *a, const char *s, size_t len,
    const char *server_name, struct nara_err *err)
{
	char one[300];
	const char *colon, *host = one, *host_end;

	if (len == 0 || len >= sizeof(one))
		return nara_err_set(err, NR_CONFIG, "broker", "broker address "
		    "\"%.*s\" is not host:port", (int)len, s);
	memcpy(one, s, len);
	one[len] = '\0';
	colon = strrchr(one, ':');
	if (colon == NULL || colon == one || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return nara_err_set(err, NR_CONFIG, "broker",
		    "broker address \"%s\" is not host:port", one);
	host_end = colon;
	if (one[0] == '[') {
		if (colon[-1] != ']')
			return nara_err_set(err, NR_CONFIG, "broker",
			    "broker address \"%s\": unterminated [address]", one);
		host = one + 1;
		host_end = colon - 1;
	}
	a->host = strndup(host, (size_t)(host_end - host));
	a->port = strdup(colon + 1);
	if (a->host != NULL)
		a->name = strdup(server_name ? server_name : a->host);
	if (a->host == NULL || a->port == NULL || a->name == NULL)
		return nara_err_set(err, NR_IO, "broker", "out of memory");
	return 0;
}

void
tunnel_addr_free(struct broker_addr *a)
{
	free(a->host);
	free(a->port);
	free(a->name);
	memset(a, 0, sizeof(*a));
}

int
tunnel_brokers_split(struct broker_addr *out, int *n_out, const char *list,
    const char *server_name, struct nara_err *err)
{
	const char *p = list ? list : "";
	int n = 0;

	for (;;) {
		struct broker_addr a = { 0 };
		size_t len;

		p += strspn(p, " \t");
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (n == TUNNEL_MAX_BROKERS)
			return nara_err_set(err, NR_CONFIG, "broker", "more than "
			    "%d broker addresses", TUNNEL_MAX_BROKERS);
		if (addr_parse(&a, p, len, server_name, err) != 0) {
			tunnel_addr_free(&a);
			return -1;
		}
		if (out != NULL)
			out[(*n_out)++] = a;
		else
			tunnel_addr_free(&a);
		n++;
		p += strcspn(p, ",");
		if (*p++ == '\0')
			return 0;
	}
}

int
tunnel_brokers_check(const char *list, struct nara_err *err)
{
	return tunnel_brokers_split(NULL, NULL, list, "x", err);
}
