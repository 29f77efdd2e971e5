/*
 * tw-worker internals: the task registry plugins fill (the same
 * include/taskwire/task.h API tw-dataplane offers), the handler's view of
 * one run, and the built-in tasks. Shared by tw_worker_main.c and
 * tw_worker_tasks.c only.
 */
#ifndef TW_WORKER_PRIV_H
#define TW_WORKER_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <taskwire/task.h>
#include <taskwire/worker.h>

#define TW_WK_MAX_TASKS 256
#define TW_WK_NAME_MAX 128
/* a result must fit one ack datagram (no reassembly yet): 1472 bytes less the ack's fields */
#define TW_WK_RESULT_MAX 1400

struct tw_wk_def {
	const char *name;            /* the plugin's string (outlives the process) */
	tw_task_fn fn;
	struct tw_retry_policy retry;
	uint32_t soft_time_limit_ms;
};

/* Opaque to plugins (task.h): filled before plugin init, read-only afterwards. */
struct tw_task_registry {
	uint32_t n;
	struct tw_wk_def defs[TW_WK_MAX_TASKS];
};

/* One run, as the handler sees it through task.h. */
struct tw_task_ctx {
	const uint8_t *args;
	uint32_t args_len;
	uint64_t task_id;
	uint32_t retries;
	uint8_t out[TW_WK_RESULT_MAX];
	uint32_t out_len;
	bool retry_asked;
	int64_t retry_countdown_ms;  /* -1: the policy decides */
	uint64_t soft_deadline_ms;   /* CLOCK_MONOTONIC ms, 0: none */
	struct tw_worker *worker;    /* progress goes out on it */
	uint64_t tag;
	const char *engine;          /* tw_task_publish() opens a client to it */
	const char *key_file;        /* --key-file: that client signs too (NULL: no key) */
	uint32_t key_id;
};

/** Register the built-in tasks, as the engine has them (noop, echo, add, fail, flaky,
 * progress, tsum: the engine's own code) and sleep_us (a thread sleeping, up to an hour). */
int tw_wk_register_builtins(struct tw_task_registry *reg);

/** Load a plugin .so and let it register its tasks. @return 0 or -errno (message in err). */
int tw_wk_load_plugin(struct tw_task_registry *reg, const char *path, char *err, size_t errlen);

/** @return the task registered under name, or NULL. */
const struct tw_wk_def *tw_wk_find(const struct tw_task_registry *reg, const char *name);

/** Monotonic milliseconds. */
uint64_t tw_wk_now_ms(void);

/** The current thread's publishing client, closed at thread exit. */
void tw_wk_thread_done(void);

/*
 * Hard time limits (--time-limit): a supervisor process runs the
 * consumers in a child and kills the child when a task runs past the
 * limit (a C task cannot be stopped otherwise), then starts another. What
 * the two share lies in one MAP_SHARED page made before the first fork.
 */
#define TW_WK_MAX_THREADS 64
#define TW_WK_TIMED_OUT 64           /* task ids killed lately, for their redelivery */

struct tw_wk_limits {
	/* written by the child's consumer threads: the task each runs, since when */
	struct {
		uint64_t task_id;            /* 0: none */
		uint64_t since_ms;           /* CLOCK_MONOTONIC */
		uint64_t tag;
		/* the tag of a task past the limit whose FAILURE (with the
		 * consumer's cancel) the engine answered, written by the
		 * child's watcher (release): the child is then killed at once */
		uint64_t settled;
	} run[TW_WK_MAX_THREADS];
	/* written by the supervisor: tasks whose run was killed (ring) */
	uint64_t timed_out[TW_WK_TIMED_OUT];
	uint32_t n_timed_out;            /* total written; slot = n % TW_WK_TIMED_OUT */
	uint32_t limit_ms;
};

/*
 * How long past the limit the supervisor waits for the child to report a
 * task's FAILURE to the engine (run[].settled) before it kills the child
 * anyway (the engine unreachable: the task comes back when the killed
 * consumer's heartbeats stop, and only this process knows not to run it).
 */
#define TW_WK_SETTLE_GRACE_MS 1500

/**
 * Run child_main (the consumers) in a child process, killed and started
 * again whenever one of its tasks runs past lim->limit_ms (once the child
 * has told the engine the task failed, or TW_WK_SETTLE_GRACE_MS later), until SIGINT or
 * SIGTERM (passed on to the child). A child that crashes is started again
 * too (its tasks come back when its heartbeats stop). @return the exit
 * status for main(): the child's last, or 1 if none could start.
 */
int tw_wk_supervise(struct tw_wk_limits *lim, int (*child_main)(void *), void *arg);

/** Was task id killed for its time limit (its redelivery is answered FAILURE, not run)? */
bool tw_wk_timed_out(const struct tw_wk_limits *lim, uint64_t id);

#endif
