#!/bin/sh
# compare.sh — bench_e2e against two narad binaries in one run: the one in
# build/bin (this tree) and one built from BASE, a commit of this
# repository. They run alternately (A B B A A B ...) so that whatever else
# the machine does hits both alike; each figure is printed for both, with
# the medians and the ratio this/base. Absolute figures drift on a shared
# machine; the ratio is what to quote.
#
# usage: compare.sh BASE [ROUNDS]   (make bench-compare BASE=... ROUNDS=...)
# BENCH_COMPARE_ARGS: arguments for bench_e2e (default: -t throughput -n 20000);
#   with "-t drain" the two rates are the backlog's queueing (accepted)
#   and its drain to the recipients once they connect (durable)
set -eu
top=${NARA_TOP:?set NARA_TOP}
base_ref=${1:?usage: compare.sh BASE [ROUNDS]}
rounds=${2:-5}
args=${BENCH_COMPARE_ARGS:--t throughput -n 20000}
bench=$top/build/bench/bench_e2e
this_narad=$top/build/bin/narad

case $rounds in ''|*[!0-9]*) echo "compare.sh: ROUNDS must be a number" >&2; exit 2;; esac
. "$top/tests/bench/compare_common.sh"
base_build compare.sh "$base_ref"

results=$(mktemp)
trap 'rm -f "$results"' EXIT INT TERM

# One bench run: appends "which accepted durable narad_us bench_us busy"
# to $results (CPU per message of narad and of the bench's own process;
# cores busy on the machine).
run_one() {
	which=$1 narad=$2 out=$(mktemp)
	if ! "$bench" -b "$narad" $args > "$out" 2>&1; then
		echo "compare.sh: bench_e2e failed with the $which narad:" >&2
		tail -n 20 "$out" >&2
		rm -f "$out"
		exit 1
	fi
	awk -v w="$which" '
		/^  accepted / { acc = $2 }
		/end to end \(durable\)/ { dur = $5 }
		/^  queued \(accepted\) / { acc = $3 }
		/^  drained / { dur = $2 }
		/narad CPU/ {       # first "us" narad, second the bench; last part wins
			k = 0
			for (i = 1; i <= NF; i++)
				if ($i == "us") {
					v = $(i - 1); sub(/^\(/, "", v)
					if (k++ == 0) us = v; else bus = v
				}
		}
		/^  machine: / { busy = $2 }
		END { if (acc == "" || dur == "") exit 1
		      print w, acc, dur, us, (bus == "" ? 0 : bus), (busy == "" ? 0 : busy) }
	' "$out" >> "$results" || {
		echo "compare.sh: no figures in the bench output:" >&2
		cat "$out" >&2
		exit 1
	}
	tail -n 1 "$results" | awk '{ printf "  %-5s accepted %7s msg/s  durable %7s msg/s  narad %5s us CPU/msg  bench %5s us CPU/msg  %s cores busy\n", $1, $2, $3, $4, $5, $6 }'
	rm -f "$out"
}

echo "compare: bench_e2e $args, $rounds rounds, this tree ($(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD || echo ', with changes')) against $short"
i=1
while [ "$i" -le "$rounds" ]; do
	echo "round $i"
	if [ $((i % 2)) -eq 1 ]; then
		run_one this "$this_narad"; run_one base "$base_narad"
	else
		run_one base "$base_narad"; run_one this "$this_narad"
	fi
	i=$((i + 1))
done

# Medians per binary and the ratios.
for col in 2 3 4 5 6 7; do
	# column 7: narad and the bench together, per message
	t=$(awk -v c=$col '$1 == "this" { print (c == 7 ? $4 + $5 : $c) }' "$results" | median)
	b=$(awk -v c=$col '$1 == "base" { print (c == 7 ? $4 + $5 : $c) }' "$results" | median)
	case $col in
	2) name="accepted msg/s";;
	3) name="durable msg/s";;
	4) name="narad us CPU/msg";;
	5) name="bench us CPU/msg";;
	6) name="cores busy";;
	7) name="all us CPU/msg";;
	esac
	eval "med_t$col=\$t med_b$col=\$b"
	awk -v n="$name" -v t="$t" -v b="$b" 'BEGIN {
		printf "median %-18s this %9.2f  base %9.2f  ratio this/base %.2f\n", n, t, b, (b > 0 ? t / b : 0) }'
done

# On a machine the bench shares, a rate is the cores kept busy divided by
# the CPU all processes spend per message: the durable ratio splits into
# the ratio of that CPU (narad's and the bench's own, whose cost per message
# follows narad's batching) and the ratio of the cores busy.
awk -v ct="$med_t7" -v cb="$med_b7" -v bt="$med_t6" -v bb="$med_b6" \
    -v rt="$med_t3" -v rb="$med_b3" 'BEGIN {
	if (ct <= 0 || cb <= 0 || bb <= 0 || rb <= 0) exit
	printf "durable ratio %.2f: CPU per message (narad + bench) base/this %.2f, cores busy this/base %.2f\n",
	    rt / rb, cb / ct, bt / bb }'
