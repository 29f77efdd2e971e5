/*
 * The one place the data plane frees mbufs: count why, then free in bulk.
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
