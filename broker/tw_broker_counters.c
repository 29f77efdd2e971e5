/*
 * The broker's counters: see tw_broker_counters.h. Sums read each polling
 * lcore's stats relaxed (one writer per counter, tw_shared.h); a snapshot
 * may be a little behind an lcore, never torn.
 */
#include <string.h>

#include <rte_common.h>

#include "tw_broker_counters.h"

void
tw_broker_exchange_sums(const struct tw_shared *sh, uint32_t slot, uint64_t *published,
		  uint64_t *routed, uint64_t *unroutable)
{
	*published = *routed = *unroutable = 0;
	for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++) {
		const struct tw_lcore_stats *st = &sh->stats[i];

		*published += __atomic_load_n(&st->x_published[slot], __ATOMIC_RELAXED);
		*routed += __atomic_load_n(&st->x_routed[slot], __ATOMIC_RELAXED);
		*unroutable += __atomic_load_n(&st->x_unroutable[slot], __ATOMIC_RELAXED);
	}
}

void
tw_broker_queue_sums(const struct tw_shared *sh, uint32_t slot, struct tw_broker_queue_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++) {
		const struct tw_lcore_stats *st = &sh->stats[i];

		c->published += __atomic_load_n(&st->q_published[slot], __ATOMIC_RELAXED);
		c->delivered += __atomic_load_n(&st->q_delivered[slot], __ATOMIC_RELAXED);
		c->rejected += __atomic_load_n(&st->q_rejected[slot], __ATOMIC_RELAXED);
		c->completed += __atomic_load_n(&st->q_completed[slot], __ATOMIC_RELAXED);
		c->dropped += __atomic_load_n(&st->q_dropped[slot], __ATOMIC_RELAXED);
		c->expired += __atomic_load_n(&st->q_expired[slot], __ATOMIC_RELAXED);
		c->dead_lettered += __atomic_load_n(&st->q_dead_lettered[slot], __ATOMIC_RELAXED);
		c->nack_no_resources +=
			__atomic_load_n(&st->q_nack_no_resources[slot], __ATOMIC_RELAXED);
		c->redelivered += __atomic_load_n(&st->q_redelivered[slot], __ATOMIC_RELAXED);
	}
}

void
tw_broker_queue_counts(const struct tw_shared *sh, uint32_t slot, struct tw_broker_queue_counts *c)
{
	const struct tw_queue_slot *qs = &sh->queues[slot];

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

		if (b->sh->queues[s].ring == NULL)
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
