/*
 * The writer side of the shared revoked set (tw_revoked.h): tw-control
 * remembers the newest TW_REVOKED_MAX revoked ids in insertion order and
 * keeps the shared table in step with them.
 *
 * Threads: the main thread (control requests), under the control lock (ctl_ctx.h).
 */
#ifndef CTL_REVOKE_H
#define CTL_REVOKE_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_shared.h"

struct ctl_revoke {
	struct tw_shared *sh;
	uint64_t *fifo;        /* TW_REVOKED_MAX ids, oldest at head */
	uint32_t head, n;
	uint64_t total;        /* revokes accepted since start */
};

/** Take over the shared set (its ids are reloaded: a restarted tw-control keeps them). */
int ctl_revoke_init(struct ctl_revoke *r, struct tw_shared *sh);
void ctl_revoke_fini(struct ctl_revoke *r);

/**
 * Revoke id. When the set is full the oldest quarter is forgotten (one
 * rebuild of the spare table, after an RCU grace period).
 * @return 0, or -EALREADY if id is already revoked.
 */
int ctl_revoke_add(struct ctl_revoke *r, uint64_t id);

/** Copy up to max revoked ids, newest first. @return count. */
uint32_t ctl_revoke_list(const struct ctl_revoke *r, uint64_t *out, uint32_t max);

#endif
