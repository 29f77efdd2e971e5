/*
 * Per-lcore context: everything a polling lcore's loop and stages touch,
 * derived once from the configuration at launch (the data plane never
 * reads struct tw_config). Each context is written only by its own lcore.
 */
#ifndef TW_LCORE_H
#define TW_LCORE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "tw_consumers_shm.h"
#include "tw_shared.h"
#include "tw_wire.h"

#define TW_BURST 32
#define TW_TX_STASH 512             /* packets staged: one pass's replies, and what the port refused */
#define TW_TX_BACKLOG 64            /* staged after a flush: take no new work until it drains */
#define TW_MADE_STASH 2048          /* engine-made frames waiting for the route stage (power of two) */
#define TW_MADE_DRAIN 512           /* of them routed per pass at most */
#define TW_DL_WAIT 256              /* dead-letters waiting for room in a full ring (power of two) */
#define TW_DL_WAIT_MS 1000          /* the longest one waits before it is counted lost */
#define TW_RESULT_SCRATCH 2048      /* handler output / error buffer per lcore */

struct tw_consumers;
struct tw_journal_lcore;
struct tw_dedup;
struct tw_ratelimit;
struct tw_replay;
struct tw_cookie_keys;
struct tw_reasm;
struct tw_reasm_pools;
struct tw_route_cache;
struct tw_task;
struct tw_task_registry;
struct tw_threads;

/* Packets queued for transmission on this lcore's own TX queue. */
struct tw_txq {
	uint16_t port_id;
	uint16_t queue_id;
	uint16_t n;
	struct rte_mbuf *pkts[TW_TX_STASH];
};

/* struct tw_peer (where a reply goes): tw_consumers_shm.h, which tw-control reads too */

/* A dead-letter whose queue's ring was full: retried by the route stage (tw_route.h). */
struct tw_dl_wait {
	struct tw_task *t;
	uint64_t until_tsc;             /* lost (counted) if still not queued by then */
	uint16_t slot;                  /* its dead-letter queue's slot */
};

/* The workflow step frame an lcore is filling (tw_workflow.c). */
struct tw_wf_out {
	struct rte_mbuf *m;
	struct tw_wbuf w;
	struct tw_peer peer;
	uint32_t n;
};

struct tw_keys;

/* A reply stream being filled (tw_reply.h): one packet at a time to one peer. */
struct tw_reply {
	struct rte_mbuf *m;     /* packet being filled, NULL if none */
	struct tw_wbuf w;       /* writes into m's UDP payload */
	struct tw_peer peer;
	uint64_t frame_id;
	uint32_t n_entries;
};

/* Result-store records being collected for tw-control (tw_ctlchan.h). */
struct tw_records_out {
	struct rte_mbuf *m;     /* NULL if none started */
	struct tw_wbuf w;
	uint32_t n;             /* records in m */
};

struct tw_lcore_ctx {
	/* set at launch, read-only afterwards */
	struct tw_shared *shared;
	struct tw_lcore_stats *stats;   /* &shared->stats[qsbr_id] */
	struct rte_mempool *mbuf_pool;
	struct rte_mempool *task_pool;
	const struct tw_task_registry *tasks;
	uint32_t qsbr_id;
	uint32_t role;
	uint16_t port_id;
	uint16_t n_rx_queues;           /* io roles: the port's RX queues this lcore polls */
	uint16_t rx_queues[TW_MAX_LCORES];
	struct rte_ether_addr our_mac;
	rte_be32_t our_ip;
	rte_be16_t our_port;
	uint32_t idle_sleep_us;         /* 0: pure polling */
	uint32_t idle_passes_before_sleep;
	uint64_t tsc_hz;
	uint64_t ns_per_tick_q32;       /* ns per TSC tick, 32.32 fixed point (tw_ticks_to_ns) */
	uint64_t clock_unix_ms;         /* wall clock at clock_tsc (tw_unix_ms), */
	uint64_t clock_tsc;             /* refreshed from tw_shared each pass (tw_clock_refresh) */
	uint32_t clock_seq;
	uint64_t tsc_per_ms;
	struct rte_ring *sched;         /* to tw-control's scheduler */
	struct rte_ring *records;       /* to tw-control's result store */
	struct rte_ring *inject;        /* from tw-control: due tasks to route (io roles) */
	struct tw_threads *threads;     /* threads pool, NULL if no task uses it */
	struct tw_journal_lcore *journal; /* durable queues' journal (tw_journal.h), NULL: none */
	const struct tw_keys *keys;     /* publisher keys: frames must carry a MAC, NULL: no */
	struct tw_consumers *consumers; /* the remote consumers' owner: its table, else NULL */
	struct rte_ring *rc_out;        /* other io lcores: consumer frames to the owner */
	struct rte_ring *rc_in[TW_MAX_LCORES]; /* the owner: one ring from each other io lcore */
	uint16_t n_rc_in;
	const struct tw_rc_queues *remote_queues; /* queues served to remote consumers (tw_consumers.h) */
	uint16_t io_index;              /* io roles: this lcore's place among the io lcores */
	uint16_t n_io;                  /* io (or run-to-completion) lcores of the plan */
	struct rte_ring *steer_out[TW_MAX_LCORES]; /* to io lcore k: frames of sources it owns
						    * (tw_steer.h); NULL for this lcore */
	struct rte_ring *steer_in[TW_MAX_LCORES];  /* from each other io lcore */
	uint16_t n_steer_in;
	uint32_t retry_max;             /* --retry-max: cap on any task's max_retries */
	uint32_t retry_min_ms;          /* --retry-min-ms: floor of a retry's countdown */
	uint32_t solo_max_us;           /* --solo-max-us: busy-wait cap, overrun threshold */
	uint64_t solo_max_tsc;          /* the same in TSC ticks */

	/* written by this lcore only */
	struct tw_txq tx;
	uint32_t next_queue;            /* worker: round-robin start among queues */
	uint64_t stall_epoch;           /* last tw_shared.stall_epoch seen */
	struct tw_route_cache *route_cache; /* routing results by key */
	struct tw_ratelimit *rate;      /* worker roles: rate-limit state and waiting tasks */
	struct tw_dedup *dedup;         /* io roles: tasks routed lately, for retransmits */
	struct tw_replay *replay;       /* io roles, --keys: signed frames taken lately */
	struct tw_cookie_keys *cookie;  /* io roles: source cookies (tw_cookie.h), NULL: --cookies 0 */
	struct tw_reasm *reasm;         /* io roles: fragmented frames being put together */
	const struct tw_reasm_pools *big; /* large buffers (reassembly, fragmented sends) */
	uint64_t reasm_sweep_tsc;       /* io roles: next look for reassemblies past their deadline */
	uint64_t frag_seq;              /* message ids of the fragmented frames this lcore sends */
	struct tw_reply out;            /* confirms and results of this pass (tw_reply_to) */
	struct tw_records_out rec;      /* store records of this pass */
	/* while the owning io lcore delivers or takes an ack: the remote
	 * consumer's "name@host", put on every record made meanwhile (NULL:
	 * none; tw_consumers.c sets and clears it) */
	const char *rc_worker;
	uint32_t rc_worker_len;
	uint64_t rng;                   /* retry jitter (xorshift state) */
	uint64_t wf_sweep_tsc;          /* worker roles: next look for expired groups */
	bool out_open;
	/* engine-made tasks waiting for this lcore's route stage (tw_route.h): the
	 * workflow step frame being filled, and the stash of finished frames
	 * (workflow steps, handler publishes), a FIFO the loop drains each pass */
	struct tw_wf_out wf_out;
	uint32_t made_head, made_n;
	struct rte_mbuf *made[TW_MADE_STASH];
	/* and dead-letters waiting for room in their queue's ring, a FIFO */
	uint32_t dl_head, dl_n;
	struct tw_dl_wait dl_wait[TW_DL_WAIT];
	struct tw_task_view views[TW_FRAME_MAX_TASKS];
	uint8_t scratch[TW_RESULT_SCRATCH];
} __rte_cache_aligned;

/* Counter update: one writer (this lcore), relaxed; tw-control reads relaxed. */
static inline void
tw_cnt_add(struct tw_lcore_ctx *ctx, enum tw_counter c, uint64_t n)
{
	__atomic_store_n(&ctx->stats->c[c], ctx->stats->c[c] + n, __ATOMIC_RELAXED);
}

static inline void
tw_cnt_qadd(uint64_t *slot, uint64_t n)
{
	__atomic_store_n(slot, *slot + n, __ATOMIC_RELAXED);
}

/* The lcore's pseudo-random numbers (xorshift64; never 0 from a non-zero state):
 * retry jitter and ids of tasks handlers publish. */
static inline uint64_t
tw_lcore_rand(struct tw_lcore_ctx *ctx)
{
	ctx->rng ^= ctx->rng << 13;
	ctx->rng ^= ctx->rng >> 7;
	ctx->rng ^= ctx->rng << 17;
	return ctx->rng;
}

/* Runtime histogram bucket: <= 1 us is 0, then one per doubling, the last takes the rest. */
static inline unsigned
tw_runtime_bucket(uint64_t ns)
{
	unsigned b = ns <= 1000 ? 0 : 64 - (unsigned)__builtin_clzll((ns - 1) / 1000);

	return b < TW_RUNTIME_BUCKETS ? b : TW_RUNTIME_BUCKETS - 1;
}

/* Stop flag: set by main() on SIGINT/SIGTERM, read relaxed by the loops. */
/*
 * TSC ticks to ns without a 64-bit division (one per task otherwise):
 * a multiply by a 32.32 fixed-point factor, exact to 1 ns in 2^32 ticks;
 * longer spans (over a second) take the division.
 */
static inline uint64_t
tw_ticks_to_ns(const struct tw_lcore_ctx *ctx, uint64_t ticks)
{
	if (likely(ticks < (1ull << 32)))
		return (ticks * ctx->ns_per_tick_q32) >> 32;
	return ticks * 1000000000ull / ctx->tsc_hz;
}

/*
 * Take the main lcore's latest (wall clock, TSC) pair if it changed: one
 * relaxed load per pass otherwise. Seqlock read: a pair caught mid-write
 * is skipped until the next pass.
 */
static inline void
tw_clock_refresh(struct tw_lcore_ctx *ctx)
{
	const struct tw_shared *s = ctx->shared;
	uint32_t seq = __atomic_load_n(&s->clock_seq, __ATOMIC_ACQUIRE);
	uint64_t ms, tsc;

	if (likely(seq == ctx->clock_seq) || (seq & 1))
		return;
	ms = __atomic_load_n(&s->clock_unix_ms, __ATOMIC_RELAXED);
	tsc = __atomic_load_n(&s->clock_tsc, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->clock_seq, __ATOMIC_RELAXED) != seq)
		return;
	ctx->clock_unix_ms = ms;
	ctx->clock_tsc = tsc;
	ctx->clock_seq = seq;
}

/* Wall-clock unix ms from the TSC: no system call on the lcores. */
static inline uint64_t
tw_unix_ms(const struct tw_lcore_ctx *ctx, uint64_t tsc)
{
	return ctx->clock_unix_ms + (tsc - ctx->clock_tsc) / ctx->tsc_per_ms;
}

/* The TSC reading at a unix ms (saturating at 0 for times before the clock base). */
static inline uint64_t
tw_tsc_of_unix_ms(const struct tw_lcore_ctx *ctx, uint64_t ms)
{
	if (ms <= ctx->clock_unix_ms)
		return ctx->clock_tsc > (ctx->clock_unix_ms - ms) * ctx->tsc_per_ms
			       ? ctx->clock_tsc - (ctx->clock_unix_ms - ms) * ctx->tsc_per_ms
			       : 1;
	return ctx->clock_tsc + (ms - ctx->clock_unix_ms) * ctx->tsc_per_ms;
}

/* The inverse: the Unix ms of a TSC value (1 for one before the epoch). */
static inline uint64_t
tw_unix_ms_of_tsc(const struct tw_lcore_ctx *ctx, uint64_t tsc)
{
	uint64_t back;

	if (tsc >= ctx->clock_tsc)
		return ctx->clock_unix_ms + (tsc - ctx->clock_tsc) / ctx->tsc_per_ms;
	back = (ctx->clock_tsc - tsc) / ctx->tsc_per_ms;
	return ctx->clock_unix_ms > back ? ctx->clock_unix_ms - back : 1;
}

extern volatile bool tw_force_quit;

#endif
