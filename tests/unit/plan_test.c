/*
 * Unit tests for the lcore plan (dataplane/tw_plan.c) on synthetic
 * machines: one core, two cores (this CI machine), hyperthreads, two NUMA
 * nodes, and the explicit rtc/pipeline modes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tw_plan.h"

/* n_cpus PUs, `threads` per core, cores split evenly over n_numa nodes. */
static void
machine(struct tw_topology *t, uint32_t n_cpus, uint32_t threads, uint32_t n_numa)
{
	uint32_t n_cores = n_cpus / threads;

	memset(t, 0, sizeof(*t));
	t->n_cpus = n_cpus;
	t->n_cores = n_cores;
	t->n_numa = n_numa;
	for (uint32_t c = 0; c < n_cpus; c++) {
		/* Linux numbering: siblings are cpu c and c + n_cores */
		uint32_t core = c % n_cores;

		t->cpus[c].cpu = c;
		t->cpus[c].core = core;
		t->cpus[c].numa_node = (int32_t)(core / (n_cores / n_numa));
	}
}

static void
all_cpus(cpu_set_t *s, uint32_t n)
{
	CPU_ZERO(s);
	for (uint32_t i = 0; i < n; i++)
		CPU_SET(i, s);
}

static struct tw_topology topo;

static void
test_choose_two_cores(void **state)
{
	cpu_set_t allowed;
	char buf[128];

	(void)state;
	machine(&topo, 2, 1, 1);
	all_cpus(&allowed, 2);
	assert_int_equal(tw_plan_choose_cpus(&topo, &allowed, 16, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "0@0,1@1");
}

static void
test_choose_one_core_shares(void **state)
{
	cpu_set_t allowed;
	char buf[128];

	(void)state;
	machine(&topo, 4, 1, 1);
	CPU_ZERO(&allowed);
	CPU_SET(2, &allowed);
	assert_int_equal(tw_plan_choose_cpus(&topo, &allowed, 16, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "0@2,1@2");
}

static void
test_choose_skips_siblings(void **state)
{
	cpu_set_t allowed;
	char buf[128];

	(void)state;
	machine(&topo, 8, 2, 1); /* 4 cores, siblings c and c+4 */
	all_cpus(&allowed, 8);
	assert_int_equal(tw_plan_choose_cpus(&topo, &allowed, 16, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "0@0,1@1,2@2,3@3");
	assert_int_equal(tw_plan_choose_cpus(&topo, &allowed, 2, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "0@0,1@1,2@2");
	assert_int_equal(tw_plan_choose_cpus(&topo, &allowed, 2, buf, 6), -ENOSPC);
	CPU_ZERO(&allowed);
	assert_int_equal(tw_plan_choose_cpus(&topo, &allowed, 2, buf, sizeof(buf)), -EINVAL);
}

static struct tw_plan_input
input(enum tw_plan_mode mode, int32_t numa, const uint32_t *cpus, uint32_t n)
{
	struct tw_plan_input in;

	memset(&in, 0, sizeof(in));
	in.mode = mode;
	in.port_numa = numa;
	in.main_lcore = 0;
	in.main_cpu = 0;
	for (uint32_t i = 0; i < n; i++) {
		in.lcores[i].lcore_id = i + 1;
		in.lcores[i].cpu = cpus[i];
	}
	in.n_lcores = n;
	return in;
}

static void
test_assign_rtc_when_small(void **state)
{
	static const uint32_t cpus[] = { 1 };
	struct tw_plan_input in = input(TW_PLAN_AUTO, -1, cpus, 1);
	struct tw_plan_entry out[TW_MAX_LCORES + 1];
	char mode[32], text[512];

	(void)state;
	machine(&topo, 2, 1, 1);
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), 2);
	assert_string_equal(mode, "run-to-completion");
	assert_int_equal(out[0].role, TW_ROLE_MAIN);
	assert_int_equal(out[1].role, TW_ROLE_RTC);
	assert_int_equal(out[1].lcore_id, 1);
	assert_int_equal(out[1].cpu, 1);
	assert_int_equal(out[1].qsbr_id, 0);
	tw_plan_format(out, 2, mode, text, sizeof(text));
	assert_non_null(strstr(text, "run-to-completion, 1 polling lcore\n"));
	assert_non_null(strstr(text, "io+worker"));
}

static void
test_assign_pipeline_numa_local_first(void **state)
{
	/* 8 cores on 2 nodes (0-3 node 0, 4-7 node 1); port on node 1 */
	static const uint32_t cpus[] = { 1, 2, 5, 6 };
	struct tw_plan_input in = input(TW_PLAN_AUTO, 1, cpus, 4);
	struct tw_plan_entry out[TW_MAX_LCORES + 1];
	char mode[32];

	(void)state;
	machine(&topo, 8, 1, 2);
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), 5);
	assert_string_equal(mode, "pipeline");
	assert_int_equal(out[1].cpu, 5);
	assert_int_equal(out[1].role, TW_ROLE_IO);
	assert_int_equal(out[2].cpu, 6);
	assert_int_equal(out[3].cpu, 1);
	assert_int_equal(out[4].cpu, 2);
	for (int i = 2; i < 5; i++) {
		assert_int_equal(out[i].role, TW_ROLE_WORKER);
		assert_int_equal(out[i].qsbr_id, i - 1);
	}
}

static void
test_assign_modes_and_siblings(void **state)
{
	/* two lcores mapped onto one cpu (tests do this with --lcores) */
	static const uint32_t cpus[] = { 1, 1 };
	struct tw_plan_entry out[TW_MAX_LCORES + 1];
	struct tw_plan_input in;
	char mode[32];

	(void)state;
	machine(&topo, 2, 1, 1);
	in = input(TW_PLAN_AUTO, -1, cpus, 2);
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), 2); /* sibling left out */
	in = input(TW_PLAN_PIPELINE, -1, cpus, 2);
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), 3);
	assert_int_equal(out[1].role, TW_ROLE_IO);
	assert_int_equal(out[2].role, TW_ROLE_WORKER);
	in = input(TW_PLAN_RTC, -1, cpus, 2);
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), 3);
	assert_int_equal(out[1].role, TW_ROLE_RTC);
	assert_int_equal(out[2].role, TW_ROLE_WORKER);
	in = input(TW_PLAN_PIPELINE, -1, cpus, 1);
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), -EINVAL);
	in = input(TW_PLAN_AUTO, -1, cpus, 0);
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), -ENODEV);
}

/* Pipeline with several io lcores: the first n_io pollers poll the port,
 * and however many are asked for, one poller is left to run tasks. */
static void
test_assign_several_io_lcores(void **state)
{
	static const uint32_t cpus[] = { 1, 2, 3, 4, 5 };
	struct tw_plan_input in;
	struct tw_plan_entry out[17];
	char mode[32];

	(void)state;
	machine(&topo, 8, 1, 1);
	in = input(TW_PLAN_PIPELINE, -1, cpus, 5);
	in.n_io = 2;
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), 6);
	assert_int_equal(out[1].role, TW_ROLE_IO);
	assert_int_equal(out[2].role, TW_ROLE_IO);
	for (int i = 3; i < 6; i++)
		assert_int_equal(out[i].role, TW_ROLE_WORKER);
	in.n_io = 9;
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), 6);
	for (int i = 1; i < 5; i++)
		assert_int_equal(out[i].role, TW_ROLE_IO);
	assert_int_equal(out[5].role, TW_ROLE_WORKER);
	/* run to completion has one poller of the port whatever n_io says */
	in = input(TW_PLAN_RTC, -1, cpus, 2);
	in.n_io = 2;
	assert_int_equal(tw_plan_assign(&topo, &in, out, 17, mode, sizeof(mode)), 3);
	assert_int_equal(out[1].role, TW_ROLE_RTC);
	assert_int_equal(out[2].role, TW_ROLE_WORKER);
}

static void
test_topology_of_this_machine(void **state)
{
	(void)state;
	assert_int_equal(tw_topology_load(&topo), 0);
	assert_true(topo.n_cpus >= 1);
	assert_non_null(tw_topology_cpu(&topo, topo.cpus[0].cpu));
	assert_null(tw_topology_cpu(&topo, 100000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose_two_cores),
		cmocka_unit_test(test_choose_one_core_shares),
		cmocka_unit_test(test_choose_skips_siblings),
		cmocka_unit_test(test_assign_rtc_when_small),
		cmocka_unit_test(test_assign_pipeline_numa_local_first),
		cmocka_unit_test(test_assign_modes_and_siblings),
		cmocka_unit_test(test_assign_several_io_lcores),
		cmocka_unit_test(test_topology_of_this_machine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
