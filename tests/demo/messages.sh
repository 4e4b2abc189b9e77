# shellcheck shell=bash
# messages.sh — the demo's message templates, sourced by tests/demo/demo.sh.
#
# Every function prints one JSON envelope in the form nara-msg prints
# (config/examples/ has one of each type). The children, the staff and the
# cases are made up: the names are common Swedish first names and surnames
# put together at random, the personal identity numbers are built here with
# a valid check digit. Times come from the DEMO_T_* variables set by the
# driver, so every message is fresh and none has expired.

DEMO_FIRST=(Elsa Liam Maja Noah Alice Hugo Wilma William Ella Lucas Olivia
	Oscar Vera Elias Alma Leo Saga Adam Stella Nils Ebba Ture Tyra Sixten
	Agnes Melvin Signe Vidar Ines Malte)
DEMO_LAST=(Karlsson Andersson Persson Ali Nilsson Berg Holm Lund Ek
	Sandberg Wikström Lindqvist Hassan Axelsson Björk Strand Dahl Falk
	Hedlund Nyberg Sjöberg Öberg Åkesson Lindgren)

# pnr_for SEED: sets PNR to a 12-digit personal identity number of a child
# aged 4..17 whose Luhn check digit (over the last ten digits) is right.
pnr_for()
{
	local seed=$1 y m d serial body s=0 i digit
	y=$(( 2009 + seed % 14 ))
	m=$(( 1 + seed % 12 ))
	d=$(( 1 + (seed * 7) % 28 ))
	serial=$(( 100 + (seed * 37) % 899 ))
	printf -v body '%02d%02d%02d%03d' $(( y % 100 )) "$m" "$d" "$serial"
	for (( i = 0; i < 9; i++ )); do
		digit=${body:i:1}
		(( i % 2 == 0 )) && digit=$(( digit * 2 ))
		(( digit > 9 )) && digit=$(( digit - 9 ))
		s=$(( s + digit ))
	done
	PNR=$(( y / 100 ))${body}$(( (10 - s % 10) % 10 ))
	return 0
}

# child_for SEED: sets PNR and CHILD (a made-up name) for one child.
child_for()
{
	pnr_for "$1"
	CHILD="${DEMO_FIRST[$1 % ${#DEMO_FIRST[@]}]} ${DEMO_LAST[($1 / 3) % ${#DEMO_LAST[@]}]}"
}

# envelope_head ID CONV TYPE SENDER RECIPIENT AUTHOR_ID AUTHOR_NAME ROLE
#               PRIORITY LEGAL_BASIS EXPIRES [IN_REPLY_TO]
# The fields every message has, up to and including legal_basis; an empty
# LEGAL_BASIS leaves the field out (the invalid "no legal basis" case).
envelope_head()
{
	printf '{\n  "message_id": "%s",\n  "conversation_id": "%s",\n' "$1" "$2"
	[ -n "${12:-}" ] && printf '  "in_reply_to": "%s",\n' "${12}"
	printf '  "type": "%s",\n  "sender": "%s",\n  "recipient": "%s",\n' "$3" "$4" "$5"
	printf '  "author": {\n    "id": "%s",\n    "name": "%s",\n    "role": "%s"\n  },\n' "$6" "$7" "$8"
	printf '  "created": "%s",\n  "expires": "%s",\n  "priority": "%s",\n' \
	    "$DEMO_T_NOW" "${11}" "$9"
	[ -n "${10}" ] && printf '  "legal_basis": "%s",\n' "${10}"
	return 0
}

# subject PNR NAME
subject()
{
	printf '  "subject": {\n    "personal_number": "%s",\n    "name": "%s"\n  },\n' "$1" "$2"
}

# participation KIND TEXT
participation()
{
	printf '  "child_participation": {\n    "participation": "%s",\n    "text": "%s"\n  },\n' "$1" "$2"
}

DEMO_REASONS=(
	"Långvarig oro, sömnsvårigheter och ökande skolfrånvaro sedan terminsstarten. Vi önskar bedömning av ångest och nedstämdhet."
	"Koncentrationssvårigheter och impulsivitet som påverkar skolarbetet trots anpassningar. Vi önskar neuropsykiatrisk bedömning."
	"Tydlig viktnedgång och restriktivt ätande enligt skolsköterskans uppföljning. Vi önskar bedömning av ätstörning."
	"Återkommande panikattacker under lektionstid; eleven undviker nu matsalen och idrottslektionerna."
)

# msg_referral ID CONV MUNI SEED: school health services refer a pupil to
# child and adolescent psychiatry (BUP) with the guardian's consent.
msg_referral()
{
	child_for "$4"
	envelope_head "$1" "$2" REFERRAL "kommun:$3:elevhalsa" "$DEMO_BUP" \
	    "EH-$3-47$(( $4 % 90 + 10 ))" "Anna Lindqvist" "skolsköterska" \
	    PRIORITY_ROUTINE LEGAL_BASIS_GUARDIAN_CONSENT "$DEMO_T_EXP28"
	subject "$PNR" "$CHILD"
	participation PARTICIPATION_HEARD \
	    "Eleven har fått berätta med egna ord hur hen mår i skolan och vill själv ha hjälp."
	printf '  "referral": {\n    "reason": "%s",\n' "${DEMO_REASONS[$4 % ${#DEMO_REASONS[@]}]}"
	printf '    "current_support": "Samtal med skolkurator varannan vecka och anpassad studiegång.",\n'
	printf '    "requested_action": "Psykiatrisk bedömning samt råd till skolan om fortsatt stöd."\n  }\n}\n'
}

# msg_referral_response ID CONV IN_REPLY_TO RECIPIENT PNR NAME SEED: BUP
# answers a referral; every fourth is redirected to primary care.
msg_referral_response()
{
	envelope_head "$1" "$2" REFERRAL_RESPONSE "$DEMO_BUP" "$4" \
	    "SE2321000131-P000000004821" "Karin Ek" "överläkare" \
	    PRIORITY_ROUTINE LEGAL_BASIS_GUARDIAN_CONSENT "$DEMO_T_EXP28" "$3"
	subject "$5" "$6"
	if (( $7 % 4 == 3 )); then
		printf '  "referral_response": {\n    "decision": "REFERRAL_REJECTED",\n'
		printf '    "reason": "Besvären bedöms i första hand av barnhälsovården i primärvården; kontakta vårdcentralen för en första bedömning."\n  }\n}\n'
	else
		printf '  "referral_response": {\n    "decision": "REFERRAL_ACCEPTED",\n'
		printf '    "comment": "Remissen är mottagen och bedömd. Barnet och vårdnadshavare kallas till nybesök.",\n'
		printf '    "planned_date": "%s"\n  }\n}\n' "$DEMO_T_VISIT"
	fi
}

# msg_concern ID CONV UNIT MUNI SEED: a regional unit reports a child at
# risk to the municipality's social services (mandatory report).
msg_concern()
{
	child_for "$5"
	envelope_head "$1" "$2" REPORT_OF_CONCERN "$3" "kommun:$4:socialtjanst" \
	    "SE2321000131-P000000009127" "Johan Wikström" "läkare" \
	    PRIORITY_URGENT LEGAL_BASIS_MANDATORY_REPORT "$DEMO_T_EXP7"
	subject "$PNR" "$CHILD"
	participation PARTICIPATION_INFORMED \
	    "Barnet har fått veta, med ord anpassade till åldern, att läkaren kontaktar socialtjänsten."
	printf '  "report_of_concern": {\n'
	printf '    "observations": "Barnet kom till akuten med skador som inte förklaras av den beskrivna olyckan.",\n'
	printf '    "urgency": "URGENCY_URGENT",\n'
	printf '    "guardians_not_informed_reason": "Vårdnadshavarna informeras efter samråd med socialtjänsten.",\n'
	printf '    "child_situation": "Barnet är inlagt på barnavdelningen och stannar över natten."\n  }\n}\n'
}

# msg_sip ID CONV MUNI SEED: social services call child habilitation to a
# coordinated individual plan (SIP) meeting.
msg_sip()
{
	child_for "$4"
	envelope_head "$1" "$2" SIP_INVITATION "kommun:$3:socialtjanst" "$DEMO_HAB" \
	    "SOC-$3-22$(( $4 % 90 + 10 ))" "Emma Johansson" "socialsekreterare" \
	    PRIORITY_ROUTINE LEGAL_BASIS_GUARDIAN_CONSENT "$DEMO_T_EXP28"
	subject "$PNR" "$CHILD"
	participation PARTICIPATION_HEARD \
	    "Barnet har berättat om sin vardag och vill att en vårdnadshavare är med på mötet."
	printf '  "sip_invitation": {\n    "proposed_times": [\n      "%s",\n      "%s"\n    ],\n' \
	    "$DEMO_T_SIP1" "$DEMO_T_SIP2"
	printf '    "mode": "MEETING_VIDEO",\n    "video_link": "https://mote.example.se/sip/%s",\n' "${1:0:8}"
	printf '    "invited": [\n      {\n        "address": "%s",\n        "name": "Lena Holm",\n' "$DEMO_HAB"
	printf '        "role": "psykolog"\n      },\n      {\n        "name": "Vårdnadshavare",\n'
	printf '        "role": "vårdnadshavare"\n      }\n    ],\n'
	printf '    "purpose": "Samordna insatser från habilitering, skola och socialtjänst kring barnets behov av stöd."\n  }\n}\n'
}

# msg_sip_response ID CONV IN_REPLY_TO RECIPIENT PNR NAME: habilitation
# accepts the first proposed time.
msg_sip_response()
{
	envelope_head "$1" "$2" SIP_RESPONSE "$DEMO_HAB" "$4" \
	    "SE2321000131-P000000007342" "Lena Holm" "psykolog" \
	    PRIORITY_ROUTINE LEGAL_BASIS_GUARDIAN_CONSENT "$DEMO_T_EXP28" "$3"
	subject "$5" "$6"
	printf '  "sip_response": {\n    "answer": "SIP_ACCEPT",\n    "accepted_time": "%s"\n  }\n}\n' \
	    "$DEMO_T_SIP1"
}

# msg_consult_identified ID CONV MUNI SEED: child habilitation asks the
# school health services about a named pupil, with the guardian's consent.
msg_consult_identified()
{
	child_for "$4"
	envelope_head "$1" "$2" CONSULTATION_REQUEST "$DEMO_HAB" "kommun:$3:elevhalsa" \
	    "SE2321000131-P000000007342" "Lena Holm" "psykolog" \
	    PRIORITY_ROUTINE LEGAL_BASIS_GUARDIAN_CONSENT "$DEMO_T_EXP28"
	subject "$PNR" "$CHILD"
	participation PARTICIPATION_HEARD \
	    "Barnet har fått frågan vad som fungerar bra och mindre bra i skolan."
	printf '  "consultation_request": {\n'
	printf '    "question": "Vilka anpassningar har skolan prövat under raster och övergångar, och hur har de fungerat?",\n'
	printf '    "background": "Vårdnadshavarna har samtyckt till att vi rådgör med elevhälsan inför habiliteringsplanen."\n  }\n}\n'
}

# msg_consult_deidentified ID CONV MUNI SEED: a school nurse asks BUP for
# advice without identifying the pupil.
msg_consult_deidentified()
{
	envelope_head "$1" "$2" CONSULTATION_REQUEST "kommun:$3:elevhalsa" "$DEMO_BUP" \
	    "EH-$3-51$(( $4 % 90 + 10 ))" "Sara Nyström" "skolsköterska" \
	    PRIORITY_ROUTINE LEGAL_BASIS_DEIDENTIFIED "$DEMO_T_EXP14"
	participation PARTICIPATION_INFORMED \
	    "Eleven vet att skolsköterskan rådgör med barnpsykiatrin utan att nämna namn."
	printf '  "consultation_request": {\n'
	printf '    "question": "Hur bör elevhälsan gå vidare med en elev som återkommande beskriver nedstämdhet men inte vill att vårdnadshavarna informeras?",\n'
	printf '    "background": "Elev i årskurs %d, flera samtal hos skolsköterskan under hösten.",\n' $(( 6 + $4 % 4 ))
	printf '    "age_group": "13-15"\n  }\n}\n'
}

# msg_consult_response ID CONV IN_REPLY_TO SENDER RECIPIENT [PNR NAME]:
# the answer to a consultation; identified when the question was.
msg_consult_response()
{
	if [ -n "${6:-}" ]; then
		envelope_head "$1" "$2" CONSULTATION_RESPONSE "$4" "$5" \
		    "EH-${4:7:4}-5120" "Sara Nyström" "skolsköterska" \
		    PRIORITY_ROUTINE LEGAL_BASIS_GUARDIAN_CONSENT "$DEMO_T_EXP14" "$3"
		subject "$6" "$7"
		printf '  "consultation_response": {\n'
		printf '    "answer": "Eleven har en lugn plats under raster och ett bildschema för övergångar; det har minskat konflikterna."\n  }\n}\n'
	else
		envelope_head "$1" "$2" CONSULTATION_RESPONSE "$4" "$5" \
		    "SE2321000131-P000000004903" "Per Sandberg" "specialistsjuksköterska" \
		    PRIORITY_ROUTINE LEGAL_BASIS_DEIDENTIFIED "$DEMO_T_EXP14" "$3"
		printf '  "consultation_response": {\n'
		printf '    "answer": "Gör en strukturerad bedömning vid nästa samtal. Vid oro för självskada ska vårdnadshavare informeras.",\n'
		printf '    "recommendation": "Motivera eleven att själv berätta för en vårdnadshavare med skolsköterskans stöd."\n  }\n}\n'
	fi
}
