/*
 * Topic-exchange matching: one trie of binding patterns per routing
 * table, shared by all topic exchanges (each has its own root node).
 *
 * A pattern "a.*.#" is a path root -a-> n1 -*-> n2 -#-> n3; n3 lists the
 * values (a 32-bit payload per binding, chosen by the caller) of the
 * bindings with that pattern. A lookup walks the routing key breadth-first,
 * one word at a time, over the set of trie nodes alive before that word
 * (literal edge, '*' child, '#' child, and a '#' node staying alive for
 * any number of words); each node is visited at most once per word, so its
 * cost depends on the key and on how many patterns share prefixes, not on
 * the number of bindings.
 *
 * Semantics are AMQP 0-9-1 (RabbitMQ): words are separated by '.', an
 * empty key has no words, "a..b" has an empty middle word, '*' matches
 * exactly one word, '#' zero or more.
 *
 * Layout: records in one array of uint32_t (tw_topic.rec), 16-byte
 * aligned, named by their offset in uint32_t units.
 * - A node: struct tw_topic_node, then n_lit literal edges (struct
 *   tw_topic_pair: word id -> child), then n_bind values. A node
 *   with more than TW_TOPIC_INLINE_LITS literal children is "big": its
 *   literal edges are kept with their words instead, and n_lit is 0.
 * - A word (every literal word of every pattern, once): struct
 *   tw_topic_word, its text zero-padded to 16 bytes, then its edges out of
 *   big nodes (struct tw_topic_pair: parent offset -> child), as a plain
 *   array or, past TW_TOPIC_WORD_SCAN edges, a hash by parent; then the
 *   records of the nodes those edges lead to. A word's id is its offset.
 * So the transitions of one key word out of every big node alive, and the
 * nodes they lead to, sit in the one or two cache lines the lookup reads
 * to check the word's text anyway; a hash of (node, word) edges would cost
 * a line per alive node plus a line per child. The dictionary (struct
 * tw_topic_slot) maps a word's hash to its record.
 *
 * A reference to a node is its offset ORed with TW_TOPIC_REF_BIG for a big
 * node; 0 means none. Most patterns end in a node with no children and one
 * binding: such a leaf has no record, its reference is the binding's value
 * shifted left by 2 ORed with TW_TOPIC_REF_LEAF.
 *
 * Ownership: built into one block from tw_alloc_ops, owned by the routing
 * table. Threads: build on one thread; match from any number of readers.
 */
#ifndef TW_TOPIC_H
#define TW_TOPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_limits.h"

struct tw_alloc_ops;

/* A key shorter than TW_NAME_MAX has at most TW_NAME_MAX words (all empty: nothing but dots). */
#define TW_TOPIC_MAX_WORDS TW_NAME_MAX

/* Tuning (fuzz_topic_tiny shrinks them to reach every path with small inputs). */
#ifndef TW_TOPIC_INLINE_LITS
#define TW_TOPIC_INLINE_LITS 6   /* literal edges kept in a node's record */
#endif
#ifndef TW_TOPIC_WORD_SCAN
#define TW_TOPIC_WORD_SCAN 8     /* edges of a word scanned in order; more are hashed */
#endif
#define TW_TOPIC_REF_BIG 1u      /* literal children are with their words */
#define TW_TOPIC_REF_LEAF 2u     /* no record: the reference holds a value */
#define TW_TOPIC_REF_FLAGS 3u
#define TW_TOPIC_LEAF_MAX (UINT32_MAX >> 2) /* values a leaf reference can hold */

struct tw_topic_node {
	uint32_t star;         /* '*' child reference, 0 if none */
	uint32_t hash;         /* '#' child reference, 0 if none */
	uint32_t n_bind;
	uint32_t n_lit;
};

struct tw_topic_pair {
	uint32_t key;          /* word id in a node, parent offset in a word */
	uint32_t child;        /* reference; 0 marks an empty slot of a word's edge hash */
};

struct tw_topic_word {
	uint32_t len;
	uint32_t n_edges;
	uint32_t mask;         /* 0: the edges are a plain array; else a hash of mask + 1 slots */
	uint32_t unused;
};

struct tw_topic_slot {
	uint32_t hash;
	uint32_t word;         /* word id, 0: empty slot */
};

struct tw_topic {
	uint32_t n_roots, dict_mask;
	const uint32_t *roots;        /* root references */
	const uint32_t *rec;          /* node and word records, see above */
	const struct tw_topic_slot *dict;
	uint64_t total_size;
};

/* One pattern to insert: what it reports, its exchange's root and its key. */
struct tw_topic_pattern {
	uint32_t value;        /* tw_routes passes the binding's destination */
	uint32_t root;         /* 0 .. n_roots-1 */
	const char *key;
	uint32_t key_len;
};

/**
 * Build a trie from patterns; roots are numbered 0 .. n_roots-1.
 * @return the trie, or NULL with errno ENOMEM. Ownership: the caller frees
 *   it with tw_topic_free() and the same ops. Threads: any; cold (tw-control).
 */
struct tw_topic *tw_topic_build(const struct tw_topic_pattern *p, uint32_t n, uint32_t n_roots,
				const struct tw_alloc_ops *ops);
void tw_topic_free(struct tw_topic *t, const struct tw_alloc_ops *ops);

/**
 * Called with the value of each matching pattern. A pattern is normally
 * reported once; keys that keep more than a hundred trie nodes alive at one
 * word may report one twice, so callers de-duplicate.
 */
typedef void (*tw_topic_match_fn)(uint32_t value, void *arg);

/**
 * Match a routing key from a root. Allocates nothing; uses about 5 KB of stack.
 * Ownership: borrows key. Threads: any number of readers.
 */
void tw_topic_match(const struct tw_topic *t, uint32_t root, const char *key, uint32_t key_len,
		    tw_topic_match_fn fn, void *arg);

/** Split into '.'-separated words (see above). @return word count, at most TW_TOPIC_MAX_WORDS. */
uint32_t tw_topic_split(const char *s, uint32_t len, uint16_t *start, uint16_t *wlen);

#endif
