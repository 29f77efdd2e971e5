/*
 * Dispatch stage (io role): decode each frame publishers sent, admit it
 * (MAC, replay window, source cookie, duplicates), hand each task to the
 * route stage (tw_route.h) or to tw-control's scheduler when it is due
 * later, and confirm each task to its publisher with the verdict (ACK, or
 * NACK with a reason). Frames the engine made itself do not come here:
 * the route stage takes them.
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

#endif
