/*
 * The revoked set: ids of tasks that must not start (`twctl revoke`),
 * in shared memory. tw-control is its only writer; worker lcores look
 * ids up without a lock before they run a task.
 *
 * Two open-addressing tables: tw-control inserts into the active one in
 * place (readers see an id or not yet: both fine); to forget old ids it
 * rebuilds the other table, waits an RCU grace period so no lcore still
 * probes it, fills it and flips `active`. Ids are non-zero (task id 0 is
 * invalid on the wire), so 0 marks an empty slot.
 *
 * Threads: tw_revoked_has() any lcore; writes in control/ctl_revoke.c only.
 */
#ifndef TW_REVOKED_H
#define TW_REVOKED_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_id_mix.h"

#define TW_REVOKED_SLOTS (1u << 17)  /* per table; at most half full */
#define TW_REVOKED_MAX 50000u        /* ids kept, newest first (Celery keeps 50000 too) */

struct tw_revoked {
	uint32_t active;   /* table readers probe; release store by tw-control */
	uint32_t count;    /* ids in the active table; 0 lets workers skip the probe */
	uint64_t ids[2][TW_REVOKED_SLOTS];
};

static inline uint32_t
tw_revoked_slot(uint64_t id)
{
	return (uint32_t)tw_id_mix(id) & (TW_REVOKED_SLOTS - 1);
}

/** @return true if id is revoked. Bounded: the table is at most half full. */
static inline bool
tw_revoked_has(const struct tw_revoked *r, uint64_t id)
{
	const uint64_t *ids;

	if (__atomic_load_n(&r->count, __ATOMIC_RELAXED) == 0)
		return false;
	/* acquire: pairs with the release store of `active` in ctl_revoke.c */
	ids = r->ids[__atomic_load_n(&r->active, __ATOMIC_ACQUIRE) & 1];
	for (uint32_t i = tw_revoked_slot(id), n = 0; n < TW_REVOKED_SLOTS;
	     i = (i + 1) & (TW_REVOKED_SLOTS - 1), n++) {
		uint64_t v = __atomic_load_n(&ids[i], __ATOMIC_RELAXED);

		if (v == id)
			return true;
		if (v == 0)
			return false;
	}
	return false;
}

#endif
