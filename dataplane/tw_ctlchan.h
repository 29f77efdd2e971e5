/*
 * The lcore's side of its channels with tw-control (tw_shared.h): state
 * records for the result store, tasks handed to the scheduler, and due
 * tasks coming back. Runs on polling lcores; no allocation but mbufs.
 *
 * When no tw-control is attached (control_pid 0) records are counted as
 * lost and tasks are not handed over: the data plane never waits for the
 * control plane.
 */
#ifndef TW_CTLCHAN_H
#define TW_CTLCHAN_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_lcore.h"
#include "tw_wire.h"

struct tw_task;

/** Queue one record for the result store (copied into the pass's records mbuf). */
void tw_records_put(struct tw_lcore_ctx *ctx, const struct tw_wire_result *r);

/** End of pass: hand the part-filled records mbuf to tw-control. */
void tw_records_flush(struct tw_lcore_ctx *ctx);

/**
 * Hand t to tw-control's scheduler, due at t->eta_ms.
 * Ownership: takes t on success (tw-control releases it); on failure the
 * caller still owns it. @return false if no tw-control or its ring is full.
 */
bool tw_sched_hand_off(struct tw_lcore_ctx *ctx, struct tw_task *t);

/** @return true while someone follows task events (tw_shared.events_enabled). */
static inline bool
tw_events_on(const struct tw_lcore_ctx *ctx)
{
	return __atomic_load_n(&ctx->shared->events_enabled, __ATOMIC_RELAXED) != 0;
}

/** Name the task's queue in a record, when events are followed (for their filters). */
void tw_record_queue(const struct tw_lcore_ctx *ctx, struct tw_wire_result *rec, uint16_t slot);

/** An event-only record for t (received, started): not kept in the store. */
void tw_event_task(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state,
		   const char *error);

/** @return true if a tw-control is attached to take records and tasks. */
static inline bool
tw_ctl_attached(const struct tw_lcore_ctx *ctx)
{
	return __atomic_load_n(&ctx->shared->control_pid, __ATOMIC_RELAXED) != 0;
}

#endif
