/*
 * Dispatch stage: see tw_dispatch.h. Runs on the io lcore for each burst
 * of frames. Owns nothing between calls: the frame mbufs go to the task
 * descriptors (one reference each) and the stage's own reference is
 * released at the end of the burst.
 *
 * Confirm rule: the route stage's verdict (tw_route.c): a task is ACKed
 * when it reached every queue its routing selected, else NACKed with the
 * reason. A task in a durable queue is ACKed once its journal record is
 * on disk (tw_journal.h holds the confirm until then).
 */
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "tw_consumers.h"
#include "tw_cookie.h"
#include "tw_unverified.h"
#include "tw_ctlchan.h"
#include "tw_dedup.h"
#include "tw_keys.h"
#include "tw_replay.h"
#include "tw_dispatch.h"
#include "tw_drop.h"
#include "tw_journal.h"
#include "tw_parse.h"
#include "tw_reply.h"
#include "tw_route.h"
#include "tw_steer.h"
#include "tw_task.h"
#include "tw_workflow.h"

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
schedule(struct tw_lcore_ctx *ctx, struct tw_frame_refs *fr, const struct tw_task_view *tv,
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
	tw_route_fill_task(ctx, t, fr->m, tv, peer, handler, now);
	t->queue_slot = 0;
	t->expire_tsc = 0;
	tw_frame_ref_take(fr);
	if (!tw_sched_hand_off(ctx, t)) {
		tw_frame_ref_unused(fr);
		rte_mempool_put(ctx->task_pool, t);
		tw_cnt_add(ctx, TW_CNT_nack_no_scheduler, 1);
		return TW_NACK_NO_SCHEDULER;
	}
	tw_cnt_add(ctx, TW_CNT_tasks_scheduled, 1);
	return TW_NACK_NONE;
}

/*
 * A task this publisher sent before (its confirm or result was lost, so it
 * retransmitted): confirm it again as the first time (ACK; or NACK if it
 * was refused but lives on, dead-lettered) and, if it finished, send its
 * result again. It is not routed twice. @return true if it was a duplicate.
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
	if (unlikely(e->nack != 0))
		/* refused, but it lives on (dead-lettered): refused again, not routed again */
		tw_reply_confirm(ctx, r, tv->id, false, e->nack, tw_route_verdict_detail(e->nack));
	/* durable: the ACK waits for its record's sync, as the first one did */
	else if (likely(e->jseq == 0) || !tw_journal_hold_duplicate(ctx, e->jseq, tv->id, peer))
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
 * The task's verdict is known: the event, then its confirm (a durable
 * task's ACK held until its records are on disk). tv may be NULL when
 * events are off.
 */
static inline void
conclude(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv, uint64_t id,
	 const struct tw_peer *peer, uint32_t verdict, const char *detail, bool events,
	 const struct tw_journal_hold *hold, struct tw_dedup_entry *dd, uint32_t dd_gen)
{
	if (events)
		tw_route_event(ctx, tv, verdict, detail);
	if (verdict == TW_NACK_NONE && unlikely(hold->hi != 0))
		tw_journal_hold(ctx, hold->lo, hold->hi, id, peer, dd, dd_gen);
	else if (verdict == TW_NACK_NONE)
		tw_reply_confirm(ctx, tw_reply_to(ctx, peer), id, true, TW_NACK_NONE, NULL);
	else
		tw_reply_confirm(ctx, tw_reply_to(ctx, peer), id, false, verdict, detail);
}

/*
 * Hand off what is staged and conclude every pending task. views: the
 * frame's views, when its conclusions need them (events on: then every
 * pending task is of that frame); NULL otherwise. @return tasks routed.
 */
static uint32_t
settle(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_route_burst *rb,
       const struct tw_task_view *views, bool events)
{
	uint32_t routed = 0;

	tw_route_flush(ctx, rt, rb);
	for (uint32_t k = 0; k < rb->n_pending; k++) {
		const struct tw_route_pending *pt = &rb->p[k];

		if (pt->verdict == TW_NACK_NONE)
			routed++;
		else if (pt->dd != NULL)
			tw_dedup_refused(pt->dd, pt->dd_gen, (uint8_t)pt->verdict); /* its retransmit too */
		conclude(ctx, views != NULL ? &views[pt->view] : NULL, pt->id, &pt->peer, pt->verdict,
			 tw_route_verdict_detail(pt->verdict), events, &pt->hold, pt->dd, pt->dd_gen);
	}
	rb->n_pending = 0;
	return routed;
}

/*
 * A frame refused whole before any of its tasks is looked at (it does not
 * decode, its MAC is wrong, it is replayed). With source cookies on,
 * nothing of it is proven, its source least of all: the refusal is kept
 * as small as the frame (tw_unverified.h).
 */
static void
refuse_whole(struct tw_lcore_ctx *ctx, const struct tw_peer *peer, uint64_t frame_id,
	     uint32_t payload_len, uint32_t reason, const char *cookie_detail, const char *detail,
	     uint64_t now_ms)
{
	struct tw_reply fr;

	if (ctx->cookie != NULL) {
		tw_unverified_refuse(ctx, peer, frame_id, payload_len, reason, cookie_detail, false,
				     now_ms);
		return;
	}
	/* a frame-level NACK names its frame: a reply of its own */
	tw_reply_open(&fr, peer, frame_id);
	tw_reply_confirm(ctx, &fr, 0, false, reason, detail);
	tw_reply_close(ctx, &fr);
}

/*
 * Admission of the whole frame (st: how it decoded): well formed,
 * authentic (--keys), not replayed,
 * from a proven source (cookies), not a bare probe. Consumer messages it
 * carries go to the consumer table. @return true if its tasks go on.
 */
static bool
admit_frame(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct rte_mbuf *frame,
	    enum tw_wire_status st, const uint8_t *payload, uint32_t payload_len,
	    struct tw_frame_view *fv, const struct tw_peer *peer, uint64_t now_ms)
{
	if (st != TW_WIRE_OK) {
		uint32_t reason = st == TW_WIRE_BAD_VERSION ? TW_NACK_BAD_VERSION : TW_NACK_MALFORMED;

		tw_cnt_add(ctx, st == TW_WIRE_BAD_VERSION ? TW_CNT_drop_bad_version
							  : TW_CNT_drop_malformed, 1);
		refuse_whole(ctx, peer, fv->frame_id, payload_len, reason, fv->error, fv->error,
			     now_ms);
		return false;
	}
	/* authenticated publishing: the whole frame is refused without a valid MAC */
	if (unlikely(ctx->keys != NULL) && !frame_authentic(ctx, payload, fv)) {
		tw_cnt_add(ctx, TW_CNT_frames_refused_mac, 1);
		refuse_whole(ctx, peer, fv->frame_id, payload_len, TW_NACK_ACCESS_REFUSED,
			     "frame MAC missing or wrong",
			     "frame MAC missing or wrong: this engine takes authenticated frames only",
			     now_ms);
		return false;
	}
	if (unlikely(ctx->replay != NULL)) {
		/* a valid MAC says who made the frame, not that it is new */
		enum tw_replay_verdict rv = tw_replay_check(ctx->replay, fv->mac.p, fv->mac.len,
							    peer->ip, peer->port, fv->sent_us,
							    fv->retransmits, now_ms);

		if (rv != TW_REPLAY_NEW && rv != TW_REPLAY_RETRANSMIT) {
			tw_cnt_add(ctx, TW_CNT_frames_refused_replay, 1);
			/* with cookies: a captured frame, maybe sent from a forged address */
			refuse_whole(ctx, peer, fv->frame_id, payload_len, TW_NACK_ACCESS_REFUSED,
				     rv == TW_REPLAY_REPLAYED ? "frame replayed"
				     : rv == TW_REPLAY_STALE ? "frame outside the replay window"
				     : "replay table full",
				     rv == TW_REPLAY_REPLAYED
					     ? "frame replayed: this signed frame was taken before"
				     : rv == TW_REPLAY_STALE
					     ? "frame sent_us missing or outside the replay window "
					       "(clocks must agree)"
					     : "too many signed frames in the replay window: "
					       "send again later",
				     now_ms);
			return false;
		}
	}
	/*
	 * Source cookies: a frame whose source has not proved it receives at
	 * its address (a valid MAC proves more, with --keys) is refused whole,
	 * nothing of it run, so the engine sends it at most what it sent.
	 */
	if (unlikely(ctx->cookie != NULL) && ctx->keys == NULL &&
	    !source_proven(ctx, fv, peer, payload_len, now_ms))
		return false;
	/* a probe: nothing to do but answer (with a cookie), as small as it */
	if (unlikely(fv->n_tasks == 0 && !fv->has_subscribe && !fv->has_cancel &&
		     !fv->has_heartbeat && fv->n_acks == 0)) {
		tw_unverified_answer_probe(ctx, peer, fv->frame_id, payload_len, now_ms);
		return false;
	}
	/* a remote consumer's subscribe, cancel, heartbeat or acks (tw_consumers.h) */
	if (unlikely(fv->has_subscribe || fv->has_cancel || fv->has_heartbeat || fv->n_acks != 0)) {
		if (ctx->consumers != NULL)
			tw_consumers_frame(ctx, rt, fv, peer);
		else
			tw_consumers_forward(ctx, frame);
	}
	return true;
}

/*
 * A member of a group (group_id set): its group must be open and be its
 * publisher's. @return true if the task was answered here (a retransmit
 * of a finished group's member, or another publisher's group); else *bad
 * says why it is not acceptable (NULL: it is).
 */
static bool
member_answered(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv, const struct tw_peer *peer,
		uint32_t key_id, const char **bad)
{
	bool finished, foreign;

	*bad = tw_workflow_member_check(tv, peer, key_id, &finished, &foreign);
	if (finished) {
		/* a member retransmitted after its group finished */
		tw_cnt_add(ctx, TW_CNT_tasks_duplicate, 1);
		tw_reply_confirm(ctx, tw_reply_to(ctx, peer), tv->id, true, TW_NACK_NONE, NULL);
		return true;
	}
	if (unlikely(foreign)) {
		/* another publisher's group: it would change that group's result */
		tw_cnt_add(ctx, TW_CNT_wf_member_refused, 1);
		tw_cnt_add(ctx, TW_CNT_nack_access_refused, 1);
		tw_reply_confirm(ctx, tw_reply_to(ctx, peer), tv->id, false, TW_NACK_ACCESS_REFUSED,
				 *bad);
		return true;
	}
	if (*bad != NULL)
		tw_cnt_add(ctx, TW_CNT_wf_unknown_group, 1);
	return false;
}

static uint32_t
dispatch_frame(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_route_burst *rb,
	       struct rte_mbuf *frame, uint64_t now, uint64_t now_ms, bool events)
{
	struct tw_frame_view fv;
	struct tw_peer peer;
	uint32_t dest[TW_MAX_ROUTE_DESTS];
	uint32_t payload_len, routed = 0;
	const uint8_t *payload = tw_parse_payload(frame, &payload_len);
	struct tw_frame_refs refs = { frame, 0, 0 };
	enum tw_wire_status st = tw_wire_decode_frame(payload, payload_len, &fv, ctx->views,
						      TW_FRAME_MAX_TASKS);

	tw_reply_peer_of(frame, &peer);
	/*
	 * A retransmitting publisher's tasks meet the duplicate table of the
	 * io lcore that owns its source (tw_steer.h), before anything of the
	 * frame is checked or answered here: the owner does it all. (Counted
	 * as a frame there, not here.)
	 */
	if (unlikely(ctx->n_io > 1) && st == TW_WIRE_OK && fv.retransmits && fv.n_tasks != 0) {
		uint16_t owner = tw_steer_owner(&peer, ctx->n_io);

		if (owner != ctx->io_index) {
			tw_steer_forward(ctx, frame, owner);
			return 0;
		}
	}
	tw_cnt_add(ctx, TW_CNT_rx_frames, 1);
	if (!admit_frame(ctx, rt, frame, st, payload, payload_len, &fv, &peer, now_ms))
		return 0;
	/*
	 * Per-task confirms go into the lcore's reply stream: tw_reply_to() at
	 * each (a settle may have switched the stream to another peer).
	 */
	tw_cnt_add(ctx, TW_CNT_tasks_received, fv.n_tasks);
	/*
	 * A retransmitted frame is checked against the duplicate table, which
	 * must not see an earlier frame's task still pending: it would be
	 * confirmed again as taken while its queue may yet refuse it.
	 * (Pending tasks here are all of earlier frames: this frame's views
	 * are not needed.)
	 */
	if (unlikely(fv.retransmits) && rb->n_pending != 0)
		routed += settle(ctx, rt, rb, NULL, events);

	for (uint32_t i = 0; i < fv.n_tasks; i++) {
		const struct tw_task_view *tv = &ctx->views[i];
		const char *bad = tw_route_invalid_task(tv), *detail = NULL;
		struct tw_journal_hold hold = { 0, 0 };
		struct tw_dedup_entry *dd = NULL;
		uint32_t verdict, gen = 0;
		int n_dest;

		refs.left = fv.n_tasks - i;
		/* a task boundary: room for the next task's descriptors and its pending record */
		if (unlikely(tw_route_burst_full(rb)))
			routed += settle(ctx, rt, rb, events ? ctx->views : NULL, events);
		if (fv.retransmits && bad == NULL && ctx->dedup != NULL &&
		    resend_duplicate(ctx, tw_reply_to(ctx, &peer), &peer, tv))
			continue;
		if (unlikely(tv->workflow) && bad == NULL && tv->group_id != 0 &&
		    tv->group_size == 0 && member_answered(ctx, tv, &peer, fv.key_id, &bad))
			continue;
		if (unlikely(tv->group_size != 0)) {
			uint64_t jseq;

			/* a group node: opens its group and stashes its members; not routed */
			bad = tw_workflow_group_open(ctx, rt, tv, &peer, fv.key_id, &jseq);
			if (bad == NULL) {
				routed++;
				/* journaled (members on a durable queue): the ACK waits for
				 * the record to be on disk (held, or NACKed if it is lost) */
				if (jseq == 0 || !tw_journal_hold_duplicate(ctx, jseq, tv->id, &peer))
					tw_reply_confirm(ctx, tw_reply_to(ctx, &peer), tv->id, true,
							 TW_NACK_NONE, NULL);
				continue;
			}
			if (bad == tw_wf_journal_refused) {
				tw_cnt_add(ctx, TW_CNT_nack_no_resources, 1);
				tw_reply_confirm(ctx, tw_reply_to(ctx, &peer), tv->id, false,
						 TW_NACK_NO_RESOURCES, bad);
				continue;
			}
		}
		if (bad != NULL) {
			tw_cnt_add(ctx, TW_CNT_nack_invalid_task, 1);
			tw_reply_confirm(ctx, tw_reply_to(ctx, &peer), tv->id, false,
					 TW_NACK_INVALID_TASK, bad);
			continue;
		}
		n_dest = tw_route_resolve(ctx, rt, tv, peer.ip, false, dest);
		if (n_dest <= 0) {
			verdict = tw_route_refusal(ctx, n_dest, &detail);
		} else {
			uint16_t handler = tw_route_handler(ctx, tv);

			/* remembered before the hand-off: a worker may finish it at once */
			if (fv.retransmits && ctx->dedup != NULL) {
				bool waiting = false;

				dd = tw_dedup_insert(ctx->dedup, peer.ip, peer.port, tv->id, &gen,
						     &waiting);
				if (unlikely(waiting))
					tw_cnt_add(ctx, TW_CNT_dedup_evicted_waiting, 1);
			}
			if (tv->eta_ms > now_ms) {
				verdict = schedule(ctx, &refs, tv, &peer, handler, now);
			} else {
				verdict = tw_route_deliver(ctx, rt, rb, &refs, tv, (uint16_t)i, &peer,
							   handler, dest, n_dest, now, dd, gen, &hold,
							   &detail);
				if (verdict == TW_ROUTE_PENDING)
					continue; /* concluded when the burst is settled */
			}
			if (verdict == TW_NACK_NONE)
				routed++;
			else if (dd != NULL)
				tw_dedup_refused(dd, gen, (uint8_t)verdict); /* its retransmit too */
		}
		conclude(ctx, tv, tv->id, &peer, verdict,
			 detail != NULL ? detail : tw_route_verdict_detail(verdict), events, &hold, dd,
			 gen);
	}
	/* events need this frame's views: its conclusions now, while they are valid */
	if (events)
		routed += settle(ctx, rt, rb, ctx->views, events);
	tw_frame_ref_finish(&refs);
	return routed;
}

uint32_t
tw_dispatch_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct rte_mbuf **v,
		  uint16_t n)
{
	uint64_t now = rte_rdtsc();
	uint64_t now_ms = tw_unix_ms(ctx, now);
	uint32_t routed = 0;
	/* once per burst: whether conclusions wait for the burst's end must not change midway */
	const bool events = tw_events_on(ctx);
	struct tw_route_burst rb;

	tw_route_burst_init(&rb);
	for (uint16_t i = 0; i < n; i++)
		routed += dispatch_frame(ctx, rt, &rb, v[i], now, now_ms, events);
	routed += settle(ctx, rt, &rb, NULL, events);
	tw_route_burst_end(ctx, &rb);
	/* Every descriptor took its own reference; release the stage's. */
	tw_drop_burst(ctx, TW_CNT_frames_released, v, n);
	tw_route_cache_counters(ctx);
	return routed;
}
