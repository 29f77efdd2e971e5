/*
 * `twctl list consumers`: the remote consumers the engine's io lcores have
 * subscribed (dataplane/tw_consumers.h), read from the table's memzone
 * (named after its owning lcore: each is looked up). The lcore writes it
 * without locks;
 * a slot is live while its id is non-zero (released last on subscribe),
 * and the figures are read as they are at that moment (each a single
 * aligned word, so never torn).
 * Threads: main, under the broker lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_memzone.h>

#include "ctl_handlers.h"
#include "tw_consumers_shm.h"

/* The table of io lcore id, or NULL (not an io lcore, or an engine without tables). */
static const struct tw_consumers *
table(uint32_t id)
{
	char name[RTE_MEMZONE_NAMESIZE];
	const struct rte_memzone *mz;

	snprintf(name, sizeof(name), TW_RC_MZ, id);
	mz = rte_memzone_lookup(name);
	return mz != NULL ? mz->addr : NULL;
}

static int
fill(const struct tw_shared *sh, struct ctl_reply *r, const struct tw_consumer *c,
     Taskwire__Control__ConsumerInfo *x, uint64_t now)
{
	uint16_t nq = c->n_queues < TW_RC_MAX_QUEUES ? c->n_queues : TW_RC_MAX_QUEUES;
	char *addr = ctl_reply_alloc(r, 24);
	char **queues = ctl_reply_alloc(r, sizeof(char *) * TW_RC_MAX_QUEUES);
	struct in_addr ip = { .s_addr = c->peer.ip };
	uint64_t seen = __atomic_load_n(&c->last_seen_tsc, __ATOMIC_RELAXED);

	if (addr == NULL || queues == NULL)
		return -ENOMEM;
	x->id = c->id;
	x->name = (char *)c->name;
	x->host = (char *)c->host;
	snprintf(addr, 24, "%s:%u", inet_ntoa(ip), rte_be_to_cpu_16(c->peer.port));
	x->address = addr;
	for (uint16_t q = 0; q < nq; q++) {
		const struct tw_queue_slot *qs = sh->queues[c->queue_slot[q] % TW_MAX_QUEUES];

		/* a queue deleted since it subscribed: no name any more */
		queues[q] = (char *)(qs != NULL ? qs->name : "");
	}
	x->queues = queues;
	x->n_queues = nq;
	x->prefetch = c->prefetch;
	x->unacked = c->unacked;
	x->delivered = c->delivered;
	x->acked = c->acked;
	x->redelivered = c->redelivered;
	x->refused = c->refused;
	x->nacked = c->nacked;
	x->key_id = c->key_id;
	x->last_seen_ms = now > seen ? (now - seen) * 1000 / sh->tsc_hz : 0;
	x->lease_ms = c->lease_ms;
	x->heartbeat_ms = c->heartbeat_ms;
	return 0;
}

int
ctl_consumers_list(struct ctl_ctx *ctx, struct ctl_reply *r)
{
	Taskwire__Control__ConsumerInfo **out;
	uint64_t now = rte_rdtsc();
	uint32_t n = 0, k = 0;

	/* acquire: pairs with the release store of the id in the lcore's subscribe */
	for (uint32_t id = 0; id < TW_MAX_LCORES; id++) {
		const struct tw_consumers *cs = table(id);

		for (uint32_t i = 0; cs != NULL && i < TW_RC_MAX_CONSUMERS; i++)
			n += __atomic_load_n(&cs->c[i].id, __ATOMIC_ACQUIRE) != 0;
	}
	REPLY_ARRAY(r, Taskwire__Control__ConsumerInfo, taskwire__control__consumer_info__init, n,
		    out);
	if (out == NULL)
		return -ENOMEM;
	/* consumers that came since the count wait for the next listing */
	for (uint32_t id = 0; id < TW_MAX_LCORES && k < n; id++) {
		const struct tw_consumers *cs = table(id);

		for (uint32_t i = 0; cs != NULL && i < TW_RC_MAX_CONSUMERS && k < n; i++) {
			if (__atomic_load_n(&cs->c[i].id, __ATOMIC_ACQUIRE) == 0)
				continue;
			if (fill(ctx->broker.sh, r, &cs->c[i], out[k], now) != 0)
				return -ENOMEM;
			k++;
		}
	}
	r->resp.consumers = out;
	r->resp.n_consumers = k;
	return 0;
}

void
ctl_consumers_totals(uint32_t *consumers, uint64_t *unacked)
{
	*consumers = 0;
	*unacked = 0;
	for (uint32_t id = 0; id < TW_MAX_LCORES; id++) {
		const struct tw_consumers *cs = table(id);

		for (uint32_t i = 0; cs != NULL && i < TW_RC_MAX_CONSUMERS; i++) {
			/* acquire: pairs with the release store of the id in the lcore's subscribe */
			if (__atomic_load_n(&cs->c[i].id, __ATOMIC_ACQUIRE) == 0)
				continue;
			(*consumers)++;
			*unacked += __atomic_load_n(&cs->c[i].unacked, __ATOMIC_RELAXED);
		}
	}
}
