/*
 * Per-lcore routing cache: see tw_route_cache.h.
 */
#include <stdbool.h>
#include <string.h>

#include "tw_route_cache.h"

/*
 * An entry keeps its indexes in 16 bits, so that it stays one cache line:
 * a result naming an index past them (a table of more than 65,536
 * exchanges or queues) is not cached, it is looked up each time.
 */
static bool
fits_u16(const uint32_t *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i] > UINT16_MAX)
			return false;
	return true;
}

int
tw_routes_match_cached(const struct tw_routes *rt, struct tw_route_cache *c, const char *exchange,
		       uint32_t ex_len, const char *key, uint32_t key_len,
		       const struct tw_route_headers *headers, uint32_t *dest)
{
	int ex = tw_routes_find_exchange(rt, exchange, ex_len);

	if (ex < 0)
		return TW_ROUTE_NO_EXCHANGE;
	if (rt->exchanges[ex].flags & TW_EX_F_INTERNAL)
		return TW_ROUTE_INTERNAL;
	return tw_routes_match_cached_at(rt, c, (uint32_t)ex, key, key_len, headers, dest);
}

int
tw_routes_match_cached_at(const struct tw_routes *rt, struct tw_route_cache *c, uint32_t ex,
			  const char *key, uint32_t key_len, const struct tw_route_headers *headers,
			  uint32_t *dest)
{
	struct tw_route_cache_entry *e;
	uint32_t h, set;
	int n;

	/* the default and plain direct exchanges are one probe already */
	if (key_len > TW_RC_KEY_MAX || rt->exchanges[ex].uses_headers ||
	    !rt->exchanges[ex].worth_caching)
		return tw_routes_match_from(rt, ex, key, key_len, headers, dest);
	h = tw_routes_hash(key, key_len, ex);
	set = h & (TW_RC_SETS - 1);
	for (unsigned w = 0; w < 2; w++) {
		e = &c->e[set][w];
		if (e->version == rt->version && e->hash == h && e->exchange == ex &&
		    e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
			c->hits++;
			c->last_used[set] = (uint8_t)w;
			for (uint32_t i = 0; i < e->n; i++)
				dest[i] = e->dest[i];
			return e->n;
		}
	}
	c->misses++;
	/* replace the way not used last */
	e = &c->e[set][c->last_used[set] ^ 1];
	c->last_used[set] ^= 1;
	n = tw_routes_match_from(rt, ex, key, key_len, headers, dest);
	if (n >= 0 && n <= TW_RC_DESTS && ex <= UINT16_MAX && fits_u16(dest, (uint32_t)n)) {
		e->version = rt->version;
		e->hash = h;
		e->exchange = (uint16_t)ex;
		e->key_len = (uint8_t)key_len;
		e->n = (uint8_t)n;
		for (int i = 0; i < n; i++)
			e->dest[i] = (uint16_t)dest[i];
		memcpy(e->key, key, key_len);
	}
	return n;
}
