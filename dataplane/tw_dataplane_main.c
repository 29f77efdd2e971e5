/*
 * tw-dataplane: the DPDK primary process. It owns the port, the pools, the
 * rings and the polling lcores; tw-control attaches to its shared memory.
 *
 *   tw-dataplane [EAL options] -- --ip A.B.C.D [options]   (--help for the list)
 *
 * main() reads as the table of contents: options, lcores, EAL, plan,
 * set-up, launch, wait, stop.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "tw_broker.h"
#include "tw_broker_definitions.h"
#include "tw_definitions.h"
#include "tw_engine.h"
#include "tw_journal.h"
#include "tw_keys.h"
#include "tw_lcore.h"
#include "tw_log.h"
#include "tw_plan.h"
#include "tw_telemetry.h"

#define MAX_EAL_ARGS 128

static void
on_signal(int sig)
{
	(void)sig;
	__atomic_store_n(&tw_force_quit, true, __ATOMIC_RELAXED);
}

/* Index of "--" in argv, or argc if absent. */
static int
find_separator(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			return i;
	return argc;
}

static bool
has_lcore_option(int n, char **argv)
{
	for (int i = 1; i < n; i++)
		if (strncmp(argv[i], "-l", 2) == 0 || strncmp(argv[i], "-c", 2) == 0 ||
		    strncmp(argv[i], "--lcores", 8) == 0)
			return true;
	return false;
}

/*
 * Without an lcore list from the user, choose one from the hwloc topology
 * and the process's CPU affinity, before EAL pins anything.
 */
static int
add_planned_lcores(const struct tw_config *cfg, char *buf, size_t len)
{
	static struct tw_topology topo;
	cpu_set_t allowed;
	int ret;

	ret = tw_topology_load(&topo);
	if (ret < 0)
		return ret;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return -errno;
	ret = tw_plan_choose_cpus(&topo, &allowed, (unsigned)cfg->max_pollers, buf, len);
	return ret < 0 ? ret : 0;
}

/*
 * --definitions: exchanges, queues and bindings in place before the first
 * packet, through the broker library tw-control uses too (so the same
 * checks, and tw-control finds them when it attaches). No lcore polls
 * yet, so publishing the table waits for nobody.
 */
static int
load_definitions(struct tw_engine *e, const char *file, const char *who)
{
	static struct tw_broker broker;
	char err[TW_BROKER_ERR_MAX];
	int ret = tw_broker_attach(&broker, e->shared, err);

	if (ret != 0) {
		fprintf(stderr, "tw-dataplane: %s\n", err);
		return ret;
	}
	ret = tw_broker_definitions_load_file(&broker, file, who);
	tw_broker_detach(&broker);
	return ret;
}

/*
 * The durable definitions tw-control saved in the data directory when it
 * last changed them (exchanges, durable queues, their bindings): in place
 * before --definitions (which may repeat them, a no-op) and before the
 * journal puts recovered tasks back into those queues.
 */
static int
load_saved_definitions(struct tw_engine *e)
{
	char path[PATH_MAX];

	if (e->cfg.data_dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", e->cfg.data_dir, TW_DEFS_SAVED_FILE);
	if (access(path, F_OK) != 0)
		return 0;
	return load_definitions(e, path, "tw-dataplane (saved definitions)");
}

/*
 * Tasks (built-in, plugins, per-task settings) and publisher keys: loaded
 * before EAL starts, so that a bad plugin or keys file stops us before
 * any hugepage or runtime file exists. @return 0, or -1 (message printed).
 */
static int
load_tasks_and_keys(struct tw_engine *e)
{
	static struct tw_keys keys;
	char err[512];
	int ret = tw_tasks_register_builtins(&e->tasks);

	if (ret < 0) {
		fprintf(stderr, "tw-dataplane: built-in tasks: %s\n", strerror(-ret));
		return -1;
	}
	for (uint32_t i = 0; i < e->cfg.plugins.n; i++) {
		if (tw_tasks_load_plugin(&e->tasks, e->cfg.plugins.v[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "tw-dataplane: %s\n", err);
			return -1;
		}
		printf("tw-dataplane: loaded %s (%u tasks registered)\n", e->cfg.plugins.v[i],
		       e->tasks.n);
	}
	for (uint32_t i = 0; i < e->cfg.task_opts.n; i++) {
		if (tw_tasks_configure(&e->tasks, e->cfg.task_opts.v[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "tw-dataplane: %s\n", err);
			return -1;
		}
	}
	if (e->cfg.keys != NULL) {
		if (tw_keys_load(&keys, e->cfg.keys, err, sizeof(err)) != 0) {
			fprintf(stderr, "tw-dataplane: %s\n", err);
			return -1;
		}
		e->keys = &keys;
		printf("tw-dataplane: %u publisher keys from %s: frames must be authenticated\n",
		       keys.n, e->cfg.keys);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct tw_engine engine;
	static char lcores_arg[2048];
	char *eal_argv[MAX_EAL_ARGS];
	int sep = find_separator(argc, argv), eal_argc = 0, ret;

	/* 1. application options (after "--"), parsed first: they shape the EAL lcores */
	char *app_argv0 = argv[0];
	char **app_argv = sep < argc ? &argv[sep] : &app_argv0;
	int app_argc = sep < argc ? argc - sep : 1;

	if (sep < argc)
		app_argv[0] = argv[0];
	ret = tw_config_parse(&engine.cfg, app_argc, app_argv);
	if (ret != 0)
		return ret > 0 ? 0 : 2;
	if (load_tasks_and_keys(&engine) != 0)
		return 1;

	/* 2. EAL arguments, with a planned lcore list unless the user gave one */
	if (sep + 2 > MAX_EAL_ARGS) {
		fprintf(stderr, "tw-dataplane: too many EAL arguments\n");
		return 2;
	}
	for (int i = 0; i < sep; i++)
		eal_argv[eal_argc++] = argv[i];
	if (!has_lcore_option(sep, argv)) {
		ret = add_planned_lcores(&engine.cfg, lcores_arg, sizeof(lcores_arg));
		if (ret < 0) {
			fprintf(stderr, "tw-dataplane: cannot plan lcores: %s\n", strerror(-ret));
			return 1;
		}
		eal_argv[eal_argc++] = "--lcores";
		eal_argv[eal_argc++] = lcores_arg;
	}

	/* 3. EAL */
	ret = rte_eal_init(eal_argc, eal_argv);
	if (ret < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed: %s\n", rte_strerror(rte_errno));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* 4. plan, shared memory, port */
	if (tw_engine_plan(&engine) < 0 || tw_engine_setup(&engine) < 0)
		rte_exit(EXIT_FAILURE, "set-up failed (see above)\n");
	/* durable queues in the definitions need it: the journal is opened just after */
	if (engine.cfg.data_dir != NULL)
		engine.shared->journal.enabled = 1;
	if (load_saved_definitions(&engine) != 0)
		rte_exit(EXIT_FAILURE, "saved definitions refused (see above; the file may be "
			 "moved aside to start without them)\n");
	if (engine.cfg.definitions != NULL &&
	    load_definitions(&engine, engine.cfg.definitions, "tw-dataplane") != 0)
		rte_exit(EXIT_FAILURE, "definitions refused (see above)\n");
	/* the journal after the definitions: recovered tasks go back into their queues */
	if (tw_journal_start(&engine) != 0)
		rte_exit(EXIT_FAILURE, "journal refused (see above)\n");
	if (tw_telemetry_register(engine.shared) != 0)
		fprintf(stderr, "tw-dataplane: telemetry commands not registered (--no-telemetry?)\n");

	/* 5. launch, then housekeeping on the main lcore until told to stop */
	if (tw_engine_launch(&engine) < 0) {
		tw_engine_stop(&engine);
		rte_exit(EXIT_FAILURE, "launch failed\n");
	}
	printf("tw-dataplane: ready on port %u (%s) ip %u.%u.%u.%u udp %u, pid %d\n",
	       engine.shared->port_id, engine.shared->port_name,
	       ((uint8_t *)&engine.shared->ip_be)[0], ((uint8_t *)&engine.shared->ip_be)[1],
	       ((uint8_t *)&engine.shared->ip_be)[2], ((uint8_t *)&engine.shared->ip_be)[3],
	       engine.shared->udp_port, getpid());
	fflush(stdout);
	while (!__atomic_load_n(&tw_force_quit, __ATOMIC_RELAXED)) {
		tw_engine_housekeeping(&engine);
		usleep(10 * 1000);
	}

	/* 6. stop */
	tw_engine_stop(&engine);
	rte_eal_cleanup();
	return 0;
}
