/*
 * test_counts_pg.c — test_counts.c's store part on the PostgreSQL backend
 * (store_fixture.h, FX_POSTGRESQL): the reader's own connection counts
 * what the writer committed.
 */
#define FX_POSTGRESQL 1
#include "test_counts.c"
