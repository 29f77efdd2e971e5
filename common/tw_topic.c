/*
 * Topic trie lookup: see tw_topic.h for the layout and tw_topic_build.c
 * for how it is made. Runs on io lcores, once per task routed through a
 * topic exchange; allocates nothing and writes only its own stack.
 *
 * The walk is breadth-first: for word i it holds the nodes alive before
 * that word (the frontier) and computes those alive after it. Compared with
 * a depth-first walk it visits each (node, word) once however many '#'
 * paths lead there, and it knows which word records and nodes the next
 * word needs before it needs them, so it prefetches them and their cache
 * misses overlap instead of following one another.
 */
#include <stdbool.h>
#include <string.h>

#include "tw_topic.h"
#include "tw_topic_priv.h"

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

/*
 * Nodes alive at one word. Realistic patterns keep a handful alive; a list
 * that fills up sends further nodes down the depth-first fallback
 * (overflow()) rather than failing.
 */
#ifndef TW_TOPIC_FRONTIER_MAX
#define TW_TOPIC_FRONTIER_MAX 128
#endif
#define FRONTIER_MAX TW_TOPIC_FRONTIER_MAX
#ifndef TW_TOPIC_MEMO_MAX
#define TW_TOPIC_MEMO_MAX 64
#endif
#define MEMO_MAX TW_TOPIC_MEMO_MAX /* '#' nodes the depth-first fallback remembers */

struct walked {
	uint32_t ref;          /* a '#' node */
	uint32_t from;         /* walked for every word from this one on */
};

/*
 * Per-lookup state, on the caller's stack. Nodes alive before word i are
 * the frontier (nodes not reached by '#') plus every '#' node activated so
 * far: once alive, a '#' node stays alive for every later word, so it is
 * kept once in loops[] rather than re-added to each frontier. No other
 * duplicate check is needed: a node has one parent, itself listed once,
 * so it is reached once per word.
 */
struct lookup {
	const struct tw_topic *t;
	const uint32_t *rec;   /* t->rec */
	uint32_t nk;           /* words in the key */
	uint32_t resolved;     /* words [0, resolved) are looked up in the dictionary */
	uint32_t n_loops;
	tw_topic_match_fn fn;
	void *arg;
	uint8_t ws[TW_TOPIC_MAX_WORDS], wl[TW_TOPIC_MAX_WORDS]; /* < TW_NAME_MAX: fit */
	uint32_t wh[TW_TOPIC_MAX_WORDS];  /* word hash */
	uint32_t wid[TW_TOPIC_MAX_WORDS]; /* word id, 0 if no pattern has the word */
	uint64_t c0[TW_TOPIC_MAX_WORDS];  /* first 8 bytes of the word, zero-padded */
	uint32_t loops[FRONTIER_MAX];
	uint32_t n_memo;
	struct walked memo[MEMO_MAX];
	/* the key, zero-padded so that 8-byte loads may run past its end */
	uint8_t key[TW_NAME_MAX + 8] __attribute__((aligned(8)));
};

static inline const struct tw_topic_node *
node(const struct lookup *lk, uint32_t ref)
{
	return (const struct tw_topic_node *)(lk->rec + (ref & ~TW_TOPIC_REF_FLAGS));
}

static inline const struct tw_topic_word *
word_rec(const struct lookup *lk, uint32_t id)
{
	return (const struct tw_topic_word *)(lk->rec + id);
}

/* The low r bytes of an 8-byte chunk, r < 8. */
static inline uint64_t
low_bytes(uint64_t v, uint32_t r)
{
	return v & ((1ull << (8 * r)) - 1);
}

/* Record key word [from, to) and its tw_topic_word_hash(), computed from the padded copy. */
static inline void
add_word(struct lookup *lk, uint32_t from, uint32_t to)
{
	const uint8_t *w = lk->key + from;
	uint32_t n = lk->nk++, len = to - from, o = 8;
	uint64_t c0 = len >= 8 ? tw_load_u64(w) : low_bytes(tw_load_u64(w), len);
	uint64_t h = TW_HASH_SEED ^ len;

	if (len != 0)
		h = tw_hash_step(h, c0);
	for (; o + 8 <= len; o += 8)
		h = tw_hash_step(h, tw_load_u64(w + o));
	if (o < len)
		h = tw_hash_step(h, low_bytes(tw_load_u64(w + o), len - o));
	lk->ws[n] = (uint8_t)from;
	lk->wl[n] = (uint8_t)len;
	lk->c0[n] = c0;
	lk->wh[n] = tw_hash_final(h);
	__builtin_prefetch(&lk->t->dict[lk->wh[n] & lk->t->dict_mask]);
}

/*
 * Split the key into words and hash each; start fetching their dictionary
 * slots. Dots are found 8 bytes at a time: a byte of v ^ "........" is zero
 * exactly where v has a '.', and the zero-byte test below is exact (no
 * carries between bytes), so every set bit is a dot.
 */
static void
split_hash(struct lookup *lk, const char *key, uint32_t len)
{
	const uint64_t dots = 0x2e2e2e2e2e2e2e2eull, low7 = 0x7f7f7f7f7f7f7f7full;
	uint32_t from = 0;

	lk->nk = 0;
	lk->resolved = 0;
	if (len == 0)
		return;
	memcpy(lk->key, key, len);
	memset(lk->key + len, 0, 8);
	for (uint32_t o = 0; o < len; o += 8) { /* bounded: len < TW_NAME_MAX */
		uint64_t x = tw_load_u64(lk->key + o) ^ dots;
		uint64_t z = ~(((x & low7) + low7) | x | low7);

		for (; z != 0; z &= z - 1) { /* at most 8 dots */
			uint32_t at = o + (uint32_t)__builtin_ctzll(z) / 8;

			add_word(lk, from, at);
			from = at + 1;
		}
	}
	add_word(lk, from, len);
}

/* Is word record w (same hash) key word i? Its text is zero-padded to 16 bytes. */
static inline bool
same_word(const struct lookup *lk, const struct tw_topic_word *w, uint32_t i)
{
	const uint8_t *text = (const uint8_t *)(w + 1), *k = lk->key + lk->ws[i];
	uint32_t len = lk->wl[i], o = 8;

	if (w->len != len || tw_load_u64(text) != lk->c0[i])
		return false;
	if (len <= 8)
		return true;
	/* bounded: len < TW_NAME_MAX */
	for (; o + 8 <= len; o += 8)
		if (tw_load_u64(k + o) != tw_load_u64(text + o))
			return false;
	return o >= len || low_bytes(tw_load_u64(k + o), len - o) == tw_load_u64(text + o);
}

/* Look key word i up in the dictionary; start fetching the rest of its record. */
static inline void
resolve(struct lookup *lk, uint32_t i)
{
	const struct tw_topic *t = lk->t;
	uint32_t h = lk->wh[i], id = 0;

	/* bounded: the dictionary is at most half full, so an empty slot ends the probe */
	for (uint32_t s = h & t->dict_mask; t->dict[s].word != 0; s = (s + 1) & t->dict_mask)
		if (t->dict[s].hash == h && same_word(lk, word_rec(lk, t->dict[s].word), i)) {
			id = t->dict[s].word;
			/* its edges and the nodes they lead to follow the text */
			__builtin_prefetch((const uint8_t *)word_rec(lk, id) + 64);
			__builtin_prefetch((const uint8_t *)word_rec(lk, id) + 128);
			break;
		}
	lk->wid[i] = id;
	lk->resolved = i + 1;
}

/* The child paired with key among p[0, n), or 0 (n is at most TW_TOPIC_WORD_SCAN or _INLINE_LITS). */
static inline uint32_t
find_pair(const struct tw_topic_pair *p, uint32_t n, uint32_t key)
{
	for (uint32_t k = 0; k < n; k++)
		if (p[k].key == key)
			return p[k].child;
	return 0;
}

/* The literal child of ref for key word i (id not 0), or 0. */
static inline uint32_t
literal(const struct lookup *lk, uint32_t ref, const struct tw_topic_node *nd, uint32_t i)
{
	uint32_t word = lk->wid[i];

	if (ref & TW_TOPIC_REF_BIG) {
		const struct tw_topic_word *w = word_rec(lk, word);
		const struct tw_topic_pair *e = tw_topic_word_edges(w);
		uint32_t parent = ref & ~TW_TOPIC_REF_FLAGS;

		if (w->mask == 0)
			return find_pair(e, w->n_edges, parent);
		/* bounded: the hash is at most half full */
		for (uint32_t s = tw_topic_parent_hash(parent) & w->mask; e[s].child != 0;
		     s = (s + 1) & w->mask)
			if (e[s].key == parent)
				return e[s].child;
		return 0;
	}
	return find_pair((const struct tw_topic_pair *)(nd + 1), nd->n_lit, word);
}

static void
report(const struct lookup *lk, const struct tw_topic_node *nd)
{
	const uint32_t *bind = (const uint32_t *)(nd + 1) + 2u * nd->n_lit;

	for (uint32_t k = 0; k < nd->n_bind; k++)
		lk->fn(bind[k], lk->arg);
}

/*
 * Depth-first fallback for nodes that did not fit in a list. Done naively
 * it is exponential: it would reach a '#' node once per way of splitting
 * the words before it (the old recursive matcher did, on every key). So a
 * '#' node is walked for each word once: walk_loop() remembers in memo[]
 * from which word on a '#' node has been walked, and a later arrival only
 * walks the words before that. With no room left in memo[] it walks
 * regardless (still correct, maybe slow). Values may be reported twice.
 * Depth: each call consumes a word or steps to a '#' child, and a '#' node
 * has no '#' child, so at most 2 * (words + 1).
 */
static void walk_loop(struct lookup *lk, uint32_t ref, uint32_t i);

/* ref, not a '#' node, is alive before word i. */
static void
walk_rec(struct lookup *lk, uint32_t ref, uint32_t i)
{
	const struct tw_topic_node *nd;
	uint32_t c;

	if (ref & TW_TOPIC_REF_LEAF) {
		if (i == lk->nk)
			lk->fn(ref >> 2, lk->arg);
		return;
	}
	nd = node(lk, ref);
	if (nd->hash != 0)
		walk_loop(lk, nd->hash, i);
	if (i == lk->nk) {
		report(lk, nd);
		return;
	}
	if (nd->star != 0)
		walk_rec(lk, nd->star, i + 1);
	if (lk->wid[i] != 0 && (c = literal(lk, ref, nd, i)) != 0)
		walk_rec(lk, c, i + 1);
}

/* '#' node ref is alive from word i on. */
static void
walk_loop(struct lookup *lk, uint32_t ref, uint32_t i)
{
	uint32_t end = lk->nk + 1, k, c;

	if (ref & TW_TOPIC_REF_LEAF) { /* alive until the key ends: it matches; nothing to walk */
		lk->fn(ref >> 2, lk->arg);
		return;
	}
	for (k = 0; k < lk->n_memo && lk->memo[k].ref != ref; k++) /* bounded by MEMO_MAX */
		;
	if (k < lk->n_memo) {
		if (lk->memo[k].from <= i)
			return;
		end = lk->memo[k].from; /* words from there on are done */
		lk->memo[k].from = i;
	} else if (lk->n_memo < MEMO_MAX) {
		lk->memo[lk->n_memo++] = (struct walked){ ref, i };
	}
	for (uint32_t j = i; j < end; j++) { /* bounded by the words */
		const struct tw_topic_node *nd = node(lk, ref);

		if (nd->hash != 0)
			walk_loop(lk, nd->hash, j);
		if (j == lk->nk) {
			report(lk, nd);
			break;
		}
		if (nd->star != 0)
			walk_rec(lk, nd->star, j + 1);
		if (lk->wid[j] != 0 && (c = literal(lk, ref, nd, j)) != 0)
			walk_rec(lk, c, j + 1);
	}
}

/* A list is full: match from ref (a '#' node if loop) the slow way. */
static __attribute__((noinline, cold)) void
overflow(struct lookup *lk, uint32_t ref, uint32_t i, bool loop)
{
	while (lk->resolved < lk->nk)
		resolve(lk, lk->resolved);
	if (loop)
		walk_loop(lk, ref, i);
	else
		walk_rec(lk, ref, i);
}

/* Make ref (not a '#' node) alive before word i, in f[n]. @return the new n. */
static inline uint32_t
push(struct lookup *lk, uint32_t *f, uint32_t n, uint32_t ref, uint32_t i)
{
	if (ref & TW_TOPIC_REF_LEAF) { /* no children: it matches iff the key ends here */
		if (i == lk->nk)
			lk->fn(ref >> 2, lk->arg);
		return n;
	}
	if (n == FRONTIER_MAX) {
		overflow(lk, ref, i, false);
		return n;
	}
	f[n] = ref;
	__builtin_prefetch(node(lk, ref));
	return n + 1;
}

/* Make '#' node ref alive from word i on, unless it already is. */
static void
activate(struct lookup *lk, uint32_t ref, uint32_t i)
{
	for (uint32_t k = 0; k < lk->n_loops; k++) /* bounded by FRONTIER_MAX */
		if (lk->loops[k] == ref)
			return;
	if (lk->n_loops == FRONTIER_MAX) {
		overflow(lk, ref, i, true);
		return;
	}
	lk->loops[lk->n_loops++] = ref;
	if (ref & TW_TOPIC_REF_LEAF) /* alive until the key ends, so it matches; kept to report once */
		lk->fn(ref >> 2, lk->arg);
	else
		__builtin_prefetch(node(lk, ref));
}

/*
 * Feed key word i to alive node ref (not a leaf): its '*' child and its
 * literal child for the word go to next[n...]. @return the new n.
 */
static inline uint32_t
step(struct lookup *lk, uint32_t ref, uint32_t i, uint32_t *next, uint32_t n)
{
	const struct tw_topic_node *nd = node(lk, ref);
	uint32_t c;

	if (nd->hash != 0)
		activate(lk, nd->hash, i);
	if (nd->star != 0)
		n = push(lk, next, n, nd->star, i + 1);
	if (lk->wid[i] != 0 && (c = literal(lk, ref, nd, i)) != 0)
		n = push(lk, next, n, c, i + 1);
	return n;
}

/* The key has ended with ref alive: report it and its '#' child. */
static inline void
finish(struct lookup *lk, uint32_t ref)
{
	const struct tw_topic_node *nd;

	if (ref & TW_TOPIC_REF_LEAF) /* a '#' leaf, reported when activated */
		return;
	nd = node(lk, ref);
	if (nd->hash != 0)
		activate(lk, nd->hash, lk->nk);
	report(lk, nd);
}

void
tw_topic_match(const struct tw_topic *t, uint32_t root, const char *key, uint32_t key_len,
	       tw_topic_match_fn fn, void *arg)
{
	struct lookup lk;
	uint32_t fr[2][FRONTIER_MAX], *cur = fr[0], *next = fr[1], n_cur;

	if (key_len >= TW_NAME_MAX || root >= t->n_roots)
		return;
	lk.t = t;
	lk.rec = t->rec;
	lk.fn = fn;
	lk.arg = arg;
	lk.n_loops = 0;
	lk.n_memo = 0;
	split_hash(&lk, key, key_len);
	if (lk.nk != 0)
		resolve(&lk, 0);
	n_cur = push(&lk, cur, 0, t->roots[root], 0);
	/* bounded: one pass per key word */
	for (uint32_t i = 0; i < lk.nk; i++) {
		uint32_t n_next = 0;

		/* one word ahead, so that its record arrives while this word is walked */
		if (i + 1 < lk.nk && lk.resolved == i + 1)
			resolve(&lk, i + 1);
		for (uint32_t k = 0; k < n_cur; k++)
			n_next = step(&lk, cur[k], i, next, n_next);
		/* n_loops may grow meanwhile: a node activated now is alive at word i too */
		for (uint32_t k = 0; k < lk.n_loops; k++)
			if (!(lk.loops[k] & TW_TOPIC_REF_LEAF)) /* a '#' leaf was reported when activated */
				n_next = step(&lk, lk.loops[k], i, next, n_next);
		if (n_next == 0 && lk.n_loops == 0)
			return;
		cur = next;
		next = fr[cur == fr[0]];
		n_cur = n_next;
	}
	for (uint32_t k = 0; k < n_cur; k++)
		finish(&lk, cur[k]);
	for (uint32_t k = 0; k < lk.n_loops; k++)
		finish(&lk, lk.loops[k]);
}
