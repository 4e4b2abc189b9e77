/*
 * test_audit_pg.c — test_audit.c's suite on the PostgreSQL backend
 * (store_fixture.h, FX_POSTGRESQL): the same chains verify, every kind of
 * tampering is named, a change whose audit row fails never commits.
 */
#define FX_POSTGRESQL 1
#include "test_audit.c"
