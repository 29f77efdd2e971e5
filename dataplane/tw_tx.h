/*
 * TX staging for one lcore's own TX queue (one queue per polling lcore, so
 * no lock and no MT-safe TX needed). Packets are staged by the stages and
 * sent in bursts; what the port does not take is dropped and counted.
 */
#ifndef TW_TX_H
#define TW_TX_H

#include <rte_ethdev.h>

#include "tw_drop.h"
#include "tw_lcore.h"

/** Send everything staged. Ownership: the port or tw_drop_burst takes all. */
static inline void
tw_tx_flush(struct tw_lcore_ctx *ctx)
{
	struct tw_txq *q = &ctx->tx;
	uint16_t sent;

	if (q->n == 0)
		return;
	sent = rte_eth_tx_burst(q->port_id, q->queue_id, q->pkts, q->n);
	tw_cnt_add(ctx, TW_CNT_tx_packets, sent);
	tw_drop_burst(ctx, TW_CNT_drop_tx_full, q->pkts + sent, q->n - sent);
	q->n = 0;
}

/** Stage one packet. Ownership: takes m. */
static inline void
tw_tx_one(struct tw_lcore_ctx *ctx, struct rte_mbuf *m)
{
	if (ctx->tx.n == TW_TX_BATCH)
		tw_tx_flush(ctx);
	ctx->tx.pkts[ctx->tx.n++] = m;
}

#endif
