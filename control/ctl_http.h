/*
 * tw-control's HTTP endpoints next to /metrics (same libmicrohttpd
 * daemon, one thread per connection, loopback by default):
 *
 *   GET  /                         the live dashboard (control/dashboard/index.html, built in)
 *   GET  /api/overview             counters, lcores, queues, threads pool (JSON)
 *   GET  /api/tasks?status=S       active|scheduled|reserved|revoked tasks (JSON)
 *   GET  /api/tasks/ID             a task's state and result (JSON)
 *   POST /api/tasks/ID/revoke      revoke it (JSON; 404 unknown, 409 finished/running)
 *   GET  /events[?task=ID|queue=Q] task events as Server-Sent Events
 *   GET  /ws[?task=ID|queue=Q]     the same events over a WebSocket (text frames)
 *
 * JSON answers reuse the control-socket handlers under the control lock (ctl_ctx.h);
 * event streams read ctl_events without it. Every endpoint but /metrics
 * checks Host and Origin; task data, revoke and the event streams need the
 * token (ctl_http_guard.h).
 */
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include <stdbool.h>

#include <microhttpd.h>

#include "ctl_ctx.h"
#include "ctl_http_guard.h"

/**
 * Answer url if it is one of the endpoints above.
 * @return true (and *ret set) if handled; false: not ours (the caller answers 404).
 */
bool ctl_http_route(struct ctl_ctx *ctx, struct ctl_http_guard *g, struct MHD_Connection *conn,
		    const char *url, const char *method, enum MHD_Result *ret);

#endif
