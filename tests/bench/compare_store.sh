#!/bin/sh
# compare_store.sh — the store's cost per message (bench_store) in this
# tree against BASE, a commit of this repository: instructions per message
# under valgrind's cachegrind, which count the same run after run (a
# change of 1 % shows), and with ROUNDS > 0 also CPU per message in
# alternate runs (which drift with the machine). The base is BASE's
# sources with this tree's bench_store.c, built into build/base-<short>.
# The store lies in /dev/shm, so the disk stays out of the count. Under
# valgrind OpenSSL hashes without the CPU's SHA extensions: SHA-256 weighs
# far more there than on the CPU; and malloc and free run in valgrind's own
# allocator, uncounted, so a change in allocations shows in CPU only
# (docs/PERFORMANCE.md).
#
# usage: compare_store.sh BASE [MESSAGES] [ROUNDS]   (defaults 3200, 0)
set -eu
top=${NARA_TOP:?set NARA_TOP}
base_ref=${1:?usage: compare_store.sh BASE [MESSAGES] [ROUNDS]}
messages=${2:-3200}
rounds=${3:-0}
for v in "$messages" "$rounds"; do
	case $v in ''|*[!0-9]*) echo "compare_store.sh: MESSAGES and ROUNDS" \
	    "must be numbers" >&2; exit 2;; esac
done
command -v valgrind >/dev/null 2>&1 || {
	echo "compare_store.sh: needs valgrind (apt-get install valgrind)" >&2
	exit 2
}
. "$top/tests/bench/compare_common.sh"

this=$top/build/bench/bench_store
make -C "$top" -s build/bench/bench_store     # the Makefile's own name
base_of compare_store.sh "$base_ref"
that=$base_dir/bench/bench_store
if [ ! -x "$that" ]; then
	echo "compare_store.sh: building bench_store on $short into $base_dir"
	base_make compare_store.sh "$base_dir.store.log" \
	    tests/bench/bench_store.c "$that"
fi

# instructions BIN: the instructions of one run of BIN.
instructions() {
	d=$(mktemp -d /dev/shm/nara-bench-store-XXXXXX)
	valgrind --tool=cachegrind --cache-sim=no \
	    --cachegrind-out-file=/dev/null "$1" -n "$messages" -d "$d" \
	    2>&1 | awk '/I +refs:/ { gsub(",", "", $NF); print $NF }'
	rm -rf "$d"
}

echo "compare_store: bench_store -n $messages, this tree" \
    "($(git -C "$top" rev-parse --short HEAD)$(git -C "$top" diff --quiet HEAD ||
    echo ', with changes')) against $short"
i_this=$(instructions "$this")
i_base=$(instructions "$that")
if [ -z "$i_this" ] || [ -z "$i_base" ]; then
	echo "compare_store.sh: no instruction count from valgrind" >&2
	exit 1
fi
awk -v a="$i_this" -v b="$i_base" -v n="$messages" 'BEGIN {
	printf "instructions per message  this %9.0f  base %9.0f  ratio this/base %.4f\n",
	    a / n, b / n, a / b }'

results=$(mktemp)
trap 'rm -f "$results"' EXIT INT TERM
i=1
while [ "$i" -le "$rounds" ]; do
	for which in this base; do
		[ "$which" = this ] && bin=$this || bin=$that
		d=$(mktemp -d /dev/shm/nara-bench-store-XXXXXX)
		"$bin" -n 20000 -d "$d" 2>/dev/null | awk -v w="$which" \
		    '{ for (k = 1; k <= NF; k++) if ($k == "us" && $(k + 1) == "CPU") print w, $(k - 1) }' \
		    >> "$results"
		rm -rf "$d"
	done
	i=$((i + 1))
done
if [ "$rounds" -gt 0 ]; then
	a=$(awk '$1 == "this" { print $2 }' "$results" | median)
	b=$(awk '$1 == "base" { print $2 }' "$results" | median)
	awk -v a="$a" -v b="$b" -v r="$rounds" 'BEGIN {
		printf "CPU us per message, median of %d  this %6.1f  base %6.1f  ratio this/base %.2f\n",
		    r, a, b, a / b }'
fi
