/*
 * test_store_privacy_pg.c — test_store_privacy.c's suite on the PostgreSQL
 * backend (store_fixture.h, FX_POSTGRESQL): no personal number or clinical
 * content in the audit log, pseudonyms and key files. The test that reads
 * the SQLite file's bytes stays SQLite-only.
 */
#define FX_POSTGRESQL 1
#include "test_store_privacy.c"
