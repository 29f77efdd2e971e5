/*
 * The workflow emitter: see tw_wf_emit.h. Runs on the polling lcore whose
 * open frame and stash it fills; allocates from mempools only.
 */
#include <inttypes.h>
#include <stdio.h>

#include "tw_drop.h"
#include "tw_inject.h"
#include "tw_reasm.h"
#include "tw_route.h"
#include "tw_wf_emit.h"

static inline bool
same_peer(const struct tw_peer *a, const struct tw_peer *b)
{
	return a->ip == b->ip && a->port == b->port && rte_is_same_ether_addr(&a->mac, &b->mac);
}

/*
 * Move the open frame, if it holds steps, to the stash. @return false if
 * the stash is full: the frame stays open with its steps (they are routed
 * once the stash has room), and the step that needed a new frame is
 * refused by its caller.
 */
static bool
out_finish(struct tw_lcore_ctx *ctx)
{
	struct tw_wf_out *o = &ctx->wf_out;
	struct tw_inject_peer peer = { .mac = o->peer.mac, .ip = o->peer.ip, .port = o->peer.port };

	if (o->m == NULL || o->n == 0)
		return true;
	if (tw_route_stash_room(ctx) == 0) {
		tw_cnt_add(ctx, TW_CNT_made_stash_full, 1);
		return false;
	}
	tw_inject_finish(o->m, &peer, &ctx->our_mac, ctx->our_ip, ctx->our_port, o->w.len);
	tw_route_stash(ctx, o->m);
	o->m = NULL;
	o->n = 0;
	return true;
}

void
tw_workflow_close_frame(struct tw_lcore_ctx *ctx)
{
	struct tw_wf_out *o = &ctx->wf_out;

	/* opened for a step that went elsewhere (a large buffer) or was refused:
	 * back to the pool, not held by the lcore until its next step */
	if (o->m != NULL && o->n == 0) {
		tw_drop_burst(ctx, TW_CNT_frames_released, &o->m, 1);
		o->m = NULL;
		return;
	}
	out_finish(ctx);
}

void
tw_workflow_discard_frame(struct tw_lcore_ctx *ctx)
{
	struct tw_wf_out *o = &ctx->wf_out;

	if (o->m == NULL)
		return;
	tw_drop_burst(ctx, TW_CNT_frames_released, &o->m, 1);
	o->m = NULL;
	o->n = 0;
}

void
tw_wf_em_init(struct tw_wf_emitter *em, struct tw_lcore_ctx *ctx, const struct tw_peer *peer)
{
	em->ctx = ctx;
	em->peer = *peer;
	em->why = NULL;
	em->short_of_room = false;
	em->too_large = false;
}

static bool
refuse(struct tw_wf_emitter *em, const char *why, bool short_of_room)
{
	em->why = why;
	em->short_of_room = short_of_room;
	em->too_large = false;
	return false;
}

static bool
open_frame(struct tw_wf_emitter *em)
{
	struct tw_wf_out *o = &em->ctx->wf_out;

	o->m = rte_pktmbuf_alloc(em->ctx->mbuf_pool);
	if (o->m == NULL)
		return false;
	tw_wbuf_init(&o->w, tw_inject_payload(o->m), tw_inject_room(o->m));
	tw_wire_put_header(&o->w, 0);
	o->n = 0;
	return true;
}

#define STASH_FULL "the lcore's stash of engine-made frames is full"

/*
 * The most frame bytes one step can take (a bound, not its size): the
 * frame's header, the step's tag and length, its signature, the ids it
 * gets, and its args (composed past all that first, then moved down).
 */
static uint64_t
step_bound(struct tw_str sig, const struct tw_task_view *sv, const struct tw_wf_fields *f)
{
	uint64_t args = f->has_args ? f->args_len
				    : (f->has_result ? (uint64_t)f->result_len + 8 : 0) + sv->args.len;

	return 32 + 1 + 5 + sig.len + 64 + 6 + args;
}

/*
 * A step too large for one packet buffer (kB of args, or a large result
 * passed on) goes alone into a frame of its own in a large buffer: the
 * preallocated pools publishers' fragmented frames are reassembled into,
 * so nothing is allocated here. None free is a refusal the caller turns
 * into the workflow's FAILURE (counted wf_big_refused).
 */
static bool
big_step(struct tw_wf_emitter *em, struct tw_str sig, const struct tw_task_view *sv,
	    const struct tw_wf_fields *f)
{
	struct tw_lcore_ctx *ctx = em->ctx;
	struct tw_inject_peer peer = { .mac = em->peer.mac, .ip = em->peer.ip,
				       .port = em->peer.port };
	uint64_t need = step_bound(sig, sv, f);
	struct rte_mbuf *m;
	struct tw_wbuf w;
	uint32_t room;

	if (ctx->big == NULL || need > ctx->big->max_frame) {
		snprintf(em->why_buf, sizeof(em->why_buf),
			 "a step of %" PRIu64 " bytes is over the largest frame (%u bytes, --max-frame)",
			 need, ctx->big != NULL ? ctx->big->max_frame : TW_INJECT_ROOM_MAX);
		refuse(em, em->why_buf, false);
		em->too_large = true;
		return false;
	}
	/* the steps before it go first; it takes a place of its own in the stash */
	if (!out_finish(ctx) || tw_route_stash_room(ctx) == 0)
		return refuse(em, STASH_FULL, true);
	m = tw_bigbuf_alloc(ctx->big, (uint32_t)need, &room);
	if (m == NULL) {
		tw_cnt_add(ctx, TW_CNT_wf_big_refused, 1);
		snprintf(em->why_buf, sizeof(em->why_buf),
			 "no large buffer free for a step of %" PRIu64 " bytes (--reasm-memory-mb)",
			 need);
		return refuse(em, em->why_buf, true);
	}
	tw_wbuf_init(&w, tw_bigbuf_payload(m), room);
	tw_wire_put_header(&w, 0);
	if (!tw_wf_put_step(&w, sig, sv, f)) {
		/* cannot happen within the bound; refused rather than trusted */
		rte_pktmbuf_free(m);
		return refuse(em, "the step did not fit its large buffer", false);
	}
	tw_inject_finish(m, &peer, &ctx->our_mac, ctx->our_ip, ctx->our_port, w.len);
	tw_route_stash(ctx, m);
	tw_cnt_add(ctx, TW_CNT_wf_steps, 1);
	tw_cnt_add(ctx, TW_CNT_wf_big_steps, 1);
	return true;
}

/*
 * Queue one step (signature sig with fields f): into the open frame, or
 * a large buffer of its own when it does not fit an empty one. Refused
 * (em->why says why) when no buffer is free, when the stash is full or
 * when it fits no frame. @return true if queued.
 */
bool
tw_wf_em_step(struct tw_wf_emitter *em, struct tw_str sig, const struct tw_task_view *sv,
	const struct tw_wf_fields *f)
{
	struct tw_wf_out *o = &em->ctx->wf_out;

	/* a frame answers one publisher: another one's steps start a new frame */
	if (o->m != NULL && o->n != 0 && !same_peer(&o->peer, &em->peer) && !out_finish(em->ctx))
		return refuse(em, STASH_FULL, true);
	for (int attempt = 0; attempt < 2; attempt++) {
		uint32_t saved;

		if (o->m == NULL && !open_frame(em))
			return refuse(em, "no packet buffer free", true);
		if (o->n == 0)
			o->peer = em->peer;
		saved = o->w.len;
		if (o->n < TW_FRAME_MAX_TASKS && tw_wf_put_step(&o->w, sig, sv, f)) {
			o->n++;
			tw_cnt_add(em->ctx, TW_CNT_wf_steps, 1);
			return true;
		}
		o->w.len = saved;
		o->w.overflow = false;
		if (o->n == 0)
			return big_step(em, sig, sv, f); /* alone in a frame and still too large */
		if (!out_finish(em->ctx))
			return refuse(em, STASH_FULL, true);
	}
	return refuse(em, "no packet buffer free", true);
}
