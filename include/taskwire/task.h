/*
 * taskwire task API: write tasks in C and register them by name, built
 * into tw-dataplane or in a plugin .so loaded at start-up
 * (`tw-dataplane ... -- --tasks FILE`, repeatable), the way a Celery app's
 * tasks.py is discovered.
 *
 * A plugin exports one function named TW_PLUGIN_INIT_SYMBOL of type
 * tw_plugin_init_fn that calls tw_task_register() for each of its tasks.
 * It is called once at start, before DPDK's EAL is initialized (so that a
 * bad plugin stops tw-dataplane before it holds any hugepage): no DPDK
 * call there. A non-zero return refuses the plugin and tw-dataplane does
 * not start.
 *
 * A handler runs on a worker lcore (pool "solo", inline, must not block)
 * or on an ordinary thread (pool "threads", may block or sleep). It reads
 * its args, writes a result or an error, and returns one of
 * enum tw_task_outcome. Everything a handler may call is below; the
 * context is valid only during the call.
 */
#ifndef TASKWIRE_TASK_H
#define TASKWIRE_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include <taskwire/retry.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TW_PLUGIN_ABI_VERSION 1
#define TW_PLUGIN_INIT_SYMBOL "taskwire_plugin_init"

struct tw_task_ctx;       /* one task execution; opaque to plugins */
struct tw_task_registry;  /* the engine's task table, during plugin init */

/* What a handler returns. */
enum tw_task_outcome {
	TW_TASK_SUCCESS = 0,  /* result value: what tw_task_set_result() stored (may be empty) */
	TW_TASK_FAILURE = -1, /* error: what tw_task_fail() stored; autoretry may retry it */
	TW_TASK_RETRY = 1,    /* after tw_task_retry(): run again later, retries + 1 */
};

/** @return TW_TASK_SUCCESS, TW_TASK_FAILURE or TW_TASK_RETRY. */
typedef int (*tw_task_fn)(struct tw_task_ctx *ctx);

enum tw_task_pool {
	TW_POOL_SOLO = 0,     /* inline on the polling worker lcore: short tasks, no blocking */
	TW_POOL_THREADS = 1,  /* ordinary threads fed by a ring: tasks that block or sleep */
};


struct tw_task_options {
	const char *name;         /* unique, 1..127 bytes; the string must outlive the engine */
	tw_task_fn fn;
	enum tw_task_pool pool;
	struct tw_retry_policy retry;       /* taskwire/retry.h */
	bool ignore_result;       /* results not kept in the result store */
	const char *rate_limit;   /* "100/s", "10/m", "1000/h"; NULL: none */
	uint32_t soft_time_limit_ms; /* tw_task_should_stop() turns true after it; 0: none */
	uint32_t time_limit_ms;   /* threads pool: FAILURE after it, the thread is abandoned; 0: none */
};

/**
 * Register a task. Threads: plugin init (main lcore, before launch) only.
 * @return 0, -EEXIST (name taken), -ENOSPC (table full), -EINVAL (bad name,
 *   NULL fn, bad rate limit).
 */
int tw_task_register(struct tw_task_registry *reg, const struct tw_task_options *opts);

/** Plugin entry point: abi is TW_PLUGIN_ABI_VERSION; @return 0 or an error. */
typedef int (*tw_plugin_init_fn)(struct tw_task_registry *reg, int abi);

/* --- during a handler call --- */

/** The task's args bytes (opaque to the engine; JSON for the built-ins). Borrowed. */
const uint8_t *tw_task_args(const struct tw_task_ctx *ctx, uint32_t *len);

uint64_t tw_task_id(const struct tw_task_ctx *ctx);

/** Retries made before this run (0 on the first run). */
uint32_t tw_task_retries(const struct tw_task_ctx *ctx);

/** Store the result value (copied). @return 0, or -ENOSPC beyond the engine's result limit. */
int tw_task_set_result(struct tw_task_ctx *ctx, const void *value, uint32_t len);

/** Store a formatted error message. @return TW_TASK_FAILURE, to return from the handler. */
int tw_task_fail(struct tw_task_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * Ask to run again later. countdown_ms < 0: the task's retry policy decides
 * the delay. Past max_retries the task ends in FAILURE with `reason`.
 * @return TW_TASK_RETRY, to return from the handler.
 */
int tw_task_retry(struct tw_task_ctx *ctx, int64_t countdown_ms, const char *reason);

/**
 * Report PROGRESS with meta bytes (e.g. JSON {"done":3,"total":10}): sent to
 * the publisher and kept in the result store until the final state.
 * @return 0, or -ENOSPC if meta is too large / no buffer is free now.
 */
int tw_task_progress(struct tw_task_ctx *ctx, const void *meta, uint32_t len);

/** true once the task's soft time limit has passed: finish up and return. */
bool tw_task_should_stop(const struct tw_task_ctx *ctx);

/**
 * Publish a follow-up task, routed like any other (exchange "" = default)
 * once this handler returns, in the same pass of the lcore. Its result goes
 * to the result store, not to this task's publisher; one that no queue
 * takes ends there as a FAILURE naming why.
 * @return the new task id (non-zero), or 0 if it could not be taken now
 *   (no buffer, too large for a frame, or the lcore's follow-ups waiting
 *   to be routed are at their limit).
 */
uint64_t tw_task_publish(struct tw_task_ctx *ctx, const char *exchange, const char *routing_key,
			 const char *task, const void *args, uint32_t args_len);

/**
 * Replace this task by a group of n tasks named task, member i with
 * args[i] (args_len[i] bytes), routed by exchange and routing_key, run in
 * parallel: Celery's self.replace(group(...)). Whatever was to follow
 * this task (the rest of its chain, its place in a group or chord, its
 * publisher's wait) follows the group instead and receives the ordered
 * list of the members' results. The group takes this task's id, so the
 * store and the publisher see the group's result (and members) under it.
 * Return TW_TASK_SUCCESS afterwards. Pool "solo" only; the
 * members and what follows must fit one frame (about 2 KB).
 * @return 0, -ENOTSUP (threads pool), -EINVAL (n == 0, a NULL or empty
 *   name), -EMSGSIZE (too large for a frame), -ENOMEM (no buffer now).
 */
int tw_task_replace_group(struct tw_task_ctx *ctx, const char *exchange, const char *routing_key,
			  const char *task, const void *const *args, const uint32_t *args_len,
			  uint32_t n);

#ifdef __cplusplus
}
#endif

#endif
