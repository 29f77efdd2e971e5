/*
 * Topic trie: see tw_topic.h. The build uses growing temporary arrays
 * (cold, tw-control); the result is flattened into one block.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tw_routes.h"
#include "tw_topic.h"

uint32_t
tw_topic_split(const char *s, uint32_t len, uint16_t *start, uint16_t *wlen)
{
	uint32_t n = 0, from = 0;

	if (len == 0 || len >= TW_NAME_MAX)
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

/* Temporary build state. */
struct builder {
	struct tw_topic_node *nodes;
	uint32_t n_nodes, cap_nodes;
	struct tw_topic_edge *edges;   /* open addressing, resized at 50% */
	uint32_t n_edges, edge_mask;
	char *words;
	uint32_t words_len, words_cap;
	uint32_t *binding_node;        /* per pattern: the node it ends at */
};

/*
 * Edge hash = a mix of the word's own hash and the parent node. A lookup
 * hashes each key word once and then pays only the mix per node visited.
 */
static inline uint32_t
edge_mix(uint32_t word_hash, uint32_t parent)
{
	uint32_t h = word_hash ^ (parent * 0x9e3779b1u);

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

static uint32_t
edge_hash(uint32_t parent, const char *w, uint32_t len)
{
	return edge_mix(tw_routes_hash(w, len, 0), parent);
}

static int
new_node(struct builder *b, uint32_t *id)
{
	if (b->n_nodes == b->cap_nodes) {
		uint32_t cap = b->cap_nodes ? b->cap_nodes * 2 : 64;
		void *p = realloc(b->nodes, sizeof(*b->nodes) * cap);

		if (p == NULL)
			return -ENOMEM;
		b->nodes = p;
		b->cap_nodes = cap;
	}
	memset(&b->nodes[b->n_nodes], 0, sizeof(b->nodes[0]));
	*id = b->n_nodes++;
	return 0;
}

static int
edges_grow(struct builder *b)
{
	uint32_t slots = (b->edge_mask + 1) * 2;
	struct tw_topic_edge *e = calloc(slots, sizeof(*e));

	if (e == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; b->edges != NULL && i <= b->edge_mask; i++) {
		uint32_t j;

		if (b->edges[i].child_plus1 == 0)
			continue;
		for (j = b->edges[i].hash & (slots - 1); e[j].child_plus1 != 0; j = (j + 1) & (slots - 1))
			;
		e[j] = b->edges[i];
	}
	free(b->edges);
	b->edges = e;
	b->edge_mask = slots - 1;
	return 0;
}

/* The literal child of parent for word w, created if absent. */
static int
literal_child(struct builder *b, uint32_t parent, const char *w, uint32_t len, uint32_t *child)
{
	uint32_t h = edge_hash(parent, w, len), i;
	int ret;

	for (i = h & b->edge_mask; b->edges[i].child_plus1 != 0; i = (i + 1) & b->edge_mask) {
		const struct tw_topic_edge *e = &b->edges[i];

		if (e->hash == h && e->parent == parent && e->word_len == len &&
		    memcmp(b->words + e->word_off, w, len) == 0) {
			*child = e->child_plus1 - 1;
			return 0;
		}
	}
	if (b->words_len + len > b->words_cap) {
		uint32_t cap = b->words_cap ? b->words_cap : 1024;
		void *p;

		while (cap < b->words_len + len)
			cap *= 2;
		p = realloc(b->words, cap);
		if (p == NULL)
			return -ENOMEM;
		b->words = p;
		b->words_cap = cap;
	}
	ret = new_node(b, child);
	if (ret != 0)
		return ret;
	memcpy(b->words + b->words_len, w, len);
	b->edges[i] = (struct tw_topic_edge){ parent, *child + 1, h, b->words_len, len };
	b->words_len += len;
	if (++b->n_edges * 2 > b->edge_mask + 1)
		return edges_grow(b);
	return 0;
}

static int
insert(struct builder *b, const struct tw_topic_pattern *p, uint32_t *end)
{
	uint16_t ws[TW_TOPIC_MAX_WORDS], wl[TW_TOPIC_MAX_WORDS];
	uint32_t nw = tw_topic_split(p->key, p->key_len, ws, wl), node = p->root;
	int ret;

	for (uint32_t i = 0; i < nw; i++) {
		const char *w = p->key + ws[i];
		uint32_t *link = NULL, child;

		/* "#.#" matches exactly what "#" matches: keep one, so walks stay short */
		if (wl[i] == 1 && w[0] == '#' && i > 0 && wl[i - 1] == 1 && p->key[ws[i - 1]] == '#')
			continue;
		if (wl[i] == 1 && w[0] == '*')
			link = &b->nodes[node].star_plus1;
		else if (wl[i] == 1 && w[0] == '#')
			link = &b->nodes[node].hash_plus1;
		if (link != NULL) {
			if (*link == 0) {
				ret = new_node(b, &child);
				if (ret != 0)
					return ret;
				/* new_node may have moved the array: take the link again */
				link = w[0] == '*' ? &b->nodes[node].star_plus1 : &b->nodes[node].hash_plus1;
				*link = child + 1;
			}
			node = *link - 1;
			continue;
		}
		ret = literal_child(b, node, w, wl[i], &child);
		if (ret != 0)
			return ret;
		node = child;
	}
	*end = node;
	return 0;
}

static void
builder_free(struct builder *b)
{
	free(b->nodes);
	free(b->edges);
	free(b->words);
	free(b->binding_node);
}

struct tw_topic *
tw_topic_build(const struct tw_topic_pattern *p, uint32_t n, uint32_t n_roots,
	       const struct tw_alloc_ops *ops)
{
	struct builder b = { 0 };
	struct tw_topic *t = NULL;
	uint32_t id, *fill;
	uint64_t size;
	uint8_t *base;

	b.binding_node = calloc(n ? n : 1, sizeof(uint32_t));
	/* never NULL, even with no words at all: edges of empty words point into it (fuzz_topic) */
	b.words = malloc(64);
	b.words_cap = 64;
	if (b.binding_node == NULL || b.words == NULL || edges_grow(&b) != 0)
		goto fail;
	for (uint32_t r = 0; r < n_roots; r++)
		if (new_node(&b, &id) != 0)
			goto fail;
	for (uint32_t i = 0; i < n; i++) {
		if (p[i].root >= n_roots || insert(&b, &p[i], &b.binding_node[i]) != 0)
			goto fail;
		b.nodes[b.binding_node[i]].count++;
	}

	size = sizeof(*t) + sizeof(struct tw_topic_node) * b.n_nodes +
	       sizeof(struct tw_topic_edge) * (b.edge_mask + 1) + sizeof(uint32_t) * n + b.words_len;
	base = ops->zalloc(size, ops->arg);
	if (base == NULL)
		goto fail;
	t = (struct tw_topic *)base;
	t->total_size = size;
	t->n_nodes = b.n_nodes;
	t->edge_mask = b.edge_mask;
	t->nodes = (struct tw_topic_node *)(t + 1);
	t->edges = (struct tw_topic_edge *)(t->nodes + b.n_nodes);
	t->bindings = (uint32_t *)(t->edges + b.edge_mask + 1);
	t->words = (char *)(t->bindings + n);
	memcpy(t->nodes, b.nodes, sizeof(*t->nodes) * b.n_nodes);
	memcpy(t->edges, b.edges, sizeof(*t->edges) * (b.edge_mask + 1));
	if (b.words_len != 0) /* no literal words: b.words is NULL (found by fuzz_topic) */
		memcpy(t->words, b.words, b.words_len);
	/* bindings grouped by node, in pattern order within a node */
	for (uint32_t i = 0, off = 0; i < b.n_nodes; i++) {
		t->nodes[i].first = off;
		off += t->nodes[i].count;
		t->nodes[i].count = 0;
	}
	fill = t->bindings;
	for (uint32_t i = 0; i < n; i++) {
		struct tw_topic_node *nd = &t->nodes[b.binding_node[i]];

		fill[nd->first + nd->count++] = p[i].binding;
	}
	builder_free(&b);
	return t;
fail:
	builder_free(&b);
	errno = ENOMEM;
	return NULL;
}

void
tw_topic_free(struct tw_topic *t, const struct tw_alloc_ops *ops)
{
	if (t != NULL)
		ops->free(t, ops->arg);
}

struct walk {
	const struct tw_topic *t;
	const char *key;
	const uint16_t *ws, *wl;
	const uint32_t *wh;    /* hash of each key word */
	uint32_t nk;
	tw_topic_match_fn fn;
	void *arg;
};

static void
report(const struct walk *w, const struct tw_topic_node *nd)
{
	for (uint32_t i = 0; i < nd->count; i++)
		w->fn(w->t->bindings[nd->first + i], w->arg);
}

/*
 * Match key words [i, nk) from node. Recursion depth is bounded by the
 * number of words plus the pattern length (both < TW_NAME_MAX); a '#'
 * node tries every split of the remaining words.
 */
static void
walk(const struct walk *w, uint32_t node, uint32_t i)
{
	const struct tw_topic_node *nd = &w->t->nodes[node];

	if (nd->hash_plus1 != 0)
		for (uint32_t j = i; j <= w->nk; j++)
			walk(w, nd->hash_plus1 - 1, j);
	if (i == w->nk) {
		report(w, nd);
		return;
	}
	if (nd->star_plus1 != 0)
		walk(w, nd->star_plus1 - 1, i + 1);
	{
		const char *word = w->key + w->ws[i];
		uint32_t len = w->wl[i], h = edge_mix(w->wh[i], node), mask = w->t->edge_mask;

		for (uint32_t s = h & mask; w->t->edges[s].child_plus1 != 0; s = (s + 1) & mask) {
			const struct tw_topic_edge *e = &w->t->edges[s];

			if (e->hash == h && e->parent == node && e->word_len == len &&
			    memcmp(w->t->words + e->word_off, word, len) == 0) {
				walk(w, e->child_plus1 - 1, i + 1);
				break;
			}
		}
	}
}

void
tw_topic_match(const struct tw_topic *t, uint32_t root, const char *key, uint32_t key_len,
	       tw_topic_match_fn fn, void *arg)
{
	uint16_t ws[TW_TOPIC_MAX_WORDS], wl[TW_TOPIC_MAX_WORDS];
	uint32_t wh[TW_TOPIC_MAX_WORDS];
	struct walk w = { t, key, ws, wl, wh, 0, fn, arg };

	if (key_len >= TW_NAME_MAX)
		return;
	w.nk = tw_topic_split(key, key_len, ws, wl);
	for (uint32_t i = 0; i < w.nk; i++)
		wh[i] = tw_routes_hash(key + ws[i], wl[i], 0);
	walk(&w, root, 0);
}
