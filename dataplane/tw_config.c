/*
 * The options table of tw-dataplane and its parser (see tw_config.h).
 * A row: name, kind, bounds, default, where it lands, help.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tw_config.h"
#include "tw_fragment.h"
#include "tw_limits.h"
#include "tw_plan.h"

enum opt_kind { OPT_U64, OPT_IPV4, OPT_PLAN, OPT_PATH, OPT_PATH_LIST };

struct opt_row {
	const char *name;
	enum opt_kind kind;
	uint64_t min, max, def;
	size_t offset;
	const char *help;
};

#define UNSET UINT64_MAX

static const struct opt_row options[] = {
	{ "ip", OPT_IPV4, 0, 0, 0, offsetof(struct tw_config, ip_be),
	  "IPv4 address the engine answers on (required)" },
	{ "udp-port", OPT_U64, 1, 65535, TW_DEFAULT_UDP_PORT, offsetof(struct tw_config, udp_port),
	  "UDP port for task frames" },
	{ "port", OPT_U64, 0, 31, 0, offsetof(struct tw_config, port),
	  "DPDK port id to serve" },
	{ "plan", OPT_PLAN, 0, 0, TW_PLAN_AUTO, offsetof(struct tw_config, plan),
	  "lcore plan: auto, rtc (run to completion) or pipeline" },
	{ "io-lcores", OPT_U64, 1, TW_MAX_LCORES - 1, 1, offsetof(struct tw_config, io_lcores),
	  "pipeline: lcores polling the port, one RX queue each or more (RSS spreads flows)" },
	{ "idle-sleep-us", OPT_U64, 0, 100000, 0, offsetof(struct tw_config, idle_sleep_us),
	  "the longest idle sleep; the first after work is 1/16 of it, each next doubles (0 = pure polling)" },
	{ "idle-passes", OPT_U64, 1, 1000000, 1024, offsetof(struct tw_config, idle_passes),
	  "empty passes before an idle sleep" },
	{ "mbufs", OPT_U64, 1023, 4194303, 65535, offsetof(struct tw_config, mbufs),
	  "packet buffers in the mbuf pool" },
	{ "task-descriptors", OPT_U64, 1023, 16777215, 262143, offsetof(struct tw_config, tasks),
	  "task descriptors in the task pool" },
	{ "tasks", OPT_PATH_LIST, 0, TW_MAX_PLUGINS, 0, offsetof(struct tw_config, plugins),
	  "task plugin .so to load (repeatable)" },
	{ "task", OPT_PATH_LIST, 0, TW_MAX_PLUGINS, 0, offsetof(struct tw_config, task_opts),
	  "NAME:pool=solo|threads, NAME:time-limit=MS, NAME:soft-time-limit=MS, "
	  "NAME:rate-limit=RATE, NAME:max-retries=N (repeatable)" },
	{ "threads", OPT_U64, 1, 64, 4, offsetof(struct tw_config, threads),
	  "threads of the threads pool (started when a task uses it)" },
	{ "rx-desc", OPT_U64, 64, 16384, 1024, offsetof(struct tw_config, rx_desc),
	  "RX ring descriptors" },
	{ "tx-desc", OPT_U64, 64, 16384, 1024, offsetof(struct tw_config, tx_desc),
	  "TX ring descriptors per queue" },
	{ "definitions", OPT_PATH, 0, 0, 0, offsetof(struct tw_config, definitions),
	  "RabbitMQ-shaped definitions file applied before traffic starts" },
	{ "data-dir", OPT_PATH, 0, 0, 0, offsetof(struct tw_config, data_dir),
	  "data directory of the durable queues' journal (recovered at start); none: no durable queues" },
	{ "journal-commit-us", OPT_U64, 0, 100000, 50, offsetof(struct tw_config, journal_commit_us),
	  "a group commit (one fdatasync) closes this many us after its first record" },
	{ "journal-batch-kb", OPT_U64, 4, 65536, 1024, offsetof(struct tw_config, journal_batch_kb),
	  "... or when it holds this many KB" },
	{ "journal-control-wait-s", OPT_U64, 0, 3600, 30, offsetof(struct tw_config, journal_control_wait_s),
	  "recovered durable tasks wait this long for tw-control (their results go to its store), then run" },
	{ "journal-segment-mb", OPT_U64, 1, 65536, 64, offsetof(struct tw_config, journal_segment_mb),
	  "journal segment size, MB: finished segments are removed" },
	{ "keys", OPT_PATH, 0, 0, 0, offsetof(struct tw_config, keys),
	  "publisher keys file (ID HEX per line, mode 600): every frame must carry a valid MAC" },
	{ "replay-window-s", OPT_U64, 1, 3600, 30, offsetof(struct tw_config, replay_window_s),
	  "--keys: a signed frame is taken within this many seconds of its sent_us, once" },
	{ "replay-frames", OPT_U64, 1024, 16777216, 262144,
	  offsetof(struct tw_config, replay_frames),
	  "--keys: signed frames remembered for the replay window (one table for all io lcores)" },
	{ "cookies", OPT_U64, 0, 1, 1, offsetof(struct tw_config, cookies),
	  "1: a source must return a cookie before its frames run (replies to it never exceed "
	  "what it sent); 0: off, for a network where no source address can be forged" },
	{ "cookie-lifetime-s", OPT_U64, 1, 86400, 60, offsetof(struct tw_config, cookie_lifetime_s),
	  "a source cookie is taken for one to two of these (then the client gets a new one)" },
	{ "retry-max", OPT_U64, 0, 1000000, 100, offsetof(struct tw_config, retry_max),
	  "retries any task may make, whatever it asks (a larger max_retries is capped, counted)" },
	{ "retry-min-ms", OPT_U64, 0, 3600000, 100, offsetof(struct tw_config, retry_min_ms),
	  "floor of a retry's countdown, ms (a shorter one is raised, counted)" },
	{ "solo-max-us", OPT_U64, 1, 60000000, 1000, offsetof(struct tw_config, solo_max_us),
	  "us a built-in may busy-wait on a polling lcore (sleep_us); a solo task running "
	  "longer is counted as an overrun" },
	{ "group-expires-s", OPT_U64, 1, 2592000, 3600, offsetof(struct tw_config, group_expires_s),
	  "a group not finished this long after it opened fails (its node's expires may say "
	  "otherwise, up to --group-expires-max-s)" },
	{ "group-expires-max-s", OPT_U64, 1, 2592000, 86400,
	  offsetof(struct tw_config, group_expires_max_s),
	  "the longest a group node's own expires may keep it open" },
	{ "group-memory-mb", OPT_U64, 1, 1048576, 32, offsetof(struct tw_config, group_memory_mb),
	  "hugepage memory all open groups may take together, MB (taken at start: opening a "
	  "group allocates nothing)" },
	{ "group-publisher-mb", OPT_U64, 1, 1048576, 8,
	  offsetof(struct tw_config, group_publisher_mb),
	  "hugepage memory the open groups of one publisher (address, or key) may take, MB" },
	{ "group-list-mb", OPT_U64, 0, 4096, 4, offsetof(struct tw_config, group_list_mb),
	  "buffer for a chord's results list over --max-frame, which only an in-engine callback "
	  "takes, MB (taken at start; one chord at a time; 0: such chords fail)" },
	{ "max-frame", OPT_U64, TW_DATAGRAM_MAX, TW_FRAG_LIMIT, TW_FRAG_DEFAULT_MAX,
	  offsetof(struct tw_config, max_frame),
	  "largest frame taken (and sent) in fragments, bytes; a larger one is NACKed too-large" },
	{ "reasm-memory-mb", OPT_U64, 2, 4096, 16, offsetof(struct tw_config, reasm_memory_mb),
	  "hugepage memory for frames in fragments (reassembly and large replies), MB" },
	{ "reasm-source-kb", OPT_U64, 64, 4194304, 2560, offsetof(struct tw_config, reasm_source_kb),
	  "reassembly memory one source address may hold on an io lcore, KB" },
	{ "reasm-timeout-ms", OPT_U64, 10, 60000, 2000, offsetof(struct tw_config, reasm_timeout_ms),
	  "a fragmented frame not complete this long after its first fragment is dropped" },
	{ "max-pollers", OPT_U64, 1, TW_MAX_LCORES, TW_MAX_LCORES,
	  offsetof(struct tw_config, max_pollers),
	  "polling lcores to plan when no lcore list is given" },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static void
usage(const char *prog, FILE *f)
{
	fprintf(f, "usage: %s [EAL options] -- --ip A.B.C.D [options]\n", prog);
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct opt_row *o = &options[i];

		if (o->kind == OPT_U64)
			fprintf(f, "  --%-14s %s [%" PRIu64 "..%" PRIu64 ", default %" PRIu64 "]\n",
				o->name, o->help, o->min, o->max, o->def);
		else
			fprintf(f, "  --%-14s %s\n", o->name, o->help);
	}
}

static int
set_option(struct tw_config *cfg, const struct opt_row *o, const char *val)
{
	void *field = (char *)cfg + o->offset;
	char *end;
	uint64_t v;
	struct in_addr a;

	switch (o->kind) {
	case OPT_IPV4:
		if (inet_pton(AF_INET, val, &a) != 1) {
			fprintf(stderr, "tw-dataplane: --%s: '%s' is not an IPv4 address\n", o->name, val);
			return -EINVAL;
		}
		*(uint32_t *)field = a.s_addr;
		return 0;
	case OPT_PLAN:
		if (strcmp(val, "auto") == 0)
			v = TW_PLAN_AUTO;
		else if (strcmp(val, "rtc") == 0)
			v = TW_PLAN_RTC;
		else if (strcmp(val, "pipeline") == 0)
			v = TW_PLAN_PIPELINE;
		else {
			fprintf(stderr, "tw-dataplane: --plan: '%s' is not auto, rtc or pipeline\n", val);
			return -EINVAL;
		}
		*(uint64_t *)field = v;
		return 0;
	case OPT_PATH:
		*(const char **)field = val;
		return 0;
	case OPT_PATH_LIST: {
		struct tw_config_paths *l = field;

		if (l->n >= o->max) {
			fprintf(stderr, "tw-dataplane: --%s: at most %" PRIu64 "\n", o->name, o->max);
			return -EINVAL;
		}
		l->v[l->n++] = val;
		return 0;
	}
	case OPT_U64:
		errno = 0;
		v = strtoull(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || val[0] == '-' || v < o->min ||
		    v > o->max) {
			fprintf(stderr, "tw-dataplane: --%s: '%s' is not a number in %" PRIu64
				"..%" PRIu64 "\n", o->name, val, o->min, o->max);
			return -EINVAL;
		}
		*(uint64_t *)field = v;
		return 0;
	}
	return -EINVAL;
}

int
tw_config_parse(struct tw_config *cfg, int argc, char **argv)
{
	struct option longopts[N_OPTIONS + 2];
	int c, idx;

	for (size_t i = 0; i < N_OPTIONS; i++) {
		longopts[i] = (struct option){ options[i].name, required_argument, NULL, 0 };
		if (options[i].kind == OPT_IPV4)
			*(uint32_t *)((char *)cfg + options[i].offset) = 0;
		else if (options[i].kind == OPT_PATH)
			*(const char **)((char *)cfg + options[i].offset) = NULL;
		else if (options[i].kind == OPT_PATH_LIST)
			memset((char *)cfg + options[i].offset, 0, sizeof(struct tw_config_paths));
		else
			*(uint64_t *)((char *)cfg + options[i].offset) = UNSET;
	}
	longopts[N_OPTIONS] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[N_OPTIONS + 1] = (struct option){ NULL, 0, NULL, 0 };

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		if (c == 'h') {
			usage(argv[0], stdout);
			return 1;
		}
		if (c != 0) {
			usage(argv[0], stderr);
			return -EINVAL;
		}
		if (set_option(cfg, &options[idx], optarg) < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "tw-dataplane: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	/* Merge defaults into what was left unset. */
	for (size_t i = 0; i < N_OPTIONS; i++) {
		uint64_t *f = (uint64_t *)((char *)cfg + options[i].offset);

		if (options[i].kind == OPT_U64 || options[i].kind == OPT_PLAN)
			if (*f == UNSET)
			*f = options[i].def;
	}
	if (cfg->ip_be == 0) {
		fprintf(stderr, "tw-dataplane: --ip is required\n");
		usage(argv[0], stderr);
		return -EINVAL;
	}
	return 0;
}
