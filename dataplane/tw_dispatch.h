/*
 * Dispatch stage (the router, io role): decode each frame, route every
 * task through the current routing table to its queue rings, and confirm
 * each task to its publisher (ACK, or NACK with a reason).
 */
#ifndef TW_DISPATCH_H
#define TW_DISPATCH_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "tw_lcore.h"
#include "tw_routes.h"

/**
 * Dispatch a burst of frames from tw_parse_burst().
 * @param rt  the routing table this pass runs under (may be NULL: no
 *   table published yet, every task is unroutable).
 * @return number of tasks enqueued on queue rings.
 * Ownership: takes all n frames. Each enqueued descriptor holds its own
 *   reference on its frame; the stage drops its reference before returning.
 * Threads: the io (or run-to-completion) lcore.
 */
uint32_t tw_dispatch_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
			   struct rte_mbuf **v, uint16_t n);

/**
 * Dispatch frames the engine made itself (tw-control's due tasks and
 * retries, tasks published by handlers): routed the same way, never
 * confirmed, never scheduled again; a task no queue takes gets a FAILURE
 * result (to its publisher, if it has one, and to the result store).
 * Ownership and threads: as tw_dispatch_burst().
 */
uint32_t tw_dispatch_injected_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
				    struct rte_mbuf **v, uint16_t n);

/**
 * Fill descriptor t for task view tv of frame (its frame reference taken
 * by the caller): what routing a publisher's task sets; the caller sets
 * the queue's part (queue_slot, expiry). Journal recovery uses it too.
 */
void tw_dispatch_fill_task(struct tw_lcore_ctx *ctx, struct tw_task *t, struct rte_mbuf *frame,
			   const struct tw_task_view *tv, const struct tw_peer *peer,
			   uint16_t handler, uint64_t now);

#endif
