# compare_common.sh — what the compare scripts share (sourced; needs $top).
#
# base_build NAME REF builds narad and nara-pki of REF, a commit of this
# repository, from its own sources into build/base-<short> (once; kept for
# later runs) and sets base_narad and short. NAME names the caller in
# messages.
base_build() {
	_name=$1
	_base=$(git -C "$top" rev-parse --verify --quiet "$2^{commit}") || {
		echo "$_name: $2 is not a commit of this repository" >&2
		exit 2
	}
	short=$(git -C "$top" rev-parse --short "$_base")
	_dir=$top/build/base-$short
	base_narad=$_dir/bin/narad
	if [ -x "$base_narad" ] && [ -x "$_dir/bin/nara-pki" ]; then
		return 0
	fi
	_src=$(mktemp -d)
	echo "$_name: building narad of $short into $_dir"
	git -C "$top" archive "$_base" | tar -x -C "$_src"
	if ! make -C "$_src" -j"$(nproc)" B="$_dir" "$base_narad" \
	    "$_dir/bin/nara-pki" > "$_dir.log" 2>&1; then
		rm -rf "$_src"
		echo "$_name: building $short failed; see $_dir.log" >&2
		exit 1
	fi
	rm -rf "$_src"
}

# median: the median of the numbers on standard input, one per line.
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
