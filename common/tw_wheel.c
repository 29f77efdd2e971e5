/*
 * Hierarchical timing wheel: see tw_wheel.h for the contract. Runs on
 * tw-control's scheduler thread; owns only its own struct.
 *
 * Layout. Ticks count from the wheel's start and cur is the current
 * tick. A pending node with expiry tick E > cur is filed at the level of
 * the highest base-256 digit in which E and cur differ, in the slot named
 * by E's digit at that level. So level 0 holds the rest of cur's 256-tick
 * block one tick per slot, level 1 the rest of cur's 65536-tick block 256
 * ticks per slot, and so on; an E outside cur's top-level block (2^40
 * ticks) goes on the overflow list. Every occupied slot at level l has a
 * digit above cur's digit l, so the next thing that can happen is the
 * first set bit of the lowest non-empty level's bitmap, and advance jumps
 * there directly instead of stepping through empty ticks. When cur
 * reaches the start of a slot at level l >= 1, that slot's nodes are
 * re-filed relative to the new cur (a cascade) and land lower; a node
 * moves at most TW_WHEEL_LEVELS times in its life, so expiry stays O(1)
 * amortised. Entering a new top-level block re-files the overflow list.
 *
 * Lists are circular and doubly linked through a sentinel node, so unlink
 * and splice are O(1); a list is only ever walked to fire or re-file it.
 *   slot[l][s]  filed nodes; bit s of occ[l] is set iff the list is
 *               non-empty; the sentinel's due_us holds a lower bound of
 *               the tick of every node in it (for tw_wheel_next_due)
 *   overflow    beyond the top level; ovf_min bounds their ticks
 *   due         added at or before cur: fire at the next advance
 *   moving      spliced out of the slots that cascade at cur, not yet re-filed
 *   firing      due at or before cur, not yet fired
 * Splicing a slot into moving or firing leaves each node's level_slot
 * naming the slot it came from. That is harmless: cancel only uses it to
 * clear the bit of a slot it finds empty, which is right whatever the
 * node's list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tw_routes.h"  /* struct tw_alloc_ops */
#include "tw_wheel.h"

#define LEVEL_BITS (TW_WHEEL_LEVELS * TW_WHEEL_SLOT_BITS)  /* 40: ticks covered by the levels */
#define SLOT_MASK (TW_WHEEL_SLOTS - 1)
#define OCC_WORDS (TW_WHEEL_SLOTS / 64)

/* level_slot values: (level << TW_WHEEL_SLOT_BITS) | slot, or one of these */
enum {
	LOC_OVERFLOW = 0x10000,
	LOC_DUE,
	LOC_MOVING,
	LOC_FIRING,
};

struct tw_wheel {
	uint64_t cur;       /* current tick: every tick <= cur has been entered */
	uint64_t origin;    /* now_us at creation: tick 0 */
	uint64_t count;     /* pending nodes, on any list */
	uint64_t ovf_min;   /* lower bound of the overflow list's ticks */
	/* division by tick_us is on every add and every move: a multiply by
	 * its reciprocal plus one correction, or a shift for a power of two */
	uint64_t tick;
	uint64_t recip;     /* floor((2^64 - 1) / tick); unused when shift >= 0 */
	int shift;          /* log2(tick) if a power of two, else -1 */
	struct tw_alloc_ops ops;
	struct tw_wheel_stats stats;
	uint64_t occ[TW_WHEEL_LEVELS][OCC_WORDS];
	struct tw_wheel_node overflow, due, moving, firing;
	struct tw_wheel_node slot[TW_WHEEL_LEVELS][TW_WHEEL_SLOTS];
};

/* ---- lists ---- */

static void
list_init(struct tw_wheel_node *h)
{
	h->next = h->prev = h;
}

static bool
list_empty(const struct tw_wheel_node *h)
{
	return h->next == h;
}

static void
list_append(struct tw_wheel_node *h, struct tw_wheel_node *n, uint32_t loc)
{
	n->level_slot = loc;
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void
list_unlink(struct tw_wheel_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;  /* not pending */
}

/* Move all of src to the tail of dst, keeping order. */
static void
list_splice_tail(struct tw_wheel_node *dst, struct tw_wheel_node *src)
{
	struct tw_wheel_node *first = src->next, *last = src->prev;

	if (first == src)
		return;
	first->prev = dst->prev;
	dst->prev->next = first;
	last->next = dst;
	dst->prev = last;
	list_init(src);
}

/* ---- time ---- */

static uint64_t
div_tick(const struct tw_wheel *w, uint64_t x, uint64_t *rem)
{
	uint64_t q;

	if (w->shift >= 0) {
		*rem = x & (w->tick - 1);
		return x >> w->shift;
	}
	/* recip <= 2^64 / tick, and more than 2^64 / tick - 1, so q is
	 * floor(x / tick) or one less */
	q = (uint64_t)(((unsigned __int128)x * w->recip) >> 64);
	*rem = x - q * w->tick;
	if (*rem >= w->tick) {
		q++;
		*rem -= w->tick;
	}
	return q;
}

/* The tick a timer due at due_us fires on: the first boundary at or after it. */
static uint64_t
tick_ceil(const struct tw_wheel *w, uint64_t due_us)
{
	uint64_t q, r;

	if (due_us <= w->origin)
		return 0;
	q = div_tick(w, due_us - w->origin, &r);
	return q + (r != 0);
}

/* The last tick boundary at or before now_us. */
static uint64_t
tick_floor(const struct tw_wheel *w, uint64_t now_us)
{
	uint64_t r;

	if (now_us <= w->origin)
		return 0;
	return div_tick(w, now_us - w->origin, &r);
}

/* A tick as a time; saturates below UINT64_MAX, which means "nothing pending". */
static uint64_t
tick_time(const struct tw_wheel *w, uint64_t t)
{
	uint64_t us;

	if (__builtin_mul_overflow(t, w->tick, &us) || __builtin_add_overflow(us, w->origin, &us) ||
	    us == UINT64_MAX)
		return UINT64_MAX - 1;
	return us;
}

/* ---- slots ---- */

static unsigned
digit(uint64_t t, unsigned level)
{
	return (unsigned)(t >> (level * TW_WHEEL_SLOT_BITS)) & SLOT_MASK;
}

static void
occ_set(struct tw_wheel *w, unsigned level, unsigned s)
{
	w->occ[level][s / 64] |= 1ull << (s % 64);
}

static void
occ_clear(struct tw_wheel *w, unsigned level, unsigned s)
{
	w->occ[level][s / 64] &= ~(1ull << (s % 64));
}

/* @return the lowest occupied slot of level, or -1. At most OCC_WORDS loads. */
static int
occ_first(const struct tw_wheel *w, unsigned level)
{
	for (unsigned i = 0; i < OCC_WORDS; i++)
		if (w->occ[level][i] != 0)
			return (int)(i * 64 + (unsigned)__builtin_ctzll(w->occ[level][i]));
	return -1;
}

/* Take slot (level, s) out of the wheel onto the tail of dst. */
static void
slot_take(struct tw_wheel *w, unsigned level, unsigned s, struct tw_wheel_node *dst)
{
	struct tw_wheel_node *h = &w->slot[level][s];

	list_splice_tail(dst, h);
	h->due_us = UINT64_MAX;
	occ_clear(w, level, s);
}

/*
 * File n, which fires on tick e, relative to cur. e <= cur only happens
 * for nodes being re-filed at cur (a cascade reaching their own tick):
 * they are due now.
 */
static void
file(struct tw_wheel *w, struct tw_wheel_node *n, uint64_t e)
{
	uint64_t diff = e ^ w->cur;
	struct tw_wheel_node *h;
	unsigned level, s;

	if (e <= w->cur) {
		list_append(&w->firing, n, LOC_FIRING);
		return;
	}
	level = (63u - (unsigned)__builtin_clzll(diff)) / TW_WHEEL_SLOT_BITS;
	if (level >= TW_WHEEL_LEVELS) {
		list_append(&w->overflow, n, LOC_OVERFLOW);
		if (e < w->ovf_min)
			w->ovf_min = e;
		return;
	}
	s = digit(e, level);
	h = &w->slot[level][s];
	list_append(h, n, (level << TW_WHEEL_SLOT_BITS) | s);
	occ_set(w, level, s);
	if (e < h->due_us)
		h->due_us = e;
}

/*
 * The next tick after cur at which something happens: a level-0 slot
 * fires, a higher slot cascades, or the overflow list is re-filed. Only
 * the lowest non-empty level matters, since everything at level l comes
 * before everything at level l + 1.
 * @return false if nothing is pending in the wheel or on overflow.
 */
static bool
next_event(const struct tw_wheel *w, uint64_t *tick)
{
	for (unsigned l = 0; l < TW_WHEEL_LEVELS; l++) {
		unsigned above = (l + 1) * TW_WHEEL_SLOT_BITS;
		int s = occ_first(w, l);

		if (s >= 0) {
			*tick = (w->cur >> above << above) | ((uint64_t)s << (l * TW_WHEEL_SLOT_BITS));
			return true;
		}
	}
	if (!list_empty(&w->overflow)) {
		uint64_t block = w->cur >> LEVEL_BITS, min_block = w->ovf_min >> LEVEL_BITS;

		if (block + 1 > min_block)
			min_block = block + 1;
		if (min_block > (UINT64_MAX >> LEVEL_BITS))
			return false;  /* past the end of time: cannot come due */
		*tick = min_block << LEVEL_BITS;
		return true;
	}
	return false;
}

/*
 * Make t (an event from next_event()) the current tick: the slots that
 * start at t go to moving to be re-filed, and the level-0 slot for t to
 * firing. Re-filing relative to t never lands a node in a slot taken here
 * (a slot at level l >= 1 needs a digit differing from t's), so one pass
 * over moving is enough, in any order.
 */
static void
enter_tick(struct tw_wheel *w, uint64_t t)
{
	w->cur = t;
	if ((t & ((1ull << LEVEL_BITS) - 1)) == 0 && !list_empty(&w->overflow)) {
		list_splice_tail(&w->moving, &w->overflow);
		w->ovf_min = UINT64_MAX;
	}
	for (unsigned l = TW_WHEEL_LEVELS - 1; l >= 1; l--) {
		unsigned s = digit(t, l);

		if ((t & ((1ull << (l * TW_WHEEL_SLOT_BITS)) - 1)) == 0 && w->slot[l][s].next != &w->slot[l][s])
			slot_take(w, l, s, &w->moving);
	}
	if (!list_empty(&w->slot[0][digit(t, 0)]))
		slot_take(w, 0, digit(t, 0), &w->firing);
}

/* ---- API ---- */

static void *
libc_zalloc(size_t size, void *arg)
{
	(void)arg;
	return calloc(1, size);
}

static void
libc_free(void *p, void *arg)
{
	(void)arg;
	free(p);
}

struct tw_wheel *
tw_wheel_create_ops(uint32_t tick_us, uint64_t now_us, const struct tw_alloc_ops *ops)
{
	static const struct tw_alloc_ops libc_ops = { libc_zalloc, libc_free, NULL };
	struct tw_wheel *w;

	if (tick_us == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (ops == NULL)
		ops = &libc_ops;
	w = ops->zalloc(sizeof(*w), ops->arg);
	if (w == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	w->ops = *ops;
	w->origin = now_us;
	w->tick = tick_us;
	w->shift = (tick_us & (tick_us - 1)) == 0 ? __builtin_ctz(tick_us) : -1;
	w->recip = UINT64_MAX / tick_us;
	w->ovf_min = UINT64_MAX;
	list_init(&w->overflow);
	list_init(&w->due);
	list_init(&w->moving);
	list_init(&w->firing);
	for (unsigned l = 0; l < TW_WHEEL_LEVELS; l++)
		for (unsigned s = 0; s < TW_WHEEL_SLOTS; s++) {
			list_init(&w->slot[l][s]);
			w->slot[l][s].due_us = UINT64_MAX;
		}
	return w;
}

struct tw_wheel *
tw_wheel_create(uint32_t tick_us, uint64_t now_us)
{
	return tw_wheel_create_ops(tick_us, now_us, NULL);
}

void
tw_wheel_free(struct tw_wheel *w)
{
	if (w != NULL)
		w->ops.free(w, w->ops.arg);
}

/* Unlink a pending node from whichever list it is on. */
static void
remove_node(struct tw_wheel *w, struct tw_wheel_node *n)
{
	uint32_t loc = n->level_slot;

	list_unlink(n);
	w->count--;
	if (loc < (TW_WHEEL_LEVELS << TW_WHEEL_SLOT_BITS)) {
		unsigned l = loc >> TW_WHEEL_SLOT_BITS, s = loc & SLOT_MASK;

		if (list_empty(&w->slot[l][s])) {
			occ_clear(w, l, s);
			w->slot[l][s].due_us = UINT64_MAX;
		}
	} else if (loc == LOC_OVERFLOW && list_empty(&w->overflow)) {
		w->ovf_min = UINT64_MAX;
	}
}

void
tw_wheel_add(struct tw_wheel *w, struct tw_wheel_node *n, uint64_t due_us)
{
	uint64_t e;

	if (n->next != NULL)
		remove_node(w, n);  /* reschedule */
	n->due_us = due_us;
	e = tick_ceil(w, due_us);
	if (e <= w->cur)
		list_append(&w->due, n, LOC_DUE);
	else
		file(w, n, e);
	w->count++;
	w->stats.added++;
}

void
tw_wheel_cancel(struct tw_wheel *w, struct tw_wheel_node *n)
{
	if (n->next == NULL)
		return;
	remove_node(w, n);
	w->stats.cancelled++;
}

bool
tw_wheel_pending(const struct tw_wheel_node *n)
{
	return n->next != NULL;
}

/*
 * Each pass of the loop does one of: fire what is due, re-file what a
 * cascade took out, or jump cur to the next event no later than target.
 * Every jump takes at least one node out of the wheel, so the loop runs at
 * most fires + moves + 1 times, both capped.
 */
uint32_t
tw_wheel_advance(struct tw_wheel *w, uint64_t now_us, tw_wheel_fire_fn *fire, void *arg, uint32_t max)
{
	uint64_t target = tick_floor(w, now_us), moves, t;
	uint32_t fired = 0;

	if (target < w->cur)
		target = w->cur;
	moves = (uint64_t)max * TW_WHEEL_MOVES_PER_FIRE;
	if (moves < TW_WHEEL_MOVES_MIN)
		moves = TW_WHEEL_MOVES_MIN;
	/* added past due since the last call; after any leftovers, which are older */
	list_splice_tail(&w->firing, &w->due);
	for (;;) {
		while (fired < max && !list_empty(&w->firing)) {
			struct tw_wheel_node *n = w->firing.next;

			/* the list is a chain of cache misses: start the next while this
			 * one fires (~10% less per expire in perf/tw_wheel_bench.c) */
			__builtin_prefetch(n->next);

			list_unlink(n);
			w->count--;
			fired++;
			fire(arg, n);
		}
		if (fired == max)
			break;
		if (!list_empty(&w->moving)) {
			if (moves == 0)
				break;
			/* bound: the moves budget, checked per node */
			for (; moves > 0 && !list_empty(&w->moving); moves--) {
				struct tw_wheel_node *n = w->moving.next;

				__builtin_prefetch(n->next);  /* as above */

				list_unlink(n);
				file(w, n, tick_ceil(w, n->due_us));
				w->stats.moved++;
			}
			continue;
		}
		if (w->cur >= target)
			break;
		if (!next_event(w, &t) || t > target) {
			w->cur = target;
			break;
		}
		enter_tick(w, t);
	}
	w->stats.fired += fired;
	return fired;
}

uint64_t
tw_wheel_count(const struct tw_wheel *w)
{
	return w->count;
}

uint64_t
tw_wheel_next_due(const struct tw_wheel *w)
{
	if (w->count == 0)
		return UINT64_MAX;
	if (!list_empty(&w->firing) || !list_empty(&w->due) || !list_empty(&w->moving))
		return tick_time(w, w->cur);
	for (unsigned l = 0; l < TW_WHEEL_LEVELS; l++) {
		int s = occ_first(w, l);

		if (s >= 0)
			return tick_time(w, w->slot[l][s].due_us);
	}
	return tick_time(w, w->ovf_min);
}

void
tw_wheel_get_stats(const struct tw_wheel *w, struct tw_wheel_stats *st)
{
	*st = w->stats;
}
