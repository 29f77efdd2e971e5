/*
 * The broker's counters as clients see them: per-queue and per-exchange
 * sums over the polling lcores' stats in shared memory, made relative to
 * the object's declaration (a reused slot starts at zero), and the
 * per-queue publish/deliver rates.
 *
 * Threads: any thread that may read the broker (each lcore counter has one
 * writer and is read relaxed here); tw_broker_sample_rates() writes the
 * broker's rate fields, so it has the broker's caller's exclusion.
 */
#ifndef TW_BROKER_COUNTERS_H
#define TW_BROKER_COUNTERS_H

#include <stdint.h>

#include "tw_broker.h"

struct tw_broker_queue_counts {
	uint64_t published, delivered, rejected, completed, dropped, expired;
	uint64_t dead_lettered, nack_no_resources;
	uint64_t redelivered;      /* remote consumers' deliveries put back (lease, loss, requeue) */
};

/** Per-exchange counters of a slot, summed over the polling lcores (absolute). */
void tw_broker_exchange_sums(const struct tw_shared *sh, uint32_t slot, uint64_t *published,
			     uint64_t *routed, uint64_t *unroutable);

/** Per-queue counters summed over the polling lcores (absolute, not relative to base). */
void tw_broker_queue_sums(const struct tw_shared *sh, uint32_t slot, struct tw_broker_queue_counts *c);

/** The same, since the queue was declared. */
void tw_broker_queue_counts(const struct tw_shared *sh, uint32_t slot, struct tw_broker_queue_counts *c);

/** Update per-queue publish/deliver rates (tasks/s) at most once a second. */
void tw_broker_sample_rates(struct tw_broker *b, uint64_t now_ms);

#endif
