/*
 * Task event stream (see ctl_events.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ctl_events.h"
#include "ctl_json_text.h"
#include "tw_wire.h"

#define FOLLOW_KEEPALIVE_MS 5000   /* events stay on this long after a follower asked */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
ctl_events_init(struct ctl_events *e, bool always)
{
	pthread_condattr_t ca;

	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->more, &ca);
	pthread_condattr_destroy(&ca);
	e->next_seq = 1;
	e->always = always;
}

void
ctl_events_fini(struct ctl_events *e)
{
	pthread_cond_destroy(&e->more);
	pthread_mutex_destroy(&e->lock);
}

const char *
ctl_event_type(uint32_t state)
{
	static const char *const types[] = {
		[TW_ST_PENDING] = "task-sent", [TW_ST_RECEIVED] = "task-received",
		[TW_ST_STARTED] = "task-started", [TW_ST_PROGRESS] = "task-progress",
		[TW_ST_RETRY] = "task-retried", [TW_ST_SUCCESS] = "task-succeeded",
		[TW_ST_FAILURE] = "task-failed", [TW_ST_REVOKED] = "task-revoked",
		/* Celery reports an expired task as revoked (with expired=true) */
		[TW_ST_EXPIRED] = "task-revoked", [TW_ST_REJECTED] = "task-rejected",
	};

	return state < sizeof(types) / sizeof(types[0]) ? types[state] : "task-unknown";
}

void
ctl_events_push(struct ctl_events *e, struct ctl_event *ev)
{
	pthread_mutex_lock(&e->lock);
	ev->seq = e->next_seq++;
	if (ev->timestamp_ms == 0)
		ev->timestamp_ms = now_ms();
	e->ring[ev->seq % CTL_EVENTS_RING] = *ev;
	e->emitted++;
	pthread_cond_broadcast(&e->more);
	pthread_mutex_unlock(&e->lock);
}

uint32_t
ctl_events_read(struct ctl_events *e, uint64_t after, struct ctl_event *out, uint32_t max,
		int wait_ms, uint64_t *next)
{
	struct timespec deadline;
	uint32_t n = 0;
	uint64_t seq;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&e->lock);
	e->last_follow_ms = now_ms();
	/* a position beyond the stream (or UINT64_MAX - 1) means "from now on" */
	if (after >= e->next_seq)
		after = e->next_seq - 1;
	/* bounded wait: the deadline ends it */
	while (e->next_seq <= after + 1 && wait_ms > 0 &&
	       pthread_cond_timedwait(&e->more, &e->lock, &deadline) != ETIMEDOUT)
		;
	seq = after + 1;
	if (e->next_seq > CTL_EVENTS_RING && seq < e->next_seq - CTL_EVENTS_RING)
		seq = e->next_seq - CTL_EVENTS_RING; /* older ones were overwritten */
	for (; seq < e->next_seq && n < max; seq++)
		out[n++] = e->ring[seq % CTL_EVENTS_RING];
	*next = seq - 1;
	pthread_mutex_unlock(&e->lock);
	return n;
}

void
ctl_events_follow(struct ctl_events *e)
{
	pthread_mutex_lock(&e->lock);
	e->last_follow_ms = now_ms();
	pthread_mutex_unlock(&e->lock);
}

bool
ctl_events_wanted(struct ctl_events *e, uint64_t now)
{
	bool on;

	pthread_mutex_lock(&e->lock);
	/* `now` was read before a follower may have asked: a last_follow_ms
	 * after it is recent, not 2^64 ms ago */
	on = e->always || (e->last_follow_ms != 0 && (now <= e->last_follow_ms ||
						      now - e->last_follow_ms < FOLLOW_KEEPALIVE_MS));
	pthread_mutex_unlock(&e->lock);
	return on;
}

bool
ctl_event_matches(const struct ctl_event *ev, uint64_t task_id, const char *queue)
{
	if (task_id != 0 && ev->task_id != task_id && ev->group_id != task_id &&
	    ev->root_id != task_id)
		return false;
	if (queue != NULL && queue[0] != '\0' && strcmp(ev->queue, queue) != 0)
		return false;
	return true;
}

static void
hex_field(json_t *j, const char *key, uint64_t id)
{
	char buf[32];

	if (id == 0)
		return;
	snprintf(buf, sizeof(buf), "%016" PRIx64, id);
	json_object_set_new(j, key, json_string(buf));
}

int
ctl_event_json(const struct ctl_event *ev, char *buf, size_t len)
{
	json_t *j;
	char *text;
	int n;

	if (ev->hostname[0] != '\0' && strncmp(ev->type, "worker-", 7) == 0) {
		/* a remote consumer's worker-* event, named as Celery names a
		 * worker (freq in seconds); a task event may carry one too */
		char cid[32];

		snprintf(cid, sizeof(cid), "%016" PRIx64, ev->consumer_id);
		j = json_pack("{s:s, s:I, s:I, s:o, s:s, s:s, s:f, s:i, s:I, s:I, s:I, s:I}", "type",
			      ev->type, "seq", (json_int_t)ev->seq, "timestamp_ms",
			      (json_int_t)ev->timestamp_ms, "hostname", ctl_json_str(ev->hostname),
			      "consumer_id", cid, "address", ev->address, "freq",
			      (double)ev->freq_ms / 1000.0, "active", (int)ev->active, "processed",
			      (json_int_t)ev->processed, "delivered", (json_int_t)ev->delivered,
			      "nacked", (json_int_t)ev->nacked, "redelivered",
			      (json_int_t)ev->redelivered);
		if (j != NULL && ev->reason[0] != '\0')
			json_object_set_new(j, "reason", json_string(ev->reason));
	} else if (strcmp(ev->type, "worker-heartbeat") == 0) {
		j = json_pack("{s:s, s:I, s:I, s:i, s:f, s:I}", "type", ev->type, "seq",
			      (json_int_t)ev->seq, "timestamp_ms", (json_int_t)ev->timestamp_ms,
			      "lcore", (int)ev->lcore, "busy_ratio", ev->busy_ratio, "executed",
			      (json_int_t)ev->executed);
	} else {
		char id[32];
		bool ok = ev->state == TW_ST_SUCCESS || ev->state == TW_ST_PROGRESS;

		snprintf(id, sizeof(id), "%016" PRIx64, ev->task_id);
		j = json_pack("{s:s, s:I, s:s, s:o, s:o, s:s, s:I, s:i, s:I}", "type", ev->type, "seq",
			      (json_int_t)ev->seq, "task_id", id, "name", ctl_json_str(ev->name),
			      "queue", ctl_json_str(ev->queue),
			      "state", tw_wire_state_name(ev->state), "timestamp_ms",
			      (json_int_t)ev->timestamp_ms, "retries", (int)ev->retries, "runtime_ns",
			      (json_int_t)ev->runtime_ns);
		if (j != NULL) {
			json_object_set_new(j, ok ? "result" : "error", ctl_json_str(ev->text));
			if (ev->state == TW_ST_EXPIRED)
				json_object_set_new(j, "expired", json_true());
			/* workflows: where the task sits in its tree */
			hex_field(j, "root_id", ev->root_id);
			hex_field(j, "parent_id", ev->parent_id);
			hex_field(j, "group_id", ev->group_id);
			/* run by a remote consumer: which one, as Celery's events say */
			if (ev->hostname[0] != '\0')
				json_object_set_new(j, "hostname", ctl_json_str(ev->hostname));
		}
	}
	text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	n = snprintf(buf, len, "%s", text != NULL ? text : "{}");
	free(text);
	json_decref(j);
	return n < 0 ? 0 : (n >= (int)len ? (int)len - 1 : n);
}
