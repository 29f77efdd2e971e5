/*
 * Duplicate suppression for at-least-once publishing: publishers
 * (libtaskwire) retransmit frames whose confirms or results were lost;
 * the io stage remembers the tasks it routed, by (publisher address, task
 * id), so a retransmitted task is confirmed again and, when it has
 * finished, its result is sent again, but it never runs twice. A task
 * that was refused keeps its NACK: a retransmit (a frame goes again whole
 * while any of its tasks waits) is refused again with the same reason and
 * never routed, since its publisher was told it will not run (a queue
 * full then may have room now). The publisher that wants it run
 * publishes it again, under a new id.
 *
 * The window is TW_DEDUP_SETS x TW_DEDUP_WAYS tasks per io lcore; a set
 * forgets its oldest finished task first, and a task still queued or
 * running only when all its ways wait (counted dedup_evicted_waiting): a
 * task retransmitted after it left the window runs again. Each table sees every frame of the sources its
 * lcore owns, whichever RX queue they came in on (tw_steer.h). Results up to TW_DEDUP_VALUE_MAX bytes are kept
 * for re-sending; a larger one is answered with a pointer to the store.
 *
 * Threads: the io lcore owns the table (lookups, inserts, evictions); the
 * worker lcore that finishes a task writes its result into the entry.
 * Both sides go through the entry's state word: (generation << 2) | phase;
 * the worker writes only if the generation is still the one its task was
 * given (compare-and-swap to WRITING), and the io lcore never evicts an
 * entry in WRITING.
 */
#ifndef TW_DEDUP_H
#define TW_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_common.h>

#define TW_DEDUP_SETS 8192
#define TW_DEDUP_WAYS 4
#define TW_DEDUP_VALUE_MAX 400

enum { TW_DEDUP_EMPTY = 0, TW_DEDUP_ROUTED, TW_DEDUP_WRITING, TW_DEDUP_DONE };

struct tw_dedup_entry {
	uint32_t state;          /* (generation << 2) | phase, see above */
	rte_be32_t peer_ip;
	uint64_t id;
	uint64_t seq;            /* insertion order, for eviction */
	rte_be16_t peer_port;
	uint16_t value_len;      /* bytes kept in value (value or error text) */
	uint8_t result_state;    /* TW_ST_* of the final result */
	uint8_t truncated;       /* the result did not fit: not re-sent */
	uint8_t nack;            /* NACK reason a retransmit gets (refused), 0: ACK */
	uint64_t runtime_ns;
	uint64_t jseq;           /* durable: its last journal record (io lcore's seq), 0: none */
	uint8_t value[TW_DEDUP_VALUE_MAX];
};

struct tw_dedup {
	uint64_t seq;
	struct tw_dedup_entry e[TW_DEDUP_SETS][TW_DEDUP_WAYS];
};

/** The set (ip, port, id) lives in: a mix of all three, so one busy source spreads. */
static inline uint32_t
tw_dedup_set(rte_be32_t ip, rte_be16_t port, uint64_t id)
{
	uint64_t h = id ^ ((uint64_t)ip << 16) ^ port;

	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return (uint32_t)h & (TW_DEDUP_SETS - 1);
}

/** @return the entry for (ip, port, id), or NULL. Threads: its io lcore. */
struct tw_dedup_entry *tw_dedup_find(struct tw_dedup *d, rte_be32_t ip, rte_be16_t port,
				     uint64_t id);

/**
 * Remember a routed task. @return its entry and *gen, the generation the
 * worker must present with its result (NULL if every way is being written);
 * *evicted_waiting: the way taken held a task not finished yet.
 * Threads: its io lcore.
 */
struct tw_dedup_entry *tw_dedup_insert(struct tw_dedup *d, rte_be32_t ip, rte_be16_t port,
				       uint64_t id, uint32_t *gen, bool *evicted_waiting);

/**
 * Entry e's task (generation gen) is refused with NACK reason nack: a
 * retransmit is answered with that NACK, not routed again. Call before
 * the task is handed on when the refusal leaves it alive (x-overflow
 * reject-publish-dlx: dead-lettered, a worker may finish it at once);
 * a second call keeps the first reason. Threads: its io lcore.
 */
static inline void
tw_dedup_refused(struct tw_dedup_entry *e, uint32_t gen, uint8_t nack)
{
	/* the io lcore alone writes the generation: a plain read is current;
	 * another generation: evicted and taken by another task already */
	if ((__atomic_load_n(&e->state, __ATOMIC_RELAXED) >> 2) == gen && e->nack == 0)
		e->nack = nack;
}

/**
 * Forget entry e if it still holds generation gen's task and no result
 * came yet (its confirm turned into a NACK after it was routed: a
 * retransmit must be routed again). Threads: its io lcore.
 */
static inline void
tw_dedup_forget_routed(struct tw_dedup_entry *e, uint32_t gen)
{
	uint32_t expect = (gen << 2) | TW_DEDUP_ROUTED;

	__atomic_compare_exchange_n(&e->state, &expect, ((gen + 1) << 2) | TW_DEDUP_EMPTY, false,
				    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

/**
 * Record a final result (value or error text) for re-sending. Does
 * nothing if the entry was reused since (generation changed).
 * Threads: the worker lcore that ran the task.
 */
void tw_dedup_record(struct tw_dedup_entry *e, uint32_t gen, uint32_t state, const void *bytes,
		     uint32_t len, uint64_t runtime_ns);

/** @return the entry's phase (TW_DEDUP_*), reading it with acquire. */
static inline uint32_t
tw_dedup_phase(const struct tw_dedup_entry *e)
{
	/* acquire: pairs with the release in tw_dedup_record(), so a DONE
	 * entry's result bytes are visible */
	return __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) & 3;
}

#endif
