/*
 * The "threads" execution pool: ordinary threads (not lcores) for tasks
 * that block or sleep, fed by a ring. A worker lcore hands a task's
 * descriptor over (tw_threads_submit) and later takes its completion back
 * from its own done ring (tw_threads_poll), so replies, retries and
 * result records all stay on the lcore as for solo tasks.
 *
 * Hard time limit: the main lcore's housekeeping (tw_threads_watch) marks
 * a task that runs past its limit as abandoned, completes it as FAILURE,
 * and starts a replacement thread; the stuck thread releases the
 * descriptor itself whenever its handler returns, and exits.
 *
 * Ownership: submit takes the descriptor; a completion gives it back to
 * the lcore (except after abandonment, see above: `owned` is false).
 * Threads: submit/poll on worker lcores; watch on the main lcore.
 */
#ifndef TW_THREADS_H
#define TW_THREADS_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_lcore.h"

#define TW_THREADS_MAX 64
#define TW_THREADS_RING 4096        /* tasks waiting for a thread */

struct tw_task;
struct tw_task_registry;
struct tw_threads;

/* What a thread hands back for one task. */
struct tw_thread_done {
	struct tw_task *task;
	int32_t outcome;            /* TW_TASK_* */
	bool retry_asked;
	bool owned;                 /* false: abandoned, the thread still holds the task */
	int64_t retry_countdown_ms;
	uint64_t runtime_ns;
	uint32_t out_len;
	uint8_t out[TW_RESULT_SCRATCH];
};

/**
 * Create the pool (n threads).
 * @return the pool, or NULL with rte_errno set. Threads: main, before launch.
 */
struct tw_threads *tw_threads_start(struct tw_shared *sh, const struct tw_task_registry *reg,
				    uint32_t n);
/** Stop the threads (waits up to 2 s for running handlers; abandoned ones are left). */
void tw_threads_stop(struct tw_threads *p);

/** Hand t to the pool. @return false if the pool's ring is full (the caller keeps t). */
bool tw_threads_submit(struct tw_threads *p, struct tw_lcore_ctx *ctx, struct tw_task *t);

/** Take up to max completions for this lcore. Each must go back with tw_threads_done_free(). */
uint32_t tw_threads_poll(struct tw_threads *p, struct tw_lcore_ctx *ctx, struct tw_thread_done **v,
			 uint32_t max);
void tw_threads_done_free(struct tw_threads *p, struct tw_thread_done *d);

/** Enforce hard time limits. @return tasks abandoned. Threads: main lcore. */
uint32_t tw_threads_watch(struct tw_threads *p);

/** Threads running a task, idle, and tasks abandoned since start. */
void tw_threads_counts(const struct tw_threads *p, uint32_t *busy, uint32_t *idle,
		       uint64_t *abandoned);

#endif
