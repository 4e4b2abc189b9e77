/*
 * test_config_checks.c — nara.conf values that are refused or accepted at
 * the edge of the text rules: names that are not UTF-8, and the documented
 * "" spelling of an empty value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "config_fixture.h"

Test(utf8, invalid_node_name_is_refused_with_its_line)
{
	EXPECT("[broker]\n[node a]\nname = G\xf6teborg\n"
	    "addresses = kommun:1480:elevhalsa\n",
	    "t.conf:3: [node a] name: is not valid UTF-8");
}

Test(utf8, overlong_and_surrogate_forms_are_refused)
{
	EXPECT("[node a]\nname = A\xc0\xaf\naddresses = kommun:1480:elevhalsa\n"
	    "[node b]\nname = B\xed\xa0\x80\naddresses = kommun:1490:elevhalsa\n"
	    "[node c]\nname = C\xe2\x82\naddresses = kommun:1491:elevhalsa\n",
	    "t.conf:2: [node a] name: is not valid UTF-8",
	    "t.conf:5: [node b] name: is not valid UTF-8",
	    "t.conf:8: [node c] name: is not valid UTF-8");
}

Test(utf8, valid_names_pass)
{
	struct config_diag diag = { 0 };
	struct config *cfg = parse("[node a]\nname = G\xc3\xb6teborg \xe2\x82\xac "
	    "\xf0\x9f\x8f\xa5\naddresses = kommun:1480:elevhalsa\n", &diag);

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_str_eq(cfg->nodes[0].name, "G\xc3\xb6teborg \xe2\x82\xac "
	    "\xf0\x9f\x8f\xa5");
	config_free(&cfg);
}

Test(empty, quoted_empty_value_turns_listeners_off)
{
	struct config_diag diag = { 0 };
	struct config *cfg = parse("[broker]\nhttp_listen = \"\"\n"
	    "control_readonly = \"\"\nsigning_key = \"\"\n[tls]\nlisten = \"\"\n"
	    "crl = \"\"\n" NODE_A, &diag);

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_str_eq(cfg->broker.http_listen, "");
	cr_expect_str_eq(cfg->broker.control_readonly, "");
	cr_expect_str_eq(cfg->broker.signing_key, "");
	cr_expect_str_eq(cfg->tls.listen, "");
	cr_expect_eq(cfg->tls.n_crl, 0);
	config_free(&cfg);
}

Test(empty, bare_empty_value_still_works)
{
	struct config_diag diag = { 0 };
	struct config *cfg = parse("[broker]\nhttp_listen =\n[tls]\nlisten =\n"
	    NODE_A, &diag);

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_str_eq(cfg->broker.http_listen, "");
	cr_expect_str_eq(cfg->tls.listen, "");
	config_free(&cfg);
}

/* naractl's look-up of one key, which must work on a file with errors. */
Test(peek, reads_one_key_from_a_file_with_errors)
{
	char path[] = "/tmp/nara-peek-XXXXXX", out[256], why[256];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	cr_assert_not_null(f);
	fputs("# comment\n[node x]\ncontrol = ipc:///wrong\ncolour = blue\n"
	    "[broker]\n  control =  ipc:///run/x/control.sock  \n"
	    "control_readonly = \"\"\nbatch_max = lots\n", f);
	fclose(f);
	cr_expect_eq(config_peek(path, "broker", "control", out, sizeof(out),
	    why, sizeof(why)), 1);
	cr_expect_str_eq(out, "ipc:///run/x/control.sock");
	cr_expect_eq(config_peek(path, "broker", "control_readonly", out,
	    sizeof(out), why, sizeof(why)), 1);
	cr_expect_str_eq(out, "");
	cr_expect_eq(config_peek(path, "broker", "http_listen", out,
	    sizeof(out), why, sizeof(why)), 0);
	unlink(path);
	cr_expect_eq(config_peek(path, "broker", "control", out, sizeof(out),
	    why, sizeof(why)), -1);
	cr_expect(strstr(why, "cannot open") != NULL, "%s", why);
}

/* naractl and narad must read one file alike: with two narads on a host,
 * a socket naractl misreads is the other narad's, or none. */
Test(peek, reads_the_file_as_the_loader_does)
{
	static const char text[] = "\xEF\xBB\xBF[broker]\r\n"
	    "control = ipc:///run/nara-b/control.sock ; the operators' socket\r\n"
	    "control_readonly:\tipc:///run/nara-b/ro.sock\r\n"
	    NODE_A;
	char path[] = "/tmp/nara-peek-XXXXXX", out[256], why[256], want[320];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct config *cfg = load_ok(text);

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	cr_expect_eq(config_peek(path, "broker", "control", out, sizeof(out),
	    why, sizeof(why)), 1, "%s", why);
	cr_expect_str_eq(out, cfg->broker.control);
	cr_expect_str_eq(out, "ipc:///run/nara-b/control.sock");
	cr_expect_eq(config_peek(path, "broker", "control_readonly", out,
	    sizeof(out), why, sizeof(why)), 1, "%s", why);
	cr_expect_str_eq(out, cfg->broker.control_readonly);
	cr_expect_eq(config_peek(path, "broker", "control", out, 8, why,
	    sizeof(why)), -1);
	snprintf(want, sizeof(want), "%s:2: [broker] control: longer than 7 "
	    "bytes", path);
	cr_expect_str_eq(why, want);
	unlink(path);
	config_free(&cfg);
}

/* [store]: the backend and its PostgreSQL conninfo. */
Test(store, postgresql_backend_takes_a_conninfo)
{
	struct config_diag diag = { 0 };
	struct config *cfg = parse("[store]\nbackend = postgresql\n"
	    "postgresql = host=db1,db2 dbname=nara target_session_attrs="
	    "read-write sslmode=verify-full passfile=/etc/nara/pgpass\n" NODE_A,
	    &diag);

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_eq(cfg->store.backend, CONFIG_STORE_POSTGRESQL);
	cr_expect_str_eq(config_store_backend(cfg), "postgresql");
	cr_expect_str_eq(config_store_location(cfg), "host=db1,db2 dbname=nara "
	    "target_session_attrs=read-write sslmode=verify-full "
	    "passfile=/etc/nara/pgpass");
	config_free(&cfg);
}

Test(store, sqlite_is_the_default)
{
	struct config_diag diag = { 0 };
	struct config *cfg = parse("[broker]\nstore = /tmp/x.db\n" NODE_A, &diag);

	cr_assert_not_null(cfg, "%s", diag.n ? diag.msgs[0] : "");
	cr_expect_str_eq(config_store_backend(cfg), "sqlite");
	cr_expect_str_eq(config_store_location(cfg), "/tmp/x.db");
	config_free(&cfg);
}

Test(store, bad_values_are_refused_with_their_line)
{
	EXPECT("[store]\nbackend = postgresql\n" NODE_A,
	    "t.conf:2: [store] postgresql: required when backend = postgresql");
	EXPECT("[store]\nbackend = postgresql\npostgresql =\n" NODE_A,
	    "t.conf:3: [store] postgresql: must not be empty");
	EXPECT("[store]\nbackend = mysql\n" NODE_A,
	    "t.conf:2: [store] backend: \"mysql\" is not one of sqlite, postgresql");
	EXPECT("[store]\nbackend = postgresql\npostgresql = dbname=nara "
	    "password=secret\n" NODE_A,
	    "t.conf:3: [store] postgresql: holds a password; put it in a "
	    "passfile (passfile=FILE or PGPASSFILE, mode 0600)");
	EXPECT("[store]\nbackend = postgresql\npostgresql = dbname=nara "
	    "colour=blue\n" NODE_A,
	    "t.conf:3: [store] postgresql: not a libpq conninfo: invalid "
	    "connection option \"colour\"");
}
