/*
 * Mixing a 64-bit task or group id before masking it into a hash-table
 * slot: publishers choose ids that are often sequential, which would fill
 * neighbouring slots and make long probe runs. The finaliser of MurmurHash3
 * (its first rounds) spreads every input bit. Threads: pure.
 */
#ifndef TW_ID_MIX_H
#define TW_ID_MIX_H

#include <stdint.h>

static inline uint64_t
tw_id_mix(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return id;
}

#endif
