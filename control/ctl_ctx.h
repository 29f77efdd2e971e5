/*
 * tw-control's state as a control request reaches it: the broker model
 * (libtw_broker, the part tw-dataplane shares) and tw-control's own
 * machinery around it, which is not the broker: the result store, the
 * scheduler, the revoke set, result collection, the beat and the event
 * stream.
 *
 * Threads: the main thread serves requests and runs the machinery; the
 * metrics and HTTP threads read it. All of them hold lock while they use
 * the broker or the machinery (queue slots come and go), which gives the
 * broker its one caller at a time.
 */
#ifndef CTL_CTX_H
#define CTL_CTX_H

#include <pthread.h>

#include "tw_broker.h"

struct tw_store;
struct ctl_sched;
struct ctl_revoke;
struct ctl_collect;
struct ctl_beat;
struct ctl_events;

struct ctl_ctx {
	struct tw_broker broker;
	pthread_mutex_t lock;
	/* set by tw-control's main before serving; the fuzz harness sets a
	 * store only */
	struct tw_store *store;
	struct ctl_sched *sched;
	struct ctl_revoke *revoke;
	struct ctl_collect *collect;
	struct ctl_beat *beat;
	struct ctl_events *events;
};

#endif
