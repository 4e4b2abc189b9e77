/*
 * test_audit_prune_pg.c — test_audit_prune.c's suite on the PostgreSQL
 * backend (store_fixture.h, FX_POSTGRESQL): the retention prune and its
 * cut, the review rows and the upkeep's checkpoints there as on SQLite.
 */
#define FX_POSTGRESQL 1
#include "test_audit_prune.c"
