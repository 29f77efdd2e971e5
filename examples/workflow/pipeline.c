/*
 * The classic Celery canvas pipeline as a taskwire plugin: write a
 * script, split it into scenes, render every scene's shots in parallel,
 * then collect the film. The fan-out is only known at run time (the
 * script decides how many scenes, each scene how many shots), so the
 * `scenes` and `scene` tasks replace themselves with groups
 * (tw_task_replace_group, Celery's self.replace(group(...))); the engine
 * runs every step, the publisher waits for the last one only.
 *
 *   chain( script([n_scenes, shots]) -> scenes -> collect )
 *     scenes  -> group( scene([i, shots + i]) for each scene i )
 *     scene   -> group( shot([i, j]) for each shot j )
 *
 * All tasks take and return JSON. The groups' members go to queue
 * "studio" on the default exchange (declare it before publishing).
 * Build: make (build/examples/libtw_pipeline_tasks.so); run: README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <taskwire/task.h>

#define QUEUE "studio"
#define MAX_FANOUT 64

/* Read up to max integers from JSON args, ignoring brackets and commas. */
static int
ints(struct tw_task_ctx *ctx, long *v, int max)
{
	uint32_t len;
	const char *p = (const char *)tw_task_args(ctx, &len);
	char buf[256];
	int n = 0;
	char *s, *end;

	snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) - 1 ? len : sizeof(buf) - 1), p);
	for (s = buf; *s != '\0' && n < max;) {
		if ((*s >= '0' && *s <= '9') || *s == '-') {
			v[n++] = strtol(s, &end, 10);
			s = end;
		} else {
			s++;
		}
	}
	return n;
}

/* script [n_scenes, shots]: the script is its shape, handed to `scenes`. */
static int
script(struct tw_task_ctx *ctx)
{
	long v[2];
	char out[64];

	if (ints(ctx, v, 2) != 2 || v[0] < 1 || v[0] > MAX_FANOUT || v[1] < 1 || v[1] > 16)
		return tw_task_fail(ctx, "script: args must be [scenes 1..64, shots 1..16]");
	tw_task_set_result(ctx, out, (uint32_t)snprintf(out, sizeof(out), "[%ld,%ld]", v[0], v[1]));
	return TW_TASK_SUCCESS;
}

/*
 * Replace this task by a group of n `task` members, member k with args
 * [a, b + k * step]: the fan-out of both `scenes` and `scene`.
 */
static int
fan_out(struct tw_task_ctx *ctx, const char *task, long n, long a, long b, long step)
{
	char bufs[MAX_FANOUT][32];
	const void *args[MAX_FANOUT];
	uint32_t lens[MAX_FANOUT];

	for (long k = 0; k < n; k++) {
		/* scenes: [k, shots + k]; scene i: [i, k] */
		long first = step != 0 ? k : a, second = step != 0 ? b + k * step : k;

		lens[k] = (uint32_t)snprintf(bufs[k], sizeof(bufs[k]), "[%ld,%ld]", first, second);
		args[k] = bufs[k];
	}
	return tw_task_replace_group(ctx, "", QUEUE, task, args, lens, (uint32_t)n);
}

/* scenes [[n, shots]]: one `scene` per scene, in parallel; scene i has shots + i shots. */
static int
scenes(struct tw_task_ctx *ctx)
{
	long v[2];
	int ret;

	if (ints(ctx, v, 2) != 2 || v[0] < 1 || v[0] > MAX_FANOUT)
		return tw_task_fail(ctx, "scenes: args must be [[scenes, shots]] (a script)");
	ret = fan_out(ctx, "scene", v[0], 0, v[1], 1);
	if (ret != 0)
		return tw_task_fail(ctx, "scenes: cannot fan out %ld scenes (%d)", v[0], ret);
	return TW_TASK_SUCCESS;
}

/* scene [i, k]: its k shots, rendered in parallel. */
static int
scene(struct tw_task_ctx *ctx)
{
	long v[2];
	int ret;

	if (ints(ctx, v, 2) != 2 || v[1] < 1 || v[1] > MAX_FANOUT)
		return tw_task_fail(ctx, "scene: args must be [scene, shots 1..64]");
	ret = fan_out(ctx, "shot", v[1], v[0], 0, 0);
	if (ret != 0)
		return tw_task_fail(ctx, "scene %ld: cannot fan out %ld shots (%d)", v[0], v[1], ret);
	return TW_TASK_SUCCESS;
}

/* shot [i, j]: "renders" shot j of scene i; the frame is its name. */
static int
shot(struct tw_task_ctx *ctx)
{
	long v[2];
	char out[32];

	if (ints(ctx, v, 2) != 2)
		return tw_task_fail(ctx, "shot: args must be [scene, shot]");
	tw_task_set_result(ctx, out,
			   (uint32_t)snprintf(out, sizeof(out), "\"s%ld.%ld\"", v[0], v[1]));
	return TW_TASK_SUCCESS;
}

/* collect [[[shots of scene 0], [shots of scene 1], ...]]: the film's shape. */
static int
collect(struct tw_task_ctx *ctx)
{
	uint32_t len, shots = 0, scenes_seen = 0;
	const char *p = (const char *)tw_task_args(ctx, &len);
	int depth = 0;
	char out[64];

	for (uint32_t i = 0; i < len; i++) {
		if (p[i] == '[' && ++depth == 3)
			scenes_seen++;
		else if (p[i] == ']')
			depth--;
		else if (p[i] == '"' && depth == 3)
			shots++;
	}
	tw_task_set_result(ctx, out, (uint32_t)snprintf(out, sizeof(out),
							"{\"scenes\":%u,\"shots\":%u}",
							scenes_seen, shots / 2));
	return TW_TASK_SUCCESS;
}

int
taskwire_plugin_init(struct tw_task_registry *reg, int abi)
{
	static const struct tw_task_options tasks[] = {
		{ .name = "script", .fn = script },
		{ .name = "scenes", .fn = scenes },
		{ .name = "scene", .fn = scene },
		{ .name = "shot", .fn = shot },
		{ .name = "collect", .fn = collect },
	};

	if (abi != TW_PLUGIN_ABI_VERSION)
		return -1;
	for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
		if (tw_task_register(reg, &tasks[i]) != 0)
			return -1;
	return 0;
}
