/*
 * tw-dataplane configuration: one options table (tw_config.c) drives the
 * command-line parser, --help and validation. Options start unset and
 * defaults are merged after parsing. Cold: read by main() and by the code
 * that derives each lcore's context, never by a polling loop.
 */
#ifndef TW_CONFIG_H
#define TW_CONFIG_H

#include <stdint.h>

#define TW_MAX_PLUGINS 16

struct tw_config_paths {
	uint32_t n;
	const char *v[TW_MAX_PLUGINS];
};

struct tw_config {
	uint32_t ip_be;            /* --ip, required */
	uint64_t udp_port;
	uint64_t port;             /* DPDK port id */
	uint64_t plan;             /* enum tw_plan_mode */
	uint64_t io_lcores;        /* pipeline: lcores that poll the port's RX queues */
	uint64_t idle_sleep_us;
	uint64_t idle_passes;
	uint64_t mbufs;
	uint64_t tasks;            /* --task-descriptors */
	uint64_t rx_desc;
	uint64_t tx_desc;
	uint64_t max_pollers;
	uint64_t replay_window_s;  /* --keys: window of a signed frame's sent_us */
	uint64_t replay_frames;    /* --keys: frames the replay table remembers */
	uint64_t cookies;          /* 1: source cookies checked (tw_cookie.h) */
	uint64_t cookie_lifetime_s;
	uint64_t retry_max;        /* cap on any task's max_retries */
	uint64_t retry_min_ms;     /* floor of a retry's countdown */
	uint64_t solo_max_us;      /* busy-wait cap of built-ins, overrun threshold of solo tasks */
	uint64_t group_expires_s;  /* default life of an open group */
	uint64_t group_expires_max_s;
	uint64_t group_memory_mb;  /* all open groups */
	uint64_t group_publisher_mb; /* the open groups of one publisher */
	uint64_t group_list_mb;    /* a chord's results list over the largest frame */
	uint64_t max_frame;        /* largest frame taken in fragments, bytes */
	uint64_t reasm_memory_mb;  /* large buffers: reassembly and fragmented sends */
	uint64_t reasm_source_kb;  /* reassembly memory one source address may hold */
	uint64_t reasm_timeout_ms; /* a fragmented frame's time to arrive whole */
	struct tw_config_paths plugins; /* --tasks FILE ... (borrows argv) */
	struct tw_config_paths task_opts; /* --task NAME:KEY=VALUE ... (tw_tasks_configure) */
	uint64_t threads;          /* threads of the threads pool */
	const char *definitions;   /* --definitions FILE, NULL: none (borrows argv) */
	const char *keys;          /* --keys FILE: publishers must authenticate frames, NULL: no */
	const char *data_dir;      /* --data-dir DIR: journal of durable queues, NULL: none */
	uint64_t journal_commit_us; /* a group commit closes this long after its first record */
	uint64_t journal_batch_kb; /* ... or when it holds this much */
	uint64_t journal_segment_mb; /* segment size before the next one starts */
	uint64_t journal_control_wait_s; /* recovered tasks wait for tw-control at most this long */
};

/**
 * Parse the application arguments (after EAL's, argv[0] included).
 * @return 0, 1 if --help was printed (exit 0), or -EINVAL with a message
 *   printed to stderr.
 */
int tw_config_parse(struct tw_config *cfg, int argc, char **argv);

#endif
