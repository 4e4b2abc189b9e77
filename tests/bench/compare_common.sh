# compare_common.sh — what the compare scripts share (sourced; needs $top).
#
# base_of NAME REF: REF, a commit of this repository, as base_commit,
# short and base_dir (build/base-<short>, where its builds go). NAME names
# the caller in messages.
base_of() {
	base_commit=$(git -C "$top" rev-parse --verify --quiet "$2^{commit}") || {
		echo "$1: $2 is not a commit of this repository" >&2
		exit 2
	}
	short=$(git -C "$top" rev-parse --short "$base_commit")
	base_dir=$top/build/base-$short
}

# base_make NAME LOG OVERLAY TARGET...: builds the TARGETs of base_commit
# from its own sources, with OVERLAY (a file of this tree, by its path in
# the repository; "" for none) copied over its own, into base_dir; on
# failure names LOG, make's output, and exits.
base_make() {
	_name=$1 _log=$2 _overlay=$3
	shift 3
	_src=$(mktemp -d)
	git -C "$top" archive "$base_commit" | tar -x -C "$_src"
	if [ -n "$_overlay" ]; then
		cp "$top/$_overlay" "$_src/$_overlay"
	fi
	mkdir -p "$base_dir"
	if ! make -C "$_src" -j"$(nproc)" B="$base_dir" "$@" > "$_log" 2>&1; then
		rm -rf "$_src"
		echo "$_name: building $short failed; see $_log" >&2
		exit 1
	fi
	rm -rf "$_src"
}

# base_build NAME REF builds narad and nara-pki of REF from its own
# sources into base_dir (once; kept for later runs) and sets base_narad
# and short.
base_build() {
	base_of "$1" "$2"
	base_narad=$base_dir/bin/narad
	if [ -x "$base_narad" ] && [ -x "$base_dir/bin/nara-pki" ]; then
		return 0
	fi
	echo "$1: building narad of $short into $base_dir"
	base_make "$1" "$base_dir.log" "" "$base_narad" "$base_dir/bin/nara-pki"
}

# median: the median of the numbers on standard input, one per line.
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# pg_wal_ready CONNINFO [STANDBY_CONNINFO] [SEGMENTS]: has the PostgreSQL
# server (and its standby) keep SEGMENTS (default 16) write-ahead log files
# ready for reuse, so that a run is measured as on a server in service.
# A server that writes more WAL than its checkpoints recycled creates and
# zero-fills a new 16 MiB segment file (wal_init_zero), and the commit
# that needs it waits: about 80 ms here, every 16 MiB of WAL, on the
# primary and again on a synchronous standby. A young cluster does that
# all the time, one in service after its first checkpoints rarely.
# The segments are made here by switching to a new one SEGMENTS times
# (a logical message first, so that each switch has something to close),
# then a checkpoint on the primary and, once the standby replayed it, a
# restartpoint there recycles them as the next segments.
pg_wal_ready() {
	_ci=$1 _sb=${2:-} _n=${3:-16} _i=0
	while [ "$_i" -lt "$_n" ]; do
		psql -X -q -At "$_ci" \
		    -c "SELECT pg_logical_emit_message(false, 'nara-bench', 'wal')" \
		    -c "SELECT pg_switch_wal()" >/dev/null || return 1
		_i=$((_i + 1))
	done
	psql -X -q "$_ci" -c CHECKPOINT >/dev/null || return 1
	[ -n "$_sb" ] || return 0
	_lsn=$(psql -X -At "$_ci" -c "SELECT checkpoint_lsn FROM pg_control_checkpoint()") || return 1
	_i=0
	until [ "$(psql -X -At "$_sb" -c "SELECT pg_last_wal_replay_lsn() >= '$_lsn'")" = t ]; do
		_i=$((_i + 1))
		if [ "$_i" -gt 300 ]; then
			echo "pg_wal_ready: the standby did not replay $_lsn" >&2
			return 1
		fi
		sleep 0.1
	done
	psql -X -q "$_sb" -c CHECKPOINT >/dev/null
}

# pg_wal_files CONNINFO: how many files the server's pg_wal holds (a
# segment created during a run raises it; a recycled one does not).
pg_wal_files() {
	psql -X -At "$1" -c "SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}\$'"
}
