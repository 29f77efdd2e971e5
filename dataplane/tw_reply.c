/*
 * Reply frame packets (see tw_reply.h): Ethernet/IPv4/UDP headers built
 * from the peer address, payload written by the wire encoder. Runs on
 * io lcores (confirms) and worker lcores (results).
 *
 * UDP checksum: sent as 0 ("no checksum", allowed for UDP over IPv4), which
 * saves a pass over every reply; the IPv4 header checksum is always set.
 */
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "tw_drop.h"
#include "tw_frag_tx.h"
#include "tw_reply.h"
#include "tw_tx.h"

#define HDRS_LEN (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + \
		  sizeof(struct rte_udp_hdr))

void
tw_reply_peer_of(const struct rte_mbuf *m, struct tw_peer *peer)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
	const struct rte_udp_hdr *udp =
		(const struct rte_udp_hdr *)((const uint8_t *)ip + m->l3_len);

	rte_ether_addr_copy(&eth->src_addr, &peer->mac);
	peer->ip = ip->src_addr;
	peer->port = udp->src_port;
}

static bool
start_packet(struct tw_lcore_ctx *ctx, struct tw_reply *r)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(ctx->mbuf_pool);
	uint32_t room;

	if (unlikely(m == NULL)) {
		tw_cnt_add(ctx, TW_CNT_drop_no_mbuf, 1);
		return false;
	}
	room = rte_pktmbuf_tailroom(m) - HDRS_LEN;
	if (room > TW_REPLY_MAX_PAYLOAD)
		room = TW_REPLY_MAX_PAYLOAD;
	r->m = m;
	r->n_entries = 0;
	tw_wbuf_init(&r->w, rte_pktmbuf_mtod_offset(m, uint8_t *, HDRS_LEN), room);
	tw_wire_put_header(&r->w, r->frame_id);
	return true;
}

/*
 * Make room for an entry of `need` bytes, sending the current packet if it
 * is full. @return false if no mbuf could be had or the entry can never fit
 * (both counted).
 */
static bool
reserve(struct tw_lcore_ctx *ctx, struct tw_reply *r, uint32_t need)
{
	if (r->m != NULL && r->w.cap - r->w.len >= need)
		return true;
	if (r->m != NULL)
		tw_reply_close(ctx, r);
	if (!start_packet(ctx, r))
		return false;
	if (r->w.cap - r->w.len < need) {
		tw_cnt_add(ctx, TW_CNT_drop_reply_overflow, 1);
		return false;
	}
	return true;
}

bool
tw_reply_reserve(struct tw_lcore_ctx *ctx, struct tw_reply *r, uint32_t need)
{
	return reserve(ctx, r, need);
}

void
tw_reply_close(struct tw_lcore_ctx *ctx, struct tw_reply *r)
{
	struct rte_mbuf *m = r->m;
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	uint16_t payload;

	if (m == NULL)
		return;
	r->m = NULL;
	if (r->n_entries == 0 || r->w.overflow) {
		if (r->w.overflow)
			tw_cnt_add(ctx, TW_CNT_drop_reply_overflow, 1);
		rte_pktmbuf_free(m);
		return;
	}
	payload = (uint16_t)r->w.len;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);

	rte_ether_addr_copy(&r->peer.mac, &eth->dst_addr);
	rte_ether_addr_copy(&ctx->our_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16(sizeof(*ip) + sizeof(*udp) + payload);
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = ctx->our_ip;
	ip->dst_addr = r->peer.ip;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	udp->src_port = ctx->our_port;
	udp->dst_port = r->peer.port;
	udp->dgram_len = rte_cpu_to_be_16(sizeof(*udp) + payload);
	udp->dgram_cksum = 0;

	m->data_len = (uint16_t)(HDRS_LEN + payload);
	m->pkt_len = m->data_len;
	tw_tx_one(ctx, m);
}

bool
tw_reply_confirm(struct tw_lcore_ctx *ctx, struct tw_reply *r, uint64_t task_id, bool ack,
		 uint32_t reason, const char *detail)
{
	/* tag+len, id, ack, reason, detail tag+len: an upper bound */
	uint32_t need = 3 + 9 + 2 + 2 + 3 + (detail != NULL ? (uint32_t)strlen(detail) : 0);

	if (!reserve(ctx, r, need))
		return false;
	tw_wire_put_confirm(&r->w, task_id, ack, reason, detail);
	r->n_entries++;
	tw_cnt_add(ctx, ack ? TW_CNT_acks : TW_CNT_nacks, 1);
	return true;
}

/* Larger than a reply packet can hold: a frame of its own, in fragments. */
static inline bool
needs_fragments(uint32_t need)
{
	return unlikely(need > TW_REPLY_MAX_PAYLOAD - TW_FRAG_TX_HEADER);
}

bool
tw_reply_result(struct tw_lcore_ctx *ctx, struct tw_reply *r, uint64_t task_id, uint32_t state,
		const uint8_t *value, uint32_t value_len, const char *error, uint32_t error_len,
		uint64_t runtime_ns)
{
	if (needs_fragments(tw_wire_result_size(value_len, error_len, runtime_ns))) {
		struct tw_wire_result res = {
			.task_id = task_id, .state = state, .value = value, .value_len = value_len,
			.error = error, .error_len = error_len, .runtime_ns = runtime_ns,
		};

		return tw_frag_send_record(ctx, &r->peer, r->frame_id, &res);
	}
	if (!reserve(ctx, r, tw_wire_result_size(value_len, error_len, runtime_ns)))
		return false;
	tw_wire_put_result(&r->w, task_id, state, value, value_len, error, error_len, runtime_ns);
	r->n_entries++;
	tw_cnt_add(ctx, TW_CNT_results_sent, 1);
	return true;
}

bool
tw_reply_record(struct tw_lcore_ctx *ctx, struct tw_reply *r, const struct tw_wire_result *res)
{
	if (needs_fragments(tw_wire_record_size(res)))
		return tw_frag_send_record(ctx, &r->peer, r->frame_id, res);
	if (!reserve(ctx, r, tw_wire_record_size(res)))
		return false;
	tw_wire_put_record(&r->w, res);
	r->n_entries++;
	tw_cnt_add(ctx, TW_CNT_results_sent, 1);
	return true;
}
