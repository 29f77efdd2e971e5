/*
 * tw-pause-probe: the machine's own pauses, the baseline for the lcores'
 * longest pass (max_stall_ns). A thread pinned to one CPU does nothing
 * but read the clock; any gap between two reads is time the CPU was taken
 * from it: an interrupt, another task, or (in a VM) the hypervisor not
 * running the vCPU. An lcore loop cannot pause less than this on the same
 * CPU, so make perf-livechange prints it next to the lcores' figures.
 *
 * With --busy-cpu B a second thread spins on CPU B meanwhile, as the load
 * generator does during a run: on a 2-vCPU VM whose host does not give it
 * two whole CPUs, the vCPUs are paused in turn only when both are busy.
 *
 * Each gap is also split by the kernel's account of the probe thread's
 * CPU time (CLOCK_THREAD_CPUTIME_ID, read every iteration): "charged"
 * pauses were counted as the probe's own running time (the kernel did not
 * see them: hypervisor or hardware), the rest went to something the
 * kernel accounts elsewhere (another task, interrupt work, steal).
 *
 *   tw-pause-probe --cpu C [--busy-cpu B] [--seconds S] [--json]
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pauses {
	uint64_t iterations;
	uint64_t over_100us, over_1ms;
	uint64_t longest_ns;
	uint64_t longest_charged_ns;   /* of the longest gap, how much the kernel charged to the probe */
	uint64_t charged_over_1ms;     /* gaps >= 1 ms that the kernel charged to the probe (>= 90%) */
};

/* atomic, not volatile: a sanitized gcc build hoisted the volatile load out of spin()'s loop */
static bool busy_stop;

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *
spin(void *arg)
{
	if (pin(*(int *)arg) != 0)
		return NULL;
	while (!__atomic_load_n(&busy_stop, __ATOMIC_RELAXED))
		;
	return NULL;
}

static void
probe(uint64_t seconds, struct pauses *p)
{
	uint64_t end = clock_ns(CLOCK_MONOTONIC) + seconds * 1000000000u;
	uint64_t prev_wall = clock_ns(CLOCK_MONOTONIC), prev_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);

	memset(p, 0, sizeof(*p));
	for (;;) { /* bounded by the deadline */
		uint64_t wall = clock_ns(CLOCK_MONOTONIC), cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		uint64_t gap = wall - prev_wall, charged = cpu - prev_cpu;

		p->iterations++;
		if (gap >= 100000) {
			p->over_100us++;
			if (gap >= 1000000) {
				p->over_1ms++;
				if (charged * 10 >= gap * 9)
					p->charged_over_1ms++;
			}
			if (gap > p->longest_ns) {
				p->longest_ns = gap;
				p->longest_charged_ns = charged < gap ? charged : gap;
			}
		}
		prev_wall = wall;
		prev_cpu = cpu;
		if (wall >= end)
			break;
	}
}

static int
usage(void)
{
	fprintf(stderr, "usage: tw-pause-probe --cpu C [--busy-cpu B] [--seconds S] [--json]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	int cpu = -1, busy_cpu = -1;
	uint64_t seconds = 10;
	bool json = false;
	pthread_t busy;
	struct pauses p;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (strcmp(argv[i], "--busy-cpu") == 0 && i + 1 < argc)
			busy_cpu = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return usage();
	}
	if (cpu < 0 || cpu >= CPU_SETSIZE || busy_cpu >= CPU_SETSIZE || busy_cpu == cpu ||
	    seconds == 0 || seconds > 3600)
		return usage();
	if (pin(cpu) != 0) {
		fprintf(stderr, "tw-pause-probe: cannot run on CPU %d\n", cpu);
		return 1;
	}
	if (busy_cpu >= 0 && pthread_create(&busy, NULL, spin, &busy_cpu) != 0) {
		fprintf(stderr, "tw-pause-probe: cannot start the busy thread\n");
		return 1;
	}
	probe(seconds, &p);
	if (busy_cpu >= 0) {
		__atomic_store_n(&busy_stop, true, __ATOMIC_RELAXED);
		pthread_join(busy, NULL);
	}
	if (json)
		printf("{\"cpu\": %d, \"busy_cpu\": %d, \"seconds\": %lu, \"iterations\": %lu, "
		       "\"longest_pause_ns\": %lu, \"longest_pause_charged_ns\": %lu, "
		       "\"pauses_over_100us\": %lu, \"pauses_over_1ms\": %lu, "
		       "\"charged_pauses_over_1ms\": %lu}\n",
		       cpu, busy_cpu, (unsigned long)seconds, (unsigned long)p.iterations,
		       (unsigned long)p.longest_ns, (unsigned long)p.longest_charged_ns,
		       (unsigned long)p.over_100us, (unsigned long)p.over_1ms,
		       (unsigned long)p.charged_over_1ms);
	else
		printf("CPU %d, %s, %lu s: longest pause %lu us (%lu us charged to the probe), "
		       "pauses >= 100 us %lu, >= 1 ms %lu (charged %lu)\n",
		       cpu, busy_cpu >= 0 ? "other CPU busy" : "other CPUs as they are",
		       (unsigned long)seconds, (unsigned long)(p.longest_ns / 1000),
		       (unsigned long)(p.longest_charged_ns / 1000), (unsigned long)p.over_100us,
		       (unsigned long)p.over_1ms, (unsigned long)p.charged_over_1ms);
	return 0;
}
