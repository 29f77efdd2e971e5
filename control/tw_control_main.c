/*
 * tw-control: the control process. It attaches to tw-dataplane's shared
 * memory as a DPDK secondary process, rebuilds its model of the broker
 * from it, and serves the control socket until told to stop or until the
 * primary exits (a secondary whose primary is gone must not linger).
 *
 *   tw-control [EAL options] -- [--socket PATH]
 *
 * EAL options need the primary's --file-prefix; --proc-type=secondary and
 * a private lcore id are added here. main() is the table of contents:
 * options, EAL, attach, serve, teardown.
 */
#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_memzone.h>

#include "ctl_beat.h"
#include "ctl_collect.h"
#include "ctl_ctx.h"
#include "ctl_durable_defs.h"
#include "ctl_events.h"
#include "ctl_handlers.h"
#include "ctl_reattach.h"
#include "ctl_metrics.h"
#include "ctl_revoke.h"
#include "ctl_sched.h"
#include "ctl_server.h"
#include "ctl_store.h"
#include "tw_broker_counters.h"
#include "tw_broker_definitions.h"
#include "tw_ctl_socket.h"

#define MAX_EAL_ARGS 64
#define CTL_DEFAULT_STORE "/var/lib/taskwire/store"
#define STORE_MAP_SIZE (4ull << 30) /* address space, not memory: the store's default size limit */
#define RESULT_EXPIRES_MAX_S (30u * 86400) /* the longest a publisher may keep a result, by default */

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct control_opts {
	const char *socket;
	const char *definitions;
	const char *metrics;        /* ADDR:PORT, or "off" */
	const char *store;          /* result store directory, or "off" */
	uint64_t result_expires_ms;
	uint64_t result_expires_max_s;  /* cap on a task's own result_expires */
	bool result_expires_given;
	uint64_t store_map_bytes;
	uint64_t sched_max, sched_max_per_publisher;
	unsigned reattach_wait_s;       /* 0: stop with the primary */
	bool events_always;         /* --events always: record task events with no follower */
	unsigned grace_timeout_ms;
	long socket_group;          /* gid also allowed on the control socket, -1: none */
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: tw-control [EAL options] -- [--socket PATH] [--grace-timeout-ms N]\n"
		   "                         [--definitions FILE]\n"
		   "  --socket PATH          control socket (default %s)\n"
		   "  --socket-group GROUP   also let this group (name or gid) use it (mode 0660)\n"
		   "  --definitions FILE     import RabbitMQ-shaped definitions at start\n"
		   "  --metrics ADDR:PORT    Prometheus /metrics (default 127.0.0.1:9464; port 0: any;\n"
		   "                         off: none)\n"
		   "  --store DIR            result store (LMDB) directory (default %s; off: none)\n"
		   "  --result-expires S     how long results are kept unless a task says (86400)\n"
		   "  --result-expires-max S the longest a task may ask its result be kept\n"
		   "                         (2592000: 30 days; longer requests are cut to it)\n"
		   "  --store-size MIB       the result store's size limit (4096); when full, expired\n"
		   "                         results go first, then new results are refused (counted)\n"
		   "  --sched-max N          delayed tasks held at most, in total (1000000); past it\n"
		   "                         new ones are NACKed no-resources\n"
		   "  --sched-max-per-publisher N  the same for one publisher address (100000)\n"
		   "  --reattach-wait S      when tw-dataplane exits, wait up to S s for a new one\n"
		   "                         and attach to it (0, the default: stop with it)\n"
		   "  --events MODE          task events: followed (only while someone follows,\n"
		   "                         the default) or always\n"
		   "  --grace-timeout-ms N   longest wait for lcores to leave an old routing\n"
		   "                         table before it is kept instead of freed (2000)\n",
		TW_CTL_DEFAULT_SOCKET, CTL_DEFAULT_STORE);
}

/* @return 0, 1 after --help, or -1 on a usage error. */
static int
parse_opts(int argc, char **argv, struct control_opts *o)
{
	static const struct option longs[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "socket-group", required_argument, NULL, 'G' },
		{ "grace-timeout-ms", required_argument, NULL, 'g' },
		{ "definitions", required_argument, NULL, 'd' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "store", required_argument, NULL, 'S' },
		{ "result-expires", required_argument, NULL, 'e' },
		{ "events", required_argument, NULL, 'E' },
		{ "result-expires-max", required_argument, NULL, 'X' },
		{ "store-size", required_argument, NULL, 'Z' },
		{ "sched-max", required_argument, NULL, 'M' },
		{ "sched-max-per-publisher", required_argument, NULL, 'P' },
		{ "reattach-wait", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->socket = TW_CTL_DEFAULT_SOCKET;
	o->socket_group = -1;
	o->definitions = NULL;
	o->metrics = "127.0.0.1:9464";
	o->grace_timeout_ms = 2000;
	o->store = CTL_DEFAULT_STORE;
	o->result_expires_ms = 86400000;
	o->result_expires_max_s = RESULT_EXPIRES_MAX_S;
	o->store_map_bytes = STORE_MAP_SIZE;
	o->sched_max = CTL_SCHED_MAX_DEFAULT;
	o->sched_max_per_publisher = CTL_SCHED_MAX_PER_PUBLISHER_DEFAULT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		char *end;

		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'd':
			o->definitions = optarg;
			break;
		case 'G': {
			const struct group *g = getgrnam(optarg);
			unsigned long v = strtoul(optarg, &end, 10);

			if (g != NULL) {
				o->socket_group = (long)g->gr_gid;
			} else if (*end == '\0' && end != optarg && v < 0x7fffffff) {
				o->socket_group = (long)v;
			} else {
				fprintf(stderr, "tw-control: --socket-group: no group '%s'\n", optarg);
				return -1;
			}
			break;
		}
		case 'm':
			o->metrics = optarg;
			break;
		case 'S':
			o->store = optarg;
			break;
		case 'E':
			if (strcmp(optarg, "always") != 0 && strcmp(optarg, "followed") != 0) {
				fprintf(stderr, "tw-control: --events: always or followed\n");
				return -1;
			}
			o->events_always = strcmp(optarg, "always") == 0;
			break;
		case 'e': {
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '-' || v == 0 ||
			    v > 10ull * 365 * 86400) {
				fprintf(stderr, "tw-control: --result-expires: 1..315360000 seconds\n");
				return -1;
			}
			o->result_expires_ms = v * 1000;
			o->result_expires_given = true;
			break;
		}
		case 'X':
		case 'Z':
		case 'M':
		case 'P':
		case 'R': {
			static const struct {
				int opt;
				const char *name;
				unsigned long long min, max;
			} lim[] = {
				{ 'X', "--result-expires-max", 1, 10ull * 365 * 86400 },
				{ 'Z', "--store-size", 1, 1ull << 20 },
				{ 'M', "--sched-max", 1, 1ull << 32 },
				{ 'P', "--sched-max-per-publisher", 1, 1ull << 32 },
				{ 'R', "--reattach-wait", 0, 86400 },
			};
			unsigned long long v;
			size_t k = 0;

			while (lim[k].opt != c)
				k++;
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '-' || v < lim[k].min ||
			    v > lim[k].max) {
				fprintf(stderr, "tw-control: %s: %llu..%llu\n", lim[k].name, lim[k].min,
					lim[k].max);
				return -1;
			}
			if (c == 'X')
				o->result_expires_max_s = v;
			else if (c == 'Z')
				o->store_map_bytes = v << 20;
			else if (c == 'M')
				o->sched_max = v;
			else if (c == 'R')
				o->reattach_wait_s = (unsigned)v;
			else
				o->sched_max_per_publisher = v;
			break;
		}
		case 'g':
			errno = 0;
			o->grace_timeout_ms = (unsigned)strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || o->grace_timeout_ms == 0 ||
			    o->grace_timeout_ms > 600000) {
				fprintf(stderr, "tw-control: --grace-timeout-ms: 1..600000\n");
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tw-control: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->result_expires_ms / 1000 > o->result_expires_max_s) {
		if (o->result_expires_given) {
			fprintf(stderr, "tw-control: --result-expires above --result-expires-max\n");
			return -1;
		}
		o->result_expires_ms = o->result_expires_max_s * 1000; /* the default, cut */
	}
	return 0;
}

static bool
has_lcore_option(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "-c") == 0 ||
		    strncmp(argv[i], "--lcores", 8) == 0)
			return true;
	return false;
}

static uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* mkdir -p of the socket's directory (for /run/taskwire). */
static void
make_parent(const char *path)
{
	char dir[256];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return;
	*slash = '\0';
	for (char *p = dir + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
	mkdir(dir, 0755);
}

int
main(int argc, char **argv)
{
	static char lcores[64];
	char *eal_argv[MAX_EAL_ARGS];
	int eal_argc = 0, sep = argc, ret;
	const struct rte_memzone *mz;
	struct control_opts opts = { 0 };
	static struct ctl_ctx ctx;
	static struct ctl_sched sched;
	static struct ctl_revoke revoke;
	static struct ctl_collect collect;
	static struct ctl_beat beat;
	static struct ctl_events events;
	struct tw_store *store = NULL;
	struct ctl_server server;
	struct ctl_metrics *metrics = NULL;
	struct tw_shared *sh;
	char err[TW_BROKER_ERR_MAX];

	/* 1. options: EAL's before "--", ours after */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	{
		char *app_argv[MAX_EAL_ARGS];
		int app_argc = 0;

		app_argv[app_argc++] = argv[0];
		for (int i = sep + 1; i < argc && app_argc < MAX_EAL_ARGS; i++)
			app_argv[app_argc++] = argv[i];
		ret = parse_opts(app_argc, app_argv, &opts);
		if (ret != 0)
			return ret > 0 ? 0 : 2;
	}
	if (sep + 4 > MAX_EAL_ARGS) {
		fprintf(stderr, "tw-control: too many EAL arguments\n");
		return 2;
	}
	for (int i = 0; i < sep; i++)
		eal_argv[eal_argc++] = argv[i];
	eal_argv[eal_argc++] = (char *)"--proc-type=secondary";
	if (!has_lcore_option(sep, argv)) {
		cpu_set_t cpus;
		int cpu = 0;

		if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
			while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &cpus))
				cpu++;
		/* A lcore id no primary lcore uses: per-lcore mempool caches are shared. */
		snprintf(lcores, sizeof(lcores), "--lcores=%d@%d", RTE_MAX_LCORE - 1, cpu);
		eal_argv[eal_argc++] = lcores;
	}

	/* 2. EAL as a secondary process (after a re-execution: once a primary runs) */
	if (ctl_reattach_wait(argc, argv) != 0)
		return 1;
	ret = rte_eal_init(eal_argc, eal_argv);
	if (ret < 0) {
		fprintf(stderr, "tw-control: cannot attach to tw-dataplane (EAL: %s); is it running "
				"with the same --file-prefix and hugepages?\n",
			rte_strerror(rte_errno));
		if (ctl_reattach_pending()) {
			usleep(500000); /* it is still starting: try again in a fresh image */
			ctl_reattach_exec(argv, opts.reattach_wait_s);
		}
		return 1;
	}

	/* 3. attach */
	mz = rte_memzone_lookup(TW_SHARED_MZ);
	if (mz == NULL) {
		fprintf(stderr, "tw-control: memzone %s not found: tw-dataplane not ready\n",
			TW_SHARED_MZ);
		if (ctl_reattach_pending()) {
			usleep(500000);
			ctl_reattach_exec(argv, opts.reattach_wait_s);
		}
		return 1;
	}
	sh = mz->addr;
	if (sh->magic != TW_SHARED_MAGIC || sh->layout_version != TW_SHARED_LAYOUT_VERSION) {
		fprintf(stderr, "tw-control: shared memory layout %u, expected %u: mismatched "
				"binaries\n",
			sh->layout_version, TW_SHARED_LAYOUT_VERSION);
		rte_eal_cleanup();
		return 1;
	}
	/* One tw-control at a time: the rings it drains have a single consumer. */
	if (sh->control_pid != 0 && sh->control_pid != getpid() && kill(sh->control_pid, 0) == 0) {
		fprintf(stderr, "tw-control: another tw-control (pid %d) is already attached\n",
			sh->control_pid);
		rte_eal_cleanup();
		return 1;
	}
	pthread_mutex_init(&ctx.lock, NULL);
	if (tw_broker_attach(&ctx.broker, sh, err) != 0) {
		fprintf(stderr, "tw-control: %s\n", err);
		rte_eal_cleanup();
		return 1;
	}
	ctx.broker.grace_timeout_ms = opts.grace_timeout_ms;
	if (opts.definitions != NULL &&
	    tw_broker_definitions_load_file(&ctx.broker, opts.definitions, "tw-control") != 0) {
		tw_broker_detach(&ctx.broker);
		rte_eal_cleanup();
		return 1;
	}
	/* the durable ones among them, for the engine's next start */
	if (ctl_durable_defs_save(&ctx, err, sizeof(err)) != 0)
		fprintf(stderr, "tw-control: %s\n", err);
	/* task state: result store, scheduler, revoked set, and the thread that feeds them */
	if (strcmp(opts.store, "off") != 0) {
		make_parent(opts.store);
		store = tw_store_open(opts.store, opts.store_map_bytes, opts.result_expires_ms, err,
				      sizeof(err));
		if (store == NULL) {
			fprintf(stderr, "tw-control: result store %s: %s\n", opts.store, err);
			tw_broker_detach(&ctx.broker);
			rte_eal_cleanup();
			return 1;
		}
	}
	ctl_events_init(&events, opts.events_always);
	ret = ctl_sched_init(&sched, sh);
	/* the caps are in place before the collector hands it anything */
	sched.max = opts.sched_max;
	sched.max_per_publisher = opts.sched_max_per_publisher;
	if (ret == 0) {
		/* what the last tw-control held when it stopped: confirmed tasks */
		int64_t n = ctl_sched_restore(&sched, store);

		if (n < 0)
			fprintf(stderr, "tw-control: held tasks in the store not read: %s\n",
				strerror((int)-n));
		else if (n > 0)
			printf("tw-control: %lld held tasks restored from the store\n", (long long)n);
	}
	if (ret != 0 || ctl_revoke_init(&revoke, sh) != 0 ||
	    ctl_beat_init(&beat, store, &sched) != 0 ||
	    ctl_collect_start(&collect, sh, store, &sched, &beat, &events,
			      opts.result_expires_max_s) != 0) {
		fprintf(stderr, "tw-control: cannot start the scheduler: out of memory\n");
		tw_store_close(store);
		tw_broker_detach(&ctx.broker);
		rte_eal_cleanup();
		return 1;
	}
	ctx.store = store;
	ctx.sched = &sched;
	ctx.revoke = &revoke;
	ctx.collect = &collect;
	ctx.beat = &beat;
	ctx.events = &events;

	make_parent(opts.socket);
	ret = ctl_server_open(&server, opts.socket, opts.socket_group);
	if (ret != 0) {
		fprintf(stderr, "tw-control: socket %s: %s\n", opts.socket, strerror(-ret));
		tw_broker_detach(&ctx.broker);
		rte_eal_cleanup();
		return 1;
	}
	if (strcmp(opts.metrics, "off") != 0) {
		char token_path[sizeof(server.path) + 8];

		/* the socket's users, and only they, can read it: same mode and group */
		snprintf(token_path, sizeof(token_path), "%s.token", opts.socket);
		metrics = ctl_metrics_start(&ctx, opts.metrics, token_path, opts.socket_group);
		if (metrics == NULL)
			fprintf(stderr, "tw-control: continuing without /metrics\n");
		server.http = ctl_metrics_guard(metrics);
	}
	sh->control_pid = getpid();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (metrics != NULL)
		printf("tw-control: metrics on http://%.*s:%u/metrics\n",
		       (int)(strrchr(opts.metrics, ':') - opts.metrics), opts.metrics,
		       ctl_metrics_port(metrics));
	printf("tw-control: ready on %s, %sattached to tw-dataplane pid %d (%u queues, %u exchanges, "
	       "%u bindings), pid %d\n",
	       opts.socket, getenv(CTL_REATTACH_ENV) != NULL ? "re-" : "", sh->primary_pid,
	       sh->routes ? sh->routes->n_queues : 0, ctx.broker.n_exchanges + 1, ctx.broker.n_bindings,
	       getpid());
	fflush(stdout);
	ctl_reattach_done();

	/* 4. serve; stop with the primary */
	bool primary_gone = false;

	while (!stop_requested) {
		/* 20 ms: queues' rings retire drained segments and the spare pool is
		 * restocked that often (tw_broker_tick), whatever the socket does */
		ret = ctl_server_poll(&server, &ctx, 20);
		ctl_metrics_tick(metrics);
		pthread_mutex_lock(&ctx.lock);
		tw_broker_sample_rates(&ctx.broker, monotonic_ms());
		/* a queue held by a subscribe since: saved, for a restart after a crash */
		ctl_durable_defs_tick(&ctx);
		tw_broker_tick(&ctx.broker);
		pthread_mutex_unlock(&ctx.lock);
		if (ret != 0) {
			fprintf(stderr, "tw-control: control socket: %s\n", strerror(-ret));
			break;
		}
		if (kill(sh->primary_pid, 0) != 0 && errno == ESRCH) {
			fprintf(stderr, "tw-control: tw-dataplane (pid %d) exited; stopping\n",
				sh->primary_pid);
			primary_gone = true;
			break;
		}
	}

	/* 5. teardown: HTTP first (its streams read the events), then the lcores
	 * stop handing over, then the last drain */
	ctl_metrics_stop(metrics);
	metrics = NULL;
	if (sh->control_pid == getpid())
		sh->control_pid = 0;
	ctl_collect_stop(&collect);
	{
		/* the collector is stopped: what the scheduler holds now is final */
		int64_t n = ctl_sched_save(&sched, store);

		if (n < 0)
			fprintf(stderr, "tw-control: held tasks NOT kept in the store: %s\n",
				strerror((int)-n));
		else if (n > 0)
			printf("tw-control: %lld held tasks kept in the store for the next start\n",
			       (long long)n);
	}
	ctl_beat_fini(&beat);
	ctl_events_fini(&events);
	sh->events_enabled = 0;
	ctl_sched_fini(&sched);
	ctl_revoke_fini(&revoke);
	tw_store_close(store);
	ctl_server_close(&server);
	tw_broker_detach(&ctx.broker);
	printf("tw-control: stopped after %lu requests (%lu undecodable, %lu clients refused)\n",
	       (unsigned long)server.c[CTL_SRV_ctl_requests],
	       (unsigned long)server.c[CTL_SRV_ctl_bad_requests],
	       (unsigned long)server.c[CTL_SRV_ctl_refused_peers]);
	fflush(stdout);
	/* EAL cleanup talks to the primary; with the primary gone it can only wait. */
	if (!primary_gone)
		rte_eal_cleanup();
	if (primary_gone && opts.reattach_wait_s > 0 && !stop_requested) {
		printf("tw-control: waiting up to %u s for a new tw-dataplane\n", opts.reattach_wait_s);
		ctl_reattach_done(); /* a new deadline from this exit */
		ctl_reattach_exec(argv, opts.reattach_wait_s);
		return 1;
	}
	return 0;
}
