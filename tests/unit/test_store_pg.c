/*
 * test_store_pg.c — test_store.c's suite on the PostgreSQL backend: the
 * same test bodies, with store_fixture.h starting a real server for the
 * run and giving each test a database of its own (FX_POSTGRESQL). The
 * tests about the SQLite file itself (mode, WAL) are left
 * out there and replaced by their PostgreSQL counterpart.
 */
#define FX_POSTGRESQL 1
#include "test_store.c"
