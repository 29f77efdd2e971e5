/*
 * Revoked set writer (see ctl_revoke.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_rcu_qsbr.h>

#include "ctl_revoke.h"

/* Insert into a table readers may be probing: one release store per id. */
static void
table_insert(uint64_t *ids, uint64_t id)
{
	uint32_t i = tw_revoked_slot(id);

	while (ids[i] != 0 && ids[i] != id)
		i = (i + 1) & (TW_REVOKED_SLOTS - 1);
	/* release: the id is whole before a worker can match it */
	__atomic_store_n(&ids[i], id, __ATOMIC_RELEASE);
}

int
ctl_revoke_init(struct ctl_revoke *r, struct tw_shared *sh)
{
	struct tw_revoked *set = &sh->revoked;
	const uint64_t *ids = set->ids[set->active & 1];

	memset(r, 0, sizeof(*r));
	r->sh = sh;
	r->fifo = calloc(TW_REVOKED_MAX, sizeof(*r->fifo));
	if (r->fifo == NULL)
		return -ENOMEM;
	/* a restarted tw-control: the shared table outlived the old one; its
	 * order is lost, so the reloaded ids count as the oldest */
	for (uint32_t i = 0; i < TW_REVOKED_SLOTS && r->n < TW_REVOKED_MAX; i++)
		if (ids[i] != 0)
			r->fifo[r->n++] = ids[i];
	return 0;
}

void
ctl_revoke_fini(struct ctl_revoke *r)
{
	free(r->fifo);
	r->fifo = NULL;
}

static bool
known(const struct ctl_revoke *r, uint64_t id)
{
	return tw_revoked_has(&r->sh->revoked, id);
}

/*
 * Forget the oldest quarter: fill the spare table with the rest and flip.
 * The spare table was the active one before the previous flip; the grace
 * period makes sure no lcore still probes it before it is cleared.
 */
static void
rebuild(struct ctl_revoke *r)
{
	struct tw_revoked *set = &r->sh->revoked;
	uint32_t spare = (set->active + 1) & 1, drop = TW_REVOKED_MAX / 4;

	rte_rcu_qsbr_synchronize(r->sh->qsbr, RTE_QSBR_THRID_INVALID);
	memset(set->ids[spare], 0, sizeof(set->ids[spare]));
	r->head = (r->head + drop) % TW_REVOKED_MAX;
	r->n -= drop;
	for (uint32_t k = 0; k < r->n; k++)
		table_insert(set->ids[spare], r->fifo[(r->head + k) % TW_REVOKED_MAX]);
	__atomic_store_n(&set->count, r->n, __ATOMIC_RELAXED);
	/* release: pairs with the acquire load of `active` in tw_revoked_has() */
	__atomic_store_n(&set->active, spare, __ATOMIC_RELEASE);
}

int
ctl_revoke_add(struct ctl_revoke *r, uint64_t id)
{
	struct tw_revoked *set = &r->sh->revoked;

	if (known(r, id))
		return -EALREADY;
	if (r->n == TW_REVOKED_MAX)
		rebuild(r);
	r->fifo[(r->head + r->n) % TW_REVOKED_MAX] = id;
	r->n++;
	table_insert(set->ids[set->active & 1], id);
	__atomic_store_n(&set->count, r->n, __ATOMIC_RELEASE);
	r->total++;
	return 0;
}

uint32_t
ctl_revoke_list(const struct ctl_revoke *r, uint64_t *out, uint32_t max)
{
	uint32_t k = 0;

	for (; k < max && k < r->n; k++)
		out[k] = r->fifo[(r->head + r->n - 1 - k) % TW_REVOKED_MAX];
	return k;
}
