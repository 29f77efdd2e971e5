/*
 * Task handlers: C functions registered under a name. The registry is
 * built once at start-up and read-only afterwards, so workers look names
 * up without locks. The io stage resolves a task's name to a handler index
 * once; workers call through the index.
 */
#ifndef TW_TASKS_H
#define TW_TASKS_H

#include <stdint.h>

#include "tw_limits.h"

#define TW_TASKS_MAX 256

/* What a handler sees and writes. On success `out` holds the result value,
 * on failure a human-readable error; either way at most out_cap bytes. */
struct tw_task_io {
	const uint8_t *args;
	uint32_t args_len;
	uint8_t *out;
	uint32_t out_cap;
	uint32_t out_len;
};

/* @return 0 for SUCCESS, -1 for FAILURE. Runs on a worker lcore: must not block. */
typedef int (*tw_task_fn)(struct tw_task_io *io);

struct tw_task_def {
	const char *name;
	tw_task_fn fn;
};

struct tw_task_registry {
	uint32_t n;
	struct tw_task_def defs[TW_TASKS_MAX];
	uint32_t name_len[TW_TASKS_MAX];
	uint16_t index[TW_TASKS_MAX * 2];  /* open addressing: handler + 1, 0 = empty */
};

/**
 * Add a handler. @return 0, -EEXIST (name taken), -ENOSPC, -EINVAL (name
 * empty or too long). Threads: main, before launch.
 */
int tw_tasks_register(struct tw_task_registry *reg, const char *name, tw_task_fn fn);

/** Register the built-in tasks of DESIGN.md (noop, echo, add, sleep_us, fail). */
int tw_tasks_register_builtins(struct tw_task_registry *reg);

/** @return the handler index for a name, or TW_HANDLER_NONE. Threads: any. */
uint16_t tw_tasks_lookup(const struct tw_task_registry *reg, const uint8_t *name, uint32_t len);

/** Write "ok"/error text helpers for handlers: format into io->out. */
int tw_task_fail(struct tw_task_io *io, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
