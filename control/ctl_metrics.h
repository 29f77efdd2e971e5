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

/**
 * Start serving on "ADDR:PORT" (port 0: any free port).
 * @return the server, or NULL with a message on stderr.
 * Ownership: the caller stops it with ctl_metrics_stop(); b is borrowed.
 */
struct ctl_metrics *ctl_metrics_start(struct ctl_ctx *ctx, const char *listen);
void ctl_metrics_stop(struct ctl_metrics *m);

/** The TCP port actually bound. */
uint16_t ctl_metrics_port(const struct ctl_metrics *m);

/**
 * Render the exposition text into a malloc'd string (also used by tests).
 * Caller holds ctx->lock. @return NULL when out of memory.
 */
char *ctl_metrics_render(const struct ctl_ctx *ctx);

#endif
