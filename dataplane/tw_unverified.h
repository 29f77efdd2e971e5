/*
 * Replies to sources that have not proved they receive at their address
 * (no valid source cookie, no valid MAC): never more bytes than they sent.
 *
 * A spoofed datagram's reply goes to whoever owns the forged address; if
 * it were larger than the datagram, the engine would multiply an
 * attacker's bandwidth towards a victim. So a frame from such a source is
 * refused whole, with one reply frame of at most the request's UDP
 * payload: its frame id, a frame-level NACK, the cookie that lets the
 * source in when it is genuine (retry-with-cookie), and the NACK's detail
 * only as far as the budget allows. When even that does not fit, nothing
 * is sent (counted). The IP and UDP headers of request and reply are the
 * same size, so the packet is no larger either. Nothing of such a frame
 * runs, so no confirm, result or progress follows it.
 *
 * Threads: the io (or run-to-completion) lcore dispatching the frame.
 */
#ifndef TW_UNVERIFIED_H
#define TW_UNVERIFIED_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_lcore.h"

/**
 * Refuse the frame frame_id from peer with a frame-level NACK reason (and
 * detail, trimmed), in one reply of at most budget payload bytes; with a
 * fresh cookie for peer when with_cookie. @return true if a reply was sent.
 */
bool tw_unverified_refuse(struct tw_lcore_ctx *ctx, const struct tw_peer *peer, uint64_t frame_id,
			  uint32_t budget, uint32_t reason, const char *detail, bool with_cookie,
			  uint64_t now_ms);

/**
 * Answer a probe (a frame with nothing to do: no tasks, no consumer
 * message): its frame id, and a fresh cookie when cookies are on, in at
 * most budget bytes. Clients probe when they start, to have the cookie
 * before their first frame (and to learn the engine is there).
 */
void tw_unverified_answer_probe(struct tw_lcore_ctx *ctx, const struct tw_peer *peer,
				uint64_t frame_id, uint32_t budget, uint64_t now_ms);

#endif
