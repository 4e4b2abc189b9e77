#!/bin/sh
# id_index.sh — what message ids cost the store's index of them: the WAL
# pages per commit of a table of PREFILL messages with a unique index on
# their ids (as narad's messages table has), then COMMITS commits of PER
# new messages each, once with time-ordered ids (version 7) and once with
# random ones (version 4). A model of that one index in SQLite, not narad.
#
# usage: id_index.sh [PREFILL [PER [COMMITS]]]   (default 1000000 3 1000)
set -eu
prefill=${1:-1000000}
per=${2:-3}
commits=${3:-1000}
for n in "$prefill" "$per" "$commits"; do
	case $n in ''|*[!0-9]*) echo "id_index.sh: numbers expected" >&2; exit 2;; esac
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM

# An id of version $1 for message number i (the column i of a CTE row):
# version 7 carries a millisecond time that grows with i.
id_sql() {
	if [ "$1" = 7 ]; then
		echo "printf('%08x-%04x-7%03x-%x%03x-%012x', (t0 + i) >> 16," \
		    "(t0 + i) & 65535, abs(random()) % 4096, 8 + abs(random()) % 4," \
		    "abs(random()) % 4096, abs(random()) % 281474976710656)"
	else
		echo "printf('%08x-%04x-4%03x-%x%03x-%012x', abs(random()) % 4294967296," \
		    "abs(random()) % 65536, abs(random()) % 4096, 8 + abs(random()) % 4," \
		    "abs(random()) % 4096, abs(random()) % 281474976710656)"
	fi
}

for v in 7 4; do
	db=$dir/v$v.db
	sqlite3 "$db" > /dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE m (seq INTEGER PRIMARY KEY, message_id TEXT UNIQUE NOT NULL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT $prefill),
  z(t0) AS (SELECT 1700000000000)
INSERT INTO m SELECT i, $(id_sql $v) FROM c, z;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
	{
		echo "PRAGMA wal_autocheckpoint = 0;"
		k=0
		while [ "$k" -lt "$commits" ]; do
			echo "BEGIN; WITH RECURSIVE c(i) AS (SELECT $prefill + $k * $per + 1" \
			    "UNION ALL SELECT i + 1 FROM c LIMIT $per), z(t0) AS (SELECT" \
			    "1700000000000) INSERT INTO m SELECT i, $(id_sql $v) FROM c, z;" \
			    "COMMIT;"
			k=$((k + 1))
		done
		# busy | frames in the WAL | frames copied back
		echo "PRAGMA wal_checkpoint(PASSIVE);"
	} | sqlite3 "$db" > "$dir/frames"
	frames=$(tail -n 1 "$dir/frames" | cut -d'|' -f2)
	awk -v v="$v" -v f="$frames" -v c="$commits" -v p="$per" -v n="$prefill" 'BEGIN {
		printf "version %s ids: %d messages, then %d commits of %d: %.1f pages per commit (%.2f per message)\n", v, n, c, p, f / c, f / (c * p) }'
done
