/*
 * Workflows in the engine (Celery's canvas: chain, group, chord, link,
 * link_error, nested; proto/taskwire.proto Task fields 14..26).
 *
 * The worker that finishes a step publishes what comes next into its
 * lcore's stash, which the loop's route stage takes in the same pass: no
 * round trip through the publisher or tw-control, and no routing from
 * inside the stage that finished the step.
 *
 * Groups and chords: a group node opens a slot in a table shared by every
 * lcore of tw-dataplane (hugepage memory): a member count, one done bit
 * and one result cell per member. A member's final state sets its bit
 * (fetch-or: a member reported twice counts once, so a retried member
 * that later succeeds is counted once), writes its cell, and decrements
 * the count; the member that takes it to zero assembles the ordered
 * results and fires the callback (or reports the group's result to the
 * group it belongs to). The first failure fails the group: its link_error
 * callbacks run, the steps after it are failed in the store, the callback
 * never runs. Members take no lock (the bits and the count are atomics),
 * and neither does opening a group: its memory was taken at start
 * (tw_wf_mem.h: a slot, and pages for a large group's cells), none free is
 * a refusal naming the option that sizes it.
 *
 * Limits (tw_limits.h): TW_WF_MAX_GROUPS open groups, TW_WF_MAX_MEMBERS
 * members, result cells of TW_WF_DEFAULT_CELL bytes unless the group
 * says (result_cell, up to TW_WF_MAX_CELL); a step (a result passed
 * along a chain, a chord's results list included) up to the largest
 * frame: one that does not fit a packet buffer goes alone into a large
 * buffer (tw_reasm.h: preallocated pools, so none may be free: the step
 * is refused, counted). A results list over the largest frame can only
 * go to an in-engine callback, from the one list buffer (--group-list-mb).
 * Over a limit, or refused: the step or group fails with a message naming
 * why.
 *
 * Slots live as long as tw-dataplane: a restart loses open groups.
 *
 * Threads: every function runs on a polling lcore of tw-dataplane.
 */
#ifndef TW_WORKFLOW_H
#define TW_WORKFLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_lcore.h"
#include "tw_wire.h"

struct tw_routes;

struct tw_task;
struct tw_routes;

struct rte_rcu_qsbr;

/*
 * What a group may hold, from the operator's options: open groups cost
 * hugepage memory that tw-control and the queues need too, and anyone who
 * can reach the port can open one.
 */
struct tw_wf_limits {
	uint64_t expires_ms;          /* a group's life unless its node says (expires) */
	uint64_t expires_max_ms;      /* the longest a node's own expires may keep it */
	uint64_t memory;              /* bytes all open groups may take (their pages, taken at start) */
	uint64_t publisher_memory;    /* bytes the open groups of one publisher may take */
	uint64_t list_memory;         /* the buffer for a chord's results list over the largest frame */
};

/**
 * Allocate the group table, its graveyard on the engine's RCU and all the
 * memory groups will take (tw_wf_mem.h) (main lcore, before launch).
 * @return 0 or -ENOMEM.
 */
int tw_workflow_init(int socket, struct rte_rcu_qsbr *qsbr, const struct tw_wf_limits *lim);

/**
 * Fail the groups whose expiry passed (their callback is recorded as not
 * run, their publisher told when it asked) and free their slots. Cheap
 * when no group is open; call it a few times a second from a worker role.
 */
void tw_workflow_expire(struct tw_lcore_ctx *ctx);

/** Free released groups whose grace period ended (main lcore's housekeeping). */
void tw_workflow_reclaim(void);

/**
 * A group node arrived (tv->group_size != 0): open its slot and queue its
 * inline members. peer: where notify steps answer, and with key_id (the
 * frame's authenticated key, 0: none) the publisher the group belongs to:
 * its members must come from there, its memory is charged there.
 * @return NULL (opened) or why it was refused (the NACK detail).
 */
const char *tw_workflow_group_open(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
				   const struct tw_task_view *tv, const struct tw_peer *peer,
				   uint32_t key_id, uint64_t *journal_seq);

/*
 * tw_workflow_group_open()'s refusal when its inline members go to a
 * durable queue and the journal cannot take the group now (NACK
 * no-resources). *journal_seq: the group's record, its confirm held until
 * the record is on disk (0: none).
 */
extern const char tw_wf_journal_refused[];

/**
 * A group rebuilt from the journal at start (tw_journal_recover.c), on the
 * lcore that puts recovered tasks back: all its members were done (its
 * callback is made now), or emit (a bit per member) names inline members
 * lost before their records were written (made again).
 */
void tw_workflow_group_resume(struct tw_lcore_ctx *ctx, uint64_t group_id, const uint8_t *emit);

/**
 * @param from  the member's sender, NULL for frames the engine made (they
 *   passed this check when their publisher's frame came in)
 * @param key_id  the frame's authenticated key (0: none)
 * @return NULL if tv's group membership is acceptable (its group is
 *   open and belongs to the sender), else why not; *finished tells that
 *   the group finished lately (tv is a retransmit: confirm it again, do
 *   not run it); *foreign that the group belongs to another publisher.
 */
const char *tw_workflow_member_check(const struct tw_task_view *tv, const struct tw_peer *from,
				     uint32_t key_id, bool *finished, bool *foreign);

/**
 * A workflow task reached a final state (SUCCESS, FAILURE, REVOKED,
 * EXPIRED): publish what follows, or fail what will now never run, and
 * report to its group. value/error as reported.
 */
void tw_workflow_task_done(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state,
			   const uint8_t *value, uint32_t value_len, const char *error,
			   uint32_t error_len);

/**
 * A workflow step that could not be queued (its FAILURE is recorded by
 * the caller): fail what follows it and its group.
 */
void tw_workflow_step_refused(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv,
			      const struct tw_peer *peer, const char *why);

/**
 * A chord callback whose results list lives in its group's slot
 * (t->args_group): point t's args at it. @return false if the group is gone.
 */
bool tw_workflow_bind_args(struct tw_task *t);

/**
 * tw_task_replace_group() (taskwire/task.h) for t, running on this lcore:
 * a group node of n members carrying t's continuation is queued, and t
 * is marked replaced. @return 0, -EMSGSIZE or -ENOMEM.
 */
int tw_workflow_replace_group(struct tw_lcore_ctx *ctx, struct tw_task *t, const char *exchange,
			      const char *routing_key, const char *task,
			      const uint8_t *const *args, const uint32_t *args_len, uint32_t n);

/**
 * Close the step frame this lcore is filling: its steps join the stash
 * (tw_route.h) for the route stage. If the stash is full it stays open
 * (its steps wait for room; none is lost). One without steps goes back to
 * its pool.
 */
void tw_workflow_close_frame(struct tw_lcore_ctx *ctx);

/** The loop stops: free the step frame being filled (counted released). */
void tw_workflow_discard_frame(struct tw_lcore_ctx *ctx);

#endif
