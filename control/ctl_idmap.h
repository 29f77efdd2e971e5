/*
 * A map from task id (non-zero uint64) to a pointer, for tw-control's
 * bookkeeping of the tasks it holds (scheduler, revoke, listing). Open
 * addressing with linear probing and backward-shift deletion, so there
 * are no tombstones; grows at 50% load. Not thread-safe: the owner locks.
 */
#ifndef CTL_IDMAP_H
#define CTL_IDMAP_H

#include <stdint.h>

struct ctl_idmap {
	uint64_t *keys;    /* 0: empty */
	void **vals;
	uint64_t mask;     /* capacity - 1 */
	uint64_t n;
};

/** @return 0 or -ENOMEM. */
int ctl_idmap_init(struct ctl_idmap *m, uint64_t capacity_pow2);
void ctl_idmap_free(struct ctl_idmap *m);
/** @return the value, or NULL. */
void *ctl_idmap_get(const struct ctl_idmap *m, uint64_t id);
/** Insert or replace. @return 0 or -ENOMEM (map unchanged). */
int ctl_idmap_put(struct ctl_idmap *m, uint64_t id, void *val);
/** @return the removed value, or NULL if absent. */
void *ctl_idmap_del(struct ctl_idmap *m, uint64_t id);

#endif
