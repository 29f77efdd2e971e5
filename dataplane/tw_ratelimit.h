/*
 * Per-task-name rate limits ("100/s", "10/m") on worker lcores, without a
 * shared lock: each worker lcore enforces its share (the limit divided by
 * the number of worker lcores) with its own generic cell rate algorithm
 * state per task name. A task over its limit waits on the lcore, in a
 * small FIFO retried each pass; it is never dropped.
 *
 * The limits themselves live in tw_shared.task_info (tw-control may
 * change them live; see there for the version protocol).
 *
 * Threads: the worker lcore that owns the state.
 */
#ifndef TW_RATELIMIT_H
#define TW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_limits.h"

struct tw_lcore_ctx;
struct tw_task;

/* One task name's state on one lcore. */
struct tw_rate_cell {
	uint32_t version;          /* tw_shared.task_info[].rate_version seen */
	uint64_t interval_tsc;     /* TSC ticks per task on this lcore, 0: no limit */
	uint64_t tat;              /* theoretical arrival time of the next task (TSC) */
};

struct tw_ratelimit {
	struct rte_ring *wait;     /* tasks over their limit, oldest first (SP/SC, this lcore) */
	uint32_t n_workers;        /* worker lcores sharing each limit */
	struct tw_rate_cell cells[TW_MAX_TASK_NAMES];
};

/**
 * @return true if t may run now (and takes its slot); false if it is over
 * its task's limit and must wait.
 */
bool tw_ratelimit_admit(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint64_t now);

/** Park t until it may run. Ownership: takes t (it waits in the lcore's FIFO, or in
 * tw-control's scheduler when that is full). @return false only if neither took it. */
bool tw_ratelimit_wait(struct tw_lcore_ctx *ctx, struct tw_task *t, uint64_t now);

/** Take up to max waiting tasks that may run now; the others keep waiting. */
uint32_t tw_ratelimit_ready(struct tw_lcore_ctx *ctx, struct tw_task **v, uint32_t max);

#endif
