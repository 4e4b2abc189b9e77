#!/bin/sh
# compare_pg_latency.sh — bench_e2e's latency part on the PostgreSQL
# backend with two narad binaries in one run: this tree's (build/bin) and
# one built from BASE (compare_common.sh). They run alternately (A B B A ...),
# each on a new, empty database that is dropped after, so that whatever
# else the machine does hits both alike: on a shared two-core machine the
# p99 of one run swings by a factor of four, the ratio between neighbours
# far less. Printed for each run: intended -> Accepted p50, p99, p99.9 and
# narad's CPU per message; then the medians and the ratios this/base.
#
# usage: compare_pg_latency.sh BASE CONNINFO [ROUNDS]
#   CONNINFO: libpq conninfo of a PostgreSQL server (say, the primary of
#   tests/demo/pgpair.sh) where this user may create databases; "sqlite"
#   runs the same comparison on the SQLite store (no server, no WAL
#   files to ready).
# BENCH_COMPARE_ARGS: arguments for bench_e2e (default: -t latency -r 1000
#   -d 8; one rate)
# NARA_PG_STANDBY: conninfo of the synchronous standby, if there is one
#   (tests/demo/pgpair.sh: port + 1), so that it too keeps WAL files ready
# NARA_PG_WARM: WAL segments made ready before each run (default 16, one
#   run of the default arguments writes about 4; 0: none, to measure a
#   young server that creates every segment while the run waits for it).
#   Each run's line says how many WAL files the primary / standby created
#   during it.
set -eu
top=${NARA_TOP:?set NARA_TOP}
base_ref=${1:?usage: compare_pg_latency.sh BASE CONNINFO [ROUNDS]}
conninfo=${2:?usage: compare_pg_latency.sh BASE CONNINFO [ROUNDS]}
rounds=${3:-4}
args=${BENCH_COMPARE_ARGS:--t latency -r 1000 -d 8}
bench=$top/build/bench/bench_e2e
standby=${NARA_PG_STANDBY:-}
warm=${NARA_PG_WARM:-16}
case $warm in ''|*[!0-9]*) echo "compare_pg_latency.sh: NARA_PG_WARM must be a number" >&2; exit 2;; esac

case $rounds in ''|*[!0-9]*) echo "compare_pg_latency.sh: ROUNDS must be a number" >&2; exit 2;; esac
. "$top/tests/bench/compare_common.sh"
base_build compare_pg_latency.sh "$base_ref"

results=$(mktemp)
trap 'rm -f "$results"' EXIT INT TERM
n_db=0

# the standby's WAL files ("-" without NARA_PG_STANDBY)
wal_files_standby() {
	if [ -n "$standby" ]; then pg_wal_files "$standby"; else echo 0; fi
}

# figures WHICH OUT NEW_P NEW_S: the line of one run, from its output.
figures() {
	awk -v w="$1" -v np="$3" -v ns="$4" '
		/intended -> Accepted/ && p50 == "" { p50 = $5; p99 = $8; p999 = $11 }
		/narad CPU/ { k = 0; for (i = 1; i <= NF; i++) if ($i == "us" && k++ == 0) us = $(i - 1) }
		END { if (p50 == "") exit 1; print w, p50, p99, p999, us, np, ns }
	' "$2" >> "$results"
	tail -n 1 "$results" | awk '{ printf "  %-4s p50 %7s ms  p99 %7s ms  p99.9 %7s ms  narad %4s us CPU/msg  WAL files created %s / %s\n", $1, $2, $3, $4, $5, $6, $7 }'
	rm -f "$2"
}

# run_sqlite WHICH NARAD OUT: one run on a SQLite store.
run_sqlite() {
	if ! "$bench" -b "$2" $args > "$3" 2>&1; then
		echo "compare_pg_latency.sh: bench_e2e failed ($1):" >&2
		tail -n 20 "$3" >&2
		exit 1
	fi
	figures "$1" "$3" - -
}

# run_one WHICH NARAD: appends "which p50 p99 p99.9 us_per_msg".
run_one() {
	which=$1 narad=$2 out=$(mktemp)
	if [ "$conninfo" = sqlite ]; then
		run_sqlite "$which" "$narad" "$out"
		return
	fi
	n_db=$((n_db + 1))
	db=nara_lat_$$_$n_db
	psql -X -q "$conninfo" -c "CREATE DATABASE $db" >/dev/null
	if [ "$warm" -gt 0 ] && ! pg_wal_ready "$conninfo" "$standby" "$warm"; then
		echo "compare_pg_latency.sh: cannot make WAL segments ready" >&2
		exit 1
	fi
	f0=$(pg_wal_files "$conninfo") s0=$(wal_files_standby)
	if ! "$bench" -b "$narad" -P "$conninfo dbname=$db" $args > "$out" 2>&1
	then
		echo "compare_pg_latency.sh: bench_e2e failed ($which):" >&2
		tail -n 20 "$out" >&2
		psql -X -q "$conninfo" -c "DROP DATABASE $db" >/dev/null || :
		exit 1
	fi
	new_p=$(($(pg_wal_files "$conninfo") - f0)) new_s=$(($(wal_files_standby) - s0))
	psql -X -q "$conninfo" -c "DROP DATABASE $db" >/dev/null
	figures "$which" "$out" "$new_p" "$new_s"
}

echo "compare_pg_latency: bench_e2e $args on $([ "$conninfo" = sqlite ] && echo SQLite || echo PostgreSQL), $rounds rounds, this tree ($(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD || echo ', with changes')) against $short"
i=1
while [ "$i" -le "$rounds" ]; do
	echo "round $i"
	if [ $((i % 2)) -eq 1 ]; then
		run_one this "$top/build/bin/narad"; run_one base "$base_narad"
	else
		run_one base "$base_narad"; run_one this "$top/build/bin/narad"
	fi
	i=$((i + 1))
done

for col in 2 3 4 5; do
	case $col in 2) name="p50 ms";; 3) name="p99 ms";; 4) name="p99.9 ms";; *) name="narad us/msg";; esac
	t=$(awk -v c=$col '$1 == "this" { print $c }' "$results" | median)
	b=$(awk -v c=$col '$1 == "base" { print $c }' "$results" | median)
	awk -v n="$name" -v t="$t" -v b="$b" 'BEGIN {
		printf "median %-13s this %8.2f  base %8.2f  ratio this/base %.2f\n", n, t, b, (b > 0 ? t / b : 0) }'
done
