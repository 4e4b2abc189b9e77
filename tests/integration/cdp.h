/*
 * cdp.h — headless Chromium driven over the DevTools protocol through
 * --remote-debugging-pipe (fd 3 carries commands in, fd 4 the replies out,
 * each a NUL-terminated JSON text; no websocket), for tests that click in a
 * page and wait for what it shows. A client certificate for HTTPS comes
 * from an NSS database in a private HOME ($HOME/.pki/nssdb, made with
 * certutil and pk12util of Debian's libnss3-tools) that the profile's
 * content setting auto_select_certificate presents to one origin without
 * asking: no system policy under /etc is needed.
 */
#ifndef NARA_TEST_CDP_H
#define NARA_TEST_CDP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

/* One running browser with one page attached; filled by cdp_start. */
struct cdp {
	pid_t pid;                 /* chromium, leader of its process group */
	int to_browser;            /* our end of its fd 3 */
	int from_browser;          /* our end of its fd 4 */
	char *buf;                 /* bytes read and not yet a whole reply */
	size_t len, cap;
	int next_id;
	char session[128];         /* the page's flat session id */
};

/* Make dir/home/.pki/nssdb trusting ca_pem for servers and holding the
 * client certificate cert_pem with key_pem, and a profile dir/profile whose
 * content settings present that certificate to origin (e.g.
 * "https://127.0.0.1:8443") without asking. Asserts on failure. */
void cdp_client_cert(const char *dir, const char *ca_pem,
    const char *cert_pem, const char *key_pem, const char *origin);

/* Start headless Chromium with HOME=dir/home and the profile dir/profile
 * (made by cdp_client_cert, or made here when missing), its stderr
 * appended to dir/chromium.log, and attach to a new blank page. Asserts on
 * failure; stop with cdp_stop. */
void cdp_start(struct cdp *c, const char *dir);

/* Send method with params (taken, may be NULL) to the page's session and
 * wait up to timeout_ms for its reply: the "result" object (the caller
 * owns it), or NULL on an error reply or timeout (said on stderr). */
json_t *cdp_call(struct cdp *c, const char *method, json_t *params,
    int timeout_ms);

/* Evaluate expr in the page (promises awaited): its value as JSON (the
 * caller owns it), or NULL when it threw or timed out. */
json_t *cdp_eval(struct cdp *c, const char *expr, int timeout_ms);

/* Evaluate expr until it is true, at most timeout_ms: a wait for a
 * condition of the page (DOM built, a reply shown). */
bool cdp_wait_true(struct cdp *c, const char *expr, int timeout_ms);

/* Load url in the page; 0, or -1 when Chromium refused to navigate (the
 * reply's errorText on stderr). Wait for its content with cdp_wait_true. */
int cdp_navigate(struct cdp *c, const char *url, int timeout_ms);

/* The page as PNG into path (Page.captureScreenshot); 0 or -1. */
int cdp_screenshot(struct cdp *c, const char *path, int timeout_ms);

/* Close the browser (Browser.close, then SIGKILL to its process group
 * after a deadline) and free c's buffer. Accepts a never started c. */
void cdp_stop(struct cdp *c);

#endif
