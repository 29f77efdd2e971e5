/*
 * tw-route-bench: ns per routed task through a topic exchange with 10,
 * 1,000 and 100,000 bindings, next to a direct exchange with the same
 * number of bindings, in the same run (the routing issue's goal: topic at
 * 100,000 bindings within 2x direct). It calls tw_routes_match() on a
 * table built in process memory, exactly as the io lcore does.
 *
 * Patterns look like log routing: region.service.level, half exact and
 * half with wildcards ("eu.svc42.*", "*.svc7.error", "us.svc3.#",
 * "#.svc9.crit"); keys are concrete region.service.level triples drawn at
 * random, so a task matches a few bindings, as in real topologies.
 *
 *   tw-route-bench [--lookups N] [--bindings N] [--markdown]
 *
 * --lookups: per measurement and round (five rounds).
 * The last five columns draw keys from 65,536 distinct ones, four times
 * what the routing cache holds: both tables over a larger working set, and
 * the cache's miss path (a lookup that misses walks and inserts).
 *
 * --bindings N measures that one size instead of the three (for profiling).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tw_route_cache.h"
#include "tw_routes.h"

static const char *const regions[] = { "eu", "us", "ap", "sa", "af", "me", "cn", "in" };
static const char *const levels[] = { "debug", "info", "warn", "error", "crit" };
#define N_REGIONS 8
#define N_LEVELS 5
#define N_QUEUES 200
#define N_KEYS 4096      /* distinct keys per run: all fit in the routing cache */
#define N_WIDE 65536     /* and four times what it holds, for its miss path */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* n bindings from exchange "x" of the given type; services scale with n. */
static struct tw_routes *
build(enum tw_exchange_type type, uint32_t n, unsigned *seed)
{
	static struct tw_def_queue q[N_QUEUES];
	struct tw_def_exchange ex = { .name = "x", .type = (uint8_t)type };
	struct tw_def_binding *b = calloc(n, sizeof(*b));
	uint32_t services = n / 4 + 1;
	static uint64_t version;
	struct tw_defs d = { .version = ++version, .n_queues = N_QUEUES, .queues = q, .n_exchanges = 1, .exchanges = &ex,
			     .n_bindings = n, .bindings = b };
	struct tw_routes *rt;

	for (int i = 0; i < N_QUEUES; i++) {
		snprintf(q[i].name, sizeof(q[i].name), "q%d", i);
		q[i].slot = (uint16_t)i;
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *r = regions[rand_r(seed) % N_REGIONS];
		uint32_t s = (uint32_t)rand_r(seed) % services;
		const char *l = levels[rand_r(seed) % N_LEVELS];

		strcpy(b[i].source, "x");
		snprintf(b[i].destination, TW_NAME_MAX, "q%u", i % N_QUEUES);
		if (type == TW_EX_DIRECT) {
			snprintf(b[i].key, TW_NAME_MAX, "%s.svc%u.%s", r, i, l);
			continue;
		}
		switch (rand_r(seed) % 20) {
		case 0: snprintf(b[i].key, TW_NAME_MAX, "%s.svc%u.#", r, s); break;
		case 1: snprintf(b[i].key, TW_NAME_MAX, "#.svc%u.%s", s, l); break;
		case 2: case 3: case 4: case 5: snprintf(b[i].key, TW_NAME_MAX, "*.svc%u.%s", s, l); break;
		case 6: case 7: case 8: case 9: snprintf(b[i].key, TW_NAME_MAX, "%s.svc%u.*", r, s); break;
		default: snprintf(b[i].key, TW_NAME_MAX, "%s.svc%u.%s", r, s, l); break;
		}
	}
	rt = tw_routes_build(&d, NULL);
	free(b);
	return rt;
}

/* Keys: for direct, half bound keys and half misses; for topic, random triples. */
static void
make_keys(enum tw_exchange_type type, uint32_t n, char (*keys)[TW_NAME_MAX], uint32_t count,
	  unsigned *seed)
{
	uint32_t services = n / 4 + 1;

	for (uint32_t i = 0; i < count; i++) {
		const char *r = regions[rand_r(seed) % N_REGIONS];
		const char *l = levels[rand_r(seed) % N_LEVELS];

		if (type == TW_EX_DIRECT)
			snprintf(keys[i], TW_NAME_MAX, "%s.svc%u.%s", r, (uint32_t)rand_r(seed) % (2 * n), l);
		else
			snprintf(keys[i], TW_NAME_MAX, "%s.svc%u.%s", r,
				 (uint32_t)rand_r(seed) % services, l);
	}
}

#define ROUNDS 5

/* Median of ROUNDS values (sorts them). */
static double
median(double *v)
{
	for (int i = 1; i < ROUNDS; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double x = v[j];

			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	return v[ROUNDS / 2];
}

struct result {
	double ns;
	double dests;  /* average destinations per task */
};

/* cache: NULL for the table alone, else through the io lcore's routing cache */
static struct result
measure(const struct tw_routes *rt, struct tw_route_cache *cache, char (*keys)[TW_NAME_MAX],
	uint32_t n_keys, uint64_t lookups)
{
	static uint32_t dest[TW_MAX_ROUTE_DESTS];
	static uint32_t lens[N_WIDE];
	uint64_t total = 0, t0;
	struct result r;

	for (uint32_t i = 0; i < n_keys; i++)
		lens[i] = (uint32_t)strlen(keys[i]);
	for (uint32_t i = 0; i < n_keys; i++) /* warm the CPU caches (and the routing cache) */
		cache != NULL ? tw_routes_match_cached(rt, cache, "x", 1, keys[i], lens[i], NULL, dest)
			      : tw_routes_match(rt, "x", 1, keys[i], lens[i], NULL, dest);
	t0 = now_ns();
	for (uint64_t i = 0; i < lookups; i++) {
		uint32_t k = (uint32_t)(i * 2654435761u) % n_keys;

		total += (uint64_t)(cache != NULL ? tw_routes_match_cached(rt, cache, "x", 1, keys[k],
									   lens[k], NULL, dest)
						  : tw_routes_match(rt, "x", 1, keys[k], lens[k],
								    NULL, dest));
	}
	r.ns = (double)(now_ns() - t0) / (double)lookups;
	r.dests = (double)total / (double)lookups;
	return r;
}

int
main(int argc, char **argv)
{
	uint32_t sizes[] = { 10, 1000, 100000 };
	size_t n_sizes = sizeof(sizes) / sizeof(sizes[0]);
	static char dkeys[N_KEYS][TW_NAME_MAX], tkeys[N_KEYS][TW_NAME_MAX], wkeys[N_WIDE][TW_NAME_MAX],
		    wdkeys[N_WIDE][TW_NAME_MAX];
	uint64_t lookups = 1000000;
	bool markdown = false;
	unsigned seed = 42;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--lookups") == 0 && i + 1 < argc)
			lookups = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--bindings") == 0 && i + 1 < argc) {
			sizes[0] = (uint32_t)strtoul(argv[++i], NULL, 10);
			n_sizes = 1;
		} else if (strcmp(argv[i], "--markdown") == 0)
			markdown = true;
		else {
			fprintf(stderr, "usage: tw-route-bench [--lookups N] [--bindings N] [--markdown]\n");
			return 2;
		}
	}
	if (lookups == 0 || sizes[0] == 0)
		return 2;
	printf(markdown ? "| bindings | direct ns/task | topic ns/task | topic / direct | direct, cached | "
			  "topic, cached | topic cached / direct | topic queues per task | "
			  "direct, 65,536 keys | topic, 65,536 keys | topic / direct | topic cached, 65,536 keys | "
			  "its cache hits |\n"
			  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
			: "%-10s %9s %9s %9s %9s %9s %12s %8s %9s %9s %9s %9s %7s\n",
	       "bindings", "direct", "topic", "ratio", "direct-c", "topic-c", "topic-c/dir", "queues",
	       "direct-w", "topic-w", "ratio-w", "topic-wc", "hits");
	for (size_t s = 0; s < n_sizes; s++) {
		struct tw_routes *direct = build(TW_EX_DIRECT, sizes[s], &seed);
		struct tw_routes *topic = build(TW_EX_TOPIC, sizes[s], &seed);
		static struct tw_route_cache cache_d, cache_t, cache_w;
		double ns[7][ROUNDS], d, t, dc, tc, dw, tw, hits;
		struct result r[7];

		if (direct == NULL || topic == NULL) {
			fprintf(stderr, "tw-route-bench: build failed: %s\n", strerror(errno));
			return 1;
		}
		make_keys(TW_EX_DIRECT, sizes[s], dkeys, N_KEYS, &seed);
		make_keys(TW_EX_TOPIC, sizes[s], tkeys, N_KEYS, &seed);
		make_keys(TW_EX_TOPIC, sizes[s], wkeys, N_WIDE, &seed);
		make_keys(TW_EX_DIRECT, sizes[s], wdkeys, N_WIDE, &seed);
		memset(&cache_w, 0, sizeof(cache_w));
		/*
		 * The measurements take turns, round after round, and each
		 * reports its median round: on a shared VM the machine's speed
		 * drifts within seconds, and measuring one after the other would
		 * put that drift into the ratio.
		 */
		for (int round = 0; round < ROUNDS; round++) {
			r[0] = measure(direct, NULL, dkeys, N_KEYS, lookups);
			r[1] = measure(topic, NULL, tkeys, N_KEYS, lookups);
			r[2] = measure(direct, &cache_d, dkeys, N_KEYS, lookups);
			r[3] = measure(topic, &cache_t, tkeys, N_KEYS, lookups);
			r[4] = measure(topic, NULL, wkeys, N_WIDE, lookups);
			r[5] = measure(topic, &cache_w, wkeys, N_WIDE, lookups);
			r[6] = measure(direct, NULL, wdkeys, N_WIDE, lookups);
			for (int m = 0; m < 7; m++)
				ns[m][round] = r[m].ns;
		}
		if (getenv("TW_BENCH_VERBOSE"))
			fprintf(stderr, "topic cache: %lu hits, %lu misses\n", (unsigned long)cache_t.hits,
				(unsigned long)cache_t.misses);
		d = median(ns[0]);
		t = median(ns[1]);
		dc = median(ns[2]);
		tc = median(ns[3]);
		/* over all rounds, warm-ups included */
		hits = (double)cache_w.hits / (double)(cache_w.hits + cache_w.misses);
		dw = median(ns[6]);
		tw = median(ns[4]);
		printf(markdown ? "| %u | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.2f | "
				  "%.1f | %.0f%% |\n"
				: "%-10u %9.1f %9.1f %9.2f %9.1f %9.1f %12.2f %8.1f %9.1f %9.1f %9.2f %9.1f %6.0f%%\n",
		       sizes[s], d, t, t / d, dc, tc, tc / d, r[1].dests, dw, tw, tw / dw, median(ns[5]),
		       100 * hits);
		tw_routes_free(direct, NULL);
		tw_routes_free(topic, NULL);
	}
	return 0;
}
