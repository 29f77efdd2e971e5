/*
 * Routing table lookups: see tw_routes.h for the RCU contract. They run
 * on io lcores once per task and allocate nothing. The table is built by
 * tw_routes_build.c: bindings sorted by exchange, so that fanout and
 * topic exchanges scan one contiguous range; direct exchanges (and the
 * default one) use the (exchange, key) hash. Topic exchanges share one
 * trie (tw_topic.c); headers exchanges compare each binding's criteria
 * with the task's headers.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "tw_hash.h"
#include "tw_routes_priv.h"
#include "tw_topic.h"
#include "tw_wire.h"

/*
 * Names are hashed 8 bytes at a time (tw_hash.h): every task looks up its
 * task name, its exchange and, for direct exchanges, its routing key, and
 * byte-wise FNV-1a cost a dependent multiply per byte (about 20 ns for a
 * 14-byte key here). Tails are read with loads that overlap the previous
 * chunk instead of a byte loop, and nothing past data + len is read. The
 * length is mixed in, so names that differ only in their overlapped bytes
 * still differ. A change here bumps TW_SHARED_LAYOUT_VERSION.
 */
uint32_t
tw_routes_hash(const void *data, uint32_t len, uint32_t seed)
{
	const uint8_t *p = data;
	uint64_t h = TW_HASH_SEED ^ ((uint64_t)seed << 32) ^ len;
	uint32_t o = 0;

	if (len >= 8) {
		for (; o + 8 < len; o += 8) /* bounded by len */
			h = tw_hash_step(h, tw_load_u64(p + o));
		h = tw_hash_step(h, tw_load_u64(p + len - 8));
	} else if (len >= 4) {
		h = tw_hash_step(h, tw_load_u32(p) | (uint64_t)tw_load_u32(p + len - 4) << 32);
	} else if (len > 0) {
		h = tw_hash_step(h, (uint64_t)p[0] | (uint64_t)p[len / 2] << 8 | (uint64_t)p[len - 1] << 16);
	}
	return tw_hash_final(h);
}



/*
 * Probe a name index. Entries are found through name_at(), which returns
 * the name and length of entry idx; queues and exchanges share this.
 * Bounded: an index is at most half full, so an empty slot ends the probe.
 */
static int
index_find(const struct tw_route_slot *ix, uint32_t mask, const void *table, size_t stride,
	   size_t name_off, size_t len_off, const char *name, uint32_t len)
{
	uint32_t h = tw_routes_hash(name, len, 0);

	for (uint32_t i = h & mask; ix[i].idx_plus1 != 0; i = (i + 1) & mask) {
		const uint8_t *e = (const uint8_t *)table + stride * (ix[i].idx_plus1 - 1);
		uint32_t elen;

		memcpy(&elen, e + len_off, sizeof(elen));
		/* len 0 (the default exchange) may come with a NULL name: no memcmp */
		if (ix[i].hash == h && elen == len && (len == 0 || memcmp(e + name_off, name, len) == 0))
			return (int)(ix[i].idx_plus1 - 1);
	}
	return -1;
}

int
tw_routes_find_exchange(const struct tw_routes *rt, const char *name, uint32_t len)
{
	return index_find(rt->exchange_index, rt->exchange_mask, rt->exchanges,
			  sizeof(*rt->exchanges), offsetof(struct tw_route_exchange, name),
			  offsetof(struct tw_route_exchange, name_len), name, len);
}

int
tw_routes_find_queue(const struct tw_routes *rt, const char *name, uint32_t len)
{
	return index_find(rt->queue_index, rt->queue_mask, rt->queues, sizeof(*rt->queues),
			  offsetof(struct tw_route_queue, name), offsetof(struct tw_route_queue, name_len),
			  name, len);
}

/*
 * What one lookup has reached so far, on the io lcore's stack. A task
 * usually reaches one or two queues through one or two exchanges, while
 * a table may hold tens of thousands of each: clearing a bitmap as wide
 * as the table for every task would cost more than the lookup. So the
 * sets start as the short lists the lookup keeps anyway (the queues
 * reached are dest[], the exchanges reached are seen_ex[]) and become
 * bitmaps only once a list passes MATCH_LIST_MAX entries: the bitmap is
 * then cleared once and filled from the list, a cost paid only by a task
 * that reaches that many.
 */
#define MATCH_LIST_MAX 16

struct match {
	const struct tw_routes *rt;
	const char *key;
	uint32_t key_len;
	const struct tw_route_headers *headers;
	uint32_t *dest;
	int n;
	bool queue_bits, ex_bits;             /* the sets are bitmaps now */
	uint32_t n_seen_ex;
	uint32_t seen_ex[MATCH_LIST_MAX];     /* exchanges reached while few */
	uint32_t n_pending;
	uint64_t queue_seen[(TW_MAX_QUEUES + 63) / 64];
	uint64_t ex_seen[(TW_MAX_EXCHANGES + 63) / 64];
	uint32_t pending[TW_MAX_EXCHANGES];   /* exchanges reached, not yet expanded */
};

static inline bool
test_and_set(uint64_t *bits, uint32_t i)
{
	uint64_t m = 1ull << (i & 63);
	bool was = (bits[i >> 6] & m) != 0;

	bits[i >> 6] |= m;
	return was;
}

static inline bool
in_list(const uint32_t *v, uint32_t n, uint32_t x)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Queue q reached: true the first time (then it is in dest[]). */
static bool
queue_first(struct match *m, uint32_t q)
{
	if (m->queue_bits)
		return !test_and_set(m->queue_seen, q);
	if (in_list(m->dest, (uint32_t)m->n, q))
		return false;
	if (m->n == MATCH_LIST_MAX) {
		memset(m->queue_seen, 0, sizeof(uint64_t) * ((m->rt->n_queues + 63) / 64));
		for (int i = 0; i < m->n; i++)
			test_and_set(m->queue_seen, m->dest[i]);
		test_and_set(m->queue_seen, q);
		m->queue_bits = true;
	}
	return true;
}

/* Has exchange x been reached? */
static bool
ex_reached(const struct match *m, uint32_t x)
{
	if (m->ex_bits)
		return (m->ex_seen[x >> 6] & (1ull << (x & 63))) != 0;
	return in_list(m->seen_ex, m->n_seen_ex, x);
}

/* Exchange x reached: true the first time. */
static bool
ex_first(struct match *m, uint32_t x)
{
	if (m->ex_bits)
		return !test_and_set(m->ex_seen, x);
	if (in_list(m->seen_ex, m->n_seen_ex, x))
		return false;
	if (m->n_seen_ex < MATCH_LIST_MAX) {
		m->seen_ex[m->n_seen_ex++] = x;
		return true;
	}
	memset(m->ex_seen, 0, sizeof(uint64_t) * ((m->rt->n_exchanges + 63) / 64));
	for (uint32_t i = 0; i < m->n_seen_ex; i++)
		test_and_set(m->ex_seen, m->seen_ex[i]);
	test_and_set(m->ex_seen, x);
	m->ex_bits = true;
	return true;
}

/* Destination dest of type dest_type (enum tw_dest_type), once. */
static void
reach_dest(struct match *m, uint32_t dest_type, uint32_t dest)
{
	if (dest_type == TW_DEST_QUEUE) {
		if (queue_first(m, dest))
			m->dest[m->n++] = dest;
	} else if (ex_first(m, dest)) {
		m->pending[m->n_pending++] = dest;
	}
}

static void
reach(struct match *m, const struct tw_route_binding *b)
{
	reach_dest(m, b->dest_type, b->dest);
}

static void
topic_hit(uint32_t value, void *arg)
{
	reach_dest(arg, value >> TW_ROUTE_TOPIC_TYPE_SHIFT, value & TW_ROUTE_TOPIC_DEST_MASK);
}

/* Does one binding criterion appear among the task's headers with the same value? */
static bool
header_present(const struct match *m, const struct tw_route_arg *a)
{
	struct tw_str rest = { m->headers->p, m->headers->len }, k, v;
	const char *key = m->rt->strings + a->key_off, *val = m->rt->strings + a->val_off;

	/* Bounded by the task's header count (TW_MAX_TASK_HEADERS on the wire). */
	while (tw_wire_header_next(&rest, &k, &v))
		if (k.len == a->key_len && memcmp(k.p, key, k.len) == 0)
			return v.len == a->val_len && memcmp(v.p, val, v.len) == 0;
	return false;
}

/*
 * RabbitMQ's headers semantics: criteria whose key starts with "x-" are
 * arguments, ignored unless the mode is *-with-x; "all" needs every
 * criterion, "any" at least one (so "any" with no criteria matches
 * nothing, "all" with none matches everything).
 */
static bool
headers_match(const struct match *m, const struct tw_route_binding *b)
{
	bool all = b->x_match == TW_XM_ALL || b->x_match == TW_XM_ALL_WITH_X;
	bool with_x = b->x_match == TW_XM_ALL_WITH_X || b->x_match == TW_XM_ANY_WITH_X;

	for (uint32_t i = 0; i < b->n_args; i++) {
		const struct tw_route_arg *a = &m->rt->args[b->first_arg + i];
		bool hit;

		if (!with_x && a->key_len >= 2 && memcmp(m->rt->strings + a->key_off, "x-", 2) == 0)
			continue;
		hit = m->headers != NULL && m->headers->n != 0 && header_present(m, a);
		if (all && !hit)
			return false;
		if (!all && hit)
			return true;
	}
	return all;
}

/* Follow one exchange's bindings for the task. */
static void
expand(struct match *m, uint32_t ex)
{
	const struct tw_routes *rt = m->rt;
	const struct tw_route_exchange *e = &rt->exchanges[ex];

	switch (e->type) {
	case TW_EX_DIRECT: {
		uint32_t h = tw_routes_binding_hash(ex, m->key, m->key_len);

		for (uint32_t i = h & rt->binding_mask; rt->binding_index[i].idx_plus1 != 0;
		     i = (i + 1) & rt->binding_mask) {
			const struct tw_route_slot *s = &rt->binding_index[i];
			const struct tw_route_binding *b = &rt->bindings[s->idx_plus1 - 1];

			if (s->hash == h && b->exchange == ex && b->key_len == m->key_len &&
			    memcmp(b->key, m->key, m->key_len) == 0)
				reach(m, b);
		}
		break;
	}
	case TW_EX_FANOUT:
		for (uint32_t i = 0; i < e->n_bindings; i++)
			reach(m, &rt->bindings[e->first_binding + i]);
		break;
	case TW_EX_TOPIC:
		if (rt->topic != NULL)
			tw_topic_match(rt->topic, e->topic_root, m->key, m->key_len, topic_hit, m);
		break;
	case TW_EX_HEADERS:
		for (uint32_t i = 0; i < e->n_bindings; i++) {
			const struct tw_route_binding *b = &rt->bindings[e->first_binding + i];

			if (headers_match(m, b))
				reach(m, b);
		}
		break;
	default:
		break;
	}
}

/* Expand from ex through exchange-to-exchange bindings. Each exchange once. */
static void
route_from(struct match *m, uint32_t ex)
{
	if (!ex_first(m, ex))
		return;
	m->pending[m->n_pending++] = ex;
	/* Bounded: every exchange enters pending at most once (ex_seen). */
	while (m->n_pending != 0)
		expand(m, m->pending[--m->n_pending]);
}

static void
match_init(struct match *m, const struct tw_routes *rt, const char *key, uint32_t key_len,
	   const struct tw_route_headers *headers, uint32_t *dest)
{
	/* no memset of the bitmaps: they are cleared when first used (queue_first, ex_first) */
	m->queue_bits = m->ex_bits = false;
	m->n_seen_ex = 0;
	m->rt = rt;
	m->key = key;
	m->key_len = key_len;
	m->headers = headers;
	m->dest = dest;
	m->n = 0;
	m->n_pending = 0;
}

/* Bindings from ex, then its alternate chain while nothing matched. */
static int
route_with_alternates(struct match *m, int ex)
{
	const struct tw_routes *rt = m->rt;

	route_from(m, (uint32_t)ex);
	/* Unroutable: the alternate exchange chain, each exchange at most once. */
	while (m->n == 0 && rt->exchanges[ex].alternate >= 0 &&
	       !ex_reached(m, (uint32_t)rt->exchanges[ex].alternate)) {
		ex = rt->exchanges[ex].alternate;
		route_from(m, (uint32_t)ex);
	}
	return m->n;
}

int
tw_routes_match_from(const struct tw_routes *rt, uint32_t ex, const char *key, uint32_t key_len,
		     const struct tw_route_headers *headers, uint32_t *dest)
{
	struct match m;

	if (ex >= rt->n_exchanges)
		return TW_ROUTE_NO_EXCHANGE;
	if (ex == 0) {
		int q = tw_routes_find_queue(rt, key, key_len);

		if (q < 0)
			return 0;
		dest[0] = (uint32_t)q;
		return 1;
	}
	match_init(&m, rt, key, key_len, headers, dest);
	return route_with_alternates(&m, (int)ex);
}

int
tw_routes_match(const struct tw_routes *rt, const char *exchange, uint32_t ex_len,
		const char *key, uint32_t key_len, const struct tw_route_headers *headers,
		uint32_t *dest)
{
	int ex = tw_routes_find_exchange(rt, exchange, ex_len);

	if (ex < 0)
		return TW_ROUTE_NO_EXCHANGE;
	if (rt->exchanges[ex].flags & TW_EX_F_INTERNAL)
		return TW_ROUTE_INTERNAL;
	return tw_routes_match_from(rt, (uint32_t)ex, key, key_len, headers, dest);
}
