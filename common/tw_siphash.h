/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudo-random
 * function with a 128-bit key and a 64-bit output. Unlike a CRC or a
 * plain hash, its output cannot be predicted or forged without the key,
 * which is what a stateless cookie needs; and it is fast on short inputs
 * (a cookie's 16 bytes take two compression rounds and the finalisation).
 *
 * Threads: pure functions, any thread.
 */
#ifndef TW_SIPHASH_H
#define TW_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct tw_siphash_key {
	uint64_t k0, k1;        /* the key's bytes 0..7 and 8..15, read little-endian */
};

/** The key from 16 bytes (as the reference implementation reads them). */
struct tw_siphash_key tw_siphash_key_of(const uint8_t bytes[16]);

/** SipHash-2-4 of len bytes of p under key. */
uint64_t tw_siphash24(const struct tw_siphash_key *key, const void *p, size_t len);

#endif
