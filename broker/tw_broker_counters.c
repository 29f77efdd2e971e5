/*
 * The broker's counters: see tw_broker_counters.h. Sums read each polling
 * lcore's stats relaxed (one writer per counter, tw_shared.h); a snapshot
 * may be a little behind an lcore, never torn.
 */
#include <errno.h>
#include <string.h>

#include <rte_common.h>
#include <rte_malloc.h>

#include "tw_broker_counters.h"

/* Polling lcores a block has parts for: all of them once the engine has
 * planned them (before any lcore counts); every possible one before. */
static uint32_t
block_lcores(const struct tw_shared *sh)
{
	return sh->n_pollers != 0 && sh->n_pollers <= TW_MAX_LCORES ? sh->n_pollers : TW_MAX_LCORES;
}

size_t
tw_broker_qcnt_block_size(const struct tw_shared *sh)
{
	return sizeof(struct tw_qcnt_block) +
	       sizeof(((struct tw_qcnt_block *)NULL)->lc[0]) * block_lcores(sh);
}

size_t
tw_broker_xcnt_block_size(const struct tw_shared *sh)
{
	return sizeof(struct tw_xcnt_block) +
	       sizeof(((struct tw_xcnt_block *)NULL)->lc[0]) * block_lcores(sh);
}

int
tw_broker_counters_reserve_queue(struct tw_shared *sh, uint32_t slot)
{
	struct tw_qcnt_block **pb = &sh->qcnt[slot / TW_SLOT_BLOCK], *blk;

	if (*pb != NULL)
		return 0;
	blk = rte_zmalloc("tw_qcnt", tw_broker_qcnt_block_size(sh), RTE_CACHE_LINE_SIZE);
	if (blk == NULL)
		return -ENOMEM;
	/* release: pairs with the acquire load of the routing table that first names a slot of it */
	__atomic_store_n(pb, blk, __ATOMIC_RELEASE);
	return 0;
}

int
tw_broker_counters_reserve_exchange(struct tw_shared *sh, uint32_t slot)
{
	struct tw_xcnt_block **pb = &sh->xcnt[slot / TW_SLOT_BLOCK], *blk;

	if (*pb != NULL)
		return 0;
	blk = rte_zmalloc("tw_xcnt", tw_broker_xcnt_block_size(sh), RTE_CACHE_LINE_SIZE);
	if (blk == NULL)
		return -ENOMEM;
	/* release: as for queues */
	__atomic_store_n(pb, blk, __ATOMIC_RELEASE);
	return 0;
}

struct tw_exchange_base *
tw_broker_exchange_base(const struct tw_shared *sh, uint32_t slot)
{
	return &sh->xcnt[slot / TW_SLOT_BLOCK]->base[slot % TW_SLOT_BLOCK];
}

void
tw_broker_exchange_sums(const struct tw_shared *sh, uint32_t slot, uint64_t *published,
		  uint64_t *routed, uint64_t *unroutable)
{
	*published = *routed = *unroutable = 0;
	if (sh->xcnt[slot / TW_SLOT_BLOCK] == NULL)
		return;
	for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++) {
		*published += __atomic_load_n(tw_xcnt(sh, i, slot, TW_XCNT_published), __ATOMIC_RELAXED);
		*routed += __atomic_load_n(tw_xcnt(sh, i, slot, TW_XCNT_routed), __ATOMIC_RELAXED);
		*unroutable += __atomic_load_n(tw_xcnt(sh, i, slot, TW_XCNT_unroutable), __ATOMIC_RELAXED);
	}
}

void
tw_broker_queue_sums(const struct tw_shared *sh, uint32_t slot, struct tw_broker_queue_counts *c)
{
	memset(c, 0, sizeof(*c));
	if (sh->qcnt[slot / TW_SLOT_BLOCK] == NULL)
		return;
	for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++) {
#define X(n) c->n += __atomic_load_n(tw_qcnt(sh, i, slot, TW_QCNT_##n), __ATOMIC_RELAXED);
		TW_QUEUE_COUNTERS(X)
#undef X
	}
}

void
tw_broker_queue_counts(const struct tw_shared *sh, uint32_t slot, struct tw_broker_queue_counts *c)
{
	const struct tw_queue_slot *qs = sh->queues[slot];

	tw_broker_queue_sums(sh, slot, c);
	c->published -= qs->base_published;
	c->delivered -= qs->base_delivered;
	c->rejected -= qs->base_rejected;
	c->completed -= qs->base_completed;
	c->dropped -= qs->base_dropped;
	c->expired -= qs->base_expired;
	c->dead_lettered -= qs->base_dead_lettered;
	c->nack_no_resources -= qs->base_nack_no_resources;
	c->redelivered -= qs->base_redelivered;
}

void
tw_broker_sample_rates(struct tw_broker *b, uint64_t now_ms)
{
	uint64_t dt = now_ms - b->rate_sample_ms;

	if (b->rate_sample_ms != 0 && dt < 1000)
		return;
	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++) {
		struct tw_broker_queue_counts c;

		if (b->sh->queues[s] == NULL)
			continue;
		tw_broker_queue_sums(b->sh, s, &c);
		/* A first sample, or a slot reused since: no rate yet. */
		if (b->rate_sample_ms != 0 && c.published >= b->last_published[s] &&
		    c.delivered >= b->last_delivered[s]) {
			b->publish_rate[s] = (double)(c.published - b->last_published[s]) * 1000.0 / (double)dt;
			b->deliver_rate[s] = (double)(c.delivered - b->last_delivered[s]) * 1000.0 / (double)dt;
		}
		b->last_published[s] = c.published;
		b->last_delivered[s] = c.delivered;
	}
	b->rate_sample_ms = now_ms;
}
