/*
 * Hashes and record helpers shared by the topic trie's builder
 * (tw_topic_build.c) and its lookup (tw_topic.c): both must place words
 * and edges identically.
 */
#ifndef TW_TOPIC_PRIV_H
#define TW_TOPIC_PRIV_H

#include <stdint.h>
#include <string.h>

#include "tw_hash.h"
#include "tw_topic.h"

/*
 * Hash of one word, defined on 8-byte little-endian chunks with the last
 * one zero-padded (tw_hash.h's steps): a multiply per 8 bytes instead of
 * one per byte as FNV does (the lookup hashes every key word of every
 * task), and the lookup computes it from its padded copy of the key with
 * plain 8-byte loads. This version takes an unpadded word and reads
 * nothing past p + len.
 */
static inline uint32_t
tw_topic_word_hash(const char *p, uint32_t len)
{
	uint64_t h = TW_HASH_SEED ^ len;

	for (uint32_t o = 0; o < len; o += 8) {
		uint64_t c = 0;

		memcpy(&c, p + o, len - o < 8 ? len - o : 8);
		h = tw_hash_step(h, c);
	}
	return tw_hash_final(h);
}

/* Slot of a big node's edge in a word's edge hash: the parent's offset, mixed. */
static inline uint32_t
tw_topic_parent_hash(uint32_t parent)
{
	return (uint32_t)(((uint64_t)parent * 0x9e3779b97f4a7c15ull) >> 32);
}

/*
 * Bytes a word's text takes in its record: zero-padded to 16 so records
 * stay aligned, and never 0 so that the lookup's first 8-byte compare stays
 * inside the record even for the empty word.
 */
static inline uint32_t
tw_topic_text_size(uint32_t len)
{
	return len == 0 ? 16 : (len + 15) & ~15u;
}

/* A word's edges out of big nodes, after its text. */
static inline struct tw_topic_pair *
tw_topic_word_edges(const struct tw_topic_word *w)
{
	return (struct tw_topic_pair *)((uintptr_t)(w + 1) + tw_topic_text_size(w->len));
}

#endif
