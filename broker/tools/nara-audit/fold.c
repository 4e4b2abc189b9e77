/*
 * fold.c — the audit rows of messages folded into one line per message,
 * as a lay reader and a reviewer want them: when it came, what it was,
 * from which unit to which, on what legal basis and how it ended
 * (delivered, receipted to the sender, refused and why, or still
 * waiting), with the Swedish words the patient's log extract and the
 * review report use. Unit names come from nara.conf when it is given.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "tool.h"
#include "validate.h"

/* The line of message id, searched from the newest (a message's rows lie
 * close together); NULL when there is none. */
static struct msg_line *
line_find(struct msg_lines *l, const char *id)
{
	for (size_t i = l->n; id != NULL && i > 0; i--)
		if (!l->v[i - 1].refusal && strcmp(l->v[i - 1].id, id) == 0)
			return &l->v[i - 1];
	return NULL;
}

static struct msg_line *
line_new(struct msg_lines *l)
{
	struct msg_line *nv;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;

		if ((nv = reallocarray(l->v, cap, sizeof(*nv))) == NULL) {
			l->oom = true;
			return NULL;
		}
		l->v = nv;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static void
copy(char *dst, size_t len, const char *src)
{
	if (src != NULL && dst[0] == '\0')
		snprintf(dst, len, "%s", src);
}

/* Metadata a row carries that the line does not have yet. */
static void
line_meta(struct msg_line *m, const struct audit_row *r)
{
	copy(m->id, sizeof(m->id), r->message_id);
	copy(m->type, sizeof(m->type), r->type);
	copy(m->sender, sizeof(m->sender), r->sender);
	copy(m->recipient, sizeof(m->recipient), r->recipient);
	copy(m->basis, sizeof(m->basis), r->legal_basis);
}

static void
line_reason(struct msg_line *m, const struct audit_row *r)
{
	snprintf(m->code, sizeof(m->code), "%s", r->code ? r->code : "");
	snprintf(m->reason, sizeof(m->reason), "%s", r->detail ? r->detail : "");
}

int
lines_add(struct msg_lines *l, const struct audit_row *r)
{
	const char *ev = r->event ? r->event : "";
	struct msg_line *m;

	if (r->message_id == NULL && strcmp(ev, "rejected") != 0)
		return 0;
	/* A refused submission is a line of its own: its id may be one that
	 * an accepted message already has (NR033). */
	m = strcmp(ev, "rejected") == 0 ? NULL : line_find(l, r->message_id);
	if (m == NULL && (m = line_new(l)) == NULL)
		return -1;
	line_meta(m, r);
	if (strcmp(ev, "rejected") == 0) {
		m->refusal = true;
		m->received_ms = m->rejected_ms = r->time_ms;
		line_reason(m, r);
	} else if (strcmp(ev, "received") == 0) {
		m->received_ms = r->time_ms;
	} else if (strcmp(ev, "acked") == 0) {
		m->delivered_ms = r->time_ms;
		m->dead_ms = 0;
	} else if (strcmp(ev, "receipt_acked") == 0) {
		m->receipt_ms = r->time_ms;
	} else if (strcmp(ev, "dead_lettered") == 0) {
		m->dead_ms = r->time_ms;
		line_reason(m, r);
	} else if (strcmp(ev, "retried") == 0) {
		m->dead_ms = 0;
	} else if (strcmp(ev, "log_reviewed") == 0) {
		m->reviewed_ms = r->time_ms;
		snprintf(m->reviewer, sizeof(m->reviewer), "%s",
		    r->author ? r->author : "");
		snprintf(m->conclusion, sizeof(m->conclusion), "%s",
		    r->detail ? r->detail : "");
	}
	return 0;
}

struct msg_line *
lines_push(struct msg_lines *l, const struct msg_line *m)
{
	struct msg_line *n = line_new(l);

	if (n != NULL)
		*n = *m;
	return n;
}

int
lines_add_cb(void *arg, const struct audit_row *r, const uint8_t *prev_hash,
    const uint8_t *hash)
{
	(void)prev_hash;
	(void)hash;
	return lines_add(arg, r) != 0;
}

void
lines_clear(struct msg_lines *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---------------------------------------------------------------- words */

const char *
sv_type(const char *type)
{
	static const char *const map[][2] = {
		{ "referral", "Remiss" },
		{ "referral_response", "Svar på remiss" },
		{ "consultation_request", "Konsultationsfråga" },
		{ "consultation_response", "Svar på konsultation" },
		{ "sip_invitation", "Kallelse till SIP-möte" },
		{ "sip_response", "Svar på SIP-kallelse" },
		{ "report_of_concern", "Orosanmälan" },
	};

	for (size_t i = 0; type != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i][0]) == 0)
			return map[i][1];
	return "Okänd meddelandetyp";
}

const char *
sv_basis(const char *basis)
{
	static const char *const map[][2] = {
		{ "guardian_consent", "Vårdnadshavares samtycke" },
		{ "own_consent", "Den unges eget samtycke" },
		{ "mandatory_report", "Anmälningsskyldighet" },
		{ "deidentified", "Avidentifierad (barnet namnges inte)" },
	};

	for (size_t i = 0; basis != NULL && i < sizeof(map) / sizeof(map[0]);
	    i++)
		if (strcmp(basis, map[i][0]) == 0)
			return map[i][1];
	return "Ej angiven";
}

/* Why a message was refused or not delivered, for a lay reader. */
static const char *
sv_reason(const char *code)
{
	static const char *const map[][2] = {
		{ "NR012", "mottagarens eller avsändarens adress är ogiltig" },
		{ "NR013", "personnumret är ogiltigt" },
		{ "NR016", "rättslig grund saknades" },
		{ "NR017", "den rättsliga grunden passar inte meddelandetypen" },
		{ "NR018", "ett avidentifierat meddelande innehöll personuppgifter" },
		{ "NR020", "meddelandet var för stort" },
		{ "NR023", "meddelandets giltighetstid hade redan gått ut" },
		{ "NR030", "avsändaren fick inte skicka från den adressen" },
		{ "NR031", "reglerna tillåter inte meddelandet mellan dessa enheter" },
		{ "NR032", "det finns ingen mottagare med den adressen" },
		{ "NR033", "meddelandets id användes redan för ett annat meddelande" },
		{ "NR040", "nara kunde inte spara fler meddelanden" },
		{ "NR050", "mottagaren tog inte emot meddelandet" },
		{ "NR051", "giltighetstiden gick ut innan mottagaren hämtade det" },
		{ "NR052", "mottagarens system tog inte emot meddelandet" },
	};

	for (size_t i = 0; code != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i][0]) == 0)
			return map[i][1];
	return "tekniskt fel";
}

static bool swedish_time;

void
sv_time_init(void)
{
	/* Without tzdata glibc would quietly use UTC under a Swedish name:
	 * say UTC instead. */
	swedish_time = access("/usr/share/zoneinfo/Europe/Stockholm", R_OK)
	    == 0;
	setenv("TZ", swedish_time ? "Europe/Stockholm" : "UTC0", 1);
	tzset();
}

const char *
sv_time_note(void)
{
	return swedish_time ? "Tider i svensk tid." : "Tider i UTC "
	    "(tidszonen Europe/Stockholm finns inte på datorn).";
}

/* "2026-12-03 18:57" in Swedish time (Europe/Stockholm), "-" for 0. */
const char *
sv_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

const char *
line_status(const struct msg_line *m)
{
	if (m->refusal)
		return "avvisat";
	if (m->dead_ms > 0)
		return "ej_levererat";
	if (m->receipt_ms > 0)
		return "kvitterat";
	if (m->delivered_ms > 0)
		return "levererat";
	return "vantar";
}

const char *
line_outcome(const struct msg_line *m, char *buf, size_t len)
{
	char a[32], b[32];

	if (m->refusal || m->dead_ms > 0)
		snprintf(buf, len, "%s %s: %s (kod %s)", m->refusal ? "Avvisat"
		    : "Kunde inte levereras,", sv_time(m->refusal
		    ? m->rejected_ms : m->dead_ms, a, sizeof(a)),
		    sv_reason(m->code), m->code[0] ? m->code : "saknas");
	else if (m->receipt_ms > 0)
		snprintf(buf, len, "Levererat %s; kvittens till avsändaren %s",
		    sv_time(m->delivered_ms, a, sizeof(a)),
		    sv_time(m->receipt_ms, b, sizeof(b)));
	else if (m->delivered_ms > 0)
		snprintf(buf, len, "Levererat %s", sv_time(m->delivered_ms, a,
		    sizeof(a)));
	else
		snprintf(buf, len, "Väntar fortfarande på att mottagaren hämtar "
		    "meddelandet");
	return buf;
}

/* ---------------------------------------------------------------- units */

static const char *
sv_service(const char *service)
{
	static const char *const map[][2] = {
		{ "socialtjanst", "socialtjänst" }, { "elevhalsa", "elevhälsa" },
		{ "forskola", "förskola" }, { "skola", "skola" },
		{ "hemsjukvard", "hemsjukvård" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(service, map[i][0]) == 0)
			return map[i][1];
	return service;
}

const char *
unit_name(const struct config *cfg, const char *address, char *buf,
    size_t len)
{
	const struct config_node *n = NULL;
	char code[5];

	if (address == NULL || address[0] == '\0')
		return snprintf(buf, len, "Okänd enhet"), buf;
	if (cfg != NULL)
		n = config_route(cfg, address);
	if (address_municipality(address, code) == 0) {
		if (n != NULL)
			snprintf(buf, len, "%s, %s", n->name ? n->name : n->id, sv_service(address
			    + 12));
		else
			snprintf(buf, len, "Kommun %s, %s", code,
			    sv_service(address + 12));
	} else if (n != NULL) {
		snprintf(buf, len, "%s", n->name ? n->name : n->id);
	} else {
		snprintf(buf, len, "Okänd enhet");
	}
	return buf;
}
