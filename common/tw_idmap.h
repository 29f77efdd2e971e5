/*
 * A map from a non-zero 64-bit id (a task id, a connection id) to a
 * pointer: tw-control's bookkeeping of the tasks it holds (scheduler,
 * revoke, listing) and tw-amqp's connections and unconfirmed publishes.
 * Open addressing with linear probing and backward-shift deletion, so
 * there are no tombstones; grows at 50% load. A user may walk keys[] and
 * vals[] (0 keys are empty slots) as long as it does not change the map
 * meanwhile. Not thread-safe: the owner locks.
 */
#ifndef TW_IDMAP_H
#define TW_IDMAP_H

#include <stdint.h>

struct tw_idmap {
	uint64_t *keys;    /* 0: empty */
	void **vals;
	uint64_t mask;     /* capacity - 1 */
	uint64_t n;
};

/** @return 0 or -ENOMEM. */
int tw_idmap_init(struct tw_idmap *m, uint64_t capacity_pow2);
void tw_idmap_free(struct tw_idmap *m);
/** @return the value, or NULL. */
void *tw_idmap_get(const struct tw_idmap *m, uint64_t id);
/** Insert or replace. @return 0 or -ENOMEM (map unchanged). */
int tw_idmap_put(struct tw_idmap *m, uint64_t id, void *val);
/** @return the removed value, or NULL if absent. */
void *tw_idmap_del(struct tw_idmap *m, uint64_t id);

#endif
