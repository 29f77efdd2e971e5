/*
 * libtaskwire workflows: Celery's canvas (chain, group, chord, link,
 * link_error, any nesting) built in memory and published in one call.
 * The engine runs every step after the first itself: the worker that
 * finishes a step publishes the next one (proto/taskwire.proto, Task
 * fields 14..26).
 *
 *   struct tw_wf *wf = tw_wf_new();
 *   struct tw_sig *steps[] = { tw_wf_task(wf, &add_1_2), tw_wf_task(wf, &add_10) };
 *   struct tw_sig *c = tw_wf_chain(wf, steps, 2);   // add(1,2) | add(10)  -> 13
 *   uint64_t result_id;
 *   tw_client_publish_workflow(client, wf, c, &result_id);
 *   tw_client_wait_workflow(client, wf, c, 5000, &outcome);
 *   tw_wf_free(wf);
 *
 * A step that receives a result (chain, callbacks) gets it as its first
 * argument: args [a, b] become [R, a, b] (tw_sig_immutable() keeps them).
 * A chord's callback gets the list of its members' results, in order. A
 * link_error callback gets {"id": "<failed step>", "error": "..."}.
 *
 * Ownership: every tw_sig belongs to its tw_wf and lives until
 * tw_wf_free(). A signature is used in at most one place of a tree.
 * Threads: a tw_wf is used by one thread at a time.
 */
#ifndef TASKWIRE_WORKFLOW_H
#define TASKWIRE_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <taskwire/client.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tw_wf;
struct tw_sig;

/** @return a new, empty workflow, or NULL (ENOMEM). */
struct tw_wf *tw_wf_new(void);
void tw_wf_free(struct tw_wf *wf);

/**
 * A task signature: name, destination, args and options of p (copied;
 * eta/countdown, expires, retry policy, ignore_result as in tw_publish).
 * @return the signature, or NULL (EINVAL: no task name or a field too long).
 */
struct tw_sig *tw_wf_task(struct tw_wf *wf, const struct tw_publish *p);

/**
 * steps run one after the other, each with the previous one's result.
 * A step may itself be a chain (flattened), a group (then the next step
 * is its chord callback) or a chord. @return the chain's first step, or
 * NULL (EINVAL: n == 0, a step already used, a group followed by a step
 * when the group already has a callback).
 */
struct tw_sig *tw_wf_chain(struct tw_wf *wf, struct tw_sig *const *steps, size_t n);

/**
 * members run in parallel; the group's result is the ordered list of
 * their results. A member may be any signature. result_cell: bytes kept
 * per member result (0: the engine's 256). @return the group, or NULL.
 */
struct tw_sig *tw_wf_group(struct tw_wf *wf, struct tw_sig *const *members, size_t n,
			   uint32_t result_cell);

/** A chord: group header, then callback with the ordered results. @return header, or NULL. */
struct tw_sig *tw_wf_chord(struct tw_wf *wf, struct tw_sig *header, struct tw_sig *callback);

/** Run cb with s's result after s succeeds (s: the chain's last step if s is a chain). */
int tw_sig_link(struct tw_sig *s, struct tw_sig *cb);

/** Run cb when s fails (or any step of the chain s heads fails). */
int tw_sig_link_error(struct tw_sig *s, struct tw_sig *cb);

/** Do not pass the parent's result to s (Celery's .si()). */
void tw_sig_immutable(struct tw_sig *s);

/** The signature's task id (a group's id), set by tw_client_publish_workflow(). */
uint64_t tw_sig_id(const struct tw_sig *s);

/**
 * Publish the workflow headed by root: ids are assigned, the step whose
 * result is the workflow's (the last one) is asked to answer this client,
 * and the frames are sent (flushing what is pending first). A group at
 * the top with more members than one datagram holds is sent as its node
 * followed by its members in further frames.
 * @return 0 with *result_id (the id whose result ends the workflow),
 *   -EMSGSIZE (a nested part too large for one datagram), -EINVAL, or
 *   -errno from sending.
 */
int tw_client_publish_workflow(struct tw_client *c, struct tw_wf *wf, struct tw_sig *root,
			       uint64_t *result_id);

/**
 * Wait for a published workflow to end: its final result, or a NACK of
 * any frame of it (the workflow was refused). Like tw_client_wait().
 * @return 0 when out is complete, -ETIMEDOUT, or -errno.
 */
int tw_client_wait_workflow(struct tw_client *c, const struct tw_sig *root, uint64_t result_id,
			    int timeout_ms, struct tw_outcome *out);

#ifdef __cplusplus
}
#endif

#endif
