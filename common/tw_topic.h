/*
 * Topic-exchange matching: one trie of binding patterns per routing
 * table, shared by all topic exchanges (each has its own root node).
 *
 * A pattern "a.*.#" is a path root -a-> n1 -*-> n2 -#-> n3; n3 lists the
 * bindings with that pattern. Literal words are edges in one hash table
 * keyed by (parent node, word); '*' and '#' are direct child links. A
 * lookup walks the routing key's words from the root, following the
 * literal edge, the '*' child and the '#' child (which may swallow any
 * number of words), so its cost depends on the key and on how many
 * patterns share prefixes, not on the number of bindings.
 *
 * Semantics are AMQP 0-9-1 (RabbitMQ): words are separated by '.', an
 * empty key has no words, "a..b" has an empty middle word, '*' matches
 * exactly one word, '#' zero or more.
 *
 * Ownership: built into memory from tw_alloc_ops and owned by the routing
 * table. Threads: build on one thread; match from any number of readers.
 */
#ifndef TW_TOPIC_H
#define TW_TOPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_limits.h"

struct tw_alloc_ops;

#define TW_TOPIC_MAX_WORDS (TW_NAME_MAX / 2 + 1)

struct tw_topic_node {
	uint32_t star_plus1;   /* '*' child, 0 if none */
	uint32_t hash_plus1;   /* '#' child, 0 if none */
	uint32_t first;        /* this node's bindings: bindings[first .. first + count) */
	uint32_t count;
};

struct tw_topic_edge {
	uint32_t parent;
	uint32_t child_plus1;  /* 0: empty slot */
	uint32_t hash;
	uint32_t word_off;     /* into words[] */
	uint32_t word_len;
};

struct tw_topic {
	uint32_t n_nodes, edge_mask;
	struct tw_topic_node *nodes;
	struct tw_topic_edge *edges;
	uint32_t *bindings;    /* binding indexes of the routing table */
	char *words;
	uint64_t total_size;
};

/* One pattern to insert: the binding's index, its exchange's root and its key. */
struct tw_topic_pattern {
	uint32_t binding;
	uint32_t root;         /* root node id, from tw_topic_builder_root() */
	const char *key;
	uint32_t key_len;
};

/**
 * Build a trie from patterns; roots are numbered 0 .. n_roots-1.
 * @return the trie, or NULL with errno ENOMEM. Ownership: the caller frees
 *   it with tw_topic_free() and the same ops.
 */
struct tw_topic *tw_topic_build(const struct tw_topic_pattern *p, uint32_t n, uint32_t n_roots,
				const struct tw_alloc_ops *ops);
void tw_topic_free(struct tw_topic *t, const struct tw_alloc_ops *ops);

/** Called once per matching binding (a binding may be reported twice; callers de-duplicate). */
typedef void (*tw_topic_match_fn)(uint32_t binding, void *arg);

/** Match a routing key from a root. Allocates nothing. */
void tw_topic_match(const struct tw_topic *t, uint32_t root, const char *key, uint32_t key_len,
		    tw_topic_match_fn fn, void *arg);

/** Split into '.'-separated words (see above). @return word count, at most TW_TOPIC_MAX_WORDS. */
uint32_t tw_topic_split(const char *s, uint32_t len, uint16_t *start, uint16_t *wlen);

#endif
