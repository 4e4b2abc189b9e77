#!/bin/sh
# readme_commands.sh — the nara-msg commands README.md shows integrators
# run as written, from the top of the tree, in order, and each exits 0.
# A README line that stops working fails `make check`.
set -eu
top=${NARA_TOP:?set NARA_TOP}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
# The commands use paths relative to the top; their outputs (referral.pb)
# go to a scratch copy of the paths they read. build/ is the build
# directory the binaries under test are in (make's B=, NARA_BIN=<B>/bin).
bin=${NARA_BIN:-$top/build/bin}
if [ ! -x "$bin/nara-msg" ]; then
	echo "readme_commands: no $bin/nara-msg (build it, or set NARA_BIN)" >&2
	exit 1
fi
ln -s "$(cd "$bin/.." && pwd)" "$work/build"
ln -s "$top/config" "$work/config"
grep -E '^ *build/bin/nara-msg ' "$top/README.md" | sed 's/^ *//' > "$work/commands"
n=$(wc -l < "$work/commands")
if [ "$n" -lt 3 ]; then
	echo "readme_commands: only $n nara-msg commands found in README.md" >&2
	exit 1
fi
cd "$work"
i=0
while IFS= read -r cmd; do
	i=$((i + 1))
	if ! sh -c "$cmd" > out.txt 2>&1; then
		echo "readme_commands: README command failed: $cmd" >&2
		cat out.txt >&2
		exit 1
	fi
done < commands
echo "readme_commands: $i README commands ran as written"
