/*
 * The workflow emitter: the steps a finished task makes (the next step of
 * a chain, a chord callback, link and link_error callbacks, group members)
 * written as engine-made frames for the lcore's route stage.
 *
 * Steps go into the lcore's open frame (ctx->wf_out), shared
 * by every step of the pass with the same publisher, and the frame joins
 * the stash (tw_route.h) when it is full, when a step for another
 * publisher comes, or when the loop's route stage closes it. Fewer,
 * fuller frames: one mbuf and one frame decode for many steps.
 *
 * A step too large for one packet buffer goes alone into a large buffer
 * (tw_reasm.h: preallocated pools): none free is a refusal like any other.
 *
 * Threads: a polling lcore, with its own context.
 */
#ifndef TW_WF_EMIT_H
#define TW_WF_EMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_lcore.h"
#include "tw_wire.h"
#include "tw_wire_workflow.h"

struct tw_wf_emitter {
	struct tw_lcore_ctx *ctx;
	struct tw_peer peer;           /* the workflow's publisher: where its steps answer */
	/* why the last tw_wf_em_step() refused, for the FAILURE its caller records;
	 * short: the step may fit later (no buffer free, the stash full);
	 * too_large: it fits no frame at all */
	const char *why;
	bool short_of_room;
	bool too_large;
	char why_buf[128];
};

/** Start emitting for the workflow whose publisher is peer. */
void tw_wf_em_init(struct tw_wf_emitter *em, struct tw_lcore_ctx *ctx, const struct tw_peer *peer);

/**
 * Queue one step (signature sig, decoded in sv, with fields f): into the
 * open frame, or a large buffer of its own when it does not fit an empty
 * one. @return true if queued; false: em->why says why, em->short_of_room
 * whether it may fit later, em->too_large whether it fits no frame.
 */
bool tw_wf_em_step(struct tw_wf_emitter *em, struct tw_str sig, const struct tw_task_view *sv,
		   const struct tw_wf_fields *f);

#endif
