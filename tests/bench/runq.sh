#!/bin/sh
# runq.sh — how long each thread of some processes ran, and how long it
# waited for a CPU while it could have run, over SECONDS: from the
# scheduler's own accounting (/proc/PID/task/TID/schedstat: time on a CPU,
# time runnable on a run queue, times scheduled). On a machine where
# narad, its database and the bench's clients share few cores, a thread
# that waits about as long as it runs is paced by the run queue, not by
# its own work (docs/PERFORMANCE.md, "What paces the drain").
#
# usage: runq.sh SECONDS PID [PID ...]
# One line per thread (threads of the same name in a process other than
# the first PID are summed, with their count): run and wait as a share of
# the time between the two readings (SECONDS and the time a reading takes;
# 100 % = one CPU for the whole time), and how often per second it was put
# on a CPU (runs/s: for a thread that mostly sleeps, its wake-ups).
set -eu
usage="usage: runq.sh SECONDS PID [PID ...]"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
secs=$1
shift
case $secs in ''|*[!0-9]*) echo "runq.sh: SECONDS must be a whole number" >&2; exit 2;; esac
for pid in "$@"; do
	[ -d /proc/"$pid" ] || { echo "runq.sh: no process $pid" >&2; exit 1; }
done
first=$1

# snap: "pid tid run_ns wait_ns slices name" for every thread of the PIDs,
# after a line "@ UPTIME" (seconds) taken when the snapshot began
snap() {
	read -r up _ < /proc/uptime
	echo "@ $up"
	for pid in "$@"; do
		for t in /proc/"$pid"/task/*; do
			[ -r "$t/schedstat" ] || continue
			read -r run wait slices < "$t/schedstat" 2>/dev/null || continue
			read -r name < "$t/comm" 2>/dev/null || continue
			echo "$pid ${t##*/} $run $wait $slices $name"
		done
	done
}

a=$(mktemp)
b=$(mktemp)
trap 'rm -f "$a" "$b"' EXIT INT TERM
snap "$@" > "$a"
sleep "$secs"
snap "$@" > "$b"
printf '%-8s %-8s %-16s %7s %7s %9s  %s\n' pid thread name run% wait% runs/s threads
awk -v first="$first" '
	$1 == "@" { if (NR == FNR) t0 = $2; else secs = $2 - t0; next }
	NR == FNR { run[$1 " " $2] = $3; wait[$1 " " $2] = $4; sl[$1 " " $2] = $5; next }
	($1 " " $2) in run {
		name = $6
		for (i = 7; i <= NF; i++)
			name = name "_" $i
		k = ($1 == first) ? $1 " " $2 " " name : $1 " - " name
		r[k] += $3 - run[$1 " " $2]; w[k] += $4 - wait[$1 " " $2]
		s[k] += $5 - sl[$1 " " $2]; n[k]++
	}
	END {
		for (k in r) {
			split(k, f, " ")
			printf "%-8s %-8s %-16s %6.1f%% %6.1f%% %9.0f  %d\n", f[1], f[2],
			    f[3], r[k] / secs / 1e7, w[k] / secs / 1e7, s[k] / secs, n[k]
		}
	}' "$a" "$b" | sort -k4 -rn
