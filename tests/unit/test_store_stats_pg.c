/*
 * test_store_stats_pg.c — test_store_stats.c's suite on the PostgreSQL
 * backend (store_fixture.h, FX_POSTGRESQL): receipts, statistics and
 * status, batches and read-only opens; the read-only open of a database
 * that holds no store replaces the SQLite test of a missing file.
 */
#define FX_POSTGRESQL 1
#include "test_store_stats.c"
