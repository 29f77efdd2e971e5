/*
 * What a handler may call during its run (include/taskwire/task.h),
 * implemented over the worker lcore's context. Runs on the worker lcore
 * that runs the handler; nothing is allocated but mbufs, and nothing is
 * routed here: a published task waits in the lcore's stash for the
 * loop's route stage.
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "tw_ctlchan.h"
#include "tw_inject.h"
#include "tw_reply.h"
#include "tw_route.h"
#include "tw_task.h"
#include "tw_tasks.h"
#include "tw_workflow.h"

const uint8_t *
tw_task_args(const struct tw_task_ctx *ctx, uint32_t *len)
{
	*len = ctx->args_len;
	return ctx->args;
}

uint64_t
tw_task_id(const struct tw_task_ctx *ctx)
{
	return ctx->task_id;
}

uint32_t
tw_task_retries(const struct tw_task_ctx *ctx)
{
	return ctx->retries;
}

int
tw_task_set_result(struct tw_task_ctx *ctx, const void *value, uint32_t len)
{
	if (len > ctx->out_cap)
		return -ENOSPC;
	if (len != 0) /* (value may be NULL for an empty result) */
		memcpy(ctx->out, value, len);
	ctx->out_len = len;
	return 0;
}

int
tw_task_retry(struct tw_task_ctx *ctx, int64_t countdown_ms, const char *reason)
{
	size_t n = reason != NULL ? strlen(reason) : 0;

	ctx->retry_asked = true;
	ctx->retry_countdown_ms = countdown_ms < 0 ? -1 : countdown_ms;
	if (n >= ctx->out_cap)
		n = ctx->out_cap - 1;
	memcpy(ctx->out, reason != NULL ? reason : "", n);
	ctx->out_len = (uint32_t)n;
	return TW_TASK_RETRY;
}

bool
tw_task_should_stop(const struct tw_task_ctx *ctx)
{
	return ctx->soft_deadline_tsc != 0 && rte_rdtsc() > ctx->soft_deadline_tsc;
}

int
tw_task_progress(struct tw_task_ctx *ctx, const void *meta, uint32_t len)
{
	struct tw_lcore_ctx *lc = ctx->lcore;
	const struct tw_task *t = ctx->task;

	if (lc == NULL || t == NULL)
		return -ENOTSUP;
	if (len > TW_REPLY_MAX_PAYLOAD / 2)
		return -ENOSPC;
	if (t->peer_port != 0 && (!t->wf || t->wf_notify)) {
		struct tw_peer peer = { .mac = t->peer_mac, .ip = t->peer_ip, .port = t->peer_port };

		tw_reply_result(lc, tw_reply_to(lc, &peer), t->id, TW_ST_PROGRESS, meta, len, NULL,
				0, 0);
	}
	if (!t->ignore_result) {
		struct tw_wire_result rec = {
			.task_id = t->id, .state = TW_ST_PROGRESS, .value = meta, .value_len = len,
			.name = t->name, .name_len = t->name_len, .retries = t->retries,
			.result_expires_s = t->result_expires_s,
		};

		tw_records_put(lc, &rec);
	}
	return 0;
}

uint64_t
tw_task_publish(struct tw_task_ctx *ctx, const char *exchange, const char *routing_key,
		const char *task, const void *args, uint32_t args_len)
{
	struct tw_lcore_ctx *lc = ctx->lcore;
	struct tw_inject_peer none = { .port = 0 };
	struct rte_mbuf *m;
	struct tw_wbuf w;
	uint64_t id;

	if (lc == NULL || task == NULL || task[0] == '\0')
		return 0;
	m = rte_pktmbuf_alloc(lc->mbuf_pool);
	if (m == NULL)
		return 0;
	/* a fresh id from the lcore's generator (xorshift never yields 0) */
	id = tw_lcore_rand(lc);
	tw_wbuf_init(&w, tw_inject_payload(m), tw_inject_room(m));
	tw_wire_put_header(&w, 0);
	tw_wire_put_task(&w, id, task, exchange, routing_key, args, args_len, NULL);
	if (w.overflow) {
		rte_pktmbuf_free(m);
		return 0;
	}
	tw_inject_finish(m, &none, &lc->our_mac, lc->our_ip, lc->our_port, w.len);
	/* routed by this pass's route stage: a queue's refusal then becomes a
	 * FAILURE record of this id; a full stash refuses it now (counted) */
	if (!tw_route_stash(lc, m)) {
		rte_pktmbuf_free(m);
		return 0;
	}
	tw_cnt_add(lc, TW_CNT_tasks_published_by_tasks, 1);
	return id;
}

int
tw_task_replace_group(struct tw_task_ctx *ctx, const char *exchange, const char *routing_key,
		      const char *task, const void *const *args, const uint32_t *args_len,
		      uint32_t n)
{
	if (ctx->lcore == NULL || ctx->task == NULL)
		return -ENOTSUP; /* a thread of the threads pool cannot route */
	if (n == 0 || task == NULL || task[0] == '\0' || args == NULL || args_len == NULL)
		return -EINVAL;
	return tw_workflow_replace_group(ctx->lcore, ctx->task, exchange != NULL ? exchange : "",
					 routing_key != NULL ? routing_key : "", task,
					 (const uint8_t *const *)args, args_len, n);
}
