/*
 * A plugin that refuses to load (its init fails), for the test that a bad
 * plugin stops tw-dataplane at start with a clear message.
 */
#include <taskwire/task.h>

int
taskwire_plugin_init(struct tw_task_registry *reg, int abi)
{
	(void)reg;
	(void)abi;
	return -22;
}
