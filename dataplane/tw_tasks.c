/*
 * Task registry (see tw_tasks.h): a fixed table and an open-addressing
 * index by name, filled from the built-ins and plugins. Written by main
 * before launch; read by every lcore.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

bool
tw_tasks_use_threads(const struct tw_task_registry *reg)
{
	for (uint32_t i = 0; i < reg->n; i++)
		if (reg->defs[i].pool == TW_POOL_THREADS)
			return true;
	return false;
}

static int
parse_u32(const char *v, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n > max)
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

int
tw_tasks_configure(struct tw_task_registry *reg, const char *setting, char *err, size_t errlen)
{
	const char *colon = strrchr(setting, ':'), *eq = colon != NULL ? strchr(colon, '=') : NULL;
	struct tw_task_def *d;
	char key[32];
	uint16_t h;

	if (colon == NULL || eq == NULL || colon == setting || (size_t)(eq - colon - 1) >= sizeof(key)) {
		snprintf(err, errlen, "--task '%s': expected NAME:KEY=VALUE", setting);
		return -EINVAL;
	}
	h = tw_tasks_lookup(reg, (const uint8_t *)setting, (uint32_t)(colon - setting));
	if (h == TW_HANDLER_NONE) {
		snprintf(err, errlen, "--task '%s': no task named '%.*s' is registered", setting,
			 (int)(colon - setting), setting);
		return -ENOENT;
	}
	d = &reg->defs[h];
	memcpy(key, colon + 1, (size_t)(eq - colon - 1));
	key[eq - colon - 1] = '\0';
	if (strcmp(key, "pool") == 0 && (strcmp(eq + 1, "solo") == 0 || strcmp(eq + 1, "threads") == 0)) {
		d->pool = strcmp(eq + 1, "threads") == 0 ? TW_POOL_THREADS : TW_POOL_SOLO;
		return 0;
	}
	if (strcmp(key, "time-limit") == 0 && parse_u32(eq + 1, 86400000, &d->time_limit_ms) == 0)
		return 0;
	if (strcmp(key, "soft-time-limit") == 0 &&
	    parse_u32(eq + 1, 86400000, &d->soft_time_limit_ms) == 0)
		return 0;
	if (strcmp(key, "max-retries") == 0 && parse_u32(eq + 1, 1000, &d->retry.max_retries) == 0)
		return 0;
	if (strcmp(key, "rate-limit") == 0) {
		char why[128];

		if (tw_rate_parse(eq + 1, &d->rate_count, &d->rate_period_ms, why, sizeof(why)) == 0)
			return 0;
		snprintf(err, errlen, "--task '%s': %s", setting, why);
		return -EINVAL;
	}
	snprintf(err, errlen, "--task '%s': unknown key or bad value (pool=solo|threads, "
		 "time-limit=MS, soft-time-limit=MS, rate-limit=RATE, max-retries=N)", setting);
	return -EINVAL;
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
