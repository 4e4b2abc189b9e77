#!/bin/bash
# demo.sh — the whole region on one machine: narad, the 49 municipalities'
# and the regional units' nara-adapters on loopback over mutual TLS, real
# conversations between them, refusals with their codes, one municipality
# that comes online late, and a summary checked against what was sent.
#
# `make demo` runs it; `tests/demo/demo.sh --help` says how to tune it.
# Everything lives in one mktemp -d directory that is removed at the end
# (DEMO_KEEP=1 keeps it); every process started here is stopped on exit,
# on failure and on Ctrl-C.

set -u
export LC_ALL=C.UTF-8

usage()
{
	cat <<'EOF'
usage: tests/demo/demo.sh [--help]

Starts narad and one nara-adapter per node of config/nara.conf (the 49
municipalities and the regional units) on 127.0.0.1 with mutual TLS and
certificates made by nara-pki, sends referrals, reports of concern, SIP
invitations and consultations with their answers, and some invalid
messages that must be refused with their codes; one municipality's adapter
starts late and catches up. Ends with a summary, `naractl status` and
`nara-audit verify`.

Environment:
  DEMO_PORT=N        narad's TLS port (default 27443)
  DEMO_HTTP_PORT=N   narad's metrics and dashboard port (default 27464)
  DEMO_MESSAGES=N    requests to send (default 1000; each but the reports
                     of concern gets an answer)
  DEMO_LATE=CODE     municipality whose adapter starts late (default 1438)
  DEMO_TIMEOUT=S     seconds to wait for the traffic to settle (default 90)
  DEMO_KEEP=1        keep the demo directory and say where it is
  DEMO_STORE=S       sqlite (default: narad's store is a file) or
                     postgresql (a local PostgreSQL primary with a
                     synchronous standby, made by tests/demo/pgpair.sh)
  DEMO_PG_PORT=N     the primary's port with DEMO_STORE=postgresql (default
                     27432; the standby takes the next one)
  DEMO_HA=1          two narads with [ha] on the PostgreSQL pair (implies
                     DEMO_STORE=postgresql; the standby's TLS port is
                     DEMO_PORT+2); halfway through the traffic the active
                     one is killed (kill -9) and the standby takes over
  NARA_BIN=DIR       the binaries (default build/bin of the source tree)
  NARA_TOP=DIR       the source tree (default two levels above this script)
  TMPDIR=DIR         where the demo directory is made (default /tmp)

Exit status: 0 every valid message was delivered exactly once with its
receipt, every invalid one refused with its expected code, and the audit
chain verified; 1 a check failed (the line starting "FAILED" says which);
2 usage or setup error; 3 a port is in use.
EOF
}

case "${1:-}" in
-h|--help) usage; exit 0 ;;
"") ;;
*) usage >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=${NARA_TOP:-$(cd "$HERE/../.." && pwd)}
BIN=${NARA_BIN:-$TOP/build/bin}
PORT=${DEMO_PORT:-27443}
HTTP_PORT=${DEMO_HTTP_PORT:-27464}
N=${DEMO_MESSAGES:-1000}
LATE=${DEMO_LATE:-1438}
TIMEOUT=${DEMO_TIMEOUT:-90}
KEEP=${DEMO_KEEP:-0}
STORE=${DEMO_STORE:-sqlite}
PG_PORT=${DEMO_PG_PORT:-27432}
HA=${DEMO_HA:-0}
[ "$HA" = 1 ] && STORE=postgresql
PORT2=$(( ${PORT//[^0-9]/0} + 2 ))

die() { echo "demo: $*" >&2; exit 2; }

case "$HA" in
0|1) ;;
*) die "DEMO_HA must be 0 or 1, not '$HA'" ;;
esac
case "$STORE" in
sqlite|postgresql) ;;
*) die "DEMO_STORE must be sqlite or postgresql, not '$STORE'" ;;
esac
for v in PORT:DEMO_PORT HTTP_PORT:DEMO_HTTP_PORT N:DEMO_MESSAGES TIMEOUT:DEMO_TIMEOUT PG_PORT:DEMO_PG_PORT; do
	name=${v%%:*}
	[[ ${!name} =~ ^[0-9]+$ ]] || die "${v#*:} must be a number, not '${!name}'"
done
(( PORT > 0 && PORT < 65536 && HTTP_PORT > 0 && HTTP_PORT < 65536 )) ||
    die "ports must be 1..65535"
(( PORT != HTTP_PORT )) || die "DEMO_PORT and DEMO_HTTP_PORT must differ"
(( N >= 1 && N <= 100000 )) || die "DEMO_MESSAGES must be 1..100000"
for b in narad nara-adapter naractl nara-audit nara-pki; do
	[ -x "$BIN/$b" ] || die "$BIN/$b missing: run make first"
done
MUNI_TSV=$TOP/config/municipalities.tsv
CONF_SRC=$TOP/config/nara.conf
[ -r "$MUNI_TSV" ] && [ -r "$CONF_SRC" ] || die "no config/ under $TOP"

# port_busy PORT: something on 127.0.0.1 answers a connection.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
DEMO_PORTS=("$PORT" "$HTTP_PORT")
[ "$STORE" = postgresql ] && DEMO_PORTS+=("$PG_PORT" "$(( PG_PORT + 1 ))")
[ "$HA" = 1 ] && DEMO_PORTS+=("$PORT2")
for p in "${DEMO_PORTS[@]}"; do
	if port_busy "$p"; then
		echo "demo: port 127.0.0.1:$p is in use; choose another with" \
		    "DEMO_PORT=... DEMO_HTTP_PORT=... DEMO_PG_PORT=..." >&2
		exit 3
	fi
done

# ---------------------------------------------------------------- the region
declare -A MUNI_NAME=() NODE_NAME=()
MUNIS=()
while IFS=$'\t' read -r code name; do
	[[ $code =~ ^[0-9]{4}$ ]] || continue
	MUNIS+=("$code")
	MUNI_NAME[$code]=$name
done < "$MUNI_TSV"
NODES=()
while read -r node; do NODES+=("$node"); done < <(sed -n 's/^\[node \(.*\)\]$/\1/p' "$CONF_SRC")
while IFS='=' read -r node name; do NODE_NAME[$node]=$name; done < <(awk '
	/^\[node / { node = substr($2, 1, length($2) - 1) }
	/^name = / && node != "" { sub(/^name = /, ""); print node "=" $0; node = "" }' "$CONF_SRC")
[ -n "${MUNI_NAME[$LATE]:-}" ] || die "DEMO_LATE=$LATE is not a municipality code in $MUNI_TSV"
LATE_NODE=kommun-$LATE

DEMO_BUP=SE2321000131-E000000000101   # child and adolescent psychiatry
DEMO_BHV=SE2321000131-E000000000201   # child health care in primary care
DEMO_HAB=SE2321000131-E000000000301   # child and youth habilitation
DEMO_PED=SE2321000131-E000000000401   # paediatrics
for u in "$DEMO_BUP" "$DEMO_BHV" "$DEMO_HAB" "$DEMO_PED"; do
	[ -n "${NODE_NAME[$u]:-}" ] || die "$CONF_SRC has no [node $u]"
done

# ---------------------------------------------------------------- cleanup
DIR=$(mktemp -d "${TMPDIR:-/tmp}/nara-demo.XXXXXX") || die "mktemp failed"
PG_DIR=
NARAD_PID=
NARAD2_PID=
CONF2=
declare -A ADAPTER_PID=()

# stop_pids PID...: TERM, wait up to 5 s, then KILL what is left.
stop_pids()
{
	local pid i alive
	(( $# )) || return 0
	kill -TERM "$@" 2>/dev/null
	for (( i = 0; i < 50; i++ )); do
		alive=0
		for pid; do kill -0 "$pid" 2>/dev/null && alive=1; done
		(( alive )) || break
		sleep 0.1
	done
	for pid; do
		if kill -0 "$pid" 2>/dev/null; then
			echo "demo: process $pid did not stop on TERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	wait "$@" 2>/dev/null
	return 0
}

stop_all()
{
	stop_pids "${ADAPTER_PID[@]}"
	ADAPTER_PID=()
	[ -n "$NARAD_PID" ] && stop_pids "$NARAD_PID"
	[ -n "$NARAD2_PID" ] && stop_pids "$NARAD2_PID"
	NARAD_PID= NARAD2_PID=
}

cleanup()
{
	local rc=$?
	trap - EXIT INT TERM
	[ -t 1 ] && printf '\n'
	stop_all
	[ -n "$PG_DIR" ] && bash "$HERE/pgpair.sh" stop "$PG_DIR" >/dev/null 2>&1
	if [ "$KEEP" = 1 ]; then
		echo "demo: kept $DIR (narad: broker/narad.log, adapters: nodes/*/adapter.log)"
		[ -n "$PG_DIR" ] && echo "demo: kept $PG_DIR (PostgreSQL, stopped)"
	else
		rm -rf "$DIR"
		[ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

FAILS=()
fail() { FAILS+=("$*"); }
# abort_demo TEXT [LOG]: something the demo cannot go on without broke;
# say what and show the end of the log that tells why.
abort_demo()
{
	[ -t 1 ] && printf '\n'
	echo "FAILED: $1" >&2
	[ -n "${2:-}" ] && [ -f "$2" ] && tail -n 15 "$2" >&2
	echo "(DEMO_KEEP=1 keeps the directory with every log)" >&2
	exit 1
}

T0=$SECONDS
echo "nara demo: ${#MUNIS[@]} municipalities and $(( ${#NODES[@]} - ${#MUNIS[@]} )) regional units on 127.0.0.1, mutual TLS"
echo "  directory  $DIR"
echo "  narad      TLS 127.0.0.1:$PORT, dashboard http://127.0.0.1:$HTTP_PORT/"

# ---------------------------------------------------------------- PKI and keys
PKI=$DIR/pki
BROKER=$DIR/broker
mkdir -p "$BROKER/run" "$DIR/nodes" && chmod 0700 "$BROKER/run" ||
    abort_demo "cannot create $BROKER"
"$BIN/nara-pki" init-ca "$PKI" --name "nara demo CA" >"$DIR/pki.log" 2>&1 &&
    "$BIN/nara-pki" broker "$PKI" narad --ip 127.0.0.1 --dns localhost >>"$DIR/pki.log" 2>&1 ||
    abort_demo "nara-pki could not make the CA or the broker certificate" "$DIR/pki.log"
for node in "${NODES[@]}"; do
	"$BIN/nara-pki" node "$PKI" "$node" >>"$DIR/pki.log" 2>&1 ||
	    abort_demo "nara-pki node $node failed" "$DIR/pki.log"
done
(umask 077 && head -c 32 /dev/urandom > "$BROKER/pseudonym.key") ||
    abort_demo "cannot write the pseudonym key"
"$BIN/nara-audit" keygen "$BROKER/audit-sign.pem" >>"$DIR/pki.log" 2>&1 ||
    abort_demo "nara-audit keygen failed" "$DIR/pki.log"
echo "  PKI        CA, broker certificate and ${#NODES[@]} node certificates (nara-pki); audit pseudonym and signing keys"

# ---------------------------------------------------------------- the store
STORE_CONF=
if [ "$STORE" = postgresql ]; then
	# Beside the demo directory, not in it: the servers run as nobody
	# when the demo runs as root, and must reach their directory.
	PG_DIR=$(mktemp -u "${TMPDIR:-/tmp}/nara-demo-pg.XXXXXX")
	CONNINFO=$(bash "$HERE/pgpair.sh" start "$PG_DIR" "$PG_PORT" 2>"$DIR/pg.log") ||
	    abort_demo "the PostgreSQL pair did not start" "$DIR/pg.log"
	STORE_CONF="[store]
backend = postgresql
postgresql = $CONNINFO
"
	[ "$HA" = 1 ] && STORE_CONF+="
[ha]
instance = narad-1
lease = 3s
"
	echo "  store      PostgreSQL on 127.0.0.1:$PG_PORT with a synchronous standby on $(( PG_PORT + 1 ))"
fi

# ---------------------------------------------------------------- narad
CONF=$BROKER/nara.conf
{
	cat <<EOF
# nara.conf for the demo: [broker] and [tls] point into $DIR, the nodes
# and the policy are those of config/nara.conf.
[broker]
id = narad-demo
router = ipc://$BROKER/run/router.sock
control = ipc://$BROKER/run/control.sock
store = $BROKER/nara.db
pseudonym_key = $BROKER/pseudonym.key
signing_key = $BROKER/audit-sign.pem
http_listen = 127.0.0.1:$HTTP_PORT
log_level = info
checkpoint_interval = 10s

[tls]
listen = 127.0.0.1:$PORT
cert = $PKI/narad.pem
key = $PKI/narad.key
ca = $PKI/ca.pem
crl = $PKI/crl.pem
identity = san-uri
runtime_dir = $BROKER/run
handshake_timeout = 5s

$STORE_CONF
EOF
	sed -n '/^# -* nodes/,$p' "$CONF_SRC"
} > "$CONF"
"$BIN/narad" -n -c "$CONF" >"$BROKER/check.log" 2>&1 ||
    abort_demo "narad -n refuses the demo configuration" "$BROKER/check.log"
# narad and the adapters run in sessions of their own: Ctrl-C reaches only
# this script, which stops them in order (adapters, then narad).
setsid "$BIN/narad" -c "$CONF" 2>>"$BROKER/narad.log" &
NARAD_PID=$!
for (( i = 0; ; i++ )); do
	kill -0 "$NARAD_PID" 2>/dev/null ||
	    abort_demo "narad exited at start; its log says:" "$BROKER/narad.log"
	port_busy "$PORT" && break
	(( i < 100 )) || abort_demo "narad does not listen on 127.0.0.1:$PORT" "$BROKER/narad.log"
	sleep 0.1
done
naractl() { "$BIN/naractl" -c "$CONF" "$@"; }

# ---------------------------------------------------------------- [ha]
# The second narad: the same configuration with its own instance name,
# TLS port and directories; it waits as a standby.
if [ "$HA" = 1 ]; then
	BROKER2=$DIR/broker2
	CONF2=$BROKER2/nara.conf
	mkdir -p "$BROKER2/run" && chmod 0700 "$BROKER2/run" ||
	    abort_demo "cannot create $BROKER2"
	sed -e "s|$BROKER/run|$BROKER2/run|g" -e "s|^id = narad-demo|id = narad-demo-2|" \
	    -e "s|^listen = 127.0.0.1:$PORT|listen = 127.0.0.1:$PORT2|" \
	    -e "s|^http_listen = .*|http_listen =|" \
	    -e "s|^instance = narad-1|instance = narad-2|" "$CONF" > "$CONF2"
	setsid "$BIN/narad" -c "$CONF2" 2>>"$BROKER2/narad.log" &
	NARAD2_PID=$!
	for (( i = 0; ; i++ )); do
		kill -0 "$NARAD2_PID" 2>/dev/null ||
		    abort_demo "the second narad exited at start" "$BROKER2/narad.log"
		grep -q "waits for the lease" "$BROKER2/narad.log" && break
		(( i < 100 )) || abort_demo "the second narad did not start as a standby" "$BROKER2/narad.log"
		sleep 0.1
	done
	echo "  narad      narad-1 active on 127.0.0.1:$PORT, narad-2 standby on 127.0.0.1:$PORT2 (lease 3 s)"
	# naractl asks whichever narad is active.
	naractl()
	{
		local c
		for c in "$CONF" "$CONF2"; do
			"$BIN/naractl" -c "$c" status 2>/dev/null | grep -q '^role  *active' &&
			    { "$BIN/naractl" -c "$c" "$@"; return; }
		done
		"$BIN/naractl" -c "$CONF2" "$@"
	}
fi

# ---------------------------------------------------------------- adapters
ADAPTER_BROKERS=127.0.0.1:$PORT
[ "$HA" = 1 ] && ADAPTER_BROKERS+=",127.0.0.1:$PORT2"
# node_dir NODE: sets ND to the node's directory.
node_dir() { ND=$DIR/nodes/$1; }

write_adapter_conf()
{
	local node=$1
	node_dir "$node"
	mkdir -p "$ND/tunnel" "$ND/spool/outbox" "$ND/handled" && chmod 0700 "$ND/tunnel"
	cat > "$ND/adapter.conf" <<EOF
[adapter]
node_id = $node
broker = $ADAPTER_BROKERS
tls = yes
ca = $PKI/ca.pem
cert = $PKI/$node.pem
key = $PKI/$node.key
tunnel_dir = $ND/tunnel
state = $ND/adapter.db
backend = spool
log_level = info
retry_min = 1s
retry_max = 4s
hello_timeout = 3s

[spool]
dir = $ND/spool
scan_interval = 1s
EOF
}

start_adapter()
{
	node_dir "$1"
	setsid "$BIN/nara-adapter" -c "$ND/adapter.conf" 2>>"$ND/adapter.log" &
	ADAPTER_PID[$1]=$!
}

for node in "${NODES[@]}"; do
	write_adapter_conf "$node"
done
node_dir "$LATE_NODE"
"$BIN/nara-adapter" -n -c "$ND/adapter.conf" >"$DIR/adapter-check.log" 2>&1 ||
    abort_demo "nara-adapter -n refuses the demo adapter configuration" "$DIR/adapter-check.log"
for node in "${NODES[@]}"; do
	[ "$node" = "$LATE_NODE" ] || start_adapter "$node"
done

# connected_nodes: sets CONNECTED from naractl status.
connected_nodes()
{
	CONNECTED=$(naractl status 2>/dev/null | awk '$1 == "nodes" { print $2 }')
	[[ $CONNECTED =~ ^[0-9]+$ ]] || CONNECTED=0
}
WANT=$(( ${#NODES[@]} - 1 ))
for (( i = 0; ; i++ )); do
	connected_nodes
	(( CONNECTED >= WANT )) && break
	for node in "${!ADAPTER_PID[@]}"; do
		node_dir "$node"
		kill -0 "${ADAPTER_PID[$node]}" 2>/dev/null ||
		    abort_demo "the adapter of $node exited at start" "$ND/adapter.log"
	done
	(( i < 150 )) || abort_demo "only $CONNECTED of $WANT adapters connected in 30 s" "$BROKER/narad.log"
	sleep 0.2
done
echo "  adapters   $CONNECTED of ${#NODES[@]} connected after $(( SECONDS - T0 )) s;" \
    "${MUNI_NAME[$LATE]} ($LATE_NODE) stays offline for now"
echo

# ---------------------------------------------------------------- the ledger
# Every message written to an outbox: its type, sender and recipient
# nodes, its file name, and what must become of it: OK (delivered with a
# receipt) or the code it must be refused with.
# shellcheck source=tests/demo/messages.sh
. "$HERE/messages.sh"
DEMO_T_NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
DEMO_T_EXP7=$(date -u -d '+7 days' +%Y-%m-%dT%H:%M:%SZ)
DEMO_T_EXP14=$(date -u -d '+14 days' +%Y-%m-%dT%H:%M:%SZ)
DEMO_T_EXP28=$(date -u -d '+28 days' +%Y-%m-%dT%H:%M:%SZ)
DEMO_T_VISIT=$(date -u -d '+12 days' +%Y-%m-%dT08:30:00Z)
DEMO_T_SIP1=$(date -u -d '+9 days' +%Y-%m-%dT12:00:00Z)
DEMO_T_SIP2=$(date -u -d '+16 days' +%Y-%m-%dT08:00:00Z)

IDS=()
declare -A L_TYPE=() L_FROM=() L_TO=() L_FILE=() L_EXPECT=() L_DESC=()
declare -A S_ACCEPTED=() S_REFUSED=() S_DELIVERED=() S_RECEIPT=() S_DUP=()
PENDING=()
DUPLICATES=0
UNEXPECTED=()
RESPONSES_WANTED=0

# uuid: sets U to a fresh time-ordered UUID (version 7, as docs/PROTOCOL.md
# recommends: the Unix time in milliseconds, then the random bits of a
# kernel UUID with the version set to 7).
uuid() {
	local r t
	read -r r < /proc/sys/kernel/random/uuid
	t=${EPOCHREALTIME/./}
	printf -v t '%012x' $(( t / 1000 ))
	U="${t:0:8}-${t:8:4}-7${r:15:3}-${r:19:4}-${r:24:12}"
}

# addr_node ADDRESS: sets AN to the node serving a nara address.
addr_node()
{
	case $1 in
	kommun:*) AN=${1#kommun:}; AN=kommun-${AN%%:*} ;;
	*) AN=$1 ;;
	esac
}

# post ID TYPE FROM_NODE TO_NODE EXPECT FILE_PREFIX DESCRIPTION COMMAND...:
# COMMAND prints the message into a dot file in FROM_NODE's outbox, which
# is then renamed (the adapter never reads half a file), and the message
# goes into the ledger.
post()
{
	local id=$1 name="$6-$1.json"
	node_dir "$3"
	"${@:8}" > "$ND/spool/outbox/.$name.tmp" &&
	    mv "$ND/spool/outbox/.$name.tmp" "$ND/spool/outbox/$name" ||
	    abort_demo "cannot write $ND/spool/outbox/$name"
	IDS+=("$id")
	PENDING+=("$id")
	L_TYPE[$id]=$2 L_FROM[$id]=$3 L_TO[$id]=$4 L_FILE[$id]=$name
	L_EXPECT[$id]=$5 L_DESC[$id]=$7
}

# request I: the I-th request of the traffic. Municipalities take turns,
# and so do the five kinds of conversation.
request()
{
	local i=$1 m=${MUNIS[$(( $1 % ${#MUNIS[@]} ))]} unit conv
	uuid; conv=$U	# the conversation: this request and its answer
	uuid
	case $(( i % 5 )) in
	0) post "$U" REFERRAL "kommun-$m" "$DEMO_BUP" OK referral "" \
	       msg_referral "$U" "$conv" "$m" "$i" ;;
	1) unit=$DEMO_PED; (( i % 2 )) && unit=$DEMO_BHV
	   post "$U" REPORT_OF_CONCERN "$unit" "kommun-$m" OK concern "" \
	       msg_concern "$U" "$conv" "$unit" "$m" "$i" ;;
	2) post "$U" SIP_INVITATION "kommun-$m" "$DEMO_HAB" OK sip "" \
	       msg_sip "$U" "$conv" "$m" "$i" ;;
	3) post "$U" CONSULTATION_REQUEST "$DEMO_HAB" "kommun-$m" OK consult "" \
	       msg_consult_identified "$U" "$conv" "$m" "$i" ;;
	4) post "$U" CONSULTATION_REQUEST "kommun-$m" "$DEMO_BUP" OK consult "" \
	       msg_consult_deidentified "$U" "$conv" "$m" "$i" ;;
	esac
	(( i % 5 == 1 )) || RESPONSES_WANTED=$(( RESPONSES_WANTED + 1 ))
}

# Children of the requests are picked by the request's number; those of the
# late municipality's own traffic and of the invalid messages lie beyond.
SEED_LATE=75001 SEED_INVALID=75010

# The invalid messages: valid ones spoilt in one way each.
no_legal_basis() { msg_referral "$@" | grep -v '"legal_basis"'; }
bad_check_digit() { msg_concern "$@" | sed "s/$PNR/${PNR:0:11}$WRONG/"; }
cut_off() { msg_referral "$@" | head -c 300; }
to_municipality() { msg_sip "$@" | sed "s/\"recipient\": \".*\"/\"recipient\": \"$TO_ADDR\"/"; }
names_child()
{
	msg_consult_deidentified "$@" | sed "/\"legal_basis\"/a\\
  \"subject\": { \"personal_number\": \"$PNR\", \"name\": \"$CHILD\" },"
}
consent_not_report() { msg_concern "$@" | sed 's/LEGAL_BASIS_MANDATORY_REPORT/LEGAL_BASIS_GUARDIAN_CONSENT/'; }

# invalid_messages: messages that must be refused, each with its code.
invalid_messages()
{
	local s=$SEED_INVALID
	uuid; post "$U" REFERRAL kommun-1480 "$DEMO_BUP" NR016 invalid \
	    "referral without a legal basis (${MUNI_NAME[1480]} school health -> BUP)" \
	    no_legal_basis "$U" "$U" 1480 $(( s + 1 ))
	uuid; child_for $(( s + 2 )); WRONG=$(( (${PNR:11:1} + 1) % 10 ))
	post "$U" REPORT_OF_CONCERN "$DEMO_PED" kommun-1490 NR013 invalid \
	    "report of concern, personal number ${PNR:0:8}-${PNR:8:3}$WRONG with a wrong check digit" \
	    bad_check_digit "$U" "$U" "$DEMO_PED" 1490 $(( s + 2 ))
	uuid; post "$U" REFERRAL kommun-1462 "$DEMO_BUP" NR024 invalid \
	    "a referral file cut off in the middle (${MUNI_NAME[1462]}): not JSON" \
	    cut_off "$U" "$U" 1462 $(( s + 3 ))
	uuid; TO_ADDR=kommun:1401:socialtjanst
	post "$U" SIP_INVITATION kommun-1480 kommun-1401 NR031 invalid \
	    "SIP invitation ${MUNI_NAME[1480]} -> ${MUNI_NAME[1401]} social services: policy denies municipality to municipality" \
	    to_municipality "$U" "$U" 1480 $(( s + 4 ))
	uuid; child_for $(( s + 5 ))
	post "$U" CONSULTATION_REQUEST kommun-1401 "$DEMO_BUP" NR018 invalid \
	    "de-identified consultation that names the child (${MUNI_NAME[1401]})" \
	    names_child "$U" "$U" 1401 $(( s + 5 ))
	uuid; post "$U" REFERRAL kommun-1484 "$DEMO_BUP" NR030 invalid \
	    "${MUNI_NAME[1484]}'s adapter sends as ${MUNI_NAME[1480]} school health" \
	    msg_referral "$U" "$U" 1480 $(( s + 6 ))
	uuid; post "$U" REPORT_OF_CONCERN "$DEMO_PED" kommun-1485 NR017 invalid \
	    "report of concern with guardian consent instead of a mandatory report" \
	    consent_not_report "$U" "$U" "$DEMO_PED" 1485 $(( s + 7 ))
}

# ---------------------------------------------------------------- the local systems
# What each node's own system does: take every file from inbox/ into
# handled/ (a second copy of a message would be a duplicate) and answer
# requests from the node that received them.

# read_inbox FILE: sets M_ID M_CONV M_TYPE M_SENDER M_RECIPIENT M_PNR M_NAME.
read_inbox()
{
	local line in_subject=0 re='^ *"([a-z_]+)": "(.*)",?$'
	M_ID='' M_CONV='' M_TYPE='' M_SENDER='' M_RECIPIENT='' M_PNR='' M_NAME=''
	while IFS= read -r line; do
		case $line in
		'  "subject": {'*) in_subject=1; continue ;;
		'  }'*) in_subject=0; continue ;;
		esac
		[[ $line =~ $re ]] || continue
		if (( in_subject )); then
			case ${BASH_REMATCH[1]} in
			personal_number) M_PNR=${BASH_REMATCH[2]} ;;
			name) M_NAME=${BASH_REMATCH[2]} ;;
			esac
			continue
		fi
		[[ $line == '  "'* ]] || continue
		case ${BASH_REMATCH[1]} in
		message_id) M_ID=${BASH_REMATCH[2]} ;;
		conversation_id) M_CONV=${BASH_REMATCH[2]} ;;
		type) M_TYPE=${BASH_REMATCH[2]} ;;
		sender) M_SENDER=${BASH_REMATCH[2]} ;;
		recipient) M_RECIPIENT=${BASH_REMATCH[2]} ;;
		esac
	done < "$1"
}

# answer NODE: the receiving node answers the request just read.
answer()
{
	local node=$1
	addr_node "$M_SENDER"
	uuid
	case $M_TYPE in
	REFERRAL)
		post "$U" REFERRAL_RESPONSE "$node" "$AN" OK answer "" msg_referral_response \
		    "$U" "$M_CONV" "$M_ID" "$M_SENDER" "$M_PNR" "$M_NAME" "${#IDS[@]}" ;;
	SIP_INVITATION)
		post "$U" SIP_RESPONSE "$node" "$AN" OK answer "" msg_sip_response \
		    "$U" "$M_CONV" "$M_ID" "$M_SENDER" "$M_PNR" "$M_NAME" ;;
	CONSULTATION_REQUEST)
		post "$U" CONSULTATION_RESPONSE "$node" "$AN" OK answer "" msg_consult_response \
		    "$U" "$M_CONV" "$M_ID" "$M_RECIPIENT" "$M_SENDER" "$M_PNR" "$M_NAME" ;;
	esac
}

# take_inboxes: one pass of every node's local system over its inbox.
take_inboxes()
{
	local f node id
	for f in "$DIR"/nodes/*/spool/inbox/*.json; do
		[ -e "$f" ] || continue
		node=${f#"$DIR"/nodes/}; node=${node%%/*}
		read_inbox "$f"
		id=${f##*/}; id=${id%.json}
		node_dir "$node"
		if [ -e "$ND/handled/$id.json" ]; then
			DUPLICATES=$(( DUPLICATES + 1 ))
			S_DUP[$id]=1
			mv "$f" "$ND/handled/$id.json.dup$DUPLICATES"
			continue
		fi
		mv "$f" "$ND/handled/$id.json"
		if [ "$M_ID" != "$id" ] || [ -z "${L_TYPE[$id]:-}" ] ||
		    [ "${L_TO[$id]}" != "$node" ] || [ "${L_TYPE[$id]}" != "$M_TYPE" ]; then
			UNEXPECTED+=("$node got $id ($M_TYPE) that was not sent to it")
			continue
		fi
		S_DELIVERED[$id]=1
		answer "$node"
	done
}

# ---------------------------------------------------------------- progress
# settle: move ledger entries on as their files show up; sets the counters.
C_ACCEPTED=0 C_REFUSED=0 C_DELIVERED=0 C_RECEIPTS=0
settle()
{
	local id left=() sdir
	for id in "${PENDING[@]}"; do
		node_dir "${L_FROM[$id]}"
		sdir=$ND/spool
		if [ -z "${S_ACCEPTED[$id]:-}" ] && [ -e "$sdir/sent/${L_FILE[$id]}" ]; then
			S_ACCEPTED[$id]=1; C_ACCEPTED=$(( C_ACCEPTED + 1 ))
		fi
		if [ -z "${S_REFUSED[$id]:-}" ] && [ -e "$sdir/rejected/${L_FILE[$id]}.error.json" ]; then
			S_REFUSED[$id]=1; C_REFUSED=$(( C_REFUSED + 1 ))
		fi
		if [ -z "${S_RECEIPT[$id]:-}" ] && [ -e "$sdir/receipts/$id.json" ]; then
			S_RECEIPT[$id]=1; C_RECEIPTS=$(( C_RECEIPTS + 1 ))
		fi
		[ -n "${S_REFUSED[$id]:-}" ] && continue
		[ -n "${S_RECEIPT[$id]:-}" ] && [ -n "${S_DELIVERED[$id]:-}" ] && continue
		left+=("$id")
	done
	PENDING=("${left[@]}")
	C_DELIVERED=${#S_DELIVERED[@]}
}

# check_alive: narad and every adapter started so far still run.
check_alive()
{
	local node
	if [ -n "$NARAD_PID" ]; then
		kill -0 "$NARAD_PID" 2>/dev/null ||
		    abort_demo "narad exited during the traffic; its log ends:" "$BROKER/narad.log"
	fi
	if [ -n "$NARAD2_PID" ]; then
		kill -0 "$NARAD2_PID" 2>/dev/null ||
		    abort_demo "the second narad exited during the traffic; its log ends:" "$BROKER2/narad.log"
	fi
	for node in "${!ADAPTER_PID[@]}"; do
		kill -0 "${ADAPTER_PID[$node]}" 2>/dev/null && continue
		node_dir "$node"
		abort_demo "the adapter of $node exited during the traffic; its log ends:" "$ND/adapter.log"
	done
}

LATE_STATE="offline"
progress()
{
	local line
	printf -v line '%4ds  sent %d  accepted %d  refused %d  delivered %d  receipts %d  %s: %s' \
	    $(( SECONDS - T0 )) "${#IDS[@]}" "$C_ACCEPTED" "$C_REFUSED" "$C_DELIVERED" \
	    "$C_RECEIPTS" "${MUNI_NAME[$LATE]}" "$LATE_STATE"
	if [ -t 1 ]; then printf '\r%s\033[K' "$line"; else printf '%s\n' "$line"; fi
}

# failover: kill -9 the active narad in the middle of the traffic and wait
# until the standby serves.
FAILOVER_NOTE=
failover()
{
	local t0=$SECONDS i
	[ -t 1 ] && printf '\n'
	echo "failover: kill -9 of the active narad (narad-1) with traffic in flight"
	kill -KILL "$NARAD_PID" 2>/dev/null
	wait "$NARAD_PID" 2>/dev/null
	NARAD_PID=
	for (( i = 0; ; i++ )); do
		grep -q "ha: active" "$BROKER2/narad.log" && port_busy "$PORT2" && break
		(( i < 300 )) || abort_demo "the standby did not take over in 30 s" "$BROKER2/narad.log"
		sleep 0.1
	done
	FAILOVER_NOTE=$(grep -o "ha: active: .*" "$BROKER2/narad.log" | head -1)
	echo "failover: narad-2 serves after $(( SECONDS - t0 )) s ($FAILOVER_NOTE)"
}

# late_waiting: how many messages to the late node narad holds now.
late_waiting()
{
	naractl queue "$LATE_NODE" --limit 1000 2>/dev/null | grep -c -E '[0-9a-f]{8}-[0-9a-f]{4}-'
}

# ---------------------------------------------------------------- traffic
# Requests go out in ten waves, one a second, while the local systems
# answer what they receive. Messages to the late municipality wait in
# narad, its own requests wait in its outbox; its adapter starts once the
# traffic is written and narad has everything for it.
WAVES=10
(( WAVES > N )) && WAVES=$N
echo "traffic: $N requests in $WAVES waves, answers from the receiving side, 7 invalid messages"
uuid; post "$U" REPORT_OF_CONCERN "$DEMO_PED" "$LATE_NODE" OK concern "" \
    msg_concern "$U" "$U" "$DEMO_PED" "$LATE" "$SEED_LATE"
uuid; post "$U" CONSULTATION_REQUEST "$DEMO_HAB" "$LATE_NODE" OK consult "" \
    msg_consult_identified "$U" "$U" "$LATE" $(( SEED_LATE + 1 ))
RESPONSES_WANTED=1
next=0 wave=0 tick=0 late_started=0 late_t=0 deadline=0 last_print=-1
while :; do
	if (( wave < WAVES )) && (( tick % 2 == 0 )); then
		wave=$(( wave + 1 ))
		for (( ; next < N * wave / WAVES; next++ )); do request "$next"; done
		(( wave == WAVES / 2 + 1 || WAVES == 1 )) && invalid_messages
		(( HA == 1 && wave == WAVES / 2 + 1 )) && failover
		(( wave == WAVES )) && deadline=$(( SECONDS + TIMEOUT ))
	fi
	check_alive
	take_inboxes
	settle
	if (( wave == WAVES && ! late_started )); then
		ready=1
		for id in "${PENDING[@]}"; do
			[ "${L_TO[$id]}" = "$LATE_NODE" ] && [ -z "${S_ACCEPTED[$id]:-}" ] &&
			    [ "${L_EXPECT[$id]}" = OK ] && ready=0 && break
		done
		if (( ready )); then
			held=$(late_waiting)
			node_dir "$LATE_NODE"
			own=$(ls "$ND/spool/outbox" | wc -l)
			[ -t 1 ] && printf '\n'
			echo "${MUNI_NAME[$LATE]} is offline: narad holds $held messages for $LATE_NODE" \
			    "(naractl queue $LATE_NODE), its outbox $own; starting its adapter"
			start_adapter "$LATE_NODE"
			late_started=1 late_t=$SECONDS LATE_STATE="catching up"
		fi
	fi
	if (( late_started == 1 )); then
		late_done=1
		for id in "${PENDING[@]}"; do
			[ "${L_TO[$id]}" = "$LATE_NODE" ] || [ "${L_FROM[$id]}" = "$LATE_NODE" ] || continue
			late_done=0; break
		done
		if (( late_done )); then
			late_started=2 LATE_STATE="caught up in $(( SECONDS - late_t )) s"
		fi
	fi
	tick=$(( tick + 1 ))
	settled=0
	(( wave == WAVES && late_started == 2 && ${#PENDING[@]} == 0 )) && settled=1
	if [ -t 1 ] || (( settled || SECONDS != last_print )); then
		progress
		last_print=$SECONDS
	fi
	(( settled )) && break
	if (( deadline && SECONDS > deadline )); then
		[ -t 1 ] && printf '\n'
		fail "traffic did not settle within $TIMEOUT s: ${#PENDING[@]} messages still open"
		for id in "${PENDING[@]:0:5}"; do
			fail "  open: ${L_TYPE[$id]} $id ${L_FROM[$id]} -> ${L_TO[$id]}:" \
			    "accepted=${S_ACCEPTED[$id]:-0} delivered=${S_DELIVERED[$id]:-0}" \
			    "receipt=${S_RECEIPT[$id]:-0}"
		done
		break
	fi
	sleep 0.5
done
[ -t 1 ] && printf '\n'
(( settled )) && echo "traffic settled after $(( SECONDS - T0 )) s"

# ---------------------------------------------------------------- checks
# What the receipts say (OUTCOME_...) and the code of every refusal.
declare -A R_OUTCOME=() E_CODE=()
while IFS= read -r line; do
	f=${line%%:*}; id=${f##*/}; id=${id%.json}
	[[ $line =~ (OUTCOME_[A-Z]+) ]] && R_OUTCOME[$id]=${BASH_REMATCH[1]}
done < <(grep -H -o '"outcome": *"OUTCOME_[A-Z]*"' "$DIR"/nodes/*/spool/receipts/*.json 2>/dev/null)
while IFS= read -r line; do
	f=${line%%:*}; name=${f##*/}; name=${name%.json.error.json}; id=${name#*-}
	[[ $line =~ (NR[0-9]+) ]] && E_CODE[$id]=${BASH_REMATCH[1]}
done < <(grep -H -o '"code": *"NR[0-9]*"' "$DIR"/nodes/*/spool/rejected/*.error.json 2>/dev/null)

TYPES=(REFERRAL REFERRAL_RESPONSE REPORT_OF_CONCERN SIP_INVITATION SIP_RESPONSE
	CONSULTATION_REQUEST CONSULTATION_RESPONSE)
declare -A T_SENT=() T_ACC=() T_REF=() T_DEL=() T_RCPT=()
declare -A K_SENT=() K_REF=() K_IN=() K_RCPT=()
responses=0 bad_receipts=0 bad_delivery=0 bad_refusal=0
for id in "${IDS[@]}"; do
	t=${L_TYPE[$id]} from=${L_FROM[$id]} to=${L_TO[$id]}
	T_SENT[$t]=$(( ${T_SENT[$t]:-0} + 1 ))
	K_SENT[$from]=$(( ${K_SENT[$from]:-0} + 1 ))
	[ -n "${S_ACCEPTED[$id]:-}" ] && T_ACC[$t]=$(( ${T_ACC[$t]:-0} + 1 ))
	if [ -n "${S_REFUSED[$id]:-}" ]; then
		T_REF[$t]=$(( ${T_REF[$t]:-0} + 1 ))
		K_REF[$from]=$(( ${K_REF[$from]:-0} + 1 ))
	fi
	if [ -n "${S_DELIVERED[$id]:-}" ]; then
		T_DEL[$t]=$(( ${T_DEL[$t]:-0} + 1 ))
		K_IN[$to]=$(( ${K_IN[$to]:-0} + 1 ))
	fi
	if [ -n "${S_RECEIPT[$id]:-}" ]; then
		T_RCPT[$t]=$(( ${T_RCPT[$t]:-0} + 1 ))
		K_RCPT[$from]=$(( ${K_RCPT[$from]:-0} + 1 ))
	fi
	case $t in *_RESPONSE) responses=$(( responses + 1 )) ;; esac
	if [ "${L_EXPECT[$id]}" = OK ]; then
		if [ -z "${S_DELIVERED[$id]:-}" ] || [ -n "${S_REFUSED[$id]:-}" ]; then
			(( bad_delivery++ < 3 )) && fail "$t $id from $from to $to was not delivered${E_CODE[$id]:+ (refused ${E_CODE[$id]})}"
		fi
		if [ "${R_OUTCOME[$id]:-none}" != OUTCOME_DELIVERED ]; then
			(( bad_receipts++ < 3 )) && fail "$t $id from $from: receipt ${R_OUTCOME[$id]:-missing}, not OUTCOME_DELIVERED"
		fi
	elif [ "${E_CODE[$id]:-none}" != "${L_EXPECT[$id]}" ] || [ -n "${S_DELIVERED[$id]:-}" ]; then
		bad_refusal=$(( bad_refusal + 1 ))
		fail "${L_DESC[$id]}: expected ${L_EXPECT[$id]}, got ${E_CODE[$id]:-no refusal}"
	fi
done
(( bad_delivery > 3 )) && fail "$bad_delivery valid messages in all were not delivered"
(( bad_receipts > 3 )) && fail "$bad_receipts valid messages in all lack a DELIVERED receipt"
(( DUPLICATES == 0 )) || fail "$DUPLICATES messages reached an inbox twice: ${!S_DUP[*]}"
for u in "${UNEXPECTED[@]}"; do fail "$u"; done
(( responses == RESPONSES_WANTED )) ||
    fail "$responses answers sent, $RESPONSES_WANTED requests wanted one"
stray=$(find "$DIR"/nodes/*/spool/outbox "$DIR"/nodes/*/spool/inbox -type f | wc -l)
(( stray == 0 )) || fail "$stray files still in outbox/ or inbox/ directories"

# ---------------------------------------------------------------- summary
echo
echo "== messages by type"
printf '%-22s %6s %9s %8s %10s %9s\n' type sent accepted refused delivered receipts
s_sent=0 s_acc=0 s_ref=0 s_del=0 s_rcpt=0
for t in "${TYPES[@]}"; do
	printf '%-22s %6d %9d %8d %10d %9d\n' "$t" "${T_SENT[$t]:-0}" "${T_ACC[$t]:-0}" \
	    "${T_REF[$t]:-0}" "${T_DEL[$t]:-0}" "${T_RCPT[$t]:-0}"
	s_sent=$(( s_sent + ${T_SENT[$t]:-0} )) s_acc=$(( s_acc + ${T_ACC[$t]:-0} ))
	s_ref=$(( s_ref + ${T_REF[$t]:-0} )) s_del=$(( s_del + ${T_DEL[$t]:-0} ))
	s_rcpt=$(( s_rcpt + ${T_RCPT[$t]:-0} ))
done
printf '%-22s %6d %9d %8d %10d %9d\n' total "$s_sent" "$s_acc" "$s_ref" "$s_del" "$s_rcpt"
echo "duplicates in inboxes: $DUPLICATES"

echo
echo "== refused, by code (expected / actual)"
for id in "${IDS[@]}"; do
	[ "${L_EXPECT[$id]}" = OK ] && continue
	verdict=ok
	[ "${E_CODE[$id]:-none}" = "${L_EXPECT[$id]}" ] || verdict=WRONG
	printf '%-5s %-5s %-5s %s\n' "${L_EXPECT[$id]}" "${E_CODE[$id]:-none}" "$verdict" "${L_DESC[$id]}"
done

# pad TEXT WIDTH: sets P to TEXT cut or padded to WIDTH characters.
pad()
{
	P=${1:0:$2}
	while (( ${#P} < $2 )); do P+=" "; done
}
echo
echo "== by municipality (sent, of those refused, delivered to it, receipts it got)"
hdr="                    sent ref  in rcpt"
echo "$hdr | $hdr"
row=""
for code in "${MUNIS[@]}"; do
	node=kommun-$code
	pad "${MUNI_NAME[$code]}" 13
	printf -v cell '%s %s %4d %3d %3d %4d' "$code" "$P" "${K_SENT[$node]:-0}" \
	    "${K_REF[$node]:-0}" "${K_IN[$node]:-0}" "${K_RCPT[$node]:-0}"
	if [ -z "$row" ]; then row=$cell; else echo "$row | $cell"; row=""; fi
done
[ -n "$row" ] && echo "$row"
echo
echo "== regional units"
for node in "${NODES[@]}"; do
	[[ $node == kommun-* ]] && continue
	pad "${NODE_NAME[$node]}" 34
	printf '%s %4d %3d %4d %4d  %s\n' "$P" "${K_SENT[$node]:-0}" "${K_REF[$node]:-0}" \
	    "${K_IN[$node]:-0}" "${K_RCPT[$node]:-0}" "$node"
done

echo
echo "== naractl status"
naractl status || fail "naractl status failed"

# Stop the adapters, then narad: it signs the chain head at shutdown.
stop_all
echo
echo "== nara-audit verify (after narad stopped)"
if "$BIN/nara-audit" verify -c "$CONF"; then
	audit=ok
else
	audit=failed
	fail "nara-audit verify: the audit chain is not intact"
fi
echo
child_for "$SEED_LATE"
echo "== nara-audit subject: every audit row about the child of ${MUNI_NAME[$LATE]}'s report of concern"
printf '%s\n' "$PNR" | "$BIN/nara-audit" subject - -c "$CONF" --csv |
    awk -F, '{ printf "%-5s %-24s %-15s %-27s %s\n", $1, $2, $3, $4, $6 }' ||
    fail "nara-audit subject failed"

echo
if (( ${#FAILS[@]} )); then
	for f in "${FAILS[@]}"; do echo "FAILED: $f"; done
	echo "demo FAILED after $(( SECONDS - T0 )) s (DEMO_KEEP=1 keeps the directory with every log)"
	exit 1
fi
echo "demo passed in $(( SECONDS - T0 )) s: $s_del messages delivered exactly once," \
    "$s_rcpt receipts, $s_ref refused with the expected codes, audit chain $audit"
exit 0
