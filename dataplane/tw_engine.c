/*
 * Engine life cycle (see tw_engine.h). Main lcore only.
 */
#include <errno.h>
#include <sys/random.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "tw_broker_counters.h"
#include "tw_broker_qring.h"
#include "tw_consumers.h"
#include "tw_reasm.h"
#include "tw_replay.h"
#include "tw_cookie.h"
#include "tw_engine.h"
#include "tw_journal.h"
#include "tw_workflow.h"
#include "tw_lcore_ctx.h"
#include "tw_lcore_loop.h"
#include "tw_log.h"
#include "tw_port.h"
#include "tw_route_cache.h"
#include "tw_steer.h"
#include "tw_dedup.h"
#include "tw_ratelimit.h"
#include "tw_task.h"
#include "tw_threads.h"

#define POOL_CACHE 256

static int
first_cpu(unsigned lcore)
{
	rte_cpuset_t set = rte_lcore_cpuset(lcore);

	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return 0;
}

int
tw_engine_plan(struct tw_engine *e)
{
	static struct tw_topology topo; /* large; cold; main only */
	struct tw_plan_input in = { 0 };
	unsigned lcore;
	char buf[2048];
	int ret;

	ret = tw_topology_load(&topo);
	if (ret < 0) {
		TW_LOG(ERR, "hwloc topology: %s", strerror(-ret));
		return ret;
	}
	in.mode = (enum tw_plan_mode)e->cfg.plan;
	in.n_io = (uint32_t)e->cfg.io_lcores;
	in.port_numa = rte_eth_dev_socket_id((uint16_t)e->cfg.port);
	in.main_lcore = rte_get_main_lcore();
	in.main_cpu = (uint32_t)first_cpu(in.main_lcore);
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (in.n_lcores == RTE_DIM(in.lcores))
			break;
		in.lcores[in.n_lcores].lcore_id = lcore;
		in.lcores[in.n_lcores].cpu = (uint32_t)first_cpu(lcore);
		in.n_lcores++;
	}
	ret = tw_plan_assign(&topo, &in, e->plan, RTE_DIM(e->plan), e->plan_mode,
			     sizeof(e->plan_mode));
	if (ret < 0) {
		TW_LOG(ERR, "lcore plan: %s (give at least two lcores, e.g. -l 0,1)",
		       strerror(-ret));
		return ret;
	}
	e->n_plan = (uint32_t)ret;
	tw_plan_format(e->plan, e->n_plan, e->plan_mode, buf, sizeof(buf));
	printf("%s", buf);
	/* said once, where the operator reads the plan: on one polling lcore a
	 * solo task holds the port too */
	if (strcmp(e->plan_mode, "run-to-completion") == 0)
		printf("  a solo task holds the port while it runs (nothing answered, ARP "
		       "included): built-ins busy-wait at most %" PRIu64 " us (--solo-max-us), "
		       "long tasks belong on the threads pool\n", e->cfg.solo_max_us);
	fflush(stdout);
	return 0;
}

static struct rte_rcu_qsbr *
qsbr_create(int socket)
{
	size_t sz = rte_rcu_qsbr_get_memsize(TW_MAX_LCORES);
	struct rte_rcu_qsbr *q = rte_zmalloc_socket("tw_qsbr", sz, RTE_CACHE_LINE_SIZE, socket);

	if (q != NULL && rte_rcu_qsbr_init(q, TW_MAX_LCORES) != 0) {
		rte_free(q);
		q = NULL;
	}
	return q;
}

static void
fill_identity(struct tw_engine *e)
{
	struct tw_shared *s = e->shared;
	struct rte_ether_addr mac;
	struct timespec ts;
	uint16_t port = (uint16_t)e->cfg.port;

	rte_eth_macaddr_get(port, &mac);
	memcpy(s->mac, mac.addr_bytes, sizeof(s->mac));
	s->port_id = port;
	s->udp_port = (uint16_t)e->cfg.udp_port;
	s->ip_be = e->cfg.ip_be;
	s->port_numa = rte_eth_dev_socket_id(port);
	if (rte_eth_dev_get_name_by_port(port, s->port_name) != 0)
		snprintf(s->port_name, sizeof(s->port_name), "port%u", port);
	clock_gettime(CLOCK_REALTIME, &ts);
	s->clock_tsc = rte_rdtsc();
	s->tsc_hz = rte_get_tsc_hz();
	s->start_unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	s->clock_unix_ms = s->start_unix_ms;
	snprintf(s->plan_mode, sizeof(s->plan_mode), "%s", e->plan_mode);
	memcpy(s->plan, e->plan, sizeof(e->plan[0]) * e->n_plan);
	s->n_plan = e->n_plan;
	s->n_pollers = e->n_plan - 1;
}

/* The per-lcore rings to and from tw-control (tw_shared.h). */
static int
channels_create(struct tw_shared *s, uint32_t n_pollers, int socket)
{
	static const struct {
		const char *fmt;
		size_t off;
		unsigned size;
	} kinds[] = {
		{ "tw_r_w%u_sched", offsetof(struct tw_shared, sched), TW_SCHED_RING },
		{ "tw_r_w%u_records", offsetof(struct tw_shared, records), TW_RECORDS_RING },
		{ "tw_r_ctl_io%u", offsetof(struct tw_shared, inject), TW_INJECT_RING },
	};
	char name[RTE_RING_NAMESIZE];

	for (uint32_t i = 0; i < n_pollers; i++)
		for (size_t k = 0; k < RTE_DIM(kinds); k++) {
			struct rte_ring **slot =
				(struct rte_ring **)((uint8_t *)s + kinds[k].off) + i;

			snprintf(name, sizeof(name), kinds[k].fmt, i);
			*slot = rte_ring_create(name, kinds[k].size, socket,
						RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (*slot == NULL) {
				TW_LOG(ERR, "ring %s: %s", name, rte_strerror(rte_errno));
				return -ENOMEM;
			}
		}
	return 0;
}

/* Lcores that poll the port: io lcores, or the one run-to-completion lcore. */
static uint16_t
plan_io_lcores(const struct tw_engine *e)
{
	uint16_t n = 0;

	for (uint32_t i = 1; i < e->n_plan; i++)
		n += e->plan[i].role == TW_ROLE_IO || e->plan[i].role == TW_ROLE_RTC;
	return n;
}

int
tw_engine_setup(struct tw_engine *e)
{
	uint16_t port = (uint16_t)e->cfg.port;
	int socket = rte_eth_dev_socket_id(port);
	struct tw_shared *s;
	int ret;

	if (socket < 0)
		socket = (int)rte_socket_id();
	e->mz = rte_memzone_reserve(TW_SHARED_MZ, sizeof(struct tw_shared), socket,
				    RTE_MEMZONE_SIZE_HINT_ONLY);
	if (e->mz == NULL) {
		TW_LOG(ERR, "memzone %s: %s (another tw-dataplane with this --file-prefix?)",
		       TW_SHARED_MZ, rte_strerror(rte_errno));
		return -rte_errno;
	}
	s = e->mz->addr;
	memset(s, 0, sizeof(*s));
	e->shared = s;
	s->magic = TW_SHARED_MAGIC;
	s->layout_version = TW_SHARED_LAYOUT_VERSION;
	s->primary_pid = getpid();

	s->pktmbuf_pool = rte_pktmbuf_pool_create("tw_mbufs", (unsigned)e->cfg.mbufs, POOL_CACHE,
						  0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	s->task_pool = rte_mempool_create("tw_tasks", (unsigned)e->cfg.tasks,
					  sizeof(struct tw_task), POOL_CACHE, 0, NULL, NULL, NULL,
					  NULL, socket, 0);
	s->qsbr = qsbr_create(socket);
	if (s->pktmbuf_pool == NULL || s->task_pool == NULL || s->qsbr == NULL) {
		TW_LOG(ERR, "pools (%" PRIu64 " mbufs, %" PRIu64 " tasks) or QSBR: %s "
		       "(reserve more hugepages?)", e->cfg.mbufs, e->cfg.tasks,
		       rte_strerror(rte_errno));
		return -ENOMEM;
	}
	if (tw_workflow_init(socket, s->qsbr, &(struct tw_wf_limits){
			.expires_ms = e->cfg.group_expires_s * 1000,
			.expires_max_ms = e->cfg.group_expires_max_s * 1000,
			.memory = e->cfg.group_memory_mb << 20,
			.publisher_memory = e->cfg.group_publisher_mb << 20,
			.list_memory = e->cfg.group_list_mb << 20 }) != 0) {
		TW_LOG(ERR, "workflow groups' memory (%" PRIu64 " MB of pages, %" PRIu64 " MB list "
		       "buffer, %u slots): %s (reserve more hugepages, or a smaller "
		       "--group-memory-mb or --group-list-mb)", e->cfg.group_memory_mb,
		       e->cfg.group_list_mb, TW_WF_MAX_GROUPS, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	e->big = tw_reasm_pools_create((uint32_t)e->cfg.max_frame, e->cfg.reasm_memory_mb << 20,
				       socket);
	if (e->big == NULL) {
		TW_LOG(ERR, "large-frame buffers (%" PRIu64 " MB, --max-frame %" PRIu64 "): %s "
		       "(reserve more hugepages, or a smaller --reasm-memory-mb)",
		       e->cfg.reasm_memory_mb, e->cfg.max_frame, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	/* the spare segments queues' rings grow into (tw-control keeps it stocked) */
	if (tw_qspares_init(&s->qspares) != 0) {
		TW_LOG(ERR, "spare ring segments: %s (reserve more hugepages?)", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	/* the default exchange's counters: its tasks are counted from the
	 * first routing table on, whoever declares the rest */
	if (tw_broker_counters_reserve_exchange(s, 0) != 0) {
		TW_LOG(ERR, "exchange counters: out of hugepage memory");
		return -ENOMEM;
	}
	/* before the definitions are loaded: a saved queue may come back held */
	e->consumer_queues = tw_consumers_queues_create(socket);
	if (e->consumer_queues != NULL)
		e->consumer_queues->qready = s->qready;
	if (e->consumer_queues == NULL) {
		TW_LOG(ERR, "remote consumer counts: %s", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	ret = channels_create(s, e->n_plan - 1, socket);
	if (ret < 0)
		return ret;
	ret = tw_port_init(port, s->pktmbuf_pool, plan_io_lcores(e), (uint16_t)(e->n_plan - 1),
			   (uint16_t)e->cfg.rx_desc, (uint16_t)e->cfg.tx_desc, &e->n_rxq);
	if (ret < 0)
		return ret;
	fill_identity(e);
	return 0;
}

/*
 * The RX queues of the io lcore that is the k-th of n_io: every n_io-th
 * queue from k, so each queue has exactly one poller and none is left out
 * when the port took more queues than there are io lcores.
 */
static void
assign_rx_queues(struct tw_lcore_ctx *ctx, uint16_t k, uint16_t n_io, uint16_t n_rxq)
{
	ctx->n_rx_queues = 0;
	for (uint16_t q = k; q < n_rxq && ctx->n_rx_queues < RTE_DIM(ctx->rx_queues); q += n_io)
		ctx->rx_queues[ctx->n_rx_queues++] = q;
}

static lcore_function_t *const role_loop[TW_ROLE__MAX] = {
	[TW_ROLE_IO] = tw_lcore_loop_io,
	[TW_ROLE_WORKER] = tw_lcore_loop_worker,
	[TW_ROLE_RTC] = tw_lcore_loop_rtc,
};

/* Registered tasks and their limits, for tw-control and the workers. */
static void
publish_tasks(struct tw_engine *e)
{
	struct tw_shared *s = e->shared;

	s->n_tasks = e->tasks.n;
	for (uint32_t i = 0; i < e->tasks.n; i++) {
		const struct tw_task_def *d = &e->tasks.defs[i];
		struct tw_task_info *ti = &s->task_info[i];

		snprintf(ti->name, sizeof(ti->name), "%s", d->name);
		ti->pool = d->pool;
		ti->time_limit_ms = d->time_limit_ms;
		ti->rate_count = d->rate_count;
		ti->rate_period_ms = d->rate_period_ms;
		ti->rate_version = 1;
	}
}

/*
 * Remote consumers (tw_consumers.h): one table, owned by the first io (or
 * run-to-completion) lcore; a ring to it from each other io lcore, made
 * before any lcore runs (the per-queue counts worker lcores read are made
 * at set-up).
 */
static int
consumers_setup(struct tw_engine *e)
{
	int socket = e->shared->port_numa < 0 ? SOCKET_ID_ANY : e->shared->port_numa;
	bool owned = false;

	for (uint32_t i = 1; i < e->n_plan; i++) {
		const struct tw_plan_entry *pe = &e->plan[i];
		char name[RTE_RING_NAMESIZE];

		if (pe->role != TW_ROLE_IO && pe->role != TW_ROLE_RTC)
			continue;
		if (!owned) {
			owned = true;
			e->consumer_owner = pe->qsbr_id;
			e->consumers = tw_consumers_create(socket, pe->qsbr_id, e->consumer_queues);
			if (e->consumers == NULL) {
				TW_LOG(ERR, "remote consumer table: %s", rte_strerror(rte_errno));
				return -ENOMEM;
			}
			continue;
		}
		snprintf(name, sizeof(name), "tw_r_io%u_rc", pe->qsbr_id);
		e->rc_ring[pe->qsbr_id] = rte_ring_create(name, TW_RC_FORWARD_RING, socket,
							  RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (e->rc_ring[pe->qsbr_id] == NULL) {
			TW_LOG(ERR, "ring %s: %s", name, rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Source steering (tw_steer.h): a ring for each ordered pair of io
 * lcores, so each has one producer and one consumer. None with one io
 * lcore.
 */
static int
steer_setup(struct tw_engine *e, uint16_t n_io)
{
	int socket = e->shared->port_numa < 0 ? SOCKET_ID_ANY : e->shared->port_numa;
	char name[RTE_RING_NAMESIZE];

	for (uint16_t i = 0; i < n_io && n_io > 1; i++)
		for (uint16_t j = 0; j < n_io; j++) {
			if (i == j)
				continue;
			snprintf(name, sizeof(name), "tw_r_io%u_io%u", i, j);
			e->steer_ring[i][j] = rte_ring_create(name, TW_STEER_RING, socket,
							      RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (e->steer_ring[i][j] == NULL) {
				TW_LOG(ERR, "ring %s: %s", name, rte_strerror(rte_errno));
				return -ENOMEM;
			}
		}
	return 0;
}

int
tw_engine_launch(struct tw_engine *e)
{
	struct tw_shared *s = e->shared;
	struct tw_replay *replay = NULL;
	uint8_t cookie_secret[16];
	uint32_t n_workers = 0;
	uint16_t n_io = plan_io_lcores(e), io_k = 0;
	int ret;

	publish_tasks(e);
	for (uint32_t i = 1; i < e->n_plan; i++)
		n_workers += e->plan[i].role == TW_ROLE_WORKER || e->plan[i].role == TW_ROLE_RTC;
	if (tw_tasks_use_threads(&e->tasks)) {
		e->threads = tw_threads_start(s, &e->tasks, (uint32_t)e->cfg.threads);
		if (e->threads == NULL) {
			TW_LOG(ERR, "threads pool: %s", rte_strerror(rte_errno));
			return -ENOMEM;
		}
		TW_LOG(INFO, "threads pool: %" PRIu64 " threads", e->cfg.threads);
	}

	ret = consumers_setup(e);
	if (ret != 0)
		return ret;
	ret = steer_setup(e, n_io);
	if (ret != 0)
		return ret;
	/* one replay table for every io lcore: a copy of a frame may come in
	 * on any RX queue */
	if (e->keys != NULL) {
		replay = tw_replay_create((uint32_t)e->cfg.replay_frames,
					  e->cfg.replay_window_s * 1000, (int)rte_socket_id());
		if (replay == NULL) {
			TW_LOG(ERR, "replay table of %" PRIu64 " frames: %s (reserve more "
			       "hugepages, or a smaller --replay-frames)", e->cfg.replay_frames,
			       rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	/* the cookies' secret: one for every io lcore (a client's frames may
	 * land on any RX queue), new at every start */
	if (e->cfg.cookies != 0 && getrandom(cookie_secret, sizeof(cookie_secret), 0) !=
					   (ssize_t)sizeof(cookie_secret)) {
		TW_LOG(ERR, "source cookies: no random secret: %s", strerror(errno));
		return -EIO;
	}
	for (uint32_t i = 1; i < e->n_plan; i++) {
		const struct tw_plan_entry *pe = &e->plan[i];
		struct tw_lcore_setup ls = {
			.shared = s, .tasks = &e->tasks, .qsbr_id = pe->qsbr_id, .role = pe->role,
			.socket = (int)rte_lcore_to_socket_id(pe->lcore_id), .n_workers = n_workers,
			.keys = e->keys, .threads = e->threads, .remote_queues = e->consumer_queues,
			.cookie_secret = e->cfg.cookies != 0 ? cookie_secret : NULL,
			.cookie_lifetime_ms = e->cfg.cookie_lifetime_s * 1000,
			.idle_sleep_us = (uint32_t)e->cfg.idle_sleep_us,
			.idle_passes = (uint32_t)e->cfg.idle_passes,
			.retry_max = (uint32_t)e->cfg.retry_max,
			.retry_min_ms = (uint32_t)e->cfg.retry_min_ms,
			.solo_max_us = e->cfg.solo_max_us,
			.journal = tw_journal_lcore_get(e, pe->qsbr_id),
			.big = e->big,
			.reasm = {
				.source_bytes = (uint32_t)RTE_MIN(e->cfg.reasm_source_kb << 10,
								 (uint64_t)UINT32_MAX),
				.timeout_ms = (uint32_t)e->cfg.reasm_timeout_ms,
			},
		};
		struct tw_lcore_ctx *ctx = tw_lcore_ctx_create(&ls);
		int ret;

		if (ctx == NULL) {
			TW_LOG(ERR, "lcore %u context: %s (reserve more hugepages?)", pe->lcore_id,
			       rte_strerror(rte_errno));
			return -ENOMEM;
		}
		e->ctx[pe->qsbr_id] = ctx;
		if (pe->role == TW_ROLE_IO || pe->role == TW_ROLE_RTC) {
			ctx->io_index = io_k;
			ctx->n_io = n_io;
			for (uint16_t j = 0; j < n_io && n_io > 1; j++) {
				ctx->steer_out[j] = e->steer_ring[io_k][j];
				if (j != io_k)
					ctx->steer_in[ctx->n_steer_in++] = e->steer_ring[j][io_k];
			}
			assign_rx_queues(ctx, io_k++, n_io, e->n_rxq);
			if (pe->qsbr_id == e->consumer_owner) {
				ctx->consumers = e->consumers;
				for (uint32_t k = 0; k < TW_MAX_LCORES; k++)
					if (e->rc_ring[k] != NULL)
						ctx->rc_in[ctx->n_rc_in++] = e->rc_ring[k];
			} else {
				ctx->rc_out = e->rc_ring[pe->qsbr_id];
			}
			/* one table for every io lcore: a copy of a frame may come in
			 * on any RX queue */
			ctx->replay = replay;
		}
		ret = rte_eal_remote_launch(role_loop[pe->role], ctx, pe->lcore_id);
		if (ret != 0) {
			TW_LOG(ERR, "launch on lcore %u: %s", pe->lcore_id, rte_strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* A fresh (wall clock, TSC) pair for the lcores' tw_unix_ms(). */
static void
clock_resync(struct tw_shared *s)
{
	struct timespec ts;
	uint64_t tsc;

	clock_gettime(CLOCK_REALTIME, &ts);
	tsc = rte_rdtsc();
	/* seqlock write: odd while the pair changes; release orders the pair before the even seq */
	__atomic_store_n(&s->clock_seq, s->clock_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->clock_unix_ms,
			 (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, __ATOMIC_RELAXED);
	__atomic_store_n(&s->clock_tsc, tsc, __ATOMIC_RELAXED);
	__atomic_store_n(&s->clock_seq, s->clock_seq + 1, __ATOMIC_RELEASE);
}

void
tw_engine_housekeeping(struct tw_engine *e)
{
	uint32_t busy, idle;
	uint64_t abandoned;

	if (rte_rdtsc() - e->last_clock_tsc > rte_get_tsc_hz() / 10) {
		clock_resync(e->shared);
		e->last_clock_tsc = rte_rdtsc();
		tw_workflow_reclaim();
	}
	if (e->threads == NULL)
		return;
	tw_threads_watch(e->threads);
	tw_threads_counts(e->threads, &busy, &idle, &abandoned);
	__atomic_store_n(&e->shared->threads_busy, busy, __ATOMIC_RELAXED);
	__atomic_store_n(&e->shared->threads_idle, idle, __ATOMIC_RELAXED);
	__atomic_store_n(&e->shared->threads_abandoned, abandoned, __ATOMIC_RELAXED);
}

void
tw_engine_stop(struct tw_engine *e)
{
	struct tw_shared *s = e->shared;
	uint64_t sum[TW_CNT__MAX] = { 0 };

	__atomic_store_n(&tw_force_quit, true, __ATOMIC_RELAXED);
	rte_eal_mp_wait_lcore();
	tw_threads_stop(e->threads);
	/* the lcores handed their last records: written and synced before exit */
	tw_journal_stop(e);
	if (s == NULL)
		return;
	for (uint32_t i = 0; i + 1 < e->n_plan; i++)
		for (int c = 0; c < TW_CNT__MAX; c++)
			sum[c] += s->stats[i].c[c];
	TW_LOG(INFO, "stopped: %" PRIu64 " packets in, %" PRIu64 " tasks received, %" PRIu64
	       " run, %" PRIu64 " acks, %" PRIu64 " nacks", sum[TW_CNT_rx_packets],
	       sum[TW_CNT_tasks_received], sum[TW_CNT_tasks_executed], sum[TW_CNT_acks],
	       sum[TW_CNT_nacks]);
	tw_port_close(s->port_id);
	for (uint32_t i = 0; i < TW_MAX_LCORES; i++)
		tw_lcore_ctx_free(e->ctx[i]);
}
