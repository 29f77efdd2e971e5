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
 * RabbitMQ forgets transient queues. Nothing is written for an engine
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

#endif
