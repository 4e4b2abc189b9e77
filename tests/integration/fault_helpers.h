/*
 * fault_helpers.h — faults for integration tests: a TCP relay on 127.0.0.1
 * whose connections the test can sever at any moment (a link cut in the
 * middle of a transfer), and a small tmpfs for a store that can fill up.
 */
#ifndef NARA_TEST_FAULT_HELPERS_H
#define NARA_TEST_FAULT_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

struct cutproxy;

/* Listen on an ephemeral 127.0.0.1 port and relay every connection to
 * 127.0.0.1:target_port, in a thread of its own. Asserts that it starts. */
struct cutproxy *cutproxy_start(int target_port);
int cutproxy_port(const struct cutproxy *p);
/* Reset (RST) every relayed connection now; returns how many were cut.
 * New connections are accepted and relayed again right after. */
int cutproxy_cut(struct cutproxy *p);
/* Bytes relayed (both directions) and connections accepted so far. */
void cutproxy_counts(struct cutproxy *p, long long *bytes, int *connections);
void cutproxy_stop(struct cutproxy **p);

/* Mount a tmpfs of size_kib at dir (made if missing). Returns 0 when
 * mounted, -1 with the reason in why when this process may not mount
 * (not root, or no CAP_SYS_ADMIN in a container). */
int fault_tmpfs_mount(const char *dir, unsigned size_kib, char *why,
    size_t why_len);
/* Grow or shrink a mounted tmpfs; 0 or -1. */
int fault_tmpfs_resize(const char *dir, unsigned size_kib);
void fault_tmpfs_umount(const char *dir);

#endif
