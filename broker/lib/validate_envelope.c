/*
 * validate_envelope.c — the envelope rules of docs/PROTOCOL.md section 5,
 * checked in the documented order so that the first problem reported is the
 * one the documentation promises, plus a generic walk over every text field.
 *
 * Nothing here allocates except OpenSSL while hashing attachments; error
 * texts never echo a personal number or clinical content.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "utf8.h"
#include "validate.h"
#include "validate_int.h"

#define DAY_SECONDS  86400
#define SHA256_BYTES 32
#define WALK_DEPTH   8

/* The body each message type must carry. */
static const Nara__Envelope__BodyCase type_body[] = {
	[NARA__MESSAGE_TYPE__REFERRAL] = NARA__ENVELOPE__BODY_REFERRAL,
	[NARA__MESSAGE_TYPE__REFERRAL_RESPONSE] = NARA__ENVELOPE__BODY_REFERRAL_RESPONSE,
	[NARA__MESSAGE_TYPE__CONSULTATION_REQUEST] = NARA__ENVELOPE__BODY_CONSULTATION_REQUEST,
	[NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE] = NARA__ENVELOPE__BODY_CONSULTATION_RESPONSE,
	[NARA__MESSAGE_TYPE__SIP_INVITATION] = NARA__ENVELOPE__BODY_SIP_INVITATION,
	[NARA__MESSAGE_TYPE__SIP_RESPONSE] = NARA__ENVELOPE__BODY_SIP_RESPONSE,
	[NARA__MESSAGE_TYPE__REPORT_OF_CONCERN] = NARA__ENVELOPE__BODY_REPORT_OF_CONCERN,
};

/* Legal bases each type may state, as bit masks of Nara__LegalBasis. */
#define BASIS(b)  (1u << NARA__LEGAL_BASIS__LEGAL_BASIS_##b)
#define CONSENT   (BASIS(GUARDIAN_CONSENT) | BASIS(OWN_CONSENT))
static const unsigned type_bases[] = {
	[NARA__MESSAGE_TYPE__REFERRAL] = CONSENT,
	[NARA__MESSAGE_TYPE__REFERRAL_RESPONSE] = CONSENT | BASIS(DEIDENTIFIED),
	[NARA__MESSAGE_TYPE__CONSULTATION_REQUEST] = CONSENT | BASIS(DEIDENTIFIED),
	[NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE] = CONSENT | BASIS(DEIDENTIFIED),
	[NARA__MESSAGE_TYPE__SIP_INVITATION] = CONSENT,
	[NARA__MESSAGE_TYPE__SIP_RESPONSE] = CONSENT | BASIS(DEIDENTIFIED),
	[NARA__MESSAGE_TYPE__REPORT_OF_CONCERN] = BASIS(MANDATORY_REPORT),
};

/* path = prefix "[i]" suffix, for errors in repeated fields. */
static const char *
indexed(char *buf, size_t len, const char *prefix, size_t i, const char *suffix)
{
	snprintf(buf, len, "%s[%zu]%s", prefix, i, suffix);
	return buf;
}

static const char *
enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

	return v != NULL ? v->name : "unknown";
}

/* ---------------------------------------------------------------- text walk */

/* Every string of a message, found through its descriptor so that a field
 * added to nara.proto is covered without touching this file. The stack
 * remembers which field (and index) we are in, to name it on failure. */
struct text_walk {
	const char *root;           /* first path element: "envelope", "hello" */
	const struct validate_limits *lim;
	struct nara_err *err;
	int depth;
	struct {
		const ProtobufCFieldDescriptor *field;
		size_t index;
	} level[WALK_DEPTH];
};

static int
walk_fail(struct text_walk *w, enum nara_code code, const char *text)
{
	char path[sizeof(w->err->path)];
	size_t n = (size_t)snprintf(path, sizeof(path), "%s", w->root);

	for (int i = 0; i < w->depth && n < sizeof(path); i++) {
		const ProtobufCFieldDescriptor *f = w->level[i].field;

		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			n += (size_t)snprintf(path + n, sizeof(path) - n,
			    ".%s[%zu]", f->name, w->level[i].index);
		else
			n += (size_t)snprintf(path + n, sizeof(path) - n,
			    ".%s", f->name);
	}
	return nara_err_set(w->err, code, path, "%s", text);
}

size_t
text_made_valid(const char *in, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), o = 0, k;
	unsigned cp;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < n; i += k) {
		k = utf8_seq(s + i, n - i, &cp);
		bool keep = k > 0 && !utf8_is_control(cp);
		if (k == 0)
			k = 1;
		if (o + (keep ? k : 1) >= cap)
			break;
		if (keep) {
			memcpy(out + o, s + i, k);
			o += k;
		} else {
			out[o++] = '?';
		}
	}
	out[o] = '\0';
	return o;
}

static int walk_message(struct text_walk *w, const ProtobufCMessage *msg);

static int
walk_value(struct text_walk *w, const ProtobufCFieldDescriptor *f,
    const void *member)
{
	const char *s;
	const ProtobufCMessage *sub;
	size_t n;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if ((s = *(const char *const *)member) == NULL)
			return 0;
		n = strnlen(s, w->lim->max_text_bytes + 1);
		if (n > w->lim->max_text_bytes)
			return walk_fail(w, NR_TOO_LARGE, "text field too long");
		switch (utf8_text_check((const unsigned char *)s, n)) {
		case UTF8_TEXT_INVALID:
			return walk_fail(w, NR_BAD_VALUE, "text is not valid UTF-8");
		case UTF8_TEXT_CONTROL:
			return walk_fail(w, NR_BAD_VALUE,
			    "text contains a control character");
		default:
			return 0;
		}
	case PROTOBUF_C_TYPE_MESSAGE:
		sub = *(const ProtobufCMessage *const *)member;
		if (sub != NULL)
			return walk_message(w, sub);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			return walk_fail(w, NR_MISSING_FIELD, "empty list entry");
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (!enum_known(f->descriptor, *(const int *)member))
			return walk_fail(w, NR_BAD_VALUE, "unknown enum value");
		return 0;
	default:
		return 0;
	}
}

/* One field of msg: skip an unchosen oneof member, iterate repeated ones. */
static int
walk_field(struct text_walk *w, const ProtobufCMessage *msg,
    const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)msg, *array;
	size_t count, size = f->type == PROTOBUF_C_TYPE_ENUM ? sizeof(int)
	    : sizeof(void *);

	if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE &&
	    f->type != PROTOBUF_C_TYPE_ENUM)
		return 0;
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
		return 0;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type == PROTOBUF_C_TYPE_ENUM &&
	    !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
		return 0;
	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return walk_value(w, f, base + f->offset);
	count = *(const size_t *)(base + f->quantifier_offset);
	array = *(const char *const *)(base + f->offset);
	if (count > 0 && array == NULL)
		return walk_fail(w, NR_MISSING_FIELD, "list without entries");
	for (size_t i = 0; i < count; i++) {
		w->level[w->depth - 1].index = i;
		if (walk_value(w, f, array + i * size) != 0)
			return -1;
	}
	return 0;
}

static int
walk_message(struct text_walk *w, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;

	if (w->depth >= WALK_DEPTH)
		return walk_fail(w, NR_TOO_LARGE, "messages nested too deeply");
	for (unsigned i = 0; i < desc->n_fields; i++) {
		w->level[w->depth].field = &desc->fields[i];
		w->level[w->depth].index = 0;
		w->depth++;
		if (walk_field(w, msg, &desc->fields[i]) != 0)
			return -1;
		w->depth--;
	}
	return 0;
}

/* The same text rules for the strings of a frame's other kinds (hello,
 * nack, receipt, ...): they reach logs, the audit and other nodes too. */
int
validate_texts(const ProtobufCMessage *msg, const char *root,
    const struct validate_limits *lim, struct nara_err *err)
{
	struct validate_limits def;
	struct text_walk walk = { .root = root, .lim = lim, .err = err };

	if (lim == NULL) {
		validate_limits_default(&def);
		walk.lim = &def;
	}
	return msg == NULL ? 0 : walk_message(&walk, msg);
}

/* ---------------------------------------------------------------- envelope */

static bool
type_is_response(Nara__MessageType type)
{
	return type == NARA__MESSAGE_TYPE__REFERRAL_RESPONSE ||
	    type == NARA__MESSAGE_TYPE__CONSULTATION_RESPONSE ||
	    type == NARA__MESSAGE_TYPE__SIP_RESPONSE;
}

/* The chosen body, or NULL when none is set. */
static const void *
envelope_body(const Nara__Envelope *env)
{
	switch (env->body_case) {
	case NARA__ENVELOPE__BODY_REFERRAL: return env->referral;
	case NARA__ENVELOPE__BODY_REFERRAL_RESPONSE: return env->referral_response;
	case NARA__ENVELOPE__BODY_CONSULTATION_REQUEST: return env->consultation_request;
	case NARA__ENVELOPE__BODY_CONSULTATION_RESPONSE: return env->consultation_response;
	case NARA__ENVELOPE__BODY_SIP_INVITATION: return env->sip_invitation;
	case NARA__ENVELOPE__BODY_SIP_RESPONSE: return env->sip_response;
	case NARA__ENVELOPE__BODY_REPORT_OF_CONCERN: return env->report_of_concern;
	default: return NULL;
	}
}

/* Step 2 of PROTOCOL.md: presence (NR010), ids (NR011), addresses (NR012),
 * enums (NR019) and body against type (NR014). */
static int
envelope_header(const Nara__Envelope *env, struct nara_err *err)
{
	if (is_empty(env->message_id))
		return missing(err, "envelope.message_id");
	if (env->type == NARA__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED)
		return missing(err, "envelope.type");
	if (is_empty(env->sender))
		return missing(err, "envelope.sender");
	if (is_empty(env->recipient))
		return missing(err, "envelope.recipient");
	if (env->author == NULL)
		return missing(err, "envelope.author");
	if (is_empty(env->author->id))
		return missing(err, "envelope.author.id");
	if (is_empty(env->author->role))
		return missing(err, "envelope.author.role");
	if (is_empty(env->created))
		return missing(err, "envelope.created");
	if (env->priority == NARA__PRIORITY__PRIORITY_UNSPECIFIED)
		return missing(err, "envelope.priority");
	if (envelope_body(env) == NULL)
		return missing(err, "envelope.body");
	if (type_is_response(env->type) && is_empty(env->in_reply_to))
		return missing(err, "envelope.in_reply_to");
	if (validate_uuid(env->message_id, err, "envelope.message_id") != 0 ||
	    (!is_empty(env->conversation_id) && validate_uuid(
	    env->conversation_id, err, "envelope.conversation_id") != 0) ||
	    (!is_empty(env->in_reply_to) && validate_uuid(env->in_reply_to,
	    err, "envelope.in_reply_to") != 0))
		return -1;
	if (validate_address(env->sender, err, "envelope.sender") < 0 ||
	    validate_address(env->recipient, err, "envelope.recipient") < 0)
		return -1;
	if (strcmp(env->sender, env->recipient) == 0)
		return nara_err_set(err, NR_BAD_ADDRESS, "envelope.recipient",
		    "sender and recipient are the same address");
	if (!enum_known(&nara__message_type__descriptor, (int)env->type))
		return nara_err_set(err, NR_BAD_VALUE, "envelope.type",
		    "unknown message type %d", (int)env->type);
	if (!enum_known(&nara__priority__descriptor, (int)env->priority))
		return nara_err_set(err, NR_BAD_VALUE, "envelope.priority",
		    "unknown priority %d", (int)env->priority);
	if (!enum_known(&nara__legal_basis__descriptor, (int)env->legal_basis))
		return nara_err_set(err, NR_BAD_VALUE, "envelope.legal_basis",
		    "unknown legal basis %d", (int)env->legal_basis);
	if (env->body_case != type_body[env->type])
		return nara_err_set(err, NR_TYPE_MISMATCH, "envelope.type",
		    "type %s does not match the body", message_type_name(env->type));
	return 0;
}

/* created parses and is not far ahead of now; expires after created and,
 * when now is given, still ahead of it. */
static int
envelope_times(const Nara__Envelope *env, int64_t now, struct nara_err *err)
{
	int64_t created, expires;
	char when[32];

	if (validate_time(env->created, &created, err, "envelope.created") != 0)
		return -1;
	if (now > 0 && created > now + DAY_SECONDS)
		return nara_err_set(err, NR_BAD_TIME, "envelope.created",
		    "created lies more than a day in the future");
	if (is_empty(env->expires))
		return 0;
	if (validate_time(env->expires, &expires, err, "envelope.expires") != 0)
		return -1;
	if (expires <= created)
		return nara_err_set(err, NR_BAD_TIME, "envelope.expires",
		    "expires must be after created");
	if (now > 0 && expires <= now)
		return nara_err_set(err, NR_EXPIRED, "envelope.expires",
		    "expired at %s", time_format(expires, when, sizeof(when)));
	return 0;
}

/* Step 3: the legal basis fits the type, and the subject fits the basis. */
static int
envelope_legal_basis(const Nara__Envelope *env, struct nara_err *err)
{
	Nara__LegalBasis basis = env->legal_basis;

	if (basis == NARA__LEGAL_BASIS__LEGAL_BASIS_UNSPECIFIED)
		return nara_err_set(err, NR_NO_LEGAL_BASIS, "envelope.legal_basis",
		    "a legal basis is required");
	if ((type_bases[env->type] & (1u << basis)) == 0)
		return nara_err_set(err, NR_LEGAL_BASIS_MISFIT,
		    "envelope.legal_basis", "%s is not a legal basis for %s",
		    enum_name(&nara__legal_basis__descriptor, (int)basis),
		    message_type_name(env->type));
	if (basis == NARA__LEGAL_BASIS__LEGAL_BASIS_DEIDENTIFIED) {
		if (env->subject != NULL)
			return nara_err_set(err, NR_SUBJECT_NOT_ALLOWED,
			    "envelope.subject",
			    "a de-identified message may not carry a subject");
		return 0;
	}
	if (env->subject == NULL)
		return nara_err_set(err, NR_MISSING_FIELD, "envelope.subject",
		    "%s must identify the child under this legal basis",
		    message_type_name(env->type));
	return validate_personal_number(env->subject->personal_number, err,
	    "envelope.subject.personal_number");
}

/* Step 4: how the child took part, required where the child is the topic. */
static int
envelope_participation(const Nara__Envelope *env, struct nara_err *err)
{
	const Nara__ChildParticipation *cp = env->child_participation;

	if (cp == NULL) {
		if (env->type == NARA__MESSAGE_TYPE__REFERRAL ||
		    env->type == NARA__MESSAGE_TYPE__SIP_INVITATION ||
		    env->type == NARA__MESSAGE_TYPE__REPORT_OF_CONCERN)
			return missing(err, "envelope.child_participation");
		return 0;
	}
	if (cp->participation == NARA__PARTICIPATION__PARTICIPATION_UNSPECIFIED)
		return missing(err, "envelope.child_participation.participation");
	if (!enum_known(&nara__participation__descriptor, (int)cp->participation))
		return nara_err_set(err, NR_BAD_VALUE,
		    "envelope.child_participation.participation",
		    "unknown participation %d", (int)cp->participation);
	return 0;
}

/* Each of n times must parse; prefix names the repeated field. */
static int
check_times(char *const *times, size_t n, struct nara_err *err,
    const char *prefix)
{
	char path[96];

	if (n > 0 && times == NULL)
		return missing(err, prefix);
	for (size_t i = 0; i < n; i++)
		if (validate_time(times[i], NULL, err,
		    indexed(path, sizeof(path), prefix, i, "")) != 0)
			return -1;
	return 0;
}

static int
body_referral_response(const Nara__ReferralResponse *r, struct nara_err *err)
{
	if (require_enum(&nara__referral_decision__descriptor, (int)r->decision,
	    err, "envelope.referral_response.decision") != 0)
		return -1;
	if (r->decision == NARA__REFERRAL_DECISION__REFERRAL_REJECTED &&
	    is_empty(r->reason))
		return missing(err, "envelope.referral_response.reason");
	if (r->decision == NARA__REFERRAL_DECISION__REFERRAL_FORWARDED &&
	    is_empty(r->forwarded_to))
		return missing(err, "envelope.referral_response.forwarded_to");
	if (!is_empty(r->forwarded_to) && validate_address(r->forwarded_to, err,
	    "envelope.referral_response.forwarded_to") < 0)
		return -1;
	if (!is_empty(r->planned_date) && validate_time(r->planned_date, NULL,
	    err, "envelope.referral_response.planned_date") != 0)
		return -1;
	return 0;
}

static int
body_sip_invitation(const Nara__SipInvitation *sip, struct nara_err *err)
{
	char path[96];

	if (sip->n_proposed_times == 0)
		return missing(err, "envelope.sip_invitation.proposed_times");
	if (check_times(sip->proposed_times, sip->n_proposed_times, err,
	    "envelope.sip_invitation.proposed_times") != 0)
		return -1;
	if (require_enum(&nara__meeting_mode__descriptor, (int)sip->mode, err,
	    "envelope.sip_invitation.mode") != 0)
		return -1;
	if (sip->mode == NARA__MEETING_MODE__MEETING_IN_PERSON &&
	    is_empty(sip->place))
		return missing(err, "envelope.sip_invitation.place");
	if (sip->mode == NARA__MEETING_MODE__MEETING_VIDEO &&
	    is_empty(sip->video_link))
		return missing(err, "envelope.sip_invitation.video_link");
	if (sip->n_invited == 0)
		return missing(err, "envelope.sip_invitation.invited");
	for (size_t i = 0; i < sip->n_invited; i++) {
		const Nara__InvitedParty *p = sip->invited[i];

		if (p == NULL || is_empty(p->name))
			return missing(err, indexed(path, sizeof(path),
			    "envelope.sip_invitation.invited", i, ".name"));
		if (!is_empty(p->address) && validate_address(p->address, err,
		    indexed(path, sizeof(path), "envelope.sip_invitation.invited",
		    i, ".address")) < 0)
			return -1;
	}
	return 0;
}

static int
body_sip_response(const Nara__SipResponse *r, struct nara_err *err)
{
	if (require_enum(&nara__sip_answer__descriptor, (int)r->answer, err,
	    "envelope.sip_response.answer") != 0)
		return -1;
	if (r->answer == NARA__SIP_ANSWER__SIP_ACCEPT && is_empty(r->accepted_time))
		return missing(err, "envelope.sip_response.accepted_time");
	if (!is_empty(r->accepted_time) && validate_time(r->accepted_time, NULL,
	    err, "envelope.sip_response.accepted_time") != 0)
		return -1;
	if (r->answer == NARA__SIP_ANSWER__SIP_PROPOSE_OTHER_TIME &&
	    r->n_proposed_times == 0)
		return missing(err, "envelope.sip_response.proposed_times");
	if (check_times(r->proposed_times, r->n_proposed_times, err,
	    "envelope.sip_response.proposed_times") != 0)
		return -1;
	if (r->answer == NARA__SIP_ANSWER__SIP_DECLINE && is_empty(r->reason))
		return missing(err, "envelope.sip_response.reason");
	return 0;
}

static int
body_report_of_concern(const Nara__ReportOfConcern *r, struct nara_err *err)
{
	if (is_empty(r->observations))
		return missing(err, "envelope.report_of_concern.observations");
	if (require_enum(&nara__urgency__descriptor, (int)r->urgency, err,
	    "envelope.report_of_concern.urgency") != 0)
		return -1;
	if (!r->guardians_informed && is_empty(r->guardians_not_informed_reason))
		return missing(err,
		    "envelope.report_of_concern.guardians_not_informed_reason");
	return 0;
}

/* Step 5: the fields each body requires. */
static int
envelope_body_fields(const Nara__Envelope *env, struct nara_err *err)
{
	switch (env->body_case) {
	case NARA__ENVELOPE__BODY_REFERRAL:
		if (is_empty(env->referral->reason))
			return missing(err, "envelope.referral.reason");
		return 0;
	case NARA__ENVELOPE__BODY_REFERRAL_RESPONSE:
		return body_referral_response(env->referral_response, err);
	case NARA__ENVELOPE__BODY_CONSULTATION_REQUEST:
		if (is_empty(env->consultation_request->question))
			return missing(err, "envelope.consultation_request.question");
		return 0;
	case NARA__ENVELOPE__BODY_CONSULTATION_RESPONSE:
		if (is_empty(env->consultation_response->answer))
			return missing(err, "envelope.consultation_response.answer");
		return 0;
	case NARA__ENVELOPE__BODY_SIP_INVITATION:
		return body_sip_invitation(env->sip_invitation, err);
	case NARA__ENVELOPE__BODY_SIP_RESPONSE:
		return body_sip_response(env->sip_response, err);
	case NARA__ENVELOPE__BODY_REPORT_OF_CONCERN:
		return body_report_of_concern(env->report_of_concern, err);
	default:
		return missing(err, "envelope.body");
	}
}

/* A file name the receiver can store as is: no directories, no "..". */
static bool
file_name_safe(const char *name)
{
	return strchr(name, '/') == NULL && strchr(name, '\\') == NULL &&
	    strstr(name, "..") == NULL;
}

/* Count, sizes and names of all attachments first, then the (costly)
 * checksums, so a bad last attachment is refused before hashing. */
static int
envelope_attachments(const Nara__Envelope *env, const struct validate_limits *lim,
    struct nara_err *err)
{
	const char *pre = "envelope.attachments";
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	char path[96];

	if (env->n_attachments > lim->max_attachments)
		return nara_err_set(err, NR_ATTACHMENT_LIMIT, pre,
		    "%zu attachments, at most %zu allowed", env->n_attachments,
		    lim->max_attachments);
	for (size_t i = 0; i < env->n_attachments; i++) {
		const Nara__Attachment *a = env->attachments[i];

		if (a->data.len > lim->max_attachment_bytes)
			return nara_err_set(err, NR_ATTACHMENT_LIMIT, indexed(path,
			    sizeof(path), pre, i, ".data"), "%zu bytes, at most "
			    "%zu allowed", a->data.len, lim->max_attachment_bytes);
		if (is_empty(a->media_type))
			return missing(err, indexed(path, sizeof(path), pre, i,
			    ".media_type"));
		if (is_empty(a->file_name))
			return missing(err, indexed(path, sizeof(path), pre, i,
			    ".file_name"));
		if (!file_name_safe(a->file_name))
			return nara_err_set(err, NR_BAD_VALUE, indexed(path,
			    sizeof(path), pre, i, ".file_name"),
			    "file name may not contain a path");
		if (a->sha256.len != SHA256_BYTES)
			return nara_err_set(err, NR_ATTACHMENT_HASH, indexed(path,
			    sizeof(path), pre, i, ".sha256"),
			    "must be %d bytes, not %zu", SHA256_BYTES, a->sha256.len);
	}
	for (size_t i = 0; i < env->n_attachments; i++) {
		const Nara__Attachment *a = env->attachments[i];

		if (EVP_Digest(a->data.data, a->data.len, digest, &digest_len,
		    EVP_sha256(), NULL) != 1 || digest_len != SHA256_BYTES)
			return nara_err_set(err, NR_ATTACHMENT_HASH, indexed(path,
			    sizeof(path), pre, i, ".sha256"), "cannot compute SHA-256");
		if (memcmp(digest, a->sha256.data, SHA256_BYTES) != 0)
			return nara_err_set(err, NR_ATTACHMENT_HASH, indexed(path,
			    sizeof(path), pre, i, ".sha256"),
			    "does not match the SHA-256 of the data");
	}
	return 0;
}

/* Step 6: the encoded size, then the attachments (the text walk ran
 * before every step, and it refuses NULL list entries before packing). */
static int
envelope_sizes(const Nara__Envelope *env, const struct validate_limits *lim,
    struct nara_err *err)
{
	size_t packed = protobuf_c_message_get_packed_size(&env->base);

	if (packed > lim->max_message_bytes)
		return nara_err_set(err, NR_TOO_LARGE, "envelope",
		    "%zu bytes encoded, at most %zu allowed", packed,
		    lim->max_message_bytes);
	return envelope_attachments(env, lim, err);
}

/* Every text field: UTF-8 without control characters (NR019), at most
 * max_text_bytes (NR020); step 1 of PROTOCOL.md section 5. */
static int
envelope_text(const Nara__Envelope *env, const struct validate_limits *lim,
    struct nara_err *err)
{
	struct text_walk walk = { .root = "envelope", .lim = lim, .err = err };

	return walk_message(&walk, &env->base);
}

/* The text of step 1, then steps 2-6 of PROTOCOL.md section 5 in order;
 * the first failure wins.
 * now = 0 skips the checks against the clock (created ahead, expired);
 * lim = NULL means the documented defaults. */
int
validate_envelope(const Nara__Envelope *env, const struct validate_limits *lim,
    int64_t now, struct nara_err *err)
{
	struct validate_limits defaults;

	if (env == NULL)
		return missing(err, "envelope");
	if (lim == NULL) {
		validate_limits_default(&defaults);
		lim = &defaults;
	}
	if (envelope_text(env, lim, err) != 0 ||
	    envelope_header(env, err) != 0 ||
	    envelope_times(env, now, err) != 0 ||
	    envelope_legal_basis(env, err) != 0 ||
	    envelope_participation(env, err) != 0 ||
	    envelope_body_fields(env, err) != 0 ||
	    envelope_sizes(env, lim, err) != 0)
		return -1;
	return 0;
}

