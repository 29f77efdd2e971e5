/*
 * struct tw_task: the descriptor of one task delivery, the object that
 * queue rings carry. Descriptors come from a fixed mempool (tw_shared
 * .task_pool) sized at start-up, so nothing is allocated per message.
 *
 * Ownership: a descriptor holds one reference on the frame mbuf that
 * carries its name and args bytes. Whoever dequeues a descriptor from a
 * queue ring owns it and must release it with tw_task_release() (which
 * drops the mbuf reference and returns the descriptor to its pool).
 * Threads: a descriptor has one owner at a time; the hand-off is the ring
 * enqueue. tw-control may release descriptors when it purges or deletes a
 * queue, after an RCU grace period, from its own unique lcore id.
 */
#ifndef TW_TASK_H
#define TW_TASK_H

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "tw_wire.h"

struct tw_dedup_entry;

struct tw_task {
	uint64_t id;
	struct rte_mbuf *frame;     /* one reference held per descriptor */
	const uint8_t *args;        /* points into frame's data */
	const char *name;           /* points into frame's data, not NUL-terminated */
	uint32_t args_len;
	uint16_t name_len;
	uint16_t handler;           /* index in the handler table, TW_HANDLER_NONE if unknown */
	uint16_t queue_slot;        /* queue it was delivered to */
	uint8_t priority;
	uint8_t deliveries;         /* remote consumers: times delivered before (saturates at 255) */
	/* Reply address: the publisher's source as seen on the wire. */
	uint16_t port_id;
	rte_be16_t peer_port;
	rte_be32_t peer_ip;
	struct rte_ether_addr peer_mac;
	uint64_t enqueue_tsc;
	uint64_t expire_tsc;        /* not run after this TSC (queue TTL), 0: never */
	const char *routing_key;    /* points into frame's data: dead-lettering routes with it */
	uint16_t key_len;
	uint8_t dead_letters;       /* times dead-lettered (bounded: TW_MAX_DEAD_LETTERS) */
	uint8_t counts_bytes;       /* its queue has a byte limit: subtract args_len on dequeue */
	/* The Task message as it came (points into frame's data): tw-control
	 * re-encodes it from these bytes when it holds the task for later, so
	 * every field (headers, retry policy) survives a retry. */
	const uint8_t *raw;
	uint32_t raw_len;
	uint32_t retries;           /* retries made before this delivery */
	uint64_t eta_ms;            /* handed to the scheduler: due at this unix ms */
	uint32_t result_expires_s;  /* result store lifetime, 0: default */
	uint8_t ignore_result;      /* no record for the result store */
	uint8_t expiry_is_task;     /* expire_tsc comes from the task's expires, not the queue TTL */
	uint8_t has_retry;          /* the message's retry policy overrides the registered one */
	uint8_t origin;             /* threads pool: the lcore (plan index) that submitted it */
	uint32_t dedup_gen;         /* generation of dedup's entry when routed */
	struct tw_dedup_entry *dedup; /* where the final result is kept for re-sending, or NULL */
	struct tw_retry_policy retry;
	/* Workflows (tw_workflow.h): set when the Task carries any workflow
	 * field; its next/link/link_error signatures are read back from raw
	 * when it finishes. */
	uint8_t wf;
	uint8_t wf_notify;          /* its states go to the publisher (others: store only) */
	uint8_t wf_replaced;        /* replaced by a group (tw_task_replace_group): it carries on */
	uint32_t group_index;
	uint64_t root_id;
	uint64_t parent_id;
	uint64_t group_id;          /* member of this group, 0: none */
	uint64_t args_group;        /* chord callback: args are this group's results */
	uint64_t jid;               /* durable queues: its journal record (0: not journaled) */
} __rte_cache_aligned;

#define TW_HANDLER_NONE UINT16_MAX

/* Release a descriptor: drop its frame reference, return it to the pool. */
static inline void
tw_task_release(struct tw_task *t, struct rte_mempool *pool)
{
	rte_pktmbuf_free(t->frame);
	rte_mempool_put(pool, t);
}

/*
 * Release n descriptors at once. Tasks of one frame usually come out of a
 * queue together; each held its own reference, and dropping k of them one
 * by one is k atomic decrements of one cache line: a run of k tasks of one
 * frame drops k - 1 in one update and frees the frame with the last.
 */
static inline void
tw_task_release_bulk(struct tw_task **t, uint32_t n, struct rte_mempool *pool)
{
	for (uint32_t i = 0, k; i < n; i += k) {
		struct rte_mbuf *m = t[i]->frame;

		for (k = 1; i + k < n && t[i + k]->frame == m; k++)
			;
		if (k > 1)
			rte_mbuf_refcnt_update(m, -(int16_t)(k - 1));
		rte_pktmbuf_free(m);
	}
	rte_mempool_put_bulk(pool, (void **)t, n);
}

#endif
