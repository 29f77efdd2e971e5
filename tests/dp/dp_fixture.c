/*
 * The data-plane stage tests' fixture: see dp_fixture.h.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_udp.h>

#include "dp_fixture.h"
#include "tw_broker_counters.h"
#include "tw_broker_qring.h"
#include "tw_ctlchan.h"
#include "tw_inject.h"
#include "tw_lcore_ctx.h"
#include "tw_reply.h"
#include "tw_task.h"
#include "tw_wire_priv.h"
#include "tw_workflow.h"

struct dp_fixture dp;
const struct rte_ether_addr dp_our_mac = { { 0x02, 0, 0, 0, 0, 1 } };
const struct rte_ether_addr dp_peer_mac = { { 0x02, 0, 0, 0, 0, 2 } };

static char prefix[64];

/* EAL's runtime folder of this run (its own prefix): removed at exit. */
static void
remove_runtime_dir(void)
{
	char path[256];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/var/run/dpdk/%s", prefix);
	dir = opendir(path);
	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		char f[512];

		if (d->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, d->d_name);
		unlink(f);
	}
	closedir(dir);
	rmdir(path);
}

int
dp_up(const char *name, uint32_t role, bool workflows)
{
	char *argv[] = { (char *)name, "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
			 "--file-prefix", prefix, "--log-level", "*:error", "-l", "0" };
	struct tw_lcore_setup ls = { .role = role, .socket = SOCKET_ID_ANY, .n_workers = 1,
				     .retry_max = 100, .solo_max_us = 1000 };

	snprintf(prefix, sizeof(prefix), "tw-dptest-%s-%d", name, (int)getpid());
	if (rte_eal_init(RTE_DIM(argv), argv) < 0)
		return -1;
	atexit(remove_runtime_dir);
	dp.mbufs = rte_pktmbuf_pool_create("dp_mbufs", DP_MBUFS, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   SOCKET_ID_ANY);
	dp.tasks = rte_mempool_create("dp_tasks", DP_TASKS, sizeof(struct tw_task), 0, 0, NULL,
				      NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	dp.shared = rte_zmalloc("dp_shared", sizeof(*dp.shared), RTE_CACHE_LINE_SIZE);
	if (dp.mbufs == NULL || dp.tasks == NULL || dp.shared == NULL)
		return -1;
	dp.shared->pktmbuf_pool = dp.mbufs;
	dp.shared->task_pool = dp.tasks;
	memcpy(dp.shared->mac, dp_our_mac.addr_bytes, 6);
	dp.shared->ip_be = rte_cpu_to_be_32(DP_OUR_IP);
	dp.shared->udp_port = DP_OUR_PORT;
	dp.shared->clock_unix_ms = 1700000000000ull;
	dp.shared->clock_tsc = rte_rdtsc();
	/* as tw-dataplane sets up: the spare segments queues grow into, the
	 * default exchange's counters */
	if (tw_qspares_init(&dp.shared->qspares) != 0 ||
	    tw_broker_counters_reserve_exchange(dp.shared, 0) != 0)
		return -1;
	if (workflows) {
		size_t sz = rte_rcu_qsbr_get_memsize(TW_MAX_LCORES);

		dp.shared->qsbr = rte_zmalloc("dp_qsbr", sz, RTE_CACHE_LINE_SIZE);
		if (dp.shared->qsbr == NULL || rte_rcu_qsbr_init(dp.shared->qsbr, TW_MAX_LCORES) != 0)
			return -1;
		if (tw_workflow_init(SOCKET_ID_ANY, dp.shared->qsbr, &(struct tw_wf_limits){
				.expires_ms = 60000, .expires_max_ms = 60000, .memory = 16u << 20,
				.publisher_memory = 8u << 20, .list_memory = 1u << 20 }) != 0)
			return -1;
	}
	ls.shared = dp.shared;
	ls.tasks = &dp.reg;
	dp.ctx = tw_lcore_ctx_create(&ls);
	return dp.ctx != NULL ? 0 : -1;
}

void
dp_attach_control(void)
{
	dp.records = rte_ring_create("dp_records", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	dp.sched = rte_ring_create("dp_sched", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	assert_non_null(dp.records);
	assert_non_null(dp.sched);
	dp.ctx->records = dp.records;
	dp.ctx->sched = dp.sched;
	dp.shared->control_pid = getpid();
}

int
dp_settle(struct tw_reply_item *items, int max)
{
	struct tw_lcore_ctx *ctx = dp.ctx;
	int got = 0;
	void *p;

	tw_reply_end_pass(ctx);
	tw_records_flush(ctx);
	for (uint16_t i = 0; i < ctx->tx.n; i++) {
		struct rte_mbuf *m = ctx->tx.pkts[i];
		/* a reply: Ethernet, IPv4 without options, UDP, then the frame */
		uint32_t off = 14 + 20 + 8;
		uint64_t frame_id;
		int n;

		if (items != NULL && got < max) {
			n = tw_wire_decode_replies(rte_pktmbuf_mtod_offset(m, uint8_t *, off),
						   m->pkt_len - off, &frame_id, items + got,
						   (uint32_t)(max - got));
			assert_true(n >= 0);
			got += n;
		}
		rte_pktmbuf_free(m);
	}
	ctx->tx.n = 0;
	while (dp.records != NULL && rte_ring_dequeue(dp.records, &p) == 0)
		rte_pktmbuf_free(p);
	while (dp.sched != NULL && rte_ring_dequeue(dp.sched, &p) == 0)
		tw_task_release(p, dp.tasks);
	return got;
}

void
dp_no_leak(void)
{
	assert_int_equal(dp.ctx->tx.n, 0);
	assert_int_equal(dp.ctx->made_n, 0);
	assert_int_equal(dp.ctx->dl_n, 0);
	assert_int_equal(rte_mempool_avail_count(dp.mbufs), DP_MBUFS);
	assert_int_equal(rte_mempool_avail_count(dp.tasks), DP_TASKS);
}

uint64_t
dp_count(enum tw_counter c)
{
	return dp.ctx->stats->c[c];
}

struct rte_mbuf *
dp_eth_packet(uint16_t ether_type, size_t l3_len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp.mbufs);
	struct rte_ether_hdr *eth;

	assert_non_null(m);
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)(sizeof(*eth) + l3_len));
	assert_non_null(eth);
	memset(eth, 0, sizeof(*eth) + l3_len);
	rte_ether_addr_copy(&dp_our_mac, &eth->dst_addr);
	rte_ether_addr_copy(&dp_peer_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(ether_type);
	return m;
}

struct rte_ipv4_hdr *
dp_ip_of(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
}

void
dp_ip_fill(struct rte_ipv4_hdr *ip, uint8_t proto, uint16_t total, uint32_t dst)
{
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(total);
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->src_addr = rte_cpu_to_be_32(DP_PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(dst);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

struct rte_mbuf *
dp_udp_packet(uint32_t dst, uint16_t port, const void *payload, size_t len, int cksum)
{
	size_t l3 = sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr) + len;
	struct rte_mbuf *m = dp_eth_packet(RTE_ETHER_TYPE_IPV4, l3);
	struct rte_ipv4_hdr *ip = dp_ip_of(m);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	memcpy(udp + 1, payload, len);
	udp->src_port = rte_cpu_to_be_16(DP_PEER_PORT);
	udp->dst_port = rte_cpu_to_be_16(port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
	dp_ip_fill(ip, IPPROTO_UDP, (uint16_t)l3, dst);
	if (cksum != 0) {
		udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
		if (cksum < 0)
			udp->dgram_cksum ^= 0x0101;
	}
	return m;
}

static struct rte_mbuf *
task_frame(const struct dp_task *t, uint32_t n, bool engine_made, bool retransmits)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp.mbufs);
	struct tw_inject_peer peer = { .mac = dp_peer_mac, .ip = rte_cpu_to_be_32(DP_PEER_IP),
				       .port = engine_made ? 0 : rte_cpu_to_be_16(DP_PEER_PORT) };
	struct tw_wbuf w;

	assert_non_null(m);
	tw_wbuf_init(&w, tw_inject_payload(m), tw_inject_room(m));
	tw_wire_put_header(&w, engine_made ? 0 : 77);
	if (retransmits) {
		put_tag(&w, F_FRAME_RETRANSMITS, WT_VARINT);
		put_varint(&w, 1);
	}
	for (uint32_t i = 0; i < n; i++)
		tw_wire_put_task(&w, t[i].id, t[i].name, t[i].exchange, t[i].key, t[i].args,
				 t[i].args != NULL ? (uint32_t)strlen(t[i].args) : 0, &t[i].opts);
	assert_false(w.overflow);
	tw_inject_finish(m, &peer, &dp_our_mac, rte_cpu_to_be_32(DP_OUR_IP),
			 rte_cpu_to_be_16(DP_OUR_PORT), w.len);
	return m;
}

struct rte_mbuf *
dp_task_frame(const struct dp_task *t, uint32_t n, bool engine_made)
{
	return task_frame(t, n, engine_made, false);
}

struct rte_mbuf *
dp_task_frame_retx(const struct dp_task *t, uint32_t n)
{
	return task_frame(t, n, false, true);
}

struct tw_routes *
dp_routes(struct tw_def_queue *q, uint32_t nq, const struct tw_def_exchange *x, uint32_t nx,
	  const struct tw_def_binding *b, uint32_t nb)
{
	struct tw_defs d = { .version = 1, .n_queues = nq, .n_exchanges = nx, .n_bindings = nb,
			     .queues = q, .exchanges = x, .bindings = b };
	struct tw_routes *rt;

	for (uint32_t i = 0; i < nq; i++) {
		q[i].slot = (uint16_t)(i + 1);
		/* as tw-control makes them: a growing ring up to max-length, its slot's counters */
		q[i].ring = tw_qring_create(q[i].max_length);
		assert_non_null(q[i].ring);
		assert_int_equal(tw_broker_counters_reserve_queue(dp.shared, q[i].slot), 0);
	}
	for (uint32_t i = 0; i < nx; i++)
		assert_int_equal(tw_broker_counters_reserve_exchange(dp.shared, x[i].slot), 0);
	rt = tw_routes_build(&d, NULL);
	assert_non_null(rt);
	dp.shared->routes = rt;
	return rt;
}

unsigned
dp_queue_take(const struct tw_routes *rt, const char *queue, struct tw_task **v, unsigned max)
{
	int qi = tw_routes_find_queue(rt, queue, (uint32_t)strlen(queue));

	assert_true(qi >= 0);
	if (v == NULL)
		return tw_qring_count(rt->queues[qi].ring);
	return tw_qring_dequeue_burst(rt->queues[qi].ring, (void **)v, max);
}

void
dp_routes_free(struct tw_routes *rt)
{
	for (uint32_t i = 0; i < rt->n_queues; i++) {
		struct tw_task *t;

		while (tw_qring_dequeue(rt->queues[i].ring, (void **)&t))
			tw_task_release(t, dp.tasks);
		tw_qring_destroy(rt->queues[i].ring);
	}
	dp.shared->routes = NULL;
	tw_routes_free(rt, NULL);
}
