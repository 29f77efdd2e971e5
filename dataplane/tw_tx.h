/*
 * TX staging for one lcore's own TX queue (one queue per polling lcore, so
 * no lock and no MT-safe TX needed). Packets are staged by the stages and
 * sent in bursts. What the port does not take stays staged (the bounded
 * per-lcore stash) and is retried on the next pass; while more than
 * TW_TX_BACKLOG packets wait, the lcore takes no new work (backpressure
 * to the publishers through the RX ring, instead of dropping replies).
 * Only a packet that finds the stash still full after a flush is
 * dropped, and counted.
 */
#ifndef TW_TX_H
#define TW_TX_H

#include <string.h>

#include <rte_ethdev.h>

#include "tw_drop.h"
#include "tw_lcore.h"

/**
 * Send what is staged. Ownership: takes-first-k as rte_eth_tx_burst; the
 * tail stays staged, in order, for the next flush.
 * @return packets still staged.
 */
static inline uint16_t
tw_tx_flush(struct tw_lcore_ctx *ctx)
{
	struct tw_txq *q = &ctx->tx;
	uint16_t sent;

	if (q->n == 0)
		return 0;
	sent = rte_eth_tx_burst(q->port_id, q->queue_id, q->pkts, q->n);
	tw_cnt_add(ctx, TW_CNT_tx_packets, sent);
	if (sent != 0 && sent < q->n)
		memmove(q->pkts, q->pkts + sent, sizeof(q->pkts[0]) * (q->n - sent));
	q->n -= sent;
	return q->n;
}

/** Drop whatever is still staged (the lcore is stopping). */
static inline void
tw_tx_discard(struct tw_lcore_ctx *ctx)
{
	tw_drop_burst(ctx, TW_CNT_drop_tx_full, ctx->tx.pkts, ctx->tx.n);
	ctx->tx.n = 0;
}

/** Stage one packet. Ownership: takes m (dropped, counted, if the port stays full). */
static inline void
tw_tx_one(struct tw_lcore_ctx *ctx, struct rte_mbuf *m)
{
	if (ctx->tx.n == TW_TX_STASH && tw_tx_flush(ctx) == TW_TX_STASH) {
		tw_drop_burst(ctx, TW_CNT_drop_tx_full, &m, 1);
		return;
	}
	ctx->tx.pkts[ctx->tx.n++] = m;
}

#endif
