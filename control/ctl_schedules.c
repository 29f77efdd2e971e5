/*
 * Schedule requests: `twctl schedule add|remove` and `list schedules`,
 * over the beat (ctl_beat.h). Threads: main, under the control lock (ctl_ctx.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl_beat.h"
#include "ctl_handlers.h"

static int
copy_field(char *dst, size_t cap, const char *src, const char *what, struct ctl_reply *r)
{
	size_t n = src != NULL ? strlen(src) : 0;

	if (n >= cap) {
		snprintf(r->err, sizeof(r->err), "schedule %s longer than %zu bytes", what, cap - 1);
		return -EINVAL;
	}
	memcpy(dst, src != NULL ? src : "", n + 1);
	return 0;
}

int
ctl_schedules_add(struct ctl_ctx *ctx, const Taskwire__Control__Schedule *m, struct ctl_reply *r)
{
	static struct ctl_beat_entry e; /* large; main thread only */

	if (ctx->beat == NULL) {
		snprintf(r->err, sizeof(r->err), "no scheduler");
		return -ENOTSUP;
	}
	memset(&e, 0, sizeof(e));
	if (copy_field(e.name, sizeof(e.name), m->name, "name", r) != 0 ||
	    copy_field(e.exchange, sizeof(e.exchange), m->exchange, "exchange", r) != 0 ||
	    copy_field(e.routing_key, sizeof(e.routing_key), m->routing_key, "routing key", r) != 0 ||
	    copy_field(e.task, sizeof(e.task), m->task, "task", r) != 0)
		return -EINVAL;
	if (m->args.len > sizeof(e.args)) {
		snprintf(r->err, sizeof(r->err), "schedule args: at most %zu bytes", sizeof(e.args));
		return -EINVAL;
	}
	if (m->cron != NULL && strlen(m->cron) > TW_CRON_MAX_LEN) {
		snprintf(r->err, sizeof(r->err), "cron expression longer than %d characters",
			 TW_CRON_MAX_LEN);
		return -EINVAL;
	}
	if (m->args.len != 0) /* empty args come as NULL */
		memcpy(e.args, m->args.data, m->args.len);
	e.args_len = (uint32_t)m->args.len;
	e.every_ms = m->every_ms;
	return ctl_beat_add(ctx->beat, &e, m->cron, r->err, sizeof(r->err));
}

int
ctl_schedules_remove(struct ctl_ctx *ctx, const char *name, struct ctl_reply *r)
{
	int ret = ctx->beat != NULL ? ctl_beat_remove(ctx->beat, name) : -ENOENT;

	if (ret == -ENOENT)
		snprintf(r->err, sizeof(r->err), "no schedule named '%s'", name);
	else if (ret != 0)
		snprintf(r->err, sizeof(r->err), "remove '%s': %s", name, strerror(-ret));
	return ret;
}

int
ctl_schedules_list(struct ctl_ctx *ctx, struct ctl_reply *r)
{
	static struct ctl_beat_entry list[CTL_BEAT_MAX]; /* large; main thread only */
	Taskwire__Control__Schedule **items;
	uint32_t n = ctx->beat != NULL ? ctl_beat_list(ctx->beat, list, CTL_BEAT_MAX) : 0;

	REPLY_ARRAY(r, Taskwire__Control__Schedule, taskwire__control__schedule__init, n, items);
	if (items == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		Taskwire__Control__Schedule *s = items[i];

		s->name = ctl_reply_strdup(r, list[i].name);
		s->every_ms = list[i].every_ms;
		s->cron = ctl_reply_strdup(r, list[i].cron_text);
		s->exchange = ctl_reply_strdup(r, list[i].exchange);
		s->routing_key = ctl_reply_strdup(r, list[i].routing_key);
		s->task = ctl_reply_strdup(r, list[i].task);
		s->args.data = ctl_reply_alloc(r, list[i].args_len + 1);
		if (s->args.data != NULL) {
			memcpy(s->args.data, list[i].args, list[i].args_len);
			s->args.len = list[i].args_len;
		}
		s->last_run_ms = list[i].last_run_ms;
		s->next_run_ms = list[i].next_run_ms;
		s->runs = list[i].runs;
		s->last_task_id = list[i].last_task_id;
	}
	r->resp.schedules = items;
	r->resp.n_schedules = n;
	return 0;
}
