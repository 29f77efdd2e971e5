/*
 * `twctl list workers` and `twctl rate-limit`: what the worker lcores and
 * the threads pool are doing, the registered tasks, and live changes of
 * a task's rate limit (tw_shared.task_info, version protocol there).
 * Threads: main, under the control lock (ctl_ctx.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>

#include "ctl_handlers.h"
#include "tw_units.h"

int
ctl_workers_list(struct ctl_ctx *ctx, struct ctl_reply *r)
{
	const struct tw_shared *sh = ctx->broker.sh;
	Taskwire__Control__WorkerInfo **w;
	Taskwire__Control__RegisteredTask **t;
	uint64_t now = rte_rdtsc();
	uint32_t n_tasks = sh->n_tasks < TW_MAX_TASK_NAMES ? sh->n_tasks : TW_MAX_TASK_NAMES;

	REPLY_ARRAY(r, Taskwire__Control__WorkerInfo, taskwire__control__worker_info__init,
		    sh->n_pollers, w);
	REPLY_ARRAY(r, Taskwire__Control__RegisteredTask, taskwire__control__registered_task__init,
		    n_tasks, t);
	if (w == NULL || t == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < sh->n_pollers; i++) {
		const struct tw_lcore_stats *st = &sh->stats[i];
		const struct tw_plan_entry *pe = &sh->plan[i + 1];
		uint64_t loop = __atomic_load_n(&st->c[TW_CNT_loop_cycles], __ATOMIC_RELAXED);
		uint64_t busy = __atomic_load_n(&st->c[TW_CNT_busy_cycles], __ATOMIC_RELAXED);
		uint64_t id = __atomic_load_n(&st->running_task, __ATOMIC_RELAXED);
		uint64_t since = __atomic_load_n(&st->running_since_tsc, __ATOMIC_RELAXED);

		w[i]->lcore_id = pe->lcore_id;
		w[i]->cpu = pe->cpu;
		w[i]->role = (char *)tw_role_name(pe->role);
		w[i]->busy_ratio = loop != 0 ? (double)busy / (double)loop : 0;
		w[i]->tasks_executed = __atomic_load_n(&st->c[TW_CNT_tasks_executed], __ATOMIC_RELAXED);
		w[i]->running_task = id;
		w[i]->running_ms = id != 0 && now > since ? (now - since) * 1000 / sh->tsc_hz : 0;
	}
	for (uint32_t i = 0; i < n_tasks; i++) {
		const struct tw_task_info *ti = &sh->task_info[i];

		t[i]->name = (char *)ti->name;
		t[i]->pool = (char *)(ti->pool == 1 ? "threads" : "solo");
		t[i]->rate_count = __atomic_load_n(&ti->rate_count, __ATOMIC_RELAXED);
		t[i]->rate_period_ms = __atomic_load_n(&ti->rate_period_ms, __ATOMIC_RELAXED);
		t[i]->time_limit_ms = ti->time_limit_ms;
	}
	r->resp.workers = w;
	r->resp.n_workers = sh->n_pollers;
	r->resp.registered = t;
	r->resp.n_registered = n_tasks;
	r->resp.threads_busy = __atomic_load_n(&sh->threads_busy, __ATOMIC_RELAXED);
	r->resp.threads_idle = __atomic_load_n(&sh->threads_idle, __ATOMIC_RELAXED);
	r->resp.threads_abandoned = __atomic_load_n(&sh->threads_abandoned, __ATOMIC_RELAXED);
	return 0;
}

int
ctl_workers_rate_limit(struct ctl_ctx *ctx, const char *task, const char *rate,
		       struct ctl_reply *r)
{
	struct tw_shared *sh = ctx->broker.sh;
	uint64_t count, period;
	char why[128];

	if (tw_rate_parse(rate, &count, &period, why, sizeof(why)) != 0) {
		snprintf(r->err, sizeof(r->err), "rate '%s': %s", rate, why);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < sh->n_tasks && i < TW_MAX_TASK_NAMES; i++) {
		struct tw_task_info *ti = &sh->task_info[i];

		if (strcmp(ti->name, task) != 0)
			continue;
		__atomic_store_n(&ti->rate_count, count, __ATOMIC_RELAXED);
		__atomic_store_n(&ti->rate_period_ms, period, __ATOMIC_RELAXED);
		/* release: pairs with the acquire of rate_version on the workers */
		__atomic_fetch_add(&ti->rate_version, 1, __ATOMIC_RELEASE);
		return 0;
	}
	snprintf(r->err, sizeof(r->err), "no task named '%s' is registered", task);
	return -ENOENT;
}
