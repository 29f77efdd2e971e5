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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "tw_broker_journal.h"

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
tw_broker_drain_ring(struct tw_broker *b, struct tw_qring *r)
{
	void *v[64];
	uint64_t n = 0;
	unsigned got;

	if (r == NULL)
		return 0;
	/* bounded by what the ring holds: nothing enqueues into an unreachable or purged one faster */
	while ((got = tw_qring_dequeue_burst(r, v, RTE_DIM(v))) != 0) {
		for (unsigned i = 0; i < got; i++) {
			struct tw_task *t = v[i];

			if (t->counts_bytes)
				__atomic_fetch_sub(tw_qbytes(b->sh, t->queue_slot), t->args_len,
						   __ATOMIC_RELAXED);
			/* a durable task ends in the journal too, or a crash brings it back */
			if (t->jid != 0)
				tw_broker_journal_drop(b, t->jid);
			tw_task_release(t, b->sh->task_pool);
		}
		n += got;
	}
	return n;
}

int
tw_broker_build_prepare(struct tw_broker *b, struct tw_broker_build *bb, char *err)
{
	uint32_t n = 0;

	memset(bb, 0, sizeof(*bb));
	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++)
		n += b->sh->queues[s] != NULL;
	bb->queues = calloc(n + 1, sizeof(*bb->queues));
	if (bb->queues == NULL)
		return tw_broker_fail(err, -ENOMEM, "cannot build routing table: out of memory");
	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++) {
		const struct tw_queue_slot *qs = b->sh->queues[s];
		struct tw_def_queue *q = &bb->queues[bb->d.n_queues];

		if (qs == NULL)
			continue;
		snprintf(q->name, TW_NAME_MAX, "%s", qs->name);
		q->slot = (uint16_t)s;
		q->ring = qs->ring;
		q->max_length = qs->max_length;
		q->max_bytes = qs->max_bytes;
		q->durable = qs->durable;
		q->max_priority = qs->max_priority;
		q->consumers = qs->consumers;
		q->delivery_limit = qs->delivery_limit;
		memcpy(q->levels, qs->levels, sizeof(qs->levels));
		q->overflow = qs->overflow;
		q->message_ttl_ms = qs->message_ttl_ms;
		snprintf(q->dlx, TW_NAME_MAX, "%s", qs->dlx);
		q->has_dl_key = qs->has_dl_key;
		snprintf(q->dl_key, TW_NAME_MAX, "%s", qs->dl_key);
		bb->d.n_queues++;
	}
	bb->d.queues = bb->queues;
	bb->d.n_exchanges = b->n_exchanges;
	bb->d.exchanges = b->exchanges;
	bb->d.n_bindings = b->n_bindings;
	bb->d.bindings = b->bindings;
	bb->d.version = b->sh->routes_version + 1;
	bb->d.tsc_hz = rte_get_tsc_hz();
	return 0;
}

void
tw_broker_build_run(struct tw_broker_build *bb)
{
	bb->rt = tw_routes_build(&bb->d, &shm_ops);
	bb->err = bb->rt == NULL ? errno : 0;
}

/* Drain and free deleted queues no lcore can reach any more. */
static void
free_dead(struct tw_broker *b, struct tw_queue_slot *const *q, unsigned n, uint64_t *discarded)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t k = tw_broker_queue_free(b, q[i]);

		if (discarded != NULL)
			*discarded += k;
	}
}

static int
install(struct tw_broker *b, struct tw_broker_build *bb, struct tw_queue_slot *dead,
	uint64_t *discarded, char *err)
{
	struct tw_routes *rt = bb->rt, *old;

	free(bb->queues);
	bb->queues = NULL;
	if (rt == NULL)
		return tw_broker_fail(err, -bb->err, "cannot build routing table: %s", strerror(bb->err));
	old = b->sh->routes;
	/* release: pairs with the acquire load in tw_lcore_loop.c loop_body() */
	__atomic_store_n(&b->sh->routes, rt, __ATOMIC_RELEASE);
	__atomic_store_n(&b->sh->routes_version, bb->d.version, __ATOMIC_RELEASE);
	if (grace_period(b) != 0) {
		/* Some lcore may still read old (or the dead rings): never free them. */
		b->leaked_tables++;
		b->n_dead = 0;
		fprintf(stderr, "tw-control: grace period timed out; old routing table kept\n");
		return 0;
	}
	tw_routes_free(old, &shm_ops);
	if (dead != NULL)
		free_dead(b, &dead, 1, discarded);
	free_dead(b, b->dead, b->n_dead, discarded);
	b->n_dead = 0;
	return 0;
}

int
tw_broker_publish(struct tw_broker *b, struct tw_queue_slot *dead, uint64_t *discarded, char *err)
{
	struct tw_broker_build bb;
	int ret = tw_broker_build_prepare(b, &bb, err);

	if (ret != 0)
		return ret;
	tw_broker_build_run(&bb);
	return install(b, &bb, dead, discarded, err);
}

void
tw_broker_batch_begin(struct tw_broker *b)
{
	b->batch++;
}

int
tw_broker_build_install(struct tw_broker *b, struct tw_broker_build *bb, uint64_t *discarded,
			char *err)
{
	b->batch = 0;
	return install(b, bb, NULL, discarded, err);
}

int
tw_broker_batch_end(struct tw_broker *b, uint64_t *discarded, char *err)
{
	struct tw_broker_build bb;
	int ret;

	b->batch = 0;
	ret = tw_broker_build_prepare(b, &bb, err);
	if (ret != 0)
		return ret;
	tw_broker_build_run(&bb);
	return install(b, &bb, NULL, discarded, err);
}

int
tw_broker_publish_or_defer(struct tw_broker *b, struct tw_queue_slot *dead,
			   uint64_t *discarded, char *err)
{
	if (b->batch == 0)
		return tw_broker_publish(b, dead, discarded, err);
	if (dead == NULL)
		return 0;
	if (b->n_dead + 1 > b->cap_dead) {
		uint32_t cap = (b->cap_dead ? b->cap_dead * 2 : 64) + 1;
		void *p = realloc(b->dead, sizeof(*b->dead) * cap);

		if (p == NULL)
			return tw_broker_fail(err, -ENOMEM, "out of memory");
		b->dead = p;
		b->cap_dead = cap;
	}
	b->dead[b->n_dead++] = dead;
	return 0;
}
