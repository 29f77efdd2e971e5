/*
 * `twctl list workers` (polling lcores, the threads pool, the registered
 * tasks: like `celery inspect stats` and `inspect registered`) and
 * `twctl rate-limit TASK RATE` (like `celery control rate_limit`).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "twctl.h"
#include "twctl_table.h"

static void
rate_text(uint64_t count, uint64_t period_ms, char *buf, size_t len)
{
	if (count == 0)
		snprintf(buf, len, "-");
	else if (period_ms == 1000)
		snprintf(buf, len, "%" PRIu64 "/s", count);
	else if (period_ms == 60000)
		snprintf(buf, len, "%" PRIu64 "/m", count);
	else if (period_ms == 3600000)
		snprintf(buf, len, "%" PRIu64 "/h", count);
	else
		snprintf(buf, len, "%" PRIu64 "/%" PRIu64 "ms", count, period_ms);
}

void
twctl_print_workers(const struct twctl_opts *o, const Taskwire__Control__Response *r)
{
	struct twctl_table t;

	if (o->json) {
		json_t *w = json_array(), *reg = json_array();

		for (size_t i = 0; i < r->n_workers; i++) {
			const Taskwire__Control__WorkerInfo *x = r->workers[i];
			char id[32];

			snprintf(id, sizeof(id), "%016" PRIx64, x->running_task);
			json_array_append_new(w, json_pack("{s:i, s:i, s:s, s:f, s:I, s:s, s:I}",
							   "lcore", (int)x->lcore_id, "cpu",
							   (int)x->cpu, "role", x->role, "busy_ratio",
							   x->busy_ratio, "tasks_executed",
							   (json_int_t)x->tasks_executed,
							   "running_task", x->running_task ? id : "",
							   "running_ms", (json_int_t)x->running_ms));
		}
		for (size_t i = 0; i < r->n_registered; i++) {
			const Taskwire__Control__RegisteredTask *x = r->registered[i];
			char rate[48];

			rate_text(x->rate_count, x->rate_period_ms, rate, sizeof(rate));
			json_array_append_new(reg, json_pack("{s:s, s:s, s:s, s:i}", "name", x->name,
							     "pool", x->pool, "rate_limit", rate,
							     "time_limit_ms", (int)x->time_limit_ms));
		}
		twctl_print_json(json_pack("{s:o, s:{s:i, s:i, s:I}, s:o}", "lcores", w, "threads",
					   "busy", (int)r->threads_busy, "idle",
					   (int)r->threads_idle, "abandoned",
					   (json_int_t)r->threads_abandoned, "registered", reg));
		return;
	}
	twctl_table_init(&t, 6);
	twctl_table_row(&t, "lcore\tcpu\trole\tbusy\texecuted\trunning");
	for (size_t i = 0; i < r->n_workers; i++) {
		const Taskwire__Control__WorkerInfo *x = r->workers[i];
		char running[64] = "-";

		if (x->running_task != 0)
			snprintf(running, sizeof(running), "%016" PRIx64 " for %" PRIu64 " ms",
				 x->running_task, x->running_ms);
		twctl_table_row(&t, "%u\t%u\t%s\t%.1f%%\t%" PRIu64 "\t%s", x->lcore_id, x->cpu,
				x->role, x->busy_ratio * 100, x->tasks_executed, running);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
	printf("\nthreads pool: %u busy, %u idle, %" PRIu64 " abandoned (hard time limit)\n\n",
	       r->threads_busy, r->threads_idle, r->threads_abandoned);
	twctl_table_init(&t, 4);
	twctl_table_row(&t, "task\tpool\trate_limit\ttime_limit");
	for (size_t i = 0; i < r->n_registered; i++) {
		const Taskwire__Control__RegisteredTask *x = r->registered[i];
		char rate[48], limit[32] = "-";

		rate_text(x->rate_count, x->rate_period_ms, rate, sizeof(rate));
		if (x->time_limit_ms != 0)
			snprintf(limit, sizeof(limit), "%u ms", x->time_limit_ms);
		twctl_table_row(&t, "%s\t%s\t%s\t%s", x->name, x->pool, rate, limit);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
}

int
twctl_rate_limit(const struct twctl_opts *o, int argc, char **argv)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__RateLimit rl = TASKWIRE__CONTROL__RATE_LIMIT__INIT;
	Taskwire__Control__Response *resp;
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: rate-limit TASK RATE   (RATE: 100/s, 10/m, 1000/h; 0: none)\n");
		return TWCTL_USAGE;
	}
	rl.task = argv[1];
	rl.rate = argv[2];
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_RATE_LIMIT;
	req.rate_limit = &rl;
	ret = twctl_roundtrip(o, &req, &resp);
	if (ret != TWCTL_OK)
		return ret;
	taskwire__control__response__free_unpacked(resp, NULL);
	if (o->json)
		return twctl_print_json(json_pack("{s:s, s:s}", "task", argv[1], "rate_limit",
						  argv[2]));
	printf("task '%s' rate limit %s\n", argv[1], argv[2]);
	return TWCTL_OK;
}
