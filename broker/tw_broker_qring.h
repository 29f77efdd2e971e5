/*
 * The owner's side of queues' growing rings (tw_qring.h): creating and
 * destroying chains, keeping the pool of spare segments stocked, and
 * retiring the drained oldest segments of grown chains. Allocation is
 * rte_zmalloc in DPDK's shared heap (valid in both processes), never a
 * memzone.
 *
 * Threads: the broker's caller (one at a time), never a polling lcore.
 */
#ifndef TW_BROKER_QRING_H
#define TW_BROKER_QRING_H

#include <stdint.h>

#include "tw_qring.h"

struct rte_rcu_qsbr;

/* Segments retired from chains, waiting for a grace period before reuse. */
struct tw_qlimbo {
	uint32_t n, cap;
	struct tw_qlimbo_item {
		struct tw_qseg *s;
		uint64_t token;
	} *v;
};

/**
 * A chain of one segment of min(max_length, TW_QSEG_FIRST) tasks.
 * @return it, or NULL (out of shared memory).
 * Ownership: the caller owns it; free with tw_qring_destroy().
 */
struct tw_qring *tw_qring_create(uint32_t max_length);

/** Free the chain and its segments (empty, and unreachable from any lcore). */
void tw_qring_destroy(struct tw_qring *qr);

/**
 * Create the pool's rings and its first stock (tw-dataplane at start,
 * before its lcores run). @return 0 or -ENOMEM.
 */
int tw_qspares_init(struct tw_qspares *sp);

/** Top the pool up to its stock (more for classes producers found empty). Bounded per call. */
void tw_qspares_refill(struct tw_qspares *sp);

/**
 * Retire what a grown chain no longer needs: its oldest segments once the
 * tail has moved past them, a grace period has passed since (no producer
 * still fills them) and they are empty; they then wait in limbo for a
 * second grace period (no consumer still reads them). A chain of one
 * grown segment found empty twice in a row gets a first-size segment
 * after it, so the big one retires too. Never blocks.
 * @return 0, or -ENOMEM (nothing lost: tried again on the next call).
 */
int tw_qring_retire(struct tw_qring *qr, struct rte_rcu_qsbr *qsbr, struct tw_qlimbo *l);

/** Give limbo's segments whose grace period has passed back to the pool (or free them). */
void tw_qlimbo_release(struct tw_qlimbo *l, struct tw_qspares *sp, struct rte_rcu_qsbr *qsbr);

/** Free everything in limbo now (no lcore runs any more). */
void tw_qlimbo_free(struct tw_qlimbo *l);

#endif
