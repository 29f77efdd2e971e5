/*
 * An example task plugin: the taskwire counterpart of a Celery app's
 * tasks.py. Build it as a shared object and load it with
 *   tw-dataplane ... -- --tasks build/examples/libtw_example_tasks.so
 *
 * Three tasks show the task API (include/taskwire/task.h):
 *  - wordcount: args are text, the result is the number of words;
 *  - countdown: reports PROGRESS once per step, honours the soft time limit;
 *  - fetch_flaky: fails its first attempts and asks for a retry with
 *    exponential backoff (registered policy), as a task calling an
 *    unreliable service would;
 *  - fanout: publishes one follow-up `wordcount` per argument word.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <taskwire/task.h>

static int
wordcount(struct tw_task_ctx *ctx)
{
	uint32_t len, words = 0;
	const uint8_t *p = tw_task_args(ctx, &len);
	char out[16];
	int n;

	for (uint32_t i = 0; i < len; i++)
		if (!isspace(p[i]) && (i == 0 || isspace(p[i - 1])))
			words++;
	n = snprintf(out, sizeof(out), "%u", words);
	tw_task_set_result(ctx, out, (uint32_t)n);
	return TW_TASK_SUCCESS;
}

static int
countdown(struct tw_task_ctx *ctx)
{
	uint32_t len;
	const uint8_t *p = tw_task_args(ctx, &len);
	char buf[16], meta[48];
	unsigned steps;

	snprintf(buf, sizeof(buf), "%.*s", (int)(len < 15 ? len : 15), (const char *)p);
	if (sscanf(buf, "%u", &steps) != 1 || steps > 50)
		return tw_task_fail(ctx, "countdown: args must be a number of steps 0..50");
	for (unsigned i = 0; i < steps; i++) {
		int n = snprintf(meta, sizeof(meta), "{\"step\":%u,\"of\":%u}", i + 1, steps);

		if (tw_task_should_stop(ctx))
			return tw_task_fail(ctx, "countdown: soft time limit at step %u", i);
		tw_task_progress(ctx, meta, (uint32_t)n);
	}
	tw_task_set_result(ctx, "\"liftoff\"", 9);
	return TW_TASK_SUCCESS;
}

static int
fetch_flaky(struct tw_task_ctx *ctx)
{
	if (tw_task_retries(ctx) < 2)
		return tw_task_retry(ctx, -1, "fetch_flaky: service unavailable");
	tw_task_set_result(ctx, "\"fetched\"", 9);
	return TW_TASK_SUCCESS;
}

static int
fanout(struct tw_task_ctx *ctx)
{
	uint32_t len, start = 0, sent = 0;
	const uint8_t *p = tw_task_args(ctx, &len);
	char out[16];
	int n;

	/* one follow-up per word, routed through the default exchange to queue "words" */
	for (uint32_t i = 0; i <= len; i++) {
		if (i < len && !isspace(p[i]))
			continue;
		if (i > start && tw_task_publish(ctx, "", "words", "wordcount", p + start,
						 i - start) != 0)
			sent++;
		start = i + 1;
	}
	n = snprintf(out, sizeof(out), "%u", sent);
	tw_task_set_result(ctx, out, (uint32_t)n);
	return TW_TASK_SUCCESS;
}

int
taskwire_plugin_init(struct tw_task_registry *reg, int abi)
{
	static const struct tw_task_options tasks[] = {
		{ .name = "example.wordcount", .fn = wordcount },
		{ .name = "example.countdown", .fn = countdown, .soft_time_limit_ms = 1000 },
		{ .name = "example.fetch_flaky", .fn = fetch_flaky,
		  .retry = { .max_retries = 5, .countdown_ms = 10, .backoff = true,
			     .backoff_max_ms = 1000 } },
		{ .name = "example.fanout", .fn = fanout },
	};

	if (abi != TW_PLUGIN_ABI_VERSION)
		return -1;
	for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++) {
		int ret = tw_task_register(reg, &tasks[i]);

		if (ret != 0)
			return ret;
	}
	return 0;
}
