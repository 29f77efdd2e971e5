/*
 * The mixing steps behind taskwire's name hashes: one multiply and one
 * shift per 8 bytes of input. The routing table's name indexes
 * (tw_routes_hash) and the topic trie's word dictionary (tw_topic_priv.h)
 * feed bytes in their own ways on top of these.
 *
 * The results are part of what tw-control and tw-dataplane share (one
 * builds the indexes, the other probes them): a change here bumps
 * TW_SHARED_LAYOUT_VERSION. There is no per-process seed. Those tables are
 * filled from the operator's definitions, and a publisher's key can only
 * probe them, so chosen collisions cost probing an existing chain.
 */
#ifndef TW_HASH_H
#define TW_HASH_H

#include <stdint.h>
#include <string.h>

#define TW_HASH_SEED 0x9e3779b97f4a7c15ull

/* Unaligned little-endian loads, as the hashes read their input. */
static inline uint64_t
tw_load_u64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t
tw_load_u32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Mix one 8-byte chunk into h. */
static inline uint64_t
tw_hash_step(uint64_t h, uint64_t chunk)
{
	h = (h ^ chunk) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

/* The 32-bit hash of state h: the high half of one more multiply. */
static inline uint32_t
tw_hash_final(uint64_t h)
{
	return (uint32_t)((h * 0xc4ceb9fe1a85ec53ull) >> 32);
}

#endif
