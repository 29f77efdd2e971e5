/*
 * Periodic schedules (Celery beat): a named entry publishes one task
 * every DURATION or at each minute a cron expression matches (UTC).
 * Entries live in the result store's database, so they survive a restart
 * of tw-control, together with the time of their last run.
 *
 * Once per tick: the last-run time is written to the database before the
 * task is injected, so a crash between the two loses that tick's run
 * rather than repeating it, and a tick is never run twice.
 *
 * Missed ticks (tw-control was down): the entry runs once as soon as it
 * is loaded, then resumes on its schedule; missed ticks are not replayed
 * one by one (as celery beat does).
 *
 * Threads: the collector thread ticks; control requests (add, remove,
 * list) come from the main thread; `lock` serialises them.
 */
#ifndef CTL_BEAT_H
#define CTL_BEAT_H

#include <pthread.h>
#include <stdint.h>

#include "tw_cron.h"
#include "tw_limits.h"

#define CTL_BEAT_MAX 1024          /* schedules */
#define CTL_BEAT_ARGS_MAX 1024     /* args bytes of a scheduled task */

struct ctl_sched;
struct tw_store;

struct ctl_beat_entry {
	char name[TW_NAME_MAX];
	uint64_t every_ms;         /* 0: cron */
	char cron_text[TW_CRON_MAX_LEN + 1];
	struct tw_cron cron;
	char exchange[TW_NAME_MAX], routing_key[TW_NAME_MAX], task[TW_NAME_MAX];
	uint8_t args[CTL_BEAT_ARGS_MAX];
	uint32_t args_len;
	uint64_t last_run_ms;      /* the tick last run (unix ms), 0: never */
	uint64_t next_run_ms;
	uint64_t runs;             /* since tw-control started */
	uint64_t last_task_id;
};

struct ctl_beat {
	pthread_mutex_t lock;
	struct tw_store *store;    /* NULL: schedules are refused (no store to keep them) */
	struct ctl_sched *sched;
	struct ctl_beat_entry *entries;
	uint32_t n;
	uint64_t next_id;          /* task ids of scheduled runs */
	uint64_t persist_errors, inject_failures;
};

/** Load the stored schedules. @return 0 or -errno. */
int ctl_beat_init(struct ctl_beat *b, struct tw_store *store, struct ctl_sched *sched);
void ctl_beat_fini(struct ctl_beat *b);

/**
 * Add a schedule (exactly one of every_ms / cron). @return 0, or -EINVAL
 * / -EEXIST / -ENOSPC / -ENOTSUP with a message in err.
 */
int ctl_beat_add(struct ctl_beat *b, const struct ctl_beat_entry *spec, const char *cron,
		 char *err, size_t errlen);
/** @return 0 or -ENOENT. */
int ctl_beat_remove(struct ctl_beat *b, const char *name);

/** Copy up to max entries. @return count. */
uint32_t ctl_beat_list(struct ctl_beat *b, struct ctl_beat_entry *out, uint32_t max);

/** Run what is due at now_ms. Threads: collector. @return tasks injected. */
uint32_t ctl_beat_tick(struct ctl_beat *b, uint64_t now_ms);

#endif
