/*
 * Control requests: one handler per control.proto request, each filling a
 * Response from the broker model and the shared statistics.
 *
 * Responses are built in a per-request arena (ctl_reply) so that the
 * nested protobuf-c structures need no individual frees: the server packs
 * the reply, sends it and calls ctl_reply_free().
 * Threads: tw-control's main thread only.
 */
#ifndef CTL_HANDLERS_H
#define CTL_HANDLERS_H

#include <stddef.h>

#include "control.pb-c.h"
#include "ctl_ctx.h"

struct ctl_arena_block;

struct ctl_reply {
	Taskwire__Control__Response resp;
	char err[TW_BROKER_ERR_MAX];
	struct ctl_arena_block *blocks;
};

void ctl_reply_init(struct ctl_reply *r);
void ctl_reply_free(struct ctl_reply *r);
/** Zeroed memory owned by the reply; NULL only when out of memory. */
void *ctl_reply_alloc(struct ctl_reply *r, size_t size);
/** Copy of s owned by the reply (never NULL: "" when out of memory). */
char *ctl_reply_strdup(struct ctl_reply *r, const char *s);

/* Array of n pointers to zeroed, init'ed messages of one type. */
#define REPLY_ARRAY(r, type, init, n, out)                                        \
	do {                                                                      \
		type **arr_ = ctl_reply_alloc((r), sizeof(type *) * ((n) ? (n) : 1)); \
		type *items_ = ctl_reply_alloc((r), sizeof(type) * ((n) ? (n) : 1));  \
		if (arr_ == NULL || items_ == NULL) {                             \
			(out) = NULL;                                             \
			break;                                                    \
		}                                                                 \
		for (size_t i_ = 0; i_ < (n); i_++) {                             \
			init(&items_[i_]);                                        \
			arr_[i_] = &items_[i_];                                   \
		}                                                                 \
		(out) = arr_;                                                     \
	} while (0)

/* Task requests (ctl_tasks.c): 0 or -errno with r->err set. */
int ctl_tasks_result(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r);
int ctl_tasks_revoke(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r);
int ctl_tasks_forget(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r);
int ctl_tasks_list(struct ctl_ctx *ctx, struct ctl_reply *r);

/* Events after a sequence number (ctl_events_request.c). */
int ctl_events_request(struct ctl_ctx *ctx, const Taskwire__Control__EventsRequest *m,
		       struct ctl_reply *r);

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

/** Fill r->resp.status from shared memory (ctl_status.c). @return 0 or -ENOMEM. */
int ctl_status_fill(const struct ctl_ctx *ctx, struct ctl_reply *r);

#endif
