/*
 * Control requests: one handler per control.proto request, each filling a
 * Response (built in a ctl_reply) from the broker model, tw-control's own
 * machinery and the shared statistics.
 * Threads: whoever holds the control lock (ctl_ctx.h).
 */
#ifndef CTL_HANDLERS_H
#define CTL_HANDLERS_H

#include <stddef.h>

#include "control.pb-c.h"
#include "ctl_ctx.h"
#include "ctl_reply.h"

/* Task requests (ctl_tasks.c): 0 or -errno with r->err set. */
int ctl_tasks_result(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r);
int ctl_tasks_revoke(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r);
int ctl_tasks_forget(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r);
int ctl_tasks_list(struct ctl_ctx *ctx, struct ctl_reply *r);

/* Events after a sequence number (ctl_events_request.c). */
int ctl_events_request(struct ctl_ctx *ctx, const Taskwire__Control__EventsRequest *m,
		       struct ctl_reply *r);

/* Remote consumers (ctl_consumers.c). */
int ctl_consumers_list(struct ctl_ctx *ctx, struct ctl_reply *r);

/* Every io lcore's table: consumers subscribed now, their deliveries unacked now. */
void ctl_consumers_totals(uint32_t *consumers, uint64_t *unacked);

/*
 * Queues that remote consumers take now or have had deliveries put back
 * (for `twctl status`), in *out (n_out of them). @return 0 or -ENOMEM.
 */
int ctl_remote_queues(const struct tw_broker *b, struct ctl_reply *r,
		      Taskwire__Control__QueueInfo ***out, size_t *n_out);

/* Workers and rate limits (ctl_workers.c). */
int ctl_workers_list(struct ctl_ctx *ctx, struct ctl_reply *r);
int ctl_workers_rate_limit(struct ctl_ctx *ctx, const char *task, const char *rate,
			   struct ctl_reply *r);

/* Schedule requests (ctl_schedules.c). */
int ctl_schedules_add(struct ctl_ctx *ctx, const Taskwire__Control__Schedule *m,
		      struct ctl_reply *r);
int ctl_schedules_remove(struct ctl_ctx *ctx, const char *name, struct ctl_reply *r);
int ctl_schedules_list(struct ctl_ctx *ctx, struct ctl_reply *r);

/** Handle one decoded request. Always produces a response (ok or error). */
void ctl_handle(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r);

/** ctl_handle() of a list request for what (in-process callers: HTTP, the durable definitions). */
void ctl_handle_list(struct ctl_ctx *ctx, Taskwire__Control__ListRequest__What what,
		     struct ctl_reply *r);

/** Fill r->resp.status from shared memory (ctl_status.c). @return 0 or -ENOMEM. */
int ctl_status_fill(const struct ctl_ctx *ctx, struct ctl_reply *r);

#endif
