/*
 * Topic trie builder (cold: tw-control and the tests). Inserts patterns
 * into a pointer-free temporary trie in growing arrays, then lays it out
 * as the lookup reads it (see tw_topic.h) in one block from tw_alloc_ops.
 * Owns its temporary arrays and frees them before returning.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tw_routes.h"
#include "tw_topic.h"
#include "tw_topic_priv.h"

struct bnode {
	uint32_t star, hash;      /* child ids + 1, 0 if none */
	uint32_t n_lit, n_bind;
	uint32_t first_lit;       /* into builder.lits, once all patterns are in */
	uint32_t fill;            /* bindings written so far */
	uint32_t ref;             /* final reference, once laid out */
	uint32_t value;           /* of the last pattern ending here */
	uint8_t loop;             /* reached by '#' */
	uint8_t literals;         /* literal words on the path from the root, <= TW_TOPIC_MAX_WORDS */
};

/* A literal edge, in the (parent, word) hash and then grouped by parent or word. */
struct bedge {
	uint32_t parent, word, child_plus1, hash;
};

struct bword {
	uint32_t hash, len, off;  /* off: into builder.text */
	uint32_t n_big, first_big; /* its edges out of big nodes: builder.big[first_big ..) */
	uint32_t ref;             /* final offset = id */
};

struct builder {
	struct bnode *nodes;
	uint32_t n_nodes, cap_nodes;
	struct bedge *edges;      /* (parent, word) -> child; open addressing, <= 50% full */
	uint32_t n_edges, edge_mask;
	uint32_t *word_slot;      /* word hash -> id; open addressing, <= 50% full */
	uint32_t word_mask;
	struct bword *words;      /* by id - 1 */
	uint32_t n_words, cap_words;
	char *text;
	uint32_t text_len, text_cap;
	struct bedge *lits;       /* the edges grouped by parent */
	struct bedge *big;        /* the edges out of big nodes, grouped by word */
	uint32_t *stack;          /* layout's depth-first stack, one entry per node */
	uint32_t *binding_node;   /* per pattern: the node it ends at */
};

/* Make room for need elements of size elem in *p (capacity *cap). */
static int
reserve(void **p, uint32_t *cap, uint64_t need, size_t elem)
{
	uint64_t c = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if (c > UINT32_MAX)
		return -ENOMEM;
	q = realloc(*p, c * elem);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = (uint32_t)c;
	return 0;
}

static int
new_node(struct builder *b, uint32_t *id)
{
	if (reserve((void **)&b->nodes, &b->cap_nodes, (uint64_t)b->n_nodes + 1, sizeof(*b->nodes)))
		return -ENOMEM;
	memset(&b->nodes[b->n_nodes], 0, sizeof(b->nodes[0]));
	*id = b->n_nodes++;
	return 0;
}

static int
edges_grow(struct builder *b)
{
	uint32_t slots = (b->edge_mask + 1) * 2;
	struct bedge *e = calloc(slots, sizeof(*e));

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

static int
words_grow(struct builder *b)
{
	uint32_t slots = (b->word_mask + 1) * 2;
	uint32_t *s = calloc(slots, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	for (uint32_t id = 1; id <= b->n_words; id++) {
		uint32_t j;

		for (j = b->words[id - 1].hash & (slots - 1); s[j] != 0; j = (j + 1) & (slots - 1))
			;
		s[j] = id;
	}
	free(b->word_slot);
	b->word_slot = s;
	b->word_mask = slots - 1;
	return 0;
}

/* The id of literal word w, interned if new. */
static int
intern(struct builder *b, const char *w, uint32_t len, uint32_t *id)
{
	uint32_t h = tw_topic_word_hash(w, len), s;

	for (s = h & b->word_mask; b->word_slot[s] != 0; s = (s + 1) & b->word_mask) {
		const struct bword *x = &b->words[b->word_slot[s] - 1];

		if (x->hash == h && x->len == len && memcmp(b->text + x->off, w, len) == 0) {
			*id = b->word_slot[s];
			return 0;
		}
	}
	if (reserve((void **)&b->words, &b->cap_words, (uint64_t)b->n_words + 1, sizeof(*b->words)) ||
	    reserve((void **)&b->text, &b->text_cap, (uint64_t)b->text_len + len, 1))
		return -ENOMEM;
	if (len != 0)
		memcpy(b->text + b->text_len, w, len);
	b->words[b->n_words] = (struct bword){ .hash = h, .len = len, .off = b->text_len };
	b->text_len += len;
	b->word_slot[s] = *id = ++b->n_words;
	return b->n_words * 2 > b->word_mask + 1 ? words_grow(b) : 0;
}

static uint32_t
pair_hash(uint32_t parent, uint32_t word)
{
	uint64_t h = (uint64_t)parent << 32 | word;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return (uint32_t)(h ^ h >> 33);
}

/* The literal child of parent for word w, created if absent. */
static int
literal_child(struct builder *b, uint32_t parent, const char *w, uint32_t len, uint32_t *child)
{
	uint32_t word, h, i;
	int ret = intern(b, w, len, &word);

	if (ret != 0)
		return ret;
	h = pair_hash(parent, word);
	for (i = h & b->edge_mask; b->edges[i].child_plus1 != 0; i = (i + 1) & b->edge_mask) {
		const struct bedge *e = &b->edges[i];

		if (e->parent == parent && e->word == word) {
			*child = e->child_plus1 - 1;
			return 0;
		}
	}
	ret = new_node(b, child);
	if (ret != 0)
		return ret;
	b->edges[i] = (struct bedge){ parent, word, *child + 1, h };
	b->nodes[parent].n_lit++;
	b->nodes[*child].literals = (uint8_t)(b->nodes[parent].literals + 1);
	return ++b->n_edges * 2 > b->edge_mask + 1 ? edges_grow(b) : 0;
}

static int
insert(struct builder *b, const struct tw_topic_pattern *p, uint32_t *end)
{
	uint16_t ws[TW_TOPIC_MAX_WORDS], wl[TW_TOPIC_MAX_WORDS];
	uint32_t nw = tw_topic_split(p->key, p->key_len, ws, wl), node = p->root;
	int ret;

	for (uint32_t i = 0; i < nw; i++) {
		const char *w = p->key + ws[i];
		bool star = wl[i] == 1 && w[0] == '*', hash = wl[i] == 1 && w[0] == '#';
		uint32_t child;

		/* "#.#" matches exactly what "#" matches: keep one, so no '#' node has a '#' child */
		if (hash && b->nodes[node].loop)
			continue;
		if (star || hash) {
			uint32_t link = star ? b->nodes[node].star : b->nodes[node].hash;

			if (link == 0) {
				ret = new_node(b, &child);
				if (ret != 0)
					return ret;
				/* new_node may have moved the array: index it again */
				if (star)
					b->nodes[node].star = child + 1;
				else
					b->nodes[node].hash = child + 1;
				b->nodes[child].loop = hash;
				b->nodes[child].literals = b->nodes[node].literals;
				link = child + 1;
			}
			node = link - 1;
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

static bool
is_big(const struct bnode *n)
{
	return n->n_lit > TW_TOPIC_INLINE_LITS;
}

/* No children and one binding: referenced by its value, no record (see tw_topic.h). */
static bool
is_leaf(const struct bnode *n)
{
	return n->star == 0 && n->hash == 0 && n->n_lit == 0 && n->n_bind == 1 &&
	       n->value <= TW_TOPIC_LEAF_MAX;
}

/*
 * Group the literal edges: by parent (nodes[i]'s are lits[first_lit ..
 * + n_lit)), and those out of big nodes by word as well. stack[] (one
 * entry per node, so at least one per edge) serves as scratch.
 */
static int
group_edges(struct builder *b)
{
	uint32_t off = 0, n_big = 0, at_depth[TW_TOPIC_MAX_WORDS + 2];

	b->lits = malloc(sizeof(*b->lits) * (b->n_edges ? b->n_edges : 1));
	b->big = malloc(sizeof(*b->big) * (b->n_edges ? b->n_edges : 1));
	b->stack = malloc(sizeof(*b->stack) * (b->n_nodes ? b->n_nodes : 1));
	if (b->lits == NULL || b->big == NULL || b->stack == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		b->nodes[i].first_lit = off;
		off += b->nodes[i].n_lit;
		b->nodes[i].n_lit = 0;
	}
	for (uint32_t i = 0; i <= b->edge_mask; i++) {
		const struct bedge *e = &b->edges[i];
		struct bnode *p = &b->nodes[e->parent];

		if (e->child_plus1 != 0)
			b->lits[p->first_lit + p->n_lit++] = *e;
	}
	for (uint32_t i = 0; i < b->n_edges; i++)
		if (is_big(&b->nodes[b->lits[i].parent]))
			b->words[b->lits[i].word - 1].n_big++;
	for (uint32_t w = 0; w < b->n_words; w++) {
		b->words[w].first_big = n_big;
		n_big += b->words[w].n_big;
		b->words[w].n_big = 0;
	}
	/*
	 * Within a word, parents reached through fewer literal words first:
	 * they are alive for more keys ("*" and "#" nodes for all of them), so
	 * the children a lookup needs tend to share the word's first lines.
	 * A counting sort by that number (at most TW_TOPIC_MAX_WORDS) into stack[].
	 */
	memset(at_depth, 0, sizeof(at_depth));
	for (uint32_t i = 0; i < b->n_edges; i++)
		at_depth[b->nodes[b->lits[i].parent].literals + 1]++;
	for (uint32_t d = 1; d < TW_TOPIC_MAX_WORDS + 2; d++)
		at_depth[d] += at_depth[d - 1];
	for (uint32_t i = 0; i < b->n_edges; i++)
		b->stack[at_depth[b->nodes[b->lits[i].parent].literals]++] = i;
	for (uint32_t k = 0; k < b->n_edges; k++) {
		const struct bedge *e = &b->lits[b->stack[k]];
		struct bword *w = &b->words[e->word - 1];

		if (is_big(&b->nodes[e->parent]))
			b->big[w->first_big + w->n_big++] = *e;
	}
	return 0;
}

/* Size of a node's record in uint32_t units, rounded to 16 bytes. */
static uint64_t
node_size(const struct bnode *n)
{
	uint64_t s = sizeof(struct tw_topic_node) / 4 + (is_big(n) ? 0 : 2ull * n->n_lit) + n->n_bind;

	return (s + 3) & ~3ull;
}

/* Slots of a word's edge list: exactly its edges if scanned, else a hash at most half full. */
static uint32_t
edge_slots(const struct bword *w)
{
	uint32_t s = 16;

	if (w->n_big <= TW_TOPIC_WORD_SCAN)
		return w->n_big;
	while (s < 2 * (uint64_t)w->n_big)
		s <<= 1;
	return s;
}

static uint64_t
word_size(const struct bword *w)
{
	uint64_t s = sizeof(struct tw_topic_word) / 4 + tw_topic_text_size(w->len) / 4 +
		     2ull * edge_slots(w);

	return (s + 3) & ~3ull;
}

/*
 * Give node id and the nodes under it, except the literal children of big
 * nodes (placed with their words), their references, depth-first so that a
 * node's small children follow it in memory. @return 0 or -ENOMEM when
 * the records outgrow 32-bit offsets.
 */
static int
place_tree(struct builder *b, uint32_t id, uint64_t *off)
{
	uint32_t sp = 0;

	b->stack[sp++] = id;
	/* bounded: a tree, so every node is pushed once */
	while (sp != 0) {
		struct bnode *n = &b->nodes[b->stack[--sp]];

		if (is_leaf(n)) {
			n->ref = n->value << 2 | TW_TOPIC_REF_LEAF;
			continue;
		}
		n->ref = (uint32_t)*off | (is_big(n) ? TW_TOPIC_REF_BIG : 0);
		*off += node_size(n);
		if (*off > UINT32_MAX - TW_TOPIC_REF_FLAGS)
			return -ENOMEM;
		if (n->hash != 0)
			b->stack[sp++] = n->hash - 1;
		if (n->star != 0)
			b->stack[sp++] = n->star - 1;
		for (uint32_t k = n->n_lit; !is_big(n) && k-- > 0;)
			b->stack[sp++] = b->lits[n->first_lit + k].child_plus1 - 1;
	}
	return 0;
}

/*
 * Assign every record its offset: the roots' trees, then each word
 * followed by the trees its big-node edges lead to. Offset 0 stays unused
 * so that a reference of 0 means none. @return the size in uint32_t units.
 */
static int
layout(struct builder *b, uint32_t n_roots, uint64_t *size)
{
	uint64_t off = sizeof(struct tw_topic_node) / 4;

	for (uint32_t r = 0; r < n_roots; r++)
		if (place_tree(b, r, &off) != 0)
			return -ENOMEM;
	for (uint32_t i = 0; i < b->n_words; i++) {
		struct bword *w = &b->words[i];

		w->ref = (uint32_t)off;
		off += word_size(w);
		if (off > UINT32_MAX - TW_TOPIC_REF_FLAGS)
			return -ENOMEM;
		for (uint32_t k = 0; k < w->n_big; k++)
			if (place_tree(b, b->big[w->first_big + k].child_plus1 - 1, &off) != 0)
				return -ENOMEM;
	}
	*size = off;
	return 0;
}

static void
write_nodes(const struct builder *b, uint32_t *rec)
{
	for (uint32_t i = 0; i < b->n_nodes; i++) {
		const struct bnode *n = &b->nodes[i];
		struct tw_topic_node *nd = (struct tw_topic_node *)(rec + (n->ref & ~TW_TOPIC_REF_FLAGS));
		struct tw_topic_pair *lit = (struct tw_topic_pair *)(nd + 1);

		if (n->ref & TW_TOPIC_REF_LEAF) /* no record; nd is meaningless */
			continue;
		nd->star = n->star != 0 ? b->nodes[n->star - 1].ref : 0;
		nd->hash = n->hash != 0 ? b->nodes[n->hash - 1].ref : 0;
		nd->n_bind = n->n_bind;
		for (uint32_t k = 0; k < n->n_lit && !is_big(n); k++) {
			const struct bedge *e = &b->lits[n->first_lit + k];

			lit[nd->n_lit++] = (struct tw_topic_pair){ b->words[e->word - 1].ref,
								   b->nodes[e->child_plus1 - 1].ref };
		}
	}
}

static void
write_words(const struct builder *b, uint32_t *rec)
{
	for (uint32_t i = 0; i < b->n_words; i++) {
		const struct bword *w = &b->words[i];
		struct tw_topic_word *wr = (struct tw_topic_word *)(rec + w->ref);
		struct tw_topic_pair *edge;
		uint32_t slots = edge_slots(w);

		wr->len = w->len;
		wr->n_edges = w->n_big;
		wr->mask = w->n_big > TW_TOPIC_WORD_SCAN ? slots - 1 : 0;
		memcpy(wr + 1, b->text + w->off, w->len);
		edge = tw_topic_word_edges(wr);
		for (uint32_t k = 0; k < w->n_big; k++) {
			const struct bedge *e = &b->big[w->first_big + k];
			uint32_t parent = b->nodes[e->parent].ref & ~TW_TOPIC_REF_FLAGS, s = k;

			if (wr->mask != 0)
				for (s = tw_topic_parent_hash(parent) & wr->mask; edge[s].child != 0;
				     s = (s + 1) & wr->mask)
					;
			edge[s] = (struct tw_topic_pair){ parent, b->nodes[e->child_plus1 - 1].ref };
		}
	}
}

static uint32_t
dict_slots(uint32_t n)
{
	uint32_t s = 8;

	while (s < 2 * (uint64_t)n)
		s <<= 1;
	return s;
}

static void
write_dict(const struct builder *b, struct tw_topic_slot *dict, uint32_t mask)
{
	for (uint32_t i = 0; i < b->n_words; i++) {
		uint32_t s;

		for (s = b->words[i].hash & mask; dict[s].word != 0; s = (s + 1) & mask)
			;
		dict[s] = (struct tw_topic_slot){ b->words[i].hash, b->words[i].ref };
	}
}

static void
builder_free(struct builder *b)
{
	free(b->nodes);
	free(b->edges);
	free(b->word_slot);
	free(b->words);
	free(b->text);
	free(b->lits);
	free(b->big);
	free(b->stack);
	free(b->binding_node);
}

static uint64_t
round64(uint64_t n)
{
	return (n + 63) & ~63ull;
}

struct tw_topic *
tw_topic_build(const struct tw_topic_pattern *p, uint32_t n, uint32_t n_roots,
	       const struct tw_alloc_ops *ops)
{
	struct builder b = { 0 };
	uint32_t id, n_slots;
	uint64_t rec_size, size;
	struct tw_topic *t;
	uint32_t *rec;
	uint8_t *at;

	b.binding_node = calloc(n ? n : 1, sizeof(uint32_t));
	b.word_slot = calloc(8, sizeof(uint32_t));
	b.word_mask = 7;
	/* never NULL, even with no words at all: empty words point into it (fuzz_topic) */
	b.text = malloc(64);
	b.text_cap = 64;
	if (b.binding_node == NULL || b.word_slot == NULL || b.text == NULL || edges_grow(&b) != 0)
		goto fail;
	for (uint32_t r = 0; r < n_roots; r++)
		if (new_node(&b, &id) != 0)
			goto fail;
	for (uint32_t i = 0; i < n; i++) {
		if (p[i].root >= n_roots || insert(&b, &p[i], &b.binding_node[i]) != 0)
			goto fail;
		b.nodes[b.binding_node[i]].n_bind++;
		b.nodes[b.binding_node[i]].value = p[i].value;
	}
	if (group_edges(&b) != 0 || layout(&b, n_roots, &rec_size) != 0)
		goto fail;
	n_slots = dict_slots(b.n_words);

	/* one block: header, then each array on its own cache line */
	size = sizeof(*t) + 63 + round64(sizeof(uint32_t) * n_roots) + round64(rec_size * 4) +
	       round64(sizeof(struct tw_topic_slot) * (uint64_t)n_slots);
	at = ops->zalloc(size, ops->arg);
	if (at == NULL)
		goto fail;
	t = (struct tw_topic *)at;
	t->total_size = size;
	t->n_roots = n_roots;
	t->dict_mask = n_slots - 1;
	at = (uint8_t *)(((uintptr_t)(t + 1) + 63) & ~(uintptr_t)63);
	t->roots = (uint32_t *)at;
	for (uint32_t r = 0; r < n_roots; r++)
		((uint32_t *)at)[r] = b.nodes[r].ref;
	at += round64(sizeof(uint32_t) * n_roots);
	t->rec = rec = (uint32_t *)at;
	at += round64(rec_size * 4);
	t->dict = (struct tw_topic_slot *)at;

	write_nodes(&b, rec);
	write_words(&b, rec);
	write_dict(&b, (struct tw_topic_slot *)t->dict, t->dict_mask);
	/* bindings grouped by node, in pattern order within a node */
	for (uint32_t i = 0; i < n; i++) {
		struct bnode *bn = &b.nodes[b.binding_node[i]];
		struct tw_topic_node *nd = (struct tw_topic_node *)(rec + (bn->ref & ~TW_TOPIC_REF_FLAGS));

		if (!(bn->ref & TW_TOPIC_REF_LEAF)) /* a leaf's value is in its reference */
			((uint32_t *)(nd + 1) + 2u * nd->n_lit)[bn->fill++] = p[i].value;
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
