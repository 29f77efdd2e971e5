/*
 * View tokens: what a web application gives one page so that the page's
 * browser may follow one task (its state now, then its events) on
 * tw-control's HTTP side, and nothing else.
 *
 * The application holds tw-control's HTTP token (SOCKET.token: it runs as
 * one of the control socket's users) and never hands it out; for each page
 * it signs the task id and an expiry with it instead:
 *
 *   view = EXPIRY "." HEX(HMAC-SHA256(key = the HTTP token's 64 hex
 *                                      characters,
 *                                      msg = "taskwire-view " ID " " EXPIRY))
 *
 * ID is the task id as 16 lowercase hex digits, EXPIRY Unix seconds in
 * decimal. The page passes it as "?task=ID&view=VIEW". It reads that
 * task's state and events (a group's or a chain's too: their events carry
 * its id as group or root), from any Origin (the token is the page's
 * credential, so a foreign page without one still gets nothing); it never
 * lists tasks, revokes, or follows another id. A token lives at most
 * CTL_VIEW_TOKEN_MAX_S; the clocks of the two sides must agree to within
 * what the application allows for.
 */
#ifndef CTL_VIEW_TOKEN_H
#define CTL_VIEW_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#define CTL_VIEW_TOKEN_MAX_S (24 * 3600)

enum ctl_view_verdict {
	CTL_VIEW_OK,
	CTL_VIEW_MALFORMED,  /* not EXPIRY.HEX64 */
	CTL_VIEW_EXPIRED,    /* its expiry passed */
	CTL_VIEW_TOO_LONG,   /* expires further out than CTL_VIEW_TOKEN_MAX_S */
	CTL_VIEW_BAD_MAC,    /* not signed with our token, or for another task */
};

/**
 * Check view for task_id at now_s (Unix seconds) against the HTTP token
 * key_hex (NUL-terminated). Compares the MAC in constant time.
 * Threads: any.
 */
enum ctl_view_verdict ctl_view_token_check(const char *key_hex, uint64_t task_id,
					   const char *view, uint64_t now_s);

#endif
