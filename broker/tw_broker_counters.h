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

#include <stddef.h>
#include <stdint.h>

#include "tw_broker.h"

struct tw_broker_queue_counts {
	uint64_t published, delivered, rejected, completed, dropped, expired;
	uint64_t dead_lettered, nack_no_resources;
	uint64_t redelivered;      /* remote consumers' deliveries put back (lease, loss, requeue) */
};

/**
 * Make sure the counter block of a queue (exchange) slot exists before a
 * routing table names the slot (tw_slot_counters.h). @return 0 or -ENOMEM.
 */
int tw_broker_counters_reserve_queue(struct tw_shared *sh, uint32_t slot);
int tw_broker_counters_reserve_exchange(struct tw_shared *sh, uint32_t slot);

/** Bytes of one counter block (for memory reports). */
size_t tw_broker_qcnt_block_size(const struct tw_shared *sh);
size_t tw_broker_xcnt_block_size(const struct tw_shared *sh);

/** The base figures of an exchange slot (its block reserved). */
struct tw_exchange_base *tw_broker_exchange_base(const struct tw_shared *sh, uint32_t slot);

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
