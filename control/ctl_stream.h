/*
 * Event streams over HTTP (see ctl_http.h): Server-Sent Events and
 * WebSocket, both fed from ctl_events, each on its own connection thread
 * (the daemon runs one thread per connection). Filters: ?task=ID or
 * ?queue=NAME. A keep-alive goes out every second without events, so a
 * closed client is noticed.
 */
#ifndef CTL_STREAM_H
#define CTL_STREAM_H

#include <microhttpd.h>

struct ctl_events;

enum MHD_Result ctl_stream_sse(struct ctl_events *e, struct MHD_Connection *conn);
enum MHD_Result ctl_stream_websocket(struct ctl_events *e, struct MHD_Connection *conn);

#endif
