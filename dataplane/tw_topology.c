/*
 * Machine topology from hwloc, reduced to what the lcore plan needs: for
 * every processing unit, its physical core and NUMA node. Cold code, main
 * thread only, before and after rte_eal_init; the hot path never sees it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>

#include "tw_plan.h"

/* NUMA node of a PU: the NUMA node object attached to its nearest ancestor. */
static int32_t
numa_of(hwloc_topology_t topo, hwloc_obj_t pu)
{
	hwloc_obj_t numa = NULL;

	while ((numa = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, numa)) != NULL)
		if (hwloc_bitmap_isset(numa->cpuset, pu->os_index))
			return (int32_t)numa->os_index;
	return -1;
}

static int
cmp_cpu(const void *a, const void *b)
{
	const struct tw_cpu_desc *x = a, *y = b;

	return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

int
tw_topology_load(struct tw_topology *t)
{
	hwloc_topology_t topo;
	hwloc_obj_t pu = NULL;
	int n_pu;

	memset(t, 0, sizeof(*t));
	if (hwloc_topology_init(&topo) != 0)
		return -ENOMEM;
	if (hwloc_topology_load(topo) != 0) {
		hwloc_topology_destroy(topo);
		return -EIO;
	}
	n_pu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
	while ((pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu)) != NULL &&
	       t->n_cpus < TW_TOPO_MAX_CPUS) {
		hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
		struct tw_cpu_desc *d = &t->cpus[t->n_cpus++];

		d->cpu = pu->os_index;
		/* A PU without a core object (some VMs) is its own core. */
		d->core = core != NULL ? core->logical_index : (uint32_t)(n_pu + pu->logical_index);
		d->numa_node = numa_of(topo, pu);
	}
	t->n_cores = (uint32_t)hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	if (t->n_cores == 0)
		t->n_cores = t->n_cpus;
	t->n_numa = (uint32_t)hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	hwloc_topology_destroy(topo);
	qsort(t->cpus, t->n_cpus, sizeof(t->cpus[0]), cmp_cpu);
	return t->n_cpus > 0 ? 0 : -ENODEV;
}

const struct tw_cpu_desc *
tw_topology_cpu(const struct tw_topology *t, uint32_t cpu)
{
	for (uint32_t i = 0; i < t->n_cpus; i++)
		if (t->cpus[i].cpu == cpu)
			return &t->cpus[i];
	return NULL;
}
