/*
 * The built-in tasks both runners have, written against
 * include/taskwire/task.h alone: tw-dataplane registers them on its
 * worker lcores, tw-worker (which links this file) in its consumer
 * threads, so a queue, or a workflow's steps, moves from one to the other
 * with the same names, results and errors. noop, echo, add, fail, flaky
 * (retries), progress (PROGRESS reports), tsum (a chord callback).
 * sleep_us is each runner's own (a polling lcore busy-waits, a thread
 * sleeps).
 *
 * On a worker lcore they run inline, per task: none allocates or makes a
 * system call; argument parsing is a strict hand-written scanner.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <taskwire/task.h>

#include "tw_tasks_portable.h"

/* a result these write: an integer, or progress meta */
#define OUT_MAX 64

static int
task_noop(struct tw_task_ctx *io)
{
	return tw_task_set_result(io, NULL, 0) == 0 ? TW_TASK_SUCCESS : TW_TASK_FAILURE;
}

static int
task_echo(struct tw_task_ctx *io)
{
	uint32_t len;
	const uint8_t *args = tw_task_args(io, &len);

	if (tw_task_set_result(io, args, len) != 0)
		return tw_task_fail(io, "echo: args of %u bytes exceed the result limit", len);
	return TW_TASK_SUCCESS;
}

struct scan {
	const uint8_t *p, *end;
};

static struct scan
scan_of(const struct tw_task_ctx *io)
{
	uint32_t len;
	const uint8_t *args = tw_task_args(io, &len);

	return (struct scan){ args, args + len };
}

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool
expect(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == (uint8_t)c) {
		s->p++;
		return true;
	}
	return false;
}

bool
tw_tasks_scan_int64(const uint8_t **p, const uint8_t *end, int64_t *out)
{
	struct scan s = { *p, end };
	bool neg = false;
	uint64_t v = 0, limit;
	const uint8_t *start;

	skip_ws(&s);
	if (s.p < s.end && *s.p == '-') {
		neg = true;
		s.p++;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	start = s.p;
	while (s.p < s.end && *s.p >= '0' && *s.p <= '9') {
		unsigned d = *s.p - '0';

		if (v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
		s.p++;
	}
	if (s.p == start || (s.p - start > 1 && *start == '0'))
		return false;
	if (s.p < s.end && (*s.p == '.' || *s.p == 'e' || *s.p == 'E'))
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	*p = s.p;
	return true;
}

bool
tw_tasks_scan_int_array(const struct tw_task_ctx *io, int64_t *vals, unsigned n)
{
	struct scan s = scan_of(io);

	if (!expect(&s, '['))
		return false;
	for (unsigned i = 0; i < n; i++) {
		if (i > 0 && !expect(&s, ','))
			return false;
		if (!tw_tasks_scan_int64(&s.p, s.end, &vals[i]))
			return false;
	}
	if (!expect(&s, ']'))
		return false;
	skip_ws(&s);
	return s.p == s.end;
}

/* The result: one integer. */
static int
result_int(struct tw_task_ctx *io, long long v)
{
	char out[OUT_MAX];
	int n = snprintf(out, sizeof(out), "%lld", v);

	tw_task_set_result(io, out, (uint32_t)n);
	return TW_TASK_SUCCESS;
}

static int
task_add(struct tw_task_ctx *io)
{
	int64_t v[2], sum;

	if (!tw_tasks_scan_int_array(io, v, 2))
		return tw_task_fail(io, "add: args must be a JSON array of two integers, like [2,3]");
	if (__builtin_add_overflow(v[0], v[1], &sum))
		return tw_task_fail(io, "add: integer overflow");
	return result_int(io, (long long)sum);
}

static int
task_fail(struct tw_task_ctx *io)
{
	uint32_t len;

	tw_task_args(io, &len);
	return tw_task_fail(io, "fail: this task always fails (args were %u bytes)", len);
}

/*
 * flaky [n]: asks for a retry until it has been retried n times, then
 * succeeds with the retry count. The delay is the task's retry policy
 * (countdown 0 unless the message or registration says otherwise).
 */
static int
task_flaky(struct tw_task_ctx *io)
{
	uint32_t retries = tw_task_retries(io);
	int64_t n;
	char why[64];

	if (!tw_tasks_scan_int_array(io, &n, 1) || n < 0)
		return tw_task_fail(io, "flaky: args must be a JSON array of one integer >= 0");
	if ((int64_t)retries < n) {
		snprintf(why, sizeof(why), "flaky: attempt %u of %lld failed", retries + 1,
			 (long long)n + 1);
		return tw_task_retry(io, -1, why);
	}
	return result_int(io, retries);
}

/* progress [n]: reports PROGRESS {"done":i,"total":n} n times, then succeeds with n. */
static int
task_progress(struct tw_task_ctx *io)
{
	int64_t n;
	char meta[OUT_MAX];

	if (!tw_tasks_scan_int_array(io, &n, 1) || n < 0 || n > 100)
		return tw_task_fail(io, "progress: args must be a JSON array of one integer 0..100");
	for (int64_t i = 1; i <= n; i++) {
		int len = snprintf(meta, sizeof(meta), "{\"done\":%lld,\"total\":%lld}",
				   (long long)i, (long long)n);

		tw_task_progress(io, meta, (uint32_t)len);
	}
	return result_int(io, (long long)n);
}

/*
 * tsum: the sum of every integer in its args, at any depth of arrays
 * (nulls count as 0): a chord callback over the members' results, like
 * Celery's tsum. [[1,2],[3,[4]],null] -> 10.
 */
static int
task_tsum(struct tw_task_ctx *io)
{
	struct scan s = scan_of(io);
	int64_t sum = 0, v;
	int depth = 0;

	for (skip_ws(&s); s.p < s.end; skip_ws(&s)) {
		uint8_t c = *s.p;

		if (c == '[' || c == ']' || c == ',') {
			depth += c == '[' ? 1 : c == ']' ? -1 : 0;
			if (depth < 0)
				break;
			s.p++;
		} else if (c == 'n' && s.end - s.p >= 4 && memcmp(s.p, "null", 4) == 0) {
			s.p += 4;
		} else if (tw_tasks_scan_int64(&s.p, s.end, &v)) {
			if (__builtin_add_overflow(sum, v, &sum))
				return tw_task_fail(io, "tsum: integer overflow");
		} else {
			return tw_task_fail(io, "tsum: args must be JSON arrays of integers (and nulls)");
		}
	}
	if (depth != 0)
		return tw_task_fail(io, "tsum: unbalanced brackets in args");
	return result_int(io, (long long)sum);
}

int
tw_tasks_register_portable(struct tw_task_registry *reg)
{
	static const struct tw_task_options builtins[] = {
		{ .name = "noop", .fn = task_noop },
		{ .name = "echo", .fn = task_echo },
		{ .name = "add", .fn = task_add },
		{ .name = "fail", .fn = task_fail },
		{ .name = "flaky", .fn = task_flaky, .retry = { .max_retries = 3 } },
		{ .name = "progress", .fn = task_progress },
		{ .name = "tsum", .fn = task_tsum },
	};

	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		int ret = tw_task_register(reg, &builtins[i]);

		if (ret < 0)
			return ret;
	}
	return 0;
}
