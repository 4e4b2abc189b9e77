/*
 * control_cmd.c — what the control socket answers: request parsing, the
 * command table, and the read-only queries and operator actions behind
 * naractl (control.c carries the requests and replies). control_show and
 * control_retry_all also serve the console.
 */
#include "control.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "control_int.h"
#include "counts.h"
#include "log.h"
#include "validate.h"

/* A queue listing is for a person or a script looking at one backlog; the
 * store may hold 100,000 messages for an offline unit. */
#define QUEUE_LIMIT_DEFAULT 100
#define QUEUE_LIMIT_MAX 1000
/* Dead letters one "retry --all" request puts back: each is a batch with
 * its own commit, so a request stays well inside naractl's timeout; the
 * reply says whether more remain and naractl asks again. */
#define RETRY_ALL_BATCH 200
#define CONTROL_ID_LEN 37           /* a UUID and its NUL */
/* "FILE:LINE: reason" lines a refused reload's reply carries; the rest
 * are in narad's log. */
#define RELOAD_PROBLEMS_MAX 20

/* A command: read-only ones may run on either socket. */
struct control_cmd {
	const char *name;
	bool changes;
	json_t *(*run)(struct control *c, json_t *req, struct nara_err *err);
};

/* ---------------------------------------------------------------- helpers */

static json_t *
opt_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* Metadata of one message as JSON: no payload, no subject. The payload
 * hash lets an operator match a message with the sender's copy without
 * seeing it; identifies_child says only whether a subject exists. */
static json_t *
meta_json(const struct store_msg_meta *mm)
{
	const struct store_msg *m = &mm->m;
	char sha[65];

	for (int i = 0; i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", m->payload_sha256[i]);
	return json_pack("{s:s, s:o, s:s, s:i, s:s, s:s, s:s, s:s, s:o, s:o, "
	    "s:o, s:o, s:i, s:I, s:s, s:b, s:b, s:s, s:o, s:o}",
	    "message_id", m->message_id ? m->message_id : "",
	    "conversation_id", opt_str(m->conversation_id),
	    "type", message_type_name((Nara__MessageType)m->type),
	    "priority", m->priority,
	    "sender", m->sender ? m->sender : "",
	    "sender_node", m->sender_node ? m->sender_node : "",
	    "recipient", m->recipient ? m->recipient : "",
	    "recipient_node", m->recipient_node ? m->recipient_node : "",
	    "created", status_time_json(m->created),
	    "accepted_at", status_time_json(mm->accepted_at),
	    "expires", status_time_json(m->expires),
	    "done_at", status_time_json(mm->done_at),
	    "attempts", m->attempts,
	    "size", (json_int_t)m->payload_len,
	    "payload_sha256", sha,
	    "identifies_child", mm->has_subject,
	    "payload_kept", mm->payload_kept,
	    "state", store_state_name(m->state),
	    "dead_code", opt_str(mm->dead_code),
	    "dead_text", opt_str(mm->dead_text));
}

/* store_meta_fn callbacks: collect a list, or keep the one match. */
static int
append_meta(void *arg, const struct store_msg_meta *mm)
{
	json_array_append_new(arg, meta_json(mm));
	return 0;
}

static int
keep_meta(void *arg, const struct store_msg_meta *mm)
{
	json_t **out = arg;

	*out = meta_json(mm);
	return 1;
}

/* The "message_id" of a request, checked to be a UUID. */
static const char *
req_message_id(json_t *req, struct nara_err *err)
{
	const char *id = json_string_value(json_object_get(req, "message_id"));

	if (id == NULL) {
		nara_err_set(err, NR_USAGE, "message_id", "message_id missing");
		return NULL;
	}
	if (validate_uuid(id, err, "message_id") != 0)
		return NULL;
	return id;
}

/* The "limit" of a request (1..QUEUE_LIMIT_MAX), default when absent;
 * -1 with err when bad. */
static json_int_t
req_limit(json_t *req, struct nara_err *err)
{
	json_t *lim = json_object_get(req, "limit");

	if (lim == NULL)
		return QUEUE_LIMIT_DEFAULT;
	if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
	    json_integer_value(lim) > QUEUE_LIMIT_MAX) {
		nara_err_set(err, NR_BAD_VALUE, "limit", "limit must be 1..%d",
		    QUEUE_LIMIT_MAX);
		return -1;
	}
	return json_integer_value(lim);
}

/* The "node" of a request: NULL when absent (*bad false), else a
 * configured node id (*bad true with err when not). */
static const char *
req_node(struct control *c, json_t *req, bool *bad, struct nara_err *err)
{
	json_t *jn = json_object_get(req, "node");
	const char *node = json_string_value(jn);

	*bad = false;
	if (jn == NULL || json_is_null(jn))
		return NULL;
	if (node == NULL || config_node_find(broker_config(c->view.broker),
	    node) == NULL) {
		*bad = true;
		nara_err_set(err, NR_UNKNOWN_NODE, "node", "%s is not a node of "
		    "the configuration", node ? node : "(not a string)");
		return NULL;
	}
	return node;
}

/* ---------------------------------------------------------------- commands */

static json_t *
reply_error(const char *command, const struct nara_err *err)
{
	return json_pack("{s:b, s:s?, s:s, s:s}", "ok", 0, "command", command,
	    "code", nara_code_id(err->code), "error", err->text);
}

/* A refusal: logged with its code, the peer (operator) and, for the log
 * only, detail (or NULL); asked is the command as the peer spelled it
 * (log.c escapes what could break the line), command the one the reply
 * names. */
static json_t *
refusal(const struct control *c, const char *operator, const char *asked,
    const char *command, const struct nara_err *err, const char *detail)
{
	log_info("control: refused %s by %s on %s: %s %s%s%s", asked ? asked :
	    "request", operator, c->endpoint, nara_code_id(err->code),
	    err->text, detail != NULL ? ": " : "", detail != NULL ? detail : "");
	return reply_error(command, err);
}

/* The counts are read: the waiting status or nodes request gets its
 * reply, as control_handle would have given it. */
static void
on_counts(void *arg, const struct counts *counts, const char *error)
{
	struct control_wait *w = arg;
	struct control *c = w->c;
	const char *name = w->nodes ? "nodes" : "status";
	struct nara_err err = { 0 };
	json_t *r = NULL, *reply;

	TAILQ_REMOVE(&c->waits, w, link);
	c->n_waits--;
	if (counts != NULL)
		status_both_of(&c->view, counts, w->nodes ? NULL : &r,
		    w->nodes ? &r : NULL);
	if (r != NULL) {
		reply = json_pack("{s:b, s:s, s:o}", "ok", 1, "command", name,
		    "result", r);
	} else {
		nara_err_set(&err, NR_STORE_FAILED, NULL, "store query failed");
		reply = refusal(c, w->operator, name, name, &err, error);
	}
	control_send(c, w->id, w->id_len, w->operator, reply);
	json_decref(reply);
	free(w);
	/* the send may have taken the socket's signal of requests that came
	 * meanwhile (evzmq.h): without a look now they would wait unread */
	evzmq_poke(c->watch);
}

/* Status and nodes from the socket: the reply waits for a read of the
 * store's counts begun now, off the loop. Called without a peer (tests),
 * or when out of memory, they read on the loop. */
static bool
defer_counts(struct control *c, bool nodes)
{
	struct control_wait *w;

	if (c->id == NULL || c->id_len > sizeof(w->id) ||
	    (w = calloc(1, sizeof(*w))) == NULL)
		return false;
	c->n_waits++;
	w->c = c;
	memcpy(w->id, c->id, c->id_len);
	w->id_len = c->id_len;
	w->nodes = nodes;
	snprintf(w->operator, sizeof(w->operator), "%s", c->operator);
	TAILQ_INSERT_TAIL(&c->waits, w, link);
	if ((w->ask = counts_ask(broker_counts(c->view.broker), true, on_counts,
	    w)) == NULL) {
		TAILQ_REMOVE(&c->waits, w, link);
		c->n_waits--;
		free(w);
		return false;
	}
	c->deferred = true;
	return true;
}

/* Too many status and nodes requests of this socket already wait. */
static bool
waits_full(struct control *c, struct nara_err *err)
{
	if (c->n_waits < CONTROL_WAITS_MAX)
		return false;
	nara_err_set(err, NR_UNAVAILABLE, "command", "%zu status and nodes "
	    "requests on this socket already wait for the store's counts; "
	    "read their replies, then ask again", c->n_waits);
	return true;
}

void
control_waits_drop(struct control *c)
{
	struct control_wait *w;

	while ((w = TAILQ_FIRST(&c->waits)) != NULL) {
		counts_ask_cancel(w->ask);
		TAILQ_REMOVE(&c->waits, w, link);
		free(w);
	}
	c->n_waits = 0;
}

/* Each command returns its result object, or NULL with err set; the
 * caller wraps either in the reply. */
static json_t *
cmd_status(struct control *c, json_t *req, struct nara_err *err)
{
	json_t *r;

	if (c->view.broker == NULL)
		return status_standby_json(&c->view);
	if (waits_full(c, err) || defer_counts(c, false))
		return NULL;
	if ((r = status_json(&c->view)) == NULL)
		nara_err_set(err, NR_STORE_FAILED, NULL, "store query failed");
	return r;
}

static json_t *
cmd_nodes(struct control *c, json_t *req, struct nara_err *err)
{
	json_t *r;

	if (waits_full(c, err) || defer_counts(c, true))
		return NULL;
	if ((r = status_nodes_json(&c->view)) == NULL)
		nara_err_set(err, NR_STORE_FAILED, NULL, "store query failed");
	return r;
}

/* conns: every node's connection details, or one node's ("node"). */
static json_t *
cmd_conns(struct control *c, json_t *req, struct nara_err *err)
{
	json_t *jn = json_object_get(req, "node");
	const char *node = json_string_value(jn);
	json_t *r;

	if (jn != NULL && !json_is_null(jn) && node == NULL) {
		nara_err_set(err, NR_BAD_VALUE, "node", "node must be a string");
		return NULL;
	}
	if ((r = status_conns_json(&c->view, node)) == NULL)
		nara_err_set(err, NR_UNKNOWN_NODE, "node", "%s is not a node of "
		    "the configuration", node ? node : "");
	return r;
}

static json_t *
cmd_queue(struct control *c, json_t *req, struct nara_err *err)
{
	const char *addr = json_string_value(json_object_get(req, "address"));
	json_t *list;
	json_int_t limit;
	int n;

	if (addr == NULL || addr[0] == '\0' || strlen(addr) > 256) {
		nara_err_set(err, NR_USAGE, "address", "address missing");
		return NULL;
	}
	if ((limit = req_limit(req, err)) < 0)
		return NULL;
	list = json_array();
	n = store_queue_list(broker_store(c->view.broker), addr, (int)limit + 1,
	    append_meta, list);
	if (n < 0) {
		json_decref(list);
		nara_err_set(err, NR_STORE_FAILED, NULL, "store query failed");
		return NULL;
	}
	/* An empty answer for a name nobody serves would read as "no
	 * backlog": say that the name is unknown instead. */
	if (n == 0 && config_route(broker_config(c->view.broker), addr) == NULL &&
	    config_node_find(broker_config(c->view.broker), addr) == NULL) {
		json_decref(list);
		nara_err_set(err, NR_NO_ROUTE, "address", "%s is neither a node "
		    "nor an address of the configuration", addr);
		return NULL;
	}
	/* one row more than asked tells whether the list was cut */
	if (n > limit)
		json_array_remove(list, (size_t)limit);
	return json_pack("{s:s, s:I, s:b, s:o}", "address", addr,
	    "count", (json_int_t)json_array_size(list), "truncated", n > limit,
	    "messages", list);
}

json_t *
control_show(const struct ops_view *v, const char *id, struct nara_err *err)
{
	json_t *m = NULL;
	int rc;

	rc = store_msg_meta(broker_store(v->broker), id, keep_meta, &m);
	if (rc < 0)
		nara_err_set(err, NR_STORE_FAILED, NULL, "store query failed");
	else if (rc == 0)
		nara_err_set(err, NR_BAD_VALUE, "message_id", "no message %s", id);
	return m;
}

static json_t *
cmd_show(struct control *c, json_t *req, struct nara_err *err)
{
	const char *id = req_message_id(req, err);

	return id != NULL ? control_show(&c->view, id, err) : NULL;
}

/* dead: dead letters (of one recipient node), newest first, metadata only. */
static json_t *
cmd_dead(struct control *c, json_t *req, struct nara_err *err)
{
	json_int_t limit = req_limit(req, err);
	bool bad;
	const char *node = req_node(c, req, &bad, err);
	json_t *r;

	if (limit < 0 || bad)
		return NULL;
	if ((r = status_dead_json(&c->view, node, (int)limit)) == NULL)
		nara_err_set(err, NR_STORE_FAILED, NULL, "store query failed");
	return r;
}

/* store_meta_fn: the ids of a node's dead letters whose content is kept. */
struct retry_walk {
	const char *node;
	char (*ids)[CONTROL_ID_LEN];
	size_t n, max;
	bool more;
};

static int
on_retryable(void *arg, const struct store_msg_meta *mm)
{
	struct retry_walk *w = arg;

	if (!mm->payload_kept || mm->m.recipient_node == NULL ||
	    strcmp(mm->m.recipient_node, w->node) != 0)
		return 0;
	if (w->n == w->max) {
		w->more = true;
		return 1;
	}
	snprintf(w->ids[w->n++], CONTROL_ID_LEN, "%s", mm->m.message_id);
	return 0;
}

json_t *
control_retry_all(const struct ops_view *v, const char *node,
    const char *operator, struct nara_err *err)
{
	static char ids[RETRY_ALL_BATCH][CONTROL_ID_LEN];
	struct retry_walk w = { node, ids, 0, RETRY_ALL_BATCH, false };
	struct store_totals t;
	char rnode[CONFIG_NODE_ID_MAX + 1];
	json_t *done, *failed;

	if (config_node_find(broker_config(v->broker), node) == NULL) {
		nara_err_set(err, NR_UNKNOWN_NODE, "node", "%s is not a node of "
		    "the configuration", node);
		return NULL;
	}
	if (store_totals(broker_store(v->broker), &t) != 0 ||
	    store_dead_list(broker_store(v->broker), t.dead > 0 ? (int)
	    (t.dead < INT32_MAX ? t.dead : INT32_MAX) : 1, on_retryable, &w) < 0) {
		nara_err_set(err, NR_STORE_FAILED, NULL, "store query failed");
		return NULL;
	}
	done = json_array();
	failed = json_array();
	for (size_t i = 0; i < w.n; i++) {
		struct nara_err e = { 0 };
		if (broker_retry(v->broker, ids[i], operator, rnode,
		    sizeof(rnode), &e) == 0)
			json_array_append_new(done, json_string(ids[i]));
		else
			json_array_append_new(failed, json_pack("{s:s, s:s, s:s}",
			    "message_id", ids[i], "code", nara_code_id(e.code),
			    "error", e.text));
	}
	log_info("%zu dead letters of %s queued again by %s%s",
	    json_array_size(done), node, operator, w.more ? "; more remain"
	    : "");
	return json_pack("{s:s, s:o, s:o, s:b}", "node", node, "retried", done,
	    "failed", failed, "more", w.more);
}

/* Dead letter back to its queue, delivered at once when its node is
 * connected (broker_retry; the "retried" audit row names the operator);
 * with "node" and "all": every retryable dead letter of that node. */
static json_t *
cmd_retry(struct control *c, json_t *req, struct nara_err *err)
{
	const char *id;
	char node[CONFIG_NODE_ID_MAX + 1];
	bool bad;
	const char *all_of = req_node(c, req, &bad, err);

	if (bad)
		return NULL;
	if (all_of != NULL || json_is_true(json_object_get(req, "all"))) {
		if (all_of == NULL || !json_is_true(json_object_get(req, "all"))) {
			nara_err_set(err, NR_USAGE, all_of ? "all" : "node",
			    "retry of a whole node needs both node and all");
			return NULL;
		}
		return control_retry_all(&c->view, all_of, c->operator, err);
	}
	id = req_message_id(req, err);
	if (id == NULL || broker_retry(c->view.broker, id, c->operator, node,
	    sizeof(node), err) != 0)
		return NULL;
	log_info("control: dead letter %s queued again for %s by %s", id, node,
	    c->operator);
	return json_pack("{s:s, s:s, s:s}", "message_id", id, "recipient_node",
	    node, "state", "queued");
}

/* A loader's message as a JSON string: it quotes the file, whose bytes
 * need not be UTF-8; those are shown as '?'. */
static json_t *
problem_json(const char *msg)
{
	json_t *s = json_string(msg);
	char *copy;

	if (s != NULL || (copy = strdup(msg)) == NULL)
		return s;
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	s = json_string(copy);
	free(copy);
	return s;
}

/*
 * The loader's own words for a refused reload, for the operator's
 * terminal: the hook says only that it failed (its diagnostics go to the
 * log), so the file is read again by the same loader and each "FILE:LINE:
 * reason" it reports is kept, at most RELOAD_PROBLEMS_MAX. NULL when the
 * file loads now (it was changed since, or the refusal was not the
 * file's); *total is how many problems there are.
 */
static json_t *
reload_problems(struct control *c, size_t *total)
{
	struct config_diag diag = { 0 };
	struct config *cfg = config_load(broker_config(c->view.broker)->path,
	    &diag);
	json_t *list = NULL;

	*total = cfg == NULL ? diag.n : 0;
	if (*total > 0 && (list = json_array()) != NULL)
		for (size_t i = 0; i < diag.n && i < RELOAD_PROBLEMS_MAX; i++)
			json_array_append_new(list, problem_json(diag.msgs[i]));
	config_free(&cfg);
	config_diag_free(&diag);
	return list;
}

/* A refused reload: NR070, with the file's problems in the reply when the
 * loader names them. */
static void
reload_refused(struct control *c, struct nara_err *err)
{
	size_t total;

	c->refusal_detail = reload_problems(c, &total);
	if (c->refusal_detail == NULL)
		nara_err_set(err, NR_CONFIG, NULL, "the configuration has errors; "
		    "the running one is kept (see narad's log)");
	else if (total > RELOAD_PROBLEMS_MAX)
		nara_err_set(err, NR_CONFIG, NULL, "the configuration has %zu "
		    "errors (the first %d here, all in narad's log); the running "
		    "one is kept", total, RELOAD_PROBLEMS_MAX);
	else
		nara_err_set(err, NR_CONFIG, NULL, "the configuration has errors; "
		    "the running one is kept");
}

/* The audit row says the reload came over the control socket, which one
 * and from whom; the reload itself then audits config_reloaded or
 * config_refused. No row, no reload: the change would be on record
 * without the operator who asked for it. */
static json_t *
cmd_reload(struct control *c, json_t *req, struct nara_err *err)
{
	char detail[320];

	snprintf(detail, sizeof(detail), "%s by %s", c->endpoint, c->operator);
	if (broker_audit_event(c->view.broker, "control_reload", detail) != 0) {
		nara_err_set(err, NR_STORE_FAILED, NULL, "the reload could not "
		    "be audited: not reloaded, the running configuration is "
		    "kept (see narad's log)");
		return NULL;
	}
	if (c->hooks.reload == NULL || c->hooks.reload(c->hooks.arg) != 0) {
		reload_refused(c, err);
		return NULL;
	}
	return json_pack("{s:b, s:I}", "reloaded", 1, "nodes",
	    (json_int_t)broker_config(c->view.broker)->n_nodes);
}

/* naractl step-down ([ha]): hand the lease to a standby; main.c's hook
 * writes the audit row naming the operator and stops serving once this
 * answer is on its way. */
static json_t *
cmd_step_down(struct control *c, json_t *req, struct nara_err *err)
{
	if (c->hooks.step_down == NULL) {
		nara_err_set(err, NR_USAGE, "command", "this narad runs without "
		    "[ha]: there is no standby to hand over to");
		return NULL;
	}
	if (c->hooks.step_down(c->hooks.arg, c->operator, err) != 0)
		return NULL;
	return json_pack("{s:s}", "operator", c->operator);
}

/* The command table: adding a command is one line here and its cmd_*
 * function; `changes` decides whether the read-only socket refuses it. */
static const struct control_cmd commands[] = {
	{ "status", false, cmd_status },
	{ "nodes", false, cmd_nodes },
	{ "conns", false, cmd_conns },
	{ "queue", false, cmd_queue },
	{ "show", false, cmd_show },
	{ "dead", false, cmd_dead },
	{ "retry", true, cmd_retry },
	{ "reload", true, cmd_reload },
	{ "step-down", true, cmd_step_down },
};

/* ---------------------------------------------------------------- requests */

static const struct control_cmd *
cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Parse, look up, check the socket's rights, run. Every refusal is logged
 * with its code and the peer so that a misbehaving script shows in the
 * journal with its user. */
json_t *
control_handle(struct control *c, const char *text, size_t len)
{
	struct nara_err err = { 0 };
	const struct control_cmd *cmd = NULL;
	json_error_t jerr;
	const char *name = NULL;
	json_t *req, *result = NULL, *reply;

	req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL || !json_is_object(req)) {
		nara_err_set(&err, NR_BAD_JSON, NULL, "request is not a JSON "
		    "object: %s", req == NULL ? jerr.text : "other type");
		goto fail;
	}
	name = json_string_value(json_object_get(req, "command"));
	if (name == NULL || (cmd = cmd_find(name)) == NULL) {
		nara_err_set(&err, NR_USAGE, "command", "unknown command \"%s\"",
		    name ? name : "(none)");
		goto fail;
	}
	if (c->view.broker == NULL && cmd->run != cmd_status) {
		nara_err_set(&err, NR_UNAVAILABLE, "command", "this narad is a "
		    "standby ([ha]): only status is answered here; ask the "
		    "active narad");
		goto fail;
	}
	if (cmd->changes && c->read_only) {
		nara_err_set(&err, NR_AUTH_FAILED, "command", "%s changes state: "
		    "not allowed on the read-only socket %s", name, c->endpoint);
		goto fail;
	}
	if (cmd->changes)
		log_info("control: %s requested on %s by %s", name, c->endpoint,
		    c->operator);
	c->deferred = false;
	if ((result = cmd->run(c, req, &err)) == NULL && c->deferred) {
		c->deferred = false;
		json_decref(req);
		return NULL;        /* the reply goes when the counts are read */
	}
	if (result == NULL)
		goto fail;
	reply = json_pack("{s:b, s:s, s:o}", "ok", 1, "command", name,
	    "result", result);
	json_decref(req);
	return reply;
fail:
	reply = refusal(c, c->operator, name, cmd ? cmd->name : NULL, &err,
	    NULL);
	if (c->refusal_detail != NULL)
		json_object_set_new(reply, "problems", c->refusal_detail);
	c->refusal_detail = NULL;
	json_decref(req);
	return reply;
}
