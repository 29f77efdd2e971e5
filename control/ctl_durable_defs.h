/*
 * Durable definitions: the exchanges, durable queues (with their
 * arguments) and the bindings between them, written by tw-control to the
 * engine's data directory whenever a change it made succeeds, so that the
 * next tw-dataplane started on that directory has them in place before
 * it recovers the journal's tasks into them. tw-control owns every
 * declaration made while the engine runs; the engine only reads the file
 * at start, before its journal.
 *
 * The file (TW_DEFS_SAVED_FILE, RabbitMQ's definitions.json shape) is
 * replaced whole: written beside it, synced, renamed over it, the folder
 * synced, so a crash leaves the old file or the new one, never a mix.
 * Queues that are not durable, and bindings to them, are left out, as
 * RabbitMQ forgets transient queues. A durable queue remote consumers
 * hold is marked "held": true (taskwire's own key). Nothing is written for an engine
 * without a data directory, or when the content is what was last written.
 *
 * Threads: tw-control's, holding ctx->lock (it reads the broker).
 */
#ifndef CTL_DURABLE_DEFS_H
#define CTL_DURABLE_DEFS_H

#include <stddef.h>

#include "ctl_ctx.h"

/**
 * Write the durable definitions if they changed.
 * @return 0 (written, unchanged, or no data directory), or -errno with
 *   err naming the file and the failure (the previous file is intact).
 */
int ctl_durable_defs_save(struct ctl_ctx *ctx, char *err, size_t err_len);

#define CTL_DURABLE_DEFS_ERR 512

/**
 * A durable queue that remote consumers came to hold (Subscribe.hold, in
 * the engine) since the file was written: write it again, the queue
 * marked held, so that an engine restarted after a crash keeps its
 * recovered tasks for those consumers instead of running them on lcores
 * that do not know them. Cheap when nothing changed (one look per queue
 * slot). A failure is said once on stderr and tried again next tick.
 * Threads: tw-control's main loop, holding ctx->lock.
 */
void ctl_durable_defs_tick(struct ctl_ctx *ctx);

#endif
