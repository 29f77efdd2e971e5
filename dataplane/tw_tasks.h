/*
 * Task handlers: C functions registered under a name (the public side is
 * include/taskwire/task.h). The registry is built once at start-up and
 * read-only afterwards, so workers look names up without locks. The io
 * stage resolves a task's name to a handler index once; workers call
 * through the index.
 */
#ifndef TW_TASKS_H
#define TW_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <taskwire/task.h>

#include "tw_limits.h"

#define TW_TASKS_MAX TW_MAX_TASK_NAMES

struct tw_lcore_ctx;
struct tw_task;

/*
 * One execution, as the handler sees it (opaque in the public header).
 * On success `out` holds the result value, on failure a human-readable
 * error; either way at most out_cap bytes.
 */
struct tw_task_ctx {
	const uint8_t *args;
	uint32_t args_len;
	uint8_t *out;
	uint32_t out_cap;
	uint32_t out_len;
	uint64_t task_id;
	uint32_t retries;
	/* tw_task_retry(): -1 = policy delay */
	bool retry_asked;
	int64_t retry_countdown_ms;
	uint64_t soft_deadline_tsc;      /* 0: none */
	struct tw_lcore_ctx *lcore;      /* NULL on a thread of the threads pool */
	struct tw_task *task;
};

struct tw_task_def {
	const char *name;
	tw_task_fn fn;
	uint8_t pool;                    /* enum tw_task_pool */
	bool ignore_result;
	struct tw_retry_policy retry;
	uint32_t soft_time_limit_ms;
	uint32_t time_limit_ms;
	uint64_t rate_count, rate_period_ms;  /* rate limit at registration, 0: none */
};

struct tw_task_registry {
	uint32_t n;
	struct tw_task_def defs[TW_TASKS_MAX];
	uint32_t name_len[TW_TASKS_MAX];
	uint16_t index[TW_TASKS_MAX * 2];  /* open addressing: handler + 1, 0 = empty */
};

/**
 * Add a handler with default options (solo pool, no retries).
 * @return 0, -EEXIST (name taken), -ENOSPC, -EINVAL (name empty or too long).
 * Threads: main, before launch.
 */
int tw_tasks_register(struct tw_task_registry *reg, const char *name, tw_task_fn fn);

/** Register the built-in tasks, always present (noop, echo, add, sleep_us, fail, ...). */
int tw_tasks_register_builtins(struct tw_task_registry *reg);

/**
 * Load a plugin .so and let it register its tasks.
 * @return 0, or -errno with a message in err naming the file and the cause.
 * Threads: main, before launch.
 */
int tw_tasks_load_plugin(struct tw_task_registry *reg, const char *path, char *err, size_t errlen);

/**
 * Apply one "NAME:KEY=VALUE" setting to a registered task (keys: pool,
 * time-limit, soft-time-limit, rate-limit, max-retries), as deployments
 * configure Celery tasks without touching their code.
 * @return 0, or -EINVAL / -ENOENT with a message in err. Threads: main, before launch.
 */
int tw_tasks_configure(struct tw_task_registry *reg, const char *setting, char *err, size_t errlen);

/** @return true if some registered task runs in the threads pool. */
bool tw_tasks_use_threads(const struct tw_task_registry *reg);

/** @return the handler index for a name, or TW_HANDLER_NONE. Threads: any. */
uint16_t tw_tasks_lookup(const struct tw_task_registry *reg, const uint8_t *name, uint32_t len);

#endif
