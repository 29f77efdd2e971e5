/*
 * Private to libtw_broker: what the model (tw_broker.c), its publication
 * (tw_broker_publish.c) and definitions import share.
 * Threads: the broker's one caller at a time (tw_broker.h).
 */
#ifndef TW_BROKER_PRIV_H
#define TW_BROKER_PRIV_H

#include <stdint.h>

#include "tw_broker.h"

struct tw_qring;

/** Write err (printf-style) and return code (a negative errno), for `return tw_broker_fail(...)`. */
int tw_broker_fail(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));


/**
 * Make the model live: build a routing table from it, publish it (RCU),
 * free the old table after the grace period. A grace period that times
 * out (an lcore stuck, or the primary gone) leaks the old table, counted
 * in leaked_tables, and still returns 0: the new table is live.
 * @param dead  a deleted queue's slot (unlinked from tw_shared.queues):
 *              its rings are drained and freed, and it, once no lcore can
 *              see them; or NULL. Not freed if the grace period timed out.
 * @param discarded  if not NULL, incremented by the tasks drained from dead.
 * @return 0, or -errno if no table could be built (nothing published).
 */
int tw_broker_publish(struct tw_broker *b, struct tw_queue_slot *dead,
		      uint64_t *discarded, char *err);

/**
 * tw_broker_publish(), or inside a batch (tw_broker_batch_begin) only
 * keep dead's rings for the batch's one publish.
 */
int tw_broker_publish_or_defer(struct tw_broker *b, struct tw_queue_slot *dead,
			       uint64_t *discarded, char *err);

/**
 * Release every task still in a ring (unreachable from the lcores, or
 * being purged: the ring is multi-consumer). @return how many.
 */
uint64_t tw_broker_drain_ring(struct tw_broker *b, struct tw_qring *r);

/** Drain a dead queue's rings, free them and its slot. @return the tasks dropped. */
uint64_t tw_broker_queue_free(struct tw_broker *b, struct tw_queue_slot *qs);

#endif
