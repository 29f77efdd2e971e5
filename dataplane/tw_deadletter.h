/*
 * Dead-lettering: a task that leaves a queue without being run (dropped
 * from the head of a full queue, or expired by the queue's TTL) is routed
 * again through the queue's dead-letter exchange, with the queue's
 * dead-letter routing key or else its own, as RabbitMQ does. Runs on the
 * lcore that removed the task (io for drop-head, worker for TTL); it is
 * a producer on the dead-letter queues' MP rings.
 */
#ifndef TW_DEADLETTER_H
#define TW_DEADLETTER_H

#include <stdbool.h>

#include "tw_lcore.h"
#include "tw_routes.h"
#include "tw_task.h"

/**
 * Dead-letter t, which has just left its queue (t->queue_slot).
 * @return true if t went to dead-letter queues: ownership passed (to the
 *   rings, or released when every copy was lost, counted); false if its
 *   queue has no dead-letter exchange (or the hop limit is reached): the
 *   caller still owns t and handles it as without dead-lettering.
 * Threads: io or worker lcores; allocates descriptors from the pool only.
 */
bool tw_deadletter(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t);

#endif
