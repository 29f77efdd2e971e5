/*
 * Unit tests for the timing wheel (common/tw_wheel.c): a randomised run
 * of a million timers across every level, past due and beyond the span,
 * checked for exactly-once, never-early and never-late-by-a-call firing;
 * cancel, re-adding from the fire callback, bounded advances (fires and
 * cascade moves), year-long idle jumps, count/next_due, the end of time,
 * and allocation failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tw_routes.h"  /* struct tw_alloc_ops */
#include "tw_wheel.h"

#define US_PER_S 1000000ull
#define US_PER_DAY (86400ull * US_PER_S)
#define US_PER_YEAR (365ull * US_PER_DAY)

struct rec {
	struct tw_wheel_node node;  /* first: the node is the record */
	uint64_t add_seq;           /* advance calls started before it was added */
	uint32_t fires;
	bool armed;                 /* added and neither fired nor cancelled */
};

static uint64_t
rnd(uint64_t *s)
{
	/* splitmix64: reproducible, no libc state */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform over [0, 2^bits) with bits itself uniform in [0, max_bits]: every level gets its share. */
static uint64_t
rnd_log(uint64_t *s, unsigned max_bits)
{
	unsigned bits = (unsigned)(rnd(s) % (max_bits + 1));

	return bits == 0 ? 0 : rnd(s) & (UINT64_MAX >> (64 - bits));
}

/* When the wheel may fire a timer: the first tick boundary at or after due. */
static uint64_t
fire_time(uint64_t origin, uint64_t tick, uint64_t due)
{
	if (due <= origin)
		return origin;
	return origin + (due - origin + tick - 1) / tick * tick;
}

/* ---- the randomised run ---- */

struct run {
	struct tw_wheel *w;
	struct rec *recs;
	uint32_t n_recs;
	uint64_t origin, tick;
	uint64_t now;            /* the now_us of the call in progress */
	uint64_t seq;            /* advance calls started */
	uint64_t done_now;       /* now_us of the last call that left nothing due */
	uint64_t done_seq;       /* its sequence number */
	uint64_t armed, fires, readds_left, seed;
};

static void
run_arm(struct run *r, struct rec *x, uint64_t due)
{
	if (!x->armed)
		r->armed++;
	x->armed = true;
	x->add_seq = r->seq;
	tw_wheel_add(r->w, &x->node, due);
}

static void
run_fire(void *arg, struct tw_wheel_node *n)
{
	struct run *r = arg;
	struct rec *x = (struct rec *)n;
	uint64_t ft = fire_time(r->origin, r->tick, n->due_us);

	if (!x->armed)
		fail_msg("rec %td fired while not armed", x - r->recs);
	if (n->due_us > r->now)
		fail_msg("rec %td fired early: due %lu, now %lu", x - r->recs, (unsigned long)n->due_us,
			 (unsigned long)r->now);
	/* late by a whole call: it was fireable at a call that finished after it was added */
	if (x->add_seq < r->done_seq && ft <= r->done_now)
		fail_msg("rec %td fired late: fireable at %lu, call at %lu left it", x - r->recs,
			 (unsigned long)ft, (unsigned long)r->done_now);
	assert_false(tw_wheel_pending(n));
	x->armed = false;
	x->fires++;
	r->armed--;
	r->fires++;
	if (r->readds_left > 0 && rnd(&r->seed) % 8 == 0) {
		uint64_t due = r->now - rnd_log(&r->seed, 20) + rnd_log(&r->seed, 44);

		r->readds_left--;
		run_arm(r, x, due);
	}
}

/*
 * Advance to now until nothing due is left, as a caller that sleeps until
 * tw_wheel_next_due() would; max < UINT32_MAX is a bounded caller. A
 * re-add already due defers to the next call, so this may take several.
 */
static void
run_advance(struct run *r, uint64_t now, uint32_t max)
{
	uint32_t got;

	r->now = now;
	do {
		r->seq++;
		got = tw_wheel_advance(r->w, now, run_fire, r, max);
		assert_true(got <= max);
	} while (got == max || (tw_wheel_count(r->w) > 0 && tw_wheel_next_due(r->w) <= now));
	r->done_now = now;
	r->done_seq = r->seq;
	assert_int_equal(tw_wheel_count(r->w), r->armed);
}

/* next_due never later than the earliest pending fire time, and after now. */
static void
check_next_due(const struct run *r)
{
	uint64_t earliest = UINT64_MAX, nd = tw_wheel_next_due(r->w);

	for (uint32_t i = 0; i < r->n_recs; i++)
		if (r->recs[i].armed) {
			uint64_t ft = fire_time(r->origin, r->tick, r->recs[i].node.due_us);

			if (ft < earliest)
				earliest = ft;
		}
	assert_true(nd <= earliest);
	assert_true(nd > r->done_now || r->armed == 0);
}

/* An offset from now reaching every level, the overflow list, and the past. */
static uint64_t
random_due(struct run *r)
{
	uint64_t span = (1ull << 40) * r->tick, off, due;

	switch (rnd(&r->seed) % 16) {
	case 0: /* past due, possibly before the wheel's start */
		off = rnd_log(&r->seed, 40);
		due = off > r->now ? 0 : r->now - off;
		break;
	case 1: /* beyond the span, up to three spans out */
		due = r->now + span + rnd(&r->seed) % (2 * span);
		break;
	default:
		due = r->now + rnd_log(&r->seed, 47);  /* up to 4.5 years */
		break;
	}
	if (rnd(&r->seed) % 8 == 0 && due > r->origin)  /* exactly on a tick boundary */
		due -= (due - r->origin) % r->tick;
	return due;
}

static void
test_wheel_fires_once_never_early_random(void **state)
{
	/* phases of (steps, largest step): fine-grained first, then ever coarser */
	static const struct {
		uint32_t steps;
		uint64_t max_step;
	} phases[] = {
		{ 20000, 200 },                  /* 2 s in ~100 us steps */
		{ 5000, 1ull << 24 },            /* ~11 hours */
		{ 2000, 1ull << 36 },            /* ~2 years */
		{ 200, 1ull << 43 },             /* ~3 spans */
	};
	const uint32_t n_recs = 1000000, initial = 600000;
	struct run r = { .origin = 5 * US_PER_S, .tick = 100, .readds_left = 200000, .seed = 7 };
	uint32_t next = 0, cancels = 0;
	uint64_t readds;

	(void)state;
	r.recs = calloc(n_recs, sizeof(*r.recs));
	assert_non_null(r.recs);
	r.n_recs = n_recs;
	r.w = tw_wheel_create((uint32_t)r.tick, r.origin);
	assert_non_null(r.w);
	r.now = r.origin;
	for (; next < initial; next++)
		run_arm(&r, &r.recs[next], random_due(&r));
	for (size_t p = 0; p < sizeof(phases) / sizeof(phases[0]); p++) {
		for (uint32_t i = 0; i < phases[p].steps; i++) {
			uint64_t now = r.now + rnd(&r.seed) % (phases[p].max_step + 1);
			uint32_t max = rnd(&r.seed) % 4 == 0 ? 1 + (uint32_t)(rnd(&r.seed) % 100) : UINT32_MAX;

			/* new timers relative to a wheel that has moved on */
			for (int k = 0; k < 15 && next < n_recs; k++, next++)
				run_arm(&r, &r.recs[next], random_due(&r));
			/* cancel a few at random: pending or not, both must be right */
			for (int k = 0; k < 3; k++) {
				struct rec *x = &r.recs[rnd(&r.seed) % next];

				assert_int_equal(tw_wheel_pending(&x->node), x->armed);
				if (x->armed) {
					x->armed = false;
					r.armed--;
					cancels++;
				}
				tw_wheel_cancel(r.w, &x->node);
			}
			run_advance(&r, now, max);
			if (i % 1000 == 0)
				check_next_due(&r);
		}
	}
	assert_int_equal(next, n_recs);
	readds = 200000 - r.readds_left;
	r.readds_left = 0;  /* due times near UINT64_MAX would wrap */
	/* the end of time: everything left fires, including the beyond-span timers */
	run_advance(&r, UINT64_MAX, UINT32_MAX);
	assert_int_equal(tw_wheel_count(r.w), 0);
	assert_int_equal(tw_wheel_next_due(r.w), UINT64_MAX);
	for (uint32_t i = 0; i < n_recs; i++)
		if (r.recs[i].armed)
			fail_msg("rec %u never fired", i);
	assert_int_equal(r.fires, n_recs + readds - cancels);
	tw_wheel_free(r.w);
	free(r.recs);
}

/* ---- targeted tests ---- */

struct log {
	struct tw_wheel_node *fired[64];
	uint64_t at[64];
	uint32_t n;
	uint64_t now;
};

static void
log_fire(void *arg, struct tw_wheel_node *n)
{
	struct log *l = arg;

	assert_true(l->n < 64);
	l->at[l->n] = l->now;
	l->fired[l->n++] = n;
}

static uint32_t
log_advance(struct tw_wheel *w, struct log *l, uint64_t now)
{
	l->now = now;
	return tw_wheel_advance(w, now, log_fire, l, UINT32_MAX);
}

static void
test_wheel_cancel_before_fire(void **state)
{
	struct tw_wheel *w = tw_wheel_create(100, 0);
	struct tw_wheel_node a = TW_WHEEL_NODE_INIT, b = TW_WHEEL_NODE_INIT, c = TW_WHEEL_NODE_INIT;
	struct log l = { 0 };

	(void)state;
	assert_non_null(w);
	assert_false(tw_wheel_pending(&a));
	tw_wheel_cancel(w, &a);  /* never added: no-op */
	tw_wheel_add(w, &a, 1000);
	tw_wheel_add(w, &b, 1000);            /* same slot as a */
	tw_wheel_add(w, &c, 10 * US_PER_DAY); /* a high level */
	assert_int_equal(tw_wheel_count(w), 3);
	tw_wheel_cancel(w, &a);
	tw_wheel_cancel(w, &c);
	assert_false(tw_wheel_pending(&a));
	assert_false(tw_wheel_pending(&c));
	assert_true(tw_wheel_pending(&b));
	assert_int_equal(tw_wheel_count(w), 1);
	tw_wheel_cancel(w, &a);  /* twice: no-op */
	assert_int_equal(tw_wheel_count(w), 1);
	assert_int_equal(log_advance(w, &l, 20 * US_PER_DAY), 1);
	assert_ptr_equal(l.fired[0], &b);
	assert_int_equal(tw_wheel_count(w), 0);
	assert_int_equal(tw_wheel_next_due(w), UINT64_MAX);
	tw_wheel_free(w);
}

static void
test_wheel_cancel_after_fire_is_noop(void **state)
{
	struct tw_wheel *w = tw_wheel_create(100, 0);
	struct tw_wheel_node a = TW_WHEEL_NODE_INIT, b = TW_WHEEL_NODE_INIT;
	struct log l = { 0 };

	(void)state;
	tw_wheel_add(w, &a, 500);
	tw_wheel_add(w, &b, 900);
	assert_int_equal(log_advance(w, &l, 600), 1);
	tw_wheel_cancel(w, &a);  /* already fired */
	assert_int_equal(tw_wheel_count(w), 1);
	assert_true(tw_wheel_pending(&b));
	assert_int_equal(log_advance(w, &l, 1000), 1);
	assert_ptr_equal(l.fired[1], &b);
	tw_wheel_free(w);
}

/* A periodic timer, a zero-period one, and cancel/add of others from fire. */
struct readd {
	struct tw_wheel *w;
	struct tw_wheel_node periodic, spinner, first, victim, late_add;
	uint64_t now;
	uint32_t periodic_fires, spinner_fires, first_fires, victim_fires, late_fires;
};

static void
readd_fire(void *arg, struct tw_wheel_node *n)
{
	struct readd *r = arg;

	assert_true(n->due_us <= r->now);
	if (n == &r->periodic) {
		r->periodic_fires++;
		tw_wheel_add(r->w, n, n->due_us + 1000);  /* re-add the fired node */
	} else if (n == &r->spinner) {
		r->spinner_fires++;
		tw_wheel_add(r->w, n, r->now);  /* already due: next call, not this one */
	} else if (n == &r->first) {
		r->first_fires++;
		/* the victim is due on this same tick, already taken out to fire: cancel it anyway */
		tw_wheel_cancel(r->w, &r->victim);
		/* due after this node's tick but before now: fires in this same call */
		tw_wheel_add(r->w, &r->late_add, r->now - 50);
	} else if (n == &r->victim) {
		r->victim_fires++;
	} else if (n == &r->late_add) {
		r->late_fires++;
	}
}

static void
test_wheel_readd_in_fire(void **state)
{
	struct readd r = { .w = tw_wheel_create(100, 0) };

	(void)state;
	assert_non_null(r.w);
	/* periodic every 1000 us from 1000 to 1 s: 1000 fires when stepped 100 us at a time */
	tw_wheel_add(r.w, &r.periodic, 1000);
	for (r.now = 100; r.now <= US_PER_S; r.now += 100)
		tw_wheel_advance(r.w, r.now, readd_fire, &r, UINT32_MAX);
	assert_int_equal(r.periodic_fires, 1000);
	assert_true(tw_wheel_pending(&r.periodic));
	tw_wheel_cancel(r.w, &r.periodic);

	/* zero period: one fire per call, never a spin inside one call */
	tw_wheel_add(r.w, &r.spinner, r.now);
	for (int i = 0; i < 5; i++)
		assert_int_equal(tw_wheel_advance(r.w, r.now, readd_fire, &r, UINT32_MAX), 1);
	assert_int_equal(r.spinner_fires, 5);
	tw_wheel_cancel(r.w, &r.spinner);
	assert_int_equal(tw_wheel_count(r.w), 0);

	/* one fire cancels a node due on its tick and adds one due before now */
	tw_wheel_add(r.w, &r.first, r.now + 1000);
	tw_wheel_add(r.w, &r.victim, r.now + 1000);  /* after first: fires after it in the same tick */
	r.now += 5000;
	assert_int_equal(tw_wheel_advance(r.w, r.now, readd_fire, &r, UINT32_MAX), 2);
	assert_int_equal(r.first_fires, 1);
	assert_false(tw_wheel_pending(&r.victim));
	assert_int_equal(r.victim_fires, 0);
	assert_int_equal(r.late_fires, 1);
	assert_int_equal(tw_wheel_count(r.w), 0);
	tw_wheel_free(r.w);
}

struct order {
	uint64_t last_due, fires, now;
	uint64_t tick;
};

static void
order_fire(void *arg, struct tw_wheel_node *n)
{
	struct order *o = arg;

	assert_true(n->due_us <= o->now);
	/* tick by tick: never a tick earlier than one already fired */
	assert_true(n->due_us / o->tick >= o->last_due / o->tick);
	o->last_due = n->due_us;
	o->fires++;
}

static void
test_wheel_max_bounds_fires(void **state)
{
	enum { N = 1000 };
	static struct tw_wheel_node nodes[N];
	struct tw_wheel *w = tw_wheel_create(100, 0);
	struct order o = { .tick = 100 };
	uint64_t seed = 3, calls = 0;
	uint32_t got;

	(void)state;
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < N; i++)
		tw_wheel_add(w, &nodes[i], 100 * (1 + rnd(&seed) % 5000));  /* within 0.5 s */
	o.now = US_PER_S;
	while ((got = tw_wheel_advance(w, o.now, order_fire, &o, 64)) == 64) {
		calls++;
		assert_int_equal(tw_wheel_count(w), N - o.fires);
		assert_true(tw_wheel_next_due(w) <= o.now);  /* backlog: "call again now" */
	}
	assert_int_equal(calls, N / 64);
	assert_int_equal(got, N % 64);
	assert_int_equal(o.fires, N);
	assert_int_equal(tw_wheel_count(w), 0);
	assert_int_equal(tw_wheel_advance(w, o.now, order_fire, &o, 64), 0);
	tw_wheel_free(w);
}

static void
count_fire(void *arg, struct tw_wheel_node *n)
{
	(void)n;
	++*(uint64_t *)arg;
}

/*
 * 300,000 timers on one tick two hours out share one level-3 slot; the
 * cascade that spreads them is cut into pieces of the moves budget, and
 * "call again" is visible through next_due.
 */
static void
test_wheel_cascade_bounded(void **state)
{
	enum { N = 300000 };
	struct tw_wheel_node *nodes = calloc(N, sizeof(*nodes));
	struct tw_wheel *w = tw_wheel_create(100, 0);
	uint64_t due = 7200 * US_PER_S + 12345, at = fire_time(0, 100, due), fired = 0, calls = 0;
	struct tw_wheel_stats st;

	(void)state;
	assert_non_null(nodes);
	for (int i = 0; i < N; i++)
		tw_wheel_add(w, &nodes[i], due);
	assert_int_equal(tw_wheel_next_due(w), at);
	assert_int_equal(tw_wheel_advance(w, due - 1, count_fire, &fired, 1), 0);
	tw_wheel_get_stats(w, &st);
	assert_true(st.moved <= TW_WHEEL_MOVES_MIN);
	assert_true(tw_wheel_advance(w, at, count_fire, &fired, 1) <= 1);
	tw_wheel_get_stats(w, &st);
	assert_true(st.moved <= 2 * TW_WHEEL_MOVES_MIN);
	assert_true(tw_wheel_next_due(w) <= at);
	while (tw_wheel_next_due(w) <= at) {
		tw_wheel_advance(w, at, count_fire, &fired, 1000);
		assert_true(++calls < 10000);
	}
	assert_int_equal(fired, N);
	tw_wheel_get_stats(w, &st);
	assert_int_equal(st.fired, N);
	assert_true(st.moved <= (uint64_t)N * TW_WHEEL_LEVELS);
	tw_wheel_free(w);
	free(nodes);
}

/* A year of timers, then one advance over the whole year. */
static void
test_wheel_idle_jump_year(void **state)
{
	enum { N = 10000 };
	static struct tw_wheel_node nodes[N];
	struct tw_wheel *w = tw_wheel_create(100, 1000);
	struct tw_wheel_node straggler = TW_WHEEL_NODE_INIT;
	struct tw_wheel_stats st;
	uint64_t seed = 11, fired = 0;

	(void)state;
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < N; i++)
		tw_wheel_add(w, &nodes[i], 1000 + rnd(&seed) % US_PER_YEAR);
	tw_wheel_add(w, &straggler, 1000 + US_PER_YEAR + 2 * US_PER_S);
	assert_int_equal(tw_wheel_advance(w, 1000 + US_PER_YEAR, count_fire, &fired, UINT32_MAX), N);
	assert_int_equal(tw_wheel_count(w), 1);
	assert_int_equal(tw_wheel_next_due(w), 1000 + US_PER_YEAR + 2 * US_PER_S);
	tw_wheel_get_stats(w, &st);
	assert_true(st.moved <= (uint64_t)N * TW_WHEEL_LEVELS);
	/* and an empty wheel jumps ten years in one call too */
	assert_int_equal(tw_wheel_advance(w, 1000 + 10 * US_PER_YEAR, count_fire, &fired, UINT32_MAX), 1);
	assert_int_equal(tw_wheel_advance(w, 1000 + 20 * US_PER_YEAR, count_fire, &fired, UINT32_MAX), 0);
	tw_wheel_free(w);
}

static void
test_wheel_count_next_due(void **state)
{
	struct tw_wheel *w = tw_wheel_create(100, 1000);
	struct tw_wheel_node a = TW_WHEEL_NODE_INIT, b = TW_WHEEL_NODE_INIT, c = TW_WHEEL_NODE_INIT,
			     d = TW_WHEEL_NODE_INIT, e = TW_WHEEL_NODE_INIT;
	struct log l = { 0 };

	(void)state;
	assert_int_equal(tw_wheel_count(w), 0);
	assert_int_equal(tw_wheel_next_due(w), UINT64_MAX);
	tw_wheel_add(w, &a, 1000 + 250);                 /* level 0: fires at the 300 us boundary */
	tw_wheel_add(w, &b, 1000 + US_PER_S);            /* level 1 */
	tw_wheel_add(w, &e, 1000 + US_PER_S + 5000);     /* level 1, b's slot, later */
	tw_wheel_add(w, &c, 1000 + 30 * US_PER_YEAR);    /* overflow */
	assert_int_equal(tw_wheel_count(w), 4);
	assert_int_equal(tw_wheel_next_due(w), 1000 + 300);
	tw_wheel_cancel(w, &a);
	assert_int_equal(tw_wheel_next_due(w), 1000 + US_PER_S);  /* b, not the last added */
	tw_wheel_cancel(w, &b);
	assert_true(tw_wheel_next_due(w) <= 1000 + US_PER_S + 5000);  /* a lower bound once b is gone */
	tw_wheel_cancel(w, &e);
	assert_int_equal(tw_wheel_next_due(w), 1000 + 30 * US_PER_YEAR);
	tw_wheel_add(w, &d, 0);                          /* before the start: due now */
	assert_true(tw_wheel_next_due(w) <= 1000);
	assert_int_equal(tw_wheel_count(w), 2);
	assert_int_equal(log_advance(w, &l, 1000), 1);
	assert_ptr_equal(l.fired[0], &d);
	assert_int_equal(tw_wheel_next_due(w), 1000 + 30 * US_PER_YEAR);
	/* rescheduling a pending node moves it rather than adding it twice */
	tw_wheel_add(w, &c, 1000 + 2 * US_PER_S + 1);
	assert_int_equal(tw_wheel_count(w), 1);
	assert_int_equal(tw_wheel_next_due(w), 1000 + 2 * US_PER_S + 100);
	assert_int_equal(log_advance(w, &l, 1000 + 2 * US_PER_S + 99), 0);  /* never early */
	assert_int_equal(log_advance(w, &l, 1000 + 2 * US_PER_S + 100), 1);
	assert_int_equal(tw_wheel_count(w), 0);
	assert_int_equal(tw_wheel_next_due(w), UINT64_MAX);
	tw_wheel_free(w);
}

/* 1 us ticks: the span is 2^40 us (12.7 days), so months out is overflow. */
static void
test_wheel_beyond_span_overflow(void **state)
{
	static const uint64_t dues[] = {
		(1ull << 40) - 1, 1ull << 40, (1ull << 40) + 1, 30 * US_PER_DAY,
		US_PER_YEAR, 3 * (1ull << 40) + 5, 1000,
	};
	enum { N = sizeof(dues) / sizeof(dues[0]) };
	struct tw_wheel *w = tw_wheel_create(1, 0);
	struct tw_wheel_node nodes[N], end = TW_WHEEL_NODE_INIT;
	struct log l = { 0 };
	uint64_t now = 0;

	(void)state;
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < N; i++)
		tw_wheel_add(w, &nodes[i], dues[i]);
	tw_wheel_add(w, &end, UINT64_MAX);
	/* a day at a time for 13 months: each fires in the step that reaches it */
	for (int day = 1; day <= 400; day++) {
		uint32_t before = l.n;

		now = (uint64_t)day * US_PER_DAY;
		log_advance(w, &l, now);
		for (uint32_t k = before; k < l.n; k++)
			assert_true(l.fired[k]->due_us > now - US_PER_DAY && l.fired[k]->due_us <= now);
	}
	assert_int_equal(l.n, N);
	assert_int_equal(tw_wheel_count(w), 1);
	assert_int_equal(log_advance(w, &l, UINT64_MAX - 1), 0);
	assert_int_equal(log_advance(w, &l, UINT64_MAX), 1);
	assert_ptr_equal(l.fired[N], &end);
	tw_wheel_free(w);
}

static void
test_wheel_clock_backwards(void **state)
{
	struct tw_wheel *w = tw_wheel_create(100, 0);
	struct tw_wheel_node a = TW_WHEEL_NODE_INIT;
	struct log l = { 0 };

	(void)state;
	tw_wheel_add(w, &a, 5000);
	assert_int_equal(log_advance(w, &l, 4900), 0);
	assert_int_equal(log_advance(w, &l, 100), 0);  /* backwards: no time passes */
	assert_int_equal(log_advance(w, &l, 4999), 0);
	assert_int_equal(log_advance(w, &l, 5000), 1);
	tw_wheel_free(w);
}

struct fail_after {
	int left;
	int live;
};

static void *
failing_zalloc(size_t size, void *arg)
{
	struct fail_after *f = arg;

	if (f->left-- <= 0)
		return NULL;
	f->live++;
	return calloc(1, size);
}

static void
counting_free(void *p, void *arg)
{
	struct fail_after *f = arg;

	f->live--;
	free(p);
}

static void
test_wheel_create_errors(void **state)
{
	struct fail_after f = { .left = 0 };
	struct tw_alloc_ops ops = { failing_zalloc, counting_free, &f };
	struct tw_wheel *w;

	(void)state;
	errno = 0;
	assert_null(tw_wheel_create(0, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(tw_wheel_create_ops(100, 0, &ops));
	assert_int_equal(errno, ENOMEM);
	f.left = 1;
	w = tw_wheel_create_ops(100, 0, &ops);
	assert_non_null(w);
	assert_int_equal(f.live, 1);
	tw_wheel_free(w);
	assert_int_equal(f.live, 0);
	tw_wheel_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wheel_fires_once_never_early_random),
		cmocka_unit_test(test_wheel_cancel_before_fire),
		cmocka_unit_test(test_wheel_cancel_after_fire_is_noop),
		cmocka_unit_test(test_wheel_readd_in_fire),
		cmocka_unit_test(test_wheel_max_bounds_fires),
		cmocka_unit_test(test_wheel_cascade_bounded),
		cmocka_unit_test(test_wheel_idle_jump_year),
		cmocka_unit_test(test_wheel_count_next_due),
		cmocka_unit_test(test_wheel_beyond_span_overflow),
		cmocka_unit_test(test_wheel_clock_backwards),
		cmocka_unit_test(test_wheel_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
