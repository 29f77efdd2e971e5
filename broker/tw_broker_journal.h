/*
 * Durable tasks the broker drops from a queue (purge, delete) end in the
 * engine's journal, as a task that ran does: their jids go to the journal
 * writer (tw_journal_shm.h, TW_JOURNAL_DONE_RING), which writes a DONE
 * record for each, so that a crash does not bring them back.
 *
 * Threads: tw-control's (one at a time, holding its lock), the only
 * place queues are purged or deleted while the engine runs.
 */
#ifndef TW_BROKER_JOURNAL_H
#define TW_BROKER_JOURNAL_H

#include <stdint.h>

#include "tw_broker.h"

/** Hand the journal the jid of a durable task just dropped (waits a bounded time for room). */
void tw_broker_journal_drop(struct tw_broker *b, uint64_t jid);

/**
 * Wait (bounded) until the writer recorded every jid handed so far.
 * @param failed_before  the writer's done_failed before the drops.
 * @return 0, or -errno with err saying that some may come back after a
 *   crash (handed too late, lost to a failed write, or not yet written).
 */
int tw_broker_journal_settle(struct tw_broker *b, uint64_t failed_before, char *err);

#endif
