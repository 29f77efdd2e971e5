/*
 * Dead-lettering: see tw_deadletter.h. The first destination queue gets
 * the descriptor itself; each further one gets a copy holding its own
 * reference on the frame, exactly as the dispatch stage fans out.
 */
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "tw_deadletter.h"
#include "tw_enqueue.h"
#include "tw_journal.h"

/* Put t into queue q, re-armed for that queue's TTL. @return true if enqueued. */
static bool
requeue(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q, struct tw_task *t, uint64_t now)
{
	struct rte_ring *ring;

	t->queue_slot = q->slot;
	t->enqueue_tsc = now;
	t->expire_tsc = q->ttl_ticks != 0 ? now + q->ttl_ticks : 0;
	/* Byte limits count dead-lettered tasks but do not refuse them. */
	t->counts_bytes = q->max_bytes != 0;
	if (t->counts_bytes)
		__atomic_fetch_add(&ctx->shared->queue_bytes[q->slot].bytes, t->args_len,
				   __ATOMIC_RELAXED);
	/* Hand-off: after a successful enqueue the queue's consumer owns t. */
	ring = tw_queue_ring(q, t->priority);
	if (rte_ring_enqueue(ring, t) != 0 && (q->max_priority == 0 || !tw_enqueue_spill(q, t, ring))) {
		if (t->counts_bytes)
			__atomic_fetch_sub(&ctx->shared->queue_bytes[q->slot].bytes, t->args_len,
					   __ATOMIC_RELAXED);
		return false;
	}
	tw_cnt_qadd(&ctx->stats->q_published[q->slot], 1);
	tw_cnt_add(ctx, TW_CNT_tasks_dead_lettered, 1);
	return true;
}

bool
tw_deadletter(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t)
{
	uint32_t dest[TW_MAX_ROUTE_DESTS];
	const struct tw_route_queue *from;
	uint32_t qi = t->queue_slot < TW_MAX_QUEUES ? rt->slot_queue[t->queue_slot] : TW_ROUTE_NONE;
	uint64_t now;
	int n;

	if (qi == TW_ROUTE_NONE)
		return false; /* its queue was deleted meanwhile */
	from = &rt->queues[qi];
	if (from->dlx < 0 || t->dead_letters >= TW_MAX_DEAD_LETTERS)
		return false;
	n = from->has_dl_key ? tw_routes_match_from(rt, (uint32_t)from->dlx, from->dl_key,
						    from->dl_key_len, NULL, dest)
			     : tw_routes_match_from(rt, (uint32_t)from->dlx, t->routing_key,
						    t->key_len, NULL, dest);
	if (n <= 0)
		return false;
	t->dead_letters++;
	/* counted where it leaves: the source queue's dead-lettered tasks */
	tw_cnt_qadd(&ctx->stats->q_dead_lettered[from->slot], 1);
	now = rte_rdtsc();
	/* copies first: t itself may be taken by a worker as soon as it is enqueued */
	for (int d = 1; d < n; d++) {
		struct tw_task *c;

		if (rte_mempool_get(ctx->task_pool, (void **)&c) != 0) {
			tw_cnt_add(ctx, TW_CNT_dead_letter_lost, 1);
			continue;
		}
		*c = *t;
		c->jid = 0; /* the original carries the journal record */
		rte_mbuf_refcnt_update(c->frame, 1);
		if (!requeue(ctx, &rt->queues[dest[d]], c, now)) {
			tw_cnt_add(ctx, TW_CNT_dead_letter_lost, 1);
			tw_journal_done(ctx, c);
			tw_task_release(c, ctx->task_pool);
		}
	}
	if (!requeue(ctx, &rt->queues[dest[0]], t, now)) {
		tw_cnt_add(ctx, TW_CNT_dead_letter_lost, 1);
		tw_journal_done(ctx, t);
		tw_task_release(t, ctx->task_pool);
	}
	return true;
}
