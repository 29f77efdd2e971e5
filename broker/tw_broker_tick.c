/*
 * The broker's housekeeping of queues' growing rings, and what queues
 * take of shared memory: see tw_broker.h (tw_broker_tick,
 * tw_broker_queue_memory). The broker's caller, never a polling lcore.
 */
#include <rte_malloc.h>

#include "tw_broker.h"
#include "tw_broker_counters.h"

/* Queues whose chains are looked at per tick: 65,536 live queues are
 * scanned in a few ticks, each a few hundred microseconds at most. */
#define TICK_QUEUES 8192

static void
retire_queue(struct tw_broker *b, struct tw_queue_slot *qs)
{
	tw_qring_retire(qs->ring, b->sh->qsbr, &b->limbo);
	for (unsigned p = 0; p < qs->max_priority; p++)
		tw_qring_retire(qs->levels[p], b->sh->qsbr, &b->limbo);
}

void
tw_broker_tick(struct tw_broker *b)
{
	struct tw_shared *sh = b->sh;
	uint32_t s = b->tick_slot;

	if (sh == NULL || sh->qsbr == NULL)
		return;
	tw_qspares_refill(&sh->qspares);
	/* bounded: TICK_QUEUES slots, from where the last tick stopped */
	for (uint32_t k = 0; k < TICK_QUEUES; k++, s = (s + 1) % TW_MAX_QUEUES) {
		struct tw_queue_slot *qs = sh->queues[s];

		/* only a grown chain has anything to retire (or to shrink back) */
		if (qs != NULL && (__atomic_load_n(&qs->ring->n_segs, __ATOMIC_RELAXED) > 1 ||
				   qs->ring->head->cls != TW_QSEG_FIRST_CLASS || qs->max_priority != 0))
			retire_queue(b, qs);
	}
	b->tick_slot = s;
	tw_qlimbo_release(&b->limbo, &sh->qspares, sh->qsbr);
}

uint64_t
tw_broker_queue_memory(const struct tw_broker *b, uint32_t slot)
{
	const struct tw_queue_slot *qs = b->sh->queues[slot];
	uint64_t m;

	if (qs == NULL)
		return 0;
	m = sizeof(*qs) + tw_qring_memory(qs->ring) +
	    tw_broker_qcnt_block_size(b->sh) / TW_SLOT_BLOCK;
	for (unsigned p = 0; p < qs->max_priority; p++)
		m += tw_qring_memory(qs->levels[p]);
	return m;
}

uint64_t
tw_broker_queues_memory(const struct tw_broker *b)
{
	uint64_t m = 0;

	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++)
		if (b->sh->queues[s] != NULL)
			m += tw_broker_queue_memory(b, s) -
			     tw_broker_qcnt_block_size(b->sh) / TW_SLOT_BLOCK;
	for (uint32_t i = 0; i < RTE_DIM(b->sh->qcnt); i++)
		m += b->sh->qcnt[i] != NULL ? tw_broker_qcnt_block_size(b->sh) : 0;
	for (uint32_t i = 0; i < RTE_DIM(b->sh->xcnt); i++)
		m += b->sh->xcnt[i] != NULL ? tw_broker_xcnt_block_size(b->sh) : 0;
	return m;
}
