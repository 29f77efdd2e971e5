/*
 * tw-control's scheduler: tasks that are not due yet (eta, countdown,
 * retries with a delay), held in a hierarchical timing wheel (tw_wheel.h)
 * and injected back into the data plane when due.
 *
 * A held task keeps its Task message (re-encoded with eta cleared and the
 * retry count it has now) and its publisher's address, so the injected
 * frame reaches the worker as the original did and the result goes back
 * to the publisher.
 *
 * Threads: tw-control's collector thread takes and fires tasks; request
 * handlers (revoke, list) call in from the main thread; `lock` serialises
 * them. No data-plane lcore ever waits on it.
 */
#ifndef CTL_SCHED_H
#define CTL_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tw_idmap.h"
#include "tw_inject.h"
#include "tw_shared.h"

struct tw_task;
struct tw_wheel;

#define CTL_SCHED_TICK_US 250

/* Default caps on held tasks (about 1.3 kB each with a small payload). */
#define CTL_SCHED_MAX_DEFAULT 1000000u
#define CTL_SCHED_MAX_PER_PUBLISHER_DEFAULT 100000u

struct ctl_sched {
	pthread_mutex_t lock;
	struct tw_shared *sh;
	struct tw_wheel *wheel;
	struct tw_idmap held;       /* id -> struct ctl_held */
	/*
	 * Caps, set before the collector starts. At the total (max) or at a
	 * publisher's own (max_per_publisher, by source address), tw_shared's
	 * admission fields make the lcores NACK delayed tasks no-resources;
	 * tasks already in the hand-off rings are still held (they were
	 * confirmed) and counted in over_cap.
	 */
	uint64_t max, max_per_publisher;
	uint64_t n_held;             /* in the wheel, ids reused included */
	struct tw_idmap pubs;       /* (ip | 1 << 32) -> held count, as a pointer-sized int */
	uint64_t over_cap;           /* held although past a cap */
	uint64_t publishers_at_cap;  /* listed in tw_shared.sched_over_ip now */
	uint64_t restored;           /* taken back from the store at start */
	uint32_t next_io;            /* round robin over io lcores' inject rings */
	/* totals, under lock */
	uint64_t taken, injected, inject_retries, dropped_nomem;
	/* lateness of injections (inject time - due), us: a log2 histogram */
	uint64_t late_hist[32];
};

/* One task as `twctl list tasks` shows it. */
struct ctl_sched_entry {
	uint64_t id;
	uint64_t due_ms;
	uint32_t retries;
	char name[TW_NAME_MAX];
};

/** @return 0 or -ENOMEM. */
int ctl_sched_init(struct ctl_sched *s, struct tw_shared *sh);
void ctl_sched_fini(struct ctl_sched *s);

/**
 * Hold a descriptor the data plane handed over (tw_shared.sched rings).
 * Ownership: takes t; it is released to the task pool here.
 * Threads: collector.
 */
void ctl_sched_take(struct ctl_sched *s, struct tw_task *t);

/** Inject every task due by now (unix us); bounded per call. @return injected. */
uint32_t ctl_sched_advance(struct ctl_sched *s, uint64_t now_us);

/**
 * Make a held task due now (revoke: the worker then reports REVOKED to its
 * publisher). @return true if id was held.
 */
bool ctl_sched_expedite(struct ctl_sched *s, uint64_t id);

/** @return true if id is held; its entry is copied to *out when out is not NULL. */
bool ctl_sched_find(struct ctl_sched *s, uint64_t id, struct ctl_sched_entry *out);

/** Copy up to max held tasks (earliest first is not promised). @return count. */
uint32_t ctl_sched_list(struct ctl_sched *s, struct ctl_sched_entry *out, uint32_t max);

uint64_t ctl_sched_count(struct ctl_sched *s);

struct tw_store;

/**
 * Keep every held task in the store (replacing what was kept), for the
 * next tw-control to run when due: on a graceful stop, after the collector
 * has stopped (nothing is taken or fired any more). A task whose id another
 * held task also uses (a publisher reused it) is kept once.
 * @return tasks kept, or -errno. Threads: main, collector stopped.
 */
int64_t ctl_sched_save(struct ctl_sched *s, struct tw_store *st);

/**
 * Hold again what the last stop kept (and remove it from the store):
 * before the collector starts. Tasks already due fire at once; caps are
 * counted but do not refuse them (they were confirmed).
 * @return tasks restored, or -errno. Threads: main, collector not started.
 */
int64_t ctl_sched_restore(struct ctl_sched *s, struct tw_store *st);

/** Held tasks, the caps' state and over_cap, read together under the lock. */
struct ctl_sched_caps {
	uint64_t held, max, max_per_publisher, full, publishers_at_cap, over_cap;
};
void ctl_sched_caps(struct ctl_sched *s, struct ctl_sched_caps *out);

/**
 * Inject one Task message (already encoded, eta 0) now, from peer (port 0:
 * no publisher; results go to the store only). Threads: collector.
 * @return true if an io lcore's ring took it.
 */
bool ctl_sched_inject(struct ctl_sched *s, const uint8_t *task, uint32_t len,
		      const struct tw_inject_peer *peer);

/** Lateness percentile (0..100) in us, from the histogram (upper bucket bound). */
uint64_t ctl_sched_lateness_us(struct ctl_sched *s, double pct);

#endif
