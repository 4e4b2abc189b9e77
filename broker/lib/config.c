/*
 * config.c — nara.conf: the key tables of [broker], [tls], [node ID] and
 * [rule NAME], the checks across keys and sections, loading and freeing.
 * The checks of single values the tables point at are in config_check.c;
 * the lookups the broker makes per message (route, node, policy) and the
 * route table they search are in config_lookup.c.
 *
 * The generic work (reading lines, types, defaults, messages) is done by
 * conftab.c; this file only says what nara.conf contains.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "config_int.h"
#include "conftab.h"
#include "log.h"
#include "store.h"
#include "validate.h"

#define NODE_ID_MAX CONFIG_NODE_ID_MAX
#define DAY_SECONDS 86400
#define N_KEYS(t) (sizeof(t) / sizeof((t)[0]))

/* State of one load, reached through conftab_parser.user. */
struct load {
	struct config *cfg;
	size_t cap_nodes, cap_rules;
	int *addr_line;             /* per node: line of its addresses key */
	int *ident_line;            /* per node: line of its identity */
	int ha_line;                /* line of the [ha] header, 0 if none */
	bool oom;
};

/* The enum keys store the index of the choice: keep the orders in step. */
_Static_assert(LOG_LVL_ERROR == 0 && LOG_LVL_WARNING == 1 &&
    LOG_LVL_INFO == 2 && LOG_LVL_DEBUG == 3, "log_level choices");
_Static_assert(CONFIG_SYNC_FULL == 0 && CONFIG_SYNC_NORMAL == 1,
    "synchronous choices");
_Static_assert(CONFIG_STORE_SQLITE == 0 && CONFIG_STORE_POSTGRESQL == 1,
    "store backend choices");
_Static_assert(CONFIG_ID_SAN_URI == 0 && CONFIG_ID_CN == 1 &&
    CONFIG_ID_SERIAL == 2, "identity choices");

/* ---------------------------------------------------------------- tables */

#define FIELD(st, f) .offset = offsetof(struct st, f), \
	.size = sizeof(((struct st *)0)->f)
#define LIST(st, f, n) FIELD(st, f), .count_offset = offsetof(struct st, n)
#define KIB 1024u
#define MIB (1024u * 1024u)

static const struct config_key broker_keys[] = {
	{ "id", CT_STRING, FIELD(config_broker, id), .def = "narad",
	  .flags = CONFTAB_NONEMPTY, .help = "broker name announced to nodes" },
	{ "router", CT_ENDPOINT, FIELD(config_broker, router),
	  .def = "ipc:///run/nara/router.sock", .flags = CONFTAB_NONEMPTY,
	  .check = conftab_check_zmq, .help = "ZeroMQ ROUTER endpoint for adapters" },
	{ "listen_tcp", CT_ENDPOINT, FIELD(config_broker, listen_tcp), .def = "",
	  .check = conftab_check_zmq, .help = "extra plain endpoint for tests, \"\" = none" },
	{ "store", CT_PATH, FIELD(config_broker, store),
	  .def = "/var/lib/nara/nara.db", .flags = CONFTAB_NONEMPTY,
	  .help = "SQLite database file" },
	{ "pseudonym_key", CT_PATH, FIELD(config_broker, pseudonym_key),
	  .def = "/etc/nara/pseudonym.key", .flags = CONFTAB_NONEMPTY,
	  .help = "HMAC key file for personal identity numbers in the audit log" },
	{ "signing_key", CT_PATH, FIELD(config_broker, signing_key), .def = "",
	  .help = "Ed25519 PEM key signing audit checkpoints, \"\" = none" },
	{ "control", CT_ENDPOINT, FIELD(config_broker, control),
	  .def = "ipc:///run/nara/control.sock", .flags = CONFTAB_NONEMPTY,
	  .check = conftab_check_zmq, .help = "naractl endpoint" },
	{ "control_readonly", CT_ENDPOINT, FIELD(config_broker, control_readonly),
	  .def = "", .check = conftab_check_zmq,
	  .help = "second naractl endpoint for read-only commands, \"\" = none" },
	{ "http_listen", CT_ENDPOINT, FIELD(config_broker, http_listen),
	  .def = "127.0.0.1:9464", .check = conftab_check_hostport,
	  .help = "metrics and dashboard HOST:PORT, \"\" = off" },
	{ "history_interval", CT_DURATION, FIELD(config_broker, history_interval),
	  .def = "10", .min = 1, .max = 60,
	  .help = "dashboard history: seconds between samples (read at start)" },
	{ "console_listen", CT_ENDPOINT, FIELD(config_broker, console_listen),
	  .def = "", .check = conftab_check_hostport,
	  .help = "operators' HTTPS console with client certificates HOST:PORT, "
	  "\"\" = off (needs console_ca and [tls] cert and key)" },
	{ "console_ca", CT_PATH, FIELD(config_broker, console_ca), .def = "",
	  .help = "CA bundle that signs operators' certificates (console_listen)" },
	{ "http_max_connections", CT_INT, FIELD(config_broker,
	  http_max_connections), .def = "64", .min = 1, .max = 10000,
	  .help = "connections open at once on http_listen, and on "
	  "console_listen (each at most an eighth of the descriptor limit)" },
	{ "http_max_connections_per_address", CT_INT, FIELD(config_broker,
	  http_max_connections_per_address), .def = "16", .min = 1, .max = 10000,
	  .help = "of those, from one client address" },
	{ "synchronous", CT_ENUM, FIELD(config_broker, synchronous), .def = "full",
	  .choices = "full|normal", .help = "SQLite sync: full survives power loss" },
	{ "log_level", CT_ENUM, FIELD(config_broker, log_level), .def = "info",
	  .choices = "error|warning|info|debug", .help = "most verbose level logged" },
	{ "max_message_bytes", CT_SIZE, FIELD(config_broker, max_message_bytes),
	  .def = "16M", .min = KIB, .max = 64 * MIB,
	  .help = "largest encoded envelope accepted" },
	{ "max_attachments", CT_INT, FIELD(config_broker, max_attachments),
	  .def = "20", .min = 0, .max = 1000, .help = "attachments per message" },
	{ "max_attachment_bytes", CT_SIZE, FIELD(config_broker, max_attachment_bytes),
	  .def = "10M", .min = 1, .max = 64 * MIB, .help = "largest attachment" },
	{ "max_text_bytes", CT_SIZE, FIELD(config_broker, max_text_bytes),
	  .def = "64K", .min = KIB, .max = MIB, .help = "longest text field" },
	{ "store_max_bytes", CT_SIZE, FIELD(config_broker, store_max_bytes),
	  .def = "0", .help = "store size above which submits are refused, 0 = unlimited" },
	{ "ack_timeout", CT_DURATION, FIELD(config_broker, ack_timeout), .def = "60",
	  .min = 1, .max = DAY_SECONDS, .help = "wait for an ack before redelivering" },
	{ "default_credit", CT_INT, FIELD(config_broker, default_credit),
	  .def = "64", .min = 1, .max = 10000,
	  .help = "delivery window when a node announces none" },
	{ "max_credit", CT_INT, FIELD(config_broker, max_credit), .def = "1000",
	  .min = 1, .max = 100000, .help = "largest delivery window granted" },
	{ "batch_max", CT_INT, FIELD(config_broker, batch_max), .def = "1024",
	  .min = 1, .max = 100000, .help = "frames per store transaction" },
	{ "batch_max_bytes", CT_SIZE, FIELD(config_broker, batch_max_bytes),
	  .def = "32M", .min = 64 * KIB, .max = 1024 * MIB,
	  .help = "bytes of frames per store transaction (the frame that "
	  "passes it is the last)" },
	{ "checkpoint_interval", CT_DURATION, FIELD(config_broker, checkpoint_interval),
	  .def = "60", .min = 1, .max = DAY_SECONDS,
	  .help = "time between signed audit chain heads" },
	{ "audit_retention_days", CT_INT, FIELD(config_broker, audit_retention_days),
	  .def = "1825", .min = 1, .max = 36500,
	  .help = "days audit metadata is kept" },
	{ "check_warn_age", CT_DURATION, FIELD(config_broker, check_warn_age),
	  .def = "1h", .min = 1, .max = 30 * DAY_SECONDS,
	  .help = "naractl check: oldest queued message age for WARNING" },
	{ "check_crit_age", CT_DURATION, FIELD(config_broker, check_crit_age),
	  .def = "4h", .min = 1, .max = 30 * DAY_SECONDS,
	  .help = "naractl check: oldest queued message age for CRITICAL" },
	{ "check_warn_days", CT_INT, FIELD(config_broker, check_warn_days),
	  .def = "30", .min = 0, .max = 3650,
	  .help = "naractl check: certificate days left for WARNING" },
	{ "check_crit_days", CT_INT, FIELD(config_broker, check_crit_days),
	  .def = "7", .min = 0, .max = 3650,
	  .help = "naractl check: certificate days left for CRITICAL" },
	{ "check_disconnected_warn", CT_INT,
	  FIELD(config_broker, check_disconnected_warn), .def = "1", .min = 0,
	  .max = 100000, .help = "naractl check: configured nodes not connected "
	  "for WARNING, 0 = not checked" },
};

static const struct config_key ha_keys[] = {
	{ "instance", CT_STRING, FIELD(config_ha, instance), .def = "",
	  .flags = CONFTAB_REQUIRED | CONFTAB_NONEMPTY, .check = config_check_instance,
	  .help = "this narad's name in the store's lease, unique among the "
	  "narads sharing the store (e.g. the host name)" },
	{ "lease", CT_DURATION, FIELD(config_ha, lease), .def = "3", .min = 1,
	  .max = 60, .help = "how long the active narad's lease holds without "
	  "renewal; a standby takes over after it (renewed every third of it)" },
};

static const struct config_key tls_keys[] = {
	{ "listen", CT_ENDPOINT, FIELD(config_tls, listen), .def = "",
	  .check = conftab_check_hostport, .help = "TLS HOST:PORT, \"\" = no TLS front" },
	{ "cert", CT_PATH, FIELD(config_tls, cert), .def = "",
	  .help = "broker certificate chain (PEM)" },
	{ "key", CT_PATH, FIELD(config_tls, key), .def = "",
	  .help = "broker private key (PEM)" },
	{ "ca", CT_PATH, FIELD(config_tls, ca), .def = "",
	  .help = "CA bundle that node certificates chain to" },
	{ "crl", CT_LIST, LIST(config_tls, crl, n_crl), .def = "",
	  .check = conftab_check_path,
	  .help = "CRL files (PEM), comma-separated" },
	{ "min_version", CT_ENUM, FIELD(config_tls, min_version), .def = "1.3",
	  .choices = "1.2|1.3", .flags = CONFTAB_ENUM_TEXT,
	  .help = "lowest TLS version accepted" },
	{ "identity", CT_ENUM, FIELD(config_tls, identity), .def = "san-uri",
	  .choices = "san-uri|cn|serial",
	  .help = "certificate field that names the node" },
	{ "runtime_dir", CT_PATH, FIELD(config_tls, runtime_dir), .def = "/run/nara",
	  .flags = CONFTAB_NONEMPTY, .help = "private directory of the relay socket" },
	{ "handshake_timeout", CT_DURATION, FIELD(config_tls, handshake_timeout),
	  .def = "10", .min = 1, .max = 300, .help = "time allowed for a handshake" },
	{ "max_connections", CT_INT, FIELD(config_tls, max_connections),
	  .def = "1000", .min = 1, .max = 100000, .help = "open TLS connections" },
	{ "max_handshakes", CT_INT, FIELD(config_tls, max_handshakes),
	  .def = "64", .min = 1, .max = 10000,
	  .help = "TLS handshakes in progress (at most half of max_connections)" },
	{ "max_handshakes_per_address", CT_INT,
	  FIELD(config_tls, max_handshakes_per_address), .def = "8", .min = 1,
	  .max = 10000, .help = "stalled TLS handshakes (unfinished after "
	  "1 s) from one address" },
	{ "report_interval", CT_DURATION, FIELD(config_tls, report_interval),
	  .def = "60", .min = 1, .max = 3600,
	  .help = "repeats of one peer's refusal summarised per interval" },
	{ "expiry_warn_days", CT_INT, FIELD(config_tls, expiry_warn_days),
	  .def = "30", .min = 1, .max = 365,
	  .help = "warn when a peer certificate expires sooner" },
	{ "zmtp", CT_ENUM, FIELD(config_tls, zmtp), .def = "front",
	  .choices = "front|router", .help = "who speaks ZMTP with the nodes "
	  "(read at start): the front itself, or libzmq's ROUTER behind a "
	  "relay over the runtime_dir socket" },
};

static const struct config_key store_keys[] = {
	{ "backend", CT_ENUM, FIELD(config_store, backend), .def = "sqlite",
	  .choices = "sqlite|postgresql",
	  .help = "where the durable state is kept (read at start)" },
	{ "postgresql", CT_STRING, FIELD(config_store, postgresql), .def = "",
	  .flags = CONFTAB_NONEMPTY, .check = store_conninfo_check,
	  .help = "libpq conninfo of the database, for backend = postgresql" },
};

static const struct config_key node_keys[] = {
	{ "name", CT_STRING, FIELD(config_node, name),
	  .flags = CONFTAB_REQUIRED | CONFTAB_NONEMPTY, .help = "display name" },
	{ "kind", CT_ENUM, FIELD(config_node, kind), .def = "municipality",
	  .choices = "municipality|region", .flags = CONFTAB_ENUM_TEXT,
	  .help = "which side of the border the node is on" },
	{ "addresses", CT_LIST, LIST(config_node, addresses, n_addresses),
	  .flags = CONFTAB_REQUIRED | CONFTAB_NONEMPTY, .check = config_check_address,
	  .help = "addresses the node serves (each served by one node only)" },
	{ "identity", CT_STRING, FIELD(config_node, identity), .def = "",
	  .help = "certificate identity, \"\" = the node id" },
};

static const struct config_key rule_keys[] = {
	{ "senders", CT_LIST, LIST(config_rule, senders, n_senders),
	  .flags = CONFTAB_REQUIRED | CONFTAB_NONEMPTY, .check = config_check_pattern,
	  .help = "sender address patterns (fnmatch: * and ?)" },
	{ "recipients", CT_LIST, LIST(config_rule, recipients, n_recipients),
	  .flags = CONFTAB_REQUIRED | CONFTAB_NONEMPTY, .check = config_check_pattern,
	  .help = "recipient address patterns" },
	{ "types", CT_CUSTOM, FIELD(config_rule, types), .def = "*",
	  .custom = config_parse_types, .help = "message types, * = all" },
	{ "effect", CT_ENUM, FIELD(config_rule, deny), .def = "allow",
	  .choices = "allow|deny", .help = "deny rules override allow rules" },
	{ "valid_from", CT_DATE, FIELD(config_rule, valid_from), .def = "",
	  .help = "first day the rule applies (UTC), \"\" = always" },
	{ "valid_until", CT_DATE, FIELD(config_rule, valid_until), .def = "",
	  .help = "last day the rule applies (UTC), \"\" = never ends" },
	{ "description", CT_STRING, FIELD(config_rule, description), .def = "",
	  .help = "why the rule exists" },
};

/* ---------------------------------------------------------------- sections */

static void *
open_broker(struct conftab_parser *p, const char *arg)
{
	return &((struct load *)p->user)->cfg->broker;
}

static void
close_broker(struct conftab_parser *p, void *base)
{
	const struct config_broker *b = base;
	int line = conftab_key_line(p, "default_credit");

	if (b->default_credit > b->max_credit)
		conftab_error(p, line ? line : p->header_line, "default_credit",
		    "%llu is above max_credit %llu",
		    (unsigned long long)b->default_credit,
		    (unsigned long long)b->max_credit);
}

static void *
open_tls(struct conftab_parser *p, const char *arg)
{
	return &((struct load *)p->user)->cfg->tls;
}

/* A TLS front needs its own certificate, key and the CA of the nodes. */
static void
close_tls(struct conftab_parser *p, void *base)
{
	const struct config_tls *t = base;
	const char *need[] = { t->cert, t->key, t->ca };
	const char *names[] = { "cert", "key", "ca" };

	if (t->listen == NULL || t->listen[0] == '\0')
		return;
	for (size_t i = 0; i < 3; i++)
		if (need[i] == NULL || need[i][0] == '\0')
			conftab_error(p, p->header_line, names[i],
			    "required when listen is set");
}

static void *
open_store(struct conftab_parser *p, const char *arg)
{
	return &((struct load *)p->user)->cfg->store;
}

static void
close_store(struct conftab_parser *p, void *base)
{
	const struct config_store *s = base;
	int line = conftab_key_line(p, "backend");

	/* a refused conninfo was reported at its own line already */
	if (s->backend == CONFIG_STORE_POSTGRESQL &&
	    conftab_key_line(p, "postgresql") == 0 &&
	    (s->postgresql == NULL || s->postgresql[0] == '\0'))
		conftab_error(p, line ? line : p->header_line, "postgresql",
		    "required when backend = postgresql");
}

const char *
config_store_backend(const struct config *cfg)
{
	return cfg->store.backend == CONFIG_STORE_POSTGRESQL ? "postgresql"
	    : "sqlite";
}

const char *
config_store_location(const struct config *cfg)
{
	return cfg->store.backend == CONFIG_STORE_POSTGRESQL ?
	    cfg->store.postgresql : cfg->broker.store;
}

static void *
open_ha(struct conftab_parser *p, const char *arg)
{
	struct load *ld = p->user;

	ld->cfg->ha.enabled = true;
	ld->ha_line = p->header_line;
	return &ld->cfg->ha;
}

/* Make room for one more node: the arrays double together, and each keeps
 * its old block when realloc fails. */
static int
grow_nodes(struct load *ld)
{
	struct config *cfg = ld->cfg;
	size_t cap = ld->cap_nodes ? ld->cap_nodes * 2 : 64;
	struct config_node *nodes;
	int *addr_line, *ident_line;

	if (cfg->n_nodes < ld->cap_nodes)
		return 0;
	if ((nodes = reallocarray(cfg->nodes, cap, sizeof(*nodes))) != NULL)
		cfg->nodes = nodes;
	if ((addr_line = reallocarray(ld->addr_line, cap, sizeof(int))) != NULL)
		ld->addr_line = addr_line;
	if ((ident_line = reallocarray(ld->ident_line, cap,
	    sizeof(int))) != NULL)
		ld->ident_line = ident_line;
	if (nodes == NULL || addr_line == NULL || ident_line == NULL)
		return -1;
	ld->cap_nodes = cap;
	return 0;
}

static void *
open_node(struct conftab_parser *p, const char *arg)
{
	struct load *ld = p->user;
	struct config *cfg = ld->cfg;
	struct config_node *node;

	if (!config_id_ok(arg)) {
		conftab_error(p, p->line, NULL, "bad node id \"%s\": 1-%d letters, "
		    "digits, '.', '_' or '-'", arg, NODE_ID_MAX);
		return NULL;
	}
	if (grow_nodes(ld) != 0) {
		ld->oom = true;
		return NULL;
	}
	node = memset(&cfg->nodes[cfg->n_nodes], 0, sizeof(*node));
	if ((node->id = strdup(arg)) == NULL) {
		ld->oom = true;
		return NULL;
	}
	node->line = p->line;
	ld->addr_line[cfg->n_nodes] = ld->ident_line[cfg->n_nodes] = p->line;
	cfg->n_nodes++;
	conftab_defaults(p, node_keys, N_KEYS(node_keys), node, p->line);
	return node;
}

static void
close_node(struct conftab_parser *p, void *base)
{
	struct load *ld = p->user;
	struct config_node *node = base;
	size_t i = (size_t)(node - ld->cfg->nodes);
	int line;

	if ((line = conftab_key_line(p, "addresses")) != 0)
		ld->addr_line[i] = line;
	if ((line = conftab_key_line(p, "identity")) != 0)
		ld->ident_line[i] = line;
	if (node->identity != NULL && node->identity[0] == '\0') {
		free(node->identity);
		if ((node->identity = strdup(node->id)) == NULL)
			ld->oom = true;
	}
}

static void *
open_rule(struct conftab_parser *p, const char *arg)
{
	struct load *ld = p->user;
	struct config *cfg = ld->cfg;
	struct config_rule *rule;

	if (!config_id_ok(arg)) {
		conftab_error(p, p->line, NULL, "bad rule name \"%s\": 1-%d letters, "
		    "digits, '.', '_' or '-'", arg, NODE_ID_MAX);
		return NULL;
	}
	if (cfg->n_rules == ld->cap_rules) {
		size_t cap = ld->cap_rules ? ld->cap_rules * 2 : 64;
		struct config_rule *rules = reallocarray(cfg->rules, cap,
		    sizeof(*rules));

		if (rules == NULL) {
			ld->oom = true;
			return NULL;
		}
		cfg->rules = rules;
		ld->cap_rules = cap;
	}
	rule = memset(&cfg->rules[cfg->n_rules], 0, sizeof(*rule));
	if ((rule->name = strdup(arg)) == NULL) {
		ld->oom = true;
		return NULL;
	}
	rule->line = p->line;
	cfg->n_rules++;
	conftab_defaults(p, rule_keys, N_KEYS(rule_keys), rule, p->line);
	return rule;
}

static const char *
day_text(int64_t epoch, char *buf, size_t len)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

/* valid_until names a day: the rule holds through its last second. An
 * open end becomes the far end of time, so that a date given, even
 * 1970-01-01, is always a bound. */
static void
close_rule(struct conftab_parser *p, void *base)
{
	struct config_rule *rule = base;
	bool has_from = rule->valid_from != CONFTAB_DATE_UNSET;
	bool has_until = rule->valid_until != CONFTAB_DATE_UNSET;
	char from[16], until[16];
	int line;

	if (rule->types == 0) {
		line = conftab_key_line(p, "types");
		conftab_error(p, line ? line : p->header_line, "types",
		    "must not be empty");
	}
	if (has_from && has_until && rule->valid_until < rule->valid_from)
		conftab_error(p, conftab_key_line(p, "valid_until"), "valid_until",
		    "%s is before valid_from %s",
		    day_text(rule->valid_until, until, sizeof(until)),
		    day_text(rule->valid_from, from, sizeof(from)));
	rule->valid_from = has_from ? rule->valid_from : INT64_MIN;
	rule->valid_until = has_until ? rule->valid_until + DAY_SECONDS - 1 :
	    INT64_MAX;
}

static const struct conftab_kind kinds[] = {
	{ "broker", NULL, broker_keys, N_KEYS(broker_keys), "daemon settings",
	  open_broker, close_broker },
	{ "tls", NULL, tls_keys, N_KEYS(tls_keys), "the TLS front of narad",
	  open_tls, close_tls },
	{ "store", NULL, store_keys, N_KEYS(store_keys),
	  "the store backend: sqlite or postgresql", open_store, close_store },
	{ "ha", NULL, ha_keys, N_KEYS(ha_keys),
	  "active/standby narads on one PostgreSQL store", open_ha, NULL },
	{ "node", "ID", node_keys, N_KEYS(node_keys),
	  "one adapter: its name, addresses and certificate identity",
	  open_node, close_node },
	{ "rule", "NAME", rule_keys, N_KEYS(rule_keys),
	  "one policy rule: senders x recipients x types", open_rule, close_rule },
};

/* ---------------------------------------------------------------- across sections */

/* Two nodes with one certificate identity could not be told apart. */
static void
check_identities(struct conftab_parser *p, struct load *ld)
{
	const struct config *cfg = ld->cfg;
	char label[NODE_ID_MAX + 16];

	for (size_t i = 1; i < cfg->n_nodes; i++) {
		const struct config_node *b = &cfg->nodes[i];

		for (size_t j = 0; j < i && b->identity != NULL; j++) {
			const struct config_node *a = &cfg->nodes[j];

			if (a->identity == NULL || strcmp(a->identity, b->identity) != 0)
				continue;
			snprintf(label, sizeof(label), "[node %s]", b->id);
			conftab_report(p, ld->ident_line[i], label, "identity",
			    "\"%s\" is already the identity of node %s (line %d)",
			    b->identity, a->id, ld->ident_line[j]);
			break;
		}
	}
}

/* ---------------------------------------------------------------- loading */

static void
diag_add(struct config_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
diag_add(struct config_diag *diag, const char *fmt, ...)
{
	char *text = NULL, **grown;
	va_list ap;

	if (diag == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text == NULL || (grown = reallocarray(diag->msgs, (diag->n + 1),
	    sizeof(*grown))) == NULL) {
		free(text);
		return;
	}
	diag->msgs = grown;
	diag->msgs[diag->n++] = text;
}

/* Parse from a file or a string; the one path both entry points share. */
static struct config *
load(FILE *in, const char *text, const char *name, struct config_diag *diag)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct load ld = { .cfg = cfg };
	struct conftab_parser p = { .file = name, .kinds = kinds,
		.n_kinds = N_KEYS(kinds), .user = &ld };
	size_t n_errors;

	if (cfg == NULL || (cfg->path = strdup(name)) == NULL) {
		ld.oom = true;
	} else {
		conftab_defaults(&p, broker_keys, N_KEYS(broker_keys), &cfg->broker, 0);
		conftab_defaults(&p, tls_keys, N_KEYS(tls_keys), &cfg->tls, 0);
		conftab_defaults(&p, store_keys, N_KEYS(store_keys), &cfg->store,
		    0);
		conftab_defaults(&p, ha_keys, N_KEYS(ha_keys), &cfg->ha, 0);
		if (in != NULL)
			conftab_parse_file(&p, in);
		else
			conftab_parse_string(&p, text);
		if (config_build_routes(&p, cfg, ld.addr_line) != 0)
			ld.oom = true;
		check_identities(&p, &ld);
		if (ld.ha_line != 0 && cfg->store.backend != CONFIG_STORE_POSTGRESQL)
			conftab_error(&p, ld.ha_line, NULL, "[ha] needs [store] "
			    "backend = postgresql: only a database server can be "
			    "shared by several narads");
	}
	n_errors = conftab_finish(&p, diag);
	free(ld.addr_line);
	free(ld.ident_line);
	if (ld.oom)
		diag_add(diag, "%s: out of memory", name);
	if (n_errors > 0 || ld.oom)
		config_free(&cfg);
	return cfg;
}

/* Load a file; every problem lands in diag, NULL when there was any. */
struct config *
config_load(const char *path, struct config_diag *diag)
{
	struct config *cfg;
	FILE *in = fopen(path, "r");

	if (in == NULL) {
		diag_add(diag, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	cfg = load(in, NULL, path, diag);
	if (ferror(in)) {
		diag_add(diag, "%s: read error", path);
		config_free(&cfg);
	}
	fclose(in);
	return cfg;
}

/* Same from memory, for tests and tools; name appears in messages. */
struct config *
config_parse_string(const char *text, const char *name, struct config_diag *diag)
{
	return load(NULL, text ? text : "", name ? name : "(string)", diag);
}

/* A private copy is read through a memory stream, so the line reader and
 * its handling of odd bytes are exactly those used for files. */
struct config *
config_load_buffer(const void *buf, size_t len, const char *name,
    struct config_diag *diag)
{
	struct config *cfg = NULL;
	char *copy = malloc(len + 1);
	FILE *in = NULL;

	if (name == NULL)
		name = "(buffer)";
	if (copy == NULL)
		goto fail;
	if (len > 0)
		memcpy(copy, buf, len);
	copy[len] = '\0';
	if (len == 0)
		cfg = load(NULL, copy, name, diag);
	else if ((in = fmemopen(copy, len, "r")) == NULL)
		goto fail;
	else
		cfg = load(in, NULL, name, diag);
	if (in != NULL)
		fclose(in);
	free(copy);
	return cfg;
fail:
	diag_add(diag, "%s: cannot read buffer: %s", name, strerror(errno));
	free(copy);
	return NULL;
}

/* Release the messages; diag itself is the caller's. */
void
config_diag_free(struct config_diag *diag)
{
	if (diag == NULL)
		return;
	for (size_t i = 0; i < diag->n; i++)
		free(diag->msgs[i]);
	free(diag->msgs);
	diag->msgs = NULL;
	diag->n = 0;
}

/* Free everything the config owns; *cfg becomes NULL. */
void
config_free(struct config **cfg)
{
	struct config *c;

	if (cfg == NULL || (c = *cfg) == NULL)
		return;
	conftab_free(broker_keys, N_KEYS(broker_keys), &c->broker);
	conftab_free(tls_keys, N_KEYS(tls_keys), &c->tls);
	conftab_free(store_keys, N_KEYS(store_keys), &c->store);
	conftab_free(ha_keys, N_KEYS(ha_keys), &c->ha);
	for (size_t i = 0; i < c->n_nodes; i++) {
		conftab_free(node_keys, N_KEYS(node_keys), &c->nodes[i]);
		free(c->nodes[i].id);
	}
	for (size_t i = 0; i < c->n_rules; i++) {
		conftab_free(rule_keys, N_KEYS(rule_keys), &c->rules[i]);
		free(c->rules[i].name);
	}
	free(c->nodes);
	free(c->rules);
	free(c->routes);
	free(c->path);
	free(c);
	*cfg = NULL;
}

/* The reference behind --help-config and nara.conf(5). */
void
config_print_keys(FILE *out)
{
	fprintf(out, "nara.conf keys (name, type, default, range or choices, "
	    "meaning).\nSizes take K, M or G (1024-based); durations s, m, h "
	    "or d; lists are comma-separated\nand may go on on indented "
	    "lines; lines hold at most 198 characters.\n\n");
	for (size_t i = 0; i < N_KEYS(kinds); i++)
		conftab_print(out, &kinds[i]);
}

/* naractl reads its sockets through the loader's own reader, so that the
 * two never disagree on what the file says (a BOM before [broker], an
 * inline comment after the value). */
int
config_peek(const char *path, const char *section, const char *key,
    char *out, size_t len, char *why, size_t why_len)
{
	FILE *f = fopen(path, "re");
	int rc;

	if (f == NULL) {
		snprintf(why, why_len, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	rc = conftab_peek(f, path, section, key, out, len, why, why_len);
	if (rc >= 0 && ferror(f)) {
		snprintf(why, why_len, "%s: read error", path);
		rc = -1;
	}
	fclose(f);
	return rc;
}
