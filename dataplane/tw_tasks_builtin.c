/*
 * Built-in tasks, always registered (clients, demos and the perf suites
 * rely on their names): noop, echo, add, sleep_us, fail, and flaky
 * and progress (retries and PROGRESS for tests and demos). They run
 * inline on a worker lcore (the solo pool), so none of them allocates or
 * makes a system call; argument parsing is a strict hand-written scanner
 * because these run per task.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "tw_lcore.h"
#include "tw_tasks.h"

#define SLEEP_US_MAX 10000000u /* 10 s: a solo worker is held that long at most */

static int
task_noop(struct tw_task_ctx *io)
{
	io->out_len = 0;
	return 0;
}

static int
task_echo(struct tw_task_ctx *io)
{
	if (io->args_len > io->out_cap)
		return tw_task_fail(io, "echo: args of %u bytes exceed the result limit of %u",
				    io->args_len, io->out_cap);
	if (io->args_len != 0) /* a task without args has a NULL view */
		memcpy(io->out, io->args, io->args_len);
	io->out_len = io->args_len;
	return 0;
}

struct scan {
	const uint8_t *p, *end;
};

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

/* A JSON integer that fits int64_t: -?(0|[1-9][0-9]*), no fraction or exponent. */
static bool
scan_int64(struct scan *s, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, limit;
	const uint8_t *start;

	skip_ws(s);
	if (s->p < s->end && *s->p == '-') {
		neg = true;
		s->p++;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	start = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		unsigned d = *s->p - '0';

		if (v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
		s->p++;
	}
	if (s->p == start || (s->p - start > 1 && *start == '0'))
		return false;
	if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* Parse a JSON array of exactly n integers. */
static bool
scan_int_array(const struct tw_task_ctx *io, int64_t *vals, unsigned n)
{
	struct scan s = { io->args, io->args + io->args_len };

	if (!expect(&s, '['))
		return false;
	for (unsigned i = 0; i < n; i++) {
		if (i > 0 && !expect(&s, ','))
			return false;
		if (!scan_int64(&s, &vals[i]))
			return false;
	}
	if (!expect(&s, ']'))
		return false;
	skip_ws(&s);
	return s.p == s.end;
}

static int
task_add(struct tw_task_ctx *io)
{
	int64_t v[2], sum;
	int n;

	if (!scan_int_array(io, v, 2))
		return tw_task_fail(io, "add: args must be a JSON array of two integers, like [2,3]");
	if (__builtin_add_overflow(v[0], v[1], &sum))
		return tw_task_fail(io, "add: integer overflow");
	n = snprintf((char *)io->out, io->out_cap, "%lld", (long long)sum);
	io->out_len = (uint32_t)n;
	return 0;
}

static int
task_sleep_us(struct tw_task_ctx *io)
{
	int64_t us;

	if (!scan_int_array(io, &us, 1))
		return tw_task_fail(io, "sleep_us: args must be a JSON array of one integer, like [100]");
	if (us < 0 || us > SLEEP_US_MAX)
		return tw_task_fail(io, "sleep_us: %lld out of range 0..%u", (long long)us,
				    SLEEP_US_MAX);
	/* Busy-wait on a polling lcore (solo pool), which never sleeps mid-task,
	 * but only as long as the operator allows (--solo-max-us): the lcore
	 * answers nothing else meanwhile, and one frame may carry 256 of these.
	 * Sleep on a thread of the threads pool (no lcore). */
	if (io->lcore != NULL) {
		if ((uint64_t)us > io->lcore->solo_max_us) {
			tw_cnt_add(io->lcore, TW_CNT_solo_wait_refused, 1);
			return tw_task_fail(io, "sleep_us: %lld us is over the %u us a polling lcore "
					    "may busy-wait (tw-dataplane --solo-max-us; or run it "
					    "on the threads pool: --task sleep_us:pool=threads)",
					    (long long)us, io->lcore->solo_max_us);
		}
		rte_delay_us_block((unsigned)us);
	} else
		usleep((useconds_t)us);
	io->out_len = 0;
	return 0;
}

static int
task_fail(struct tw_task_ctx *io)
{
	return tw_task_fail(io, "fail: this task always fails (args were %u bytes)", io->args_len);
}

/*
 * flaky [n]: asks for a retry until it has been retried n times, then
 * succeeds with the retry count. The delay is the task's retry policy
 * (countdown 0 unless the message or registration says otherwise).
 */
static int
task_flaky(struct tw_task_ctx *io)
{
	int64_t n;
	char why[64];
	int len;

	if (!scan_int_array(io, &n, 1) || n < 0)
		return tw_task_fail(io, "flaky: args must be a JSON array of one integer >= 0");
	if ((int64_t)io->retries < n) {
		snprintf(why, sizeof(why), "flaky: attempt %u of %lld failed", io->retries + 1,
			 (long long)n + 1);
		return tw_task_retry(io, -1, why);
	}
	len = snprintf((char *)io->out, io->out_cap, "%u", io->retries);
	io->out_len = (uint32_t)len;
	return TW_TASK_SUCCESS;
}

/* progress [n]: reports PROGRESS {"done":i,"total":n} n times, then succeeds with n. */
static int
task_progress(struct tw_task_ctx *io)
{
	int64_t n;
	char meta[64];

	if (!scan_int_array(io, &n, 1) || n < 0 || n > 100)
		return tw_task_fail(io, "progress: args must be a JSON array of one integer 0..100");
	for (int64_t i = 1; i <= n; i++) {
		int len = snprintf(meta, sizeof(meta), "{\"done\":%lld,\"total\":%lld}",
				   (long long)i, (long long)n);

		tw_task_progress(io, meta, (uint32_t)len);
	}
	io->out_len = (uint32_t)snprintf((char *)io->out, io->out_cap, "%lld", (long long)n);
	return TW_TASK_SUCCESS;
}

/*
 * tsum: the sum of every integer in its args, at any depth of arrays
 * (nulls count as 0): a chord callback over the members' results, like
 * Celery's tsum. [[1,2],[3,[4]],null] -> 10.
 */
static int
task_tsum(struct tw_task_ctx *io)
{
	struct scan s = { io->args, io->args + io->args_len };
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
		} else if (scan_int64(&s, &v)) {
			if (__builtin_add_overflow(sum, v, &sum))
				return tw_task_fail(io, "tsum: integer overflow");
		} else {
			return tw_task_fail(io, "tsum: args must be JSON arrays of integers (and nulls)");
		}
	}
	if (depth != 0)
		return tw_task_fail(io, "tsum: unbalanced brackets in args");
	io->out_len = (uint32_t)snprintf((char *)io->out, io->out_cap, "%lld", (long long)sum);
	return TW_TASK_SUCCESS;
}

int
tw_tasks_register_builtins(struct tw_task_registry *reg)
{
	static const struct tw_task_options builtins[] = {
		{ .name = "noop", .fn = task_noop },
		{ .name = "echo", .fn = task_echo },
		{ .name = "add", .fn = task_add },
		{ .name = "sleep_us", .fn = task_sleep_us },
		{ .name = "fail", .fn = task_fail },
		{ .name = "flaky", .fn = task_flaky, .retry = { .max_retries = 3 } },
		{ .name = "progress", .fn = task_progress },
		{ .name = "tsum", .fn = task_tsum },
	};

	for (size_t i = 0; i < RTE_DIM(builtins); i++) {
		int ret = tw_task_register(reg, &builtins[i]);

		if (ret < 0)
			return ret;
	}
	return 0;
}
