/*
 * Fragmented sends (see tw_frag_tx.h). One large buffer per frame, held
 * only while its fragments are written; each fragment is one reply packet
 * with the frame's frame_id (so a client can match a fragment refusal to
 * its frame) and a message id of this lcore's.
 */
#include <rte_mbuf.h>

#include "tw_drop.h"
#include "tw_frag_tx.h"
#include "tw_fragment.h"
#include "tw_reasm.h"
#include "tw_reply.h"

bool
tw_frag_fits(const struct tw_lcore_ctx *ctx, uint32_t len)
{
	return ctx->big != NULL && len <= ctx->big->max_frame;
}

/* Cut the len bytes of the frame in big into fragments to peer, then free big. */
static bool
send_fragments(struct tw_lcore_ctx *ctx, const struct tw_peer *peer, uint64_t frame_id,
	       struct rte_mbuf *big, uint32_t len)
{
	const uint8_t *whole = tw_bigbuf_payload(big);
	uint32_t count = tw_frag_count(len, TW_FRAG_CHUNK);
	uint64_t msg_id = ++ctx->frag_seq;
	bool ok = true;

	if (msg_id == 0)
		msg_id = ++ctx->frag_seq;
	/* bounded by the frame: max_frame / TW_FRAG_CHUNK fragments */
	for (uint32_t i = 0; i < count && ok; i++) {
		struct tw_reply r;

		tw_reply_open(&r, peer, frame_id);
		ok = tw_reply_reserve(ctx, &r, TW_FRAG_CHUNK + TW_FRAG_OVERHEAD - TW_FRAG_TX_HEADER);
		if (ok) {
			tw_frag_put_body(&r.w, msg_id, whole, len, TW_FRAG_CHUNK, i);
			r.n_entries = 1;
			tw_reply_close(ctx, &r);
			tw_cnt_add(ctx, TW_CNT_frag_sent, 1);
		}
	}
	rte_pktmbuf_free(big);
	return ok;
}

static struct rte_mbuf *
big_for(struct tw_lcore_ctx *ctx, uint32_t len, struct tw_wbuf *w, uint64_t frame_id)
{
	uint32_t charge;
	struct rte_mbuf *big = tw_frag_fits(ctx, len) ? tw_bigbuf_alloc(ctx->big, len, &charge)
						      : NULL;

	if (big == NULL) {
		tw_cnt_add(ctx, TW_CNT_frag_send_failed, 1);
		return NULL;
	}
	tw_wbuf_init(w, tw_bigbuf_payload(big), len);
	tw_wire_put_header(w, frame_id);
	return big;
}

bool
tw_frag_send_record(struct tw_lcore_ctx *ctx, const struct tw_peer *peer, uint64_t frame_id,
		    const struct tw_wire_result *res)
{
	uint32_t len = TW_FRAG_TX_HEADER + tw_wire_record_size(res);
	struct tw_wbuf w;
	struct rte_mbuf *big = big_for(ctx, len, &w, frame_id);

	if (big == NULL)
		return false;
	tw_wire_put_record(&w, res);
	if (w.overflow) {
		tw_drop_burst(ctx, TW_CNT_drop_reply_overflow, &big, 1);
		return false;
	}
	tw_cnt_add(ctx, TW_CNT_results_sent, 1);
	return send_fragments(ctx, peer, frame_id, big, w.len);
}

bool
tw_frag_send_deliver(struct tw_lcore_ctx *ctx, const struct tw_peer *peer,
		     const struct tw_wire_deliver *d)
{
	uint32_t len = TW_FRAG_TX_HEADER + tw_wire_deliver_size(d);
	struct tw_wbuf w;
	struct rte_mbuf *big = big_for(ctx, len, &w, 0);

	if (big == NULL)
		return false;
	tw_wire_put_deliver(&w, d);
	if (w.overflow) {
		tw_drop_burst(ctx, TW_CNT_drop_reply_overflow, &big, 1);
		return false;
	}
	return send_fragments(ctx, peer, 0, big, w.len);
}
