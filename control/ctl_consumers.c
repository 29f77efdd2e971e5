/*
 * `twctl list consumers`: the remote consumers the engine's io lcore has
 * subscribed (dataplane/tw_consumers.h), read from their memzone. The
 * lcore writes the table without locks; a slot is live while its id is
 * non-zero (released last on subscribe), and the figures are read as
 * they are at that moment (each a single aligned word, so never torn).
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
#include "tw_consumers.h"

int
ctl_consumers_list(struct ctl_broker *b, struct ctl_reply *r)
{
	const struct rte_memzone *mz = rte_memzone_lookup(TW_RC_MZ);
	const struct tw_consumers *cs;
	Taskwire__Control__ConsumerInfo **out;
	uint64_t now = rte_rdtsc();
	uint32_t n = 0, k = 0;

	if (mz == NULL) {
		/* an engine without the table (older): nothing subscribed */
		r->resp.n_consumers = 0;
		return 0;
	}
	cs = mz->addr;
	for (uint32_t i = 0; i < TW_RC_MAX_CONSUMERS; i++)
		n += __atomic_load_n(&cs->c[i].id, __ATOMIC_ACQUIRE) != 0;
	REPLY_ARRAY(r, Taskwire__Control__ConsumerInfo, taskwire__control__consumer_info__init, n,
		    out);
	if (out == NULL)
		return -ENOMEM;
	/* acquire: pairs with the release store of the id in the lcore's subscribe */
	for (uint32_t i = 0; i < TW_RC_MAX_CONSUMERS && k < n; i++) {
		const struct tw_consumer *c = &cs->c[i];
		Taskwire__Control__ConsumerInfo *x = out[k];
		uint16_t nq = c->n_queues < TW_RC_MAX_QUEUES ? c->n_queues : TW_RC_MAX_QUEUES;
		char *addr = ctl_reply_alloc(r, 24), **queues = ctl_reply_alloc(r, sizeof(char *) * 16);
		struct in_addr ip = { .s_addr = c->peer.ip };
		uint64_t seen = __atomic_load_n(&c->last_seen_tsc, __ATOMIC_RELAXED);

		if (__atomic_load_n(&c->id, __ATOMIC_ACQUIRE) == 0)
			continue;
		if (addr == NULL || queues == NULL)
			return -ENOMEM;
		x->id = c->id;
		x->name = (char *)c->name;
		x->host = (char *)c->host;
		snprintf(addr, 24, "%s:%u", inet_ntoa(ip), rte_be_to_cpu_16(c->peer.port));
		x->address = addr;
		for (uint16_t q = 0; q < nq; q++)
			queues[q] = (char *)b->sh->queues[c->queue_slot[q] % TW_MAX_QUEUES].name;
		x->queues = queues;
		x->n_queues = nq;
		x->prefetch = c->prefetch;
		x->unacked = c->unacked;
		x->delivered = c->delivered;
		x->acked = c->acked;
		x->redelivered = c->redelivered;
		x->refused = c->refused;
		x->last_seen_ms = now > seen ? (now - seen) * 1000 / b->sh->tsc_hz : 0;
		x->lease_ms = c->lease_ms;
		x->heartbeat_ms = c->heartbeat_ms;
		k++;
	}
	r->resp.consumers = out;
	r->resp.n_consumers = k;
	return 0;
}
