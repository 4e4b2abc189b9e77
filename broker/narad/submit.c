/*
 * submit.c — accepting a message: validate at the edge, check that the node
 * may use the sender address, route the recipient, authorise by policy, and
 * store it with its audit row. The reply waits for the batch's commit.
 */
#include "broker_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "store.h"

/* Copy what the envelope says into the store's view of a message. */
static void
msg_from_envelope(struct store_msg *m, const Nara__Envelope *env)
{
	int64_t t = 0;

	m->message_id = env->message_id;
	m->conversation_id = env->conversation_id;
	m->type = (int)env->type;
	m->priority = (int)env->priority;
	m->legal_basis = (int)env->legal_basis;
	m->sender = env->sender;
	m->recipient = env->recipient;
	m->author = env->author ? env->author->id : NULL;
	m->personal_number = env->subject && env->subject->personal_number[0]
	    ? env->subject->personal_number : NULL;
	if (validate_time(env->created, &t, NULL, NULL) == 0)
		m->created = t;
	t = 0;
	if (env->expires[0] != '\0' && validate_time(env->expires, &t, NULL,
	    NULL) == 0)
		m->expires = t;
}

static void
queue_accepted(struct broker *b, struct session *s, const char *message_id,
    bool duplicate)
{
	Nara__Frame frame = NARA__FRAME__INIT;
	Nara__Accepted acc = NARA__ACCEPTED__INIT;
	char when[32];

	acc.message_id = pb_str(message_id);
	acc.accepted_at = pb_str(time_format(b->batch_now_ms / 1000, when,
	    sizeof(when)));
	acc.duplicate = duplicate;
	frame.kind_case = NARA__FRAME__KIND_ACCEPTED;
	frame.accepted = &acc;
	broker_queue_frame(b, s->node, strlen(s->node), &frame, OUTQ_ACCEPTED,
	    message_id);
}

/* Policy checks after validation; 0 when the message may be stored. */
static int
submit_authorise(struct broker *b, struct session *s, const Nara__Envelope *env,
    const struct config_node **dest, struct nara_err *err)
{
	const struct config_node *self = config_node_find(b->cfg, s->node);

	if (self == NULL || !config_node_serves(self, env->sender))
		return nara_err_set(err, NR_SENDER_NOT_OWNED, "envelope.sender",
		    "node %s does not serve %s", s->node, env->sender);
	if ((*dest = config_route(b->cfg, env->recipient)) == NULL)
		return nara_err_set(err, NR_NO_ROUTE, "envelope.recipient",
		    "no node serves %s", env->recipient);
	if (config_authorize(b->cfg, env->sender, env->recipient, env->type,
	    b->batch_now_ms / 1000) != NR_OK)
		return nara_err_set(err, NR_POLICY_DENIED, NULL,
		    "no rule allows %s from %s to %s",
		    message_type_name(env->type), env->sender, env->recipient);
	return 0;
}

void
broker_submit(struct broker *b, struct session *s, const Nara__Frame *frame)
{
	const Nara__Envelope *env = frame->submit ? frame->submit->envelope : NULL;
	const char *mid = env && env->message_id ? env->message_id : "";
	int64_t now = b->batch_now_ms / 1000;
	const struct config_node *dest = NULL;
	enum store_accept_result res;
	struct validate_limits lim;
	struct nara_err err = { 0 };
	struct store_msg m = { 0 };
	uint8_t *payload = NULL;
	size_t len;

	b->stats.submits++;
	s->counts.submitted++;
	broker_limits(b, &lim);
	if (validate_frame(frame, &lim, now, &err) != 0 ||
	    submit_authorise(b, s, env, &dest, &err) != 0)
		goto refuse;
	msg_from_envelope(&m, env);
	m.sender_node = s->node;
	m.recipient_node = dest->id;
	len = protobuf_c_message_get_packed_size(&env->base);
	if ((payload = malloc(len ? len : 1)) == NULL) {
		nara_err_set(&err, NR_UNAVAILABLE, NULL, "out of memory");
		goto refuse;
	}
	protobuf_c_message_pack(&env->base, payload);
	if (EVP_Digest(payload, len, m.payload_sha256, NULL, b->sha256,
	    NULL) != 1) {
		nara_err_set(&err, NR_UNAVAILABLE, NULL, "cannot compute SHA-256");
		goto refuse;
	}
	m.payload = payload;
	m.payload_len = len;
	if (store_accept(b->store, &m, now, &res, &err) != 0)
		goto refuse;
	if (res == STORE_CONFLICT) {
		nara_err_set(&err, NR_DUPLICATE_CONFLICT, "envelope.message_id",
		    "message id %s was accepted earlier with other content", mid);
		goto refuse;
	}
	free(payload);
	if (res == STORE_DUPLICATE) {
		b->stats.duplicates++;
	} else {
		b->stats.accepted++;
		metrics_accepted(&b->metrics, m.type);
		broker_queue_added(b, dest->id, m.seq);
	}
	queue_accepted(b, s, mid, res == STORE_DUPLICATE);
	return;
refuse:
	free(payload);
	if (env != NULL && m.message_id == NULL)
		msg_from_envelope(&m, env);
	store_audit_rejected(b->store, &m, s->node, nara_code_id(err.code),
	    err.text, now);
	log_limited(&s->loglim, LOG_LVL_INFO, "refused %s from %s: %s %s%s%s",
	    mid[0] ? mid : "(no id)",
	    s->node, nara_code_id(err.code), err.path, err.path[0] ? ": " : "",
	    err.text);
	broker_queue_rejected(b, s->node, strlen(s->node), mid, &err);
}
