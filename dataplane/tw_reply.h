/*
 * Reply frames: confirms and results sent back to a publisher. A reply is
 * a stream of entries to one peer; when the current packet has no room
 * for the next entry it is staged for TX and a new one started, so callers
 * never think about frame boundaries.
 *
 * Threads: the calling polling lcore; uses its mbuf pool cache and its TX
 * staging. Nothing is allocated except mbufs from the pool.
 */
#ifndef TW_REPLY_H
#define TW_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "tw_lcore.h"
#include "tw_wire.h"

/* UDP payload that fits a 1500-byte MTU without fragmentation. */
#define TW_REPLY_MAX_PAYLOAD 1472u

/** Start a reply stream to peer, answering frame_id (0 for results). */
static inline void
tw_reply_open(struct tw_reply *r, const struct tw_peer *peer, uint64_t frame_id)
{
	r->m = NULL;
	r->peer = *peer;
	r->frame_id = frame_id;
	r->n_entries = 0;
}

/**
 * Append a Confirm. @return false if it could not be sent (no mbuf;
 * counted), true otherwise.
 */
bool tw_reply_confirm(struct tw_lcore_ctx *ctx, struct tw_reply *r, uint64_t task_id, bool ack,
		      uint32_t reason, const char *detail);

/** Append a Result; error text is used when state is FAILURE. Same return as above. */
bool tw_reply_result(struct tw_lcore_ctx *ctx, struct tw_reply *r, uint64_t task_id,
		     uint32_t state, const uint8_t *value, uint32_t value_len,
		     const char *error, uint32_t error_len, uint64_t runtime_ns);

/** Append a Result with every field of res. Same return as above. */
bool tw_reply_record(struct tw_lcore_ctx *ctx, struct tw_reply *r, const struct tw_wire_result *res);

/**
 * Room for an entry of need bytes that the caller then writes into r->w
 * itself (and counts in r->n_entries): messages other than confirms and
 * results (remote consumers). @return false if it cannot be sent (no
 * mbuf, or larger than a packet; both counted).
 */
bool tw_reply_reserve(struct tw_lcore_ctx *ctx, struct tw_reply *r, uint32_t need);

/** Finish the current packet (if it holds entries) and stage it for TX. */
void tw_reply_close(struct tw_lcore_ctx *ctx, struct tw_reply *r);

/*
 * The lcore's reply stream. Per-task confirms and results name their
 * task, not their frame, so everything this pass owes one publisher
 * shares packets: the confirms of a whole RX burst and, on a
 * run-to-completion lcore, the results that follow them. The stream
 * moves to another publisher by closing the current packet; the loop
 * closes it at the end of every pass, so nothing waits longer than that.
 */
static inline struct tw_reply *
tw_reply_to(struct tw_lcore_ctx *ctx, const struct tw_peer *peer)
{
	struct tw_reply *r = &ctx->out;

	if (ctx->out_open && (r->peer.ip != peer->ip || r->peer.port != peer->port)) {
		tw_reply_close(ctx, r);
		ctx->out_open = false;
	}
	if (!ctx->out_open) {
		tw_reply_open(r, peer, 0);
		ctx->out_open = true;
	}
	return r;
}

/** End of pass: stage what the stream holds. */
static inline void
tw_reply_end_pass(struct tw_lcore_ctx *ctx)
{
	if (ctx->out_open) {
		tw_reply_close(ctx, &ctx->out);
		ctx->out_open = false;
	}
}

/** The peer a received frame came from (addresses as on the wire). */
void tw_reply_peer_of(const struct rte_mbuf *m, struct tw_peer *peer);

#endif
