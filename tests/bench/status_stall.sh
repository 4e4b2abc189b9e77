#!/bin/sh
# status_stall.sh — whether the status views hold narad's loop: narad on a
# store kept by `bench_restart -n N -k` (N messages queued for a node that
# never connects), /metrics scraped back to back, and /alive (answered on
# the loop, reading nothing) asked every 20 ms meanwhile. A loop that walks
# the queue for a scrape answers /alive only after the walk.
#
# usage: status_stall.sh NARAD STORE_DIR PORT SECONDS [naractl]
# prints: NARAD: /alive n p50 p99 max (ms); /metrics n, statuses, p50 max
# With "naractl", `naractl status` (the naractl beside NARAD) is asked back
# to back instead of /metrics.
# Run it for two binaries in turn on the same store (docs/PERFORMANCE.md,
# "The store's counts off the loop").
set -eu
usage="usage: status_stall.sh NARAD STORE_DIR PORT SECONDS [naractl]"
[ $# -eq 4 ] || [ $# -eq 5 ] && [ "${5:-naractl}" = naractl ] ||
    { echo "$usage" >&2; exit 2; }
narad=$1 dir=$2 port=$3 secs=$4 asker=${5:-/metrics}
[ -x "$narad" ] || { echo "status_stall.sh: $narad is not executable" >&2; exit 1; }
[ -f "$dir/nara.conf" ] || { echo "status_stall.sh: no $dir/nara.conf" >&2; exit 1; }
case $secs in ''|*[!0-9]*) echo "status_stall.sh: SECONDS must be a whole number" >&2; exit 2;; esac
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
sed "s|^http_listen =.*|http_listen = 127.0.0.1:$port|" "$dir/nara.conf" > "$tmp/nara.conf"
"$narad" -c "$tmp/nara.conf" 2> "$tmp/narad.log" &
pid=$!
url=http://127.0.0.1:$port
i=0
until curl -s -o /dev/null "$url/alive"; do
	kill -0 "$pid" 2>/dev/null || { echo "status_stall.sh: narad exited:" >&2; tail -3 "$tmp/narad.log" >&2; exit 1; }
	i=$((i + 1)); [ $i -lt 600 ] || { echo "status_stall.sh: narad not up" >&2; exit 1; }
	sleep 0.05
done
# start-up work first: its look at the queues ends with this line
i=0
until grep -q "queues:" "$tmp/narad.log"; do
	i=$((i + 1)); [ $i -lt 600 ] || break
	sleep 0.05
done
sleep 1
end=$(($(date +%s) + secs))
naractl=$(dirname "$narad")/naractl
( while [ "$(date +%s)" -lt "$end" ]; do
	if [ "$asker" = naractl ]; then
		t0=$(date +%s.%N)
		if "$naractl" -c "$tmp/nara.conf" status > /dev/null 2>&1; then
			code=200
		else
			code=fail
		fi
		awk -v c="$code" -v a="$t0" -v b="$(date +%s.%N)" \
		    'BEGIN { printf "%s %.6f\n", c, b - a }'
	else
		curl -s -o /dev/null -w "%{http_code} %{time_total}\n" \
		    "$url/metrics"
	fi
done ) > "$tmp/metrics" &
scraper=$!
while [ "$(date +%s)" -lt "$end" ]; do
	curl -s -o /dev/null -w "%{time_total}\n" "$url/alive"
	sleep 0.02
done > "$tmp/alive"
wait "$scraper"
kill -0 "$pid" 2>/dev/null || { echo "status_stall.sh: narad exited during the run" >&2; exit 1; }
sort -n "$tmp/alive" | awk -v who="$narad" '{ v[NR] = $1 * 1000 }
	END { i = int(NR * 0.99) + 1; if (i > NR) i = NR
	    printf "%s: /alive n=%d p50=%.1f p99=%.1f max=%.1f ms; ", who, NR,
	    v[int(NR * 0.5) + 1], v[i], v[NR] }'
sort -k2 -n "$tmp/metrics" | awk -v asker="$asker" '{ c[$1]++; v[NR] = $2 * 1000 }
	END { s = ""; for (k in c) s = s (s == "" ? "" : ",") k "x" c[k];
	    printf "%s n=%d (%s) p50=%.0f max=%.0f ms\n", asker, NR, s,
	    v[int(NR * 0.5) + 1], v[NR] }'
