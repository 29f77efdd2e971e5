/*
 * Queue policies on enqueue, and per-frame staging: see tw_enqueue.h.
 */
#include "tw_qring.h"

#include "tw_ctlchan.h"
#include "tw_route.h"
#include "tw_enqueue.h"
#include "tw_journal.h"
#include "tw_workflow.h"

/*
 * A task dropped from the head of a full queue without a dead-letter
 * exchange: released. A workflow step also fails its workflow (its group
 * would otherwise wait for it for ever).
 */
static void
drop_released(struct tw_lcore_ctx *ctx, struct tw_task *old)
{
	static const char why[] = "dropped from the head of a full queue (x-overflow drop-head)";

	if (unlikely(old->wf)) {
		struct tw_wire_result rec = {
			.task_id = old->id, .state = TW_ST_FAILURE, .error = why,
			.error_len = sizeof(why) - 1, .name = old->name, .name_len = old->name_len,
			.root_id = old->root_id, .parent_id = old->parent_id,
			.group_id = old->group_id, .group_index = old->group_index,
		};

		tw_records_put(ctx, &rec);
		tw_workflow_task_done(ctx, old, TW_ST_FAILURE, NULL, 0, why, sizeof(why) - 1);
	}
	tw_journal_done(ctx, old);
	tw_task_release(old, ctx->task_pool);
}

/*
 * Take the task a full queue drops first: the oldest of the lowest
 * non-empty priority level (the only level without priorities).
 */
static inline bool
dequeue_oldest(const struct tw_route_queue *q, struct tw_task **old)
{
	for (uint32_t p = 0; p <= q->max_priority; p++)
		if (tw_qring_dequeue(p == 0 ? q->ring : q->levels[p - 1], (void **)old))
			return true;
	return false;
}

/* Rounds of drop-and-enqueue before a drop-head queue refuses a task. */
#define TW_DROP_HEAD_ROUNDS 4

/*
 * x-overflow drop-head: make room by releasing the oldest task, then
 * enqueue. The queue rings are multi-producer (every io lcore, and
 * workers publishing workflow steps or handler tasks), so another
 * producer may take the room freed here before this enqueue: it is tried
 * again, a few rounds (a pipeline with two io lcores lost that race now
 * and then when one publisher's frames came in on both). Only when every
 * round lost is t refused as for a full queue. If the workers emptied the
 * ring meanwhile, the dequeue finds nothing and the enqueue has room anyway.
 * @return true if t is in the ring.
 */
static bool
drop_head_and_enqueue(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
		      const struct tw_route_queue *q, struct tw_task *t, struct tw_qring *ring)
{
	for (uint32_t round = 0; round < TW_DROP_HEAD_ROUNDS; round++) {
		struct tw_task *old;

		if (dequeue_oldest(q, &old)) {
			if (old->counts_bytes)
				__atomic_fetch_sub(tw_qbytes(ctx->shared, q->slot),
						   old->args_len, __ATOMIC_RELAXED);
			tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_dropped), 1);
			tw_cnt_add(ctx, TW_CNT_tasks_dropped_head, 1);
			if (!tw_route_dead_letter(ctx, rt, old))
				drop_released(ctx, old);
		}
		if (tw_qring_enqueue(ring, &ctx->shared->qspares, t))
			return true;
	}
	return false;
}

/*
 * x-max-length-bytes: reserve t's args bytes in the queue's counter if
 * they fit; with drop-head, drop oldest tasks until they do (bounded by
 * the queue's length). @return true when reserved (undone by the caller
 * if the enqueue still fails).
 */
static bool
bytes_fit(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, const struct tw_route_queue *q,
	  struct tw_task *t)
{
	uint64_t *bytes = tw_qbytes(ctx->shared, q->slot);

	for (uint32_t tries = 0; tries <= q->max_length; tries++) {
		uint64_t now = __atomic_load_n(bytes, __ATOMIC_RELAXED);
		struct tw_task *old;

		if (now + t->args_len <= q->max_bytes) {
			__atomic_fetch_add(bytes, t->args_len, __ATOMIC_RELAXED);
			return true;
		}
		if (q->overflow != TW_OVERFLOW_DROP_HEAD || t->args_len > q->max_bytes)
			return false;
		if (!dequeue_oldest(q, &old))
			return false; /* the workers hold the bytes; they will give them back */
		if (old->counts_bytes)
			__atomic_fetch_sub(bytes, old->args_len, __ATOMIC_RELAXED);
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_dropped), 1);
		tw_cnt_add(ctx, TW_CNT_tasks_dropped_head, 1);
		if (!tw_route_dead_letter(ctx, rt, old))
			drop_released(ctx, old);
	}
	return false;
}

/* Tasks in a priority queue, over all levels (its max-length is for the total). */
static inline uint32_t
priority_queue_count(const struct tw_route_queue *q)
{
	uint32_t n = tw_qring_count(q->ring);

	for (uint32_t p = 0; p < q->max_priority; p++)
		n += tw_qring_count(q->levels[p]);
	return n;
}

/*
 * A priority level's ring is smaller than the queue (TW_PRIORITY_LEVEL_LEN):
 * when it is full and the queue is not, the task goes to the next lower
 * level with room, down to the base ring, so it never overtakes a task of
 * a higher priority; only when those are all full (the base ring holds
 * all but one of max_length) a higher level takes it. Bounded by the
 * levels (TW_MAX_PRIORITY).
 */
bool
tw_enqueue_spill(struct tw_qspares *sp, const struct tw_route_queue *q, struct tw_task *t,
		 const struct tw_qring *tried)
{
	uint32_t own = t->priority < q->max_priority ? t->priority : q->max_priority;

	for (uint32_t p = own; p-- > 0;)
		if (tw_qring_enqueue(p == 0 ? q->ring : q->levels[p - 1], sp, t))
			return true;
	for (uint32_t p = own + 1; p <= q->max_priority; p++)
		if (q->levels[p - 1] != tried && tw_qring_enqueue(q->levels[p - 1], sp, t))
			return true;
	return false;
}

bool
tw_enqueue_task(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, const struct tw_route_queue *q,
		struct tw_task *t)
{
	struct tw_qring *ring = tw_queue_ring(q, t->priority);
	struct tw_qspares *sp = &ctx->shared->qspares;
	bool full;

	t->counts_bytes = q->max_bytes != 0;
	if (t->counts_bytes && !bytes_fit(ctx, rt, q, t))
		return false;
	full = q->max_priority != 0 && priority_queue_count(q) >= q->max_length;
	if (likely(!full && tw_qring_enqueue(ring, sp, t)) ||
	    (!full && q->max_priority != 0 && tw_enqueue_spill(sp, q, t, ring)) ||
	    (q->overflow == TW_OVERFLOW_DROP_HEAD && drop_head_and_enqueue(ctx, rt, q, t, ring))) {
		tw_enqueue_mark_ready(ctx, q);
		return true;
	}
	if (t->counts_bytes)
		__atomic_fetch_sub(tw_qbytes(ctx->shared, q->slot), t->args_len,
				   __ATOMIC_RELAXED);
	return false;
}

uint32_t
tw_enqueue_stage_flush(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
		       struct tw_enqueue_stage *sg)
{
	uint32_t taken = 0;

	sg->n_refused = 0;
	for (uint32_t a = 0, b; a < sg->n; a = b) {
		const struct tw_route_queue *q = &rt->queues[sg->queue[a]];
		uint32_t k;

		/* a run of one queue's tasks: one burst, one CAS */
		for (b = a + 1; b < sg->n && sg->queue[b] == sg->queue[a]; b++)
			;
		k = tw_qring_enqueue_burst(q->ring, &ctx->shared->qspares, (void **)&sg->t[a], b - a);
		/* the ring was full for the rest: the queue's overflow mode decides, one at a time */
		for (uint32_t j = a + k; j < b; j++) {
			if (tw_enqueue_task(ctx, rt, q, sg->t[j])) {
				k++;
				continue;
			}
			sg->refused[sg->n_refused] = sg->t[j];
			sg->refused_queue[sg->n_refused] = sg->queue[j];
			sg->refused_task[sg->n_refused++] = sg->task[j];
		}
		if (k != 0)
			tw_enqueue_mark_ready(ctx, q);
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_published), k);
		tw_cnt_add(ctx, TW_CNT_tasks_routed, k);
		taken += k;
	}
	sg->n = 0;
	return taken;
}
