/*
 * Durable tasks the broker drops (queue purge, delete) end in the engine's
 * journal: see tw_broker_journal.h.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#include "tw_broker_journal.h"
#include "tw_broker_priv.h"
#include "tw_journal_shm.h"

/* how long a drop waits for room in the ring, and a purge for the writer */
#define WAIT_MS 3000

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
tw_broker_journal_drop(struct tw_broker *b, uint64_t jid)
{
	struct tw_journal_shm *js = &b->sh->journal;
	struct rte_ring *r = rte_ring_lookup(TW_JOURNAL_DONE_RING);
	uint64_t until = 0;

	if (r == NULL) {
		/* an engine without a journal holds no durable task */
		b->journal_drops_lost++;
		return;
	}
	while (rte_ring_mp_enqueue(r, (void *)(uintptr_t)jid) != 0) {
		if (until == 0)
			until = now_ms() + WAIT_MS;
		if (now_ms() >= until) {
			/* the writer is stuck: the task comes back after a crash */
			b->journal_drops_lost++;
			return;
		}
		usleep(1000);
	}
	/* tw-control's own count (one tw-control at a time, under its lock) */
	__atomic_store_n(&js->done_handed, js->done_handed + 1, __ATOMIC_RELEASE);
}

int
tw_broker_journal_settle(struct tw_broker *b, uint64_t failed_before, char *err)
{
	struct tw_journal_shm *js = &b->sh->journal;
	uint64_t handed = __atomic_load_n(&js->done_handed, __ATOMIC_RELAXED), until = now_ms() + WAIT_MS;
	uint64_t lost = b->journal_drops_lost, failed;

	b->journal_drops_lost = 0;
	while (__atomic_load_n(&js->done_synced, __ATOMIC_ACQUIRE) +
		       __atomic_load_n(&js->done_failed, __ATOMIC_ACQUIRE) < handed &&
	       now_ms() < until)
		usleep(1000);
	failed = __atomic_load_n(&js->done_failed, __ATOMIC_ACQUIRE) - failed_before;
	if (__atomic_load_n(&js->done_synced, __ATOMIC_ACQUIRE) + failed_before + failed < handed)
		return tw_broker_fail(err, -ETIMEDOUT, "done, but the journal did not record it "
				      "within %d ms: its durable tasks may come back after a crash",
				      WAIT_MS);
	if (lost + failed != 0)
		return tw_broker_fail(err, -EIO, "done, but %lu of its durable tasks could not be "
				      "recorded in the journal (a failing disk?): they come back "
				      "after a crash", (unsigned long)(lost + failed));
	return 0;
}
