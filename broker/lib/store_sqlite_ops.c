/*
 * store_sqlite_ops.c — the SQLite backend's table of operations, which
 * store_open picks for backend "sqlite" (store_ops.h).
 */
#include "store_int.h"

/* One local file: nothing is replicated. */
static int
store_sqlite_replication(struct store_be *st, int *sync_standbys)
{
	(void)st;
	*sync_standbys = -1;
	return 0;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = store_sqlite_open,
	.free = store_sqlite_free,
	.head_file_check = store_sqlite_head_file_check,
	.begin = store_sqlite_begin,
	.commit = store_sqlite_commit,
	.commit_send = store_sqlite_commit_send,
	.commit_take = store_sqlite_commit_take,
	.commit_fd = store_sqlite_commit_fd,
	.idle_fd = store_sqlite_idle_fd,
	.idle_wait = store_sqlite_idle_wait,
	.rollback = store_sqlite_rollback,
	.accept = store_sqlite_accept,
	.audit_rejected = store_sqlite_audit_rejected,
	.audit_event = store_sqlite_audit_event,
	.audit_event_coded = store_sqlite_audit_event_coded,
	.queue_load = store_sqlite_queue_load,
	.delivering = store_sqlite_delivering,
	.acked = store_sqlite_acked,
	.dead_letter = store_sqlite_dead_letter,
	.expired_load = store_sqlite_expired_load,
	.receipts_load = store_sqlite_receipts_load,
	.receipt_sent = store_sqlite_receipt_sent,
	.receipt_acked = store_sqlite_receipt_acked,
	.retry = store_sqlite_retry,
	.node_stats = store_sqlite_node_stats,
	.seq_high = store_sqlite_seq_high,
	.queue_walk = store_sqlite_queue_walk,
	.queue_seqs = store_sqlite_queue_seqs,
	.totals = store_sqlite_totals,
	.audit_verify = store_sqlite_audit_verify,
	.pseudonym = store_sqlite_pseudonym,
	.queue_list = store_sqlite_queue_list,
	.dead_list = store_sqlite_dead_list,
	.msg_meta = store_sqlite_msg_meta,
	.set_signer = store_sqlite_set_signer,
	.maintain = store_sqlite_maintain,
	.checkpoint = store_sqlite_checkpoint,
	.audit_subject = store_sqlite_audit_subject,
	.audit_review = store_sqlite_audit_review,
	.audit_prune = store_sqlite_audit_prune,
	.audit_rows = store_sqlite_audit_rows,
	.audit_checkpoints = store_sqlite_audit_checkpoints,
	.audit_hash = store_sqlite_audit_hash,
	.audit_head = store_sqlite_audit_head,
	.replication = store_sqlite_replication,
	.read_begin = store_sqlite_read_begin,
	.read_end = store_sqlite_read_end,
};
