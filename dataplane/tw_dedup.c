/*
 * Duplicate suppression (see tw_dedup.h).
 */
#include <string.h>

#include "tw_dedup.h"

struct tw_dedup_entry *
tw_dedup_find(struct tw_dedup *d, rte_be32_t ip, rte_be16_t port, uint64_t id)
{
	struct tw_dedup_entry *set = d->e[tw_dedup_set(ip, port, id)];

	for (int w = 0; w < TW_DEDUP_WAYS; w++)
		if (set[w].id == id && set[w].peer_ip == ip && set[w].peer_port == port &&
		    tw_dedup_phase(&set[w]) != TW_DEDUP_EMPTY)
			return &set[w];
	return NULL;
}

struct tw_dedup_entry *
tw_dedup_insert(struct tw_dedup *d, rte_be32_t ip, rte_be16_t port, uint64_t id, uint32_t *gen,
		bool *evicted_waiting)
{
	struct tw_dedup_entry *set = d->e[tw_dedup_set(ip, port, id)], *victim = NULL;
	uint32_t st, g, victim_phase = TW_DEDUP_EMPTY;

	/*
	 * An empty way, else the oldest finished (or refused) one, else the
	 * oldest of those still queued or running: a finished task's
	 * retransmit only wants its result again, a waiting one's would run
	 * it twice. Never one a worker is writing into.
	 */
	for (int w = 0; w < TW_DEDUP_WAYS; w++) {
		uint32_t phase = tw_dedup_phase(&set[w]);

		if (phase == TW_DEDUP_WRITING)
			continue;
		if (phase == TW_DEDUP_EMPTY) {
			victim = &set[w];
			victim_phase = phase;
			break;
		}
		if (phase == TW_DEDUP_ROUTED && set[w].nack != 0)
			phase = TW_DEDUP_DONE; /* refused: no result will come */
		if (victim == NULL || (phase == TW_DEDUP_DONE && victim_phase == TW_DEDUP_ROUTED) ||
		    (phase == victim_phase && set[w].seq < victim->seq)) {
			victim = &set[w];
			victim_phase = phase;
		}
	}
	if (victim == NULL)
		return NULL; /* four writers at once: not remembered */
	*evicted_waiting = victim_phase == TW_DEDUP_ROUTED;
	st = __atomic_load_n(&victim->state, __ATOMIC_RELAXED);
	g = (st >> 2) + 1;
	/* a new generation first: a late worker result for the old task is refused */
	__atomic_store_n(&victim->state, (g << 2) | TW_DEDUP_EMPTY, __ATOMIC_RELEASE);
	victim->id = id;
	victim->peer_ip = ip;
	victim->peer_port = port;
	victim->seq = ++d->seq;
	victim->value_len = 0;
	victim->truncated = 0;
	victim->nack = 0;
	victim->jseq = 0;
	__atomic_store_n(&victim->state, (g << 2) | TW_DEDUP_ROUTED, __ATOMIC_RELEASE);
	*gen = g;
	return victim;
}

void
tw_dedup_record(struct tw_dedup_entry *e, uint32_t gen, uint32_t state, const void *bytes,
		uint32_t len, uint64_t runtime_ns)
{
	uint32_t expect = (gen << 2) | TW_DEDUP_ROUTED;

	/* only the first final result of this generation (fanout: several) */
	if (!__atomic_compare_exchange_n(&e->state, &expect, (gen << 2) | TW_DEDUP_WRITING, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	e->result_state = (uint8_t)state;
	e->runtime_ns = runtime_ns;
	e->truncated = len > TW_DEDUP_VALUE_MAX;
	e->value_len = (uint16_t)(e->truncated ? 0 : len);
	if (!e->truncated && len != 0)
		memcpy(e->value, bytes, len);
	/* release: the io lcore reads the bytes after it sees DONE */
	__atomic_store_n(&e->state, (gen << 2) | TW_DEDUP_DONE, __ATOMIC_RELEASE);
}
