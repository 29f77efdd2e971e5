/*
 * The remote-consumer table as it lies in shared memory: written by the
 * tw-dataplane io lcore that owns it (dataplane/tw_consumers.h), read by
 * tw-control for `twctl list consumers`. A slot is live while its id is
 * non-zero: the lcore stores the id last (release) when it subscribes a
 * consumer, and readers load it with acquire before the other fields.
 * Changing this layout changes what the two processes share (bump
 * TW_SHARED_LAYOUT_VERSION in tw_shared.h).
 */
#ifndef TW_CONSUMERS_SHM_H
#define TW_CONSUMERS_SHM_H

#include <stdint.h>

struct tw_qring;

#include <rte_byteorder.h>
#include <rte_ether.h>

#include "tw_limits.h"

/* Where a reply goes: the peer that sent us a frame (addresses as on the wire). */
struct tw_peer {
	struct rte_ether_addr mac;
	rte_be32_t ip;
	rte_be16_t port;
};

#define TW_RC_MAX_CONSUMERS 1024     /* subscribed consumers (one table) */
#define TW_RC_MAX_QUEUES 16          /* queues of one subscription */
#define TW_RC_INFLIGHT 8192          /* unacked deliveries (at most 65,536: a tag's 16 bits) */
#define TW_RC_STASH 4096             /* redeliveries waiting at queue heads */
#define TW_RC_NAME 64                /* consumer name and host, incl. NUL */
#define TW_RC_MZ "tw_consumers_%u"   /* memzone of the table, named after its owning lcore: tw-control reads it */
#define TW_RC_QUEUES_MZ "tw_consumer_queues" /* the per-queue consumer counts all tables share */

/* One subscribed consumer. Written by the owning io lcore only. */
struct tw_consumer {
	uint64_t id;                 /* 0: slot free */
	struct tw_peer peer;         /* where its frames come from and deliveries go */
	/* the key its subscribe was signed with (an engine with --keys; 0:
	 * none): its heartbeats, acks and cancel must carry the same, so
	 * another key's holder cannot ack or cancel for it */
	uint32_t key_id;
	uint16_t n_queues;
	uint16_t next_q;             /* round-robin start among its queues */
	uint16_t queue_slot[TW_RC_MAX_QUEUES];
	uint32_t prefetch;           /* granted window */
	uint32_t unacked;
	uint32_t lease_ms;
	uint32_t heartbeat_ms;
	uint64_t lease_ticks;
	uint64_t silence_ticks;      /* TW_RC_MISSED_HEARTBEATS intervals */
	uint64_t last_seen_tsc;
	uint64_t subscribed_unix_ms;
	/* its deliveries: a list through tw_rc_inflight (UINT32_MAX: none),
	 * oldest lease end first: a delivery joins at the tail, a PROGRESS
	 * ack moves it there, so the lease scan stops at the first one still
	 * running, and an ack unlinks in O(1) whatever the credit window */
	uint32_t inflight_head, inflight_tail;
	/* the lease changed (a subscribe again) while deliveries were out:
	 * the list is not in lease order until they are all acked, so the
	 * scan walks all of it meanwhile */
	uint8_t lease_unordered;
	/* its credit was held back by its share of the table's entries (the
	 * owner's serve: a counter is bumped once per subscription) */
	uint8_t share_held;
	/* figures for twctl (relaxed stores, one writer) */
	uint64_t delivered, acked, redelivered, refused;
	uint64_t nacked;             /* of acked: rejected (REJECT, requeued or not) */
	char name[TW_RC_NAME];
	char host[TW_RC_NAME];
	/* "name@host", as Celery names a worker: written once at subscribe,
	 * carried by the records of the tasks it runs (their events' hostname) */
	char worker[2 * TW_RC_NAME];
	uint32_t worker_len;
};

/*
 * Consumers coming and going, for tw-control's event stream (worker-online,
 * worker-offline): a ring of the last TW_RC_EVENTS, one writer (the owning
 * lcore, at subscribe, cancel and loss: never per message). An entry's seq
 * is cleared while it is written and stored last (release); a reader takes
 * it only if seq is the one it expects before and after copying it.
 */
#define TW_RC_EVENTS 256

enum { TW_RC_EV_ONLINE = 1, TW_RC_EV_OFFLINE_CANCELLED, TW_RC_EV_OFFLINE_LOST };

struct tw_rc_event {
	uint64_t seq;                /* 1, 2, ...; 0 while being written */
	uint32_t kind;               /* TW_RC_EV_* */
	uint32_t prefetch;
	uint64_t consumer_id;
	uint64_t unix_ms;
	struct tw_peer peer;
	uint32_t heartbeat_ms;
	uint32_t unacked;            /* offline: put back into their queues */
	uint64_t delivered, acked, nacked, redelivered; /* offline: its totals */
	char name[TW_RC_NAME];
	char host[TW_RC_NAME];
};

/*
 * Per queue slot (memzone TW_RC_QUEUES_MZ): how many remote consumers it
 * has now, and the ring of the queue a consumer held (Subscribe.hold;
 * NULL: none did). Worker lcores read both relaxed: a queue with consumers,
 * or whose ring is held here, is remote consumers'. tw-control clears a
 * slot's hold when it deletes the queue.
 */
struct tw_rc_queues {
	uint32_t consumers[TW_MAX_QUEUES];     /* atomic adds at subscribe and cancel */
	const struct tw_qring *held[TW_MAX_QUEUES];
	/* tw_shared.qready: a queue whose last consumer left is the worker
	 * lcores' again, and they may have cleared its bit meanwhile */
	uint64_t *qready;
};

/* One unacked delivery. */
struct tw_rc_inflight {
	struct tw_task *t;           /* NULL: free */
	uint32_t gen;                /* bumped at every use: names the delivery in its tag */
	uint16_t consumer;
	uint64_t deadline_tsc;       /* lease end */
	uint32_t prev, next;         /* the consumer's list (UINT32_MAX: none); free list: next */
};

struct tw_consumers {
	/* consumers per queue slot over every io lcore's table (atomic adds by
	 * the io lcores; read relaxed by worker lcores: a queue slot with a
	 * non-zero count is served to remote consumers only) */
	struct tw_rc_queues *queues;
	uint32_t id;                 /* the owning lcore's index (plan order): named in tags */
	/* consumers per queue slot in this table (one writer: the owning lcore) */
	uint32_t local[TW_MAX_QUEUES];
	uint32_t n_active;           /* consumers in active[] */
	uint16_t active[TW_RC_MAX_CONSUMERS];
	uint16_t next_serve;         /* round-robin start among consumers */
	uint32_t free_inflight;      /* free list head, UINT32_MAX: none left */
	uint32_t n_inflight;
	uint64_t next_scan_tsc;      /* leases and heartbeats are checked when it passes */
	/* redeliveries waiting at the head of their queue: a FIFO per queue slot
	 * (indices into stash[]), served before the queue's ring */
	uint32_t stash_free;
	uint32_t stash_n;
	uint32_t stash_head[TW_MAX_QUEUES], stash_tail[TW_MAX_QUEUES];
	struct {
		struct tw_task *t;
		uint32_t next;
	} stash[TW_RC_STASH];
	struct tw_consumer c[TW_RC_MAX_CONSUMERS];
	struct tw_rc_inflight inflight[TW_RC_INFLIGHT];
	uint64_t ev_seq;             /* the last event written (release), 0: none yet */
	struct tw_rc_event ev[TW_RC_EVENTS]; /* event seq s at ev[s % TW_RC_EVENTS] */
};

#endif
