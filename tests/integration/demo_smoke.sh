#!/bin/sh
# demo_smoke.sh — `make demo` in small: the demo with little traffic on
# random ports must pass, print its summary with every invalid message
# refused with its expected code, and leave no process and no directory
# behind; a demo stopped with TERM in the middle must clean up too, and a
# demo whose port is taken must say so and exit 3; and the demo with two
# narads on PostgreSQL (make demo-ha) must pass its failover.
#
# make integration runs it with NARA_TOP (source tree) and NARA_BIN.

set -u
TOP=${NARA_TOP:-$(pwd)}
BIN=${NARA_BIN:-$TOP/build/bin}
DEMO=$TOP/tests/demo/demo.sh
PARENT=$(mktemp -d /tmp/nara-demo-smoke.XXXXXX) || exit 1
BG=
failures=0

cleanup()
{
	[ -n "$BG" ] && kill -TERM "$BG" 2>/dev/null && wait "$BG" 2>/dev/null
	rm -rf "$PARENT"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check() # check TEXT CONDITION...: one assertion
{
	text=$1
	shift
	if "$@"; then
		echo "ok    $text"
	else
		echo "FAIL  $text"
		failures=$((failures + 1))
	fi
}

# random_port: a port in 20000..59999 (the demo checks that it is free).
# A random port below the kernel's ephemeral range (32768 on), where no
# outgoing connection takes it, with the two after it not listening now.
random_port()
{
	_i=0
	while [ $_i -lt 50 ]; do
		_p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000))
		ss -Htln "( sport >= :$_p and sport <= :$((_p + 2)) )" \
		    2>/dev/null | grep -q . || break
		_i=$((_i + 1))
	done
	echo "$_p"
}

no_process_left() { ! pgrep -f "$PARENT" >/dev/null; }
nothing_left() { [ -z "$(ls -A "$PARENT/run")" ]; }
has_line() { grep -q -E "$1" "$2"; }
lacks_line() { ! grep -q -E "$1" "$2"; }

# run_demo LOG: the demo with small traffic, retried on new ports when one
# is in use (exit status 3); sets RC.
run_demo()
{
	for _ in 1 2 3; do
		port=$(random_port)
		DEMO_PORT=$port DEMO_HTTP_PORT=$((port + 1)) DEMO_MESSAGES=20 \
		    TMPDIR=$PARENT/run NARA_TOP=$TOP NARA_BIN=$BIN \
		    bash "$DEMO" >"$1" 2>&1
		RC=$?
		[ "$RC" = 3 ] || return 0
	done
}

mkdir "$PARENT/run"

# 1. A whole run.
LOG=$PARENT/demo.log
start=$(date +%s)
run_demo "$LOG"
echo "demo ran $(($(date +%s) - start)) s, exit status $RC"
check "demo exits 0" [ "$RC" = 0 ]
check "summary by message type" has_line '^== messages by type' "$LOG"
check "summary by municipality" has_line '^== by municipality' "$LOG"
check "every message type sent" has_line '^CONSULTATION_RESPONSE +[1-9]' "$LOG"
check "late municipality caught up" has_line 'caught up in [0-9]+ s' "$LOG"
for code in NR013 NR016 NR017 NR018 NR024 NR030 NR031; do
	check "invalid message refused with $code" has_line "^$code $code ok " "$LOG"
done
check "no refusal with a wrong code" lacks_line ' WRONG ' "$LOG"
check "naractl status printed" has_line '^nodes +53 of 53 connected' "$LOG"
check "audit chain intact" has_line '^intact: ' "$LOG"
check "demo says it passed" has_line '^demo passed in ' "$LOG"
check "no process left behind" no_process_left
check "demo directory removed" nothing_left

# 2. Stopped with TERM in the middle of the traffic, and a second demo on
# the port the first one holds.
LOG2=$PARENT/demo-term.log
port=$(random_port)
DEMO_PORT=$port DEMO_HTTP_PORT=$((port + 1)) DEMO_MESSAGES=200 \
    TMPDIR=$PARENT/run NARA_TOP=$TOP NARA_BIN=$BIN bash "$DEMO" >"$LOG2" 2>&1 &
BG=$!
i=0
while ! grep -q '^traffic:' "$LOG2" && kill -0 "$BG" 2>/dev/null && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
if grep -q '^traffic:' "$LOG2"; then
	DEMO_PORT=$port DEMO_HTTP_PORT=$((port + 2)) TMPDIR=$PARENT/run \
	    NARA_TOP=$TOP NARA_BIN=$BIN bash "$DEMO" >"$PARENT/busy.log" 2>&1
	rc_busy=$?
	check "second demo on a taken port exits 3" [ "$rc_busy" = 3 ]
	check "and says the port is in use" has_line "port 127.0.0.1:$port is in use" "$PARENT/busy.log"
	kill -TERM "$BG"
	wait "$BG"
	rc_term=$?
	BG=
	check "demo stopped with TERM exits 143" [ "$rc_term" = 143 ]
	check "no process left behind after TERM" no_process_left
	check "demo directory removed after TERM" nothing_left
else
	check "second demo got as far as the traffic" false
	tail -n 20 "$LOG2"
fi

# 3. make demo-ha in small: two narads with [ha] on a PostgreSQL pair, the
# active one killed halfway. The servers run as nobody when this runs as
# root, so the directories on their way must let others pass.
LOG3=$PARENT/demo-ha.log
mkdir "$PARENT/run-ha"
chmod 0711 "$PARENT" "$PARENT/run-ha"
for _ in 1 2 3; do
	port=$(random_port)
	DEMO_HA=1 DEMO_PORT=$port DEMO_HTTP_PORT=$((port + 1)) \
	    DEMO_PG_PORT=$((port + 3)) DEMO_MESSAGES=20 TMPDIR=$PARENT/run-ha \
	    NARA_TOP=$TOP NARA_BIN=$BIN bash "$DEMO" >"$LOG3" 2>&1
	RC=$?
	[ "$RC" = 3 ] || break
done
check "demo-ha exits 0" [ "$RC" = 0 ]
check "demo-ha: the standby took over" has_line '^failover: narad-2 serves after [0-9]+ s' "$LOG3"
check "demo-ha: narad-2 is active at the end" has_line '^role +active, instance narad-2' "$LOG3"
check "demo-ha: audit chain intact" has_line '^intact: ' "$LOG3"
check "demo-ha says it passed" has_line '^demo passed in ' "$LOG3"
check "demo-ha: no process left behind" no_process_left
check "demo-ha: directories removed" [ -z "$(ls -A "$PARENT/run-ha")" ]
[ "$RC" = 0 ] || tail -n 30 "$LOG3"

if [ "$failures" -ne 0 ]; then
	echo "demo_smoke: $failures checks failed; the demo's output:"
	cat "$LOG"
	exit 1
fi
echo "demo_smoke: all checks passed"
