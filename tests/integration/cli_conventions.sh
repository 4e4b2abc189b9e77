#!/bin/sh
# cli_conventions.sh — every nara binary answers -h/--help with its usage
# on stdout and exit 0, -V/--version with "NAME VERSION" and exit 0, and
# an unknown option with a message on stderr and exit 2; every man page
# names the version the binaries print.
set -u
top=${NARA_TOP:?set NARA_TOP}
bin=${NARA_BIN:-$top/build/bin}
version=$(sed -n 's/^#define NARA_VERSION "\(.*\)"$/\1/p' "$top/broker/lib/version.h")
fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

bad() {
	echo "cli_conventions: $*" >&2
	fail=1
}

for b in narad nara-adapter naractl nara-audit nara-msg nara-pki; do
	for o in -h --help; do
		"$bin/$b" $o > "$work/out" 2> "$work/err"
		rc=$?
		[ $rc -eq 0 ] || bad "$b $o: exit $rc, not 0"
		head -n 1 "$work/out" | grep -q "^usage: $b " ||
			bad "$b $o: first line of stdout is not \"usage: $b ...\": $(head -n 1 "$work/out")"
	done
	for o in -V --version; do
		"$bin/$b" $o > "$work/out" 2> "$work/err"
		rc=$?
		[ $rc -eq 0 ] || bad "$b $o: exit $rc, not 0"
		[ "$(cat "$work/out")" = "$b $version" ] ||
			bad "$b $o: printed \"$(cat "$work/out")\", not \"$b $version\""
	done
	"$bin/$b" --no-such-option > "$work/out" 2> "$work/err"
	rc=$?
	[ $rc -eq 2 ] || bad "$b --no-such-option: exit $rc, not 2"
	[ -s "$work/err" ] || bad "$b --no-such-option: nothing on stderr"
done
for m in "$top"/docs/man/*.[0-9]; do
	head -n 1 "$m" | grep -q "\"nara $version\"" ||
		bad "$(basename "$m"): .TH does not name \"nara $version\""
done
[ $fail -eq 0 ] && echo "cli_conventions: 6 binaries and every man page agree"
exit $fail
