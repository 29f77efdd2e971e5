/*
 * Dropping a stage's packets on a polling lcore: count why, then free in
 * bulk, so no drop is silent. It is not the only place the data plane
 * frees an mbuf: a single frame the engine built itself and could not
 * send is freed where that fails (a records frame the ring refused, an
 * overflowing reply, each counted there; a handler's publish that did not
 * fit a frame or the stash, reported to the handler as a 0 return, the
 * full stash counted).
 */
#ifndef TW_DROP_H
#define TW_DROP_H

#include <rte_mbuf.h>

#include "tw_lcore.h"

/**
 * Count n packets under `reason` and free them.
 * Ownership: takes all n. Threads: the calling polling lcore.
 */
static inline void
tw_drop_burst(struct tw_lcore_ctx *ctx, enum tw_counter reason, struct rte_mbuf **v, uint16_t n)
{
	if (n == 0)
		return;
	tw_cnt_add(ctx, reason, n);
	rte_pktmbuf_free_bulk(v, n);
}

#endif
