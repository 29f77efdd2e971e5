/*
 * Putting task descriptors into queue rings under the queues' policies
 * (max-length over all priority levels, max-length-bytes, overflow
 * drop-head / reject-publish), one at a time or staged over a burst.
 * Runs on the lcores that route (io, run-to-completion). Owns nothing:
 * a descriptor belongs to the caller until a ring took it.
 */
#ifndef TW_ENQUEUE_H
#define TW_ENQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_consumers.h"
#include "tw_lcore.h"
#include "tw_routes.h"
#include "tw_task.h"

/**
 * Put t into q under the queue's limits and overflow mode.
 * @return true if t is in a ring (the consumer owns it), false if the
 *   queue refused it (the caller still owns it; nothing is reserved).
 * Threads: a routing lcore.
 */
bool tw_enqueue_task(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
		     const struct tw_route_queue *q, struct tw_task *t);

/*
 * Staging. Queue rings are multi-producer (io lcores, workers routing
 * workflow steps, tw-control): one enqueue is one compare-and-swap on the
 * ring's head, the most expensive instruction of a task's dispatch (a
 * quarter of the lcore's time at 32 tasks per frame, measured). A burst's
 * tasks for a queue without per-task limits (no priorities, no byte
 * limit: a plain ring of max-length slots) are staged and go in one
 * ring burst when the caller flushes the stage, so a burst of frames costs
 * one CAS per queue; the tasks a full ring did not take go through
 * tw_enqueue_task() one by one, which
 * applies the overflow mode, and those it refuses are handed back.
 */
#define TW_STAGE_MAX 64 /* descriptors staged before a flush */

struct tw_enqueue_stage {
	uint32_t n, n_refused;
	struct tw_task *t[TW_STAGE_MAX];
	uint32_t queue[TW_STAGE_MAX];     /* index into rt->queues */
	uint16_t task[TW_STAGE_MAX];      /* the caller's tag for the task (dispatch: its pending slot) */
	/* after a flush: what the queues refused, for the caller to release */
	struct tw_task *refused[TW_STAGE_MAX];
	uint32_t refused_queue[TW_STAGE_MAX];
	uint16_t refused_task[TW_STAGE_MAX];
};

/**
 * A priority queue's level ring `tried` was full: put t into the next
 * lower level with room (then a higher one). @return true if enqueued.
 */
bool tw_enqueue_spill(struct tw_qspares *sp, const struct tw_route_queue *q, struct tw_task *t,
		      const struct tw_qring *tried);

/*
 * q has a task for the worker lcores (tw_enqueue_mark_ready), unless it is
 * remote consumers' (they are served by subscription, and an io lcore
 * marks the queue when its last consumer leaves): a queue of a Channels
 * layer costs its producers no write to the shared bitmap.
 */
static inline void
tw_enqueue_mark_ready(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q)
{
	/* the enqueue before, then the reads: as in tw_enqueue_mark_ready() */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!tw_consumers_own_queue(ctx->remote_queues, q))
		tw_queue_set_ready(ctx->shared, q->slot);
}

/** May q take staged tasks (a plain ring: no priority levels, no byte limit)? */
static inline bool
tw_enqueue_stageable(const struct tw_route_queue *q)
{
	return q->max_priority == 0 && q->max_bytes == 0 && !q->durable;
}

static inline bool
tw_enqueue_stage_full(const struct tw_enqueue_stage *sg)
{
	return sg->n == TW_STAGE_MAX;
}

/** Stage t for queue index qi (tw_enqueue_stageable(), stage not full); task: the caller's tag. */
static inline void
tw_enqueue_stage_add(struct tw_enqueue_stage *sg, struct tw_task *t, uint32_t qi, uint16_t task)
{
	t->counts_bytes = false;
	sg->t[sg->n] = t;
	sg->queue[sg->n] = qi;
	sg->task[sg->n] = task;
	sg->n++;
}

/**
 * Enqueue everything staged, in staging order (each queue's tasks keep
 * their order). Refused descriptors are listed in sg->refused (the caller
 * owns them); the stage is empty afterwards.
 * @return descriptors the queues took.
 */
uint32_t tw_enqueue_stage_flush(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
				struct tw_enqueue_stage *sg);

#endif
