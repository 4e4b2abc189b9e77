/*
 * test_store_report_pg.c — test_store_report.c's suite on the PostgreSQL
 * backend (store_fixture.h, FX_POSTGRESQL): reading the audit log, signed
 * checkpoints, the recorded head and the read snapshot.
 */
#define FX_POSTGRESQL 1
#include "test_store_report.c"
