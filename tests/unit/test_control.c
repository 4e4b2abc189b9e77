/*
 * test_control.c — narad's control socket: the operator named in audit
 * rows comes from the kernel's peer credentials and nothing else.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "control.h"

Test(control, operator_from_ipc_peer_credentials)
{
	char out[128], want[128];
	struct passwd *pw = getpwuid(0);

	cr_assert(pw != NULL);
	control_operator_name("localhost:0:0:4242", out, sizeof(out));
	snprintf(want, sizeof(want), "%s (uid 0, pid 4242)", pw->pw_name);
	cr_expect_str_eq(out, want);
}

Test(control, operator_uid_without_a_user_name)
{
	char out[128];

	/* no passwd entry for this uid on a test machine */
	control_operator_name("localhost:3999999:3999999:17", out, sizeof(out));
	cr_expect_str_eq(out, "uid 3999999 (pid 17)");
}

Test(control, operator_unknown_for_other_addresses)
{
	char out[128];

	control_operator_name(NULL, out, sizeof(out));
	cr_expect_str_eq(out, "unknown peer");
	control_operator_name("127.0.0.1", out, sizeof(out));
	cr_expect_str_eq(out, "unknown peer");
	control_operator_name("localhost:1:2", out, sizeof(out));
	cr_expect_str_eq(out, "unknown peer");
	control_operator_name(":x:1:2", out, sizeof(out));
	cr_expect_str_eq(out, "unknown peer");
}
