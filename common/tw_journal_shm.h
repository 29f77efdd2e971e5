/*
 * The journal's part of the shared-memory contract (tw_shared.journal):
 * what tw-dataplane's journal writer publishes to the polling lcores and
 * to tw-control.
 *
 * Who writes what:
 *  - tw-dataplane sets enabled and data_dir before launch.
 *  - the writer thread (not a polling lcore) stores synced[l] and
 *    the last failed range failed_lo[l]..failed_hi[l] with release order
 *    after each group commit, and the counters relaxed; failing while its
 *    last write or sync failed.
 *  - lcore l reads them with acquire order: a record of its own with seq
 *    in the failed range never reaches the disk (its held confirm goes out
 *    as NACK), else one with seq <= synced[l] is on disk (ACK). The writer
 *    takes no record of lcore l after a failed range until l applied it
 *    (its lane's fail_seen, in the engine's own memory), so no success
 *    is published past a range l did not see.
 * Seqs are per lcore, from 1, and never reused within a run.
 */
#ifndef TW_JOURNAL_SHM_H
#define TW_JOURNAL_SHM_H

#include <stdint.h>

#include "tw_limits.h"

#define TW_DATA_DIR_MAX 256

/*
 * Durable tasks tw-control drops (queue purge, delete): their jids, to
 * the writer (MP/SC ring, a jid as the pointer's value), so that they end
 * in the journal as if run (a DONE record each) and a crash does not
 * bring them back. tw-control counts what it handed (done_handed); the
 * writer counts what it synced or had nothing to write for (done_synced)
 * and what a failed write lost (done_failed): a purge answers once the
 * writer caught up.
 */
#define TW_JOURNAL_DONE_RING "tw_jdropped"
#define TW_JOURNAL_DONE_RING_SIZE 65536u

/* Writer and recovery figures, shown by `twctl status` as journal_*. */
#define TW_JOURNAL_COUNTERS(X)                                                         \
	X(records, "records written (tasks, completions)")                             \
	X(bytes, "bytes written")                                                      \
	X(syncs, "group commits (fdatasync)")                                          \
	X(sync_us_max, "longest fdatasync, us")                                        \
	X(sync_us_last, "last fdatasync, us")                                          \
	X(write_errors, "writes or syncs that failed (disk full, I/O error)")          \
	X(records_failed, "records lost with a failed write (their tasks NACKed)")     \
	X(delivered, "deliveries to remote consumers written (a crash brings the task back with delivery_count + 1)") \
	X(outstanding, "durable tasks journaled and not finished")                     \
	X(segments, "segment files in the data directory")                             \
	X(segments_removed, "segments removed: nothing outstanding left in them")      \
	X(dropped, "durable tasks purged or deleted with their queue, ended in the journal") \
	X(recovered, "durable tasks recovered at start")                               \
	X(recovered_queued, "recovered tasks back in their queues (once tw-control attached)") \
	X(recovered_completed, "journaled tasks found finished at start")              \
	X(recovery_unplaced, "recovered tasks whose queue was missing or full, groups over the group limits")        \
	X(groups_recovered, "open groups and chords rebuilt at start, with the members done before") \
	X(groups_resumed, "recovered groups finished or given their lost members at start") \
	X(torn_cut, "torn or corrupt tail records cut at start")                       \
	X(torn_bytes, "bytes cut from the tail at start")

enum tw_journal_counter {
#define TW_JC_ENUM(n, h) TW_JC_##n,
	TW_JOURNAL_COUNTERS(TW_JC_ENUM)
#undef TW_JC_ENUM
	TW_JC__MAX
};

struct tw_journal_shm {
	uint32_t enabled;               /* tw-dataplane --data-dir: durable queues allowed */
	uint32_t failing;               /* last write or sync failed: new durable tasks NACKed */
	char data_dir[TW_DATA_DIR_MAX];
	uint64_t synced[TW_MAX_LCORES]; /* per polling lcore: its records up to this seq are on disk */
	uint64_t failed_lo[TW_MAX_LCORES]; /* per polling lcore: the last range of its seqs lost */
	uint64_t failed_hi[TW_MAX_LCORES]; /* to a failed write (0: none) */
	uint64_t done_handed;           /* tw-control only: dropped jids handed to the writer */
	uint64_t done_synced;           /* writer only: of those, on disk (or nothing to write) */
	uint64_t done_failed;           /* writer only: of those, lost to a failed write */
	uint64_t c[TW_JC__MAX];
};

static inline const char *
tw_journal_counter_name(unsigned i)
{
	static const char *const names[TW_JC__MAX] = {
#define TW_JC_NAME(n, h) "journal_" #n,
		TW_JOURNAL_COUNTERS(TW_JC_NAME)
#undef TW_JC_NAME
	};
	return i < TW_JC__MAX ? names[i] : "?";
}

#endif
