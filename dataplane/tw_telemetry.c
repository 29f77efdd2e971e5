/*
 * DPDK telemetry commands: see tw_telemetry.h.
 */
#include <string.h>

#include <rte_ring.h>
#include <rte_telemetry.h>

#include "tw_telemetry.h"

static struct tw_shared *shared;

static uint64_t
load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int
stats_cmd(const char *cmd, const char *params, struct rte_tel_data *d)
{
	uint64_t sum[TW_CNT__MAX] = { 0 };

	(void)cmd;
	(void)params;
	for (uint32_t i = 0; i < shared->n_pollers && i < TW_MAX_LCORES; i++)
		for (int c = 0; c < TW_CNT__MAX; c++) {
			uint64_t v = load(&shared->stats[i].c[c]);

			/* max_stall_ns is a maximum over lcores, every other counter a sum */
			sum[c] = c == TW_CNT_max_stall_ns ? (v > sum[c] ? v : sum[c]) : sum[c] + v;
		}
	rte_tel_data_start_dict(d);
	for (int c = 0; c < TW_CNT__MAX; c++)
		rte_tel_data_add_dict_u64(d, tw_counter_names[c], sum[c]);
	return 0;
}

static int
lcores_cmd(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "plan", shared->plan_mode);
	for (uint32_t i = 0; i < shared->n_plan; i++) {
		const struct tw_plan_entry *pe = &shared->plan[i];
		struct rte_tel_data *l = rte_tel_data_alloc();
		char name[32];

		if (l == NULL)
			return -1;
		rte_tel_data_start_dict(l);
		rte_tel_data_add_dict_string(l, "role", tw_role_name(pe->role));
		rte_tel_data_add_dict_int(l, "cpu", (int)pe->cpu);
		rte_tel_data_add_dict_int(l, "numa_node", pe->numa_node);
		if (pe->role != TW_ROLE_MAIN && pe->qsbr_id < TW_MAX_LCORES) {
			const struct tw_lcore_stats *st = &shared->stats[pe->qsbr_id];
			uint64_t loop = load(&st->c[TW_CNT_loop_cycles]);

			rte_tel_data_add_dict_u64(l, "busy_permille",
						  loop ? load(&st->c[TW_CNT_busy_cycles]) * 1000 / loop : 0);
			rte_tel_data_add_dict_u64(l, "rx_frames", load(&st->c[TW_CNT_rx_frames]));
			rte_tel_data_add_dict_u64(l, "tasks_executed", load(&st->c[TW_CNT_tasks_executed]));
			rte_tel_data_add_dict_u64(l, "max_stall_ns", load(&st->c[TW_CNT_max_stall_ns]));
		}
		snprintf(name, sizeof(name), "lcore%u", pe->lcore_id);
		rte_tel_data_add_dict_container(d, name, l, 0);
	}
	return 0;
}

static int
queues_cmd(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	/*
	 * A snapshot for operators: this thread is no RCU reader, so a queue
	 * deleted meanwhile may be read as its slot is freed (as before, when
	 * its ring was); the slot pointer is loaded once.
	 */
	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++) {
		/* acquire: the slot is published complete by tw-control */
		const struct tw_queue_slot *qs = __atomic_load_n(&shared->queues[s], __ATOMIC_ACQUIRE);
		uint64_t p = 0, dl = 0, rej = 0, ready;
		struct rte_tel_data *q;

		if (qs == NULL || qs->ring == NULL)
			continue;
		q = rte_tel_data_alloc();
		if (q == NULL)
			return -1;
		for (uint32_t i = 0; i < shared->n_pollers && i < TW_MAX_LCORES; i++) {
			p += load(tw_qcnt(shared, i, s, TW_QCNT_published));
			dl += load(tw_qcnt(shared, i, s, TW_QCNT_delivered));
			rej += load(tw_qcnt(shared, i, s, TW_QCNT_rejected));
		}
		ready = tw_qring_count(qs->ring);
		for (unsigned l = 0; l < qs->max_priority; l++)
			ready += qs->levels[l] != NULL ? tw_qring_count(qs->levels[l]) : 0;
		rte_tel_data_start_dict(q);
		rte_tel_data_add_dict_u64(q, "ready", ready);
		rte_tel_data_add_dict_u64(q, "published", p - qs->base_published);
		rte_tel_data_add_dict_u64(q, "delivered", dl - qs->base_delivered);
		rte_tel_data_add_dict_u64(q, "rejected", rej - qs->base_rejected);
		rte_tel_data_add_dict_container(d, qs->name, q, 0);
	}
	return 0;
}

int
tw_telemetry_register(struct tw_shared *sh)
{
	shared = sh;
	if (rte_telemetry_register_cmd("/taskwire/stats", stats_cmd,
				       "Engine counters summed over polling lcores (drops by reason included)") ||
	    rte_telemetry_register_cmd("/taskwire/lcores", lcores_cmd,
				       "Lcore plan with each polling lcore's busy share and counts") ||
	    rte_telemetry_register_cmd("/taskwire/queues", queues_cmd,
				       "Queues: ready, published, delivered, rejected"))
		return -1;
	return 0;
}
