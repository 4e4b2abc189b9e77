/*
 * config_check.c — the checks of single nara.conf values that the key
 * tables of config.c point at (the .check and .custom hooks of conftab):
 * node addresses, rule patterns, [ha] instance names, node ids and rule
 * names, and the message type lists of a rule. Each says in why what it
 * refused; conftab puts that beside the file and line.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "validate.h"

int
config_check_address(const char *item, char *why, size_t len)
{
	struct nara_err err = { 0 };

	if (validate_address(item, &err, NULL) >= 0)
		return 0;
	snprintf(why, len, "bad address \"%s\": %s", item, err.text);
	return -1;
}

/* Patterns are fnmatch(3) globs over address characters only, so a
 * bracket expression or a stray space cannot widen a rule unnoticed. */
int
config_check_pattern(const char *item, char *why, size_t len)
{
	for (const char *c = item; *c != '\0'; c++) {
		bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr(":-*?", *c) != NULL;

		if (!ok) {
			snprintf(why, len, "bad pattern \"%s\": only letters, "
			    "digits, ':', '-', '*' and '?' are allowed", item);
			return -1;
		}
	}
	return 0;
}

/* An instance name goes into the lease row and the database session's
 * application name ("narad:NAME"): letters, digits, '-', '_', '.'. */
int
config_check_instance(const char *item, char *why, size_t len)
{
	size_t n = strlen(item);

	if (n == 0 || n > 48 || strspn(item, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != n) {
		snprintf(why, len, "bad instance name \"%s\": 1-48 letters, "
		    "digits, '-', '_' or '.'", item);
		return -1;
	}
	return 0;
}

bool
config_id_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-");

	return n >= 1 && n <= CONFIG_NODE_ID_MAX && s[n] == '\0';
}

static uint32_t
all_types(void)
{
	uint32_t all = 0;

	for (int t = 1; t < 32; t++)
		if (strcmp(message_type_name((Nara__MessageType)t), "unknown") != 0)
			all |= 1u << t;
	return all;
}

static void
types_expected(char *buf, size_t len)
{
	uint32_t all = all_types();
	size_t o = 0;

	buf[0] = '\0';
	for (int t = 1; t < 32 && o < len; t++)
		if (all & (1u << t))
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
			    o == 0 ? "" : ", ", message_type_name((Nara__MessageType)t));
	if (o < len)
		snprintf(buf + o, len - o, " or *");
}

/* types = referral, sip_invitation | * : a bit per message type. */
int
config_parse_types(void *field, const char *value, bool append, char *why, size_t len)
{
	uint32_t *mask = field, add = 0;
	char item[64], expected[200];

	for (const char *p = value; *p != '\0';) {
		size_t n = strcspn(p, ","), b = 0, e = n;
		Nara__MessageType t;

		while (b < e && (p[b] == ' ' || p[b] == '\t'))
			b++;
		while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		snprintf(item, sizeof(item), "%.*s", (int)(e - b), p + b);
		if (e == b && p[n] != '\0') {
			snprintf(why, len, "empty item in list");
			return -1;
		}
		if (strcmp(item, "*") == 0) {
			add |= all_types();
		} else if (e > b && message_type_parse(item, &t) == 0) {
			add |= 1u << t;
		} else if (e > b) {
			types_expected(expected, sizeof(expected));
			snprintf(why, len, "unknown message type \"%s\" (expected %s)",
			    item, expected);
			return -1;
		}
		p += n + (p[n] != '\0');
	}
	if (!append)
		*mask = 0;
	*mask |= add;
	return 0;
}
