/*
 * Remote consumers in the event stream, named as Celery names a worker's
 * events: worker-online when a consumer subscribes, worker-offline when it
 * cancels or is lost (reason "cancelled" or "lost", with what it held and
 * did), both from the consumer tables' event rings (tw_consumers_shm.h),
 * and worker-heartbeat for each subscribed consumer every 2 s, read from
 * the tables. hostname is the consumer's "name@host".
 *
 * Threads: the collector only.
 */
#ifndef CTL_CONSUMER_EVENTS_H
#define CTL_CONSUMER_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_limits.h"

struct ctl_events;
struct tw_consumers;

struct ctl_consumer_events {
	const struct tw_consumers *table[TW_MAX_LCORES]; /* looked up once; NULL: none */
	uint64_t seen[TW_MAX_LCORES];  /* each table's last event taken */
	bool looked;
	uint64_t lost;                 /* events overwritten before they were read */
};

/**
 * Turn the tables' new events into worker-online / worker-offline (only
 * while events are on; otherwise they are passed over). @return how many.
 */
uint32_t ctl_consumer_events_poll(struct ctl_consumer_events *ce, struct ctl_events *ev, bool on);

/** worker-heartbeat of every subscribed consumer. */
void ctl_consumer_events_heartbeats(struct ctl_consumer_events *ce, struct ctl_events *ev);

#endif
