#!/bin/sh
# reader_stall.sh — whether a long read of narad's SQLite store (an
# auditor's query, a backup) holds narad's batches: bench_e2e's latency
# part at RATE msg/s for SECONDS, with a read transaction opened on narad's
# store one second after narad starts and held past the run's end.
#
# usage: reader_stall.sh NARAD RATE SECONDS
# prints bench_e2e's report; its intended -> Accepted line and "rejected"
# show what the reader cost. Run it for two binaries in turn
# (docs/PERFORMANCE.md, "A reader never holds the writer").
set -eu
[ $# -eq 3 ] || { echo "usage: reader_stall.sh NARAD RATE SECONDS" >&2; exit 2; }
narad=$1 rate=$2 secs=$3
# narad wipes purged content out of the WAL 10 s after the first ack,
# and then each 10 s: that is where a reader met the writer
case $secs in ''|*[!0-9]*) echo "reader_stall.sh: SECONDS must be a whole number" >&2; exit 2;; esac
[ "$secs" -ge 15 ] || { echo "reader_stall.sh: SECONDS must be 15 or more" >&2; exit 2; }
top=${NARA_TOP:-.}
[ -x "$narad" ] || { echo "reader_stall.sh: $narad is not executable" >&2; exit 1; }
command -v sqlite3 > /dev/null ||
    { echo "reader_stall.sh: needs the sqlite3 shell" >&2; exit 1; }
before=$(pgrep -x narad || true)
"$top/build/bench/bench_e2e" -b "$narad" -t latency -r "$rate" -d "$secs" &
bench=$!
reader=
trap 'kill $reader 2>/dev/null || true' EXIT
i=0
while :; do
	for p in $(pgrep -x narad || true); do
		echo "$before" | grep -qx "$p" || break 2
	done
	i=$((i + 1))
	[ $i -lt 600 ] || { echo "reader_stall.sh: no narad started" >&2; exit 1; }
	sleep 0.05
done
conf=$(tr '\0' '\n' < "/proc/$p/cmdline" | sed -n '/^-c$/{n;p;}')
db=$(sed -n 's/^store *= *//p' "$conf" | head -1)
sleep 1
( echo "BEGIN; SELECT count(*) FROM audit;"; sleep $((secs + 30));
  echo "COMMIT;" ) | sqlite3 -readonly "$db" > /dev/null &
reader=$!
echo "reader_stall.sh: a read transaction held on $db" >&2
wait $bench
