/*
 * Exec stage (worker role): take task descriptors from the queue rings,
 * run their handlers inline (the solo pool) and send each result to the
 * task's publisher, batching consecutive results for one publisher into
 * one reply frame.
 */
#ifndef TW_EXEC_H
#define TW_EXEC_H

#include <stdint.h>

#include "tw_lcore.h"
#include "tw_routes.h"

/**
 * Dequeue up to TW_BURST tasks from the queues of rt (round-robin start
 * across passes, so no queue starves) and run them.
 * @return number of tasks run.
 * Ownership: the stage owns each descriptor it dequeues and releases it
 *   (and its frame reference) before returning.
 * Threads: worker (or run-to-completion) lcores; any number of them, since
 *   queue rings are multi-consumer.
 */
uint32_t tw_exec_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt);

#endif
