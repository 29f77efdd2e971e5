/*
 * The built-in tasks tw-dataplane and tw-worker share (tw_tasks_portable.c):
 * written against include/taskwire/task.h alone, no DPDK.
 */
#ifndef TW_TASKS_PORTABLE_H
#define TW_TASKS_PORTABLE_H

#include <stdbool.h>
#include <stdint.h>

struct tw_task_ctx;
struct tw_task_registry;

/** Register noop, echo, add, fail, flaky, progress and tsum. @return 0 or what registering returned (< 0). */
int tw_tasks_register_portable(struct tw_task_registry *reg);

/** A JSON integer that fits int64_t at *p (blanks first): -?(0|[1-9][0-9]*), no
 * fraction or exponent. @return whether one was read; *p moves past it. */
bool tw_tasks_scan_int64(const uint8_t **p, const uint8_t *end, int64_t *out);

/** The task's args as a JSON array of exactly n integers. */
bool tw_tasks_scan_int_array(const struct tw_task_ctx *io, int64_t *vals, unsigned n);

#endif
