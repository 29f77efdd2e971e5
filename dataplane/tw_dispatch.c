/*
 * Dispatch stage: see tw_dispatch.h. Runs on the io lcore for each burst
 * of frames. Owns nothing between calls: the frame mbufs go to the task
 * descriptors (one reference each) and the stage's own reference is
 * released at the end of each frame.
 *
 * Confirm rule (as RabbitMQ publisher confirms with reject-publish): a
 * task is ACKed when it reached every queue its routing selected; if any
 * selected queue was full it is NACKed queue-full (queues that had room
 * still got it).
 */
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "tw_consumers.h"
#include "tw_cookie.h"
#include "tw_unverified.h"
#include "tw_ctlchan.h"
#include "tw_deadletter.h"
#include "tw_dedup.h"
#include "tw_keys.h"
#include "tw_replay.h"
#include "tw_dispatch.h"
#include "tw_enqueue.h"
#include "tw_journal.h"
#include "tw_route_cache.h"
#include "tw_drop.h"
#include "tw_parse.h"
#include "tw_reply.h"
#include "tw_steer.h"
#include "tw_task.h"
#include "tw_tasks.h"
#include "tw_workflow.h"

static void
refuse_frame(struct tw_lcore_ctx *ctx, struct tw_reply *r, enum tw_wire_status st,
	     const struct tw_frame_view *fv)
{
	uint32_t reason = st == TW_WIRE_BAD_VERSION ? TW_NACK_BAD_VERSION : TW_NACK_MALFORMED;

	tw_cnt_add(ctx, st == TW_WIRE_BAD_VERSION ? TW_CNT_drop_bad_version : TW_CNT_drop_malformed,
		   1);
	tw_reply_confirm(ctx, r, 0, false, reason, fv->error);
}

/* @return NULL if the task's fields are acceptable, else the NACK detail. */
static const char *
invalid_task(const struct tw_task_view *t)
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

/* Every cache line tw_dispatch_fill_task() writes, ahead of it. */
static inline void
prefetch_for_fill(const struct tw_task *t)
{
	for (size_t off = 0; off < sizeof(*t); off += RTE_CACHE_LINE_SIZE)
		rte_prefetch0_write((const char *)t + off);
}

/* A descriptor for task tv of frame (one frame reference taken by the caller). */
void
tw_dispatch_fill_task(struct tw_lcore_ctx *ctx, struct tw_task *t, struct rte_mbuf *frame,
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

/*
 * The frame references one frame's descriptors hold. Each descriptor
 * holds one, taken before its hand-off; taken one at a time they are an
 * atomic add each on the frame's cache line (a quarter of the lcore's
 * time at 32 tasks per frame). So they are taken ahead, one update for
 * the frame's remaining tasks, and what is left unused is given back when
 * the frame is done. The stage's own reference keeps the frame alive
 * meanwhile (released by tw_drop_burst after the burst).
 */
struct frame_refs {
	struct rte_mbuf *m;
	uint32_t spare;        /* taken, not yet held by a descriptor */
	uint32_t left;         /* tasks of the frame from the current one on */
};

/* One reference for a descriptor about to be handed off. */
static inline void
ref_take(struct frame_refs *fr)
{
	if (unlikely(fr->spare == 0)) {
		fr->spare = fr->left != 0 ? fr->left : 1;
		rte_mbuf_refcnt_update(fr->m, (int16_t)fr->spare);
	}
	fr->spare--;
}

/* The hand-off failed: the reference goes back to the spares. */
static inline void
ref_unused(struct frame_refs *fr)
{
	fr->spare++;
}

static inline void
ref_finish(struct frame_refs *fr)
{
	if (fr->spare != 0)
		rte_mbuf_refcnt_update(fr->m, -(int16_t)fr->spare);
}

static const char *const nack_detail[] = {
	[TW_NACK_UNROUTABLE] = "no binding matched",
	[TW_NACK_QUEUE_FULL] = "queue full",
	[TW_NACK_UNKNOWN_EXCHANGE] = "no such exchange",
	[TW_NACK_NO_RESOURCES] = "engine out of task descriptors",
	[TW_NACK_ACCESS_REFUSED] = "exchange is internal",
	[TW_NACK_NO_SCHEDULER] = "delayed task, but no tw-control attached to hold it",
};

/*
 * Staged tasks (see tw_enqueue.h), over a whole burst of frames: with one
 * task per frame a frame alone has nothing to batch. A task with a
 * descriptor in the stage is pending: it is concluded (confirmed, counted)
 * when the stage is settled, with the verdict of all its queues. Settled
 * at the end of the burst, when the stage or the pending list fills (at a
 * task boundary), and at the end of each frame whose conclusions need the
 * frame's own views (injected frames: FAILURE records; events on).
 */
#define PENDING_MAX 128

/* A durable task's journal records on this lcore (seqs lo..hi; hi 0: none). */
struct journal_hold {
	uint64_t lo, hi;
};

struct pending_task {
	uint64_t id;
	struct tw_peer peer;
	struct tw_dedup_entry *dd;
	uint32_t dd_gen;
	uint16_t view;         /* index in the frame's views (valid while the frame is) */
	uint8_t verdict;       /* so far */
	struct journal_hold hold; /* durable: its ACK waits for these journal seqs */
};

#define SPARE_AHEAD 4

struct dispatch_stage {
	struct tw_enqueue_stage sg;
	/* the next tasks' descriptors, taken SPARE_AHEAD tasks early and
	 * prefetched for writing: a descriptor back from the pool is cold, and
	 * filling it was the dispatch stage's largest cost (store misses); one
	 * task ahead is too close to hide a miss */
	struct tw_task *spare[SPARE_AHEAD];
	uint32_t spare_head; /* oldest, the next one handed out */
	uint32_t n_spare;
	uint32_t n_pending;
	uint32_t routed;       /* pending tasks settled routed */
	struct pending_task p[PENDING_MAX];
};

/*
 * Top the spares up to @p want (at most SPARE_AHEAD), each prefetched; a
 * pool that runs dry leaves fewer. Asking for no more than the frame's
 * tasks still to come keeps a one-task frame at one pool get, not four
 * and three given back.
 */
static inline void
spares_fill(struct tw_lcore_ctx *ctx, struct dispatch_stage *ds, uint32_t want)
{
	if (want > SPARE_AHEAD)
		want = SPARE_AHEAD;
	while (ds->n_spare < want) {
		struct tw_task **slot = &ds->spare[(ds->spare_head + ds->n_spare) % SPARE_AHEAD];

		if (unlikely(rte_mempool_get(ctx->task_pool, (void **)slot) != 0))
			return;
		prefetch_for_fill(*slot);
		ds->n_spare++;
	}
}

/* A queue refused descriptor t: it is released (or dead-lettered: reject-publish-dlx). */
static uint32_t
refused(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, const struct tw_route_queue *q,
	struct tw_task *t)
{
	/* reject-publish-dlx: refused here, and lives on through the DLX */
	if (q->overflow != TW_OVERFLOW_REJECT_PUBLISH_DLX || !tw_deadletter(ctx, rt, t)) {
		/* the frame outlives this: the dispatch stage holds it until the burst ends */
		rte_mbuf_refcnt_update(t->frame, -1);
		rte_mempool_put(ctx->task_pool, t);
	}
	tw_cnt_qadd(&ctx->stats->q_rejected[q->slot], 1);
	tw_cnt_add(ctx, TW_CNT_nack_queue_full, 1);
	return TW_NACK_QUEUE_FULL;
}

/* Hand the staged descriptors to their queues; fold refusals into their tasks' verdicts. */
static void
flush_stage(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct dispatch_stage *ds)
{
	tw_enqueue_stage_flush(ctx, rt, &ds->sg);
	for (uint32_t k = 0; k < ds->sg.n_refused; k++) {
		uint32_t v = refused(ctx, rt, &rt->queues[ds->sg.refused_queue[k]], ds->sg.refused[k]);
		struct pending_task *pt = &ds->p[ds->sg.refused_task[k]];

		if (pt->verdict == TW_NACK_NONE)
			pt->verdict = (uint8_t)v;
	}
}

/*
 * Deliver one task to each destination queue.
 * @return TW_NACK_NONE if every queue took it, else the NACK reason.
 */
static uint32_t
deliver(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct frame_refs *fr,
	struct dispatch_stage *ds, uint16_t slot, bool *staged, const struct tw_task_view *tv,
	const struct tw_peer *peer, uint16_t handler, const uint32_t *dest, int n_dest, uint64_t now,
	struct tw_dedup_entry *dd, uint32_t dd_gen, struct journal_hold *hold, const char **why)
{
	uint32_t verdict = TW_NACK_NONE;
	/* the task's own deadline, if any; the queue's TTL may come sooner */
	uint64_t task_expiry = tv->expires_ms != 0 ? tw_tsc_of_unix_ms(ctx, tv->expires_ms) : 0;


	for (int d = 0; d < n_dest; d++) {
		const struct tw_route_queue *q = &rt->queues[dest[d]];
		struct tw_task *t;
		uint64_t ttl_expiry;

		spares_fill(ctx, ds, fr->left);
		if (likely(ds->n_spare != 0)) {
			t = ds->spare[ds->spare_head];
			ds->spare_head = (ds->spare_head + 1) % SPARE_AHEAD;
			ds->n_spare--;
		} else if (unlikely(rte_mempool_get(ctx->task_pool, (void **)&t) != 0)) {
			tw_cnt_add(ctx, TW_CNT_nack_no_resources, 1);
			tw_cnt_qadd(&ctx->stats->q_nack_no_resources[q->slot], 1);
			verdict = TW_NACK_NO_RESOURCES;
			continue;
		}
		tw_dispatch_fill_task(ctx, t, fr->m, tv, peer, handler, now);
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
				tw_cnt_qadd(&ctx->stats->q_nack_no_resources[q->slot], 1);
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
		ref_take(fr);
		if (likely(tw_enqueue_stageable(q))) {
			/* handed off when the stage is settled (or fills: a task to many queues) */
			if (unlikely(tw_enqueue_stage_full(&ds->sg)))
				flush_stage(ctx, rt, ds);
			tw_enqueue_stage_add(&ds->sg, t, dest[d], slot);
			*staged = true;
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
		tw_cnt_qadd(&ctx->stats->q_published[q->slot], 1);
		tw_cnt_add(ctx, TW_CNT_tasks_routed, 1);
	}
	return verdict;
}

/* tw-control's admission for delayed tasks (tw_shared.sched_full): bounded
 * by TW_SCHED_OVER_MAX compares, on the delayed-task path only. */
static bool
sched_refuses(const struct tw_shared *sh, rte_be32_t ip)
{
	uint32_t n;

	if (__atomic_load_n(&sh->sched_full, __ATOMIC_RELAXED) != 0)
		return true;
	/* acquire: pairs with the release in ctl_sched.c's over_list_set(), so
	 * the entries below the count are the ones written before it */
	n = __atomic_load_n(&sh->n_sched_over, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n && i < TW_SCHED_OVER_MAX; i++)
		if (__atomic_load_n(&sh->sched_over_ip[i], __ATOMIC_RELAXED) == ip)
			return true;
	return false;
}

/*
 * A task due later (eta, countdown): its routing was checked now, and
 * tw-control's scheduler holds it until it is due, then injects it back
 * (routed again then: bindings may have changed meanwhile).
 * @return TW_NACK_NONE, or why it could not be held.
 */
static uint32_t
schedule(struct tw_lcore_ctx *ctx, struct frame_refs *fr, const struct tw_task_view *tv,
	 const struct tw_peer *peer, uint16_t handler, uint64_t now)
{
	struct tw_task *t;

	if (unlikely(sched_refuses(ctx->shared, peer->ip))) {
		tw_cnt_add(ctx, TW_CNT_nack_sched_full, 1);
		return TW_NACK_NO_RESOURCES;
	}
	if (unlikely(rte_mempool_get(ctx->task_pool, (void **)&t) != 0)) {
		tw_cnt_add(ctx, TW_CNT_nack_no_resources, 1);
		return TW_NACK_NO_RESOURCES;
	}
	tw_dispatch_fill_task(ctx, t, fr->m, tv, peer, handler, now);
	t->queue_slot = 0;
	t->expire_tsc = 0;
	ref_take(fr);
	if (!tw_sched_hand_off(ctx, t)) {
		ref_unused(fr);
		rte_mempool_put(ctx->task_pool, t);
		tw_cnt_add(ctx, TW_CNT_nack_no_scheduler, 1);
		return TW_NACK_NO_SCHEDULER;
	}
	tw_cnt_add(ctx, TW_CNT_tasks_scheduled, 1);
	return TW_NACK_NONE;
}

/*
 * An injected task (due from the scheduler, or published by a handler)
 * that no queue took: there is no confirm to refuse, so its publisher
 * and the result store get a FAILURE naming the reason.
 */
static void
refuse_injected(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv,
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

/*
 * A task this publisher sent before (its confirm or result was lost, so it
 * retransmitted): confirm it again and, if it finished, send its result
 * again. It is not routed twice. @return true if it was a duplicate.
 */
static bool
resend_duplicate(struct tw_lcore_ctx *ctx, struct tw_reply *r, const struct tw_peer *peer,
		 const struct tw_task_view *tv)
{
	static const char too_large[] =
		"result too large to send again; read it from the result store (twctl result)";
	struct tw_dedup_entry *e = tw_dedup_find(ctx->dedup, peer->ip, peer->port, tv->id);

	if (e == NULL)
		return false;
	tw_cnt_add(ctx, TW_CNT_tasks_duplicate, 1);
	/* durable: the ACK waits for its record's sync, as the first one did */
	if (likely(e->jseq == 0) || r == NULL ||
	    !tw_journal_hold_duplicate(ctx, e->jseq, tv->id, peer))
		tw_reply_confirm(ctx, r, tv->id, true, TW_NACK_NONE, NULL);
	if (tw_dedup_phase(e) != TW_DEDUP_DONE)
		return true; /* still queued or running: its result will come */
	tw_cnt_add(ctx, TW_CNT_results_resent, 1);
	{
		struct tw_wire_result res = { .task_id = tv->id, .state = e->result_state,
					      .runtime_ns = e->runtime_ns, .resent = true };

		if (e->truncated) {
			res.error = too_large;
			res.error_len = sizeof(too_large) - 1;
		} else if (e->result_state == TW_ST_SUCCESS) {
			res.value = e->value;
			res.value_len = e->value_len;
		} else {
			res.error = (const char *)e->value;
			res.error_len = e->value_len;
		}
		tw_reply_record(ctx, r, &res);
	}
	return true;
}

/* task-received (routed) or task-rejected (NACKed), for the event stream */
static void
event_dispatched(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv, uint32_t verdict,
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

/* Is a publisher at ip_be inside one of the exchange's source ranges? */
static inline bool
source_allowed(const struct tw_route_exchange *x, uint32_t ip_be)
{
	for (uint32_t i = 0; i < x->n_allow; i++)
		if (tw_cidr_has(&x->allow[i], ip_be))
			return true;
	return false;
}

/* The frame's MAC, under its publisher's key, covers it up to the mac field. */
static bool
frame_authentic(const struct tw_lcore_ctx *ctx, const uint8_t *payload,
		const struct tw_frame_view *fv)
{
	const struct tw_key *k;

	if (fv->mac.len == 0)
		return false;
	k = tw_keys_find(ctx->keys, fv->key_id);
	return k != NULL && tw_mac_ok(k, payload, fv->mac_off, fv->mac.p, fv->mac.len);
}

/*
 * Does the frame carry a valid cookie for its source? If not, it is
 * refused (retry-with-cookie) with one reply no larger than it, carrying
 * a fresh cookie: a genuine client sends the frame again at once with it.
 */
static bool
source_proven(struct tw_lcore_ctx *ctx, const struct tw_frame_view *fv, const struct tw_peer *peer,
	      uint32_t payload_len, uint64_t now_ms)
{
	static const enum tw_counter refused[] = {
		[TW_COOKIE_MISSING] = TW_CNT_cookie_missing,
		[TW_COOKIE_EXPIRED] = TW_CNT_cookie_expired,
		[TW_COOKIE_BAD] = TW_CNT_cookie_bad,
	};
	static const char *const detail[] = {
		[TW_COOKIE_MISSING] = "retry with the cookie of this reply",
		[TW_COOKIE_EXPIRED] = "cookie expired: retry with the cookie of this reply",
		[TW_COOKIE_BAD] = "cookie not valid for this address: retry with this reply's",
	};
	enum tw_cookie_verdict v = tw_cookie_check(ctx->cookie, fv->cookie.p, fv->cookie.len,
						   peer->ip, peer->port, now_ms);

	if (likely(v == TW_COOKIE_OK))
		return true;
	tw_cnt_add(ctx, refused[v], 1);
	tw_unverified_refuse(ctx, peer, fv->frame_id, payload_len, TW_NACK_RETRY_WITH_COOKIE,
			     detail[v], true, now_ms);
	return false;
}

/*
 * The task's verdict is known: the event, then its confirm (or, injected,
 * its FAILURE). tv may be NULL when neither is wanted (not injected,
 * events off).
 */
static void
conclude(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv, uint64_t id,
	 const struct tw_peer *peer, uint32_t verdict, const char *detail, bool injected, bool events,
	 const struct journal_hold *hold, struct tw_dedup_entry *dd, uint32_t dd_gen)
{
	if (events)
		event_dispatched(ctx, tv, verdict, detail);
	if (injected) {
		if (verdict != TW_NACK_NONE)
			refuse_injected(ctx, tv, peer, detail);
	} else if (verdict == TW_NACK_NONE) {
		if (hold->hi != 0) /* ACKed when its records are on disk */
			tw_journal_hold(ctx, hold->lo, hold->hi, id, peer, dd, dd_gen);
		else
			tw_reply_confirm(ctx, tw_reply_to(ctx, peer), id, true, TW_NACK_NONE, NULL);
	} else {
		tw_reply_confirm(ctx, tw_reply_to(ctx, peer), id, false, verdict, detail);
	}
}

/*
 * Hand off what is staged and conclude every pending task. views: the
 * frame's views, when its conclusions need them (then every pending task
 * is of that frame); NULL otherwise.
 */
static void
settle(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct dispatch_stage *ds,
       const struct tw_task_view *views, bool injected, bool events)
{
	if (ds->sg.n != 0)
		flush_stage(ctx, rt, ds);
	for (uint32_t k = 0; k < ds->n_pending; k++) {
		const struct pending_task *pt = &ds->p[k];

		if (pt->verdict == TW_NACK_NONE)
			ds->routed++;
		else if (pt->dd != NULL)
			tw_dedup_forget(pt->dd, pt->dd_gen); /* refused: a retransmit tries again */
		conclude(ctx, views != NULL ? &views[pt->view] : NULL, pt->id, &pt->peer, pt->verdict,
			 nack_detail[pt->verdict], injected, events, &pt->hold, pt->dd, pt->dd_gen);
	}
	ds->n_pending = 0;
}

static uint32_t
dispatch_frame(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct dispatch_stage *ds,
	       struct rte_mbuf *frame, uint64_t now, uint64_t now_ms, bool injected, bool events)
{
	struct tw_frame_view fv;
	struct tw_peer peer;
	enum tw_wire_status st;
	uint32_t dest[TW_MAX_ROUTE_DESTS];
	uint32_t payload_len, routed = 0;
	const uint8_t *payload = tw_parse_payload(frame, &payload_len);
	struct frame_refs refs = { frame, 0, 0 };

	st = injected ? tw_wire_decode_frame_trusted(payload, payload_len, &fv, ctx->views,
						     TW_FRAME_MAX_TASKS)
		      : tw_wire_decode_frame(payload, payload_len, &fv, ctx->views, TW_FRAME_MAX_TASKS);
	tw_reply_peer_of(frame, &peer);
	/*
	 * A retransmitting publisher's tasks meet the duplicate table of the
	 * io lcore that owns its source (tw_steer.h), before anything of the
	 * frame is checked or answered here: the owner does it all. (Counted
	 * as a frame there, not here.)
	 */
	if (unlikely(ctx->n_io > 1) && st == TW_WIRE_OK && fv.retransmits && fv.n_tasks != 0 &&
	    !injected) {
		uint16_t owner = tw_steer_owner(&peer, ctx->n_io);

		if (owner != ctx->io_index) {
			tw_steer_forward(ctx, frame, owner);
			return 0;
		}
	}
	tw_cnt_add(ctx, TW_CNT_rx_frames, 1);
	if (st != TW_WIRE_OK) {
		/* a frame-level NACK names its frame: a reply of its own */
		struct tw_reply fr;

		if (injected) /* built by tw-control or a handler: cannot happen but must not answer */
			return 0;
		if (ctx->cookie != NULL) {
			/* nothing of it is proven, its source least of all */
			tw_cnt_add(ctx, st == TW_WIRE_BAD_VERSION ? TW_CNT_drop_bad_version
								  : TW_CNT_drop_malformed, 1);
			tw_unverified_refuse(ctx, &peer, fv.frame_id, payload_len,
					     st == TW_WIRE_BAD_VERSION ? TW_NACK_BAD_VERSION
								       : TW_NACK_MALFORMED,
					     fv.error, false, now_ms);
			return 0;
		}
		tw_reply_open(&fr, &peer, fv.frame_id);
		refuse_frame(ctx, &fr, st, &fv);
		tw_reply_close(ctx, &fr);
		return 0;
	}
	/* authenticated publishing: the whole frame is refused without a valid MAC */
	if (unlikely(ctx->keys != NULL) && !injected && !frame_authentic(ctx, payload, &fv)) {
		struct tw_reply fr;

		tw_cnt_add(ctx, TW_CNT_frames_refused_mac, 1);
		if (ctx->cookie != NULL) {
			tw_unverified_refuse(ctx, &peer, fv.frame_id, payload_len,
					     TW_NACK_ACCESS_REFUSED, "frame MAC missing or wrong",
					     false, now_ms);
			return 0;
		}
		tw_reply_open(&fr, &peer, fv.frame_id);
		tw_reply_confirm(ctx, &fr, 0, false, TW_NACK_ACCESS_REFUSED,
				 "frame MAC missing or wrong: this engine takes authenticated frames only");
		tw_reply_close(ctx, &fr);
		return 0;
	}
	if (unlikely(ctx->replay != NULL) && !injected) {
		/* a valid MAC says who made the frame, not that it is new */
		enum tw_replay_verdict rv = tw_replay_check(ctx->replay, fv.mac.p, fv.mac.len,
							    peer.ip, peer.port, fv.sent_us,
							    fv.retransmits, now_ms);

		if (rv != TW_REPLAY_NEW && rv != TW_REPLAY_RETRANSMIT) {
			struct tw_reply fr;

			tw_cnt_add(ctx, TW_CNT_frames_refused_replay, 1);
			if (ctx->cookie != NULL) {
				/* a captured frame, maybe sent from a forged address */
				tw_unverified_refuse(ctx, &peer, fv.frame_id, payload_len,
						     TW_NACK_ACCESS_REFUSED,
						     rv == TW_REPLAY_REPLAYED ? "frame replayed"
						     : rv == TW_REPLAY_STALE ? "frame outside the replay window"
						     : "replay table full", false, now_ms);
				return 0;
			}
			tw_reply_open(&fr, &peer, fv.frame_id);
			tw_reply_confirm(ctx, &fr, 0, false, TW_NACK_ACCESS_REFUSED,
					 rv == TW_REPLAY_REPLAYED
						 ? "frame replayed: this signed frame was taken before"
					 : rv == TW_REPLAY_STALE
						 ? "frame sent_us missing or outside the replay window "
						   "(clocks must agree)"
						 : "too many signed frames in the replay window: "
						   "send again later");
			tw_reply_close(ctx, &fr);
			return 0;
		}
	}
	/*
	 * Source cookies: a frame whose source has not proved it receives at
	 * its address (a valid MAC proves more, with --keys) is refused whole,
	 * nothing of it run, so the engine sends it at most what it sent.
	 */
	if (unlikely(ctx->cookie != NULL) && ctx->keys == NULL && !injected &&
	    !source_proven(ctx, &fv, &peer, payload_len, now_ms))
		return 0;
	/* a probe: nothing to do but answer (with a cookie), as small as it */
	if (unlikely(fv.n_tasks == 0 && !fv.has_subscribe && !fv.has_cancel && !fv.has_heartbeat &&
		     fv.n_acks == 0) && !injected) {
		tw_unverified_answer_probe(ctx, &peer, fv.frame_id, payload_len, now_ms);
		return 0;
	}
	/* a remote consumer's subscribe, cancel, heartbeat or acks (tw_consumers.h) */
	if (unlikely(fv.has_subscribe || fv.has_cancel || fv.has_heartbeat || fv.n_acks != 0) &&
	    !injected) {
		if (ctx->consumers != NULL)
			tw_consumers_frame(ctx, rt, &fv, &peer);
		else
			tw_consumers_forward(ctx, frame);
	}
	/*
	 * Per-task confirms go into the lcore's reply stream: tw_reply_to() at
	 * each (a settle may have switched the stream to another peer).
	 */
	tw_cnt_add(ctx, injected ? TW_CNT_tasks_injected : TW_CNT_tasks_received, fv.n_tasks);
	/*
	 * A retransmitted frame is checked against the duplicate table, which
	 * must not see an earlier frame's task still pending: it would be
	 * confirmed again as taken while its queue may yet refuse it.
	 * (Pending tasks here are all of earlier frames: this frame's views
	 * are not needed.)
	 */
	if (unlikely(fv.retransmits) && ds->n_pending != 0)
		settle(ctx, rt, ds, NULL, injected, events);

	for (uint32_t i = 0; i < fv.n_tasks; i++) {
		const struct tw_task_view *tv = &ctx->views[i];
		const char *bad = invalid_task(tv), *detail;
		uint32_t verdict;
		struct journal_hold hold = { 0, 0 };
		struct tw_dedup_entry *dd = NULL;
		uint32_t gen = 0;
		int n_dest;

		refs.left = fv.n_tasks - i;
		/* a task boundary: room for the next task's descriptors and its pending record */
		if (unlikely(ds->n_pending == PENDING_MAX || ds->sg.n > TW_STAGE_MAX - 8))
			settle(ctx, rt, ds, injected || events ? ctx->views : NULL, injected, events);
		if (fv.retransmits && bad == NULL && ctx->dedup != NULL &&
		    resend_duplicate(ctx, injected ? NULL : tw_reply_to(ctx, &peer), &peer, tv))
			continue;
		if (unlikely(tv->workflow) && bad == NULL && tv->group_id != 0 &&
		    tv->group_size == 0) {
			bool finished, foreign;

			bad = tw_workflow_member_check(tv, injected ? NULL : &peer, fv.key_id,
						       &finished, &foreign);
			if (finished) {
				/* a member retransmitted after its group finished */
				tw_cnt_add(ctx, TW_CNT_tasks_duplicate, 1);
				if (!injected)
					tw_reply_confirm(ctx, tw_reply_to(ctx, &peer), tv->id, true,
							 TW_NACK_NONE, NULL);
				continue;
			}
			if (unlikely(foreign)) {
				/* another publisher's group: it would change that
				 * group's result (never from the engine's own frames) */
				tw_cnt_add(ctx, TW_CNT_wf_member_refused, 1);
				tw_cnt_add(ctx, TW_CNT_nack_access_refused, 1);
				tw_reply_confirm(ctx, tw_reply_to(ctx, &peer), tv->id, false,
						 TW_NACK_ACCESS_REFUSED, bad);
				continue;
			}
			if (bad != NULL)
				tw_cnt_add(ctx, TW_CNT_wf_unknown_group, 1);
		}
		if (unlikely(tv->group_size != 0)) {
			/* a group node: opens its group and queues its members; not routed */
			bad = tw_workflow_group_open(ctx, tv, &peer, injected ? 0 : fv.key_id);
			if (bad == NULL) {
				routed++;
				if (!injected)
					tw_reply_confirm(ctx, tw_reply_to(ctx, &peer), tv->id, true,
							 TW_NACK_NONE, NULL);
				continue;
			}
		}
		if (bad != NULL) {
			tw_cnt_add(ctx, TW_CNT_nack_invalid_task, 1);
			if (injected)
				refuse_injected(ctx, tv, &peer, bad);
			else
				tw_reply_confirm(ctx, tw_reply_to(ctx, &peer), tv->id, false,
						 TW_NACK_INVALID_TASK, bad);
			continue;
		}
		if (rt != NULL) {
			struct tw_route_headers h = { tv->headers.p, tv->headers.len, tv->n_headers };
			int ex = tw_routes_find_exchange(rt, (const char *)tv->exchange.p,
							 tv->exchange.len);

			if (ex < 0) {
				n_dest = TW_ROUTE_NO_EXCHANGE;
			} else if (rt->exchanges[ex].flags & TW_EX_F_INTERNAL) {
				n_dest = TW_ROUTE_INTERNAL;
			} else if (unlikely(rt->exchanges[ex].n_allow != 0) && !injected &&
				   !source_allowed(&rt->exchanges[ex], peer.ip)) {
				/* engine-made frames passed this check when they came in */
				n_dest = TW_ROUTE_SOURCE;
			} else {
				/* per exchange, by its stable slot: published, then routed or not */
				uint32_t xs = rt->exchanges[ex].slot;

				n_dest = tw_routes_match_cached_at(rt, ctx->route_cache, (uint32_t)ex,
								   (const char *)tv->routing_key.p,
								   tv->routing_key.len, &h, dest);
				tw_cnt_qadd(&ctx->stats->x_published[xs], 1);
				tw_cnt_qadd(n_dest > 0 ? &ctx->stats->x_routed[xs]
						       : &ctx->stats->x_unroutable[xs], 1);
			}
		} else {
			n_dest = tv->exchange.len == 0 ? 0 : TW_ROUTE_NO_EXCHANGE; /* nothing declared yet */
		}

		detail = NULL;
		if (n_dest == TW_ROUTE_INTERNAL || n_dest == TW_ROUTE_SOURCE) {
			tw_cnt_add(ctx, TW_CNT_nack_access_refused, 1);
			verdict = TW_NACK_ACCESS_REFUSED;
			if (n_dest == TW_ROUTE_SOURCE) {
				/* a detail of its own: the confirm says which rule refused it */
				tw_cnt_add(ctx, TW_CNT_nack_source_refused, 1);
				detail = "source address not allowed on this exchange";
			}
		} else if (n_dest < 0) {
			tw_cnt_add(ctx, TW_CNT_nack_unknown_exchange, 1);
			verdict = TW_NACK_UNKNOWN_EXCHANGE;
		} else if (n_dest == 0) {
			tw_cnt_add(ctx, TW_CNT_nack_unroutable, 1);
			verdict = TW_NACK_UNROUTABLE;
		} else {
			uint16_t handler = tw_tasks_lookup(ctx->tasks, tv->name.p, tv->name.len);

			if (handler != TW_HANDLER_NONE)
				tw_cnt_qadd(&ctx->stats->task_received[handler], 1);

			/* remembered before the hand-off: a worker may finish it at once */
			if (fv.retransmits && ctx->dedup != NULL)
				dd = tw_dedup_insert(ctx->dedup, peer.ip, peer.port, tv->id, &gen);
			if (tv->eta_ms > now_ms && !injected)
				verdict = schedule(ctx, &refs, tv, &peer, handler, now);
			else {
				struct pending_task *pt = &ds->p[ds->n_pending];
				bool staged = false;

				*pt = (struct pending_task){ .id = tv->id, .peer = peer, .dd = dd,
							     .dd_gen = gen, .view = (uint16_t)i,
							     .verdict = TW_NACK_NONE };
				verdict = deliver(ctx, rt, &refs, ds, (uint16_t)ds->n_pending, &staged, tv,
						  &peer, handler, dest, n_dest, now, dd, gen, &hold,
						  &detail);
				if (staged) {
					/* concluded when the stage is settled; a flush inside
					 * deliver() may have recorded a refusal already */
					if (pt->verdict == TW_NACK_NONE)
						pt->verdict = (uint8_t)verdict;
					pt->hold = hold;
					ds->n_pending++;
					continue;
				}
			}
			if (verdict == TW_NACK_NONE)
				routed++;
			else if (dd != NULL)
				tw_dedup_forget(dd, gen); /* refused: a retransmit tries again */
		}
		conclude(ctx, tv, tv->id, &peer, verdict,
			 detail != NULL ? detail : nack_detail[verdict], injected, events, &hold,
			 dd, gen);
	}
	/* conclusions that need this frame's views: now, while they are valid */
	if (injected || events)
		settle(ctx, rt, ds, ctx->views, injected, events);
	ref_finish(&refs);
	return routed;
}

static inline uint32_t
dispatch_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct rte_mbuf **v,
	       uint16_t n, bool injected)
{
	uint64_t now = rte_rdtsc();
	uint64_t now_ms = tw_unix_ms(ctx, now);
	uint32_t routed = 0;
	/* once per burst: whether conclusions wait for the burst's end must not change midway */
	const bool events = tw_events_on(ctx);
	struct dispatch_stage ds;

	ds.sg.n = 0;
	ds.spare_head = 0;
	ds.n_spare = 0;
	ds.n_pending = 0;
	ds.routed = 0;
	for (uint16_t i = 0; i < n; i++) {
		ctx->in_dispatch = true;
		routed += dispatch_frame(ctx, rt, &ds, v[i], now, now_ms, injected, events);
		ctx->in_dispatch = false;
		/* workflow steps the frame queued (group members), between frames */
		if (unlikely(tw_workflow_has_steps(ctx)))
			tw_workflow_flush(ctx, rt);
	}
	settle(ctx, rt, &ds, NULL, injected, events);
	routed += ds.routed;
	for (; ds.n_spare != 0; ds.n_spare--, ds.spare_head = (ds.spare_head + 1) % SPARE_AHEAD)
		rte_mempool_put(ctx->task_pool, ds.spare[ds.spare_head]);
	/* Every descriptor took its own reference; release the stage's. */
	tw_drop_burst(ctx, TW_CNT_frames_released, v, n);
	/* the cache counts for itself; publish its totals once per burst */
	__atomic_store_n(&ctx->stats->c[TW_CNT_route_cache_hits], ctx->route_cache->hits,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->stats->c[TW_CNT_route_cache_misses], ctx->route_cache->misses,
			 __ATOMIC_RELAXED);
	return routed;
}

uint32_t
tw_dispatch_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct rte_mbuf **v,
		  uint16_t n)
{
	return dispatch_burst(ctx, rt, v, n, false);
}

uint32_t
tw_dispatch_injected_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
			   struct rte_mbuf **v, uint16_t n)
{
	return dispatch_burst(ctx, rt, v, n, true);
}
