#!/usr/bin/env bash
# pgpair.sh — a local PostgreSQL pair for `make demo DEMO_STORE=postgresql`
# (and anyone who wants to try nara on PostgreSQL by hand): a primary and a
# streaming standby that the primary waits for at every commit
# (synchronous_standby_names), both on 127.0.0.1, in one directory.
#
#   pgpair.sh start DIR PORT   primary on PORT, standby on PORT+1; prints
#                              the libpq conninfo naming both hosts
#   pgpair.sh stop DIR         stops both (fast shutdown)
#   pgpair.sh promote DIR      promotes the standby (after the primary died)
#
# DIR must not exist yet: it is made, and owned by the user the servers run
# as (nobody when started as root, since PostgreSQL refuses to run as root).
# Authentication is "trust" on 127.0.0.1 and the directory's unix socket:
# a demo on one machine, not a production setup (docs/OPERATIONS.md says
# how to connect narad to a real cluster).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
die() { echo "pgpair: $*" >&2; exit 1; }

usage()
{
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

# as_pg CMD...: run CMD as the servers' user.
as_pg()
{
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

# wait_ready PORT DIR WHAT: until the server answers, at most 30 s.
wait_ready()
{
	local i
	for (( i = 0; i < 300; i++ )); do
		as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$1" && return 0
		sleep 0.1
	done
	die "the $3 on port $1 did not come up; see $2/$3.log"
}

# sql PORT SQL: one statement as the superuser, its output unaligned.
sql()
{
	as_pg psql -X -A -t -q -h 127.0.0.1 -p "$1" -U nara -d postgres -c "$2"
}

start_primary()
{
	local dir=$1 port=$2
	as_pg "$PGBIN/initdb" -D "$dir/primary" -U nara --auth=trust \
	    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
	    die "initdb failed; see $dir/initdb.log"
	cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
fsync = on
EOF
	printf 'host replication nara 127.0.0.1/32 trust\n' \
	    >>"$dir/primary/pg_hba.conf"
	as_pg "$PGBIN/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -s \
	    -w start || die "the primary did not start; see $dir/primary.log"
	wait_ready "$port" "$dir" primary
	as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U nara nara ||
	    die "createdb nara failed"
}

start_standby()
{
	local dir=$1 port=$2 sport=$(( $2 + 1 ))
	as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$port" -U nara \
	    -D "$dir/standby" -R -X stream -c fast \
	    >"$dir/basebackup.log" 2>&1 ||
	    die "pg_basebackup failed; see $dir/basebackup.log"
	# postgresql.auto.conf is read last: this primary_conninfo (with the
	# name the primary waits for) replaces the one -R wrote.
	printf "port = %d\nprimary_conninfo = 'host=127.0.0.1 port=%d user=nara application_name=standby1'\n" \
	    "$sport" "$port" >>"$dir/standby/postgresql.auto.conf"
	as_pg "$PGBIN/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -s \
	    -w start || die "the standby did not start; see $dir/standby.log"
	wait_ready "$sport" "$dir" standby
	# Only now does the primary wait for it: earlier, every commit would
	# hang until the standby existed.
	sql "$port" "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" &&
	    sql "$port" "SELECT pg_reload_conf()" >/dev/null ||
	    die "cannot name the synchronous standby"
	local i state=
	for (( i = 0; i < 300; i++ )); do
		state=$(sql "$port" "SELECT sync_state FROM pg_stat_replication \
		    WHERE application_name = 'standby1'" || true)
		[ "$state" = sync ] && return 0
		sleep 0.1
	done
	die "the standby is not a synchronous standby (state: ${state:-none})"
}

cmd=${1:-}
case "$cmd" in
start)
	[ $# -eq 3 ] || { usage >&2; exit 2; }
	dir=$2 port=$3
	[[ "$port" =~ ^[0-9]+$ ]] && (( port > 1023 && port < 65535 )) ||
	    die "PORT must be 1024..65534, not \"$port\""
	[ -e "$dir" ] && die "$dir exists already"
	[ -x "$PGBIN/initdb" ] ||
	    die "no PostgreSQL in $PGBIN (apt-get install postgresql-15)"
	mkdir -m 0700 "$dir"
	[ "$(id -u)" = 0 ] && chown nobody: "$dir"
	start_primary "$dir" "$port"
	start_standby "$dir" "$port"
	echo "host=127.0.0.1,127.0.0.1 port=$port,$(( port + 1 )) dbname=nara user=nara target_session_attrs=read-write connect_timeout=5"
	;;
stop)
	[ $# -eq 2 ] || { usage >&2; exit 2; }
	for s in standby primary; do
		[ -f "$2/$s/postmaster.pid" ] &&
		    as_pg "$PGBIN/pg_ctl" -D "$2/$s" -s -m fast -w stop || true
	done
	;;
promote)
	[ $# -eq 2 ] || { usage >&2; exit 2; }
	as_pg "$PGBIN/pg_ctl" -D "$2/standby" -s -w promote ||
	    die "promote failed; see $2/standby.log"
	;;
-h|--help)
	usage
	;;
*)
	usage >&2
	exit 2
	;;
esac
