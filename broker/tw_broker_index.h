/*
 * A name index of the broker model: hash -> small integer (a queue slot,
 * an exchange or binding position), open addressing with linear probing
 * and backward-shift deletion, so that finding, adding and removing one
 * object costs the same with 65,536 objects as with ten. The index keeps
 * hashes, not names: the caller's eq() compares the candidate it names.
 * Threads: the broker's (one caller at a time).
 */
#ifndef TW_BROKER_INDEX_H
#define TW_BROKER_INDEX_H

#include <stdbool.h>
#include <stdint.h>

struct tw_broker_index {
	struct tw_broker_ix_slot {
		uint32_t hash;
		uint32_t v1;    /* value + 1; 0: empty */
	} *s;
	uint32_t mask;      /* slots - 1, 0 while unallocated */
	uint32_t n;
};

/** Is value v the object the caller looks for? */
typedef bool (*tw_broker_ix_eq)(uint32_t v, const void *key, const void *ctx);

/** @return the value whose eq() holds, or -1. */
int64_t tw_broker_ix_find(const struct tw_broker_index *ix, uint32_t hash, tw_broker_ix_eq eq,
			  const void *key, const void *ctx);
/** Add value v under hash (grows to stay at most half full). @return 0 or -ENOMEM. */
int tw_broker_ix_add(struct tw_broker_index *ix, uint32_t hash, uint32_t v);
/** Remove value v (added under hash); nothing if absent. */
void tw_broker_ix_del(struct tw_broker_index *ix, uint32_t hash, uint32_t v);
/** The entry of value from (under hash) now names value to. */
void tw_broker_ix_move(struct tw_broker_index *ix, uint32_t hash, uint32_t from, uint32_t to);
void tw_broker_ix_free(struct tw_broker_index *ix);

#endif
