/*
 * Rate limits (see tw_ratelimit.h). GCRA with a tolerance of one
 * interval: a task may start when its theoretical arrival time minus one
 * interval has passed, so a task that arrives a little late does not cost
 * the next one its turn.
 */
#include <rte_ring.h>

#include "tw_ctlchan.h"
#include "tw_lcore.h"
#include "tw_ratelimit.h"
#include "tw_task.h"
#include "tw_tasks.h"

static struct tw_rate_cell *
cell_of(struct tw_lcore_ctx *ctx, uint16_t h)
{
	struct tw_rate_cell *c = &ctx->rate->cells[h];
	const struct tw_task_info *ti = &ctx->shared->task_info[h];
	/* acquire: pairs with the release of rate_version in tw-control */
	uint32_t v = __atomic_load_n(&ti->rate_version, __ATOMIC_ACQUIRE);

	if (unlikely(v != c->version)) {
		uint64_t count = ti->rate_count, period = ti->rate_period_ms;

		c->version = v;
		c->interval_tsc = count != 0 ? period * ctx->tsc_per_ms * ctx->rate->n_workers / count
					     : 0;
		c->tat = 0;
	}
	return c;
}

bool
tw_ratelimit_admit(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint64_t now)
{
	struct tw_rate_cell *c;

	if (t->handler == TW_HANDLER_NONE)
		return true;
	c = cell_of(ctx, t->handler);
	if (c->interval_tsc == 0)
		return true;
	if (c->tat > now + c->interval_tsc)
		return false;
	c->tat = (c->tat > now ? c->tat : now) + c->interval_tsc;
	return true;
}

bool
tw_ratelimit_wait(struct tw_lcore_ctx *ctx, struct tw_task *t, uint64_t now)
{
	const struct tw_rate_cell *c = &ctx->rate->cells[t->handler];

	/* Hand-off: after the enqueue the FIFO (this lcore, later) owns t. */
	if (rte_ring_sp_enqueue(ctx->rate->wait, t) == 0)
		return true;
	/* the FIFO is full: let the scheduler hold it until its turn comes */
	t->eta_ms = tw_unix_ms(ctx, now) + (c->tat - c->interval_tsc - now) / ctx->tsc_per_ms + 1;
	return tw_sched_hand_off(ctx, t);
}

uint32_t
tw_ratelimit_ready(struct tw_lcore_ctx *ctx, struct tw_task **v, uint32_t max)
{
	struct rte_ring *w = ctx->rate->wait;
	uint32_t n = rte_ring_count(w), got = 0;
	uint64_t now;

	if (n == 0)
		return 0;
	now = rte_rdtsc();
	/* one look at each waiting task, in order; the ones still over their
	 * limit go back to the tail (the ring has room: they just left it) */
	for (uint32_t i = 0; i < n && got < max; i++) {
		struct tw_task *t;

		if (rte_ring_sc_dequeue(w, (void **)&t) != 0)
			break;
		if (tw_ratelimit_admit(ctx, t, now))
			v[got++] = t;
		else
			rte_ring_sp_enqueue(w, t);
	}
	return got;
}
