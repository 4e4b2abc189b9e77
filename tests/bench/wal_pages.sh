#!/bin/sh
# wal_pages.sh — what a message costs in WAL pages on the SQLite store's
# schema, table by table: a model of the store's writes, run by the
# sqlite3 shell on the schema narad creates (read from
# broker/lib/store_sqlite_schema.c, so it follows the source).
#
# N messages for 49 recipients are accepted in commits of B (row, content,
# "received" row), then drained in the same commits: delivered (attempts,
# "delivered" row), acked (state, trigger deleting the content, receipt,
# "acked" row), receipt sent, receipt acked. Checkpoints are off, so the
# WAL's length counts every page every commit wrote. VARIANT leaves one
# part of the schema out to show its share:
#   full      the schema as narad makes it
#   noqueue   without the queue index messages_queue(seq, recipient_node)
#   nouniq    message_id not UNIQUE (no index on the random ids)
#   noaudit   no audit rows
#   inline    the content in the message's row, as in schema version 2
#             (with the queue index by node, as then)
#   nodeidx   the queue index by node (messages(recipient_node, seq)), as
#             before it was in seq order
# The statements are set-wise (one per kind and commit) where narad runs
# one per message; the pages a commit dirties are the same. The drain acks
# in global seq order, which favours an index in seq order: narad's
# recipients ack side by side at their own pace (docs/PERFORMANCE.md, "The
# queue index in seq order", measured 0.94 of the WAL where this says
# 0.68).
#
# usage: wal_pages.sh [VARIANT] [N] [B]   (needs the sqlite3 shell)
set -eu
top=${NARA_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
variant=${1:-full} n=${2:-20000} b=${3:-200}
case $variant in full|noqueue|nouniq|noaudit|inline|nodeidx) ;; *)
	echo "wal_pages.sh: VARIANT is full, noqueue, nouniq, noaudit, inline" \
	    "or nodeidx" >&2
	exit 2;; esac
case $n$b in *[!0-9]*) echo "wal_pages.sh: N and B are numbers" >&2; exit 2;; esac
command -v sqlite3 >/dev/null || { echo "wal_pages.sh: needs sqlite3" >&2; exit 2; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
db=$dir/s.db

# The C string literals of SCHEMA_SQL, PAYLOADS_SQL and QUEUE_INDEX_SQL,
# as SQL.
schema=$(awk '
	/^#define PAYLOADS_SQL/ { p = 1; next }
	/^#define QUEUE_INDEX_SQL/ { q = 1; next }
	/^static const char SCHEMA_SQL\[\]/ { s = 1; next }
	(p || q) && /^$/ { p = 0; q = 0 }
	s && /;$/ { s = 2 }
	(p || q || s) && /"/ { line = $0; sub(/^[^"]*"/, "", line); sub(/"[^"]*$/, "", line)
		if (p) pay = pay line; else if (q) qi = qi line; else sch = sch line }
	s == 2 { s = 0 }
	END { sub(/INSERT INTO meta/, qi pay "INSERT INTO meta", sch); print sch }
' "$top/broker/lib/store_sqlite_schema.c")
case $variant in
noqueue) schema=$(printf '%s' "$schema" | sed 's/CREATE INDEX messages_queue ON messages(seq, recipient_node) WHERE state = 0;//');;
nodeidx|inline) schema=$(printf '%s' "$schema" | sed 's/messages_queue ON messages(seq, recipient_node)/messages_queue ON messages(recipient_node, seq)/');;
nouniq) schema=$(printf '%s' "$schema" | sed 's/message_id TEXT UNIQUE NOT NULL/message_id TEXT NOT NULL/');;
esac
# the variant's edit must have found its text in the schema
case $variant in
full|nouniq|noaudit) want='messages(seq, recipient_node)';;
nodeidx|inline) want='messages(recipient_node, seq)';;
noqueue) want='';;
esac
if [ -n "$want" ]; then
	case $schema in *"$want"*) ;; *) echo "wal_pages.sh: the schema has" \
	    "no queue index on $want; the model is out of date" >&2; exit 1;; esac
else
	case $schema in *messages_queue*) echo "wal_pages.sh: the queue index" \
	    "is still in the schema; the model is out of date" >&2; exit 1;; esac
fi
audit_on=1
[ "$variant" = noaudit ] && audit_on=0

# One audit row per message of seqs ?lo..?hi for event $1.
audit() {
	[ "$audit_on" = 1 ] || return 0
	echo "INSERT INTO audit(time, event, node, message_id, type, sender,
	  recipient, author, legal_basis, payload_sha256, payload_size, subject,
	  detail, prev_hash, hash, msg_seq) SELECT 1, '$1', 'kommun-1480',
	  message_id, 'REFERRAL', 'kommun:1480:elevhalsa',
	  'SE2321000131-E000000000101', 'SE2321000131-P000000000042',
	  'GUARDIAN_CONSENT', hex(randomblob(32)), 1340, hex(randomblob(32)),
	  'routed to ' || recipient_node, randomblob(32), randomblob(32), seq
	  FROM messages WHERE seq BETWEEN $2 AND $3;"
}

{
	echo "PRAGMA auto_vacuum = INCREMENTAL;"
	printf '%s\n' "$schema"
	echo "CREATE INDEX messages_dead ON messages(done_at, seq) WHERE state = 2;"
	echo "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;"
	echo "PRAGMA secure_delete = ON; PRAGMA synchronous = OFF;"
} | sqlite3 "$db" > /dev/null

# A session keeps the WAL (the shell's last close would checkpoint it).
run() {
	{
		echo "PRAGMA wal_autocheckpoint = 0; PRAGMA secure_delete = ON;"
		echo "PRAGMA synchronous = OFF;"
		cat
	} | sqlite3 "$db" > /dev/null
}

lo=1
{
	while [ "$lo" -le "$n" ]; do
		hi=$((lo + b - 1)); [ "$hi" -le "$n" ] || hi=$n
		echo "BEGIN;"
		echo "INSERT INTO messages(message_id, conversation_id, type,
		  priority, legal_basis, sender, sender_node, recipient,
		  recipient_node, author, subject_pseudonym, created, expires,
		  accepted_at, payload_sha256, payload_size) SELECT
		  lower(hex(randomblob(16))), lower(hex(randomblob(16))), 1, 1, 1,
		  'kommun:1480:elevhalsa', 'kommun-1480',
		  'SE2321000131-E000000000101', 'kommun-' || (1400 + value % 49),
		  'SE2321000131-P000000000042', hex(randomblob(32)), 1, 0, 1,
		  randomblob(32), 1340 FROM generate_series($lo, $hi);"
		if [ "$variant" = inline ]; then
			echo "UPDATE messages SET payload = randomblob(1340)
			  WHERE seq BETWEEN $lo AND $hi;"
		else
			echo "INSERT INTO payloads(seq, payload) SELECT seq,
			  randomblob(1340) FROM messages WHERE seq BETWEEN $lo AND $hi;"
		fi
		audit received "$lo" "$hi"
		echo "COMMIT;"
		lo=$((hi + 1))
	done
} > "$dir/accept.sql"
lo=1
{
	while [ "$lo" -le "$n" ]; do
		hi=$((lo + b - 1)); [ "$hi" -le "$n" ] || hi=$n
		echo "BEGIN; UPDATE messages SET attempts = 1 WHERE seq BETWEEN $lo AND $hi;"
		audit delivered "$lo" "$hi"
		echo "COMMIT; BEGIN;"
		echo "UPDATE messages SET state = 1, done_at = 2, payload = NULL
		  WHERE seq BETWEEN $lo AND $hi;"
		echo "INSERT INTO receipts(node, message_id, outcome, encoded)
		  SELECT 'kommun-1480', message_id, 1, randomblob(300) FROM messages
		  WHERE seq BETWEEN $lo AND $hi;"
		audit acked "$lo" "$hi"
		echo "COMMIT; BEGIN;"
		echo "UPDATE receipts SET sent = 3 WHERE message_id IN (SELECT
		  message_id FROM messages WHERE seq BETWEEN $lo AND $hi);"
		audit receipt_sent "$lo" "$hi"
		echo "COMMIT; BEGIN;"
		echo "DELETE FROM receipts WHERE message_id IN (SELECT message_id
		  FROM messages WHERE seq BETWEEN $lo AND $hi);"
		audit receipt_acked "$lo" "$hi"
		echo "COMMIT;"
		lo=$((hi + 1))
	done
} > "$dir/drain.sql"

# Both parts in one session, the WAL's length read inside it: closing
# the last connection checkpoints the WAL and removes it.
{
	cat "$dir/accept.sql"
	echo ".shell stat -c %s $db-wal > $dir/mid"
	cat "$dir/drain.sql"
	echo ".shell stat -c %s $db-wal > $dir/end"
} | run
f0=0
f1=$(( ($(cat "$dir/mid") - 32) / 4120 ))
f2=$(( ($(cat "$dir/end") - 32) / 4120 ))
awk -v v="$variant" -v n="$n" -v b="$b" -v a=$((f1 - f0)) -v d=$((f2 - f1)) 'BEGIN {
	printf "%-8s N %d, commits of %d: accept %.2f, drain %.2f, in all %.2f WAL pages per message\n",
	    v, n, b, a / n, d / n, (a + d) / n }'
