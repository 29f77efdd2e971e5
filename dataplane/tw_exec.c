/*
 * Exec stage: see tw_exec.h. Runs on worker lcores; holds no descriptor
 * between calls.
 *
 * For each task taken from a queue, in this order: revoked (REVOKED, not
 * run), expired (EXPIRED, dead-lettered if the queue says so), else run
 * the handler and act on its outcome: SUCCESS, FAILURE (retried first if
 * the policy says autoretry), or RETRY (handed to tw-control's scheduler
 * with retries + 1, or FAILURE and dead-lettering once retries run out).
 * Every state goes to the publisher (if the task has one) and, unless the
 * task ignores results, to the result store as a record.
 */
#include <rte_cycles.h>
#include <rte_ring.h>

#include "tw_consumers.h"
#include "tw_ctlchan.h"
#include "tw_dedup.h"
#include "tw_exec.h"
#include "tw_journal.h"
#include "tw_ratelimit.h"
#include "tw_threads.h"
#include "tw_reply.h"
#include "tw_route.h"
#include "tw_task.h"
#include "tw_tasks.h"
#include "tw_workflow.h"

#define BACKOFF_MAX_DEFAULT_MS 600000u /* Celery's retry_backoff_max */

/* Tasks waiting in q over all its levels. */
static uint32_t
queue_count(const struct tw_route_queue *q)
{
	uint32_t n = tw_qring_count(q->ring);

	for (uint32_t p = 0; p < q->max_priority; p++)
		n += tw_qring_count(q->levels[p]);
	return n;
}

/*
 * q looked empty (or is remote consumers'): clear its ready bit, then
 * look again (tw_enqueue_mark_ready): a task enqueued meanwhile sets it back.
 * Why no task is stranded: the producer enqueues, fences, reads the bit;
 * this clears the bit, fences, reads the rings. The two fences are
 * ordered one way or the other: if the producer's comes first, the look
 * below sees its task; if this one's does, the producer reads the bit
 * cleared and sets it. Either way the queue's bit ends set while it holds
 * a task.
 */
static void
queue_idle(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q)
{
	uint64_t *w = &ctx->shared->qready[q->slot / 64], bit = 1ull << (q->slot % 64);

	__atomic_fetch_and(w, ~bit, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!tw_consumers_own_queue(ctx->remote_queues, q) && queue_count(q) != 0)
		__atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
}

/* Take up to want tasks of q, highest priority level first. */
static uint32_t
take(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q, struct tw_task **tasks, uint32_t want)
{
	uint32_t n = 0;

	/* a queue remote consumers took is theirs (tw_consumers.h) */
	if (tw_consumers_own_queue(ctx->remote_queues, q)) {
		queue_idle(ctx, q);
		return 0;
	}
	/* priority queues: highest level first (levels[p - 1] is priority p) */
	for (uint32_t p = q->max_priority; p > 0 && n < want; p--)
		n += tw_qring_dequeue_burst(q->levels[p - 1], (void **)&tasks[n], want - n);
	if (n < want)
		n += tw_qring_dequeue_burst(q->ring, (void **)&tasks[n], want - n);
	if (n != 0)
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_delivered), n);
	if (n < want)
		queue_idle(ctx, q);
	return n;
}

/*
 * Collect up to TW_BURST descriptors from the queues whose ready bit is
 * set (tw_enqueue_mark_ready), each at most once, starting one slot further
 * each pass (round robin). Bounded by the table's slots in use / 64 words.
 */
static uint32_t
dequeue(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task **tasks)
{
	const uint64_t *ready = ctx->shared->qready;
	uint32_t got = 0, words = (rt->slot_end + 63) / 64;
	uint32_t start = ctx->next_queue < rt->slot_end ? ctx->next_queue : 0;

	/* the start word twice: its bits from start first, those below start last */
	for (uint32_t i = 0; words != 0 && i <= words && got < TW_BURST; i++) {
		uint32_t w = (start / 64 + i) % words;
		uint64_t bits = __atomic_load_n(&ready[w], __ATOMIC_RELAXED);

		if (i == 0)
			bits &= ~0ull << (start % 64);
		else if (i == words)
			bits &= (1ull << (start % 64)) - 1;
		while (bits != 0 && got < TW_BURST) {
			uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(bits);
			uint32_t qi = rt->slot_queue[slot];

			bits &= bits - 1;
			if (qi != TW_ROUTE_NONE) {
				got += take(ctx, &rt->queues[qi], &tasks[got], TW_BURST - got);
				continue;
			}
			/* no queue there (deleted): cleared, unless a newer table has one */
			__atomic_fetch_and(&ctx->shared->qready[w], ~(1ull << (slot % 64)),
					   __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&ctx->shared->routes, __ATOMIC_ACQUIRE) != rt)
				__atomic_fetch_or(&ctx->shared->qready[w], 1ull << (slot % 64),
						  __ATOMIC_RELAXED);
		}
	}
	ctx->next_queue = rt->slot_end != 0 ? (start + 1) % rt->slot_end : 0;
	return got;
}

/*
 * Report a state: to the publisher (tasks published by handlers have
 * none: port 0) and to the result store.
 */
static void
report(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state, const uint8_t *value,
       uint32_t value_len, const char *error, uint32_t error_len, uint64_t ns)
{
	/* a workflow's steps answer the publisher only when it asked (notify) */
	if (t->peer_port != 0 && (!t->wf || t->wf_notify) && !t->wf_replaced) {
		struct tw_peer peer = { .mac = t->peer_mac, .ip = t->peer_ip, .port = t->peer_port };

		tw_reply_result(ctx, tw_reply_to(ctx, &peer), t->id, state, value, value_len, error,
				error_len, ns);
	}
	/* kept for a publisher that retransmits because this result was lost */
	if (t->dedup != NULL && state >= TW_ST_SUCCESS)
		tw_dedup_record(t->dedup, t->dedup_gen, state,
				state == TW_ST_SUCCESS ? (const void *)value : (const void *)error,
				state == TW_ST_SUCCESS ? value_len : error_len, ns);
	if (!t->ignore_result || tw_events_on(ctx)) {
		struct tw_wire_result rec = {
			.task_id = t->id, .state = state, .value = value, .value_len = value_len,
			.error = error, .error_len = error_len, .runtime_ns = ns,
			.name = t->name, .name_len = t->name_len, .retries = t->retries,
			.result_expires_s = t->result_expires_s,
			.eta_ms = state == TW_ST_RETRY ? t->eta_ms : 0,
			.event_only = t->ignore_result,
		};

		if (t->wf) {
			rec.root_id = t->root_id;
			rec.parent_id = t->parent_id;
			rec.group_id = t->group_id;
			rec.group_index = t->group_index;
		}
		tw_record_queue(ctx, &rec, t->queue_slot);
		tw_records_put(ctx, &rec);
	}
	/* final: what follows in its workflow (after the record: the store
	 * sees a parent's state before its children's) */
	if (unlikely(t->wf) && !t->wf_replaced && state >= TW_ST_SUCCESS && state <= TW_ST_EXPIRED)
		tw_workflow_task_done(ctx, t, state, value, value_len, error, error_len);
}

static void
report_msg(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state, const char *msg)
{
	report(ctx, t, state, NULL, 0, msg, (uint32_t)strlen(msg), 0);
}

/* Celery's delay of retry n: countdown, or countdown * 2^n capped, then jitter in [0, d]. */
static uint64_t
retry_delay_ms(struct tw_lcore_ctx *ctx, const struct tw_retry_policy *p, uint32_t n,
	       int64_t asked)
{
	uint64_t d = p->countdown_ms;

	if (asked >= 0) {
		d = (uint64_t)asked;
	} else if (p->backoff) {
		uint64_t cap = p->backoff_max_ms != 0 ? p->backoff_max_ms : BACKOFF_MAX_DEFAULT_MS;

		d = n >= 32 ? cap : d << n;
		if (d > cap)
			d = cap;
	}
	if (p->jitter && d != 0)
		d = tw_lcore_rand(ctx) % (d + 1);
	return d;
}

static struct tw_retry_policy
policy_of(const struct tw_lcore_ctx *ctx, const struct tw_task *t)
{
	static const struct tw_retry_policy none;

	/* the message's own policy, else the registered one */
	if (t->has_retry)
		return t->retry;
	return t->handler != TW_HANDLER_NONE ? ctx->tasks->defs[t->handler].retry : none;
}

/*
 * The handler asked for a retry (or failed with autoretry). Within the
 * budget: RETRY reported, the descriptor handed to the scheduler (which
 * then owns it). Out of budget: FAILURE, then dead-lettering.
 * @return true if the descriptor was handed on (not the caller's to release).
 */
static bool
retry_or_fail(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t,
	      const struct tw_retry_policy *p, int64_t asked, const char *why,
	      uint32_t why_len, uint64_t ns)
{
	char msg[TW_RESULT_SCRATCH];
	/* the operator's cap: a publisher's max_retries of 2^32-1 with countdown
	 * 0 would otherwise run (and answer) thousands of times a second until
	 * revoked */
	uint32_t max = RTE_MIN(p->max_retries, ctx->retry_max);
	int n;

	if (t->retries < max) {
		uint64_t delay = retry_delay_ms(ctx, p, t->retries, asked);

		if (delay < ctx->retry_min_ms) {
			delay = ctx->retry_min_ms;
			tw_cnt_add(ctx, TW_CNT_retry_floor_raised, 1);
		}
		t->eta_ms = tw_unix_ms(ctx, rte_rdtsc()) + delay;
		t->retries++;
		/* the record shows the attempt that failed and when the next is due */
		report(ctx, t, TW_ST_RETRY, NULL, 0, why, why_len, ns);
		/* the scheduler holds retries in memory: this delivery is done */
		tw_journal_done(ctx, t);
		if (tw_sched_hand_off(ctx, t)) {
			tw_cnt_add(ctx, TW_CNT_tasks_retried, 1);
			return true;
		}
		tw_cnt_add(ctx, TW_CNT_retry_lost, 1);
		n = snprintf(msg, sizeof(msg), "retry %u could not be scheduled (no tw-control): %.*s",
			     t->retries, (int)why_len, why);
		report(ctx, t, TW_ST_FAILURE, NULL, 0, msg, (uint32_t)RTE_MIN(n, (int)sizeof(msg) - 1),
		       ns);
		return false;
	}
	tw_cnt_add(ctx, TW_CNT_tasks_failed, 1);
	if (p->max_retries == 0) {
		report(ctx, t, TW_ST_FAILURE, NULL, 0, why, why_len, ns);
		return false;
	}
	tw_cnt_add(ctx, TW_CNT_retries_exhausted, 1);
	if (max < p->max_retries) {
		tw_cnt_add(ctx, TW_CNT_retries_capped, 1);
		n = snprintf(msg, sizeof(msg), "retries exhausted (%u of %u, the engine's cap "
			     "--retry-max): %.*s", t->retries, max, (int)why_len, why);
	} else {
		n = snprintf(msg, sizeof(msg), "retries exhausted (%u of %u): %.*s", t->retries,
			     max, (int)why_len, why);
	}
	report(ctx, t, TW_ST_FAILURE, NULL, 0, msg, (uint32_t)RTE_MIN(n, (int)sizeof(msg) - 1), ns);
	/* its workflow has seen the FAILURE: a dead-lettered copy lives on
	 * outside it (and a chord callback's list went with its group) */
	t->wf = 0;
	if (t->args_group != 0) {
		t->args_group = 0;
		t->args = NULL;
		t->args_len = 0;
	}
	/* out of retries: to the queue's dead-letter exchange, if it has one */
	return tw_route_dead_letter(ctx, rt, t);
}

/*
 * Act on a handler's outcome (solo run or thread completion).
 * @return true if the descriptor was handed on (scheduler, dead-letter queue).
 */
static bool
finish(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t, int ret,
       bool retry_asked, int64_t countdown_ms, const uint8_t *out, uint32_t out_len, uint64_t ns)
{
	tw_cnt_add(ctx, TW_CNT_tasks_executed, 1);
	if (t->handler != TW_HANDLER_NONE) {
		struct tw_lcore_stats *st = ctx->stats;
		uint16_t h = t->handler;

		tw_cnt_qadd(&st->task_runtime_ns[h], ns);
		tw_cnt_qadd(&st->task_runtime_hist[h][tw_runtime_bucket(ns)], 1);
		tw_cnt_qadd(ret == TW_TASK_SUCCESS ? &st->task_succeeded[h]
			    : ret == TW_TASK_RETRY || retry_asked ? &st->task_retried[h]
								   : &st->task_failed[h],
			    1);
	}
	if (ret == TW_TASK_SUCCESS) {
		tw_cnt_add(ctx, TW_CNT_tasks_succeeded, 1);
		report(ctx, t, TW_ST_SUCCESS, out, out_len, NULL, 0, ns);
		return false;
	}
	if (t->handler != TW_HANDLER_NONE &&
	    (ret == TW_TASK_RETRY || retry_asked || policy_of(ctx, t).autoretry)) {
		struct tw_retry_policy p = policy_of(ctx, t);
		bool asked = ret == TW_TASK_RETRY || retry_asked;

		return retry_or_fail(ctx, rt, t, &p, asked ? countdown_ms : -1, (const char *)out,
				     out_len, ns);
	}
	tw_cnt_add(ctx, TW_CNT_tasks_failed, 1);
	report(ctx, t, TW_ST_FAILURE, NULL, 0, (const char *)out, out_len, ns);
	return false;
}

/* Run t inline (solo pool). @return as finish(). */
static bool
run_solo(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t)
{
	struct tw_task_ctx io = {
		.args = t->args,
		.args_len = t->args_len,
		.out = ctx->scratch,
		.out_cap = sizeof(ctx->scratch),
		.task_id = t->id,
		.retries = t->retries,
		.retry_countdown_ms = -1,
		.lcore = ctx,
		.task = t,
	};
	uint64_t start = rte_rdtsc(), end;
	int ret;

	__atomic_store_n(&ctx->stats->running_since_tsc, start, __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->stats->running_handler, t->handler, __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->stats->running_task, t->id, __ATOMIC_RELAXED);
	if (t->handler != TW_HANDLER_NONE) {
		const struct tw_task_def *def = &ctx->tasks->defs[t->handler];

		if (def->soft_time_limit_ms != 0)
			io.soft_deadline_tsc = start + def->soft_time_limit_ms * ctx->tsc_per_ms;
		ret = def->fn(&io);
	} else {
		ret = tw_task_fail(&io, "unknown task '%.*s'", (int)t->name_len, t->name);
	}
	__atomic_store_n(&ctx->stats->running_task, 0, __ATOMIC_RELAXED);
	end = rte_rdtsc();
	/* a solo task holds the lcore (and, run to completion, the port's RX):
	 * one that ran past the bound is made visible */
	if (unlikely(end - start > ctx->solo_max_tsc))
		tw_cnt_add(ctx, TW_CNT_solo_overruns, 1);
	return finish(ctx, rt, t, ret, io.retry_asked, io.retry_countdown_ms, io.out, io.out_len,
		      tw_ticks_to_ns(ctx, end - start));
}

/* Completions from the threads pool: acted on here, where replies are sent. */
static uint32_t
thread_completions(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct tw_thread_done *d[TW_BURST];
	uint32_t n = tw_threads_poll(ctx->threads, ctx, d, TW_BURST);

	for (uint32_t i = 0; i < n; i++) {
		struct tw_task *t = d[i]->task;

		if (!d[i]->owned) {
			/* abandoned past its hard limit: the stuck thread keeps (and later
			 * releases) the descriptor; only its FAILURE is ours to report */
			tw_cnt_add(ctx, TW_CNT_tasks_time_limited, 1);
			tw_cnt_add(ctx, TW_CNT_tasks_failed, 1);
			report(ctx, t, TW_ST_FAILURE, NULL, 0, (const char *)d[i]->out, d[i]->out_len,
			       d[i]->runtime_ns);
		} else if (!finish(ctx, rt, t, d[i]->outcome, d[i]->retry_asked,
				   d[i]->retry_countdown_ms, d[i]->out, d[i]->out_len,
				   d[i]->runtime_ns)) {
			tw_journal_done(ctx, t);
			tw_task_release(t, ctx->task_pool);
		}
		tw_threads_done_free(ctx->threads, d[i]);
	}
	return n;
}

/*
 * Run a task that passed its checks: inline, or on the threads pool.
 * @return true if the descriptor was handed on.
 */
static bool
run(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t)
{
	if (t->handler == TW_HANDLER_NONE ||
	    ctx->tasks->defs[t->handler].pool != TW_POOL_THREADS)
		return run_solo(ctx, rt, t);
	if (ctx->threads != NULL && tw_threads_submit(ctx->threads, ctx, t))
		return true;
	/* every thread busy and their ring full: wait in the scheduler a little */
	t->eta_ms = tw_unix_ms(ctx, rte_rdtsc()) + 1;
	if (tw_sched_hand_off(ctx, t)) {
		tw_cnt_add(ctx, TW_CNT_threads_full, 1);
		return true;
	}
	tw_cnt_add(ctx, TW_CNT_tasks_failed, 1);
	report_msg(ctx, t, TW_ST_FAILURE, "threads pool full and no tw-control to hold the task");
	return false;
}

/*
 * One task taken from a queue (admitted = already past its rate limit:
 * it waited for its turn). @return true if the descriptor was handed on.
 */
/*
 * The checks every task taken from a queue passes before it runs, here or
 * on a remote consumer: revoked (REVOKED), expired (EXPIRED, or
 * dead-lettered). @return TW_GATE_RUN, TW_GATE_DONE (its state reported:
 * the caller releases it) or TW_GATE_HANDED (dead-lettered: not the
 * caller's any more).
 */
static int
gate(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t)
{
	static const char ttl_msg[] = "expired in the queue before a worker took it (message TTL)";
	static const char exp_msg[] = "expired before a worker took it (task expires)";

	if (unlikely(tw_revoked_has(&ctx->shared->revoked, t->id))) {
		tw_cnt_add(ctx, TW_CNT_tasks_revoked, 1);
		report_msg(ctx, t, TW_ST_REVOKED, "revoked before it started");
		return TW_GATE_DONE;
	}
	/* the clock is read only for tasks with a deadline or a rate limit */
	if (unlikely(t->expire_tsc != 0 && rte_rdtsc() > t->expire_tsc)) {
		tw_cnt_add(ctx, TW_CNT_tasks_expired, 1);
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, t->queue_slot, TW_QCNT_expired), 1);
		/* dead-lettered: it lives on in another queue, no result yet */
		if (tw_route_dead_letter(ctx, rt, t))
			return TW_GATE_HANDED;
		report_msg(ctx, t, TW_ST_EXPIRED, t->expiry_is_task ? exp_msg : ttl_msg);
		return TW_GATE_DONE;
	}
	return TW_GATE_RUN;
}

static bool
handle(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t, bool admitted)
{
	uint64_t now;
	int g = gate(ctx, rt, t);

	if (g != TW_GATE_RUN)
		return g == TW_GATE_HANDED;
	if (!admitted && t->handler != TW_HANDLER_NONE &&
	    ctx->shared->task_info[t->handler].rate_count != 0) {
		now = rte_rdtsc();
		if (!tw_ratelimit_admit(ctx, t, now)) {
			tw_cnt_add(ctx, TW_CNT_tasks_rate_limited, 1);
			if (tw_ratelimit_wait(ctx, t, now))
				return true;
			report_msg(ctx, t, TW_ST_FAILURE, "rate limited, and nowhere to wait");
			return false;
		}
	}
	if (unlikely(t->args_group != 0) && !tw_workflow_bind_args(t)) {
		report_msg(ctx, t, TW_ST_FAILURE, "the results of its group are gone");
		return false;
	}
	if (tw_events_on(ctx))
		tw_event_task(ctx, t, TW_ST_STARTED, NULL);
	return run(ctx, rt, t);
}

uint32_t
tw_exec_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct tw_task *tasks[TW_BURST], *finished[TW_BURST];
	uint32_t n, done = 0, n_finished = 0;

	if (ctx->threads != NULL)
		done += thread_completions(ctx, rt);
	/* tasks whose rate-limit turn came: they were dequeued (and counted) before */
	n = tw_ratelimit_ready(ctx, tasks, TW_BURST);
	for (uint32_t i = 0; i < n; i++)
		if (!handle(ctx, rt, tasks[i], true)) {
			tw_journal_done(ctx, tasks[i]);
			tw_task_release(tasks[i], ctx->task_pool);
		}
	done += n;
	if (rt == NULL || rt->n_queues == 0)
		return done;
	n = dequeue(ctx, rt, tasks);
	for (uint32_t i = 0; i < n; i++) {
		struct tw_task *t = tasks[i];

		if (i + 2 < n)
			rte_prefetch0(tasks[i + 2]->args);
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, t->queue_slot, TW_QCNT_completed), 1);
		if (t->counts_bytes)
			__atomic_fetch_sub(tw_qbytes(ctx->shared, t->queue_slot),
					   t->args_len, __ATOMIC_RELAXED);
		if (!handle(ctx, rt, t, false)) {
			tw_journal_done(ctx, t);
			finished[n_finished++] = t;
		}
	}
	tw_task_release_bulk(finished, n_finished, ctx->task_pool);
	/* the next steps of workflows finished in this burst wait in the
	 * stash: the loop's route stage takes them */
	return done + n;
}

/* --- remote consumers (tw_consumers.c): the same paths as a run here --- */

int
tw_exec_remote_gate(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t)
{
	int g = gate(ctx, rt, t);

	if (g != TW_GATE_RUN)
		return g;
	if (unlikely(t->args_group != 0) && !tw_workflow_bind_args(t)) {
		report_msg(ctx, t, TW_ST_FAILURE, "the results of its group are gone");
		return TW_GATE_DONE;
	}
	if (tw_events_on(ctx))
		tw_event_task(ctx, t, TW_ST_STARTED, NULL);
	return TW_GATE_RUN;
}

bool
tw_exec_remote_done(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t,
		    const struct tw_exec_outcome *o)
{
	tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, t->queue_slot, TW_QCNT_completed), 1);
	if (o->retry) {
		/* the consumer asked: the task's policy, else the budget the ack names
		 * (the engine may not know a task that runs only on consumers) */
		struct tw_retry_policy p = policy_of(ctx, t);

		if (o->max_retries != 0)
			p.max_retries = o->max_retries;
		tw_cnt_add(ctx, TW_CNT_tasks_executed, 1);
		if (t->handler != TW_HANDLER_NONE)
			tw_cnt_qadd(&ctx->stats->task_retried[t->handler], 1);
		return retry_or_fail(ctx, rt, t, &p, o->countdown_ms < 0 ? -1 : o->countdown_ms,
				     (const char *)o->out, o->out_len, o->runtime_ns);
	}
	return finish(ctx, rt, t, o->success ? TW_TASK_SUCCESS : TW_TASK_FAILURE, false, -1, o->out,
		      o->out_len, o->runtime_ns);
}

void
tw_exec_report(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state,
	       const uint8_t *value, uint32_t value_len, const char *error, uint32_t error_len)
{
	report(ctx, t, state, value, value_len, error, error_len, 0);
}
