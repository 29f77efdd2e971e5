/*
 * Built-in tasks, always registered (clients, demos and the perf suites
 * rely on their names): those tw-worker has too (noop, echo, add, fail,
 * flaky, progress, tsum: tw_tasks_portable.c) and sleep_us, which on a
 * worker lcore busy-waits. They run inline on a worker lcore (the solo
 * pool), so none of them allocates or makes a system call.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "tw_lcore.h"
#include "tw_tasks.h"
#include "tw_tasks_portable.h"

#define SLEEP_US_MAX 10000000u /* 10 s: a solo worker is held that long at most */

static int
task_sleep_us(struct tw_task_ctx *io)
{
	int64_t us;

	if (!tw_tasks_scan_int_array(io, &us, 1))
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

int
tw_tasks_register_builtins(struct tw_task_registry *reg)
{
	static const struct tw_task_options sleep_us = { .name = "sleep_us", .fn = task_sleep_us };
	int ret = tw_tasks_register_portable(reg);

	if (ret < 0)
		return ret;
	ret = tw_task_register(reg, &sleep_us);
	return ret < 0 ? ret : 0;
}
