/*
 * Frames larger than one datagram, sent by the engine: a result or a
 * delivery that does not fit is encoded whole into a large buffer
 * (tw_reasm.h) and sent as fragment datagrams (tw_fragment.h) through the
 * lcore's reply packets, then the buffer goes back to its pool.
 *
 * Threads: the calling polling lcore (its TX staging, its mbuf cache).
 */
#ifndef TW_FRAG_TX_H
#define TW_FRAG_TX_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_lcore.h"
#include "tw_wire.h"
#include "tw_wire_consumer.h"

/* Frame header bytes of a reply frame (magic, version, frame_id). */
#define TW_FRAG_TX_HEADER 16u

/**
 * Send a reply frame holding the one Result res to peer, in fragments.
 * @return false if it could not be sent (over --max-frame, no large
 * buffer free, no mbuf: counted).
 */
bool tw_frag_send_record(struct tw_lcore_ctx *ctx, const struct tw_peer *peer, uint64_t frame_id,
			 const struct tw_wire_result *res);

/** The same for a frame holding the one Deliver d. */
bool tw_frag_send_deliver(struct tw_lcore_ctx *ctx, const struct tw_peer *peer,
			  const struct tw_wire_deliver *d);

/** Can a frame of len bytes go out in fragments at all (len within --max-frame)? */
bool tw_frag_fits(const struct tw_lcore_ctx *ctx, uint32_t len);

#endif
