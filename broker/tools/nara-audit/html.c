/*
 * html.c — the patient's log extract and the review report as one
 * self-contained, printable HTML page in Swedish: no scripts, no external
 * assets, a print style sheet (A4, the table head repeated on every page,
 * no line split across pages). Every text from the log or the config is
 * escaped. The ids of elements (meta, count, messages, data-status) are
 * what tests and other tools may rely on; AUDIT.md lists them.
 */
#include <string.h>

#include "tool.h"
#include "validate.h"

static const char STYLE[] =
	"body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:11pt;"
	"color:#111;margin:2em auto;max-width:60em;padding:0 1em}"
	"h1{font-size:18pt;margin:0 0 .3em}"
	"p.lead{margin:0 0 1em;color:#333}"
	"dl#meta{display:grid;grid-template-columns:max-content auto;"
	"gap:.2em 1em;margin:0 0 1.2em}dl#meta dt{font-weight:bold}"
	"dl#meta dd{margin:0}"
	"table{border-collapse:collapse;width:100%}"
	"th,td{border:1px solid #999;padding:.35em .5em;text-align:left;"
	"vertical-align:top}th{background:#eee}"
	".id{display:block;font-size:8.5pt;color:#555;word-break:break-all}"
	"tr[data-status=avvisat] td.outcome,tr[data-status=ej_levererat] "
	"td.outcome{font-weight:bold}"
	"p.note{font-size:9.5pt;color:#333;margin-top:1.2em}"
	"body.review{max-width:80em}"
	"@page{size:A4 landscape;margin:15mm}"
	"@media print{body{margin:0;max-width:none;font-size:9.5pt}"
	"thead{display:table-header-group}tr{break-inside:avoid}}";

static void
esc(FILE *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out);
		}
	}
}

static void
meta(FILE *out, const char *term, const char *id, const char *value)
{
	fputs("<dt>", out);
	esc(out, term);
	fprintf(out, "</dt><dd%s%s%s>", id ? " id=\"" : "", id ? id : "",
	    id ? "\"" : "");
	esc(out, value);
	fputs("</dd>\n", out);
}

/* The unit's name with its HSA-id or address below it. */
static void
unit_cell(FILE *out, const struct doc *d, const char *address)
{
	char name[200];

	fputs("<td>", out);
	esc(out, unit_name(d->cfg, address, name, sizeof(name)));
	if (address != NULL && address[0] != '\0') {
		fputs("<span class=\"id\">", out);
		fputs(strncmp(address, "kommun:", 7) == 0 ? "Adress: "
		    : "HSA-id: ", out);
		esc(out, address);
		fputs("</span>", out);
	}
	fputs("</td>", out);
}

static void
review_cells(FILE *out, const struct msg_line *m)
{
	char when[32];

	fprintf(out, "<td class=\"sampled\">%s</td><td class=\"review\">",
	    m->sampled ? "Ja" : "Nej");
	if (m->reviewed_ms == 0) {
		fputs("<strong>Ej granskad</strong></td>", out);
		return;
	}
	esc(out, m->conclusion);
	fputs("<span class=\"id\">", out);
	esc(out, m->reviewer);
	fprintf(out, ", %s</span></td>", sv_time(m->reviewed_ms, when,
	    sizeof(when)));
}

static void
line_row(FILE *out, const struct doc *d, const struct msg_line *m)
{
	char when[32], outcome[400];

	fprintf(out, "<tr data-status=\"%s\" data-id=\"", line_status(m));
	esc(out, m->id);
	fprintf(out, "\"><td>%s", sv_time(m->received_ms, when,
	    sizeof(when)));
	if (d->review) {    /* the id a reviewer records a conclusion for */
		fputs("<span class=\"id\">", out);
		esc(out, m->id);
		fputs("</span>", out);
	}
	fputs("</td><td>", out);
	esc(out, sv_type(m->type));
	fputs("</td>", out);
	unit_cell(out, d, m->sender);
	unit_cell(out, d, m->recipient);
	fputs("<td>", out);
	esc(out, sv_basis(m->basis));
	fputs("</td><td class=\"outcome\">", out);
	esc(out, line_outcome(m, outcome, sizeof(outcome)));
	fputs("</td>", out);
	if (d->review)
		review_cells(out, m);
	fputs("</tr>\n", out);
}

static int64_t
reviewed_count(const struct doc *d, bool sampled_only)
{
	int64_t n = 0;

	for (size_t i = 0; i < d->lines->n; i++)
		n += d->lines->v[i].reviewed_ms > 0 &&
		    (!sampled_only || d->lines->v[i].sampled);
	return n;
}

static void
review_meta(FILE *out, const struct doc *d)
{
	char a[32], b[32], text[200];
	int64_t rs = reviewed_count(d, true);

	/* as the auditor gave it: UTC, the end not included */
	snprintf(text, sizeof(text), "från %s till %s (UTC)",
	    time_format(d->from_ms / 1000, a, sizeof(a)),
	    time_format(d->to_ms / 1000, b, sizeof(b)));
	meta(out, "Period (mottagna meddelanden)", "period", text);
	snprintf(text, sizeof(text), "%lld meddelanden",
	    (long long)d->population);
	meta(out, "Mottagna under perioden", "population", text);
	if (d->has_sample)
		snprintf(text, sizeof(text), "%lld slumpvis valda (seed %llu)",
		    (long long)d->sampled, (unsigned long long)d->seed);
	else
		snprintf(text, sizeof(text), "inget urval gjort");
	meta(out, "Urval", "sample", text);
	snprintf(text, sizeof(text), "%lld", (long long)rs);
	meta(out, "Granskade i urvalet", "reviewed", text);
	snprintf(text, sizeof(text), "%lld", (long long)(d->sampled - rs));
	meta(out, "Ej granskade i urvalet", "unreviewed", text);
	snprintf(text, sizeof(text), "%lld", (long long)(reviewed_count(d,
	    false) - rs));
	meta(out, "Granskade utanför urvalet", "reviewed-other", text);
}

static void
head(FILE *out, const struct doc *d)
{
	char when[32], count[32];

	fprintf(out, "<!DOCTYPE html>\n<html lang=\"sv\"><head>"
	    "<meta charset=\"utf-8\"><title>%s</title><style>%s</style>"
	    "</head>\n<body class=\"%s\">\n<h1>%s</h1>\n", d->review
	    ? "Logguppföljning" : "Loggutdrag", STYLE, d->review ? "review"
	    : "extract", d->review ? "Rapport från systematisk "
	    "logguppföljning" : "Loggutdrag");
	fprintf(out, "<p class=\"lead\">%s</p>\n<dl id=\"meta\">\n", d->review
	    ? "Granskning av ett urval av de meddelanden som nara, regionens "
	    "och kommunernas meddelandeförmedling, tog emot under perioden."
	    : "Meddelanden om ett barn som har skickats mellan regionens och "
	    "kommunernas enheter genom nara, deras meddelandeförmedling.");
	meta(out, d->review ? "Rapporten skapad" : "Utdraget skapat", "made",
	    sv_time(d->made_ms, when, sizeof(when)));
	meta(out, "Utfärdat av", "operator", d->operator);
	snprintf(count, sizeof(count), "%zu", d->lines->n);
	meta(out, "Antal meddelanden", "count", count);
	if (d->review)
		review_meta(out, d);
	fputs("</dl>\n", out);
}

int
doc_html(const struct doc *d, FILE *out)
{
	head(out, d);
	if (d->lines->n == 0) {
		fprintf(out, "<p id=\"empty\">%s</p>\n", d->review ? "Inga "
		    "meddelanden att redovisa för perioden." : "Det finns inga "
		    "meddelanden om barnet i loggen.");
	} else {
		fputs("<table id=\"messages\"><thead><tr><th>Mottaget</th>"
		    "<th>Typ</th><th>Från</th><th>Till</th><th>Rättslig grund"
		    "</th><th>Utfall</th>", out);
		if (d->review)
			fputs("<th>I urvalet</th><th>Granskning</th>", out);
		fputs("</tr></thead>\n<tbody>\n", out);
		for (size_t i = 0; i < d->lines->n; i++)
			line_row(out, d, &d->lines->v[i]);
		fputs("</tbody></table>\n", out);
	}
	fprintf(out, "<p class=\"note\">%s %s</p>\n</body></html>\n",
	    d->review ? "Rapporten bygger på loggens "
	    "metadata; meddelandenas innehåll ingår inte." : "Utdraget visar "
	    "vilka enheter som skickade och tog emot meddelanden om barnet och "
	    "när, inte vad meddelandena innehöll. Det bygger på nara:s logg.",
	    sv_time_note());
	return ferror(out) ? -1 : 0;
}
