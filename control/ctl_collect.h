/*
 * tw-control's collector: one thread that drains what the data-plane
 * lcores hand over (result-store records, tasks to hold) into the result
 * store and the scheduler, injects due tasks back, and expires old
 * results, and runs periodic schedules. It polls every CTL_COLLECT_PERIOD_US
 * (CTL_COLLECT_QUIET_US after CTL_COLLECT_QUIET_PASSES passes with nothing to
 * do and nothing held): the lcores never wait for it, and whatever it has
 * not drained yet waits in the rings
 * (TW_RECORDS_RING mbufs and TW_SCHED_RING tasks per lcore; beyond that
 * the lcores count records_lost / NACK no-scheduler).
 *
 * Threads: its own; the store and the scheduler lock for themselves.
 */
#ifndef CTL_COLLECT_H
#define CTL_COLLECT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl_consumer_events.h"
#include "tw_shared.h"

#define CTL_COLLECT_PERIOD_US 200
#define CTL_COLLECT_QUIET_PASSES 100 /* idle passes before the period stretches */
#define CTL_COLLECT_QUIET_US 2000     /* the stretched period */

struct ctl_beat;
struct ctl_events;
struct ctl_sched;
struct tw_store;

struct ctl_collect {
	struct tw_shared *sh;
	struct tw_store *store;      /* NULL: results are not kept (store off) */
	struct ctl_sched *sched;
	struct ctl_beat *beat;
	struct ctl_events *events;
	int32_t self;                /* this tw-control's pid: attached once shared->control_pid is it */
	pthread_t thread;
	bool running;
	volatile bool stop;
	uint64_t expires_max_s;      /* a result's own result_expires is capped to this */
	/* totals (relaxed: read by status requests) */
	uint64_t records, record_batches, store_errors, undecodable, tasks_held, expired;
	uint64_t expires_capped;     /* results whose result_expires was above expires_max_s */
	uint64_t store_full_refused; /* records not stored: the map was full after a sweep */
	uint32_t store_full;         /* 1 while the last write found the map full */
	struct ctl_consumer_events consumers; /* remote consumers' worker events */
};

/**
 * Start the thread. expires_max_s caps the result_expires publishers ask
 * for (0: no cap). @return 0 or -errno.
 */
int ctl_collect_start(struct ctl_collect *c, struct tw_shared *sh, struct tw_store *store,
		      struct ctl_sched *sched, struct ctl_beat *beat, struct ctl_events *events,
		      uint64_t expires_max_s);

/** Stop it after one last drain. */
void ctl_collect_stop(struct ctl_collect *c);

#endif
