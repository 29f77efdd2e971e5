/*
 * A queue's ring that grows as it is used: a chain of rte_rings
 * ("segments"). A queue starts with one small segment; a producer that
 * finds the newest segment full while the queue is below its max-length
 * appends a larger one (twice the size, at most TW_QSEG_MAX tasks) taken
 * from a pool of spare segments, and goes on there. Consumers take from
 * the oldest segment first, then the newer ones. The owner (the broker,
 * in tw-control) retires the oldest segment once it is empty and no
 * producer can still reach it (a grace period after the chain moved past
 * it), and gives it back to the pool after a second grace period (no
 * consumer still reads it). 65,536 queues of the default max-length as
 * full-size rings would take 32 GB; as chains they take what they hold.
 *
 * Why a chain and not one ring swapped for a bigger one: a swap must move
 * the waiting tasks to the new ring, and producers keep enqueueing into
 * the old one until a grace period has passed, so either the tasks'
 * order breaks or producers wait. A chain needs no copy and no wait: the
 * new segment is linked once (a CAS on the full segment's next pointer:
 * set once, never changed, so no ABA) and the old one drains in place.
 * Appending takes no allocation on the lcore: the spare pool is an MP/MC
 * ring of ready segments per size, refilled by the owner off the hot path.
 *
 * Order: a producer appends only when its own segment is full, so its
 * tasks stay in order; tasks of different io lcores racing with an append
 * may interleave across the boundary, as they may within one segment.
 * Max-length: while the segments' capacities add up to no more than the
 * max-length, the rings themselves bound the queue (the common case, no
 * counting); beyond, a producer counts the chain before it enqueues, so
 * the bound is exact for one producer and may be passed by what other
 * producers enqueue at the same moment (at most a burst each).
 *
 * Memory: segments and the chain head live in DPDK's shared heap
 * (rte_zmalloc): tw-dataplane and tw-control map it at the same address,
 * so the pointers are valid in both. No memzone is used (their number is
 * capped by RTE_MAX_MEMZONE).
 *
 * Threads: enqueue from any number of lcores (MP), dequeue from any number
 * (MC), both between two RCU quiescent states of the caller (lcores), or
 * from the owner's thread; tw_qring_count likewise; tw_qring_peek and
 * tw_qring_memory from the owner's thread only.
 *
 * Why it is lock-free and loses nothing:
 *  - a producer reaches a segment only through the tail it loads
 *    (acquire), and the tail moves only forward (CAS from a segment to
 *    its next); next is set once per segment (CAS from NULL), so no ABA:
 *    a segment is reset for reuse only after it left the chain and two
 *    grace periods passed;
 *  - the owner unlinks the oldest segment (head, release) only when the
 *    tail has moved past it, a grace period has passed since (every
 *    producer that still held it as its tail has left its pass) and it is
 *    empty (rte_ring_count counts claimed-but-not-yet-taken tasks too, so a
 *    consumer in mid-dequeue keeps it); consumers that loaded the old head
 *    only find it empty and follow its next, which stays valid until the
 *    second grace period has passed;
 *  - an append that loses the CAS gives its spare back; one that finds
 *    no spare refuses the task as a full queue would (counted), never
 *    waits.
 */
#ifndef TW_QRING_H
#define TW_QRING_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_ring.h>

#define TW_QSEG_FIRST 64u        /* tasks of a queue's first segment (its max-length if less) */
#define TW_QSEG_MAX 65536u       /* tasks of the largest segment */
#define TW_QSEG_CLASSES 10       /* spare segments of (128 << c) - 1 tasks: 127 .. 65,535 */
#define TW_QSEG_FIRST_CLASS 0xffu /* a queue's first segment: freed, never pooled */

struct tw_qseg {
	/* the newer segment: NULL until a producer appends one (CAS, once) */
	struct tw_qseg *next;
	uint32_t capacity;           /* tasks it holds */
	uint8_t cls;                 /* spare class, or TW_QSEG_FIRST_CLASS */
	/* owner only: a grace period started when the chain moved past it;
	 * found empty as the chain's only segment on the last visit */
	uint8_t passed;
	uint8_t idle;
	uint64_t token;
	struct rte_ring ring __rte_cache_aligned; /* MP/MC, its slots follow */
};

struct tw_qring {
	struct tw_qseg *head;        /* oldest segment still read: the owner advances it (release) */
	struct tw_qseg *tail;        /* a segment producers fill (acquire; CAS forward) */
	uint32_t max_length;         /* tasks over all segments */
	uint32_t cap_total;          /* capacities of the chain's segments: atomic adds */
	uint32_t n_segs;             /* segments in the chain (atomic adds) */
	uint32_t unused;
} __rte_cache_aligned;

/* Spare segments by size class (in tw_shared): filled by the owner, taken by producers. */
struct tw_qspares {
	struct rte_ring *free[TW_QSEG_CLASSES]; /* MP/MC rings of struct tw_qseg * */
	uint64_t starved[TW_QSEG_CLASSES];      /* appends that found no spare (atomic adds) */
	uint64_t appended;                      /* segments appended by producers (atomic adds) */
};

/* Slow paths (tw_qring.c): the newest segment was full, or the chain is longer. */
unsigned tw_qring_enqueue_more(struct tw_qring *qr, struct tw_qspares *sp, void *const *objs,
			       unsigned n, unsigned k);
unsigned tw_qring_dequeue_more(struct tw_qseg *s, void **objs, unsigned n, unsigned k);

/**
 * Tasks waiting over the whole chain (a snapshot: producers and
 * consumers may move it meanwhile). Bounded by the chain's segments.
 */
static inline uint32_t
tw_qring_count(const struct tw_qring *qr)
{
	const struct tw_qseg *s = __atomic_load_n(&qr->head, __ATOMIC_ACQUIRE);
	uint32_t n = 0;

	/* acquire: pairs with the release CAS of the appending producer */
	for (; s != NULL; s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE))
		n += rte_ring_count(&s->ring);
	return n;
}

/**
 * Enqueue up to n objects, growing the chain if the newest segment fills
 * while the queue is below its max-length.
 * Ownership: takes-first-k (the return value); the caller keeps [k, n).
 * Threads: any producer (MP).
 */
static inline unsigned
tw_qring_enqueue_burst(struct tw_qring *qr, struct tw_qspares *sp, void *const *objs, unsigned n)
{
	/* acquire: pairs with the release CAS that moved the tail */
	struct tw_qseg *t = __atomic_load_n(&qr->tail, __ATOMIC_ACQUIRE);
	unsigned k = 0;

	/* the segments cannot hold more than the max-length: no count needed */
	if (likely(__atomic_load_n(&qr->cap_total, __ATOMIC_RELAXED) <= qr->max_length)) {
		k = rte_ring_mp_enqueue_burst(&t->ring, objs, n, NULL);
		if (likely(k == n))
			return k;
	}
	return tw_qring_enqueue_more(qr, sp, objs, n, k);
}

static inline bool
tw_qring_enqueue(struct tw_qring *qr, struct tw_qspares *sp, void *obj)
{
	return tw_qring_enqueue_burst(qr, sp, &obj, 1) == 1;
}

/**
 * Dequeue up to n objects, oldest segment first.
 * Ownership: the caller owns what is returned. Threads: any consumer (MC).
 */
static inline unsigned
tw_qring_dequeue_burst(struct tw_qring *qr, void **objs, unsigned n)
{
	/* acquire: pairs with the owner's release when it retires a segment */
	struct tw_qseg *s = __atomic_load_n(&qr->head, __ATOMIC_ACQUIRE);
	unsigned k = rte_ring_mc_dequeue_burst(&s->ring, objs, n, NULL);

	if (likely(k == n) || likely(__atomic_load_n(&s->next, __ATOMIC_RELAXED) == NULL))
		return k;
	return tw_qring_dequeue_more(s, objs, n, k);
}

static inline bool
tw_qring_dequeue(struct tw_qring *qr, void **obj)
{
	return tw_qring_dequeue_burst(qr, obj, 1) == 1;
}

/**
 * Call fn on up to max waiting objects, oldest first, without taking
 * them (a snapshot for listings: the objects may be taken meanwhile; the
 * owner's thread only, which alone frees segments). @return how many.
 */
uint32_t tw_qring_peek(const struct tw_qring *qr, uint32_t max, void (*fn)(void *arg, void *obj),
		       void *arg);

/** Bytes of shared memory the chain takes now (its head and segments). Owner's thread. */
uint64_t tw_qring_memory(const struct tw_qring *qr);

#endif
