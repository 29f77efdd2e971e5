/*
 * Exec stage (worker role): take task descriptors from the queue rings,
 * run their handlers inline (the solo pool) and send each result to the
 * task's publisher, batching consecutive results for one publisher into
 * one reply frame.
 */
#ifndef TW_EXEC_H
#define TW_EXEC_H

#include <stdint.h>

#include "tw_lcore.h"
#include "tw_routes.h"

/**
 * Dequeue up to TW_BURST tasks from the queues of rt (round-robin start
 * across passes, so no queue starves) and run them.
 * @return number of tasks run.
 * Ownership: the stage owns each descriptor it dequeues and releases it
 *   (and its frame reference) before returning.
 * Threads: worker (or run-to-completion) lcores; any number of them, since
 *   queue rings are multi-consumer.
 */
uint32_t tw_exec_burst(struct tw_lcore_ctx *ctx, const struct tw_routes *rt);

/* What tw_exec_remote_gate() decided. */
enum { TW_GATE_RUN = 0, TW_GATE_DONE, TW_GATE_HANDED };

/**
 * The checks a task taken from a queue passes before a remote consumer
 * gets it, as before a run here: revoked, expired, a chord callback's
 * args bound; a task-started event.
 * @return TW_GATE_RUN (deliver it), TW_GATE_DONE (its state was reported:
 *   release it) or TW_GATE_HANDED (dead-lettered: no longer the caller's).
 * Threads: the lcore that dequeued t.
 */
int tw_exec_remote_gate(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t);

/* A remote consumer's final outcome. */
struct tw_exec_outcome {
	bool success;            /* SUCCESS (out: the result) */
	bool retry;              /* RETRY (out: the reason); neither: FAILURE (out: the error) */
	int64_t countdown_ms;    /* RETRY: < 0: the task's policy decides */
	uint32_t max_retries;    /* RETRY: budget when the task has no policy, 0: none given */
	const uint8_t *out;
	uint32_t out_len;
	uint64_t runtime_ns;
};

/**
 * Act on a remote run's outcome exactly as on a run here: result to the
 * publisher, record to the store, workflow steps, retries (through the
 * scheduler), dead-lettering.
 * @return true if t was handed on (scheduler, dead-letter queue);
 *   false: the caller releases it.
 * Ownership: borrows o->out (copied before return).
 * Threads: the lcore that holds t.
 */
bool tw_exec_remote_done(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t,
			 const struct tw_exec_outcome *o);

/**
 * Report a non-final state of t (PROGRESS, ...) or a final one the caller
 * decided itself: to its publisher and the result store, as a run here.
 * Threads: the lcore that holds t.
 */
void tw_exec_report(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state,
		    const uint8_t *value, uint32_t value_len, const char *error, uint32_t error_len);

#endif
