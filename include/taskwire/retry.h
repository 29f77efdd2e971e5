/*
 * Celery's retry options, shared by the task API (a task's registered
 * policy, include/taskwire/task.h), the publisher API (a message's own
 * policy, include/taskwire/client.h) and the wire (proto RetryPolicy).
 *
 * Delay of retry n (0-based): countdown_ms, or with backoff
 * countdown_ms * 2^n capped at backoff_max_ms; jitter picks uniformly in
 * [0, delay].
 */
#ifndef TASKWIRE_RETRY_H
#define TASKWIRE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct tw_retry_policy {
	uint32_t max_retries;     /* 0: never retried */
	uint32_t countdown_ms;
	uint32_t backoff_max_ms;  /* 0: 600000 (Celery's retry_backoff_max) */
	bool backoff;
	bool jitter;
	bool autoretry;           /* retry a FAILURE as if the handler had asked */
};

#endif
