/*
 * A hierarchical timing wheel for tw-control's scheduler: ETA, countdown
 * and retry tasks wait here until they are due. Millions may be pending,
 * so insert, cancel and expire are O(1) per timer and the timer record is
 * the caller's: a struct tw_wheel_node embedded in it, no allocation per
 * timer.
 *
 * Time is counted in ticks of tick_us from the wheel's start. A timer due
 * at due_us belongs to the first tick boundary at or after due_us and
 * fires at the first advance that reaches that boundary: never early, and
 * at most one tick plus the caller's advance interval late. TW_WHEEL_LEVELS levels of 256 slots each cover 2^40
 * ticks (3.5 years at 100 us); a timer further out waits on an overflow
 * list that is looked at again when the top level wraps. Occupancy
 * bitmaps let an advance jump straight to the next non-empty slot, so an
 * idle gap of a year costs a handful of steps, not 3 x 10^11.
 *
 * Ownership: the wheel owns only itself; nodes stay the caller's, and a
 * pending node must not be freed or reused before it fires or is
 * cancelled. Threads: one thread (tw-control's scheduler); no locks, no
 * atomics. fire callbacks run on that thread, inside tw_wheel_advance().
 */
#ifndef TW_WHEEL_H
#define TW_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#define TW_WHEEL_LEVELS 5
#define TW_WHEEL_SLOT_BITS 8
#define TW_WHEEL_SLOTS (1u << TW_WHEEL_SLOT_BITS)

/*
 * Cascading work (moving timers from a coarse slot to finer ones) per
 * advance call is capped at max(TW_WHEEL_MOVES_MIN, max * TW_WHEEL_MOVES_PER_FIRE)
 * moves, so that one slot holding millions of timers (an hour of ETAs
 * spread from now lands half in one level-3 slot) is re-filed over
 * several calls instead of stalling one. A move is about one cache miss
 * on the timer's record: ~100-300 ns on the shared 2-core VM
 * perf/tw_wheel_bench.c was run on, so the cap for max = 1024 (8192
 * moves) is a 1-3 ms call there; it scales with memory latency.
 */
#define TW_WHEEL_MOVES_MIN 4096u
#define TW_WHEEL_MOVES_PER_FIRE 8u

/*
 * Embedded in the caller's record. Zero it (or use TW_WHEEL_NODE_INIT)
 * before its first tw_wheel_add(); after that the wheel keeps it
 * consistent. next == NULL means not pending.
 */
struct tw_wheel_node {
	struct tw_wheel_node *next, *prev;  /* wheel-owned while pending */
	uint64_t due_us;                    /* as given to tw_wheel_add(); read-only to the caller */
	uint32_t level_slot;                /* wheel-owned: which list the node is on */
};

#define TW_WHEEL_NODE_INIT { NULL, NULL, 0, 0 }

struct tw_wheel;
struct tw_alloc_ops;

/** Called by tw_wheel_advance() for each due node; see there for what it may do. */
typedef void tw_wheel_fire_fn(void *arg, struct tw_wheel_node *n);

/** Counters since creation, for benchmarks and status. */
struct tw_wheel_stats {
	uint64_t added;      /* tw_wheel_add() calls */
	uint64_t fired;      /* fire callbacks made */
	uint64_t cancelled;  /* tw_wheel_cancel() calls on a pending node */
	uint64_t moved;      /* cascade moves: a timer re-filed to a finer slot or re-examined on overflow */
};

/**
 * Create an empty wheel.
 * @param tick_us resolution in microseconds (e.g. 100); > 0.
 * @param now_us the wheel's start, on any monotonic microsecond clock;
 *   every later time passed in uses the same clock.
 * @return the wheel, or NULL with errno set: EINVAL (tick_us is 0), ENOMEM.
 * Ownership: the caller owns the wheel; free it with tw_wheel_free().
 * Threads: any; touches nothing shared.
 */
struct tw_wheel *tw_wheel_create(uint32_t tick_us, uint64_t now_us);

/**
 * tw_wheel_create() with its memory from ops (NULL: libc), so tests can
 * inject allocation failures.
 * @param ops zalloc/free/arg; copied, but ops->arg must stay valid until
 *   tw_wheel_free(), which returns the memory through ops->free.
 * @return as tw_wheel_create().
 * Ownership: as tw_wheel_create(); borrows ops for the call.
 * Threads: any.
 */
struct tw_wheel *tw_wheel_create_ops(uint32_t tick_us, uint64_t now_us, const struct tw_alloc_ops *ops);

/**
 * Free the wheel. Pending nodes are not touched: they are the caller's,
 * and their links are left dangling (zero a node before adding it to
 * another wheel).
 * @param w the wheel, or NULL (a no-op).
 * Ownership: takes w. Threads: the wheel's thread.
 */
void tw_wheel_free(struct tw_wheel *w);

/**
 * Schedule n to fire at the first tw_wheel_advance() that reaches the
 * first tick boundary at or after due_us. A due_us at or before the
 * wheel's current tick fires at the next advance call. Adding a node that
 * is already pending reschedules it. O(1).
 * @param w the wheel.
 * @param n the caller's node; zeroed or previously used on this wheel.
 * @param due_us the time it is due, on the wheel's clock.
 * Ownership: borrows n until it fires or is cancelled; the caller keeps
 *   the memory and must keep it valid until then.
 * Threads: the wheel's thread, including from inside a fire callback.
 */
void tw_wheel_add(struct tw_wheel *w, struct tw_wheel_node *n, uint64_t due_us);

/**
 * Remove n without firing it. O(1). A no-op if n is not pending (already
 * fired, already cancelled, or never added).
 * @param w the wheel n was added to.
 * @param n the node.
 * Ownership: borrows n; once this returns the wheel no longer refers to it.
 * Threads: the wheel's thread, including from inside a fire callback.
 */
void tw_wheel_cancel(struct tw_wheel *w, struct tw_wheel_node *n);

/**
 * @return true while n is added and has neither fired nor been cancelled.
 * False inside n's own fire callback.
 * Ownership: borrows n. Threads: the wheel's thread.
 */
bool tw_wheel_pending(const struct tw_wheel_node *n);

/**
 * Advance the wheel to now_us and call fire(arg, node) once for every
 * pending node whose tick has come, tick by tick: every node with due_us
 * at or before the last tick boundary at or before now_us. So a node
 * never fires before due_us, and one with due_us <= now_us inside the
 * current tick waits for that tick's end (one tick at most; a caller
 * sleeping until tw_wheel_next_due() wakes exactly then).
 * Before fire is called the node is no longer pending, so fire may re-add
 * it, free it, or add and cancel other nodes. A node re-added from fire
 * with a due time at or before the current tick fires on the next call,
 * not this one, so a zero-period timer cannot spin here.
 *
 * Work per call is bounded: at most max fires, and at most
 * max(TW_WHEEL_MOVES_MIN, max * TW_WHEEL_MOVES_PER_FIRE) cascade moves.
 * What is left over is done by the next call, first. So a call that
 * returns max, or after which tw_wheel_next_due() <= now_us, left work
 * behind: call again (a caller that sleeps until tw_wheel_next_due()
 * does so without thinking about it). now_us going backwards is treated
 * as no time passing.
 *
 * @param w the wheel.
 * @param now_us the current time on the wheel's clock.
 * @param fire called for each due node; must not call tw_wheel_advance()
 *   or tw_wheel_free() on this wheel.
 * @param arg passed to fire.
 * @param max the most fires to make (> 0; UINT32_MAX for no bound).
 * @return the number of fires made, <= max.
 * Ownership: each fired node goes back to the caller as fire is called.
 * Threads: the wheel's thread.
 */
uint32_t tw_wheel_advance(struct tw_wheel *w, uint64_t now_us, tw_wheel_fire_fn *fire, void *arg,
			  uint32_t max);

/**
 * @return the number of pending nodes. O(1).
 * Ownership: borrows w. Threads: the wheel's thread.
 */
uint64_t tw_wheel_count(const struct tw_wheel *w);

/**
 * When to call tw_wheel_advance() next: the time of the tick boundary at
 * which the earliest pending node fires, never later than that. Exact
 * unless nodes were cancelled from the earliest non-empty slot, in which
 * case it may be earlier (waking early costs one empty advance). Left-over
 * work from a bounded advance makes it the wheel's current time, i.e.
 * "now". O(levels) bitmap words, no list walks.
 * @return a time on the wheel's clock, or UINT64_MAX if nothing is pending.
 * Ownership: borrows w. Threads: the wheel's thread.
 */
uint64_t tw_wheel_next_due(const struct tw_wheel *w);

/**
 * Copy the wheel's counters into st.
 * Ownership: borrows both. Threads: the wheel's thread.
 */
void tw_wheel_get_stats(const struct tw_wheel *w, struct tw_wheel_stats *st);

#endif
