/*
 * The shared-memory contract between tw-dataplane (DPDK primary) and
 * tw-control (DPDK secondary): one memzone named TW_SHARED_MZ.
 *
 * Who writes what:
 *  - tw-dataplane fills identity, plan, pools and qsbr before it launches
 *    its lcores and never changes them afterwards.
 *  - each polling lcore writes only stats[its plan index].
 *  - tw-control owns queues[] (slot bookkeeping), the per-slot counter
 *    blocks' allocation (qcnt, xcnt), routes and routes_version, and
 *    control_pid.
 * The routes pointer is the one field read on the hot path: stored with
 * __ATOMIC_RELEASE by tw-control (ctl publish) and loaded with
 * __ATOMIC_ACQUIRE by lcores; an old table is freed only after
 * rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID).
 */
#ifndef TW_SHARED_H
#define TW_SHARED_H

#include <stdint.h>

#include <rte_common.h>

#include "tw_counters.h"
#include "tw_journal_shm.h"
#include "tw_limits.h"
#include "tw_qring.h"
#include "tw_revoked.h"
#include "tw_routes.h"
#include "tw_slot_counters.h"

#define TW_SHARED_MZ "tw_shared"
#define TW_SHARED_MAGIC 0x54575348u /* "TWSH" */
/*
 * Bumped whenever what the two processes share changes meaning, including
 * tw_routes_hash(): tw-control builds the routing tables' indexes with it
 * and tw-dataplane probes them with its own copy (6: names hashed 8 bytes
 * at a time instead of FNV-1a; 7: remote-consumer counters; 8: the wire
 * hardening counters; 9: the scheduler's admission fields; 10: queues held
 * for remote consumers; 11: durable queues and the journal; 12: queues'
 * consumers mode and delivery limit; 13: source cookie counters; 14:
 * source steering counters; 15: remote consumers' nacked figure and
 * event ring; 16: the journal's failed ranges and per-descriptor journal
 * ids; 17: fragment counters, record frames in large buffers read by
 * pkt_len; 18: the counter of engine-made tasks a full stash refused; 19:
 * per-queue redeliveries, remote consumers' key, lease-ordered in-flight
 * lists and "name@host", rc_key_refused; 20: dedup_evicted_waiting; 21:
 * counters of workflow steps made in large buffers and of those refused
 * for want of one; 22: 65,536 queues and exchanges: queue slots, growing
 * rings, per-slot counter blocks and the ready bitmap; 23: the journal's delivered and dropped counts, the
 * dropped tasks' handed/synced/failed counts; 24: rc_share_held and a
 * consumer's share_held flag).
 */
#define TW_SHARED_LAYOUT_VERSION 27u

/* Publishers at their own cap of held tasks, as tw-control lists them. */
#define TW_SCHED_OVER_MAX 32

struct rte_mempool;
struct rte_rcu_qsbr;
struct rte_ring;

enum tw_lcore_role {
	TW_ROLE_MAIN = 0,  /* housekeeping, never polls */
	TW_ROLE_IO,        /* rx, parse, route, confirm */
	TW_ROLE_WORKER,    /* run tasks, send results */
	TW_ROLE_RTC,       /* io and worker on one lcore (run to completion) */
	TW_ROLE__MAX
};

struct tw_plan_entry {
	uint32_t lcore_id;
	uint32_t cpu;        /* OS cpu number (hwloc PU os_index) */
	uint32_t core;       /* hwloc physical core logical index */
	int32_t numa_node;   /* -1 if unknown */
	uint32_t role;       /* enum tw_lcore_role */
	uint32_t qsbr_id;    /* RCU thread id; == index in stats[] */
};

/* Per polling lcore; one writer (that lcore), cache-line aligned. */
struct tw_lcore_stats {
	uint64_t c[TW_CNT__MAX];
	/* per queue and per exchange: in tw_shared.qcnt and xcnt (tw_slot_counters.h) */
	/* the task this lcore is running now (0: none) and since when (TSC):
	 * `twctl list tasks` shows it active; a task that runs too long is
	 * reported as hung */
	uint64_t running_task;
	uint64_t running_since_tsc;
	uint16_t running_handler;  /* its task name: task_info[running_handler] (TW_HANDLER_NONE: unknown) */
	/* per registered task name (handler index): Prometheus families */
	uint64_t task_received[TW_MAX_TASK_NAMES];
	uint64_t task_succeeded[TW_MAX_TASK_NAMES];
	uint64_t task_failed[TW_MAX_TASK_NAMES];
	uint64_t task_retried[TW_MAX_TASK_NAMES];
	uint64_t task_runtime_ns[TW_MAX_TASK_NAMES];
	uint64_t task_runtime_hist[TW_MAX_TASK_NAMES][TW_RUNTIME_BUCKETS];
	uint64_t rx_burst_hist[TW_BURST_BUCKETS];
} __rte_cache_aligned;

/*
 * Queue slot bookkeeping, written by tw-control only: allocated at the
 * queue's declare (rte_zmalloc), freed after its delete's grace period.
 */
struct tw_queue_slot {
	char name[TW_NAME_MAX];
	struct tw_qring *ring;  /* the base ring (priority 0) */
	uint32_t max_length;
	uint32_t gen;           /* bumped on every (re)use, names the ring */
	uint8_t overflow;       /* enum tw_overflow */
	uint8_t has_dl_key;
	uint8_t max_priority;   /* levels[p - 1] holds priority p (1..max_priority) */
	uint8_t durable;        /* tasks are journaled before their ACK */
	uint64_t max_bytes;     /* x-max-length-bytes, 0: none */
	struct tw_qring *levels[TW_MAX_PRIORITY];
	uint8_t consumers;      /* enum tw_queue_consumers (x-consumers) */
	uint8_t delivery_limit; /* x-delivery-limit, 1..TW_QUEUE_MAX_DELIVERY_LIMIT */
	uint32_t message_ttl_ms;
	char dlx[TW_NAME_MAX];  /* dead-letter exchange, "" none */
	char dl_key[TW_NAME_MAX];
	/* Counter sums when the queue was declared: the per-slot counters in
	 * stats[] keep growing across reuse, so figures are reported relative. */
	uint64_t base_published, base_delivered, base_rejected, base_completed;
	uint64_t base_dropped, base_expired, base_dead_lettered, base_nack_no_resources;
	uint64_t base_redelivered;
};

struct tw_shared {
	uint32_t magic;
	uint32_t layout_version;
	int32_t primary_pid;
	int32_t control_pid;     /* tw-control, 0 when none attached */
	uint64_t start_unix_ms;

	/* identity: set by tw-dataplane before launch */
	uint16_t port_id;
	uint16_t udp_port;       /* host order */
	uint32_t ip_be;          /* network order */
	uint8_t mac[6];
	int32_t port_numa;
	char port_name[64];

	/* lcore plan: set before launch */
	char plan_mode[32];
	uint32_t n_plan;         /* entries in plan[], main lcore included */
	struct tw_plan_entry plan[TW_MAX_LCORES + 1];
	uint32_t n_pollers;      /* polling lcores; qsbr ids 0 .. n_pollers-1 */

	struct rte_mempool *pktmbuf_pool;
	struct rte_mempool *task_pool;
	struct rte_rcu_qsbr *qsbr;

	/* routing: owned by tw-control */
	struct tw_routes *routes;
	uint64_t routes_version;
	/* Bumped by tw-control to restart the lcores' max_stall_ns measurement
	 * (each lcore zeroes its own maximum when it sees a new value). */
	uint64_t stall_epoch;
	/* queue slots (NULL: free) and their counters, allocated as used (see above) */
	struct tw_queue_slot *queues[TW_MAX_QUEUES];
	struct tw_qcnt_block *qcnt[TW_MAX_QUEUES / TW_SLOT_BLOCK];
	struct tw_xcnt_block *xcnt[(TW_MAX_EXCHANGES + TW_SLOT_BLOCK - 1) / TW_SLOT_BLOCK];
	/* queues that may hold tasks, a bit per slot: tw_enqueue_mark_ready() */
	uint64_t qready[TW_MAX_QUEUES / 64] __rte_cache_aligned;
	/* spare segments for queues' rings to grow into (tw_qring.h): the
	 * pool's rings are created by tw-dataplane, stocked by tw-control */
	struct tw_qspares qspares;

	struct tw_lcore_stats stats[TW_MAX_LCORES];

	/*
	 * Channels between the lcores and tw-control, one set per polling
	 * lcore (plan index), each single-producer single-consumer:
	 *  - sched[i]: lcore -> tw-control, struct tw_task * to hold until due
	 *    (eta, countdown, retry); tw-control copies what it needs and
	 *    releases the descriptor (it owns it after the dequeue);
	 *  - records[i]: lcore -> tw-control, mbufs holding a Frame of Result
	 *    records for the result store (tw_records.h); tw-control frees them;
	 *  - inject[i]: tw-control -> io lcore i, mbufs holding a whole packet
	 *    (the publisher's addresses, one Frame) to route without a confirm:
	 *    due tasks and retries; the io lcore owns them after the dequeue.
	 * Created by tw-dataplane before launch; NULL for non-polling slots.
	 */
	struct rte_ring *sched[TW_MAX_LCORES];
	struct rte_ring *records[TW_MAX_LCORES];
	struct rte_ring *inject[TW_MAX_LCORES];
	/* Wall clock at a TSC reading: lcores turn unix-ms deadlines into TSC.
	 * The main lcore re-reads it every 100 ms (a VM's TSC rate estimate
	 * drifts from the wall clock); seqlock: clock_seq odd while writing. */
	uint32_t clock_seq;
	uint64_t clock_unix_ms;
	uint64_t clock_tsc;
	uint64_t tsc_hz;

	struct tw_revoked revoked;

	/*
	 * Registered tasks, set before launch. The rate limit of each may be
	 * changed live by tw-control: it writes count and period, then bumps
	 * rate_version (release); a worker that sees a new version (acquire)
	 * re-reads both.
	 */
	uint32_t n_tasks;
	struct tw_task_info {
		char name[TW_NAME_MAX];
		uint8_t pool;              /* enum tw_task_pool */
		uint32_t time_limit_ms;
		uint64_t rate_count;       /* tasks per rate_period_ms over all workers, 0: none */
		uint64_t rate_period_ms;
		uint32_t rate_version;
	} task_info[TW_MAX_TASK_NAMES];

	/* Task events (received, started, rejected, and states of tasks that
	 * ignore results) are recorded only while someone follows them: set by
	 * tw-control, read relaxed by the lcores once per burst. */
	uint32_t events_enabled;

	/*
	 * Scheduler admission, set by tw-control (relaxed stores) and read
	 * relaxed by an lcore before it hands a delayed task over: while
	 * sched_full is set, or the publisher's address is among the first
	 * n_sched_over of sched_over_ip, the task is NACKed no-resources
	 * instead of being held. A stale read lets a few more tasks through
	 * (tw-control still holds them: they were confirmed) or refuses a few
	 * more: the caps are exact to within what the hand-off rings hold.
	 */
	uint32_t sched_full;
	uint32_t n_sched_over;
	uint32_t sched_over_ip[TW_SCHED_OVER_MAX]; /* network order */

	/* threads pool, published by the main lcore's housekeeping */
	uint32_t threads_busy, threads_idle;
	uint64_t threads_abandoned;

	/* durable queues' journal (tw_journal_shm.h) */
	struct tw_journal_shm journal __rte_cache_aligned;
} __rte_cache_aligned;

/* Counter which of queue slot slot, the part of polling lcore lc (plan index). */
static inline uint64_t *
tw_qcnt(const struct tw_shared *sh, uint32_t lc, uint32_t slot, enum tw_qcnt which)
{
	return &sh->qcnt[slot / TW_SLOT_BLOCK]->lc[lc].c[which][slot % TW_SLOT_BLOCK];
}

/* Args bytes waiting in queue slot slot (x-max-length-bytes; atomic adds). */
static inline uint64_t *
tw_qbytes(const struct tw_shared *sh, uint32_t slot)
{
	return &sh->qcnt[slot / TW_SLOT_BLOCK]->bytes[slot % TW_SLOT_BLOCK].bytes;
}

static inline uint64_t *
tw_xcnt(const struct tw_shared *sh, uint32_t lc, uint32_t slot, enum tw_xcnt which)
{
	return &sh->xcnt[slot / TW_SLOT_BLOCK]->lc[lc].c[which][slot % TW_SLOT_BLOCK];
}

/*
 * Queues that may hold tasks (tw_shared.qready): a producer sets a
 * queue's bit after it enqueued (when it finds it clear), a worker lcore
 * clears it when it finds the queue empty and then looks at the queue
 * again, setting it back if a task came in meanwhile (tw_exec.c). Worker
 * lcores visit only the queues set there: polling 65,536 queues one by
 * one would take milliseconds per pass, and an idle queue now costs
 * nothing. The caller fences between its enqueue and this read of the
 * bit (tw_enqueue_mark_ready: a store then a load, which x86 reorders), so
 * either the worker's second look finds the task or the producer finds
 * the bit clear.
 */
static inline void
tw_queue_set_ready(struct tw_shared *sh, uint32_t slot)
{
	uint64_t *w = &sh->qready[slot / 64], bit = 1ull << (slot % 64);

	if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
		__atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
}

static inline const char *
tw_role_name(uint32_t role)
{
	static const char *const names[TW_ROLE__MAX] = {
		[TW_ROLE_MAIN] = "main",
		[TW_ROLE_IO] = "io",
		[TW_ROLE_WORKER] = "worker",
		[TW_ROLE_RTC] = "io+worker",
	};
	return role < TW_ROLE__MAX ? names[role] : "?";
}

#endif
