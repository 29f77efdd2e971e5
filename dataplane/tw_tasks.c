/*
 * Task registry (see tw_tasks.h): a fixed table and an open-addressing
 * index by name. Written by main before launch; read by every lcore.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tw_routes.h"
#include "tw_task.h"
#include "tw_tasks.h"

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
tw_tasks_register(struct tw_task_registry *reg, const char *name, tw_task_fn fn)
{
	size_t len = name != NULL ? strlen(name) : 0;
	uint32_t i;

	if (len == 0 || len >= TW_NAME_MAX || fn == NULL)
		return -EINVAL;
	if (tw_tasks_lookup(reg, (const uint8_t *)name, (uint32_t)len) != TW_HANDLER_NONE)
		return -EEXIST;
	if (reg->n >= TW_TASKS_MAX)
		return -ENOSPC;
	reg->defs[reg->n].name = name;
	reg->defs[reg->n].fn = fn;
	reg->name_len[reg->n] = (uint32_t)len;
	for (i = tw_routes_hash(name, (uint32_t)len, 0) & INDEX_MASK; reg->index[i] != 0;
	     i = (i + 1) & INDEX_MASK)
		;
	reg->index[i] = (uint16_t)(reg->n + 1);
	reg->n++;
	return 0;
}

int
tw_task_fail(struct tw_task_io *io, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf((char *)io->out, io->out_cap, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	io->out_len = (uint32_t)n < io->out_cap ? (uint32_t)n : io->out_cap - 1;
	return -1;
}
