/*
 * The task API of include/taskwire/task.h inside tw-worker: the symbols a
 * plugin .so resolves against the binary that loads it (tw-worker is
 * linked with --export-dynamic, as tw-dataplane is), the registry they
 * fill, plugin loading, and the built-in tasks. Runs on tw-worker's
 * consumer threads; a handler's context lives for one run.
 *
 * What differs from the engine: tw_task_publish() goes through a
 * libtaskwire client of the running thread (one per thread, opened on
 * first use); tw_task_replace_group() is not offered outside the engine
 * yet (-ENOTSUP); a handler that blocks only holds its own thread.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <taskwire/client.h>

#include "tw_tasks_portable.h"
#include "tw_worker_priv.h"

#define SLEEP_US_MAX 3600000000ll /* an hour */

uint64_t
tw_wk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
tw_task_register(struct tw_task_registry *reg, const struct tw_task_options *o)
{
	size_t len = o != NULL && o->name != NULL ? strlen(o->name) : 0;

	/* the pool and rate limit are the engine's business: here every task has its thread */
	if (reg == NULL || len == 0 || len >= TW_WK_NAME_MAX || o->fn == NULL)
		return -EINVAL;
	if (tw_wk_find(reg, o->name) != NULL)
		return -EEXIST;
	if (reg->n >= TW_WK_MAX_TASKS)
		return -ENOSPC;
	reg->defs[reg->n++] = (struct tw_wk_def){ .name = o->name, .fn = o->fn, .retry = o->retry,
						  .soft_time_limit_ms = o->soft_time_limit_ms };
	return 0;
}

const struct tw_wk_def *
tw_wk_find(const struct tw_task_registry *reg, const char *name)
{
	/* at most TW_WK_MAX_TASKS names, once per task run: a scan is enough here */
	for (uint32_t i = 0; i < reg->n; i++)
		if (strcmp(reg->defs[i].name, name) == 0)
			return &reg->defs[i];
	return NULL;
}

int
tw_wk_load_plugin(struct tw_task_registry *reg, const char *path, char *err, size_t errlen)
{
	uint32_t before = reg->n;
	tw_plugin_init_fn init;
	void *h;
	int ret;

	/* RTLD_NOW: a missing symbol shows here, at start, not in a task run */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(err, errlen, "plugin %s: %s", path, dlerror());
		return -ENOENT;
	}
	init = (tw_plugin_init_fn)(uintptr_t)dlsym(h, TW_PLUGIN_INIT_SYMBOL);
	if (init == NULL) {
		snprintf(err, errlen, "plugin %s: no %s() function", path, TW_PLUGIN_INIT_SYMBOL);
		dlclose(h);
		return -EINVAL;
	}
	ret = init(reg, TW_PLUGIN_ABI_VERSION);
	if (ret != 0) {
		snprintf(err, errlen, "plugin %s: %s() failed with %d", path, TW_PLUGIN_INIT_SYMBOL,
			 ret);
		return ret < 0 ? ret : -EINVAL;
	}
	if (reg->n == before) {
		snprintf(err, errlen, "plugin %s registered no task", path);
		return -EINVAL;
	}
	return 0;
}

/* --- during a run --- */

const uint8_t *
tw_task_args(const struct tw_task_ctx *ctx, uint32_t *len)
{
	*len = ctx->args_len;
	return ctx->args;
}

uint64_t
tw_task_id(const struct tw_task_ctx *ctx)
{
	return ctx->task_id;
}

uint32_t
tw_task_retries(const struct tw_task_ctx *ctx)
{
	return ctx->retries;
}

int
tw_task_set_result(struct tw_task_ctx *ctx, const void *value, uint32_t len)
{
	if (len > sizeof(ctx->out))
		return -ENOSPC;
	if (len != 0)
		memcpy(ctx->out, value, len);
	ctx->out_len = len;
	return 0;
}

int
tw_task_fail(struct tw_task_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf((char *)ctx->out, sizeof(ctx->out), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	ctx->out_len = (uint32_t)n < sizeof(ctx->out) ? (uint32_t)n : sizeof(ctx->out) - 1;
	return TW_TASK_FAILURE;
}

int
tw_task_retry(struct tw_task_ctx *ctx, int64_t countdown_ms, const char *reason)
{
	size_t n = reason != NULL ? strlen(reason) : 0;

	ctx->retry_asked = true;
	ctx->retry_countdown_ms = countdown_ms < 0 ? -1 : countdown_ms;
	if (n >= sizeof(ctx->out))
		n = sizeof(ctx->out) - 1;
	memcpy(ctx->out, reason != NULL ? reason : "", n);
	ctx->out_len = (uint32_t)n;
	return TW_TASK_RETRY;
}

int
tw_task_progress(struct tw_task_ctx *ctx, const void *meta, uint32_t len)
{
	struct tw_ack a = { .outcome = TW_OUTCOME_PROGRESS, .value = meta, .value_len = len };

	if (ctx->worker == NULL)
		return -ENOTSUP;
	return tw_worker_ack(ctx->worker, ctx->tag, &a) == 0 ? 0 : -ENOSPC;
}

bool
tw_task_should_stop(const struct tw_task_ctx *ctx)
{
	return ctx->soft_deadline_ms != 0 && tw_wk_now_ms() > ctx->soft_deadline_ms;
}

/* The running thread's client for follow-up tasks (one per thread: clients are single-threaded). */
static __thread struct tw_client *publisher;

void
tw_wk_thread_done(void)
{
	tw_client_close(publisher);
	publisher = NULL;
}

uint64_t
tw_task_publish(struct tw_task_ctx *ctx, const char *exchange, const char *routing_key,
		const char *task, const void *args, uint32_t args_len)
{
	struct tw_publish p = { .exchange = exchange, .routing_key = routing_key, .task = task,
				.args = args, .args_len = args_len };
	uint64_t id = 0;

	if (task == NULL || task[0] == '\0' || ctx->engine == NULL)
		return 0;
	if (publisher == NULL) {
		struct tw_client_opts co = { .key_file = ctx->key_file, .key_id = ctx->key_id };

		publisher = tw_client_open(ctx->engine, &co);
	}
	if (publisher == NULL)
		return 0;
	if (tw_client_publish(publisher, &p, &id) != 0 || tw_client_flush(publisher) != 0)
		return 0;
	return id;
}

int
tw_task_replace_group(struct tw_task_ctx *ctx, const char *exchange, const char *routing_key,
		      const char *task, const void *const *args, const uint32_t *args_len,
		      uint32_t n)
{
	(void)ctx, (void)exchange, (void)routing_key, (void)task, (void)args, (void)args_len,
		(void)n;
	return -ENOTSUP; /* the group is opened by the engine's workflow tables: not from here yet */
}

/* --- built-in tasks: the engine's (tw_tasks_portable.c), so a queue moves to tw-worker unchanged --- */

/* sleep_us [n]: this thread sleeps (the engine's solo pool busy-waits, up
 * to 10 s); here a sleep holds nothing but its own thread, so it may be
 * as long as a real long task (a 30 s run under a 5 s lease, say) */
static int
task_sleep_us(struct tw_task_ctx *ctx)
{
	int64_t us;
	struct timespec ts;

	if (!tw_tasks_scan_int_array(ctx, &us, 1) || us < 0 || us > SLEEP_US_MAX)
		return tw_task_fail(ctx, "sleep_us: args must be [n], 0 <= n <= %lld",
				    (long long)SLEEP_US_MAX);
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	ctx->out_len = 0;
	return TW_TASK_SUCCESS;
}

int
tw_wk_register_builtins(struct tw_task_registry *reg)
{
	static const struct tw_task_options sleep_us = { .name = "sleep_us", .fn = task_sleep_us };
	int ret = tw_tasks_register_portable(reg);

	return ret != 0 ? ret : tw_task_register(reg, &sleep_us);
}
