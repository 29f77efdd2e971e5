/*
 * Queues' growing rings, the owner's side: see tw_broker_qring.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "tw_broker_qring.h"

/* Spares kept per class: small segments are cheap and a burst of new
 * queues takes many; a large one is half a megabyte. */
#define STOCK_SMALL 16
#define STOCK_LARGE 4
#define SMALL_CLASSES 6 /* 128 .. 4,096 tasks */
#define REFILL_MAX 64   /* segments allocated per refill call */

/*
 * A segment of exactly capacity tasks when exact (a short queue's only
 * segment: its max-length), else of a power of two slots (capacity + 1),
 * which wastes no slot array half.
 */
static struct tw_qseg *
seg_alloc(uint32_t capacity, bool exact, uint8_t cls)
{
	uint32_t slots = exact ? rte_align32pow2(capacity + 1) : capacity + 1;
	ssize_t ring = rte_ring_get_memsize_elem(sizeof(void *), slots);
	struct tw_qseg *s;

	if (ring < 0)
		return NULL;
	s = rte_zmalloc("tw_qseg", offsetof(struct tw_qseg, ring) + (size_t)ring, RTE_CACHE_LINE_SIZE);
	if (s == NULL)
		return NULL;
	/* the name only shows in DPDK's dumps: init registers nothing */
	if (rte_ring_init(&s->ring, "tw_qseg", exact ? capacity : slots,
			  exact ? RING_F_EXACT_SZ : 0) != 0) {
		rte_free(s);
		return NULL;
	}
	s->capacity = capacity;
	s->cls = cls;
	return s;
}

struct tw_qring *
tw_qring_create(uint32_t max_length)
{
	struct tw_qring *qr = rte_zmalloc("tw_qring", sizeof(*qr), RTE_CACHE_LINE_SIZE);

	if (qr == NULL)
		return NULL;
	/* a queue longer than the first segment grows: a power of two's slots, less one */
	qr->head = qr->tail = max_length > TW_QSEG_FIRST
				      ? seg_alloc(TW_QSEG_FIRST - 1, false, TW_QSEG_FIRST_CLASS)
				      : seg_alloc(max_length, true, TW_QSEG_FIRST_CLASS);
	if (qr->head == NULL) {
		rte_free(qr);
		return NULL;
	}
	qr->max_length = max_length;
	qr->cap_total = qr->head->capacity;
	qr->n_segs = 1;
	return qr;
}

void
tw_qring_destroy(struct tw_qring *qr)
{
	if (qr == NULL)
		return;
	for (struct tw_qseg *s = qr->head, *next; s != NULL; s = next) {
		next = s->next;
		rte_free(s);
	}
	rte_free(qr);
}

static unsigned
stock(unsigned c)
{
	return c < SMALL_CLASSES ? STOCK_SMALL : STOCK_LARGE;
}

int
tw_qspares_init(struct tw_qspares *sp)
{
	memset(sp, 0, sizeof(*sp));
	for (unsigned c = 0; c < TW_QSEG_CLASSES; c++) {
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "tw_r_qspare%u", c);
		/* room for the stock and the segments retired chains give back */
		sp->free[c] = rte_ring_create(name, 4 * STOCK_SMALL, SOCKET_ID_ANY, 0);
		if (sp->free[c] == NULL)
			return -ENOMEM;
	}
	tw_qspares_refill(sp);
	return 0;
}

void
tw_qspares_refill(struct tw_qspares *sp)
{
	unsigned made = 0;

	for (unsigned c = 0; c < TW_QSEG_CLASSES && made < REFILL_MAX; c++) {
		struct rte_ring *r = sp->free[c];

		if (r == NULL)
			continue;
		/* bounded by the stock and REFILL_MAX */
		while (rte_ring_count(r) < stock(c) && made < REFILL_MAX) {
			struct tw_qseg *s = seg_alloc((128u << c) - 1, false, (uint8_t)c);

			if (s == NULL)
				return; /* out of shared memory: producers find the pool empty, counted */
			if (rte_ring_mp_enqueue(r, s) != 0) {
				rte_free(s);
				break;
			}
			made++;
		}
	}
}

/* Room for one more segment in limbo. @return 0 or -ENOMEM. */
static int
limbo_room(struct tw_qlimbo *l)
{
	uint32_t cap;
	void *p;

	if (l->n < l->cap)
		return 0;
	cap = l->cap ? l->cap * 2 : 64;
	p = realloc(l->v, sizeof(*l->v) * cap);
	if (p == NULL)
		return -ENOMEM;
	l->v = p;
	l->cap = cap;
	return 0;
}

/*
 * A chain of one grown segment, empty on two visits in a row: link a
 * first-size segment after it (as a producer would), so that the big one
 * retires and an idle queue goes back to the memory of a new one.
 */
static int
shrink(struct tw_qring *qr, struct tw_qseg *h)
{
	struct tw_qseg *s, *expect = NULL;

	if (h->cls == TW_QSEG_FIRST_CLASS || rte_ring_count(&h->ring) != 0) {
		h->idle = 0;
		return 0;
	}
	if (!h->idle) {
		h->idle = 1;
		return 0;
	}
	s = seg_alloc(TW_QSEG_FIRST - 1, false, TW_QSEG_FIRST_CLASS);
	if (s == NULL)
		return -ENOMEM;
	/* release: the segment is initialised before a producer reaches it */
	if (!__atomic_compare_exchange_n(&h->next, &expect, s, false, __ATOMIC_RELEASE,
					 __ATOMIC_RELAXED)) {
		rte_free(s); /* a producer appended meanwhile: the queue is busy again */
		return 0;
	}
	__atomic_fetch_add(&qr->cap_total, s->capacity, __ATOMIC_RELAXED);
	__atomic_fetch_add(&qr->n_segs, 1, __ATOMIC_RELAXED);
	/* release: pairs with the producers' acquire load of the tail */
	__atomic_compare_exchange_n(&qr->tail, &h, s, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	return 0;
}

int
tw_qring_retire(struct tw_qring *qr, struct rte_rcu_qsbr *qsbr, struct tw_qlimbo *l)
{
	struct tw_qseg *tail = __atomic_load_n(&qr->tail, __ATOMIC_ACQUIRE), *h;
	uint64_t token = 0;

	if (qr->head->next == NULL)
		return shrink(qr, qr->head);
	/*
	 * Every segment before the tail that is not yet marked: producers
	 * reach it no more from now on; one grace period covers them all.
	 * Bounded by the chain's segments.
	 */
	for (h = qr->head; h != tail; h = h->next)
		if (!h->passed) {
			if (token == 0)
				token = rte_rcu_qsbr_start(qsbr);
			h->token = token;
			h->passed = 1;
		}
	/* oldest first, while they are past their grace period and empty */
	while ((h = qr->head) != tail && h->passed && rte_rcu_qsbr_check(qsbr, h->token, false) == 1 &&
	       rte_ring_count(&h->ring) == 0) {
		if (limbo_room(l) != 0)
			return -ENOMEM;
		/* release: consumers that load the new head see its segment complete */
		__atomic_store_n(&qr->head, h->next, __ATOMIC_RELEASE);
		__atomic_fetch_sub(&qr->cap_total, h->capacity, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&qr->n_segs, 1, __ATOMIC_RELAXED);
		l->v[l->n].s = h;
		l->v[l->n++].token = rte_rcu_qsbr_start(qsbr);
	}
	return 0;
}

void
tw_qlimbo_release(struct tw_qlimbo *l, struct tw_qspares *sp, struct rte_rcu_qsbr *qsbr)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < l->n; i++) {
		struct tw_qseg *s = l->v[i].s;

		if (rte_rcu_qsbr_check(qsbr, l->v[i].token, false) != 1) {
			l->v[kept++] = l->v[i];
			continue;
		}
		/* no one reaches it: empty, reset, and a spare again if its class has room */
		s->next = NULL;
		s->passed = 0;
		s->idle = 0;
		rte_ring_reset(&s->ring);
		if (s->cls >= TW_QSEG_CLASSES || sp->free[s->cls] == NULL ||
		    rte_ring_count(sp->free[s->cls]) >= 2 * stock(s->cls) ||
		    rte_ring_mp_enqueue(sp->free[s->cls], s) != 0)
			rte_free(s);
	}
	l->n = kept;
}

void
tw_qlimbo_free(struct tw_qlimbo *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		rte_free(l->v[i].s);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
