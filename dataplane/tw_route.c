/*
 * Route stage: see tw_route.h. Owns nothing between calls but the
 * lcore's stash of engine-made frames.
 *
 * Verdict rule (as RabbitMQ publisher confirms with reject-publish): a
 * task is taken when it reached every queue its routing selected; if any
 * selected queue was full it is refused queue-full (queues that had room
 * still got it).
 */
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "tw_ctlchan.h"
#include "tw_dedup.h"
#include "tw_drop.h"
#include "tw_journal.h"
#include "tw_parse.h"
#include "tw_reply.h"
#include "tw_route.h"
#include "tw_tasks.h"
#include "tw_workflow.h"

/* --- exchange and bindings --- */

/* Is a publisher at ip_be inside one of the exchange's source ranges? */
static inline bool
source_allowed(const struct tw_route_exchange *x, uint32_t ip_be)
{
	for (uint32_t i = 0; i < x->n_allow; i++)
		if (tw_cidr_has(&x->allow[i], ip_be))
			return true;
	return false;
}

int
tw_route_resolve(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
		 const struct tw_task_view *tv, rte_be32_t src_ip, bool engine_made,
		 uint32_t *dest)
{
	struct tw_route_headers h = { tv->headers.p, tv->headers.len, tv->n_headers };
	const struct tw_route_exchange *x;
	uint32_t xs;
	int ex, n_dest;

	if (unlikely(rt == NULL))
		return tv->exchange.len == 0 ? 0 : TW_ROUTE_NO_EXCHANGE; /* nothing declared yet */
	ex = tw_routes_find_exchange(rt, (const char *)tv->exchange.p, tv->exchange.len);
	if (ex < 0)
		return TW_ROUTE_NO_EXCHANGE;
	x = &rt->exchanges[ex];
	if (x->flags & TW_EX_F_INTERNAL)
		return TW_ROUTE_INTERNAL;
	/* engine-made tasks passed this check when their publisher's frame came in */
	if (unlikely(x->n_allow != 0) && !engine_made && !source_allowed(x, src_ip))
		return TW_ROUTE_SOURCE;
	/* per exchange, by its stable slot: published, then routed or not */
	xs = x->slot;
	n_dest = tw_routes_match_cached_at(rt, ctx->route_cache, (uint32_t)ex,
					   (const char *)tv->routing_key.p, tv->routing_key.len, &h,
					   dest);
	tw_cnt_qadd(tw_xcnt(ctx->shared, ctx->qsbr_id, xs, TW_XCNT_published), 1);
	tw_cnt_qadd(tw_xcnt(ctx->shared, ctx->qsbr_id, xs,
			    n_dest > 0 ? TW_XCNT_routed : TW_XCNT_unroutable), 1);
	return n_dest;
}

bool
tw_route_to_durable(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
		    const struct tw_task_view *tv)
{
	struct tw_route_headers h = { tv->headers.p, tv->headers.len, tv->n_headers };
	uint32_t dest[TW_MAX_ROUTE_DESTS];
	int ex, n_dest;

	if (rt == NULL)
		return false;
	ex = tw_routes_find_exchange(rt, (const char *)tv->exchange.p, tv->exchange.len);
	if (ex < 0 || (rt->exchanges[ex].flags & TW_EX_F_INTERNAL))
		return false;
	n_dest = tw_routes_match_cached_at(rt, ctx->route_cache, (uint32_t)ex,
					   (const char *)tv->routing_key.p, tv->routing_key.len, &h,
					   dest);
	for (int d = 0; d < n_dest; d++)
		if (rt->queues[dest[d]].durable)
			return true;
	return false;
}

uint32_t
tw_route_refusal(struct tw_lcore_ctx *ctx, int n_dest, const char **detail)
{
	if (n_dest == TW_ROUTE_INTERNAL || n_dest == TW_ROUTE_SOURCE) {
		tw_cnt_add(ctx, TW_CNT_nack_access_refused, 1);
		if (n_dest == TW_ROUTE_SOURCE) {
			/* a detail of its own: the confirm says which rule refused it */
			tw_cnt_add(ctx, TW_CNT_nack_source_refused, 1);
			*detail = "source address not allowed on this exchange";
		}
		return TW_NACK_ACCESS_REFUSED;
	}
	if (n_dest < 0) {
		tw_cnt_add(ctx, TW_CNT_nack_unknown_exchange, 1);
		return TW_NACK_UNKNOWN_EXCHANGE;
	}
	tw_cnt_add(ctx, TW_CNT_nack_unroutable, 1);
	return TW_NACK_UNROUTABLE;
}

uint16_t
tw_route_handler(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv)
{
	uint16_t handler = tw_tasks_lookup(ctx->tasks, tv->name.p, tv->name.len);

	if (handler != TW_HANDLER_NONE)
		tw_cnt_qadd(&ctx->stats->task_received[handler], 1);
	return handler;
}

/* --- descriptors into queues --- */

void
tw_route_fill_task(struct tw_lcore_ctx *ctx, struct tw_task *t, struct rte_mbuf *frame,
		   const struct tw_task_view *tv, const struct tw_peer *peer, uint16_t handler,
		   uint64_t now)
{
	t->id = tv->id;
	t->frame = frame;
	t->args = tv->args.p;
	t->args_len = tv->args.len;
	t->name = (const char *)tv->name.p;
	t->name_len = (uint16_t)tv->name.len;
	t->handler = handler;
	t->priority = (uint8_t)(tv->priority > 255 ? 255 : tv->priority);
	t->deliveries = 0;
	t->port_id = ctx->port_id;
	t->peer_port = peer->port;
	t->peer_ip = peer->ip;
	t->peer_mac = peer->mac;
	t->enqueue_tsc = now;
	t->routing_key = (const char *)tv->routing_key.p;
	t->key_len = (uint16_t)tv->routing_key.len;
	t->dead_letters = 0;
	t->raw = tv->raw.p;
	t->raw_len = tv->raw.len;
	t->retries = tv->retries;
	t->eta_ms = tv->eta_ms;
	t->result_expires_s = tv->result_expires_s;
	t->dedup = NULL;
	t->dedup_gen = 0;
	t->has_retry = tv->has_retry;
	t->retry = tv->retry;
	t->ignore_result = tv->ignore_result ||
			   (handler != TW_HANDLER_NONE && ctx->tasks->defs[handler].ignore_result);
	/* every field: descriptors are reused, and exec reads args_group of all */
	t->wf = tv->workflow;
	t->wf_notify = tv->notify;
	t->wf_replaced = 0;
	t->root_id = tv->root_id != 0 || !tv->workflow ? tv->root_id : tv->id;
	t->parent_id = tv->parent_id;
	t->group_id = tv->group_id;
	t->group_index = tv->group_index;
	t->args_group = tv->args_group;
	t->jid = 0;
}

/* Every cache line tw_route_fill_task() writes, ahead of it. */
static inline void
prefetch_for_fill(const struct tw_task *t)
{
	for (size_t off = 0; off < sizeof(*t); off += RTE_CACHE_LINE_SIZE)
		rte_prefetch0_write((const char *)t + off);
}

/*
 * Top the spares up to @p want (at most TW_ROUTE_SPARE_AHEAD), each
 * prefetched; a pool that runs dry leaves fewer. Asking for no more than
 * the frame's tasks still to come keeps a one-task frame at one pool get,
 * not four and three given back.
 */
static inline void
spares_fill(struct tw_lcore_ctx *ctx, struct tw_route_burst *rb, uint32_t want)
{
	if (want > TW_ROUTE_SPARE_AHEAD)
		want = TW_ROUTE_SPARE_AHEAD;
	while (rb->n_spare < want) {
		struct tw_task **slot =
			&rb->spare[(rb->spare_head + rb->n_spare) % TW_ROUTE_SPARE_AHEAD];

		if (unlikely(rte_mempool_get(ctx->task_pool, (void **)slot) != 0))
			return;
		prefetch_for_fill(*slot);
		rb->n_spare++;
	}
}

/*
 * A queue refused descriptor t: it is released, or dead-lettered
 * (reject-publish-dlx), and then its duplicate-table entry says so: the
 * task lives on, so a retransmit of it is refused again, not routed (and
 * dead-lettered) a second time.
 */
static uint32_t
refused(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, const struct tw_route_queue *q,
	struct tw_task *t)
{
	/* read before the hand-off: a worker may take t at once */
	struct tw_dedup_entry *dd = t->dedup;
	uint32_t dd_gen = t->dedup_gen;

	if (q->overflow == TW_OVERFLOW_REJECT_PUBLISH_DLX && tw_route_dead_letter(ctx, rt, t)) {
		if (dd != NULL)
			tw_dedup_refused(dd, dd_gen, TW_NACK_QUEUE_FULL);
	} else {
		/* the frame outlives this: the caller holds it until the burst ends */
		rte_mbuf_refcnt_update(t->frame, -1);
		rte_mempool_put(ctx->task_pool, t);
	}
	tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_rejected), 1);
	tw_cnt_add(ctx, TW_CNT_nack_queue_full, 1);
	return TW_NACK_QUEUE_FULL;
}

void
tw_route_flush(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_route_burst *rb)
{
	if (rb->sg.n == 0)
		return;
	tw_enqueue_stage_flush(ctx, rt, &rb->sg);
	for (uint32_t k = 0; k < rb->sg.n_refused; k++) {
		uint32_t v = refused(ctx, rt, &rt->queues[rb->sg.refused_queue[k]], rb->sg.refused[k]);
		struct tw_route_pending *pt = &rb->p[rb->sg.refused_task[k]];

		if (pt->verdict == TW_NACK_NONE)
			pt->verdict = (uint8_t)v;
	}
}

uint32_t
tw_route_deliver(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_route_burst *rb,
		 struct tw_frame_refs *fr, const struct tw_task_view *tv, uint16_t view,
		 const struct tw_peer *peer, uint16_t handler, const uint32_t *dest, int n_dest,
		 uint64_t now, struct tw_dedup_entry *dd, uint32_t dd_gen,
		 struct tw_journal_hold *hold, const char **why)
{
	struct tw_route_pending *pt = &rb->p[rb->n_pending];
	uint16_t slot = (uint16_t)rb->n_pending;
	uint32_t verdict = TW_NACK_NONE;
	bool staged = false;
	/* the task's own deadline, if any; the queue's TTL may come sooner */
	uint64_t task_expiry = tv->expires_ms != 0 ? tw_tsc_of_unix_ms(ctx, tv->expires_ms) : 0;

	/* before any staging: a flush below may record a refusal in it */
	*pt = (struct tw_route_pending){ .id = tv->id, .peer = *peer, .dd = dd, .dd_gen = dd_gen,
					 .view = view, .verdict = TW_NACK_NONE };
	for (int d = 0; d < n_dest; d++) {
		const struct tw_route_queue *q = &rt->queues[dest[d]];
		struct tw_task *t;
		uint64_t ttl_expiry;

		spares_fill(ctx, rb, fr->left);
		if (likely(rb->n_spare != 0)) {
			t = rb->spare[rb->spare_head];
			rb->spare_head = (rb->spare_head + 1) % TW_ROUTE_SPARE_AHEAD;
			rb->n_spare--;
		} else if (unlikely(rte_mempool_get(ctx->task_pool, (void **)&t) != 0)) {
			tw_cnt_add(ctx, TW_CNT_nack_no_resources, 1);
			tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_nack_no_resources), 1);
			verdict = TW_NACK_NO_RESOURCES;
			continue;
		}
		tw_route_fill_task(ctx, t, fr->m, tv, peer, handler, now);
		t->dedup = dd;
		t->dedup_gen = dd_gen;
		t->queue_slot = q->slot;
		ttl_expiry = q->ttl_ticks != 0 ? now + q->ttl_ticks : 0;
		t->expiry_is_task = task_expiry != 0 && (ttl_expiry == 0 || task_expiry < ttl_expiry);
		t->expire_tsc = t->expiry_is_task ? task_expiry : ttl_expiry;
		if (unlikely(q->durable)) {
			/* its record goes to the journal first: the ACK waits for the disk */
			uint64_t seq = tw_journal_task(ctx, q, t);

			if (seq == 0) {
				rte_mempool_put(ctx->task_pool, t);
				tw_cnt_add(ctx, TW_CNT_nack_journal, 1);
				tw_cnt_add(ctx, TW_CNT_nack_no_resources, 1);
				tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_nack_no_resources), 1);
				verdict = TW_NACK_NO_RESOURCES;
				*why = "durable queue: the journal is failing (disk full?) or behind";
				continue;
			}
			if (hold->lo == 0)
				hold->lo = seq;
			hold->hi = seq;
			/* a retransmit before the sync must not be ACKed by the duplicate table */
			if (dd != NULL)
				dd->jseq = seq;
		}
		/* The descriptor's own frame reference, taken before the hand-off:
		 * a worker may release it as soon as the enqueue is visible. */
		tw_frame_ref_take(fr);
		if (likely(tw_enqueue_stageable(q))) {
			/* handed off when the stage is flushed (or fills: a task to many queues) */
			if (unlikely(tw_enqueue_stage_full(&rb->sg)))
				tw_route_flush(ctx, rt, rb);
			tw_enqueue_stage_add(&rb->sg, t, dest[d], slot);
			staged = true;
			continue;
		}
		/* Hand-off: after a successful enqueue the consumer owns t. */
		if (unlikely(!tw_enqueue_task(ctx, rt, q, t))) {
			uint32_t v;

			tw_journal_done(ctx, t); /* journaled, never queued */
			v = refused(ctx, rt, q, t);

			if (verdict == TW_NACK_NONE)
				verdict = v;
			continue;
		}
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_published), 1);
		tw_cnt_add(ctx, TW_CNT_tasks_routed, 1);
	}
	if (!staged)
		return verdict;
	/* concluded after the flush; one inside this call may have recorded a refusal already */
	if (pt->verdict == TW_NACK_NONE)
		pt->verdict = (uint8_t)verdict;
	pt->hold = *hold;
	rb->n_pending++;
	return TW_ROUTE_PENDING;
}

void
tw_route_event(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv, uint32_t verdict,
	       const char *detail)
{
	struct tw_wire_result rec = {
		.task_id = tv->id, .name = (const char *)tv->name.p, .name_len = tv->name.len,
		.retries = tv->retries, .event_only = true,
		.state = verdict == TW_NACK_NONE ? TW_ST_RECEIVED : TW_ST_REJECTED,
		.error = verdict == TW_NACK_NONE ? NULL : detail,
		.error_len = verdict == TW_NACK_NONE || detail == NULL ? 0 : (uint32_t)strlen(detail),
		.root_id = tv->root_id, .parent_id = tv->parent_id, .group_id = tv->group_id,
		.group_index = tv->group_index,
	};

	tw_records_put(ctx, &rec);
}

/* --- dead-letter re-route --- */

/* Put t into queue q, re-armed for that queue's TTL. @return true if enqueued. */
static bool
requeue(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q, struct tw_task *t, uint64_t now)
{
	struct tw_qring *ring;

	t->queue_slot = q->slot;
	t->enqueue_tsc = now;
	t->expire_tsc = q->ttl_ticks != 0 ? now + q->ttl_ticks : 0;
	/* Byte limits count dead-lettered tasks but do not refuse them. */
	t->counts_bytes = q->max_bytes != 0;
	if (t->counts_bytes)
		__atomic_fetch_add(tw_qbytes(ctx->shared, q->slot), t->args_len,
				   __ATOMIC_RELAXED);
	/* Hand-off: after a successful enqueue the queue's consumer owns t. */
	ring = tw_queue_ring(q, t->priority);
	if (!tw_qring_enqueue(ring, &ctx->shared->qspares, t) &&
	    (q->max_priority == 0 || !tw_enqueue_spill(&ctx->shared->qspares, q, t, ring))) {
		if (t->counts_bytes)
			__atomic_fetch_sub(tw_qbytes(ctx->shared, q->slot), t->args_len,
					   __ATOMIC_RELAXED);
		return false;
	}
	tw_enqueue_mark_ready(ctx, q);
	tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_published), 1);
	tw_cnt_add(ctx, TW_CNT_tasks_dead_lettered, 1);
	return true;
}

static void wait_for_room(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q,
			  struct tw_task *t, uint64_t now);

bool
tw_route_dead_letter(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t)
{
	uint32_t dest[TW_MAX_ROUTE_DESTS];
	const struct tw_route_queue *from;
	uint32_t qi;
	uint64_t now;
	int n;

	if (rt == NULL)
		return false;
	qi = rt->slot_queue[t->queue_slot]; /* a 16-bit slot is always in the map */
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
	tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, from->slot, TW_QCNT_dead_lettered), 1);
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
		if (!requeue(ctx, &rt->queues[dest[d]], c, now))
			wait_for_room(ctx, &rt->queues[dest[d]], c, now);
	}
	if (!requeue(ctx, &rt->queues[dest[0]], t, now))
		wait_for_room(ctx, &rt->queues[dest[0]], t, now);
	return true;
}

/* A dead-letter that will not be queued: counted, its journal record closed. */
static void
dead_letter_lost(struct tw_lcore_ctx *ctx, struct tw_task *t)
{
	tw_cnt_add(ctx, TW_CNT_dead_letter_lost, 1);
	tw_journal_done(ctx, t);
	tw_task_release(t, ctx->task_pool);
}

/*
 * Dead-letter t found queue q's ring full: it waits in the lcore's stash
 * and the route stage tries again each pass, up to TW_DL_WAIT_MS (a
 * consumer that is behind for a moment loses nothing); a full stash loses
 * it at once, counted.
 */
static void
wait_for_room(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q, struct tw_task *t,
	      uint64_t now)
{
	struct tw_dl_wait *w;

	if (unlikely(ctx->dl_n == TW_DL_WAIT)) {
		dead_letter_lost(ctx, t);
		return;
	}
	w = &ctx->dl_wait[(ctx->dl_head + ctx->dl_n) & (TW_DL_WAIT - 1)];
	w->t = t;
	w->slot = q->slot;
	w->until_tsc = now + ctx->tsc_hz / 1000 * TW_DL_WAIT_MS;
	ctx->dl_n++;
	tw_cnt_add(ctx, TW_CNT_dead_letter_waited, 1);
}

/*
 * The waiting dead-letters, each tried once (bound: those waiting when
 * the pass came): queued, or back at the tail, or lost past their wait or
 * when their queue is gone. @return dead-letters that left the stash.
 */
static uint32_t
dead_letters_retry(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	uint32_t n = ctx->dl_n, left = 0;
	uint64_t now = rte_rdtsc();

	for (uint32_t i = 0; i < n; i++) {
		struct tw_dl_wait w = ctx->dl_wait[ctx->dl_head];
		uint32_t qi = rt != NULL ? rt->slot_queue[w.slot] : TW_ROUTE_NONE;

		ctx->dl_head = (ctx->dl_head + 1) & (TW_DL_WAIT - 1);
		ctx->dl_n--;
		if (qi == TW_ROUTE_NONE) {
			dead_letter_lost(ctx, w.t); /* its queue was deleted meanwhile */
			continue;
		}
		if (requeue(ctx, &rt->queues[qi], w.t, now))
			continue;
		if (now >= w.until_tsc) {
			dead_letter_lost(ctx, w.t);
			continue;
		}
		ctx->dl_wait[(ctx->dl_head + ctx->dl_n) & (TW_DL_WAIT - 1)] = w;
		ctx->dl_n++;
		left++;
	}
	return n - left;
}

/* --- engine-made tasks --- */

/*
 * An engine-made task (due from the scheduler, a workflow step, published
 * by a handler) that no queue took: there is no confirm to refuse, so its
 * publisher and the result store get a FAILURE naming the reason.
 */
static void
refuse_engine_made(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv,
		   const struct tw_peer *peer, const char *why)
{
	static const struct tw_peer nobody = { .port = 0 };
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "could not be queued when due: %s", why);
	struct tw_wire_result rec = {
		.task_id = tv->id, .state = TW_ST_FAILURE, .error = msg,
		.error_len = (uint32_t)(n > 0 ? RTE_MIN((size_t)n, sizeof(msg) - 1) : 0),
		.name = (const char *)tv->name.p, .name_len = tv->name.len,
		.retries = tv->retries, .result_expires_s = tv->result_expires_s,
	};

	tw_cnt_add(ctx, TW_CNT_inject_refused, 1);
	if (tv->workflow) {
		/* a workflow step: what follows it fails too; its own state goes
		 * to the publisher only if it is the step the publisher waits for */
		rec.root_id = tv->root_id;
		rec.parent_id = tv->parent_id;
		rec.group_id = tv->group_id;
		rec.group_index = tv->group_index;
		tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
		tw_workflow_step_refused(ctx, tv, peer, msg);
		if (!tv->notify)
			peer = &nobody;
	}
	if (peer->port != 0)
		tw_reply_result(ctx, tw_reply_to(ctx, peer), tv->id, TW_ST_FAILURE, NULL, 0, msg,
				rec.error_len, 0);
	if (!tv->ignore_result)
		tw_records_put(ctx, &rec);
}

static void
conclude_engine_made(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv,
		     const struct tw_peer *peer, uint32_t verdict, const char *detail, bool events)
{
	if (events)
		tw_route_event(ctx, tv, verdict, detail);
	if (verdict != TW_NACK_NONE)
		refuse_engine_made(ctx, tv, peer, detail);
}

/* Flush, then conclude every pending task of the frame whose views these are. */
static uint32_t
settle_engine_made(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_route_burst *rb,
		   const struct tw_task_view *views, bool events)
{
	uint32_t routed = 0;

	tw_route_flush(ctx, rt, rb);
	for (uint32_t k = 0; k < rb->n_pending; k++) {
		const struct tw_route_pending *pt = &rb->p[k];

		routed += pt->verdict == TW_NACK_NONE;
		conclude_engine_made(ctx, &views[pt->view], &pt->peer, pt->verdict,
				     tw_route_verdict_detail(pt->verdict), events);
	}
	rb->n_pending = 0;
	return routed;
}

static uint32_t
engine_frame(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_route_burst *rb,
	     struct rte_mbuf *frame, uint64_t now, bool events)
{
	uint32_t dest[TW_MAX_ROUTE_DESTS];
	struct tw_frame_view fv;
	struct tw_peer peer;
	uint32_t payload_len, routed = 0;
	const uint8_t *payload = tw_parse_payload(frame, &payload_len);
	struct tw_frame_refs refs = { frame, 0, 0 };

	tw_cnt_add(ctx, TW_CNT_rx_frames, 1);
	/* built by tw-control or this engine: a frame that does not decode cannot
	 * happen, and has no one to answer */
	if (tw_wire_decode_frame_trusted(payload, payload_len, &fv, ctx->views,
					 TW_FRAME_MAX_TASKS) != TW_WIRE_OK)
		return 0;
	tw_reply_peer_of(frame, &peer);
	tw_cnt_add(ctx, TW_CNT_tasks_injected, fv.n_tasks);
	for (uint32_t i = 0; i < fv.n_tasks; i++) {
		const struct tw_task_view *tv = &ctx->views[i];
		const char *bad = tw_route_invalid_task(tv), *detail = NULL;
		uint32_t verdict;
		int n_dest;

		refs.left = fv.n_tasks - i;
		if (unlikely(tw_route_burst_full(rb)))
			routed += settle_engine_made(ctx, rt, rb, ctx->views, events);
		if (unlikely(tv->workflow) && bad == NULL && tv->group_id != 0 &&
		    tv->group_size == 0) {
			bool finished, foreign;

			/* the engine's own frames: the member's publisher was checked
			 * when its group's frame came in */
			bad = tw_workflow_member_check(tv, NULL, 0, &finished, &foreign);
			if (finished) {
				tw_cnt_add(ctx, TW_CNT_tasks_duplicate, 1);
				continue;
			}
			if (bad != NULL)
				tw_cnt_add(ctx, TW_CNT_wf_unknown_group, 1);
		}
		if (unlikely(tv->group_size != 0)) {
			/* a group node: opens its group and stashes its members; not routed */
			uint64_t jseq; /* no confirm to hold: the record is all it needs */

			bad = tw_workflow_group_open(ctx, rt, tv, &peer, 0, &jseq);
			if (bad == NULL) {
				routed++;
				continue;
			}
		}
		if (bad != NULL) {
			tw_cnt_add(ctx, TW_CNT_nack_invalid_task, 1);
			refuse_engine_made(ctx, tv, &peer, bad);
			continue;
		}
		n_dest = tw_route_resolve(ctx, rt, tv, peer.ip, true, dest);
		if (n_dest <= 0) {
			verdict = tw_route_refusal(ctx, n_dest, &detail);
		} else {
			/* no confirm to hold: a durable queue's record is all it needs */
			struct tw_journal_hold hold = { 0, 0 };

			verdict = tw_route_deliver(ctx, rt, rb, &refs, tv, (uint16_t)i, &peer,
						   tw_route_handler(ctx, tv), dest, n_dest, now, NULL, 0,
						   &hold, &detail);
			if (verdict == TW_ROUTE_PENDING)
				continue;
			routed += verdict == TW_NACK_NONE;
		}
		conclude_engine_made(ctx, tv, &peer, verdict,
				     detail != NULL ? detail : tw_route_verdict_detail(verdict), events);
	}
	/* the conclusions need this frame's views: now, while they are valid */
	routed += settle_engine_made(ctx, rt, rb, ctx->views, events);
	tw_frame_ref_finish(&refs);
	return routed;
}

uint32_t
tw_route_engine_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct rte_mbuf **v,
		      uint16_t n)
{
	uint64_t now = rte_rdtsc();
	const bool events = tw_events_on(ctx);
	struct tw_route_burst rb;
	uint32_t routed = 0;

	tw_route_burst_init(&rb);
	for (uint16_t i = 0; i < n; i++)
		routed += engine_frame(ctx, rt, &rb, v[i], now, events);
	tw_route_burst_end(ctx, &rb);
	/* Every descriptor took its own reference; release the burst's. */
	tw_drop_burst(ctx, TW_CNT_frames_released, v, n);
	tw_route_cache_counters(ctx);
	return routed;
}

uint32_t
tw_route_stash_drain_some(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	uint32_t done = 0;

	/* dead-letters first: they waited since an earlier pass */
	if (ctx->dl_n != 0)
		done += dead_letters_retry(ctx, rt);
	/* the steps of this pass share frames until now: route them in this pass */
	tw_workflow_close_frame(ctx);
	/* bounded: what routing these makes (a group's members) waits for the next pass */
	while (ctx->made_n != 0 && done < TW_MADE_DRAIN) {
		struct rte_mbuf *v[TW_BURST];
		uint16_t k = 0;

		while (k < TW_BURST && ctx->made_n != 0) {
			v[k++] = ctx->made[ctx->made_head];
			ctx->made_head = (ctx->made_head + 1) & (TW_MADE_STASH - 1);
			ctx->made_n--;
		}
		tw_route_engine_burst(ctx, rt, v, k);
		done += k;
	}
	return done;
}

void
tw_route_stash_discard(struct tw_lcore_ctx *ctx)
{
	tw_workflow_discard_frame(ctx);
	while (ctx->dl_n != 0) {
		dead_letter_lost(ctx, ctx->dl_wait[ctx->dl_head].t);
		ctx->dl_head = (ctx->dl_head + 1) & (TW_DL_WAIT - 1);
		ctx->dl_n--;
	}
	while (ctx->made_n != 0) {
		struct rte_mbuf *m = ctx->made[ctx->made_head];

		ctx->made_head = (ctx->made_head + 1) & (TW_MADE_STASH - 1);
		ctx->made_n--;
		tw_drop_burst(ctx, TW_CNT_frames_released, &m, 1);
	}
}
