/*
 * A per-lcore cache of routing results: (exchange, routing key) -> the
 * queues it reaches, for the routing table version it was computed under.
 * Routing keys repeat heavily in real traffic, so most lookups cost one
 * hash and one cache line instead of a topic-trie walk or an
 * exchange-graph expansion. Only exchanges where a lookup costs more than
 * a probe use it (topic, or routing on through other exchanges); results
 * that depend on task headers (a headers exchange is reachable) are never
 * cached, nor are keys longer than TW_RC_KEY_MAX or results with more
 * than TW_RC_DESTS queues. Two-way set associative, the way not used
 * last is replaced, so two hot keys sharing a set do not evict each other.
 *
 * Ownership: one cache per lcore, in its context. Threads: its lcore
 * only; no sharing, no atomics. A new table version invalidates every
 * entry implicitly (the version is part of the entry).
 */
#ifndef TW_ROUTE_CACHE_H
#define TW_ROUTE_CACHE_H

#include <stdint.h>

#include "tw_routes.h"

#define TW_RC_SETS 8192      /* power of two; 2 ways each: 1 MiB per io lcore */
#define TW_RC_KEY_MAX 46
#define TW_RC_DESTS 8

struct tw_route_cache_entry {
	uint64_t version;        /* 0: empty */
	uint32_t hash;
	uint16_t exchange;       /* 16 bits keep the entry one cache line: see tw_route_cache.c */
	uint8_t key_len;
	uint8_t n;
	uint16_t dest[TW_RC_DESTS];
	char key[TW_RC_KEY_MAX];
} __attribute__((aligned(64)));

struct tw_route_cache {
	uint64_t hits, misses;   /* this lcore's, for the benchmark and status */
	struct tw_route_cache_entry e[TW_RC_SETS][2];
	uint8_t last_used[TW_RC_SETS];
};

/**
 * tw_routes_match() through the cache: same results.
 * Ownership: borrows all; dest as for tw_routes_match(). Threads: the cache's lcore.
 */
int tw_routes_match_cached(const struct tw_routes *rt, struct tw_route_cache *c,
			   const char *exchange, uint32_t ex_len, const char *key, uint32_t key_len,
			   const struct tw_route_headers *headers, uint32_t *dest);

/**
 * The same from exchange index ex (tw_routes_find_exchange(), which the
 * caller has checked is not internal): for callers that count per exchange.
 */
int tw_routes_match_cached_at(const struct tw_routes *rt, struct tw_route_cache *c, uint32_t ex,
			      const char *key, uint32_t key_len,
			      const struct tw_route_headers *headers, uint32_t *dest);

#endif
