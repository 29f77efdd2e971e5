/*
 * Prometheus endpoint of tw-control: GET /metrics in the text exposition
 * format, served by libmicrohttpd on its own thread (loopback by default).
 * Every figure is read from shared memory (per-lcore counters summed on
 * read) under the control lock (ctl_ctx.h), so nothing is added to the data plane.
 */
#ifndef CTL_METRICS_H
#define CTL_METRICS_H

#include <stdint.h>

#include "ctl_ctx.h"

struct ctl_metrics;

struct ctl_http_guard;

/**
 * Start serving on "ADDR:PORT" (port 0: any free port), writing the HTTP
 * token to token_path (mode 0600, or 0640 with group gid >= 0).
 * @return the server, or NULL with a message on stderr.
 * Ownership: the caller stops it with ctl_metrics_stop(); b is borrowed.
 */
struct ctl_metrics *ctl_metrics_start(struct ctl_ctx *ctx, const char *listen,
				      const char *token_path, long gid);
/** Streams end, then the daemon stops (it does not wait on clients). */
void ctl_metrics_stop(struct ctl_metrics *m);

/** Housekeeping (header deadlines); main thread, a few times a second. NULL: nothing. */
void ctl_metrics_tick(struct ctl_metrics *m);

/** The guard's counters, for status (NULL when m is NULL). */
const struct ctl_http_guard *ctl_metrics_guard(const struct ctl_metrics *m);

/** The TCP port actually bound. */
uint16_t ctl_metrics_port(const struct ctl_metrics *m);

/**
 * Render the exposition text into a malloc'd string (also used by tests).
 * Caller holds ctx->lock. @return NULL when out of memory.
 */
char *ctl_metrics_render(const struct ctl_ctx *ctx);

#endif
