/*
 * The engine's cold life cycle: shared memory, pools, RCU, per-lcore
 * contexts, launch and stop. main() calls these in order; nothing here
 * runs on a polling lcore.
 */
#ifndef TW_ENGINE_H
#define TW_ENGINE_H

#include <stdint.h>

#include "tw_config.h"
#include "tw_lcore.h"
#include "tw_plan.h"
#include "tw_tasks.h"

struct rte_memzone;

struct tw_reasm_pools;

struct tw_engine {
	struct tw_config cfg;
	struct tw_task_registry tasks;
	const struct rte_memzone *mz;
	struct tw_shared *shared;
	uint32_t n_plan;
	struct tw_plan_entry plan[TW_MAX_LCORES + 1];
	char plan_mode[32];
	uint16_t n_rxq;               /* the port's RX queues, shared out among the io lcores */
	struct tw_lcore_ctx *ctx[TW_MAX_LCORES];
	struct tw_threads *threads;   /* threads pool, NULL if no task uses it */
	struct tw_keys *keys;         /* --keys: publisher keys, NULL: frames need no MAC */
	struct tw_rc_queues *consumer_queues; /* remote consumers and holds per queue slot (worker lcores read it) */
	struct tw_consumers *consumers; /* the consumer table (memzone), owned by one io lcore */
	uint32_t consumer_owner;      /* its qsbr id */
	struct rte_ring *rc_ring[TW_MAX_LCORES]; /* consumer frames: io lcore (qsbr id) -> owner */
	/* retransmitting sources' frames: io lcore i -> io lcore j (io indices; tw_steer.h) */
	struct rte_ring *steer_ring[TW_MAX_LCORES][TW_MAX_LCORES];
	uint64_t last_clock_tsc;      /* housekeeping: last wall-clock resync */
	struct tw_journal *journal;   /* --data-dir: the durable queues' journal, NULL: none */
	struct tw_reasm_pools *big;   /* large buffers: frames in fragments, both ways */
};

/** Housekeeping on the main lcore, every few ms: hard time limits, pool figures. */
void tw_engine_housekeeping(struct tw_engine *e);

/** Plan lcore roles from the topology and the EAL lcores. @return 0 or -errno. */
int tw_engine_plan(struct tw_engine *e);

/** Create the shared memzone, pools and QSBR, and bring up the port. @return 0 or -errno. */
int tw_engine_setup(struct tw_engine *e);

/** Build each polling lcore's context and launch its loop. @return 0 or -errno. */
int tw_engine_launch(struct tw_engine *e);

/** Stop the loops, wait for them, log totals, release what the engine holds. */
void tw_engine_stop(struct tw_engine *e);

#endif
