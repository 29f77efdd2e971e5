/*
 * Building a routing table from definitions, and the names of its enums:
 * see tw_routes.h. Cold code, run by whoever publishes a table (the
 * broker library, in tw-control or tw-dataplane's --definitions) and by
 * the unit tests; the lookups that read the result are in tw_routes.c.
 *
 * Bindings are sorted by exchange so that fanout and topic exchanges scan
 * one contiguous range; direct exchanges (and the default one) are indexed
 * by the (exchange, key) hash; topic bindings go into one shared trie
 * (tw_topic_build.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tw_routes_priv.h"
#include "tw_topic.h"

static const char *const type_names[TW_EX__MAX] = {
	[TW_EX_DIRECT] = "direct",
	[TW_EX_FANOUT] = "fanout",
	[TW_EX_TOPIC] = "topic",
	[TW_EX_HEADERS] = "headers",
};

static const char *const x_match_names[] = {
	[TW_XM_ALL] = "all",
	[TW_XM_ANY] = "any",
	[TW_XM_ALL_WITH_X] = "all-with-x",
	[TW_XM_ANY_WITH_X] = "any-with-x",
};

const char *
tw_x_match_name(enum tw_x_match m)
{
	return (unsigned)m <= TW_XM_ANY_WITH_X ? x_match_names[m] : "?";
}

int
tw_x_match_parse(const char *name)
{
	for (int i = 0; i <= TW_XM_ANY_WITH_X; i++)
		if (strcmp(name, x_match_names[i]) == 0)
			return i;
	return -1;
}

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
		if (rt->slot_queue[q->slot] != TW_ROUTE_NONE)
			return -EINVAL;
		rt->slot_queue[q->slot] = i;
		if (q->slot >= rt->slot_end)
			rt->slot_end = q->slot + 1u;
		q->ring = d->queues[i].ring;
		q->overflow = d->queues[i].overflow;
		q->max_length = d->queues[i].max_length;
		q->max_bytes = d->queues[i].max_bytes;
		q->durable = d->queues[i].durable;
		q->consumers = d->queues[i].consumers;
		q->delivery_limit = d->queues[i].delivery_limit != 0 ? d->queues[i].delivery_limit
								     : TW_QUEUE_DEFAULT_DELIVERY_LIMIT;
		q->max_priority = d->queues[i].max_priority > TW_MAX_PRIORITY ? TW_MAX_PRIORITY
									  : d->queues[i].max_priority;
		memcpy(q->levels, d->queues[i].levels, sizeof(q->levels));
		q->ttl_ticks = (uint64_t)d->queues[i].message_ttl_ms *
			       (d->tsc_hz != 0 ? d->tsc_hz : 1000000000u) / 1000;
		index_insert(rt->queue_index, rt->queue_mask,
			     tw_routes_hash(q->name, q->name_len, 0), i);
		rt->n_queues = i + 1; /* visible to find_queue for the duplicate check */
	}
	/* exchange 0: the default exchange */
	rt->exchanges[0].type = TW_EX_DIRECT;
	rt->exchanges[0].alternate = -1;
	index_insert(rt->exchange_index, rt->exchange_mask, tw_routes_hash("", 0, 0), 0);
	rt->n_exchanges = 1;
	for (uint32_t i = 0; i < d->n_exchanges; i++) {
		struct tw_route_exchange *e = &rt->exchanges[i + 1];

		if (d->exchanges[i].name[0] == '\0' || d->exchanges[i].type >= TW_EX__MAX ||
		    name_copy(e->name, &e->name_len, d->exchanges[i].name) != 0 ||
		    tw_routes_find_exchange(rt, e->name, e->name_len) >= 0)
			return -EINVAL;
		e->type = d->exchanges[i].type;
		e->flags = d->exchanges[i].flags;
		e->slot = d->exchanges[i].slot < TW_MAX_EXCHANGES ? d->exchanges[i].slot : 0;
		if (d->exchanges[i].n_allow > TW_MAX_ALLOW)
			return -EINVAL;
		e->n_allow = d->exchanges[i].n_allow;
		memcpy(e->allow, d->exchanges[i].allow, sizeof(e->allow[0]) * e->n_allow);
		index_insert(rt->exchange_index, rt->exchange_mask,
			     tw_routes_hash(e->name, e->name_len, 0), i + 1);
		rt->n_exchanges = i + 2;
	}
	/* Dead-letter exchanges by name, as alternates: a missing one is none. */
	for (uint32_t i = 0; i < d->n_queues; i++) {
		const struct tw_def_queue *dq = &d->queues[i];
		struct tw_route_queue *q = &rt->queues[i];

		q->dlx = dq->dlx[0] == '\0' ? -1
					    : tw_routes_find_exchange(rt, dq->dlx,
								      (uint32_t)strnlen(dq->dlx, TW_NAME_MAX));
		q->has_dl_key = dq->has_dl_key;
		if (dq->has_dl_key && name_copy(q->dl_key, &q->dl_key_len, dq->dl_key) != 0)
			return -EINVAL;
	}
	/* Alternates by name, once every exchange is known; a missing one is no alternate. */
	for (uint32_t i = 0; i < d->n_exchanges; i++) {
		const char *alt = d->exchanges[i].alternate;

		rt->exchanges[i + 1].alternate =
			alt[0] == '\0' ? -1
				       : tw_routes_find_exchange(rt, alt,
								 (uint32_t)strnlen(alt, TW_NAME_MAX));
	}
	return 0;
}

/* Header-argument strings of one binding into rt->strings. */
static int
fill_args(struct tw_routes *rt, const struct tw_def_binding *b, struct tw_route_binding *rb,
	  uint32_t *str_used)
{
	if (b->n_args > TW_MAX_BINDING_ARGS || (b->n_args != 0 && b->args == NULL))
		return -EINVAL;
	rb->first_arg = rt->n_args;
	rb->n_args = b->n_args;
	for (uint32_t a = 0; a < b->n_args; a++) {
		struct tw_route_arg *ra = &rt->args[rt->n_args++];
		uint32_t kl = (uint32_t)strnlen(b->args[a].key, TW_NAME_MAX);
		uint32_t vl = (uint32_t)strnlen(b->args[a].value, TW_NAME_MAX);

		if (kl == 0 || kl >= TW_NAME_MAX || vl >= TW_NAME_MAX)
			return -EINVAL;
		ra->key_off = *str_used;
		ra->key_len = kl;
		memcpy(rt->strings + *str_used, b->args[a].key, kl);
		*str_used += kl;
		ra->val_off = *str_used;
		ra->val_len = vl;
		memcpy(rt->strings + *str_used, b->args[a].value, vl);
		*str_used += vl;
	}
	return 0;
}

/* Resolve, sort by exchange and index the bindings. @return 0 or -errno. */
static int
fill_bindings(struct tw_routes *rt, const struct tw_defs *d, const struct tw_alloc_ops *ops)
{
	struct sort_item *order;
	uint32_t str_used = 0;
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
		uint32_t dlen = (uint32_t)strnlen(b->destination, TW_NAME_MAX);
		int dst = b->dest_type == TW_DEST_EXCHANGE
				  ? tw_routes_find_exchange(rt, b->destination, dlen)
				  : tw_routes_find_queue(rt, b->destination, dlen);

		/* the default exchange is no destination: it has no bindings to follow */
		if (dst < 0 || (b->dest_type == TW_DEST_EXCHANGE && dst == 0) ||
		    b->dest_type > TW_DEST_EXCHANGE || b->x_match > TW_XM_ANY_WITH_X ||
		    name_copy(rb->key, &rb->key_len, b->key) != 0 ||
		    fill_args(rt, b, rb, &str_used) != 0) {
			rc = -EINVAL;
			goto out;
		}
		rb->exchange = order[i].exchange;
		rb->dest_type = b->dest_type;
		rb->dest = (uint32_t)dst;
		rb->x_match = b->x_match;
		if (e->n_bindings++ == 0)
			e->first_binding = i;
		index_insert(rt->binding_index, rt->binding_mask,
			     tw_routes_binding_hash(rb->exchange, rb->key, rb->key_len), i);
	}
	rt->n_bindings = d->n_bindings;
out:
	ops->free(order, ops->arg);
	return rc;
}

/*
 * Mark the exchanges whose routing can depend on task headers: headers
 * exchanges and every exchange that reaches one through bindings or
 * alternates. A fixpoint over at most TW_MAX_EXCHANGES passes.
 */
static void
mark_headers_use(struct tw_routes *rt)
{
	bool changed = true;

	for (uint32_t x = 0; x < rt->n_exchanges; x++)
		rt->exchanges[x].uses_headers = rt->exchanges[x].type == TW_EX_HEADERS;
	for (uint32_t pass = 0; changed && pass < rt->n_exchanges; pass++) {
		changed = false;
		for (uint32_t x = 0; x < rt->n_exchanges; x++) {
			struct tw_route_exchange *e = &rt->exchanges[x];
			bool u = e->uses_headers;

			if (e->alternate >= 0 && rt->exchanges[e->alternate].uses_headers)
				u = true;
			for (uint32_t i = 0; i < e->n_bindings && !u; i++) {
				const struct tw_route_binding *b = &rt->bindings[e->first_binding + i];

				u = b->dest_type == TW_DEST_EXCHANGE && rt->exchanges[b->dest].uses_headers;
			}
			if (u && !e->uses_headers) {
				e->uses_headers = 1;
				changed = true;
			}
		}
	}
	for (uint32_t x = 0; x < rt->n_exchanges; x++) {
		struct tw_route_exchange *e = &rt->exchanges[x];

		e->worth_caching = e->type == TW_EX_TOPIC || e->alternate >= 0;
		for (uint32_t i = 0; i < e->n_bindings && !e->worth_caching; i++)
			e->worth_caching = rt->bindings[e->first_binding + i].dest_type == TW_DEST_EXCHANGE;
	}
}

/*
 * A topic pattern reports its binding's destination rather than the
 * binding's index, so that a match costs no read of the 144-byte binding
 * record (a cache miss per matched binding in a big table).
 */
static uint32_t
topic_value(const struct tw_route_binding *b)
{
	return (uint32_t)b->dest_type << TW_ROUTE_TOPIC_TYPE_SHIFT | b->dest;
}

/* One trie for every topic exchange's bindings. @return 0 or -ENOMEM. */
static int
build_topic(struct tw_routes *rt, const struct tw_alloc_ops *ops)
{
	struct tw_topic_pattern *pats;
	uint32_t n = 0, roots = 0;

	for (uint32_t x = 0; x < rt->n_exchanges; x++)
		if (rt->exchanges[x].type == TW_EX_TOPIC) {
			rt->exchanges[x].topic_root = roots++;
			n += rt->exchanges[x].n_bindings;
		}
	if (roots == 0)
		return 0;
	pats = ops->zalloc(sizeof(*pats) * (n ? n : 1), ops->arg);
	if (pats == NULL)
		return -ENOMEM;
	n = 0;
	for (uint32_t x = 0; x < rt->n_exchanges; x++) {
		const struct tw_route_exchange *e = &rt->exchanges[x];

		if (e->type != TW_EX_TOPIC)
			continue;
		for (uint32_t i = 0; i < e->n_bindings; i++) {
			const struct tw_route_binding *b = &rt->bindings[e->first_binding + i];

			pats[n++] = (struct tw_topic_pattern){ topic_value(b), e->topic_root, b->key,
							       b->key_len };
		}
	}
	rt->topic = tw_topic_build(pats, n, roots, ops);
	ops->free(pats, ops->arg);
	return rt->topic != NULL ? 0 : -ENOMEM;
}

struct tw_routes *
tw_routes_build(const struct tw_defs *d, const struct tw_alloc_ops *ops)
{
	uint32_t n_ex = d->n_exchanges + 1, n_args = 0;
	uint32_t qs = index_slots(d->n_queues), es = index_slots(n_ex), bs = index_slots(d->n_bindings);
	size_t size, off, strings = 0;
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
	for (uint32_t i = 0; i < d->n_bindings; i++) {
		if (d->bindings[i].n_args > TW_MAX_BINDING_ARGS) {
			errno = EINVAL;
			return NULL;
		}
		n_args += d->bindings[i].n_args;
		strings += (size_t)d->bindings[i].n_args * 2 * TW_NAME_MAX;
	}
	size = sizeof(*rt) + sizeof(struct tw_route_queue) * d->n_queues +
	       sizeof(struct tw_route_exchange) * n_ex +
	       sizeof(struct tw_route_binding) * d->n_bindings +
	       sizeof(struct tw_route_arg) * n_args +
	       sizeof(struct tw_route_slot) * (qs + es + bs) + strings;
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
	rt->args = (struct tw_route_arg *)(base + off);
	off += sizeof(struct tw_route_arg) * n_args;
	rt->queue_index = (struct tw_route_slot *)(base + off);
	rt->exchange_index = rt->queue_index + qs;
	rt->binding_index = rt->exchange_index + es;
	rt->strings = (char *)(rt->binding_index + bs);
	rt->queue_mask = qs - 1;
	rt->exchange_mask = es - 1;
	rt->binding_mask = bs - 1;
	rt->version = d->version;
	rt->total_size = size;

	memset(rt->slot_queue, 0xff, sizeof(rt->slot_queue));
	rc = fill_names(rt, d);
	if (rc == 0)
		rc = fill_bindings(rt, d, ops);
	if (rc == 0)
		rc = build_topic(rt, ops);
	if (rc == 0)
		mark_headers_use(rt);
	if (rc != 0) {
		tw_routes_free(rt, ops);
		errno = -rc;
		return NULL;
	}
	if (rt->topic != NULL)
		rt->total_size += rt->topic->total_size;
	return rt;
}

void
tw_routes_free(struct tw_routes *rt, const struct tw_alloc_ops *ops)
{
	if (rt == NULL)
		return;
	if (ops == NULL)
		ops = &libc_ops;
	tw_topic_free(rt->topic, ops);
	ops->free(rt, ops->arg);
}
