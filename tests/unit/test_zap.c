/*
 * test_zap.c — who may reach narad's ROUTER under the TLS front: the ZAP
 * admission rule (narad's own pid and uid over ipc, NULL mechanism, our
 * domain) and the checks on the runtime directory and router endpoint.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "zap.h"

Test(zap, admits_only_narads_own_process)
{
	char why[256], addr[64];

	snprintf(addr, sizeof(addr), "localhost:%u:%u:%u", 1000u, 1000u, 4242u);
	cr_expect_eq(zap_admit(ZAP_DOMAIN, addr, "NULL", 1000, 4242, why,
	    sizeof(why)), 0);
	cr_expect_eq(zap_admit(ZAP_DOMAIN, addr, "NULL", 1000, 4243, why,
	    sizeof(why)), -1, "another process of the same user");
	cr_expect(strstr(why, "pid 4242 uid 1000 is not narad's") != NULL,
	    "%s", why);
	cr_expect_eq(zap_admit(ZAP_DOMAIN, addr, "NULL", 0, 4242, why,
	    sizeof(why)), -1, "another user");
	cr_expect_eq(zap_admit("other", addr, "NULL", 1000, 4242, why,
	    sizeof(why)), -1);
	cr_expect(strstr(why, "ZAP domain") != NULL, "%s", why);
	cr_expect_eq(zap_admit(ZAP_DOMAIN, addr, "PLAIN", 1000, 4242, why,
	    sizeof(why)), -1);
	cr_expect(strstr(why, "mechanism PLAIN") != NULL, "%s", why);
	/* a TCP peer has no credentials in its address */
	cr_expect_eq(zap_admit(ZAP_DOMAIN, "127.0.0.1", "NULL", 1000, 4242,
	    why, sizeof(why)), -1);
	cr_expect(strstr(why, "no ipc credentials") != NULL, "%s", why);
	cr_expect_eq(zap_admit(ZAP_DOMAIN, "localhost:1000:x:4242", "NULL",
	    1000, 4242, why, sizeof(why)), -1);
}

Test(zap, runtime_dir_created_private)
{
	char dir[] = "/tmp/nara-zap-XXXXXX", sub[128], router[200], why[512];
	struct stat st;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/run", dir);
	snprintf(router, sizeof(router), "ipc://%s/router.sock", sub);
	cr_expect_eq(zap_check_runtime_dir(sub, router, why, sizeof(why)), 0,
	    "%s", why);
	cr_assert_eq(stat(sub, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700);
	/* a trailing slash names the same directory */
	snprintf(sub, sizeof(sub), "%s/run/", dir);
	cr_expect_eq(zap_check_runtime_dir(sub, router, why, sizeof(why)), 0,
	    "%s", why);
	snprintf(sub, sizeof(sub), "%s/run", dir);
	rmdir(sub);
	rmdir(dir);
}

Test(zap, runtime_dir_refused_when_others_may_enter)
{
	char dir[] = "/tmp/nara-zap-XXXXXX", router[200], why[512];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(router, sizeof(router), "ipc://%s/router.sock", dir);
	chmod(dir, 0750);
	cr_expect_eq(zap_check_runtime_dir(dir, router, why, sizeof(why)), -1);
	cr_expect(strstr(why, "mode 0700 (has") != NULL, "%s", why);
	rmdir(dir);
}

Test(zap, router_must_be_a_file_in_runtime_dir)
{
	char why[512];
	static const char *const bad[] = {
		"tcp://127.0.0.1:7000",
		"ipc:///run/other/router.sock",
		"ipc:///run/nara-x/router.sock",    /* prefix, not the folder */
		"ipc:///run/nara/",
		"ipc:///run/nara/sub/router.sock",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(zap_check_runtime_dir("/run/nara", bad[i], why,
		    sizeof(why)), -1, "%s accepted", bad[i]);
		cr_expect(strstr(why, "must be ipc:///run/nara/<file>") != NULL,
		    "%s: %s", bad[i], why);
	}
}

Test(zap, runtime_dir_not_a_directory)
{
	char dir[] = "/tmp/nara-zap-XXXXXX", file[128], router[200], why[512];
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/plain", dir);
	f = fopen(file, "w");
	fclose(f);
	snprintf(router, sizeof(router), "ipc://%s/router.sock", file);
	cr_expect_eq(zap_check_runtime_dir(file, router, why, sizeof(why)), -1);
	cr_expect(strstr(why, "is not a directory") != NULL, "%s", why);
	unlink(file);
	rmdir(dir);
}
