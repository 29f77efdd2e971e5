/*
 * Exec stage: see tw_exec.h. Runs on worker lcores; holds no descriptor
 * between calls.
 */
#include <rte_cycles.h>
#include <rte_ring.h>

#include "tw_exec.h"
#include "tw_reply.h"
#include "tw_deadletter.h"
#include "tw_task.h"
#include "tw_tasks.h"

/* Collect up to TW_BURST descriptors, visiting each queue at most once. */
static uint32_t
dequeue(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task **tasks)
{
	uint32_t got = 0, nq = rt->n_queues;

	for (uint32_t k = 0; k < nq && got < TW_BURST; k++) {
		const struct tw_route_queue *q = &rt->queues[(ctx->next_queue + k) % nq];
		unsigned n = 0;

		/* priority queues: highest level first (levels[p - 1] is priority p) */
		for (uint32_t p = q->max_priority; p > 0 && got + n < TW_BURST; p--)
			n += rte_ring_dequeue_burst(q->levels[p - 1], (void **)&tasks[got + n],
						    TW_BURST - got - n, NULL);
		if (got + n < TW_BURST)
			n += rte_ring_dequeue_burst(q->ring, (void **)&tasks[got + n],
						    TW_BURST - got - n, NULL);
		if (n != 0)
			tw_cnt_qadd(&ctx->stats->q_delivered[q->slot], n);
		got += n;
	}
	ctx->next_queue = nq != 0 ? (ctx->next_queue + 1) % nq : 0;
	return got;
}

/* The lcore's reply stream, pointed at the task's publisher. */
static inline struct tw_reply *
reply_for(struct tw_lcore_ctx *ctx, const struct tw_task *t)
{
	struct tw_peer peer = { .mac = t->peer_mac, .ip = t->peer_ip, .port = t->peer_port };

	return tw_reply_to(ctx, &peer);
}

static void
run_one(struct tw_lcore_ctx *ctx, struct tw_task *t)
{
	struct tw_task_io io = {
		.args = t->args,
		.args_len = t->args_len,
		.out = ctx->scratch,
		.out_cap = sizeof(ctx->scratch),
	};
	uint64_t start = rte_rdtsc(), ns;
	int ret;

	if (t->handler != TW_HANDLER_NONE) {
		ret = ctx->tasks->defs[t->handler].fn(&io);
	} else {
		ret = tw_task_fail(&io, "unknown task '%.*s'", (int)t->name_len, t->name);
	}
	ns = tw_ticks_to_ns(ctx, rte_rdtsc() - start);
	tw_cnt_add(ctx, TW_CNT_tasks_executed, 1);

	struct tw_reply *r = reply_for(ctx, t);

	if (ret == 0) {
		tw_cnt_add(ctx, TW_CNT_tasks_succeeded, 1);
		tw_reply_result(ctx, r, t->id, TW_ST_SUCCESS, io.out, io.out_len, NULL, 0, ns);
	} else {
		tw_cnt_add(ctx, TW_CNT_tasks_failed, 1);
		tw_reply_result(ctx, r, t->id, TW_ST_FAILURE, NULL, 0, (const char *)io.out,
				io.out_len, ns);
	}
}

/* The queue's TTL passed while the task waited: answer EXPIRED, do not run it. */
static void
expire_one(struct tw_lcore_ctx *ctx, struct tw_task *t)
{
	static const char msg[] = "expired in the queue before a worker took it (message TTL)";

	struct tw_reply *r = reply_for(ctx, t);

	tw_reply_result(ctx, r, t->id, TW_ST_EXPIRED, NULL, 0, msg, sizeof(msg) - 1, 0);
}

uint32_t
tw_exec_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct tw_task *tasks[TW_BURST];
	uint32_t n;

	if (rt == NULL || rt->n_queues == 0)
		return 0;
	n = dequeue(ctx, rt, tasks);
	for (uint32_t i = 0; i < n; i++) {
		if (i + 2 < n)
			rte_prefetch0(tasks[i + 2]->args);
		tw_cnt_qadd(&ctx->stats->q_completed[tasks[i]->queue_slot], 1);
		if (tasks[i]->counts_bytes)
			__atomic_fetch_sub(&ctx->shared->queue_bytes[tasks[i]->queue_slot].bytes,
					   tasks[i]->args_len, __ATOMIC_RELAXED);
		/* the clock is read only for tasks of queues with a TTL, at their turn */
		if (unlikely(tasks[i]->expire_tsc != 0 && rte_rdtsc() > tasks[i]->expire_tsc)) {
			tw_cnt_add(ctx, TW_CNT_tasks_expired, 1);
			tw_cnt_qadd(&ctx->stats->q_expired[tasks[i]->queue_slot], 1);
			/* dead-lettered: it lives on in another queue, no result yet */
			if (tw_deadletter(ctx, rt, tasks[i]))
				continue;
			expire_one(ctx, tasks[i]);
		} else {
			run_one(ctx, tasks[i]);
		}
		tw_task_release(tasks[i], ctx->task_pool);
	}
	return n;
}
