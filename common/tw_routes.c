/*
 * Routing table builder and lookups: see tw_routes.h for the RCU contract.
 *
 * Build is cold code run by tw-control (and the unit tests); lookups run
 * on io lcores once per task and allocate nothing. Bindings are sorted by
 * exchange so that fanout and topic exchanges scan one contiguous range;
 * direct exchanges (and the default one) use the (exchange, key) hash.
 * Topic matching here is a word-by-word matcher per binding; it is exact
 * AMQP semantics but linear in the exchange's bindings.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tw_routes.h"

static const char *const type_names[TW_EX__MAX] = {
	[TW_EX_DIRECT] = "direct",
	[TW_EX_FANOUT] = "fanout",
	[TW_EX_TOPIC] = "topic",
	[TW_EX_HEADERS] = "headers",
};

const char *
tw_exchange_type_name(enum tw_exchange_type t)
{
	return (unsigned)t < TW_EX__MAX ? type_names[t] : "?";
}

int
tw_exchange_type_parse(const char *name)
{
	for (int i = 0; i < TW_EX__MAX; i++)
		if (strcmp(name, type_names[i]) == 0)
			return i;
	return -1;
}

/* FNV-1a, 32 bits: simple, stable across processes, good enough for names. */
uint32_t
tw_routes_hash(const void *data, uint32_t len, uint32_t seed)
{
	const uint8_t *p = data;
	uint32_t h = 2166136261u ^ seed;

	for (uint32_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t
binding_hash(uint32_t exchange, const char *key, uint32_t key_len)
{
	return tw_routes_hash(key, key_len, exchange * 0x9e3779b9u);
}

/* Power of two with at most 50% load. */
static uint32_t
index_slots(uint32_t n)
{
	uint32_t s = 8;

	while (s < 2 * n)
		s <<= 1;
	return s;
}

static void
index_insert(struct tw_route_slot *ix, uint32_t mask, uint32_t hash, uint32_t idx)
{
	uint32_t i = hash & mask;

	while (ix[i].idx_plus1 != 0)
		i = (i + 1) & mask;
	ix[i].hash = hash;
	ix[i].idx_plus1 = idx + 1;
}

static int
name_copy(char *dst, uint32_t *len, const char *src)
{
	size_t n = strnlen(src, TW_NAME_MAX);

	if (n >= TW_NAME_MAX)
		return -EINVAL;
	memcpy(dst, src, n);
	dst[n] = '\0';
	*len = (uint32_t)n;
	return 0;
}

struct sort_item {
	uint32_t exchange;
	uint32_t def;
};

static int
by_exchange(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;

	if (x->exchange != y->exchange)
		return x->exchange < y->exchange ? -1 : 1;
	return x->def < y->def ? -1 : x->def > y->def;
}

static void *
default_zalloc(size_t size, void *arg)
{
	(void)arg;
	return calloc(1, size);
}

static void
default_free(void *p, void *arg)
{
	(void)arg;
	free(p);
}

static const struct tw_alloc_ops libc_ops = { default_zalloc, default_free, NULL };

/* Fill queues and exchanges and their indexes. @return 0 or -EINVAL. */
static int
fill_names(struct tw_routes *rt, const struct tw_defs *d)
{
	for (uint32_t i = 0; i < d->n_queues; i++) {
		struct tw_route_queue *q = &rt->queues[i];

		if (d->queues[i].name[0] == '\0' ||
		    name_copy(q->name, &q->name_len, d->queues[i].name) != 0 ||
		    tw_routes_find_queue(rt, q->name, q->name_len) >= 0)
			return -EINVAL;
		q->slot = d->queues[i].slot;
		q->ring = d->queues[i].ring;
		index_insert(rt->queue_index, rt->queue_mask,
			     tw_routes_hash(q->name, q->name_len, 0), i);
		rt->n_queues = i + 1; /* visible to find_queue for the duplicate check */
	}
	/* exchange 0: the default exchange */
	rt->exchanges[0].type = TW_EX_DIRECT;
	index_insert(rt->exchange_index, rt->exchange_mask, tw_routes_hash("", 0, 0), 0);
	rt->n_exchanges = 1;
	for (uint32_t i = 0; i < d->n_exchanges; i++) {
		struct tw_route_exchange *e = &rt->exchanges[i + 1];

		if (d->exchanges[i].name[0] == '\0' || d->exchanges[i].type >= TW_EX__MAX ||
		    name_copy(e->name, &e->name_len, d->exchanges[i].name) != 0 ||
		    tw_routes_find_exchange(rt, e->name, e->name_len) >= 0)
			return -EINVAL;
		e->type = d->exchanges[i].type;
		index_insert(rt->exchange_index, rt->exchange_mask,
			     tw_routes_hash(e->name, e->name_len, 0), i + 1);
		rt->n_exchanges = i + 2;
	}
	return 0;
}

/* Resolve, sort by exchange and index the bindings. @return 0 or -errno. */
static int
fill_bindings(struct tw_routes *rt, const struct tw_defs *d, const struct tw_alloc_ops *ops)
{
	struct sort_item *order;
	int rc = 0;

	if (d->n_bindings == 0)
		return 0;
	order = ops->zalloc(sizeof(*order) * d->n_bindings, ops->arg);
	if (order == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->n_bindings; i++) {
		const struct tw_def_binding *b = &d->bindings[i];
		int ex = tw_routes_find_exchange(rt, b->source, (uint32_t)strnlen(b->source, TW_NAME_MAX));

		/* The default exchange's bindings are implicit and fixed. */
		if (ex <= 0) {
			rc = -EINVAL;
			goto out;
		}
		order[i].exchange = (uint32_t)ex;
		order[i].def = i;
	}
	qsort(order, d->n_bindings, sizeof(*order), by_exchange);
	for (uint32_t i = 0; i < d->n_bindings; i++) {
		const struct tw_def_binding *b = &d->bindings[order[i].def];
		struct tw_route_binding *rb = &rt->bindings[i];
		struct tw_route_exchange *e = &rt->exchanges[order[i].exchange];
		int q = tw_routes_find_queue(rt, b->destination,
					     (uint32_t)strnlen(b->destination, TW_NAME_MAX));

		if (q < 0 || name_copy(rb->key, &rb->key_len, b->key) != 0) {
			rc = -EINVAL;
			goto out;
		}
		rb->exchange = (uint16_t)order[i].exchange;
		rb->queue = (uint16_t)q;
		if (e->n_bindings++ == 0)
			e->first_binding = i;
		index_insert(rt->binding_index, rt->binding_mask,
			     binding_hash(rb->exchange, rb->key, rb->key_len), i);
	}
	rt->n_bindings = d->n_bindings;
out:
	ops->free(order, ops->arg);
	return rc;
}

struct tw_routes *
tw_routes_build(const struct tw_defs *d, const struct tw_alloc_ops *ops)
{
	uint32_t n_ex = d->n_exchanges + 1;
	uint32_t qs = index_slots(d->n_queues), es = index_slots(n_ex), bs = index_slots(d->n_bindings);
	size_t size, off;
	struct tw_routes *rt;
	uint8_t *base;
	int rc;

	if (ops == NULL)
		ops = &libc_ops;
	if (d->n_queues > TW_MAX_QUEUES || n_ex > TW_MAX_EXCHANGES ||
	    d->n_bindings > TW_MAX_BINDINGS) {
		errno = EINVAL;
		return NULL;
	}
	size = sizeof(*rt) + sizeof(struct tw_route_queue) * d->n_queues +
	       sizeof(struct tw_route_exchange) * n_ex +
	       sizeof(struct tw_route_binding) * d->n_bindings +
	       sizeof(struct tw_route_slot) * (qs + es + bs);
	base = ops->zalloc(size, ops->arg);
	if (base == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	rt = (struct tw_routes *)base;
	off = sizeof(*rt);
	rt->queues = (struct tw_route_queue *)(base + off);
	off += sizeof(struct tw_route_queue) * d->n_queues;
	rt->exchanges = (struct tw_route_exchange *)(base + off);
	off += sizeof(struct tw_route_exchange) * n_ex;
	rt->bindings = (struct tw_route_binding *)(base + off);
	off += sizeof(struct tw_route_binding) * d->n_bindings;
	rt->queue_index = (struct tw_route_slot *)(base + off);
	rt->exchange_index = rt->queue_index + qs;
	rt->binding_index = rt->exchange_index + es;
	rt->queue_mask = qs - 1;
	rt->exchange_mask = es - 1;
	rt->binding_mask = bs - 1;
	rt->version = d->version;
	rt->total_size = size;

	rc = fill_names(rt, d);
	if (rc == 0)
		rc = fill_bindings(rt, d, ops);
	if (rc != 0) {
		ops->free(rt, ops->arg);
		errno = -rc;
		return NULL;
	}
	return rt;
}

void
tw_routes_free(struct tw_routes *rt, const struct tw_alloc_ops *ops)
{
	if (rt == NULL)
		return;
	if (ops == NULL)
		ops = &libc_ops;
	ops->free(rt, ops->arg);
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
		if (ix[i].hash == h && elen == len && memcmp(e + name_off, name, len) == 0)
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

/* Append q unless already present. @return the new count. */
static int
add_dest(uint16_t *dest, int n, int max, uint16_t q)
{
	for (int i = 0; i < n; i++)
		if (dest[i] == q)
			return n;
	if (n < max)
		dest[n++] = q;
	return n;
}

/*
 * Split s into '.'-separated words. An empty string has no words (as in
 * RabbitMQ: "#" matches it, "*" does not); "a..b" has an empty middle word.
 * @return number of words; TW_NAME_MAX bounds it (at most len/2 + 1).
 */
static uint32_t
split_words(const char *s, uint32_t len, uint16_t *start, uint16_t *wlen)
{
	uint32_t n = 0, from = 0;

	if (len == 0)
		return 0;
	for (uint32_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			start[n] = (uint16_t)from;
			wlen[n] = (uint16_t)(i - from);
			n++;
			from = i + 1;
		}
	}
	return n;
}

#define TOPIC_MAX_WORDS (TW_NAME_MAX / 2 + 1)

/*
 * AMQP topic match: '*' matches exactly one word, '#' zero or more.
 * Dynamic programming over (pattern word, key word): reach[j] says the
 * pattern words seen so far can match the first j key words. Work is
 * pattern words x key words, both bounded by TW_NAME_MAX; no allocation.
 */
static bool
topic_match(const char *pat, uint32_t plen, const char *key, uint32_t klen)
{
	uint16_t ps[TOPIC_MAX_WORDS], pl[TOPIC_MAX_WORDS], ks[TOPIC_MAX_WORDS], kl[TOPIC_MAX_WORDS];
	bool reach[TOPIC_MAX_WORDS + 1];
	uint32_t np, nk;

	if (plen >= TW_NAME_MAX || klen >= TW_NAME_MAX)
		return false;
	np = split_words(pat, plen, ps, pl);
	nk = split_words(key, klen, ks, kl);
	memset(reach, 0, sizeof(reach));
	reach[0] = true;
	for (uint32_t i = 0; i < np; i++) {
		const char *w = pat + ps[i];

		if (pl[i] == 1 && w[0] == '#') {
			for (uint32_t j = 1; j <= nk; j++)
				reach[j] = reach[j] || reach[j - 1];
			continue;
		}
		for (uint32_t j = nk; j >= 1; j--)
			reach[j] = reach[j - 1] &&
				   ((pl[i] == 1 && w[0] == '*') ||
				    (pl[i] == kl[j - 1] && memcmp(w, key + ks[j - 1], pl[i]) == 0));
		reach[0] = false;
	}
	return reach[nk];
}

int
tw_routes_match(const struct tw_routes *rt, const char *exchange, uint32_t ex_len,
		const char *key, uint32_t key_len, uint16_t *dest, int max)
{
	int ex = tw_routes_find_exchange(rt, exchange, ex_len);
	const struct tw_route_exchange *e;
	int n = 0;

	if (ex < 0)
		return -1;
	if (ex == 0) {
		int q = tw_routes_find_queue(rt, key, key_len);

		if (q < 0 || max < 1)
			return 0;
		dest[0] = (uint16_t)q;
		return 1;
	}
	e = &rt->exchanges[ex];
	switch (e->type) {
	case TW_EX_DIRECT: {
		uint32_t h = binding_hash((uint32_t)ex, key, key_len);

		for (uint32_t i = h & rt->binding_mask; rt->binding_index[i].idx_plus1 != 0;
		     i = (i + 1) & rt->binding_mask) {
			const struct tw_route_slot *s = &rt->binding_index[i];
			const struct tw_route_binding *b = &rt->bindings[s->idx_plus1 - 1];

			if (s->hash == h && b->exchange == ex && b->key_len == key_len &&
			    memcmp(b->key, key, key_len) == 0)
				n = add_dest(dest, n, max, b->queue);
		}
		break;
	}
	case TW_EX_FANOUT:
		for (uint32_t i = 0; i < e->n_bindings; i++)
			n = add_dest(dest, n, max, rt->bindings[e->first_binding + i].queue);
		break;
	case TW_EX_TOPIC:
		for (uint32_t i = 0; i < e->n_bindings; i++) {
			const struct tw_route_binding *b = &rt->bindings[e->first_binding + i];

			if (topic_match(b->key, b->key_len, key, key_len))
				n = add_dest(dest, n, max, b->queue);
		}
		break;
	default:
		/* headers exchanges match on task headers: not routed by key */
		break;
	}
	return n;
}
