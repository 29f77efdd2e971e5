/*
 * Making the broker model live: build a routing table from it and publish
 * it with RCU (tw_broker_priv.h).
 *
 * Publication order (the contract of tw_shared.h):
 *  1. build a complete new table in shared memory (rte_zmalloc);
 *  2. store its pointer with release order (pairs with the acquire load
 *     at the top of every lcore pass, tw_lcore_loop.c);
 *  3. wait for a grace period: every polling lcore has passed a quiescent
 *     state (or is offline) after the store, so none still reads the old
 *     table;
 *  4. free the old table, and only then drain and free rings of deleted
 *     queues (no lcore can reach them any more).
 * The wait is bounded (grace_timeout_ms) and also stops when the primary
 * is gone: a table whose grace period never completed is leaked, counted,
 * never freed under a reader.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "tw_broker_priv.h"
#include "tw_task.h"

static void *
shm_zalloc(size_t size, void *arg)
{
	(void)arg;
	return rte_zmalloc("tw_routes", size, RTE_CACHE_LINE_SIZE);
}

static void
shm_free(void *p, void *arg)
{
	(void)arg;
	rte_free(p);
}

static const struct tw_alloc_ops shm_ops = { shm_zalloc, shm_free, NULL };

static bool
primary_alive(const struct tw_shared *sh)
{
	return kill(sh->primary_pid, 0) == 0 || errno == EPERM;
}

/* Wait until every lcore has been quiescent since now. @return 0 or -ETIMEDOUT. */
static int
grace_period(struct tw_broker *b)
{
	uint64_t token = rte_rcu_qsbr_start(b->sh->qsbr);
	uint64_t deadline = rte_get_timer_cycles() + rte_get_timer_hz() * b->grace_timeout_ms / 1000;

	while (rte_rcu_qsbr_check(b->sh->qsbr, token, false) != 1) {
		if (rte_get_timer_cycles() > deadline || !primary_alive(b->sh))
			return -ETIMEDOUT;
		usleep(50);
	}
	return 0;
}

/* Release every task still in a ring (the ring is unreachable or being purged). */
uint64_t
tw_broker_drain_ring(struct tw_broker *b, struct rte_ring *r)
{
	void *v[64];
	uint64_t n = 0;
	unsigned got;

	while ((got = rte_ring_dequeue_burst(r, v, RTE_DIM(v), NULL)) != 0) {
		for (unsigned i = 0; i < got; i++) {
			struct tw_task *t = v[i];

			if (t->counts_bytes)
				__atomic_fetch_sub(&b->sh->queue_bytes[t->queue_slot].bytes, t->args_len,
						   __ATOMIC_RELAXED);
			tw_task_release(t, b->sh->task_pool);
		}
		n += got;
	}
	return n;
}

int
tw_broker_publish(struct tw_broker *b, const struct tw_broker_dead_rings *dead, uint64_t *discarded, char *err)
{
	static struct tw_def_queue queues[TW_MAX_QUEUES];
	struct tw_defs d = { 0 };
	struct tw_routes *rt, *old;

	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++) {
		const struct tw_queue_slot *qs = &b->sh->queues[s];

		if (qs->ring == NULL)
			continue;
		snprintf(queues[d.n_queues].name, TW_NAME_MAX, "%s", qs->name);
		queues[d.n_queues].slot = (uint16_t)s;
		queues[d.n_queues].ring = qs->ring;
		queues[d.n_queues].max_length = qs->max_length;
		queues[d.n_queues].max_bytes = qs->max_bytes;
		queues[d.n_queues].max_priority = qs->max_priority;
		memcpy(queues[d.n_queues].levels, qs->levels, sizeof(qs->levels));
		queues[d.n_queues].overflow = qs->overflow;
		queues[d.n_queues].message_ttl_ms = qs->message_ttl_ms;
		snprintf(queues[d.n_queues].dlx, TW_NAME_MAX, "%s", qs->dlx);
		queues[d.n_queues].has_dl_key = qs->has_dl_key;
		snprintf(queues[d.n_queues].dl_key, TW_NAME_MAX, "%s", qs->dl_key);
		d.n_queues++;
	}
	d.queues = queues;
	d.n_exchanges = b->n_exchanges;
	d.exchanges = b->exchanges;
	d.n_bindings = b->n_bindings;
	d.bindings = b->bindings;
	d.version = b->sh->routes_version + 1;
	d.tsc_hz = rte_get_tsc_hz();

	rt = tw_routes_build(&d, &shm_ops);
	if (rt == NULL)
		return tw_broker_fail(err, -errno, "cannot build routing table: %s", strerror(errno));
	old = b->sh->routes;
	/* release: pairs with the acquire load in tw_lcore_loop.c loop_body() */
	__atomic_store_n(&b->sh->routes, rt, __ATOMIC_RELEASE);
	__atomic_store_n(&b->sh->routes_version, d.version, __ATOMIC_RELEASE);
	if (grace_period(b) != 0) {
		/* Some lcore may still read old (or the dead rings): never free them. */
		b->leaked_tables++;
		fprintf(stderr, "tw-control: grace period timed out; old routing table kept\n");
		return 0;
	}
	tw_routes_free(old, &shm_ops);
	for (unsigned i = 0; dead != NULL && i < dead->n; i++) {
		uint64_t n = tw_broker_drain_ring(b, dead->r[i]);

		if (discarded != NULL)
			*discarded += n;
		rte_ring_free(dead->r[i]);
	}
	return 0;
}
