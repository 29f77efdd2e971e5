/*
 * Remote consumers' worker events (see ctl_consumer_events.h). The engine
 * writes its tables without locks; an event entry is taken only if its
 * sequence number is the expected one before and after the copy, and a
 * heartbeat reads a live slot as the listing does (each figure a single
 * aligned word).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_memzone.h>

#include "ctl_consumer_events.h"
#include "ctl_events.h"
#include "tw_consumers_shm.h"

static void
look_up(struct ctl_consumer_events *ce)
{
	char name[RTE_MEMZONE_NAMESIZE];

	for (uint32_t id = 0; id < TW_MAX_LCORES; id++) {
		const struct rte_memzone *mz;

		snprintf(name, sizeof(name), TW_RC_MZ, id);
		mz = rte_memzone_lookup(name);
		ce->table[id] = mz != NULL ? mz->addr : NULL;
		/* what happened before tw-control came is not news */
		if (ce->table[id] != NULL)
			ce->seen[id] = __atomic_load_n(&ce->table[id]->ev_seq, __ATOMIC_ACQUIRE);
	}
	ce->looked = true;
}

static void
identity(struct ctl_event *e, uint64_t id, const struct tw_peer *peer, const char *name,
	 const char *host)
{
	struct in_addr ip = { .s_addr = peer->ip };
	char a[INET_ADDRSTRLEN];

	e->consumer_id = id;
	snprintf(e->hostname, sizeof(e->hostname), "%.*s@%.*s", TW_RC_NAME - 1, name,
		 TW_RC_NAME - 1, host);
	snprintf(e->address, sizeof(e->address), "%s:%u",
		 inet_ntop(AF_INET, &ip, a, sizeof(a)) != NULL ? a : "?",
		 rte_be_to_cpu_16(peer->port));
}

/* Copy event seq of table t if it is still there, whole. */
static bool
take(const struct tw_consumers *t, uint64_t seq, struct tw_rc_event *out)
{
	const struct tw_rc_event *e = &t->ev[seq % TW_RC_EVENTS];

	/* acquire: pairs with the release store of seq in the lcore's log_event() */
	if (__atomic_load_n(&e->seq, __ATOMIC_ACQUIRE) != seq)
		return false;
	memcpy(out, e, sizeof(*out));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&e->seq, __ATOMIC_RELAXED) == seq;
}

uint32_t
ctl_consumer_events_poll(struct ctl_consumer_events *ce, struct ctl_events *ev, bool on)
{
	uint32_t n = 0;

	if (!ce->looked)
		look_up(ce);
	for (uint32_t id = 0; id < TW_MAX_LCORES; id++) {
		const struct tw_consumers *t = ce->table[id];
		uint64_t head;

		if (t == NULL)
			continue;
		/* acquire: pairs with the release store of ev_seq in log_event() */
		head = __atomic_load_n(&t->ev_seq, __ATOMIC_ACQUIRE);
		if (head - ce->seen[id] > TW_RC_EVENTS) {
			ce->lost += head - ce->seen[id] - TW_RC_EVENTS;
			ce->seen[id] = head - TW_RC_EVENTS;
		}
		/* bounded: at most TW_RC_EVENTS */
		for (uint64_t s = ce->seen[id] + 1; s <= head; s++) {
			struct tw_rc_event r;
			struct ctl_event e;

			if (!on)
				continue;
			if (!take(t, s, &r)) {
				ce->lost++;
				continue;
			}
			memset(&e, 0, sizeof(e));
			snprintf(e.type, sizeof(e.type), "%s",
				 r.kind == TW_RC_EV_ONLINE ? "worker-online" : "worker-offline");
			if (r.kind != TW_RC_EV_ONLINE)
				snprintf(e.reason, sizeof(e.reason), "%s",
					 r.kind == TW_RC_EV_OFFLINE_LOST ? "lost" : "cancelled");
			r.name[TW_RC_NAME - 1] = r.host[TW_RC_NAME - 1] = '\0';
			identity(&e, r.consumer_id, &r.peer, r.name, r.host);
			e.timestamp_ms = r.unix_ms;
			e.freq_ms = r.heartbeat_ms;
			e.active = r.unacked;
			e.processed = r.acked;
			e.delivered = r.delivered;
			e.nacked = r.nacked;
			e.redelivered = r.redelivered;
			ctl_events_push(ev, &e);
			n++;
		}
		ce->seen[id] = head;
	}
	return n;
}

void
ctl_consumer_events_heartbeats(struct ctl_consumer_events *ce, struct ctl_events *ev)
{
	if (!ce->looked)
		look_up(ce);
	for (uint32_t id = 0; id < TW_MAX_LCORES; id++) {
		const struct tw_consumers *t = ce->table[id];

		/* bounded: the table's slots */
		for (uint32_t i = 0; t != NULL && i < TW_RC_MAX_CONSUMERS; i++) {
			const struct tw_consumer *c = &t->c[i];
			char name[TW_RC_NAME], host[TW_RC_NAME];
			struct ctl_event e;
			/* acquire: pairs with the release store of the id in the lcore's subscribe */
			uint64_t cid = __atomic_load_n(&c->id, __ATOMIC_ACQUIRE);

			if (cid == 0)
				continue;
			memcpy(name, c->name, sizeof(name));
			memcpy(host, c->host, sizeof(host));
			name[TW_RC_NAME - 1] = host[TW_RC_NAME - 1] = '\0';
			memset(&e, 0, sizeof(e));
			snprintf(e.type, sizeof(e.type), "worker-heartbeat");
			identity(&e, cid, &c->peer, name, host);
			e.freq_ms = __atomic_load_n(&c->heartbeat_ms, __ATOMIC_RELAXED);
			e.active = __atomic_load_n(&c->unacked, __ATOMIC_RELAXED);
			e.processed = __atomic_load_n(&c->acked, __ATOMIC_RELAXED);
			e.delivered = __atomic_load_n(&c->delivered, __ATOMIC_RELAXED);
			e.nacked = __atomic_load_n(&c->nacked, __ATOMIC_RELAXED);
			e.redelivered = __atomic_load_n(&c->redelivered, __ATOMIC_RELAXED);
			ctl_events_push(ev, &e);
		}
	}
}
