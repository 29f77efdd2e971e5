/*
 * Periodic schedules (see ctl_beat.h). Entries are stored as JSON blobs
 * (name is the key) so `twctl definitions`-style inspection of the
 * database stays readable; a blob that no longer parses is skipped and
 * reported at start, never fatal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ctl_beat.h"
#include "ctl_sched.h"
#include "ctl_store.h"
#include "taskwire.pb-c.h"

static uint64_t
unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The first run at or after `after` (unix ms), cron in whole minutes. */
static uint64_t
next_after(const struct ctl_beat_entry *e, uint64_t after_ms)
{
	int64_t t;

	if (e->every_ms != 0)
		return after_ms + e->every_ms;
	t = tw_cron_next(&e->cron, (int64_t)(after_ms / 1000));
	return t < 0 ? UINT64_MAX : (uint64_t)t * 1000;
}

/*
 * When a loaded entry runs next: if a tick passed while tw-control was
 * down, once now (missed ticks coalesce); else at its next tick.
 */
static void
arm(struct ctl_beat_entry *e, uint64_t now_ms)
{
	if (e->last_run_ms == 0) {
		e->next_run_ms = e->every_ms != 0 ? now_ms + e->every_ms : next_after(e, now_ms);
		return;
	}
	e->next_run_ms = next_after(e, e->last_run_ms);
	if (e->next_run_ms < now_ms)
		e->next_run_ms = now_ms;
}

static int
persist(struct ctl_beat *b, const struct ctl_beat_entry *e)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s%, s:I}", "every_ms",
			      (json_int_t)e->every_ms, "cron", e->cron_text, "exchange", e->exchange,
			      "routing_key", e->routing_key, "task", e->task, "args",
			      (const char *)e->args, (size_t)e->args_len, "last_run_ms",
			      (json_int_t)e->last_run_ms);
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	int ret = text != NULL ? tw_store_schedule_put(b->store, e->name, text,
						       (uint32_t)strlen(text))
			       : -ENOMEM;

	free(text);
	json_decref(j);
	return ret;
}

static int
load_one(void *arg, const char *name, const void *blob, uint32_t len)
{
	struct ctl_beat *b = arg;
	struct ctl_beat_entry *e;
	json_error_t jerr;
	json_t *j = json_loadb(blob, len, 0, &jerr);
	json_int_t every = 0, last = 0;
	const char *cron = "", *ex = "", *key = "", *task = "", *args = "";
	size_t args_len = 0;
	char err[128];

	if (b->n == CTL_BEAT_MAX || j == NULL ||
	    json_unpack(j, "{s:I, s:s, s:s, s:s, s:s, s:s%, s:I}", "every_ms", &every, "cron", &cron,
			"exchange", &ex, "routing_key", &key, "task", &task, "args", &args,
			&args_len, "last_run_ms", &last) != 0 ||
	    args_len > CTL_BEAT_ARGS_MAX) {
		fprintf(stderr, "tw-control: schedule '%s' in the store does not load; skipped\n",
			name);
		json_decref(j);
		return 0;
	}
	e = &b->entries[b->n];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->every_ms = (uint64_t)every;
	snprintf(e->cron_text, sizeof(e->cron_text), "%s", cron);
	snprintf(e->exchange, sizeof(e->exchange), "%s", ex);
	snprintf(e->routing_key, sizeof(e->routing_key), "%s", key);
	snprintf(e->task, sizeof(e->task), "%s", task);
	memcpy(e->args, args, args_len);
	e->args_len = (uint32_t)args_len;
	e->last_run_ms = (uint64_t)last;
	json_decref(j);
	if (e->every_ms == 0 && tw_cron_parse(e->cron_text, &e->cron, err, sizeof(err)) != 0) {
		fprintf(stderr, "tw-control: schedule '%s': %s; skipped\n", name, err);
		return 0;
	}
	arm(e, unix_ms());
	b->n++;
	return 0;
}

int
ctl_beat_init(struct ctl_beat *b, struct tw_store *store, struct ctl_sched *sched)
{
	int ret = 0;

	memset(b, 0, sizeof(*b));
	b->store = store;
	b->sched = sched;
	b->entries = calloc(CTL_BEAT_MAX, sizeof(*b->entries));
	if (b->entries == NULL)
		return -ENOMEM;
	/* ids of scheduled runs: time-based high bits, so restarts do not repeat them */
	b->next_id = (unix_ms() << 16) | 1;
	pthread_mutex_init(&b->lock, NULL);
	if (store != NULL)
		ret = tw_store_schedule_each(store, load_one, b);
	return ret < 0 ? ret : 0;
}

void
ctl_beat_fini(struct ctl_beat *b)
{
	if (b->entries == NULL)
		return;
	free(b->entries);
	b->entries = NULL;
	pthread_mutex_destroy(&b->lock);
}

static int
find(const struct ctl_beat *b, const char *name)
{
	for (uint32_t i = 0; i < b->n; i++)
		if (strcmp(b->entries[i].name, name) == 0)
			return (int)i;
	return -1;
}

int
ctl_beat_add(struct ctl_beat *b, const struct ctl_beat_entry *spec, const char *cron, char *err,
	     size_t errlen)
{
	struct ctl_beat_entry e = *spec;
	int ret;

	if (b->store == NULL) {
		snprintf(err, errlen, "schedules are kept in the result store, which is off");
		return -ENOTSUP;
	}
	if (e.name[0] == '\0' || e.task[0] == '\0') {
		snprintf(err, errlen, "a schedule needs a name and a task");
		return -EINVAL;
	}
	if ((e.every_ms != 0) == (cron != NULL && cron[0] != '\0')) {
		snprintf(err, errlen, "give exactly one of --every and --cron");
		return -EINVAL;
	}
	if (e.every_ms != 0 && e.every_ms < 10) {
		snprintf(err, errlen, "--every: at least 10ms");
		return -EINVAL;
	}
	if (e.every_ms == 0) {
		char why[160];

		if (tw_cron_parse(cron, &e.cron, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "cron expression '%s': %s", cron, why);
			return -EINVAL;
		}
		snprintf(e.cron_text, sizeof(e.cron_text), "%s", cron);
		if (next_after(&e, unix_ms()) == UINT64_MAX) {
			snprintf(err, errlen, "cron expression '%s' never matches", cron);
			return -EINVAL;
		}
	}
	e.last_run_ms = 0;
	e.runs = 0;
	pthread_mutex_lock(&b->lock);
	if (find(b, e.name) >= 0) {
		pthread_mutex_unlock(&b->lock);
		snprintf(err, errlen, "schedule '%s' exists (remove it first)", e.name);
		return -EEXIST;
	}
	if (b->n == CTL_BEAT_MAX) {
		pthread_mutex_unlock(&b->lock);
		snprintf(err, errlen, "at most %d schedules", CTL_BEAT_MAX);
		return -ENOSPC;
	}
	ret = persist(b, &e);
	if (ret == 0) {
		arm(&e, unix_ms());
		b->entries[b->n++] = e;
	} else {
		snprintf(err, errlen, "cannot store schedule '%s': %s", e.name, strerror(-ret));
	}
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int
ctl_beat_remove(struct ctl_beat *b, const char *name)
{
	int i, ret = -ENOENT;

	pthread_mutex_lock(&b->lock);
	i = find(b, name);
	if (i >= 0) {
		ret = b->store != NULL ? tw_store_schedule_del(b->store, name) : 0;
		if (ret == 0 || ret == -ENOENT) {
			b->entries[i] = b->entries[--b->n];
			ret = 0;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return ret;
}

uint32_t
ctl_beat_list(struct ctl_beat *b, struct ctl_beat_entry *out, uint32_t max)
{
	uint32_t n;

	pthread_mutex_lock(&b->lock);
	n = b->n < max ? b->n : max;
	memcpy(out, b->entries, sizeof(*out) * n);
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* Encode the run's task and inject it (no publisher: results go to the store). */
static bool
run(struct ctl_beat *b, struct ctl_beat_entry *e)
{
	Taskwire__Task t = TASKWIRE__TASK__INIT;
	struct tw_inject_peer none = { .port = 0 };
	uint8_t buf[CTL_BEAT_ARGS_MAX + 3 * TW_NAME_MAX + 64];
	size_t len;

	t.id = b->next_id++;
	t.name = e->task;
	t.exchange = e->exchange;
	t.routing_key = e->routing_key;
	t.args.data = e->args;
	t.args.len = e->args_len;
	len = taskwire__task__pack(&t, buf);
	if (!ctl_sched_inject(b->sched, buf, (uint32_t)len, &none))
		return false;
	e->last_task_id = t.id;
	return true;
}

uint32_t
ctl_beat_tick(struct ctl_beat *b, uint64_t now_ms)
{
	uint32_t fired = 0;

	pthread_mutex_lock(&b->lock);
	for (uint32_t i = 0; i < b->n; i++) {
		struct ctl_beat_entry *e = &b->entries[i];
		uint64_t tick = e->next_run_ms;

		if (tick > now_ms)
			continue;
		/* the tick is recorded before the run: never twice for one tick */
		e->last_run_ms = tick;
		if (persist(b, e) != 0) {
			b->persist_errors++;
			continue; /* not recorded, not run: tried again next pass */
		}
		if (run(b, e)) {
			e->runs++;
			fired++;
		} else {
			b->inject_failures++;
		}
		/* next tick strictly after now: ticks missed while busy coalesce */
		e->next_run_ms = next_after(e, tick);
		if (e->next_run_ms <= now_ms)
			e->next_run_ms = next_after(e, now_ms);
	}
	pthread_mutex_unlock(&b->lock);
	return fired;
}
