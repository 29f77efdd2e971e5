/*
 * The task event stream (Celery's event names): tw-control turns the state
 * records the lcores hand over into events (task-received, task-started,
 * task-progress, task-retried, task-succeeded, task-failed, task-revoked,
 * task-rejected) plus worker-heartbeat every 2 s (each polling lcore, and
 * each remote consumer, whose coming and going are worker-online and
 * worker-offline: ctl_consumer_events.h), and keeps the last
 * CTL_EVENTS_RING of them with increasing sequence numbers. Followers
 * (`twctl events`, SSE and WebSocket clients) read from a sequence number
 * on and block until more come.
 *
 * Events cost the lcores per-task records, so they are recorded only while
 * followed: ctl_events_follow() marks a follower alive; the collector sets
 * tw_shared.events_enabled while one was seen in the last few seconds
 * (or always, with tw-control --events always).
 *
 * Threads: the collector pushes; any thread reads; one mutex + condvar.
 */
#ifndef CTL_EVENTS_H
#define CTL_EVENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tw_shared.h"

#define CTL_EVENTS_RING 8192
#define CTL_EVENT_TEXT 160     /* result / error bytes kept per event */

struct ctl_event {
	uint64_t seq;
	uint64_t task_id;
	uint64_t root_id;          /* workflows: the tree the task belongs to, 0 none */
	uint64_t parent_id;
	uint64_t group_id;
	uint64_t timestamp_ms;
	uint64_t runtime_ns;
	uint32_t state;            /* TW_ST_*; heartbeats: 0 */
	uint32_t retries;
	char type[24];             /* "task-succeeded", "worker-heartbeat", ... */
	char name[64];
	char queue[64];
	char text[CTL_EVENT_TEXT]; /* result (success, progress meta) or error */
	/* heartbeats */
	uint32_t lcore;
	double busy_ratio;
	uint64_t executed;
	/* a remote consumer's worker-online, -heartbeat, -offline (hostname
	 * set); also the task events of the tasks it ran */
	char hostname[2 * 64];     /* "name@host", as Celery names a worker */
	char address[24];          /* "IP:PORT" its frames come from */
	char reason[12];           /* offline: "cancelled" or "lost" */
	uint64_t consumer_id;
	uint32_t freq_ms;          /* its heartbeat interval */
	uint32_t active;           /* deliveries unacked */
	uint64_t processed;        /* acked */
	uint64_t delivered, nacked, redelivered;
};

struct ctl_events {
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct ctl_event ring[CTL_EVENTS_RING];
	uint64_t next_seq;         /* the next event's sequence number (first: 1) */
	uint64_t last_follow_ms;   /* a follower asked at this time */
	bool always;
	uint64_t emitted;
};

void ctl_events_init(struct ctl_events *e, bool always);
void ctl_events_fini(struct ctl_events *e);

/** Append one event (seq assigned here) and wake followers. Threads: collector. */
void ctl_events_push(struct ctl_events *e, struct ctl_event *ev);

/** Event type name for a record state (task-*). */
const char *ctl_event_type(uint32_t state);

/**
 * Copy up to max events with seq > after (oldest first), waiting up to
 * wait_ms for the first one. Events that left the ring are skipped; an
 * `after` beyond the newest event means "from now on".
 * @return count; *next is the seq to ask from next time.
 */
uint32_t ctl_events_read(struct ctl_events *e, uint64_t after, struct ctl_event *out, uint32_t max,
			 int wait_ms, uint64_t *next);

/** A follower is here (keeps events on). */
void ctl_events_follow(struct ctl_events *e);

/** @return true if events should be recorded now (collector: sets events_enabled). */
bool ctl_events_wanted(struct ctl_events *e, uint64_t now_ms);

/**
 * @return true if ev passes the filters (task id 0 / queue "" : any). A
 * task id also matches the events of a group's members (its group id)
 * and of a workflow's steps (its root id): subscribing to a group, chord
 * or workflow is subscribing to its id.
 */
bool ctl_event_matches(const struct ctl_event *ev, uint64_t task_id, const char *queue);

/** JSON object text of ev into buf (always NUL-terminated). @return length. */
int ctl_event_json(const struct ctl_event *ev, char *buf, size_t len);

#endif
