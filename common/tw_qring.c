/*
 * A queue's growing ring, the paths off the common case: see tw_qring.h.
 * Only inline rte_ring operations are used here (no DPDK library call),
 * so every program that links libtw_common may use it; allocation and
 * retirement of segments are the owner's (broker/tw_broker_qring.c).
 */
#include "tw_qring.h"

/* The spare class of a segment of cap tasks: (128 << c) - 1 >= cap. */
static unsigned
class_of(uint32_t cap)
{
	unsigned c = 0;

	while (c + 1 < TW_QSEG_CLASSES && (128u << c) - 1 < cap)
		c++;
	return c;
}

/*
 * Link a spare segment after t, which a producer found full. Twice t's
 * size (up to TW_QSEG_MAX), or a smaller spare if that size has none
 * left (a smaller segment now beats a refusal). @return false if the
 * pool had nothing: the task is refused as by a full queue, counted in
 * starved, and the owner refills that class.
 */
static bool
append(struct tw_qring *qr, struct tw_qspares *sp, struct tw_qseg *t)
{
	uint32_t want = t->capacity * 2 + 1 > TW_QSEG_MAX ? TW_QSEG_MAX : t->capacity * 2 + 1;
	unsigned c = class_of(want);
	struct tw_qseg *s = NULL, *expect = NULL;

	/* bounded by the classes */
	for (unsigned k = c + 1; k-- > 0;)
		if (sp->free[k] != NULL && rte_ring_mc_dequeue(sp->free[k], (void **)&s) == 0)
			break;
	if (s == NULL) {
		__atomic_fetch_add(&sp->starved[c], 1, __ATOMIC_RELAXED);
		return false;
	}
	s->next = NULL;
	/* release: the segment's ring is initialised before anyone reaches it */
	if (!__atomic_compare_exchange_n(&t->next, &expect, s, false, __ATOMIC_RELEASE,
					 __ATOMIC_RELAXED)) {
		/* another producer appended first: the spare goes back */
		rte_ring_mp_enqueue(sp->free[s->cls], s);
		return true;
	}
	__atomic_fetch_add(&qr->cap_total, s->capacity, __ATOMIC_RELAXED);
	__atomic_fetch_add(&qr->n_segs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sp->appended, 1, __ATOMIC_RELAXED);
	return true;
}

/*
 * Bounded: each round either enqueues into a newer segment or stops; a
 * round appends at most one segment, and a burst is at most a frame's
 * tasks, so a few rounds suffice (the rest is refused as by a full queue).
 */
#define ENQUEUE_ROUNDS 4

unsigned
tw_qring_enqueue_more(struct tw_qring *qr, struct tw_qspares *sp, void *const *objs, unsigned n,
		      unsigned k)
{
	for (unsigned round = 0; k < n && round < ENQUEUE_ROUNDS; round++) {
		struct tw_qseg *t = __atomic_load_n(&qr->tail, __ATOMIC_ACQUIRE), *next;
		unsigned room = n - k;

		if (__atomic_load_n(&qr->cap_total, __ATOMIC_RELAXED) > qr->max_length) {
			uint32_t count = tw_qring_count(qr);

			if (count >= qr->max_length)
				break;
			if (room > qr->max_length - count)
				room = qr->max_length - count;
		}
		k += rte_ring_mp_enqueue_burst(&t->ring, objs + k, room, NULL);
		if (k == n)
			break;
		/* full: go on in the next segment, appending one if none follows */
		next = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE);
		if (next == NULL) {
			if (tw_qring_count(qr) >= qr->max_length || !append(qr, sp, t))
				break;
			next = __atomic_load_n(&t->next, __ATOMIC_ACQUIRE);
		}
		/* release: pairs with the acquire load of the tail; a failed CAS means
		 * another producer moved it already, to next or beyond */
		__atomic_compare_exchange_n(&qr->tail, &t, next, false, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED);
	}
	return k;
}

/*
 * The oldest segment gave fewer than n: go on into the newer ones. A
 * producer moves along the chain only forward (it enqueues into the tail
 * it loaded, and the tail only moves forward), so a task of a newer
 * segment was enqueued after every task of the same producer in the
 * older ones; but a producer that loaded the tail before it moved may
 * still put tasks into an older segment after other producers filled
 * newer ones. So before taking from segment `next`, its count is read
 * (acquire: the tasks counted are visible, and with them every earlier
 * task of their producers) and every older segment is looked at once
 * more; only if all are empty are at most that many taken from `next`.
 * With competing consumers, order between them is as loose as in one
 * ring. Bounded: a chain has at most a few dozen segments (each twice
 * the last, up to TW_QSEG_MAX, while below the max-length).
 */
unsigned
tw_qring_dequeue_more(struct tw_qseg *head, void **objs, unsigned n, unsigned k)
{
	for (struct tw_qseg *last = head, *next; k < n &&
	     (next = __atomic_load_n(&last->next, __ATOMIC_ACQUIRE)) != NULL; last = next) {
		uint32_t avail = __atomic_load_n(&next->ring.prod.tail, __ATOMIC_ACQUIRE) -
				 __atomic_load_n(&next->ring.cons.tail, __ATOMIC_RELAXED);

		for (struct tw_qseg *s = head;; s = s->next) {
			unsigned got = rte_ring_mc_dequeue_burst(&s->ring, objs + k, n - k, NULL);

			/* something older came in: stop here, the rest is for the next call */
			if (got != 0)
				return k + got;
			if (s == last)
				break;
		}
		if ((int32_t)avail < 0) /* consumers moved on since prod.tail was read */
			avail = 0;
		if (avail > n - k)
			avail = n - k;
		k += rte_ring_mc_dequeue_burst(&next->ring, objs + k, avail, NULL);
	}
	return k;
}

uint32_t
tw_qring_peek(const struct tw_qring *qr, uint32_t max, void (*fn)(void *arg, void *obj), void *arg)
{
	uint32_t n = 0;

	for (const struct tw_qseg *s = qr->head; s != NULL && n < max; s = s->next) {
		const struct rte_ring *r = &s->ring;
		uint32_t tail = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
		uint32_t head = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE);
		void *const *slots = (void *const *)(r + 1);

		for (uint32_t i = tail; i != head && n < max; i++, n++)
			fn(arg, slots[i & r->mask]);
	}
	return n;
}

uint64_t
tw_qring_memory(const struct tw_qring *qr)
{
	uint64_t b = sizeof(*qr);

	for (const struct tw_qseg *s = qr->head; s != NULL; s = s->next)
		b += sizeof(*s) + (uint64_t)s->ring.size * sizeof(void *);
	return b;
}
