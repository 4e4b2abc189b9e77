/*
 * test_audit_sign_pg.c — test_audit_sign.c's suite on the PostgreSQL
 * backend (store_fixture.h, FX_POSTGRESQL): signed heads, tampering and
 * key rotation verify there as on SQLite (the retention prune is in
 * test_audit_prune_pg.c).
 */
#define FX_POSTGRESQL 1
#include "test_audit_sign.c"
