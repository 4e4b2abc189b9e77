/*
 * test_audit_sign_pg.c — test_audit_sign.c's suite on the PostgreSQL
 * backend (store_fixture.h, FX_POSTGRESQL): signed heads, key rotation and
 * the retention prune and its cut verify there as on SQLite.
 */
#define FX_POSTGRESQL 1
#include "test_audit_sign.c"
