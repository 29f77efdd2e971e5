/*
 * Source steering between io lcores: every frame of a retransmitting
 * publisher is dispatched by one io lcore, the owner of its source (IP
 * address and UDP port), whichever RX queue it came in on.
 *
 * Why: the duplicate table (tw_dedup.h) is per io lcore, and a port need
 * not keep one source on one RX queue (a TAP device steers a flow to the
 * queue the engine last sent it on: a result sent by a worker lcore moves
 * it). A retransmit reaching an io lcore whose table never saw the task
 * would run it twice. Owner = a hash of the source modulo the io lcores:
 * a pure function of the frame, so every io lcore agrees without sharing
 * anything, and a frame is never handed on twice.
 *
 * Only frames that ask for duplicate suppression (Frame.retransmits, with
 * tasks) move: they are decoded where they arrive (the flag is in the
 * frame), handed whole through a single-producer, single-consumer ring
 * per pair of io lcores (no lock, no atomic read-modify-write), and
 * dispatched by the owner as if its own RX queue had taken them (MAC,
 * replay and cookie checks there). Other frames (consumers' acks and
 * heartbeats, publishers that do not retransmit, probes) stay where they
 * arrive.
 */
#ifndef TW_STEER_H
#define TW_STEER_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "tw_lcore.h"
#include "tw_routes.h"

#define TW_STEER_RING 1024           /* frames from one io lcore waiting for another */

/** The index (0 .. n_io - 1) of the io lcore that owns peer's frames. */
static inline uint16_t
tw_steer_owner(const struct tw_peer *peer, uint16_t n_io)
{
	/* a 64-bit mix of address and port (murmur3's finalizer): sources that
	 * differ in one bit of the port spread over all io lcores */
	uint64_t h = ((uint64_t)peer->ip << 16) ^ peer->port;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint16_t)((h >> 16) % n_io);
}

/**
 * Hand frame m to io lcore `owner` (counted steered; a full ring drops it,
 * counted drop_steer_full: the publisher retransmits it).
 * Ownership: borrows m (takes a reference of its own for the ring).
 * Threads: an io lcore other than owner.
 */
void tw_steer_forward(struct tw_lcore_ctx *ctx, struct rte_mbuf *m, uint16_t owner);

/**
 * Hand the fragments of a burst (tw_reasm.h) that another io lcore owns
 * to it: a message's pieces must meet in one reassembly table, whichever
 * RX queue each came in on. @return frames left in v, in order.
 * Ownership: takes the fragments handed on. Threads: an io lcore, with
 * several io lcores in the plan.
 */
uint16_t tw_steer_fragments(struct tw_lcore_ctx *ctx, struct rte_mbuf **v, uint16_t n);

/**
 * Dispatch the frames other io lcores handed over (up to TW_BURST from
 * each). @return how many.
 * Threads: the io lcore that owns them, once per pass.
 */
uint32_t tw_steer_receive(struct tw_lcore_ctx *ctx, const struct tw_routes *rt);

/**
 * At stop: release what is still waiting in this lcore's rings.
 * Threads: the io lcore, after its last pass.
 */
void tw_steer_drain(struct tw_lcore_ctx *ctx);

#endif
