/*
 * Collector thread (see ctl_collect.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "ctl_beat.h"
#include "ctl_collect.h"
#include "ctl_events.h"
#include "ctl_sched.h"
#include "ctl_store.h"
#include "taskwire.pb-c.h"
#include "tw_task.h"

#define BATCH 1024                 /* records per store transaction */
#define DRAIN_BURST 32
#define EXPIRE_EVERY_MS 1000
#define EXPIRE_MAX 10000           /* removals per sweep: bounded work per pass */
#define HEARTBEAT_MS 2000          /* worker-heartbeat events, as Celery workers send */

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Records waiting for one store transaction; their bytes live in `frames`. */
struct batch {
	struct tw_store_record recs[BATCH];
	Taskwire__Frame *frames[DRAIN_BURST];
	uint32_t n, n_frames;
};

static void
batch_commit(struct ctl_collect *c, struct batch *b)
{
	if (b->n != 0 && c->store != NULL) {
		int ret = tw_store_put_batch(c->store, b->recs, b->n);

		if (ret == -ENOSPC) {
			/*
			 * The map is full. What has expired goes first (the sweep
			 * may not have reached it yet), then one more try; if it is
			 * still full the batch is refused and counted. Unexpired
			 * results are never evicted for newer ones: a result someone
			 * may still ask for is not traded for another.
			 */
			uint32_t gone = tw_store_expire(c->store, now_us() / 1000, EXPIRE_MAX);

			__atomic_fetch_add(&c->expired, gone, __ATOMIC_RELAXED);
			ret = gone != 0 ? tw_store_put_batch(c->store, b->recs, b->n) : ret;
		}
		__atomic_store_n(&c->store_full, ret == -ENOSPC, __ATOMIC_RELAXED);
		if (ret == -ENOSPC)
			__atomic_fetch_add(&c->store_full_refused, b->n, __ATOMIC_RELAXED);
		else if (ret != 0)
			__atomic_fetch_add(&c->store_errors, b->n, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&c->records, b->n, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->record_batches, 1, __ATOMIC_RELAXED);
	}
	for (uint32_t i = 0; i < b->n_frames; i++)
		taskwire__frame__free_unpacked(b->frames[i], NULL);
	b->n = 0;
	b->n_frames = 0;
}

static void
copy_text(char *dst, size_t cap, const void *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	if (len != 0) /* an empty value may come as NULL */
		memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Every record is an event while events are followed. */
static void
emit_event(struct ctl_collect *c, const Taskwire__Result *r, uint64_t now_ms)
{
	struct ctl_event ev;
	bool ok = r->state == TASKWIRE__TASK_STATE__SUCCESS ||
		  r->state == TASKWIRE__TASK_STATE__PROGRESS;

	memset(&ev, 0, sizeof(ev));
	ev.task_id = r->task_id;
	ev.root_id = r->root_id;
	ev.parent_id = r->parent_id;
	ev.group_id = r->group_id;
	ev.state = (uint32_t)r->state;
	ev.retries = r->retries;
	ev.runtime_ns = r->runtime_ns;
	ev.timestamp_ms = now_ms;
	snprintf(ev.type, sizeof(ev.type), "%s", ctl_event_type(ev.state));
	snprintf(ev.name, sizeof(ev.name), "%s", r->task_name != NULL ? r->task_name : "");
	snprintf(ev.queue, sizeof(ev.queue), "%s", r->queue != NULL ? r->queue : "");
	/* run by a remote consumer: its name, as its worker-* events have it */
	snprintf(ev.hostname, sizeof(ev.hostname), "%s", r->worker != NULL ? r->worker : "");
	if (ok)
		copy_text(ev.text, sizeof(ev.text), r->value.data, r->value.len);
	else if (r->error != NULL)
		copy_text(ev.text, sizeof(ev.text), r->error, strlen(r->error));
	ctl_events_push(c->events, &ev);
}

/* The store keeps states of tasks that did not ask to be ignored; received,
 * started and rejected are events only. */
static bool
storable(const Taskwire__Result *r)
{
	/* a group's STARTED is its opening: kept, so the group is known before
	 * its members finish */
	if (r->state == TASKWIRE__TASK_STATE__STARTED && r->group_size != 0)
		return true;
	return !r->event_only && r->state != TASKWIRE__TASK_STATE__RECEIVED &&
	       r->state != TASKWIRE__TASK_STATE__STARTED && r->state != TASKWIRE__TASK_STATE__REJECTED;
}

static void
add_frame(struct ctl_collect *c, struct batch *b, Taskwire__Frame *f, uint64_t now_ms)
{
	bool events = c->events != NULL && __atomic_load_n(&c->sh->events_enabled, __ATOMIC_RELAXED);

	for (size_t i = 0; i < f->n_results; i++) {
		const Taskwire__Result *r = f->results[i];
		struct tw_store_record *rec;

		if (events)
			emit_event(c, r, now_ms);
		if (!storable(r))
			continue;

		if (b->n == BATCH) {
			/* the frame's strings must outlive the commit: keep it for the next one */
			batch_commit(c, b);
		}
		rec = &b->recs[b->n++];
		memset(rec, 0, sizeof(*rec));
		rec->task_id = r->task_id;
		rec->state = (uint32_t)r->state;
		rec->retries = r->retries;
		rec->runtime_ns = r->runtime_ns;
		rec->date_done_ms = now_ms;
		{
			uint64_t exp_s = r->result_expires_s;

			/* a publisher may not pin results longer than the operator allows */
			if (c->expires_max_s != 0 && exp_s > c->expires_max_s) {
				exp_s = c->expires_max_s;
				__atomic_fetch_add(&c->expires_capped, 1, __ATOMIC_RELAXED);
			}
			rec->expires_ms = exp_s != 0 ? now_ms + exp_s * 1000 : 0;
		}
		snprintf(rec->name, sizeof(rec->name), "%s", r->task_name ? r->task_name : "");
		rec->value = r->value.data;
		rec->value_len = (uint32_t)r->value.len;
		rec->error = r->error;
		rec->error_len = r->error != NULL ? (uint32_t)strlen(r->error) : 0;
		rec->root_id = r->root_id;
		rec->parent_id = r->parent_id;
		rec->group_id = r->group_id;
		rec->group_index = r->group_index;
	}
	b->frames[b->n_frames++] = f;
}

/* @return record frames drained */
static uint32_t
drain_records(struct ctl_collect *c, struct batch *b, uint64_t now_ms)
{
	struct rte_mbuf *m[DRAIN_BURST];
	uint32_t drained = 0;

	for (uint32_t i = 0; i < c->sh->n_pollers; i++) {
		unsigned n = rte_ring_sc_dequeue_burst(c->sh->records[i], (void **)m, DRAIN_BURST,
						       NULL);

		drained += n;
		for (unsigned k = 0; k < n; k++) {
			Taskwire__Frame *f = taskwire__frame__unpack(
				/* pkt_len: a large record's buffer runs past 64 kB */
				NULL, rte_pktmbuf_pkt_len(m[k]), rte_pktmbuf_mtod(m[k], uint8_t *));

			rte_pktmbuf_free(m[k]);
			if (f == NULL) {
				__atomic_fetch_add(&c->undecodable, 1, __ATOMIC_RELAXED);
				continue;
			}
			if (b->n_frames == DRAIN_BURST)
				batch_commit(c, b);
			add_frame(c, b, f, now_ms);
		}
		batch_commit(c, b);
	}
	return drained;
}

/* @return tasks taken */
static uint32_t
drain_sched(struct ctl_collect *c)
{
	struct tw_task *t[DRAIN_BURST];
	uint32_t taken = 0;

	for (uint32_t i = 0; i < c->sh->n_pollers; i++) {
		unsigned n;

		/* bounded: at most the ring's content at the start, 32 at a time */
		do {
			n = rte_ring_sc_dequeue_burst(c->sh->sched[i], (void **)t, DRAIN_BURST, NULL);
			for (unsigned k = 0; k < n; k++)
				ctl_sched_take(c->sched, t[k]);
			__atomic_fetch_add(&c->tasks_held, n, __ATOMIC_RELAXED);
			taken += n;
		} while (n == DRAIN_BURST);
	}
	return taken;
}

/* worker-heartbeat events, one per polling lcore */
static void
heartbeats(struct ctl_collect *c)
{
	for (uint32_t i = 0; i < c->sh->n_pollers; i++) {
		const struct tw_lcore_stats *st = &c->sh->stats[i];
		uint64_t loop = __atomic_load_n(&st->c[TW_CNT_loop_cycles], __ATOMIC_RELAXED);
		uint64_t busy = __atomic_load_n(&st->c[TW_CNT_busy_cycles], __ATOMIC_RELAXED);
		struct ctl_event ev;

		memset(&ev, 0, sizeof(ev));
		snprintf(ev.type, sizeof(ev.type), "worker-heartbeat");
		ev.lcore = c->sh->plan[i + 1].lcore_id;
		ev.busy_ratio = loop != 0 ? (double)busy / (double)loop : 0;
		ev.executed = __atomic_load_n(&st->c[TW_CNT_tasks_executed], __ATOMIC_RELAXED);
		ctl_events_push(c->events, &ev);
	}
}

static void *
collect_main(void *arg)
{
	static struct batch b; /* large; one collector thread */
	struct ctl_collect *c = arg;
	uint64_t next_expire = 0, next_beat = 0;
	uint32_t quiet = 0;

	for (;;) {
		bool last = c->stop;
		uint64_t us = now_us();
		uint32_t work;

		work = drain_records(c, &b, us / 1000);
		work += drain_sched(c);
		/*
		 * Due tasks only once the lcores take our records: a task held
		 * from the last run and overdue would otherwise run before we are
		 * attached, its result dropped.
		 */
		if (__atomic_load_n(&c->sh->control_pid, __ATOMIC_RELAXED) == c->self)
			work += ctl_sched_advance(c->sched, now_us());
		work += ctl_beat_tick(c->beat, us / 1000);
		/* nothing held: no timer needs the short period */
		quiet = work == 0 && ctl_sched_count(c->sched) == 0 ? quiet + 1 : 0;
		if (c->events != NULL) {
			bool on = ctl_events_wanted(c->events, us / 1000);

			__atomic_store_n(&c->sh->events_enabled, on, __ATOMIC_RELAXED);
			work += ctl_consumer_events_poll(&c->consumers, c->events, on);
			if (on && us / 1000 >= next_beat) {
				heartbeats(c);
				ctl_consumer_events_heartbeats(&c->consumers, c->events);
				next_beat = us / 1000 + HEARTBEAT_MS;
			}
		}
		if (c->store != NULL && us / 1000 >= next_expire) {
			uint32_t gone = tw_store_expire(c->store, us / 1000, EXPIRE_MAX);

			__atomic_fetch_add(&c->expired, gone, __ATOMIC_RELAXED);
			/* the store syncs itself on busy writes; this covers a quiet second */
			tw_store_sync(c->store);
			next_expire = us / 1000 + EXPIRE_EVERY_MS;
		}
		if (last)
			break;
		/*
		 * Each wake-up costs the CPU the data plane's clients share (15 us
		 * here: 8% at 5,000 a second). Quiet for CTL_COLLECT_QUIET_PASSES,
		 * the period stretches: a records ring holds far more than one
		 * long period's results, and periodic schedules count in ms.
		 */
		usleep(quiet < CTL_COLLECT_QUIET_PASSES ? CTL_COLLECT_PERIOD_US : CTL_COLLECT_QUIET_US);
	}
	return NULL;
}

int
ctl_collect_start(struct ctl_collect *c, struct tw_shared *sh, struct tw_store *store,
		  struct ctl_sched *sched, struct ctl_beat *beat, struct ctl_events *events,
		  uint64_t expires_max_s)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->expires_max_s = expires_max_s;
	c->sh = sh;
	c->store = store;
	c->sched = sched;
	c->beat = beat;
	c->events = events;
	c->self = getpid();
	ret = pthread_create(&c->thread, NULL, collect_main, c);
	if (ret != 0)
		return -ret;
	pthread_setname_np(c->thread, "tw-collect");
	c->running = true;
	return 0;
}

void
ctl_collect_stop(struct ctl_collect *c)
{
	if (!c->running)
		return;
	c->stop = true;
	pthread_join(c->thread, NULL);
	c->running = false;
}
