/*
 * tw-wheel-bench: the timing wheel (common/tw_wheel.c) as tw-control's
 * scheduler uses it, with 1M and 10M pending timers due uniformly 1 s to
 * 1 h out (ETA and countdown tasks), 100 us ticks:
 *   - chase: ns per dependent load through the same records in random
 *     order, the machine's cost of one cache miss at this size, which is
 *     the unit the other columns are mostly made of (a move or a fire
 *     touches a record that is not in cache);
 *   - insert: ns per tw_wheel_add() while filling the wheel;
 *   - idle: ns per tw_wheel_advance() that finds nothing due (50 us steps);
 *   - expire: ns per fired timer while a simulated clock walks the hour in
 *     100 ms steps, max 1024 fires per call as the scheduler would call it;
 *     cascade moves included, and the longest single call (the stall the
 *     moves budget bounds);
 *   - lateness: on a fresh wheel with the same pending load, 200,000 probe
 *     timers due within 2 s, driven by a real CLOCK_MONOTONIC loop that
 *     advances every ~50 us (busy-waiting, as a polling core would):
 *     p50/p99/max of (clock read in the fire callback - due), in us.
 *
 *   tw-wheel-bench [--sizes N[,N...]] [--probes N] [--interval-us N] [--repeat R] [--markdown]
 *
 * On a shared machine one run can be hit by another tenant (a preempted
 * advance call shows up as a multi-millisecond "longest" or lateness
 * max); --repeat prints R rows per size so the spread is visible.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tw_wheel.h"

#define TICK_US 100
#define US_PER_S 1000000ull
#define SPREAD_MIN_US (1 * US_PER_S)
#define SPREAD_MAX_US (3600 * US_PER_S)
#define SIM_STEP_US (100 * 1000)
#define IDLE_STEP_US 50
#define IDLE_CALLS 20000
#define MAX_FIRES 1024
#define MAX_SIZES 8

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
rnd(uint64_t *s)
{
	/* splitmix64: reproducible and cheap next to what is measured */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct result {
	double chase_ns, insert_ns, idle_ns, expire_ns, moves_per_timer, longest_call_us;
	double p50_us, p99_us, max_us;
	uint64_t early;      /* fires before due: must be 0 */
	uint64_t probes_fired, bg_fired;
};

/* ---- insert, idle and expire on a simulated clock ---- */

/* Link the records into one random cycle and walk up to 2M steps of it. */
static int
measure_chase(uint64_t n, struct tw_wheel_node *nodes, double *ns)
{
	uint32_t *perm = malloc(n * sizeof(*perm));
	uint64_t seed = 1, steps = n < 2000000 ? n : 2000000, t0;
	struct tw_wheel_node *p;

	if (perm == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rnd(&seed) % (i + 1);
		uint32_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint64_t i = 0; i < n; i++)
		nodes[perm[i]].next = &nodes[perm[(i + 1) % n]];
	free(perm);
	p = &nodes[0];
	t0 = now_ns();
	for (uint64_t i = 0; i < steps; i++)
		p = p->next;
	*ns = (double)(now_ns() - t0) / (double)steps;
	return p == NULL ? -EFAULT : 0;  /* uses p, so the walk is not optimised away */
}

struct sim {
	uint64_t now, fired, early;
};

static void
sim_fire(void *arg, struct tw_wheel_node *n)
{
	struct sim *s = arg;

	s->early += n->due_us > s->now;  /* reads the record, as a real callback would */
	s->fired++;
}

static int
run_simulated(uint64_t n, struct tw_wheel_node *nodes, struct result *r)
{
	struct tw_wheel *w = tw_wheel_create(TICK_US, 0);
	struct sim s = { 0 };
	struct tw_wheel_stats st;
	uint64_t seed = 42, t0, spent = 0, longest = 0;

	if (w == NULL)
		return -errno;
	if (measure_chase(n, nodes, &r->chase_ns) < 0) {
		tw_wheel_free(w);
		return -ENOMEM;
	}
	memset(nodes, 0, n * sizeof(*nodes));
	for (uint64_t i = 0; i < n; i++)  /* dues drawn up front: not part of the insert cost */
		nodes[i].due_us = SPREAD_MIN_US + rnd(&seed) % (SPREAD_MAX_US - SPREAD_MIN_US);
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		tw_wheel_add(w, &nodes[i], nodes[i].due_us);
	r->insert_ns = (double)(now_ns() - t0) / (double)n;

	/* the first second has nothing due: what a polling caller pays per empty pass */
	t0 = now_ns();
	for (uint32_t i = 1; i <= IDLE_CALLS; i++) {
		s.now = (uint64_t)i * IDLE_STEP_US;
		tw_wheel_advance(w, s.now, sim_fire, &s, MAX_FIRES);
	}
	r->idle_ns = (double)(now_ns() - t0) / IDLE_CALLS;

	/* bound: the hour in 100 ms steps, plus slack; each step to completion */
	while (s.fired < n && s.now < 2 * SPREAD_MAX_US) {
		uint32_t got;

		s.now += SIM_STEP_US;
		do {
			uint64_t a = now_ns(), d;

			got = tw_wheel_advance(w, s.now, sim_fire, &s, MAX_FIRES);
			d = now_ns() - a;
			spent += d;
			if (d > longest)
				longest = d;
		} while (got == MAX_FIRES || (tw_wheel_count(w) > 0 && tw_wheel_next_due(w) <= s.now));
	}
	tw_wheel_get_stats(w, &st);
	r->expire_ns = (double)spent / (double)s.fired;
	r->moves_per_timer = (double)st.moved / (double)n;
	r->longest_call_us = (double)longest / 1000.0;
	r->early = s.early;
	tw_wheel_free(w);
	if (s.fired != n) {
		fprintf(stderr, "tw-wheel-bench: %lu of %lu timers fired\n", (unsigned long)s.fired,
			(unsigned long)n);
		return -EPROTO;
	}
	return 0;
}

/* ---- lateness on the real clock ---- */

struct live {
	struct tw_wheel_node *probes;
	uint64_t n_probes;
	int64_t *late_ns;    /* per probe: fire clock - due */
	uint64_t probes_fired, bg_fired, early;
};

static void
live_fire(void *arg, struct tw_wheel_node *n)
{
	struct live *l = arg;
	uint64_t t = now_ns();

	if (n >= l->probes && n < l->probes + l->n_probes) {
		int64_t late = (int64_t)(t - n->due_us * 1000);

		l->late_ns[l->probes_fired++] = late;
		l->early += late < 0;
	} else {
		l->bg_fired++;
	}
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int
run_live(uint64_t n, struct tw_wheel_node *nodes, uint64_t n_probes, uint64_t interval_us,
	 struct result *r)
{
	struct live l = { .n_probes = n_probes };
	uint64_t seed = 7, start_us = now_ns() / 1000, t1_us, end_us, next_ns;
	struct tw_wheel *w = tw_wheel_create(TICK_US, start_us);

	l.probes = calloc(n_probes, sizeof(*l.probes));
	l.late_ns = calloc(n_probes, sizeof(*l.late_ns));
	if (w == NULL || l.probes == NULL || l.late_ns == NULL) {
		tw_wheel_free(w);
		free(l.probes);
		free(l.late_ns);
		return -ENOMEM;
	}
	memset(nodes, 0, n * sizeof(*nodes));
	for (uint64_t i = 0; i < n; i++)
		tw_wheel_add(w, &nodes[i], start_us + SPREAD_MIN_US + rnd(&seed) % (SPREAD_MAX_US - SPREAD_MIN_US));
	t1_us = now_ns() / 1000;
	for (uint64_t i = 0; i < n_probes; i++)
		tw_wheel_add(w, &l.probes[i], t1_us + 1 + rnd(&seed) % (2 * US_PER_S));
	end_us = t1_us + 2 * US_PER_S + 1000;
	next_ns = now_ns();
	/* bound: 2 s of wall clock (3 s if probes are still due); one advance
	 * per interval, busy-waiting between */
	for (;;) {
		uint64_t t = now_ns();

		if (t / 1000 > end_us && (l.probes_fired == n_probes || t / 1000 > end_us + US_PER_S))
			break;
		if (t < next_ns)
			continue;
		tw_wheel_advance(w, t / 1000, live_fire, &l, MAX_FIRES);
		next_ns += interval_us * 1000;
		if (next_ns < t)
			next_ns = t;  /* fell behind: do not burst to catch up */
	}
	qsort(l.late_ns, l.probes_fired, sizeof(*l.late_ns), cmp_i64);
	if (l.probes_fired > 0) {
		r->p50_us = (double)l.late_ns[l.probes_fired / 2] / 1000.0;
		r->p99_us = (double)l.late_ns[l.probes_fired * 99 / 100] / 1000.0;
		r->max_us = (double)l.late_ns[l.probes_fired - 1] / 1000.0;
	}
	r->probes_fired = l.probes_fired;
	r->bg_fired = l.bg_fired;
	r->early += l.early;
	tw_wheel_free(w);
	free(l.probes);
	free(l.late_ns);
	return 0;
}

static int
parse_sizes(const char *arg, uint64_t *sizes, int *n)
{
	char *end;

	*n = 0;
	for (const char *p = arg; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		if (*n == MAX_SIZES)
			return -1;
		sizes[*n] = strtoull(p, &end, 10);
		if (end == p || sizes[*n] == 0)
			return -1;
		(*n)++;
	}
	return *n > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	uint64_t sizes[MAX_SIZES] = { 1000000, 10000000 }, probes = 200000, interval_us = 50, biggest = 0;
	uint64_t repeat = 1;
	int n_sizes = 2;
	bool markdown = false;
	struct tw_wheel_node *nodes;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
			if (parse_sizes(argv[++i], sizes, &n_sizes) < 0)
				goto usage;
		} else if (strcmp(argv[i], "--probes") == 0 && i + 1 < argc) {
			probes = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--interval-us") == 0 && i + 1 < argc) {
			interval_us = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
			repeat = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--markdown") == 0) {
			markdown = true;
		} else {
			goto usage;
		}
	}
	if (probes == 0 || interval_us == 0 || repeat == 0)
		goto usage;
	for (int s = 0; s < n_sizes; s++)
		biggest = sizes[s] > biggest ? sizes[s] : biggest;
	nodes = malloc(biggest * sizeof(*nodes));
	if (nodes == NULL) {
		fprintf(stderr, "tw-wheel-bench: %lu nodes: %s\n", (unsigned long)biggest, strerror(errno));
		return 1;
	}
	printf(markdown ? "| pending | chase ns | insert ns | idle advance ns | expire ns | moves/timer | longest advance us | "
			  "probes fired | late p50 us | late p99 us | late max us |\n"
			  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
			: "%-10s %8s %8s %8s %8s %8s %10s %8s %8s %8s %9s\n",
	       "pending", "chase", "insert", "idle", "expire", "moves", "longest-us", "probes", "p50-us", "p99-us", "max-us");
	for (uint64_t rs = 0; rs < (uint64_t)n_sizes * repeat; rs++) {
		int s = (int)(rs / repeat);
		struct result r = { 0 };
		int ret = run_simulated(sizes[s], nodes, &r);

		if (ret == 0)
			ret = run_live(sizes[s], nodes, probes, interval_us, &r);
		if (ret < 0) {
			fprintf(stderr, "tw-wheel-bench: %lu pending: %s\n", (unsigned long)sizes[s], strerror(-ret));
			free(nodes);
			return 1;
		}
		printf(markdown ? "| %lu | %.1f | %.1f | %.1f | %.1f | %.2f | %.0f | %lu | %.1f | %.1f | %.1f |\n"
				: "%-10lu %8.1f %8.1f %8.1f %8.1f %8.2f %10.0f %8lu %8.1f %8.1f %9.1f\n",
		       (unsigned long)sizes[s], r.chase_ns, r.insert_ns, r.idle_ns, r.expire_ns, r.moves_per_timer,
		       r.longest_call_us, (unsigned long)r.probes_fired, r.p50_us, r.p99_us, r.max_us);
		if (r.early != 0 || r.probes_fired != probes) {
			fprintf(stderr, "tw-wheel-bench: %lu fired early, %lu of %lu probes fired\n",
				(unsigned long)r.early, (unsigned long)r.probes_fired, (unsigned long)probes);
			free(nodes);
			return 1;
		}
	}
	free(nodes);
	return 0;
usage:
	fprintf(stderr, "usage: tw-wheel-bench [--sizes N[,N...]] [--probes N] [--interval-us N] [--repeat R] "
			"[--markdown]\n");
	return 2;
}
