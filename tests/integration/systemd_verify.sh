#!/bin/sh
# Verify every systemd unit with systemd-analyze, the installed binary path
# replaced by the built one. Skipped (and said so) where the tool is absent.
set -eu
top=${NARA_TOP:-.}
bin=${NARA_BIN:-$top/build/bin}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP systemd_verify: systemd-analyze not installed"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for unit in "$top"/systemd/*.service; do
	name=$(basename "$unit")
	# systemd-analyze verifies a template only as one of its instances
	case "$name" in
	*@.service) name="${name%@.service}@kommun-1480.service" ;;
	esac
	sed -e "s#/usr/sbin/narad#$bin/narad#g" \
	    -e "s#/usr/sbin/nara-adapter#$bin/nara-adapter#g" "$unit" > "$tmp/$name"
	if ! out=$(systemd-analyze verify --man=no "$tmp/$name" 2>&1); then
		echo "FAIL systemd_verify: $name"; echo "$out"; exit 1
	fi
	if [ -n "$out" ]; then
		echo "FAIL systemd_verify: $name has warnings"; echo "$out"; exit 1
	fi
	n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "FAIL systemd_verify: no units found"; exit 1; }
echo "systemd_verify: $n unit(s) verified"
