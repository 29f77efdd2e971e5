/*
 * The lcore plan: see tw_plan.h for the rules. Cold code, main thread only.
 * Pure functions of a tw_topology and EAL's lcore list, so the unit tests
 * drive them with synthetic machines (one core, hyperthreads, two NUMA
 * nodes) without hwloc or EAL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "tw_plan.h"

static bool
core_taken(const uint32_t *cores, uint32_t n, uint32_t core)
{
	for (uint32_t i = 0; i < n; i++)
		if (cores[i] == core)
			return true;
	return false;
}

int
tw_plan_choose_cpus(const struct tw_topology *t, const cpu_set_t *allowed, unsigned max_pollers,
		    char *buf, size_t len)
{
	static uint32_t cores[TW_TOPO_MAX_CPUS], cpus[TW_TOPO_MAX_CPUS];
	static int32_t numas[TW_TOPO_MAX_CPUS];
	uint32_t n = 0, pollers, main_cpu;
	size_t off = 0;
	int w;

	if (max_pollers == 0)
		max_pollers = 1;
	if (max_pollers > TW_MAX_LCORES)
		max_pollers = TW_MAX_LCORES;
	/* One CPU per physical core, in CPU order: siblings are never paired. */
	for (uint32_t i = 0; i < t->n_cpus; i++) {
		const struct tw_cpu_desc *d = &t->cpus[i];

		if (!CPU_ISSET(d->cpu, allowed) || core_taken(cores, n, d->core))
			continue;
		cores[n] = d->core;
		cpus[n] = d->cpu;
		numas[n] = d->numa_node < 0 ? 0 : d->numa_node;
		n++;
	}
	/*
	 * The port's NUMA node is unknown before EAL probes it, so keep the
	 * pollers together on the lowest node (stable insertion sort by node).
	 */
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && numas[j - 1] > numas[j]; j--) {
			uint32_t c = cpus[j], k = cores[j];
			int32_t m = numas[j];

			cpus[j] = cpus[j - 1], cores[j] = cores[j - 1], numas[j] = numas[j - 1];
			cpus[j - 1] = c, cores[j - 1] = k, numas[j - 1] = m;
		}
	if (n == 0)
		return -EINVAL;
	/*
	 * The main lcore only does housekeeping (it sleeps in the launch wait),
	 * so it takes the first core and the pollers the others. With one core
	 * there is nothing to spare: main and the poller share it.
	 */
	main_cpu = cpus[0];
	pollers = n > 1 ? n - 1 : 1;
	if (pollers > max_pollers)
		pollers = max_pollers;
	w = snprintf(buf, len, "0@%u", main_cpu);
	if (w < 0 || (size_t)w >= len)
		return -ENOSPC;
	off = (size_t)w;
	for (uint32_t i = 0; i < pollers; i++) {
		w = snprintf(buf + off, len - off, ",%u@%u", i + 1, n > 1 ? cpus[i + 1] : main_cpu);
		if (w < 0 || (size_t)w >= len - off)
			return -ENOSPC;
		off += (size_t)w;
	}
	return (int)pollers;
}

static void
describe(const struct tw_topology *t, uint32_t lcore, uint32_t cpu, struct tw_plan_entry *e)
{
	const struct tw_cpu_desc *d = tw_topology_cpu(t, cpu);

	memset(e, 0, sizeof(*e));
	e->lcore_id = lcore;
	e->cpu = cpu;
	e->core = d != NULL ? d->core : cpu;
	e->numa_node = d != NULL ? d->numa_node : -1;
}

int
tw_plan_assign(const struct tw_topology *t, const struct tw_plan_input *in,
	       struct tw_plan_entry *out, size_t max_out, char *mode_name, size_t mode_len)
{
	uint32_t used_cores[TW_MAX_LCORES];
	uint32_t n = 1, pollers = 0;

	if (max_out < 2)
		return -ENOSPC;
	describe(t, in->main_lcore, in->main_cpu, &out[0]);
	out[0].role = TW_ROLE_MAIN;
	out[0].qsbr_id = UINT32_MAX; /* never polls, never reports quiescent states */

	/* Port-local lcores first, then the rest, each group in EAL order. */
	for (int local = 1; local >= 0; local--) {
		for (uint32_t i = 0; i < in->n_lcores; i++) {
			struct tw_plan_entry e;
			bool is_local;

			describe(t, in->lcores[i].lcore_id, in->lcores[i].cpu, &e);
			is_local = in->port_numa < 0 || e.numa_node == in->port_numa;
			if (is_local != (local == 1))
				continue;
			if (pollers == TW_MAX_LCORES || n == max_out)
				break;
			/* auto: one polling role per physical core */
			if (in->mode == TW_PLAN_AUTO && core_taken(used_cores, pollers, e.core))
				continue;
			used_cores[pollers] = e.core;
			e.qsbr_id = pollers++;
			out[n++] = e;
		}
	}
	if (pollers == 0)
		return -ENODEV;
	if (in->mode == TW_PLAN_PIPELINE && pollers < 2)
		return -EINVAL;

	bool rtc = in->mode == TW_PLAN_RTC || (in->mode == TW_PLAN_AUTO && pollers == 1);

	uint32_t n_io = rtc ? 1 : (in->n_io == 0 ? 1 : in->n_io);

	if (!rtc && n_io > pollers - 1)
		n_io = pollers - 1;     /* a pipeline keeps a worker */
	out[1].role = rtc ? TW_ROLE_RTC : TW_ROLE_IO;
	for (uint32_t i = 2; i < n; i++)
		out[i].role = i <= n_io ? TW_ROLE_IO : TW_ROLE_WORKER;
	snprintf(mode_name, mode_len, "%s", rtc ? "run-to-completion" : "pipeline");
	return (int)n;
}

void
tw_plan_format(const struct tw_plan_entry *plan, uint32_t n, const char *mode_name, char *buf,
	       size_t len)
{
	size_t off;
	int w;

	w = snprintf(buf, len, "lcore plan: %s, %u polling lcore%s\n", mode_name, n - 1,
		     n - 1 == 1 ? "" : "s");
	off = w < 0 ? 0 : (size_t)w;
	for (uint32_t i = 0; i < n && off < len; i++) {
		const struct tw_plan_entry *e = &plan[i];

		w = snprintf(buf + off, len - off, "  lcore %-3u cpu %-3u core %-3u numa %-2d %s\n",
			     e->lcore_id, e->cpu, e->core, e->numa_node, tw_role_name(e->role));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}
