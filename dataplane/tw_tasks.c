/*
 * Task registry (see tw_tasks.h): a fixed table and an open-addressing
 * index by name, filled from the built-ins and plugins. Written by main
 * before launch; read by every lcore.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tw_routes.h"
#include "tw_task.h"
#include "tw_tasks.h"
#include "tw_units.h"

#define INDEX_MASK (TW_TASKS_MAX * 2 - 1)

uint16_t
tw_tasks_lookup(const struct tw_task_registry *reg, const uint8_t *name, uint32_t len)
{
	uint32_t i = tw_routes_hash(name, len, 0) & INDEX_MASK;

	/* The index is at most half full, so the probe ends at an empty slot. */
	for (;; i = (i + 1) & INDEX_MASK) {
		uint16_t h = reg->index[i];

		if (h == 0)
			return TW_HANDLER_NONE;
		h--;
		if (reg->name_len[h] == len && memcmp(reg->defs[h].name, name, len) == 0)
			return h;
	}
}

int
tw_task_register(struct tw_task_registry *reg, const struct tw_task_options *o)
{
	size_t len = o != NULL && o->name != NULL ? strlen(o->name) : 0;
	struct tw_task_def *d;
	uint32_t i;

	if (reg == NULL || len == 0 || len >= TW_NAME_MAX || o->fn == NULL ||
	    (o->pool != TW_POOL_SOLO && o->pool != TW_POOL_THREADS))
		return -EINVAL;
	if (tw_tasks_lookup(reg, (const uint8_t *)o->name, (uint32_t)len) != TW_HANDLER_NONE)
		return -EEXIST;
	if (reg->n >= TW_TASKS_MAX)
		return -ENOSPC;
	d = &reg->defs[reg->n];
	memset(d, 0, sizeof(*d));
	if (o->rate_limit != NULL) {
		char err[128];

		if (tw_rate_parse(o->rate_limit, &d->rate_count, &d->rate_period_ms, err,
				  sizeof(err)) != 0)
			return -EINVAL;
	}
	d->name = o->name;
	d->fn = o->fn;
	d->pool = (uint8_t)o->pool;
	d->ignore_result = o->ignore_result;
	d->retry = o->retry;
	d->soft_time_limit_ms = o->soft_time_limit_ms;
	d->time_limit_ms = o->time_limit_ms;
	reg->name_len[reg->n] = (uint32_t)len;
	for (i = tw_routes_hash(o->name, (uint32_t)len, 0) & INDEX_MASK; reg->index[i] != 0;
	     i = (i + 1) & INDEX_MASK)
		;
	reg->index[i] = (uint16_t)(reg->n + 1);
	reg->n++;
	return 0;
}

int
tw_tasks_register(struct tw_task_registry *reg, const char *name, tw_task_fn fn)
{
	struct tw_task_options o = { .name = name, .fn = fn };

	return tw_task_register(reg, &o);
}

int
tw_tasks_load_plugin(struct tw_task_registry *reg, const char *path, char *err, size_t errlen)
{
	tw_plugin_init_fn init;
	uint32_t before = reg->n;
	void *h;
	int ret;

	/* RTLD_NOW: a missing symbol is found here, not on a worker lcore later.
	 * The handle is never closed: handlers live as long as the engine. */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(err, errlen, "plugin %s: %s", path, dlerror());
		return -ENOENT;
	}
	init = (tw_plugin_init_fn)(uintptr_t)dlsym(h, TW_PLUGIN_INIT_SYMBOL);
	if (init == NULL) {
		snprintf(err, errlen, "plugin %s: no %s() function", path, TW_PLUGIN_INIT_SYMBOL);
		dlclose(h);
		return -EINVAL;
	}
	ret = init(reg, TW_PLUGIN_ABI_VERSION);
	if (ret != 0) {
		snprintf(err, errlen, "plugin %s: %s() failed with %d%s", path,
			 TW_PLUGIN_INIT_SYMBOL, ret,
			 ret == -EEXIST ? " (a task name is already registered)" : "");
		/* tasks it registered stay unreachable: the engine refuses to start */
		return ret < 0 ? ret : -EINVAL;
	}
	if (reg->n == before) {
		snprintf(err, errlen, "plugin %s registered no task", path);
		return -EINVAL;
	}
	return 0;
}

int
tw_task_fail(struct tw_task_ctx *io, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf((char *)io->out, io->out_cap, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	io->out_len = (uint32_t)n < io->out_cap ? (uint32_t)n : io->out_cap - 1;
	return TW_TASK_FAILURE;
}
