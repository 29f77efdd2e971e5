/*
 * Event streams over HTTP (see ctl_http.h): Server-Sent Events and
 * WebSocket, both fed from ctl_events, each on its own connection thread
 * (the daemon runs one thread per connection). Filters: ?task=ID or
 * ?queue=NAME. A keep-alive goes out every second without events, so a
 * closed client is noticed. A stream that follows one task starts with
 * that task's state now (a "task-state" object), so a subscriber that
 * comes late, even after the end, is not left waiting for events that
 * have passed.
 */
#ifndef CTL_STREAM_H
#define CTL_STREAM_H

#include <microhttpd.h>

struct ctl_events;
struct ctl_http_guard;

/*
 * At most CTL_HTTP_STREAMS_MAX streams at once (503 past it); each ends
 * within a second of ctl_http_guard_stop(). The WebSocket handshake is
 * RFC 6455's: GET with "Connection: Upgrade", "Upgrade: websocket",
 * "Sec-WebSocket-Version: 13" (426 with the version we speak otherwise)
 * and a Sec-WebSocket-Key of 16 bytes in base64 (400 otherwise).
 */
/* first: a JSON object sent before any event (copied), or NULL. */
enum MHD_Result ctl_stream_sse(struct ctl_http_guard *g, struct ctl_events *e,
			       struct MHD_Connection *conn, const char *first);
enum MHD_Result ctl_stream_websocket(struct ctl_http_guard *g, struct ctl_events *e,
				     struct MHD_Connection *conn, const char *first);

#endif
