/*
 * The lcore plan: which lcore runs which role, derived from the hwloc
 * topology. Cold code, run once at start-up; the data plane never reads
 * hwloc. Two steps:
 *  1. before rte_eal_init, when the user gave no -l/-c/--lcores:
 *     tw_plan_choose_cpus() picks the CPUs and writes an --lcores value;
 *  2. after rte_eal_init: tw_plan_assign() gives each EAL lcore a role.
 *
 * Rules: physical cores first, NUMA-local to the port first (a remote
 * node costs every packet an interconnect hop), one polling role per
 * physical core (two pollers on hyperthread siblings halve each other),
 * the main lcore left for housekeeping. One polling lcore: it runs every
 * stage (run to completion). More: the first is io, the rest are workers,
 * joined by the queue rings (pipeline).
 */
#ifndef TW_PLAN_H
#define TW_PLAN_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include "tw_shared.h"

#define TW_TOPO_MAX_CPUS 1024

/* One processing unit (hardware thread) as hwloc sees it. */
struct tw_cpu_desc {
	uint32_t cpu;       /* OS index, as in sched_setaffinity */
	uint32_t core;      /* physical core, hwloc logical index (unique machine-wide) */
	int32_t numa_node;  /* OS index of its NUMA node, -1 if unknown */
};

struct tw_topology {
	uint32_t n_cpus;
	uint32_t n_cores;
	uint32_t n_numa;
	struct tw_cpu_desc cpus[TW_TOPO_MAX_CPUS]; /* sorted by cpu */
};

enum tw_plan_mode { TW_PLAN_AUTO = 0, TW_PLAN_RTC, TW_PLAN_PIPELINE };

/**
 * Fill t from hwloc (the machine this process runs on).
 * @return 0 or -errno. Threads: main only, before launch.
 */
int tw_topology_load(struct tw_topology *t);

/** @return the description of an OS cpu, or NULL. */
const struct tw_cpu_desc *tw_topology_cpu(const struct tw_topology *t, uint32_t cpu);

/**
 * Choose CPUs for the main lcore and the polling lcores among `allowed`,
 * and write an EAL --lcores value such as "0@0,1@1" into buf.
 * @param max_pollers  upper bound on polling lcores (>= 1).
 * @return number of polling lcores chosen (>= 1), or -errno (-ENOSPC: buf
 *   too small, -EINVAL: nothing allowed).
 */
int tw_plan_choose_cpus(const struct tw_topology *t, const cpu_set_t *allowed,
			unsigned max_pollers, char *buf, size_t len);

struct tw_plan_lcore {
	uint32_t lcore_id;
	uint32_t cpu;       /* first cpu of the lcore's cpuset */
};

struct tw_plan_input {
	enum tw_plan_mode mode;
	int32_t port_numa;              /* -1: unknown (virtual devices) */
	uint32_t main_lcore;
	uint32_t main_cpu;
	uint32_t n_lcores;              /* EAL worker lcores, main excluded */
	uint32_t n_io;                  /* pipeline: io lcores wanted (0 counts as 1); at
					 * least one poller is left for the workers */
	struct tw_plan_lcore lcores[TW_MAX_LCORES * 4];
};

/**
 * Assign roles. out[0] is the main lcore (TW_ROLE_MAIN); out[1..] are the
 * polling lcores in qsbr-id order (qsbr_id = index - 1), the first n_io
 * of them io (or one run-to-completion lcore when it is the only poller),
 * the rest workers.
 * Lcores left out of the plan (a second lcore on an already used physical
 * core in auto mode, or beyond TW_MAX_LCORES) are not in out.
 * mode_name receives "run-to-completion" or "pipeline".
 * @return number of entries in out (>= 2), or -errno (-ENODEV: no lcore
 *   besides the main one).
 */
int tw_plan_assign(const struct tw_topology *t, const struct tw_plan_input *in,
		   struct tw_plan_entry *out, size_t max_out, char *mode_name, size_t mode_len);

/** Human-readable plan, one line per lcore, for the start-up log. */
void tw_plan_format(const struct tw_plan_entry *plan, uint32_t n, const char *mode_name,
		    char *buf, size_t len);

#endif
