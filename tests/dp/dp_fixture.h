/*
 * The data-plane stage tests' fixture: EAL in memory (no hugepages, no
 * devices), the engine's two pools (mbufs, task descriptors), a shared
 * block and one polling lcore's context built as the engine builds it
 * (tw_lcore_ctx_create), without launching anything. Packets are real
 * mbufs from the pool; a test hands them to a stage and checks what comes
 * out: frames, confirms staged for TX, records for tw-control, tasks in
 * queue rings. After each test every mbuf and every descriptor must be
 * back in its pool (dp_no_leak).
 */
#ifndef DP_FIXTURE_H
#define DP_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "tw_lcore.h"
#include "tw_routes.h"
#include "tw_tasks.h"
#include "tw_wire.h"

#define DP_OUR_IP RTE_IPV4(10, 77, 0, 1)
#define DP_PEER_IP RTE_IPV4(10, 77, 0, 2)
#define DP_OUR_PORT 5555
#define DP_PEER_PORT 40000
#define DP_MBUFS 1023
#define DP_TASKS 511

struct dp_fixture {
	struct rte_mempool *mbufs, *tasks;
	struct tw_shared *shared;
	struct tw_task_registry reg;
	struct tw_lcore_ctx *ctx;
	struct rte_ring *records, *sched; /* tw-control's ends, when attached */
};

extern struct dp_fixture dp;
extern const struct rte_ether_addr dp_our_mac, dp_peer_mac;

/**
 * EAL, pools, shared block, a context of this role (enum tw_lcore_role).
 * workflows: the workflow group table too (needs an RCU variable).
 * @return 0 or -1.
 */
int dp_up(const char *name, uint32_t role, bool workflows);

/** tw-control "attached": its records and scheduler rings exist (dp_settle empties them). */
void dp_attach_control(void);

/**
 * End a loop pass as the loop does (replies closed and staged, records
 * handed over), then count and free what would have left: packets for
 * TX (into items, the confirms and results decoded, up to max) and
 * records frames. @return reply items decoded.
 */
int dp_settle(struct tw_reply_item *items, int max);

/** Every mbuf and descriptor back in its pool, nothing staged. */
void dp_no_leak(void);

/** A counter summed as twctl would read it (this one lcore). */
uint64_t dp_count(enum tw_counter c);

struct rte_mbuf *dp_eth_packet(uint16_t ether_type, size_t l3_len);
struct rte_ipv4_hdr *dp_ip_of(struct rte_mbuf *m);
void dp_ip_fill(struct rte_ipv4_hdr *ip, uint8_t proto, uint16_t total, uint32_t dst);
/** A UDP datagram from the peer; cksum: 1 valid, 0 none, -1 wrong. */
struct rte_mbuf *dp_udp_packet(uint32_t dst, uint16_t port, const void *payload, size_t len,
			       int cksum);

/** One task of a test frame. */
struct dp_task {
	uint64_t id;
	const char *name, *exchange, *key, *args;
	struct tw_wire_task_opts opts;
};

/**
 * A frame of n tasks from the peer, as the parse stage leaves it (the
 * payload located: tw_parse_payload() works on it). engine_made: built as
 * the engine builds its own (no publisher to answer).
 */
struct rte_mbuf *dp_task_frame(const struct dp_task *t, uint32_t n, bool engine_made);

/**
 * The same frame from a publisher that retransmits (Frame.retransmits):
 * its tasks meet the duplicate table. Built twice, it is the publisher's
 * retransmission of it.
 */
struct rte_mbuf *dp_task_frame_retx(const struct dp_task *t, uint32_t n);

/**
 * A routing table of queues (each with a ring of its max_length slots;
 * slot i+1 for queue i) and what binds them, published as tw-control
 * publishes it. Freed with dp_routes_free (its rings emptied into the
 * pool first).
 */
struct tw_routes *dp_routes(struct tw_def_queue *q, uint32_t nq, const struct tw_def_exchange *x,
			    uint32_t nx, const struct tw_def_binding *b, uint32_t nb);
void dp_routes_free(struct tw_routes *rt);

/** Descriptors in queue qi's rings; taken out into v (up to max) if v is not NULL. */
unsigned dp_queue_take(const struct tw_routes *rt, const char *queue, struct tw_task **v,
		       unsigned max);

#endif
