#!/bin/sh
# walpages.sh — the pages narad's commits write, by table and index, in a
# bench_e2e run: SNAPSHOTS times (1.7 s apart, from 4 s after narad
# starts) narad is stopped for the copy of its store and WAL, then
# bench_walpages counts the commits in each copy's WAL.
#
# usage: walpages.sh NARAD SNAPSHOTS BENCH_E2E_ARGS...
#   e.g. walpages.sh build/bin/narad 4 -t latency -r 2000 -d 14
set -eu
top=${NARA_TOP:?set NARA_TOP}
narad=${1:?usage: walpages.sh NARAD SNAPSHOTS BENCH_E2E_ARGS...}
snaps=${2:?usage: walpages.sh NARAD SNAPSHOTS BENCH_E2E_ARGS...}
shift 2
case $snaps in ''|*[!0-9]*) echo "walpages.sh: SNAPSHOTS must be a number" >&2; exit 2;; esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
"$top/build/bench/bench_e2e" -b "$narad" "$@" > "$out/bench.log" 2>&1 &
bench=$!
pid=
while [ -z "$pid" ] && kill -0 "$bench" 2>/dev/null; do
	pid=$(pgrep -n -x narad -P "$bench" || :)
	[ -n "$pid" ] || sleep 0.05
done
[ -n "$pid" ] || { echo "walpages.sh: narad did not start" >&2; cat "$out/bench.log" >&2; exit 1; }
conf=$(tr '\0' '\n' < "/proc/$pid/cmdline" | grep '\.conf$')
store=$(dirname "$conf")/nara.db
sleep 4
i=1
while [ "$i" -le "$snaps" ] && kill -0 "$pid" 2>/dev/null; do
	sleep 1.7
	mkdir "$out/$i"
	kill -STOP "$pid"
	cp "$store" "$store-wal" "$out/$i/" || :
	kill -CONT "$pid"
	i=$((i + 1))
done
wait "$bench" || { echo "walpages.sh: bench_e2e failed" >&2; tail -n 20 "$out/bench.log" >&2; exit 1; }
for d in "$out"/*/; do
	[ -f "$d/nara.db-wal" ] || continue
	echo "snapshot $(basename "$d"):"
	"$top/build/bench/bench_walpages" "$d/nara.db"
done
grep -E 'intended -> Accepted|end to end|narad CPU' "$out/bench.log" || :
