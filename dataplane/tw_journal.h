/*
 * The journal of durable queues (tw-dataplane --data-dir).
 *
 * Polling lcores never touch the disk: a task routed to a durable queue
 * becomes a record copied into an mbuf and handed, through the lcore's
 * own single-producer ring, to the writer thread (a control thread, not a
 * polling lcore). The writer appends the records of every ring to the
 * current segment and syncs them in groups (fdatasync, one per batch:
 * a batch closes when it holds --journal-batch-kb or --journal-commit-us
 * passed since its first record), then publishes each lcore's durable
 * watermark (tw_journal_shm.h). The io lcore holds the task's ACK in a
 * FIFO until the watermark passes its record; a record lost to a failed
 * write turns its ACK into NACK no-resources. When a durable task ends
 * (result, ack, expiry, dead-letter, drop) a DONE record follows, and a
 * segment whose tasks all ended is removed. A delivery to a remote
 * consumer writes a copy with its count (DELIVERED).
 *
 * Non-durable queues pay nothing: one predictable branch on the queue's
 * flag when a task is routed, one on the descriptor's jid when it ends.
 *
 * Threads: tw_journal_task/delivered/done/hold/release on the polling lcore that
 * owns the tw_journal_lcore; the rest on the main thread at start/stop.
 */
#ifndef TW_JOURNAL_H
#define TW_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_journal_format.h"
#include "tw_lcore.h"
#include "tw_routes.h"
#include "tw_task.h"

/* confirms one io lcore may hold for the disk at once (power of two) */
#define TW_JOURNAL_HELD 16384u
/* records on their way from one lcore to the writer */
#define TW_JOURNAL_RING 16384u
/* group ends one lcore may hold back until its made steps are routed */
#define TW_JOURNAL_GDONE 256u

/* A recovered group the io lcore finishes or completes (tw_workflow_group_resume). */
struct tw_jresume {
	uint64_t group_id;
	uint8_t *emit;      /* member bits to emit again (NULL: none; complete it if all done) */
};

struct tw_dedup_entry;

struct tw_held_confirm {
	uint64_t seq_lo;    /* the task's first record (several durable queues: several) */
	uint64_t seq;       /* its last: the confirm waits for the watermark to pass it */
	uint64_t task_id;
	struct tw_dedup_entry *dd; /* its duplicate-table entry, forgotten if it is NACKed */
	uint32_t dd_gen;
	uint8_t failed;     /* one of its records was lost to a failed write: NACK */
	struct tw_peer peer;
};

/* One polling lcore's side of the journal; written by that lcore only. */
struct tw_journal_lcore {
	struct rte_ring *ring;          /* to the writer (SP/SC) */
	const uint64_t *synced;         /* &shared->journal.synced[lcore] */
	const uint64_t *failed_lo;      /* last failed range of this lcore's seqs */
	const uint64_t *failed_hi;
	const uint32_t *failing;        /* &shared->journal.failing */
	/*
	 * The failed range this lcore applied to its held confirms (release):
	 * the writer takes no more of this lcore's records until it is, so a
	 * later success can never publish a watermark past a range the lcore
	 * did not see.
	 */
	uint64_t fail_seen;
	uint64_t jid_base;              /* epoch and lcore bits */
	uint64_t seq;                   /* last seq handed to the writer */
	/*
	 * Tasks recovered at start, in journal order, until they go back into
	 * their queues: once tw-control is attached (their results must reach
	 * its store) or at recovered_deadline. NULL when none are left.
	 */
	struct rte_ring *recovered;
	struct tw_task *recovered_next; /* taken from the ring, its queue was full */
	uint64_t recovered_deadline;    /* tsc */
	uint64_t recovered_queued;
	/*
	 * Groups rebuilt at start that need this lcore once tw-control is
	 * attached (as recovered tasks): all members done but the callback
	 * not routed (it is made now), or members lost before their records
	 * were written (emitted again). NULL: none (any more).
	 */
	struct tw_jresume *resume;
	uint32_t n_resume;
	/*
	 * Ends of groups (DONE of their GROUP record) held until the steps
	 * they made are routed (the lcore's stash empty): a chord's callback
	 * is journaled before its group's end, never after.
	 */
	uint32_t n_gdone;
	struct tw_jgdone {
		uint64_t jid, group_id;
	} gdone[TW_JOURNAL_GDONE];
	uint32_t head, tail;            /* held[] FIFO: tail - head entries */
	struct tw_held_confirm held[TW_JOURNAL_HELD];
};

struct tw_journal;
struct tw_config;
struct tw_engine;

/**
 * Open the data directory (created if missing), recover what the journal
 * holds (tw_journal_recover.c) and start the writer. Called after the
 * definitions are in place and before the lcores launch.
 * @return 0, or -1 with a message logged (the engine must not start).
 */
int tw_journal_start(struct tw_engine *e);

/** Per-lcore state for plan entry qsbr_id (NULL if no journal). */
struct tw_journal_lcore *tw_journal_lcore_get(struct tw_engine *e, uint32_t qsbr_id);

/** Stop the writer after the lcores stopped: everything handed is written and synced. */
void tw_journal_stop(struct tw_engine *e);

/**
 * A record for t, routed to durable queue q, to the writer.
 * @return the record's seq (> 0), or 0 if it cannot be journaled now (no
 *   journal, journal failing, held FIFO or ring full, no mbuf): the caller
 *   NACKs no-resources.
 */
uint64_t tw_journal_task(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q,
			 struct tw_task *t);

/** Slow path of tw_journal_delivered(). */
void tw_journal_delivered_slow(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q,
			       const struct tw_task *t);

/**
 * t (a durable task, in queue q) is handed to a remote consumer: a
 * DELIVERED record (a copy of its TASK record, counting this delivery),
 * so that a crash before its ack brings it back with delivery_count + 1.
 * Not waited for: a crash within a group commit of the delivery, or a
 * record that cannot be handed (counted), brings it back with the count
 * it had. Free for other tasks.
 */
static inline void
tw_journal_delivered(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q,
		     const struct tw_task *t)
{
	if (unlikely(t->jid != 0))
		tw_journal_delivered_slow(ctx, q, t);
}

/** Slow path of tw_journal_done(). */
void tw_journal_done_slow(struct tw_lcore_ctx *ctx, struct tw_task *t);

/** t (a durable task) ends: a DONE record. Free for other tasks. */
static inline void
tw_journal_done(struct tw_lcore_ctx *ctx, struct tw_task *t)
{
	if (unlikely(t->jid != 0))
		tw_journal_done_slow(ctx, t);
}

struct tw_wf_group;

/**
 * Group g opens with inline members on a durable queue: a GROUP record
 * (its node, publisher, key, cell, expiry) to the writer; g->jid set.
 * @return the record's seq (the publisher's confirm is held for it), or 0
 *   if it cannot be journaled now (as tw_journal_task): NACK no-resources.
 */
uint64_t tw_journal_group(struct tw_lcore_ctx *ctx, struct tw_wf_group *g);

/** Member idx of the journaled group g succeeded with value: a GROUP_MEMBER record. */
void tw_journal_group_member(struct tw_lcore_ctx *ctx, const struct tw_wf_group *g, uint32_t idx,
			     const uint8_t *value, uint32_t len);

/**
 * The journaled group (GROUP record jid) finished: its DONE goes to the
 * writer once the steps this lcore made before are routed.
 */
void tw_journal_group_done(struct tw_lcore_ctx *ctx, uint64_t jid, uint64_t group_id);

/**
 * Hold the ACK of task_id until this lcore's records seq_lo..seq are on
 * disk (NACK no-resources if one of them is lost); dd/dd_gen: its entry in
 * the duplicate table (NULL: none), forgotten if the confirm is a NACK so
 * that a retransmit is routed again.
 */
void tw_journal_hold(struct tw_lcore_ctx *ctx, uint64_t seq_lo, uint64_t seq, uint64_t task_id,
		     const struct tw_peer *peer, struct tw_dedup_entry *dd, uint32_t dd_gen);

/**
 * A retransmit of a durable task already routed with record seq: its
 * ACK must not come before the record is on disk.
 * @return true if the confirm is taken care of (held until the record is
 *   synced, a NACK sent because it was lost, or nothing: no room to hold
 *   it, the publisher retransmits again); false: the record is on disk,
 *   ACK now.
 */
bool tw_journal_hold_duplicate(struct tw_lcore_ctx *ctx, uint64_t seq, uint64_t task_id,
			       const struct tw_peer *peer);

/**
 * Send the held confirms whose records the writer synced (or lost), and
 * put recovered tasks back into their queues when it is time.
 * @return confirms sent and tasks queued.
 */
uint32_t tw_journal_release_slow(struct tw_lcore_ctx *ctx, const struct tw_routes *rt);

static inline uint32_t
tw_journal_release(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct tw_journal_lcore *jl = ctx->journal;

	if (likely(jl == NULL))
		return 0;
	/* relaxed: a new failed range is seen a pass later at worst */
	if (jl->head == jl->tail && jl->recovered == NULL && jl->n_gdone == 0 && jl->resume == NULL &&
	    __atomic_load_n(jl->failed_hi, __ATOMIC_RELAXED) == jl->fail_seen)
		return 0;
	return tw_journal_release_slow(ctx, rt);
}

#endif
