/*
 * Inside the journal: the writer's state, shared by the writer
 * (tw_journal.c) and recovery (tw_journal_recover.c). Main thread and
 * writer thread only; never a polling lcore.
 */
#ifndef TW_JOURNAL_PRIV_H
#define TW_JOURNAL_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tw_journal.h"
#include "tw_journal_shm.h"

/* Where a live TASK record is: jid -> segment (open addressing, linear probing). */
struct tw_jmap_slot {
	uint64_t jid;      /* 0: empty */
	uint64_t segno;
};

struct tw_jmap {
	struct tw_jmap_slot *v;
	uint64_t mask;     /* capacity - 1 (power of two) */
	uint64_t n;
};

/*
 * One segment file and the TASK (and GROUP) records in it not finished
 * yet; groups: of those, open groups. A group's member records come after
 * its GROUP record, in this segment or later ones: no segment from the
 * first holding an open group on is removed.
 */
struct tw_jseg {
	uint64_t segno;
	uint64_t live;
	uint64_t groups;
};

struct tw_journal {
	struct tw_journal_shm *js;
	int dir_fd;
	int lock_fd;
	int fd;                    /* current segment, -1: none */
	uint64_t segno;            /* current segment */
	uint64_t seg_off;          /* bytes of it on disk (header included) */
	bool seg_uncut;            /* a failed batch could not be cut from it: no more records there */
	uint64_t epoch;            /* this run's jid epoch */
	uint32_t n_lanes;
	struct tw_journal_lcore *lane[TW_MAX_LCORES]; /* by qsbr id, NULL: not a polling lcore */
	uint8_t *buf;              /* one batch */
	size_t buf_cap;
	/* records dequeued that did not fit the batch (large ones): the next
	 * batch takes them first; all from one lane, in its order */
	struct rte_mbuf *carry[64];
	uint32_t carry_pos, n_carry, carry_lane;
	uint64_t batch_bytes;      /* --journal-batch-kb */
	uint64_t commit_us;        /* --journal-commit-us */
	uint64_t seg_bytes;        /* --journal-segment-mb */
	struct tw_jmap map;
	/* the highest seq of each lane's TASK records taken (this run): a
	 * DELIVERED copy of a jid not mapped and above it came before its TASK */
	uint64_t taken[TW_MAX_LCORES];
	/* DELIVERED copies in the batch that moved a jid to the current segment
	 * (from: its segment before, 0: none), undone if the batch fails */
	struct tw_jmove {
		uint64_t jid, from;
	} *moves;
	uint32_t n_moves, cap_moves;
	/* jids of durable tasks tw-control dropped (purge, delete): a DONE each */
	struct rte_ring *dropped;
	/* DONE records whose TASK record (this run, another lane) is not taken
	 * yet: written once it is (handed: from the dropped ring) */
	struct tw_jpending {
		uint64_t jid;
		bool handed;
		uint8_t flags;     /* the DONE's (TW_JREC_F_GROUP) */
	} *pending;
	uint32_t n_pending, cap_pending;
	struct rte_ring *recovered; /* recovered tasks until an io lcore queues them, NULL: none */
	struct tw_jresume *resume;  /* recovered groups an io lcore finishes (tw_journal_lcore.resume) */
	uint32_t n_resume;
	struct tw_jseg *segs;      /* ascending segno; the last is the current one */
	uint32_t n_segs, cap_segs;
	pthread_t thread;
	bool running;
	volatile bool stop;
};

/* jid map: 0 if it was not there (put: -ENOMEM if it cannot grow). */
int tw_jmap_put(struct tw_jmap *m, uint64_t jid, uint64_t segno);
bool tw_jmap_take(struct tw_jmap *m, uint64_t jid, uint64_t *segno);
bool tw_jmap_get(const struct tw_jmap *m, uint64_t jid, uint64_t *segno);
void tw_jmap_free(struct tw_jmap *m);

/* segment table */
struct tw_jseg *tw_jseg_find(struct tw_journal *j, uint64_t segno);
int tw_jseg_add(struct tw_journal *j, uint64_t segno, uint64_t live);
/* jid (a GROUP record's) is no longer outstanding in segment segno */
void tw_jseg_group_ended(struct tw_journal *j, uint64_t segno);
void tw_jseg_name(char *buf, size_t len, uint64_t segno);
/* a new empty segment (header written and synced), made current. @return 0 or -errno */
int tw_jseg_open_next(struct tw_journal *j, uint64_t segno);

/**
 * Read the data directory's segments, cut a torn tail, put the
 * outstanding durable tasks back into their queues, and leave exactly one
 * segment (the compacted outstanding records) open as the current one.
 * Sets j->epoch. @return 0, or -1 with the reason logged.
 */
int tw_journal_recover(struct tw_journal *j, struct tw_engine *e);

#endif
