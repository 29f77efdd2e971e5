/*
 * Source steering between io lcores (see tw_steer.h). Runs on io lcores:
 * the one a frame arrived on hands it on, its owner dispatches it. Owns
 * nothing between calls but the ring references of frames in flight.
 */
#include <rte_ring.h>

#include "tw_dispatch.h"
#include "tw_drop.h"
#include "tw_parse.h"
#include "tw_reasm.h"
#include "tw_reply.h"
#include "tw_steer.h"

void
tw_steer_forward(struct tw_lcore_ctx *ctx, struct rte_mbuf *m, uint16_t owner)
{
	struct rte_ring *r = owner < ctx->n_io ? ctx->steer_out[owner] : NULL;

	/* the ring's own reference: the dispatch stage releases the frame after its burst */
	rte_mbuf_refcnt_update(m, 1);
	if (unlikely(r == NULL || rte_ring_sp_enqueue(r, m) != 0)) {
		/* the publisher retransmits what is not confirmed */
		tw_drop_burst(ctx, TW_CNT_drop_steer_full, &m, 1);
		return;
	}
	tw_cnt_add(ctx, TW_CNT_steered, 1);
}

uint16_t
tw_steer_fragments(struct tw_lcore_ctx *ctx, struct rte_mbuf **v, uint16_t n)
{
	uint16_t out = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = v[i];
		struct tw_peer peer;
		uint32_t len;
		const uint8_t *p = tw_parse_payload(m, &len);
		uint16_t owner;

		if (likely(!tw_reasm_maybe_fragment(p, len))) {
			v[out++] = m;
			continue;
		}
		tw_reply_peer_of(m, &peer);
		owner = tw_steer_owner(&peer, ctx->n_io);
		if (owner == ctx->io_index) {
			v[out++] = m;
			continue;
		}
		tw_steer_forward(ctx, m, owner);
		rte_pktmbuf_free(m); /* the ring holds a reference of its own */
	}
	return out;
}

uint32_t
tw_steer_receive(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct rte_mbuf *v[TW_BURST];
	uint32_t total = 0;

	for (uint16_t i = 0; i < ctx->n_steer_in; i++) {
		/* (an empty ring is one load: the common case) */
		unsigned n = rte_ring_sc_dequeue_burst(ctx->steer_in[i], (void **)v, TW_BURST, NULL);

		/* this lcore owns their source: dispatched here, never handed on
		 * again (fragments first put together, in this lcore's table) */
		uint16_t nf = n != 0 ? tw_reasm_burst(ctx, v, (uint16_t)n) : 0;

		if (nf != 0)
			tw_dispatch_burst(ctx, rt, v, nf);
		total += n;
	}
	return total;
}

void
tw_steer_drain(struct tw_lcore_ctx *ctx)
{
	struct rte_mbuf *m;

	/* bounded by the rings' sizes */
	for (uint16_t i = 0; i < ctx->n_steer_in; i++)
		while (rte_ring_sc_dequeue(ctx->steer_in[i], (void **)&m) == 0)
			tw_drop_burst(ctx, TW_CNT_frames_released, &m, 1);
}
