#!/bin/sh
# compare_pg.sh — bench_broker (or bench_e2e) on both store backends with
# two narad binaries in one run: this tree's (build/bin) and one built from
# BASE, a commit of this repository (as compare.sh builds it). Each round
# runs the four combinations, this/base x SQLite/PostgreSQL, in an order
# that rotates from round to round, so that whatever else the machine does
# hits all alike; every PostgreSQL run gets a new, empty database. Printed:
# every run's accepted and delivered+acked (or durable) rates, the
# medians, and the ratios PostgreSQL/SQLite per binary and this/base per
# backend.
#
# usage: compare_pg.sh BASE CONNINFO [ROUNDS]
#   CONNINFO: libpq conninfo of a PostgreSQL server (say, the primary of
#   tests/demo/pgpair.sh) where this user may create databases; the runs'
#   databases are made there and dropped after.
# BENCH_COMPARE_ARGS: arguments for the bench (default: -n 5000 -m ipc for
#   bench_broker, -t throughput -n 20000 for bench_e2e)
# COMPARE_PG_BENCH: broker (default) or e2e: bench_e2e through the TLS
#   front, its accepted and end to end (durable) rates in the two columns
# NARA_PG_STANDBY: conninfo of the synchronous standby, if there is one
# NARA_PG_WARM: WAL segments made ready before each PostgreSQL run
#   (compare_common.sh pg_wal_ready; default 0 with bench_broker, 32 with
#   bench_e2e, whose default run writes about 170 MB of WAL): without them
#   a young server creates each 16 MiB segment while a commit waits
set -eu
top=${NARA_TOP:?set NARA_TOP}
base_ref=${1:?usage: compare_pg.sh BASE CONNINFO [ROUNDS]}
conninfo=${2:?usage: compare_pg.sh BASE CONNINFO [ROUNDS]}
rounds=${3:-3}
kind=${COMPARE_PG_BENCH:-broker}
standby=${NARA_PG_STANDBY:-}
case $kind in
broker)
	args=${BENCH_COMPARE_ARGS:--n 5000 -m ipc}
	warm=${NARA_PG_WARM:-0}
	col2="delivered+acked";;
e2e)
	args=${BENCH_COMPARE_ARGS:--t throughput -n 20000}
	warm=${NARA_PG_WARM:-32}
	col2="durable";;
*)	echo "compare_pg.sh: COMPARE_PG_BENCH is broker or e2e" >&2; exit 2;;
esac
case $warm in ''|*[!0-9]*) echo "compare_pg.sh: NARA_PG_WARM must be a number" >&2; exit 2;; esac
bench=$top/build/bench/bench_$kind

case $rounds in ''|*[!0-9]*) echo "compare_pg.sh: ROUNDS must be a number" >&2; exit 2;; esac
. "$top/tests/bench/compare_common.sh"
base_build compare_pg.sh "$base_ref"

results=$(mktemp)
trap 'rm -f "$results"' EXIT INT TERM
n_db=0

# run_one WHICH NARAD BACKEND: appends "which backend accepted delivered".
run_one() {
	which=$1 narad=$2 backend=$3 out=$(mktemp) db=""
	set -- -b "$narad"
	if [ "$backend" = postgresql ]; then
		n_db=$((n_db + 1))
		db=nara_cmp_$$_$n_db
		psql -X -q "$conninfo" -c "CREATE DATABASE $db" >/dev/null
		if [ "$warm" -gt 0 ] &&
		    ! pg_wal_ready "$conninfo" "$standby" "$warm"; then
			echo "compare_pg.sh: cannot make WAL segments ready" >&2
			exit 1
		fi
		set -- "$@" -P "$conninfo dbname=$db"
	fi
	if ! "$bench" "$@" $args > "$out" 2>&1; then
		echo "compare_pg.sh: bench_$kind failed ($which, $backend):" >&2
		tail -n 20 "$out" >&2
		exit 1
	fi
	[ -z "$db" ] || psql -X -q "$conninfo" -c "DROP DATABASE $db" >/dev/null
	awk -v w="$which" -v b="$backend" '
		/^  accepted / && acc == "" { acc = $2 }
		/^  delivered\+acked / && del == "" { del = $2 }
		/^  end to end \(durable\) / && del == "" { del = $5 }
		END { if (acc == "" || del == "") exit 1; print w, b, acc, del }
	' "$out" >> "$results"
	tail -n 1 "$results" | awk '{ printf "  %-4s %-10s accepted %7s msg/s  %s %7s msg/s\n", $1, $2, $3, c2, $4 }' c2="$col2"
	rm -f "$out"
}

echo "compare_pg: bench_$kind $args, $rounds rounds, this tree ($(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD || echo ', with changes')) against $short"
i=1
while [ "$i" -le "$rounds" ]; do
	echo "round $i"
	case $((i % 4)) in
	1) order="this:sqlite base:postgresql this:postgresql base:sqlite";;
	2) order="base:sqlite this:postgresql base:postgresql this:sqlite";;
	3) order="this:postgresql base:sqlite this:sqlite base:postgresql";;
	*) order="base:postgresql this:sqlite base:sqlite this:postgresql";;
	esac
	for run in $order; do
		w=${run%%:*} b=${run#*:}
		if [ "$w" = this ]; then n=$top/build/bin/narad; else n=$base_narad; fi
		run_one "$w" "$n" "$b"
	done
	i=$((i + 1))
done

for col in 3 4; do
	[ "$col" = 3 ] && name="accepted" || name=$col2
	for w in this base; do
		s=$(awk -v c=$col -v w=$w '$1 == w && $2 == "sqlite" { print $c }' "$results" | median)
		p=$(awk -v c=$col -v w=$w '$1 == w && $2 == "postgresql" { print $c }' "$results" | median)
		awk -v n="$name" -v w="$w" -v s="$s" -v p="$p" 'BEGIN {
			printf "median %-16s %-4s sqlite %8.0f  postgresql %8.0f msg/s  postgresql/sqlite %.2f\n", n, w, s, p, (s > 0 ? p / s : 0) }'
	done
done
