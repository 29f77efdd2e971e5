/*
 * Remote consumers (proto/taskwire.proto, "Remote consumers"): workers
 * outside the engine that subscribe to queues over the wire, receive
 * deliveries within a credit window under a lease, and ack with the
 * outcome.
 *
 * Ownership: one io (or run-to-completion) lcore, the first of the plan,
 * owns the consumer table. Another io lcore that receives a consumer's
 * frame hands it to the owner through a ring of its own (single producer,
 * single consumer; tw_consumers_forward): a port need not keep one
 * address's datagrams on one RX queue (a TAP device steers a flow to the
 * queue it last sent on), and a consumer's subscribe, heartbeats and acks
 * must all meet the table that holds its deliveries. The owner alone
 * subscribes, serves, times out and acks: no lock, no allocation, no
 * system call per message. Everything is preallocated at launch and
 * bounded (TW_RC_* below). Worker lcores read only the per-queue consumer
 * counts and holds (tw_rc_queues) to leave such a queue alone.
 *
 * Which lcores serve a queue is the queue's x-consumers, chosen at
 * declare: "engine" (worker lcores only; a subscription is refused),
 * "remote" (remote consumers only: its tasks wait in the queue, also
 * before the first consumer subscribes and while none is), "both" (worker
 * lcores and remote consumers compete), or "auto", the default: while a
 * queue has at least one subscribed remote consumer, worker lcores skip
 * it and only its remote consumers take its tasks; when the last one
 * goes, worker lcores take it up again on their next pass. A consumer that subscribes
 * with `hold` makes the queue remote consumers' for good, also while none
 * is subscribed: a queue of tasks only worker processes know (Python
 * code, a GPU host's) must keep them while its workers restart or are
 * replaced, not hand them to the engine's lcores, which do not know them
 * and would fail them (the Python worker holds its queues). The hold is
 * the queue's ring's, and tw-control clears it when it deletes the queue.
 * A task waits in its queue until a consumer has credit: a stalled
 * consumer never slows routing, and a full queue applies its overflow
 * policy as usual.
 *
 * A delivery holds the task descriptor (and its frame reference) in the
 * in-flight table until its ack. An ack feeds exactly what an in-engine
 * run feeds (tw_exec_remote_done): the result to the publisher, the
 * record to tw-control's store, events, workflow steps, retries and
 * dead-lettering. A lease that runs out, or a consumer silent for three
 * heartbeat intervals, puts its unacked tasks back at the head of their
 * queue (a per-queue stash served before the ring) with delivery_count
 * + 1; a later ack of such a delivery is refused (stale tag).
 */
#ifndef TW_CONSUMERS_H
#define TW_CONSUMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_consumers_shm.h"
#include "tw_lcore.h"
#include "tw_routes.h"

/*
 * Credit window: a larger one is clamped. RabbitMQ's basic.qos takes up to
 * 65,535, and Celery asks prefetch_multiplier x concurrency (often hundreds).
 * What one consumer can hold at once is also bounded by its share of its
 * table's in-flight entries (TW_RC_INFLIGHT / (consumers + 1): half the
 * table for a consumer alone), so that a large credit cannot starve the
 * table's other consumers: past its share a consumer waits for its own
 * acks, as for any credit it has not used (counted: rc_share_held).
 */
#define TW_RC_MAX_PREFETCH 65535u
#define TW_RC_DEFAULT_LEASE_MS 30000u
#define TW_RC_DEFAULT_HEARTBEAT_MS 5000u
#define TW_RC_MISSED_HEARTBEATS 3    /* silent this many intervals: the consumer is gone */
#define TW_RC_STALL_MS 50            /* a scan this late: the lcore itself was stalled */
#define TW_RC_SERVE_BUDGET 256       /* deliveries per loop pass, so a pass stays short */
#define TW_RC_FORWARD_RING 1024      /* consumer frames from one io lcore waiting for the owner */

struct tw_frame_view;

/**
 * Create the per-queue consumer counts every table shares (memzone
 * TW_RC_QUEUES_MZ, zeroed). @return them, or NULL with rte_errno set.
 * Threads: main, before launch.
 */
struct tw_rc_queues *tw_consumers_queues_create(int socket);

/**
 * Create io lcore `id`'s consumer table in a memzone named TW_RC_MZ with
 * id (zeroed, every list empty), counting its consumers into queues.
 * @return the table, or NULL with rte_errno set.
 * Threads: main, before launch.
 */
struct tw_consumers *tw_consumers_create(int socket, uint32_t id, struct tw_rc_queues *queues);

/**
 * Act on the consumer messages of a decoded frame (subscribe, cancel,
 * heartbeat, acks) from peer; answers go into the lcore's reply stream.
 * Ownership: borrows the frame (acks' values are copied into replies and
 *   records before return).
 * Threads: the owning io (or run-to-completion) lcore.
 */
void tw_consumers_frame(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
			const struct tw_frame_view *fv, const struct tw_peer *peer);

/**
 * Deliver queued tasks to consumers with credit (at most
 * TW_RC_SERVE_BUDGET), and when the scan deadline passes, requeue expired
 * leases and drop silent consumers.
 * @return deliveries and requeues made (work done, for the idle back-off).
 * Threads: the owning io (or run-to-completion) lcore, once per pass.
 */
uint32_t tw_consumers_serve(struct tw_lcore_ctx *ctx, const struct tw_routes *rt);

/**
 * On an io lcore that does not own the table: hand a frame carrying
 * consumer messages to the owner (ctx->rc_out). The frame's tasks, if
 * any, are still the caller's to dispatch.
 * Ownership: borrows m (takes a reference of its own for the ring).
 * Threads: io lcores other than the owner.
 */
void tw_consumers_forward(struct tw_lcore_ctx *ctx, struct rte_mbuf *m);

/**
 * At stop: release every descriptor held in flight or stashed.
 * Threads: the owning lcore, after its last pass.
 */
void tw_consumers_drain(struct tw_lcore_ctx *ctx);

/** Is queue q served to remote consumers only? Threads: any lcore (relaxed). */
static inline bool
tw_consumers_own_queue(const struct tw_rc_queues *qs, const struct tw_route_queue *q)
{
	if (q->consumers != TW_QC_AUTO) /* chosen at declare */
		return q->consumers == TW_QC_REMOTE;
	return qs != NULL && (__atomic_load_n(&qs->consumers[q->slot], __ATOMIC_RELAXED) != 0 ||
			      __atomic_load_n(&qs->held[q->slot], __ATOMIC_RELAXED) == q->ring);
}

#endif
