/*
 * `twctl status`: the engine's identity, lcore plan, counters (per lcore
 * and summed), drops by reason and pool occupancy, read from shared
 * memory. Counters are written by one lcore each and read here with
 * relaxed loads: a snapshot may be a few packets stale, never torn.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_cycles.h>
#include <rte_mempool.h>

#include "ctl_beat.h"
#include "ctl_collect.h"
#include "ctl_handlers.h"
#include "ctl_revoke.h"
#include "ctl_sched.h"
#include "ctl_store.h"

static uint64_t
now_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static Taskwire__Control__Counter **
counters(struct ctl_reply *r, const uint64_t *v, bool drops, size_t *n_out)
{
	Taskwire__Control__Counter **arr, *items;
	size_t n = 0;

	arr = ctl_reply_alloc(r, sizeof(*arr) * TW_CNT__MAX);
	items = ctl_reply_alloc(r, sizeof(*items) * TW_CNT__MAX);
	if (arr == NULL || items == NULL)
		return NULL;
	for (int c = 0; c < TW_CNT__MAX; c++) {
		bool is_drop = strncmp(tw_counter_names[c], "drop_", 5) == 0;

		if (drops != is_drop)
			continue;
		taskwire__control__counter__init(&items[n]);
		/* drops are reported by reason, without the prefix */
		items[n].name = (char *)tw_counter_names[c] + (drops ? 5 : 0);
		items[n].value = v[c];
		arr[n] = &items[n];
		n++;
	}
	*n_out = n;
	return arr;
}

static int
fill_port(const struct tw_shared *sh, const uint64_t *sum, struct ctl_reply *r,
	  Taskwire__Control__Status *st)
{
	Taskwire__Control__PortInfo *p = ctl_reply_alloc(r, sizeof(*p));
	Taskwire__Control__PortInfo **arr = ctl_reply_alloc(r, sizeof(*arr));
	struct rte_eth_stats es;
	char mac[18], ip[16];
	uint32_t a = rte_be_to_cpu_32(sh->ip_be);

	if (p == NULL || arr == NULL)
		return -ENOMEM;
	taskwire__control__port_info__init(p);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", sh->mac[0], sh->mac[1],
		 sh->mac[2], sh->mac[3], sh->mac[4], sh->mac[5]);
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	p->port_id = sh->port_id;
	p->name = ctl_reply_strdup(r, sh->port_name);
	p->mac = ctl_reply_strdup(r, mac);
	p->ip = ctl_reply_strdup(r, ip);
	p->udp_port = sh->udp_port;
	p->numa_node = sh->port_numa;
	p->rx_packets = sum[TW_CNT_rx_packets];
	p->tx_packets = sum[TW_CNT_tx_packets];
	/* The device's own drop counters, when the PMD serves a secondary process. */
	if (rte_eth_dev_is_valid_port(sh->port_id) && rte_eth_stats_get(sh->port_id, &es) == 0) {
		p->rx_missed = es.imissed;
		p->rx_nombuf = es.rx_nombuf;
		p->rx_errors = es.ierrors;
	}
	arr[0] = p;
	st->n_ports = 1;
	st->ports = arr;
	return 0;
}

/* tw-control's own figures: scheduler, result store, revokes, schedules. */
static int
control_counters(const struct ctl_ctx *ctx, struct ctl_reply *r, Taskwire__Control__Status *st)
{
	struct {
		const char *name;
		uint64_t v;
	} f[80];
	size_t n = 0;

	if (ctx->sched != NULL) {
		struct ctl_sched *s = ctx->sched;

		f[n++] = (typeof(f[0])){ "sched_held", ctl_sched_count(s) };
		f[n++] = (typeof(f[0])){ "sched_taken", __atomic_load_n(&s->taken, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "sched_injected",
					 __atomic_load_n(&s->injected, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "sched_inject_retries",
					 __atomic_load_n(&s->inject_retries, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "sched_dropped_nomem",
					 __atomic_load_n(&s->dropped_nomem, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "sched_late_p50_us", ctl_sched_lateness_us(s, 50) };
		f[n++] = (typeof(f[0])){ "sched_late_p99_us", ctl_sched_lateness_us(s, 99) };
		f[n++] = (typeof(f[0])){ "sched_late_max_us", ctl_sched_lateness_us(s, 100) };
		{
			struct ctl_sched_caps k;

			ctl_sched_caps(s, &k);
			f[n++] = (typeof(f[0])){ "sched_max", k.max };
			f[n++] = (typeof(f[0])){ "sched_max_per_publisher", k.max_per_publisher };
			f[n++] = (typeof(f[0])){ "sched_full", k.full };
			f[n++] = (typeof(f[0])){ "sched_publishers_at_cap", k.publishers_at_cap };
			f[n++] = (typeof(f[0])){ "sched_over_cap", k.over_cap };
			f[n++] = (typeof(f[0])){ "sched_restored",
						 __atomic_load_n(&s->restored, __ATOMIC_RELAXED) };
		}
	}
	if (ctx->collect != NULL) {
		const struct ctl_collect *c = ctx->collect;

		f[n++] = (typeof(f[0])){ "store_records_written",
					 __atomic_load_n(&c->records, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "store_batches",
					 __atomic_load_n(&c->record_batches, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "store_write_errors",
					 __atomic_load_n(&c->store_errors, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "store_expired",
					 __atomic_load_n(&c->expired, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "records_undecodable",
					 __atomic_load_n(&c->undecodable, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "store_full",
					 __atomic_load_n(&c->store_full, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "store_full_refused",
					 __atomic_load_n(&c->store_full_refused, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "result_expires_max_s", c->expires_max_s };
		f[n++] = (typeof(f[0])){ "result_expires_capped",
					 __atomic_load_n(&c->expires_capped, __ATOMIC_RELAXED) };
	}
	if (ctx->store != NULL) {
		uint64_t used = 0, size = 0;

		f[n++] = (typeof(f[0])){ "store_results", tw_store_count(ctx->store) };
		if (tw_store_usage(ctx->store, &used, &size) == 0) {
			f[n++] = (typeof(f[0])){ "store_used_bytes", used };
			f[n++] = (typeof(f[0])){ "store_map_bytes", size };
		}
	}
	if (ctx->revoke != NULL)
		f[n++] = (typeof(f[0])){ "revoked_ids", ctx->revoke->n };
	if (ctx->broker.sh->journal.enabled) {
		f[n++] = (typeof(f[0])){ "journal_failing",
					 __atomic_load_n(&ctx->broker.sh->journal.failing, __ATOMIC_RELAXED) };
		for (unsigned i = 0; i < TW_JC__MAX; i++)
			f[n++] = (typeof(f[0])){ tw_journal_counter_name(i),
						 __atomic_load_n(&ctx->broker.sh->journal.c[i],
								 __ATOMIC_RELAXED) };
	}
	if (ctx->beat != NULL)
		f[n++] = (typeof(f[0])){ "schedules", ctx->beat->n };
	{
		/* queues' growing rings: segments lcores linked, and the times the
		 * spare pool had none (the task refused as by a full queue) */
		const struct tw_qspares *sp = &ctx->broker.sh->qspares;
		uint64_t starved = 0;

		for (unsigned c = 0; c < TW_QSEG_CLASSES; c++)
			starved += __atomic_load_n(&sp->starved[c], __ATOMIC_RELAXED);
		f[n++] = (typeof(f[0])){ "queue_segments_appended",
					 __atomic_load_n(&sp->appended, __ATOMIC_RELAXED) };
		f[n++] = (typeof(f[0])){ "queue_segments_starved", starved };
		/* shared memory queues take now (slots, ring segments, counter
		 * blocks) and the live routing table's size: the broker's thread,
		 * which alone frees what it reads */
		f[n++] = (typeof(f[0])){ "queues_memory_bytes", tw_broker_queues_memory(&ctx->broker) };
		f[n++] = (typeof(f[0])){ "routes_memory_bytes",
					 ctx->broker.sh->routes != NULL ? ctx->broker.sh->routes->total_size : 0 };
	}
	st->control = ctl_reply_alloc(r, sizeof(*st->control) * (n ? n : 1));
	if (st->control == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		Taskwire__Control__Counter *c = ctl_reply_alloc(r, sizeof(*c));

		if (c == NULL)
			return -ENOMEM;
		taskwire__control__counter__init(c);
		c->name = (char *)f[i].name;
		c->value = f[i].v;
		st->control[i] = c;
	}
	st->n_control = n;
	return 0;
}

/* A task that has held its lcore for over HUNG_MS is reported hung: a solo
 * task must not block (the threads pool has hard time limits for that). */
#define HUNG_MS 1000

static void
running(const struct tw_shared *sh, const struct tw_lcore_stats *st,
	Taskwire__Control__LcoreInfo *l, struct ctl_reply *r)
{
	uint64_t id = __atomic_load_n(&st->running_task, __ATOMIC_RELAXED);
	uint64_t since = __atomic_load_n(&st->running_since_tsc, __ATOMIC_RELAXED);
	uint64_t now = rte_get_tsc_cycles();

	if (id == 0)
		return;
	l->running_task = id;
	l->running_ms = now > since && sh->tsc_hz != 0 ? (now - since) * 1000 / sh->tsc_hz : 0;
	{
		uint16_t h = __atomic_load_n(&st->running_handler, __ATOMIC_RELAXED);

		l->running_name = ctl_reply_strdup(r, h < TW_MAX_TASK_NAMES ? sh->task_info[h].name
									  : "?");
	}
	l->hung = l->running_ms > HUNG_MS;
}

int
ctl_status_fill(const struct ctl_ctx *ctx, struct ctl_reply *r)
{
	const struct tw_shared *sh = ctx->broker.sh;
	Taskwire__Control__Status *st = ctl_reply_alloc(r, sizeof(*st));
	Taskwire__Control__LcoreInfo **lc;
	uint64_t sum[TW_CNT__MAX] = { 0 };
	uint32_t n_plan = sh->n_plan;

	if (st == NULL)
		return -ENOMEM;
	taskwire__control__status__init(st);
	lc = ctl_reply_alloc(r, sizeof(*lc) * (n_plan ? n_plan : 1));
	if (lc == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n_plan; i++) {
		const struct tw_plan_entry *pe = &sh->plan[i];
		Taskwire__Control__LcoreInfo *l = ctl_reply_alloc(r, sizeof(*l));
		uint64_t *v = ctl_reply_alloc(r, sizeof(uint64_t) * TW_CNT__MAX);

		if (l == NULL || v == NULL)
			return -ENOMEM;
		taskwire__control__lcore_info__init(l);
		l->lcore_id = pe->lcore_id;
		l->cpu = pe->cpu;
		l->core = pe->core;
		l->numa_node = pe->numa_node;
		l->role = (char *)tw_role_name(pe->role);
		if (pe->role != TW_ROLE_MAIN && pe->qsbr_id < TW_MAX_LCORES) {
			for (int c = 0; c < TW_CNT__MAX; c++) {
				v[c] = __atomic_load_n(&sh->stats[pe->qsbr_id].c[c], __ATOMIC_RELAXED);
				/* max_stall_ns is a maximum, not a sum */
				if (c == TW_CNT_max_stall_ns)
					sum[c] = v[c] > sum[c] ? v[c] : sum[c];
				else
					sum[c] += v[c];
			}
			l->counters = counters(r, v, false, &l->n_counters);
			if (l->counters == NULL)
				return -ENOMEM;
			running(sh, &sh->stats[pe->qsbr_id], l, r);
		}
		lc[i] = l;
	}
	st->n_lcores = n_plan;
	st->lcores = lc;
	st->counters = counters(r, sum, false, &st->n_counters);
	st->drops = counters(r, sum, true, &st->n_drops);
	if (st->counters == NULL || st->drops == NULL || fill_port(sh, sum, r, st) != 0)
		return -ENOMEM;
	st->primary_pid = (uint32_t)sh->primary_pid;
	st->uptime_ms = now_unix_ms() - sh->start_unix_ms;
	st->plan_mode = ctl_reply_strdup(r, sh->plan_mode);
	st->mbufs_total = sh->pktmbuf_pool->size;
	st->mbufs_free = rte_mempool_avail_count(sh->pktmbuf_pool);
	st->tasks_total = sh->task_pool->size;
	st->tasks_free = rte_mempool_avail_count(sh->task_pool);
	st->routes_version = __atomic_load_n(&sh->routes_version, __ATOMIC_ACQUIRE);
	if (control_counters(ctx, r, st) != 0)
		return -ENOMEM;
	ctl_consumers_totals(&st->remote_consumers, &st->remote_unacked);
	if (ctl_remote_queues(&ctx->broker, r, &st->remote_queues, &st->n_remote_queues) != 0)
		return -ENOMEM;
	r->resp.status = st;
	return 0;
}
