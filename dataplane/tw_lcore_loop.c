/*
 * The polling loop of every lcore role. Each pass, in the same order for
 * every role (so one loop body serves them all): report an RCU quiescent
 * state and load the routing table (acquire: pairs with the release store
 * in tw_broker_publish()), then the stages:
 *   io roles:     tw-control's due tasks -> route (tw_route.h);
 *                 rx -> parse (tw_parse.h) -> fragments to their owner
 *                 (tw_steer.h) and put together (tw_reasm.h) -> dispatch
 *                 (tw_dispatch.h, which hands each task to route ->
 *                 enqueue); frames other io lcores steered here, the same
 *                 way; remote consumers (tw_consumers.h)
 *   worker roles: exec (tw_exec.h)
 *   every role:   the journal's synced confirms and recovered tasks
 *                 (tw_journal.h); the workflow groups' expiry (workers);
 *                 route the engine-made tasks of the pass (workflow
 *                 steps, handler publishes: the stash, tw_route.h)
 *   then the replies and records of the pass, flush TX, account the pass.
 *
 * Quiescent state every pass: it is one load and one store on a line this
 * lcore owns, and it bounds how long tw-control waits before freeing an
 * old routing table to one pass.
 *
 * Idle back-off (for 2-core machines where a spinning lcore would starve
 * the publisher, the compiler or CI): after idle_passes_before_sleep empty
 * passes the lcore goes RCU-offline, sleeps, and comes back online. The
 * first sleep after work is short (idle_sleep_us / IDLE_SLEEP_STEPS) and
 * each further one without work doubles, up to idle_sleep_us: a publisher
 * that waits for each confirm (request and answer, a few hundred us
 * apart) finds the lcore awake within a short sleep, while an engine idle
 * for longer sleeps the whole idle_sleep_us after a few steps. The
 * thread's timer slack is cut to 1 us so that short sleeps stay short (the
 * kernel's default adds up to 50 us to each). 0 disables it (pure polling,
 * for benchmarks).
 */
#include <sys/prctl.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "tw_consumers.h"
#include "tw_ctlchan.h"
#include "tw_dispatch.h"
#include "tw_exec.h"
#include "tw_journal.h"
#include "tw_lcore_loop.h"
#include "tw_parse.h"
#include "tw_reasm.h"
#include "tw_reply.h"
#include "tw_route.h"
#include "tw_steer.h"
#include "tw_tx.h"
#include "tw_workflow.h"

volatile bool tw_force_quit;

/* One RX queue's burst through parse and dispatch. @return packets taken. */
static inline uint32_t
rx_pass(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, uint16_t queue)
{
	struct rte_mbuf *pkts[TW_BURST], *frames[TW_BURST];
	uint16_t n, nf;

	n = rte_eth_rx_burst(ctx->port_id, queue, pkts, TW_BURST);
	/* bucket 0: empty polls; then 1, 2-3, 4-7, 8-15, 16-31, 32 */
	tw_cnt_qadd(&ctx->stats->rx_burst_hist[n == 0 ? 0 : 32 - __builtin_clz(n)], 1);
	if (n == 0)
		return 0;
	tw_cnt_add(ctx, TW_CNT_rx_packets, n);
	nf = tw_parse_burst(ctx, pkts, n, frames);
	/* a fragment goes to the io lcore owning its source (its message's pieces
	 * meet in one table); fragments then leave the burst, the frames they
	 * complete join it */
	if (unlikely(ctx->n_io > 1) && nf != 0)
		nf = tw_steer_fragments(ctx, frames, nf);
	if (nf != 0)
		nf = tw_reasm_burst(ctx, frames, nf);
	if (nf != 0)
		tw_dispatch_burst(ctx, rt, frames, nf);
	return n;
}

static inline uint32_t
io_pass(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct rte_mbuf *frames[TW_BURST];
	uint32_t work;

	/* due tasks from tw-control's scheduler (engine-made: straight to the
	 * route stage); the ring is empty almost always */
	work = rte_ring_sc_dequeue_burst(ctx->inject, (void **)frames, TW_BURST, NULL);
	if (work != 0)
		tw_route_engine_burst(ctx, rt, frames, (uint16_t)work);
	/* a few times a second: reassemblies whose fragments stopped coming */
	if (ctx->reasm != NULL && rte_rdtsc() >= ctx->reasm_sweep_tsc) {
		uint64_t now = rte_rdtsc();

		tw_reasm_expire(ctx, now);
		ctx->reasm_sweep_tsc = now + ctx->tsc_hz / 20;
	}
	/* one queue almost always; more when several share out the port's queues */
	for (uint16_t i = 0; i < ctx->n_rx_queues; i++)
		work += rx_pass(ctx, rt, ctx->rx_queues[i]);
	/* frames of sources this lcore owns that came in on another's queue */
	if (ctx->n_steer_in != 0)
		work += tw_steer_receive(ctx, rt);
	return work;
}

/*
 * Run bursts of tasks until the queues are empty or the pass budget is
 * spent. One io pass can enqueue TW_BURST frames of TW_BURST tasks each;
 * a worker that ran only one burst per pass would fall behind and the
 * queues would fill (tasks NACKed queue-full) while the lcore idles half
 * of each pass. The budget bounds the pass, so the io stage and RCU
 * quiescent states are never starved. It also stops while the stash of
 * engine-made tasks (what finished tasks publish) is more than half full,
 * so the pass's route stage takes what the pass made before it grows.
 */
#define TW_EXEC_BUDGET (TW_BURST * TW_BURST)

static inline uint32_t
exec_pass(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	uint32_t done = 0, n;

	do {
		n = tw_exec_burst(ctx, rt);
		done += n;
	} while (n >= TW_BURST && done < TW_EXEC_BUDGET &&
		 tw_route_stash_room(ctx) > TW_MADE_STASH / 2);
	return done;
}

static inline void
account_pass(struct tw_lcore_ctx *ctx, uint64_t start, uint32_t work)
{
	uint64_t cycles = rte_rdtsc() - start;
	uint64_t ns = tw_ticks_to_ns(ctx, cycles);
	uint64_t epoch = __atomic_load_n(&ctx->shared->stall_epoch, __ATOMIC_RELAXED);

	if (unlikely(epoch != ctx->stall_epoch)) {
		ctx->stall_epoch = epoch;
		__atomic_store_n(&ctx->stats->c[TW_CNT_max_stall_ns], 0, __ATOMIC_RELAXED);
	}

	tw_cnt_add(ctx, TW_CNT_polls, 1);
	tw_cnt_add(ctx, TW_CNT_loop_cycles, cycles);
	if (work == 0)
		tw_cnt_add(ctx, TW_CNT_idle_polls, 1);
	else
		tw_cnt_add(ctx, TW_CNT_busy_cycles, cycles);
	if (unlikely(ns >= 100000)) {
		/* how often the loop pauses, not only its worst pause */
		tw_cnt_add(ctx, TW_CNT_passes_over_100us, 1);
		if (ns >= 1000000)
			tw_cnt_add(ctx, TW_CNT_passes_over_1ms, 1);
	}
	if (ns > ctx->stats->c[TW_CNT_max_stall_ns])
		__atomic_store_n(&ctx->stats->c[TW_CNT_max_stall_ns], ns, __ATOMIC_RELAXED);
}

#define IDLE_SLEEP_STEPS 16 /* the first sleep after work: idle_sleep_us / 16 */

static inline int
loop_body(struct tw_lcore_ctx *ctx, const bool do_io, const bool do_work)
{
	struct rte_rcu_qsbr *qsbr = ctx->shared->qsbr;
	const uint32_t sleep_min = RTE_MAX(ctx->idle_sleep_us / IDLE_SLEEP_STEPS, 1u);
	uint32_t idle = 0, sleep_us = sleep_min;

	/* once, before the loop: short sleeps need a small slack (ns) */
	if (ctx->idle_sleep_us != 0)
		prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	rte_rcu_qsbr_thread_register(qsbr, ctx->qsbr_id);
	rte_rcu_qsbr_thread_online(qsbr, ctx->qsbr_id);

	while (!__atomic_load_n(&tw_force_quit, __ATOMIC_RELAXED)) {
		uint64_t start = rte_rdtsc();
		const struct tw_routes *rt;
		uint32_t work = 0;

		rte_rcu_qsbr_quiescent(qsbr, ctx->qsbr_id);
		tw_clock_refresh(ctx);
		/* acquire: pairs with the release store in tw-control's ctl publish */
		rt = __atomic_load_n(&ctx->shared->routes, __ATOMIC_ACQUIRE);
		/* replies waiting for the port: send them before taking new work */
		if (likely(ctx->tx.n <= TW_TX_BACKLOG)) {
			if (do_io)
				work += io_pass(ctx, rt) + tw_consumers_serve(ctx, rt);
			if (do_work)
				work += exec_pass(ctx, rt);
			/* every role may hold journal work: an io lcore its held confirms,
			 * any lcore the recovered tasks it puts back */
			work += tw_journal_release(ctx, rt);
		}
		/* a few times a second: groups whose expiry passed (never more than
		 * one sweep of the group table per 100 ms) */
		if (do_work && unlikely(start >= ctx->wf_sweep_tsc)) {
			tw_workflow_expire(ctx);
			ctx->wf_sweep_tsc = start + ctx->tsc_hz / 10;
		}
		/* what the stages above made (workflow steps, handler publishes):
		 * routed here, once, never from inside another stage */
		work += tw_route_stash_drain(ctx, rt);
		tw_reply_end_pass(ctx);
		tw_records_flush(ctx);
		/* replies the port could not take yet: retry next pass, do not sleep on them */
		work += tw_tx_flush(ctx);
		account_pass(ctx, start, work);

		if (work != 0) {
			idle = 0;
			sleep_us = sleep_min;
			continue;
		}
		if (ctx->idle_sleep_us == 0 || ++idle < ctx->idle_passes_before_sleep) {
			rte_pause();
			continue;
		}
		/* Offline while asleep so tw-control's grace periods need not wait for us. */
		rte_rcu_qsbr_thread_offline(qsbr, ctx->qsbr_id);
		usleep(sleep_us);
		rte_rcu_qsbr_thread_online(qsbr, ctx->qsbr_id);
		tw_cnt_add(ctx, TW_CNT_idle_sleeps, 1);
		sleep_us = RTE_MIN(sleep_us * 2, ctx->idle_sleep_us);
		idle = 0;
	}
	tw_steer_drain(ctx);
	tw_consumers_drain(ctx);
	tw_route_stash_discard(ctx);
	tw_records_flush(ctx);
	tw_tx_flush(ctx);
	tw_tx_discard(ctx);
	rte_rcu_qsbr_thread_offline(qsbr, ctx->qsbr_id);
	rte_rcu_qsbr_thread_unregister(qsbr, ctx->qsbr_id);
	return 0;
}

int
tw_lcore_loop_io(void *arg)
{
	return loop_body(arg, true, false);
}

int
tw_lcore_loop_worker(void *arg)
{
	return loop_body(arg, false, true);
}

int
tw_lcore_loop_rtc(void *arg)
{
	return loop_body(arg, true, true);
}
