/*
 * Per-queue and per-exchange counters, by slot, in blocks of
 * TW_SLOT_BLOCK slots allocated at the first declare of a slot in the
 * block (the broker, rte_zmalloc: DPDK's shared heap, at the same address
 * in both processes). With 65,536 slots of each, counters for every slot
 * and every polling lcore up front would take ~90 MB; blocks take what
 * the slots used so far need.
 *
 * A block is never freed: counters only grow (a slot taken again reports
 * from the sums at its declaration, its base), and a worker may still
 * count for a slot whose queue was just deleted (a task it holds).
 *
 * Threads: each polling lcore has its own part of a block (whole cache
 * lines: no line holds two lcores' counters), written by that lcore with
 * relaxed stores and summed by readers with relaxed loads. The broker
 * stores a block's pointer (release) before it publishes a routing table
 * naming one of its slots; lcores reach slots only through such a table
 * (acquire), so they never find a block missing.
 */
#ifndef TW_SLOT_COUNTERS_H
#define TW_SLOT_COUNTERS_H

#include <stdint.h>

#include <rte_common.h>

#define TW_SLOT_BLOCK 64

#define TW_QUEUE_COUNTERS(X)                                                                     \
	X(published)                                                                             \
	X(delivered)                                                                             \
	X(rejected)                                                                              \
	X(completed)         /* ran to a result (delivered - completed = in flight) */           \
	X(dropped)           /* dropped from the head (overflow drop-head) */                    \
	X(expired)           /* message TTL passed before a worker took them */                  \
	X(dead_lettered)     /* sent on to the queue's dead-letter exchange */                   \
	X(nack_no_resources) /* NACKed: no task descriptor left for it */                     \
	X(redelivered)       /* remote consumers' deliveries put back (lease, loss, requeue) */

enum tw_qcnt {
#define X(n) TW_QCNT_##n,
	TW_QUEUE_COUNTERS(X)
#undef X
	TW_QCNT__MAX
};

/* tasks published to an exchange, those that reached a queue, those that did not */
#define TW_EXCHANGE_COUNTERS(X) X(published) X(routed) X(unroutable)

enum tw_xcnt {
#define X(n) TW_XCNT_##n,
	TW_EXCHANGE_COUNTERS(X)
#undef X
	TW_XCNT__MAX
};

/* Counter sums when an exchange took its slot (tw-control): figures are
 * reported relative to them, as for queues. */
struct tw_exchange_base {
	uint64_t published, routed, unroutable;
};

struct tw_qcnt_block {
	/*
	 * Args bytes waiting in each queue, for x-max-length-bytes. Added by
	 * the lcore that enqueues, subtracted by the one that dequeues (or by
	 * tw-control when it purges), with atomic adds: the one counter that
	 * producers and consumers share, and only for queues with a byte limit.
	 */
	struct {
		uint64_t bytes;
	} __rte_cache_aligned bytes[TW_SLOT_BLOCK];
	/* one part per polling lcore (tw_shared.n_pollers), by plan index */
	struct {
		uint64_t c[TW_QCNT__MAX][TW_SLOT_BLOCK];
	} lc[];
};

struct tw_xcnt_block {
	struct tw_exchange_base base[TW_SLOT_BLOCK]; /* tw-control's */
	struct {
		uint64_t c[TW_XCNT__MAX][TW_SLOT_BLOCK];
	} __rte_cache_aligned lc[];
};

#endif
