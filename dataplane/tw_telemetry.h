/*
 * DPDK telemetry for tw-dataplane: /taskwire/stats (counters summed over
 * the polling lcores), /taskwire/lcores (plan and per-lcore figures) and
 * /taskwire/queues, so `dpdk-telemetry.py` shows what `twctl status` shows.
 * Callbacks run on EAL's telemetry thread and only read shared memory
 * (relaxed loads of single-writer counters); they add no work to lcores.
 */
#ifndef TW_TELEMETRY_H
#define TW_TELEMETRY_H

#include "tw_shared.h"

/** Register the commands. @return 0 or -errno. Threads: main, once. */
int tw_telemetry_register(struct tw_shared *sh);

#endif
