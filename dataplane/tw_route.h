/*
 * Route stage: a task's exchange, its bindings (exchange-to-exchange and
 * the alternate exchange, tw_routes_match) and the descriptors put into
 * the queues it reaches (staged over a burst, tw_enqueue.h); the
 * dead-letter re-route of a task leaving its queue; and the tasks the
 * engine makes itself (workflow steps, handler publishes, tw-control's
 * due tasks), which wait in a per-lcore stash until the loop routes them,
 * once per pass.
 *
 * Publishers' tasks come from the dispatch stage, which decodes and admits
 * them and confirms each with the verdict this stage gives. Engine-made
 * tasks are never confirmed: one no queue takes ends in a FAILURE result
 * (to its publisher if it has one, and to the result store).
 *
 * Nothing routes from inside another stage's work: a handler, a finished
 * workflow step or a queue dropping its head only appends to the stash,
 * so routing never re-enters itself.
 *
 * Threads: every polling lcore (each routes with its own context).
 */
#ifndef TW_ROUTE_H
#define TW_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "tw_enqueue.h"
#include "tw_lcore.h"
#include "tw_route_cache.h"
#include "tw_routes.h"
#include "tw_task.h"

struct tw_dedup_entry;

/* tw_route_deliver(): the task waits in the burst for its verdict */
#define TW_ROUTE_PENDING UINT32_MAX

/*
 * The frame references one frame's descriptors hold. Each descriptor
 * holds one, taken before its hand-off; taken one at a time they are an
 * atomic add each on the frame's cache line (a quarter of the lcore's
 * time at 32 tasks per frame). So they are taken ahead, one update for
 * the frame's remaining tasks, and what is left unused is given back when
 * the frame is done. The caller's own reference keeps the frame alive
 * meanwhile (released after the burst).
 */
struct tw_frame_refs {
	struct rte_mbuf *m;
	uint32_t spare;        /* taken, not yet held by a descriptor */
	uint32_t left;         /* tasks of the frame from the current one on */
};

/* One reference for a descriptor about to be handed off. */
static inline void
tw_frame_ref_take(struct tw_frame_refs *fr)
{
	if (unlikely(fr->spare == 0)) {
		fr->spare = fr->left != 0 ? fr->left : 1;
		rte_mbuf_refcnt_update(fr->m, (int16_t)fr->spare);
	}
	fr->spare--;
}

/* The hand-off failed: the reference goes back to the spares. */
static inline void
tw_frame_ref_unused(struct tw_frame_refs *fr)
{
	fr->spare++;
}

static inline void
tw_frame_ref_finish(struct tw_frame_refs *fr)
{
	if (fr->spare != 0)
		rte_mbuf_refcnt_update(fr->m, -(int16_t)fr->spare);
}

/*
 * Staged tasks over a whole burst of frames (with one task per frame a
 * frame alone has nothing to batch). A task with a descriptor in the
 * stage is pending: its verdict (that of all its queues) is known when
 * the stage is flushed. The caller concludes pending tasks after
 * tw_route_flush(), and flushes at a task boundary when
 * tw_route_burst_full() says so.
 */
#define TW_ROUTE_PENDING_MAX 128

/*
 * A durable task's journal records on this lcore (seqs lo..hi; hi 0:
 * none): a publisher's ACK waits until they are on disk.
 */
struct tw_journal_hold {
	uint64_t lo, hi;
};

struct tw_route_pending {
	uint64_t id;
	struct tw_peer peer;
	struct tw_dedup_entry *dd;
	uint32_t dd_gen;
	uint16_t view;         /* index in the frame's views (valid while the frame is) */
	uint8_t verdict;       /* so far */
	struct tw_journal_hold hold; /* durable: its ACK waits for these journal seqs */
};

#define TW_ROUTE_SPARE_AHEAD 4

struct tw_route_burst {
	struct tw_enqueue_stage sg;
	/* the next tasks' descriptors, taken TW_ROUTE_SPARE_AHEAD tasks early
	 * and prefetched for writing: a descriptor back from the pool is cold,
	 * and filling it was the dispatch's largest cost (store misses); one
	 * task ahead is too close to hide a miss */
	struct tw_task *spare[TW_ROUTE_SPARE_AHEAD];
	uint32_t spare_head;   /* oldest, the next one handed out */
	uint32_t n_spare;
	uint32_t n_pending;
	struct tw_route_pending p[TW_ROUTE_PENDING_MAX];
};

static inline void
tw_route_burst_init(struct tw_route_burst *rb)
{
	rb->sg.n = 0;
	rb->spare_head = 0;
	rb->n_spare = 0;
	rb->n_pending = 0;
}

/** The burst is over (flushed, concluded): its spare descriptors go back to the pool. */
static inline void
tw_route_burst_end(struct tw_lcore_ctx *ctx, struct tw_route_burst *rb)
{
	for (; rb->n_spare != 0;
	     rb->n_spare--, rb->spare_head = (rb->spare_head + 1) % TW_ROUTE_SPARE_AHEAD)
		rte_mempool_put(ctx->task_pool, rb->spare[rb->spare_head]);
}

/* No room for the next task's descriptors and its pending record. */
static inline bool
tw_route_burst_full(const struct tw_route_burst *rb)
{
	return rb->n_pending == TW_ROUTE_PENDING_MAX || rb->sg.n > TW_STAGE_MAX - 8;
}

/* @return NULL if the task's fields are acceptable, else the refusal's detail. */
static inline const char *
tw_route_invalid_task(const struct tw_task_view *t)
{
	if (t->id == 0)
		return "task id 0";
	if (t->name.len == 0 && t->group_size == 0)
		return "empty task name";
	if (t->name.len >= TW_NAME_MAX)
		return "task name too long";
	if (t->exchange.len >= TW_NAME_MAX || t->routing_key.len >= TW_NAME_MAX)
		return "exchange or routing key too long";
	if (t->n_headers > TW_MAX_TASK_HEADERS)
		return "more than 16 headers";
	return NULL;
}

/* What a NACK (or an engine-made task's FAILURE) says for a verdict of this stage. */
static inline const char *
tw_route_verdict_detail(uint32_t verdict)
{
	static const char *const detail[] = {
		[TW_NACK_UNROUTABLE] = "no binding matched",
		[TW_NACK_QUEUE_FULL] = "queue full",
		[TW_NACK_UNKNOWN_EXCHANGE] = "no such exchange",
		[TW_NACK_NO_RESOURCES] = "engine out of task descriptors",
		[TW_NACK_ACCESS_REFUSED] = "exchange is internal",
		[TW_NACK_NO_SCHEDULER] = "delayed task, but no tw-control attached to hold it",
	};

	return verdict < RTE_DIM(detail) ? detail[verdict] : NULL;
}

/**
 * The queues task tv reaches: its exchange (by name; internal ones and,
 * for publishers' tasks, source ranges refused), then the bindings.
 * Counts the exchange's published / routed / unroutable tasks.
 * @param rt  may be NULL (no table yet: only the default exchange exists, empty)
 * @param engine_made  the task passed the exchange's source check when
 *   its publisher's frame came in (or the engine made it): not checked again
 * @return the number of queue indexes in dest (0: unroutable), or
 *   TW_ROUTE_NO_EXCHANGE, TW_ROUTE_INTERNAL, TW_ROUTE_SOURCE.
 */
/**
 * Does tv route to a durable queue (uncounted: a look ahead, the task is
 * routed later)?
 */
bool tw_route_to_durable(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
			 const struct tw_task_view *tv);

int tw_route_resolve(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
		     const struct tw_task_view *tv, rte_be32_t src_ip, bool engine_made,
		     uint32_t *dest);

/**
 * The verdict for a task tw_route_resolve() found no queue for (n_dest <=
 * 0), counted. *detail: a more precise refusal detail, or left NULL.
 */
uint32_t tw_route_refusal(struct tw_lcore_ctx *ctx, int n_dest, const char **detail);

/** The task's handler index (TW_HANDLER_NONE: not run here), counted as received. */
uint16_t tw_route_handler(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv);

/**
 * Fill descriptor t for task view tv of frame (the caller took the
 * descriptor's frame reference): what routing a task sets; the caller
 * sets the queue's part (queue_slot, expiry). Journal recovery uses it too.
 */
void tw_route_fill_task(struct tw_lcore_ctx *ctx, struct tw_task *t, struct rte_mbuf *frame,
			const struct tw_task_view *tv, const struct tw_peer *peer, uint16_t handler,
			uint64_t now);

/**
 * Put one descriptor of task tv (views[view] of fr's frame) into each of
 * its n_dest queues. Plain queues are staged: the task then has a pending
 * record in rb and its verdict comes with the flush. A durable queue's
 * descriptor is journaled first (its seqs in *hold, and in dd: a
 * retransmit is not ACKed before the disk has it).
 * @param why  set to a refusal detail more precise than the verdict's, if any
 * @return TW_ROUTE_PENDING (the hold is in the pending record), or the
 *   verdict now (TW_NACK_NONE: every queue took it).
 * Ownership: the descriptors are the queues' once enqueued; refused ones
 *   are released (or dead-lettered, x-overflow reject-publish-dlx).
 */
uint32_t tw_route_deliver(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
			  struct tw_route_burst *rb, struct tw_frame_refs *fr,
			  const struct tw_task_view *tv, uint16_t view, const struct tw_peer *peer,
			  uint16_t handler, const uint32_t *dest, int n_dest, uint64_t now,
			  struct tw_dedup_entry *dd, uint32_t dd_gen, struct tw_journal_hold *hold,
			  const char **why);

/**
 * Hand what is staged to the queues; refusals become their tasks' pending
 * verdicts. The caller then concludes rb->p[0 .. n_pending) and empties it.
 */
void tw_route_flush(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_route_burst *rb);

/** task-received (routed) or task-rejected (refused), for the event stream. */
void tw_route_event(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv, uint32_t verdict,
		    const char *detail);

/* The route cache counts for itself: its totals, published once per burst. */
static inline void
tw_route_cache_counters(struct tw_lcore_ctx *ctx)
{
	__atomic_store_n(&ctx->stats->c[TW_CNT_route_cache_hits], ctx->route_cache->hits,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->stats->c[TW_CNT_route_cache_misses], ctx->route_cache->misses,
			 __ATOMIC_RELAXED);
}

/**
 * Dead-letter t, which has just left its queue (t->queue_slot): routed
 * again through the queue's dead-letter exchange, with the queue's
 * dead-letter routing key or else its own, as RabbitMQ does. The first
 * destination gets t itself, each further one a copy holding its own
 * frame reference. Put straight into the rings (no queue policy applies
 * to a dead-letter, so nothing here routes again); one whose ring is full
 * waits in the lcore's stash, tried again by each pass's route stage for
 * up to TW_DL_WAIT_MS (counted dead_letter_waited; lost past that, or
 * when the stash is full: dead_letter_lost).
 * @return true if t went to dead-letter queues: ownership passed (to the
 *   rings or the stash, or released when a copy was lost, counted); false if its
 *   queue has no dead-letter exchange, none of its bindings matched, or the
 *   hop limit is reached: the caller still owns t and handles it as without
 *   dead-lettering.
 * Threads: io or worker lcores; allocates descriptors from the pool only.
 */
bool tw_route_dead_letter(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t);

/**
 * Route a burst of engine-made frames (tw-control's due tasks, or the
 * stash's): decoded as trusted, never confirmed; a group node opens its
 * group; a task no queue takes gets a FAILURE result naming why.
 * @return tasks routed.
 * Ownership: takes all n frames.
 */
uint32_t tw_route_engine_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
			       struct rte_mbuf **v, uint16_t n);

/* --- the stash of engine-made frames --- */

/** Frames the stash can still take. */
static inline uint32_t
tw_route_stash_room(const struct tw_lcore_ctx *ctx)
{
	return TW_MADE_STASH - ctx->made_n;
}

/**
 * Leave engine-made frame m (tw_inject_finish()ed) for this pass's route
 * stage. @return false if the stash is full: m is still the caller's,
 * which refuses the tasks in it (counted, and a FAILURE where they have
 * a result).
 */
static inline bool
tw_route_stash(struct tw_lcore_ctx *ctx, struct rte_mbuf *m)
{
	if (unlikely(ctx->made_n == TW_MADE_STASH)) {
		tw_cnt_add(ctx, TW_CNT_made_stash_full, 1);
		return false;
	}
	ctx->made[(ctx->made_head + ctx->made_n) & (TW_MADE_STASH - 1)] = m;
	ctx->made_n++;
	return true;
}

uint32_t tw_route_stash_drain_some(struct tw_lcore_ctx *ctx, const struct tw_routes *rt);

/**
 * The loop's route stage for engine-made work: dead-letters waiting for
 * ring room are tried again, the workflow frame being filled is closed,
 * and up to TW_MADE_DRAIN stashed frames are routed (what routing them
 * makes waits for the next pass). @return frames routed and dead-letters
 * that left the stash.
 */
static inline uint32_t
tw_route_stash_drain(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	if (likely(ctx->made_n == 0 && ctx->wf_out.m == NULL && ctx->dl_n == 0))
		return 0;
	return tw_route_stash_drain_some(ctx, rt);
}

/** The loop stops: free what the stash and the open workflow frame hold (counted). */
void tw_route_stash_discard(struct tw_lcore_ctx *ctx);

#endif
